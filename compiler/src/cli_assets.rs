//! Files made from fwc's own command-line definition: shell completion
//! scripts (`fwc completions SHELL`) and man pages (`fwc man`).
//!
//! Both are generated from [`Cli::command()`](crate::cli::Cli), so a new
//! subcommand or flag shows up in them without further work, and users of
//! `cargo install` get them from the binary they installed:
//!
//! ```text
//! fwc man --dir ~/.local/share/man/man1
//! fwc completions bash > ~/.local/share/bash-completion/completions/fwc
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, CommandFactory};
use clap_complete::Shell;
use clap_mangen::roff::{bold, italic, roman, Inline, Roff};
use clap_mangen::Man;

use crate::cli::{self, Cli, MessageFormat, EXIT_BAD_INPUT, EXIT_OK};
use crate::diagnostics::{Code, Diagnostic};

/// Arguments of `fwc completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to print a completion script for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Arguments of `fwc man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write fwc.1 and one page per subcommand (fwc-compile.1, ...) into
    /// DIR, creating it if needed, instead of printing fwc(1) on stdout.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// The name completions are registered under and pages are named after.
const BIN: &str = "fwc";

/// Runs `fwc completions` and returns the exit code.
pub fn run_completions(args: &CompletionsArgs) -> u8 {
    finish(
        cli::write_stdout(&completions(args.shell))
            .map_err(|e| format!("cannot write to stdout: {e}")),
    )
}

/// Runs `fwc man` and returns the exit code.
pub fn run_man(args: &ManArgs) -> u8 {
    let written = match &args.dir {
        None => cli::write_stdout(top_page().as_bytes())
            .map_err(|e| format!("cannot write to stdout: {e}")),
        Some(dir) => write_pages(dir),
    };
    finish(written)
}

fn finish(result: Result<(), String>) -> u8 {
    match result {
        Ok(()) => EXIT_OK,
        Err(msg) => {
            cli::print_diagnostics(&[Diagnostic::error(Code::Io, msg)], MessageFormat::Human);
            EXIT_BAD_INPUT
        }
    }
}

/// The completion script for `shell`.
pub fn completions(shell: Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), BIN, &mut out);
    out
}

/// Writes every page into `dir` (each atomically) and names it on stderr.
fn write_pages(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create '{}': {e}", dir.display()))?;
    for (name, text) in pages() {
        let path = dir.join(name);
        cli::write_atomically(&path, text.as_bytes())
            .map_err(|e| format!("cannot write '{}': {e}", path.display()))?;
        eprintln!("fwc: wrote {}", path.display());
    }
    Ok(())
}

/// fwc's command with everything the pages need filled in: subcommands
/// get their display names (`fwc-compile`), and there is no `help`
/// subcommand to give a page of its own.
fn built_command() -> clap::Command {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// Every page as (file name, roff text): fwc.1 first, then one per
/// subcommand (and nested subcommand) in definition order.
pub fn pages() -> Vec<(String, String)> {
    let cmd = built_command();
    let mut out = vec![(man(cmd.clone()).get_filename(), top_page())];
    let mut todo: Vec<clap::Command> = visible_subcommands(&cmd);
    todo.reverse();
    while let Some(sub) = todo.pop() {
        let page = man(sub.clone());
        let mut text = Vec::new();
        page.render(&mut text)
            .expect("writing to a Vec cannot fail");
        out.push((page.get_filename(), into_string(text)));
        let mut nested = visible_subcommands(&sub);
        nested.reverse();
        todo.extend(nested);
    }
    out
}

fn visible_subcommands(cmd: &clap::Command) -> Vec<clap::Command> {
    cmd.get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect()
}

/// The page of `cmd`, with the same footer on every page (a subcommand has
/// no version of its own).
fn man(cmd: clap::Command) -> Man {
    Man::new(cmd)
        .source(format!("{BIN} {}", env!("CARGO_PKG_VERSION")))
        .manual("fwc manual")
}

/// fwc(1): clap_mangen's sections, then EXIT STATUS, FILES, ENVIRONMENT,
/// EXAMPLES and SEE ALSO, then VERSION.
pub fn top_page() -> String {
    type Section = fn(&Man, &mut dyn Write) -> std::io::Result<()>;
    const LEADING: [Section; 6] = [
        Man::render_title,
        Man::render_name_section,
        Man::render_synopsis_section,
        Man::render_description_section,
        Man::render_options_section,
        Man::render_subcommands_section,
    ];
    // The NAME line is what whatis(1) shows: "fwc - a declarative ...".
    let about = env!("CARGO_PKG_DESCRIPTION");
    let cmd = built_command()
        .about(about.strip_prefix("fwc, ").unwrap_or(about))
        .long_about(DESCRIPTION);
    let subcommands: Vec<String> = visible_subcommands(&cmd)
        .iter()
        .map(|s| s.get_name().to_owned())
        .collect();
    let page = man(cmd);
    // Every rendered piece starts with roff's definition of the apostrophe
    // string; the page needs it once, at the top.
    let preamble = Roff::new().render();
    let mut text = preamble.clone();
    let mut add = |render: &dyn Fn(&mut Vec<u8>)| {
        let mut buf = Vec::new();
        render(&mut buf);
        let piece = into_string(buf);
        text.push_str(piece.strip_prefix(&preamble).unwrap_or(&piece));
    };
    for section in LEADING {
        add(&|buf| section(&page, buf).expect("writing to a Vec cannot fail"));
    }
    add(&|buf| {
        extra_sections(&subcommands)
            .to_writer(buf)
            .expect("writing to a Vec cannot fail")
    });
    add(&|buf| {
        page.render_version_section(buf)
            .expect("writing to a Vec cannot fail")
    });
    text
}

fn into_string(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).expect("roff output is UTF-8")
}

/// The hand-written sections of fwc(1).
fn extra_sections(subcommands: &[String]) -> Roff {
    let mut r = Roff::new();
    r.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in [
        (
            "0",
            "Success; for check and diff, the check passed or nothing differs; \
             for doctor, every flow passes and fwc's objects are as compiled.",
        ),
        (
            "1",
            "fwc check: the kernel refused an artifact or teardown was not exact; \
             fwc diff: the two sides differ; fwc doctor: a foreign rule or policy \
             blocks a flow the inputs need, or fwc's objects drifted.",
        ),
        (
            "2",
            "Bad input or usage, output that could not be written, or a command \
             that cannot run here (such as fwc check without root). Nothing is \
             written to the output file.",
        ),
    ] {
        r.control("TP", [])
            .text([bold(code)])
            .text([roman(meaning)]);
    }

    r.control("SH", ["FILES"]);
    r.control("TP", [])
        .text([italic(crate::front::filter::library::DEFAULT_DIR)])
        .text([
            roman("libvirt's filter library: the "),
            bold("<filter>"),
            roman(" files that "),
            bold("<filterref>"),
            roman("s resolve to when no "),
            bold("--filters"),
            roman(" is given."),
        ]);

    r.control("SH", ["ENVIRONMENT"]);
    r.control("TP", []).text([bold("NO_COLOR")]).text([roman(
        "When set and not empty, diagnostics are never coloured (they are \
         coloured only when stderr is a terminal).",
    )]);

    r.control("SH", ["EXAMPLES"]);
    for (what, command) in EXAMPLES {
        r.text([roman(*what)]);
        r.control("PP", []).control("RS", ["4"]).control("nf", []);
        for line in command.lines() {
            r.text([roman(line)]);
        }
        r.control("fi", []).control("RE", []).control("PP", []);
    }

    r.control("SH", ["SEE ALSO"]);
    let mut refs: Vec<Inline> = Vec::new();
    for name in subcommands {
        refs.push(bold(format!("{BIN}-{name}")));
        refs.push(roman("(1), "));
    }
    for (name, last) in [("nft", false), ("iptables-restore", false), ("virsh", true)] {
        refs.push(bold(name));
        refs.push(roman(if last { "(1)" } else { "(8), " }));
    }
    r.text(refs);
    r
}

/// fwc(1)'s DESCRIPTION (`--help` keeps its one-line about).
const DESCRIPTION: &str = "\
fwc compiles libvirt network definitions (<network>) and network filters \
(<filter>, <filterbinding>) into firewall rulesets for nftables, iptables, \
ip6tables and ebtables: an nft script or libnftables JSON, *-restore input, \
or the command lines libvirt itself runs.

The artifact goes to stdout or, with -o, atomically to a file; diagnostics \
go to stderr and point at the line and column of the input at fault. On any \
error nothing is written.

Each subcommand has a page of its own, named under SUBCOMMANDS.";

/// `fwc man`'s EXAMPLES: what, then the command line.
const EXAMPLES: &[(&str, &str)] = &[
    (
        "Compile libvirt's default network into an nft script:",
        "fwc compile /etc/libvirt/qemu/networks/default.xml --target nft -o default.nft",
    ),
    (
        "Compile a guest's filter for its tap device, with filterrefs \
         resolved in /etc/libvirt/nwfilter:",
        "fwc compile guest.xml --port vnet0 --param IP=10.0.0.5 --target iptables",
    ),
    (
        "Load setup and teardown into a throwaway network namespace (root):",
        "fwc check default.xml --target nft",
    ),
    (
        "Write every target's setup and teardown, with a manifest, for a build:",
        "fwc compile networks/ --target all -o firewall/",
    ),
    (
        "Find what another firewall (Docker, UFW, ...) blocks, and fix it (root):",
        "fwc doctor default.xml --target nft\n\
         fwc doctor default.xml --target nft --fix > fix.sh && sh fix.sh",
    ),
    (
        "Show what an edit changes in the nft rules:",
        "fwc diff old.xml new.xml --target nft",
    ),
    (
        "Install the man pages and bash completion for the current user:",
        "fwc man --dir ~/.local/share/man/man1\n\
         fwc completions bash > ~/.local/share/bash-completion/completions/fwc",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subcommand_has_a_page() {
        let pages = pages();
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names[0], "fwc.1");
        for sub in visible_subcommands(&built_command()) {
            let want = format!("fwc-{}.1", sub.get_name());
            assert!(names.contains(&want.as_str()), "{want} not in {names:?}");
        }
        assert!(!names.contains(&"fwc-help.1"), "{names:?}");
        for (name, text) in &pages {
            assert!(text.starts_with(".ie \\n(.g"), "{name}");
            assert_eq!(text.matches(".ie \\n(.g").count(), 1, "{name}");
            assert!(text.contains(".TH fwc"), "{name}");
        }
    }

    #[test]
    fn the_top_page_has_its_extra_sections_before_the_version() {
        let page = top_page();
        let at = |s: &str| {
            page.find(s)
                .unwrap_or_else(|| panic!("{s} missing:\n{page}"))
        };
        assert!(at(".SH SUBCOMMANDS") < at(".SH \"EXIT STATUS\""));
        assert!(at(".SH \"EXIT STATUS\"") < at(".SH EXAMPLES"));
        assert!(at(".SH EXAMPLES") < at(".SH VERSION"));
        assert!(page.contains("fwc\\-compile"), "{page}");
    }
}
