//! `merge`: fold rules that differ in one value into one rule over an
//! anonymous set (`tcp dport 53 accept` + `tcp dport 67 accept` →
//! `tcp dport { 53, 67 } accept`).
//!
//! Two rules merge when they have the same effect (statements, verdict,
//! comment) and the same matches in the same order except at one position,
//! where both compare the same field for equality with values (or anonymous
//! sets) that share no packet value: interfaces, addresses, protocols, ports,
//! MACs. Disjoint values keep the merged rule from matching a packet twice
//! where the two rules would have matched it once each, and keep nft's
//! interval sets free of overlaps.
//!
//! Where they may merge:
//! * adjacent rules, always: a packet meets them one after the other, and at
//!   most one of them can match it;
//! * anywhere within a run of consecutive rules that end evaluation with the
//!   same effect: whichever of them matches first decides the same way, so
//!   their order does not matter. This is what folds per-network rules that
//!   libvirt's policy spreads over a chain (`iifname virbr0 udp dport 53
//!   accept`, one per bridge) into one rule per shape.
//!
//! Rounds repeat until nothing merges (a merge can make two rules differ in
//! only one place), at most [`MAX_ROUNDS`] times. Candidates are found by
//! hashing each rule with one match position left out, so a round is linear
//! in the chain's length.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};

use ir::{CmpOp, Rule, Ruleset, SetRef, Value};

use super::analysis::{
    ends_evaluation, has_seq, is_point, items, same_effect, values_disjoint, SMALL_CHAIN,
};

/// Rounds of merging per chain, at most.
pub const MAX_ROUNDS: usize = 8;

/// Sets up to this size are filed again under their rule's other holes
/// right after a merge (see [`round`]).
const REINDEX_LIMIT: usize = 64;

/// Merges rules in every chain not ordered by sequence numbers.
pub fn run(rs: &mut Ruleset) {
    for table in &mut rs.tables {
        for chain in &mut table.chains {
            if has_seq(&chain.rules) {
                continue;
            }
            let mut rules = std::mem::take(&mut chain.rules);
            for _ in 0..MAX_ROUNDS {
                let before = rules.len();
                rules = round(rules, before > SMALL_CHAIN);
                if rules.len() == before {
                    break;
                }
            }
            chain.rules = rules;
        }
    }
}

/// One pass over a chain; `hashed`: find merge partners in a run through
/// the hash index (long chains) rather than by trying each (short ones).
fn round(rules: Vec<Rule>, hashed: bool) -> Vec<Rule> {
    let mut out: Vec<Rule> = Vec::with_capacity(rules.len());
    // Rules of the current run of same-effect terminal rules, by the hash
    // of each with one match position left out.
    let mut run: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut grown = Grown::default();
    // Where the current run starts in `out`.
    let mut run_start = 0;
    for rule in rules {
        let continues_run = ends_evaluation(&rule)
            && out
                .last()
                .is_some_and(|last| ends_evaluation(last) && same_effect(last, &rule));
        if !continues_run {
            run.clear();
            run_start = out.len();
        }
        let target = if continues_run && hashed {
            find_in_run(&run, &out, &rule, &grown)
        } else if continues_run {
            (run_start..out.len()).find_map(|k| {
                merge_position(&out[k], &rule)
                    .filter(|&p| grown.joinable(&out, k, p, &rule.matches[p].value))
                    .map(|p| (k, p))
            })
        } else {
            let k = out.len().wrapping_sub(1);
            out.last()
                .and_then(|last| merge_position(last, &rule))
                .filter(|&p| grown.joinable(&out, k, p, &rule.matches[p].value))
                .map(|p| (k, p))
        };
        match target {
            Some((k, p)) => {
                let mut rule = rule;
                let added = std::mem::replace(
                    &mut rule.matches[p].value,
                    Value::Set(SetRef::Anonymous(Vec::new())),
                );
                grown.absorb(&mut out, k, p, added);
                let size = items(&out[k].matches[p].value).map_or(0, <[Value]>::len);
                // Its other holes changed with the new value. Rules over big
                // sets rarely merge again elsewhere; the next round finds
                // them if they do, without rehashing the set on every merge.
                if !continues_run {
                    // Merged into its neighbour: that rule starts the run.
                    run_start = k;
                    if hashed && ends_evaluation(&out[k]) && size <= REINDEX_LIMIT {
                        index(&mut run, &out[k], k, None);
                    }
                } else if hashed && size <= REINDEX_LIMIT {
                    index(&mut run, &out[k], k, Some(p));
                }
            }
            None => {
                if hashed && ends_evaluation(&rule) {
                    index(&mut run, &rule, out.len(), None);
                }
                out.push(rule);
            }
        }
    }
    out
}

/// Files `rule` (at `at` in the output) under each of its holes except `skip`.
fn index(run: &mut HashMap<u64, Vec<usize>>, rule: &Rule, at: usize, skip: Option<usize>) {
    for p in 0..rule.matches.len() {
        if Some(p) != skip && mergeable(&rule.matches[p].value) {
            run.entry(hole_hash(rule, p)).or_default().push(at);
        }
    }
}

/// An earlier rule of the run that `rule` merges into, and where.
fn find_in_run(
    run: &HashMap<u64, Vec<usize>>,
    out: &[Rule],
    rule: &Rule,
    grown: &Grown,
) -> Option<(usize, usize)> {
    (0..rule.matches.len())
        .filter(|&p| mergeable(&rule.matches[p].value))
        .find_map(|p| {
            run.get(&hole_hash(rule, p))?
                .iter()
                .find(|&&k| {
                    merge_position(&out[k], rule) == Some(p)
                        && grown.joinable(out, k, p, &rule.matches[p].value)
                })
                .map(|&k| (k, p))
        })
}

/// The hash of a rule with match `p`'s value left out.
fn hole_hash(rule: &Rule, p: usize) -> u64 {
    let mut h = DefaultHasher::new();
    p.hash(&mut h);
    for (i, m) in rule.matches.iter().enumerate() {
        m.field.hash(&mut h);
        m.op.hash(&mut h);
        if i != p {
            m.value.hash(&mut h);
        }
    }
    (&rule.statements, &rule.verdict, &rule.comment).hash(&mut h);
    h.finish()
}

/// The one position where `a` and `b` differ, if they have the same effect
/// and compare the same field for equality there (whether the values can be
/// joined is [`Grown::joinable`]'s question).
fn merge_position(a: &Rule, b: &Rule) -> Option<usize> {
    if a.matches.len() != b.matches.len() || !same_effect(a, b) {
        return None;
    }
    let mut differ = a
        .matches
        .iter()
        .zip(&b.matches)
        .enumerate()
        .filter(|(_, (x, y))| x != y);
    let (p, (x, y)) = differ.next()?;
    if differ.next().is_some() || x.field != y.field || x.op != CmpOp::Eq || y.op != CmpOp::Eq {
        return None;
    }
    Some(p)
}

/// Sets of single values (interfaces, protocols, ports, MACs, addresses)
/// that merging has grown past [`HASHED_FROM`] values, hashed by output rule
/// and match position, so that one more merge costs a lookup rather than a
/// comparison with every value (which would make a chain of N per-bridge
/// rules quadratic).
#[derive(Default)]
struct Grown {
    points: HashMap<(usize, usize), HashSet<Value>>,
}

/// Sets this big get hashed.
const HASHED_FROM: usize = 16;

impl Grown {
    /// Whether `new` can join the value at match `p` of rule `k`: both
    /// mergeable and sharing no packet value.
    fn joinable(&self, out: &[Rule], k: usize, p: usize, new: &Value) -> bool {
        if !mergeable(new) {
            return false;
        }
        let Some(new_items) = items(new) else {
            return false;
        };
        if let Some(known) = self.points.get(&(k, p)) {
            if new_items.iter().all(is_point) {
                return new_items.iter().all(|v| !known.contains(v));
            }
        }
        let old = &out[k].matches[p].value;
        mergeable(old) && values_disjoint(old, new)
    }

    /// Adds `new`'s values to the value at match `p` of rule `k` (making it
    /// a set), keeping the hash of single values in step.
    fn absorb(&mut self, out: &mut [Rule], k: usize, p: usize, new: Value) {
        let value = &mut out[k].matches[p].value;
        if !matches!(value, Value::Set(SetRef::Anonymous(_))) {
            let first = std::mem::replace(value, Value::Set(SetRef::Anonymous(Vec::new())));
            *value = Value::Set(SetRef::Anonymous(vec![first]));
        }
        let Value::Set(SetRef::Anonymous(set)) = value else {
            unreachable!("made a set above");
        };
        let added = match new {
            Value::Set(SetRef::Anonymous(more)) => more,
            scalar => vec![scalar],
        };
        let start = set.len();
        set.extend(added);
        match self.points.get_mut(&(k, p)) {
            Some(known) if set[start..].iter().all(is_point) => {
                known.extend(set[start..].iter().cloned())
            }
            Some(_) => {
                self.points.remove(&(k, p));
            }
            None if set.len() >= HASHED_FROM && set.iter().all(is_point) => {
                self.points.insert((k, p), set.iter().cloned().collect());
            }
            None => {}
        }
    }
}

/// Whether a value can be part of a merged set.
fn mergeable(v: &Value) -> bool {
    match v {
        Value::Set(SetRef::Anonymous(items)) => items.iter().all(mergeable),
        Value::Ifname(_) | Value::Prefix(_) | Value::Proto(_) | Value::Ports(_) | Value::Mac(_) => {
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passes::analysis::testing::*;
    use ir::{
        ChainType, Field, Hook, IpFamily, L4Proto, Match, Policy, PortRange, Provenance, Statement,
        Verdict,
    };

    fn port(p: u16) -> Value {
        Value::Ports(PortRange::new(p, p).unwrap())
    }

    fn iif(s: &str) -> Match {
        Match::eq(Field::IifName, ifname(s))
    }

    fn dport(proto: L4Proto, p: u16) -> Match {
        Match::eq(Field::Dport(proto), port(p))
    }

    fn accept(m: Vec<Match>) -> Rule {
        Rule::new(Provenance::Layout("test"), m, Some(Verdict::Accept))
    }

    fn merged(rules: Vec<Rule>) -> Vec<String> {
        let input = ("input", Hook::Input, ChainType::Filter, 0, Policy::Drop);
        let rs = after_pass(run, "t", input, rules);
        let t = &rs.tables[0];
        t.chains[0]
            .rules
            .iter()
            .map(|r| {
                let ms: Vec<_> = r.matches.iter().map(|m| m.to_string()).collect();
                ms.join(" ")
            })
            .collect()
    }

    #[test]
    fn per_bridge_host_rules_fold_into_one_rule_per_shape() {
        // Six bridges: 24 rules, past SMALL_CHAIN, so the hash index runs.
        let mut rules = Vec::new();
        for br in ["virbr0", "virbr1", "virbr2", "virbr3", "virbr4", "virbr5"] {
            for port in [67, 53] {
                for proto in [L4Proto::Tcp, L4Proto::Udp] {
                    rules.push(accept(vec![iif(br), dport(proto, port)]));
                }
            }
        }
        let got = merged(rules);
        assert_eq!(got.len(), 2, "{got:#?}");
        assert!(
            got[0].contains("virbr0") && got[0].contains("virbr2"),
            "{got:#?}"
        );
        assert!(got[0].contains("67") && got[0].contains("53"), "{got:#?}");
    }

    #[test]
    fn short_chains_merge_the_same_way() {
        let mut rules = Vec::new();
        for br in ["virbr0", "virbr1"] {
            for port in [67, 53] {
                for proto in [L4Proto::Tcp, L4Proto::Udp] {
                    rules.push(accept(vec![iif(br), dport(proto, port)]));
                }
            }
        }
        assert!(rules.len() <= crate::passes::analysis::SMALL_CHAIN);
        assert_eq!(merged(rules).len(), 2);
    }

    #[test]
    fn overlapping_values_and_different_effects_do_not_merge() {
        let s4 = Field::Saddr(IpFamily::V4);
        let net = |s: &str| Match::eq(s4, Value::Prefix(s.parse().unwrap()));
        let got = merged(vec![
            accept(vec![net("10.0.0.0/8")]),
            accept(vec![net("10.1.0.0/16")]),
            accept(vec![iif("a")]).with(Statement::Counter),
            accept(vec![iif("b")]),
        ]);
        assert_eq!(got.len(), 4, "{got:#?}");
    }

    #[test]
    fn non_terminal_rules_merge_only_with_their_neighbour() {
        let count =
            |m| Rule::new(Provenance::Layout("test"), vec![m], None).with(Statement::Counter);
        let got = merged(vec![
            count(iif("a")),
            count(iif("b")),
            accept(vec![iif("x")]),
            count(iif("c")),
        ]);
        assert_eq!(got.len(), 3, "{got:#?}");
        assert!(
            got[0].contains("\"a\"") && got[0].contains("\"b\""),
            "{got:#?}"
        );
    }

    #[test]
    fn big_sets_stay_free_of_repeats() {
        // Past HASHED_FROM values the set is checked by hash: a repeated
        // bridge must still end the merge (a counter would count it twice).
        let count =
            |m| Rule::new(Provenance::Layout("test"), vec![m], None).with(Statement::Counter);
        let names: Vec<String> = (0..40).map(|i| format!("br{i}")).collect();
        let mut rules: Vec<Rule> = names.iter().map(|n| count(iif(n))).collect();
        rules.push(count(iif("br7")));
        rules.push(count(iif("br40")));
        let got = merged(rules);
        assert_eq!(got.len(), 2, "{got:#?}");
        assert!(
            got[1].contains("br7") && got[1].contains("br40"),
            "{got:#?}"
        );
        // The same in a run of accepts, where merging may reach back.
        let mut rules: Vec<Rule> = names.iter().map(|n| accept(vec![iif(n)])).collect();
        rules.push(accept(vec![iif("br3"), dport(L4Proto::Tcp, 22)]));
        rules.push(accept(vec![iif("br41")]));
        let got = merged(rules);
        assert_eq!(got.len(), 2, "{got:#?}");
        assert!(got[0].contains("br41"), "{got:#?}");
    }

    #[test]
    fn a_different_effect_ends_the_run() {
        let drop = |m| Rule::new(Provenance::Layout("test"), vec![m], Some(Verdict::Drop));
        let got = merged(vec![
            accept(vec![iif("a")]),
            drop(iif("x")),
            accept(vec![iif("b")]),
        ]);
        assert_eq!(got.len(), 3, "{got:#?}");
    }
}
