//! Where a rule came from.

use std::fmt;
use std::sync::Arc;

/// A position in an input file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Source {
    /// The input file as the user named it.
    pub file: Arc<str>,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
    /// The element the rule was derived from, e.g. `ip` or `forward`.
    pub element: Arc<str>,
}

/// Why a rule exists: an input element, or the layout's own plumbing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Provenance {
    /// Derived from an element of an input file.
    Input(Source),
    /// Infrastructure the layout adds once per host regardless of inputs
    /// (e.g. the `jump guest_output` in libvirt's `forward` chain). The text
    /// says what it is for.
    Layout(&'static str),
}

impl Provenance {
    /// The input position, if the rule came from an input.
    pub fn source(&self) -> Option<&Source> {
        match self {
            Provenance::Input(s) => Some(s),
            Provenance::Layout(_) => None,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{} <{}>",
            self.file, self.line, self.column, self.element
        )
    }
}

impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Provenance::Input(s) => s.fmt(f),
            Provenance::Layout(what) => write!(f, "layout: {what}"),
        }
    }
}
