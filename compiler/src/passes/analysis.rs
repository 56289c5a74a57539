//! What passes need to know about matches and rules: when two can never hold
//! for the same packet, when one implies another, and when a rule ends the
//! evaluation of its chain.
//!
//! Every answer is conservative: `false` means "not proven", never "proven
//! not". The reasoning follows the evaluator (`ir::eval`): a match on a field
//! the packet lacks fails whatever its operator, a port match needs its
//! protocol, and a packet has one IP family and one conntrack state, as real
//! packets do.
//!
//! Named sets and maps are treated as opaque: their elements may change at
//! run time (that is what they are for), so nothing is concluded from what
//! they hold today, except that a set is equal to itself.

use ir::{CmpOp, Field, IpFamily, L4Proto, Match, Rule, SetRef, Statement, Value, Verdict};

/// Whether a packet the rule matches never reaches the next rule of the
/// chain: a terminal verdict, or a NAT statement (which ends the hook like
/// `accept`). `jump` and verdict maps may come back, so they do not.
pub(crate) fn ends_evaluation(r: &Rule) -> bool {
    let terminal = matches!(
        r.verdict,
        Some(
            Verdict::Accept
                | Verdict::Drop
                | Verdict::Reject(_)
                | Verdict::Return
                | Verdict::Goto(_)
        )
    );
    terminal || r.statements.iter().any(|s| matches!(s, Statement::Nat(_)))
}

/// Whether two rules have the same effect on a packet they match
/// (statements, verdict and comment alike; provenance aside).
pub(crate) fn same_effect(a: &Rule, b: &Rule) -> bool {
    a.statements == b.statements && a.verdict == b.verdict && a.comment == b.comment
}

/// The scalar values a value stands for: itself, or an anonymous set's
/// items. `None` for a named set, whose elements are not known for good.
pub(crate) fn items(v: &Value) -> Option<&[Value]> {
    match v {
        Value::Set(SetRef::Anonymous(items)) => Some(items),
        Value::Set(SetRef::Named(_)) => None,
        scalar => Some(std::slice::from_ref(scalar)),
    }
}

/// Whether two scalars share no packet value.
fn scalars_disjoint(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Ifname(x), Value::Ifname(y)) => x != y,
        (Value::Prefix(p), Value::Prefix(q)) => {
            !(p.contains(&q.network()) || q.contains(&p.network()))
        }
        (Value::Proto(x), Value::Proto(y)) => x != y,
        (Value::Ports(x), Value::Ports(y)) => x.end < y.start || y.end < x.start,
        (Value::Mac(x), Value::Mac(y)) => x != y,
        (Value::CtStates(x), Value::CtStates(y)) => {
            !((x.new && y.new)
                || (x.established && y.established)
                || (x.related && y.related)
                || (x.invalid && y.invalid)
                || (x.untracked && y.untracked))
        }
        _ => false,
    }
}

/// Whether every packet value in scalar `a` is in scalar `b`.
fn scalar_within(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Prefix(p), Value::Prefix(q)) => q.contains(p),
        (Value::Ports(x), Value::Ports(y)) => y.start <= x.start && x.end <= y.end,
        (Value::CtStates(x), Value::CtStates(y)) => {
            (!x.new || y.new)
                && (!x.established || y.established)
                && (!x.related || y.related)
                && (!x.invalid || y.invalid)
                && (!x.untracked || y.untracked)
        }
        (x, y) => x == y,
    }
}

/// Whether no packet value lies in both `a` and `b`.
pub(crate) fn values_disjoint(a: &Value, b: &Value) -> bool {
    match (items(a), items(b)) {
        (Some(xs), Some(ys)) => xs.iter().all(|x| ys.iter().all(|y| scalars_disjoint(x, y))),
        _ => false,
    }
}

/// Whether every packet value in `a` is in `b`.
pub(crate) fn value_within(a: &Value, b: &Value) -> bool {
    if a == b {
        return true;
    }
    match (items(a), items(b)) {
        (Some(xs), Some(ys)) => xs.iter().all(|x| ys.iter().any(|y| scalar_within(x, y))),
        _ => false,
    }
}

/// The protocol a match needs the packet to have, if it names one.
pub(crate) fn required_proto(m: &Match) -> Option<L4Proto> {
    match (m.field, m.op, &m.value) {
        (Field::Sport(p) | Field::Dport(p), _, _) => Some(p),
        (Field::L4Proto, CmpOp::Eq, Value::Proto(p)) => Some(*p),
        _ => None,
    }
}

/// Whether no packet satisfies both matches.
pub(crate) fn matches_disjoint(a: &Match, b: &Match) -> bool {
    if a.field == b.field {
        return match (a.op, b.op) {
            (CmpOp::Eq, CmpOp::Eq) => values_disjoint(&a.value, &b.value),
            (CmpOp::Eq, CmpOp::Ne) => value_within(&a.value, &b.value),
            (CmpOp::Ne, CmpOp::Eq) => value_within(&b.value, &a.value),
            (CmpOp::Ne, CmpOp::Ne) => false,
        };
    }
    if let (Some(x), Some(y)) = (a.field.ip_family(), b.field.ip_family()) {
        if x != y {
            return true;
        }
    }
    matches!((required_proto(a), required_proto(b)), (Some(p), Some(q)) if p != q)
}

/// Whether every packet that satisfies `b` satisfies `a`.
pub(crate) fn implies(b: &Match, a: &Match) -> bool {
    if a == b {
        return true;
    }
    if a.field == b.field {
        return match (b.op, a.op) {
            (CmpOp::Eq, CmpOp::Eq) => value_within(&b.value, &a.value),
            (CmpOp::Ne, CmpOp::Ne) => value_within(&a.value, &b.value),
            (CmpOp::Eq, CmpOp::Ne) => values_disjoint(&b.value, &a.value),
            (CmpOp::Ne, CmpOp::Eq) => false,
        };
    }
    // `tcp dport 22` (or `!= 22`) holds only for tcp packets.
    match (a.field, a.op, required_proto(b)) {
        (Field::L4Proto, CmpOp::Eq, Some(p)) => value_within(&Value::Proto(p), &a.value),
        _ => false,
    }
}

/// The IP family a rule's matches restrict it to, if any (`None` also when
/// they ask for both, which no packet satisfies).
pub(crate) fn family(r: &Rule) -> Option<IpFamily> {
    let mut found = None;
    for f in r.matches.iter().filter_map(|m| m.field.ip_family()) {
        match found {
            None => found = Some(f),
            Some(g) if g != f => return None,
            Some(_) => {}
        }
    }
    found
}

/// Whether a match of `a` and a match of `b` never hold together, so no
/// packet matches both rules. (Rules restricted to different IP families
/// are disjoint too; callers check [`family`] first, which they cache.)
pub(crate) fn matches_conflict(a: &Rule, b: &Rule) -> bool {
    a.matches
        .iter()
        .any(|m| b.matches.iter().any(|n| matches_disjoint(m, n)))
}

/// Whether no packet satisfies both the rule and the match.
pub(crate) fn rule_excludes(r: &Rule, m: &Match) -> bool {
    r.matches.iter().any(|n| matches_disjoint(n, m))
}

/// Whether every packet that matches rule `b` matches rule `a`.
pub(crate) fn rule_implies(b: &Rule, a: &Rule) -> bool {
    a.matches
        .iter()
        .all(|m| b.matches.iter().any(|n| implies(n, m)))
}

/// Whether a value is a single packet value (an interface, a MAC, a
/// protocol, one port, one address): two different such values never
/// overlap, so they can key a hash lookup.
pub(crate) fn is_point(v: &Value) -> bool {
    match v {
        Value::Ifname(_) | Value::Mac(_) | Value::Proto(_) => true,
        Value::Ports(p) => p.start == p.end,
        Value::Prefix(n) => n.prefix_len() == n.max_prefix_len(),
        _ => false,
    }
}

/// Whether a value needs an interval set or map (`flags interval`).
pub(crate) fn is_interval(v: &Value) -> bool {
    match v {
        Value::Ports(p) => p.start != p.end,
        Value::Prefix(n) => n.prefix_len() != n.max_prefix_len(),
        _ => false,
    }
}

/// Chains up to this many rules are compared rule by rule; longer ones
/// through the passes' hash indexes, whose set-up costs more than it saves
/// on a short chain (fwc's layouts have tens of thousands of short chains,
/// one per port or bridge).
pub(crate) const SMALL_CHAIN: usize = 16;

/// Whether any rule of the chain was inserted by sequence number (libvirt's
/// layout): such chains keep their order exactly, so passes that move rules
/// leave them alone.
pub(crate) fn has_seq(rules: &[Rule]) -> bool {
    rules.iter().any(|r| r.seq.is_some())
}

/// Builders shared by the passes' unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use ir::{
        ChainId, ChainKind, ChainType, Family, Hook, Ifname, Name, Ownership, Policy, Provenance,
        Rule, Ruleset, Table, Value,
    };

    pub(crate) fn ifname(n: &str) -> Value {
        Value::Ifname(Ifname::new(n).unwrap())
    }

    pub(crate) fn net(s: &str) -> Value {
        Value::Prefix(s.parse().unwrap())
    }

    /// Adds a base chain `name` on `hook` to `t`.
    pub(crate) fn add_base(
        t: &mut Table,
        name: &str,
        hook: Hook,
        ty: ChainType,
        priority: i32,
        policy: Policy,
    ) -> ChainId {
        t.add_chain(
            Name::new(name).unwrap(),
            ChainKind::Base {
                hook,
                ty,
                priority,
                policy,
            },
            Ownership::Owned,
        )
    }

    /// An inet table `table` with one accepting base chain `chain` holding
    /// `rules`, after `pass` has run and the result validated.
    pub(crate) fn after_pass(
        pass: fn(&mut Ruleset),
        table: &str,
        (chain, hook, ty, priority, policy): (&str, Hook, ChainType, i32, Policy),
        rules: Vec<Rule>,
    ) -> Ruleset {
        let mut rs = Ruleset::default();
        let t = rs.table_mut(Family::Inet, &Name::new(table).unwrap(), Ownership::Owned);
        let c = add_base(t, chain, hook, ty, priority, policy);
        t.chain_mut(c).rules = rules;
        pass(&mut rs);
        assert_eq!(ir::validate(&rs), Ok(()));
        rs
    }

    /// The layout names of `rules`, `"input"` for rules from an input.
    pub(crate) fn layout_names(rules: &[Rule]) -> Vec<&'static str> {
        rules
            .iter()
            .map(|r| match r.provenance {
                Provenance::Layout(w) => w,
                Provenance::Input(_) => "input",
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{ifname, net};
    use super::*;
    use ir::{CtStates, PortRange, Provenance};

    fn ports(a: u16, b: u16) -> Value {
        Value::Ports(PortRange::new(a, b).unwrap())
    }
    fn set(items: Vec<Value>) -> Value {
        Value::Set(SetRef::Anonymous(items))
    }
    const S4: Field = Field::Saddr(IpFamily::V4);

    #[test]
    fn disjointness_of_values() {
        assert!(values_disjoint(&ifname("a"), &ifname("b")));
        assert!(!values_disjoint(&ifname("a"), &ifname("a")));
        assert!(values_disjoint(&net("10.0.0.0/24"), &net("10.0.1.0/24")));
        assert!(!values_disjoint(&net("10.0.0.0/8"), &net("10.0.1.0/24")));
        assert!(!values_disjoint(&net("10.0.1.0/24"), &net("10.0.0.0/8")));
        assert!(values_disjoint(&ports(1, 10), &ports(11, 20)));
        assert!(!values_disjoint(&ports(1, 10), &ports(10, 20)));
        assert!(values_disjoint(
            &set(vec![ifname("a"), ifname("b")]),
            &ifname("c")
        ));
        assert!(!values_disjoint(
            &set(vec![ifname("a"), ifname("b")]),
            &ifname("b")
        ));
        let named = Value::Set(SetRef::Named(ir::SetId(0)));
        assert!(!values_disjoint(&named, &ifname("b")));
        assert!(values_disjoint(
            &Value::CtStates(CtStates::RELATED_ESTABLISHED),
            &Value::CtStates(CtStates {
                new: true,
                ..CtStates::default()
            })
        ));
    }

    #[test]
    fn containment_of_values() {
        assert!(value_within(&net("10.1.0.0/16"), &net("10.0.0.0/8")));
        assert!(!value_within(&net("10.0.0.0/8"), &net("10.1.0.0/16")));
        assert!(value_within(&ports(5, 6), &ports(1, 10)));
        assert!(value_within(
            &ifname("a"),
            &set(vec![ifname("b"), ifname("a")])
        ));
        assert!(!value_within(
            &set(vec![ifname("b"), ifname("a")]),
            &ifname("a")
        ));
    }

    #[test]
    fn match_relations() {
        let in10 = Match::eq(S4, net("10.0.0.0/8"));
        let in101 = Match::eq(S4, net("10.1.0.0/16"));
        let not10 = Match::ne(S4, net("10.0.0.0/8"));
        let v6 = Match::eq(Field::Daddr(IpFamily::V6), net("fd00::/8"));
        assert!(implies(&in101, &in10));
        assert!(!implies(&in10, &in101));
        assert!(matches_disjoint(&in101, &not10));
        assert!(matches_disjoint(&in10, &v6));
        assert!(!matches_disjoint(&in10, &in101));
        let tcp22 = Match::eq(Field::Dport(L4Proto::Tcp), ports(22, 22));
        let udp53 = Match::eq(Field::Dport(L4Proto::Udp), ports(53, 53));
        let tcp = Match::eq(Field::L4Proto, Value::Proto(L4Proto::Tcp));
        assert!(matches_disjoint(&tcp22, &udp53));
        assert!(implies(&tcp22, &tcp));
        assert!(!implies(&tcp, &tcp22));
        // A negated port match still needs its protocol.
        let not22 = Match::ne(Field::Dport(L4Proto::Tcp), ports(22, 22));
        assert!(implies(&not22, &tcp));
        assert!(matches_disjoint(&not22, &udp53));
    }

    #[test]
    fn rule_relations_and_kinds() {
        let p = Provenance::Layout("test");
        let a = Rule::new(
            p.clone(),
            vec![Match::eq(Field::IifName, ifname("a"))],
            Some(Verdict::Accept),
        );
        let b = Rule::new(
            p.clone(),
            vec![
                Match::eq(Field::IifName, ifname("a")),
                Match::eq(S4, net("10.0.0.0/8")),
            ],
            Some(Verdict::Drop),
        );
        let c = Rule::new(
            p,
            vec![Match::eq(Field::Saddr(IpFamily::V6), net("fd00::/8"))],
            None,
        );
        assert!(rule_implies(&b, &a));
        assert!(!rule_implies(&a, &b));
        assert!(family(&b) != family(&c) && family(&c).is_some());
        assert!(!matches_conflict(&a, &c));
        assert!(matches_conflict(
            &a,
            &Rule::new(
                Provenance::Layout("t"),
                vec![Match::eq(Field::IifName, ifname("z"))],
                None
            )
        ));
        assert_eq!(family(&b), Some(IpFamily::V4));
        assert!(ends_evaluation(&a));
        assert!(!ends_evaluation(&c));
        assert!(is_point(&net("10.0.0.1/32")) && !is_point(&net("10.0.0.0/24")));
        assert!(is_interval(&ports(1, 2)) && !is_interval(&ifname("a")));
    }
}
