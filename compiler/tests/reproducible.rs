//! Reproducible output: `fwc compile --target all` gives byte-identical
//! directories for the same inputs and options, whatever the order of the
//! inputs on the command line, the locale, the time zone or the moment.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::listing;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus/libvirt");

/// A deterministic permutation (Fisher-Yates driven by a fixed LCG), so a
/// failure can be replayed.
fn permuted<T: Clone>(items: &[T], mut seed: u64) -> Vec<T> {
    let mut out = items.to_vec();
    for i in (1..out.len()).rev() {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let j = (seed >> 33) as usize % (i + 1);
        out.swap(i, j);
    }
    out
}

/// Three runs over `inputs` in different orders and environments (and a
/// second apart, so a timestamp would show); the directories must be equal.
fn assert_reproducible(cwd: &Path, inputs: &[String], extra: &[&str]) {
    let reversed: Vec<String> = inputs.iter().rev().cloned().collect();
    let shuffled = permuted(inputs, 0x5eed);
    assert!(
        shuffled != inputs && shuffled != reversed,
        "the permutation changes the order"
    );
    let runs = [
        ("a", inputs.to_vec(), "C", "UTC"),
        ("b", reversed, "de_DE.UTF-8", "America/St_Johns"),
        ("c", shuffled, "tr_TR.UTF-8", "Asia/Kathmandu"),
    ];
    let mut outputs = Vec::new();
    for (i, (name, order, locale, tz)) in runs.iter().enumerate() {
        if i == 2 {
            std::thread::sleep(std::time::Duration::from_millis(1100));
        }
        let out = format!("out-{name}");
        let o = Command::new(env!("CARGO_BIN_EXE_fwc"))
            .arg("compile")
            .args(order)
            .args(extra)
            .args(["--target", "all", "-o", &out])
            .current_dir(cwd)
            .env("LC_ALL", locale)
            .env("LANG", locale)
            .env("TZ", tz)
            .output()
            .expect("run fwc");
        assert_eq!(
            o.status.code(),
            Some(0),
            "{extra:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        outputs.push(listing(&cwd.join(out)));
    }
    let first = &outputs[0];
    assert!(first.len() >= 11, "{:?}", first.keys());
    for (other, (name, ..)) in outputs.iter().zip(&runs).skip(1) {
        let names = |l: &BTreeMap<String, Vec<u8>>| l.keys().cloned().collect::<Vec<_>>();
        assert_eq!(names(other), names(first), "run {name} {extra:?}");
        for (file, bytes) in first {
            assert!(
                &other[file] == bytes,
                "{file} differs in run {name} {extra:?}:\n{}",
                similar::TextDiff::from_lines(
                    &String::from_utf8_lossy(bytes),
                    &String::from_utf8_lossy(&other[file])
                )
                .unified_diff()
            );
        }
    }
}

/// Every corpus network, compiled together. libvirt's 11 test networks are
/// all called `default` on bridge `virbr0` with overlapping subnets, so no
/// two of them compile together as they are (fwc refuses a duplicate name,
/// bridge or subnet, as libvirt does). The test therefore derives from each
/// corpus file, read at run time and written only to a temporary directory,
/// a variant with its own name (the file's stem), bridge (`virbrN`) and
/// subnets (`10.N.x.y`, `2001:db8:ca2+N::`); every one of the 11 is kept.
#[test]
fn every_corpus_network_compiles_to_the_same_bytes_in_any_order() {
    let dir = tempfile::tempdir().unwrap();
    let nets = dir.path().join("nets");
    std::fs::create_dir(&nets).unwrap();
    let mut corpus: Vec<_> = std::fs::read_dir(format!("{CORPUS}/network"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    corpus.sort();
    assert_eq!(corpus.len(), 11, "libvirt's network test inputs");
    let mut inputs = Vec::new();
    for (i, path) in corpus.iter().enumerate() {
        let stem = path.file_stem().unwrap().to_str().unwrap();
        let text = std::fs::read_to_string(path).unwrap();
        assert!(text.contains("<name>default</name>") && text.contains("virbr0"));
        let variant = text
            .replace("<name>default</name>", &format!("<name>{stem}</name>"))
            .replace("virbr0", &format!("virbr{i}"))
            .replace("192.168.", &format!("10.{i}."))
            .replace("2001:db8:ca2:", &format!("2001:db8:{:x}:", 0xca2 + i));
        std::fs::write(nets.join(format!("{stem}.xml")), variant).unwrap();
        inputs.push(format!("nets/{stem}.xml"));
    }
    for layout in ["fwc", "libvirt"] {
        assert_reproducible(dir.path(), &inputs, &["--layout", layout]);
        let o = dir.path().join("out-a/manifest.json");
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(o).unwrap()).unwrap();
        assert_eq!(manifest["inputs"].as_array().unwrap().len(), 11);
        for o in ["out-a", "out-b", "out-c"] {
            std::fs::remove_dir_all(dir.path().join(o)).unwrap();
        }
    }
}

/// libvirt's stock filters, each bound as a root to one port: the rules of
/// every filter end up in that port's chains, in an order that must not
/// follow the command line. `allow-dhcpv6-server` is left out: its
/// `DHCPSERVER` is an IPv6 address where `allow-dhcp-server`'s is IPv4.
#[test]
fn filters_on_one_port_compile_to_the_same_bytes_in_any_order() {
    let library = format!("{CORPUS}/nwfilter-library");
    let mut inputs: Vec<String> = std::fs::read_dir(&library)
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .filter(|p| p.ends_with(".xml") && !p.ends_with("/allow-dhcpv6-server.xml"))
        .collect();
    inputs.sort();
    assert!(inputs.len() > 20, "{inputs:?}");
    let dir = tempfile::tempdir().unwrap();
    let params = [
        "--port",
        "vnet0",
        "--filters",
        &library,
        "--param",
        "IP=10.0.0.5",
        "--param",
        "MAC=52:54:00:aa:bb:cc",
        "--param",
        "DHCPSERVER=10.0.0.1",
        "--param",
        "IPV6=2001:db8::5",
        "--param",
        "GATEWAY_MAC=52:54:00:00:00:01",
    ];
    for layout in ["fwc", "libvirt"] {
        let mut extra = params.to_vec();
        extra.extend(["--layout", layout]);
        assert_reproducible(dir.path(), &inputs, &extra);
        for o in ["out-a", "out-b", "out-c"] {
            std::fs::remove_dir_all(dir.path().join(o)).unwrap();
        }
    }
}
