//! Synthetic virtualisation hosts for the scaling tests and the benchmark:
//! N networks of mixed modes and, optionally, guest ports bound to a filter.
//!
//! Network `i` is `net{i}` on bridge `virbr{i}` with the IPv4 subnet
//! `10.{i/256}.{i%256}.0/24`; every third network is dual-stack with
//! `fd00:0:0:{i:x}::/64`. Modes cycle through a fixed mix: half NAT (some
//! with DHCP and TFTP, some masquerading IPv6 too), a fifth routed, a fifth
//! isolated, a tenth open. Subnets and bridge names never overlap, so the
//! inputs are what a real host could define. Ports (`vnet{j}`) are spread
//! over the firewalled networks, each a `<filterbinding>` of libvirt's
//! `clean-traffic` filter with the guest's MAC and address.

use std::fmt::Write as _;
use std::path::Path;

/// How a generated network reaches the outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `<forward mode='nat'/>`.
    Nat,
    /// `<forward mode='route'/>`.
    Route,
    /// No `<forward>`.
    Isolated,
    /// `<forward mode='open'/>`: libvirt adds no rules.
    Open,
}

impl Mode {
    /// The mode of network `i` in the fixed mix.
    pub fn of(i: usize) -> Mode {
        match i % 10 {
            0..=4 => Mode::Nat,
            5 | 6 => Mode::Route,
            7 | 8 => Mode::Isolated,
            _ => Mode::Open,
        }
    }
}

/// One generated network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    /// Its index.
    pub index: usize,
    /// Its mode.
    pub mode: Mode,
    /// `virbr{i}`.
    pub bridge: String,
    /// The IPv4 subnet's first three octets, `10.a.b`.
    pub v4_prefix: String,
    /// Whether it has an IPv6 subnet too.
    pub dual_stack: bool,
    /// Whether its DHCP serves TFTP (which opens the TFTP port to the host).
    pub tftp: bool,
}

impl Network {
    /// The host's IPv4 address on the bridge, `10.a.b.1`.
    pub fn gateway(&self) -> String {
        format!("{}.1", self.v4_prefix)
    }

    /// The IPv4 subnet, `10.a.b.0/24`.
    pub fn subnet(&self) -> String {
        format!("{}.0/24", self.v4_prefix)
    }
}

/// One input document: a file name and its XML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// File name, e.g. `net0042.xml`.
    pub name: String,
    /// The XML text.
    pub xml: String,
}

/// A generated host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// The networks, in index order.
    pub networks: Vec<Network>,
    /// Their `<network>` documents.
    pub network_docs: Vec<Document>,
    /// The `<filterbinding>` documents of the ports.
    pub port_docs: Vec<Document>,
}

impl Host {
    /// Every document, networks first.
    pub fn documents(&self) -> impl Iterator<Item = &Document> {
        self.network_docs.iter().chain(&self.port_docs)
    }

    /// The network documents as `(name, text)` pairs, as
    /// `compiler::compile_sources` takes them.
    pub fn network_sources(&self) -> Vec<(String, String)> {
        sources(&self.network_docs)
    }

    /// The port documents as `(name, text)` pairs.
    pub fn port_sources(&self) -> Vec<(String, String)> {
        sources(&self.port_docs)
    }

    /// Writes every document into `dir`.
    pub fn write_to(&self, dir: &Path) -> std::io::Result<()> {
        for d in self.documents() {
            std::fs::write(dir.join(&d.name), &d.xml)?;
        }
        Ok(())
    }
}

fn sources(docs: &[Document]) -> Vec<(String, String)> {
    docs.iter()
        .map(|d| (d.name.clone(), d.xml.clone()))
        .collect()
}

/// A host of `networks` networks of the mixed modes and `ports` bound ports.
pub fn host(networks: usize, ports: usize) -> Host {
    host_with(networks, ports, |i| {
        (Mode::of(i), i.is_multiple_of(3), i % 7 == 3)
    })
}

/// A host of `networks` IPv4-only networks all in `mode`, each with DHCP like
/// libvirt's `default` network, and no ports: 100 NAT networks of these are
/// the 1,218 commands libvirt runs in issue 8's measurement.
pub fn uniform(networks: usize, mode: Mode) -> Host {
    host_with(networks, 0, |_| (mode, false, false))
}

/// Builds a host whose network `i` has the mode, dual-stack and TFTP
/// settings `shape(i)` gives.
fn host_with(count: usize, ports: usize, shape: impl Fn(usize) -> (Mode, bool, bool)) -> Host {
    assert!(count <= 65_536, "subnets 10.a.b.0/24 run out at 65,536");
    let networks: Vec<Network> = (0..count)
        .map(|i| {
            let (mode, dual_stack, tftp) = shape(i);
            Network {
                index: i,
                mode,
                bridge: format!("virbr{i}"),
                v4_prefix: format!("10.{}.{}", i / 256, i % 256),
                dual_stack,
                tftp,
            }
        })
        .collect();
    let network_docs = networks
        .iter()
        .map(|n| Document {
            name: format!("net{:05}.xml", n.index),
            xml: network_xml(n),
        })
        .collect();
    let port_docs = port_docs(&networks, ports);
    Host {
        networks,
        network_docs,
        port_docs,
    }
}

fn network_xml(n: &Network) -> String {
    let i = n.index;
    let mut x = String::from("<network>\n");
    let _ = writeln!(x, "  <name>net{i}</name>");
    let _ = writeln!(x, "  <bridge name='{}'/>", n.bridge);
    match n.mode {
        Mode::Nat if n.dual_stack && i.is_multiple_of(2) => {
            x.push_str("  <forward mode='nat'>\n    <nat ipv6='yes'/>\n  </forward>\n")
        }
        Mode::Nat => x.push_str("  <forward mode='nat'/>\n"),
        Mode::Route => x.push_str("  <forward mode='route'/>\n"),
        Mode::Open => x.push_str("  <forward mode='open'/>\n"),
        Mode::Isolated => {}
    }
    let p = &n.v4_prefix;
    let _ = writeln!(x, "  <ip address='{p}.1' prefix='24'>");
    if n.mode != Mode::Open {
        if n.tftp {
            x.push_str("    <tftp root='/srv/tftp'/>\n");
        }
        let _ = writeln!(
            x,
            "    <dhcp>\n      <range start='{p}.2' end='{p}.254'/>\n    </dhcp>"
        );
    }
    x.push_str("  </ip>\n");
    if n.dual_stack {
        let _ = writeln!(
            x,
            "  <ip family='ipv6' address='fd00:0:0:{i:x}::1' prefix='64'/>"
        );
    }
    x.push_str("</network>\n");
    x
}

/// Ports spread round-robin over the networks that get rules.
fn port_docs(networks: &[Network], ports: usize) -> Vec<Document> {
    let hosts: Vec<&Network> = networks.iter().filter(|n| n.mode != Mode::Open).collect();
    if hosts.is_empty() {
        return Vec::new();
    }
    (0..ports)
        .map(|j| {
            let n = hosts[j % hosts.len()];
            let guest = 10 + j / hosts.len();
            assert!(guest < 255, "too many ports per network");
            let mac = format!(
                "52:54:00:{:02x}:{:02x}:{:02x}",
                j >> 16,
                (j >> 8) & 0xff,
                j & 0xff
            );
            let xml = format!(
                "<filterbinding>\n  <owner><name>guest{j}</name></owner>\n  \
                 <portdev name='vnet{j}'/>\n  <mac address='{mac}'/>\n  \
                 <filterref filter='clean-traffic'>\n    \
                 <parameter name='IP' value='{}.{guest}'/>\n  </filterref>\n\
                 </filterbinding>\n",
                n.v4_prefix
            );
            Document {
                name: format!("port{j:05}.xml"),
                xml,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_has_every_mode_and_a_third_dual_stack() {
        let h = host(100, 0);
        for mode in [Mode::Nat, Mode::Route, Mode::Isolated, Mode::Open] {
            assert!(h.networks.iter().any(|n| n.mode == mode), "{mode:?}");
        }
        assert_eq!(h.networks.iter().filter(|n| n.dual_stack).count(), 34);
        assert!(h.network_docs[0].xml.contains("virbr0"));
        assert!(h.network_docs[5].xml.contains("mode='route'"));
    }

    #[test]
    fn subnets_and_bridges_are_unique() {
        let h = host(1000, 0);
        let mut subnets: Vec<_> = h.networks.iter().map(Network::subnet).collect();
        subnets.sort();
        subnets.dedup();
        assert_eq!(subnets.len(), 1000);
        assert_eq!(h.networks[257].subnet(), "10.1.1.0/24");
        assert_eq!(h.networks[257].bridge, "virbr257");
    }

    #[test]
    fn ports_bind_clean_traffic_in_their_networks_subnet() {
        let h = host(10, 25);
        assert_eq!(h.port_docs.len(), 25);
        let first = &h.port_docs[0].xml;
        assert!(first.contains("filter='clean-traffic'"), "{first}");
        assert!(first.contains("value='10.0.0.10'"), "{first}");
        assert!(h.port_docs[9].xml.contains("value='10.0.0.11'"));
        let nat = uniform(3, Mode::Nat);
        assert!(nat
            .network_docs
            .iter()
            .all(|d| d.xml.contains("mode='nat'")));
        assert!(nat.network_docs.iter().all(|d| !d.xml.contains("ipv6")));
    }
}
