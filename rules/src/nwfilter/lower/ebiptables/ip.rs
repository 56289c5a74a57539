//! The iptables/ip6tables part: table `filter`, libvirt's shared chains,
//! a port's `FI`/`FO`/`HI` chains, and the rules of the layer-3 elements.
//!
//! Each rule is instantiated three times (`_iptablesCreateRuleInstance`):
//! in `FI` (built as `FJ`: bridged from the guest) and `HI` (`HJ`: from the
//! guest to the host) in the rule's own sense, accepting with RETURN (the
//! chains are entered by `goto`, so RETURN ends the built-in chain's
//! traversal of libvirt's rules, past the jump, and the packet goes on);
//! and in `FO` (`FP`: to the guest) in the reverse sense, accepting with
//! ACCEPT. "In the reverse sense" for a rule of direction `out` means
//! sources and destinations swapped; a rule of direction `in` is written
//! in the reverse sense of `FI`/`HI` and as is in `FO` ([`Instance`]). Copies
//! drop their source MAC in the reverse sense; the state match, the
//! conntrack direction, ICMP types and `connlimit-above` decide which
//! copies exist at all.

use std::net::IpAddr;

use ir::{
    AddrRange, ChainId, ChainKind, ChainType, Comment, CtDirection, CtStates, Family, Field, Hook,
    IntRange, IpFamily, Match, Name, Notation, Ownership, Provenance, RejectKind, Rule, Ruleset,
    SetDir, Spelling, Table, Value, Verdict,
};

use super::fields::{address, bounds, compare, int, port_protocol, ports};
use super::order::{self, Ordered};
use super::{name, verdict, Port, Sequence};
use crate::layout::LowerError;
use crate::nwfilter::value::{
    IpsetDir, IpsetFlags, IpsetName, Ipv4Mask, Ipv6Mask, MacAddr, RuleComment, StateSet, TcpFlags,
};
use crate::nwfilter::{Action, Attr, Concrete, Direction, Layer, ProtocolMatch};

/// libvirt's chains shared by every port of one family.
#[derive(Debug, Clone, Copy)]
struct Shared {
    /// `libvirt-in`: bridged from the guests (`FORWARD`, first).
    from_guests: ChainId,
    /// `libvirt-out`: bridged to the guests (`FORWARD`, second).
    to_guests: ChainId,
    /// `libvirt-in-post`: accepts what the port chains let through.
    accepted: ChainId,
    /// `libvirt-host-in`: from the guests to the host (`INPUT`).
    to_host: ChainId,
}

/// One port's chains.
#[derive(Debug, Clone, Copy)]
struct PortChains {
    /// `FI-IF`, built as `FJ-IF`.
    from_guest: ChainId,
    /// `FO-IF`, built as `FP-IF`.
    to_guest: ChainId,
    /// `HI-IF`, built as `HJ-IF`.
    to_host: ChainId,
}

/// The iptables (`V4`) or ip6tables (`V6`) part of the ports' rules; empty
/// when no port has rules of that family.
pub(super) fn lower(ports: &[Port], fam: IpFamily) -> Result<Ruleset, LowerError> {
    let layer = match fam {
        IpFamily::V4 => Layer::Ipv4,
        IpFamily::V6 => Layer::Ipv6,
    };
    let per_port: Vec<(&Port, Vec<Ordered<'_>>)> = ports
        .iter()
        .map(|p| {
            let rules = p.rules.iter().filter(|r| r.rule.protocol.layer() == layer);
            (p, order::sort(rules))
        })
        .filter(|(_, ordered)| !ordered.is_empty())
        .collect();
    if per_port.is_empty() {
        return Ok(Ruleset::default());
    }
    let family = match fam {
        IpFamily::V4 => Family::Ip,
        IpFamily::V6 => Family::Ip6,
    };
    let mut rs = Ruleset::default();
    let t = rs.table_mut(family, &fixed("filter"), Ownership::External);
    let shared = shared_chains(t);
    let mut seq = Sequence::default();
    for (port, ordered) in per_port {
        let chains = port_chains(t, &mut seq, shared, port)?;
        for o in &ordered {
            for copy in copies(o, chains) {
                if let Some(rule) = instance(o, &copy, fam)? {
                    seq.append(t, copy.chain, rule);
                }
            }
        }
    }
    seq.finish(t, Spelling::Inet);
    Ok(rs)
}

/// A name fwc spells itself.
fn fixed(text: &str) -> Name {
    Name::new(text).expect("libvirt's fixed chain names are valid")
}

/// `INPUT`, `FORWARD` and libvirt's shared chains, entered from them in
/// libvirt's positions (`-I FORWARD 1 -j libvirt-in`, ...).
fn shared_chains(t: &mut Table) -> Shared {
    let builtin = |t: &mut Table, chain: &str, hook| {
        t.add_chain(
            fixed(chain),
            ChainKind::accepting(hook, ChainType::Filter, 0),
            Ownership::External,
        )
    };
    let input = builtin(t, "INPUT", Hook::Input);
    let forward = builtin(t, "FORWARD", Hook::Forward);
    let mut private = |chain: &str| t.add_chain(fixed(chain), ChainKind::Regular, Ownership::Owned);
    let shared = Shared {
        from_guests: private("libvirt-in"),
        to_guests: private("libvirt-out"),
        accepted: private("libvirt-in-post"),
        to_host: private("libvirt-host-in"),
    };
    const WHY: &str = "libvirt's nwfilter chains are entered from FORWARD and INPUT";
    let jump = |c| Rule::new(Provenance::Layout(WHY), Vec::new(), Some(Verdict::Jump(c)));
    t.chain_mut(forward).rules = vec![
        jump(shared.from_guests),
        jump(shared.to_guests),
        jump(shared.accepted),
    ];
    t.chain_mut(input).rules = vec![jump(shared.to_host)];
    shared
}

/// A port's `FO`, `FI` and `HI` chains (created in libvirt's order) and the
/// rules that enter them from the shared chains.
fn port_chains(
    t: &mut Table,
    seq: &mut Sequence,
    shared: Shared,
    port: &Port,
) -> Result<PortChains, LowerError> {
    let ifname = port.ifname.as_str();
    let mut create = |fin: &str, tmp: &str| -> Result<ChainId, LowerError> {
        let id = t.add_chain(
            name(&format!("{fin}-{ifname}"), &port.source)?,
            ChainKind::Regular,
            Ownership::Owned,
        );
        t.chain_mut(id).staging = Some(name(&format!("{tmp}-{ifname}"), &port.source)?);
        seq.create(id);
        Ok(id)
    };
    let to_guest = create("FO", "FP")?;
    let from_guest = create("FI", "FJ")?;
    let to_host = create("HI", "HJ")?;
    let dev = || Value::Ifname(port.ifname.clone());
    let source = || Provenance::Input(port.source.clone());
    let entries = [
        (
            shared.to_guests,
            vec![
                Match::eq(Field::PhysIsBridged, Value::Bool(true)),
                Match::eq(Field::PhysOut, dev()),
            ],
            Verdict::Goto(to_guest),
        ),
        (
            shared.from_guests,
            vec![Match::eq(Field::PhysIn, dev())],
            Verdict::Goto(from_guest),
        ),
        (
            shared.to_host,
            vec![Match::eq(Field::PhysIn, dev())],
            Verdict::Goto(to_host),
        ),
        (
            shared.accepted,
            vec![Match::eq(Field::PhysIn, dev())],
            Verdict::Accept,
        ),
    ];
    for (chain, matches, verdict) in entries {
        seq.append(t, chain, Rule::new(source(), matches, Some(verdict)));
    }
    Ok(PortChains {
        from_guest,
        to_guest,
        to_host,
    })
}

/// One of the three instances of a rule.
#[derive(Debug, Clone)]
struct Instance {
    chain: ChainId,
    /// libvirt's `directionIn`: the reverse sense (swapped ends, no source
    /// MAC, ipset directions swapped, reply direction).
    reverse: bool,
    /// What accept means in this chain.
    accept: Verdict,
    /// The state match, if any.
    state: Option<CtStates>,
    /// Whether the state is libvirt's implicit one (it then adds the
    /// conntrack direction, and leaves it out for non-accept actions).
    implicit: bool,
    /// Whether a rule with an ICMP type gives no instance here.
    skip_icmp_type: bool,
}

const ESTABLISHED: CtStates = CtStates {
    new: false,
    established: true,
    related: false,
    invalid: false,
    untracked: false,
};

const NEW_ESTABLISHED: CtStates = CtStates {
    new: true,
    ..ESTABLISHED
};

/// The instances of a rule, in libvirt's order (FJ, FP, HJ), before the
/// per-copy checks of [`instance`].
fn copies(o: &Ordered<'_>, c: PortChains) -> Vec<Instance> {
    let r = &o.rule.rule;
    let inout = r.direction == Direction::InOut;
    let dir_in = r.direction == Direction::In || inout;
    let explicit = match &r.protocol {
        p if r.statematch => state_attr(p),
        _ => None,
    };
    let copy = |chain, reverse, accept, state, implicit, skip_icmp_type| Instance {
        chain,
        reverse,
        accept,
        state,
        implicit,
        skip_icmp_type,
    };
    match explicit {
        // `state=` given: only the copies of the rule's own directions,
        // with that state and no conntrack direction.
        Some(st) => {
            let st = st.ct_states();
            let mut out = Vec::new();
            if !dir_in || inout {
                out.push(copy(
                    c.from_guest,
                    dir_in,
                    Verdict::Return,
                    st,
                    false,
                    dir_in || inout,
                ));
            }
            if dir_in {
                out.push(copy(
                    c.to_guest,
                    !dir_in,
                    Verdict::Accept,
                    st,
                    false,
                    !dir_in || inout,
                ));
            }
            if !dir_in || inout {
                out.push(copy(c.to_host, dir_in, Verdict::Return, st, false, dir_in));
            }
            out
        }
        None => {
            let implicit = !inout && r.statematch;
            let natural =
                |own: bool| implicit.then_some(if own { NEW_ESTABLISHED } else { ESTABLISHED });
            vec![
                copy(
                    c.from_guest,
                    dir_in,
                    Verdict::Return,
                    natural(!dir_in),
                    true,
                    dir_in || inout,
                ),
                copy(
                    c.to_guest,
                    !dir_in,
                    Verdict::Accept,
                    natural(dir_in),
                    true,
                    !dir_in || inout,
                ),
                copy(
                    c.to_host,
                    dir_in,
                    Verdict::Return,
                    natural(!dir_in),
                    true,
                    dir_in,
                ),
            ]
        }
    }
}

/// The attributes every layer-3 element has (libvirt's `COMMON_IP_PROPS`)
/// and those of some, family-independent.
#[derive(Debug, Default)]
struct L3 {
    srcmac: Option<Attr<MacAddr>>,
    src: Option<Addr>,
    dst: Option<Addr>,
    dscp: Option<Attr<u8>>,
    connlimit: Option<Attr<u16>>,
    ipset: Option<(Attr<IpsetName>, IpsetFlags)>,
    src_ports: Option<(Attr<u64>, Option<u64>)>,
    dst_ports: Option<(Attr<u64>, Option<u64>)>,
    flags: Option<Attr<TcpFlags>>,
    option: Option<Attr<u8>>,
    icmp: Option<(Attr<u8>, Option<u8>)>,
    /// The explicit `state` set, its inversion ignored.
    state: Option<StateSet>,
}

/// An address attribute: `srcipaddr` (with its mask), or the range of
/// `srcipfrom`/`srcipto`.
#[derive(Debug)]
enum Addr {
    Net(Attr<IpAddr>, Option<u8>),
    Range(Attr<IpAddr>, Option<IpAddr>),
}

/// A mask attribute's prefix length.
trait MaskLen {
    fn len(&self) -> u8;
}

impl MaskLen for Ipv4Mask {
    fn len(&self) -> u8 {
        self.prefix_len()
    }
}

impl MaskLen for Ipv6Mask {
    fn len(&self) -> u8 {
        self.prefix_len()
    }
}

fn addr<A: Copy + Into<IpAddr>, M: MaskLen>(
    addr: &Option<Attr<A>>,
    mask: &Option<Attr<M>>,
    from: &Option<Attr<A>>,
    to: &Option<Attr<A>>,
) -> Option<Addr> {
    let ip = |a: &Attr<A>| Attr {
        value: a.value.into(),
        negated: a.negated,
    };
    match (addr, from) {
        (Some(a), _) => Some(Addr::Net(ip(a), mask.as_ref().map(|m| m.value.len()))),
        (None, Some(f)) => Some(Addr::Range(ip(f), to.as_ref().map(|t| t.value.into()))),
        (None, None) => None,
    }
}

/// The common attributes of any layer-3 struct.
macro_rules! common {
    ($m:expr) => {{
        let m = $m;
        L3 {
            srcmac: m.srcmacaddr.clone(),
            src: addr(&m.srcipaddr, &m.srcipmask, &m.srcipfrom, &m.srcipto),
            dst: addr(&m.dstipaddr, &m.dstipmask, &m.dstipfrom, &m.dstipto),
            dscp: m.dscp.as_ref().map(|d| Attr {
                value: d.value.value(),
                negated: d.negated,
            }),
            connlimit: m.connlimit_above.clone(),
            state: m.state.as_ref().map(|s| s.value),
            ipset: match (&m.ipset, &m.ipsetflags) {
                (Some(s), Some(f)) => Some((s.clone(), f.value.clone())),
                _ => None,
            },
            ..L3::default()
        }
    }};
}

/// The ports of a struct with ports.
macro_rules! with_ports {
    ($l3:expr, $m:expr) => {{
        let mut l3 = $l3;
        let m = $m;
        l3.src_ports = bounds(&m.srcportstart, &m.srcportend);
        l3.dst_ports = bounds(&m.dstportstart, &m.dstportend);
        l3
    }};
}

/// The ICMP type and code (a code counts only with a type, as libvirt
/// prints it).
macro_rules! with_icmp {
    ($l3:expr, $m:expr) => {{
        let mut l3 = $l3;
        let m = $m;
        l3.icmp = m
            .icmp_type
            .clone()
            .map(|t| (t, m.icmp_code.as_ref().map(|c| c.value)));
        l3
    }};
}

/// A layer-3 element's attributes; `None` for ethernet elements.
fn l3(p: &ProtocolMatch<Concrete>) -> Option<L3> {
    Some(match p {
        ProtocolMatch::Tcp(m) => {
            let mut l3 = with_ports!(common!(m.as_ref()), m.as_ref());
            l3.flags = m.flags.clone();
            l3.option = m.option.clone();
            l3
        }
        ProtocolMatch::TcpIpv6(m) => {
            let mut l3 = with_ports!(common!(m.as_ref()), m.as_ref());
            l3.option = m.option.clone();
            l3
        }
        ProtocolMatch::Udp(m) | ProtocolMatch::Sctp(m) => {
            with_ports!(common!(m.as_ref()), m.as_ref())
        }
        ProtocolMatch::UdpIpv6(m) | ProtocolMatch::SctpIpv6(m) => {
            with_ports!(common!(m.as_ref()), m.as_ref())
        }
        ProtocolMatch::Icmp(m) => with_icmp!(common!(m.as_ref()), m.as_ref()),
        ProtocolMatch::Icmpv6(m) => with_icmp!(common!(m.as_ref()), m.as_ref()),
        ProtocolMatch::Igmp(m)
        | ProtocolMatch::Udplite(m)
        | ProtocolMatch::Esp(m)
        | ProtocolMatch::Ah(m)
        | ProtocolMatch::All(m) => common!(m.as_ref()),
        ProtocolMatch::UdpliteIpv6(m)
        | ProtocolMatch::EspIpv6(m)
        | ProtocolMatch::AhIpv6(m)
        | ProtocolMatch::AllIpv6(m) => common!(m.as_ref()),
        _ => return None,
    })
}

/// Source then destination port matches, swapped for the reversed copy;
/// `true` when any was written.
pub(super) fn port_matches(
    out: &mut Vec<Match>,
    l4: Option<ir::L4Proto>,
    [src, dst]: [&Option<(Attr<u64>, Option<u64>)>; 2],
    reverse: bool,
    at: &ir::Source,
) -> Result<bool, LowerError> {
    let mut any = false;
    for (p, from_src) in [(src, true), (dst, false)] {
        let Some((first, last)) = p else {
            continue;
        };
        let proto = port_protocol(l4, at)?;
        let field = if from_src != reverse {
            Field::Sport(proto)
        } else {
            Field::Dport(proto)
        };
        let value = ports(first.value as u16, last.map(|l| l as u16), at)?;
        out.push(compare(field, first.negated, value));
        any = true;
    }
    Ok(any)
}

/// The `state` attribute of a layer-3 element.
fn state_attr(p: &ProtocolMatch<Concrete>) -> Option<StateSet> {
    l3(p).and_then(|l3| l3.state)
}

/// The rule's `comment`, whichever element holds it.
pub(super) fn comment(
    p: &ProtocolMatch<Concrete>,
    at: &ir::Source,
) -> Result<Option<Comment>, LowerError> {
    let text: Option<&RuleComment> = p.comment().map(|c| &c.value);
    text.map(|t| {
        Comment::new(t.as_str()).map_err(|e| LowerError {
            at: at.clone(),
            message: e.to_string(),
        })
    })
    .transpose()
}

/// One instance of a rule, or `None` where libvirt gives none.
fn instance(o: &Ordered<'_>, copy: &Instance, fam: IpFamily) -> Result<Option<Rule>, LowerError> {
    let r = &o.rule.rule;
    let at = &r.source;
    let kind = r.protocol.kind().expect("layer-3 rules have an element");
    let attrs = l3(&r.protocol).ok_or_else(|| LowerError {
        at: at.clone(),
        message: "not a layer-3 element (a bug in fwc's lowering)".into(),
    })?;
    let rev = copy.reverse;
    let pick = |own: Field, other: Field| if rev { other } else { own };
    let l4 = kind.l4proto();
    // `-p PROTO` first; `all` is every protocol number.
    let proto = match l4 {
        Some(p) => Value::Proto(p),
        None => Value::Int(IntRange::new(0, 255).expect("an ordered range")),
    };
    let mut matches = vec![Match::eq(Field::L4Proto, proto)];
    // Whether anything but the source MAC follows `-p`: libvirt drops a
    // reverse copy that had only the source MAC to say.
    let mut specific = false;
    let mac_skipped = attrs.srcmac.is_some() && rev;
    if let (Some(m), false) = (&attrs.srcmac, rev) {
        matches.push(compare(Field::EtherSaddr, m.negated, Value::Mac(m.value)));
    }
    let ends = [
        (&attrs.src, Field::Saddr(fam), Field::Daddr(fam)),
        (&attrs.dst, Field::Daddr(fam), Field::Saddr(fam)),
    ];
    for (a, own, other) in ends {
        let field = pick(own, other);
        match a {
            Some(Addr::Net(ip, mask)) => {
                matches.push(compare(field, ip.negated, address(ip.value, *mask, at)?));
            }
            Some(Addr::Range(from, to)) => {
                let range = AddrRange::new(from.value, to.unwrap_or(from.value)).map_err(|e| {
                    LowerError {
                        at: at.clone(),
                        message: e.to_string(),
                    }
                })?;
                matches.push(compare(field, from.negated, Value::AddrRange(range)));
            }
            None => continue,
        }
        specific = true;
    }
    if let Some(d) = &attrs.dscp {
        matches.push(compare(
            Field::Dscp(fam),
            d.negated,
            int(d.value.into(), Notation::Decimal),
        ));
        specific = true;
    }
    // connlimit-above limits connections from the guest only.
    let mut skip_state = false;
    if attrs.connlimit.is_some() {
        if rev {
            return Ok(None);
        }
        skip_state = true;
    }
    if let Some(f) = &attrs.flags {
        let v = Value::TcpFlags {
            mask: ir::TcpFlagSet(f.value.mask),
            set: ir::TcpFlagSet(f.value.flags),
        };
        matches.push(compare(Field::TcpFlags, f.negated, v));
        specific = true;
    }
    let port_ends = [&attrs.src_ports, &attrs.dst_ports];
    specific |= port_matches(&mut matches, l4, port_ends, rev, at)?;
    if let Some(o) = &attrs.option {
        return Err(LowerError {
            at: at.clone(),
            message: format!(
                "the TCP option match (option='{}') cannot be expressed: fwc has no TCP \
                 option field",
                o.value
            ),
        });
    }
    let mut icmp_type = false;
    if let Some((t, code)) = &attrs.icmp {
        icmp_type = true;
        if copy.skip_icmp_type {
            return Ok(None);
        }
        if t.negated && code.is_some() {
            // `! --icmp-type T/C` negates the pair, which two matches
            // cannot say.
            return Err(LowerError {
                at: at.clone(),
                message: "a negated ICMP type with a code cannot be expressed here".into(),
            });
        }
        let value = |v: u8| int(v.into(), Notation::Decimal);
        matches.push(compare(Field::IcmpType(fam), t.negated, value(t.value)));
        if let Some(c) = code {
            matches.push(Match::eq(Field::IcmpCode(fam), value(*c)));
        }
        specific = true;
    }
    if mac_skipped && !specific {
        return Ok(None);
    }
    let verdict = match r.action {
        Action::Accept => Some(copy.accept.clone()),
        other => {
            // libvirt's implicit state applies to accepted traffic only.
            skip_state |= copy.implicit;
            verdict(other, Verdict::Reject(RejectKind::Default))
        }
    };
    if let (Some(st), false) = (copy.state, skip_state) {
        matches.push(Match::eq(Field::CtState, Value::CtStates(st)));
        if copy.implicit && !icmp_type {
            let dir = if rev {
                CtDirection::Reply
            } else {
                CtDirection::Original
            };
            matches.push(Match::eq(Field::CtDirection, Value::CtDir(dir)));
        }
    }
    if let Some((set, flags)) = &attrs.ipset {
        let flags = if rev { flags.swapped() } else { flags.clone() };
        let dirs = flags
            .dirs()
            .iter()
            .map(|d| match d {
                IpsetDir::Src => SetDir::Src,
                IpsetDir::Dst => SetDir::Dst,
            })
            .collect();
        let name = Name::new(set.value.as_str()).map_err(|e| LowerError {
            at: at.clone(),
            message: format!("ipset '{}' cannot be named in a rule: {e}", set.value),
        })?;
        matches.push(compare(
            Field::IpSet,
            set.negated,
            Value::IpSet { name, dirs },
        ));
    }
    if let Some(limit) = &attrs.connlimit {
        let above = IntRange::new(u64::from(limit.value) + 1, u32::MAX.into())
            .expect("a u16 limit is below u32::MAX");
        matches.push(compare(Field::ConnCount, limit.negated, Value::Int(above)));
    }
    let mut rule = Rule::new(Provenance::Input(at.clone()), matches, verdict);
    rule.comment = comment(&r.protocol, at)?;
    Ok(Some(rule))
}
