//! fwc's side of the diagnosis: the inputs' networks and the setup
//! artifacts of the target, read back as the kernel would hold them.
//!
//! The artifacts are read back rather than the IR taken as is because a
//! target may place rules differently from the IR (fwc's layout on
//! iptables puts its chains in `filter`/`nat`/`mangle` and jumps to them
//! from the built-in chains); the readback keeps each rule's provenance
//! from the artifact's comments.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use emitters::Target;
use ir::{Commands, Family};
use rules::network::Network;

use crate::cli::{LayoutArg, TargetArg};
use crate::diagnostics::Diagnostics;
use crate::diff::side::{setup_options, Side};
use crate::front::{self, Document};
use crate::pipeline;
use crate::readback::{self, Readback};
use crate::source::SourceFile;

/// The inputs compiled for one target.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The `<network>` inputs (nwfilter inputs need no flows).
    pub networks: Vec<Network>,
    /// Every setup artifact read back, merged (iptables with ip6tables).
    pub readback: Readback,
    /// Tables whose rules libvirt's drivers append to shared chains (the
    /// nwfilter drivers); the network driver and fwc insert them at the
    /// head.
    pub appended: BTreeSet<(Family, String)>,
    /// The setup artifacts, to load into a namespace.
    pub setups: Vec<(Target, String)>,
    /// Interfaces the artifacts name (nft wants `iif` interfaces to exist).
    pub interfaces: Vec<String>,
}

/// Why the inputs could not be compiled.
#[derive(Debug)]
pub enum CompileError {
    /// The inputs are wrong: diagnostics to print.
    Inputs(Diagnostics),
    /// An artifact could not be read back (a bug in fwc).
    Readback(String),
}

impl Compiled {
    /// Compiles `files` for `target` and reads the setups back.
    pub fn new(
        files: &[Arc<SourceFile>],
        filters: Option<&Path>,
        target: TargetArg,
        layout: LayoutArg,
    ) -> Result<Compiled, CompileError> {
        let mut networks = Vec::new();
        for f in files {
            if let Ok(Document::Network(n)) = front::parse(f) {
                networks.push(n);
            }
        }
        let mut rb = Readback::default();
        let mut appended = BTreeSet::new();
        let mut setups = Vec::new();
        let mut interfaces = BTreeSet::new();
        for &t in Side::of(target).targets() {
            let opts = setup_options(t, layout);
            let out = pipeline::compile_files_with_filters(files, filters, &opts)
                .map_err(CompileError::Inputs)?;
            for table in &out.ruleset.tables {
                if matches!(table.commands, Commands::Append { .. }) {
                    appended.insert((table.family, table.name.to_string()));
                }
            }
            interfaces.extend(out.ruleset.interface_names());
            let one = readback::read(readback::Format::of(t), &out.artifact.text).map_err(|e| {
                CompileError::Readback(format!(
                    "cannot read back the {} artifact (a bug in fwc): {e}",
                    t.name()
                ))
            })?;
            rb = rb.merge(one);
            setups.push((t, out.artifact.text));
        }
        Ok(Compiled {
            networks,
            readback: rb,
            appended,
            setups,
            interfaces: interfaces.into_iter().collect(),
        })
    }
}
