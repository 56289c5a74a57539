//! Typed `<network>` definitions: what the front end produces and lowering reads.
//!
//! Only what matters to the firewall is kept; everything else libvirt's
//! network XML can say (DNS records, MTU, bandwidth, ...) is dropped by the
//! front end. Each element keeps the [`Source`] it was read from, which
//! becomes the provenance of the rules derived from it.

use ipnet::IpNet;
use ir::{AddrRange, Ifname, IpFamily, PortRange, Source};

/// A libvirt virtual network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    /// `<name>`.
    pub name: String,
    /// `<bridge name=…>`; required for every mode that gets rules.
    pub bridge: Option<Ifname>,
    /// `<forward>`; [`ForwardMode::Isolated`] when absent.
    pub forward: Forward,
    /// `<network ipv6='yes'>`: IPv6 forwarding rules even without an IPv6 `<ip>`.
    pub ipv6: bool,
    /// Every `<ip>`, in document order.
    pub ips: Vec<IpDef>,
    /// The `<network>` element.
    pub source: Source,
}

/// How the network reaches the outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ForwardMode {
    /// No `<forward>`: guests reach only each other and the host.
    Isolated,
    /// `nat` (also `<forward/>` without a mode): masquerade to the outside.
    Nat,
    /// `route`: routed without NAT.
    Route,
    /// `open`: libvirt adds no rules at all.
    Open,
    /// `bridge`: an existing host bridge, no libvirt rules.
    Bridge,
    /// `private` (macvtap), no rules.
    Private,
    /// `vepa` (macvtap), no rules.
    Vepa,
    /// `passthrough` (macvtap), no rules.
    Passthrough,
    /// `hostdev` (SR-IOV), no rules.
    Hostdev,
}

impl ForwardMode {
    /// Every mode with the spelling libvirt's XML uses (`Isolated` has none:
    /// it is the absence of `<forward>`).
    pub const NAMED: [(&'static str, ForwardMode); 8] = [
        ("nat", ForwardMode::Nat),
        ("route", ForwardMode::Route),
        ("open", ForwardMode::Open),
        ("bridge", ForwardMode::Bridge),
        ("private", ForwardMode::Private),
        ("vepa", ForwardMode::Vepa),
        ("passthrough", ForwardMode::Passthrough),
        ("hostdev", ForwardMode::Hostdev),
    ];

    /// Parses libvirt's spelling of a mode.
    pub fn from_name(name: &str) -> Option<ForwardMode> {
        Self::NAMED
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, m)| *m)
    }

    /// Whether libvirt installs firewall rules for networks in this mode.
    pub fn is_firewalled(self) -> bool {
        matches!(
            self,
            ForwardMode::Isolated | ForwardMode::Nat | ForwardMode::Route
        )
    }
}

/// `<forward>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    /// The mode.
    pub mode: ForwardMode,
    /// `dev=` (or the first `<interface dev>`): the only uplink guests may use.
    pub dev: Option<Ifname>,
    /// `<nat>` settings; meaningful in [`ForwardMode::Nat`].
    pub nat: NatDef,
    /// The `<forward>` element, or the `<network>` element when absent.
    pub source: Source,
}

/// `<forward><nat>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NatDef {
    /// `<nat ipv6='yes'>`: masquerade IPv6 subnets too (otherwise they are routed).
    pub ipv6: bool,
    /// `<address start end>`: SNAT to this range instead of masquerading.
    pub address: Option<AddrRange>,
    /// `<port start end>`: source ports to map into; libvirt's default is 1024-65535.
    pub ports: Option<PortRange>,
}

impl NatDef {
    /// The port range libvirt uses when `<port>` is absent.
    pub const DEFAULT_PORTS: PortRange = PortRange {
        start: 1024,
        end: 65535,
    };
}

/// `<ip>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpDef {
    /// The host's address on the bridge with the subnet's prefix length
    /// (`192.168.122.1/24`); `trunc()` gives the subnet.
    pub address: IpNet,
    /// `<dhcp>` with at least one `<range>` or `<host>`.
    pub dhcp: bool,
    /// `<dhcp><range start end>`, in order.
    pub dhcp_ranges: Vec<AddrRange>,
    /// `<tftp root=…>`.
    pub tftp_root: Option<String>,
    /// The `<ip>` element.
    pub source: Source,
}

impl IpDef {
    /// The subnet, host bits cleared (`192.168.122.0/24`).
    pub fn subnet(&self) -> IpNet {
        self.address.trunc()
    }

    /// IPv4 or IPv6.
    pub fn family(&self) -> IpFamily {
        IpFamily::of_net(&self.address)
    }
}

impl Network {
    /// Whether libvirt adds its general IPv6 rules: an IPv6 `<ip>` or `ipv6='yes'`.
    pub fn wants_ipv6_rules(&self) -> bool {
        self.ipv6 || self.ips.iter().any(|ip| ip.family() == IpFamily::V6)
    }
}
