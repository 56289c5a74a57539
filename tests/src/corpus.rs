//! Paths into `../shared/corpus/libvirt`, the ground truth kept beside the checkout.

use std::path::{Path, PathBuf};

/// The `shared/corpus/libvirt` folder, or a panic explaining where it was expected.
pub fn libvirt() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(Path::parent)
        .expect("the tests crate sits two levels below the shared folder's parent");
    let dir = root.join("shared/corpus/libvirt");
    assert!(
        dir.is_dir(),
        "libvirt corpus not found at {} (clone fwc with ../shared beside it)",
        dir.display()
    );
    dir
}

/// The `NAME.xml` networks of `network/` (libvirt's firewall test inputs), sorted.
pub fn networks() -> Vec<PathBuf> {
    xml_files(&libvirt().join("network"))
}

/// Every `*.xml` directly in `dir`, sorted by name.
pub fn xml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    files.sort();
    files
}
