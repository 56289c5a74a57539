//! Checks that need more than one element, or more than one input, to see.
//!
//! The front ends check each value where it is written; this pass looks at
//! the parsed networks together, after every file has been read:
//!
//! * **Errors** (nothing is written):
//!   - two networks whose subnets overlap: both bridges would claim the same
//!     addresses, and rules written for one subnet would also match the
//!     other's guests. Both `<ip>` elements are labelled.
//!   - more than one `<ip>` of a family with `<dhcp>` in one network:
//!     libvirt's `networkValidate` refuses it ("Multiple IPv4 dhcp sections
//!     found"), and the firewall depends on which `<ip>` serves DHCP (the
//!     TFTP and checksum rules of the iptables backend).
//! * **Warnings** (the exit code stays 0 unless `--deny-warnings`): input
//!   that libvirt acts on for the firewall but fwc does not turn into rules.
//!   - `<ip>` (either family) in a network with forward mode `bridge`,
//!     `private`, `vepa`, `passthrough` or `hostdev`. libvirt's
//!     `networkValidate` refuses every `<ip>` in these modes ("Unsupported
//!     `<ip>` element in network … with forward mode=…"); as such networks
//!     get no firewall rules at all, fwc compiles them without the `<ip>`
//!     (the same policy the network front end follows for other checks that
//!     change no rule) and says so. These are the only modes in which
//!     libvirt refuses an IPv6 `<ip>`: in isolated, nat, route and open
//!     networks it accepts one with `family='ipv6'` (without it, the front
//!     end already reports the address, as libvirt does), whether or not
//!     `ipv6='yes'` is given.
//!   - `<bridge zone='…'>` on a network libvirt firewalls (or an open one):
//!     libvirt moves the bridge into that firewalld zone when firewalld runs.
//!     fwc's artifacts hold netfilter rules only, so the zone is not applied.
//!
//! Deliberately not warned about, because libvirt's firewall code does not act
//! on them either: `<forward><pf>` (the SR-IOV device pool, never a forward
//! device for rules), `<port isolated='yes'>` (a bridge port flag, not a
//! netfilter rule), `<bandwidth>`, `<vlan>`, `<portgroup>`, `<virtualport>`
//! (tc and switch configuration), `<route>`, `<dns>`, `<mtu>` and `<mac>`.

use std::sync::Arc;

use ipnet::IpNet;
use ir::{IpFamily, Source};
use rules::network::{ForwardMode, IpDef, Network};

use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::front::xml::{self, Element};
use crate::source::{SourceFile, Span};

/// Every cross-element and cross-input finding about `networks` (each with
/// the file it was read from): errors and warnings, in input order.
pub fn check(networks: &[(Network, &Arc<SourceFile>)]) -> Diagnostics {
    let docs: Vec<Doc<'_>> = networks
        .iter()
        .map(|(net, file)| Doc {
            net,
            file,
            // The file parsed a moment ago; a failure here would only cost
            // precise labels, never a diagnostic.
            root: xml::parse(file).ok(),
        })
        .collect();
    let mut diags = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        diags.extend(ignored_ips(doc));
        diags.extend(ignored_zone(doc));
        diags.extend(dhcp_per_family(doc));
        for earlier in &docs[..i] {
            diags.extend(overlapping_subnets(earlier, doc));
        }
    }
    diags
}

/// One network with its file and XML tree, for locating what the typed
/// definition no longer spells out.
struct Doc<'a> {
    net: &'a Network,
    file: &'a Arc<SourceFile>,
    root: Option<Element>,
}

impl Doc<'_> {
    /// The element a provenance points at.
    fn element(&self, at: &Source) -> Option<&Element> {
        let offset = self.file.offset_of(at.line, at.column)?;
        fn find(el: &Element, offset: usize) -> Option<&Element> {
            if el.span.start == offset {
                return Some(el);
            }
            el.children.iter().find_map(|c| find(c, offset))
        }
        find(self.root.as_ref()?, offset)
    }

    /// The span of the element's name (`ip` of `<ip …>`), or of the place the
    /// provenance names when the tree is unavailable.
    fn tag_span(&self, at: &Source) -> Span {
        match self.element(at) {
            Some(el) => el.name_span.clone(),
            None => {
                let start = self.file.offset_of(at.line, at.column).unwrap_or(0);
                start..start + 1 + at.element.len()
            }
        }
    }

    /// The span of an `<ip>`'s `address` value, where the subnet is written.
    fn address_span(&self, ip: &IpDef) -> Span {
        self.element(&ip.source)
            .and_then(|el| el.attr("address"))
            .map_or_else(|| self.tag_span(&ip.source), |a| a.value_span.clone())
    }

    /// Whether libvirt gives this network's `<ip>`s any meaning.
    fn uses_ips(&self) -> bool {
        self.net.forward.mode.is_firewalled() || self.net.forward.mode == ForwardMode::Open
    }
}

fn mode_name(mode: ForwardMode) -> &'static str {
    ForwardMode::NAMED
        .iter()
        .find(|(_, m)| *m == mode)
        .map_or("none", |(n, _)| n)
}

fn family_name(f: IpFamily) -> &'static str {
    match f {
        IpFamily::V4 => "IPv4",
        IpFamily::V6 => "IPv6",
    }
}

fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Subnets of two different networks that share addresses.
fn overlapping_subnets(first: &Doc<'_>, second: &Doc<'_>) -> Diagnostics {
    // The same name twice is already an error of its own (a file given twice
    // would otherwise overlap with itself everywhere).
    if !first.uses_ips() || !second.uses_ips() || first.net.name == second.net.name {
        return Vec::new();
    }
    let mut diags = Vec::new();
    for ip in &second.net.ips {
        let subnet = ip.subnet();
        let Some(prev) = first
            .net
            .ips
            .iter()
            .find(|p| p.family() == ip.family() && overlaps(&p.subnet(), &subnet))
        else {
            continue;
        };
        let prev_subnet = prev.subnet();
        let how = if prev_subnet == subnet {
            "is also"
        } else {
            "overlaps"
        };
        diags.push(
            Diagnostic::error(
                Code::OverlappingSubnets,
                format!(
                    "subnet {subnet} of network '{}' {how} {prev_subnet} of network '{}'",
                    second.net.name, first.net.name
                ),
            )
            .at(second.file, second.address_span(ip), format!("{subnet}"))
            .also(
                first.file,
                first.address_span(prev),
                format!("{prev_subnet} of network '{}'", first.net.name),
            )
            .note(
                "both bridges would claim these addresses and each network's rules would \
                 match the other's guests; give every network its own subnet",
            ),
        );
    }
    diags
}

/// A second `<ip>` of one family with DHCP, which libvirt refuses.
fn dhcp_per_family(doc: &Doc<'_>) -> Diagnostics {
    if !doc.uses_ips() {
        return Vec::new();
    }
    let mut diags = Vec::new();
    for family in [IpFamily::V4, IpFamily::V6] {
        let mut with_dhcp = doc
            .net
            .ips
            .iter()
            .filter(|ip| ip.dhcp && ip.family() == family);
        let Some(first) = with_dhcp.next() else {
            continue;
        };
        for again in with_dhcp {
            diags.push(
                Diagnostic::error(
                    Code::DuplicateElement,
                    format!(
                        "network '{}' has DHCP on more than one {} <ip>",
                        doc.net.name,
                        family_name(family)
                    ),
                )
                .at(doc.file, dhcp_span(doc, again), "second DHCP section")
                .also(doc.file, dhcp_span(doc, first), "first DHCP section")
                .note(format!(
                    "libvirt serves DHCP on one {} address per network and refuses to \
                     define this one",
                    family_name(family)
                )),
            );
        }
    }
    diags
}

fn dhcp_span(doc: &Doc<'_>, ip: &IpDef) -> Span {
    doc.element(&ip.source)
        .and_then(|el| el.child("dhcp"))
        .map_or_else(|| doc.tag_span(&ip.source), |d| d.name_span.clone())
}

/// `<ip>` in a mode libvirt gives no addresses (and no rules).
fn ignored_ips(doc: &Doc<'_>) -> Diagnostics {
    if doc.uses_ips() {
        return Vec::new();
    }
    let mode = mode_name(doc.net.forward.mode);
    doc.net
        .ips
        .iter()
        .map(|ip| {
            Diagnostic::warning(
                Code::Ignored,
                format!(
                    "the {} <ip> {} is ignored: network '{}' has forward mode '{mode}'",
                    family_name(ip.family()),
                    ip.address,
                    doc.net.name
                ),
            )
            .at(
                doc.file,
                doc.tag_span(&ip.source),
                format!("ignored in mode {mode}"),
            )
            .note(format!(
                "libvirt refuses to define a network with an <ip> in forward mode '{mode}'; \
                 such networks get no firewall rules, so fwc leaves the address out"
            ))
        })
        .collect()
}

/// `<bridge zone>`: firewalld configuration fwc does not produce.
fn ignored_zone(doc: &Doc<'_>) -> Diagnostics {
    if !doc.uses_ips() {
        return Vec::new();
    }
    let Some(zone) = doc
        .root
        .as_ref()
        .and_then(|r| r.child("bridge"))
        .and_then(|b| b.attr("zone"))
    else {
        return Vec::new();
    };
    let bridge = doc
        .net
        .bridge
        .as_ref()
        .map_or_else(|| "the bridge".to_owned(), |b| format!("bridge '{b}'"));
    let shown: String = zone.value.escape_debug().collect();
    vec![Diagnostic::warning(
        Code::Ignored,
        format!("{bridge} is not put into firewalld zone '{shown}'"),
    )
    .at(doc.file, zone.value_span.clone(), "firewalld zone")
    .note(
        "libvirt adds the bridge to this zone when firewalld runs; fwc's artifacts hold \
         netfilter rules only, so configure the zone with firewall-cmd",
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::front::{self, Document};
    use crate::source::SourceFile;

    fn net(name: &str, bridge: &str, body: &str) -> String {
        format!("<network>\n  <name>{name}</name>\n  <bridge name='{bridge}'/>\n{body}</network>\n")
    }

    fn run(inputs: &[(&str, String)]) -> Diagnostics {
        let files: Vec<_> = inputs
            .iter()
            .map(|(n, t)| SourceFile::new(*n, t.as_str()))
            .collect();
        let nets: Vec<_> = files
            .iter()
            .map(|f| match front::parse(f) {
                Ok(Document::Network(n)) => (n, f),
                Err(d) => panic!("{d:?}"),
                #[allow(unreachable_patterns)]
                Ok(_) => panic!("not a network"),
            })
            .collect();
        check(&nets)
    }

    #[test]
    fn overlapping_subnets_name_both_places() {
        let a = net(
            "a",
            "virbr0",
            "  <forward/>\n  <ip address='192.168.122.1' prefix='24'/>\n",
        );
        let b = net(
            "b",
            "virbr1",
            "  <ip address='10.0.0.1' prefix='8'/>\n  <ip address='192.168.0.1' prefix='16'/>\n",
        );
        let d = run(&[("a.xml", a), ("b.xml", b)]);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].code, Code::OverlappingSubnets);
        assert_eq!(
            d[0].message,
            "subnet 192.168.0.0/16 of network 'b' overlaps 192.168.122.0/24 of network 'a'"
        );
        assert_eq!(d[0].file_name(), Some("b.xml"));
        assert_eq!(d[0].line_col(), Some((5, 16)));
        assert_eq!(d[0].secondary[0].file.name(), "a.xml");
        assert_eq!(d[0].secondary[0].line_col(), (5, 16));
        assert!(d[0].is_error());
    }

    #[test]
    fn distinct_subnets_families_and_unaddressed_modes_do_not_overlap() {
        let a = net(
            "a",
            "virbr0",
            "  <ip address='192.168.122.1' prefix='24'/>\n  <ip family='ipv6' address='fd00::1' prefix='64'/>\n",
        );
        let b = net(
            "b",
            "virbr1",
            "  <ip address='192.168.123.1' prefix='24'/>\n  <ip family='ipv6' address='fd00:1::1' prefix='64'/>\n",
        );
        assert_eq!(run(&[("a.xml", a.clone()), ("b.xml", b)]), []);
        // A network given twice is reported as a duplicate, not as overlapping.
        assert_eq!(run(&[("a.xml", a.clone()), ("b.xml", a)]), []);
    }

    #[test]
    fn a_second_dhcp_section_per_family_is_an_error() {
        let text = net(
            "a",
            "virbr0",
            "  <ip address='192.168.122.1' prefix='24'><dhcp><range start='192.168.122.2' end='192.168.122.9'/></dhcp></ip>\n  \
             <ip address='192.168.123.1' prefix='24'>\n    <dhcp><host mac='00:16:3e:77:e2:ed' ip='192.168.123.5'/></dhcp></ip>\n  \
             <ip family='ipv6' address='fd00::1' prefix='64'><dhcp><range start='fd00::10' end='fd00::20'/></dhcp></ip>\n",
        );
        let d = run(&[("a.xml", text)]);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].code, Code::DuplicateElement);
        assert_eq!(
            d[0].message,
            "network 'a' has DHCP on more than one IPv4 <ip>"
        );
        assert_eq!(d[0].line_col(), Some((6, 6)));
        assert_eq!(d[0].secondary[0].line_col(), (4, 44));
    }

    #[test]
    fn ips_in_unaddressed_modes_are_ignored_with_a_warning() {
        let text = "<network>\n  <name>p</name>\n  <forward mode='passthrough'><pf dev='eth0'/></forward>\n  \
                    <ip family='ipv6' address='fd00::1' prefix='64'/>\n</network>\n";
        let d = run(&[("p.xml", text.to_owned())]);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(!d[0].is_error());
        assert_eq!(d[0].code, Code::Ignored);
        assert_eq!(
            d[0].message,
            "the IPv6 <ip> fd00::1/64 is ignored: network 'p' has forward mode 'passthrough'"
        );
        assert_eq!(d[0].line_col(), Some((4, 4)));
    }

    #[test]
    fn a_firewalld_zone_is_a_warning_where_libvirt_would_use_it() {
        let routed = "<network>\n  <name>r</name>\n  <bridge name='virbr1' zone='myzone'/>\n  \
                      <forward mode='route'/>\n  <ip address='10.1.0.1' prefix='24'/>\n</network>\n";
        let d = run(&[("r.xml", routed.to_owned())]);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(
            (d[0].severity, d[0].code),
            (crate::diagnostics::Severity::Warning, Code::Ignored)
        );
        assert_eq!(
            d[0].message,
            "bridge 'virbr1' is not put into firewalld zone 'myzone'"
        );
        assert_eq!(d[0].line_col(), Some((3, 31)));

        let bridged = "<network>\n  <name>b</name>\n  <bridge name='br0' zone='z'/>\n  \
                       <forward mode='bridge'/>\n</network>\n";
        assert_eq!(run(&[("b.xml", bridged.to_owned())]), []);
    }
}
