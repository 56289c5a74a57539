//! `dedupe`: drop rules that repeat an earlier rule which always ends
//! evaluation.
//!
//! If rule A matches a packet and ends the chain's evaluation for it (a
//! terminal verdict, or a NAT statement, which ends the hook like `accept`),
//! a later rule B with exactly A's matches sees no packet A did not already
//! take: B can never run. Rules are compared whole (matches in order,
//! statements, verdict); comments and provenance do not affect what a rule
//! does and are ignored. A rule that continues (no verdict, `jump`, a verdict
//! map) may let the packet reach its duplicate, so its copies stay.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use ir::{Rule, Ruleset};

use super::analysis::{ends_evaluation, SMALL_CHAIN};

/// Drops, in every chain, each rule equal to an earlier terminal rule.
/// Linear in the chain's length: earlier terminal rules are found by hash.
pub fn run(rs: &mut Ruleset) {
    for table in &mut rs.tables {
        for chain in &mut table.chains {
            if chain.rules.len() <= SMALL_CHAIN {
                dedupe_small(&mut chain.rules);
                continue;
            }
            let rules = std::mem::take(&mut chain.rules);
            let mut terminal: HashMap<u64, Vec<usize>> = HashMap::new();
            let mut kept: Vec<Rule> = Vec::with_capacity(rules.len());
            for rule in rules {
                let h = behaviour_hash(&rule);
                let shadowed = terminal
                    .get(&h)
                    .is_some_and(|ks| ks.iter().any(|&k| same_behaviour(&kept[k], &rule)));
                if shadowed {
                    continue;
                }
                if ends_evaluation(&rule) {
                    terminal.entry(h).or_default().push(kept.len());
                }
                kept.push(rule);
            }
            chain.rules = kept;
        }
    }
}

/// [`run`] for a short chain: each rule against the earlier ones.
fn dedupe_small(rules: &mut Vec<Rule>) {
    let mut i = 1;
    while i < rules.len() {
        let (before, rest) = rules.split_at(i);
        if before
            .iter()
            .any(|k| ends_evaluation(k) && same_behaviour(k, &rest[0]))
        {
            rules.remove(i);
        } else {
            i += 1;
        }
    }
}

fn behaviour_hash(r: &Rule) -> u64 {
    let mut h = DefaultHasher::new();
    (&r.matches, &r.statements, &r.verdict).hash(&mut h);
    h.finish()
}

fn same_behaviour(a: &Rule, b: &Rule) -> bool {
    a.matches == b.matches && a.statements == b.statements && a.verdict == b.verdict
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passes::analysis::testing::*;
    use ir::{
        ChainKind, ChainType, Family, Field, Hook, Ifname, Match, Name, Nat, Ownership, Policy,
        Provenance, Statement, Value, Verdict,
    };

    fn iif(name: &str) -> Match {
        Match::eq(Field::IifName, Value::Ifname(Ifname::new(name).unwrap()))
    }

    /// A ruleset with one base chain holding `rules`, and a regular chain `sub`.
    fn ruleset(rules: impl FnOnce(ir::ChainId) -> Vec<Rule>) -> Ruleset {
        let mut rs = Ruleset::default();
        let t = rs.table_mut(Family::Inet, &Name::new("fwc").unwrap(), Ownership::Owned);
        let base = add_base(
            t,
            "forward",
            Hook::Forward,
            ChainType::Filter,
            0,
            Policy::Accept,
        );
        let sub = t.add_chain(
            Name::new("sub").unwrap(),
            ChainKind::Regular,
            Ownership::Owned,
        );
        t.chain_mut(base).rules = rules(sub);
        rs
    }

    fn rule(m: Vec<Match>, v: Option<Verdict>, what: &'static str) -> Rule {
        Rule::new(Provenance::Layout(what), m, v)
    }

    fn base_rules(rs: &Ruleset) -> Vec<&'static str> {
        layout_names(&rs.tables[0].chains[0].rules)
    }

    #[test]
    fn drops_a_duplicate_after_an_accept() {
        let mut rs = ruleset(|_| {
            vec![
                rule(vec![iif("virbr0")], Some(Verdict::Accept), "first"),
                rule(vec![iif("virbr1")], Some(Verdict::Drop), "other"),
                rule(vec![iif("virbr0")], Some(Verdict::Accept), "copy"),
            ]
        });
        run(&mut rs);
        assert_eq!(base_rules(&rs), ["first", "other"]);
        assert!(ir::validate(&rs).is_ok());
    }

    #[test]
    fn drops_a_duplicate_after_a_nat_statement() {
        let nat = |w| {
            rule(vec![iif("virbr0")], None, w).with(Statement::Nat(Nat::Masquerade { ports: None }))
        };
        let mut rs = Ruleset::default();
        let t = rs.table_mut(Family::Ip, &Name::new("fwc").unwrap(), Ownership::Owned);
        let c = add_base(
            t,
            "postrouting",
            Hook::Postrouting,
            ChainType::Nat,
            100,
            Policy::Accept,
        );
        t.chain_mut(c).rules = vec![nat("first"), nat("copy")];
        run(&mut rs);
        assert_eq!(rs.tables[0].chains[0].rules.len(), 1);
    }

    #[test]
    fn keeps_a_duplicate_after_a_jump() {
        let mut rs = ruleset(|sub| {
            vec![
                rule(vec![iif("virbr0")], Some(Verdict::Jump(sub)), "first"),
                rule(vec![iif("virbr0")], Some(Verdict::Jump(sub)), "copy"),
            ]
        });
        run(&mut rs);
        assert_eq!(base_rules(&rs), ["first", "copy"]);
    }

    #[test]
    fn keeps_a_duplicate_of_a_rule_without_verdict() {
        let mut rs = ruleset(|_| {
            vec![
                rule(vec![iif("virbr0")], None, "first").with(Statement::Counter),
                rule(vec![iif("virbr0")], None, "copy").with(Statement::Counter),
            ]
        });
        run(&mut rs);
        assert_eq!(base_rules(&rs), ["first", "copy"]);
    }

    #[test]
    fn keeps_rules_that_differ_in_a_match_statement_or_verdict() {
        let mut rs = ruleset(|_| {
            vec![
                rule(vec![iif("virbr0")], Some(Verdict::Accept), "a"),
                rule(vec![iif("virbr1")], Some(Verdict::Accept), "other match"),
                rule(vec![iif("virbr0")], Some(Verdict::Accept), "counted")
                    .with(Statement::Counter),
                rule(vec![iif("virbr0")], Some(Verdict::Drop), "other verdict"),
            ]
        });
        run(&mut rs);
        assert_eq!(
            base_rules(&rs),
            ["a", "other match", "counted", "other verdict"]
        );
    }
}
