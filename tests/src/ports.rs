//! Guest ports for the nft nwfilter suites: `<filterbinding>` files in a
//! temporary directory, compiled in either layout as `fwc compile` would,
//! and how long a chain a packet may walk.

use std::path::{Path, PathBuf};

use compiler::pipeline::{compile_files_with_filters, load_paths, Options, Output};
use emitters::{Direction, Format, Target};
use rules::layout::Layout;

use crate::corpus;

/// The guest's address in the suites.
pub const GUEST_IP: &str = "10.0.0.5";
/// The guest's MAC in the suites.
pub const GUEST_MAC: &str = "52:54:00:aa:bb:cc";

/// A `<filterbinding>` of `filter` to `port` with the guest's `mac` and
/// its `IP`.
pub fn binding(port: &str, mac: &str, filter: &str, ip: &str) -> String {
    format!(
        "<filterbinding>\n  <portdev name='{port}'/>\n  <mac address='{mac}'/>\n  \
         <filterref filter='{filter}'>\n    <parameter name='IP' value='{ip}'/>\n  \
         </filterref>\n</filterbinding>\n"
    )
}

/// libvirt's stock filters (`clean-traffic`, ...).
pub fn stock_filters() -> PathBuf {
    corpus::libvirt().join("nwfilter-library")
}

/// Files written into a temporary directory, kept while this lives.
pub struct Inputs {
    dir: tempfile::TempDir,
    /// The files, in the order written.
    pub files: Vec<PathBuf>,
}

impl Inputs {
    /// Writes `(name, text)` files.
    pub fn write(files: &[(String, String)]) -> Inputs {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let files = files
            .iter()
            .map(|(name, text)| {
                let p = dir.path().join(name);
                std::fs::write(&p, text).expect("written");
                p
            })
            .collect();
        Inputs { dir, files }
    }

    /// The directory they are in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// Compiles `inputs` with the filter library `filters`, or panics with the
/// diagnostics. The fwc layout is optimised, as `fwc compile` does by
/// default; libvirt's never is.
pub fn compile(
    inputs: &[PathBuf],
    filters: &Path,
    target: Target,
    layout: Layout,
    format: Format,
    direction: Direction,
) -> Output {
    let opts = Options {
        target,
        layout,
        format,
        direction,
        optimize: layout == Layout::Fwc,
        ..Options::default()
    };
    let files = load_paths(inputs).unwrap_or_else(|d| panic!("{d:?}"));
    compile_files_with_filters(&files, Some(filters), &opts).unwrap_or_else(|diags| {
        panic!(
            "--target {} --layout {layout:?}: {}",
            target.name(),
            diags
                .iter()
                .map(|d| d.message.clone())
                .collect::<Vec<_>>()
                .join("; ")
        )
    })
}

/// The longest chain of a ruleset, in rules: the most a packet may have to
/// walk in one chain.
pub fn longest_chain(rs: &ir::Ruleset) -> usize {
    rs.tables
        .iter()
        .flat_map(|t| &t.chains)
        .map(|c| c.rules.len())
        .max()
        .unwrap_or(0)
}
