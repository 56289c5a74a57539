//! The nft-json target: libnftables JSON, loaded with `nft -j -f FILE`.
//!
//! Same semantics as the nft script (`crate::nft`): setup declares every
//! table fwc owns after deleting it in the same transaction, so loading is
//! atomic and idempotent; teardown deletes exactly those tables. Rules are
//! put into nft's shape by `crate::nft::model`, the intermediate the text
//! script is printed from too, so both targets make the same decisions
//! (what nft can express, how a reject answers, when NAT names its family)
//! and differ only in spelling ([`expr`]). Only the script format exists:
//! JSON is a document for one `nft -j -f` call, not a list of commands.
//!
//! The documents are built with `serde_json::json!`, not with the types of
//! the `nftables` crate (0.6.3), which were evaluated for this: its set
//! types cannot declare what fwc's IR uses (`SetType` has no
//! `iface_index`, `ct_state`, and no `verdict` for the value type of a
//! named verdict map), and it would add schemars, strum and
//! serde_path_to_error to the build for types this module would still have
//! to work around. The shapes here are checked against what
//! `nft -j list ruleset` prints (nft 1.0.6) and by loading them in a kernel.

mod document;
mod expr;

use ir::Ruleset;

use crate::{nft, Artifact, Direction, Error, Format, Options};

/// The target's name in errors.
const TARGET: &str = "nft-json";

/// Emits a ruleset that [`ir::validate`] accepted.
pub(crate) fn emit(rs: &Ruleset, opts: &Options) -> Result<Artifact, Error> {
    if opts.format == Format::Commands {
        return Err(Error::Unsupported {
            target: TARGET,
            reason: "JSON is a script format, loaded whole with `nft -j -f FILE`; use \
                     --format script, or --target nft --format commands for command lines"
                .into(),
        });
    }
    // The same objects as an nft script can hold; the reasons are nft's.
    nft::check_device_hooks(rs)
        .and_then(|()| nft::check_owned(rs))
        .map_err(|e| match e {
            Error::Unsupported { reason, .. } => Error::Unsupported {
                target: TARGET,
                reason,
            },
            other => other,
        })?;
    let mut notes = Vec::new();
    let text = match opts.direction {
        Direction::Setup => {
            notes = nft::long_string_notes(rs);
            document::setup(rs, &mut notes)
        }
        Direction::Teardown => document::teardown(rs),
    };
    Ok(Artifact { text, notes })
}

#[cfg(test)]
mod tests;
