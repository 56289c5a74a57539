//! `fwc completions`, `fwc man` and `fwc --version`, run as the binary.
//!
//! What is expected comes from `Cli::command()`, so a subcommand, flag or
//! value that stops reaching the scripts or pages fails here.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use clap::CommandFactory;
use common::{fwc, stderr, stdout};
use compiler::cli::Cli;

/// fwc's subcommands as users type them (not clap's own `help`).
fn subcommands() -> Vec<clap::Command> {
    let mut cmd = Cli::command();
    cmd.build();
    cmd.get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
        .cloned()
        .collect()
}

/// Every `--long` flag of `sub`, and the values of its options that take
/// one of a fixed set (such as `--target`).
fn flags_and_values(sub: &clap::Command) -> (Vec<String>, Vec<String>) {
    let mut flags = Vec::new();
    let mut values = Vec::new();
    for arg in sub.get_arguments().filter(|a| !a.is_hide_set()) {
        if let Some(long) = arg.get_long() {
            flags.push(format!("--{long}"));
            for v in arg.get_possible_values() {
                if !v.is_hide_set() {
                    values.push(v.get_name().to_owned());
                }
            }
        }
    }
    (flags, values)
}

fn completion(shell: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let o = fwc(dir.path(), &["completions", shell]);
    assert_eq!(o.status.code(), Some(0), "{shell}: {}", stderr(&o));
    assert_eq!(stderr(&o), "", "{shell}");
    stdout(&o)
}

/// Runs bash with `script` on stdin; returns its stdout.
fn bash(script: &str) -> String {
    let mut child = Command::new("bash")
        .arg("-s")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run bash");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "bash failed: {}", stderr(&o));
    stdout(&o)
}

/// What the bash completion offers for the words typed so far (the last
/// being the word under the cursor).
fn bash_offers(script_path: &Path, words: &[&str]) -> Vec<String> {
    let cword = words.len() - 1;
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let prev = words[cword - 1];
    let cur = words[cword];
    let out = bash(&format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={cword}\n_fwc fwc '{cur}' '{prev}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script_path.display(),
        quoted.join(" "),
    ));
    out.lines().map(str::to_owned).collect()
}

#[test]
fn bash_completion_covers_every_subcommand_flag_and_value() {
    let script = completion("bash");
    assert!(script.contains("complete -F _fwc"), "{script}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fwc.bash");
    std::fs::write(&path, &script).unwrap();
    let syntax = Command::new("bash").arg("-n").arg(&path).output().unwrap();
    assert!(syntax.status.success(), "bash -n: {}", stderr(&syntax));

    let top = bash_offers(&path, &["fwc", ""]);
    let subs = subcommands();
    assert!(subs.len() >= 6, "{subs:?}");
    for sub in &subs {
        let name = sub.get_name();
        assert!(script.contains(&format!("fwc,{name})")), "{name}");
        assert!(top.iter().any(|w| w == name), "{name} not offered: {top:?}");
        let (flags, values) = flags_and_values(sub);
        for flag in flags {
            assert!(script.contains(&flag), "{name} {flag}");
        }
        for value in values {
            assert!(script.contains(&value), "{name}: value {value}");
        }
    }

    // Completing a --target value offers exactly clap's possible values.
    let compile = subs.iter().find(|s| s.get_name() == "compile").unwrap();
    let target = compile
        .get_arguments()
        .find(|a| a.get_long() == Some("target"))
        .unwrap();
    let want: Vec<String> = target
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| v.get_name().to_owned())
        .collect();
    assert!(want.contains(&"nft-json".to_owned()), "{want:?}");
    let offered = bash_offers(&path, &["fwc", "compile", "a.xml", "--target", ""]);
    assert_eq!(offered, want);
    let offered = bash_offers(&path, &["fwc", "completions", ""]);
    for shell in ["bash", "zsh", "fish"] {
        assert!(offered.iter().any(|w| w == shell), "{offered:?}");
    }
}

#[test]
fn zsh_and_fish_completions_name_the_subcommands() {
    for (shell, marker) in [("zsh", "#compdef fwc"), ("fish", "complete -c fwc")] {
        let script = completion(shell);
        assert!(script.contains(marker), "{shell}: {script}");
        for sub in subcommands() {
            assert!(
                script.contains(sub.get_name()),
                "{shell}: {}",
                sub.get_name()
            );
        }
        assert!(script.contains("nft-json"), "{shell}");
    }
    for shell in ["elvish", "powershell"] {
        assert!(completion(shell).contains("compile"), "{shell}");
    }
    let dir = tempfile::tempdir().unwrap();
    let o = fwc(dir.path(), &["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stdout(&o), "");
}

/// Renders a page with groff as man(1) would and insists on silence.
fn assert_renders_cleanly(name: &str, page: &[u8]) {
    let mut child = match Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => panic!("cannot run groff ({e}): install it (Debian: apt-get install groff-base)"),
    };
    use std::io::Write;
    child.stdin.take().unwrap().write_all(page).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{name}: {}", stderr(&o));
    assert_eq!(stderr(&o), "", "{name}: groff warned");
}

#[test]
fn the_man_page_lists_every_subcommand_and_renders_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let o = fwc(dir.path(), &["man"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stderr(&o), "");
    let page = stdout(&o);
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        page.lines()
            .any(|l| l == format!(".TH fwc 1  \"fwc {version}\" \"fwc manual\"")),
        "{page}"
    );
    for section in [
        ".SH NAME",
        ".SH SYNOPSIS",
        ".SH DESCRIPTION",
        ".SH SUBCOMMANDS",
        ".SH \"EXIT STATUS\"",
        ".SH FILES",
        ".SH EXAMPLES",
        ".SH \"SEE ALSO\"",
    ] {
        assert_eq!(page.matches(section).count(), 1, "{section}:\n{page}");
    }
    assert!(page.contains("/etc/libvirt/nwfilter"), "{page}");
    for sub in subcommands() {
        let entry = format!("fwc\\-{}(1)", sub.get_name());
        assert!(page.contains(&entry), "{entry} missing:\n{page}");
    }
    assert_renders_cleanly("fwc.1", page.as_bytes());
}

#[test]
fn man_dir_writes_one_page_per_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("share/man/man1");
    let o = fwc(dir.path(), &["man", "--dir", "share/man/man1"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");

    let mut want = vec!["fwc.1".to_owned()];
    want.extend(
        subcommands()
            .iter()
            .map(|s| format!("fwc-{}.1", s.get_name())),
    );
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut sorted = want.clone();
    sorted.sort();
    assert_eq!(names, sorted, "exactly the pages, no temporary files");

    let err = stderr(&o);
    for name in &want {
        let path = out.join(name);
        assert!(
            err.contains(&format!(
                "fwc: wrote {}",
                Path::new("share/man/man1").join(name).display()
            )),
            "{name} not reported: {err}"
        );
        let page = std::fs::read(&path).unwrap();
        assert_renders_cleanly(name, &page);
        let text = String::from_utf8(page).unwrap();
        let title = name.trim_end_matches(".1");
        assert!(text.contains(&format!(".TH {title} 1 ")), "{name}: {text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o644, "{name}");
        }
    }
    // fwc.1 on disk is the page `fwc man` prints.
    let printed = stdout(&fwc(dir.path(), &["man"]));
    assert_eq!(std::fs::read_to_string(out.join("fwc.1")).unwrap(), printed);
    // A subcommand's page documents its own flags.
    let compile = std::fs::read_to_string(out.join("fwc-compile.1")).unwrap();
    assert!(compile.contains("\\-\\-target"), "{compile}");
    assert!(compile.contains("nft\\-json"), "{compile}");

    // Writing again replaces the pages and leaves nothing else behind.
    let o = fwc(dir.path(), &["man", "--dir", "share/man/man1"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), want.len());
}

#[test]
fn man_dir_that_cannot_be_made_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("file"), "").unwrap();
    let o = fwc(dir.path(), &["man", "--dir", "file/man1"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stdout(&o), "");
    let err = stderr(&o);
    assert!(err.contains("error[io]"), "{err}");
    assert!(err.contains("cannot create 'file/man1'"), "{err}");
}

#[test]
fn version_is_the_package_version() {
    let dir = tempfile::tempdir().unwrap();
    for flag in ["--version", "-V"] {
        let o = fwc(dir.path(), &[flag]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_eq!(stdout(&o), format!("fwc {}\n", env!("CARGO_PKG_VERSION")));
    }
}
