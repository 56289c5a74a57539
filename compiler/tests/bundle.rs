//! `fwc compile --target all -o DIR` end to end: the files and manifest, the
//! directory replaced as a whole or not at all, usage errors, and `-` for
//! standard input and output.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{fwc, fwc_stdin, listing, stderr, stdout};
use sha2::{Digest, Sha256};

const LIBRARY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/corpus/libvirt/nwfilter-library"
);

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/default.xml")
}

/// `fwc compile ARGS... --target all -o OUT` in `dir`.
fn compile_all(dir: &Path, args: &[&str], out: &str) -> Output {
    let mut argv = vec!["compile"];
    argv.extend_from_slice(args);
    argv.extend(["--target", "all", "-o", out]);
    fwc(dir, &argv)
}

fn ok(o: &Output) {
    assert_eq!(o.status.code(), Some(0), "{}", stderr(o));
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn manifest(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("manifest.json")).expect("a manifest");
    serde_json::from_str(&text).expect("the manifest is JSON")
}

/// The single-target arguments that print the same artifact as `name`.
fn single_target(name: &str) -> (&'static str, bool) {
    match name {
        "setup.nft" => ("nft", false),
        "teardown.nft" => ("nft", true),
        "setup.nft.json" => ("nft-json", false),
        "teardown.nft.json" => ("nft-json", true),
        "rules.v4" => ("iptables", false),
        "teardown.v4" => ("iptables", true),
        "rules.v6" => ("ip6tables", false),
        "teardown.v6" => ("ip6tables", true),
        "ebtables.rules" => ("ebtables", false),
        "teardown.ebtables" => ("ebtables", true),
        other => panic!("unexpected artifact {other}"),
    }
}

const SCRIPTS: [&str; 10] = [
    "setup.nft",
    "teardown.nft",
    "setup.nft.json",
    "teardown.nft.json",
    "rules.v4",
    "teardown.v4",
    "rules.v6",
    "teardown.v6",
    "ebtables.rules",
    "teardown.ebtables",
];

#[test]
fn every_artifact_is_written_with_a_manifest_that_matches() {
    let input = example();
    let input = input.to_str().unwrap();
    for layout in ["fwc", "libvirt"] {
        let dir = tempfile::tempdir().unwrap();
        let o = compile_all(dir.path(), &[input, "--layout", layout], "out");
        ok(&o);
        assert_eq!(stdout(&o), "", "nothing on stdout");
        // The checksum notes are covered by the tc scripts.
        assert!(!stderr(&o).contains("checksum-fill"), "{}", stderr(&o));
        let out = dir.path().join("out");
        let files = listing(&out);
        let mut expected: Vec<&str> = SCRIPTS.to_vec();
        expected.extend(["setup.tc.sh", "teardown.tc.sh", "manifest.json"]);
        expected.sort();
        assert_eq!(names(&out), expected, "--layout {layout}");

        let m = manifest(&out);
        assert_eq!(m["fwc"]["name"], "fwc");
        assert_eq!(m["fwc"]["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(m["layout"], layout);
        assert_eq!(m["options"]["optimize"], true);
        assert_eq!(m["options"]["filters"], serde_json::Value::Null);
        let inputs = m["inputs"].as_array().unwrap();
        assert_eq!(inputs.len(), 1);
        assert_eq!(inputs[0]["path"], input);
        assert_eq!(inputs[0]["kind"], "network");
        assert_eq!(inputs[0]["name"], "default");
        assert_eq!(
            inputs[0]["sha256"],
            sha256(&std::fs::read(input).unwrap()).as_str()
        );

        let artifacts = m["artifacts"].as_array().unwrap();
        let listed: Vec<&str> = artifacts
            .iter()
            .map(|a| a["name"].as_str().unwrap())
            .collect();
        assert_eq!(listed.len(), files.len() - 1, "every file but the manifest");
        for a in artifacts {
            let name = a["name"].as_str().unwrap();
            let bytes = &files[name];
            assert_eq!(a["sha256"], sha256(bytes).as_str(), "{name}");
            assert_eq!(a["bytes"], bytes.len(), "{name}");
            let argv: Vec<&str> = a["apply"]["argv"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            // The command names the file, as an argument or on stdin.
            let stdin = a["apply"]["stdin"].as_str();
            assert!(argv.contains(&name) || stdin == Some(name), "{a}");
            let command = a["apply"]["command"].as_str().unwrap();
            assert!(command.starts_with(&argv.join(" ")), "{a}");
            if let Some(file) = stdin {
                assert!(command.ends_with(&format!(" < {file}")), "{a}");
            }
            let direction = if name.starts_with("teardown") {
                "teardown"
            } else {
                "setup"
            };
            assert_eq!(a["direction"], direction, "{name}");
            if name.ends_with(".tc.sh") {
                assert_eq!(a["target"], "tc");
                continue;
            }

            // Byte for byte what the single target prints.
            let (target, teardown) = single_target(name);
            assert_eq!(a["target"], target, "{name}");
            let mut args = vec!["compile", input, "--target", target, "--layout", layout];
            if teardown {
                args.push("--teardown");
            }
            let single = fwc(dir.path(), &args);
            ok(&single);
            assert_eq!(&single.stdout, bytes, "{name} --layout {layout}");
            let empty = String::from_utf8_lossy(bytes)
                .lines()
                .all(|l| l.starts_with('#') || l.trim().is_empty());
            if target != "nft-json" {
                assert_eq!(a["empty"], empty, "{name}");
            }
        }
        // Networks have no ebtables rules; the file is there, and says so.
        let eb = artifacts
            .iter()
            .find(|a| a["name"] == "ebtables.rules")
            .unwrap();
        assert_eq!(eb["empty"], true);

        // The tc scripts carry libvirt's companion lines, guarded.
        let commands = fwc(
            dir.path(),
            &[
                "compile", input, "--target", "nft", "--layout", layout, "--format", "commands",
            ],
        );
        ok(&commands);
        let tc_setup = String::from_utf8(files["setup.tc.sh"].clone()).unwrap();
        let tc_teardown = String::from_utf8(files["teardown.tc.sh"].clone()).unwrap();
        let tc_lines: Vec<String> = stdout(&commands)
            .lines()
            .filter(|l| l.starts_with("tc "))
            .map(str::to_owned)
            .collect();
        assert_eq!(tc_lines.len(), 2, "{}", stdout(&commands));
        for line in &tc_lines {
            assert!(tc_setup.contains(&format!("\t{line}\n")), "{tc_setup}");
            if line.starts_with("tc filter add ") {
                let del = line.replace("tc filter add ", "tc filter del ");
                assert!(tc_teardown.contains(&format!("\t{del}\n")), "{tc_teardown}");
            }
        }
        assert!(!tc_teardown.contains("qdisc del"), "{tc_teardown}");
    }
}

#[test]
fn a_failed_run_leaves_the_previous_directory_intact() {
    let dir = tempfile::tempdir().unwrap();
    let input = example();
    ok(&compile_all(dir.path(), &[input.to_str().unwrap()], "out"));
    let before = listing(&dir.path().join("out"));
    std::fs::write(
        dir.path().join("bad.xml"),
        "<network><name>x</name><bridge name='virbr0;'/></network>\n",
    )
    .unwrap();
    let o = compile_all(dir.path(), &["bad.xml"], "out");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("bad.xml:1:38"), "{}", stderr(&o));
    assert!(stderr(&o).contains("nothing was written"), "{}", stderr(&o));
    assert_eq!(listing(&dir.path().join("out")), before);
    // No temporary directory left beside it.
    assert_eq!(names(dir.path()), ["bad.xml", "out"]);
}

#[test]
fn a_second_run_replaces_an_fwc_directory_as_a_whole() {
    let dir = tempfile::tempdir().unwrap();
    let input = example();
    let input = input.to_str().unwrap();
    ok(&compile_all(
        dir.path(),
        &[input, "--layout", "libvirt"],
        "out",
    ));
    let libvirt = listing(&dir.path().join("out"));
    // Without DHCP there is no checksum fix, so no tc scripts.
    let text = std::fs::read_to_string(input).unwrap();
    let start = text.find("<dhcp>").unwrap();
    let end = text.find("</dhcp>").unwrap() + "</dhcp>".len();
    let no_dhcp = format!("{}{}", &text[..start], &text[end..]);
    std::fs::write(dir.path().join("plain.xml"), no_dhcp).unwrap();
    ok(&compile_all(dir.path(), &["plain.xml"], "out"));
    let fwc_layout = listing(&dir.path().join("out"));
    assert_ne!(fwc_layout["setup.nft"], libvirt["setup.nft"]);
    let mut expected: Vec<&str> = SCRIPTS.to_vec();
    expected.push("manifest.json");
    expected.sort();
    assert_eq!(names(&dir.path().join("out")), expected);
    assert_eq!(manifest(&dir.path().join("out"))["layout"], "fwc");
    assert_eq!(names(dir.path()), ["out", "plain.xml"]);
}

#[test]
fn a_directory_fwc_did_not_write_is_refused_and_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let input = example();
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    std::fs::write(home.join("notes.txt"), "mine\n").unwrap();
    std::fs::write(home.join("setup.nft"), "also mine\n").unwrap();
    std::fs::write(dir.path().join("file"), "a file\n").unwrap();
    for target in ["home", "file"] {
        let o = compile_all(dir.path(), &[input.to_str().unwrap()], target);
        assert_eq!(o.status.code(), Some(2), "{target}");
        assert!(
            stderr(&o).contains(&format!("refusing to replace '{target}'")),
            "{}",
            stderr(&o)
        );
    }
    assert_eq!(
        listing(&home),
        BTreeMap::from([
            ("notes.txt".to_owned(), b"mine\n".to_vec()),
            ("setup.nft".to_owned(), b"also mine\n".to_vec()),
        ])
    );
    assert_eq!(std::fs::read(dir.path().join("file")).unwrap(), b"a file\n");
    assert_eq!(names(dir.path()), ["file", "home"]);

    // An empty directory is fwc's to fill.
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    ok(&compile_all(
        dir.path(),
        &[input.to_str().unwrap()],
        "empty",
    ));
    assert!(dir.path().join("empty/manifest.json").is_file());
}

#[test]
fn options_only_a_single_target_has_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let input = example();
    let input = input.to_str().unwrap();
    for (extra, says) in [
        (&[][..], "-o DIR"),
        (&["-o", "-"][..], "-o DIR"),
        (&["-o", "out", "--teardown"][..], "--teardown"),
        (
            &["-o", "out", "--format", "commands"][..],
            "--format commands",
        ),
        (&["-o", "out", "--dump-ir"][..], "--dump-ir"),
    ] {
        let mut args = vec!["compile", input, "--target", "all"];
        args.extend_from_slice(extra);
        let o = fwc(dir.path(), &args);
        assert_eq!(o.status.code(), Some(2), "{extra:?}");
        assert_eq!(stdout(&o), "", "{extra:?}");
        let err = stderr(&o);
        assert!(err.starts_with("error: "), "{err}");
        assert!(err.contains(says), "{extra:?}: {err}");
        assert_eq!(names(dir.path()), Vec::<String>::new(), "{extra:?}");
    }
}

#[test]
fn standard_input_compiles_like_the_file() {
    let examples = example().parent().unwrap().to_path_buf();
    let text = std::fs::read_to_string(example()).unwrap();
    let from_file = fwc(&examples, &["compile", "default.xml", "--target", "nft"]);
    ok(&from_file);
    let from_stdin = fwc_stdin(&examples, &["compile", "-", "--target", "nft"], &text);
    ok(&from_stdin);
    // Provenance names the input as given.
    assert!(stdout(&from_stdin).contains("# <stdin>:2:1 <network>"));
    assert_eq!(
        stdout(&from_stdin).replace("<stdin>", "default.xml"),
        stdout(&from_file)
    );
    // -o - is standard output.
    let dash = fwc(
        &examples,
        &["compile", "default.xml", "--target", "nft", "-o", "-"],
    );
    ok(&dash);
    assert_eq!(dash.stdout, from_file.stdout);
    assert!(!examples.join("-").exists());

    // A bundle from standard input lists it as `-`.
    let dir = tempfile::tempdir().unwrap();
    let o = fwc_stdin(
        dir.path(),
        &["compile", "-", "--target", "all", "-o", "out"],
        &text,
    );
    ok(&o);
    let m = manifest(&dir.path().join("out"));
    assert_eq!(m["inputs"][0]["path"], "-");
    assert_eq!(m["inputs"][0]["sha256"], sha256(text.as_bytes()).as_str());
    assert_eq!(
        std::fs::read(dir.path().join("out/setup.nft")).unwrap(),
        from_stdin.stdout
    );
}

#[test]
fn bad_standard_input_is_pointed_at_by_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let o = fwc_stdin(
        dir.path(),
        &["compile", "-", "--target", "nft"],
        "<network>\n  <name>x</name>\n  <bridge name='virbr0;'/>\n</network>\n",
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("<stdin>:3:17"), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");

    let o = fwc_stdin(dir.path(), &["compile", "-", "-", "--target", "nft"], "");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("more than once"), "{}", stderr(&o));
}

/// Every filter `name` reaches through `<filterref>`s in the library,
/// found by reading the files (independently of fwc's resolver).
fn reached(name: &str, out: &mut Vec<String>) {
    let text = std::fs::read_to_string(format!("{LIBRARY}/{name}.xml")).unwrap();
    for part in text.split("<filterref filter='").skip(1) {
        let referenced = &part[..part.find('\'').unwrap()];
        if !out.iter().any(|n| n == referenced) {
            out.push(referenced.to_owned());
            reached(referenced, out);
        }
    }
}

#[test]
fn library_filters_a_binding_reaches_are_inputs_too() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("guest.xml"),
        "<filterbinding>\n  <owner><name>guest</name><uuid>1b7f1a4d-3c9b-4c59-a7a2-5d2e8a5ef001</uuid></owner>\n  \
         <portdev name='vnet0'/>\n  <mac address='52:54:00:aa:bb:cc'/>\n  \
         <filterref filter='clean-traffic'>\n    <parameter name='IP' value='10.0.0.5'/>\n  \
         </filterref>\n</filterbinding>\n",
    )
    .unwrap();
    let o = compile_all(
        dir.path(),
        &["guest.xml", "--filters", LIBRARY, "--layout", "libvirt"],
        "out",
    );
    ok(&o);
    let m = manifest(&dir.path().join("out"));
    assert_eq!(m["options"]["filters"], LIBRARY);
    let inputs = m["inputs"].as_array().unwrap();
    let paths: Vec<&str> = inputs.iter().map(|i| i["path"].as_str().unwrap()).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted, "inputs are sorted by path");
    let (bindings, library): (Vec<_>, Vec<_>) =
        inputs.iter().partition(|i| i["path"] == "guest.xml");
    assert_eq!(bindings.len(), 1);
    assert_eq!(bindings[0]["kind"], "filterbinding");
    assert_eq!(bindings[0]["name"], "clean-traffic");
    let mut want = vec!["clean-traffic".to_owned()];
    reached("clean-traffic", &mut want);
    let mut want: Vec<String> = want.iter().map(|n| format!("{LIBRARY}/{n}.xml")).collect();
    want.sort();
    let got: Vec<&str> = library
        .iter()
        .map(|i| i["path"].as_str().unwrap())
        .collect();
    assert_eq!(got, want);
    for i in &library {
        assert_eq!(i["kind"], "library-filter");
        let path = i["path"].as_str().unwrap();
        assert_eq!(i["sha256"], sha256(&std::fs::read(path).unwrap()).as_str());
    }
    // Bridged frames: the ebtables files hold rules here.
    let eb = m["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "ebtables.rules")
        .unwrap();
    assert_eq!(eb["empty"], false);
}

/// Two DHCP networks: the optimiser merges their checksum-fill rules over a
/// set of bridges, and the tc companion still covers each bridge, so the
/// bundle compiles without a warning even with --deny-warnings.
#[test]
fn merged_dhcp_networks_get_a_tc_pair_per_bridge_and_no_warning() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(example()).unwrap();
    std::fs::write(dir.path().join("a.xml"), &text).unwrap();
    let second = text
        .replace("<name>default</name>", "<name>second</name>")
        .replace("virbr0", "virbr1")
        .replace("192.168.122.", "192.168.123.");
    std::fs::write(dir.path().join("b.xml"), second).unwrap();
    let o = compile_all(dir.path(), &["a.xml", "b.xml", "--deny-warnings"], "out");
    ok(&o);
    assert_eq!(stderr(&o), "", "no warning at all");
    let tc = std::fs::read_to_string(dir.path().join("out/setup.tc.sh")).unwrap();
    for bridge in ["virbr0", "virbr1"] {
        assert!(
            tc.contains(&format!("tc filter add dev {bridge} prio 2")),
            "{bridge} in\n{tc}"
        );
    }
    let nft = std::fs::read_to_string(dir.path().join("out/setup.nft")).unwrap();
    assert!(nft.contains("virbr1"), "{nft}");
}
