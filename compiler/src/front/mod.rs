//! Front ends: XML documents to typed definitions.
//!
//! The root element decides the kind of document, so one compilation can mix
//! files of every kind. Each front end reads a spanned [`xml`] tree and
//! reports problems as diagnostics pointing into the file.

use std::sync::Arc;

use rules::network::Network;
use rules::nwfilter::{Filter, FilterBinding};

use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::source::SourceFile;

pub mod binding;
pub mod filter;
pub mod network;
pub mod values;
pub mod xml;

/// A parsed input document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Document {
    /// A `<network>` definition.
    Network(Network),
    /// A `<filter>` (nwfilter) definition.
    Filter(Filter),
    /// A `<filterbinding>`: a filter applied to a guest interface.
    Binding(FilterBinding),
}

/// Parses one file, whatever its kind.
pub fn parse(file: &Arc<SourceFile>) -> Result<Document, Diagnostics> {
    let root = xml::parse(file)?;
    match root.name.as_str() {
        "network" => network::read(&root, file).map(Document::Network),
        "filter" => filter::read(&root, file).map(Document::Filter),
        "filterbinding" => binding::read(&root, file).map(Document::Binding),
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
