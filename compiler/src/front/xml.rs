//! A small spanned XML tree over quick-xml.
//!
//! libvirt documents are small, so front ends read them as a tree instead of
//! a stream: an [`Element`] keeps the byte span of its start tag and name, and
//! every [`Attribute`] the span of its value, so diagnostics can point at the
//! exact text at fault. Malformed XML is reported at its position; a
//! well-formed document with broken attributes (duplicates, missing quotes)
//! reports all of them.

use std::sync::Arc;

use quick_xml::errors::SyntaxError;
use quick_xml::events::attributes::AttrError;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::source::{SourceFile, Span};

/// An element with its attributes, children and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// The qualified name as written (`ip`, `dnsmasq:options`).
    pub name: String,
    /// The start tag, `<` to `>`.
    pub span: Span,
    /// The name in the start tag.
    pub name_span: Span,
    /// In document order.
    pub attrs: Vec<Attribute>,
    /// Child elements in document order.
    pub children: Vec<Element>,
    /// Character data directly inside the element, unescaped and concatenated.
    pub text: String,
    /// From the first to the last byte of that character data, if any.
    pub text_span: Option<Span>,
}

/// An attribute with the span of its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// The qualified name as written.
    pub name: String,
    /// The name in the tag.
    pub name_span: Span,
    /// The value with entities and character references resolved.
    pub value: String,
    /// The value between the quotes (before unescaping).
    pub value_span: Span,
}

impl Element {
    /// The attribute called `name`.
    pub fn attr(&self, name: &str) -> Option<&Attribute> {
        self.attrs.iter().find(|a| a.name == name)
    }

    /// Child elements called `name`, in document order.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The first child element called `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Where the element's character data is, or its start tag without any.
    pub fn text_or_tag_span(&self) -> Span {
        self.text_span.clone().unwrap_or_else(|| self.span.clone())
    }
}

/// The byte offset of `part` inside `whole`, if `part` is a subslice of it.
fn offset_in(whole: &str, part: &[u8]) -> Option<usize> {
    let start = whole.as_ptr() as usize;
    let p = part.as_ptr() as usize;
    let off = p.checked_sub(start)?;
    (off + part.len() <= whole.len()).then_some(off)
}

/// Parses a whole document into its root element.
pub fn parse(file: &Arc<SourceFile>) -> Result<Element, Diagnostics> {
    let full = file.text();
    // quick-xml would skip a byte-order mark itself, but then its positions
    // would no longer be offsets into our text.
    let base = if full.starts_with('\u{feff}') { 3 } else { 0 };
    let text = &full[base..];
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;

    let mut diags = Vec::new();
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let syntax = |at: usize, msg: String| {
        Diagnostic::error(Code::XmlSyntax, msg).at(file, at..at + 1, "here")
    };

    loop {
        let start = base + reader.buffer_position() as usize;
        let event = match reader.read_event() {
            Ok(ev) => ev,
            Err(e) => {
                let at = base + reader.error_position() as usize;
                let d = match e {
                    // Every other syntax error is markup left open at the end.
                    quick_xml::Error::Syntax(s) if s != SyntaxError::InvalidBangMarkup => {
                        Diagnostic::error(
                            Code::XmlSyntax,
                            format!("malformed XML: {s} (is the file truncated?)"),
                        )
                        .at(
                            file,
                            at..at + 1,
                            "not closed before the end of the input",
                        )
                    }
                    other => syntax(at, format!("malformed XML: {other}")),
                };
                diags.push(d);
                return Err(diags);
            }
        };
        let end = base + reader.buffer_position() as usize;
        match event {
            Event::Start(ref tag) | Event::Empty(ref tag) => {
                let el = element(file, text, base, start..end, tag, &mut diags);
                let empty = matches!(event, Event::Empty(_));
                if stack.is_empty() && root.is_some() {
                    diags.push(
                        Diagnostic::error(Code::XmlSyntax, "a document has only one root element")
                            .at(file, el.name_span.clone(), "second root element"),
                    );
                    return Err(diags);
                }
                if empty {
                    attach(el, &mut stack, &mut root);
                } else {
                    stack.push(el);
                }
            }
            Event::End(_) => {
                // quick-xml has checked that the name matches the open element.
                if let Some(el) = stack.pop() {
                    attach(el, &mut stack, &mut root);
                }
            }
            Event::Text(t) => {
                let raw = String::from_utf8_lossy(t.as_ref()).into_owned();
                match quick_xml::escape::unescape(&raw) {
                    Ok(s) => add_text(&mut stack, &s, start..end, file, &mut diags),
                    Err(e) => diags.push(
                        Diagnostic::error(Code::XmlSyntax, format!("malformed XML: {e}")).at(
                            file,
                            start..end,
                            "in this text",
                        ),
                    ),
                }
            }
            Event::CData(t) => {
                let s = String::from_utf8_lossy(t.as_ref()).into_owned();
                add_text(&mut stack, &s, start..end, file, &mut diags);
            }
            Event::Decl(d) => {
                if let Some(Ok(enc)) = d.encoding() {
                    let enc = String::from_utf8_lossy(&enc).to_ascii_lowercase();
                    if enc != "utf-8" && enc != "utf8" && enc != "us-ascii" && enc != "ascii" {
                        diags.push(
                            Diagnostic::error(
                                Code::BadEncoding,
                                format!("unsupported encoding '{enc}'"),
                            )
                            .at(file, start..end, "declared here")
                            .note("fwc reads UTF-8 (or ASCII) XML only"),
                        );
                    }
                }
            }
            Event::Comment(_) | Event::PI(_) | Event::DocType(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(open) = stack.first() {
        let innermost = stack.last().unwrap_or(open);
        diags.push(
            Diagnostic::error(
                Code::XmlSyntax,
                format!(
                    "malformed XML: the input ends inside <{}> (is the file truncated?)",
                    innermost.name
                ),
            )
            .at(
                file,
                innermost.name_span.clone(),
                "opened here, never closed",
            ),
        );
        return Err(diags);
    }
    match root {
        Some(root) if diags.is_empty() => Ok(root),
        Some(_) => Err(diags),
        None => {
            let end = full.len();
            diags.push(
                Diagnostic::error(Code::XmlSyntax, "the input holds no XML element").at(
                    file,
                    end..end,
                    "end of input",
                ),
            );
            Err(diags)
        }
    }
}

fn attach(el: Element, stack: &mut [Element], root: &mut Option<Element>) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None => *root = Some(el),
    }
}

fn add_text(
    stack: &mut [Element],
    s: &str,
    span: Span,
    file: &Arc<SourceFile>,
    diags: &mut Diagnostics,
) {
    match stack.last_mut() {
        Some(el) => {
            el.text.push_str(s);
            el.text_span = Some(match &el.text_span {
                Some(prev) => prev.start..span.end,
                None => span,
            });
        }
        None if !s.trim().is_empty() => diags.push(
            Diagnostic::error(Code::XmlSyntax, "text outside the root element").at(
                file,
                span,
                "not inside any element",
            ),
        ),
        None => {}
    }
}

fn element(
    file: &Arc<SourceFile>,
    text: &str,
    base: usize,
    span: Span,
    tag: &BytesStart<'_>,
    diags: &mut Diagnostics,
) -> Element {
    let name_bytes = tag.name().into_inner();
    let name = String::from_utf8_lossy(name_bytes).into_owned();
    let name_start = offset_in(text, name_bytes).map_or(span.start + 1, |o| base + o);
    let name_span = name_start..name_start + name_bytes.len();
    // Attribute errors are positions relative to the tag's content (after `<`).
    let content = span.start + 1;
    let mut attrs = Vec::new();
    for a in tag.attributes() {
        match a {
            Ok(a) => {
                let key = a.key.into_inner();
                let name_span =
                    offset_in(text, key).map_or(span.clone(), |o| base + o..base + o + key.len());
                let value_span = offset_in(text, &a.value)
                    .map_or(span.clone(), |o| base + o..base + o + a.value.len());
                let raw = String::from_utf8_lossy(&a.value).into_owned();
                let value =
                    match quick_xml::escape::unescape(&raw) {
                        Ok(v) => v.into_owned(),
                        Err(e) => {
                            diags.push(
                                Diagnostic::error(Code::XmlSyntax, format!("malformed XML: {e}"))
                                    .at(file, value_span.clone(), "in this value"),
                            );
                            raw
                        }
                    };
                attrs.push(Attribute {
                    name: String::from_utf8_lossy(key).into_owned(),
                    name_span,
                    value,
                    value_span,
                });
            }
            Err(AttrError::Duplicated(at, prev)) => {
                let at = content + at;
                let prev = content + prev;
                let len = |o: usize| {
                    file.slice(o..span.end)
                        .find(|c: char| c == '=' || c.is_whitespace())
                        .unwrap_or(1)
                };
                diags.push(
                    Diagnostic::error(Code::XmlSyntax, "malformed XML: duplicated attribute")
                        .at(file, at..at + len(at), "duplicated here")
                        .also(file, prev..prev + len(prev), "first given here"),
                );
            }
            Err(e) => {
                let at = content
                    + match e {
                        AttrError::ExpectedEq(p)
                        | AttrError::ExpectedValue(p)
                        | AttrError::UnquotedValue(p)
                        | AttrError::ExpectedQuote(p, _)
                        | AttrError::Duplicated(p, _) => p,
                    };
                let msg = e.to_string();
                // quick-xml prefixes "position N: ", which our label says better.
                let msg = msg.split_once(": ").map_or(msg.as_str(), |(_, m)| m);
                diags.push(
                    Diagnostic::error(Code::XmlSyntax, format!("malformed XML: {msg}")).at(
                        file,
                        at..at + 1,
                        "here",
                    ),
                );
            }
        }
    }
    Element {
        name,
        span,
        name_span,
        attrs,
        children: Vec::new(),
        text: String::new(),
        text_span: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Element, Diagnostics> {
        parse(&SourceFile::new("t.xml", text))
    }

    #[test]
    fn keeps_spans_of_names_and_values() {
        let text =
            "<network>\n  <bridge name='virbr0' stp=\"on\"/>\n  <name>x &amp; y</name>\n</network>";
        let root = parse_str(text).unwrap();
        assert_eq!(root.name, "network");
        assert_eq!(&text[root.name_span.clone()], "network");
        let bridge = root.child("bridge").unwrap();
        assert_eq!(
            &text[bridge.span.clone()],
            "<bridge name='virbr0' stp=\"on\"/>"
        );
        let name = bridge.attr("name").unwrap();
        assert_eq!(&text[name.value_span.clone()], "virbr0");
        assert_eq!(&text[name.name_span.clone()], "name");
        assert_eq!(&text[bridge.attr("stp").unwrap().value_span.clone()], "on");
        let n = root.child("name").unwrap();
        assert_eq!(n.text, "x & y");
        assert_eq!(&text[n.text_span.clone().unwrap()], "x &amp; y");
    }

    #[test]
    fn byte_order_mark_does_not_shift_spans() {
        let text = "\u{feff}<network><bridge name='br'/></network>";
        let root = parse_str(text).unwrap();
        let v = root.child("bridge").unwrap().attr("name").unwrap();
        assert_eq!(&text[v.value_span.clone()], "br");
    }

    #[test]
    fn truncated_input_points_at_the_unclosed_element() {
        let text = "<network>\n  <name>x</name>\n  <ip address='1.2.3.4'>\n";
        let err = parse_str(text).unwrap_err();
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].code, Code::XmlSyntax);
        assert_eq!(err[0].line_col(), Some((3, 4)));
        assert!(err[0].message.contains("<ip>"), "{}", err[0].message);
    }

    #[test]
    fn truncated_tag_is_a_syntax_error() {
        let err = parse_str("<network>\n  <bridge name='virbr0").unwrap_err();
        assert_eq!(err[0].code, Code::XmlSyntax);
        assert_eq!(err[0].line_col().map(|p| p.0), Some(2));
    }

    #[test]
    fn mismatched_end_tag_is_reported() {
        let err = parse_str("<network><name>x</nam></network>").unwrap_err();
        assert_eq!(err[0].code, Code::XmlSyntax);
    }

    #[test]
    fn every_duplicated_attribute_is_reported() {
        let text =
            "<network>\n <bridge name='a' name='b'/>\n <ip address='x' address='y'/>\n</network>";
        let err = parse_str(text).unwrap_err();
        assert_eq!(err.len(), 2, "{err:?}");
        assert!(err[0].message.contains("duplicated attribute"));
        assert_eq!(err[0].line_col(), Some((2, 19)));
        assert_eq!(err[0].secondary[0].line_col(), (2, 10));
        assert_eq!(err[1].line_col().map(|p| p.0), Some(3));
    }

    #[test]
    fn rejects_empty_documents_stray_text_and_two_roots() {
        for bad in [
            "",
            "   ",
            "<!-- only -->",
            "<a/><b/>",
            "<a/>text",
            "<a>&bogus;</a>",
            "<a b='&bogus;'/>",
        ] {
            let err = parse_str(bad).unwrap_err();
            assert!(
                err.iter().all(|d| d.code == Code::XmlSyntax),
                "{bad:?}: {err:?}"
            );
        }
    }

    #[test]
    fn rejects_other_encodings() {
        let err = parse_str("<?xml version='1.0' encoding='ISO-8859-1'?><a/>").unwrap_err();
        assert_eq!(err[0].code, Code::BadEncoding);
        assert!(parse_str("<?xml version='1.0' encoding='UTF-8'?><a/>").is_ok());
    }

    #[test]
    fn never_panics_on_prefixes_of_a_document() {
        let text = "<?xml version='1.0'?>\n<network ipv6='yes'>\n  <name>défault</name>\n  <!-- c -->\n  <ip address='192.168.122.1' prefix='24'><dhcp><range start='a' end='b'/></dhcp></ip>\n</network>\n";
        for (i, _) in text.char_indices() {
            let _ = parse_str(&text[..i]);
        }
        assert!(parse_str(text).is_ok());
    }
}
