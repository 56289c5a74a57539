//! `fwc check`: the kernel judges the artifacts.
//!
//! Setup and teardown (script format) are loaded into a throwaway network
//! namespace holding the interfaces the ruleset names, so the check needs no
//! host state and leaves none behind. The steps, one output line each:
//! setup loads; it changes the ruleset (when there are rules); for the nft
//! targets, a second load leaves the ruleset as one did (the scripts promise
//! idempotence); teardown loads; the ruleset is then exactly what it was
//! before setup. Exit codes: 0 every step passed, 1 the kernel rejected an
//! artifact or a comparison failed, 2 bad input or usage, or the check cannot
//! run here (not root, a tool missing).

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use clap::Args;
use emitters::{Direction, Format, Target};
use rules::layout::Layout;
use serde_json::Value as Json;

use crate::cli::{
    print_diagnostics, LayoutArg, MessageFormat, RulesArgs, TargetArg, EXIT_BAD_INPUT, EXIT_OK,
};
use crate::diagnostics::Diagnostics;
use crate::netns::{self, loader, Netns};
use crate::pipeline::{self, Options};
use crate::source::SourceFile;

/// Exit code when the kernel rejected an artifact or teardown was not exact.
pub const EXIT_CHECK_FAILED: u8 = 1;

/// Arguments of `fwc check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The inputs and how fwc's rules are compiled from them.
    #[command(flatten)]
    pub rules: RulesArgs,
}

/// What a check loads: both scripts of one target, and the interfaces to
/// create first (nft refuses `iif` on an interface that does not exist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The target, which decides the loader.
    pub target: Target,
    /// The setup script.
    pub setup: String,
    /// The teardown script.
    pub teardown: String,
    /// Interfaces to create (as bridges) before loading.
    pub interfaces: Vec<String>,
    /// Whether setup installs anything (a ruleset without tables changes
    /// nothing, and that is no failure).
    pub has_rules: bool,
}

impl Plan {
    /// Compiles setup and teardown of `files`; also returns the warnings
    /// `fwc compile` would print (about the inputs, and the target's notes).
    pub fn compile(
        files: &[Arc<SourceFile>],
        filters: Option<&Path>,
        target: Target,
        layout: Layout,
    ) -> Result<(Plan, Diagnostics), Diagnostics> {
        let opts = |direction| Options {
            target,
            layout,
            format: Format::Script,
            direction,
            ..Options::default()
        };
        let compile =
            |direction| pipeline::compile_files_with_filters(files, filters, &opts(direction));
        let setup = compile(Direction::Setup)?;
        let teardown = compile(Direction::Teardown)?;
        let mut warnings = setup.warnings.clone();
        warnings.extend(pipeline::note_diagnostics(&setup.artifact, files));
        let plan = Plan {
            target,
            interfaces: setup.ruleset.interface_names(),
            has_rules: !setup.ruleset.tables.is_empty(),
            setup: setup.artifact.text,
            teardown: teardown.artifact.text,
        };
        Ok((plan, warnings))
    }
}

/// Runs `fwc check` and returns the exit code.
pub fn run(args: &CheckArgs) -> u8 {
    let r = &args.rules;
    let compiled = pipeline::load_paths(&r.inputs).and_then(|files| {
        let filters = r.filters.as_deref();
        Plan::compile(&files, filters, target(r.target), layout(r.layout))
    });
    let plan = match compiled {
        Ok((plan, warnings)) => {
            print_diagnostics(&warnings, MessageFormat::Human);
            plan
        }
        Err(diags) => {
            print_diagnostics(&diags, MessageFormat::Human);
            eprintln!("fwc check: the inputs do not compile; nothing was loaded");
            return EXIT_BAD_INPUT;
        }
    };
    let mut out = std::io::stdout().lock();
    match check(&plan, &mut out) {
        Ok(report) => {
            // stdout is the report itself; if it is gone the exit code still tells.
            let _ = writeln!(out, "fwc check: {}", report.summary());
            if report.passed() {
                EXIT_OK
            } else {
                EXIT_CHECK_FAILED
            }
        }
        Err(why) => {
            eprintln!("fwc check: cannot run: {why}");
            EXIT_BAD_INPUT
        }
    }
}

fn target(arg: TargetArg) -> Target {
    match arg {
        TargetArg::Nft => Target::Nft,
        TargetArg::NftJson => Target::NftJson,
        TargetArg::Iptables => Target::Iptables,
        TargetArg::Ip6tables => Target::Ip6tables,
        TargetArg::Ebtables => Target::Ebtables,
    }
}

fn layout(arg: LayoutArg) -> Layout {
    match arg {
        LayoutArg::Fwc => Layout::Fwc,
        LayoutArg::Libvirt => Layout::Libvirt,
    }
}

/// How the steps went.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Steps that ran.
    pub steps: usize,
    /// Steps that failed.
    pub failed: usize,
}

impl Report {
    /// Whether every step passed.
    pub fn passed(&self) -> bool {
        self.failed == 0
    }

    /// One line for the end of the output.
    pub fn summary(&self) -> String {
        if self.passed() {
            format!("all {} steps passed", self.steps)
        } else {
            format!("{} of {} steps failed", self.failed, self.steps)
        }
    }
}

/// Prints step lines on `out` as they finish and keeps count.
struct Steps<'a> {
    out: &'a mut dyn Write,
    report: Report,
}

impl Steps<'_> {
    /// Records a step; returns whether it passed.
    fn record(&mut self, step: &str, result: Result<(), String>) -> bool {
        self.report.steps += 1;
        let line = match &result {
            Ok(()) => format!("ok: {step}"),
            Err(why) => {
                self.report.failed += 1;
                let mut lines = why.trim_end().lines();
                let mut text = format!("failed: {step}: {}", lines.next().unwrap_or(""));
                for l in lines {
                    text.push_str("\n    ");
                    text.push_str(l);
                }
                text
            }
        };
        // A closed stdout must not stop the check half way: the namespace is
        // dropped either way and the exit code tells the outcome.
        let _ = writeln!(self.out, "{line}");
        result.is_ok()
    }
}

/// Runs the steps of `plan` in a new namespace, printing one line per step
/// on `out`. `Err` says why the check cannot run at all (not root, a tool
/// missing, namespaces or interfaces that cannot be made, a ruleset that
/// cannot be listed).
pub fn check(plan: &Plan, out: &mut dyn Write) -> Result<Report, String> {
    let (program, args) = loader(plan.target);
    if let Some(why) = netns::missing(&["ip", "nft", program]) {
        return Err(why);
    }
    let how = format!(
        "{program} {}",
        args.iter()
            .filter(|a| **a != "-")
            .copied()
            .collect::<Vec<_>>()
            .join(" ")
    );
    let ns = Netns::create("fwc-check").map_err(|f| f.to_string())?;
    for ifname in &plan.interfaces {
        ns.add_bridge(ifname)
            .map_err(|f| format!("cannot create interface {ifname}: {f}"))?;
    }
    let listing = |ns: &Netns| ns.ruleset().map_err(|f| f.to_string());
    let mut steps = Steps {
        out,
        report: Report::default(),
    };
    let bridges = if plan.interfaces.is_empty() {
        "no interfaces".to_owned()
    } else {
        format!("bridges {}", plan.interfaces.join(", "))
    };
    steps.record(
        &format!("create namespace {} with {bridges}", ns.name()),
        Ok(()),
    );
    let load = |text: &str| {
        ns.load(plan.target, text).map_err(|f| {
            if f.output.trim().is_empty() {
                format!("`{}` failed without a message", f.command)
            } else {
                f.output
            }
        })
    };

    let before = listing(&ns)?;
    if !steps.record(&format!("load setup ({how})"), load(&plan.setup)) {
        return Ok(steps.report);
    }
    let installed = listing(&ns)?;
    if plan.has_rules {
        let changed = if installed == before {
            Err("the ruleset is the same as before".to_owned())
        } else {
            Ok(())
        };
        steps.record("setup changed the ruleset", changed);
    }
    if matches!(plan.target, Target::Nft | Target::NftJson)
        && steps.record(&format!("load setup again ({how})"), load(&plan.setup))
    {
        let twice = listing(&ns)?;
        steps.record(
            "setup twice equals setup once",
            same(&installed, &twice, "after the second load"),
        );
    }
    if steps.record(&format!("load teardown ({how})"), load(&plan.teardown)) {
        let after = listing(&ns)?;
        steps.record(
            "teardown restored the ruleset",
            same(&before, &after, "after teardown"),
        );
    }
    Ok(steps.report)
}

/// `Ok` when the listings hold the same objects, else the objects that differ.
fn same(expected: &Json, now: &Json, when: &str) -> Result<(), String> {
    if expected == now {
        return Ok(());
    }
    let diff = netns::differences(expected, now);
    Err(if diff.is_empty() {
        format!("the same objects {when}, in another order")
    } else {
        format!("{when}, objects removed (-) and added (+):\n{diff}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the kernel can be used; skips with a reason, or panics when
    /// `FWC_REQUIRE_KERNEL=1` (as CI sets it).
    fn kernel(test: &str) -> bool {
        netns::may_run(test, netns::unavailable())
    }

    fn nft_plan(setup: &str, teardown: &str) -> Plan {
        Plan {
            target: Target::Nft,
            setup: setup.into(),
            teardown: teardown.into(),
            interfaces: vec!["br-fwc0".into()],
            has_rules: true,
        }
    }

    fn checked(plan: &Plan) -> (Report, String) {
        let mut out = Vec::new();
        let report = check(plan, &mut out).expect("the check runs");
        (report, String::from_utf8(out).unwrap())
    }

    const SETUP: &str = "table ip t {}\ndelete table ip t\ntable ip t {\n\tchain c {\n\t\ttype filter hook forward priority 0; policy accept;\n\t\tiif \"br-fwc0\" accept\n\t}\n}\n";

    #[test]
    fn a_clean_round_trip_passes_every_step() {
        if !kernel("a_clean_round_trip_passes_every_step") {
            return;
        }
        let (report, out) = checked(&nft_plan(SETUP, "delete table ip t\n"));
        assert_eq!(
            report,
            Report {
                steps: 7,
                failed: 0
            },
            "{out}"
        );
        let steps: Vec<_> = out.lines().skip(1).collect();
        assert_eq!(
            steps,
            [
                "ok: load setup (nft -f)",
                "ok: setup changed the ruleset",
                "ok: load setup again (nft -f)",
                "ok: setup twice equals setup once",
                "ok: load teardown (nft -f)",
                "ok: teardown restored the ruleset",
            ]
        );
        assert!(
            out.starts_with("ok: create namespace fwc-check-")
                && out
                    .lines()
                    .next()
                    .unwrap()
                    .ends_with(" with bridges br-fwc0"),
            "{out}"
        );
    }

    #[test]
    fn a_rejected_setup_fails_with_the_loaders_message() {
        if !kernel("a_rejected_setup_fails_with_the_loaders_message") {
            return;
        }
        let (report, out) = checked(&nft_plan("table ip t { chain c { bogus } }\n", ""));
        assert_eq!(
            report,
            Report {
                steps: 2,
                failed: 1
            },
            "{out}"
        );
        let failed = out.lines().nth(1).unwrap();
        assert!(failed.starts_with("failed: load setup (nft -f): "), "{out}");
        assert!(out.contains("Error:"), "nft's own message is shown: {out}");
    }

    #[test]
    fn an_incomplete_teardown_names_what_was_left() {
        if !kernel("an_incomplete_teardown_names_what_was_left") {
            return;
        }
        let (report, out) = checked(&nft_plan(SETUP, "delete chain ip t c\n"));
        assert_eq!(
            report,
            Report {
                steps: 7,
                failed: 1
            },
            "{out}"
        );
        assert!(
            out.contains("failed: teardown restored the ruleset: after teardown, objects removed (-) and added (+):\n    + {\"table\":{\"family\":\"ip\",\"name\":\"t\"}}"),
            "{out}"
        );
    }

    #[test]
    fn setup_that_is_not_idempotent_or_changes_nothing_fails() {
        if !kernel("setup_that_is_not_idempotent_or_changes_nothing_fails") {
            return;
        }
        // Without the leading delete, a second load appends the rule again.
        let appending = SETUP.replace("table ip t {}\ndelete table ip t\n", "");
        let (report, out) = checked(&nft_plan(&appending, "delete table ip t\n"));
        assert_eq!(report.failed, 1, "{out}");
        assert!(out.contains("failed: setup twice equals setup once: after the second load, objects removed (-) and added (+):\n    + {\"rule\""), "{out}");

        let (report, out) = checked(&nft_plan("# nothing\n", "# nothing\n"));
        assert_eq!(report.failed, 1, "{out}");
        assert!(
            out.contains("failed: setup changed the ruleset: the ruleset is the same as before"),
            "{out}"
        );
    }

    #[test]
    fn plans_name_the_interfaces_to_create() {
        let file = SourceFile::new(
            "a.xml",
            "<network><name>n</name><bridge name='virbr7'/><forward dev='eth9'/>\
             <ip address='10.0.0.1' prefix='24'/></network>",
        );
        let (plan, _) = Plan::compile(&[file], None, Target::Nft, Layout::Fwc).unwrap();
        assert_eq!(plan.interfaces, ["eth9", "virbr7"]);
        assert!(plan.has_rules);
        assert!(
            plan.teardown.contains("delete table inet fwc"),
            "{}",
            plan.teardown
        );
    }
}
