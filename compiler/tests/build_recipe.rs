//! The build-system recipe the README shows, `examples/Makefile`, run with
//! make: it builds the artifact directory, is up to date afterwards,
//! rebuilds when a network changes, and keeps the last good artifacts when
//! an edit breaks the input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

fn makefile() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/Makefile")
}

fn example() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/default.xml");
    std::fs::read_to_string(path).expect("the shipped example")
}

/// `make -f examples/Makefile ARGS` in `dir`, with this build's fwc.
fn make(dir: &Path, args: &[&str]) -> Output {
    Command::new("make")
        .arg("-f")
        .arg(makefile())
        .arg(format!("FWC={}", env!("CARGO_BIN_EXE_fwc")))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run make")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Whether make is here; in CI (FWC_REQUIRE_KERNEL=1) it must be.
fn make_available() -> bool {
    let found = Command::new("make").arg("--version").output().is_ok();
    let why = (!found).then(|| "`make` not found (apt-get install -y make)".to_owned());
    compiler::netns::may_run("build recipe", why)
}

/// Writes `text` to `path` with a modification time clearly after `than`,
/// so make sees the edit whatever the file system's time resolution.
fn edit(path: &Path, text: &str, than: &Path) {
    std::fs::write(path, text).unwrap();
    let after = std::fs::metadata(than).unwrap().modified().unwrap() + Duration::from_secs(2);
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(after.max(SystemTime::now())).unwrap();
}

#[test]
fn the_makefile_rebuilds_exactly_when_a_network_changes() {
    if !make_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("networks")).unwrap();
    let network = dir.path().join("networks/default.xml");
    std::fs::write(&network, example()).unwrap();
    let manifest = dir.path().join("firewall/manifest.json");

    let o = make(dir.path(), &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m: serde_json::Value = serde_json::from_str(&read(&manifest)).unwrap();
    assert_eq!(m["inputs"][0]["path"], "networks/default.xml");
    let sha = format!("{:x}", Sha256::digest(read(&network)));
    assert_eq!(m["inputs"][0]["sha256"], sha);
    assert!(read(&dir.path().join("firewall/setup.nft")).contains("192.168.122.0/24"));

    // Nothing changed: make has nothing to do (`make -q` exits 0).
    assert_eq!(make(dir.path(), &["-q"]).status.code(), Some(0));

    // A changed network makes the artifacts out of date, and make rebuilds.
    let moved = example().replace("192.168.122.", "192.168.150.");
    edit(&network, &moved, &manifest);
    assert_eq!(make(dir.path(), &["-q"]).status.code(), Some(1));
    let o = make(dir.path(), &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let setup = read(&dir.path().join("firewall/setup.nft"));
    assert!(setup.contains("192.168.150.0/24"), "{setup}");
    assert!(!setup.contains("192.168.122."), "{setup}");
    let m: serde_json::Value = serde_json::from_str(&read(&manifest)).unwrap();
    assert_eq!(
        m["inputs"][0]["sha256"],
        format!("{:x}", Sha256::digest(&moved))
    );

    // A broken edit fails the build and keeps the last good artifacts.
    let good = read(&dir.path().join("firewall/setup.nft"));
    edit(&network, &moved.replace("virbr0", "virbr0;"), &manifest);
    let o = make(dir.path(), &[]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("networks/default.xml:"),
        "the error names the input: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(read(&dir.path().join("firewall/setup.nft")), good);
}
