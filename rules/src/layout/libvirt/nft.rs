//! libvirt's nftables backend (`network_nftables.c`).
//!
//! Tables `ip libvirt_network` and `ip6 libvirt_network`, each with a
//! `forward` base chain dispatching to `guest_cross`, `guest_input` and
//! `guest_output`, and a `guest_nat` postrouting chain. The bridge is matched
//! by index (`iif`/`oif`, libvirt adds the rules after creating it), the
//! forward device by name. libvirt's tc checksum fix is a `ChecksumFill`
//! rule in `guest_nat`, which the nft emitter turns into its tc commands.

use ir::{
    ChainKind, ChainType, Family, Field, Hook, IpFamily, L4Proto, Ownership, RejectKind, Rule,
    Ruleset, Statement, Verdict,
};

use super::{link, name, At, Inserts};
use crate::layout::matches::{daddr, daddr_not, dport, iface, l4proto, related_established, saddr};
use crate::layout::policy::{Plan, Subnet, Treatment};

/// The chains of one `libvirt_network` table.
#[derive(Debug, Clone, Copy)]
struct Chains {
    output: At,
    input: At,
    cross: At,
    nat: At,
}

/// Both tables: IPv4 first, as libvirt creates them.
struct Base {
    v4: Chains,
    v6: Chains,
}

impl Base {
    fn of(&self, family: IpFamily) -> Chains {
        match family {
            IpFamily::V4 => self.v4,
            IpFamily::V6 => self.v6,
        }
    }
}

pub(super) fn lower(plans: &[Plan]) -> Ruleset {
    let mut rs = Ruleset::default();
    let base = Base {
        v4: table(&mut rs, Family::Ip),
        v6: table(&mut rs, Family::Ip6),
    };
    let mut out = Inserts::new(rs);
    for plan in plans {
        network(&mut out, &base, plan);
    }
    out.finish()
}

/// One `libvirt_network` table as `base.nftables` creates it.
fn table(rs: &mut Ruleset, family: Family) -> Chains {
    let index = rs.tables.len();
    let t = rs.table_mut(family, &name("libvirt_network"), Ownership::Owned);
    let forward = t.add_chain(
        name("forward"),
        ChainKind::accepting(Hook::Forward, ChainType::Filter, 0),
        Ownership::Owned,
    );
    let output = t.add_chain(name("guest_output"), ChainKind::Regular, Ownership::Owned);
    let input = t.add_chain(name("guest_input"), ChainKind::Regular, Ownership::Owned);
    let cross = t.add_chain(name("guest_cross"), ChainKind::Regular, Ownership::Owned);
    let nat = t.add_chain(
        name("guest_nat"),
        ChainKind::accepting(Hook::Postrouting, ChainType::Nat, 100),
        Ownership::Owned,
    );
    link(
        t,
        forward,
        &[cross, input, output],
        true,
        "libvirt's forward chain enters the guest chains",
    );
    let at = |chain| At {
        table: index,
        chain,
    };
    Chains {
        output: at(output),
        input: at(input),
        cross: at(cross),
        nat: at(nat),
    }
}

/// One network's commands, in `networkAddFirewallRules`' order.
fn network(out: &mut Inserts, base: &Base, plan: &Plan) {
    let br = plan.bridge;
    // tc comes first in libvirt's files; the emitter prints this rule as the
    // qdisc and filter commands, so it must be the network's first insert.
    out.insert(
        base.v4.nat,
        Rule::new(
            plan.checksum_origin(),
            vec![iface(Field::Oif, br), dport(L4Proto::Udp, 68)],
            None,
        )
        .with(Statement::ChecksumFill),
    );
    general(out, base.v4, plan);
    if plan.ipv6 {
        general(out, base.v6, plan);
    }
    for subnet in &plan.subnets {
        per_ip(out, base.of(subnet.family), plan, subnet);
    }
}

/// Guests may talk to each other; nothing else in or out unless a subnet
/// rule accepted it first.
fn general(out: &mut Inserts, chains: Chains, plan: &Plan) {
    let br = plan.bridge;
    let from = plan.forward_origin();
    let counted =
        |matches, verdict| Rule::new(from.clone(), matches, Some(verdict)).with(Statement::Counter);
    out.insert(
        chains.output,
        counted(
            vec![iface(Field::Iif, br)],
            Verdict::Reject(RejectKind::Default),
        ),
    );
    out.insert(
        chains.input,
        counted(
            vec![iface(Field::Oif, br)],
            Verdict::Reject(RejectKind::Default),
        ),
    );
    out.insert(
        chains.cross,
        counted(
            vec![iface(Field::Iif, br), iface(Field::Oif, br)],
            Verdict::Accept,
        ),
    );
}

/// The masquerade or routing set of one `<ip>`.
fn per_ip(out: &mut Inserts, chains: Chains, plan: &Plan, subnet: &Subnet) {
    let br = plan.bridge;
    let net = subnet.net;
    let from = subnet.origin();
    let counted = |matches: Vec<_>, statement: Option<Statement>, verdict: Option<Verdict>| {
        let rule = Rule::new(from.clone(), matches, verdict).with(Statement::Counter);
        match statement {
            Some(s) => rule.with(s),
            None => rule,
        }
    };
    let out_dev = plan.dev.map(|d| iface(Field::OifName, d));
    let in_dev = plan.dev.map(|d| iface(Field::IifName, d));

    let mut outbound = vec![saddr(net), iface(Field::Iif, br)];
    outbound.extend(out_dev.clone());
    out.insert(
        chains.output,
        counted(outbound, None, Some(Verdict::Accept)),
    );

    let nat = match &subnet.treatment {
        Treatment::Route => {
            let mut inbound = vec![daddr(net)];
            inbound.extend(in_dev);
            inbound.push(iface(Field::Oif, br));
            out.insert(chains.input, counted(inbound, None, Some(Verdict::Accept)));
            return;
        }
        Treatment::Masquerade(nat) => nat,
    };

    let mut inbound: Vec<_> = in_dev.into_iter().collect();
    inbound.extend([iface(Field::Oif, br), daddr(net), related_established()]);
    out.insert(chains.input, counted(inbound, None, Some(Verdict::Accept)));

    let mut plain = vec![saddr(net), daddr_not(net)];
    plain.extend(out_dev.clone());
    out.insert(
        chains.nat,
        counted(plain, Some(Statement::Nat(nat.plain.clone())), None),
    );
    for proto in [L4Proto::Udp, L4Proto::Tcp] {
        let mut ported = vec![l4proto(proto), saddr(net), daddr_not(net)];
        ported.extend(out_dev.clone());
        out.insert(
            chains.nat,
            counted(ported, Some(Statement::Nat(nat.ported.clone())), None),
        );
    }
    for exempt in subnet.nat_exempt() {
        let mut matches: Vec<_> = out_dev.clone().into_iter().collect();
        matches.extend([saddr(net), daddr(exempt)]);
        out.insert(chains.nat, counted(matches, None, Some(Verdict::Return)));
    }
}
