//! Issue 6's contracts on the `fwc` binary: colour only on a terminal, every
//! error of a run, bad encodings and duplicated attributes located, warnings
//! that keep the exit code, and the checks that span several inputs.

mod common;

use common::{fwc, stderr};
use std::path::Path;
use std::process::{Command, Output};

const NAT: &str = "<network>\n  <name>NAME</name>\n  <bridge name='BRIDGE'/>\n  <forward/>\n  <ip address='ADDR' prefix='PREFIX'/>\n</network>\n";

/// A nat network; `net` is `(name, bridge, address, prefix)`.
fn nat((name, bridge, addr, prefix): (&str, &str, &str, &str)) -> String {
    NAT.replace("NAME", name)
        .replace("BRIDGE", bridge)
        .replace("ADDR", addr)
        .replace("PREFIX", prefix)
}

/// Writes `files` into a fresh directory and compiles them all for nft with
/// `-o out.nft` plus `extra`.
fn compile(files: &[(&str, &[u8])], extra: &[&str]) -> (tempfile::TempDir, Output) {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["compile"];
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
        args.push(name);
    }
    args.extend(["--target", "nft", "-o", "out.nft"]);
    args.extend_from_slice(extra);
    let o = fwc(dir.path(), &args);
    (dir, o)
}

/// Like [`compile`], for inputs that must be refused: exit 2, nothing on
/// stdout, no out.nft; returns stderr.
fn refused(files: &[(&str, &[u8])], extra: &[&str]) -> String {
    let (dir, o) = compile(files, extra);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(o.stdout.is_empty(), "stdout: {:?}", o.stdout);
    assert!(!dir.path().join("out.nft").exists(), "out.nft was written");
    stderr(&o)
}

fn has_all(text: &str, wanted: &[&str]) {
    for w in wanted {
        assert!(text.contains(w), "{w:?} missing from:\n{text}");
    }
}

/// Runs `fwc ... 2>&1` on a pseudo-terminal (util-linux `script`), so that
/// stderr is a terminal; returns what the terminal showed.
fn on_a_terminal(dir: &Path, args: &str, no_color: Option<&str>) -> String {
    let line = format!("'{}' {args}", env!("CARGO_BIN_EXE_fwc"));
    let mut cmd = Command::new("script");
    cmd.args(["-q", "-e", "-c", &line, "/dev/null"])
        .current_dir(dir)
        .env_remove("NO_COLOR");
    if let Some(v) = no_color {
        cmd.env("NO_COLOR", v);
    }
    let o = cmd
        .output()
        .expect("util-linux `script` runs fwc on a pseudo-terminal");
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let dir = tempfile::tempdir().unwrap();
    let bad = nat(("default", "virbr0;", "192.168.122.1", "24"));
    std::fs::write(dir.path().join("bad.xml"), &bad).unwrap();
    let args = "compile bad.xml --target nft -o out.nft";

    let coloured = on_a_terminal(dir.path(), args, None);
    assert!(
        coloured.contains("\u{1b}["),
        "no colour on a terminal:\n{coloured}"
    );
    has_all(&coloured, &["bad.xml:3:17", "error"]);
    // NO_COLOR set to anything non-empty turns colour off, even there.
    let plain = on_a_terminal(dir.path(), args, Some("1"));
    assert!(
        !plain.contains('\u{1b}'),
        "colour despite NO_COLOR:\n{plain}"
    );
    has_all(&plain, &["error[bad-ifname]", "bad.xml:3:17"]);
    // An empty NO_COLOR does not count (no-color.org).
    let empty = on_a_terminal(dir.path(), args, Some(""));
    assert!(empty.contains("\u{1b}["), "{empty}");
    assert!(!dir.path().join("out.nft").exists());

    // Piped, there is no colour either (the other tests run that way too).
    let err = refused(&[("bad.xml", bad.as_bytes())], &[]);
    assert!(!err.contains('\u{1b}'), "{err}");
}

#[test]
fn every_error_of_every_file_is_reported() {
    let a = nat(("a", "virbr0\"; flush", "192.168.122.1", "24"))
        .replace("<forward/>", "<forward mode='nta'/>");
    let b = nat(("b", "virbr1", "192.168.300.1", "24"));
    let err = refused(&[("a.xml", a.as_bytes()), ("b.xml", b.as_bytes())], &[]);
    has_all(
        &err,
        &[
            "a.xml:3:17",
            "bridge name 'virbr0\"; flush' is not a valid interface name",
            "a.xml:4:18",
            "unknown forward mode 'nta', expected one of nat, route, open",
            "b.xml:5:16",
            "invalid IPv4 address '192.168.300.1'",
            "fwc: 3 errors; nothing was written",
        ],
    );

    let json = refused(
        &[("a.xml", a.as_bytes()), ("b.xml", b.as_bytes())],
        &["--message-format", "json"],
    );
    let places: Vec<(String, u64, u64)> = json
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["file"].as_str().unwrap().to_owned(),
                v["line"].as_u64().unwrap(),
                v["column"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        places,
        [
            ("a.xml".to_owned(), 3, 17),
            ("a.xml".to_owned(), 4, 18),
            ("b.xml".to_owned(), 5, 16)
        ]
    );
}

#[test]
fn bad_encodings_are_located() {
    let text = nat(("défaut", "virbr0", "192.168.122.1", "24"));
    let ascii = nat(("default", "virbr0", "192.168.122.1", "24"));

    let utf16: Vec<u8> = [0xff, 0xfe]
        .into_iter()
        .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let err = refused(&[("bad.xml", &utf16)], &[]);
    has_all(
        &err,
        &[
            "error[bad-encoding]: the input is UTF-16 (it starts with a UTF-16 byte-order mark)",
            "bad.xml:1:1",
        ],
    );

    // UTF-16 without a byte-order mark is ASCII interleaved with NULs, found
    // before any other byte that is not UTF-8.
    for t in [&ascii, &text] {
        let bare: Vec<u8> = t.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let err = refused(&[("bad.xml", &bare)], &[]);
        has_all(
            &err,
            &[
                "error[bad-encoding]: the input contains a NUL character (byte 1)",
                "bad.xml:1:2",
                "is the file UTF-16?",
            ],
        );
        assert!(!err.contains('\0'), "a raw NUL reached the terminal");
    }

    // Latin-1 é is one byte that UTF-8 cannot start with.
    let latin1: Vec<u8> = text.chars().map(|c| c as u8).collect();
    let err = refused(&[("bad.xml", &latin1)], &[]);
    has_all(
        &err,
        &["the input is not valid UTF-8 (byte 19)", "bad.xml:2:10"],
    );

    let declared = format!("<?xml version='1.0' encoding='ISO-8859-1'?>\n{text}");
    let err = refused(&[("bad.xml", declared.as_bytes())], &[]);
    has_all(&err, &["unsupported encoding 'iso-8859-1'", "bad.xml:1:1"]);
}

#[test]
fn duplicated_attributes_are_located() {
    let text = nat(("default", "virbr0", "192.168.122.1", "24")).replace(
        "<bridge name='virbr0'/>",
        "<bridge name='virbr0' stp='on' name='virbr1'/>",
    );
    let err = refused(&[("bad.xml", text.as_bytes())], &[]);
    has_all(
        &err,
        &[
            "error[xml-syntax]: malformed XML: duplicated attribute",
            "bad.xml:3:34",
            "duplicated here",
            "first given here",
        ],
    );
}

#[test]
fn truncated_input_anywhere_is_located() {
    let text = nat(("default", "virbr0", "192.168.122.1", "24"));
    for cut in [5, 30, 52, 80, text.len() - 3] {
        let err = refused(&[("bad.xml", &text.as_bytes()[..cut])], &[]);
        has_all(&err, &["error[xml-syntax]", "bad.xml:", "fwc: 1 error"]);
    }
}

/// `<bridge zone>` is a warning: the exit code stays 0 and the artifact is
/// written, unless `--deny-warnings`.
#[test]
fn warnings_keep_the_exit_code_unless_denied() {
    let text = nat(("default", "virbr0", "192.168.122.1", "24")).replace(
        "<bridge name='virbr0'/>",
        "<bridge name='virbr0' zone='trusted'/>",
    );
    let (dir, o) = compile(&[("zone.xml", text.as_bytes())], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(dir.path().join("out.nft").exists());
    has_all(
        &stderr(&o),
        &[
            "warning[ignored]: bridge 'virbr0' is not put into firewalld zone 'trusted'",
            "zone.xml:3:31",
        ],
    );

    let (_, o) = compile(
        &[("zone.xml", text.as_bytes())],
        &["--message-format", "json"],
    );
    assert_eq!(o.status.code(), Some(0));
    let first: serde_json::Value =
        serde_json::from_str(stderr(&o).lines().next().unwrap()).unwrap();
    assert_eq!(first["severity"], "warning");
    assert_eq!(first["code"], "ignored");

    let err = refused(&[("zone.xml", text.as_bytes())], &["--deny-warnings"]);
    has_all(
        &err,
        &[
            "error[ignored]",
            "warnings are errors (--deny-warnings)",
            "nothing was written",
        ],
    );
}

/// libvirt refuses an `<ip>` in the modes it does not address; those get no
/// rules, so fwc warns and compiles.
#[test]
fn an_ip_libvirt_refuses_is_a_warning() {
    let text = "<network>\n  <name>pt</name>\n  <forward mode='passthrough'><interface dev='eth0'/></forward>\n  \
                <ip family='ipv6' address='2001:db8::1' prefix='64'/>\n</network>\n";
    let (dir, o) = compile(&[("pt.xml", text.as_bytes())], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(dir.path().join("out.nft").exists());
    has_all(
        &stderr(&o),
        &[
            "warning[ignored]: the IPv6 <ip> 2001:db8::1/64 is ignored: network 'pt' has forward mode 'passthrough'",
            "pt.xml:4:4",
        ],
    );
    refused(&[("pt.xml", text.as_bytes())], &["--deny-warnings"]);
}

#[test]
fn overlapping_subnets_across_inputs_name_both() {
    let a = nat(("a", "virbr0", "192.168.122.1", "24"));
    let b = nat(("b", "virbr1", "192.168.0.1", "16"));
    let err = refused(&[("a.xml", a.as_bytes()), ("b.xml", b.as_bytes())], &[]);
    has_all(
        &err,
        &[
            "error[overlapping-subnets]: subnet 192.168.0.0/16 of network 'b' overlaps 192.168.122.0/24 of network 'a'",
            "b.xml:5:16",
            "a.xml:5:16",
        ],
    );
    insta::assert_snapshot!("overlapping_subnets", err);
}

#[test]
fn duplicate_bridges_across_inputs_name_both() {
    let a = nat(("a", "virbr0", "192.168.122.1", "24"));
    let b = nat(("b", "virbr0", "192.168.123.1", "24"));
    let err = refused(&[("a.xml", a.as_bytes()), ("b.xml", b.as_bytes())], &[]);
    has_all(
        &err,
        &[
            "error[duplicate-network]: bridge 'virbr0' is used by networks 'a' and 'b'",
            "b.xml:1:1",
            "a.xml:1:1",
            "fwc: 1 error",
        ],
    );
}

/// A value that would rewrite the terminal arrives escaped, in the message
/// and in the source line shown.
#[test]
fn hostile_values_never_reach_the_terminal_raw() {
    let text = nat(("default", "vir\u{1b}[2Jbr0", "192.168.122.1", "24"));
    let err = refused(&[("bad.xml", text.as_bytes())], &[]);
    assert!(!err.contains('\u{1b}'), "{err:?}");
    has_all(
        &err,
        &[
            "bridge name 'vir\\u{1b}[2Jbr0' is not a valid interface name",
            "<bridge name='vir?[2Jbr0'/>",
        ],
    );
}
