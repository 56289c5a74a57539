//! The nft target: an `nft -f` script, or the `nft`/`tc` command lines
//! libvirt runs.
//!
//! The script form owns whole tables: setup declares each table after
//! deleting it in the same transaction, so loading it is atomic and
//! idempotent; teardown deletes exactly those tables. The command form
//! reproduces libvirt's incremental commands (convention 9 of the rendering
//! conventions): chains are created, then every rule is inserted in the order
//! of its sequence number.

mod append;
mod commands;
pub(crate) mod model;
mod render;
mod script;
mod spelling;

use ir::{ChainKind, Hook, Ownership, Ruleset, Statement};

use crate::{quote, Artifact, Direction, Error, Format, Note, Options};

/// The target's name in errors.
const TARGET: &str = "nft";

/// Emits a ruleset that [`ir::validate`] accepted.
pub(crate) fn emit(rs: &Ruleset, opts: &Options) -> Result<Artifact, Error> {
    check_device_hooks(rs)?;
    let mut notes = match opts.direction {
        Direction::Setup => long_string_notes(rs),
        Direction::Teardown => Vec::new(),
    };
    let text = match (opts.format, opts.direction) {
        (Format::Script, Direction::Setup) => {
            check_owned(rs)?;
            script::setup(rs, &mut notes)
        }
        (Format::Script, Direction::Teardown) => {
            check_owned(rs)?;
            script::teardown(rs)
        }
        (Format::Commands, Direction::Setup) => commands::setup(rs, &mut notes),
        (Format::Commands, Direction::Teardown) => {
            return Err(unsupported(
                "libvirt removes its nft rules by the handles `nft -ae` printed when they \
                 were added, which a static artifact cannot know; use --format script, \
                 whose teardown deletes exactly fwc's tables",
            ))
        }
    };
    Ok(Artifact { text, notes })
}

fn unsupported(reason: impl Into<String>) -> Error {
    Error::Unsupported {
        target: TARGET,
        reason: reason.into(),
    }
}

/// A script replaces whole tables, so it can only hold objects fwc owns.
pub(crate) fn check_owned(rs: &Ruleset) -> Result<(), Error> {
    for t in &rs.tables {
        if t.ownership == Ownership::External {
            return Err(unsupported(format!(
                "table {} {} belongs to someone else, and an nft script only replaces \
                 tables fwc owns",
                t.family, t.name
            )));
        }
        if let Some(c) = t.chains.iter().find(|c| c.ownership == Ownership::External) {
            return Err(unsupported(format!(
                "chain {} of table {} {} belongs to someone else, and an nft script only \
                 replaces tables fwc owns",
                c.name, t.family, t.name
            )));
        }
    }
    Ok(())
}

/// Notes for comments and log prefixes longer than nft keeps: the artifacts
/// carry them cut to [`quote::NFT_STRING_MAX`] bytes.
pub(crate) fn long_string_notes(rs: &Ruleset) -> Vec<Note> {
    let mut notes = Vec::new();
    for (_, _, r) in rs.rules() {
        let prefixes = r.statements.iter().filter_map(|s| match s {
            Statement::Log { prefix } => Some(("log prefix", prefix)),
            _ => None,
        });
        for (what, text) in r.comment.iter().map(|c| ("comment", c)).chain(prefixes) {
            if what == "log prefix" && text.as_str().contains('$') {
                notes.push(Note {
                    provenance: r.provenance.clone(),
                    message: "nft reads `$` in a log prefix as a variable; it is written as `_`"
                        .into(),
                });
            }
            if quote::nft_text_is_cut(text.as_str()) {
                notes.push(Note {
                    provenance: r.provenance.clone(),
                    message: format!(
                        "nft keeps at most {} bytes of a {what}; this one ({} bytes) is cut",
                        quote::NFT_STRING_MAX,
                        text.as_str().len()
                    ),
                });
            }
        }
    }
    notes
}

/// nft needs a `device` for ingress chains, which the IR does not carry.
pub(crate) fn check_device_hooks(rs: &Ruleset) -> Result<(), Error> {
    for t in &rs.tables {
        for c in &t.chains {
            if let ChainKind::Base {
                hook: Hook::Ingress,
                ..
            } = c.kind
            {
                return Err(unsupported(format!(
                    "base chain {} of table {} {} hooks ingress, which needs a device the \
                     IR does not name",
                    c.name, t.family, t.name
                )));
            }
        }
    }
    Ok(())
}
