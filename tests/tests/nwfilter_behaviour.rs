//! Behaviour with real packets of libvirt's ebtables + iptables nwfilter
//! rules (`--layout libvirt`, `--target ebtables` and `--target iptables`
//! scripts loaded together), on a host whose bridge has two guests:
//!
//! ```text
//!  g1 10.0.0.5 52:54:00:aa:bb:cc ─veth─ vnet0 ┐
//!                                             br0 10.0.0.1 (host)
//!  g2 10.0.0.7 52:54:00:aa:bb:cd ─veth─ vnet1 ┘
//! ```
//!
//! vnet0 is bound to libvirt's stock `clean-traffic` (IP 10.0.0.5, its
//! MAC): g1 reaches the host, but not once it sends from another IP address
//! (10.0.0.6) or another MAC. vnet1 is bound to a filter that adds to
//! `clean-traffic` "accept TCP port 22 inbound, drop everything else"
//! (`SSH_ONLY`): g2 is reached on port 22 and not on 8080, from the host
//! (its answers go through `HI-vnet1`) and from g1 across the bridge (the
//! connection through `FO-vnet1`, the answers through `FI-vnet1`; bridged
//! packets reach iptables through `br_netfilter`, which this kernel has
//! built in, with `net.bridge.bridge-nf-call-iptables` on by default).
//!
//! Every probe is a TCP connect with a short timeout. Without rules every
//! probe connects, so the blocked cases are blocked by the rules, and after
//! teardown every probe connects again.

use std::net::IpAddr;

use emitters::{Direction, Format, Target};
use fwc_tests::netns::{may_run, Netns};
use fwc_tests::nwfilter::{binding_xml, compile_bindings, library_with, SSH_ONLY};
use fwc_tests::topology::{connect, listen, Listener, Topology};

const HOST: &str = "10.0.0.1";
const G1_IP: &str = "10.0.0.5";
const G1_MAC: &str = "52:54:00:aa:bb:cc";
const G2_IP: &str = "10.0.0.7";
const G2_MAC: &str = "52:54:00:aa:bb:cd";

/// The host, two guests on its bridge, and the listeners.
struct Lan {
    // Dropped first: a namespace with a live process in it outlives `ip
    // netns del`.
    _listeners: Vec<Listener>,
    host: Netns,
    g1: Netns,
    g2: Netns,
}

fn batch(ns: &Netns, commands: &str) {
    ns.run("ip", &["-batch", "-"], Some(commands))
        .unwrap_or_else(|f| panic!("in {}: {f}", ns.name()));
}

impl Lan {
    fn build() -> Lan {
        let (host, g1, g2) = (Netns::new(), Netns::new(), Netns::new());
        batch(
            &host,
            &format!(
                "link set lo up
link add br0 type bridge
addr add {HOST}/24 dev br0
link set br0 up
link add vnet0 type veth peer name eth0 netns {g1}
link set vnet0 master br0 up
link add vnet1 type veth peer name eth0 netns {g2}
link set vnet1 master br0 up
",
                g1 = g1.name(),
                g2 = g2.name(),
            ),
        );
        for (ns, ip, mac) in [(&g1, G1_IP, G1_MAC), (&g2, G2_IP, G2_MAC)] {
            batch(
                ns,
                &format!(
                    "link set lo up\nlink set eth0 address {mac}\naddr add {ip}/24 dev eth0\n\
                     link set eth0 up\n"
                ),
            );
        }
        let listeners = vec![listen(&host, 8080), listen(&g2, 22), listen(&g2, 8080)];
        Lan {
            _listeners: listeners,
            host,
            g1,
            g2,
        }
    }

    /// Forgets every neighbour, so that each probe resolves addresses anew
    /// (with the rules loaded, an ARP request from a spoofed address is
    /// dropped too).
    fn forget_neighbours(&self) {
        for ns in [&self.host, &self.g1, &self.g2] {
            batch(ns, "neigh flush all\n");
        }
    }

    /// Every probe, by name, and whether it connected.
    fn probe_all(&self) -> Vec<(&'static str, bool)> {
        let ip = |s: &str| s.parse::<IpAddr>().expect("an address");
        let mut out = Vec::new();
        let mut probe = |name, from: &Netns, to: &str, port| {
            self.forget_neighbours();
            out.push((name, connect(from, ip(to), port).connected()));
        };
        probe("g1 -> host:8080", &self.g1, HOST, 8080);
        batch(
            &self.g1,
            &format!("addr del {G1_IP}/24 dev eth0\naddr add 10.0.0.6/24 dev eth0\n"),
        );
        probe("g1 as 10.0.0.6 -> host:8080", &self.g1, HOST, 8080);
        batch(
            &self.g1,
            &format!("addr del 10.0.0.6/24 dev eth0\naddr add {G1_IP}/24 dev eth0\n"),
        );
        batch(&self.g1, "link set eth0 address 52:54:00:aa:bb:ee\n");
        probe("g1 as 52:54:00:aa:bb:ee -> host:8080", &self.g1, HOST, 8080);
        batch(&self.g1, &format!("link set eth0 address {G1_MAC}\n"));
        probe("host -> g2:22", &self.host, G2_IP, 22);
        probe("host -> g2:8080", &self.host, G2_IP, 8080);
        probe("g1 -> g2:22", &self.g1, G2_IP, 22);
        probe("g1 -> g2:8080", &self.g1, G2_IP, 8080);
        out
    }
}

/// The ebtables and iptables scripts (setup or teardown) of the two
/// bindings.
fn scripts(direction: Direction) -> Vec<(Target, String)> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let lib = library_with(&[("fwc-ssh-only.xml", SSH_ONLY)]);
    let mut inputs = Vec::new();
    for (name, port, mac, filter, ip) in [
        ("g1.xml", "vnet0", G1_MAC, "clean-traffic", G1_IP),
        ("g2.xml", "vnet1", G2_MAC, "fwc-ssh-only", G2_IP),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, binding_xml(port, mac, filter, &[("IP", ip)])).expect("written");
        inputs.push(path);
    }
    [Target::Ebtables, Target::Iptables]
        .into_iter()
        .map(|target| {
            let (text, _) =
                compile_bindings(&inputs, lib.path(), target, Format::Script, direction)
                    .unwrap_or_else(|e| panic!("--target {}: {e}", target.name()));
            (target, text)
        })
        .collect()
}

fn load(lan: &Lan, scripts: &[(Target, String)]) {
    for (target, text) in scripts {
        lan.host
            .load(*target, text)
            .unwrap_or_else(|f| panic!("loading the {} script: {f}\n{text}", target.name()));
    }
}

#[test]
fn clean_traffic_and_a_port_filter_hold_for_real_connections() {
    let test = "clean_traffic_and_a_port_filter_hold_for_real_connections";
    if !may_run(test, Topology::unavailable()) {
        return;
    }
    let lan = Lan::build();
    let bridged = lan
        .host
        .run(
            "sysctl",
            &["-n", "net.bridge.bridge-nf-call-iptables"],
            None,
        )
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|f| f.to_string());
    assert_eq!(
        bridged, "1",
        "bridged packets must reach iptables (br_netfilter) for the port filter's checks"
    );

    let open = lan.probe_all();
    let blocked: Vec<_> = open.iter().filter(|(_, c)| !c).collect();
    assert!(
        blocked.is_empty(),
        "without rules every probe connects: {open:?}"
    );

    load(&lan, &scripts(Direction::Setup));
    let with_rules = lan.probe_all();
    let expected = [
        ("g1 -> host:8080", true),
        ("g1 as 10.0.0.6 -> host:8080", false),
        ("g1 as 52:54:00:aa:bb:ee -> host:8080", false),
        ("host -> g2:22", true),
        ("host -> g2:8080", false),
        ("g1 -> g2:22", true),
        ("g1 -> g2:8080", false),
    ];
    assert_eq!(with_rules, expected, "with the rules loaded");

    load(&lan, &scripts(Direction::Teardown));
    assert_eq!(lan.probe_all(), open, "after teardown");
}
