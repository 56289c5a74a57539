//! libvirt's network XML corpus (`network-xml/`): forward modes libvirt does not
//! firewall produce no rules on any target; firewalled ones compile everywhere
//! and load into a kernel.

use compiler::front::{self, Document};
use compiler::pipeline::{compile_paths, load_paths, Options};
use emitters::{Direction, Format, Target};
use fwc_tests::corpus;
use fwc_tests::netns::{load_foreign_state, Netns};
use rules::layout::Layout;
use rules::network::{ForwardMode, Network};

/// Every network of `network-xml/` that fwc accepts, with its file.
fn accepted_networks() -> Vec<(std::path::PathBuf, Network)> {
    corpus::xml_files(&corpus::libvirt().join("network-xml"))
        .into_iter()
        .filter_map(|path| {
            let file = load_paths(std::slice::from_ref(&path)).ok()?.pop()?;
            match front::parse(&file) {
                Ok(Document::Network(n)) => Some((path, n)),
                Ok(_) | Err(_) => None,
            }
        })
        .collect()
}

const TARGETS: [Target; 3] = [Target::Nft, Target::Iptables, Target::Ip6tables];
const LAYOUTS: [Layout; 2] = [Layout::Fwc, Layout::Libvirt];

#[test]
fn unfirewalled_modes_produce_no_rules_on_any_target() {
    let mut checked = Vec::new();
    for (path, net) in accepted_networks() {
        if net.forward.mode.is_firewalled() {
            continue;
        }
        for target in TARGETS {
            for layout in LAYOUTS {
                for format in [Format::Script, Format::Commands] {
                    let opts = Options {
                        target,
                        layout,
                        format,
                        direction: Direction::Setup,
                        ..Options::default()
                    };
                    let out = compile_paths(std::slice::from_ref(&path), &opts)
                        .unwrap_or_else(|d| panic!("{}: {d:?}", path.display()));
                    assert!(
                        out.ruleset.tables.is_empty(),
                        "{}: {:?} gave\n{}",
                        path.display(),
                        net.forward.mode,
                        out.ruleset
                    );
                    let commands: Vec<_> = out
                        .artifact
                        .text
                        .lines()
                        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
                        .collect();
                    assert!(
                        commands.is_empty(),
                        "{} {} {layout:?} {format:?}: {commands:?}",
                        path.display(),
                        target.name()
                    );
                }
            }
        }
        checked.push(net.forward.mode);
    }
    for mode in [
        ForwardMode::Open,
        ForwardMode::Bridge,
        ForwardMode::Private,
        ForwardMode::Vepa,
        ForwardMode::Passthrough,
        ForwardMode::Hostdev,
    ] {
        assert!(
            checked.contains(&mode),
            "no {mode:?} network in the corpus was checked"
        );
    }
}

#[test]
fn firewalled_modes_compile_for_every_target_and_load_in_a_kernel() {
    let kernel =
        Netns::for_test("firewalled_modes_compile_for_every_target_and_load_in_a_kernel").is_some();
    let mut failures = Vec::new();
    let mut loaded = 0;
    for (path, net) in accepted_networks() {
        if !net.forward.mode.is_firewalled() {
            continue;
        }
        for layout in LAYOUTS {
            for target in TARGETS {
                let opts = Options {
                    target,
                    layout,
                    ..Options::default()
                };
                let out = match compile_paths(std::slice::from_ref(&path), &opts) {
                    Ok(out) => out,
                    Err(d) => {
                        failures.push(format!(
                            "{} {} {layout:?}: {d:?}",
                            path.display(),
                            target.name()
                        ));
                        continue;
                    }
                };
                assert!(
                    !out.ruleset.tables.is_empty(),
                    "{}: a {:?} network got no rules",
                    path.display(),
                    net.forward.mode
                );
                if !kernel || target != Target::Nft {
                    continue;
                }
                let ns = Netns::new();
                for ifname in fwc_tests::ruleset::interfaces(&out.ruleset) {
                    ns.add_bridge(&ifname);
                }
                load_foreign_state(&ns);
                let before = ns.ruleset();
                let teardown = compile_paths(
                    std::slice::from_ref(&path),
                    &Options {
                        direction: Direction::Teardown,
                        ..opts
                    },
                )
                .expect("teardown compiles when setup does");
                if let Err(f) = ns
                    .nft_load(&out.artifact.text)
                    .and_then(|_| ns.nft_load(&teardown.artifact.text))
                {
                    failures.push(format!("{} {layout:?}: {f}", path.display()));
                } else if ns.ruleset() != before {
                    failures.push(format!(
                        "{} {layout:?}: teardown left\n{}",
                        path.display(),
                        ns.ruleset_text()
                    ));
                }
                loaded += 1;
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    if kernel {
        assert!(loaded >= 40, "only {loaded} artifacts were loaded");
    }
}
