//! Corpus parity for libvirt's ebtables + iptables nwfilter driver: for each
//! of the 39 nwfilter tests with a `NAME-linux.args`, `--layout libvirt
//! --format commands` of the filter bound to `vnet0`, with the variables
//! libvirt's harness sets, for each of `ebtables`, `iptables` and
//! `ip6tables`.
//!
//! libvirt's harness strips fixed blocks of common commands from its
//! output before comparing (the creation and linking of the root chains
//! and the shared `libvirt-*` chains, each block at most once), so fwc may
//! print those: the check is that fwc's commands contain the expected
//! file's commands for that tool in the same order, and that every rule
//! fwc adds to the port's own chains (root chains, sub-chains, `FJ`/`FP`/
//! `HJ`) is one of the file's, in the file's order: nothing is added to
//! them that libvirt does not add.

use std::path::Path;

use compiler::pipeline::{compile_files_with_filters, load_paths, Options};
use emitters::{Direction, Format, Target};
use fwc_tests::expected::{commands, in_order, is_probe};
use fwc_tests::nwfilter::{cases, harness_params, library_for};
use rules::layout::Layout;

/// The tools libvirt's driver runs, with their binaries.
const TOOLS: [(Target, &str); 3] = [
    (Target::Ebtables, "ebtables"),
    (Target::Iptables, "iptables"),
    (Target::Ip6tables, "ip6tables"),
];

/// fwc's commands for the test filter `xml` on `vnet0`.
fn actual(xml: &Path, target: Target) -> Result<Vec<String>, String> {
    let opts = Options {
        target,
        layout: Layout::Libvirt,
        format: Format::Commands,
        direction: Direction::Setup,
        optimize: false,
        port: Some(ir::Ifname::new("vnet0").expect("a valid name")),
        params: harness_params(),
    };
    let lib = library_for(xml);
    let describe = |diags: Vec<compiler::diagnostics::Diagnostic>| {
        diags
            .iter()
            .map(|d| format!("{}: {}", d.code, d.message))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let files = load_paths(&[xml.to_path_buf()]).map_err(describe)?;
    let out = compile_files_with_filters(&files, Some(lib.path()), &opts).map_err(describe)?;
    Ok(out.artifact.text.lines().map(str::to_string).collect())
}

/// The expected file's commands for one binary.
fn expected(args: &Path, binary: &str) -> Vec<String> {
    let text = std::fs::read_to_string(args).expect("the expected file");
    commands(&text)
        .into_iter()
        .filter(|c| !is_probe(c))
        .filter(|c| c.split(' ').next() == Some(binary))
        .collect()
}

/// Whether `chain` is one of the port's own chains, under its temporary or
/// final name: `libvirt-J-vnet0`, `I-vnet0-arp`, `FJ-vnet0`, ...
fn port_chain(chain: &str) -> bool {
    let root = ["libvirt-I-", "libvirt-O-", "libvirt-J-", "libvirt-P-"]
        .iter()
        .any(|p| chain.strip_prefix(p) == Some("vnet0"));
    let sub = ["I-", "O-", "J-", "P-"].iter().any(|p| {
        chain
            .strip_prefix(p)
            .is_some_and(|r| r.starts_with("vnet0-"))
    });
    let xt = ["FI-", "FO-", "HI-", "FJ-", "FP-", "HJ-"]
        .iter()
        .any(|p| chain.strip_prefix(p) == Some("vnet0"));
    root || sub || xt
}

/// The commands that add a rule to one of the port's own chains.
fn port_rules(commands: &[String]) -> Vec<String> {
    commands
        .iter()
        .filter(|c| {
            let words: Vec<&str> = c.split(' ').collect();
            words
                .iter()
                .position(|w| *w == "-A" || *w == "-I")
                .and_then(|i| words.get(i + 1))
                .is_some_and(|chain| port_chain(chain))
        })
        .cloned()
        .collect()
}

/// What differs between fwc's commands and the file's for one tool.
fn check(want: &[String], got: &[String]) -> Option<String> {
    if let Err(report) = in_order(want, got) {
        return Some(report);
    }
    let (want_rules, got_rules) = (port_rules(want), port_rules(got));
    if want_rules != got_rules {
        let extra = got_rules
            .iter()
            .find(|r| !want_rules.contains(r))
            .map_or("(the same rules in another order)".into(), |r| {
                format!("first extra: {r}")
            });
        return Some(format!(
            "fwc adds {} rules to the port's chains, libvirt {}; {extra}",
            got_rules.len(),
            want_rules.len()
        ));
    }
    None
}

#[test]
fn ebiptables_commands_match_libvirt() {
    let cases = cases("-linux.args");
    assert_eq!(cases.len(), 39, "expected libvirt's 39 ebiptables tests");
    let mut failures = Vec::new();
    let mut passed = 0;
    for (name, xml, args) in &cases {
        let mut row = Vec::new();
        for (target, binary) in TOOLS {
            let want = expected(args, binary);
            let report = match actual(xml, target) {
                Ok(got) => check(&want, &got),
                Err(diags) => Some(format!("compilation failed:\n{diags}")),
            };
            let verdict = match report {
                Some(report) => {
                    failures.push(format!("=== {name} ({binary}) ===\n{report}"));
                    "DIFFERS"
                }
                None => {
                    passed += 1;
                    "ok"
                }
            };
            row.push(format!("{binary} {verdict} ({} commands)", want.len()));
        }
        eprintln!("{name:16} {}", row.join(", "));
    }
    eprintln!(
        "{passed} of {} test x tool comparisons match libvirt",
        cases.len() * TOOLS.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} test x tool comparisons differ from libvirt's ebiptables driver:\n\n{}",
        failures.len(),
        cases.len() * TOOLS.len(),
        failures.join("\n\n")
    );
}

/// The tests that use every kind of chain: a sub-chain (`stp`), only the
/// from-guest root chain (`rarp`, whose `-N`/link libvirt's harness cannot
/// strip) and all three iptables chains, with the expected commands found.
#[test]
fn chain_creation_and_links_appear_where_libvirt_runs_them() {
    let dir = fwc_tests::corpus::libvirt().join("nwfilter-tests");
    let got = actual(&dir.join("stp.xml"), Target::Ebtables).unwrap();
    let at = |c: &str| {
        got.iter()
            .position(|g| g == c)
            .unwrap_or_else(|| panic!("{c} missing from\n{}", got.join("\n")))
    };
    let n = at("ebtables --concurrent -t nat -N J-vnet0-stp-xyz");
    assert_eq!(
        at("ebtables --concurrent -t nat -A libvirt-J-vnet0 -d 01:80:c2:00:00:00 -j J-vnet0-stp-xyz"),
        n + 1
    );
    assert!(at("ebtables --concurrent -t nat -A PREROUTING -i vnet0 -j libvirt-J-vnet0") > n);
    // Once built, the chains take their final names.
    assert!(
        at("ebtables --concurrent -t nat -E J-vnet0-stp-xyz I-vnet0-stp-xyz")
            < at("ebtables --concurrent -t nat -E libvirt-J-vnet0 libvirt-I-vnet0")
    );

    let got = actual(&dir.join("rarp.xml"), Target::Ebtables).unwrap();
    assert!(
        !got.iter().any(|c| c.contains("libvirt-P-vnet0")),
        "{got:#?}"
    );

    // No iptables rule in the filter: no iptables commands at all.
    assert_eq!(
        actual(&dir.join("rarp.xml"), Target::Iptables).unwrap(),
        Vec::<String>::new()
    );
    let got = actual(&dir.join("tcp.xml"), Target::Iptables).unwrap();
    assert_eq!(got[0], "iptables -w -N libvirt-in");
    assert!(got.contains(&"iptables -w -I FORWARD 2 -j libvirt-out".to_string()));
    assert!(got.contains(&"iptables -w -E FJ-vnet0 FI-vnet0".to_string()));
}

#[test]
fn extra_port_rules_are_caught() {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let want = s(&["iptables -w -A FJ-vnet0 -p all -j DROP"]);
    let got = s(&[
        "iptables -w -N FJ-vnet0",
        "iptables -w -A FJ-vnet0 -p all -j DROP",
        "iptables -w -A FJ-vnet0 -p all -j ACCEPT",
    ]);
    let report = check(&want, &got).unwrap();
    assert!(
        report.contains("first extra: iptables -w -A FJ-vnet0 -p all -j ACCEPT"),
        "{report}"
    );
    assert!(check(&want, &got[..2]).is_none());
    assert!(port_chain("J-vnet0-arp") && port_chain("libvirt-O-vnet0") && port_chain("HI-vnet0"));
    assert!(!port_chain("libvirt-in") && !port_chain("PREROUTING") && !port_chain("FI-vnet01"));
}

/// `ref-rule.xml` (no expectation of its own) refers to the stock
/// `clean-traffic` and adds rules: with the stock library, its rules and
/// clean-traffic's land in their chains, the root filter's own rules first.
#[test]
fn a_test_filter_referring_to_stock_filters_binds_them_too() {
    let xml = fwc_tests::corpus::libvirt().join("nwfilter-tests/ref-rule.xml");
    let lib = fwc_tests::nwfilter::library_with(&[]);
    let mut params = harness_params();
    params.push(("MAC".into(), "52:54:00:aa:bb:cc".into()));
    params.push(("IP".into(), "10.0.0.5".into()));
    let run = |target| {
        let opts = Options {
            target,
            layout: Layout::Libvirt,
            format: Format::Commands,
            direction: Direction::Setup,
            optimize: false,
            port: Some(ir::Ifname::new("vnet0").expect("a valid name")),
            params: params.clone(),
        };
        let files = load_paths(std::slice::from_ref(&xml)).expect("readable");
        let out = compile_files_with_filters(&files, Some(lib.path()), &opts)
            .unwrap_or_else(|d| panic!("{d:?}"));
        out.artifact
            .text
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let eb = run(Target::Ebtables);
    let want: Vec<String> = [
        "-A libvirt-J-vnet0 -j J-vnet0-mac",
        "-A libvirt-J-vnet0 -s 01:02:03:04:05:06/ff:ff:ff:ff:ff:ff -p 0x806 -j ACCEPT",
        "-A libvirt-J-vnet0 -j DROP",
        "-A J-vnet0-mac -s 52:54:00:aa:bb:cc -j RETURN",
        "-A J-vnet0-ipv4-ip -p ipv4 --ip-source 10.0.0.5 -j RETURN",
    ]
    .iter()
    .map(|c| format!("ebtables --concurrent -t nat {c}"))
    .collect();
    in_order(&want, &eb).unwrap_or_else(|e| panic!("{e}\n{}", eb.join("\n")));
    let ipt = run(Target::Iptables);
    assert!(
        ipt.contains(
            &"iptables -w -A FJ-vnet0 -p tcp -m mac --mac-source 01:02:03:04:05:06 \
         --destination 10.1.2.3/32 -m dscp --dscp 2 -m conntrack --ctstate NEW,ESTABLISHED -m \
         conntrack --ctdir Original -j RETURN"
                .to_string()
        ),
        "{ipt:#?}"
    );
    let ip6 = run(Target::Ip6tables);
    assert!(
        ip6.iter()
            .any(|c| c.starts_with("ip6tables -w -A HJ-vnet0 -p udp")),
        "{ip6:#?}"
    );
}
