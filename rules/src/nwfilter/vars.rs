//! Filter variables and libvirt's rules for instantiating a rule with them.
//!
//! A variable has one value or a list of values (a `<parameter>` given
//! several times). A rule that references list variables is instantiated
//! once per combination of values, following `nwfilter_params.c`:
//!
//! * `$A` is `$A[@0]`. References with the same iterator id (`$A[@1]`,
//!   `$B[@1]`) advance in lockstep, so their lists must be equally long;
//!   different iterator ids form a cartesian product.
//! * `$A[n]` picks the n-th value only (an index past the end is an error).
//! * Iterator 0 varies fastest, then the other iterators (and each `$A[n]`)
//!   in the order their first reference appears in the element's attribute
//!   table.
//! * Within one iterator, a position whose values all repeat an earlier
//!   position's values is skipped, so duplicate list entries do not produce
//!   duplicate rules.
//!
//! With `A=[1.1.1.1,2.2.2.2,3.3.3.3,3.3.3.3]` and `B=[80,90,80,80]`, `$A`
//! with `$B` gives 3 combinations, `$A[@1]` with `$B[@2]` gives 6.

use std::collections::BTreeMap;

use super::template::{VarIndex, VarRef};

/// Names of the variables libvirt defines or reads itself.
pub mod reserved {
    /// The interface's MAC address (always set for a binding).
    pub const MAC: &str = "MAC";
    /// The guest's IPv4 addresses (learned by libvirt when not given).
    pub const IP: &str = "IP";
    /// The guest's IPv6 addresses.
    pub const IPV6: &str = "IPV6";
    /// DHCP servers the guest may use (`allow-dhcp-server`).
    pub const DHCPSERVER: &str = "DHCPSERVER";
    /// How libvirt learns `IP`: `any`, `dhcp` or `none`.
    pub const CTRL_IP_LEARNING: &str = "CTRL_IP_LEARNING";
    /// The gateway's MAC address (`clean-traffic-gateway`).
    pub const GATEWAY_MAC: &str = "GATEWAY_MAC";
}

/// Variables by name, each with one or more values, in name order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vars {
    map: BTreeMap<String, Vec<String>>,
}

impl Vars {
    /// No variables.
    pub fn new() -> Self {
        Vars::default()
    }

    /// Gives `name` the single value `value`, replacing what it had.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.map.insert(name.into(), vec![value.into()]);
    }

    /// Gives `name` the list `values`, replacing what it had; an empty list
    /// removes the variable (libvirt has no empty variables).
    pub fn set_list(&mut self, name: impl Into<String>, values: Vec<String>) {
        let name = name.into();
        if values.is_empty() {
            self.map.remove(&name);
        } else {
            self.map.insert(name, values);
        }
    }

    /// Appends `value` to `name`'s values: a `<parameter>` given again makes
    /// the variable a list.
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.map.entry(name.into()).or_default().push(value.into());
    }

    /// The values of `name` (one for a simple variable).
    pub fn get(&self, name: &str) -> Option<&[String]> {
        self.map.get(name).map(Vec::as_slice)
    }

    /// Whether `name` is defined.
    pub fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// Every variable and its values, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.map.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// The number of variables.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// These variables, plus those of `defaults` that these lack.
    ///
    /// This is how a `<filterref>` passes variables on: the referenced
    /// filter sees the caller's variables, and the `<parameter>`s of the
    /// filterref only fill in names the caller does not define
    /// (`virNWFilterCreateVarsFrom(params, vars)`: the caller's win).
    pub fn with_defaults(&self, defaults: &Vars) -> Vars {
        let mut out = defaults.clone();
        for (k, v) in &self.map {
            out.map.insert(k.clone(), v.clone());
        }
        out
    }
}

/// Why a rule's variables cannot be combined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CombineError {
    /// A referenced variable has no value.
    #[error("undefined variable '{}'", .var.name)]
    Undefined {
        /// The reference.
        var: VarRef,
    },
    /// `$NAME[n]` with fewer than `n + 1` values.
    #[error("'{var}' needs at least {} values but '{}' has {len}", .index + 1, .var.name)]
    IndexOutOfRange {
        /// The reference.
        var: VarRef,
        /// The index asked for.
        index: u32,
        /// How many values the variable has.
        len: usize,
    },
    /// Two variables sharing an iterator have lists of different lengths.
    #[error(
        "'{var}' and '{other}' share an iterator but have {len} and {other_len} values; \
         variables iterated in parallel must have as many values"
    )]
    Cardinality {
        /// The reference that did not fit.
        var: VarRef,
        /// How many values it has.
        len: usize,
        /// A reference already on the iterator.
        other: Box<VarRef>,
        /// How many values that one has.
        other_len: usize,
    },
}

/// One of libvirt's `virNWFilterVarCombIterEntry`: the references that
/// advance together and the position they are at.
struct Entry<'v> {
    /// The values of every variable on this entry (the first decides
    /// duplicates, the others must agree too).
    lists: Vec<&'v [String]>,
    min: usize,
    max: usize,
    cur: usize,
}

impl Entry<'_> {
    /// Whether the current position repeats no earlier one
    /// (`virNWFilterVarCombIterEntryAreUniqueEntries`).
    fn is_new(&self) -> bool {
        (0..self.cur).all(|i| self.lists.iter().any(|l| l[i] != l[self.cur]))
    }
}

/// Every combination of values for `refs`, in libvirt's order.
///
/// `refs` are a rule's references in attribute-table order (as
/// [`crate::nwfilter::ProtocolMatch::var_refs`] lists them); references
/// with the same access count once. Each combination gives, for each entry
/// of `refs`, the value to substitute. A rule without references has one
/// (empty) combination.
pub fn combinations<'v>(
    refs: &[&VarRef],
    vars: &'v Vars,
) -> Result<Vec<Vec<&'v str>>, CombineError> {
    // Iterator 0 always exists first, so it varies fastest.
    let mut entries: Vec<(Option<u32>, Entry<'v>)> = vec![(
        Some(0),
        Entry {
            lists: Vec::new(),
            min: 0,
            max: 0,
            cur: 0,
        },
    )];
    let mut first_of_entry: Vec<Option<&VarRef>> = vec![None];
    // For each distinct access: which entry it reads and which list.
    let mut slots: Vec<(&VarRef, usize, &'v [String])> = Vec::new();

    for &r in refs {
        if slots.iter().any(|(s, _, _)| s.same_access(r)) {
            continue;
        }
        let values = vars
            .get(&r.name)
            .ok_or_else(|| CombineError::Undefined { var: r.clone() })?;
        let (iter_id, min, max) = match r.access() {
            VarIndex::Iter(id) => (Some(id), 0, values.len() - 1),
            VarIndex::Index(i) => {
                let idx = i as usize;
                if idx >= values.len() {
                    return Err(CombineError::IndexOutOfRange {
                        var: r.clone(),
                        index: i,
                        len: values.len(),
                    });
                }
                (None, idx, idx)
            }
        };
        // An element access always gets an entry of its own.
        let existing = iter_id.and_then(|id| entries.iter().position(|(e, _)| *e == Some(id)));
        let at = match existing {
            Some(at) => at,
            None => {
                entries.push((
                    iter_id,
                    Entry {
                        lists: Vec::new(),
                        min,
                        max,
                        cur: min,
                    },
                ));
                first_of_entry.push(None);
                entries.len() - 1
            }
        };
        let entry = &mut entries[at].1;
        if entry.lists.is_empty() {
            (entry.min, entry.max, entry.cur) = (min, max, min);
            first_of_entry[at] = Some(r);
        } else if entry.max != max {
            let other = first_of_entry[at].unwrap_or(r);
            return Err(CombineError::Cardinality {
                var: r.clone(),
                len: values.len(),
                other: Box::new(other.clone()),
                other_len: entry.max + 1,
            });
        }
        entry.lists.push(values);
        slots.push((r, at, values));
    }

    let current = |entries: &[(Option<u32>, Entry<'v>)]| -> Vec<&'v str> {
        slots
            .iter()
            .map(|(_, at, values)| values[entries[*at].1.cur].as_str())
            .collect()
    };
    let mut out = vec![current(&entries)];
    'next: loop {
        for (_, e) in entries.iter_mut() {
            loop {
                e.cur += 1;
                if e.cur > e.max {
                    e.cur = e.min;
                    break;
                }
                if e.is_new() {
                    out.push(current(&entries));
                    continue 'next;
                }
            }
        }
        break;
    }

    // Map the distinct accesses back onto every reference.
    Ok(out
        .into_iter()
        .map(|combo| {
            refs.iter()
                .map(|r| {
                    let i = slots
                        .iter()
                        .position(|(s, _, _)| s.same_access(r))
                        .unwrap_or(0);
                    combo[i]
                })
                .collect()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// libvirt's test-harness variables (`nwfilterxml2firewalltest.c`).
    fn harness() -> Vars {
        let mut v = Vars::new();
        for a in ["1.1.1.1", "2.2.2.2", "3.3.3.3", "3.3.3.3"] {
            v.push("A", a);
        }
        for b in ["80", "90", "80", "80"] {
            v.push("B", b);
        }
        for c in ["1080", "1090", "1100", "1110"] {
            v.push("C", c);
        }
        v.set("IPSETNAME", "tck_test");
        v
    }

    fn r(text: &str) -> VarRef {
        let (name, index) = match text.split_once('[') {
            None => (text, None),
            Some((n, rest)) => {
                let rest = rest.trim_end_matches(']');
                let index = match rest.strip_prefix('@') {
                    Some(id) => VarIndex::Iter(id.parse().unwrap()),
                    None => VarIndex::Index(rest.parse().unwrap()),
                };
                (n, Some(index))
            }
        };
        VarRef {
            name: name.into(),
            index,
            source: ir::Source {
                file: "t.xml".into(),
                line: 1,
                column: 1,
                element: "tcp".into(),
            },
        }
    }

    fn combos(refs: &[&str]) -> Vec<String> {
        let refs: Vec<VarRef> = refs.iter().map(|t| r(t)).collect();
        let refs: Vec<&VarRef> = refs.iter().collect();
        let vars = harness();
        combinations(&refs, &vars)
            .unwrap()
            .into_iter()
            .map(|c| c.join(" "))
            .collect()
    }

    #[test]
    fn lockstep_skips_repeated_positions() {
        // iter1 / iter2 rule 1: $A with $B (iterator 0).
        assert_eq!(
            combos(&["A", "B"]),
            ["1.1.1.1 80", "2.2.2.2 90", "3.3.3.3 80"]
        );
        assert_eq!(combos(&["A", "B[@0]"]), combos(&["A", "B"]));
    }

    #[test]
    fn different_iterators_multiply_with_the_first_fastest() {
        let c = combos(&["A[@1]", "B[@2]"]);
        assert_eq!(
            c,
            [
                "1.1.1.1 80",
                "2.2.2.2 80",
                "3.3.3.3 80",
                "1.1.1.1 90",
                "2.2.2.2 90",
                "3.3.3.3 90"
            ]
        );
        assert_eq!(combos(&["A[@1]", "B[@2]", "C[@2]"]).len(), 12);
        assert_eq!(combos(&["A[@1]", "B[@2]", "C[@3]"]).len(), 24);
        assert_eq!(combos(&["A[@1]", "A[@2]"]).len(), 9);
        // The same access twice is one entry.
        assert_eq!(
            combos(&["A", "A"]),
            ["1.1.1.1 1.1.1.1", "2.2.2.2 2.2.2.2", "3.3.3.3 3.3.3.3"]
        );
    }

    #[test]
    fn iterator_zero_varies_fastest_even_when_referenced_last() {
        let c = combos(&["A[@1]", "B"]);
        assert_eq!(&c[..3], ["1.1.1.1 80", "1.1.1.1 90", "2.2.2.2 80"]);
        assert_eq!(c.len(), 6);
    }

    #[test]
    fn indexes_pick_one_value() {
        // iter3.
        assert_eq!(combos(&["A[0]", "B[@0]"]), ["1.1.1.1 80", "1.1.1.1 90"]);
        assert_eq!(combos(&["A[1]", "B[@2]"]), ["2.2.2.2 80", "2.2.2.2 90"]);
        assert_eq!(combos(&["A[1]", "B[2]", "C[2]"]), ["2.2.2.2 80 1100"]);
        assert_eq!(combos(&[]), [""]);
    }

    #[test]
    fn errors_name_the_reference() {
        let vars = harness();
        let x = r("X");
        assert_eq!(
            combinations(&[&x], &vars),
            Err(CombineError::Undefined { var: x.clone() })
        );
        let a9 = r("A[9]");
        let e = combinations(&[&a9], &vars).unwrap_err();
        assert_eq!(
            e.to_string(),
            "'$A[9]' needs at least 10 values but 'A' has 4"
        );
        let (b, n) = (r("B[@1]"), r("IPSETNAME[@1]"));
        let e = combinations(&[&b, &n], &vars).unwrap_err();
        assert!(
            matches!(
                &e,
                CombineError::Cardinality {
                    len: 1,
                    other_len: 4,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(
            e.to_string().contains("'$IPSETNAME[@1]' and '$B[@1]'"),
            "{e}"
        );
    }

    #[test]
    fn callers_variables_win_over_parameters() {
        let mut caller = Vars::new();
        caller.set("IP", "10.0.0.1");
        let mut params = Vars::new();
        params.set("IP", "192.168.0.1");
        params.push("DHCPSERVER", "10.0.0.2");
        params.push("DHCPSERVER", "10.0.0.3");
        let merged = caller.with_defaults(&params);
        assert_eq!(merged.get("IP"), Some(&["10.0.0.1".to_owned()][..]));
        assert_eq!(merged.get("DHCPSERVER").map(<[String]>::len), Some(2));
        let mut v = Vars::new();
        v.set_list("X", vec![]);
        assert!(!v.contains("X") && v.is_empty());
    }
}
