//! One IR rule as ebtables arguments, shared by the restore and command
//! forms so that a rule is rendered in one place.
//!
//! ebtables allows one target per rule, no sets, one `-p` (ethernet
//! protocol) and each option once, so one IR rule may become several
//! ebtables rules with the same effect:
//! * a match on a set gives one rule per element;
//! * a rule on layer-4 fields that names no IP family (`meta l4proto tcp`)
//!   gives one rule for `-p ipv4` and one for `-p ipv6`;
//! * a verdict map gives one rule per element (keys are exact, so a frame
//!   matches at most one), after one rule for the log if there is one;
//! * `goto C`, which ebtables lacks, is `-j C` followed by a rule with the
//!   same matches that ends the chain (`RETURN`, or `DROP` in a chain whose
//!   policy drops) — the matches are pure, so they hold again on return.
//!
//! Spellings are libvirt's (nwfilter's ebtables rules): `-p ipv4
//! --ip-source NET --ip-protocol 17 --ip-destination-port 67:68 -j ACCEPT`,
//! `!` before a negated option.
//!
//! What ebtables cannot say is returned as the message of a note, and the
//! rule is left out: conntrack state, address translation, checksum fill,
//! and reject. ebtables has no REJECT target; libvirt's nwfilter turns a
//! reject into DROP, but a rule that answered would then silently stop
//! answering, so fwc leaves it out and says so instead: the artifact stays
//! exactly right for the rules it contains.

use ir::{
    CmpOp, Field, IpFamily, L4Proto, MapRef, Match, Rule, SetRef, Statement, Table, Value, Verdict,
};

/// One argument of an ebtables rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Arg {
    /// An option or a value that never needs quoting in a restore file.
    Word(String),
    /// Free text (a log prefix, validated as [`ir::Comment`]): double-quoted
    /// in restore files, shell-quoted in command lines.
    Text(String),
}

impl Arg {
    fn word(s: impl Into<String>) -> Arg {
        Arg::Word(s.into())
    }

    /// The argument in an `ebtables-restore` file.
    pub(crate) fn restore(&self) -> String {
        match self {
            Arg::Word(w) => w.clone(),
            Arg::Text(t) => crate::quote::restore_string(t),
        }
    }

    /// The argument as one argv element.
    pub(crate) fn argv(&self) -> &str {
        match self {
            Arg::Word(w) | Arg::Text(w) => w,
        }
    }
}

/// The kernel's limit on a log prefix (`EBT_LOG_PREFIX_SIZE` less the NUL).
const LOG_PREFIX_MAX: usize = 29;

/// The ebtables rules for one IR rule of `table`, in evaluation order, as
/// the arguments after `-A CHAIN`; `end` is the target that ends the
/// rule's chain (`RETURN`, or `DROP` for a chain whose policy drops).
/// `Err` is the note for a rule left out.
pub(crate) fn render_rule(table: &Table, r: &Rule, end: &str) -> Result<Vec<Vec<Arg>>, String> {
    let watchers = watchers(r)?;
    let actions = actions(table, r, end)?;
    // A log must run once, whichever of several rules (or none, for an
    // empty map) decides: then it gets a rule of its own.
    let split = !watchers.is_empty() && actions.len() != 1;
    let mut out = Vec::new();
    for alternative in expand_sets(table, &r.matches)? {
        if split {
            for family in families(&alternative)? {
                let head = match_args(&alternative, family)?;
                out.push([head, watchers.clone(), target("CONTINUE")].concat());
            }
        }
        for (keyed, tgt) in &actions {
            let all = [alternative.clone(), keyed.clone()].concat();
            for family in families(&all)? {
                let w = if split { &[][..] } else { &watchers[..] };
                let args = [match_args(&all, family)?, w.to_vec(), tgt.clone()].concat();
                check_once(&args)?;
                out.push(args);
            }
        }
    }
    Ok(out)
}

fn target(name: &str) -> Vec<Arg> {
    vec![Arg::word("-j"), Arg::word(name)]
}

/// The log watcher, the only statement ebtables has; the rest are notes.
fn watchers(r: &Rule) -> Result<Vec<Arg>, String> {
    let mut out = Vec::new();
    for s in &r.statements {
        match s {
            // ebtables counts every rule.
            Statement::Counter => {}
            Statement::Log { prefix } => {
                if !out.is_empty() {
                    return Err("ebtables logs at most once per rule; the rule is left out".into());
                }
                if prefix.as_str().len() > LOG_PREFIX_MAX {
                    return Err(format!(
                        "ebtables' log takes a prefix of at most {LOG_PREFIX_MAX} characters, \
                         not {}; the rule is left out",
                        prefix.as_str().len()
                    ));
                }
                // nft's and iptables' default level, which ebtables' is not.
                out.extend([
                    Arg::word("--log-level"),
                    Arg::word("warning"),
                    Arg::word("--log-prefix"),
                    Arg::Text(prefix.to_string()),
                ]);
            }
            Statement::Nat(_) => {
                return Err(
                    "ebtables cannot translate IP addresses (its snat and dnat rewrite \
                     MAC addresses); the rule is left out"
                        .into(),
                )
            }
            Statement::ChecksumFill => {
                return Err("ebtables has no checksum-fill target; the rule is left out".into())
            }
        }
    }
    Ok(out)
}

/// The matches a verdict map's element adds, and the target it leads to.
type Action = (Vec<Match>, Vec<Arg>);

/// What the rule does once it matched: one target, or for a verdict map one
/// (key matches, target) per element.
fn actions(table: &Table, r: &Rule, end: &str) -> Result<Vec<Action>, String> {
    let Some(Verdict::Vmap { key, map }) = &r.verdict else {
        return Ok(verdict_targets(table, r.verdict.as_ref(), end)?
            .into_iter()
            .map(|t| (Vec::new(), t))
            .collect());
    };
    let elems: &[(Vec<Value>, Verdict)] = match map {
        MapRef::Anonymous(e) => e,
        MapRef::Named(id) => &table.maps[id.0].elements,
    };
    let mut out = Vec::new();
    for (k, v) in elems {
        if matches!(v, Verdict::Vmap { .. }) {
            return Err(
                "a verdict map cannot hold another verdict map; the rule is left out".into(),
            );
        }
        let keyed: Vec<Match> = key
            .iter()
            .zip(k)
            .map(|(f, v)| Match::eq(*f, v.clone()))
            .collect();
        for t in verdict_targets(table, Some(v), end)? {
            out.push((keyed.clone(), t));
        }
    }
    Ok(out)
}

/// The targets of a (non-map) verdict; `goto` takes two rules.
fn verdict_targets(table: &Table, v: Option<&Verdict>, end: &str) -> Result<Vec<Vec<Arg>>, String> {
    let chain = |id: &ir::ChainId| table.chain(*id).name.to_string();
    Ok(match v {
        None => vec![target("CONTINUE")],
        Some(Verdict::Accept) => vec![target("ACCEPT")],
        Some(Verdict::Drop) => vec![target("DROP")],
        Some(Verdict::Return) => vec![target("RETURN")],
        Some(Verdict::Jump(c)) => vec![target(&chain(c))],
        Some(Verdict::Goto(c)) => vec![target(&chain(c)), target(end)],
        Some(Verdict::Reject(_)) => {
            return Err(
                "ebtables cannot reject (it has no REJECT target); the rule is left \
                 out rather than turned into a silent drop"
                    .into(),
            )
        }
        Some(Verdict::Vmap { .. }) => unreachable!("verdict maps are expanded by actions()"),
    })
}

/// Replaces each match on a set by one match per element: the rules that
/// result, one per combination, together match what the original did.
fn expand_sets(table: &Table, matches: &[Match]) -> Result<Vec<Vec<Match>>, String> {
    let mut out: Vec<Vec<Match>> = vec![Vec::new()];
    for m in matches {
        let items: Vec<Value> = match (&m.value, m.op) {
            (Value::Set(_), CmpOp::Ne) => {
                return Err(format!(
                    "ebtables cannot match {:?} against a negated set; the rule is left out",
                    m.field
                ))
            }
            (Value::Set(SetRef::Anonymous(items)), _) => items.clone(),
            (Value::Set(SetRef::Named(id)), _) => table.sets[id.0]
                .elements
                .iter()
                .filter_map(|e| e.first().cloned())
                .collect(),
            (v, _) => vec![v.clone()],
        };
        out = out
            .iter()
            .flat_map(|ms| {
                items.iter().map(move |v| {
                    let mut ms = ms.clone();
                    ms.push(Match {
                        value: v.clone(),
                        ..m.clone()
                    });
                    ms
                })
            })
            .collect();
    }
    Ok(out)
}

/// The IP families the scalar matches need one rule each for: none for a
/// rule on layer-2 fields only, the one its addresses (or ICMP) imply, or
/// both for layer-4 fields alone.
fn families(matches: &[Match]) -> Result<Vec<Option<IpFamily>>, String> {
    let mut implied = Vec::new();
    let mut layer4 = false;
    for m in matches {
        let f = match (m.field, &m.value, m.op) {
            (Field::Saddr(f) | Field::Daddr(f), _, _) => Some(f),
            (Field::L4Proto, Value::Proto(L4Proto::Icmp), CmpOp::Eq) => Some(IpFamily::V4),
            (Field::L4Proto, Value::Proto(L4Proto::Icmpv6), CmpOp::Eq) => Some(IpFamily::V6),
            _ => None,
        };
        layer4 |= matches!(m.field, Field::L4Proto | Field::Sport(_) | Field::Dport(_));
        if let Some(f) = f {
            if !implied.contains(&f) {
                implied.push(f);
            }
        }
    }
    match (implied.as_slice(), layer4) {
        ([], false) => Ok(vec![None]),
        ([], true) => Ok(vec![Some(IpFamily::V4), Some(IpFamily::V6)]),
        ([f], _) => Ok(vec![Some(*f)]),
        _ => Err(
            "the rule matches both IPv4 and IPv6 fields, so it can never match; the \
                  rule is left out"
                .into(),
        ),
    }
}

/// The spellings of one IP family's options.
struct IpOpts {
    proto: &'static str,
    src: &'static str,
    dst: &'static str,
    l4: &'static str,
    sport: &'static str,
    dport: &'static str,
}

const IPV4: IpOpts = IpOpts {
    proto: "ipv4",
    src: "--ip-source",
    dst: "--ip-destination",
    l4: "--ip-protocol",
    sport: "--ip-source-port",
    dport: "--ip-destination-port",
};

const IPV6: IpOpts = IpOpts {
    proto: "ipv6",
    src: "--ip6-source",
    dst: "--ip6-destination",
    l4: "--ip6-protocol",
    sport: "--ip6-source-port",
    dport: "--ip6-destination-port",
};

/// Scalar matches (sets already expanded) as ebtables options, for the
/// given IP family. `-p ipv4` goes right before the first option that needs
/// it, and `--ip-protocol` before a port that needs it.
fn match_args(matches: &[Match], family: Option<IpFamily>) -> Result<Vec<Arg>, String> {
    let ip = match family {
        Some(IpFamily::V6) => &IPV6,
        _ => &IPV4,
    };
    let mut out = Vec::new();
    let mut ether_proto = false;
    let mut proto: Option<(CmpOp, L4Proto)> = None;
    for m in matches {
        let opt = |opt: &str, value: String, out: &mut Vec<Arg>| {
            if m.op == CmpOp::Ne {
                out.push(Arg::word("!"));
            }
            out.extend([Arg::word(opt), Arg::Word(value)]);
        };
        let mut need_ip = |out: &mut Vec<Arg>| {
            if !ether_proto {
                ether_proto = true;
                out.extend([Arg::word("-p"), Arg::word(ip.proto)]);
            }
        };
        match (m.field, &m.value) {
            (Field::Iif | Field::IifName, Value::Ifname(n)) => opt("-i", n.to_string(), &mut out),
            (Field::Oif | Field::OifName, Value::Ifname(n)) => opt("-o", n.to_string(), &mut out),
            (Field::EtherSaddr, Value::Mac(a)) => opt("-s", a.to_string(), &mut out),
            (Field::EtherDaddr, Value::Mac(a)) => opt("-d", a.to_string(), &mut out),
            (Field::Saddr(_), Value::Prefix(n)) => {
                need_ip(&mut out);
                opt(ip.src, n.to_string(), &mut out);
            }
            (Field::Daddr(_), Value::Prefix(n)) => {
                need_ip(&mut out);
                opt(ip.dst, n.to_string(), &mut out);
            }
            (Field::L4Proto, Value::Proto(p)) => {
                need_ip(&mut out);
                proto = Some((m.op, *p));
                opt(ip.l4, p.number().to_string(), &mut out);
            }
            (Field::Sport(p) | Field::Dport(p), Value::Ports(range)) => {
                need_ip(&mut out);
                match proto {
                    Some((CmpOp::Eq, q)) if q == p => {}
                    None => {
                        proto = Some((CmpOp::Eq, p));
                        out.extend([Arg::word(ip.l4), Arg::Word(p.number().to_string())]);
                    }
                    Some(_) => {
                        return Err(format!(
                            "ebtables takes one protocol match per rule, and this rule's {} \
                             port needs its own; the rule is left out",
                            p.name()
                        ))
                    }
                }
                let ports = if range.start == range.end {
                    range.start.to_string()
                } else {
                    format!("{}:{}", range.start, range.end)
                };
                let name = if matches!(m.field, Field::Sport(_)) {
                    ip.sport
                } else {
                    ip.dport
                };
                opt(name, ports, &mut out);
            }
            (Field::CtState, _) => {
                return Err(
                    "ebtables has no conntrack match (ct state); the rule is left out".into(),
                )
            }
            (f, v) => {
                return Err(format!(
                    "ebtables cannot compare {f:?} with {v}; the rule is left out"
                ))
            }
        }
    }
    Ok(out)
}

/// ebtables refuses an option given twice in one rule.
fn check_once(args: &[Arg]) -> Result<(), String> {
    let mut seen = Vec::new();
    for a in args {
        if let Arg::Word(w) = a {
            if w.starts_with('-') && w != "-j" {
                if seen.contains(&w) {
                    return Err(format!(
                        "ebtables takes {w} once per rule; the rule is left out"
                    ));
                }
                seen.push(w);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use ir::*;

    use super::*;
    use crate::testutil::*;

    fn table() -> Table {
        let mut t = Table::new(Family::Bridge, name("filter"), Ownership::External);
        regular(&mut t, "other");
        t
    }

    fn p() -> Provenance {
        from("f.xml", 1, "rule")
    }

    /// The rules as restore-file text.
    fn text(t: &Table, r: &Rule) -> Result<Vec<String>, String> {
        Ok(render_rule(t, r, "RETURN")?
            .iter()
            .map(|a| a.iter().map(Arg::restore).collect::<Vec<_>>().join(" "))
            .collect())
    }

    #[test]
    fn layer2_and_ip_matches_in_libvirts_spelling() {
        let t = table();
        let r = Rule::new(
            p(),
            vec![
                Match::eq(Field::IifName, ifname("vnet0")),
                Match::ne(
                    Field::EtherSaddr,
                    Value::Mac("52:54:00:00:00:01".parse().unwrap()),
                ),
                Match::eq(Field::Saddr(IpFamily::V4), net("10.1.2.3/32")),
                Match::ne(Field::Daddr(IpFamily::V4), net("10.0.0.0/8")),
                Match::eq(Field::Sport(L4Proto::Udp), ports(20, 22)),
                Match::eq(Field::Dport(L4Proto::Udp), ports(67, 67)),
            ],
            Some(Verdict::Accept),
        );
        assert_eq!(
            text(&t, &r).unwrap(),
            ["-i vnet0 ! -s 52:54:00:00:00:01 -p ipv4 --ip-source 10.1.2.3/32 ! --ip-destination 10.0.0.0/8 \
              --ip-protocol 17 --ip-source-port 20:22 --ip-destination-port 67 -j ACCEPT"]
        );
        let v6 = Rule::new(
            p(),
            vec![
                Match::eq(Field::L4Proto, Value::Proto(L4Proto::Icmpv6)),
                Match::eq(Field::Daddr(IpFamily::V6), net("ff02::/16")),
                Match::eq(Field::OifName, ifname("vnet0")),
            ],
            Some(Verdict::Drop),
        );
        assert_eq!(
            text(&t, &v6).unwrap(),
            ["-p ipv6 --ip6-protocol 58 --ip6-destination ff02::/16 -o vnet0 -j DROP"]
        );
    }

    #[test]
    fn layer4_without_a_family_gives_one_rule_per_family() {
        let t = table();
        let r = Rule::new(
            p(),
            vec![Match::eq(Field::Dport(L4Proto::Tcp), ports(22, 22))],
            None,
        );
        assert_eq!(
            text(&t, &r).unwrap(),
            [
                "-p ipv4 --ip-protocol 6 --ip-destination-port 22 -j CONTINUE",
                "-p ipv6 --ip6-protocol 6 --ip6-destination-port 22 -j CONTINUE",
            ]
        );
    }

    #[test]
    fn sets_maps_goto_and_log_expand() {
        let t = table();
        let other = t.chain_id("other").unwrap();
        let macs = Value::Set(SetRef::Anonymous(vec![
            Value::Mac("52:54:00:00:00:01".parse().unwrap()),
            Value::Mac("52:54:00:00:00:02".parse().unwrap()),
        ]));
        let r = Rule::new(
            p(),
            vec![Match::eq(Field::EtherSaddr, macs)],
            Some(Verdict::Goto(other)),
        )
        .with(Statement::Counter)
        .with(Statement::Log {
            prefix: Comment::new("fwc: ").unwrap(),
        });
        assert_eq!(
            render_rule(&t, &r, "DROP")
                .unwrap()
                .iter()
                .map(|a| a.iter().map(Arg::restore).collect::<Vec<_>>().join(" "))
                .collect::<Vec<_>>(),
            [
                "-s 52:54:00:00:00:01 --log-level warning --log-prefix \"fwc: \" -j CONTINUE",
                "-s 52:54:00:00:00:01 -j other",
                "-s 52:54:00:00:00:01 -j DROP",
                "-s 52:54:00:00:00:02 --log-level warning --log-prefix \"fwc: \" -j CONTINUE",
                "-s 52:54:00:00:00:02 -j other",
                "-s 52:54:00:00:00:02 -j DROP",
            ]
        );
        let vmap = Rule::new(
            p(),
            vec![Match::eq(Field::OifName, ifname("virbr0"))],
            Some(Verdict::Vmap {
                key: vec![Field::IifName],
                map: MapRef::Anonymous(vec![
                    (vec![ifname("vnet0")], Verdict::Jump(other)),
                    (vec![ifname("vnet1")], Verdict::Accept),
                ]),
            }),
        );
        assert_eq!(
            text(&t, &vmap).unwrap(),
            [
                "-o virbr0 -i vnet0 -j other",
                "-o virbr0 -i vnet1 -j ACCEPT"
            ]
        );
        // A key with an address field puts the rule in that family.
        let by_addr = Rule::new(
            p(),
            vec![Match::eq(Field::Dport(L4Proto::Udp), ports(53, 53))],
            Some(Verdict::Vmap {
                key: vec![Field::Saddr(IpFamily::V4)],
                map: MapRef::Anonymous(vec![(vec![net("10.0.0.0/8")], Verdict::Drop)]),
            }),
        );
        assert_eq!(
            text(&t, &by_addr).unwrap(),
            ["-p ipv4 --ip-protocol 17 --ip-destination-port 53 --ip-source 10.0.0.0/8 -j DROP"]
        );
    }

    #[test]
    fn what_ebtables_cannot_say_is_a_note() {
        let t = table();
        let left_out = |r: Rule| text(&t, &r).unwrap_err();
        let reject = Rule::new(p(), vec![], Some(Verdict::Reject(RejectKind::Default)));
        assert!(left_out(reject).contains("no REJECT"));
        let ct = Rule::new(
            p(),
            vec![Match::eq(
                Field::CtState,
                Value::CtStates(CtStates::RELATED_ESTABLISHED),
            )],
            Some(Verdict::Accept),
        );
        assert!(left_out(ct).contains("conntrack"));
        let masq =
            Rule::new(p(), vec![], None).with(Statement::Nat(Nat::Masquerade { ports: None }));
        assert!(left_out(masq).contains("translate"));
        let both = Rule::new(
            p(),
            vec![
                Match::eq(Field::Saddr(IpFamily::V4), net("10.0.0.0/8")),
                Match::eq(Field::Daddr(IpFamily::V6), net("fd00::/8")),
            ],
            Some(Verdict::Drop),
        );
        assert!(left_out(both).contains("never match"));
        let twice = Rule::new(
            p(),
            vec![
                Match::eq(Field::Saddr(IpFamily::V4), net("10.0.0.0/8")),
                Match::ne(Field::Saddr(IpFamily::V4), net("10.1.0.0/16")),
            ],
            Some(Verdict::Drop),
        );
        assert!(left_out(twice).contains("--ip-source once"));
        let long = Rule::new(p(), vec![], None).with(Statement::Log {
            prefix: Comment::new(&"x".repeat(30)).unwrap(),
        });
        assert!(left_out(long).contains("at most 29"));
    }
}
