//! Corpus parity: the libvirt layout in commands format reproduces, line for
//! line, the commands libvirt's own tests expect (`shared/corpus/libvirt/
//! network/`), for each of the 11 networks and each target.
//!
//! libvirt's harness emits its private-chain setup only once per process, so
//! the expected output of one network is `base.X` followed by `NAME-linux.X`.
//! Read-only probes (`nft list`, `tc qdisc show`, `--list-rules`) are left
//! out: fwc never runs them. libvirt's `.iptables` files mix `iptables` and
//! `ip6tables` commands; each of fwc's targets produces one binary's half.

use std::path::Path;

use compiler::pipeline::{compile_paths, Options};
use emitters::{Direction, Format, Target};
use fwc_tests::corpus;
use fwc_tests::expected::{commands, difference, is_probe};
use rules::layout::Layout;

/// The corpus file suffix and the binaries whose commands a target produces.
fn expectation(target: Target) -> (&'static str, &'static [&'static str]) {
    match target {
        Target::Nft => ("nftables", &["nft", "tc"]),
        Target::Iptables => ("iptables", &["iptables"]),
        Target::Ip6tables => ("iptables", &["ip6tables"]),
        other => panic!("no libvirt corpus for target {}", other.name()),
    }
}

/// What `target` must print for the network `name`.
fn expected(dir: &Path, name: &str, target: Target) -> Vec<String> {
    let (suffix, binaries) = expectation(target);
    let read = |file: String| {
        let path = dir.join(&file);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
    };
    let mut text = read(format!("base.{suffix}"));
    text.push_str(&read(format!("{name}-linux.{suffix}")));
    commands(&text)
        .into_iter()
        .filter(|c| !is_probe(c))
        .filter(|c| binaries.contains(&c.split(' ').next().unwrap_or("")))
        .collect()
}

/// Compiles `xml` for `target`; `Err` describes why nothing was produced.
fn actual(xml: &Path, target: Target) -> Result<Vec<String>, String> {
    let opts = Options {
        target,
        layout: Layout::Libvirt,
        format: Format::Commands,
        direction: Direction::Setup,
        optimize: false,
        ..Options::default()
    };
    match compile_paths(&[xml.to_path_buf()], &opts) {
        Ok(out) => Ok(out.artifact.text.lines().map(str::to_string).collect()),
        Err(diags) => Err(diags
            .iter()
            .map(|d| {
                let at = d
                    .line_col()
                    .map(|(l, c)| format!(" at {l}:{c}"))
                    .unwrap_or_default();
                format!("{}{at}: {}", d.code, d.message)
            })
            .collect::<Vec<_>>()
            .join("\n")),
    }
}

/// Checks every network of the corpus for `target` and reports all failures.
fn check(target: Target) {
    let dir = corpus::libvirt().join("network");
    let networks = corpus::networks();
    assert_eq!(
        networks.len(),
        11,
        "expected libvirt's 11 test networks in {}",
        dir.display()
    );
    let mut failures = Vec::new();
    for xml in &networks {
        let name = xml
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("UTF-8 file name");
        let want = expected(&dir, name, target);
        assert!(
            !want.is_empty(),
            "{name}: no expected commands for {}",
            target.name()
        );
        let report = match actual(xml, target) {
            Ok(got) => difference(&want, &got),
            Err(diags) => Some(format!("compilation failed:\n{diags}")),
        };
        if let Some(report) = report {
            failures.push(format!("=== {name} ({}) ===\n{report}", target.name()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} networks differ from libvirt for {}:\n\n{}",
        failures.len(),
        networks.len(),
        target.name(),
        failures.join("\n\n")
    );
}

#[test]
fn nft_commands_match_libvirt() {
    check(Target::Nft);
}

#[test]
fn iptables_commands_match_libvirt() {
    check(Target::Iptables);
}

#[test]
fn ip6tables_commands_match_libvirt() {
    check(Target::Ip6tables);
}

#[test]
fn expected_files_are_read_as_libvirt_wrote_them() {
    let dir = corpus::libvirt().join("network");
    let nft = expected(&dir, "nat-default", Target::Nft);
    assert_eq!(nft[0], "nft add table ip libvirt_network");
    assert!(nft.iter().all(|c| !is_probe(c)));
    assert!(nft.contains(&"tc qdisc add dev virbr0 root handle 1: htb default 2".to_string()));
    let v6 = expected(&dir, "nat-ipv6", Target::Ip6tables);
    assert!(v6.iter().all(|c| c.starts_with("ip6tables -w ")));
    assert_eq!(v6.len(), 14 + 9 + 2, "base, general IPv6, routing set");
    let v4 = expected(&dir, "nat-default", Target::Iptables);
    assert_eq!(
        v4.last().unwrap(),
        "iptables -w --table mangle --insert LIBVIRT_PRT --out-interface virbr0 --protocol udp --destination-port 68 --jump CHECKSUM --checksum-fill"
    );
}
