//! libvirt's iptables backend (`network_iptables.c`), one family at a time.
//!
//! libvirt runs the same code for `iptables` and `ip6tables`; a ruleset here
//! holds one family's half: the built-in tables `filter`, `nat` and `mangle`
//! (external, only rules are added to them) with libvirt's private
//! `LIBVIRT_*` chains hooked into the built-in chains. iptables matches
//! interfaces by name, so every interface is an `IifName`/`OifName` match.

use ir::{
    ChainId, ChainKind, ChainType, Family, Field, Hook, IpFamily, L4Proto, Ownership, RejectKind,
    Rule, Ruleset, Statement, Table, Verdict,
};

use super::{link, name, At, Inserts};
use crate::layout::matches::{daddr, daddr_not, dport, iface, l4proto, related_established, saddr};
use crate::layout::policy::{origin, Plan, Subnet, Treatment};

/// libvirt's private chains of one family.
#[derive(Debug, Clone, Copy)]
struct Chains {
    inp: At,
    out: At,
    fwo: At,
    fwi: At,
    fwx: At,
    nat_prt: At,
    mangle_prt: At,
}

pub(super) fn lower(plans: &[Plan], family: Family) -> Ruleset {
    let ip = match family {
        Family::Ip6 => IpFamily::V6,
        _ => IpFamily::V4,
    };
    let mut rs = Ruleset::default();
    let chains = base(&mut rs, family);
    let mut out = Inserts::new(rs);
    for plan in plans {
        network(&mut out, chains, plan, ip);
    }
    out.finish()
}

fn builtin(t: &mut Table, chain: &str, hook: Hook, ty: ChainType, priority: i32) -> ChainId {
    t.add_chain(
        name(chain),
        ChainKind::accepting(hook, ty, priority),
        Ownership::External,
    )
}

fn private(t: &mut Table, chain: &str) -> ChainId {
    t.add_chain(name(chain), ChainKind::Regular, Ownership::Owned)
}

const WHY: &str = "libvirt's built-in chains enter its private chains";

/// The tables and chains of `base.iptables`, for one family.
fn base(rs: &mut Ruleset, family: Family) -> Chains {
    let filter = rs.tables.len();
    let t = rs.table_mut(family, &name("filter"), Ownership::External);
    let input = builtin(t, "INPUT", Hook::Input, ChainType::Filter, 0);
    let output = builtin(t, "OUTPUT", Hook::Output, ChainType::Filter, 0);
    let forward = builtin(t, "FORWARD", Hook::Forward, ChainType::Filter, 0);
    let inp = private(t, "LIBVIRT_INP");
    let out = private(t, "LIBVIRT_OUT");
    let fwo = private(t, "LIBVIRT_FWO");
    let fwi = private(t, "LIBVIRT_FWI");
    let fwx = private(t, "LIBVIRT_FWX");
    link(t, input, &[inp], false, WHY);
    link(t, output, &[out], false, WHY);
    link(t, forward, &[fwx, fwi, fwo], false, WHY);

    let nat = rs.tables.len();
    let t = rs.table_mut(family, &name("nat"), Ownership::External);
    // iptables' NAT and mangle priorities (NF_IP_PRI_NAT_SRC, NF_IP_PRI_MANGLE).
    let postrouting = builtin(t, "POSTROUTING", Hook::Postrouting, ChainType::Nat, 100);
    let nat_prt = private(t, "LIBVIRT_PRT");
    link(t, postrouting, &[nat_prt], false, WHY);

    let mangle = rs.tables.len();
    let t = rs.table_mut(family, &name("mangle"), Ownership::External);
    let postrouting = builtin(t, "POSTROUTING", Hook::Postrouting, ChainType::Filter, -150);
    let mangle_prt = private(t, "LIBVIRT_PRT");
    link(t, postrouting, &[mangle_prt], false, WHY);

    let at = |table, chain| At { table, chain };
    Chains {
        inp: at(filter, inp),
        out: at(filter, out),
        fwo: at(filter, fwo),
        fwi: at(filter, fwi),
        fwx: at(filter, fwx),
        nat_prt: at(nat, nat_prt),
        mangle_prt: at(mangle, mangle_prt),
    }
}

/// One network's commands for `family`, in `networkAddFirewallRules`' order
/// with the other family's commands left out.
fn network(out: &mut Inserts, chains: Chains, plan: &Plan, family: IpFamily) {
    match family {
        IpFamily::V4 => general_v4(out, chains, plan),
        IpFamily::V6 if plan.ipv6 => general_v6(out, chains, plan),
        IpFamily::V6 => {}
    }
    for subnet in plan.subnets.iter().filter(|s| s.family == family) {
        per_ip(out, chains, plan, subnet);
    }
    // A second transaction in libvirt (errors ignored), after everything else.
    if family == IpFamily::V4 {
        if let Some(ip) = plan.dhcp_v4() {
            out.insert(
                chains.mangle_prt,
                Rule::new(
                    origin(&ip.source),
                    vec![iface(Field::OifName, plan.bridge), dport(L4Proto::Udp, 68)],
                    None,
                )
                .with(Statement::ChecksumFill),
            );
        }
    }
}

/// Host access from the bridge: accept `port` of each protocol in
/// `LIBVIRT_INP` (inbound) or `LIBVIRT_OUT` (outbound).
fn host_accepts(
    out: &mut Inserts,
    chains: Chains,
    plan: &Plan,
    from: &ir::Provenance,
    inbound: bool,
    protos: &[L4Proto],
    port: u16,
) {
    let (at, field) = if inbound {
        (chains.inp, Field::IifName)
    } else {
        (chains.out, Field::OifName)
    };
    for &proto in protos {
        out.insert(
            at,
            Rule::new(
                from.clone(),
                vec![iface(field, plan.bridge), dport(proto, port)],
                Some(Verdict::Accept),
            ),
        );
    }
}

const TCP_UDP: [L4Proto; 2] = [L4Proto::Tcp, L4Proto::Udp];

/// DHCP and DNS (unconditionally), TFTP, then the bridge-wide forwarding rules.
fn general_v4(out: &mut Inserts, chains: Chains, plan: &Plan) {
    let from = plan.network_origin();
    host_accepts(out, chains, plan, &from, true, &TCP_UDP, 67);
    host_accepts(out, chains, plan, &from, false, &TCP_UDP, 68);
    host_accepts(out, chains, plan, &from, true, &TCP_UDP, 53);
    host_accepts(out, chains, plan, &from, false, &TCP_UDP, 53);
    if let Some(ip) = plan.tftp_v4() {
        let tftp = origin(&ip.source);
        host_accepts(out, chains, plan, &tftp, true, &[L4Proto::Udp], 69);
        host_accepts(out, chains, plan, &tftp, false, &[L4Proto::Udp], 69);
    }
    forwarding(out, chains, plan);
}

/// The bridge-wide forwarding rules, then DNS and DHCPv6 if the network has
/// an IPv6 address for dnsmasq to serve on.
fn general_v6(out: &mut Inserts, chains: Chains, plan: &Plan) {
    forwarding(out, chains, plan);
    if plan.has_v6_ip() {
        let from = plan.network_origin();
        host_accepts(out, chains, plan, &from, true, &TCP_UDP, 53);
        host_accepts(out, chains, plan, &from, false, &TCP_UDP, 53);
        host_accepts(out, chains, plan, &from, true, &[L4Proto::Udp], 547);
        host_accepts(out, chains, plan, &from, false, &[L4Proto::Udp], 546);
    }
}

/// Guests may talk to each other; nothing else in or out unless a subnet
/// rule accepted it first.
fn forwarding(out: &mut Inserts, chains: Chains, plan: &Plan) {
    let br = plan.bridge;
    let from = plan.forward_origin();
    let reject = Some(Verdict::Reject(RejectKind::Default));
    out.insert(
        chains.fwo,
        Rule::new(
            from.clone(),
            vec![iface(Field::IifName, br)],
            reject.clone(),
        ),
    );
    out.insert(
        chains.fwi,
        Rule::new(from.clone(), vec![iface(Field::OifName, br)], reject),
    );
    out.insert(
        chains.fwx,
        Rule::new(
            from,
            vec![iface(Field::IifName, br), iface(Field::OifName, br)],
            Some(Verdict::Accept),
        ),
    );
}

/// The masquerade or routing set of one `<ip>`.
fn per_ip(out: &mut Inserts, chains: Chains, plan: &Plan, subnet: &Subnet) {
    let br = plan.bridge;
    let net = subnet.net;
    let from = subnet.origin();
    let rule = |matches, verdict| Rule::new(from.clone(), matches, verdict);
    let out_dev = plan.dev.map(|d| iface(Field::OifName, d));
    let in_dev = plan.dev.map(|d| iface(Field::IifName, d));

    let mut outbound = vec![saddr(net), iface(Field::IifName, br)];
    outbound.extend(out_dev.clone());
    out.insert(chains.fwo, rule(outbound, Some(Verdict::Accept)));

    let mut inbound = vec![daddr(net)];
    inbound.extend(in_dev);
    inbound.push(iface(Field::OifName, br));
    let nat = match &subnet.treatment {
        Treatment::Route => {
            out.insert(chains.fwi, rule(inbound, Some(Verdict::Accept)));
            return;
        }
        Treatment::Masquerade(nat) => nat,
    };
    inbound.push(related_established());
    out.insert(chains.fwi, rule(inbound, Some(Verdict::Accept)));

    let mut plain = vec![saddr(net), daddr_not(net)];
    plain.extend(out_dev.clone());
    out.insert(
        chains.nat_prt,
        rule(plain, None).with(Statement::Nat(nat.plain.clone())),
    );
    for proto in [L4Proto::Udp, L4Proto::Tcp] {
        let mut ported = vec![saddr(net), l4proto(proto), daddr_not(net)];
        ported.extend(out_dev.clone());
        out.insert(
            chains.nat_prt,
            rule(ported, None).with(Statement::Nat(nat.ported.clone())),
        );
    }
    for exempt in subnet.nat_exempt() {
        let mut matches: Vec<_> = out_dev.clone().into_iter().collect();
        matches.extend([saddr(net), daddr(exempt)]);
        out.insert(chains.nat_prt, rule(matches, Some(Verdict::Return)));
    }
}
