//! The `fwc doctor` command line: arguments, and the run from inputs and
//! live ruleset to report and exit code.
//!
//! Exit codes: 0 every flow passes and nothing of fwc's drifted; 1 a flow
//! is blocked by a foreign chain, or drift; 2 bad input, or the live
//! ruleset cannot be read.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use crate::cli::{print_diagnostics, LayoutArg, MessageFormat, RulesArgs, EXIT_BAD_INPUT, EXIT_OK};

use super::analyse::{analyse, Analysis};
use super::compiled::{CompileError, Compiled};
use super::flows::Host;
use super::live::{self, Live};
use super::report;

/// Exit code when a flow is blocked or fwc's rules drifted.
pub const EXIT_TROUBLE: u8 = 1;

/// Arguments of `fwc doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The inputs and how fwc's rules on this host are compiled from them.
    #[command(flatten)]
    pub rules: RulesArgs,

    /// Read a saved `nft -j list ruleset` from FILE (`-` for standard
    /// input) instead of listing this namespace's ruleset. The uplink is
    /// then the <forward dev>, or a placeholder name.
    #[arg(long, value_name = "FILE")]
    pub live: Option<PathBuf>,

    /// Print a shell script that lets the blocked flows through the
    /// foreign managers (and `--teardown` removes it) on stdout; the report
    /// goes to stderr.
    #[arg(long)]
    pub fix: bool,

    /// How to print the report: for people, or one JSON document.
    #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
    pub message_format: MessageFormat,
}

impl DoctorArgs {
    /// This command line with `--fix`, for the report's hint.
    fn fix_command(&self) -> String {
        let mut words = vec!["fwc doctor".to_owned()];
        let r = &self.rules;
        words.extend(r.inputs.iter().map(|p| p.display().to_string()));
        words.push(format!("--target {}", value_name(r.target)));
        if r.layout != LayoutArg::Fwc {
            words.push(format!("--layout {}", value_name(r.layout)));
        }
        if let Some(f) = &r.filters {
            words.push(format!("--filters {}", f.display()));
        }
        if let Some(l) = &self.live {
            words.push(format!("--live {}", l.display()));
        }
        words.push("--fix".into());
        words.join(" ")
    }
}

fn value_name(v: impl clap::ValueEnum) -> String {
    v.to_possible_value()
        .map(|p| p.get_name().to_owned())
        .unwrap_or_default()
}

/// Runs `fwc doctor`; returns the exit code.
pub fn run(args: &DoctorArgs) -> u8 {
    let analysis = match diagnose(args) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let d = &analysis.diagnosis;
    let code = if report::trouble(d) {
        EXIT_TROUBLE
    } else {
        EXIT_OK
    };
    let fix = if args.fix {
        match super::fix::script(d) {
            Ok(s) => {
                // The script only comments on these; the user must act.
                for step in &s.manual {
                    eprintln!("fwc doctor: by hand: {step}");
                }
                Some(s.text)
            }
            Err(e) => {
                eprintln!("fwc doctor: cannot write the fix: {e}");
                return EXIT_BAD_INPUT;
            }
        }
    } else {
        None
    };
    let written = match args.message_format {
        MessageFormat::Json => {
            let mut doc = report::json(&analysis);
            if let Some(f) = &fix {
                doc["fix"] = serde_json::Value::String(f.clone());
            }
            writeln!(std::io::stdout().lock(), "{doc}")
        }
        MessageFormat::Human => {
            let hint = if args.fix {
                String::new()
            } else {
                args.fix_command()
            };
            let text = report::human(&analysis, &hint);
            match &fix {
                Some(script) => {
                    eprint!("{text}");
                    std::io::stdout().lock().write_all(script.as_bytes())
                }
                None => std::io::stdout().lock().write_all(text.as_bytes()),
            }
        }
    };
    match written {
        // A reader that stopped early (`| head`) still gets the exit code.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            eprintln!("fwc doctor: cannot write the report: {e}");
            EXIT_BAD_INPUT
        }
        _ => code,
    }
}

/// Compiles the inputs, reads the live ruleset and analyses them; `Err` is
/// the exit code after the reason was printed.
pub fn diagnose(args: &DoctorArgs) -> Result<Analysis, u8> {
    let r = &args.rules;
    let files = crate::pipeline::load_paths(&r.inputs).map_err(|d| {
        print_diagnostics(&d, MessageFormat::Human);
        EXIT_BAD_INPUT
    })?;
    let compiled =
        Compiled::new(&files, r.filters.as_deref(), r.target, r.layout).map_err(|e| {
            match e {
                CompileError::Inputs(d) => {
                    print_diagnostics(&d, MessageFormat::Human);
                    eprintln!("fwc doctor: the inputs do not compile");
                }
                CompileError::Readback(m) => eprintln!("fwc doctor: {m}"),
            }
            EXIT_BAD_INPUT
        })?;
    let text = live::listing_text(args.live.as_deref()).map_err(|m| {
        eprintln!("fwc doctor: {m}");
        EXIT_BAD_INPUT
    })?;
    // A saved listing comes without the iptables-save output of its moment.
    let saves = if args.live.is_none() && live::needs_saves(&text) {
        live::saves(&live::run_here)
    } else {
        Vec::new()
    };
    let live = Live::read_with_saves(&text, &saves).map_err(|m| {
        eprintln!("fwc doctor: the live ruleset cannot be read: {m}");
        EXIT_BAD_INPUT
    })?;
    let expected = live::expected(&compiled);
    // A saved listing says nothing of the host's routes or br_netfilter.
    let host = if args.live.is_some() {
        Host::default()
    } else {
        Host::of_current()
    };
    Ok(analyse(
        &compiled,
        &live,
        expected.as_ref().map_err(String::as_str),
        &host,
    ))
}
