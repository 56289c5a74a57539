//! One side of a comparison: the inputs compiled for a target and read
//! back from the artifact, so that what is compared is what the backend
//! would load. iptables is one side with ip6tables: both families merged.

use std::sync::Arc;

use emitters::{Direction, Format, Target};

use crate::cli::{print_diagnostics, LayoutArg, MessageFormat, TargetArg, EXIT_BAD_INPUT};
use crate::diagnostics::{render_plain, Diagnostic};
use crate::pipeline::{compile_files, note_diagnostics, Options};
use crate::readback::{self, Readback};
use crate::source::SourceFile;

/// A target as a side of a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The `nft -f` script.
    Nft,
    /// The nft JSON artifact.
    NftJson,
    /// The iptables and ip6tables restore files, as one view.
    Xtables,
    /// The ebtables restore file.
    Ebtables,
}

impl Side {
    /// The side a target names (`ip6tables` is the same side as `iptables`).
    pub fn of(target: TargetArg) -> Side {
        match target {
            TargetArg::Nft => Side::Nft,
            TargetArg::NftJson => Side::NftJson,
            TargetArg::Iptables | TargetArg::Ip6tables => Side::Xtables,
            TargetArg::Ebtables => Side::Ebtables,
        }
    }

    /// The name reports use.
    pub fn name(self) -> &'static str {
        match self {
            Side::Nft => "nft",
            Side::NftJson => "nft-json",
            Side::Xtables => "iptables",
            Side::Ebtables => "ebtables",
        }
    }

    /// The emitter targets of this side: iptables goes with ip6tables, as
    /// a host runs both.
    pub fn targets(self) -> &'static [Target] {
        match self {
            Side::Nft => &[Target::Nft],
            Side::NftJson => &[Target::NftJson],
            Side::Xtables => &[Target::Iptables, Target::Ip6tables],
            Side::Ebtables => &[Target::Ebtables],
        }
    }

    /// Compiles `files` for this side and reads the artifacts back. Errors
    /// are printed on stderr; the `Err` is the exit code.
    pub fn compile(self, files: &[Arc<SourceFile>], layout: LayoutArg) -> Result<Readback, u8> {
        let mut rb = Readback::default();
        let mut warnings: Vec<Diagnostic> = Vec::new();
        for &target in self.targets() {
            let text = compile_text(files, target, layout, &mut warnings)?;
            let one = readback::read(readback::Format::of(target), &text).map_err(|e| {
                eprintln!(
                    "fwc: cannot read back the {} artifact (a bug in fwc): {e}",
                    target.name()
                );
                EXIT_BAD_INPUT
            })?;
            rb = rb.merge(one);
        }
        // Both families of iptables repeat the same notes.
        let mut seen = std::collections::BTreeSet::new();
        warnings.retain(|w| seen.insert(render_plain(std::slice::from_ref(w))));
        print_diagnostics(&warnings, MessageFormat::Human);
        Ok(rb)
    }
}

/// The emitter target a command-line target names.
pub fn target(t: TargetArg) -> Target {
    match t {
        TargetArg::Nft => Target::Nft,
        TargetArg::NftJson => Target::NftJson,
        TargetArg::Iptables => Target::Iptables,
        TargetArg::Ip6tables => Target::Ip6tables,
        TargetArg::Ebtables => Target::Ebtables,
    }
}

/// The options of `target`'s optimised setup script, as a comparison (and
/// `fwc doctor`) reads it back.
pub fn setup_options(target: Target, layout: LayoutArg) -> Options {
    Options {
        target,
        layout: match layout {
            LayoutArg::Fwc => rules::layout::Layout::Fwc,
            LayoutArg::Libvirt => rules::layout::Layout::Libvirt,
        },
        format: Format::Script,
        direction: Direction::Setup,
        optimize: true,
        ..Options::default()
    }
}

/// The setup script of `files` for `target`; diagnostics are printed.
pub fn compile_text(
    files: &[Arc<SourceFile>],
    target: Target,
    layout: LayoutArg,
    warnings: &mut Vec<Diagnostic>,
) -> Result<String, u8> {
    match compile_files(files, &setup_options(target, layout)) {
        Ok(out) => {
            warnings.extend(note_diagnostics(&out.artifact, files));
            Ok(out.artifact.text)
        }
        Err(d) => {
            print_diagnostics(&d, MessageFormat::Human);
            Err(EXIT_BAD_INPUT)
        }
    }
}
