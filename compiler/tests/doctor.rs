//! `fwc doctor` end to end: the built binary reads a saved listing
//! (`--live FILE`) or, inside a namespace (`ip netns exec NS fwc doctor`),
//! the live ruleset, and reports blocked flows and drift with its exit
//! code. The namespace tests skip with a printed reason when not root, and
//! fail instead when FWC_REQUIRE_KERNEL=1.

use std::path::Path;
use std::process::{Command, Output};

use compiler::netns::Netns;

mod common;
use common::{dir_with, fwc, fwc_stdin, stderr, stdout};

/// libvirt's default NAT network (DHCP on), shared by the compiler's tests.
const DEFAULT: &str = include_str!("common/default.xml");

/// A listing with a UFW-like nftables table whose input policy drops, in
/// the shape `nft -j list ruleset` prints.
const UFWLIKE: &str = r#"{"nftables": [
  {"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}},
  {"table": {"family": "inet", "name": "ufwlike", "handle": 4}},
  {"chain": {"family": "inet", "table": "ufwlike", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}},
  {"rule": {"family": "inet", "table": "ufwlike", "chain": "input", "handle": 2, "expr": [
    {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 22}},
    {"counter": {"packets": 3, "bytes": 180}}, {"drop": null}]}}
]}"#;

/// The report lines that do not depend on whether drift can be checked
/// here (it needs a namespace, so root).
fn blocked_lines(out: &str) -> Vec<&str> {
    out.lines()
        .filter(|l| !l.starts_with("drift: ") && !l.starts_with("note: "))
        .collect()
}

/// `fwc doctor INPUT --target nft --live LIVE EXTRA...`.
fn doctor_args<'a>(input: &'a str, live: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["doctor", input, "--target", "nft", "--live", live];
    args.extend_from_slice(extra);
    args
}

#[test]
fn a_saved_listing_names_the_foreign_chain_and_fwcs_accepting_rule() {
    let dir = dir_with(&[("default.xml", DEFAULT), ("live.json", UFWLIKE)]);
    let args = doctor_args("default.xml", "live.json", &[]);
    let o = fwc(dir.path(), &args);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    let lines = blocked_lines(&out);
    assert_eq!(
        lines[..3],
        [
            "blocked: guest → host DHCP, udp/67 (default: virbr0 192.168.122.0/24)",
            "  by: inet ufwlike input (hook input, priority 0): policy drop [managed by nftables]",
            "  fwc accepts it: inet fwc input: iifname \"virbr0\" udp dport { 67, 53 } accept  (default.xml:1:1 <network>)",
        ]
    );
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with(
                "fix: fwc doctor default.xml --target nft --live live.json --fix > fix.sh"
            ))
            .count(),
        1,
        "{out}"
    );
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("blocked: ")).count(),
        3
    );
    let summary = lines.last().unwrap();
    assert!(
        summary.starts_with("fwc doctor: 3 of 6 flows blocked by foreign rules; "),
        "{summary}"
    );

    // The same listing on standard input, as JSON.
    let args = doctor_args("default.xml", "-", &["--message-format", "json"]);
    let o = fwc_stdin(dir.path(), &args, UFWLIKE);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(doc["ok"], false);
    let blocked = doc["blocked"].as_array().unwrap();
    assert_eq!(blocked.len(), 3);
    assert_eq!(blocked[0]["table"], "ufwlike");
    assert_eq!(blocked[0]["cause"]["policy"], "drop");
    assert_eq!(doc["flows"].as_array().unwrap().len(), 6);
}

#[test]
fn fix_prints_a_script_and_the_report_goes_to_stderr() {
    let dir = dir_with(&[("default.xml", DEFAULT), ("live.json", UFWLIKE)]);
    let args = doctor_args("default.xml", "live.json", &["--fix"]);
    let o = fwc(dir.path(), &args);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("#!/bin/sh\n"), "{}", stdout(&o));
    assert!(stderr(&o).contains("blocked: guest → host DNS, udp/53"));
}

#[test]
fn unreadable_live_rulesets_and_bad_inputs_exit_2() {
    let dir = dir_with(&[("default.xml", DEFAULT), ("bad.json", "{\"tables\": []}")]);
    let o = fwc(dir.path(), &doctor_args("default.xml", "bad.json", &[]));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("the live ruleset cannot be read"),
        "{}",
        stderr(&o)
    );
    let o = fwc(dir.path(), &doctor_args("default.xml", "missing.json", &[]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot read the live ruleset 'missing.json'"));
    let o = fwc(dir.path(), &doctor_args("nothere.xml", "bad.json", &[]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stdout(&o).is_empty());
}

/// Whether the kernel can be used; prints why not, or panics when required.
fn kernel(test: &str) -> bool {
    compiler::netns::may_run(test, compiler::netns::unavailable())
}

/// `fwc doctor` run inside `ns` (`ip netns exec`), on its live ruleset.
fn doctor_in(ns: &Netns, dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "netns",
        "exec",
        ns.name(),
        env!("CARGO_BIN_EXE_fwc"),
        "doctor",
        "default.xml",
    ];
    args.extend_from_slice(extra);
    Command::new("ip")
        .args(&args)
        .current_dir(dir)
        .output()
        .expect("run ip netns exec fwc")
}

/// A namespace with the bridge and fwc's nft setup of default.xml loaded,
/// with br_netfilter handing bridged IPv4 frames to the IP hooks or not
/// (which decides whether guest ↔ guest is a flow the doctor judges).
fn loaded(dir: &Path, bridge_nf: bool) -> Netns {
    let ns = Netns::create("fwc-doctor-cli").unwrap();
    let switch = format!("net.bridge.bridge-nf-call-iptables={}", u8::from(bridge_nf));
    ns.run("sysctl", &["-qw", &switch], None)
        .unwrap_or_else(|f| panic!("br_netfilter's switch (is br_netfilter loaded?): {f}"));
    ns.add_bridge("virbr0").unwrap();
    let setup = fwc(dir, &["compile", "default.xml", "--target", "nft"]);
    assert!(setup.status.success(), "{}", stderr(&setup));
    ns.nft_load(&stdout(&setup)).unwrap();
    ns
}

#[test]
fn kernel_a_host_with_only_fwcs_rules_exits_0_and_says_so() {
    if !kernel("kernel_a_host_with_only_fwcs_rules_exits_0_and_says_so") {
        return;
    }
    let dir = dir_with(&[("default.xml", DEFAULT)]);
    // Guests on one bridge are a seventh flow when br_netfilter is on.
    for (bridge_nf, flows) in [(false, 6), (true, 7)] {
        let ns = loaded(dir.path(), bridge_nf);
        let o = doctor_in(&ns, dir.path(), &["--target", "nft"]);
        assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
        assert_eq!(
            stdout(&o),
            format!("fwc doctor: all {flows} flows pass; no drift\n")
        );
    }
}

#[test]
fn kernel_docker_and_drift_are_found_on_the_live_host() {
    if !kernel("kernel_docker_and_drift_are_found_on_the_live_host") {
        return;
    }
    let dir = dir_with(&[("default.xml", DEFAULT)]);
    let ns = loaded(dir.path(), true);
    ns.xtables_restore(
        false,
        "*filter\n:FORWARD DROP [0:0]\n:DOCKER-USER - [0:0]\n-A FORWARD -j DOCKER-USER\n\
         -A DOCKER-USER -j RETURN\nCOMMIT\n",
    )
    .unwrap();
    ns.run(
        "nft",
        &["flush", "chain", "inet", "fwc", "guest_cross"],
        None,
    )
    .unwrap();
    let o = doctor_in(&ns, dir.path(), &["--target", "nft"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with(
            "blocked: guest → outside, tcp/443 (default: virbr0 192.168.122.0/24)\n  \
             by: ip filter FORWARD (hook forward, priority 0): policy drop [managed by Docker]\n"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "drift: inet fwc guest_cross: rule missing: iifname \"virbr0\" oifname \"virbr0\" accept\n"
        ),
        "{out}"
    );
    // With br_netfilter, Docker's FORWARD drop also cuts guests off from
    // each other.
    assert!(
        out.contains(
            "blocked: guest → guest on the bridge (br_netfilter), tcp/443 (default: virbr0 \
             192.168.122.0/24)\n  by: ip filter FORWARD (hook forward, priority 0): policy drop"
        ),
        "{out}"
    );
    assert!(
        out.ends_with("fwc doctor: 3 of 7 flows blocked by foreign rules; 1 drift finding\n"),
        "{out}"
    );
}
