//! The `<filterbinding>` front end: a spanned XML tree to
//! [`rules::nwfilter::FilterBinding`].
//!
//! A binding applies one filter to one guest interface:
//!
//! ```xml
//! <filterbinding>
//!   <owner><name>guest</name><uuid>…</uuid></owner>
//!   <portdev name='vnet0'/>
//!   <mac address='52:54:00:7b:35:93'/>
//!   <filterref filter='clean-traffic'>
//!     <parameter name='IP' value='192.168.122.10'/>
//!   </filterref>
//! </filterbinding>
//! ```
//!
//! `<owner>` (the guest libvirt bound it for) changes no rule, so fwc accepts
//! and ignores it and does not require it as libvirt does.

use std::sync::Arc;

use ir::Ifname;
use rules::nwfilter::{FilterBinding, Value, ValueKind};

use super::filter::{shown, Reader};
use super::values;
use super::xml::{Attribute, Element};
use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::source::SourceFile;

/// Reads a `<filterbinding>` root element.
pub fn read(root: &Element, file: &Arc<SourceFile>) -> Result<FilterBinding, Diagnostics> {
    let mut cx = Reader::new(file);
    let binding = binding(&mut cx, root);
    cx.finish(binding, root)
}

fn binding(cx: &mut Reader<'_>, el: &Element) -> Option<FilterBinding> {
    cx.check_attrs(el, &[]);
    let mut portdev = None;
    let mut linkdev = None;
    let mut mac = None;
    let mut filter = None;
    let mut seen: Vec<&Element> = Vec::new();
    for child in &el.children {
        if let Some(first) = seen.iter().find(|c| c.name == child.name) {
            cx.diags.push(
                Diagnostic::error(
                    Code::DuplicateElement,
                    format!("<filterbinding> may hold only one <{}>", child.name),
                )
                .at(cx.file, child.name_span.clone(), "given again here")
                .also(cx.file, first.name_span.clone(), "first given here"),
            );
            continue;
        }
        seen.push(child);
        match child.name.as_str() {
            "owner" => {}
            "portdev" => {
                cx.check_attrs(child, &["name"]);
                portdev = Some(cx.required(child, "name").and_then(|a| ifname(cx, a)));
            }
            "linkdev" => {
                cx.check_attrs(child, &["name"]);
                linkdev = Some(cx.required(child, "name").and_then(|a| ifname(cx, a)));
            }
            "mac" => {
                cx.check_attrs(child, &["address"]);
                mac = Some(cx.required(child, "address").and_then(|a| {
                    match values::parse(ValueKind::Mac, &a.value) {
                        Ok(Value::Mac(m)) => Some(m),
                        _ => {
                            cx.error(
                                Code::BadValue,
                                format!("invalid MAC address '{}'", shown(&a.value)),
                                a.value_span.clone(),
                                &format!("expected {}", ValueKind::Mac.expected()),
                            );
                            None
                        }
                    }
                }));
            }
            "filterref" => filter = Some(cx.filterref(child)),
            _ => cx.unknown_child(
                el,
                child,
                "<owner>, <portdev>, <linkdev>, <mac> and <filterref>",
            ),
        }
    }
    let mut missing = |what: &str, attr: &str| {
        cx.error(
            Code::MissingElement,
            format!("<filterbinding> needs <{what}>"),
            el.name_span.clone(),
            &format!("no <{what} {attr}=…> here"),
        );
    };
    if portdev.is_none() {
        missing("portdev", "name");
    }
    if mac.is_none() {
        missing("mac", "address");
    }
    if filter.is_none() {
        missing("filterref", "filter");
    }
    Some(FilterBinding {
        portdev: portdev??,
        linkdev: match linkdev {
            Some(l) => Some(l?),
            None => None,
        },
        mac: mac??,
        filter: filter??,
        source: cx.source(el),
    })
}

fn ifname(cx: &mut Reader<'_>, a: &Attribute) -> Option<Ifname> {
    match Ifname::new(&a.value) {
        Ok(n) => Some(n),
        Err(e) => {
            cx.error(
                Code::BadIfname,
                format!("'{}' is not a valid interface name", shown(&a.value)),
                a.value_span.clone(),
                &format!("it {}", e.reason),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::front::xml;

    fn read_str(text: &str) -> Result<FilterBinding, Diagnostics> {
        let file = SourceFile::new("b.xml", text);
        let root = xml::parse(&file)?;
        read(&root, &file)
    }

    const BINDING: &str = "<filterbinding>
  <owner>
    <name>f25arm7</name>
    <uuid>12ac8b8c-4f23-4248-ae42-fdcd50c400fd</uuid>
  </owner>
  <portdev name='vnet1'/>
  <mac address='52:54:0:7b:35:93'/>
  <filterref filter='clean-traffic'>
    <parameter name='IP' value='192.168.122.10'/>
    <parameter name='IP' value='192.168.122.11'/>
    <parameter name='CTRL_IP_LEARNING' value='none'/>
  </filterref>
</filterbinding>
";

    #[test]
    fn reads_a_binding() {
        let b = read_str(BINDING).unwrap();
        assert_eq!(b.portdev.as_str(), "vnet1");
        assert_eq!(b.linkdev, None);
        assert_eq!(b.mac.to_string(), "52:54:00:7b:35:93");
        assert_eq!(b.filter.name, "clean-traffic");
        // A repeated parameter is a list.
        assert_eq!(b.filter.params.get("IP").map(<[String]>::len), Some(2));
        assert_eq!((b.filter.source.line, b.filter.source.column), (8, 3));
        assert_eq!(
            b.vars().get("MAC"),
            Some(&["52:54:00:7b:35:93".to_owned()][..])
        );
    }

    #[test]
    fn reports_missing_and_bad_parts() {
        let d = read_str(&BINDING.replace("vnet1", "vnet 1")).unwrap_err();
        assert_eq!(
            (d[0].code, d[0].line_col()),
            (Code::BadIfname, Some((6, 18)))
        );
        let d = read_str(&BINDING.replace("52:54:0:7b:35:93", "52:54:0:7b:35")).unwrap_err();
        assert_eq!(d[0].message, "invalid MAC address '52:54:0:7b:35'");
        let d = read_str(&BINDING.replace("<mac address='52:54:0:7b:35:93'/>", "")).unwrap_err();
        assert_eq!(
            (d[0].code, d[0].message.as_str()),
            (Code::MissingElement, "<filterbinding> needs <mac>")
        );
        let d = read_str(&BINDING.replace("<owner>", "<owner/><owner>")).unwrap_err();
        assert_eq!(d[0].code, Code::DuplicateElement);
        let d = read_str(&BINDING.replace("<portdev", "<portdevice")).unwrap_err();
        let codes: Vec<_> = d.iter().map(|d| d.code).collect();
        assert_eq!(codes, [Code::UnknownElement, Code::MissingElement]);
        let with_link = BINDING.replace("<portdev", "<linkdev name='eth0'/><portdev");
        assert_eq!(
            read_str(&with_link).unwrap().linkdev.unwrap().as_str(),
            "eth0"
        );
    }
}
