//! The `<network>` front end on libvirt's corpus and on broken inputs.

use std::path::{Path, PathBuf};

use compiler::diagnostics::{render_plain, Code, Diagnostic};
use compiler::front::{self, Document};
use compiler::source::SourceFile;
use rules::network::{ForwardMode, Network};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus/libvirt");

fn parse(name: &str, text: &str) -> Result<Network, Vec<Diagnostic>> {
    let file = SourceFile::new(name, text);
    front::parse(&file).map(|d| match d {
        Document::Network(n) => n,
        other => panic!("{name} is not a network: {other:?}"),
    })
}

fn parse_file(path: &Path) -> Result<Network, Vec<Diagnostic>> {
    let name = path.file_name().unwrap().to_str().unwrap();
    parse(name, &std::fs::read_to_string(path).unwrap())
}

fn xml_files(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(Path::new(CORPUS).join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    v.sort();
    v
}

fn network(file: &str) -> Network {
    let path = Path::new(CORPUS).join("network").join(file);
    parse_file(&path).unwrap_or_else(|d| panic!("{file}: {}", render_plain(&d)))
}

fn subnets(n: &Network) -> Vec<String> {
    n.ips.iter().map(|ip| ip.subnet().to_string()).collect()
}

fn errors(text: &str) -> Vec<Diagnostic> {
    match parse("bad.xml", text) {
        Ok(n) => panic!("accepted: {n:?}"),
        Err(d) => d,
    }
}

/// The only error of `text`: its code, message and `line:col`.
fn error(text: &str) -> (Code, String, String) {
    let d = errors(text);
    assert_eq!(d.len(), 1, "{}", render_plain(&d));
    let (l, c) = d[0].line_col().expect("a place in the input");
    (d[0].code, d[0].message.clone(), format!("{l}:{c}"))
}

fn net(body: &str) -> String {
    format!("<network>\n  <name>t</name>\n  <bridge name='virbr0'/>\n{body}</network>\n")
}

#[test]
fn every_network_test_input_parses() {
    let files = xml_files("network");
    assert_eq!(files.len(), 11);
    for f in files {
        let n = parse_file(&f).unwrap_or_else(|d| panic!("{}: {}", f.display(), render_plain(&d)));
        assert_eq!(n.name, "default");
        assert_eq!(n.bridge.as_ref().map(|b| b.as_str()), Some("virbr0"));
    }
}

#[test]
fn nat_default() {
    let n = network("nat-default.xml");
    assert_eq!(n.forward.mode, ForwardMode::Nat);
    assert_eq!(n.forward.dev, None);
    assert!(!n.ipv6 && !n.forward.nat.ipv6);
    assert_eq!(n.forward.nat.ports, None);
    assert_eq!(n.forward.nat.address, None);
    assert_eq!(subnets(&n), ["192.168.122.0/24"]);
    assert_eq!(n.ips[0].address.to_string(), "192.168.122.1/24");
    assert!(n.ips[0].dhcp);
    let r = n.ips[0].dhcp_ranges[0];
    assert_eq!(
        (r.start.to_string(), r.end.to_string()),
        ("192.168.122.2".into(), "192.168.122.254".into())
    );
    assert_eq!(n.ips[0].tftp_root, None);
    // Provenance points at the elements' '<'.
    assert_eq!(
        (n.source.line, n.source.column, &*n.source.element),
        (1, 1, "network")
    );
    assert_eq!(
        (
            n.forward.source.line,
            n.forward.source.column,
            &*n.forward.source.element
        ),
        (4, 3, "forward")
    );
    assert_eq!((n.ips[0].source.line, &*n.ips[0].source.element), (5, "ip"));
    assert_eq!(&*n.ips[0].source.file, "nat-default.xml");
}

#[test]
fn forward_dev_route_and_isolated() {
    let n = network("forward-dev.xml");
    assert_eq!(n.forward.mode, ForwardMode::Nat);
    assert_eq!(n.forward.dev.as_ref().map(|d| d.as_str()), Some("enp0s7"));

    let n = network("route-default.xml");
    assert_eq!(n.forward.mode, ForwardMode::Route);
    assert_eq!(subnets(&n), ["192.168.122.0/24"]);

    let n = network("isolated.xml");
    assert_eq!(n.forward.mode, ForwardMode::Isolated);
    // Without <forward> the forward provenance is the <network> element.
    assert_eq!(&*n.forward.source.element, "network");
    assert_eq!(
        subnets(&n),
        [
            "192.168.122.0/24",
            "192.168.128.0/24",
            "2001:db8:ca2:2::/64"
        ]
    );
    assert_eq!(
        [n.ips[0].dhcp, n.ips[1].dhcp, n.ips[2].dhcp],
        [true, false, true]
    );
    assert_eq!(
        n.ips[2].dhcp_ranges[0].start.to_string(),
        "2001:db8:ca2:2:1::10"
    );
    assert!(n.wants_ipv6_rules());
}

#[test]
fn nat_ipv6_port_ranges_and_tftp() {
    let n = network("nat-ipv6-masquerade.xml");
    assert!(n.forward.nat.ipv6);
    assert_eq!(subnets(&n), ["192.168.122.0/24", "2001:db8:ca2:2::/64"]);

    let n = network("nat-ipv6.xml");
    assert!(!n.forward.nat.ipv6);

    let n = network("nat-port-range.xml");
    assert_eq!(
        n.forward.nat.ports.map(|p| (p.start, p.end)),
        Some((500, 1000))
    );
    assert!(!n.forward.nat.ipv6);
    assert_eq!(n.ips.len(), 3);

    let n = network("nat-port-range-ipv6.xml");
    assert_eq!(
        n.forward.nat.ports.map(|p| (p.start, p.end)),
        Some((500, 1000))
    );
    assert!(n.forward.nat.ipv6);

    let n = network("nat-many-ips.xml");
    assert_eq!(
        subnets(&n),
        ["192.168.122.0/24", "192.168.128.0/24", "192.168.150.0/24"]
    );

    let n = network("nat-no-dhcp.xml");
    assert!(n.ips.iter().all(|ip| !ip.dhcp && ip.dhcp_ranges.is_empty()));

    let n = network("nat-tftp.xml");
    assert_eq!(n.ips[0].tftp_root.as_deref(), Some("/some/dir"));
}

#[test]
fn every_network_xml_input_parses_or_is_rejected_clearly() {
    let files = xml_files("network-xml");
    assert_eq!(files.len(), 47);
    let mut rejected = Vec::new();
    for f in &files {
        if let Err(d) = parse_file(f) {
            for diag in &d {
                assert!(
                    diag.line_col().is_some(),
                    "{}: no position: {diag}",
                    f.display()
                );
            }
            rejected.push(f.file_name().unwrap().to_str().unwrap().to_owned());
        }
    }
    assert_eq!(
        rejected,
        [
            "open-network-with-forward-dev.xml",
            "passthrough-duplicate.xml"
        ]
    );
}

#[test]
fn network_xml_values() {
    let dir = Path::new(CORPUS).join("network-xml");
    let get = |f: &str| parse_file(&dir.join(f)).unwrap();

    let n = get("nat-network-forward-nat-address.xml");
    let a = n.forward.nat.address.unwrap();
    assert_eq!(
        (a.start.to_string(), a.end.to_string()),
        ("10.20.30.40".into(), "10.20.30.44".into())
    );
    assert_eq!(
        n.forward.nat.ports.map(|p| (p.start, p.end)),
        Some((60000, 65432))
    );
    assert_eq!(n.forward.dev.unwrap().as_str(), "eth1");
    // <ip family='ipv4' address='10.24.10.1'> without prefix: libvirt's classful default.
    assert_eq!(n.ips[4].address.to_string(), "10.24.10.1/8");

    let n = get("nat-network-forward-nat-ipv6.xml");
    assert!(n.forward.nat.ipv6);

    let n = get("empty-allow-ipv6.xml");
    assert!(n.ipv6 && n.ips.is_empty() && n.wants_ipv6_rules());
    assert_eq!(n.forward.mode, ForwardMode::Isolated);

    // dhcp with hosts but no range still counts as DHCP.
    let n = get("dhcp6host-routed-network.xml");
    assert_eq!(n.forward.mode, ForwardMode::Route);
    assert!(n.ips.iter().all(|ip| ip.dhcp && ip.dhcp_ranges.is_empty()));

    let n = get("netboot-network.xml");
    assert_eq!(n.ips[0].tftp_root.as_deref(), Some("/var/lib/tftproot"));

    // The first <interface dev> agrees with dev=.
    let n = get("8021Qbh-net.xml");
    assert_eq!(n.forward.mode, ForwardMode::Private);
    assert_eq!(n.forward.dev.unwrap().as_str(), "eth1");

    for (f, mode) in [
        ("open-network.xml", ForwardMode::Open),
        ("host-bridge-net.xml", ForwardMode::Bridge),
        ("vepa-net.xml", ForwardMode::Vepa),
        ("passthrough-pf.xml", ForwardMode::Passthrough),
        ("hostdev.xml", ForwardMode::Hostdev),
    ] {
        assert_eq!(get(f).forward.mode, mode, "{f}");
    }
}

#[test]
fn libvirt_parse_error_inputs_behave_as_decided() {
    let dir = Path::new(CORPUS).join("network-xml");
    let rejected = |f: &str| parse_file(&dir.join(f)).unwrap_err();

    // Structural and firewall-relevant: an open network gets no rules, so a
    // forward device could never restrict it.
    let d = rejected("open-network-with-forward-dev.xml");
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].code, Code::BadValue);
    assert!(d[0].message.contains("mode='open'"), "{}", d[0].message);
    assert_eq!(d[0].line_col(), Some((6, 29)));

    // The <forward><interface> list fwc reads names eth3 twice.
    let d = rejected("passthrough-duplicate.xml");
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].code, Code::DuplicateElement);
    assert_eq!(
        d[0].message,
        "interface 'eth3' is listed twice in <forward>"
    );
    assert_eq!(d[0].line_col(), Some((8, 21)));
    assert_eq!(d[0].secondary[0].line_col(), (7, 21));

    // libvirt refuses DNS records in a <dns enable='no'>; DNS has no firewall
    // meaning and fwc ignores <dns>, so the network compiles.
    let n = parse_file(&dir.join("routed-network-no-dns-extra-elements.xml")).unwrap();
    assert_eq!(n.forward.mode, ForwardMode::Route);
    assert_eq!(n.forward.dev.unwrap().as_str(), "eth1");

    // libvirt refuses a PCI device listed twice; hostdev networks get no
    // rules and fwc does not read PCI addresses, so it accepts the network.
    let n = parse_file(&dir.join("hostdev-duplicate.xml")).unwrap();
    assert_eq!(n.forward.mode, ForwardMode::Hostdev);
    assert!(!n.forward.mode.is_firewalled());
}

#[test]
fn unknown_forward_mode() {
    let (code, msg, at) = error(&net(
        "  <forward mode='nta'/>\n  <ip address='192.168.1.1' prefix='24'/>\n",
    ));
    assert_eq!(code, Code::UnknownForwardMode);
    assert_eq!(
        msg,
        "unknown forward mode 'nta', expected one of nat, route, open, bridge, private, vepa, passthrough, hostdev"
    );
    assert_eq!(at, "4:18");
}

#[test]
fn invalid_addresses() {
    let (code, msg, at) = error(&net(
        "  <ip address='192.168.300.1' netmask='255.255.255.0'/>\n",
    ));
    assert_eq!(
        (code, msg.as_str(), at.as_str()),
        (
            Code::BadAddress,
            "invalid IPv4 address '192.168.300.1'",
            "4:16"
        )
    );

    let (code, msg, _) = error(&net(
        "  <ip family='ipv6' address='2001:db8::zz' prefix='64'/>\n",
    ));
    assert_eq!(
        (code, msg.as_str()),
        (Code::BadAddress, "invalid IPv6 address '2001:db8::zz'")
    );

    let (code, msg, _) = error(&net(
        "  <ip family='ipv6' address='10.0.0.1' prefix='64'/>\n",
    ));
    assert_eq!(
        (code, msg.as_str()),
        (
            Code::BadAddress,
            "'10.0.0.1' is an IPv4 address, expected an IPv6 address"
        )
    );

    let (code, msg, _) = error(&net("  <ip address='2001:db8::1' prefix='64'/>\n"));
    assert_eq!(code, Code::BadAddress);
    assert!(msg.contains("without family='ipv6'"), "{msg}");

    let (code, _, _) = error(&net("  <ip family='ipv5' address='10.0.0.1'/>\n"));
    assert_eq!(code, Code::BadValue);

    let (code, _, _) = error(&net("  <ip prefix='24'/>\n"));
    assert_eq!(code, Code::MissingAttribute);
}

#[test]
fn prefixes_and_netmasks() {
    let ok = |ip: &str| parse("t.xml", &net(ip)).unwrap().ips[0].address.to_string();
    assert_eq!(
        ok("  <ip address='10.1.2.3' prefix='16'/>\n"),
        "10.1.2.3/16"
    );
    assert_eq!(ok("  <ip address='172.16.0.1'/>\n"), "172.16.0.1/16");
    assert_eq!(ok("  <ip address='192.168.0.1'/>\n"), "192.168.0.1/24");
    assert_eq!(
        ok("  <ip address='10.1.2.3' netmask='255.255.240.0'/>\n"),
        "10.1.2.3/20"
    );
    assert_eq!(
        ok("  <ip family='ipv6' address='fd00::1'/>\n"),
        "fd00::1/64"
    );
    assert_eq!(
        ok("  <ip family='ipv6' address='fd00::1' prefix='56'/>\n"),
        "fd00::1/56"
    );

    for bad in [
        "  <ip address='10.1.2.3' prefix='33'/>\n",
        "  <ip address='10.1.2.3' prefix='x'/>\n",
        "  <ip family='ipv6' address='fd00::1' prefix='129'/>\n",
        "  <ip address='10.1.2.3' netmask='255.0.255.0'/>\n",
        "  <ip address='10.1.2.3' netmask='255.255.0.0' prefix='16'/>\n",
        "  <ip family='ipv6' address='fd00::1' netmask='255.255.0.0'/>\n",
        "  <ip address='224.0.0.1'/>\n",
    ] {
        let (code, _, _) = error(&net(bad));
        assert_eq!(code, Code::BadPrefix, "{bad}");
    }
}

#[test]
fn hostile_bridge_name() {
    let (code, msg, at) =
        error("<network>\n  <name>t</name>\n  <bridge name='virbr0\"; flush'/>\n</network>\n");
    assert_eq!(code, Code::BadIfname);
    assert_eq!(
        msg,
        "bridge name 'virbr0\"; flush' is not a valid interface name"
    );
    assert_eq!(at, "3:17");
    let (code, msg, _) = error(&net(
        "  <forward mode='route' dev='a-very-long-ifname0'/>\n  <ip address='10.0.0.1'/>\n",
    ));
    assert_eq!(code, Code::BadIfname);
    assert_eq!(
        msg,
        "forward dev 'a-very-long-ifname0' is not a valid interface name"
    );
    // Control characters are escaped in messages.
    let (_, msg, _) = error("<network><name>t</name><bridge name='a&#10;b'/></network>");
    assert_eq!(msg, "bridge name 'a\\nb' is not a valid interface name");
}

#[test]
fn nat_ports() {
    let nat = |port: &str| {
        net(&format!(
            "  <forward mode='nat'>\n    <nat>\n      {port}\n    </nat>\n  </forward>\n  <ip address='10.0.0.1'/>\n"
        ))
    };
    let ports = |p: &str| {
        parse("t.xml", &nat(p))
            .unwrap()
            .forward
            .nat
            .ports
            .map(|r| (r.start, r.end))
    };
    assert_eq!(
        ports("<port start='1024' end='65535'/>"),
        Some((1024, 65535))
    );
    // libvirt refuses only end < start, so a single port is fine.
    assert_eq!(ports("<port start='2000' end='2000'/>"), Some((2000, 2000)));

    for (bad, code, what) in [
        (
            "<port start='abc' end='2000'/>",
            Code::BadPort,
            "invalid port 'abc'",
        ),
        (
            "<port start='0' end='2000'/>",
            Code::BadPort,
            "invalid port '0'",
        ),
        (
            "<port start='1024' end='65536'/>",
            Code::BadPort,
            "invalid port '65536'",
        ),
        (
            "<port start='-1' end='2000'/>",
            Code::BadPort,
            "invalid port '-1'",
        ),
        (
            "<port start='3000' end='2000'/>",
            Code::BadPort,
            "NAT port range 3000-2000 starts after it ends",
        ),
        (
            "<port start='3000'/>",
            Code::MissingAttribute,
            "<port> needs a 'end' attribute",
        ),
    ] {
        let (c, msg, at) = error(&nat(bad));
        assert_eq!(c, code, "{bad}");
        assert!(msg.starts_with(what), "{bad}: {msg}");
        assert!(at.starts_with("6:"), "{bad}: {at}");
    }
    let d = errors(&nat("<port/>"));
    assert_eq!(d.len(), 2, "both missing attributes are reported");
}

#[test]
fn nat_addresses() {
    let nat = |inner: &str, mode: &str| {
        net(&format!(
            "  <forward mode='{mode}'>\n    <nat ipv6='yes'>{inner}</nat>\n  </forward>\n  <ip address='10.0.0.1'/>\n"
        ))
    };
    let n = parse("t.xml", &nat("<address start='1.2.3.4'/>", "nat")).unwrap();
    let a = n.forward.nat.address.unwrap();
    assert_eq!(
        (a.start, a.end),
        (a.start, a.start),
        "end defaults to start"
    );
    assert!(n.forward.nat.ipv6);
    let (code, _, _) = error(&nat("<address start='1.2.3.9' end='1.2.3.4'/>", "nat"));
    assert_eq!(code, Code::BadAddress);
    let (code, _, _) = error(&nat("<address start='1.2.3.4' end='fd00::1'/>", "nat"));
    assert_eq!(code, Code::BadAddress);
    let (code, msg, _) = error(&nat("", "route"));
    assert_eq!(
        (code, msg.as_str()),
        (
            Code::BadValue,
            "<nat> is only allowed in <forward mode='nat'>"
        )
    );
    let (code, _, _) = error(&nat(
        "<address start='1.2.3.4'/><address start='1.2.3.5'/>",
        "nat",
    ));
    assert_eq!(code, Code::DuplicateElement);
}

#[test]
fn forward_interfaces() {
    let fwd = |inner: &str| net(&format!("  {inner}\n  <ip address='10.0.0.1'/>\n"));
    let dev = |inner: &str| {
        parse("t.xml", &fwd(inner))
            .unwrap()
            .forward
            .dev
            .map(|d| d.to_string())
    };
    assert_eq!(
        dev("<forward mode='route'><interface dev='eth7'/></forward>").as_deref(),
        Some("eth7")
    );
    assert_eq!(
        dev("<forward dev='eth7'><interface dev='eth7'/></forward>").as_deref(),
        Some("eth7")
    );

    let (code, msg, _) = error(&fwd(
        "<forward dev='eth7'><interface dev='eth8'/></forward>",
    ));
    assert_eq!(code, Code::BadValue);
    assert_eq!(
        msg,
        "<forward dev='eth7'> must match the first <interface dev='eth8'>"
    );
    let (code, _, _) = error(&fwd(
        "<forward mode='nat'><interface dev='eth7'/><interface dev='eth8'/></forward>",
    ));
    assert_eq!(code, Code::BadValue);
    let (code, _, _) = error(&fwd("<forward><interface/></forward>"));
    assert_eq!(code, Code::MissingAttribute);
    let (code, _, at) = error(&fwd("<forward/><forward mode='route'/>"));
    assert_eq!((code, at.as_str()), (Code::DuplicateElement, "4:14"));
}

#[test]
fn modes_need_what_libvirt_needs() {
    let (code, msg, _) = error(&net("  <forward mode='route'/>\n"));
    assert_eq!(
        (code, msg.as_str()),
        (
            Code::MissingElement,
            "mode route needs at least one <ip> in the network"
        )
    );
    let (code, _, _) = error(&net("  <forward mode='passthrough' dev='eth0'/>\n"));
    assert_eq!(code, Code::BadValue, "no bridge name in macvtap modes");
    let (code, _, _) = error(&net("  <forward mode='bridge' dev='eth0'/>\n"));
    assert_eq!(
        code,
        Code::BadValue,
        "bridge mode: a bridge or a dev, not both"
    );
    // Isolated networks need no <ip>; bridge mode with only a bridge is fine.
    assert!(parse("t.xml", &net("")).is_ok());
    assert!(parse("t.xml", &net("  <forward mode='bridge'/>\n")).is_ok());
}

#[test]
fn names_dhcp_and_tftp() {
    let (code, _, at) = error("<network>\n  <bridge name='virbr0'/>\n</network>");
    assert_eq!((code, at.as_str()), (Code::MissingElement, "1:2"));
    let (code, _, _) = error("<network><name>a/b</name></network>");
    assert_eq!(code, Code::BadValue);
    let (code, _, _) = error("<network><name>  </name></network>");
    assert_eq!(code, Code::MissingElement);
    let (code, _, _) = error("<network ipv6='maybe'><name>x</name></network>");
    assert_eq!(code, Code::BadValue);

    let ip = |dhcp: &str| {
        net(&format!(
            "  <ip address='192.168.1.1' prefix='24'>{dhcp}</ip>\n"
        ))
    };
    let (code, msg, _) = error(&ip(
        "<dhcp><range start='192.168.2.2' end='192.168.2.9'/></dhcp>",
    ));
    assert_eq!(code, Code::BadAddress);
    assert_eq!(
        msg,
        "DHCP range 192.168.2.2-192.168.2.9 is not inside the network 192.168.1.0/24"
    );
    let (code, _, _) = error(&ip(
        "<dhcp><range start='192.168.1.9' end='192.168.1.2'/></dhcp>",
    ));
    assert_eq!(code, Code::BadAddress);
    let (code, _, _) = error(&ip("<dhcp><range start='192.168.1.9'/></dhcp>"));
    assert_eq!(code, Code::MissingAttribute);
    let (code, _, _) = error(&ip("<dhcp><host ip='192.168.1.300'/></dhcp>"));
    assert_eq!(code, Code::BadAddress);
    let (code, _, _) = error(&net(
        "  <ip family='ipv6' address='fd00::1'><tftp root='/x'/></ip>\n",
    ));
    assert_eq!(code, Code::BadValue);
}

#[test]
fn several_errors_are_reported_in_one_run() {
    let d = errors(
        "<network>\n  <name>t</name>\n  <bridge name='bad name'/>\n  <forward mode='nta'/>\n  \
         <ip address='192.168.300.1' prefix='24'/>\n  <ip address='10.0.0.1' prefix='99'/>\n</network>",
    );
    let codes: Vec<_> = d.iter().map(|d| d.code).collect();
    assert_eq!(
        codes,
        [
            Code::BadIfname,
            Code::BadAddress,
            Code::BadPrefix,
            Code::UnknownForwardMode
        ]
    );
}

#[test]
fn unknown_elements_are_ignored_and_other_documents_refused() {
    let n = parse(
        "t.xml",
        &net("  <uuid>x</uuid>\n  <mtu size='9000'/>\n  <dns><txt name='a' value='b'/></dns>\n  <domain name='x'/>\n  <portgroup name='p'/>\n"),
    )
    .unwrap();
    assert_eq!(n.name, "t");

    // nwfilter documents have their own front ends (see nwfilter_front.rs).
    let filter = SourceFile::new("f.xml", "<filter name='x' chain='root'/>");
    assert!(matches!(front::parse(&filter), Ok(Document::Filter(_))));
    let (code, _, _) = error("<domain/>");
    assert_eq!(code, Code::UnsupportedInput);
}

/// Front ends must never panic: every corpus input cut at every character,
/// and with each character replaced by XML's special characters.
#[test]
fn never_panics_on_mutated_corpus_inputs() {
    let mut files = xml_files("network");
    files.extend(xml_files("network-xml"));
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let cuts: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        for &i in &cuts {
            let _ = parse("m.xml", &text[..i]);
        }
        for (n, &i) in cuts.iter().enumerate().step_by(3) {
            let c = ["<", ">", "'", "\"", "&", "é", "\u{0}", "/"][n % 8];
            let end = cuts.get(n + 1).copied().unwrap_or(text.len());
            let mutated = format!("{}{c}{}", &text[..i], &text[end..]);
            if let Err(d) = parse("m.xml", &mutated) {
                // Rendering exercises the spans; it must not panic either.
                let _ = render_plain(&d);
            }
        }
    }
}
