//! Diagnostics: what the user must fix, where, and why.
//!
//! Every problem found in an input becomes a [`Diagnostic`] with a stable
//! [`Code`], a message, and (when it has one) a labelled byte span in the
//! input. Front ends collect as many as they can per run. The CLI renders
//! them for people with codespan-reporting ([`render_human`]) or as one JSON
//! object per line for tools ([`render_json`]).

use std::sync::Arc;

use codespan_reporting::diagnostic as cs;
use codespan_reporting::files::{Error as FilesError, Files};
use codespan_reporting::term::{self, termcolor::WriteColor};
use serde::Serialize;

use crate::source::{SourceFile, Span};

/// Every diagnostic of one run, in the order found.
pub type Diagnostics = Vec<Diagnostic>;

/// How bad it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Compilation cannot go on.
    Error,
    /// The output was produced but the user should know something.
    Warning,
}

/// What kind of problem, stable across releases (scripts match on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Code {
    /// An input file could not be read.
    Io,
    /// The input is not valid UTF-8 or declares another encoding.
    BadEncoding,
    /// The input is not well-formed XML.
    XmlSyntax,
    /// The input is a kind of document fwc does not handle (yet).
    UnsupportedInput,
    /// No input files.
    NoInput,
    /// A required element is absent.
    MissingElement,
    /// A required attribute is absent.
    MissingAttribute,
    /// An element that may occur once occurs again.
    DuplicateElement,
    /// Two inputs define the same network or bridge.
    DuplicateNetwork,
    /// Subnets of two networks share addresses.
    OverlappingSubnets,
    /// Input that libvirt acts on but fwc does not turn into rules (a warning).
    Ignored,
    /// `<forward mode>` is not one libvirt knows.
    UnknownForwardMode,
    /// An element that may not appear where it is (e.g. `<tcpx>` in a `<rule>`).
    UnknownElement,
    /// An attribute the element does not have (e.g. `dstportstart` on `<mac>`).
    UnknownAttribute,
    /// A `<filterref>` names a filter that is neither an input nor in the library.
    UnknownFilter,
    /// Filters reference each other in a loop.
    FilterrefCycle,
    /// Two filters have the same name.
    DuplicateFilter,
    /// A rule uses a variable that has no value (or too few values).
    UndefinedVariable,
    /// A `<filter>` input with no interface to apply it to (`--port`).
    UnboundFilter,
    /// An interface name the kernel would refuse (or that could inject text).
    BadIfname,
    /// An IP address that does not parse or has the wrong family.
    BadAddress,
    /// A netmask or prefix length that is not valid.
    BadPrefix,
    /// A port or port range that is not valid.
    BadPort,
    /// Any other attribute value that is not valid.
    BadValue,
    /// The definitions cannot be lowered to rules.
    Lowering,
    /// The lowered or optimised ruleset breaks the IR's invariants (a bug).
    InvalidRuleset,
    /// The target cannot produce what was asked.
    Unsupported,
    /// The target expressed a rule differently or left it out.
    LoweringNote,
}

impl Code {
    /// The code as printed (`bad-ifname`).
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Io => "io",
            Code::BadEncoding => "bad-encoding",
            Code::XmlSyntax => "xml-syntax",
            Code::UnsupportedInput => "unsupported-input",
            Code::NoInput => "no-input",
            Code::MissingElement => "missing-element",
            Code::MissingAttribute => "missing-attribute",
            Code::DuplicateElement => "duplicate-element",
            Code::DuplicateNetwork => "duplicate-network",
            Code::OverlappingSubnets => "overlapping-subnets",
            Code::Ignored => "ignored",
            Code::UnknownForwardMode => "unknown-forward-mode",
            Code::UnknownElement => "unknown-element",
            Code::UnknownAttribute => "unknown-attribute",
            Code::UnknownFilter => "unknown-filter",
            Code::FilterrefCycle => "filterref-cycle",
            Code::DuplicateFilter => "duplicate-filter",
            Code::UndefinedVariable => "undefined-variable",
            Code::UnboundFilter => "unbound-filter",
            Code::BadIfname => "bad-ifname",
            Code::BadAddress => "bad-address",
            Code::BadPrefix => "bad-prefix",
            Code::BadPort => "bad-port",
            Code::BadValue => "bad-value",
            Code::Lowering => "lowering",
            Code::InvalidRuleset => "invalid-ruleset",
            Code::Unsupported => "unsupported",
            Code::LoweringNote => "lowering-note",
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A labelled span of an input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// The file.
    pub file: Arc<SourceFile>,
    /// The bytes concerned, always on character boundaries.
    pub span: Span,
    /// What the span is, shown beside the caret.
    pub message: String,
}

impl Label {
    /// A label; the span is clamped to the file's text and character boundaries.
    pub fn new(file: &Arc<SourceFile>, span: Span, message: impl Into<String>) -> Self {
        Label {
            span: file.clamp(span),
            file: file.clone(),
            message: printable(message.into()),
        }
    }

    /// 1-based line and column of the span's start.
    pub fn line_col(&self) -> (u32, u32) {
        self.file.line_col(self.span.start)
    }
}

/// One problem, with where it is and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The stable code.
    pub code: Code,
    /// One line saying what is wrong, quoting the offending value.
    pub message: String,
    /// Where, if the problem has a place in an input.
    pub primary: Option<Label>,
    /// Related places (e.g. the earlier definition of a duplicate).
    pub secondary: Vec<Label>,
    /// Further explanation or hints.
    pub notes: Vec<String>,
}

impl Diagnostic {
    /// An error without a place yet.
    pub fn error(code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: printable(message.into()),
            primary: None,
            secondary: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// A warning without a place yet.
    pub fn warning(code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message)
        }
    }

    /// Sets the primary place (builder style).
    pub fn at(mut self, file: &Arc<SourceFile>, span: Span, label: impl Into<String>) -> Self {
        self.primary = Some(Label::new(file, span, label));
        self
    }

    /// Adds a related place (builder style).
    pub fn also(mut self, file: &Arc<SourceFile>, span: Span, label: impl Into<String>) -> Self {
        self.secondary.push(Label::new(file, span, label));
        self
    }

    /// Adds a note (builder style).
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(printable(note.into()));
        self
    }

    /// The name of the file the diagnostic points into, if any.
    pub fn file_name(&self) -> Option<&str> {
        self.primary.as_ref().map(|l| l.file.name())
    }

    /// 1-based line and column of the primary place, if any.
    pub fn line_col(&self) -> Option<(u32, u32)> {
        self.primary.as_ref().map(Label::line_col)
    }

    /// Whether this is an error (as opposed to a warning).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl std::fmt::Display for Diagnostic {
    /// `file:line:col: error[code]: message`, one line, for logs and tests.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let (Some(name), Some((line, col))) = (self.file_name(), self.line_col()) {
            write!(f, "{name}:{line}:{col}: ")?;
        }
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{sev}[{}]: {}", self.code, self.message)
    }
}

/// Whether showing `c` could move the cursor, recolour or reorder what a
/// terminal displays: control characters and Unicode's bidirectional
/// overrides and isolates.
fn is_unprintable(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every unprintable character escaped (`\n`, `\u{1b}`), so a
/// hostile value quoted in a message reaches the terminal as text.
fn printable(text: String) -> String {
    if !text.chars().any(is_unprintable) {
        return text;
    }
    text.chars()
        .map(|c| {
            if is_unprintable(c) {
                let escaped: String = c.escape_debug().collect();
                // escape_debug leaves some format characters as they are.
                if escaped.chars().count() == 1 {
                    c.escape_unicode().to_string()
                } else {
                    escaped
                }
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A file's text as the snippets show it: unprintable characters other than
/// line breaks and tabs replaced by a visible one of the same UTF-8 length,
/// so every span still falls on the same characters.
fn shown_source(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => c.to_string(),
            c if is_unprintable(c) => match c.len_utf8() {
                1 => "?".to_owned(),
                2 => "\u{bf}".to_owned(),
                3 => "\u{fffd}".to_owned(),
                _ => "\u{fffd}?".to_owned(),
            },
            c => c.to_string(),
        })
        .collect()
}

/// The files diagnostics point into, as codespan-reporting wants them, with
/// the text each one shows (see [`shown_source`]).
struct FileSet(Vec<Arc<SourceFile>>, Vec<String>);

impl FileSet {
    fn of(diags: &[Diagnostic]) -> Self {
        let mut files: Vec<Arc<SourceFile>> = Vec::new();
        for l in diags
            .iter()
            .flat_map(|d| d.primary.iter().chain(&d.secondary))
        {
            if !files.iter().any(|f| Arc::ptr_eq(f, &l.file)) {
                files.push(l.file.clone());
            }
        }
        let shown = files.iter().map(|f| shown_source(f.text())).collect();
        FileSet(files, shown)
    }

    fn id(&self, file: &Arc<SourceFile>) -> usize {
        self.0
            .iter()
            .position(|f| Arc::ptr_eq(f, file))
            .unwrap_or(0)
    }

    fn get(&self, id: usize) -> Result<&SourceFile, FilesError> {
        self.0.get(id).map(|f| &**f).ok_or(FilesError::FileMissing)
    }
}

impl<'a> Files<'a> for FileSet {
    type FileId = usize;
    type Name = &'a str;
    type Source = &'a str;

    fn name(&'a self, id: usize) -> Result<&'a str, FilesError> {
        Ok(self.get(id)?.name())
    }

    fn source(&'a self, id: usize) -> Result<&'a str, FilesError> {
        self.1
            .get(id)
            .map(String::as_str)
            .ok_or(FilesError::FileMissing)
    }

    fn line_index(&'a self, id: usize, byte_index: usize) -> Result<usize, FilesError> {
        Ok(self.get(id)?.line_index(byte_index))
    }

    fn line_range(
        &'a self,
        id: usize,
        line_index: usize,
    ) -> Result<std::ops::Range<usize>, FilesError> {
        let f = self.get(id)?;
        // codespan expects the range to include the line break.
        let r = f.line_range(line_index);
        let next = f.line_range(line_index + 1).start;
        Ok(r.start..next.max(r.end))
    }
}

fn to_codespan(files: &FileSet, d: &Diagnostic) -> cs::Diagnostic<usize> {
    let sev = match d.severity {
        Severity::Error => cs::Severity::Error,
        Severity::Warning => cs::Severity::Warning,
    };
    let mut labels = Vec::new();
    if let Some(l) = &d.primary {
        labels.push(
            cs::Label::primary(files.id(&l.file), l.span.clone())
                .with_message(printable(l.message.clone())),
        );
    }
    for l in &d.secondary {
        labels.push(
            cs::Label::secondary(files.id(&l.file), l.span.clone())
                .with_message(printable(l.message.clone())),
        );
    }
    // The fields are public, so a diagnostic built without the constructors
    // is made printable here too.
    cs::Diagnostic::new(sev)
        .with_code(d.code.as_str())
        .with_message(printable(d.message.clone()))
        .with_labels(labels)
        .with_notes(d.notes.iter().cloned().map(printable).collect())
}

/// Writes diagnostics for people: `error[code]: message`, then
/// `┌─ file:LINE:COL`, the source line and a caret under the offending text.
/// Colour follows the writer (pass a non-colour writer for plain text).
pub fn render_human(diags: &[Diagnostic], out: &mut dyn WriteColor) -> std::io::Result<()> {
    let files = FileSet::of(diags);
    let config = term::Config::default();
    for d in diags {
        term::emit(out, &config, &files, &to_codespan(&files, d)).map_err(|e| match e {
            FilesError::Io(io) => io,
            other => std::io::Error::other(other.to_string()),
        })?;
    }
    Ok(())
}

/// [`render_human`] without colour, into a string (for tests and logs).
pub fn render_plain(diags: &[Diagnostic]) -> String {
    let mut buf = codespan_reporting::term::termcolor::NoColor::new(Vec::new());
    // Writing into a Vec cannot fail, and our spans are clamped to the files.
    let _ = render_human(diags, &mut buf);
    String::from_utf8_lossy(&buf.into_inner()).into_owned()
}

/// The JSON form of one diagnostic (`--message-format json`).
#[derive(Debug, Serialize)]
struct JsonDiagnostic<'a> {
    severity: Severity,
    code: Code,
    message: &'a str,
    file: Option<&'a str>,
    line: Option<u32>,
    column: Option<u32>,
    label: Option<&'a str>,
    notes: &'a [String],
}

/// One JSON object per diagnostic, one per line, with `severity`, `code`,
/// `message`, `file`, `line`, `column` (null without a place), `label` and
/// `notes`.
pub fn render_json(diags: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diags {
        let (line, column) = d.line_col().unzip();
        let j = JsonDiagnostic {
            severity: d.severity,
            code: d.code,
            message: &d.message,
            file: d.file_name(),
            line,
            column,
            label: d.primary.as_ref().map(|l| l.message.as_str()),
            notes: &d.notes,
        };
        // Serialising plain strings and numbers cannot fail.
        if let Ok(s) = serde_json::to_string(&j) {
            out.push_str(&s);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Diagnostic {
        let f = SourceFile::new(
            "bad.xml",
            "<network>\n  <bridge name='vir br0'/>\n</network>\n",
        );
        Diagnostic::error(
            Code::BadIfname,
            "bridge name 'vir br0' is not a valid interface name",
        )
        .at(&f, 26..33, "not an interface name")
        .note("interface names are at most 15 bytes")
    }

    #[test]
    fn human_rendering_names_file_line_and_column() {
        let text = render_plain(&[sample()]);
        assert!(text.contains("error[bad-ifname]"), "{text}");
        assert!(text.contains("bad.xml:2:17"), "{text}");
        assert!(text.contains("<bridge name='vir br0'/>"), "{text}");
        assert!(text.contains("^^^^^^^ not an interface name"), "{text}");
        assert_eq!(
            sample().to_string(),
            "bad.xml:2:17: error[bad-ifname]: bridge name 'vir br0' is not a valid interface name"
        );
    }

    #[test]
    fn json_rendering_is_one_object_per_line() {
        let d2 = Diagnostic::warning(Code::LoweringNote, "left out");
        let text = render_json(&[sample(), d2]);
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(v["file"], "bad.xml");
        assert_eq!(v["line"], 2);
        assert_eq!(v["column"], 17);
        assert_eq!(v["code"], "bad-ifname");
        assert_eq!(v["severity"], "error");
        let v: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(v["severity"], "warning");
        assert!(v["line"].is_null());
    }

    #[test]
    fn hostile_text_reaches_the_terminal_escaped() {
        // An escape sequence and a bidi override in the input, quoted in the
        // message and shown in the snippet.
        let text = "<network>\n  <name>\u{1b}[2J\u{202e}x</name>\n</network>\n";
        let f = SourceFile::new("bad.xml", text);
        let at = text.find('x').unwrap();
        let d = Diagnostic::error(Code::BadValue, "bad name '\u{1b}[2J\u{202e}x\n'")
            .at(&f, at..at + 1, "\u{7}here")
            .note("\u{0}");
        assert_eq!(d.message, "bad name '\\u{1b}[2J\\u{202e}x\\n'");
        assert_eq!(d.notes, ["\\0"]);
        let shown = render_plain(&[d]);
        assert!(
            !shown.chars().any(|c| c != '\n' && is_unprintable(c)),
            "{shown:?}"
        );
        // The snippet keeps the caret under the character at fault.
        assert!(shown.contains("<name>?[2J\u{fffd}x</name>"), "{shown}");
        assert!(shown.contains("bad.xml:2:14"), "{shown}");
        assert!(shown.contains("│              ^ \\u{7}here"), "{shown}");
    }

    #[test]
    fn codes_print_as_their_serde_names() {
        for c in [
            Code::BadIfname,
            Code::XmlSyntax,
            Code::InvalidRuleset,
            Code::LoweringNote,
        ] {
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
    }
}
