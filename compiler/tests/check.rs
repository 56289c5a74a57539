//! `fwc check` end to end: the built binary loads real artifacts into a
//! throwaway namespace and reports each step. The kernel tests skip with a
//! printed reason when not root, and fail instead when FWC_REQUIRE_KERNEL=1.

use std::path::Path;
use std::process::{Command, Output};

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/corpus/libvirt/network"
);

fn fwc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fwc"))
        .args(args)
        .output()
        .expect("run fwc")
}

/// Whether the kernel can be used; prints why not, or panics when required.
fn kernel(test: &str) -> bool {
    compiler::netns::may_run(test, compiler::netns::unavailable())
}

/// The step lines fwc check prints for a network on `virbr0` that passes.
fn passing_steps(target: &str) -> Vec<String> {
    let how = match target {
        "nft" => "nft -f",
        "nft-json" => "nft -j -f",
        _ => "iptables-restore --noflush",
    };
    let mut steps = vec![
        "ok: create namespace NS with bridges virbr0".to_owned(),
        format!("ok: load setup ({how})"),
        "ok: setup changed the ruleset".to_owned(),
    ];
    if target.starts_with("nft") {
        steps.push(format!("ok: load setup again ({how})"));
        steps.push("ok: setup twice equals setup once".to_owned());
    }
    steps.push(format!("ok: load teardown ({how})"));
    steps.push("ok: teardown restored the ruleset".to_owned());
    let n = steps.len();
    steps.push(format!("fwc check: all {n} steps passed"));
    steps
}

/// stdout's lines with the namespace's generated name replaced by `NS`.
fn lines_of(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(
            |l| match l.strip_prefix("ok: create namespace fwc-check-") {
                Some(rest) => format!(
                    "ok: create namespace NS{}",
                    &rest[rest.find(' ').unwrap_or(rest.len())..]
                ),
                None => l.to_owned(),
            },
        )
        .collect()
}

#[test]
fn example_and_corpus_network_pass_for_every_loader() {
    if !kernel("example_and_corpus_network_pass_for_every_loader") {
        return;
    }
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/default.xml");
    let corpus = Path::new(CORPUS).join("nat-port-range.xml");
    for input in [example, corpus] {
        for target in ["nft", "nft-json", "iptables"] {
            for layout in ["fwc", "libvirt"] {
                let input = input.to_str().unwrap();
                let o = fwc(&["check", input, "--target", target, "--layout", layout]);
                let what = format!("{input} --target {target} --layout {layout}");
                assert_eq!(
                    o.status.code(),
                    Some(0),
                    "{what}:\n{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                );
                assert_eq!(lines_of(&o), passing_steps(target), "{what}");
            }
        }
    }
}

#[test]
fn the_namespace_is_gone_afterwards() {
    if !kernel("the_namespace_is_gone_afterwards") {
        return;
    }
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/default.xml");
    let o = fwc(&["check", example.to_str().unwrap(), "--target", "nft"]);
    assert_eq!(o.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let name = stdout
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("ok: create namespace "))
        .and_then(|l| l.split(' ').next())
        .expect("the first line names the namespace");
    let list = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(
        !list.lines().any(|l| l.split(' ').next() == Some(name)),
        "{name} still exists:\n{list}"
    );
}

#[test]
fn bad_input_exits_2_before_touching_the_kernel() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent.xml");
    let o = fwc(&["check", missing.to_str().unwrap(), "--target", "nft"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "", "no step ran");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("absent.xml"), "{err}");
    assert!(err.contains("nothing was loaded"), "{err}");

    let bad = dir.path().join("bad.xml");
    std::fs::write(
        &bad,
        "<network><name>x</name><bridge name='virbr0;'/></network>",
    )
    .unwrap();
    let o = fwc(&["check", bad.to_str().unwrap(), "--target", "iptables"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("bad-ifname"));

    // Usage errors: no target, an unknown one.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/default.xml");
    let example = example.to_str().unwrap();
    assert_eq!(fwc(&["check", example]).status.code(), Some(2));
    assert_eq!(
        fwc(&["check", example, "--target", "pf"]).status.code(),
        Some(2)
    );
}
