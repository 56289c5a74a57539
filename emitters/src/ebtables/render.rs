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

use crate::appended::Names;
pub(crate) use crate::xtables::Arg;
use ir::{
    ArpField, CmpOp, Field, IntRange, IpFamily, L4Proto, MapRef, Match, Notation, Rule, SetRef,
    Statement, StpField, Table, Value, Verdict,
};

/// The kernel's limit on a log prefix (`EBT_LOG_PREFIX_SIZE` less the NUL).
const LOG_PREFIX_MAX: usize = 29;

/// The ebtables rules for one IR rule of `table`, in evaluation order, as
/// the arguments after `-A CHAIN`; `end` is the target that ends the
/// rule's chain (`RETURN`, or `DROP` for a chain whose policy drops).
/// `Err` is the note for a rule left out.
pub(crate) fn render_rule(
    table: &Table,
    r: &Rule,
    end: &str,
    names: Names,
) -> Result<Vec<Vec<Arg>>, String> {
    let watchers = watchers(r)?;
    let actions = actions(table, r, end, names)?;
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
fn actions(table: &Table, r: &Rule, end: &str, names: Names) -> Result<Vec<Action>, String> {
    let Some(Verdict::Vmap { key, map }) = &r.verdict else {
        return Ok(verdict_targets(table, r.verdict.as_ref(), end, names)?
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
        for t in verdict_targets(table, Some(v), end, names)? {
            out.push((keyed.clone(), t));
        }
    }
    Ok(out)
}

/// The targets of a (non-map) verdict; `goto` takes two rules.
fn verdict_targets(
    table: &Table,
    v: Option<&Verdict>,
    end: &str,
    names: Names,
) -> Result<Vec<Vec<Arg>>, String> {
    let chain = |id: &ir::ChainId| names.of(table, *id);
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
/// rule on layer-2 fields only, the one its addresses, ether type or
/// IP-header fields imply, or both for layer-4 fields alone.
fn families(matches: &[Match]) -> Result<Vec<Option<IpFamily>>, String> {
    let mut implied = Vec::new();
    let mut layer4 = false;
    for m in matches {
        let f = match (m.field, &m.value, m.op) {
            (Field::Saddr(f) | Field::Daddr(f) | Field::IpProto(f), _, _) => Some(f),
            (Field::Dscp(f) | Field::IcmpType(f) | Field::IcmpCode(f), _, _) => Some(f),
            (Field::L4Proto, Value::Proto(L4Proto::Icmp), CmpOp::Eq) => Some(IpFamily::V4),
            (Field::L4Proto, Value::Proto(L4Proto::Icmpv6), CmpOp::Eq) => Some(IpFamily::V6),
            (Field::EtherType, Value::Int(t), CmpOp::Eq) if t.start == t.end => {
                ether_family(t.start)
            }
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

/// The IP family an ether type carries.
fn ether_family(ether_type: u64) -> Option<IpFamily> {
    match ether_type {
        0x0800 => Some(IpFamily::V4),
        0x86dd => Some(IpFamily::V6),
        _ => None,
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

/// An ether type as `-p` takes it: hexadecimal (ebtables reads no
/// decimal), at least as many digits as its notation asks, or `ipv4`/
/// `ipv6` where the notation asks for a name.
fn ether_type_text(r: &IntRange) -> Result<String, String> {
    if r.start != r.end {
        return Err("ebtables matches one ether type, not a range; the rule is left out".into());
    }
    let v = r.start;
    Ok(match (r.notation, v) {
        (Notation::Name, 0x0800) => "ipv4".into(),
        (Notation::Name, 0x86dd) => "ipv6".into(),
        (Notation::Hex { width }, _) => format!("0x{v:0width$x}", width = usize::from(width)),
        _ => format!("0x{v:x}"),
    })
}

/// A number or range as ebtables writes it: `a`, or `a:b` for a range (also
/// one whose ends are equal when it was written as a range).
fn range_text(v: &Value) -> Result<String, String> {
    crate::xtables::colon_range(v)
        .ok_or_else(|| format!("ebtables cannot compare with {v}; the rule is left out"))
}

/// One number, in its notation (decimal unless hexadecimal was asked).
fn number_text(v: &Value) -> Result<String, String> {
    match v {
        Value::Int(r) if r.start == r.end => Ok(match r.notation {
            Notation::Hex { width } => {
                format!("0x{:0width$x}", r.start, width = usize::from(width))
            }
            _ => r.start.to_string(),
        }),
        other => Err(format!(
            "ebtables matches one number here, not {other}; the rule is left out"
        )),
    }
}

/// A MAC address, under its mask if it has one.
fn mac_text(v: &Value) -> Result<String, String> {
    match v {
        Value::Mac(m) => Ok(m.to_string()),
        Value::MacMasked { addr, mask } => Ok(format!("{addr}/{mask}")),
        other => Err(format!(
            "ebtables cannot compare a MAC address with {other}; the rule is left out"
        )),
    }
}

/// An address or prefix (ebtables has no address ranges).
fn address_text(v: &Value) -> Result<String, String> {
    match v {
        Value::Prefix(n) => Ok(n.to_string()),
        Value::AddrRange(r) if r.start == r.end => Ok(r.start.to_string()),
        other => Err(format!(
            "ebtables cannot match the address {other}; the rule is left out"
        )),
    }
}

/// The `--stp-*` option of an STP field.
fn stp_option(f: StpField) -> &'static str {
    match f {
        StpField::Type => "--stp-type",
        StpField::Flags => "--stp-flags",
        StpField::RootPriority => "--stp-root-pri",
        StpField::RootAddress => "--stp-root-addr",
        StpField::RootCost => "--stp-root-cost",
        StpField::SenderPriority => "--stp-sender-prio",
        StpField::SenderAddress => "--stp-sender-addr",
        StpField::Port => "--stp-port",
        StpField::MessageAge => "--stp-msg-age",
        StpField::MaxAge => "--stp-max-age",
        StpField::HelloTime => "--stp-hello-time",
        StpField::ForwardDelay => "--stp-forward-delay",
    }
}

/// The `--arp-*` option of an ARP field (`None` for the gratuitous flag).
fn arp_option(f: ArpField) -> Option<&'static str> {
    Some(match f {
        ArpField::Opcode => "--arp-opcode",
        ArpField::HwType => "--arp-htype",
        ArpField::ProtoType => "--arp-ptype",
        ArpField::SenderMac => "--arp-mac-src",
        ArpField::TargetMac => "--arp-mac-dst",
        ArpField::SenderIp => "--arp-ip-src",
        ArpField::TargetIp => "--arp-ip-dst",
        ArpField::Gratuitous => return None,
    })
}

/// `T1:T2/C1:C2` of `--ip6-icmp-type`; a missing part is every value.
fn icmp_text(types: Option<&Value>, codes: Option<&Value>) -> Result<String, String> {
    let part = |v: Option<&Value>| -> Result<String, String> {
        match v {
            None => Ok("0:255".into()),
            Some(Value::Int(r)) => Ok(format!("{}:{}", r.start, r.end)),
            Some(other) => Err(format!(
                "ebtables cannot match the ICMPv6 value {other}; the rule is left out"
            )),
        }
    };
    Ok(format!("{}/{}", part(types)?, part(codes)?))
}

/// Scalar matches (sets already expanded) as ebtables options, for the
/// given IP family. `-p ipv4` goes right before the first option that needs
/// it (unless the rule matched the ether type itself), and `--ip-protocol`
/// before a port that needs it.
fn match_args(matches: &[Match], family: Option<IpFamily>) -> Result<Vec<Arg>, String> {
    let ip = match family {
        Some(IpFamily::V6) => &IPV6,
        _ => &IPV4,
    };
    let mut out = Vec::new();
    let mut ether_proto = false;
    let mut proto: Option<(CmpOp, Option<L4Proto>)> = None;
    let mut i = 0;
    while i < matches.len() {
        let m = &matches[i];
        i += 1;
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
            (Field::EtherSaddr, v) => opt("-s", mac_text(v)?, &mut out),
            (Field::EtherDaddr, v) => opt("-d", mac_text(v)?, &mut out),
            (Field::EtherType, Value::Int(r)) => {
                ether_proto = true;
                opt("-p", ether_type_text(r)?, &mut out);
            }
            (Field::Saddr(_), v) => {
                need_ip(&mut out);
                opt(ip.src, address_text(v)?, &mut out);
            }
            (Field::Daddr(_), v) => {
                need_ip(&mut out);
                opt(ip.dst, address_text(v)?, &mut out);
            }
            (Field::L4Proto | Field::IpProto(_), v) => {
                need_ip(&mut out);
                let (number, known) = match v {
                    Value::Proto(p) => (u64::from(p.number()), Some(*p)),
                    Value::Int(r) if r.start == r.end => (r.start, None),
                    other => {
                        return Err(format!(
                            "ebtables matches one protocol, not {other}; the rule is left out"
                        ))
                    }
                };
                proto = Some((m.op, known));
                opt(ip.l4, number.to_string(), &mut out);
            }
            (Field::Sport(p) | Field::Dport(p), v) => {
                need_ip(&mut out);
                match proto {
                    Some((CmpOp::Eq, Some(q))) if q == p => {}
                    None => {
                        proto = Some((CmpOp::Eq, Some(p)));
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
                let name = if matches!(m.field, Field::Sport(_)) {
                    ip.sport
                } else {
                    ip.dport
                };
                opt(name, range_text(v)?, &mut out);
            }
            // ebtables compares the whole TOS byte. libvirt writes its DSCP
            // value there as is (in hex), which fwc reproduces for a value
            // written in hex; otherwise the DSCP goes to its place in the
            // byte (ECN bits zero).
            (Field::Dscp(IpFamily::V4), Value::Int(r)) if r.start == r.end => {
                need_ip(&mut out);
                let tos = match r.notation {
                    Notation::Hex { .. } => r.start,
                    _ => r.start << 2,
                };
                opt("--ip-tos", format!("0x{tos:x}"), &mut out);
            }
            (Field::IcmpType(IpFamily::V6) | Field::IcmpCode(IpFamily::V6), _) => {
                need_ip(&mut out);
                let (types, codes) = if m.field == Field::IcmpType(IpFamily::V6) {
                    let next = matches
                        .get(i)
                        .filter(|n| n.field == Field::IcmpCode(IpFamily::V6));
                    if let Some(n) = next {
                        if n.op != m.op {
                            return Err("ebtables negates an ICMPv6 type and code together; \
                                        the rule is left out"
                                .into());
                        }
                        i += 1;
                    }
                    (Some(&m.value), next.map(|n| &n.value))
                } else {
                    (None, Some(&m.value))
                };
                opt("--ip6-icmp-type", icmp_text(types, codes)?, &mut out);
            }
            (Field::VlanId, v) => opt("--vlan-id", number_text(v)?, &mut out),
            // libvirt writes the encapsulated type in decimal, which ebtables
            // reads as hexadecimal; a value written in decimal keeps that
            // spelling (libvirt's), one written in hex is hex.
            (Field::VlanEtherType, v) => opt("--vlan-encap", number_text(v)?, &mut out),
            (Field::Arp(ArpField::Gratuitous), Value::Bool(b)) => {
                if (m.op == CmpOp::Ne) == *b {
                    out.push(Arg::word("!"));
                }
                out.push(Arg::word("--arp-gratuitous"));
            }
            (Field::Arp(a @ (ArpField::SenderMac | ArpField::TargetMac)), v) => {
                opt(arp_option(a).expect("a MAC field"), mac_text(v)?, &mut out);
            }
            (Field::Arp(a @ (ArpField::SenderIp | ArpField::TargetIp)), v) => {
                opt(
                    arp_option(a).expect("an IP field"),
                    address_text(v)?,
                    &mut out,
                );
            }
            (Field::Arp(a), v) => match arp_option(a) {
                Some(name) => opt(name, number_text(v)?, &mut out),
                None => {
                    return Err(
                        "ebtables cannot compare this ARP field; the rule is left out".into(),
                    )
                }
            },
            (Field::Stp(s @ (StpField::RootAddress | StpField::SenderAddress)), v) => {
                opt(stp_option(s), mac_text(v)?, &mut out);
            }
            (Field::Stp(s @ (StpField::Type | StpField::Flags)), v) => {
                opt(stp_option(s), number_text(v)?, &mut out);
            }
            (Field::Stp(s), v) => opt(stp_option(s), range_text(v)?, &mut out),
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
        Ok(render_rule(t, r, "RETURN", Names::Final)?
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
            render_rule(&t, &r, "DROP", Names::Final)
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
