//! The command line: argument parsing (clap) and the `compile` command.
//!
//! Output contract: the artifact goes to stdout or, with `-o`, atomically to a
//! file; diagnostics and warnings go to stderr. On any error nothing is
//! written and nothing is printed to stdout. Exit codes: 0 success, 2 bad
//! input or usage (clap's own usage errors exit 2 as well).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};
use codespan_reporting::term::termcolor::{ColorChoice, StandardStream};

use crate::diagnostics::{render_human, render_json, Code, Diagnostic};
use crate::pipeline::{self, Options};

/// Exit code for success.
pub const EXIT_OK: u8 = 0;
/// Exit code for bad input, usage, or output that could not be written.
pub const EXIT_BAD_INPUT: u8 = 2;

/// fwc compiles libvirt network definitions into firewall rulesets for
/// nftables, iptables and ebtables.
#[derive(Debug, Parser)]
#[command(name = "fwc", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// fwc's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compile definitions into a ruleset artifact for one target.
    Compile(CompileArgs),
    /// Load setup then teardown into a throwaway network namespace and
    /// report whether the kernel accepted both and teardown was exact
    /// (exit 0 yes, 1 no, 2 bad input or cannot run here; needs root).
    Check(crate::check::CheckArgs),
    /// Diff the rules two versions compile to (--target), or what two
    /// targets do to packets (--targets); exit 1 when they differ.
    Diff(crate::diff::DiffArgs),
    /// Show the verdict, NAT and rules hit for one packet.
    Explain(crate::explain::ExplainArgs),
    /// Find which foreign firewall rules on this host block the traffic
    /// the inputs must allow, and fwc's rules that drifted (exit 0 none,
    /// 1 some, 2 bad input or the live ruleset cannot be read).
    Doctor(crate::doctor::DoctorArgs),
    /// Print a completion script for bash, zsh, fish, elvish or powershell.
    Completions(crate::cli_assets::CompletionsArgs),
    /// Print the fwc(1) man page, or write it and one page per subcommand
    /// into --dir DIR.
    Man(crate::cli_assets::ManArgs),
}

/// A target as named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TargetArg {
    /// An `nft -f` script (or `nft`/`tc` command lines).
    Nft,
    /// libnftables JSON for `nft -j -f`.
    NftJson,
    /// `iptables-restore --noflush` input (or `iptables` command lines).
    Iptables,
    /// `ip6tables-restore --noflush` input (or `ip6tables` command lines).
    Ip6tables,
    /// `ebtables-restore --noflush` input (or `ebtables` command lines).
    Ebtables,
}

/// A layout as named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LayoutArg {
    /// fwc's own tables, sets and verdict maps.
    Fwc,
    /// Exactly the tables, chains and rule order libvirt installs.
    Libvirt,
}

/// An artifact format as named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// One file the target's loader applies atomically (`nft -f`, `*-restore`).
    Script,
    /// One command line per action, in order, as libvirt runs them.
    Commands,
}

/// How diagnostics (and `fwc doctor`'s report) are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MessageFormat {
    /// For people: errors show the source line with a caret under the problem.
    Human,
    /// For tools: JSON (one object per diagnostic and line; doctor's report
    /// is one document).
    Json,
}

/// The inputs of a command that loads fwc's rules (`check`, `doctor`) and
/// how the rules are compiled from them.
#[derive(Debug, Args)]
pub struct RulesArgs {
    /// Input files; a directory means every *.xml in it, sorted by name.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,

    /// The target whose setup and teardown scripts are loaded (for
    /// doctor: the one fwc's rules are loaded with on this host; iptables
    /// covers ip6tables too).
    #[arg(long, value_enum)]
    pub target: TargetArg,

    /// The layout of tables and chains.
    #[arg(long, value_enum, default_value_t = LayoutArg::Fwc)]
    pub layout: LayoutArg,

    /// A directory of <filter> files that <filterref>s resolve to, as for
    /// `fwc compile`.
    #[arg(long, value_name = "DIR")]
    pub filters: Option<PathBuf>,
}

/// Arguments of `fwc compile`.
#[derive(Debug, Args)]
pub struct CompileArgs {
    /// Input files; a directory means every *.xml in it, sorted by name,
    /// and `-` standard input. The root element decides the kind.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,

    /// The target to produce an artifact for (`all`: every target's setup
    /// and teardown, and manifest.json, into the directory `-o DIR`).
    #[arg(long, value_enum)]
    pub target: crate::bundle::CompileTarget,

    /// A directory of <filter> files that <filterref>s resolve to, like
    /// libvirt's /etc/libvirt/nwfilter (the default when it exists).
    #[arg(long, value_name = "DIR")]
    pub filters: Option<PathBuf>,

    /// The layout of tables and chains: fwc's own, or exactly libvirt's
    /// (diffable against what libvirt installs; never optimised).
    #[arg(long, value_enum, default_value_t = LayoutArg::Fwc)]
    pub layout: LayoutArg,

    /// The guest interface a <filter> input is applied to, as libvirt binds
    /// a filter to a tap device (a <filterbinding> names its own port).
    #[arg(long, value_name = "IFNAME", value_parser = parse_ifname)]
    pub port: Option<ir::Ifname>,

    /// A variable for <filter> inputs, NAME=VALUE (such as IP=10.0.0.5);
    /// repeat a NAME to make a list, as libvirt's <parameter>s do.
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, String)>,

    /// A script for the target's atomic loader, or one command per line.
    #[arg(long, value_enum, default_value_t = FormatArg::Script)]
    pub format: FormatArg,

    /// Produce the teardown that removes exactly what setup installs.
    #[arg(long)]
    pub teardown: bool,

    /// Write the artifact to FILE (atomically) instead of stdout (`-`); on
    /// any error FILE is left untouched. With --target all, the directory
    /// to create or replace as a whole; fwc replaces only an empty directory
    /// or one it wrote (its manifest.json and artifacts, nothing else).
    #[arg(short = 'o', long = "output", value_name = "FILE|DIR")]
    pub output: Option<PathBuf>,

    /// Optimisation level: -O1 (default) runs the optimiser passes on the
    /// fwc layout, -O0 skips them.
    #[arg(short = 'O', value_name = "LEVEL", default_value = "1", value_parser = ["0", "1"])]
    pub opt_level: String,

    /// Print the IR (after passes) instead of the artifact.
    #[arg(long)]
    pub dump_ir: bool,

    /// How to print errors and warnings (on stderr).
    #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
    pub message_format: MessageFormat,

    /// Treat warnings (such as rules a target cannot express) as errors:
    /// nothing is written and the exit code is 2.
    #[arg(long)]
    pub deny_warnings: bool,
}

impl CompileArgs {
    /// The pipeline options these arguments ask for (with `--target all`,
    /// target nft: the bundle sets each target itself).
    pub fn options(&self) -> Options {
        Options {
            target: match self.target.single().unwrap_or(TargetArg::Nft) {
                TargetArg::Nft => emitters::Target::Nft,
                TargetArg::NftJson => emitters::Target::NftJson,
                TargetArg::Iptables => emitters::Target::Iptables,
                TargetArg::Ip6tables => emitters::Target::Ip6tables,
                TargetArg::Ebtables => emitters::Target::Ebtables,
            },
            layout: match self.layout {
                LayoutArg::Fwc => rules::layout::Layout::Fwc,
                LayoutArg::Libvirt => rules::layout::Layout::Libvirt,
            },
            format: match self.format {
                FormatArg::Script => emitters::Format::Script,
                FormatArg::Commands => emitters::Format::Commands,
            },
            direction: if self.teardown {
                emitters::Direction::Teardown
            } else {
                emitters::Direction::Setup
            },
            optimize: self.opt_level != "0",
            port: self.port.clone(),
            params: self.params.clone(),
        }
    }
}

fn parse_ifname(text: &str) -> Result<ir::Ifname, String> {
    ir::Ifname::new(text).map_err(|e| e.to_string())
}

fn parse_param(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("expected NAME=VALUE, not '{text}'")),
    }
}

/// Runs a parsed command line and returns the exit code.
pub fn run(cli: Cli) -> u8 {
    match cli.command {
        Command::Compile(args) => compile(&args),
        Command::Check(args) => crate::check::run(&args),
        Command::Diff(args) => crate::diff::run(&args),
        Command::Explain(args) => crate::explain::run(&args),
        Command::Doctor(args) => crate::doctor::run(&args),
        Command::Completions(args) => crate::cli_assets::run_completions(&args),
        Command::Man(args) => crate::cli_assets::run_man(&args),
    }
}

fn compile(args: &CompileArgs) -> u8 {
    if args.target == crate::bundle::CompileTarget::All {
        return crate::bundle::run(args);
    }
    let report = |diags: &[Diagnostic]| print_diagnostics(diags, args.message_format);
    let fail = |diags: &[Diagnostic]| {
        report(diags);
        if args.message_format == MessageFormat::Human {
            let n = diags.iter().filter(|d| d.is_error()).count();
            let s = if n == 1 { "" } else { "s" };
            eprintln!("fwc: {n} error{s}; nothing was written");
        }
        EXIT_BAD_INPUT
    };

    let files = match pipeline::load_paths(&args.inputs) {
        Ok(f) => f,
        Err(d) => return fail(&d),
    };
    let out = match pipeline::compile_files_with_filters(
        &files,
        args.filters.as_deref(),
        &args.options(),
    ) {
        Ok(o) => o,
        Err(d) => return fail(&d),
    };
    let mut warnings = out.warnings.clone();
    warnings.extend(pipeline::note_diagnostics(&out.artifact, &files));
    if args.deny_warnings && !warnings.is_empty() {
        for w in &mut warnings {
            w.severity = crate::diagnostics::Severity::Error;
            w.notes.push("warnings are errors (--deny-warnings)".into());
        }
        return fail(&warnings);
    }
    report(&warnings);

    let text = if args.dump_ir {
        out.ruleset.to_string()
    } else {
        out.artifact.text
    };
    let written = match args.output.as_deref().filter(|p| p.as_os_str() != "-") {
        Some(path) => write_atomically(path, text.as_bytes())
            .map_err(|e| format!("cannot write '{}': {e}", path.display())),
        None => write_stdout(text.as_bytes()).map_err(|e| format!("cannot write to stdout: {e}")),
    };
    match written {
        Ok(()) => EXIT_OK,
        Err(msg) => fail(&[Diagnostic::error(Code::Io, msg)]),
    }
}

/// Prints diagnostics on stderr, in colour only for a terminal and when
/// `NO_COLOR` is unset.
pub fn print_diagnostics(diags: &[Diagnostic], format: MessageFormat) {
    if diags.is_empty() {
        return;
    }
    match format {
        MessageFormat::Json => eprint!("{}", render_json(diags)),
        MessageFormat::Human => {
            let colour = std::io::stderr().is_terminal()
                && !matches!(std::env::var_os("NO_COLOR"), Some(v) if !v.is_empty());
            let choice = if colour {
                ColorChoice::Always
            } else {
                ColorChoice::Never
            };
            let mut err = StandardStream::stderr(choice);
            // If stderr is gone there is no one left to tell.
            let _ = render_human(diags, &mut err);
        }
    }
}

pub(crate) fn write_stdout(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        // A reader that stopped early (`| head`) is not an error of ours.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory
/// and a rename, so readers see the old file or the whole new one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    set_permissions(tmp.as_file(), path)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Keeps the permissions of the file being replaced; a new file gets 0644
/// rather than the temporary file's 0600.
#[cfg(unix)]
fn set_permissions(tmp: &std::fs::File, path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let perms = match std::fs::metadata(path) {
        Ok(m) => m.permissions(),
        Err(_) => std::fs::Permissions::from_mode(0o644),
    };
    tmp.set_permissions(perms)
}

#[cfg(not(unix))]
fn set_permissions(_tmp: &std::fs::File, _path: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn optimisation_levels_parse_attached() {
        let parse = |extra: &[&str]| {
            let mut argv = vec!["fwc", "compile", "a.xml", "--target", "nft"];
            argv.extend_from_slice(extra);
            let Command::Compile(a) = Cli::try_parse_from(argv).unwrap().command else {
                panic!("parsed as another command");
            };
            a.options()
        };
        assert!(parse(&[]).optimize);
        assert!(!parse(&["-O0"]).optimize);
        assert!(parse(&["-O1"]).optimize);
        let o = parse(&["--layout", "libvirt", "--format", "commands", "--teardown"]);
        assert_eq!(o.layout, rules::layout::Layout::Libvirt);
        assert_eq!(o.format, emitters::Format::Commands);
        assert_eq!(o.direction, emitters::Direction::Teardown);
        assert!(
            Cli::try_parse_from(["fwc", "compile", "a.xml", "--target", "nft", "-O2"]).is_err()
        );
        assert!(Cli::try_parse_from(["fwc", "compile", "a.xml"]).is_err());
    }

    #[test]
    fn atomic_write_replaces_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.nft");
        write_atomically(&path, b"one\n").unwrap();
        write_atomically(&path, b"two\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two\n");
        // Only the output is left behind, no temporary files.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
