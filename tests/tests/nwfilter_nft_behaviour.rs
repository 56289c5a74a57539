//! nwfilter rules for nft judged by real connections, in both layouts: a
//! guest (10.0.0.5, 52:54:00:aa:bb:cc) behind the bridge port `vnet0` of a
//! host (10.0.0.1 on `br0`), bound to libvirt's `clean-traffic`, reaches
//! the host, but not once it takes another IP address or MAC; bound to a
//! filter that lets only TCP port 22 in, it can be reached on 22 and not
//! on 8080. Every check first holds without rules, so the rules alone make
//! the difference. Each connection attempt times out after one second.
//!
//! The port-22 filter says `statematch='false'` and lets the answers out
//! itself: libvirt's implicit state matching needs connection tracking in
//! the bridge family (`CONFIG_NF_CONNTRACK_BRIDGE`), which kernels without
//! it refuse (`ct` in a bridge table: "Protocol error"). The stateful form
//! is checked where the kernel has it, and shown refused where it has not.

use emitters::{Direction, Format, Target};
use fwc_tests::netns::may_run;
use fwc_tests::ports::{
    binding, bridge_conntrack, compile, stock_filters, Inputs, Lan, GUEST_IP, GUEST_MAC,
};
use rules::layout::Layout;

const SPOOFED_IP: &str = "10.0.0.6";
const SPOOFED_MAC: &str = "52:54:00:aa:bb:dd";

/// Lets TCP port 22 in (and its answers out) and drops all other TCP.
const SSH_IN: &str = "<filter name='fwc-test-ssh-in' chain='root'>
  <rule action='accept' direction='in' priority='100' statematch='false'>
    <tcp dstportstart='22'/>
  </rule>
  <rule action='accept' direction='out' priority='100' statematch='false'>
    <tcp srcportstart='22'/>
  </rule>
  <rule action='drop' direction='inout' priority='500'>
    <tcp/>
  </rule>
</filter>
";

/// Lets TCP port 22 in with libvirt's implicit connection tracking (the
/// answers are let out as established) and drops all other TCP.
const SSH_IN_STATEFUL: &str = "<filter name='fwc-test-ssh-in-ct' chain='root'>
  <rule action='accept' direction='in' priority='100'>
    <tcp dstportstart='22'/>
  </rule>
  <rule action='drop' direction='inout' priority='500'>
    <tcp/>
  </rule>
</filter>
";

/// A LAN to test in, or `None` (after printing why) when the kernel or
/// python3 cannot be used; panics instead under `FWC_REQUIRE_KERNEL=1`.
fn new_lan(test: &str) -> Option<Lan> {
    may_run(test, Lan::unavailable()).then(Lan::build)
}

/// Loads the setup of `filter` bound to the guest, in `layout`, on the host.
fn bind(lan: &Lan, filter: &str, library: &std::path::Path, layout: Layout) {
    let inputs = Inputs::write(&[(
        "guest.xml".into(),
        binding("vnet0", GUEST_MAC, filter, GUEST_IP),
    )]);
    let out = compile(
        &inputs.files,
        library,
        Target::Nft,
        layout,
        Format::Script,
        Direction::Setup,
    );
    assert!(out.artifact.notes.is_empty(), "{:?}", out.artifact.notes);
    lan.host
        .nft_load(&out.artifact.text)
        .unwrap_or_else(|f| panic!("{f}\n{}", out.artifact.text));
}

/// What the guest gets connecting to the host: as itself, with a spoofed
/// IP, and with a spoofed MAC (a fresh LAN each).
fn clean_traffic_outcomes(layout: Option<Layout>, test: &str) -> Option<[String; 3]> {
    let mut out: [String; 3] = Default::default();
    for (i, spoof) in [None, Some(true), Some(false)].into_iter().enumerate() {
        let lan = new_lan(test)?;
        if let Some(layout) = layout {
            bind(&lan, "clean-traffic", &stock_filters(), layout);
        }
        match spoof {
            Some(true) => lan.spoof_ip(SPOOFED_IP),
            Some(false) => lan.spoof_mac(SPOOFED_MAC),
            None => {}
        }
        out[i] = lan.connect(true, 8080);
    }
    Some(out)
}

#[test]
fn clean_traffic_lets_the_guest_out_and_stops_spoofing() {
    let test = "clean_traffic_lets_the_guest_out_and_stops_spoofing";
    let Some(baseline) = clean_traffic_outcomes(None, test) else {
        return;
    };
    assert_eq!(
        baseline,
        ["connected", "connected", "connected"],
        "without rules the guest connects as itself and spoofed"
    );
    for layout in [Layout::Libvirt, Layout::Fwc] {
        let Some([own, ip, mac]) = clean_traffic_outcomes(Some(layout), test) else {
            return;
        };
        assert_eq!(own, "connected", "{layout:?}: the guest as itself");
        assert_ne!(
            ip, "connected",
            "{layout:?}: the guest with IP {SPOOFED_IP}"
        );
        assert_ne!(
            mac, "connected",
            "{layout:?}: the guest with MAC {SPOOFED_MAC}"
        );
    }
}

#[test]
fn clean_traffic_lets_the_host_reach_the_guest() {
    for layout in [Layout::Libvirt, Layout::Fwc] {
        let Some(lan) = new_lan("clean_traffic_lets_the_host_reach_the_guest") else {
            return;
        };
        bind(&lan, "clean-traffic", &stock_filters(), layout);
        assert_eq!(lan.connect(false, 8080), "connected", "{layout:?}");
    }
}

#[test]
fn an_ssh_only_filter_lets_22_in_and_blocks_8080() {
    let test = "an_ssh_only_filter_lets_22_in_and_blocks_8080";
    let Some(lan) = new_lan(test) else {
        return;
    };
    assert_eq!(
        [lan.connect(false, 22), lan.connect(false, 8080)],
        ["connected", "connected"],
        "without rules the host reaches both ports"
    );
    drop(lan);
    let library = Inputs::write(&[("fwc-test-ssh-in.xml".into(), SSH_IN.into())]);
    for layout in [Layout::Libvirt, Layout::Fwc] {
        let Some(lan) = new_lan(test) else {
            return;
        };
        bind(&lan, "fwc-test-ssh-in", library.dir(), layout);
        assert_eq!(lan.connect(false, 22), "connected", "{layout:?}: port 22");
        assert_eq!(lan.connect(false, 8080), "timeout", "{layout:?}: port 8080");
    }
}

/// The same with libvirt's implicit state matching, where the kernel tracks
/// connections in the bridge family; elsewhere nft must refuse the rules.
#[test]
fn a_stateful_ssh_only_filter_needs_bridge_conntrack() {
    let test = "a_stateful_ssh_only_filter_needs_bridge_conntrack";
    let library = Inputs::write(&[("fwc-test-ssh-in-ct.xml".into(), SSH_IN_STATEFUL.into())]);
    for layout in [Layout::Libvirt, Layout::Fwc] {
        let Some(lan) = new_lan(test) else {
            return;
        };
        if !bridge_conntrack(&lan.host) {
            let inputs = Inputs::write(&[(
                "guest.xml".into(),
                binding("vnet0", GUEST_MAC, "fwc-test-ssh-in-ct", GUEST_IP),
            )]);
            let out = compile(
                &inputs.files,
                library.dir(),
                Target::Nft,
                layout,
                Format::Script,
                Direction::Setup,
            );
            let refused = lan.host.nft_load(&out.artifact.text);
            assert!(refused.is_err(), "{layout:?}: ct in a bridge table loaded");
            eprintln!("{test}: this kernel has no bridge conntrack; the rules are refused");
            continue;
        }
        bind(&lan, "fwc-test-ssh-in-ct", library.dir(), layout);
        assert_eq!(lan.connect(false, 22), "connected", "{layout:?}: port 22");
        assert_eq!(lan.connect(false, 8080), "timeout", "{layout:?}: port 8080");
    }
}
