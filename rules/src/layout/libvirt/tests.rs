use ipnet::IpNet;
use ir::{
    validate, validate_with, AddrRange, CmpOp, Field, IpFamily, Limits, Nat, PortRange, Provenance,
    Rule, Ruleset, Statement, Value, Verdict,
};

use super::*;
use crate::layout::testing::*;
use crate::network::{ForwardMode, NatDef};

const BACKENDS: [Backend; 3] = [Backend::Nft, Backend::Iptables, Backend::Ip6tables];

/// Every Input rule as `(family table, chain, rule)`, in libvirt's emission order.
fn emitted(rs: &Ruleset) -> Vec<(String, String, &Rule)> {
    let mut rules: Vec<_> = rs
        .rules()
        .filter(|(_, _, r)| matches!(r.provenance, Provenance::Input(_)))
        .map(|(t, c, r)| (format!("{} {}", t.family, t.name), c.name.to_string(), r))
        .collect();
    rules.sort_by_key(|(_, _, r)| r.seq.expect("every input rule has a seq"));
    rules
}

fn chain_names(rs: &Ruleset, family: Family, table: &str) -> Vec<String> {
    rs.table(family, table)
        .unwrap()
        .chains
        .iter()
        .map(|c| c.name.to_string())
        .collect()
}

fn rules_of<'a>(rs: &'a Ruleset, family: Family, table: &str, chain: &str) -> &'a [Rule] {
    let t = rs.table(family, table).unwrap();
    &t.chain(t.chain_id(chain).unwrap()).rules
}

fn nats(rules: &[Rule]) -> Vec<&Nat> {
    rules.iter().filter_map(|r| r.nat()).collect()
}

fn net(text: &str) -> IpNet {
    text.parse().unwrap()
}

/// One network of every firewalled shape.
fn firewalled() -> Vec<Network> {
    let mut dev = nat_default();
    dev.forward.dev = Some(ifname("enp0s7"));
    let mut route = nat_ipv6(false);
    route.forward.mode = ForwardMode::Route;
    let mut isolated = nat_ipv6(false);
    isolated.forward.mode = ForwardMode::Isolated;
    let mut snat = nat_ipv6(true);
    snat.forward.nat.address =
        Some(AddrRange::new("10.0.0.1".parse().unwrap(), "10.0.0.9".parse().unwrap()).unwrap());
    snat.forward.nat.ports = Some(PortRange::new(500, 1000).unwrap());
    let mut v6_only = network(ForwardMode::Nat);
    v6_only.ipv6 = true;
    vec![
        nat_default(),
        nat_ipv6(false),
        nat_ipv6(true),
        dev,
        route,
        isolated,
        snat,
        v6_only,
    ]
}

#[test]
fn nat_default_nft_has_libvirts_tables_and_rule_counts() {
    let rs = lower(&[nat_default()], Backend::Nft).unwrap();
    assert_eq!(rs.tables.len(), 2);
    let chains = [
        "forward",
        "guest_output",
        "guest_input",
        "guest_cross",
        "guest_nat",
    ];
    for family in [Family::Ip, Family::Ip6] {
        assert_eq!(chain_names(&rs, family, "libvirt_network"), chains);
        let forward = rules_of(&rs, family, "libvirt_network", "forward");
        let targets: Vec<_> = forward
            .iter()
            .map(|r| match r.verdict {
                Some(Verdict::Jump(c)) => rs
                    .table(family, "libvirt_network")
                    .unwrap()
                    .chain(c)
                    .name
                    .to_string(),
                _ => panic!("forward holds only jumps"),
            })
            .collect();
        assert_eq!(targets, ["guest_cross", "guest_input", "guest_output"]);
        assert!(forward
            .iter()
            .all(|r| r.statements == [Statement::Counter] && r.seq.is_none()));
    }
    let count = |chain| rules_of(&rs, Family::Ip, "libvirt_network", chain).len();
    assert_eq!(
        chains.map(count),
        [3, 2, 2, 1, 6],
        "3 jumps; reject+accept out, reject+related in, cross; checksum+3 NAT+2 returns"
    );
    for chain in &chains[1..] {
        assert!(rules_of(&rs, Family::Ip6, "libvirt_network", chain).is_empty());
    }
}

#[test]
fn nft_emission_order_is_libvirts() {
    let rs = lower(&[nat_default()], Backend::Nft).unwrap();
    let order: Vec<_> = emitted(&rs).iter().map(|(_, c, _)| c.clone()).collect();
    assert_eq!(
        order,
        [
            "guest_nat",
            "guest_output",
            "guest_input",
            "guest_cross",
            "guest_output",
            "guest_input",
            "guest_nat",
            "guest_nat",
            "guest_nat",
            "guest_nat",
            "guest_nat"
        ]
    );
    let first = emitted(&rs)[0].2;
    assert_eq!(first.seq, Some(0));
    assert_eq!(first.statements, [Statement::ChecksumFill]);
    assert_eq!(first.verdict, None);
    assert_eq!(
        first.matches.iter().map(|m| m.field).collect::<Vec<_>>(),
        [Field::Oif, Field::Dport(ir::L4Proto::Udp)]
    );
    // Inserted first, so it runs last in guest_nat.
    let nat = rules_of(&rs, Family::Ip, "libvirt_network", "guest_nat");
    assert_eq!(nat.last().unwrap().statements, [Statement::ChecksumFill]);
}

#[test]
fn nft_matches_follow_libvirts_files() {
    let mut n = nat_default();
    n.forward.dev = Some(ifname("enp0s7"));
    let rs = lower(&[n], Backend::Nft).unwrap();
    let fields = |chain, i: usize| -> Vec<Field> {
        rules_of(&rs, Family::Ip, "libvirt_network", chain)[i]
            .matches
            .iter()
            .map(|m| m.field)
            .collect()
    };
    let v4 = IpFamily::V4;
    assert_eq!(
        fields("guest_output", 0),
        [Field::Saddr(v4), Field::Iif, Field::OifName]
    );
    assert_eq!(
        fields("guest_input", 0),
        [Field::IifName, Field::Oif, Field::Daddr(v4), Field::CtState]
    );
    // guest_nat in run-time order: multicast return first, generic masquerade last.
    assert_eq!(
        fields("guest_nat", 0),
        [Field::OifName, Field::Saddr(v4), Field::Daddr(v4)]
    );
    assert_eq!(
        fields("guest_nat", 2),
        [
            Field::L4Proto,
            Field::Saddr(v4),
            Field::Daddr(v4),
            Field::OifName
        ]
    );
    assert_eq!(
        fields("guest_nat", 4),
        [Field::Saddr(v4), Field::Daddr(v4), Field::OifName]
    );
    assert_eq!(
        rules_of(&rs, Family::Ip, "libvirt_network", "guest_nat")[4].matches[1].op,
        CmpOp::Ne
    );
}

#[test]
fn iptables_matches_follow_libvirts_files() {
    let mut n = nat_default();
    n.forward.dev = Some(ifname("enp0s7"));
    let rs = lower(&[n], Backend::Iptables).unwrap();
    let fields = |table, chain, i: usize| -> Vec<Field> {
        rules_of(&rs, Family::Ip, table, chain)[i]
            .matches
            .iter()
            .map(|m| m.field)
            .collect()
    };
    let v4 = IpFamily::V4;
    assert_eq!(
        fields("filter", "LIBVIRT_FWO", 0),
        [Field::Saddr(v4), Field::IifName, Field::OifName]
    );
    assert_eq!(
        fields("filter", "LIBVIRT_FWI", 0),
        [
            Field::Daddr(v4),
            Field::IifName,
            Field::OifName,
            Field::CtState
        ]
    );
    assert_eq!(
        fields("nat", "LIBVIRT_PRT", 2),
        [
            Field::Saddr(v4),
            Field::L4Proto,
            Field::Daddr(v4),
            Field::OifName
        ]
    );
    assert_eq!(
        fields("nat", "LIBVIRT_PRT", 0),
        [Field::OifName, Field::Saddr(v4), Field::Daddr(v4)]
    );
    assert!(rs
        .rules()
        .all(|(_, _, r)| !r.statements.contains(&Statement::Counter)));
}

#[test]
fn iptables_base_has_builtins_and_private_chains() {
    let rs = lower(&[nat_default()], Backend::Iptables).unwrap();
    let tables: Vec<_> = rs
        .tables
        .iter()
        .map(|t| (t.family, t.name.to_string(), t.ownership))
        .collect();
    assert_eq!(
        tables,
        ["filter", "nat", "mangle"].map(|n| (Family::Ip, n.to_string(), ir::Ownership::External))
    );
    assert_eq!(
        chain_names(&rs, Family::Ip, "filter"),
        [
            "INPUT",
            "OUTPUT",
            "FORWARD",
            "LIBVIRT_INP",
            "LIBVIRT_OUT",
            "LIBVIRT_FWO",
            "LIBVIRT_FWI",
            "LIBVIRT_FWX"
        ]
    );
    let filter = rs.table(Family::Ip, "filter").unwrap();
    let forward: Vec<_> = rules_of(&rs, Family::Ip, "filter", "FORWARD")
        .iter()
        .map(|r| match r.verdict {
            Some(Verdict::Jump(c)) => filter.chain(c).name.to_string(),
            _ => panic!("FORWARD holds only jumps"),
        })
        .collect();
    assert_eq!(forward, ["LIBVIRT_FWX", "LIBVIRT_FWI", "LIBVIRT_FWO"]);
    for t in &rs.tables {
        for c in &t.chains {
            let builtin = c.name.as_str().chars().all(|ch| ch.is_ascii_uppercase());
            assert_eq!(
                c.ownership == ir::Ownership::External,
                builtin,
                "{}",
                c.name
            );
        }
    }
    let v6 = lower(&[nat_default()], Backend::Ip6tables).unwrap();
    assert!(v6.tables.iter().all(|t| t.family == Family::Ip6));
    assert_eq!(v6.tables.len(), 3);
    assert_eq!(emitted(&v6).len(), 0, "no IPv6 in nat-default: base only");
}

#[test]
fn every_shape_validates_on_every_backend() {
    for n in firewalled() {
        for b in BACKENDS {
            let rs = lower(std::slice::from_ref(&n), b).unwrap();
            let limits = if b == Backend::Nft {
                Limits::NFT
            } else {
                Limits::XTABLES
            };
            assert_eq!(validate_with(&rs, limits), Ok(()), "{b:?}\n{rs}");
        }
    }
    let rs = lower(&firewalled(), Backend::Nft).unwrap();
    assert_eq!(validate(&rs), Ok(()));
}

#[test]
fn seq_decreases_within_chains_and_counts_every_command() {
    let networks = firewalled();
    for b in BACKENDS {
        let rs = lower(&networks, b).unwrap();
        for t in &rs.tables {
            for c in &t.chains {
                let seqs: Vec<_> = c.rules.iter().filter_map(|r| r.seq).collect();
                assert!(
                    seqs.windows(2).all(|w| w[0] > w[1]),
                    "{b:?} {}: {seqs:?}",
                    c.name
                );
            }
        }
        let mut all: Vec<_> = rs.rules().filter_map(|(_, _, r)| r.seq).collect();
        all.sort();
        assert_eq!(all, (0..all.len() as u32).collect::<Vec<_>>(), "{b:?}");
        assert!(rs
            .rules()
            .all(|(_, _, r)| r.seq.is_some() == matches!(r.provenance, Provenance::Input(_))));
    }
}

#[test]
fn unfirewalled_modes_give_an_empty_ruleset() {
    for mode in [
        ForwardMode::Open,
        ForwardMode::Bridge,
        ForwardMode::Private,
        ForwardMode::Vepa,
        ForwardMode::Passthrough,
        ForwardMode::Hostdev,
    ] {
        let mut n = nat_ipv6(true);
        n.forward.mode = mode;
        n.bridge = None;
        for b in BACKENDS {
            assert_eq!(
                lower(std::slice::from_ref(&n), b).unwrap(),
                Ruleset::default(),
                "{mode:?}"
            );
        }
    }
    assert_eq!(lower(&[], Backend::Nft).unwrap(), Ruleset::default());
}

#[test]
fn missing_bridge_is_an_error_at_the_network() {
    for mode in [ForwardMode::Nat, ForwardMode::Route, ForwardMode::Isolated] {
        let mut n = nat_default();
        n.forward.mode = mode;
        n.bridge = None;
        for b in BACKENDS {
            let e = lower(&[nat_default(), n.clone()], b).unwrap_err();
            assert_eq!(e.at, n.source);
            assert!(e.message.contains("<bridge name="), "{}", e.message);
        }
    }
}

#[test]
fn snat_address_applies_to_its_own_family_only() {
    let mut n = nat_ipv6(true);
    let addr = AddrRange::new("10.0.0.1".parse().unwrap(), "10.0.0.9".parse().unwrap()).unwrap();
    n.forward.nat.address = Some(addr);
    let ports = Some(NatDef::DEFAULT_PORTS);
    for b in [Backend::Nft, Backend::Iptables] {
        let (table, chain) = if b == Backend::Nft {
            ("libvirt_network", "guest_nat")
        } else {
            ("nat", "LIBVIRT_PRT")
        };
        let rs = lower(std::slice::from_ref(&n), b).unwrap();
        assert_eq!(
            nats(rules_of(&rs, Family::Ip, table, chain)),
            [
                &Nat::Snat { addr, ports },
                &Nat::Snat { addr, ports },
                &Nat::Snat { addr, ports: None }
            ]
        );
    }
    for (b, table, chain) in [
        (Backend::Nft, "libvirt_network", "guest_nat"),
        (Backend::Ip6tables, "nat", "LIBVIRT_PRT"),
    ] {
        let rs = lower(std::slice::from_ref(&n), b).unwrap();
        assert_eq!(
            nats(rules_of(&rs, Family::Ip6, table, chain)),
            [
                &Nat::Masquerade { ports },
                &Nat::Masquerade { ports },
                &Nat::Masquerade { ports: None }
            ]
        );
    }
}

#[test]
fn nat_port_range_replaces_the_default() {
    let mut n = nat_default();
    let ports = Some(PortRange::new(500, 1000).unwrap());
    n.forward.nat.ports = ports;
    let rs = lower(&[n], Backend::Nft).unwrap();
    assert_eq!(
        nats(rules_of(&rs, Family::Ip, "libvirt_network", "guest_nat")),
        [
            &Nat::Masquerade { ports },
            &Nat::Masquerade { ports },
            &Nat::Masquerade { ports: None }
        ]
    );
}

#[test]
fn ipv6_subnet_is_routed_unless_nat_ipv6() {
    let v6 = net("2001:db8:ca2:2::/64");
    let routed = lower(&[nat_ipv6(false)], Backend::Nft).unwrap();
    assert!(nats(rules_of(
        &routed,
        Family::Ip6,
        "libvirt_network",
        "guest_nat"
    ))
    .is_empty());
    let input = rules_of(&routed, Family::Ip6, "libvirt_network", "guest_input");
    assert_eq!(input.len(), 2);
    assert_eq!(
        input[0].matches[0],
        ir::Match::eq(Field::Daddr(IpFamily::V6), Value::Prefix(v6))
    );
    assert!(input[0].matches.iter().all(|m| m.field != Field::CtState));

    let masq = lower(&[nat_ipv6(true)], Backend::Nft).unwrap();
    let nat = rules_of(&masq, Family::Ip6, "libvirt_network", "guest_nat");
    assert_eq!(nats(nat).len(), 3);
    // One exemption for IPv6: link-local multicast, no broadcast.
    let returns: Vec<_> = nat
        .iter()
        .filter(|r| r.verdict == Some(Verdict::Return))
        .collect();
    assert_eq!(returns.len(), 1);
    assert_eq!(returns[0].matches[1].value, Value::Prefix(net("ff02::/16")));

    let v6tables = lower(&[nat_ipv6(true)], Backend::Ip6tables).unwrap();
    assert_eq!(
        nats(rules_of(&v6tables, Family::Ip6, "nat", "LIBVIRT_PRT")).len(),
        3
    );
    let inp = rules_of(&v6tables, Family::Ip6, "filter", "LIBVIRT_INP");
    let ports: Vec<_> = inp
        .iter()
        .rev()
        .map(|r| r.matches[1].value.to_string())
        .collect();
    assert_eq!(
        ports,
        ["53", "53", "547"],
        "DNS and DHCPv6 for an IPv6 <ip>"
    );
}

#[test]
fn route_mode_has_no_nat() {
    let mut n = nat_ipv6(false);
    n.forward.mode = ForwardMode::Route;
    for b in BACKENDS {
        let rs = lower(std::slice::from_ref(&n), b).unwrap();
        assert!(rs.rules().all(|(_, _, r)| r.nat().is_none()), "{b:?}");
        let accepts = rs
            .rules()
            .filter(|(_, c, r)| {
                matches!(c.name.as_str(), "guest_input" | "LIBVIRT_FWI")
                    && r.verdict == Some(Verdict::Accept)
            })
            .count();
        assert_eq!(accepts, if b == Backend::Nft { 2 } else { 1 }, "{b:?}");
    }
}

#[test]
fn isolated_mode_has_general_rules_only() {
    let mut n = nat_ipv6(false);
    n.forward.mode = ForwardMode::Isolated;
    let rs = lower(std::slice::from_ref(&n), Backend::Nft).unwrap();
    // checksum + 3 general IPv4 + 3 general IPv6.
    assert_eq!(emitted(&rs).len(), 7);
    let rs = lower(&[n], Backend::Iptables).unwrap();
    let last = emitted(&rs).last().unwrap().2.clone();
    assert_eq!(last.statements, [Statement::ChecksumFill]);
    assert_eq!(emitted(&rs).len(), 8 + 3 + 1);
}

#[test]
fn iptables_checksum_needs_ipv4_dhcp_and_tftp_needs_the_dhcp_ip() {
    let mut n = nat_default();
    n.ips[0].dhcp = false;
    let rs = lower(std::slice::from_ref(&n), Backend::Iptables).unwrap();
    assert!(rules_of(&rs, Family::Ip, "mangle", "LIBVIRT_PRT").is_empty());
    // nft adds its tc fix regardless.
    let rs = lower(std::slice::from_ref(&n), Backend::Nft).unwrap();
    assert_eq!(emitted(&rs)[0].2.statements, [Statement::ChecksumFill]);
    assert_eq!(
        emitted(&rs)[0].2.provenance,
        Provenance::Input(n.source.clone())
    );

    let tftp_ports = |n: &Network| {
        let rs = lower(std::slice::from_ref(n), Backend::Iptables).unwrap();
        rules_of(&rs, Family::Ip, "filter", "LIBVIRT_INP")
            .iter()
            .filter(|r| r.matches[1].value.to_string() == "69")
            .count()
    };
    let mut tftp = nat_default();
    tftp.ips[0].tftp_root = Some("/srv/tftp".into());
    assert_eq!(tftp_ports(&tftp), 1);
    // A TFTP root behind the first DHCP <ip> is not looked at.
    let mut later = nat_default();
    let mut second = ip("192.168.128.1/24", false, 9);
    second.tftp_root = Some("/srv/tftp".into());
    later.ips.push(second);
    assert_eq!(tftp_ports(&later), 0);
}

#[test]
fn networks_share_one_base_and_continue_the_sequence() {
    let mut second = nat_default();
    second.bridge = Some(ifname("virbr1"));
    second.ips = vec![ip("192.168.150.1/24", false, 20)];
    second.source = src("network", 15);
    let one = lower(&[nat_default()], Backend::Nft).unwrap();
    let two = lower(&[nat_default(), second], Backend::Nft).unwrap();
    assert_eq!(two.tables.len(), 2);
    let n1 = emitted(&one).len();
    let rules = emitted(&two);
    assert_eq!(rules.len(), 2 * n1);
    assert_eq!(
        rules[n1].2.matches[0].value,
        Value::Ifname(ifname("virbr1"))
    );
    // The later network's rules are inserted in front of the earlier one's.
    let output = rules_of(&two, Family::Ip, "libvirt_network", "guest_output");
    assert_eq!(
        output[0].matches[0].value,
        Value::Prefix(net("192.168.150.0/24"))
    );
}

#[test]
fn provenance_names_the_element() {
    let rs = lower(&[nat_default()], Backend::Iptables).unwrap();
    let element = |chain: &str| {
        let r = rs
            .rules()
            .find(|(_, c, _)| c.name.as_str() == chain)
            .unwrap()
            .2;
        r.provenance.source().unwrap().element.to_string()
    };
    assert_eq!(element("LIBVIRT_INP"), "network");
    assert_eq!(element("LIBVIRT_FWX"), "forward");
    assert_eq!(element("LIBVIRT_FWO"), "ip");
    assert!(rs.rules().any(|(t, _, r)| t.name.as_str() == "mangle"
        && r.provenance.source().is_some_and(|s| &*s.element == "ip")));
}
