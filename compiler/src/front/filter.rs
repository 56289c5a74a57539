//! The `<filter>` front end: a spanned XML tree to [`rules::nwfilter::Filter`].
//!
//! Reads the whole nwfilter language as libvirt's `nwfilter_conf.c` does —
//! chain names and priorities, rules, every protocol element with its
//! attributes, `match='no'`, variables — and reports every problem at the
//! text at fault. Where libvirt silently ignores or guesses, fwc refuses
//! with a diagnostic instead: unknown elements and attributes, a second
//! protocol element in one rule (libvirt merges them oddly, see the
//! `quirks-invalid` round-trip test), a rule priority out of range (libvirt
//! uses 500), a `<parameter>` value libvirt would drop. [`library`] loads a
//! directory of filters and resolves inputs against it.

use std::sync::Arc;

use ir::Source;
use rules::nwfilter::{
    Action, Attr, ChainName, Direction, Entry, Filter, FilterRef, ProtocolKind, ProtocolMatch,
    Rule, Template, ValueKind, VarRef, Vars,
};

use super::values;
use super::xml::{Attribute, Element};
use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::source::{SourceFile, Span};

pub mod library;

/// Reads a `<filter>` root element.
pub fn read(root: &Element, file: &Arc<SourceFile>) -> Result<Filter, Diagnostics> {
    let mut cx = Reader::new(file);
    let filter = cx.filter(root);
    cx.finish(filter, root)
}

/// Shows a value in a message: as written, but with control characters
/// escaped so a hostile value cannot rewrite the terminal.
pub(crate) fn shown(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_debug().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The state of reading one nwfilter document: the file and every
/// diagnostic so far. Shared with the `<filterbinding>` front end.
pub(crate) struct Reader<'a> {
    pub(crate) file: &'a Arc<SourceFile>,
    pub(crate) diags: Diagnostics,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(file: &'a Arc<SourceFile>) -> Self {
        Reader {
            file,
            diags: Vec::new(),
        }
    }

    /// The result, or every diagnostic found.
    pub(crate) fn finish<T>(self, value: Option<T>, root: &Element) -> Result<T, Diagnostics> {
        match value {
            Some(v) if self.diags.is_empty() => Ok(v),
            None if self.diags.is_empty() => Err(vec![Diagnostic::error(
                Code::BadValue,
                "the document could not be read (no specific error was found; this is a bug in fwc)",
            )
            .at(self.file, root.name_span.clone(), "this document")]),
            _ => Err(self.diags),
        }
    }

    pub(crate) fn error(&mut self, code: Code, message: String, span: Span, label: &str) {
        self.diags
            .push(Diagnostic::error(code, message).at(self.file, span, label));
    }

    /// [`Reader::error`] with a note that says more than the label can.
    fn error_noted(
        &mut self,
        code: Code,
        message: String,
        span: Span,
        label: &str,
        note: impl Into<String>,
    ) {
        self.diags.push(
            Diagnostic::error(code, message)
                .at(self.file, span, label)
                .note(note),
        );
    }

    /// Reports the value of `a` as not a valid `what`; `label` says what
    /// was expected.
    fn invalid(&mut self, code: Code, a: &Attribute, what: &str, label: &str) {
        self.error(
            code,
            format!("invalid {what} '{}'", shown(&a.value)),
            a.value_span.clone(),
            label,
        );
    }

    /// The provenance of an element: its start tag.
    pub(crate) fn source(&self, el: &Element) -> Source {
        self.file.ir_source(el.span.start, &el.name)
    }

    pub(crate) fn required<'e>(&mut self, el: &'e Element, attr: &str) -> Option<&'e Attribute> {
        let a = el.attr(attr);
        if a.is_none() {
            self.error(
                Code::MissingAttribute,
                format!("<{}> needs a '{attr}' attribute", el.name),
                el.name_span.clone(),
                &format!("no '{attr}' here"),
            );
        }
        a
    }

    /// A required attribute that must not be empty.
    pub(crate) fn required_text<'e>(&mut self, el: &'e Element, attr: &str) -> Option<&'e str> {
        let a = self.required(el, attr)?;
        if a.value.is_empty() {
            self.error(
                Code::BadValue,
                format!("'{attr}' of <{}> must not be empty", el.name),
                a.value_span.clone(),
                "empty",
            );
            return None;
        }
        Some(&a.value)
    }

    /// Reports attribute `a` of `el` as unknown; `accepts` lists the
    /// attributes `el` takes.
    fn unknown_attr(&mut self, el: &Element, a: &Attribute, accepts: &str) {
        self.error_noted(
            Code::UnknownAttribute,
            format!(
                "attribute '{}' is not allowed in <{}>",
                shown(&a.name),
                el.name
            ),
            a.name_span.clone(),
            "unknown attribute",
            format!("<{}> accepts: {accepts}", el.name),
        );
    }

    /// Reports every attribute of `el` not in `allowed`.
    pub(crate) fn check_attrs(&mut self, el: &Element, allowed: &[&str]) {
        for a in &el.attrs {
            if !allowed.contains(&a.name.as_str()) {
                self.unknown_attr(el, a, &allowed.join(", "));
            }
        }
    }

    pub(crate) fn unknown_child(&mut self, parent: &Element, child: &Element, expected: &str) {
        self.error_noted(
            Code::UnknownElement,
            format!(
                "unknown element <{}> in <{}>",
                shown(&child.name),
                parent.name
            ),
            child.name_span.clone(),
            "unknown element",
            format!("<{}> may contain {expected}", parent.name),
        );
    }

    /// A priority in `-1000..=1000`, as `virStrToLong_i` reads it.
    fn priority(&mut self, a: &Attribute, what: &str) -> Option<i32> {
        match a.value.trim_start().parse::<i32>() {
            Ok(p) if (Filter::MIN_PRIORITY..=Filter::MAX_PRIORITY).contains(&p) => Some(p),
            _ => {
                self.invalid(
                    Code::BadValue,
                    a,
                    &format!("{what} priority"),
                    "expected a number from -1000 to 1000",
                );
                None
            }
        }
    }

    fn filter(&mut self, el: &Element) -> Option<Filter> {
        self.check_attrs(el, &["name", "chain", "priority"]);
        let name = self.required_text(el, "name");
        let priority = el.attr("priority").and_then(|a| self.priority(a, "filter"));
        let chain = match el.attr("chain") {
            None => Some(ChainName::root()),
            Some(a) => match ChainName::new(&a.value) {
                Ok(c) => Some(c),
                Err(e) => {
                    self.invalid(Code::BadValue, a, "chain name", &format!("the name {e}"));
                    None
                }
            },
        };
        let mut entries = Vec::new();
        for child in &el.children {
            match child.name.as_str() {
                "uuid" => {}
                "rule" => entries.extend(self.rule(child).map(Entry::Rule)),
                "filterref" => entries.extend(self.filterref(child).map(Entry::FilterRef)),
                _ => self.unknown_child(el, child, "<rule>, <filterref> and <uuid>"),
            }
        }
        let chain = chain?;
        // libvirt reads priority= only together with chain=.
        let priority = match (el.attr("chain"), priority) {
            (Some(_), Some(p)) => p,
            _ => chain.kind().default_priority(),
        };
        Some(Filter {
            name: name?.to_owned(),
            chain,
            priority,
            entries,
            source: self.source(el),
        })
    }

    fn rule(&mut self, el: &Element) -> Option<Rule> {
        self.check_attrs(el, &["action", "direction", "priority", "statematch"]);
        let action = self.required(el, "action").and_then(|a| {
            let v = Action::from_name(&a.value);
            if v.is_none() {
                self.invalid(
                    Code::BadValue,
                    a,
                    "rule action",
                    "expected drop, accept, reject, return or continue",
                );
            }
            v
        });
        let direction = self.required(el, "direction").and_then(|a| {
            let v = Direction::from_name(&a.value);
            if v.is_none() {
                self.invalid(
                    Code::BadValue,
                    a,
                    "rule direction",
                    "expected in, out or inout",
                );
            }
            v
        });
        let priority = match el.attr("priority") {
            None => Some(Rule::DEFAULT_PRIORITY),
            Some(a) => self.priority(a, "rule"),
        };
        let statematch = match el.attr("statematch") {
            None => Some(true),
            Some(a) => match a.value.to_ascii_lowercase().as_str() {
                "0" | "false" => Some(false),
                "1" | "true" => Some(true),
                _ => {
                    self.invalid(
                        Code::BadValue,
                        a,
                        "statematch",
                        "expected true or false (or 1 or 0)",
                    );
                    None
                }
            },
        };

        let mut protocol = Some(ProtocolMatch::Empty);
        let mut first: Option<&Element> = None;
        for child in &el.children {
            let Some(kind) = ProtocolKind::from_element(&child.name) else {
                let all: Vec<_> = ProtocolKind::ALL.iter().map(|k| k.element()).collect();
                self.error_noted(
                    Code::UnknownElement,
                    format!("unknown protocol element <{}>", shown(&child.name)),
                    child.name_span.clone(),
                    "not a protocol element",
                    format!("a <rule> holds one of: {}", all.join(", ")),
                );
                continue;
            };
            if let Some(prev) = first {
                self.diags.push(
                    Diagnostic::error(
                        Code::DuplicateElement,
                        "a <rule> holds at most one protocol element",
                    )
                    .at(
                        self.file,
                        child.name_span.clone(),
                        "second protocol element",
                    )
                    .also(self.file, prev.name_span.clone(), "first protocol element")
                    .note(
                        "libvirt merges the attributes of repeated elements in surprising \
                         ways; write one rule per element",
                    ),
                );
                continue;
            }
            first = Some(child);
            protocol = self.protocol(child, kind);
        }
        Some(Rule {
            action: action?,
            direction: direction?,
            priority: priority?,
            statematch: statematch?,
            protocol: protocol?,
            source: self.source(el),
        })
    }

    fn protocol(&mut self, el: &Element, kind: ProtocolKind) -> Option<ProtocolMatch> {
        let mut m = ProtocolMatch::new(kind);
        let specs = m.attributes();
        let negated = match el.attr("match") {
            None => false,
            Some(a) => match a.value.as_str() {
                "no" => true,
                "yes" => false,
                _ => {
                    self.invalid(Code::BadValue, a, "match", "expected yes or no");
                    false
                }
            },
        };
        let before = self.diags.len();
        for a in &el.attrs {
            if a.name == "match" {
                continue;
            }
            let Some(spec) = specs.iter().find(|s| s.name == a.name) else {
                let names: Vec<_> = specs.iter().map(|s| s.name).collect();
                self.unknown_attr(el, a, &format!("match, {}", names.join(", ")));
                continue;
            };
            let Some(value) = self.value(a, spec.kind, &el.name) else {
                continue;
            };
            if let Err(e) = m.set(&a.name, Attr { value, negated }) {
                self.error(
                    Code::BadValue,
                    format!("cannot set '{}': {e} (this is a bug in fwc)", a.name),
                    a.value_span.clone(),
                    "here",
                );
            }
        }
        if let Some(flags) = el.attr("ipsetflags") {
            if el.attr("ipset").is_none() {
                self.error(
                    Code::MissingAttribute,
                    format!("'ipsetflags' in <{}> needs an 'ipset' attribute", el.name),
                    flags.name_span.clone(),
                    "without 'ipset'",
                );
            }
        }
        if matches!(kind, ProtocolKind::Ip | ProtocolKind::Ipv6) {
            self.check_ports_have_protocol(el, &m);
        }
        if self.diags.len() > before {
            return None;
        }
        m.fixup();
        Some(m)
    }

    /// An attribute's value: a variable reference, or a literal of `kind`.
    fn value(
        &mut self,
        a: &Attribute,
        kind: ValueKind,
        element: &str,
    ) -> Option<Template<rules::nwfilter::Value>> {
        if a.value.starts_with('$') {
            return match values::var_ref(&a.value) {
                Ok((name, index)) => Some(Template::Var(VarRef {
                    name,
                    index,
                    source: self.file.ir_source(a.value_span.start, element),
                })),
                Err(why) => {
                    self.invalid(Code::BadValue, a, "variable reference", &why);
                    None
                }
            };
        }
        match values::parse(kind, &a.value) {
            Ok(v) => Some(Template::Literal(v)),
            Err(why) => {
                let code = match kind {
                    ValueKind::Ipv4 | ValueKind::Ipv6 => Code::BadAddress,
                    ValueKind::Ipv4Mask | ValueKind::Ipv6Mask => Code::BadPrefix,
                    ValueKind::U16 if a.name.contains("port") => Code::BadPort,
                    _ => Code::BadValue,
                };
                self.invalid(code, a, kind.noun(), &why);
                None
            }
        }
    }

    /// libvirt's `virNWFilterRuleValidate`: ports in `<ip>`/`<ipv6>` need a
    /// protocol that has ports.
    fn check_ports_have_protocol(&mut self, el: &Element, m: &ProtocolMatch) {
        const PORTS: [&str; 4] = ["srcportstart", "srcportend", "dstportstart", "dstportend"];
        let Some(port) = el.attrs.iter().find(|a| PORTS.contains(&a.name.as_str())) else {
            return;
        };
        let protocol = match m {
            ProtocolMatch::Ip(ip) => ip.protocol.as_ref(),
            ProtocolMatch::Ipv6(ip) => ip.protocol.as_ref(),
            _ => None,
        };
        let ok = protocol
            .and_then(|p| p.value.literal())
            .is_some_and(|p| p.has_ports());
        if ok {
            return;
        }
        let mut d = Diagnostic::error(
            Code::BadValue,
            format!(
                "'{}' in <{}> needs protocol tcp, udp, dccp (33) or sctp",
                port.name, el.name
            ),
        );
        d = match el.attr("protocol") {
            Some(p) => d
                .at(self.file, p.value_span.clone(), "not a protocol with ports")
                .also(self.file, port.name_span.clone(), "port given here"),
            None => d.at(
                self.file,
                port.name_span.clone(),
                "no 'protocol' in this element",
            ),
        };
        self.diags.push(d);
    }

    /// `<filterref filter='NAME'>` and its `<parameter>`s.
    pub(crate) fn filterref(&mut self, el: &Element) -> Option<FilterRef> {
        self.check_attrs(el, &["filter"]);
        let name = self.required_text(el, "filter");
        let mut params = Vars::new();
        for child in &el.children {
            if child.name != "parameter" {
                self.unknown_child(el, child, "<parameter> elements only");
                continue;
            }
            self.check_attrs(child, &["name", "value"]);
            let (Some(n), Some(v)) = (self.required(child, "name"), self.required(child, "value"))
            else {
                continue;
            };
            let mut ok = true;
            if !values::is_var_name(&n.value) {
                self.invalid(
                    Code::BadValue,
                    n,
                    "parameter name",
                    "expected letters, digits and '_'",
                );
                ok = false;
            }
            if !values::is_var_value(&v.value) {
                self.error_noted(
                    Code::BadValue,
                    format!("invalid parameter value '{}'", shown(&v.value)),
                    v.value_span.clone(),
                    "expected letters, digits, '_', '.' and ':'",
                    "libvirt silently ignores such a parameter",
                );
                ok = false;
            }
            if ok {
                params.push(n.value.as_str(), v.value.as_str());
            }
        }
        Some(FilterRef {
            name: name?.to_owned(),
            params,
            source: self.source(el),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::front::xml;
    use rules::nwfilter::{ChainKind, Templated};

    fn read_str(text: &str) -> Result<Filter, Diagnostics> {
        let file = SourceFile::new("f.xml", text);
        let root = xml::parse(&file)?;
        read(&root, &file)
    }

    fn one_rule(body: &str) -> Result<Rule, Diagnostics> {
        let f = read_str(&format!(
            "<filter name='f'>\n<rule action='accept' direction='out'>\n{body}\n</rule>\n</filter>"
        ))?;
        match f.entries.into_iter().next() {
            Some(Entry::Rule(r)) => Ok(r),
            other => panic!("{other:?}"),
        }
    }

    fn err(text: &str) -> Diagnostic {
        let mut d = read_str(text).unwrap_err();
        assert_eq!(d.len(), 1, "{d:#?}");
        d.remove(0)
    }

    #[test]
    fn chains_and_priorities() {
        let f = read_str("<filter name='a' chain='arp-xyz'/>").unwrap();
        assert_eq!((f.chain.kind(), f.priority), (ChainKind::Arp, -500));
        let f = read_str("<filter name='a' chain='ipv4-ip' priority='-710'/>").unwrap();
        assert_eq!(f.priority, -710);
        // Without chain=, libvirt ignores priority=.
        let f = read_str("<filter name='a' priority='-710'/>").unwrap();
        assert_eq!((f.chain.as_str(), f.priority), ("root", 0));
        let d = err("<filter name='a' chain='tcp'/>");
        assert_eq!(d.message, "invalid chain name 'tcp'");
        assert_eq!(d.line_col(), Some((1, 25)));
        let d = err("<filter name='a' chain='mac' priority='1001'/>");
        assert_eq!(d.message, "invalid filter priority '1001'");
        assert_eq!(err("<filter chain='mac'/>").code, Code::MissingAttribute);
        assert_eq!(err("<filter name='a' x='1'/>").code, Code::UnknownAttribute);
        let d = err("<filter name='a'>\n  <rules/>\n</filter>");
        assert_eq!(
            (d.code, d.message.as_str(), d.line_col()),
            (
                Code::UnknownElement,
                "unknown element <rules> in <filter>",
                Some((2, 4))
            )
        );
    }

    #[test]
    fn rules_get_libvirts_defaults() {
        let r = one_rule("").unwrap();
        assert_eq!(r.priority, 500);
        assert!(r.statematch);
        assert_eq!(r.protocol, ProtocolMatch::<Templated>::Empty);
        assert_eq!(r.source.line, 2);
        let f = read_str(
            "<filter name='f'><rule action='drop' direction='inout' priority='-1000' statematch='FALSE'/></filter>",
        )
        .unwrap();
        let Entry::Rule(r) = &f.entries[0] else {
            panic!()
        };
        assert_eq!(
            (r.action, r.direction, r.priority, r.statematch),
            (Action::Drop, Direction::InOut, -1000, false)
        );
        let d = err("<filter name='f'><rule action='allow' direction='out'/></filter>");
        assert_eq!(d.message, "invalid rule action 'allow'");
        let d =
            err("<filter name='f'><rule action='drop' direction='out' priority='1001'/></filter>");
        assert_eq!(d.message, "invalid rule priority '1001'");
        let d = err("<filter name='f'><rule action='drop'/></filter>");
        assert_eq!(d.message, "<rule> needs a 'direction' attribute");
    }

    #[test]
    fn attribute_errors_point_at_the_value() {
        let d = one_rule("<mac srcmacaddr='00:11:22:33:44:gg'/>").unwrap_err();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].message, "invalid MAC address '00:11:22:33:44:gg'");
        assert_eq!(d[0].line_col(), Some((3, 18)));
        let d = one_rule("<tcpx/>").unwrap_err();
        assert_eq!(d[0].message, "unknown protocol element <tcpx>");
        assert_eq!(d[0].code, Code::UnknownElement);
        let d = one_rule("<mac dstportstart='22'/>").unwrap_err();
        assert_eq!(
            d[0].message,
            "attribute 'dstportstart' is not allowed in <mac>"
        );
        assert_eq!(d[0].line_col(), Some((3, 6)));
        let d = one_rule("<tcp dstportstart='65536'/>").unwrap_err();
        assert_eq!(
            (d[0].code, d[0].message.as_str()),
            (Code::BadPort, "invalid 16-bit number '65536'")
        );
        let d = one_rule("<ip srcipmask='33'/>").unwrap_err();
        assert_eq!(d[0].code, Code::BadPrefix);
        let d = one_rule("<ip srcipaddr='$A[x]'/>").unwrap_err();
        assert_eq!(d[0].message, "invalid variable reference '$A[x]'");
        // Every bad attribute is reported, not just the first.
        let d = one_rule("<udp srcipaddr='1.2.3' dscp='64' dstportstart='x'/>").unwrap_err();
        assert_eq!(d.len(), 3, "{d:#?}");
    }

    #[test]
    fn one_protocol_element_per_rule() {
        let d = one_rule("<tcp/>\n<udp/>").unwrap_err();
        assert_eq!(d[0].code, Code::DuplicateElement);
        assert_eq!(d[0].line_col(), Some((4, 2)));
        assert_eq!(d[0].secondary[0].line_col(), (3, 2));
    }

    #[test]
    fn values_and_variables_are_typed() {
        let r = one_rule(
            "<tcp match='no' srcipaddr='$IP[@1]' srcipmask='255.255.0.0' dstportstart='0x16' flags='SYN/ALL'/>",
        )
        .unwrap();
        let ProtocolMatch::Tcp(t) = &r.protocol else {
            panic!("{:?}", r.protocol)
        };
        let ip = t.srcipaddr.as_ref().unwrap();
        assert!(ip.negated);
        let v = ip.value.var().unwrap();
        assert_eq!(v.to_string(), "$IP[@1]");
        assert_eq!((v.source.line, v.source.column), (3, 28));
        assert_eq!(
            t.srcipmask
                .as_ref()
                .unwrap()
                .value
                .literal()
                .unwrap()
                .prefix_len(),
            16
        );
        assert!(t.srcipmask.as_ref().unwrap().negated);
        // libvirt copies dstportstart's inversion from (absent) srcportstart.
        let port = t.dstportstart.as_ref().unwrap();
        assert_eq!((port.value.literal(), port.negated), (Some(&22), false));
        assert_eq!(
            t.flags
                .as_ref()
                .unwrap()
                .value
                .literal()
                .unwrap()
                .to_string(),
            "SYN/ALL"
        );
    }

    #[test]
    fn ports_in_ip_need_a_protocol_with_ports() {
        assert!(one_rule("<ip protocol='udp' dstportstart='53'/>").is_ok());
        let d = one_rule("<ip protocol='icmp' dstportstart='53'/>").unwrap_err();
        assert_eq!(
            d[0].message,
            "'dstportstart' in <ip> needs protocol tcp, udp, dccp (33) or sctp"
        );
        assert_eq!(d[0].line_col(), Some((3, 15)));
        assert!(one_rule("<ipv6 srcportstart='1'/>").is_err());
        assert!(one_rule("<ipv6 protocol='33' srcportstart='1'/>").is_ok());
    }

    #[test]
    fn ipset_flags_default_to_src() {
        let r = one_rule("<all ipset='s'/>").unwrap();
        let ProtocolMatch::All(a) = &r.protocol else {
            panic!()
        };
        assert_eq!(
            a.ipsetflags
                .as_ref()
                .unwrap()
                .value
                .literal()
                .unwrap()
                .to_string(),
            "src"
        );
        let d = one_rule("<all ipsetflags='src'/>").unwrap_err();
        assert_eq!(d[0].code, Code::MissingAttribute);
    }

    #[test]
    fn filterrefs_collect_parameters_as_lists() {
        let f = read_str(
            "<filter name='f'><filterref filter='clean-traffic'>\
             <parameter name='IP' value='10.0.0.1'/><parameter name='IP' value='10.0.0.2'/>\
             <parameter name='MAC' value='52:54:00:00:00:01'/></filterref></filter>",
        )
        .unwrap();
        let Entry::FilterRef(r) = &f.entries[0] else {
            panic!()
        };
        assert_eq!(r.name, "clean-traffic");
        assert_eq!(r.params.get("IP").map(<[String]>::len), Some(2));
        assert_eq!(r.params.len(), 2);
        let d = err("<filter name='f'><filterref filter='x'><parameter name='IP' value='10.0.0.0/8'/></filterref></filter>");
        assert_eq!(d.message, "invalid parameter value '10.0.0.0/8'");
        let d = err("<filter name='f'><filterref/></filter>");
        assert_eq!(d.message, "<filterref> needs a 'filter' attribute");
    }
}
