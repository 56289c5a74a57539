//! libvirt's decisions for one network, independent of tables and chains.
//!
//! Both layouts install the same policy; they differ only in where the rules
//! go and how interfaces are matched. This module answers the questions they
//! share: does the network get rules at all, which `<ip>`s are masqueraded and
//! which are routed, what the NAT statement is, and which `<ip>` the DHCP,
//! TFTP and checksum rules belong to.

use ipnet::IpNet;
use ir::{Ifname, IpFamily, Nat, Provenance, Source};

use super::LowerError;
use crate::network::{ForwardMode, IpDef, NatDef, Network};

/// What libvirt does for one network that gets firewall rules.
#[derive(Debug)]
pub(crate) struct Plan<'a> {
    /// The network itself.
    pub net: &'a Network,
    /// `<bridge name=…>`.
    pub bridge: &'a Ifname,
    /// `<forward dev=…>`, used by the per-`<ip>` rules only.
    pub dev: Option<&'a Ifname>,
    /// Whether the general IPv6 rules are added (IPv6 `<ip>` or `ipv6='yes'`).
    pub ipv6: bool,
    /// The per-`<ip>` rule sets, in document order.
    pub subnets: Vec<Subnet<'a>>,
}

/// The rules one `<ip>` gets.
#[derive(Debug)]
pub(crate) struct Subnet<'a> {
    /// The `<ip>` element.
    pub ip: &'a IpDef,
    /// The subnet, host bits cleared.
    pub net: IpNet,
    /// IPv4 or IPv6.
    pub family: IpFamily,
    /// Masquerade or routing set.
    pub treatment: Treatment,
}

/// Which of libvirt's two per-`<ip>` rule sets applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Treatment {
    /// Forwarding accepts plus source NAT.
    Masquerade(NatPair),
    /// Forwarding accepts only.
    Route,
}

/// The NAT statements of a masquerade set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NatPair {
    /// For the rule without a protocol match.
    pub plain: Nat,
    /// For the udp and tcp rules (with the source port range).
    pub ported: Nat,
}

impl<'a> Plan<'a> {
    /// The plan for `net`, or `None` for modes libvirt does not firewall.
    pub fn of(net: &'a Network) -> Result<Option<Plan<'a>>, LowerError> {
        let mode = net.forward.mode;
        if !mode.is_firewalled() {
            return Ok(None);
        }
        let bridge = net.bridge.as_ref().ok_or_else(|| LowerError {
            at: net.source.clone(),
            message: format!(
                "network '{}' in mode {} needs <bridge name=…> for its firewall rules",
                net.name,
                mode_name(mode)
            ),
        })?;
        let subnets = net
            .ips
            .iter()
            .filter_map(|ip| {
                treatment(net, ip).map(|treatment| Subnet {
                    ip,
                    net: ip.subnet(),
                    family: ip.family(),
                    treatment,
                })
            })
            .collect();
        Ok(Some(Plan {
            net,
            bridge,
            dev: net.forward.dev.as_ref(),
            ipv6: net.wants_ipv6_rules(),
            subnets,
        }))
    }

    /// The plans of every network that gets rules, in input order.
    pub fn all(networks: &'a [Network]) -> Result<Vec<Plan<'a>>, LowerError> {
        let mut plans = Vec::new();
        for net in networks {
            if let Some(p) = Plan::of(net)? {
                plans.push(p);
            }
        }
        Ok(plans)
    }

    /// The `<network>` element, origin of the host-access rules.
    pub fn network_origin(&self) -> Provenance {
        origin(&self.net.source)
    }

    /// The `<forward>` element (or `<network>` without one), origin of the
    /// bridge-wide forwarding rules.
    pub fn forward_origin(&self) -> Provenance {
        origin(&self.net.forward.source)
    }

    /// The first IPv4 `<ip>` with DHCP ranges or hosts: libvirt serves DHCP on
    /// that one only, and adds the checksum fix for it.
    pub fn dhcp_v4(&self) -> Option<&'a IpDef> {
        self.net
            .ips
            .iter()
            .find(|ip| ip.family() == IpFamily::V4 && ip.dhcp)
    }

    /// The `<ip>` whose `<tftp>` makes libvirt open TFTP: only the first IPv4
    /// `<ip>` with DHCP or TFTP is looked at, so a TFTP root on a later one
    /// opens nothing.
    pub fn tftp_v4(&self) -> Option<&'a IpDef> {
        self.net
            .ips
            .iter()
            .find(|ip| ip.family() == IpFamily::V4 && (ip.dhcp || ip.tftp_root.is_some()))
            .filter(|ip| ip.tftp_root.is_some())
    }

    /// Whether the network has an IPv6 `<ip>` (DNS and DHCPv6 over IPv6).
    pub fn has_v6_ip(&self) -> bool {
        self.net.ips.iter().any(|ip| ip.family() == IpFamily::V6)
    }

    /// Origin of the checksum fix: the DHCP `<ip>`, else the `<network>`
    /// (libvirt's nft backend adds the tc fix even without DHCP).
    pub fn checksum_origin(&self) -> Provenance {
        self.dhcp_v4()
            .map(|ip| origin(&ip.source))
            .unwrap_or_else(|| self.network_origin())
    }
}

impl Subnet<'_> {
    /// The `<ip>` element, origin of the subnet's rules.
    pub fn origin(&self) -> Provenance {
        origin(&self.ip.source)
    }

    /// The destinations libvirt never NATs: IPv4 limited broadcast and local
    /// multicast, IPv6 link-local multicast. In emission order.
    pub fn nat_exempt(&self) -> Vec<IpNet> {
        match self.family {
            IpFamily::V4 => vec![
                "255.255.255.255/32".parse().expect("valid prefix"),
                "224.0.0.0/24".parse().expect("valid prefix"),
            ],
            IpFamily::V6 => vec!["ff02::/16".parse().expect("valid prefix")],
        }
    }
}

pub(crate) fn origin(source: &Source) -> Provenance {
    Provenance::Input(source.clone())
}

fn mode_name(mode: ForwardMode) -> &'static str {
    ForwardMode::NAMED
        .iter()
        .find(|(_, m)| *m == mode)
        .map(|(n, _)| *n)
        .unwrap_or("isolated")
}

/// libvirt's decision table: masquerade IPv4 (and IPv6 with `<nat
/// ipv6='yes'/>`) in nat mode, route everything else in nat and route modes,
/// nothing per `<ip>` for isolated networks.
fn treatment(net: &Network, ip: &IpDef) -> Option<Treatment> {
    match net.forward.mode {
        ForwardMode::Nat if ip.family() == IpFamily::V4 || net.forward.nat.ipv6 => Some(
            Treatment::Masquerade(nat_pair(&net.forward.nat, ip.family())),
        ),
        ForwardMode::Nat | ForwardMode::Route => Some(Treatment::Route),
        _ => None,
    }
}

/// SNAT to `<address>` when it is of the subnet's family, masquerade
/// otherwise; the protocol rules add `<port>` (default 1024-65535).
fn nat_pair(nat: &NatDef, family: IpFamily) -> NatPair {
    let ports = Some(nat.ports.unwrap_or(NatDef::DEFAULT_PORTS));
    let addr = nat
        .address
        .filter(|a| a.is_ipv4() == (family == IpFamily::V4));
    match addr {
        Some(addr) => NatPair {
            plain: Nat::Snat { addr, ports: None },
            ported: Nat::Snat { addr, ports },
        },
        None => NatPair {
            plain: Nat::Masquerade { ports: None },
            ported: Nat::Masquerade { ports },
        },
    }
}
