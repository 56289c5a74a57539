//! The `fwc` binary end to end: exit codes, stdout/stderr and `-o` contracts.

use std::path::Path;
use std::process::{Command, Output};

const CORPUS: &str = "/work/shared/corpus/libvirt/network";

fn fwc(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fwc"))
        .args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .output()
        .expect("run fwc")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Compiles `bad.xml` holding `text` with `-o out.nft`; checks that it fails
/// cleanly and returns stderr.
fn rejected(text: &str, extra: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.xml"), text).unwrap();
    let mut args = vec!["compile", "bad.xml", "--target", "nft", "-o", "out.nft"];
    args.extend_from_slice(extra);
    let o = fwc(dir.path(), &args);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(stdout(&o), "", "nothing on stdout");
    assert!(
        !dir.path().join("out.nft").exists(),
        "out.nft must not be created"
    );
    // Only the input is left in the directory (no stray temporary file).
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    let err = stderr(&o);
    assert!(
        !err.contains('\u{1b}'),
        "no colour when stderr is not a terminal"
    );
    err
}

const TRUNCATED: &str = "<network>\n  <name>default</name>\n  <bridge name='virbr0'/>\n  <forward/>\n  <ip address='192.168.122.1' netmask='255.255.255.0'>\n    <dhcp>\n      <range start='192.168.122.2' end='192.1";

#[test]
fn truncated_file() {
    let err = rejected(TRUNCATED, &[]);
    assert!(err.contains("bad.xml:7:7"), "{err}");
    assert!(
        err.contains("<range start='192.168.122.2' end='192.1"),
        "{err}"
    );
    insta::assert_snapshot!("truncated_file", err);
}

#[test]
fn invalid_ip_address() {
    let err = rejected(
        "<network>\n  <name>default</name>\n  <bridge name='virbr0'/>\n  <forward/>\n  <ip address='192.168.300.1' prefix='24'/>\n</network>\n",
        &[],
    );
    assert!(err.contains("bad.xml:5:16"), "{err}");
    assert!(
        err.contains("invalid IPv4 address '192.168.300.1'"),
        "{err}"
    );
    insta::assert_snapshot!("invalid_ip_address", err);
}

#[test]
fn hostile_bridge_name() {
    let err = rejected(
        "<network>\n  <name>default</name>\n  <bridge name='virbr0\"; flush'/>\n  <forward/>\n  <ip address='192.168.122.1' prefix='24'/>\n</network>\n",
        &[],
    );
    assert!(err.contains("bad.xml:3:17"), "{err}");
    assert!(err.contains("virbr0\"; flush"), "{err}");
    insta::assert_snapshot!("hostile_bridge_name", err);
}

#[test]
fn several_errors_in_one_run() {
    let err = rejected(
        "<network>\n  <name>default</name>\n  <bridge name='virbr0\"; flush'/>\n  <forward mode='nta'/>\n  <ip address='192.168.300.1' prefix='24'/>\n</network>\n",
        &[],
    );
    for want in [
        "bad.xml:3:17",
        "bad.xml:4:18",
        "bad.xml:5:16",
        "fwc: 3 errors; nothing was written",
    ] {
        assert!(err.contains(want), "{want}: {err}");
    }
}

#[test]
fn json_messages() {
    let err = rejected(
        "<network>\n  <name>default</name>\n  <bridge name='virbr0'/>\n  <ip address='192.168.300.1' prefix='24'/>\n</network>\n",
        &["--message-format", "json"],
    );
    let lines: Vec<_> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(v["file"], "bad.xml");
    assert_eq!(v["line"], 4);
    assert_eq!(v["column"], 16);
    assert_eq!(v["code"], "bad-address");
    assert_eq!(v["severity"], "error");
    assert_eq!(v["message"], "invalid IPv4 address '192.168.300.1'");
}

#[test]
fn an_error_leaves_an_existing_output_untouched() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.xml"), TRUNCATED).unwrap();
    std::fs::write(dir.path().join("out.nft"), "previous\n").unwrap();
    let o = fwc(
        dir.path(),
        &["compile", "bad.xml", "--target", "nft", "-o", "out.nft"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out.nft")).unwrap(),
        "previous\n"
    );
}

#[test]
fn unsupported_documents_and_targets() {
    // A bare <filter> needs the interface it is applied to.
    let err = rejected("<filter name='x' chain='root'>\n</filter>\n", &[]);
    assert!(err.contains("error[unbound-filter]"), "{err}");
    assert!(err.contains("bad.xml:1:1"), "{err}");
    assert!(err.contains("--port IFNAME"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let o = fwc(
        dir.path(),
        &[
            "compile",
            &format!("{CORPUS}/nat-default.xml"),
            "--target",
            "ebtables",
        ],
    );
    // libvirt's network driver never uses ebtables: an empty artifact and a note.
    assert_eq!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("no ebtables rules"), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "# generated by fwc; load with: ebtables-restore --noflush < FILE\n"
    );
}

#[test]
fn missing_input_and_empty_directory() {
    let dir = tempfile::tempdir().unwrap();
    let o = fwc(dir.path(), &["compile", "nope.xml", "--target", "nft"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("error[io]"), "{}", stderr(&o));
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let o = fwc(dir.path(), &["compile", "empty", "--target", "nft"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("holds no *.xml files"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn duplicate_networks_across_files() {
    let dir = tempfile::tempdir().unwrap();
    let src = std::fs::read_to_string(format!("{CORPUS}/nat-default.xml")).unwrap();
    std::fs::write(dir.path().join("a.xml"), &src).unwrap();
    std::fs::write(dir.path().join("b.xml"), &src).unwrap();
    let o = fwc(
        dir.path(),
        &["compile", "a.xml", "b.xml", "--target", "nft"],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("network 'default' is defined twice"), "{err}");
    assert!(err.contains("bridge 'virbr0' is used by networks"), "{err}");
    assert!(
        err.contains("b.xml:1:1") && err.contains("a.xml:1:1"),
        "{err}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["compile", "x.xml"][..],
        &["compile", "x.xml", "--target", "pf"],
        &["compile", "x.xml", "--target", "nft", "-O2"],
        &["compile", "--target", "nft"],
        &["frobnicate"],
    ] {
        let o = fwc(dir.path(), args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert_eq!(stdout(&o), "", "{args:?}");
    }
}

#[test]
fn help_mentions_every_flag() {
    let dir = tempfile::tempdir().unwrap();
    let o = fwc(dir.path(), &["compile", "--help"]);
    assert_eq!(o.status.code(), Some(0));
    let help = stdout(&o);
    for flag in [
        "--target",
        "nft-json",
        "ip6tables",
        "ebtables",
        "--layout",
        "libvirt",
        "--format",
        "commands",
        "--teardown",
        "--output",
        "-o",
        "-O",
        "--dump-ir",
        "--message-format",
        "json",
        "--deny-warnings",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
    let o = fwc(dir.path(), &["--help"]);
    assert!(stdout(&o).contains("compile"));
}

// The tests below need the lowering and the emitters to produce real output.

#[test]
fn compiles_to_stdout_and_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = format!("{CORPUS}/nat-default.xml");
    let o = fwc(dir.path(), &["compile", &input, "--target", "iptables"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let printed = stdout(&o);
    assert!(printed.contains("virbr0"), "{printed}");

    let o = fwc(
        dir.path(),
        &["compile", &input, "--target", "iptables", "-o", "out.rules"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out.rules")).unwrap(),
        printed
    );
}

#[test]
fn a_directory_is_its_xml_files_in_name_order() {
    let dir = tempfile::tempdir().unwrap();
    let nets = dir.path().join("nets");
    std::fs::create_dir(&nets).unwrap();
    let text = std::fs::read_to_string(format!("{CORPUS}/nat-default.xml")).unwrap();
    std::fs::write(nets.join("b.xml"), &text).unwrap();
    let second = text
        .replace("default", "second")
        .replace("virbr0", "virbr1")
        .replace("192.168.122", "192.168.100");
    std::fs::write(nets.join("a.xml"), second).unwrap();
    std::fs::write(nets.join("notes.txt"), "not xml").unwrap();
    let o = fwc(
        dir.path(),
        &["compile", "nets", "--target", "nft", "--dump-ir"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let ir = stdout(&o);
    let (a, b) = (ir.find("nets/a.xml"), ir.find("nets/b.xml"));
    assert!(a.is_some() && b.is_some(), "{ir}");
    assert!(ir.contains("virbr1") && ir.contains("virbr0"), "{ir}");
}

#[test]
fn libvirt_layout_commands_carry_libvirts_rules() {
    let dir = tempfile::tempdir().unwrap();
    let input = format!("{CORPUS}/nat-default.xml");
    let o = fwc(
        dir.path(),
        &[
            "compile", &input, "--target", "iptables", "--layout", "libvirt", "--format",
            "commands",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("iptables -w --table filter --insert LIBVIRT_INP --in-interface virbr0 --protocol tcp --destination-port 67 --jump ACCEPT"),
        "{out}"
    );
}

#[test]
fn dump_ir_prints_the_ir_with_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let input = format!("{CORPUS}/nat-default.xml");
    for opt in ["-O0", "-O1"] {
        let o = fwc(
            dir.path(),
            &["compile", &input, "--target", "nft", "--dump-ir", opt],
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let ir = stdout(&o);
        assert!(ir.starts_with("table "), "{ir}");
        assert!(ir.contains("nat-default.xml:5:3 <ip>"), "{ir}");
    }
}

#[test]
fn setup_and_teardown_differ() {
    let dir = tempfile::tempdir().unwrap();
    let input = format!("{CORPUS}/nat-default.xml");
    let setup = fwc(dir.path(), &["compile", &input, "--target", "iptables"]);
    let teardown = fwc(
        dir.path(),
        &["compile", &input, "--target", "iptables", "--teardown"],
    );
    assert_eq!(setup.status.code(), Some(0), "{}", stderr(&setup));
    assert_eq!(teardown.status.code(), Some(0), "{}", stderr(&teardown));
    assert!(!stdout(&teardown).is_empty());
    assert_ne!(stdout(&setup), stdout(&teardown));
}

/// nft scripts cannot carry libvirt's checksum fix: a warning with its
/// provenance, exit 0; with --deny-warnings, exit 2 and nothing written.
#[test]
fn lowering_notes_are_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let input = format!("{CORPUS}/nat-default.xml");
    let args = [
        "compile", &input, "--target", "nft", "--layout", "libvirt", "-o", "out.nft",
    ];
    let o = fwc(dir.path(), &args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("warning[lowering-note]"), "{err}");
    assert!(err.contains("nat-default.xml:5:3"), "{err}");
    assert!(dir.path().join("out.nft").exists());

    std::fs::remove_file(dir.path().join("out.nft")).unwrap();
    let mut denied = args.to_vec();
    denied.push("--deny-warnings");
    let o = fwc(dir.path(), &denied);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("error[lowering-note]"),
        "{}",
        stderr(&o)
    );
    assert_eq!(stdout(&o), "");
    assert!(!dir.path().join("out.nft").exists());
}

/// A hostile bridge name is refused at its attribute whatever the target and
/// layout: validation happens once, before any emitter runs.
#[test]
fn hostile_bridge_names_are_refused_for_every_target_and_layout() {
    let names = [
        "virbr0\"; flush",
        "virbr0&apos;$(reboot)",
        "vir&#10;br0",
        "virbr0-is-too-long",
        "vir br0",
        "virbr*",
    ];
    for name in names {
        let dir = tempfile::tempdir().unwrap();
        let xml = format!(
            "<network>\n  <name>n</name>\n  <bridge name='{name}'/>\n  <forward/>\n  <ip address='192.168.122.1' prefix='24'/>\n</network>\n"
        );
        std::fs::write(dir.path().join("bad.xml"), xml).unwrap();
        for target in ["nft", "nft-json", "iptables", "ip6tables", "ebtables"] {
            for layout in ["fwc", "libvirt"] {
                let o = fwc(
                    dir.path(),
                    &[
                        "compile", "bad.xml", "--target", target, "--layout", layout, "-o", "out",
                    ],
                );
                let err = stderr(&o);
                assert_eq!(o.status.code(), Some(2), "{name} {target} {layout}: {err}");
                assert!(
                    err.contains("bad.xml:3:17"),
                    "{name} {target} {layout}: {err}"
                );
                assert!(
                    err.contains("error[bad-ifname]"),
                    "{name} {target} {layout}: {err}"
                );
                assert_eq!(stdout(&o), "");
                assert!(!dir.path().join("out").exists());
            }
        }
    }
}
