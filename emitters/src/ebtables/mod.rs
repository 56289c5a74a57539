//! The ebtables target: `ebtables-restore --noflush` input, or the
//! `ebtables --concurrent` command lines libvirt's nwfilter runs.
//!
//! Only `bridge` tables reach ebtables; tables of other families are left
//! out with one note (libvirt's network driver never uses ebtables, so a
//! network compiles to an empty ebtables artifact, not an error). As with
//! iptables, fwc owns user chains, never built-in ones: setup creates its
//! chains and the rules that enter them from built-in chains, teardown
//! removes exactly those ([`plan`]). The model of the tables ([`model`]) is
//! built once and printed by the restore and the command form alike.

mod commands;
mod model;
mod plan;
mod render;
mod restore;

use ir::{Family, Limits, Ruleset, ValidationError};

use crate::{Artifact, Direction, Error, Format, Options};

fn unsupported(reason: String) -> Error {
    Error::Unsupported {
        target: "ebtables",
        reason,
    }
}

/// Validates the bridge tables with ebtables' name limits and the others,
/// which ebtables leaves out, with the IR's own (nft's).
pub(crate) fn validate(rs: &Ruleset) -> Result<(), Vec<ValidationError>> {
    let (bridge, other): (Vec<_>, Vec<_>) = rs
        .tables
        .iter()
        .cloned()
        .partition(|t| t.family == Family::Bridge);
    let mut errors = Vec::new();
    for (tables, limits) in [(bridge, Limits::EBTABLES), (other, Limits::NFT)] {
        if let Err(e) = ir::validate_with(&Ruleset { tables }, limits) {
            errors.extend(e);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Emits a ruleset that [`validate`] accepted.
pub(crate) fn emit(rs: &Ruleset, opts: &Options) -> Result<Artifact, Error> {
    let mut notes = Vec::new();
    let m = model::build(rs, &mut notes)?;
    let text = match (opts.format, opts.direction) {
        (Format::Script, Direction::Setup) => restore::setup(&m),
        (Format::Script, Direction::Teardown) => restore::teardown(&m),
        (Format::Commands, Direction::Setup) => commands::setup(&m),
        (Format::Commands, Direction::Teardown) => commands::teardown(&m),
    };
    Ok(Artifact { text, notes })
}

#[cfg(test)]
mod tests;
