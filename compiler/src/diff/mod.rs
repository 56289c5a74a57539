//! `fwc diff`: what changes between two versions of the inputs, and what
//! differs between two targets.
//!
//! * `fwc diff OLD NEW --target T` compiles both (files or directories),
//!   reads the artifacts back and prints a unified diff of their rules,
//!   grouped by table and chain, each rule with its provenance
//!   ([`text`]).
//! * `fwc diff INPUT... --targets A,B` compiles the inputs for both
//!   targets, reads each artifact back into IR and compares what they do to
//!   packets generated from the rules' constants, hook by hook
//!   ([`semantic`], [`packets`]).
//! * `--live` puts the kernel's current ruleset (`nft -j list ruleset`) on
//!   one side of the comparison.
//!
//! Exit codes: 0 the same, 1 a difference, 2 bad input or usage.

use std::path::PathBuf;
use std::process::Command;

use clap::Args;

use crate::cli::{print_diagnostics, LayoutArg, MessageFormat, TargetArg, EXIT_BAD_INPUT, EXIT_OK};
use crate::readback::{self, Readback};

pub mod packets;
pub mod semantic;
pub mod side;
pub mod text;

use side::Side;

/// Exit code when the two sides differ.
pub const EXIT_DIFFERENT: u8 = 1;

/// Arguments of `fwc diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// With --target: OLD and NEW, each a file or a directory. With
    /// --targets or --live: the inputs, compiled together.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,

    /// Diff the rules OLD and NEW compile to for this target.
    #[arg(long, value_enum, conflicts_with = "targets")]
    pub target: Option<TargetArg>,

    /// Compare what two targets do to packets, e.g. `nft,iptables`
    /// (iptables stands for iptables and ip6tables together).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "A,B")]
    pub targets: Vec<TargetArg>,

    /// The layout of tables and chains.
    #[arg(long, value_enum, default_value_t = LayoutArg::Fwc)]
    pub layout: LayoutArg,

    /// Compare the target's artifact with the kernel's current ruleset
    /// (`nft -j list ruleset`; needs root).
    #[arg(long)]
    pub live: bool,

    /// Lines of context around each change of a text diff.
    #[arg(long, default_value_t = 3, value_name = "LINES")]
    pub context: usize,

    /// Most packets compared per hook and IP family; larger spaces are
    /// sampled with a fixed stride.
    #[arg(long, default_value_t = 20_000, value_name = "N")]
    pub max_packets: usize,
}

fn usage(message: &str) -> u8 {
    eprintln!("fwc diff: {message}");
    EXIT_BAD_INPUT
}

/// Runs `fwc diff`; returns the exit code.
pub fn run(args: &DiffArgs) -> u8 {
    match (args.target, args.targets.as_slice(), args.live) {
        (Some(t), [], false) => match args.inputs.as_slice() {
            [old, new] => text_diff(old, new, t, args),
            _ => usage("with --target, give exactly two inputs: OLD and NEW"),
        },
        (Some(t), [], true) | (None, &[t], true) => behaviour(args, Side::of(t), None),
        (None, [a, b], false) => behaviour(args, Side::of(*a), Some(Side::of(*b))),
        (None, [], _) => usage("give --target T (text diff of OLD and NEW) or --targets A,B"),
        (_, _, true) => usage("--live compares one target with the kernel: give one target"),
        _ => usage("--targets takes two targets, e.g. --targets nft,iptables"),
    }
}

fn load(paths: &[PathBuf]) -> Result<Vec<std::sync::Arc<crate::source::SourceFile>>, u8> {
    crate::pipeline::load_paths(paths).map_err(|d| {
        print_diagnostics(&d, MessageFormat::Human);
        EXIT_BAD_INPUT
    })
}

fn text_diff(old: &PathBuf, new: &PathBuf, target: TargetArg, args: &DiffArgs) -> u8 {
    let target = side::target(target);
    let mut lines = Vec::new();
    for path in [old, new] {
        let files = match load(std::slice::from_ref(path)) {
            Ok(f) => f,
            Err(code) => return code,
        };
        let mut warnings = Vec::new();
        let text = match side::compile_text(&files, target, args.layout, &mut warnings) {
            Ok(t) => t,
            Err(code) => return code,
        };
        match readback::read(readback::Format::of(target), &text) {
            Ok(rb) => lines.push(text::render(&rb)),
            Err(e) => {
                eprintln!(
                    "fwc: cannot read back the {} artifact (a bug in fwc): {e}",
                    target.name()
                );
                return EXIT_BAD_INPUT;
            }
        }
    }
    let names = [
        format!("{} ({})", old.display(), target.name()),
        format!("{} ({})", new.display(), target.name()),
    ];
    match text::unified(&lines[0], &lines[1], [&names[0], &names[1]], args.context) {
        Some(d) => {
            print!("{d}");
            EXIT_DIFFERENT
        }
        None => EXIT_OK,
    }
}

/// The kernel's ruleset, read back.
fn live() -> Result<Readback, u8> {
    let out = Command::new("nft")
        .args(["-j", "list", "ruleset"])
        .output()
        .map_err(|e| {
            eprintln!("fwc diff --live: cannot run nft: {e}");
            EXIT_BAD_INPUT
        })?;
    if !out.status.success() {
        eprintln!(
            "fwc diff --live: nft -j list ruleset failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return Err(EXIT_BAD_INPUT);
    }
    readback::read(
        readback::Format::NftJson,
        &String::from_utf8_lossy(&out.stdout),
    )
    .map_err(|e| {
        eprintln!("fwc diff --live: cannot read the kernel's ruleset: {e}");
        EXIT_BAD_INPUT
    })
}

fn behaviour(args: &DiffArgs, a: Side, b: Option<Side>) -> u8 {
    let files = match load(&args.inputs) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let ra = match a.compile(&files, args.layout) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let (rb, b_name) = match b {
        Some(b) => match b.compile(&files, args.layout) {
            Ok(r) => (r, b.name()),
            Err(code) => return code,
        },
        None => match live() {
            Ok(r) => (r, "kernel"),
            Err(code) => return code,
        },
    };
    let cmp = semantic::compare(&ra, &rb, args.max_packets.max(1));
    print!("{}", semantic::report(&cmp, [a.name(), b_name], [&ra, &rb]));
    if cmp.differences.is_empty() {
        EXIT_OK
    } else {
        EXIT_DIFFERENT
    }
}
