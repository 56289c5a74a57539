//! `fwc explain`: what one packet meets at each hook, for a target: the
//! verdict, the NAT, and every rule hit with the input line it came from.
//!
//! Packets are written in nft's words (see [`parse_packet`]); `fwc diff`
//! prints the packets it reports in the same words, so a difference can be
//! pasted into `--packet`.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use nom::branch::alt;
use nom::bytes::complete::{is_not, take_while1};
use nom::character::complete::{char, space0};
use nom::combinator::{all_consuming, verify};
use nom::multi::many0;
use nom::sequence::{delimited, preceded, terminated, tuple};
use nom::IResult;

use ir::eval::{evaluate, DecidedBy, Decision, Outcome, Packet};
use ir::{
    ChainKind, CtStates, Hook, IpFamily, L4Proto, MacAddr, Provenance, RejectKind, Statement,
};

use crate::cli::{LayoutArg, TargetArg, EXIT_BAD_INPUT, EXIT_OK};
use crate::diff::packets;
use crate::diff::side::Side;
use crate::readback::{values, Readback};
use crate::source::SourceFile;

/// Arguments of `fwc explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Input files or directories, compiled together as for `fwc compile`.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,

    /// The targets whose artifacts are read back and evaluated (iptables
    /// covers ip6tables too), comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "nft")]
    pub target: Vec<TargetArg>,

    /// The layout of tables and chains.
    #[arg(long, value_enum, default_value_t = LayoutArg::Fwc)]
    pub layout: LayoutArg,

    /// The packet, in nft's words: `[hook H] [iif|iifname NAME] [oif|oifname
    /// NAME] [ip|ip6 saddr ADDR] [ip|ip6 daddr ADDR] [tcp|udp|sctp|udplite
    /// sport|dport PORT] [meta l4proto PROTO] [ct state STATE] [ether
    /// saddr|daddr|type X]`. Without a hook, every hook with base chains is
    /// shown. Unset: state `new`, source port 40000, the ether type of the
    /// addresses' family; any other field left out never matches.
    #[arg(long, value_name = "PACKET")]
    pub packet: String,
}

/// A parsed `--packet`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketSpec {
    /// The hook asked for, if any.
    pub hook: Option<Hook>,
    /// The packet.
    pub packet: Packet,
}

/// The source port of packets that do not name one.
pub const DEFAULT_SPORT: u16 = 40000;

fn word(i: &str) -> IResult<&str, &str> {
    preceded(
        space0,
        alt((
            delimited(char('"'), is_not("\""), char('"')),
            take_while1(|c: char| !c.is_whitespace()),
        )),
    )(i)
}

fn kw<'a>(k: &'static str) -> impl FnMut(&'a str) -> IResult<&'a str, &'a str> {
    verify(word, move |w: &str| w == k)
}

/// One `key value` item of a packet.
fn item(i: &str) -> IResult<&str, (&str, &str, &str)> {
    alt((
        tuple((kw("hook"), |i| Ok((i, "")), word)),
        tuple((kw("iif"), |i| Ok((i, "")), word)),
        tuple((kw("iifname"), |i| Ok((i, "")), word)),
        tuple((kw("oif"), |i| Ok((i, "")), word)),
        tuple((kw("oifname"), |i| Ok((i, "")), word)),
        tuple((
            alt((kw("ip"), kw("ip6"))),
            alt((kw("saddr"), kw("daddr"))),
            word,
        )),
        tuple((kw("meta"), kw("l4proto"), word)),
        tuple((kw("ct"), kw("state"), word)),
        tuple((
            kw("ether"),
            alt((kw("saddr"), kw("daddr"), kw("type"))),
            word,
        )),
        tuple((word, alt((kw("sport"), kw("dport"))), word)),
    ))(i)
}

fn proto_named(text: &str) -> Result<L4Proto, String> {
    values::L4PROTOS
        .into_iter()
        .find(|p| p.name() == text)
        .ok_or_else(|| format!("unknown protocol '{text}'"))
}

/// Reads a packet written in nft's words (see [`ExplainArgs::packet`]).
pub fn parse_packet(text: &str) -> Result<PacketSpec, String> {
    let items = match all_consuming(terminated(many0(item), space0))(text) {
        Ok((_, items)) => items,
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => {
            let at = e.input.trim_start();
            return Err(format!("cannot read the packet at '{at}'"));
        }
        Err(nom::Err::Incomplete(_)) => return Err("the packet is incomplete".into()),
    };
    let mut spec = PacketSpec {
        hook: None,
        packet: Packet::default(),
    };
    let p = &mut spec.packet;
    let mut ct = None;
    for (key, sub, value) in items {
        let set_proto = |p: &mut Packet, proto: L4Proto| match p.proto {
            Some(q) if q != proto => Err(format!(
                "the packet cannot be both {} and {}",
                q.name(),
                proto.name()
            )),
            _ => {
                p.proto = Some(proto);
                Ok(())
            }
        };
        match (key, sub) {
            ("hook", _) => spec.hook = Some(values::hook(value)?),
            ("iif" | "iifname", _) => p.iif = Some(ifname(value)?),
            ("oif" | "oifname", _) => p.oif = Some(ifname(value)?),
            ("ip" | "ip6", _) => {
                let addr: std::net::IpAddr = value
                    .parse()
                    .map_err(|_| format!("'{value}' is not an address"))?;
                let fam = if key == "ip" {
                    IpFamily::V4
                } else {
                    IpFamily::V6
                };
                if IpFamily::of(&addr) != fam {
                    return Err(format!("'{value}' is not an {key} address"));
                }
                if p.family().is_some_and(|f| f != fam) {
                    return Err("the packet mixes IPv4 and IPv6 addresses".into());
                }
                if sub == "saddr" {
                    p.saddr = Some(addr);
                } else {
                    p.daddr = Some(addr);
                }
            }
            ("meta", _) => set_proto(p, proto_named(value)?)?,
            ("ct", _) => {
                let mut s = CtStates::default();
                for name in value.split(',') {
                    crate::readback::nft_text::ct_state(&mut s, name)?;
                }
                if s.names().len() != 1 {
                    return Err("a packet is in one conntrack state".into());
                }
                ct = Some(s);
            }
            ("ether", "type") => {
                p.ether_type = Some(match value {
                    "ip" => 0x0800,
                    "ip6" => 0x86dd,
                    "arp" => 0x0806,
                    _ => match value.strip_prefix("0x") {
                        Some(hex) => u16::from_str_radix(hex, 16),
                        None => value.parse(),
                    }
                    .map_err(|_| format!("'{value}' is not an ether type"))?,
                });
            }
            ("ether", _) => {
                let mac: MacAddr = value.parse().map_err(|e: ir::ValueError| e.to_string())?;
                if sub == "saddr" {
                    p.ether_saddr = Some(mac);
                } else {
                    p.ether_daddr = Some(mac);
                }
            }
            (proto, port) => {
                let proto = proto_named(proto)?;
                if !proto.has_ports() {
                    return Err(format!("{} has no ports", proto.name()));
                }
                set_proto(p, proto)?;
                let n: u16 = value
                    .parse()
                    .map_err(|_| format!("'{value}' is not a port"))?;
                if port == "sport" {
                    p.sport = Some(n);
                } else {
                    p.dport = Some(n);
                }
            }
        }
    }
    p.ct = ct.unwrap_or(CtStates {
        new: true,
        ..CtStates::default()
    });
    if p.proto.is_some_and(L4Proto::has_ports) && p.sport.is_none() {
        p.sport = Some(DEFAULT_SPORT);
    }
    if p.ether_type.is_none() {
        p.ether_type = p.family().map(ether_type_of);
    }
    Ok(spec)
}

/// The ether type of an IP family's frames.
fn ether_type_of(f: IpFamily) -> u16 {
    match f {
        IpFamily::V4 => 0x0800,
        IpFamily::V6 => 0x86dd,
    }
}

fn ifname(text: &str) -> Result<String, String> {
    ir::Ifname::new(text)
        .map(|n| n.to_string())
        .map_err(|e| e.to_string())
}

/// A packet in the words [`parse_packet`] reads (defaults left out).
pub fn packet_text(p: &Packet) -> String {
    let mut w: Vec<String> = Vec::new();
    if let Some(i) = &p.iif {
        w.push(format!("iif {i}"));
    }
    if let Some(o) = &p.oif {
        w.push(format!("oif {o}"));
    }
    let ip = |a: &std::net::IpAddr| if a.is_ipv4() { "ip" } else { "ip6" };
    if let Some(a) = &p.saddr {
        w.push(format!("{} saddr {a}", ip(a)));
    }
    if let Some(a) = &p.daddr {
        w.push(format!("{} daddr {a}", ip(a)));
    }
    if let Some(proto) = p.proto {
        let n = proto.name();
        let mut said = false;
        if proto.has_ports() {
            if let Some(s) = p.sport.filter(|s| *s != DEFAULT_SPORT) {
                w.push(format!("{n} sport {s}"));
                said = true;
            }
            if let Some(d) = p.dport {
                w.push(format!("{n} dport {d}"));
                said = true;
            }
        }
        if !said {
            w.push(format!("meta l4proto {n}"));
        }
    }
    let new = CtStates {
        new: true,
        ..CtStates::default()
    };
    if p.ct != new {
        w.push(format!("ct state {}", p.ct));
    }
    if let Some(m) = p.ether_saddr {
        w.push(format!("ether saddr {m}"));
    }
    if let Some(m) = p.ether_daddr {
        w.push(format!("ether daddr {m}"));
    }
    if p.ether_type.is_some() && p.ether_type != p.family().map(ether_type_of) {
        w.push(format!("ether type 0x{:04x}", p.ether_type.unwrap_or(0)));
    }
    w.join(" ")
}

/// A decision in nft's words.
pub fn decision_text(d: &Decision) -> &'static str {
    match d {
        Decision::Accept => "accept",
        Decision::Drop => "drop",
        Decision::Reject(RejectKind::Default) => "reject",
        Decision::Reject(RejectKind::TcpReset) => "reject with tcp reset",
        Decision::Reject(RejectKind::PortUnreachable) => "reject with port-unreachable",
        Decision::Reject(RejectKind::AdminProhibited) => "reject with admin-prohibited",
    }
}

/// The line of an input a provenance points at, if it is one of `files`.
pub fn source_line<'f>(files: &'f [Arc<SourceFile>], p: &Provenance) -> Option<(u32, &'f str)> {
    let src = p.source()?;
    let file = files.iter().find(|f| f.name() == &*src.file)?;
    let line = file.text().lines().nth(src.line.checked_sub(1)? as usize)?;
    Some((src.line, line.trim_end()))
}

/// What `packet` meets at `hook` in `rb`, as text (see the module docs).
pub fn explain_hook(
    rb: &Readback,
    name: &str,
    hook: Hook,
    packet: &Packet,
    files: &[Arc<SourceFile>],
) -> String {
    let o: Outcome = evaluate(&rb.ruleset, hook, packet);
    let mut out = String::new();
    let how = match o.chains.last() {
        None => " (no base chain sees the packet)".to_owned(),
        Some(c) if c.decided_by == DecidedBy::Policy => " (by a chain's policy)".to_owned(),
        Some(_) => " (by a rule)".to_owned(),
    };
    let _ = writeln!(
        out,
        "{name}, hook {}: {}{how}",
        hook.keyword(),
        decision_text(&o.decision)
    );
    for c in &o.chains {
        let t = &rb.ruleset.tables[c.table];
        let chain = &t.chains[c.chain.0];
        let spec = match chain.kind {
            ChainKind::Base { ty, priority, .. } => {
                format!("{}, priority {priority}", ty.keyword())
            }
            ChainKind::Regular => String::new(),
        };
        let by = match &c.decided_by {
            DecidedBy::Policy => "its policy (no rule decided)".to_owned(),
            DecidedBy::Rule(r) => {
                format!("rule {} of chain {}", r.rule + 1, t.chains[r.chain.0].name)
            }
        };
        let _ = writeln!(
            out,
            "  base chain {} {} {} ({spec}): {} by {by}",
            t.family,
            t.name,
            chain.name,
            decision_text(&c.decision)
        );
    }
    if o.trace.is_empty() {
        out.push_str("  rules hit: none\n");
    } else {
        out.push_str("  rules hit:\n");
        for r in &o.trace {
            let _ = writeln!(out, "    {}", rb.describe(r.table, r.chain, r.rule));
            if let Some((n, line)) = source_line(files, &r.provenance) {
                let _ = writeln!(out, "      {n:>4} | {line}");
            }
        }
    }
    let nat = o
        .nat
        .map(|n| Statement::Nat(n).to_string())
        .unwrap_or_else(|| "none".into());
    let _ = writeln!(out, "  NAT: {nat}");
    out
}

/// Runs `fwc explain`; returns the exit code.
pub fn run(args: &ExplainArgs) -> u8 {
    let spec = match parse_packet(&args.packet) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("fwc explain: --packet: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let files = match crate::pipeline::load_paths(&args.inputs) {
        Ok(f) => f,
        Err(d) => {
            crate::cli::print_diagnostics(&d, crate::cli::MessageFormat::Human);
            return EXIT_BAD_INPUT;
        }
    };
    let mut out = String::new();
    if spec.packet.family().is_none() {
        out.push_str("note: the packet has no address, so ip, ip6 and inet tables do not see it\n");
    }
    let mut sides: Vec<Side> = Vec::new();
    for t in &args.target {
        let side = Side::of(*t);
        if !sides.contains(&side) {
            sides.push(side);
        }
    }
    for side in sides {
        let rb = match side.compile(&files, args.layout) {
            Ok(rb) => rb,
            Err(code) => return code,
        };
        let hooks = match spec.hook {
            Some(h) => vec![h],
            None => packets::hooks(&[&rb.ruleset]),
        };
        if hooks.is_empty() {
            let _ = writeln!(
                out,
                "{}: no base chains, so every packet is accepted",
                side.name()
            );
        }
        for h in hooks {
            out.push_str(&explain_hook(&rb, side.name(), h, &spec.packet, &files));
        }
    }
    print!("{out}");
    EXIT_OK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_round_trip_through_their_words() {
        let spec =
            parse_packet("hook input iif virbr0 ip saddr 192.168.122.5 tcp dport 443").unwrap();
        assert_eq!(spec.hook, Some(Hook::Input));
        let p = &spec.packet;
        assert_eq!(p.iif.as_deref(), Some("virbr0"));
        assert_eq!(p.proto, Some(L4Proto::Tcp));
        assert_eq!((p.sport, p.dport), (Some(DEFAULT_SPORT), Some(443)));
        assert!(p.ct.new);
        let text = packet_text(p);
        assert_eq!(text, "iif virbr0 ip saddr 192.168.122.5 tcp dport 443");
        assert_eq!(parse_packet(&text).unwrap().packet, *p);

        let q = parse_packet(
            "iifname \"eth0\" oif virbr0 ip6 daddr 2001:db8::5 udp sport 53 ct state established meta l4proto udp",
        )
        .unwrap()
        .packet;
        assert_eq!(parse_packet(&packet_text(&q)).unwrap().packet, q);
        assert!(q.ct.established && !q.ct.new);
        assert_eq!(q.ether_type, Some(0x86dd), "framed as its family");
        let arp = parse_packet("iif vnet0 ether type 0x0806").unwrap().packet;
        assert_eq!(arp.ether_type, Some(0x0806));
        assert_eq!(packet_text(&arp), "iif vnet0 ether type 0x0806");
    }

    #[test]
    fn bad_packets_say_why() {
        for (text, why) in [
            ("ip saddr 10.0.0.1 ip6 daddr ::1", "mixes IPv4 and IPv6"),
            ("tcp dport 80 udp sport 53", "both tcp and udp"),
            ("hook sideways", "unknown hook"),
            ("iif virbr0 frobnicate 3", "at 'frobnicate 3'"),
            ("ip saddr 300.1.1.1", "not an address"),
            ("icmp dport 3", "icmp has no ports"),
            ("ct state new,established", "one conntrack state"),
        ] {
            let e = parse_packet(text).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
        }
    }
}
