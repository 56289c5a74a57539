//! The note for `bridge` tables given to iptables or ip6tables, which
//! filter routed and local IP traffic only: frames crossing a bridge are
//! ebtables' or nft's (fwc's nwfilter layouts are `bridge` tables).

use ir::{Family, Provenance, Ruleset};

use crate::{Artifact, Note, Target};

/// `artifact`, with a note naming the bridge tables `target` left out.
pub(crate) fn note_left_out(rs: &Ruleset, target: Target, mut artifact: Artifact) -> Artifact {
    let names: Vec<String> = rs
        .tables
        .iter()
        .filter(|t| t.family == Family::Bridge)
        .map(|t| format!("bridge {}", t.name))
        .collect();
    if !names.is_empty() {
        artifact.notes.push(Note {
            provenance: Provenance::Layout(crate::BRIDGE_TABLES),
            message: format!(
                "{} cannot filter bridged frames, so the {} {} left out; use --target nft, \
                 nft-json or ebtables for them",
                target.name(),
                names.join(", "),
                if names.len() == 1 {
                    "table is"
                } else {
                    "tables are"
                }
            ),
        });
    }
    artifact
}
