//! fwc's layout scales: on generated hosts (see `fwc_tests::generate`), its
//! longest chain is the same for 100 networks as for 1,000 while libvirt's
//! grows with the count, it emits fewer rules than libvirt's layout for the
//! same input, the optimised ruleset does to packets what the unoptimised
//! one does, and the kernel accepts the 1,000-network artifacts.

use std::sync::OnceLock;

use compiler::pipeline::{compile_sources, Options, Output};
use emitters::{Direction, Format, Target};
use fwc_tests::generate::{self, Host, Mode};
use fwc_tests::netns::Netns;
use ir::eval::{evaluate, DecidedBy, Packet};
use ir::{CtStates, Hook, L4Proto, Ruleset};
use rules::layout::Layout;

fn compile(host: &Host, layout: Layout, target: Target, optimize: bool) -> Output {
    let opts = Options {
        target,
        layout,
        optimize,
        ..Options::default()
    };
    compile_sources(&host.network_sources(), &opts)
        .unwrap_or_else(|d| panic!("the generated host compiles: {d:?}"))
}

/// The 1,000-network host, compiled once for every test that needs it:
/// fwc's layout optimised, and libvirt's layout.
fn big() -> &'static (Host, Ruleset, Ruleset) {
    static BIG: OnceLock<(Host, Ruleset, Ruleset)> = OnceLock::new();
    BIG.get_or_init(|| {
        let host = generate::host(1000, 0);
        let fwc = compile(&host, Layout::Fwc, Target::Nft, true).ruleset;
        let libvirt = compile(&host, Layout::Libvirt, Target::Nft, true).ruleset;
        (host, fwc, libvirt)
    })
}

/// The number of rules of the longest chain.
fn longest_chain(rs: &Ruleset) -> usize {
    rs.tables
        .iter()
        .flat_map(|t| &t.chains)
        .map(|c| c.rules.len())
        .max()
        .unwrap_or(0)
}

fn rule_count(rs: &Ruleset) -> usize {
    rs.rules().count()
}

#[test]
fn the_longest_chain_stays_constant_from_100_to_1000_networks() {
    let small = generate::host(100, 0);
    let (big, fwc_big, libvirt_big) = big();
    let fwc = |h| longest_chain(&compile(h, Layout::Fwc, Target::Nft, true).ruleset);
    let libvirt = |h| longest_chain(&compile(h, Layout::Libvirt, Target::Nft, true).ruleset);
    let (f100, f1000) = (fwc(&small), longest_chain(fwc_big));
    assert_eq!(f100, f1000, "fwc's longest chain grew with the networks");
    assert!(f1000 <= 8, "fwc's longest chain has {f1000} rules");
    let (l100, l1000) = (libvirt(&small), longest_chain(libvirt_big));
    assert!(
        l1000 >= 9 * l100,
        "libvirt's layout grows with N: {l100} rules at 100 networks, {l1000} at 1,000"
    );
    // Without the passes fwc's own layout grows too: they make the difference.
    let unoptimised = longest_chain(&compile(big, Layout::Fwc, Target::Nft, false).ruleset);
    assert!(unoptimised > 100 * f1000, "{unoptimised}");
}

#[test]
fn fwc_emits_fewer_rules_than_the_libvirt_layout() {
    for n in [10, 100] {
        let host = generate::host(n, 0);
        let fwc = rule_count(&compile(&host, Layout::Fwc, Target::Nft, true).ruleset);
        let libvirt = rule_count(&compile(&host, Layout::Libvirt, Target::Nft, true).ruleset);
        assert!(
            fwc < libvirt,
            "{n} networks: fwc emits {fwc} rules, libvirt's layout {libvirt}"
        );
    }
    let (_, fwc, libvirt) = big();
    let (fwc, libvirt) = (rule_count(fwc), rule_count(libvirt));
    assert!(
        fwc < libvirt,
        "1,000 networks: fwc {fwc}, libvirt {libvirt}"
    );
    // Also with NAT networks only, libvirt's cheapest case per network.
    let nat = generate::uniform(100, Mode::Nat);
    let fwc = rule_count(&compile(&nat, Layout::Fwc, Target::Nft, true).ruleset);
    let libvirt = rule_count(&compile(&nat, Layout::Libvirt, Target::Nft, true).ruleset);
    assert!(fwc < libvirt, "NAT: fwc {fwc}, libvirt {libvirt}");
}

/// Packets a host like the generated one sees, for network `i`.
fn packets(host: &Host) -> Vec<Packet> {
    let mut out = Vec::new();
    for n in host.networks.iter().step_by(7) {
        let guest = format!("{}.10", n.v4_prefix);
        let other = &host.networks[(n.index + 1) % host.networks.len()];
        let other_guest = format!("{}.10", other.v4_prefix);
        let new = CtStates {
            new: true,
            ..CtStates::default()
        };
        out.extend([
            Packet::ipv4(&guest, "8.8.8.8")
                .iif(&n.bridge)
                .oif("eth0")
                .l4(L4Proto::Tcp, 443),
            Packet::ipv4(&guest, "8.8.8.8")
                .iif(&n.bridge)
                .oif("eth0")
                .l4(L4Proto::Udp, 53),
            Packet::ipv4("10.200.0.5", "8.8.8.8")
                .iif(&n.bridge)
                .oif("eth0"),
            Packet::ipv4("8.8.8.8", &guest)
                .iif("eth0")
                .oif(&n.bridge)
                .ct(new),
            Packet::ipv4("8.8.8.8", &guest)
                .iif("eth0")
                .oif(&n.bridge)
                .ct(CtStates::RELATED_ESTABLISHED),
            Packet::ipv4(&guest, &other_guest)
                .iif(&n.bridge)
                .oif(&other.bridge),
            Packet::ipv4(&guest, &format!("{}.11", n.v4_prefix))
                .iif(&n.bridge)
                .oif(&n.bridge),
            Packet::ipv4(&guest, "224.0.0.251")
                .iif(&n.bridge)
                .oif("eth0"),
            Packet::ipv4("0.0.0.0", "255.255.255.255")
                .iif(&n.bridge)
                .l4(L4Proto::Udp, 67),
            Packet::ipv4(&n.gateway(), &guest)
                .oif(&n.bridge)
                .l4(L4Proto::Udp, 68),
            Packet::ipv4(&guest, &n.gateway())
                .iif(&n.bridge)
                .l4(L4Proto::Tcp, 22),
            Packet::ip(&format!("fd00:0:0:{:x}::10", n.index), "2001:db8::1")
                .iif(&n.bridge)
                .oif("eth0")
                .l4(L4Proto::Tcp, 443),
            Packet::ip("2001:db8::1", &format!("fd00:0:0:{:x}::10", n.index))
                .iif("eth0")
                .oif(&n.bridge)
                .ct(new),
        ]);
    }
    out
}

#[test]
fn optimised_and_unoptimised_rulesets_treat_packets_alike() {
    let host = generate::host(200, 0);
    let o0 = compile(&host, Layout::Fwc, Target::Nft, false).ruleset;
    let o1 = compile(&host, Layout::Fwc, Target::Nft, true).ruleset;
    assert!(rule_count(&o1) < rule_count(&o0) / 2);
    let hooks = [Hook::Input, Hook::Output, Hook::Forward, Hook::Postrouting];
    let mut decided_by_rule = 0;
    for p in packets(&host) {
        for hook in hooks {
            let (a, b) = (evaluate(&o0, hook, &p), evaluate(&o1, hook, &p));
            assert_eq!(
                (&a.decision, &a.nat, a.checksum_fill),
                (&b.decision, &b.nat, b.checksum_fill),
                "{hook:?} {p:?}"
            );
            let by_rule = |o: &ir::eval::Outcome| -> Vec<bool> {
                o.chains
                    .iter()
                    .map(|c| matches!(c.decided_by, DecidedBy::Rule(_)))
                    .collect()
            };
            assert_eq!(by_rule(&a), by_rule(&b), "{hook:?} {p:?}");
            decided_by_rule += by_rule(&b).iter().filter(|r| **r).count();
        }
    }
    assert!(decided_by_rule > 100, "the packets exercise the rules");
}

#[test]
fn the_kernel_accepts_and_removes_the_1000_network_artifacts() {
    let Some(ns) = Netns::for_test("the_kernel_accepts_and_removes_the_1000_network_artifacts")
    else {
        return;
    };
    let (_, ruleset, _) = big();
    let emit = |target, direction| {
        let opts = emitters::Options {
            format: Format::Script,
            direction,
        };
        emitters::emit(ruleset, target, &opts)
            .unwrap_or_else(|e| panic!("{}: {e}", target.name()))
            .text
    };
    let targets = [Target::Nft, Target::Iptables, Target::Ip6tables];
    for target in targets {
        ns.load(target, &emit(target, Direction::Setup))
            .unwrap_or_else(|f| panic!("{} setup: {f}", target.name()));
    }
    let listed = ns.ruleset_text();
    assert!(listed.contains("iifname . oifname vmap @guest_cross_iifname_oifname"));
    // virbr998 is isolated: its guests may not leave, in every target.
    assert!(listed.contains("chain guest_output_virbr998"));
    // iptables gets the map expanded back into one rule per bridge.
    let ipt = ns
        .run("iptables", &["-S", "guest_output"], None)
        .unwrap_or_else(|f| panic!("{f}"));
    assert!(
        ipt.contains("-A guest_output -i virbr998 -j guest_output_virbr998"),
        "{ipt}"
    );
    for target in targets {
        ns.load(target, &emit(target, Direction::Teardown))
            .unwrap_or_else(|f| panic!("{} teardown: {f}", target.name()));
    }
    let left = ns.ruleset_text();
    assert!(!left.contains("virbr"), "teardown left rules:\n{left}");
}
