//! Every libvirt corpus network, in both layouts and for every script target,
//! loads into a real kernel beside foreign rules, setup is idempotent where the
//! target promises it, and teardown restores the ruleset exactly.

use std::path::Path;

use compiler::pipeline::{compile_paths, Options};
use emitters::{Direction, Format, Target};
use fwc_tests::corpus;
use fwc_tests::netns::{load_foreign_state, Netns};
use rules::layout::Layout;

/// Compiles `input` for one target/layout/format/direction, or panics with the diagnostics.
fn compile(
    input: &Path,
    target: Target,
    layout: Layout,
    format: Format,
    direction: Direction,
) -> (String, ir::Ruleset) {
    let opts = Options {
        target,
        layout,
        format,
        direction,
        ..Options::default()
    };
    match compile_paths(&[input.to_path_buf()], &opts) {
        Ok(out) => (out.artifact.text, out.ruleset),
        Err(diags) => panic!(
            "{} --target {} {layout:?} {direction:?}: {diags:?}",
            input.display(),
            target.name()
        ),
    }
}

fn load(ns: &Netns, target: Target, text: &str) -> Result<(), String> {
    match target {
        Target::Nft => ns.nft_load(text),
        Target::NftJson => ns.nft_json_load(text),
        Target::Iptables => ns.xtables_restore(false, text),
        Target::Ip6tables => ns.xtables_restore(true, text),
        Target::Ebtables => ns.ebtables_restore(text),
    }
    .map_err(|f| f.to_string())
}

/// Whether the target's artifact holds any of the ruleset's tables (ebtables
/// carries only bridge tables, and networks have none).
fn emits_something(target: Target, ruleset: &ir::Ruleset) -> bool {
    match target {
        Target::Ebtables => ruleset
            .tables
            .iter()
            .any(|t| t.family == ir::Family::Bridge),
        _ => !ruleset.tables.is_empty(),
    }
}

/// Loads setup then teardown beside foreign state; returns what went wrong.
fn setup_teardown_round_trip(input: &Path, target: Target, layout: Layout) -> Result<(), String> {
    let (setup, ruleset) = compile(input, target, layout, Format::Script, Direction::Setup);
    let (teardown, _) = compile(input, target, layout, Format::Script, Direction::Teardown);
    let ns = Netns::new();
    for ifname in fwc_tests::ruleset::interfaces(&ruleset) {
        ns.add_bridge(&ifname);
    }
    load_foreign_state(&ns);
    let before = ns.ruleset();
    if target == Target::Nft {
        ns.nft_check(&setup)
            .map_err(|f| format!("nft -c rejected setup: {f}\n{setup}"))?;
    }
    load(&ns, target, &setup).map_err(|e| format!("setup rejected: {e}\n{setup}"))?;
    let installed = ns.ruleset();
    if emits_something(target, &ruleset) && installed == before {
        return Err("setup loaded but changed nothing".into());
    }
    if !emits_something(target, &ruleset) && installed != before {
        return Err("setup changed the ruleset though it holds no table".into());
    }
    if matches!(target, Target::Nft | Target::NftJson) {
        load(&ns, target, &setup).map_err(|e| format!("second setup rejected: {e}"))?;
        if ns.ruleset() != installed {
            return Err(format!(
                "setup twice differs from setup once:\n{}",
                ns.ruleset_text()
            ));
        }
    }
    load(&ns, target, &teardown).map_err(|e| format!("teardown rejected: {e}\n{teardown}"))?;
    let after = ns.ruleset();
    if after != before {
        return Err(format!(
            "teardown did not restore the ruleset; now:\n{}\nteardown was:\n{teardown}",
            ns.ruleset_text()
        ));
    }
    Ok(())
}

fn run_matrix(test: &str, cases: &[(Target, Layout)]) {
    if Netns::for_test(test).is_none() {
        return;
    }
    let mut failures = Vec::new();
    let mut checked = 0;
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/default.xml");
    for input in corpus::networks().into_iter().chain([example]) {
        for &(target, layout) in cases {
            checked += 1;
            if let Err(e) = setup_teardown_round_trip(&input, target, layout) {
                failures.push(format!(
                    "{} --target {} --layout {layout:?}: {e}",
                    input.file_name().unwrap().to_string_lossy(),
                    target.name()
                ));
            }
        }
    }
    assert_eq!(
        checked,
        12 * cases.len(),
        "11 corpus networks and the example"
    );
    assert!(
        failures.is_empty(),
        "{} of {checked} failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn corpus_nft_scripts_load_and_tear_down_exactly() {
    run_matrix(
        "corpus_nft_scripts_load_and_tear_down_exactly",
        &[(Target::Nft, Layout::Fwc), (Target::Nft, Layout::Libvirt)],
    );
}

#[test]
fn corpus_xtables_scripts_load_and_tear_down_exactly() {
    run_matrix(
        "corpus_xtables_scripts_load_and_tear_down_exactly",
        &[
            (Target::Iptables, Layout::Libvirt),
            (Target::Ip6tables, Layout::Libvirt),
            (Target::Iptables, Layout::Fwc),
            (Target::Ip6tables, Layout::Fwc),
        ],
    );
}

#[test]
fn corpus_nft_json_documents_load_and_tear_down_exactly() {
    run_matrix(
        "corpus_nft_json_documents_load_and_tear_down_exactly",
        &[
            (Target::NftJson, Layout::Fwc),
            (Target::NftJson, Layout::Libvirt),
        ],
    );
}

/// Networks have no ebtables rules: the artifact is empty (with a note),
/// loads, changes nothing, and neither does its teardown.
#[test]
fn corpus_ebtables_scripts_load_and_tear_down_exactly() {
    run_matrix(
        "corpus_ebtables_scripts_load_and_tear_down_exactly",
        &[
            (Target::Ebtables, Layout::Fwc),
            (Target::Ebtables, Layout::Libvirt),
        ],
    );
}

/// Drops the rule comments nft-json adds for provenance (the nft script
/// keeps provenance in `#` lines that never reach the kernel).
fn without_comments(mut listing: serde_json::Value) -> serde_json::Value {
    if let Some(items) = listing["nftables"].as_array_mut() {
        for i in items {
            if let Some(rule) = i.get_mut("rule").and_then(|r| r.as_object_mut()) {
                rule.remove("comment");
            }
        }
    }
    listing
}

/// The JSON document and the nft script of every corpus network install
/// the same ruleset, in both layouts.
#[test]
fn corpus_nft_json_installs_what_the_nft_script_installs() {
    if Netns::for_test("corpus_nft_json_installs_what_the_nft_script_installs").is_none() {
        return;
    }
    let mut failures = Vec::new();
    for input in corpus::networks() {
        for layout in [Layout::Fwc, Layout::Libvirt] {
            let mut listings = Vec::new();
            for target in [Target::Nft, Target::NftJson] {
                let (setup, ruleset) =
                    compile(&input, target, layout, Format::Script, Direction::Setup);
                let ns = Netns::new();
                for ifname in fwc_tests::ruleset::interfaces(&ruleset) {
                    ns.add_bridge(&ifname);
                }
                load(&ns, target, &setup).unwrap_or_else(|e| panic!("{e}\n{setup}"));
                listings.push(without_comments(ns.ruleset()));
            }
            if listings[0] != listings[1] {
                failures.push(format!(
                    "{} --layout {layout:?}: nft-json installs {}\nnft installs {}",
                    input.file_name().unwrap().to_string_lossy(),
                    listings[1],
                    listings[0]
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// libvirt's own command lines (nft and tc, iptables, ip6tables), run one by
/// one in a namespace as libvirt runs them: the kernel accepts every one.
#[test]
fn corpus_libvirt_commands_run_in_a_kernel() {
    if Netns::for_test("corpus_libvirt_commands_run_in_a_kernel").is_none() {
        return;
    }
    let csum = tc_csum_support();
    if let Err(why) = &csum {
        eprintln!("NOTE corpus_libvirt_commands_run_in_a_kernel: `tc ... action csum` lines not run: {why}");
    }
    let mut failures = Vec::new();
    let mut ran = 0;
    for input in corpus::networks() {
        let ns = Netns::new();
        for target in [Target::Nft, Target::Iptables, Target::Ip6tables] {
            let (commands, ruleset) = compile(
                &input,
                target,
                Layout::Libvirt,
                Format::Commands,
                Direction::Setup,
            );
            for ifname in fwc_tests::ruleset::interfaces(&ruleset) {
                if ns.run("ip", &["link", "show", &ifname], None).is_err() {
                    ns.add_bridge(&ifname);
                }
            }
            for line in commands.lines().filter(|l| !l.trim().is_empty()) {
                if csum.is_err() && line.contains(" action csum ") {
                    continue;
                }
                ran += 1;
                if let Err(f) = ns.sh(line) {
                    failures.push(format!(
                        "{}: {f}",
                        input.file_name().unwrap().to_string_lossy()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(ran > 11 * 20, "only {ran} commands ran");
}

/// Whether this kernel can load tc's `csum` action (some minimal kernels are
/// built without any tc actions; the lines are then checked by parity only).
fn tc_csum_support() -> Result<(), String> {
    let ns = Netns::new();
    ns.add_bridge("probe0");
    ns.sh("tc qdisc add dev probe0 root handle 1: htb default 2")
        .and_then(|_| ns.sh("tc filter add dev probe0 prio 2 protocol ip parent 1: u32 match ip dport 68 ffff action csum ip and udp"))
        .map(drop)
        .map_err(|f| f.output.trim().to_owned())
}

/// libvirt's stock `clean-traffic` filter bound to a guest port through a
/// `<filterbinding>` (IP 10.0.0.5, MAC 52:54:00:aa:bb:cc), alone and with a
/// second port whose filter also has iptables and ip6tables rules: in the
/// libvirt layout, for ebtables, iptables and ip6tables, setup loads beside
/// foreign rules and teardown restores the ruleset exactly. The command
/// lines, run as libvirt runs them (its clean-ups' errors ignored), build
/// the same ruleset as the script, and their teardown removes every chain
/// of the ports.
#[test]
fn nwfilter_bindings_load_and_tear_down_exactly() {
    use fwc_tests::nwfilter::{
        binding_xml, compile_bindings, library_with, may_fail, GUEST_IP, GUEST_MAC, SSH_ONLY,
    };
    if Netns::for_test("nwfilter_bindings_load_and_tear_down_exactly").is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let lib = library_with(&[("fwc-ssh-only.xml", SSH_ONLY)]);
    let write = |name: &str, xml: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, xml).expect("written");
        path
    };
    let clean = write(
        "clean.xml",
        binding_xml("vnet0", GUEST_MAC, "clean-traffic", &[("IP", GUEST_IP)]),
    );
    let ssh = write(
        "ssh.xml",
        binding_xml(
            "vnet1",
            "52:54:00:aa:bb:cd",
            "fwc-ssh-only",
            &[("IP", "10.0.0.7")],
        ),
    );
    let mut failures = Vec::new();
    for inputs in [vec![clean.clone()], vec![clean, ssh]] {
        for target in [Target::Ebtables, Target::Iptables, Target::Ip6tables] {
            let case = format!("{} port(s) --target {}", inputs.len(), target.name());
            let build = |format, direction| {
                compile_bindings(&inputs, lib.path(), target, format, direction)
                    .unwrap_or_else(|e| panic!("{case}: {e}"))
            };
            let (setup, ruleset) = build(Format::Script, Direction::Setup);
            let (teardown, _) = build(Format::Script, Direction::Teardown);
            // clean-traffic has ethernet rules only: libvirt adds no
            // iptables rules for it, and neither does fwc.
            let expect_rules = target == Target::Ebtables || inputs.len() == 2;
            if expect_rules == ruleset.tables.is_empty() {
                failures.push(format!("{case}: rules expected: {expect_rules}\n{ruleset}"));
                continue;
            }
            let ns = Netns::new();
            load_foreign_state(&ns);
            let before = ns.ruleset();
            if let Err(e) = load(&ns, target, &setup) {
                failures.push(format!("{case}: setup rejected: {e}\n{setup}"));
                continue;
            }
            let installed = ns.ruleset();
            if expect_rules == (installed == before) {
                failures.push(format!(
                    "{case}: setup changed the ruleset: {}",
                    !expect_rules
                ));
            }
            if let Err(e) = load(&ns, target, &teardown) {
                failures.push(format!("{case}: teardown rejected: {e}\n{teardown}"));
                continue;
            }
            if ns.ruleset() != before {
                failures.push(format!(
                    "{case}: teardown did not restore the ruleset; now:\n{}",
                    ns.ruleset_text()
                ));
            }

            // The same through libvirt's command lines.
            let (commands, _) = build(Format::Commands, Direction::Setup);
            let (undo, _) = build(Format::Commands, Direction::Teardown);
            let ns = Netns::new();
            load_foreign_state(&ns);
            let run = |text: &str, failures: &mut Vec<String>| {
                for line in text.lines() {
                    if let (Err(f), false) = (ns.sh(line), may_fail(line)) {
                        failures.push(format!("{case}: {f}"));
                    }
                }
            };
            run(&commands, &mut failures);
            // The same objects, and in each chain the same rules in the same
            // order (chains are listed in creation order, which differs).
            let built = ns.ruleset();
            let diff = fwc_tests::netns::differences(&installed, &built);
            if !diff.is_empty() || rules_by_chain(&built) != rules_by_chain(&installed) {
                failures.push(format!(
                    "{case}: the commands built another ruleset than the script:\n{diff}\n{}",
                    ns.ruleset_text()
                ));
            }
            run(&undo, &mut failures);
            let left = ns.ruleset_text();
            if left.contains("vnet") {
                failures.push(format!("{case}: command teardown left port rules:\n{left}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Each chain's rules, in order, from a normalised listing.
fn rules_by_chain(
    listing: &serde_json::Value,
) -> std::collections::BTreeMap<String, Vec<serde_json::Value>> {
    let mut out: std::collections::BTreeMap<String, Vec<serde_json::Value>> = Default::default();
    let items = listing["nftables"].as_array().cloned().unwrap_or_default();
    for rule in items.iter().filter_map(|i| i.get("rule")) {
        let key = format!("{} {} {}", rule["family"], rule["table"], rule["chain"]);
        out.entry(key).or_default().push(rule.clone());
    }
    out
}
