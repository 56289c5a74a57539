//! `shadow`: drop rules that an earlier rule always takes the packets of.
//!
//! If an earlier rule A ends evaluation (see [`ends_evaluation`]) and every
//! packet a later rule B matches also matches A, B never runs. "Also matches"
//! is proven match by match: each of A's matches must follow from one of B's
//! (`ip saddr 10.1.0.0/16` gives `ip saddr 10.0.0.0/8`, `tcp dport 22` gives
//! `meta l4proto tcp`); when in doubt the rule stays. This subsumes
//! [`super::dedupe`], at the price of an index: earlier terminal rules are
//! filed under one of their equality matches (an interface, a protocol, a
//! prefix), and B is compared only with the rules filed under what its own
//! matches imply, which keeps long chains linear.

use std::collections::{BTreeSet, HashMap};

use ipnet::IpNet;
use ir::{CmpOp, Field, Rule, Ruleset, Value};

use super::analysis::{ends_evaluation, is_point, required_proto, rule_implies, SMALL_CHAIN};

/// Drops, in every chain, the rules an earlier terminal rule shadows.
pub fn run(rs: &mut Ruleset) {
    for table in &mut rs.tables {
        for chain in &mut table.chains {
            chain.rules = prune(std::mem::take(&mut chain.rules));
        }
    }
}

fn prune(rules: Vec<Rule>) -> Vec<Rule> {
    if rules.len() <= SMALL_CHAIN {
        return prune_small(rules);
    }
    let mut index = Index::default();
    let mut kept: Vec<Rule> = Vec::with_capacity(rules.len());
    for rule in rules {
        let shadowed = index
            .candidates(&rule)
            .any(|k| rule_implies(&rule, &kept[k]));
        if shadowed {
            continue;
        }
        if ends_evaluation(&rule) {
            index.add(&rule, kept.len());
        }
        kept.push(rule);
    }
    kept
}

/// [`prune`] for a short chain: each rule against every earlier terminal one.
fn prune_small(rules: Vec<Rule>) -> Vec<Rule> {
    let mut kept: Vec<Rule> = Vec::with_capacity(rules.len());
    for rule in rules {
        if !kept
            .iter()
            .any(|k| ends_evaluation(k) && rule_implies(&rule, k))
        {
            kept.push(rule);
        }
    }
    kept
}

/// Earlier terminal rules, filed for lookup.
#[derive(Default)]
struct Index {
    /// By one equality match (`field == value`, prefixes truncated).
    anchored: HashMap<(Field, Value), Vec<usize>>,
    /// Rules without an equality match to file them under, by the field of
    /// their first match (a rule can only imply it with a match on that
    /// field), and rules without matches, which shadow everything after.
    loose: HashMap<Field, Vec<usize>>,
    catch_all: Vec<usize>,
    /// The prefix lengths anchors use, per field: only supernets of these
    /// lengths can be anchors.
    lengths: HashMap<Field, BTreeSet<u8>>,
}

impl Index {
    fn add(&mut self, r: &Rule, at: usize) {
        match anchor(r) {
            Some(key) => {
                if let (f, Value::Prefix(p)) = &key {
                    self.lengths.entry(*f).or_default().insert(p.prefix_len());
                }
                self.anchored.entry(key).or_default().push(at)
            }
            None => match r.matches.first() {
                Some(m) => self.loose.entry(m.field).or_default().push(at),
                None => self.catch_all.push(at),
            },
        }
    }

    /// Every filed rule whose anchor a match of `b` may imply.
    fn candidates<'a>(&'a self, b: &Rule) -> impl Iterator<Item = usize> + 'a {
        let mut keys = Vec::new();
        // A port match implies its protocol, which may be the anchor.
        keys.extend(
            b.matches
                .iter()
                .filter_map(required_proto)
                .map(|p| (Field::L4Proto, Value::Proto(p))),
        );
        for m in b.matches.iter().filter(|m| m.op == CmpOp::Eq) {
            match &m.value {
                Value::Prefix(p) => {
                    if let Some(lengths) = self.lengths.get(&m.field) {
                        keys.extend(supernets(p, lengths).map(|s| (m.field, Value::Prefix(s))))
                    }
                }
                v if is_point(v) => keys.push((m.field, v.clone())),
                _ => {}
            }
        }
        let mut fields: Vec<Field> = b.matches.iter().map(|m| m.field).collect();
        if b.matches.iter().any(|m| required_proto(m).is_some()) {
            fields.push(Field::L4Proto);
        }
        fields.sort_unstable();
        fields.dedup();
        let mut found: Vec<usize> = keys
            .iter()
            .filter_map(|k| self.anchored.get(k))
            .chain(fields.iter().filter_map(|f| self.loose.get(f)))
            .flatten()
            .chain(&self.catch_all)
            .copied()
            .collect();
        found.sort_unstable();
        found.dedup();
        found.into_iter()
    }
}

/// The equality match a terminal rule is filed under: its first single
/// value, else its first prefix.
fn anchor(r: &Rule) -> Option<(Field, Value)> {
    let eq = || r.matches.iter().filter(|m| m.op == CmpOp::Eq);
    eq().find(|m| is_point(&m.value) && !matches!(m.value, Value::Prefix(_)))
        .map(|m| (m.field, m.value.clone()))
        .or_else(|| {
            eq().find_map(|m| match &m.value {
                Value::Prefix(p) => Some((m.field, Value::Prefix(p.trunc()))),
                _ => None,
            })
        })
}

/// The prefixes of the given lengths that contain `p` (itself included if
/// its length is one of them), truncated.
fn supernets<'a>(p: &'a IpNet, lengths: &'a BTreeSet<u8>) -> impl Iterator<Item = IpNet> + 'a {
    lengths
        .range(..=p.prefix_len())
        .filter_map(move |&len| IpNet::new(p.addr(), len).ok().map(|n| n.trunc()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passes::analysis::testing::*;
    use ir::{
        ChainType, Hook, IpFamily, L4Proto, Match, Nat, Policy, PortRange, Provenance, Statement,
        Verdict,
    };

    fn rule(m: Vec<Match>, v: Option<Verdict>, what: &'static str) -> Rule {
        Rule::new(Provenance::Layout(what), m, v)
    }

    fn pruned(rules: Vec<Rule>) -> Vec<&'static str> {
        let post = (
            "post",
            Hook::Postrouting,
            ChainType::Nat,
            100,
            Policy::Accept,
        );
        layout_names(&after_pass(run, "t", post, rules).tables[0].chains[0].rules)
    }

    #[test]
    fn a_narrower_rule_after_a_wider_terminal_one_goes() {
        let s4 = Field::Saddr(IpFamily::V4);
        let got = pruned(vec![
            rule(
                vec![Match::eq(s4, net("10.0.0.0/8"))],
                Some(Verdict::Return),
                "wide",
            ),
            rule(
                vec![
                    Match::eq(Field::IifName, ifname("a")),
                    Match::eq(s4, net("10.1.0.0/16")),
                ],
                Some(Verdict::Accept),
                "narrow",
            ),
            rule(
                vec![Match::eq(s4, net("11.0.0.0/8"))],
                Some(Verdict::Accept),
                "other",
            ),
            rule(
                vec![Match::eq(s4, net("10.0.0.0/8"))],
                Some(Verdict::Drop),
                "same",
            ),
        ]);
        assert_eq!(got, ["wide", "other"]);
    }

    #[test]
    fn nat_ends_evaluation_and_ports_imply_their_protocol() {
        let masq = |m, w| rule(m, None, w).with(Statement::Nat(Nat::Masquerade { ports: None }));
        let tcp = Match::eq(Field::L4Proto, Value::Proto(L4Proto::Tcp));
        let ssh = Match::eq(
            Field::Dport(L4Proto::Tcp),
            Value::Ports(PortRange::new(22, 22).unwrap()),
        );
        let got = pruned(vec![
            masq(vec![tcp], "tcp"),
            masq(vec![ssh.clone()], "ssh"),
            rule(vec![ssh], Some(Verdict::Accept), "ssh accept"),
        ]);
        assert_eq!(got, ["tcp"]);
    }

    #[test]
    fn non_terminal_and_unrelated_rules_stay() {
        let a = || Match::eq(Field::IifName, ifname("a"));
        let got = pruned(vec![
            rule(vec![a()], None, "count").with(Statement::Counter),
            rule(vec![a()], Some(Verdict::Accept), "accept"),
            rule(
                vec![Match::ne(Field::IifName, ifname("a"))],
                Some(Verdict::Drop),
                "not a",
            ),
            rule(
                vec![Match::eq(Field::IifName, ifname("b"))],
                Some(Verdict::Drop),
                "b",
            ),
            rule(vec![], Some(Verdict::Accept), "rest"),
            rule(
                vec![Match::eq(Field::OifName, ifname("c"))],
                Some(Verdict::Drop),
                "dead",
            ),
        ]);
        assert_eq!(got, ["count", "accept", "not a", "rest"]);
    }
}
