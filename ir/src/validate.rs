//! Complete validation of a ruleset: emitters may assume what this checks.

use std::collections::HashSet;
use std::fmt;

use crate::rule::{CmpOp, Field, KeyType, MapRef, Match, Rule, SetRef, Statement, Value, Verdict};
use crate::rule::{IpFamily, Nat};
use crate::ruleset::{
    ChainId, ChainKind, ChainType, Commands, Family, Hook, Ownership, Ruleset, Step, Table,
};

/// Where in the ruleset a problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// `family name` of the table.
    pub table: String,
    /// The chain, if the problem is inside one.
    pub chain: Option<String>,
    /// Index of the rule in the chain, if the problem is in a rule.
    pub rule: Option<usize>,
    /// The rule's provenance, if any.
    pub provenance: Option<String>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "table {}", self.table)?;
        if let Some(c) = &self.chain {
            write!(f, ", chain {c}")?;
        }
        if let Some(r) = self.rule {
            write!(f, ", rule {}", r + 1)?;
        }
        if let Some(p) = &self.provenance {
            write!(f, " (from {p})")?;
        }
        Ok(())
    }
}

/// One validation failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct ValidationError {
    /// Where.
    pub location: Location,
    /// What is wrong.
    pub message: String,
}

/// Target-specific limits beyond the IR's own (see [`Limits::NFT`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest chain name the target accepts, in bytes.
    pub max_chain_name: usize,
    /// Longest table/set/map name, in bytes.
    pub max_object_name: usize,
}

impl Limits {
    /// nftables (`NFT_NAME_MAXLEN` and `NFT_CHAIN_MAXNAMELEN`, 256 with the NUL).
    pub const NFT: Limits = Limits {
        max_chain_name: 255,
        max_object_name: 255,
    };
    /// iptables/ip6tables (`XT_EXTENSION_MAXNAMELEN`, 29 with the NUL).
    pub const XTABLES: Limits = Limits {
        max_chain_name: 28,
        max_object_name: 28,
    };
    /// ebtables (`EBT_CHAIN_MAXNAMELEN`, 32 with the NUL).
    pub const EBTABLES: Limits = Limits {
        max_chain_name: 31,
        max_object_name: 31,
    };
}

/// Checks everything the IR promises emitters, with nftables' name limits.
/// Returns every problem found, not only the first.
pub fn validate(rs: &Ruleset) -> Result<(), Vec<ValidationError>> {
    validate_with(rs, Limits::NFT)
}

/// [`validate`] with a target's name limits.
pub fn validate_with(rs: &Ruleset, limits: Limits) -> Result<(), Vec<ValidationError>> {
    let mut errs = Vec::new();
    let mut tables = HashSet::new();
    for t in &rs.tables {
        if !tables.insert((t.family, t.name.as_str())) {
            errs.push(err(t, None, None, "the table is declared twice".into()));
        }
        check_table(t, limits, &mut errs);
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs)
    }
}

fn err(
    t: &Table,
    chain: Option<ChainId>,
    rule: Option<(usize, &Rule)>,
    message: String,
) -> ValidationError {
    ValidationError {
        location: Location {
            table: format!("{} {}", t.family, t.name),
            chain: chain.map(|c| t.chains[c.0].name.to_string()),
            rule: rule.map(|(i, _)| i),
            provenance: rule.map(|(_, r)| r.provenance.to_string()),
        },
        message,
    }
}

fn check_table(t: &Table, limits: Limits, errs: &mut Vec<ValidationError>) {
    if t.name.as_str().len() > limits.max_object_name {
        errs.push(err(
            t,
            None,
            None,
            format!("table name is longer than {} bytes", limits.max_object_name),
        ));
    }
    let mut names = HashSet::new();
    for (i, c) in t.chains.iter().enumerate() {
        if !names.insert(c.name.as_str()) {
            errs.push(err(
                t,
                Some(ChainId(i)),
                None,
                "the chain is declared twice".into(),
            ));
        }
        if c.name.as_str().len() > limits.max_chain_name {
            errs.push(err(
                t,
                Some(ChainId(i)),
                None,
                format!(
                    "chain name is longer than the kernel's limit of {} bytes",
                    limits.max_chain_name
                ),
            ));
        }
        let at = Some(ChainId(i));
        if let Some(staging) = &c.staging {
            if c.ownership != Ownership::Owned || c.kind != ChainKind::Regular {
                errs.push(err(
                    t,
                    at,
                    None,
                    "only a regular chain fwc owns can be built under a staging name".into(),
                ));
            }
            if staging.as_str().len() > limits.max_chain_name {
                errs.push(err(
                    t,
                    at,
                    None,
                    format!(
                        "staging name {staging} is longer than the kernel's limit of {} bytes",
                        limits.max_chain_name
                    ),
                ));
            }
            let clash = t.chains.iter().enumerate().any(|(j, other)| {
                other.name == *staging || (j != i && other.staging.as_ref() == Some(staging))
            });
            if clash {
                errs.push(err(
                    t,
                    at,
                    None,
                    format!("staging name {staging} is also another chain's name"),
                ));
            }
        }
        if c.end_policy.is_some() && c.kind != ChainKind::Regular {
            errs.push(err(
                t,
                at,
                None,
                "a base chain has a policy, not an end policy".into(),
            ));
        }
    }
    let mut objects = HashSet::new();
    for name in t
        .sets
        .iter()
        .map(|s| &s.name)
        .chain(t.maps.iter().map(|m| &m.name))
    {
        if !objects.insert(name.as_str()) {
            errs.push(err(
                t,
                None,
                None,
                format!("set or map '{name}' is declared twice"),
            ));
        }
        if name.as_str().len() > limits.max_object_name {
            errs.push(err(
                t,
                None,
                None,
                format!(
                    "set or map name '{name}' is longer than {} bytes",
                    limits.max_object_name
                ),
            ));
        }
    }
    let unkeyable = |key: &[KeyType]| {
        key.iter().any(|k| {
            matches!(
                k,
                KeyType::Integer | KeyType::Bool | KeyType::TcpFlags | KeyType::IpSetRef
            )
        })
    };
    for (name, key) in t
        .sets
        .iter()
        .map(|s| (&s.name, &s.key))
        .chain(t.maps.iter().map(|m| (&m.name, &m.key)))
    {
        if unkeyable(key) {
            errs.push(err(
                t,
                None,
                None,
                format!("set or map '{name}' has a key type no target can index ({key:?})"),
            ));
        }
    }
    for s in &t.sets {
        for e in &s.elements {
            if let Err(m) = check_key(&s.key, e, s.interval) {
                errs.push(err(t, None, None, format!("set '{}': {m}", s.name)));
            }
        }
    }
    for m in &t.maps {
        for (k, v) in &m.elements {
            if let Err(msg) = check_key(&m.key, k, m.interval) {
                errs.push(err(t, None, None, format!("map '{}': {msg}", m.name)));
            }
            if let Err(msg) = check_verdict(t, v) {
                errs.push(err(t, None, None, format!("map '{}': {msg}", m.name)));
            }
        }
    }
    for (ci, c) in t.chains.iter().enumerate() {
        let cid = Some(ChainId(ci));
        let mut last_seq = None;
        for (ri, r) in c.rules.iter().enumerate() {
            let at = Some((ri, r));
            for m in &r.matches {
                if let Err(msg) = check_match(t, m) {
                    errs.push(err(t, cid, at, msg));
                }
            }
            for s in &r.statements {
                if let Err(msg) = check_statement(&c.kind, s) {
                    errs.push(err(t, cid, at, msg));
                }
            }
            if let Some(v) = &r.verdict {
                if let Err(msg) = check_verdict(t, v) {
                    errs.push(err(t, cid, at, msg));
                }
            }
            if let Some(seq) = r.seq {
                if let Some(prev) = last_seq {
                    let appended = matches!(t.commands, Commands::Append { .. });
                    if appended && seq <= prev {
                        errs.push(err(t, cid, at, format!(
                            "appended rules must have increasing sequence numbers ({prev} then {seq})"
                        )));
                    } else if !appended && seq >= prev {
                        errs.push(err(t, cid, at, format!(
                            "inserted rules must have decreasing sequence numbers ({prev} then {seq})"
                        )));
                    }
                }
                last_seq = Some(seq);
            }
        }
    }
    if let Commands::Append { steps, .. } = &t.commands {
        for (seq, step) in steps {
            let ok = match step {
                Step::CreateChain(c) => c.0 < t.chains.len(),
                Step::ReplaceElement { map, index } => {
                    t.maps.get(map.0).is_some_and(|m| *index < m.elements.len())
                }
            };
            if !ok {
                errs.push(err(
                    t,
                    None,
                    None,
                    format!("step {seq} refers to a missing chain, map or element ({step:?})"),
                ));
            }
        }
    }
    if let Some(cycle) = find_jump_cycle(t) {
        let names: Vec<_> = cycle
            .iter()
            .map(|c| t.chains[c.0].name.to_string())
            .collect();
        errs.push(err(
            t,
            Some(cycle[0]),
            None,
            format!("jump cycle: {}", names.join(" -> ")),
        ));
    }
}

fn family_allows(table: Family, f: IpFamily) -> bool {
    !matches!(
        (table, f),
        (Family::Ip, IpFamily::V6) | (Family::Ip6, IpFamily::V4)
    )
}

fn value_fits(key: KeyType, v: &Value, interval: bool) -> Result<(), String> {
    let ok = match (key, v) {
        (KeyType::IfIndex | KeyType::Ifname, Value::Ifname(_)) => true,
        (KeyType::Ipv4Addr, Value::Prefix(n)) => {
            n.addr().is_ipv4() && (interval || n.prefix_len() == 32)
        }
        (KeyType::Ipv6Addr, Value::Prefix(n)) => {
            n.addr().is_ipv6() && (interval || n.prefix_len() == 128)
        }
        (KeyType::InetProto, Value::Proto(_)) => true,
        // A protocol without a name, by number.
        (KeyType::InetProto, Value::Int(r)) => r.end <= 255 && (interval || r.start == r.end),
        (KeyType::InetService, Value::Ports(p)) => interval || p.start == p.end,
        // Ports as numbers, for a notation `Value::Ports` has no room for.
        (KeyType::InetService, Value::Int(r)) => r.end <= 65535 && (interval || r.start == r.end),
        (KeyType::CtState, Value::CtStates(s)) => !s.is_empty(),
        (KeyType::EtherAddr, Value::Mac(_) | Value::MacMasked { .. }) => true,
        (KeyType::Ipv4Addr, Value::AddrRange(r)) => interval && r.is_ipv4(),
        (KeyType::Ipv6Addr, Value::AddrRange(r)) => interval && !r.is_ipv4(),
        (KeyType::Integer, Value::Int(_)) => true,
        (KeyType::Bool, Value::Bool(_)) => true,
        (KeyType::TcpFlags, Value::TcpFlags { .. }) => true,
        (KeyType::CtDirection, Value::CtDir(_)) => true,
        (KeyType::IpSetRef, Value::IpSet { dirs, .. }) => (1..=6).contains(&dirs.len()),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "value {v} does not fit a key of type {key:?}{}",
            if interval { "" } else { " (no intervals)" }
        ))
    }
}

fn check_key(key: &[KeyType], values: &[Value], interval: bool) -> Result<(), String> {
    if key.len() != values.len() {
        return Err(format!(
            "element has {} values for a key of {} fields",
            values.len(),
            key.len()
        ));
    }
    key.iter()
        .zip(values)
        .try_for_each(|(k, v)| value_fits(*k, v, interval))
}

fn check_match(t: &Table, m: &Match) -> Result<(), String> {
    if let Some(f) = m.field.ip_family() {
        if !family_allows(t.family, f) {
            return Err(format!(
                "{:?} cannot be matched in a table of family {}",
                m.field, t.family
            ));
        }
    }
    if let Field::Sport(p) | Field::Dport(p) = m.field {
        if !p.has_ports() {
            return Err(format!("protocol {p} has no ports"));
        }
    }
    if matches!(m.field, Field::EtherSaddr | Field::EtherDaddr)
        && !matches!(
            t.family,
            Family::Bridge | Family::Netdev | Family::Inet | Family::Ip | Family::Ip6
        )
    {
        return Err("ethernet addresses cannot be matched here".into());
    }
    let key = m.field.key_type();
    match &m.value {
        Value::Set(SetRef::Anonymous(items)) => {
            if items.is_empty() {
                return Err("an anonymous set must not be empty".into());
            }
            for v in items {
                if matches!(v, Value::Set(_)) {
                    return Err("a set cannot contain a set".into());
                }
                value_fits(key, v, true)?;
            }
            Ok(())
        }
        Value::Set(SetRef::Named(id)) => {
            let s = t
                .sets
                .get(id.0)
                .ok_or_else(|| format!("reference to missing set #{}", id.0))?;
            if s.key != [key] {
                return Err(format!("set '{}' holds {:?}, not {key:?}", s.name, s.key));
            }
            Ok(())
        }
        Value::CtStates(_) if m.op == CmpOp::Ne => Ok(()),
        v => value_fits(key, v, true),
    }
}

fn check_statement(kind: &ChainKind, s: &Statement) -> Result<(), String> {
    match (s, kind) {
        (Statement::Nat(_), ChainKind::Base { ty, .. }) if *ty != ChainType::Nat => {
            Err("NAT is only allowed in NAT chains".into())
        }
        (
            Statement::Nat(Nat::Masquerade { .. } | Nat::Snat { .. }),
            ChainKind::Base { hook, .. },
        ) if !matches!(hook, Hook::Postrouting | Hook::Input) => Err(format!(
            "source NAT is not allowed in hook {}",
            hook.keyword()
        )),
        (Statement::Nat(Nat::Dnat { .. }), ChainKind::Base { hook, .. })
            if !matches!(hook, Hook::Prerouting | Hook::Output) =>
        {
            Err(format!(
                "destination NAT is not allowed in hook {}",
                hook.keyword()
            ))
        }
        _ => Ok(()),
    }
}

fn check_verdict(t: &Table, v: &Verdict) -> Result<(), String> {
    match v {
        Verdict::Jump(c) | Verdict::Goto(c) => {
            let target = t
                .chains
                .get(c.0)
                .ok_or_else(|| format!("jump to missing chain #{}", c.0))?;
            if matches!(target.kind, ChainKind::Base { .. }) {
                return Err(format!("jump to base chain '{}'", target.name));
            }
            Ok(())
        }
        Verdict::Vmap { key, map } => match map {
            MapRef::Anonymous(elems) => {
                let types: Vec<_> = key.iter().map(|f| f.key_type()).collect();
                for (k, v) in elems {
                    check_key(&types, k, true)?;
                    check_verdict(t, v)?;
                }
                Ok(())
            }
            MapRef::Named(id) => {
                let m = t
                    .maps
                    .get(id.0)
                    .ok_or_else(|| format!("reference to missing map #{}", id.0))?;
                let types: Vec<_> = key.iter().map(|f| f.key_type()).collect();
                if m.key != types {
                    return Err(format!(
                        "map '{}' is keyed by {:?}, not {types:?}",
                        m.name, m.key
                    ));
                }
                Ok(())
            }
        },
        _ => Ok(()),
    }
}

/// Chains a rule or map element can pass control to.
fn successors(t: &Table, chain: &crate::ruleset::Chain) -> Vec<ChainId> {
    fn from_verdict(t: &Table, v: &Verdict, out: &mut Vec<ChainId>) {
        match v {
            Verdict::Jump(c) | Verdict::Goto(c) => out.push(*c),
            Verdict::Vmap {
                map: MapRef::Anonymous(e),
                ..
            } => e.iter().for_each(|(_, v)| from_verdict(t, v, out)),
            Verdict::Vmap {
                map: MapRef::Named(id),
                ..
            } => {
                if let Some(m) = t.maps.get(id.0) {
                    m.elements.iter().for_each(|(_, v)| from_verdict(t, v, out))
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for r in &chain.rules {
        if let Some(v) = &r.verdict {
            from_verdict(t, v, &mut out);
        }
    }
    out.retain(|c| c.0 < t.chains.len());
    out
}

/// A cycle in the jump graph, as the chains along it, if there is one.
pub fn find_jump_cycle(t: &Table) -> Option<Vec<ChainId>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    fn visit(
        t: &Table,
        c: ChainId,
        marks: &mut [Mark],
        path: &mut Vec<ChainId>,
    ) -> Option<Vec<ChainId>> {
        marks[c.0] = Mark::Active;
        path.push(c);
        for s in successors(t, &t.chains[c.0]) {
            match marks[s.0] {
                Mark::Active => {
                    let start = path.iter().position(|&p| p == s).unwrap_or(0);
                    let mut cycle = path[start..].to_vec();
                    cycle.push(s);
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(c) = visit(t, s, marks, path) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        path.pop();
        marks[c.0] = Mark::Done;
        None
    }
    let mut marks = vec![Mark::New; t.chains.len()];
    for i in 0..t.chains.len() {
        if marks[i] == Mark::New {
            if let Some(c) = visit(t, ChainId(i), &mut marks, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provenance::Provenance;
    use crate::rule::{Match, Rule, Statement, Value, Verdict};
    use crate::ruleset::{ChainKind, ChainType, Hook, Ownership, Policy, Ruleset};
    use crate::value::{Name, PortRange};
    use crate::{IpFamily, Nat};

    /// Any base chain will do for these tests; one literal keeps them short.
    const FORWARD_FILTER: ChainKind = ChainKind::Base {
        hook: Hook::Forward,
        ty: ChainType::Filter,
        priority: 0,
        policy: Policy::Accept,
    };

    fn name(s: &str) -> Name {
        Name::new(s).unwrap()
    }

    fn rule(matches: Vec<Match>, verdict: Option<Verdict>) -> Rule {
        Rule::new(Provenance::Layout("test"), matches, verdict)
    }

    fn messages(rs: &Ruleset, limits: Limits) -> Vec<String> {
        validate_with(rs, limits)
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn a_valid_ruleset_passes() {
        let mut rs = Ruleset::default();
        let t = rs.table_mut(Family::Ip, &name("t"), Ownership::Owned);
        let reg = t.add_chain(name("reg"), ChainKind::Regular, Ownership::Owned);
        let fwd = t.add_chain(name("fwd"), FORWARD_FILTER, Ownership::Owned);
        t.chain_mut(fwd)
            .rules
            .push(rule(vec![], Some(Verdict::Jump(reg))));
        assert_eq!(validate(&rs), Ok(()));
    }

    #[test]
    fn reports_every_problem_with_its_location() {
        let mut rs = Ruleset::default();
        let t = rs.table_mut(Family::Ip, &name("t"), Ownership::Owned);
        let long = t.add_chain(name(&"c".repeat(29)), ChainKind::Regular, Ownership::Owned);
        let fwd = t.add_chain(name("fwd"), FORWARD_FILTER, Ownership::Owned);
        t.add_chain(name("fwd"), ChainKind::Regular, Ownership::Owned);
        t.chain_mut(fwd).rules = vec![
            rule(vec![], Some(Verdict::Jump(ChainId(42)))),
            rule(
                vec![Match::eq(
                    Field::Saddr(IpFamily::V6),
                    Value::Prefix("fd00::/8".parse().unwrap()),
                )],
                None,
            ),
            rule(
                vec![Match::eq(
                    Field::Dport(crate::L4Proto::Icmp),
                    Value::Ports(PortRange::new(1, 1).unwrap()),
                )],
                None,
            ),
            rule(
                vec![Match::eq(
                    Field::IifName,
                    Value::Ports(PortRange::new(1, 1).unwrap()),
                )],
                None,
            ),
            rule(vec![], None).with(Statement::Nat(Nat::Masquerade { ports: None })),
            rule(vec![], Some(Verdict::Jump(fwd))),
        ];
        t.chain_mut(long)
            .rules
            .push(rule(vec![], Some(Verdict::Accept)));
        let m = messages(&rs, Limits::XTABLES);
        let expect = [
            "chain name is longer than the kernel's limit of 28 bytes",
            "the chain is declared twice",
            "jump to missing chain #42",
            "cannot be matched in a table of family ip",
            "protocol icmp has no ports",
            "does not fit a key of type Ifname",
            "NAT is only allowed in NAT chains",
            "jump to base chain 'fwd'",
        ];
        for e in expect {
            assert!(m.iter().any(|x| x.contains(e)), "missing {e:?} in {m:#?}");
        }
        assert!(
            m.iter()
                .any(|x| x.starts_with("table ip t, chain fwd, rule 1")),
            "{m:#?}"
        );
        assert!(messages(&rs, Limits::NFT)
            .iter()
            .all(|x| !x.contains("28 bytes")));
    }

    #[test]
    fn jump_cycles_are_found() {
        let mut rs = Ruleset::default();
        let t = rs.table_mut(Family::Inet, &name("t"), Ownership::Owned);
        let a = t.add_chain(name("a"), ChainKind::Regular, Ownership::Owned);
        let b = t.add_chain(name("b"), ChainKind::Regular, Ownership::Owned);
        t.chain_mut(a)
            .rules
            .push(rule(vec![], Some(Verdict::Jump(b))));
        t.chain_mut(b)
            .rules
            .push(rule(vec![], Some(Verdict::Goto(a))));
        let m = messages(&rs, Limits::NFT);
        assert!(
            m.iter().any(|x| x.contains("jump cycle: a -> b -> a")),
            "{m:#?}"
        );
    }

    #[test]
    fn inserted_rules_must_descend_in_seq() {
        let mut rs = Ruleset::default();
        let t = rs.table_mut(Family::Ip, &name("t"), Ownership::Owned);
        let c = t.add_chain(name("c"), ChainKind::Regular, Ownership::Owned);
        t.chain_mut(c).rules = vec![rule(vec![], None).at_seq(5), rule(vec![], None).at_seq(2)];
        assert_eq!(validate(&rs), Ok(()));
        rs.tables[0].chain_mut(c).rules.reverse();
        assert!(messages(&rs, Limits::NFT)[0].contains("decreasing sequence numbers (2 then 5)"));
    }

    #[test]
    fn appended_rules_ascend_in_seq_and_steps_must_resolve() {
        let mut rs = Ruleset::default();
        let t = rs.table_mut(Family::Bridge, &name("t"), Ownership::Owned);
        let c = t.add_chain(name("c"), ChainKind::Regular, Ownership::Owned);
        t.chain_mut(c).rules = vec![rule(vec![], None).at_seq(2), rule(vec![], None).at_seq(5)];
        t.commands = Commands::Append {
            steps: vec![(1, Step::CreateChain(c))],
            spelling: crate::Spelling::Inet,
        };
        assert_eq!(validate(&rs), Ok(()));
        rs.tables[0].chain_mut(c).rules.reverse();
        assert!(messages(&rs, Limits::NFT)[0].contains("increasing sequence numbers (5 then 2)"));
        rs.tables[0].chain_mut(c).rules.reverse();
        rs.tables[0].commands = Commands::Append {
            steps: vec![(
                1,
                Step::ReplaceElement {
                    map: crate::MapId(0),
                    index: 0,
                },
            )],
            spelling: crate::Spelling::Inet,
        };
        assert!(messages(&rs, Limits::NFT)[0].contains("step 1 refers to a missing"));
    }

    #[test]
    fn protocols_and_ports_may_be_numbers() {
        let mut rs = Ruleset::default();
        let t = rs.table_mut(Family::Bridge, &name("t"), Ownership::Owned);
        let c = t.add_chain(name("c"), ChainKind::Regular, Ownership::Owned);
        let int = |a, b| Value::Int(crate::IntRange::new(a, b).unwrap());
        t.chain_mut(c).rules = vec![rule(
            vec![
                Match::eq(Field::IpProto(IpFamily::V6), int(58, 58)),
                Match::eq(Field::Dport(crate::L4Proto::Tcp), int(65535, 65535)),
            ],
            None,
        )];
        assert_eq!(validate(&rs), Ok(()));
        t_mut(&mut rs).chain_mut(c).rules[0].matches[0].value = int(256, 256);
        assert!(messages(&rs, Limits::NFT)[0].contains("does not fit"));
    }

    fn t_mut(rs: &mut Ruleset) -> &mut Table {
        &mut rs.tables[0]
    }

    #[test]
    fn staging_names_and_end_policies_are_checked() {
        let mut rs = Ruleset::default();
        let t = rs.table_mut(Family::Ip, &name("filter"), Ownership::External);
        let fi = t.add_chain(name("FI-vnet0"), ChainKind::Regular, Ownership::Owned);
        let fo = t.add_chain(name("FO-vnet0"), ChainKind::Regular, Ownership::Owned);
        t.chain_mut(fi).staging = Some(name("FJ-vnet0"));
        t.chain_mut(fi).end_policy = Some(Policy::Accept);
        assert_eq!(validate_with(&rs, Limits::XTABLES), Ok(()));
        let t = &mut rs.tables[0];
        t.chain_mut(fo).staging = Some(name("FJ-vnet0"));
        let fwd = t.add_chain(name("FORWARD"), FORWARD_FILTER, Ownership::External);
        t.chain_mut(fwd).staging = Some(name(&"x".repeat(29)));
        t.chain_mut(fwd).end_policy = Some(Policy::Drop);
        let m = messages(&rs, Limits::XTABLES);
        for e in [
            "staging name FJ-vnet0 is also another chain's name",
            "only a regular chain fwc owns",
            "is longer than the kernel's limit of 28 bytes",
            "a base chain has a policy, not an end policy",
        ] {
            assert!(m.iter().any(|x| x.contains(e)), "missing {e:?} in {m:#?}");
        }
    }
}
