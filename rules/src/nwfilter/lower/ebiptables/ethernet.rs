//! The ebtables part: table `nat`, a port's root chains and sub-chains, and
//! the rules of the ethernet-layer elements.
//!
//! A rule with direction `out` (from the guest) goes to `libvirt-I-IF` (or
//! its sub-chain `I-IF-CHAIN`) as written; `in` goes to `libvirt-O-IF` as
//! written; `inout` goes to both, the from-guest copy with sources and
//! destinations swapped (MACs, addresses, ports, ARP fields). Reject drops
//! (ebtables has no REJECT). The chains keep ebtables' default policy,
//! ACCEPT ([`ir::Chain::end_policy`]), as libvirt leaves it.

use std::collections::BTreeMap;

use ir::{
    ArpField, ChainId, ChainKind as IrChainKind, ChainType, Family, Field, Hook, Ifname, IpFamily,
    Match, Notation, Ownership, Policy, Provenance, Rule, Ruleset, Spelling, StpField, Table,
    Value, Verdict,
};

use super::fields::{address, bounds, compare, int, ip_protocol, mac, range};
use super::ip::port_matches;
use super::order::{self, Ordered, SubChain};
use super::{name, verdict, Port, Sequence};
use crate::layout::LowerError;
use crate::nwfilter::lower::l2_fields::{EtherAddrs, IpFields, MacAttrs};
use crate::nwfilter::value::{MacAddr, MacMask};
use crate::nwfilter::{
    Attr, ChainKind, Concrete, Direction, InstantiatedRule, Layer, ProtocolMatch,
};

/// Where STP frames go (`NWFILTER_MAC_BGA`).
const BRIDGE_GROUP: MacAddr = MacAddr([0x01, 0x80, 0xc2, 0x00, 0x00, 0x00]);

/// The ebtables part of the ports' rules; empty when no port has
/// ethernet-layer rules.
pub(super) fn lower(ports: &[Port]) -> Result<Ruleset, LowerError> {
    let mut rs = Ruleset::default();
    let t = rs.table_mut(
        Family::Bridge,
        &ir::Name::new("nat").expect("a valid name"),
        Ownership::External,
    );
    let builtin = |t: &mut Table, chain: &str, hook, priority| {
        t.add_chain(
            ir::Name::new(chain).expect("a valid name"),
            IrChainKind::accepting(hook, ChainType::Filter, priority),
            Ownership::External,
        )
    };
    // The bridge family's NAT priorities (NF_BR_PRI_NAT_DST_BRIDGED, _SRC).
    let entry = Entry {
        prerouting: builtin(t, "PREROUTING", Hook::Prerouting, -300),
        postrouting: builtin(t, "POSTROUTING", Hook::Postrouting, 300),
    };
    let mut seq = Sequence::default();
    let mut any = false;
    for port in ports {
        any |= lower_port(t, entry, &mut seq, port)?;
    }
    if !any {
        return Ok(Ruleset::default());
    }
    seq.finish(t, Spelling::Ethernet);
    Ok(rs)
}

/// The built-in chains that enter a port's root chains.
#[derive(Debug, Clone, Copy)]
struct Entry {
    prerouting: ChainId,
    postrouting: ChainId,
}

/// One port's chains and rules; false if it has no ethernet-layer rules.
fn lower_port(
    t: &mut Table,
    entry: Entry,
    seq: &mut Sequence,
    port: &Port,
) -> Result<bool, LowerError> {
    let ordered = order::sort(
        port.rules
            .iter()
            .filter(|r| r.rule.protocol.layer() == Layer::Ethernet),
    );
    if ordered.is_empty() {
        return Ok(false);
    }
    let has = |d: Direction| ordered.iter().any(|o| o.rule.rule.direction == d);
    let mut chains = Chains {
        ifname: port.ifname.clone(),
        at: port.source.clone(),
        from_guest: None,
        to_guest: None,
        subs: BTreeMap::new(),
    };
    if has(Direction::Out) || has(Direction::InOut) {
        chains.from_guest = Some(chains.root(t, seq, true)?);
    }
    if has(Direction::In) || has(Direction::InOut) {
        chains.to_guest = Some(chains.root(t, seq, false)?);
    }
    let subs = order::sub_chains(&ordered);
    let mut next = 0;
    for o in &ordered {
        while next < subs.len() && subs[next].priority <= o.priority {
            chains.sub(t, seq, &subs[next])?;
            next += 1;
        }
        instance(t, seq, &mut chains, o)?;
    }
    for sub in &subs[next..] {
        chains.sub(t, seq, sub)?;
    }
    let link = |field, ifname: &Ifname| vec![Match::eq(field, Value::Ifname(ifname.clone()))];
    let source = Provenance::Input(port.source.clone());
    if let Some(root) = chains.from_guest {
        let rule = Rule::new(
            source.clone(),
            link(Field::IifName, &port.ifname),
            Some(Verdict::Jump(root)),
        );
        seq.append(t, entry.prerouting, rule);
    }
    if let Some(root) = chains.to_guest {
        let rule = Rule::new(
            source,
            link(Field::OifName, &port.ifname),
            Some(Verdict::Jump(root)),
        );
        seq.append(t, entry.postrouting, rule);
    }
    Ok(true)
}

/// A port's chains, created as the rules need them.
struct Chains {
    ifname: Ifname,
    at: ir::Source,
    from_guest: Option<ChainId>,
    to_guest: Option<ChainId>,
    /// Sub-chains by (from the guest, filter chain).
    subs: BTreeMap<(bool, String), ChainId>,
}

impl Chains {
    /// Creates the chain `final_name`, built as `staging`, with ebtables'
    /// default policy (ACCEPT), as the sequence's next command.
    fn create(
        &self,
        t: &mut Table,
        seq: &mut Sequence,
        final_name: &str,
        staging: &str,
    ) -> Result<ChainId, LowerError> {
        let id = t.add_chain(
            name(final_name, &self.at)?,
            IrChainKind::Regular,
            Ownership::Owned,
        );
        let c = t.chain_mut(id);
        c.staging = Some(name(staging, &self.at)?);
        c.end_policy = Some(Policy::Accept);
        seq.create(id);
        Ok(id)
    }

    /// `libvirt-I-IF` (built as `libvirt-J-IF`) or `libvirt-O-IF` (`-P-`).
    fn root(
        &self,
        t: &mut Table,
        seq: &mut Sequence,
        from_guest: bool,
    ) -> Result<ChainId, LowerError> {
        let (fin, tmp) = prefixes(from_guest);
        let ifname = &self.ifname;
        self.create(
            t,
            seq,
            &format!("libvirt-{fin}-{ifname}"),
            &format!("libvirt-{tmp}-{ifname}"),
        )
    }

    /// Creates a sub-chain and the jump into it from its root chain, which
    /// selects the chain's protocol.
    fn sub(
        &mut self,
        t: &mut Table,
        seq: &mut Sequence,
        sub: &SubChain,
    ) -> Result<ChainId, LowerError> {
        let key = (sub.from_guest, sub.chain.as_str().to_owned());
        if let Some(id) = self.subs.get(&key) {
            return Ok(*id);
        }
        let root = if sub.from_guest {
            self.from_guest
        } else {
            self.to_guest
        }
        .expect("a direction's sub-chains come with its root chain");
        let (fin, tmp) = prefixes(sub.from_guest);
        let ifname = &self.ifname;
        let chain = sub.chain.as_str();
        let id = self.create(
            t,
            seq,
            &format!("{fin}-{ifname}-{chain}"),
            &format!("{tmp}-{ifname}-{chain}"),
        )?;
        let ether = |v: u64| {
            vec![Match::eq(
                Field::EtherType,
                int(v, Notation::Hex { width: 4 }),
            )]
        };
        let matches = match sub.chain.kind() {
            ChainKind::Root | ChainKind::Mac => Vec::new(),
            ChainKind::Stp => vec![Match::eq(Field::EtherDaddr, Value::Mac(BRIDGE_GROUP))],
            ChainKind::Vlan => ether(0x8100),
            ChainKind::Arp => ether(0x0806),
            ChainKind::Rarp => ether(0x8035),
            ChainKind::Ipv4 => ether(0x0800),
            ChainKind::Ipv6 => ether(0x86dd),
        };
        let jump = Rule::new(
            Provenance::Layout(
                "libvirt's jump from a port's chain into a filter chain's sub-chain",
            ),
            matches,
            Some(Verdict::Jump(id)),
        );
        seq.append(t, root, jump);
        self.subs.insert(key, id);
        Ok(id)
    }

    /// The chain a rule of `r`'s filter chain goes to in one direction.
    fn of(
        &mut self,
        t: &mut Table,
        seq: &mut Sequence,
        r: &InstantiatedRule,
        from_guest: bool,
    ) -> Result<ChainId, LowerError> {
        if r.chain.is_root() {
            let root = if from_guest {
                self.from_guest
            } else {
                self.to_guest
            };
            return Ok(root.expect("a rule's direction has its root chain"));
        }
        // Created in priority order before the rule, unless two filters
        // give one chain name different priorities; then now.
        let sub = SubChain {
            chain: r.chain.clone(),
            priority: r.chain_priority,
            from_guest,
        };
        self.sub(t, seq, &sub)
    }
}

/// The final and the temporary letter of a direction's chains.
fn prefixes(from_guest: bool) -> (char, char) {
    if from_guest {
        ('I', 'J')
    } else {
        ('O', 'P')
    }
}

/// One rule instance: its copies for the directions it has.
fn instance(
    t: &mut Table,
    seq: &mut Sequence,
    chains: &mut Chains,
    o: &Ordered<'_>,
) -> Result<(), LowerError> {
    let r = o.rule;
    let dir = r.rule.direction;
    let copies = [
        (matches!(dir, Direction::Out | Direction::InOut), true),
        (matches!(dir, Direction::In | Direction::InOut), false),
    ];
    for (wanted, from_guest) in copies {
        if !wanted {
            continue;
        }
        // The from-guest copy of an inout rule has its ends swapped.
        let reverse = from_guest && dir == Direction::InOut;
        let chain = chains.of(t, seq, r, from_guest)?;
        let mut rule = Rule::new(
            Provenance::Input(r.rule.source.clone()),
            matches(r, reverse)?,
            verdict(r.rule.action, Verdict::Drop),
        );
        rule.comment = super::ip::comment(&r.rule.protocol, &r.rule.source)?;
        seq.append(t, chain, rule);
    }
    Ok(())
}

/// A field, or its counterpart at the other end when `reverse`.
fn end(reverse: bool, field: Field, other: Field) -> Field {
    if reverse {
        other
    } else {
        field
    }
}

/// The ethernet header: source and destination MAC under their masks.
fn ether_header(out: &mut Vec<Match>, (src, dst): (MacAttrs<'_>, MacAttrs<'_>), reverse: bool) {
    let (s, d) = (Field::EtherSaddr, Field::EtherDaddr);
    for ((addr, mask), field) in [(src, end(reverse, s, d)), (dst, end(reverse, d, s))] {
        if let Some(a) = addr {
            out.push(compare(
                field,
                a.negated,
                mac(a.value, mask.as_ref().map(|m| m.value)),
            ));
        }
    }
}

/// The rule's matches in ebtables' (and libvirt's) order.
fn matches(r: &InstantiatedRule, reverse: bool) -> Result<Vec<Match>, LowerError> {
    let at = &r.rule.source;
    let mut out = Vec::new();
    let hex = Notation::Hex { width: 0 };
    match &r.rule.protocol {
        ProtocolMatch::Empty => {}
        ProtocolMatch::Mac(m) => {
            ether_header(&mut out, m.ether_addrs(), reverse);
            if let Some(p) = &m.protocolid {
                out.push(compare(
                    Field::EtherType,
                    p.negated,
                    int(p.value.0.into(), hex),
                ));
            }
        }
        ProtocolMatch::Vlan(m) => {
            ether_header(&mut out, m.ether_addrs(), reverse);
            out.push(Match::eq(Field::EtherType, int(0x8100, hex)));
            if let Some(a) = &m.vlanid {
                let v = int(a.value.value().into(), Notation::Decimal);
                out.push(compare(Field::VlanId, a.negated, v));
            }
            if let Some(a) = &m.encap_protocol {
                let v = int(a.value.0.into(), Notation::Decimal);
                out.push(compare(Field::VlanEtherType, a.negated, v));
            }
        }
        ProtocolMatch::Stp(m) => stp(&mut out, m, reverse, at)?,
        ProtocolMatch::Arp(m) | ProtocolMatch::Rarp(m) => {
            let ether = if matches!(r.rule.protocol, ProtocolMatch::Arp(_)) {
                0x0806
            } else {
                0x8035
            };
            arp(&mut out, m, ether, reverse);
        }
        ProtocolMatch::Ip(m) => {
            ether_header(&mut out, m.ether_addrs(), reverse);
            out.push(Match::eq(Field::EtherType, int(0x0800, Notation::Name)));
            ip_fields(&mut out, &m.ip_fields(), reverse, at)?;
            if let Some(d) = &m.dscp {
                out.push(compare(
                    Field::Dscp(IpFamily::V4),
                    d.negated,
                    int(d.value.value().into(), hex),
                ));
            }
        }
        ProtocolMatch::Ipv6(m) => {
            ether_header(&mut out, m.ether_addrs(), reverse);
            out.push(Match::eq(Field::EtherType, int(0x86dd, Notation::Name)));
            ip_fields(&mut out, &m.ip_fields(), reverse, at)?;
            icmpv6(&mut out, m, at)?;
        }
        _ => {
            return Err(LowerError {
                at: at.clone(),
                message: "not an ethernet-layer element (a bug in fwc's lowering)".into(),
            })
        }
    }
    Ok(out)
}

/// The addresses, protocol and ports of an `ip` or `ipv6` element.
fn ip_fields(
    out: &mut Vec<Match>,
    f: &IpFields<'_>,
    reverse: bool,
    at: &ir::Source,
) -> Result<(), LowerError> {
    let (s, d) = (Field::Saddr(f.family), Field::Daddr(f.family));
    for (a, field) in [(&f.src, end(reverse, s, d)), (&f.dst, end(reverse, d, s))] {
        if let Some(a) = a {
            out.push(compare(field, a.negated, address(a.addr, a.prefix, at)?));
        }
    }
    if let Some(p) = f.protocol {
        out.push(compare(
            Field::IpProto(f.family),
            p.negated,
            ip_protocol(p.value),
        ));
    }
    let proto = f.protocol.and_then(|p| p.value.l4proto());
    let (sports, dports) = (
        bounds(f.sports.0, f.sports.1),
        bounds(f.dports.0, f.dports.1),
    );
    port_matches(out, proto, [&sports, &dports], reverse, at)?;
    Ok(())
}

/// `--ip6-icmp-type T1:T2/C1:C2`: a type range and a code range; a missing
/// part matches every value.
fn icmpv6(
    out: &mut Vec<Match>,
    m: &crate::nwfilter::Ipv6Match<Concrete>,
    at: &ir::Source,
) -> Result<(), LowerError> {
    let part = |start: &Option<Attr<u8>>, stop: &Option<Attr<u8>>| -> Option<(u64, u64)> {
        match (start, stop) {
            (None, None) => None,
            (Some(s), None) => Some((s.value.into(), s.value.into())),
            (s, Some(e)) => Some((s.as_ref().map_or(0, |s| s.value.into()), e.value.into())),
        }
    };
    let types = part(&m.icmp_type, &m.icmp_type_end);
    let codes = part(&m.icmp_code, &m.icmp_code_end);
    // libvirt negates the whole option by the type's inversion.
    let negated = m.icmp_type.as_ref().is_some_and(|t| t.negated);
    if negated && types.is_some() && codes.is_some() {
        return Err(LowerError {
            at: at.clone(),
            message: "a negated ICMPv6 type with a code cannot be expressed here".into(),
        });
    }
    for (part, field) in [
        (types, Field::IcmpType(IpFamily::V6)),
        (codes, Field::IcmpCode(IpFamily::V6)),
    ] {
        if let Some((lo, hi)) = part {
            out.push(compare(field, negated, range(lo, Some(hi), at)?));
        }
    }
    Ok(())
}

/// An `arp` or `rarp` element.
fn arp(out: &mut Vec<Match>, m: &crate::nwfilter::ArpMatch<Concrete>, ether: u64, reverse: bool) {
    let hex = Notation::Hex { width: 0 };
    ether_header(out, m.ether_addrs(), reverse);
    out.push(Match::eq(Field::EtherType, int(ether, hex)));
    if let Some(a) = &m.hwtype {
        out.push(compare(
            Field::Arp(ArpField::HwType),
            a.negated,
            int(a.value.into(), Notation::Decimal),
        ));
    }
    if let Some(a) = &m.opcode {
        out.push(compare(
            Field::Arp(ArpField::Opcode),
            a.negated,
            int(a.value.0.into(), Notation::Decimal),
        ));
    }
    if let Some(a) = &m.protocoltype {
        out.push(compare(
            Field::Arp(ArpField::ProtoType),
            a.negated,
            int(a.value.into(), hex),
        ));
    }
    // libvirt prints /32 without a mask, and (a quirk kept here) a
    // destination without a mask takes the source's.
    let mut mask = None;
    let ips = [
        (&m.arpsrcipaddr, &m.arpsrcipmask, ArpField::SenderIp),
        (&m.arpdstipaddr, &m.arpdstipmask, ArpField::TargetIp),
    ];
    for (addr, addr_mask, field) in ips {
        if let Some(a) = addr {
            if let Some(m) = addr_mask {
                mask = Some(m.value.prefix_len());
            }
            let net = ipnet::Ipv4Net::new(a.value, mask.unwrap_or(32))
                .expect("an IPv4 mask is at most 32 bits");
            out.push(compare(
                Field::Arp(arp_end(reverse, field)),
                a.negated,
                Value::Prefix(net.into()),
            ));
        }
    }
    let macs = [
        (&m.arpsrcmacaddr, ArpField::SenderMac),
        (&m.arpdstmacaddr, ArpField::TargetMac),
    ];
    for (addr, field) in macs {
        if let Some(a) = addr {
            out.push(compare(
                Field::Arp(arp_end(reverse, field)),
                a.negated,
                Value::Mac(a.value),
            ));
        }
    }
    if let Some(g) = &m.gratuitous {
        if g.value {
            out.push(compare(
                Field::Arp(ArpField::Gratuitous),
                g.negated,
                Value::Bool(true),
            ));
        }
    }
}

/// An ARP sender field, or the target's when `reverse` (and back).
fn arp_end(reverse: bool, field: ArpField) -> ArpField {
    match (reverse, field) {
        (true, ArpField::SenderIp) => ArpField::TargetIp,
        (true, ArpField::TargetIp) => ArpField::SenderIp,
        (true, ArpField::SenderMac) => ArpField::TargetMac,
        (true, ArpField::TargetMac) => ArpField::SenderMac,
        (_, f) => f,
    }
}

/// An `stp` element: BPDUs to the bridge group address.
fn stp(
    out: &mut Vec<Match>,
    m: &crate::nwfilter::StpMatch<Concrete>,
    reverse: bool,
    at: &ir::Source,
) -> Result<(), LowerError> {
    if reverse && m.srcmacaddr.is_some() {
        return Err(LowerError {
            at: at.clone(),
            message: "STP filtering in inout direction with source MAC address set is not \
                      supported (libvirt refuses it too)"
                .into(),
        });
    }
    let dst: MacAttrs<'_> = (&None, &None);
    ether_header(out, ((&m.srcmacaddr, &m.srcmacmask), dst), reverse);
    out.push(Match::eq(Field::EtherDaddr, Value::Mac(BRIDGE_GROUP)));
    let single = |field: StpField, a: &Option<Attr<u8>>, out: &mut Vec<Match>| {
        if let Some(a) = a {
            out.push(compare(
                Field::Stp(field),
                a.negated,
                int(a.value.into(), Notation::Decimal),
            ));
        }
    };
    single(StpField::Type, &m.stp_type, out);
    single(StpField::Flags, &m.flags, out);
    let ranged = |field: StpField, b: Option<(Attr<u64>, Option<u64>)>| {
        b.map(|(first, last)| {
            Ok(compare(
                Field::Stp(field),
                first.negated,
                range(first.value, last, at)?,
            ))
        })
        .transpose()
    };
    let address = |field: StpField, a: &Option<Attr<MacAddr>>, mask: &Option<Attr<MacMask>>| {
        a.as_ref().map(|a| {
            compare(
                Field::Stp(field),
                a.negated,
                mac(a.value, mask.as_ref().map(|m| m.value)),
            )
        })
    };
    let fields = [
        ranged(
            StpField::RootPriority,
            bounds(&m.root_priority, &m.root_priority_hi),
        )?,
        address(StpField::RootAddress, &m.root_address, &m.root_address_mask),
        ranged(StpField::RootCost, bounds(&m.root_cost, &m.root_cost_hi))?,
        ranged(
            StpField::SenderPriority,
            bounds(&m.sender_priority, &m.sender_priority_hi),
        )?,
        address(
            StpField::SenderAddress,
            &m.sender_address,
            &m.sender_address_mask,
        ),
        ranged(StpField::Port, bounds(&m.port, &m.port_hi))?,
        ranged(StpField::MessageAge, bounds(&m.age, &m.age_hi))?,
        ranged(StpField::MaxAge, bounds(&m.max_age, &m.max_age_hi))?,
        ranged(StpField::HelloTime, bounds(&m.hello_time, &m.hello_time_hi))?,
        ranged(
            StpField::ForwardDelay,
            bounds(&m.forward_delay, &m.forward_delay_hi),
        )?,
    ];
    out.extend(fields.into_iter().flatten());
    Ok(())
}
