//! `vmap`: turn a run of rules that are pure lookups into one verdict map
//! (`iifname "a" oifname "a" accept` + `iifname "b" oifname "b" accept` →
//! `iifname . oifname vmap { "a" . "a" : accept, "b" . "b" : accept }`).
//!
//! A rule is a lookup when all it does is compare fields for equality with
//! single values and give a verdict: no statements, no comment, each field
//! once. Consecutive lookups over the same fields, in the same order, with
//! keys that share no packet, become one map: a packet matches at most one
//! of them, so it takes that rule's verdict either way, and a `jump` that
//! comes back continues after the map just as it would have continued past
//! the other rules, which cannot match it. Keys of several fields must be
//! single values (nft's concatenations); a key of one field may also be a
//! prefix or port range, for an interval map.
//!
//! A run of one field whose rules all give the same verdict is left to
//! [`super::merge`], which makes a set of it.

use std::collections::HashSet;

use ir::{CmpOp, Field, MapRef, Provenance, Rule, Ruleset, Value, Verdict};

use super::analysis::{has_seq, is_point, values_disjoint};

/// Why the optimiser's verdict maps exist, for their provenance.
const WHY: &str = "verdict map of rules that differed only in their keys, built by the optimiser";

/// Turns lookup runs into verdict maps in every chain not ordered by
/// sequence numbers.
pub fn run(rs: &mut Ruleset) {
    for table in &mut rs.tables {
        for chain in &mut table.chains {
            if !has_seq(&chain.rules) {
                chain.rules = convert(std::mem::take(&mut chain.rules));
            }
        }
    }
}

fn convert(rules: Vec<Rule>) -> Vec<Rule> {
    let mut out = Vec::with_capacity(rules.len());
    let mut rest = rules.into_iter().peekable();
    while let Some(first) = rest.next() {
        let Some(fields) = shape(&first) else {
            out.push(first);
            continue;
        };
        let mut run = Run::new(fields);
        run.add(first);
        while let Some(next) = rest.peek() {
            if !run.accepts(next) {
                break;
            }
            run.add(rest.next().expect("peeked"));
        }
        out.extend(run.finish());
    }
    out
}

/// The fields a lookup rule compares, in order; `None` if it is not one.
fn shape(r: &Rule) -> Option<Vec<Field>> {
    if !r.statements.is_empty()
        || r.comment.is_some()
        || r.matches.is_empty()
        || !matches!(&r.verdict, Some(v) if !matches!(v, Verdict::Vmap { .. }))
    {
        return None;
    }
    let single = r.matches.len() == 1;
    let mut fields = Vec::with_capacity(r.matches.len());
    for m in &r.matches {
        let fits = m.op == CmpOp::Eq
            && match &m.value {
                Value::Set(_) | Value::CtStates(_) => false,
                v => single || is_point(v),
            };
        if !fits || fields.contains(&m.field) {
            return None;
        }
        fields.push(m.field);
    }
    Some(fields)
}

/// Consecutive lookups over the same fields.
struct Run {
    fields: Vec<Field>,
    rules: Vec<Rule>,
    /// Keys of single values, for a quick "seen before".
    points: HashSet<Vec<Value>>,
    /// Keys that are ranges, which need a real overlap check.
    ranges: Vec<Value>,
}

impl Run {
    fn new(fields: Vec<Field>) -> Run {
        Run {
            fields,
            rules: Vec::new(),
            points: HashSet::new(),
            ranges: Vec::new(),
        }
    }

    fn key(r: &Rule) -> Vec<Value> {
        r.matches.iter().map(|m| m.value.clone()).collect()
    }

    /// Whether `r` has the run's shape and a key disjoint from all so far.
    fn accepts(&self, r: &Rule) -> bool {
        if shape(r).as_ref() != Some(&self.fields) {
            return false;
        }
        let key = Run::key(r);
        if self.points.contains(&key) {
            return false;
        }
        match key.as_slice() {
            [v] if !is_point(v) => self
                .points
                .iter()
                .map(|k| &k[0])
                .chain(&self.ranges)
                .all(|k| values_disjoint(k, v)),
            [v] => self.ranges.iter().all(|k| values_disjoint(k, v)),
            _ => true,
        }
    }

    fn add(&mut self, r: Rule) {
        let key = Run::key(&r);
        match key.as_slice() {
            [v] if !is_point(v) => self.ranges.push(v.clone()),
            _ => {
                self.points.insert(key);
            }
        }
        self.rules.push(r);
    }

    /// The map, or the rules unchanged when a map would not pay.
    fn finish(self) -> Vec<Rule> {
        let one_verdict = self.rules.windows(2).all(|w| w[0].verdict == w[1].verdict);
        if self.rules.len() < 2 || (self.fields.len() == 1 && one_verdict) {
            return self.rules;
        }
        let elements = self
            .rules
            .into_iter()
            .map(|r| {
                let key = Run::key(&r);
                (key, r.verdict.expect("lookups have a verdict"))
            })
            .collect();
        vec![Rule::new(
            Provenance::Layout(WHY),
            Vec::new(),
            Some(Verdict::Vmap {
                key: self.fields,
                map: MapRef::Anonymous(elements),
            }),
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passes::analysis::testing::*;
    use ir::{ChainType, Hook, IpFamily, Match, Policy, Statement};

    fn rule(m: Vec<Match>, v: Verdict) -> Rule {
        Rule::new(Provenance::Layout("test"), m, Some(v))
    }

    fn cross(br: &str) -> Rule {
        rule(
            vec![
                Match::eq(Field::IifName, ifname(br)),
                Match::eq(Field::OifName, ifname(br)),
            ],
            Verdict::Accept,
        )
    }

    fn converted(rules: Vec<Rule>) -> Vec<Rule> {
        let fwd = (
            "forward",
            Hook::Forward,
            ChainType::Filter,
            0,
            Policy::Accept,
        );
        let mut rs = after_pass(run, "t", fwd, rules);
        rs.tables.remove(0).chains.remove(0).rules
    }

    #[test]
    fn cross_rules_become_a_concatenated_map() {
        let got = converted(vec![cross("virbr0"), cross("virbr1"), cross("virbr2")]);
        assert_eq!(got.len(), 1);
        let Some(Verdict::Vmap {
            key,
            map: MapRef::Anonymous(elems),
        }) = &got[0].verdict
        else {
            panic!("{got:?}");
        };
        assert_eq!(key, &[Field::IifName, Field::OifName]);
        assert_eq!(elems.len(), 3);
        assert_eq!(elems[1].0, vec![ifname("virbr1"), ifname("virbr1")]);
    }

    #[test]
    fn one_field_maps_need_different_verdicts_and_disjoint_ranges() {
        let s4 = Field::Saddr(IpFamily::V4);
        let net = |s: &str| Match::eq(s4, Value::Prefix(s.parse().unwrap()));
        let got = converted(vec![
            rule(vec![net("10.0.0.0/24")], Verdict::Accept),
            rule(vec![net("10.0.1.0/24")], Verdict::Drop),
            rule(vec![net("10.0.0.0/16")], Verdict::Accept),
        ]);
        assert_eq!(got.len(), 2, "the overlapping /16 ends the run");
        assert!(matches!(got[0].verdict, Some(Verdict::Vmap { .. })));
        let same = converted(vec![
            rule(
                vec![Match::eq(Field::IifName, ifname("a"))],
                Verdict::Accept,
            ),
            rule(
                vec![Match::eq(Field::IifName, ifname("b"))],
                Verdict::Accept,
            ),
        ]);
        assert_eq!(same.len(), 2, "left to the merge pass");
    }

    #[test]
    fn statements_repeated_keys_and_other_shapes_end_a_run() {
        let got = converted(vec![
            cross("a"),
            cross("b").with(Statement::Counter),
            cross("c"),
            cross("c"),
            rule(
                vec![
                    Match::eq(Field::OifName, ifname("d")),
                    Match::eq(Field::IifName, ifname("d")),
                ],
                Verdict::Accept,
            ),
        ]);
        assert_eq!(got.len(), 5, "{got:#?}");
    }
}
