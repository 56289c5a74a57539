//! One IR rule as iptables arguments, shared by the restore and command
//! forms so that a rule is rendered in one place.
//!
//! iptables allows one target per rule and no sets, so one IR rule may
//! become several iptables rules with the same matches:
//! * a rule with several actions (a log, a checksum fill, then a verdict)
//!   gives one rule per action;
//! * a match on a set, and a verdict map, give one rule per element.
//!
//! What iptables cannot say is returned as the message of a note, and the
//! rule is left out.

pub(crate) use crate::appended::Names;
pub(crate) use crate::xtables::Arg;
use ir::{
    CmpOp, Commands, Family, Field, IpFamily, L4Proto, MapRef, Match, Nat, RejectKind, Rule,
    SetRef, Statement, Table, Value, Verdict,
};

/// The IP family a target emits, and the spellings that depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Flavor {
    /// The IR table family emitted as is (`ip` or `ip6`).
    pub family: Family,
    /// The address family of its packets.
    pub ip: IpFamily,
}

impl Flavor {
    /// iptables (`Family::Ip`) or ip6tables (`Family::Ip6`).
    pub(crate) fn of(family: Family) -> Flavor {
        let ip = if family == Family::Ip6 {
            IpFamily::V6
        } else {
            IpFamily::V4
        };
        Flavor { family, ip }
    }
}

/// How a table's rules are written: libvirt's network driver spells its
/// (inserted) rules with long options, its nwfilter driver its (appended)
/// rules with short ones; fwc writes each table as the driver that builds
/// it that way ([`ir::Commands`]) does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Spelling {
    /// `--match conntrack`, `--jump ACCEPT`, `--destination-port 67`.
    Long,
    /// `-m conntrack`, `-j ACCEPT`, `--dport 67`.
    Short,
}

impl Spelling {
    /// The spelling of a table's rules.
    pub(crate) fn of(t: &Table) -> Spelling {
        match t.commands {
            Commands::Insert => Spelling::Long,
            Commands::Append { .. } => Spelling::Short,
        }
    }

    fn opt(self, long: &'static str, short: &'static str) -> Arg {
        Arg::word(match self {
            Spelling::Long => long,
            Spelling::Short => short,
        })
    }

    fn module(self, name: &'static str) -> [Arg; 2] {
        [self.opt("--match", "-m"), Arg::word(name)]
    }
}

/// How to render: family, spelling and chain names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Style {
    /// The family emitted.
    pub flavor: Flavor,
    /// Long or short options.
    pub spelling: Spelling,
    /// Final or staging names of jump targets.
    pub names: Names,
}

/// The iptables rules for one IR rule, in evaluation order, as the
/// arguments after `-A CHAIN`; `Err` is the note for a rule left out.
pub(crate) fn render_rule(t: &Table, r: &Rule, style: Style) -> Result<Vec<Vec<Arg>>, String> {
    let sp = style.spelling;
    let mut comment = Vec::new();
    if let Some(c) = &r.comment {
        comment.extend(sp.module("comment"));
        comment.extend([Arg::word("--comment"), Arg::Text(c.to_string())]);
    }
    let targets = statement_targets(r, sp)?;
    let mut out = Vec::new();
    for matches in expand_sets(t, &r.matches)? {
        let head = [match_args(&matches, style)?, comment.clone()].concat();
        for target in &targets {
            out.push([head.clone(), target.clone()].concat());
        }
        match &r.verdict {
            Some(Verdict::Vmap { key, map }) => {
                let elems: &[(Vec<Value>, Verdict)] = match map {
                    MapRef::Anonymous(e) => e,
                    MapRef::Named(id) => &t.maps[id.0].elements,
                };
                for (k, v) in elems {
                    let keyed: Vec<Match> = matches
                        .iter()
                        .cloned()
                        .chain(key.iter().zip(k).map(|(f, v)| Match::eq(*f, v.clone())))
                        .collect();
                    out.push(
                        [
                            match_args(&keyed, style)?,
                            comment.clone(),
                            verdict_args(t, v, style)?,
                        ]
                        .concat(),
                    );
                }
            }
            Some(v) => out.push([head, verdict_args(t, v, style)?].concat()),
            // Nothing but counting: the rule's own counters do that.
            None if targets.is_empty() => out.push(head),
            None => {}
        }
    }
    Ok(out)
}

/// The targets of a rule's statements, one iptables rule each, in order.
fn statement_targets(r: &Rule, sp: Spelling) -> Result<Vec<Vec<Arg>>, String> {
    let jump = sp.opt("--jump", "-j");
    let mut out = Vec::new();
    for s in &r.statements {
        out.push(match s {
            Statement::Counter => continue,
            Statement::Log { prefix } => {
                // The kernel's xt_LOG limit (29 bytes plus the NUL).
                if prefix.as_str().len() > 29 {
                    return Err(format!(
                        "iptables' LOG takes a prefix of at most 29 characters, not {}; the \
                         rule is left out",
                        prefix.as_str().len()
                    ));
                }
                vec![
                    jump.clone(),
                    Arg::word("LOG"),
                    Arg::word("--log-prefix"),
                    Arg::Text(prefix.to_string()),
                ]
            }
            Statement::ChecksumFill => vec![
                jump.clone(),
                Arg::word("CHECKSUM"),
                Arg::word("--checksum-fill"),
            ],
            Statement::Nat(n) => {
                if r.verdict.is_some() {
                    return Err("iptables ends evaluation at a NAT target, so the rule's \
                                verdict cannot follow it; the rule is left out"
                        .into());
                }
                nat_args(n, jump.clone())
            }
        });
    }
    Ok(out)
}

/// Replaces each match on a set by one match per element: the rules that
/// result, one per combination, together match what the original did.
fn expand_sets(t: &Table, matches: &[Match]) -> Result<Vec<Vec<Match>>, String> {
    let mut out: Vec<Vec<Match>> = vec![Vec::new()];
    for m in matches {
        let Value::Set(set) = &m.value else {
            out.iter_mut().for_each(|ms| ms.push(m.clone()));
            continue;
        };
        if m.op == CmpOp::Ne {
            return Err(format!(
                "iptables cannot match {} against a set negated; the rule is left out",
                m.field
            ));
        }
        let values: Vec<Value> = match set {
            SetRef::Anonymous(items) => items.clone(),
            SetRef::Named(id) => t.sets[id.0]
                .elements
                .iter()
                .filter_map(|e| e.first().cloned())
                .collect(),
        };
        out = out
            .into_iter()
            .flat_map(|ms| {
                values.iter().map(move |v| {
                    let mut ms = ms.clone();
                    ms.push(Match::eq(m.field, v.clone()));
                    ms
                })
            })
            .collect();
    }
    Ok(out)
}

fn bang(op: CmpOp, out: &mut Vec<Arg>) {
    if op == CmpOp::Ne {
        out.push(Arg::word("!"));
    }
}

/// A scalar value's iptables spelling (ports and states have their own).
fn scalar(v: &Value) -> Result<String, String> {
    match v {
        Value::Ifname(n) => Ok(n.to_string()),
        Value::Prefix(n) => Ok(n.to_string()),
        Value::Mac(m) => Ok(m.to_string()),
        Value::MacMasked { addr, mask } if mask.0 == [0xff; 6] => Ok(addr.to_string()),
        Value::AddrRange(r) if r.start == r.end => Ok(r.start.to_string()),
        other => Err(format!(
            "iptables cannot compare with {other} here; the rule is left out"
        )),
    }
}

/// A number of a single-number match.
fn single(v: &Value, what: &str) -> Result<u64, String> {
    match v {
        Value::Int(r) if r.start == r.end => Ok(r.start),
        other => Err(format!(
            "iptables matches one {what}, not {other}; the rule is left out"
        )),
    }
}

/// A port range as iptables writes it (`80`, `1024:65535`), a range also
/// when its ends are equal but it was written as one.
fn port_text(v: &Value) -> Result<String, String> {
    crate::xtables::colon_range(v)
        .ok_or_else(|| format!("iptables cannot match the port {v}; the rule is left out"))
}

/// libvirt's names of TCP flags: `NONE`, `ALL` or a comma list.
fn tcp_flags(set: ir::TcpFlagSet) -> Result<String, String> {
    const ALL: u8 = 0x3f;
    match set.0 {
        0 => Ok("NONE".into()),
        ALL => Ok("ALL".into()),
        b if b & !ALL != 0 => Err(
            "iptables names only the flags FIN, SYN, RST, PSH, ACK and URG; the rule is left out"
                .into(),
        ),
        _ => Ok(set.names().join(",")),
    }
}

/// Scalar matches (sets already expanded) as iptables options.
fn match_args(matches: &[Match], style: Style) -> Result<Vec<Arg>, String> {
    let sp = style.spelling;
    let mut out = Vec::new();
    // iptables takes one -p per rule; port matches need it to be theirs.
    let mut proto: Option<(CmpOp, Option<L4Proto>)> = None;
    let mut physdev = false;
    let mut i = 0;
    while i < matches.len() {
        let m = &matches[i];
        i += 1;
        let simple = |opt: &str, out: &mut Vec<Arg>| -> Result<(), String> {
            bang(m.op, out);
            out.extend([Arg::word(opt), Arg::Word(scalar(&m.value)?)]);
            Ok(())
        };
        let is_physdev = matches!(
            m.field,
            Field::PhysIn | Field::PhysOut | Field::PhysIsBridged
        );
        if is_physdev && !physdev {
            out.extend(sp.module("physdev"));
        }
        physdev = is_physdev;
        match (m.field, &m.value) {
            (Field::Iif | Field::IifName, _) => simple("--in-interface", &mut out)?,
            (Field::Oif | Field::OifName, _) => simple("--out-interface", &mut out)?,
            (Field::Saddr(_) | Field::Daddr(_), Value::AddrRange(r)) if r.start != r.end => {
                out.extend(sp.module("iprange"));
                bang(m.op, &mut out);
                let opt = if matches!(m.field, Field::Saddr(_)) {
                    "--src-range"
                } else {
                    "--dst-range"
                };
                out.extend([Arg::word(opt), Arg::Word(format!("{}-{}", r.start, r.end))]);
            }
            (Field::Saddr(_), _) => simple("--source", &mut out)?,
            (Field::Daddr(_), _) => simple("--destination", &mut out)?,
            (Field::L4Proto | Field::IpProto(_), v) => {
                if proto.is_some() {
                    return Err(
                        "iptables takes one protocol match per rule; the rule is left out".into(),
                    );
                }
                let (name, known) = match v {
                    Value::Proto(p) => (p.name().to_owned(), Some(*p)),
                    Value::Int(r) if r.start == 0 && r.end == 255 => ("all".to_owned(), None),
                    Value::Int(r) if r.start == r.end => (r.start.to_string(), None),
                    other => {
                        return Err(format!(
                            "iptables cannot match the protocol {other}; the rule is left out"
                        ))
                    }
                };
                proto = Some((m.op, known));
                bang(m.op, &mut out);
                out.extend([Arg::word("-p"), Arg::Word(name)]);
            }
            (Field::Sport(p) | Field::Dport(p), v) => {
                match proto {
                    Some((CmpOp::Eq, Some(q))) if q == p => {}
                    Some(_) => {
                        return Err(format!(
                            "iptables takes one protocol match per rule, and this rule's {} \
                             port needs its own; the rule is left out",
                            p.name()
                        ))
                    }
                    None => {
                        proto = Some((CmpOp::Eq, Some(p)));
                        out.extend([sp.opt("--protocol", "-p"), Arg::word(p.name())]);
                    }
                }
                let ports = port_text(v)?;
                bang(m.op, &mut out);
                let opt = if matches!(m.field, Field::Sport(_)) {
                    sp.opt("--source-port", "--sport")
                } else {
                    sp.opt("--destination-port", "--dport")
                };
                out.extend([opt, Arg::Word(ports)]);
            }
            (Field::CtState, Value::CtStates(s)) => {
                out.extend(sp.module("conntrack"));
                bang(m.op, &mut out);
                out.extend([Arg::word("--ctstate"), Arg::Word(ct_states(s))]);
            }
            (Field::CtDirection, Value::CtDir(d)) => {
                out.extend(sp.module("conntrack"));
                bang(m.op, &mut out);
                let d = match d {
                    ir::CtDirection::Original => "Original",
                    ir::CtDirection::Reply => "Reply",
                };
                out.extend([Arg::word("--ctdir"), Arg::word(d)]);
            }
            (Field::EtherSaddr, _) => {
                out.extend(sp.module("mac"));
                simple("--mac-source", &mut out)?;
            }
            (Field::EtherDaddr, _) => {
                return Err(
                    "iptables cannot match the destination MAC address; the rule is left out"
                        .into(),
                )
            }
            (Field::Dscp(_), v) => {
                let n = single(v, "DSCP value")?;
                out.extend(sp.module("dscp"));
                bang(m.op, &mut out);
                out.extend([Arg::word("--dscp"), Arg::Word(n.to_string())]);
            }
            (Field::TcpFlags, Value::TcpFlags { mask, set }) => {
                bang(m.op, &mut out);
                out.extend([
                    Arg::word("--tcp-flags"),
                    Arg::Word(tcp_flags(*mask)?),
                    Arg::Word(tcp_flags(*set)?),
                ]);
            }
            (Field::IcmpType(f), v) => {
                let mut text = single(v, "ICMP type")?.to_string();
                if let Some(next) = matches.get(i).filter(|n| n.field == Field::IcmpCode(f)) {
                    if next.op != CmpOp::Eq {
                        return Err("iptables cannot negate an ICMP code alone; the rule is \
                                    left out"
                            .into());
                    }
                    text = format!("{text}/{}", single(&next.value, "ICMP code")?);
                    i += 1;
                }
                bang(m.op, &mut out);
                let opt = if f == IpFamily::V6 {
                    "--icmpv6-type"
                } else {
                    "--icmp-type"
                };
                out.extend([Arg::word(opt), Arg::Word(text)]);
            }
            (Field::ConnCount, Value::Int(r)) if r.end == u64::from(u32::MAX) && r.start > 0 => {
                out.extend(sp.module("connlimit"));
                bang(m.op, &mut out);
                out.extend([
                    Arg::word("--connlimit-above"),
                    Arg::Word((r.start - 1).to_string()),
                ]);
            }
            (Field::IpSet, Value::IpSet { name, dirs }) => {
                out.extend(sp.module("set"));
                bang(m.op, &mut out);
                let dirs: Vec<_> = dirs
                    .iter()
                    .map(|d| match d {
                        ir::SetDir::Src => "src",
                        ir::SetDir::Dst => "dst",
                    })
                    .collect();
                out.extend([
                    Arg::word("--match-set"),
                    Arg::Word(name.to_string()),
                    Arg::Word(dirs.join(",")),
                ]);
            }
            (Field::PhysIn, _) => simple("--physdev-in", &mut out)?,
            (Field::PhysOut, _) => simple("--physdev-out", &mut out)?,
            (Field::PhysIsBridged, Value::Bool(b)) => {
                if (m.op == CmpOp::Ne) == *b {
                    out.push(Arg::word("!"));
                }
                out.push(Arg::word("--physdev-is-bridged"));
            }
            (f, v) => {
                return Err(format!(
                    "iptables cannot compare {f} with {v}; the rule is left out"
                ))
            }
        }
    }
    Ok(out)
}

/// `ESTABLISHED,RELATED`: upper case, in libvirt's order.
fn ct_states(s: &ir::CtStates) -> String {
    [
        (s.new, "NEW"),
        (s.established, "ESTABLISHED"),
        (s.related, "RELATED"),
        (s.invalid, "INVALID"),
        (s.untracked, "UNTRACKED"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, n)| *n)
    .collect::<Vec<_>>()
    .join(",")
}

fn nat_args(n: &Nat, jump: Arg) -> Vec<Arg> {
    match n {
        Nat::Masquerade { ports } => {
            let mut a = vec![jump, Arg::word("MASQUERADE")];
            if let Some(p) = ports {
                a.extend([Arg::word("--to-ports"), Arg::Word(p.to_string())]);
            }
            a
        }
        Nat::Snat { addr, ports } => vec![
            jump,
            Arg::word("SNAT"),
            Arg::word("--to-source"),
            Arg::Word(crate::nat::target_text(addr, ports.as_ref())),
        ],
        Nat::Dnat { addr, ports } => vec![
            jump,
            Arg::word("DNAT"),
            Arg::word("--to-destination"),
            Arg::Word(crate::nat::target_text(addr, ports.as_ref())),
        ],
    }
}

fn verdict_args(t: &Table, v: &Verdict, style: Style) -> Result<Vec<Arg>, String> {
    let sp = style.spelling;
    let jump = |target: &str| vec![sp.opt("--jump", "-j"), Arg::Word(target.to_owned())];
    Ok(match v {
        Verdict::Accept => jump("ACCEPT"),
        Verdict::Drop => jump("DROP"),
        Verdict::Return => jump("RETURN"),
        Verdict::Reject(kind) => {
            let mut a = jump("REJECT");
            let v6 = style.flavor.ip == IpFamily::V6;
            let with = match kind {
                RejectKind::Default => None,
                RejectKind::TcpReset => Some("tcp-reset"),
                RejectKind::PortUnreachable if v6 => Some("icmp6-port-unreachable"),
                RejectKind::PortUnreachable => Some("icmp-port-unreachable"),
                RejectKind::AdminProhibited if v6 => Some("icmp6-adm-prohibited"),
                RejectKind::AdminProhibited => Some("icmp-admin-prohibited"),
            };
            if let Some(w) = with {
                a.extend([Arg::word("--reject-with"), Arg::word(w)]);
            }
            a
        }
        Verdict::Jump(c) => jump(&style.names.of(t, *c)),
        Verdict::Goto(c) => vec![sp.opt("--goto", "-g"), Arg::Word(style.names.of(t, *c))],
        Verdict::Vmap { .. } => {
            return Err(
                "a verdict map cannot hold another verdict map; the rule is left out".into(),
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use ir::*;

    use crate::testutil::*;
    use crate::{Artifact, Direction, Format, Target};

    fn run(rs: &Ruleset, target: Target, format: Format, direction: Direction) -> Artifact {
        emit_as(rs, target, format, direction).unwrap()
    }

    fn rules_only(text: &str) -> Vec<&str> {
        text.lines().filter(|l| !l.starts_with('#')).collect()
    }

    #[test]
    fn what_iptables_cannot_say_is_a_note() {
        let mut rs = Ruleset::default();
        let t = rs.table_mut(Family::Ip, &name("filter"), Ownership::External);
        let c = regular(t, "FWC");
        let mac = from("f.xml", 3, "mac");
        let neg = from("f.xml", 4, "ip");
        t.chain_mut(c).rules = vec![
            Rule::new(
                mac.clone(),
                vec![Match::eq(
                    Field::EtherDaddr,
                    Value::Mac("52:54:00:00:00:01".parse().unwrap()),
                )],
                Some(Verdict::Drop),
            ),
            Rule::new(
                neg.clone(),
                vec![Match::ne(
                    Field::Saddr(IpFamily::V4),
                    Value::Set(SetRef::Anonymous(vec![
                        net("10.0.0.0/8"),
                        net("172.16.0.0/12"),
                    ])),
                )],
                Some(Verdict::Drop),
            ),
            Rule::new(from("f.xml", 5, "ip"), vec![], Some(Verdict::Accept)),
        ];
        let a = run(&rs, Target::Iptables, Format::Script, Direction::Setup);
        let provs: Vec<_> = a.notes.iter().map(|n| n.provenance.clone()).collect();
        assert_eq!(provs, [mac, neg]);
        assert!(a.notes[0].message.contains("destination MAC"));
        assert_eq!(
            rules_only(&a.text),
            ["*filter", ":FWC - [0:0]", "-A FWC --jump ACCEPT", "COMMIT"]
        );
    }

    #[test]
    fn matches_and_verdicts_in_iptables_spelling() {
        let mut rs = Ruleset::default();
        let t = rs.table_mut(Family::Ip6, &name("filter"), Ownership::External);
        let c = regular(t, "FWC");
        let other = regular(t, "OTHER");
        let p = from("f.xml", 1, "rule");
        let mut rules = vec![
            Rule::new(
                p.clone(),
                vec![
                    Match::ne(Field::IifName, ifname("eth0")),
                    Match::eq(Field::Sport(L4Proto::Tcp), ports(1024, 65535)),
                    Match::ne(Field::Dport(L4Proto::Tcp), ports(22, 22)),
                ],
                Some(Verdict::Reject(RejectKind::TcpReset)),
            ),
            Rule::new(
                p.clone(),
                vec![
                    Match::ne(
                        Field::CtState,
                        Value::CtStates(CtStates {
                            new: true,
                            invalid: true,
                            ..CtStates::default()
                        }),
                    ),
                    Match::eq(
                        Field::EtherSaddr,
                        Value::Mac("52:54:00:0a:0b:0c".parse().unwrap()),
                    ),
                ],
                Some(Verdict::Reject(RejectKind::AdminProhibited)),
            ),
            Rule::new(
                p.clone(),
                vec![Match::eq(
                    Field::Dport(L4Proto::Udp),
                    Value::Set(SetRef::Anonymous(vec![ports(53, 53), ports(67, 68)])),
                )],
                Some(Verdict::Goto(other)),
            ),
        ];
        let mut last = Rule::new(p, vec![], Some(Verdict::Return));
        last.comment = Some(Comment::new("it's fine").unwrap());
        rules.push(last);
        t.chain_mut(c).rules = rules;
        let a = run(&rs, Target::Ip6tables, Format::Commands, Direction::Setup);
        assert_eq!(
            a.text,
            "ip6tables -w --table filter --new-chain FWC\n\
             ip6tables -w --table filter --new-chain OTHER\n\
             ip6tables -w --table filter --append FWC '!' --in-interface eth0 --protocol tcp --source-port 1024:65535 '!' --destination-port 22 --jump REJECT --reject-with tcp-reset\n\
             ip6tables -w --table filter --append FWC --match conntrack '!' --ctstate NEW,INVALID --match mac --mac-source 52:54:00:0a:0b:0c --jump REJECT --reject-with icmp6-adm-prohibited\n\
             ip6tables -w --table filter --append FWC --protocol udp --destination-port 53 --goto OTHER\n\
             ip6tables -w --table filter --append FWC --protocol udp --destination-port 67:68 --goto OTHER\n\
             ip6tables -w --table filter --append FWC --match comment --comment 'it'\\''s fine' --jump RETURN\n"
        );
    }

    /// libvirt's nwfilter rules (a table built by appends): short options,
    /// `-p all`, `--sport a:a` for a range written as one, an address
    /// range, the physdev, conntrack-direction, connlimit, ipset, DSCP,
    /// TCP-flag and ICMP matches in libvirt's spelling.
    #[test]
    fn appended_tables_are_spelled_as_libvirts_nwfilter_driver_spells_them() {
        let mut rs = Ruleset::default();
        let t = rs.table_mut(Family::Ip, &name("filter"), Ownership::External);
        let fi = regular(t, "FI-vnet0");
        t.chain_mut(fi).staging = Some(name("FJ-vnet0"));
        let shared = regular(t, "libvirt-in");
        let p = from("f.xml", 1, "rule");
        let int = |a, b| Value::Int(IntRange::new(a, b).unwrap());
        let range = |a, b| Value::Int(IntRange::new(a, b).unwrap().written(Notation::Range));
        let addr = |a: &str, b: &str| {
            Value::AddrRange(AddrRange::new(a.parse().unwrap(), b.parse().unwrap()).unwrap())
        };
        let mut commented = Rule::new(
            p.clone(),
            vec![
                Match::eq(Field::L4Proto, int(0, 255)),
                Match::ne(
                    Field::EtherSaddr,
                    Value::Mac("12:34:56:78:9a:bc".parse().unwrap()),
                ),
                Match::eq(Field::Saddr(IpFamily::V4), addr("10.0.0.1", "10.0.0.1")),
                Match::eq(Field::Daddr(IpFamily::V4), addr("10.0.0.1", "10.0.0.9")),
                Match::eq(Field::Dscp(IpFamily::V4), int(2, 2)),
                Match::eq(
                    Field::CtState,
                    Value::CtStates(CtStates::RELATED_ESTABLISHED),
                ),
                Match::eq(Field::CtDirection, Value::CtDir(CtDirection::Reply)),
                Match::eq(
                    Field::IpSet,
                    Value::IpSet {
                        name: name("tck_test"),
                        dirs: vec![SetDir::Dst, SetDir::Src],
                    },
                ),
                Match::ne(Field::ConnCount, int(4, u32::MAX.into())),
            ],
            Some(Verdict::Return),
        );
        commented.comment = Some(Comment::new("in: ftp and ssh").unwrap());
        t.chain_mut(fi).rules = vec![
            commented,
            Rule::new(
                p.clone(),
                vec![
                    Match::eq(Field::L4Proto, Value::Proto(L4Proto::Tcp)),
                    Match::eq(
                        Field::TcpFlags,
                        Value::TcpFlags {
                            mask: TcpFlagSet(0x02),
                            set: TcpFlagSet(0x12),
                        },
                    ),
                    Match::eq(Field::Dport(L4Proto::Tcp), range(65535, 65535)),
                    Match::eq(Field::Sport(L4Proto::Tcp), ports(22, 22)),
                ],
                Some(Verdict::Reject(RejectKind::Default)),
            ),
            Rule::new(
                p.clone(),
                vec![
                    Match::eq(Field::L4Proto, Value::Proto(L4Proto::Icmp)),
                    Match::eq(Field::IcmpType(IpFamily::V4), int(12, 12)),
                    Match::eq(Field::IcmpCode(IpFamily::V4), int(11, 11)),
                ],
                None,
            ),
        ];
        t.chain_mut(shared).rules = vec![Rule::new(
            p,
            vec![
                Match::eq(Field::PhysIsBridged, Value::Bool(true)),
                Match::eq(Field::PhysOut, ifname("vnet0")),
            ],
            Some(Verdict::Goto(fi)),
        )];
        t.commands = Commands::Append {
            steps: vec![(0, Step::CreateChain(fi))],
            spelling: Spelling::Inet,
        };
        let a = run(&rs, Target::Iptables, Format::Script, Direction::Setup);
        assert!(a.notes.is_empty(), "{:?}", a.notes);
        assert_eq!(
            rules_only(&a.text),
            [
                "*filter",
                ":FI-vnet0 - [0:0]",
                ":libvirt-in - [0:0]",
                "-A FI-vnet0 -p all -m mac ! --mac-source 12:34:56:78:9a:bc --source 10.0.0.1 \
                 -m iprange --dst-range 10.0.0.1-10.0.0.9 -m dscp --dscp 2 -m conntrack --ctstate \
                 ESTABLISHED,RELATED -m conntrack --ctdir Reply -m set --match-set tck_test dst,src \
                 -m connlimit ! --connlimit-above 3 -m comment --comment \"in: ftp and ssh\" -j RETURN",
                "-A FI-vnet0 -p tcp --tcp-flags SYN SYN,ACK --dport 65535:65535 --sport 22 -j REJECT",
                "-A FI-vnet0 -p icmp --icmp-type 12/11",
                "-A libvirt-in -m physdev --physdev-is-bridged --physdev-out vnet0 -g FI-vnet0",
                "COMMIT",
            ]
        );
        // Command lines build the chain under its staging name.
        let c = run(&rs, Target::Iptables, Format::Commands, Direction::Setup);
        assert!(c
            .text
            .contains("\niptables -w -A libvirt-in -m physdev --physdev-is-bridged --physdev-out vnet0 -g FJ-vnet0\n"));
        assert!(
            c.text.ends_with("iptables -w -E FJ-vnet0 FI-vnet0\n"),
            "{}",
            c.text
        );
    }

    #[test]
    fn snat_to_ipv6_range_with_ports_is_bracketed() {
        let mut rs = Ruleset::default();
        let t = rs.table_mut(Family::Ip6, &name("nat"), Ownership::External);
        let c = regular(t, "PRT");
        let addr = AddrRange::new(
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        )
        .unwrap();
        t.chain_mut(c).rules = vec![Rule::new(
            from("n.xml", 1, "nat"),
            vec![Match::eq(Field::L4Proto, Value::Proto(L4Proto::Udp))],
            None,
        )
        .with(Statement::Nat(Nat::Snat {
            addr,
            ports: Some(PortRange::new(500, 1000).unwrap()),
        }))];
        let text = run(&rs, Target::Ip6tables, Format::Script, Direction::Setup).text;
        assert!(
            text.contains(
                "-A PRT -p udp --jump SNAT --to-source [2001:db8::1]-[2001:db8::2]:500-1000\n"
            ),
            "{text}"
        );
    }
}
