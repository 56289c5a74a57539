//! `fwc compile --target all -o DIR`: every target's setup and teardown
//! artifacts, the `tc` companion where nft needs one, and `manifest.json`,
//! written into DIR as a whole.
//!
//! The bundle is what a build system wants: a fixed set of files with
//! conventional names ([`artifacts::SPECS`]), each applied by the command the
//! manifest names, and byte-identical for the same inputs and options
//! whatever their order on the command line, the locale, the time or the
//! machine (nothing here iterates a hash map or reads a clock).
//!
//! - [`artifacts`] compiles every target and direction and derives the `tc`
//!   companion scripts ([`tc`]);
//! - [`manifest`] describes the inputs and artifacts, with their SHA-256;
//! - [`mod@write`] replaces DIR atomically, and only when it is fwc's to replace.

pub mod artifacts;
pub mod manifest;
pub mod tc;
pub mod write;

use std::path::{Path, PathBuf};

use clap::builder::PossibleValue;
use clap::ValueEnum;

use crate::cli::{
    print_diagnostics, CompileArgs, MessageFormat, TargetArg, EXIT_BAD_INPUT, EXIT_OK,
};
use crate::diagnostics::{Code, Diagnostic, Diagnostics, Severity};
use crate::pipeline::{self, Options};

/// `fwc compile`'s `--target`: one target, or all of them into a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompileTarget {
    /// One target's artifact, to stdout or `-o FILE`.
    One(TargetArg),
    /// Every target's setup and teardown, and a manifest, into `-o DIR`.
    All,
}

impl CompileTarget {
    /// The single target, or `None` for `all`.
    pub fn single(self) -> Option<TargetArg> {
        match self {
            CompileTarget::One(t) => Some(t),
            CompileTarget::All => None,
        }
    }
}

impl ValueEnum for CompileTarget {
    fn value_variants<'a>() -> &'a [Self] {
        &[
            CompileTarget::One(TargetArg::Nft),
            CompileTarget::One(TargetArg::NftJson),
            CompileTarget::One(TargetArg::Iptables),
            CompileTarget::One(TargetArg::Ip6tables),
            CompileTarget::One(TargetArg::Ebtables),
            CompileTarget::All,
        ]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        match self {
            CompileTarget::One(t) => t.to_possible_value(),
            CompileTarget::All => Some(PossibleValue::new("all").help(
                "Every target's setup and teardown scripts and manifest.json, into the \
                 directory -o DIR",
            )),
        }
    }
}

/// Why these arguments cannot go with `--target all`, if they cannot.
fn usage_problem(args: &CompileArgs) -> Option<&'static str> {
    let to_stdout = !matches!(args.output.as_deref(), Some(p) if p.as_os_str() != "-");
    if to_stdout {
        Some("--target all writes a directory of files: name it with -o DIR")
    } else if args.teardown {
        Some("--target all writes both setup and teardown artifacts: leave out --teardown")
    } else if args.format == crate::cli::FormatArg::Commands {
        Some("--target all writes scripts only: --format commands needs a single --target")
    } else if args.dump_ir {
        Some("--dump-ir prints one target's ruleset: it needs a single --target")
    } else {
        None
    }
}

/// Prints a usage error the way clap prints its own, and returns exit code 2.
fn usage_error(message: &str) -> u8 {
    use clap::CommandFactory;
    let mut cli = crate::cli::Cli::command();
    cli.build();
    let err = match cli.find_subcommand_mut("compile") {
        Some(compile) => compile.error(clap::error::ErrorKind::ArgumentConflict, message),
        None => clap::Error::raw(clap::error::ErrorKind::ArgumentConflict, message),
    };
    // If stderr is gone there is no one left to tell.
    let _ = err.print();
    EXIT_BAD_INPUT
}

/// A bundle compiled and described, ready to be written.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The artifacts, in [`artifacts::SPECS`] order.
    pub files: Vec<artifacts::File>,
    /// Their manifest.
    pub manifest: manifest::Manifest,
    /// Warnings to print (see [`artifacts::Bundle::warnings`]).
    pub warnings: Diagnostics,
}

impl Prepared {
    /// Replaces `dir` with the artifacts and `manifest.json` (see
    /// [`write::replace_dir`]).
    pub fn write(&self, dir: &Path) -> Result<(), write::Error> {
        let manifest_text = self.manifest.to_json();
        let mut contents: Vec<(&str, &[u8])> = self
            .files
            .iter()
            .map(|f| (f.spec.name, f.text.as_bytes()))
            .collect();
        contents.push((manifest::FILE_NAME, manifest_text.as_bytes()));
        write::replace_dir(dir, &contents)
    }
}

/// Reads `inputs` (files, directories, `-`) and compiles the bundle with
/// `opts`' layout and options (its target, format and direction are not
/// used) against the filter library `filters`.
pub fn prepare(
    inputs: &[PathBuf],
    filters: Option<&Path>,
    opts: &Options,
) -> Result<Prepared, Diagnostics> {
    let files = pipeline::load_paths(inputs)?;
    let built = artifacts::build(&files, filters, opts)?;
    let manifest = manifest::Manifest::new(&files, filters, opts, &built.files)?;
    Ok(Prepared {
        files: built.files,
        manifest,
        warnings: built.warnings,
    })
}

/// Runs `fwc compile --target all`: checks the arguments, compiles every
/// artifact, then replaces `-o DIR` as a whole. On any error nothing is
/// touched and the exit code is 2.
pub fn run(args: &CompileArgs) -> u8 {
    if let Some(problem) = usage_problem(args) {
        return usage_error(problem);
    }
    let Some(dir) = args.output.as_deref() else {
        return usage_error("--target all needs -o DIR");
    };
    let fail = |diags: &[Diagnostic]| {
        print_diagnostics(diags, args.message_format);
        if args.message_format == MessageFormat::Human {
            let n = diags.iter().filter(|d| d.is_error()).count();
            let s = if n == 1 { "" } else { "s" };
            eprintln!("fwc: {n} error{s}; nothing was written");
        }
        EXIT_BAD_INPUT
    };

    // A directory that is not fwc's to replace is refused before any work.
    if let Err(e) = write::check(dir) {
        return fail(&[Diagnostic::error(Code::Io, e.to_string())]);
    }
    let prepared = match prepare(&args.inputs, args.filters.as_deref(), &args.options()) {
        Ok(p) => p,
        Err(d) => return fail(&d),
    };
    let mut warnings = prepared.warnings.clone();
    if args.deny_warnings && !warnings.is_empty() {
        for w in &mut warnings {
            w.severity = Severity::Error;
            w.notes.push("warnings are errors (--deny-warnings)".into());
        }
        return fail(&warnings);
    }
    print_diagnostics(&warnings, args.message_format);
    match prepared.write(dir) {
        Ok(()) => EXIT_OK,
        Err(e) => fail(&[Diagnostic::error(Code::Io, e.to_string())]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn parse(argv: &[&str]) -> CompileArgs {
        let mut full = vec!["fwc", "compile", "a.xml"];
        full.extend_from_slice(argv);
        match Cli::try_parse_from(full).expect("parses").command {
            Command::Compile(a) => a,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn all_is_a_target_and_single_targets_still_parse() {
        assert_eq!(parse(&["--target", "all"]).target, CompileTarget::All);
        assert_eq!(
            parse(&["--target", "nft-json"]).target,
            CompileTarget::One(TargetArg::NftJson)
        );
        assert_eq!(
            parse(&["--target", "ip6tables"]).options().target,
            emitters::Target::Ip6tables
        );
    }

    #[test]
    fn all_refuses_what_only_a_single_target_can_do() {
        let problem = |extra: &[&str]| {
            let mut argv = vec!["--target", "all"];
            argv.extend_from_slice(extra);
            usage_problem(&parse(&argv))
        };
        assert!(problem(&[]).unwrap().contains("-o DIR"));
        assert!(problem(&["-o", "-"]).unwrap().contains("-o DIR"));
        assert!(problem(&["-o", "d", "--teardown"])
            .unwrap()
            .contains("--teardown"));
        assert!(problem(&["-o", "d", "--format", "commands"])
            .unwrap()
            .contains("--format commands"));
        assert!(problem(&["-o", "d", "--dump-ir"])
            .unwrap()
            .contains("--dump-ir"));
        assert_eq!(problem(&["-o", "d", "--layout", "libvirt", "-O0"]), None);
    }
}
