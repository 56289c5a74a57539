//! Names for the chains, sets and maps that passes create.
//!
//! A name is derived from what the object is for (`input_virbr0`,
//! `guest_cross_iifname_oifname`), so outputs are deterministic and
//! readable. Characters an [`ir::Name`] cannot hold become `_`; a name that
//! would break the shortest limit of any target (iptables' 28 bytes) is
//! shortened and given a hash of the full name; a name already taken gets a
//! `_2`, `_3`, ... suffix.

use std::collections::HashSet;

use ir::{Field, Name, Table, Value};

/// The longest name a pass gives: iptables' chain name limit, the shortest
/// of all targets (see [`ir::Limits::XTABLES`]).
pub(crate) const MAX_LEN: usize = 28;

/// The names in use in one namespace of a table.
#[derive(Debug, Default)]
pub(crate) struct Names {
    taken: HashSet<String>,
}

impl Names {
    /// The table's chain names.
    pub(crate) fn chains(t: &Table) -> Names {
        Names {
            taken: t.chains.iter().map(|c| c.name.to_string()).collect(),
        }
    }

    /// The table's set and map names, which share one namespace.
    pub(crate) fn objects(t: &Table) -> Names {
        Names {
            taken: t
                .sets
                .iter()
                .map(|s| s.name.to_string())
                .chain(t.maps.iter().map(|m| m.name.to_string()))
                .collect(),
        }
    }

    /// A new name built from `parts` joined by `_`, and reserves it.
    /// `parts[0]` should be an existing object's name so that the result
    /// starts like an identifier.
    pub(crate) fn fresh(&mut self, parts: &[&str]) -> Name {
        let full = sanitise(&parts.join("_"));
        let base = if full.len() > MAX_LEN {
            format!("{}_{:06x}", &full[..MAX_LEN - 7], fnv1a(&full) & 0xff_ffff)
        } else {
            full
        };
        let mut candidate = base.clone();
        let mut n = 2;
        while self.taken.contains(&candidate) {
            let suffix = format!("_{n}");
            candidate = format!(
                "{}{suffix}",
                &base[..base.len().min(MAX_LEN - suffix.len())]
            );
            n += 1;
        }
        self.taken.insert(candidate.clone());
        Name::new(&candidate).expect("sanitised names are identifiers")
    }
}

/// Replaces what a name cannot hold by `_` (and makes it start like one).
fn sanitise(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !out.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        out.insert(0, '_');
    }
    out
}

/// FNV-1a: a small stable hash, the same on every run and platform.
fn fnv1a(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// A short word for a field, for names (`iifname`, `ip_saddr`, `tcp_dport`):
/// nft's spelling with spaces as `_`.
pub(crate) fn field_word(f: Field) -> String {
    sanitise(&f.to_string())
}

/// A value as part of a name (`virbr0`, `192.168.122.0_24` once sanitised).
pub(crate) fn value_word(v: &Value) -> String {
    match v {
        Value::Ifname(n) => n.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_readable_unique_and_short() {
        let mut names = Names::default();
        assert_eq!(names.fresh(&["input", "virbr0"]).as_str(), "input_virbr0");
        assert_eq!(names.fresh(&["input", "virbr0"]).as_str(), "input_virbr0_2");
        assert_eq!(
            names.fresh(&["postrouting", "192.168.122.0/24"]).as_str(),
            "postrouting_192.168.122.0_24"
        );
        let long = names.fresh(&["mangle_postrouting", "a-very-long-if"]);
        assert_eq!(long.as_str().len(), MAX_LEN);
        assert!(long.as_str().starts_with("mangle_postrouting_a"));
        let again = names.fresh(&["mangle_postrouting", "a-very-long-if"]);
        assert_ne!(again, long);
        assert!(again.as_str().len() <= MAX_LEN);
        assert_eq!(names.fresh(&["x", "a@b+c"]).as_str(), "x_a_b_c");
        assert_eq!(sanitise("9lives"), "_9lives");
    }

    #[test]
    fn words_for_fields() {
        assert_eq!(field_word(Field::Saddr(ir::IpFamily::V6)), "ip6_saddr");
        assert_eq!(field_word(Field::Dport(ir::L4Proto::Udp)), "udp_dport");
    }
}
