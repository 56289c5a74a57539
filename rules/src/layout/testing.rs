//! Network definitions for the lowering tests, built in Rust.

use std::sync::Arc;

use ir::{Ifname, Source};

use crate::network::{Forward, ForwardMode, IpDef, NatDef, Network};

/// A source position naming `element`.
pub(crate) fn src(element: &str, line: u32) -> Source {
    Source {
        file: Arc::from("test.xml"),
        line,
        column: 3,
        element: Arc::from(element),
    }
}

/// An interface name.
pub(crate) fn ifname(name: &str) -> Ifname {
    Ifname::new(name).unwrap()
}

/// A network on `virbr0` in `mode` without any `<ip>`.
pub(crate) fn network(mode: ForwardMode) -> Network {
    Network {
        name: "default".into(),
        bridge: Some(ifname("virbr0")),
        forward: Forward {
            mode,
            dev: None,
            nat: NatDef::default(),
            source: src("forward", 4),
        },
        ipv6: false,
        ips: Vec::new(),
        source: src("network", 1),
    }
}

/// An `<ip>` with the host address and prefix `cidr`, with or without DHCP.
pub(crate) fn ip(cidr: &str, dhcp: bool, line: u32) -> IpDef {
    IpDef {
        address: cidr.parse().unwrap(),
        dhcp,
        dhcp_ranges: Vec::new(),
        tftp_root: None,
        source: src("ip", line),
    }
}

/// libvirt's `nat-default` test network.
pub(crate) fn nat_default() -> Network {
    Network {
        ips: vec![ip("192.168.122.1/24", true, 5)],
        ..network(ForwardMode::Nat)
    }
}

/// libvirt's `nat-ipv6` test network (IPv6 routed), `masquerade` sets `<nat ipv6='yes'/>`.
pub(crate) fn nat_ipv6(masquerade: bool) -> Network {
    let mut n = Network {
        ips: vec![
            ip("192.168.122.1/24", true, 5),
            ip("2001:db8:ca2:2::1/64", true, 10),
        ],
        ..network(ForwardMode::Nat)
    };
    n.forward.nat.ipv6 = masquerade;
    n
}
