//! libvirt's stock `clean-traffic` bound to a guest port (`vnet0`, a veth
//! enslaved to a bridge) through a `<filterbinding>` with IP 10.0.0.5 and
//! MAC 52:54:00:aa:bb:cc, compiled for nft and nft-json in both layouts:
//! setup loads into a kernel that already holds foreign rules, setup twice
//! equals setup once, and teardown restores the ruleset exactly. libvirt's
//! command lines build what the script declares, and fwc's bridge layout
//! also loads through ebtables.

use emitters::{Direction, Format, Target};
use fwc_tests::netns::{load_foreign_state, Netns};
use fwc_tests::ports::{binding, compile, stock_filters, Inputs, GUEST_IP, GUEST_MAC};
use rules::layout::Layout;

/// The binding of `clean-traffic` to `vnet0`.
fn clean_traffic() -> Inputs {
    Inputs::write(&[(
        "clean.xml".into(),
        binding("vnet0", GUEST_MAC, "clean-traffic", GUEST_IP),
    )])
}

/// A namespace with the guest's port: `vnet0`, one end of a veth pair,
/// enslaved to the bridge `br0`; foreign rules loaded.
fn host(test: &str) -> Option<Netns> {
    let ns = Netns::for_test(test)?;
    ns.sh(
        "ip link add br0 type bridge && ip link add vnet0 type veth peer name guest0 && \
         ip link set vnet0 master br0 && ip link set br0 up && ip link set vnet0 up",
    )
    .unwrap_or_else(|f| panic!("{f}"));
    load_foreign_state(&ns);
    Some(ns)
}

fn load(ns: &Netns, target: Target, text: &str) -> Result<(), String> {
    ns.load(target, text).map_err(|f| f.to_string())
}

/// Setup, setup again, teardown: what went wrong, if anything.
fn round_trip(target: Target, layout: Layout) -> Result<(), String> {
    let test = format!("nwfilter {} {layout:?}", target.name());
    let Some(ns) = host(&test) else {
        return Ok(());
    };
    let inputs = clean_traffic();
    let build = |direction| {
        compile(
            &inputs.files,
            &stock_filters(),
            target,
            layout,
            Format::Script,
            direction,
        )
    };
    let setup = build(Direction::Setup);
    let teardown = build(Direction::Teardown);
    if !setup.artifact.notes.is_empty() {
        return Err(format!("unexpected notes: {:?}", setup.artifact.notes));
    }
    let before = ns.ruleset();
    load(&ns, target, &setup.artifact.text)
        .map_err(|e| format!("setup rejected: {e}\n{}", setup.artifact.text))?;
    let installed = ns.ruleset();
    let listing = ns.ruleset_text();
    let tables: &[&str] = match layout {
        Layout::Libvirt => &["libvirt_nwfilter_ethernet", "libvirt_nwfilter_inet"],
        Layout::Fwc => &["fwc"],
    };
    for t in tables {
        if !listing.contains(&format!("table bridge {t} {{")) {
            return Err(format!("table bridge {t} missing after setup:\n{listing}"));
        }
    }
    if !listing.contains("ether saddr 52:54:00:aa:bb:cc") || !listing.contains("10.0.0.5") {
        return Err(format!("the guest's MAC or IP is not matched:\n{listing}"));
    }
    load(&ns, target, &setup.artifact.text).map_err(|e| format!("second setup rejected: {e}"))?;
    if ns.ruleset() != installed {
        return Err(format!(
            "setup twice differs from setup once:\n{}",
            fwc_tests::netns::differences(&installed, &ns.ruleset())
        ));
    }
    load(&ns, target, &teardown.artifact.text)
        .map_err(|e| format!("teardown rejected: {e}\n{}", teardown.artifact.text))?;
    if ns.ruleset() != before {
        return Err(format!(
            "teardown did not restore the ruleset:\n{}",
            fwc_tests::netns::differences(&before, &ns.ruleset())
        ));
    }
    Ok(())
}

#[test]
fn clean_traffic_loads_and_tears_down_exactly() {
    let mut failures = Vec::new();
    for layout in [Layout::Libvirt, Layout::Fwc] {
        for target in [Target::Nft, Target::NftJson] {
            if let Err(e) = round_trip(target, layout) {
                failures.push(format!(
                    "--target {} --layout {layout:?}: {e}",
                    target.name()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// libvirt's commands, run one by one as libvirt runs them (the `delete
/// element` that clears a port's old dispatch may fail), build exactly the
/// ruleset the libvirt-layout script declares.
#[test]
fn libvirt_commands_build_what_the_script_declares() {
    let Some(ns) = host("libvirt_commands_build_what_the_script_declares") else {
        return;
    };
    let inputs = clean_traffic();
    let build = |format| {
        compile(
            &inputs.files,
            &stock_filters(),
            Target::Nft,
            Layout::Libvirt,
            format,
            Direction::Setup,
        )
        .artifact
        .text
    };
    let before = ns.ruleset();
    let mut ran = 0;
    for line in build(Format::Commands).lines() {
        ran += 1;
        if let Err(f) = ns.sh(line) {
            assert!(line.starts_with("nft delete element "), "{f}");
        }
    }
    assert!(ran > 40, "only {ran} commands");
    let built = ns.ruleset();
    assert_ne!(built, before);
    let script = Netns::new();
    script
        .sh(
            "ip link add br0 type bridge && ip link add vnet0 type veth peer name guest0 && \
             ip link set vnet0 master br0",
        )
        .unwrap_or_else(|f| panic!("{f}"));
    load_foreign_state(&script);
    load(&script, Target::Nft, &build(Format::Script)).unwrap_or_else(|e| panic!("{e}"));
    let declared = script.ruleset();
    assert!(
        built == declared,
        "the commands and the script differ:\n{}",
        fwc_tests::netns::differences(&declared, &built)
    );
}

/// fwc's bridge layout through ebtables: the verdict maps become one rule
/// per port, the restore file loads beside foreign rules and its teardown
/// restores them exactly.
#[test]
fn fwc_layout_loads_through_ebtables() {
    let Some(ns) = host("fwc_layout_loads_through_ebtables") else {
        return;
    };
    let inputs = clean_traffic();
    let build = |direction| {
        compile(
            &inputs.files,
            &stock_filters(),
            Target::Ebtables,
            Layout::Fwc,
            Format::Script,
            direction,
        )
    };
    let setup = build(Direction::Setup);
    let teardown = build(Direction::Teardown);
    assert!(
        setup
            .artifact
            .text
            .contains("-A in_l2 -o vnet0 -j vnet0-in"),
        "{}",
        setup.artifact.text
    );
    let before = ns.ruleset();
    load(&ns, Target::Ebtables, &setup.artifact.text).unwrap_or_else(|e| panic!("{e}"));
    let listing = ns
        .run("ebtables", &["-t", "nat", "-L"], None)
        .unwrap_or_else(|f| panic!("{f}"));
    assert!(
        listing.contains("-s 52:54:00:aa:bb:cc -j RETURN"),
        "{listing}"
    );
    assert!(
        listing.contains("--arp-ip-src 10.0.0.5 -j RETURN"),
        "{listing}"
    );
    load(&ns, Target::Ebtables, &teardown.artifact.text).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        ns.ruleset() == before,
        "{}",
        fwc_tests::netns::differences(&before, &ns.ruleset())
    );
}
