//! `fwc diff` end to end: text diffs between versions, behaviour between
//! targets, exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/corpus/libvirt/network"
);

fn fwc(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fwc"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run fwc")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn corpus() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(CORPUS)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    v.sort();
    assert_eq!(v.len(), 11);
    v
}

/// libvirt's default NAT network (DHCP on), shared by the compiler's tests.
const NET: &str = include_str!("common/default.xml");

/// A directory with `old/net.xml` and `new/net.xml`.
fn versions(old: &str, new: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (sub, text) in [("old", old), ("new", new)] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
        std::fs::write(dir.path().join(sub).join("net.xml"), text).unwrap();
    }
    dir
}

#[test]
fn identical_inputs_exit_0_with_nothing_printed() {
    let dir = versions(NET, NET);
    for target in ["nft", "nft-json", "iptables", "ip6tables"] {
        for (a, b) in [("old/net.xml", "new/net.xml"), ("old", "new")] {
            let o = fwc(dir.path(), &["diff", a, b, "--target", target]);
            assert_eq!(o.status.code(), Some(0), "{target}: {}", stderr(&o));
            assert_eq!(stdout(&o), "", "{target}");
        }
    }
}

#[test]
fn moving_a_nat_network_shows_the_old_and_new_prefix() {
    let moved = NET.replace("192.168.122.", "192.168.123.");
    let dir = versions(NET, &moved);
    for target in ["nft", "nft-json", "iptables"] {
        let o = fwc(
            dir.path(),
            &["diff", "old/net.xml", "new/net.xml", "--target", target],
        );
        assert_eq!(o.status.code(), Some(1), "{target}: {}", stderr(&o));
        let out = stdout(&o);
        assert!(out.starts_with(&format!(
            "--- old/net.xml ({target})\n+++ new/net.xml ({target})\n@@ "
        )));
        let minus: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with('-') && !l.starts_with("---"))
            .collect();
        let plus: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
            .collect();
        // The guests' forwarding rules and the NAT rules name the subnet
        // (how many depends on what the optimiser merges).
        assert!(minus.len() >= 3, "{target}:\n{out}");
        assert_eq!(minus.len(), plus.len(), "{target}:\n{out}");
        for l in &minus {
            assert!(l.contains("192.168.122.0/24"), "{target}: {l}");
            assert!(l.ends_with("# old/net.xml:5:3 <ip>"), "{target}: {l}");
        }
        for l in &plus {
            assert!(l.contains("192.168.123.0/24"), "{target}: {l}");
            assert!(!l.contains("192.168.122."), "{target}: {l}");
            assert!(l.ends_with("# new/net.xml:5:3 <ip>"), "{target}: {l}");
        }
        // Context lines show the provenance too.
        assert!(out
            .lines()
            .any(|l| l.starts_with("  ") && l.contains("# new/net.xml:")));
    }
}

#[test]
fn a_rule_whose_source_line_moved_is_not_a_difference() {
    let shifted = format!("<!-- a comment -->\n\n{NET}");
    let dir = versions(NET, &shifted);
    let o = fwc(
        dir.path(),
        &["diff", "old/net.xml", "new/net.xml", "--target", "nft"],
    );
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(stdout(&o), "");
}

#[test]
fn added_rules_show_with_context_and_their_section() {
    let tftp = NET.replace("    <dhcp>", "    <tftp root='/srv/tftp'/>\n    <dhcp>");
    let dir = versions(NET, &tftp);
    let o = fwc(
        dir.path(),
        &["diff", "old/net.xml", "new/net.xml", "--target", "nft"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    // TFTP is let in (input) and out (output), whether as rules of their
    // own or merged into a port set by the optimiser.
    let added: Vec<&str> = out.lines().filter(|l| l.starts_with("+ ")).collect();
    assert!(added.len() >= 2, "{out}");
    assert!(added.iter().all(|l| l.contains("69")), "{out}");
    assert!(
        added
            .iter()
            .all(|l| l.ends_with("# new/net.xml:1:1 <network>")),
        "{out}"
    );
    assert!(
        out.contains("@@ -") && out.contains(" @@ table inet fwc chain input\n"),
        "{out}"
    );
}

/// Compares the two targets on the inputs; returns stdout.
fn same(dir: &Path, inputs: &[&str], targets: &str) -> String {
    let mut args = vec!["diff"];
    args.extend_from_slice(inputs);
    args.extend(["--targets", targets]);
    let o = fwc(dir, &args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{inputs:?} {targets}:\n{}{}",
        stdout(&o),
        stderr(&o)
    );
    let out = stdout(&o);
    assert!(out.contains(" do the same: "), "{out}");
    out
}

#[test]
fn fwc_layout_backends_do_the_same_on_every_corpus_network() {
    let dir = tempfile::tempdir().unwrap();
    for net in corpus() {
        let net = net.to_str().unwrap();
        for targets in ["nft,iptables", "nft,nft-json"] {
            let out = same(dir.path(), &[net], targets);
            let n: usize = out
                .split(" do the same: ")
                .nth(1)
                .and_then(|s| s.split(' ').next())
                .and_then(|n| n.parse().ok())
                .expect("the packet count");
            assert!(n > 1000, "{net}: only {n} packets compared");
            assert!(
                out.contains("hooks input, forward, output, postrouting"),
                "{out}"
            );
        }
    }
}

#[test]
fn fwc_layout_backends_do_the_same_on_two_networks_compiled_together() {
    let dir = tempfile::tempdir().unwrap();
    let second = std::fs::read_to_string(Path::new(CORPUS).join("nat-ipv6.xml"))
        .unwrap()
        .replace("<name>default</name>", "<name>second</name>")
        .replace("virbr0", "virbr1")
        .replace("192.168.122.", "192.168.200.")
        .replace("2001:db8:ca2:2:", "2001:db8:ca2:3:");
    std::fs::write(dir.path().join("second.xml"), second).unwrap();
    let first = Path::new(CORPUS).join("nat-default.xml");
    let first = first.to_str().unwrap();
    for targets in ["nft,iptables", "nft,nft-json", "iptables,nft-json"] {
        same(dir.path(), &[first, "second.xml"], targets);
    }
}

#[test]
fn libvirt_nft_backend_lacks_the_host_input_rules() {
    let dir = tempfile::tempdir().unwrap();
    let net = Path::new(CORPUS).join("nat-default.xml");
    let o = fwc(
        dir.path(),
        &[
            "diff",
            net.to_str().unwrap(),
            "--targets",
            "nft,iptables",
            "--layout",
            "libvirt",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("nft and iptables differ: "), "{out}");
    let input: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("hook input "))
        .collect();
    for port in [
        "udp dport 67",
        "tcp dport 67",
        "udp dport 53",
        "tcp dport 53",
    ] {
        assert!(
            input
                .iter()
                .any(|l| l.contains("iif virbr0") && l.contains(port)),
            "input {port}:\n{out}"
        );
    }
    let output: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("hook output "))
        .collect();
    assert!(output.iter().any(|l| l.contains("udp dport 68")), "{out}");
    // The outcomes and the responsible rule with its provenance.
    assert!(
        out.contains("  nft:      accept, no rule accepts it (the policy decides)"),
        "{out}"
    );
    assert!(out.contains("  iptables: accept by a rule"), "{out}");
    assert!(out.contains(
        "ip filter LIBVIRT_INP: --in-interface virbr0 --protocol udp --destination-port 67 --jump ACCEPT  # "
    ));
    assert!(out.contains("nat-default.xml:1:1 <network>"), "{out}");
    // Forwarding and NAT agree.
    assert!(!out.contains("hook forward"), "{out}");
    assert!(!out.contains("hook postrouting"), "{out}");
}

#[test]
fn reported_packets_can_be_pasted_into_explain() {
    let dir = tempfile::tempdir().unwrap();
    let net = Path::new(CORPUS).join("nat-default.xml");
    let net = net.to_str().unwrap();
    let o = fwc(
        dir.path(),
        &[
            "diff",
            net,
            "--targets",
            "nft,iptables",
            "--layout",
            "libvirt",
        ],
    );
    let out = stdout(&o);
    // The first line of a difference is the packet, hook included.
    let packet = out.lines().next().unwrap();
    assert!(packet.starts_with("hook input iif virbr0 "), "{out}");
    let e = fwc(
        dir.path(),
        &[
            "explain", net, "--layout", "libvirt", "--target", "iptables", "--packet", packet,
        ],
    );
    assert_eq!(e.status.code(), Some(0), "{packet}: {}", stderr(&e));
    assert!(stdout(&e).contains("accept (by a rule)"), "{}", stdout(&e));
}

#[test]
fn usage_errors_exit_2() {
    let dir = versions(NET, NET);
    for args in [
        &[
            "diff",
            "old/net.xml",
            "new/net.xml",
            "old",
            "--target",
            "nft",
        ][..],
        &["diff", "old/net.xml", "--targets", "nft"][..],
        &["diff", "old/net.xml", "--targets", "nft,iptables,nft-json"][..],
        &["diff", "old/net.xml"][..],
        &["diff", "old/net.xml", "--targets", "nft,iptables", "--live"][..],
        &[
            "diff",
            "old/net.xml",
            "--target",
            "nft",
            "--targets",
            "nft,iptables",
        ][..],
        &["diff", "missing.xml", "old/net.xml", "--target", "nft"][..],
    ] {
        let o = fwc(dir.path(), args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert_eq!(stdout(&o), "", "{args:?}");
        assert!(!stderr(&o).is_empty(), "{args:?}");
    }
}

#[test]
fn bad_inputs_exit_2_with_their_diagnostics() {
    let dir = versions(NET, &NET.replace("192.168.122.1'", "192.168.300.1'"));
    let o = fwc(dir.path(), &["diff", "old", "new", "--target", "nft"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("net.xml:5:"), "{}", stderr(&o));
    let o = fwc(dir.path(), &["diff", "new", "--targets", "nft,iptables"]);
    assert_eq!(o.status.code(), Some(2));
}

/// Whether the kernel can be used; prints why not (or panics when CI
/// demands the kernel tests).
fn kernel_available(test: &str) -> bool {
    let reason = if !Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
    {
        Some("not root")
    } else if !Command::new("unshare")
        .args(["-n", "nft", "list", "ruleset"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        Some("cannot run nft in a network namespace (unshare -n)")
    } else {
        None
    };
    compiler::netns::may_run(test, reason.map(str::to_owned))
}

#[test]
fn live_compares_with_the_kernels_ruleset() {
    if !kernel_available("live_compares_with_the_kernels_ruleset") {
        return;
    }
    let dir = versions(NET, &NET.replace("192.168.122.", "192.168.123."));
    let setup = fwc(
        dir.path(),
        &[
            "compile",
            "old/net.xml",
            "--target",
            "nft",
            "-o",
            "setup.nft",
        ],
    );
    assert_eq!(setup.status.code(), Some(0), "{}", stderr(&setup));
    let bin = env!("CARGO_BIN_EXE_fwc");
    let sh = format!(
        "nft -f setup.nft || exit 9
         {bin} diff old/net.xml --target nft --live; echo \"exit $?\"
         {bin} diff new/net.xml --target nft --live; echo \"exit $?\""
    );
    let o = Command::new("unshare")
        .args(["-n", "sh", "-c", &sh])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let out = stdout(&o);
    let parts: Vec<&str> = out.split("exit ").collect();
    assert_eq!(parts.len(), 3, "{out}{}", stderr(&o));
    assert!(parts[0].contains("nft and kernel do the same: "), "{out}");
    assert!(parts[1].starts_with("0\n"), "{out}");
    assert!(parts[1].contains("nft and kernel differ: "), "{out}");
    assert!(parts[2].starts_with("1\n"), "{out}");
}
