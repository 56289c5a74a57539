//! Front ends: XML documents to typed definitions.
//!
//! The root element decides the kind of document, so one compilation can mix
//! files of every kind. Each front end reads a spanned [`xml`] tree and
//! reports problems as diagnostics pointing into the file.

use std::sync::Arc;

use rules::network::Network;

use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::source::SourceFile;

pub mod network;
pub mod xml;

/// A parsed input document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Document {
    /// A `<network>` definition.
    Network(Network),
}

/// Parses one file, whatever its kind.
pub fn parse(file: &Arc<SourceFile>) -> Result<Document, Diagnostics> {
    let root = xml::parse(file)?;
    match root.name.as_str() {
        "network" => network::read(&root, file).map(Document::Network),
        kind @ ("filter" | "filterbinding") => Err(vec![Diagnostic::error(
            Code::UnsupportedInput,
            format!("<{kind}> documents (nwfilter) are not supported yet"),
        )
        .at(file, root.name_span.clone(), "nwfilter document")
        .note("fwc compiles <network> definitions for now")]),
        other => Err(vec![Diagnostic::error(
            Code::UnsupportedInput,
            format!(
                "unknown document <{}>, expected <network>, <filter> or <filterbinding>",
                other.escape_debug()
            ),
        )
        .at(file, root.name_span.clone(), "unknown root element")]),
    }
}
