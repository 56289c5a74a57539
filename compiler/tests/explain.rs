//! `fwc explain` end to end on the example network.

use std::path::Path;
use std::process::{Command, Output};

fn example() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/default.xml")
        .to_str()
        .unwrap()
        .to_owned()
}

fn explain(args: &[&str]) -> Output {
    let mut all = vec!["explain".to_owned(), example()];
    all.extend(args.iter().map(|a| a.to_string()));
    Command::new(env!("CARGO_BIN_EXE_fwc"))
        .args(&all)
        .output()
        .expect("run fwc")
}

fn ok(args: &[&str]) -> String {
    let o = explain(args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn a_guest_connection_is_accepted_and_masqueraded_with_its_source_lines() {
    let packet = "iif virbr0 oif eth0 ip saddr 192.168.122.5 ip daddr 8.8.8.8 tcp dport 443";
    for target in ["nft", "iptables", "nft-json"] {
        let out = ok(&["--target", target, "--packet", packet]);
        let forward = out
            .split(&format!("{target}, hook "))
            .find(|s| s.starts_with("forward:"))
            .unwrap_or_else(|| panic!("{out}"));
        assert!(
            forward.starts_with("forward: accept (by a rule)"),
            "{forward}"
        );
        assert!(forward.contains("guest_output: "), "{forward}");
        assert!(forward.contains("default.xml:6:3 <ip>"), "{forward}");
        assert!(
            forward.contains(
                "         6 |   <ip address=\"192.168.122.1\" netmask=\"255.255.255.0\">"
            ),
            "{forward}"
        );
        assert!(forward.contains("NAT: none"), "{forward}");
        let post = out
            .split(&format!("{target}, hook "))
            .find(|s| s.starts_with("postrouting:"))
            .unwrap_or_else(|| panic!("{out}"));
        assert!(post.contains("NAT: masquerade to :1024-65535"), "{post}");
    }
}

#[test]
fn one_hook_and_the_hosts_dhcp_service() {
    let out = ok(&[
        "--packet",
        "hook input iif virbr0 ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp dport 67",
    ]);
    assert_eq!(out.matches(", hook ").count(), 1, "{out}");
    assert!(
        out.starts_with("nft, hook input: accept (by a rule)\n"),
        "{out}"
    );
    assert!(
        out.contains("  base chain inet fwc input (filter, priority 0): accept by rule "),
        "{out}"
    );
    let hit: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("    inet fwc input: "))
        .collect();
    assert_eq!(hit.len(), 1, "{out}");
    // One rule, or one merged into a port set by the optimiser.
    assert!(hit[0].contains("iifname \"virbr0\" udp dport "), "{out}");
    assert!(hit[0].contains("67"), "{out}");
    assert!(hit[0].contains(" accept  # "), "{out}");
    assert!(out.contains("         2 | <network>\n"), "{out}");
    let other = ok(&[
        "--packet",
        "hook input iif eth0 ip saddr 10.0.0.1 ip daddr 10.0.0.2 udp dport 67",
    ]);
    assert!(other.contains("accept (by a chain's policy)"), "{other}");
    assert!(other.contains("rules hit: none"), "{other}");
}

#[test]
fn the_libvirt_layout_of_nft_has_no_input_rules() {
    let out = ok(&[
        "--layout",
        "libvirt",
        "--target",
        "nft,iptables",
        "--packet",
        "hook input iif virbr0 ip saddr 192.168.122.5 ip daddr 192.168.122.1 udp dport 53",
    ]);
    assert!(
        out.contains("nft, hook input: accept (no base chain sees the packet)"),
        "{out}"
    );
    assert!(
        out.contains("iptables, hook input: accept (by a rule)"),
        "{out}"
    );
    assert!(out.contains("LIBVIRT_INP"), "{out}");
}

#[test]
fn bad_packets_exit_2() {
    let o = explain(&["--packet", "iif virbr0 tcp dport http"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("'http' is not a port"));
    assert!(o.stdout.is_empty());
}
