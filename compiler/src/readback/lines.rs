//! The line loop the text readers share (nft scripts and restore files):
//! blank lines are skipped, a provenance comment (`# file:line:col
//! <element>`) is held for the statement below it, and a statement's error
//! is reported at its 1-based line.

use ir::Provenance;

use super::{provenance, ReadError};

/// Hands each statement line of `text` (trimmed) to `statement` with the
/// provenance comment written right above it, if any.
///
/// Any other comment (the header, a "left out" remark) ends the last
/// provenance comment's claim on the next statement; a blank line does not.
/// Every statement takes the pending provenance, rule or not, so that it
/// never reaches a later rule.
pub(crate) fn each_statement(
    what: &'static str,
    text: &str,
    mut statement: impl FnMut(&str, Option<Provenance>) -> Result<(), String>,
) -> Result<(), ReadError> {
    let mut pending = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            pending = provenance::parse(comment);
            continue;
        }
        statement(line, pending.take()).map_err(|m| ReadError::new(what, n + 1, m))?;
    }
    Ok(())
}

/// An error about how `text` ends (an open block, a missing `COMMIT`),
/// reported at its last line.
pub(crate) fn at_end(what: &'static str, text: &str, message: &str) -> ReadError {
    ReadError::new(what, text.lines().count(), message.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statements(text: &str) -> Vec<(String, Option<String>)> {
        let mut seen = Vec::new();
        each_statement("test", text, |line, prov| {
            seen.push((line.to_owned(), prov.map(|p| p.to_string())));
            Ok(())
        })
        .unwrap();
        seen
    }

    #[test]
    fn a_provenance_comment_belongs_to_the_next_statement_only() {
        let text =
            "# header\n\n  # n.xml:1:2 <ip>\n\n  a  \nb\n# n.xml:3:4 <rule>\n# left out: x\nc\n";
        assert_eq!(
            statements(text),
            [
                ("a".to_owned(), Some("n.xml:1:2 <ip>".to_owned())),
                ("b".to_owned(), None),
                ("c".to_owned(), None),
            ]
        );
    }

    #[test]
    fn errors_carry_the_statement_line_and_the_end_error_the_last() {
        let text = "# n.xml:1:2 <ip>\nok\n\nbad\n";
        let err = each_statement("what", text, |line, _| match line {
            "bad" => Err("no".into()),
            _ => Ok(()),
        })
        .unwrap_err();
        assert_eq!(err, ReadError::new("what", 4, "no".into()));
        assert_eq!(at_end("what", text, "open").line, 4);
    }
}
