//! The iptables and ip6tables targets: `iptables-restore --noflush` input, or
//! the `iptables`/`ip6tables` command lines libvirt runs.
//!
//! fwc owns user chains, never built-in ones: setup creates its chains and
//! the rules that enter them from built-in chains, teardown removes exactly
//! those. One emit covers one family; `inet` tables contribute the rules of
//! that family (see [`model`]).

mod commands;
mod model;
mod render;
mod restore;

use ir::{Family, Ruleset};

use crate::{Artifact, Direction, Error, Format, Options};

/// The target's name for a family.
fn target_name(family: Family) -> &'static str {
    if family == Family::Ip6 {
        "ip6tables"
    } else {
        "iptables"
    }
}

/// An error of the model, which both families share; [`emit`] puts in the
/// name of the target that was asked for.
fn unsupported(reason: String) -> Error {
    Error::Unsupported {
        target: "iptables",
        reason,
    }
}

/// Emits the `family` half (`ip` or `ip6`) of a ruleset [`ir::validate_with`]
/// accepted with [`ir::Limits::XTABLES`].
pub(crate) fn emit(rs: &Ruleset, family: Family, opts: &Options) -> Result<Artifact, Error> {
    let mut notes = Vec::new();
    let flavor = render::Flavor::of(family);
    let m = model::build(rs, flavor, &mut notes).map_err(|e| match e {
        Error::Unsupported { reason, .. } => Error::Unsupported {
            target: target_name(family),
            reason,
        },
        other => other,
    })?;
    let bin = target_name(family);
    let text = match (opts.format, opts.direction) {
        (Format::Script, Direction::Setup) => restore::setup(&m, bin),
        (Format::Script, Direction::Teardown) => restore::teardown(&m, bin),
        (Format::Commands, Direction::Setup) => commands::setup(&m, bin),
        (Format::Commands, Direction::Teardown) => commands::teardown(&m, bin),
    };
    Ok(Artifact { text, notes })
}
