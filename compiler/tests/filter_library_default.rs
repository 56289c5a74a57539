//! With no `--filters`, `<filterref>`s resolve in libvirt's
//! `/etc/libvirt/nwfilter`, as on a libvirt host.
//!
//! Tested for real without touching the host's /etc: fwc runs in a private
//! mount namespace (`unshare -m`) where a temporary directory is
//! bind-mounted over /etc. That needs root and unshare; without them each
//! test prints why it skips, and fails instead when FWC_REQUIRE_KERNEL=1
//! (as CI sets it).

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{stderr, stdout};

/// libvirt's stock filters, copied into the fake /etc at run time.
const STOCK: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/corpus/libvirt/nwfilter-library"
);
const NETWORK: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/corpus/libvirt/network/nat-default.xml"
);
const GUEST: &str =
    "<filter name='guest' chain='root'>\n  <filterref filter='clean-traffic'/>\n</filter>\n";
const VARS: [&str; 4] = [
    "--param",
    "MAC=52:54:00:12:34:56",
    "--param",
    "IP=192.168.122.10",
];

/// Whether `test` may go on; prints why not, or panics when
/// FWC_REQUIRE_KERNEL=1 (see `compiler::netns::may_run`).
fn may_run(test: &str) -> bool {
    let reason = match Command::new("unshare").args(["-m", "true"]).output() {
        Err(e) => format!("cannot run unshare: {e}"),
        Ok(o) if !o.status.success() => {
            format!("unshare -m fails (not root?): {}", stderr(&o).trim())
        }
        Ok(_) => return true,
    };
    compiler::netns::may_run(test, Some(reason))
}

/// Runs fwc in `dir` with `etc` mounted over /etc, in a mount namespace of
/// its own (unshare makes its mounts private, so the host never sees it).
fn fwc_with_etc(etc: &Path, dir: &Path, args: &[&str]) -> Output {
    Command::new("unshare")
        .args(["-m", "sh", "-c", "mount --bind \"$0\" /etc && exec \"$@\""])
        .arg(etc)
        .arg(env!("CARGO_BIN_EXE_fwc"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("run unshare")
}

/// A fake /etc whose libvirt/nwfilter holds the stock filters; returns
/// the tempdir and the library's path.
fn etc_with_stock_filters() -> (tempfile::TempDir, std::path::PathBuf) {
    let etc = tempfile::tempdir().unwrap();
    let lib = etc.path().join("libvirt/nwfilter");
    std::fs::create_dir_all(&lib).unwrap();
    for entry in std::fs::read_dir(STOCK).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "xml") {
            std::fs::copy(&path, lib.join(path.file_name().unwrap())).unwrap();
        }
    }
    (etc, lib)
}

fn guest_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("guest.xml"), GUEST).unwrap();
    dir
}

#[test]
fn the_default_library_is_etc_libvirt_nwfilter() {
    if !may_run("the_default_library_is_etc_libvirt_nwfilter") {
        return;
    }
    let (etc, lib) = etc_with_stock_filters();
    let dir = guest_dir();
    let mut args = vec![
        "compile",
        "guest.xml",
        "--port",
        "vnet0",
        "--target",
        "ebtables",
    ];
    args.extend(VARS);
    let by_default = fwc_with_etc(etc.path(), dir.path(), &args);
    assert_eq!(by_default.status.code(), Some(0), "{}", stderr(&by_default));
    let out = stdout(&by_default);
    // clean-traffic's own rules and those of the filters it references.
    for want in [
        "# /etc/libvirt/nwfilter/clean-traffic.xml:",
        "# /etc/libvirt/nwfilter/no-mac-spoofing.xml:",
        "# /etc/libvirt/nwfilter/no-arp-mac-spoofing.xml:",
        "52:54:00:12:34:56",
        "192.168.122.10",
    ] {
        assert!(out.contains(want), "{want} missing:\n{out}");
    }

    // The same rules as naming the library explicitly.
    let lib_arg = lib.display().to_string();
    let mut explicit = args.clone();
    explicit.extend(["--filters", &lib_arg]);
    let named = fwc_with_etc(etc.path(), dir.path(), &explicit);
    assert_eq!(named.status.code(), Some(0), "{}", stderr(&named));
    assert_eq!(
        out,
        stdout(&named).replace(&lib_arg, "/etc/libvirt/nwfilter")
    );

    // --filters wins over the default: a library without clean-traffic.
    let empty = tempfile::tempdir().unwrap();
    std::fs::write(empty.path().join("other.xml"), "<filter name='other'/>").unwrap();
    let empty_arg = empty.path().display().to_string();
    let mut other = args.clone();
    other.extend(["--filters", &empty_arg]);
    let o = fwc_with_etc(etc.path(), dir.path(), &other);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown filter 'clean-traffic'"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn without_a_library_the_error_names_filters() {
    if !may_run("without_a_library_the_error_names_filters") {
        return;
    }
    let dir = guest_dir();
    let mut args = vec!["compile", "guest.xml", "--port", "vnet0", "--target", "nft"];
    args.extend(VARS);
    // No /etc/libvirt at all, then an empty /etc/libvirt/nwfilter.
    for make in ["", "libvirt/nwfilter"] {
        let etc = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(etc.path().join(make)).unwrap();
        let o = fwc_with_etc(etc.path(), dir.path(), &args);
        assert_eq!(o.status.code(), Some(2), "{make}: {}", stderr(&o));
        assert_eq!(stdout(&o), "");
        let err = stderr(&o);
        for want in [
            "guest.xml:2:3",
            "error[unknown-filter]: unknown filter 'clean-traffic'",
            "'/etc/libvirt/nwfilter' has none; name a filter library with --filters DIR",
        ] {
            assert!(err.contains(want), "{make}: {want} missing:\n{err}");
        }
    }
}

#[test]
fn only_filters_read_the_default_library() {
    if !may_run("only_filters_read_the_default_library") {
        return;
    }
    let (etc, lib) = etc_with_stock_filters();
    std::fs::write(lib.join("broken.xml"), "<filter name='broken'>\n  <rule").unwrap();
    let dir = guest_dir();
    // A network compiles whatever the filter library holds.
    let o = fwc_with_etc(
        etc.path(),
        dir.path(),
        &["compile", NETWORK, "--target", "nft"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // A filter reports the broken library file, in /etc.
    let mut args = vec!["compile", "guest.xml", "--port", "vnet0", "--target", "nft"];
    args.extend(VARS);
    let o = fwc_with_etc(etc.path(), dir.path(), &args);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("/etc/libvirt/nwfilter/broken.xml:2:"),
        "{}",
        stderr(&o)
    );
}
