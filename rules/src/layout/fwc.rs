//! fwc's own layout: libvirt's policy in one declarative `inet fwc` table.
//!
//! The rules are those of libvirt's iptables backend (including the host's
//! DHCP, DNS and TFTP accepts, which libvirt's nft backend leaves out and so
//! breaks DHCP on hosts whose input policy drops), written as one ruleset in
//! run-time order instead of a sequence of inserts. Interfaces are matched by
//! name: fwc's artifacts are built ahead of time and may be loaded before the
//! bridges exist, and an index match would also go stale when a bridge is
//! recreated. Being an `inet` table, the bridge-wide forwarding rules cover
//! IPv6 too, even for networks libvirt gives no IPv6 rules; such networks
//! have no IPv6 subnet, so their guests have nothing to forward over IPv6.
//!
//! The lowering is deliberately flat: one rule per rule of libvirt's policy,
//! per network, in evaluation order, so that it can be read against libvirt's
//! and checked by the evaluator. What keeps the cost per packet independent of
//! the number of networks is the optimiser (`compiler::passes`, on by
//! default): it folds the per-bridge host rules into a few rules over named
//! sets of bridges, the `iifname`/`oifname` pairs of `guest_cross` into one
//! `iifname . oifname` verdict map, and the rest into a chain per bridge (or
//! per masqueraded subnet in `postrouting`) behind a named verdict map, so
//! that every chain has a constant number of rules and one network's elements
//! can be added or removed on their own.

use ir::{
    ChainId, ChainKind, ChainType, Family, Field, Hook, L4Proto, Ownership, Provenance, RejectKind,
    Rule, Ruleset, Statement, Table, Verdict,
};

use super::matches::{daddr, daddr_not, dport, iface, l4proto, related_established, saddr};
use super::policy::{origin, Plan, Subnet, Treatment};
use super::LowerError;
use crate::network::Network;

/// Chains of the `fwc` table.
struct Chains {
    input: ChainId,
    output: ChainId,
    cross: ChainId,
    guest_input: ChainId,
    guest_output: ChainId,
    postrouting: Option<ChainId>,
    mangle: Option<ChainId>,
}

/// Lowers networks into fwc's `inet fwc` table. Networks in modes libvirt
/// does not firewall add nothing; if none is left, the ruleset is empty.
pub fn lower(networks: &[Network]) -> Result<Ruleset, LowerError> {
    let plans = Plan::all(networks)?;
    let mut rs = Ruleset::default();
    if plans.is_empty() {
        return Ok(rs);
    }
    let needs_nat = plans
        .iter()
        .flat_map(|p| &p.subnets)
        .any(|s| matches!(s.treatment, Treatment::Masquerade(_)));
    let needs_checksum = plans.iter().any(|p| p.dhcp_v4().is_some());
    let t = rs.table_mut(Family::Inet, &name("fwc"), Ownership::Owned);
    let chains = declare(t, needs_nat, needs_checksum);
    for plan in &plans {
        network(t, &chains, plan);
    }
    Ok(rs)
}

fn name(text: &str) -> ir::Name {
    ir::Name::new(text).expect("fwc's chain names are valid identifiers")
}

fn base(hook: Hook, ty: ChainType, priority: i32) -> ChainKind {
    ChainKind::accepting(hook, ty, priority)
}

/// The chains, and the dispatch from `forward` to the guest chains.
fn declare(t: &mut Table, nat: bool, checksum: bool) -> Chains {
    let mut chain = |n: &str, kind| t.add_chain(name(n), kind, Ownership::Owned);
    let input = chain("input", base(Hook::Input, ChainType::Filter, 0));
    let output = chain("output", base(Hook::Output, ChainType::Filter, 0));
    let forward = chain("forward", base(Hook::Forward, ChainType::Filter, 0));
    let cross = chain("guest_cross", ChainKind::Regular);
    let guest_input = chain("guest_input", ChainKind::Regular);
    let guest_output = chain("guest_output", ChainKind::Regular);
    let postrouting =
        nat.then(|| chain("postrouting", base(Hook::Postrouting, ChainType::Nat, 100)));
    // Mangle priority, where iptables' CHECKSUM target runs.
    let mangle = checksum.then(|| {
        chain(
            "mangle_postrouting",
            base(Hook::Postrouting, ChainType::Filter, -150),
        )
    });
    let dispatch = [cross, guest_input, guest_output].map(|c| {
        Rule::new(
            Provenance::Layout("fwc's forward chain enters the guest chains"),
            Vec::new(),
            Some(Verdict::Jump(c)),
        )
    });
    t.chain_mut(forward).rules.extend(dispatch);
    Chains {
        input,
        output,
        cross,
        guest_input,
        guest_output,
        postrouting,
        mangle,
    }
}

fn network(t: &mut Table, chains: &Chains, plan: &Plan) {
    host_access(t, chains, plan);
    let br = plan.bridge;
    let from = plan.forward_origin();
    let reject = Some(Verdict::Reject(RejectKind::Default));
    let mut push = |chain, rule| t.chain_mut(chain).rules.push(rule);

    push(
        chains.cross,
        Rule::new(
            from.clone(),
            vec![iface(Field::IifName, br), iface(Field::OifName, br)],
            Some(Verdict::Accept),
        ),
    );
    for subnet in &plan.subnets {
        push(chains.guest_output, outbound(plan, subnet));
    }
    push(
        chains.guest_output,
        Rule::new(
            from.clone(),
            vec![iface(Field::IifName, br)],
            reject.clone(),
        ),
    );
    for subnet in &plan.subnets {
        push(chains.guest_input, inbound(plan, subnet));
    }
    push(
        chains.guest_input,
        Rule::new(from, vec![iface(Field::OifName, br)], reject),
    );
    if let Some(postrouting) = chains.postrouting {
        for subnet in &plan.subnets {
            for rule in nat(plan, subnet) {
                push(postrouting, rule);
            }
        }
    }
    if let (Some(mangle), Some(ip)) = (chains.mangle, plan.dhcp_v4()) {
        push(
            mangle,
            Rule::new(
                origin(&ip.source),
                vec![iface(Field::OifName, br), dport(L4Proto::Udp, 68)],
                None,
            )
            .with(Statement::ChecksumFill),
        );
    }
}

/// What the host's dnsmasq needs: DHCP and DNS always (as libvirt's iptables
/// backend does), TFTP if configured, DNS and DHCPv6 on an IPv6 subnet. One
/// rule covers both families in an `inet` table.
fn host_access(t: &mut Table, chains: &Chains, plan: &Plan) {
    let from = plan.network_origin();
    let tftp = plan.tftp_v4().map(|ip| origin(&ip.source));
    let v6 = plan.has_v6_ip();
    let tcp_udp = [L4Proto::Tcp, L4Proto::Udp];
    let mut services: Vec<(bool, L4Proto, u16, &Provenance)> = Vec::new();
    for (inbound, port) in [(true, 67), (false, 68), (true, 53), (false, 53)] {
        services.extend(tcp_udp.map(|p| (inbound, p, port, &from)));
    }
    if let Some(tftp) = &tftp {
        services.push((true, L4Proto::Udp, 69, tftp));
        services.push((false, L4Proto::Udp, 69, tftp));
    }
    if v6 {
        services.push((true, L4Proto::Udp, 547, &from));
        services.push((false, L4Proto::Udp, 546, &from));
    }
    for (inbound, proto, port, from) in services {
        let (chain, field) = if inbound {
            (chains.input, Field::IifName)
        } else {
            (chains.output, Field::OifName)
        };
        t.chain_mut(chain).rules.push(Rule::new(
            from.clone(),
            vec![iface(field, plan.bridge), dport(proto, port)],
            Some(Verdict::Accept),
        ));
    }
}

/// Guests of the subnet may leave through the bridge (and the forward device).
fn outbound(plan: &Plan, subnet: &Subnet) -> Rule {
    let mut matches = vec![saddr(subnet.net), iface(Field::IifName, plan.bridge)];
    matches.extend(plan.dev.map(|d| iface(Field::OifName, d)));
    Rule::new(subnet.origin(), matches, Some(Verdict::Accept))
}

/// Traffic may reach the subnet: replies only when it is masqueraded,
/// anything when it is routed.
fn inbound(plan: &Plan, subnet: &Subnet) -> Rule {
    let mut matches: Vec<_> = plan
        .dev
        .map(|d| iface(Field::IifName, d))
        .into_iter()
        .collect();
    matches.extend([iface(Field::OifName, plan.bridge), daddr(subnet.net)]);
    if matches!(subnet.treatment, Treatment::Masquerade(_)) {
        matches.push(related_established());
    }
    Rule::new(subnet.origin(), matches, Some(Verdict::Accept))
}

/// Source NAT of a masqueraded subnet, in libvirt's run-time order: the
/// broadcast/multicast exemptions, tcp and udp with the port range, then
/// everything else.
fn nat(plan: &Plan, subnet: &Subnet) -> Vec<Rule> {
    let Treatment::Masquerade(pair) = &subnet.treatment else {
        return Vec::new();
    };
    let net = subnet.net;
    let out_dev: Vec<_> = plan
        .dev
        .map(|d| iface(Field::OifName, d))
        .into_iter()
        .collect();
    let rule = |mut matches: Vec<_>, verdict| {
        matches.extend(out_dev.iter().cloned());
        Rule::new(subnet.origin(), matches, verdict)
    };
    let mut rules: Vec<Rule> = subnet
        .nat_exempt()
        .into_iter()
        .rev()
        .map(|exempt| rule(vec![saddr(net), daddr(exempt)], Some(Verdict::Return)))
        .collect();
    for proto in [L4Proto::Tcp, L4Proto::Udp] {
        rules.push(
            rule(vec![l4proto(proto), saddr(net), daddr_not(net)], None)
                .with(Statement::Nat(pair.ported.clone())),
        );
    }
    rules.push(
        rule(vec![saddr(net), daddr_not(net)], None).with(Statement::Nat(pair.plain.clone())),
    );
    rules
}

#[cfg(test)]
mod tests;
