//! The `<network>` front end: a spanned XML tree to [`rules::network::Network`].
//!
//! Reads what libvirt's firewall code depends on (spec A.8) and checks it the
//! way libvirt's `network_conf.c` does where the check concerns the firewall
//! or the document's structure, reporting every problem with the span of the
//! value at fault. Elements without firewall meaning (`dns`, `domain`, `mac`,
//! `mtu`, `bandwidth`, `portgroup`, `virtualport`, `uuid`, `metadata`, ...)
//! are accepted and ignored, including libvirt's own checks on them: a
//! `<dns enable='no'>` with records, or a `<forward><address>` PCI device
//! listed twice in hostdev mode, changes no rule, so fwc compiles such
//! networks although libvirt refuses to define them.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use ipnet::IpNet;
use ir::{AddrRange, Ifname, IpFamily, PortRange};
use rules::network::{Forward, ForwardMode, IpDef, NatDef, Network};

use super::filter::{shown, Reader as Cx};
use super::xml::{Attribute, Element};
use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::source::{SourceFile, Span};

/// Reads a `<network>` root element.
pub fn read(root: &Element, file: &Arc<SourceFile>) -> Result<Network, Diagnostics> {
    let mut cx = Cx::new(file);
    let net = cx.network(root);
    match net {
        Some(n) if cx.diags.is_empty() => Ok(n),
        Some(_) => Err(cx.diags),
        None if cx.diags.is_empty() => Err(vec![Diagnostic::error(
            Code::BadValue,
            "the network could not be read (no specific error was found; this is a bug in fwc)",
        )
        .at(file, root.name_span.clone(), "this network")]),
        None => Err(cx.diags),
    }
}

impl Cx<'_> {
    /// The only child called `name`; a second one is an error (libvirt would
    /// silently use the first, hiding which one the firewall follows).
    fn single<'e>(&mut self, parent: &'e Element, name: &str) -> Option<&'e Element> {
        let mut found = parent.children.iter().filter(|c| c.name == name);
        let first = found.next()?;
        for again in found {
            self.diags.push(
                Diagnostic::error(
                    Code::DuplicateElement,
                    format!("<{}> may hold only one <{name}>", parent.name),
                )
                .at(self.file, again.name_span.clone(), "given again here")
                .also(self.file, first.name_span.clone(), "first given here"),
            );
        }
        Some(first)
    }

    fn yes_no(&mut self, el: &Element, attr: &str) -> Option<bool> {
        let a = el.attr(attr)?;
        match a.value.as_str() {
            "yes" => Some(true),
            "no" => Some(false),
            v => {
                self.error(
                    Code::BadValue,
                    format!(
                        "invalid value '{}' for '{attr}', expected yes or no",
                        shown(v)
                    ),
                    a.value_span.clone(),
                    "expected yes or no",
                );
                None
            }
        }
    }

    fn ifname(&mut self, a: &Attribute, what: &str) -> Option<Ifname> {
        match Ifname::new(&a.value) {
            Ok(n) => Some(n),
            Err(e) => {
                let why = e
                    .reason
                    .strip_prefix("is not a valid interface name (")
                    .and_then(|r| r.strip_suffix(')'))
                    // The reason escapes quotes for Debug; the label quotes anyway.
                    .map(|r| r.replace("\\\"", "\"").replace("\\'", "'"))
                    .unwrap_or_else(|| format!("it {}", e.reason));
                self.diags.push(
                    Diagnostic::error(
                        Code::BadIfname,
                        format!("{what} '{}' is not a valid interface name", shown(&a.value)),
                    )
                    .at(self.file, a.value_span.clone(), why)
                    .note(
                        "interface names have 1 to 15 bytes of ASCII without whitespace, \
                         '/', ':', quotes, '\\', '`', '$', ';', '!', or the patterns '*', '+', '%'",
                    ),
                );
                None
            }
        }
    }

    /// An address; `family` restricts it when the context fixes one.
    fn ip(&mut self, a: &Attribute, family: Option<IpFamily>) -> Option<IpAddr> {
        let v = a.value.as_str();
        match (v.parse::<IpAddr>(), family) {
            (Ok(addr), None) => Some(addr),
            (Ok(addr), Some(f)) if IpFamily::of(&addr) == f => Some(addr),
            (Ok(_), Some(f)) => {
                let (want, got) = match f {
                    IpFamily::V4 => ("IPv4", "IPv6"),
                    IpFamily::V6 => ("IPv6", "IPv4"),
                };
                self.error(
                    Code::BadAddress,
                    format!("'{v}' is an {got} address, expected an {want} address"),
                    a.value_span.clone(),
                    &format!("expected {want}"),
                );
                None
            }
            (Err(_), _) => {
                let kind = match family {
                    Some(IpFamily::V4) => "IPv4",
                    Some(IpFamily::V6) => "IPv6",
                    None if v.contains(':') => "IPv6",
                    None if v.contains('.') => "IPv4",
                    None => "IP",
                };
                self.error(
                    Code::BadAddress,
                    format!("invalid {kind} address '{}'", shown(v)),
                    a.value_span.clone(),
                    "not an address",
                );
                None
            }
        }
    }

    fn port(&mut self, a: &Attribute) -> Option<u16> {
        match a.value.trim().parse::<u32>() {
            Ok(p @ 1..=65535) => u16::try_from(p).ok(),
            _ => {
                self.error(
                    Code::BadPort,
                    format!(
                        "invalid port '{}', expected a number from 1 to 65535",
                        shown(&a.value)
                    ),
                    a.value_span.clone(),
                    "not a port",
                );
                None
            }
        }
    }

    fn network(&mut self, root: &Element) -> Option<Network> {
        let ipv6 = self.yes_no(root, "ipv6").unwrap_or(false);
        let name = self.name(root);
        let bridge = self
            .single(root, "bridge")
            .and_then(|b| b.attr("name"))
            .and_then(|a| self.ifname(a, "bridge name"));
        let ips: Vec<IpDef> = root
            .children_named("ip")
            .filter_map(|ip| self.ip_def(ip))
            .collect();
        let forward = match self.single(root, "forward") {
            Some(f) => self.forward(f, root),
            None => Some(Forward {
                mode: ForwardMode::Isolated,
                dev: None,
                nat: NatDef::default(),
                source: self.source(root),
            }),
        };
        if let Some(f) = &forward {
            self.check_mode(root, f);
        }
        Some(Network {
            name: name?,
            bridge,
            forward: forward?,
            ipv6,
            ips,
            source: self.source(root),
        })
    }

    fn name(&mut self, root: &Element) -> Option<String> {
        let Some(el) = self.single(root, "name") else {
            self.error(
                Code::MissingElement,
                "a network needs a <name>".into(),
                root.name_span.clone(),
                "no <name> in this network",
            );
            return None;
        };
        let name = el.text.trim();
        let span = el.text_or_tag_span();
        if name.is_empty() {
            self.error(
                Code::MissingElement,
                "the network's <name> is empty".into(),
                span,
                "empty name",
            );
            return None;
        }
        // libvirt refuses '/' (network names become file names); control
        // characters would end up in comments and diagnostics.
        if let Some(c) = name.chars().find(|&c| c == '/' || c.is_control()) {
            self.error(
                Code::BadValue,
                format!(
                    "network name '{}' contains '{}'",
                    shown(name),
                    c.escape_debug()
                ),
                span,
                "not allowed in a network name",
            );
            return None;
        }
        Some(name.to_owned())
    }

    fn forward(&mut self, el: &Element, root: &Element) -> Option<Forward> {
        let mode = match el.attr("mode") {
            None => Some(ForwardMode::Nat),
            Some(a) => {
                let m = ForwardMode::from_name(&a.value);
                if m.is_none() {
                    let known: Vec<_> = ForwardMode::NAMED.iter().map(|(n, _)| *n).collect();
                    self.error(
                        Code::UnknownForwardMode,
                        format!(
                            "unknown forward mode '{}', expected one of {}",
                            shown(&a.value),
                            known.join(", ")
                        ),
                        a.value_span.clone(),
                        "unknown mode",
                    );
                }
                m
            }
        };
        let dev_attr = el.attr("dev");
        let dev = dev_attr.and_then(|a| self.ifname(a, "forward dev"));
        let ifaces = self.interfaces(el, dev_attr);
        let nat = match self.single(el, "nat") {
            Some(n) => {
                if mode.is_some_and(|m| m != ForwardMode::Nat) {
                    self.error(
                        Code::BadValue,
                        "<nat> is only allowed in <forward mode='nat'>".into(),
                        n.name_span.clone(),
                        "not a nat network",
                    );
                }
                self.nat(n)
            }
            None => NatDef::default(),
        };
        let mode = mode?;
        // libvirt counts the forward device and the <interface>s together.
        let nifs = ifaces.len().max(usize::from(dev_attr.is_some()));
        if matches!(
            mode,
            ForwardMode::Nat | ForwardMode::Route | ForwardMode::Open
        ) {
            if mode == ForwardMode::Open && nifs > 0 {
                // An open network gets no rules at all, so a device that
                // would restrict its traffic could never be honoured.
                let span = dev_attr.map_or_else(|| ifaces[0].1.clone(), |a| a.value_span.clone());
                self.diags.push(
                    Diagnostic::error(
                        Code::BadValue,
                        "a forward dev is not allowed in <forward mode='open'>",
                    )
                    .at(self.file, span, "not allowed in open mode")
                    .note("an open network gets no firewall rules, so nothing could restrict it to this device"),
                );
            } else if nifs > 1 {
                self.error(
                    Code::BadValue,
                    format!(
                        "mode {} supports only one forward interface, {nifs} are given",
                        mode_name(mode)
                    ),
                    el.name_span.clone(),
                    "more than one interface",
                );
            }
            if root.child("ip").is_none() {
                self.error(
                    Code::MissingElement,
                    format!(
                        "mode {} needs at least one <ip> in the network",
                        mode_name(mode)
                    ),
                    el.name_span.clone(),
                    "forwarding requested here",
                );
            }
        }
        let dev = dev.or_else(|| ifaces.first().and_then(|(n, _)| n.clone()));
        Some(Forward {
            mode,
            dev,
            nat,
            source: self.source(el),
        })
    }

    /// The `<interface dev>` children: names (None when invalid) and value spans.
    fn interfaces(
        &mut self,
        forward: &Element,
        dev_attr: Option<&Attribute>,
    ) -> Vec<(Option<Ifname>, Span)> {
        let mut out: Vec<(Option<Ifname>, Span, String)> = Vec::new();
        for (i, iface) in forward.children_named("interface").enumerate() {
            let Some(a) = self.required(iface, "dev") else {
                continue;
            };
            if i == 0 {
                if let Some(d) = dev_attr.filter(|d| d.value != a.value) {
                    self.diags.push(
                        Diagnostic::error(
                            Code::BadValue,
                            format!(
                                "<forward dev='{}'> must match the first <interface dev='{}'>",
                                shown(&d.value),
                                shown(&a.value)
                            ),
                        )
                        .at(self.file, a.value_span.clone(), "differs from forward dev")
                        .also(
                            self.file,
                            d.value_span.clone(),
                            "forward dev",
                        ),
                    );
                }
            }
            if let Some((_, first, _)) = out.iter().find(|(_, _, v)| *v == a.value) {
                self.diags.push(
                    Diagnostic::error(
                        Code::DuplicateElement,
                        format!(
                            "interface '{}' is listed twice in <forward>",
                            shown(&a.value)
                        ),
                    )
                    .at(self.file, a.value_span.clone(), "listed again here")
                    .also(self.file, first.clone(), "first listed here"),
                );
                continue;
            }
            let name = self.ifname(a, "forward interface");
            out.push((name, a.value_span.clone(), a.value.clone()));
        }
        out.into_iter().map(|(n, s, _)| (n, s)).collect()
    }

    fn nat(&mut self, el: &Element) -> NatDef {
        let ipv6 = self.yes_no(el, "ipv6").unwrap_or(false);
        let address = self.single(el, "address").and_then(|a| self.nat_address(a));
        let ports = self.single(el, "port").and_then(|p| self.nat_ports(p));
        NatDef {
            ipv6,
            address,
            ports,
        }
    }

    /// `<address start [end]>`; without `end`, the single address `start`.
    fn nat_address(&mut self, el: &Element) -> Option<AddrRange> {
        let start_attr = self.required(el, "start")?;
        let start = self.ip(start_attr, None)?;
        let Some(end_attr) = el.attr("end") else {
            return Some(AddrRange::single(start));
        };
        let end = self.ip(end_attr, Some(IpFamily::of(&start)))?;
        match AddrRange::new(start, end) {
            Ok(r) => Some(r),
            Err(_) => {
                self.error(
                    Code::BadAddress,
                    format!("NAT address range {start}-{end} starts after it ends"),
                    start_attr.value_span.start..end_attr.value_span.end,
                    "start is after end",
                );
                None
            }
        }
    }

    /// `<port start end>`: both required, 1-65535, `start <= end` (libvirt's
    /// `network_conf.c` refuses `end < start`; a single port is allowed).
    fn nat_ports(&mut self, el: &Element) -> Option<PortRange> {
        let start_attr = self.required(el, "start");
        let end_attr = self.required(el, "end");
        let start = start_attr.and_then(|a| self.port(a));
        let end = end_attr.and_then(|a| self.port(a));
        let (start, end, sa, ea) = (start?, end?, start_attr?, end_attr?);
        match PortRange::new(start, end) {
            Ok(r) => Some(r),
            Err(_) => {
                self.error(
                    Code::BadPort,
                    format!("NAT port range {start}-{end} starts after it ends"),
                    sa.value_span.start..ea.value_span.end,
                    "start is after end",
                );
                None
            }
        }
    }

    fn ip_def(&mut self, el: &Element) -> Option<IpDef> {
        let family = match el.attr("family") {
            None => None,
            Some(a) if a.value == "ipv4" => Some(IpFamily::V4),
            Some(a) if a.value == "ipv6" => Some(IpFamily::V6),
            Some(a) => {
                self.error(
                    Code::BadValue,
                    format!(
                        "unknown family '{}', expected ipv4 or ipv6",
                        shown(&a.value)
                    ),
                    a.value_span.clone(),
                    "unknown family",
                );
                return None;
            }
        };
        let addr_attr = self.required(el, "address")?;
        let addr = self.ip(addr_attr, family)?;
        if family.is_none() && addr.is_ipv6() {
            // Without family=, libvirt takes the address as IPv4.
            self.diags.push(
                Diagnostic::error(
                    Code::BadAddress,
                    format!("IPv6 address '{addr}' in an <ip> without family='ipv6'"),
                )
                .at(self.file, addr_attr.value_span.clone(), "IPv6 address")
                .note("libvirt reads an <ip> without family= as IPv4; add family='ipv6'"),
            );
            return None;
        }
        let prefix = self.prefix(el, addr)?;
        let Ok(address) = IpNet::new(addr, prefix) else {
            self.error(
                Code::BadPrefix,
                format!("invalid prefix length {prefix} for {addr}"),
                el.name_span.clone(),
                "in this <ip>",
            );
            return None;
        };

        let dhcp_el = self.single(el, "dhcp");
        let mut dhcp_ranges = Vec::new();
        let mut hosts = 0;
        if let Some(d) = dhcp_el {
            for r in d.children_named("range") {
                if let Some(range) = self.dhcp_range(r, address) {
                    dhcp_ranges.push(range);
                }
            }
            for h in d.children_named("host") {
                hosts += 1;
                if let Some(a) = h.attr("ip") {
                    self.ip(a, Some(IpFamily::of(&addr)));
                }
            }
        }
        let tftp_root = match self.single(el, "tftp") {
            Some(t) if addr.is_ipv6() => {
                self.error(
                    Code::BadValue,
                    "<tftp> is only supported in an IPv4 <ip>".into(),
                    t.name_span.clone(),
                    "in an IPv6 <ip>",
                );
                None
            }
            Some(t) => t.attr("root").map(|a| a.value.clone()),
            None => None,
        };
        Some(IpDef {
            address,
            dhcp: !dhcp_ranges.is_empty() || hosts > 0,
            dhcp_ranges,
            tftp_root,
            source: self.source(el),
        })
    }

    /// The prefix length from `prefix=` or `netmask=`, or libvirt's default
    /// (the classful prefix for IPv4, 64 for IPv6).
    fn prefix(&mut self, el: &Element, addr: IpAddr) -> Option<u8> {
        let max: u8 = if addr.is_ipv4() { 32 } else { 128 };
        let prefix_attr = el.attr("prefix");
        let netmask_attr = el.attr("netmask");
        let from_prefix = match prefix_attr {
            Some(a) => match a.value.trim().parse::<u8>() {
                Ok(p) if p <= max => Some(p),
                _ => {
                    self.error(
                        Code::BadPrefix,
                        format!(
                            "invalid prefix '{}' for an {} address, expected 0 to {max}",
                            shown(&a.value),
                            if addr.is_ipv4() { "IPv4" } else { "IPv6" }
                        ),
                        a.value_span.clone(),
                        "not a prefix length",
                    );
                    return None;
                }
            },
            None => None,
        }
        // libvirt reads prefix='0' as "not given".
        .filter(|&p| p > 0);
        if let Some(nm) = netmask_attr {
            if addr.is_ipv6() {
                self.error(
                    Code::BadPrefix,
                    "netmask is not allowed for an IPv6 address, use prefix".into(),
                    nm.value_span.clone(),
                    "IPv6 needs prefix=",
                );
                return None;
            }
            if from_prefix.is_some() {
                self.error(
                    Code::BadPrefix,
                    "an <ip> cannot have both a prefix and a netmask".into(),
                    nm.value_span.clone(),
                    "netmask given with prefix",
                );
                return None;
            }
            return self.netmask(nm);
        }
        if let Some(p) = from_prefix {
            return Some(p);
        }
        match addr {
            IpAddr::V6(_) => Some(64),
            IpAddr::V4(v4) => match v4.octets()[0] {
                0 => Some(0),
                o if o & 0x80 == 0 => Some(8),
                o if o & 0xc0 == 0x80 => Some(16),
                o if o & 0xe0 == 0xc0 => Some(24),
                _ => {
                    self.error(
                        Code::BadPrefix,
                        format!("cannot infer the prefix of {v4}, give prefix= or netmask="),
                        el.name_span.clone(),
                        "no prefix or netmask",
                    );
                    None
                }
            },
        }
    }

    fn netmask(&mut self, a: &Attribute) -> Option<u8> {
        let bad = |cx: &mut Self, why: &str| {
            cx.error(
                Code::BadPrefix,
                format!("invalid netmask '{}'", shown(&a.value)),
                a.value_span.clone(),
                why,
            );
            None
        };
        let Ok(mask) = a.value.parse::<Ipv4Addr>() else {
            return bad(self, "not an IPv4 netmask");
        };
        let bits = u32::from(mask);
        if bits.leading_ones() + bits.trailing_zeros() != 32 && bits != 0 {
            return bad(self, "the one bits are not contiguous");
        }
        u8::try_from(bits.leading_ones()).ok()
    }

    fn dhcp_range(&mut self, el: &Element, net: IpNet) -> Option<AddrRange> {
        let family = Some(IpFamily::of_net(&net));
        let sa = self.required(el, "start");
        let ea = self.required(el, "end");
        let start = sa.and_then(|a| self.ip(a, family));
        let end = ea.and_then(|a| self.ip(a, family));
        let (start, end, sa, ea) = (start?, end?, sa?, ea?);
        let span = sa.value_span.start..ea.value_span.end;
        let Ok(range) = AddrRange::new(start, end) else {
            self.error(
                Code::BadAddress,
                format!("DHCP range {start}-{end} starts after it ends"),
                span,
                "start is after end",
            );
            return None;
        };
        let subnet = net.trunc();
        if !subnet.contains(&start) || !subnet.contains(&end) {
            self.error(
                Code::BadAddress,
                format!("DHCP range {start}-{end} is not inside the network {subnet}"),
                span,
                "outside the network",
            );
            return None;
        }
        Some(range)
    }

    /// libvirt's checks tying the bridge to the forward mode.
    fn check_mode(&mut self, root: &Element, f: &Forward) {
        let bridge = root.child("bridge");
        let named_bridge = bridge.and_then(|b| b.attr("name"));
        match f.mode {
            ForwardMode::Private
            | ForwardMode::Vepa
            | ForwardMode::Passthrough
            | ForwardMode::Hostdev => {
                if let Some(a) = named_bridge {
                    self.error(
                        Code::BadValue,
                        format!("a bridge name is not allowed in mode {}", mode_name(f.mode)),
                        a.value_span.clone(),
                        "no bridge in this mode",
                    );
                }
            }
            ForwardMode::Bridge if f.dev.is_some() => {
                if let Some(a) = named_bridge {
                    self.error(
                        Code::BadValue,
                        "mode bridge takes a bridge name or a forward dev, not both".into(),
                        a.value_span.clone(),
                        "bridge name given with a forward dev",
                    );
                }
            }
            _ => {}
        }
    }
}

fn mode_name(mode: ForwardMode) -> &'static str {
    ForwardMode::NAMED
        .iter()
        .find(|(_, m)| *m == mode)
        .map_or("isolated", |(n, _)| *n)
}
