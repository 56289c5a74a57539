//! libvirt's expected command files, read as commands, and a report of
//! how fwc's commands differ from them.
//!
//! The files print one argument per line, every line but a command's last
//! ending in `" \"`; [`commands`] joins each command into one line with
//! single spaces, which is also how fwc's `--format commands` prints it.

use similar::TextDiff;

/// Commands of a libvirt expected file, one argv per line: continuation lines
/// (ending in `" \"`) are joined with single spaces.
pub fn commands(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        match line.strip_suffix(" \\") {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                out.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.is_empty() {
        out.push(current.trim_end().to_string());
    }
    out
}

/// Commands that only read state; libvirt parses their output, fwc has no need.
pub fn is_probe(command: &str) -> bool {
    command.starts_with("nft list ")
        || command.starts_with("nft -a list ")
        || command.starts_with("tc qdisc show ")
        || command.ends_with(" --list-rules")
}

/// A report of how `actual` differs from `expected`, or `None` if it does not:
/// the first differing command, then a unified diff (at most 40 lines).
pub fn difference(expected: &[String], actual: &[String]) -> Option<String> {
    if expected == actual {
        return None;
    }
    let first = expected
        .iter()
        .zip(actual)
        .position(|(e, a)| e != a)
        .unwrap_or(expected.len().min(actual.len()));
    let missing = "<none>".to_string();
    let mut report = format!(
        "first difference at command {}:\n  expected: {}\n  actual:   {}\n",
        first + 1,
        expected.get(first).unwrap_or(&missing),
        actual.get(first).unwrap_or(&missing),
    );
    let (e, a) = (expected.join("\n") + "\n", actual.join("\n") + "\n");
    let diff = TextDiff::from_lines(&e, &a);
    let unified = diff
        .unified_diff()
        .context_radius(2)
        .header("expected", "actual")
        .to_string();
    let lines: Vec<_> = unified.lines().collect();
    const MAX: usize = 40;
    report.push_str(&lines[..lines.len().min(MAX)].join("\n"));
    if lines.len() > MAX {
        report.push_str(&format!("\n... ({} more diff lines)", lines.len() - MAX));
    }
    Some(report)
}

/// Whether `actual` holds every command of `expected` in the same order
/// (other commands may come between them); `Err` names the first expected
/// command not found after the ones before it, and the commands around
/// where it should have been.
pub fn in_order(expected: &[String], actual: &[String]) -> Result<(), String> {
    let mut at = 0;
    for (i, want) in expected.iter().enumerate() {
        match actual[at..].iter().position(|a| a == want) {
            Some(p) => at += p + 1,
            None => {
                let shown: Vec<_> = actual[at..]
                    .iter()
                    .take(5)
                    .map(|a| format!("    {a}"))
                    .collect();
                return Err(format!(
                    "expected command {} of {} not found in order:\n  expected: {want}\n  \
                     after command {at} of fwc's output, which goes on with:\n{}",
                    i + 1,
                    expected.len(),
                    if shown.is_empty() {
                        "    <nothing>".to_string()
                    } else {
                        shown.join("\n")
                    }
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_finds_a_subsequence_and_names_what_is_missing() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(in_order(&s(&["a", "c"]), &s(&["a", "b", "c"])), Ok(()));
        let err = in_order(&s(&["c", "a"]), &s(&["a", "b", "c"])).unwrap_err();
        assert!(err.contains("expected command 2 of 2"), "{err}");
        assert!(err.contains("expected: a"), "{err}");
        assert!(err.contains("<nothing>"), "{err}");
    }

    #[test]
    fn a_difference_names_the_first_differing_command() {
        let want: Vec<String> = ["a b", "c d", "e f"].map(String::from).to_vec();
        assert_eq!(difference(&want, &want), None);
        let got: Vec<String> = ["a b", "c x", "e f"].map(String::from).to_vec();
        let report = difference(&want, &got).unwrap();
        assert!(
            report
                .starts_with("first difference at command 2:\n  expected: c d\n  actual:   c x\n"),
            "{report}"
        );
        assert!(report.contains("-c d\n+c x"), "{report}");
        let short = difference(&want, &want[..2]).unwrap();
        assert!(
            short.contains("expected: e f\n  actual:   <none>"),
            "{short}"
        );
        assert_eq!(commands("x \\\ny\nz\n"), ["x y", "z"]);
        assert!(is_probe("nft -a list table bridge t") && !is_probe("nft add table bridge t"));
    }
}
