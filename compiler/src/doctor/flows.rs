//! The traffic a set of networks must let through the host, as flows of
//! realistic packets: guests reaching the outside and its replies (and the
//! outside reaching guests on routed and open networks), guests reaching
//! each other across their bridge when br_netfilter sends bridged frames
//! through the IP hooks, and guests using the host's DHCP, DNS and TFTP.
//!
//! Each flow carries the packet it sends at every hook it traverses and the
//! narrowest matches ([`Flow::allow`]) that admit it, which is all a fix
//! may allow.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use ir::eval::Packet;
use ir::{CtStates, Field, Hook, Ifname, IpFamily, L4Proto, Match, PortRange, Value};
use rules::network::{ForwardMode, IpDef, Network};

use super::finding::{Flow, FlowKind};

/// The interface name a flow uses for the host's uplink when neither the
/// network's `<forward dev>` nor the host's default route names one.
pub const PLACEHOLDER_UPLINK: &str = "fwc-uplink";

/// The host's interfaces towards the outside, per family (the devices of
/// its default routes), when known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Uplinks {
    /// The IPv4 default route's device.
    pub v4: Option<String>,
    /// The IPv6 default route's device.
    pub v6: Option<String>,
}

/// What the flows depend on in the host itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Host {
    /// The interfaces towards the outside.
    pub uplinks: Uplinks,
    /// Whether bridged IPv4 / IPv6 frames cross the IP hooks
    /// (`net.bridge.bridge-nf-call-iptables` / `-ip6tables` with
    /// br_netfilter loaded): then IP forward chains, a foreign `FORWARD`
    /// drop included, judge traffic between guests on one bridge.
    pub bridge_nf: BridgeNf,
}

/// br_netfilter's per-family switches (both off when it is not loaded).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BridgeNf {
    /// `net.bridge.bridge-nf-call-iptables`.
    pub v4: bool,
    /// `net.bridge.bridge-nf-call-ip6tables`.
    pub v6: bool,
}

impl Host {
    /// The current namespace's uplinks and br_netfilter switches.
    pub fn of_current() -> Host {
        Host {
            uplinks: Uplinks::of_host(),
            bridge_nf: BridgeNf::of_current(),
        }
    }
}

impl BridgeNf {
    /// The switches of the current namespace, read from
    /// `/proc/sys/net/bridge` (absent without br_netfilter: both off).
    pub fn of_current() -> BridgeNf {
        let on = |name: &str| {
            std::fs::read_to_string(format!("/proc/sys/net/bridge/{name}"))
                .is_ok_and(|v| v.trim() == "1")
        };
        BridgeNf {
            v4: on("bridge-nf-call-iptables"),
            v6: on("bridge-nf-call-ip6tables"),
        }
    }

    fn of(self, family: IpFamily) -> bool {
        match family {
            IpFamily::V4 => self.v4,
            IpFamily::V6 => self.v6,
        }
    }
}

impl Uplinks {
    /// The devices of the current namespace's default routes, from
    /// `ip -j route show default` (and `ip -6 ...`); none when `ip` is
    /// missing or there is no default route.
    pub fn of_host() -> Uplinks {
        let dev = |six: bool| -> Option<String> {
            let ip = crate::netns::which("ip")?;
            let mut cmd = std::process::Command::new(ip);
            if six {
                cmd.arg("-6");
            }
            let out = cmd.args(["-j", "route", "show", "default"]).output().ok()?;
            let routes: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
            let dev = routes.as_array()?.first()?.get("dev")?.as_str()?;
            Ifname::new(dev).ok().map(|n| n.to_string())
        };
        Uplinks {
            v4: dev(false),
            v6: dev(true),
        }
    }

    fn of(&self, family: IpFamily) -> Option<&str> {
        match family {
            IpFamily::V4 => self.v4.as_deref(),
            IpFamily::V6 => self.v6.as_deref().or(self.v4.as_deref()),
        }
    }
}

/// Every flow `networks` need, in a stable order: by network name, then
/// kind, then family.
pub fn flows(networks: &[Network], host: &Host) -> Vec<Flow> {
    let mut out = Vec::new();
    for n in networks {
        let Some(bridge) = &n.bridge else { continue };
        if !serves_guests(n.forward.mode) {
            continue;
        }
        for family in [IpFamily::V4, IpFamily::V6] {
            let Some(ip) = n.ips.iter().find(|ip| ip.family() == family) else {
                continue;
            };
            let net = Net::new(n, bridge, ip, &host.uplinks);
            net.forwarding(&mut out);
            if host.bridge_nf.of(family) {
                net.between_guests(&mut out);
            }
            net.to_host(n, family, &mut out);
        }
    }
    out.sort_by(|a, b| (&a.network, a.kind, a.family).cmp(&(&b.network, b.kind, b.family)));
    out
}

/// Whether the host serves guests of a network in this mode on a bridge
/// of its own (DHCP, DNS), which every mode with libvirt's rules and open
/// networks do; bridge and macvtap modes use devices the host does not
/// serve.
fn serves_guests(mode: ForwardMode) -> bool {
    matches!(
        mode,
        ForwardMode::Isolated | ForwardMode::Nat | ForwardMode::Route | ForwardMode::Open
    )
}

/// One `<ip>` of a network, with the addresses its flows use.
struct Net<'a> {
    network: &'a Network,
    bridge: &'a Ifname,
    family: IpFamily,
    subnet: IpNet,
    host: IpAddr,
    guest: IpAddr,
    uplink: String,
    /// The `<forward dev>`, which alone narrows the uplink.
    dev: Option<&'a Ifname>,
    tftp: bool,
    dhcp: bool,
}

/// A documentation address beyond the host (RFC 5737 / RFC 3849).
fn outside(family: IpFamily) -> IpAddr {
    match family {
        IpFamily::V4 => IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)),
        IpFamily::V6 => IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
    }
}

/// The address `offset` after a subnet's network address.
fn nth(net: &IpNet, offset: u128) -> IpAddr {
    match net.network() {
        IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a).wrapping_add(offset as u32))),
        IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a).wrapping_add(offset))),
    }
}

impl<'a> Net<'a> {
    fn new(n: &'a Network, bridge: &'a Ifname, ip: &IpDef, uplinks: &Uplinks) -> Net<'a> {
        let family = ip.family();
        let subnet = ip.subnet();
        let host = ip.address.addr();
        // A guest: the first address DHCP hands out, else the first after
        // the network address that is not the host's.
        let guest = ip
            .dhcp_ranges
            .first()
            .map(|r| r.start)
            .filter(|a| *a != host)
            .unwrap_or_else(|| {
                let second = nth(&subnet, 2);
                if second == host {
                    nth(&subnet, 3)
                } else {
                    second
                }
            });
        let dev = n.forward.dev.as_ref();
        let uplink = dev
            .map(|d| d.to_string())
            .or_else(|| uplinks.of(family).map(str::to_owned))
            .unwrap_or_else(|| PLACEHOLDER_UPLINK.to_owned());
        Net {
            network: n,
            bridge,
            family,
            subnet,
            host,
            guest,
            uplink,
            dev,
            tftp: ip.tftp_root.is_some(),
            dhcp: ip.dhcp,
        }
    }

    fn flow(
        &self,
        kind: FlowKind,
        what: &str,
        steps: Vec<(Hook, Packet)>,
        allow: Vec<Match>,
    ) -> Flow {
        Flow {
            kind,
            network: self.network.name.clone(),
            bridge: self.bridge.clone(),
            family: self.family,
            description: format!(
                "{what} ({}: {} {})",
                self.network.name, self.bridge, self.subnet
            ),
            steps,
            allow,
        }
    }

    fn iif(&self) -> Match {
        Match::eq(Field::IifName, Value::Ifname(self.bridge.clone()))
    }

    fn oif(&self) -> Match {
        Match::eq(Field::OifName, Value::Ifname(self.bridge.clone()))
    }

    fn saddr(&self, net: IpNet) -> Match {
        Match::eq(Field::Saddr(self.family), Value::Prefix(net))
    }

    fn daddr(&self, net: IpNet) -> Match {
        Match::eq(Field::Daddr(self.family), Value::Prefix(net))
    }

    /// The host's own address as a full-length prefix.
    fn host_net(&self) -> IpNet {
        IpNet::from(self.host)
    }

    /// Guest ↔ outside flows of NAT, routed and open networks.
    fn forwarding(&self, out: &mut Vec<Flow>) {
        let mode = self.network.forward.mode;
        if !matches!(
            mode,
            ForwardMode::Nat | ForwardMode::Route | ForwardMode::Open
        ) {
            return;
        }
        let dev_match = |field| self.dev.map(|d| Match::eq(field, Value::Ifname(d.clone())));
        let far = outside(self.family);
        let mut new = Packet {
            saddr: Some(self.guest),
            daddr: Some(far),
            ..Packet::default()
        }
        .l4(L4Proto::Tcp, 443)
        .ct(CtStates {
            new: true,
            ..CtStates::default()
        });
        new.iif = Some(self.bridge.to_string());
        let mut allow = vec![self.iif()];
        allow.extend(dev_match(Field::OifName));
        allow.push(self.saddr(self.subnet));
        out.push(self.flow(
            FlowKind::GuestToOutside,
            "guest → outside, tcp/443",
            self.forwarded(&new, &self.uplink),
            allow,
        ));

        // The replies: de-NATed to the guest's address by the time filter
        // chains see them (conntrack restores it before the forward hook).
        let mut reply = Packet {
            iif: Some(self.uplink.clone()),
            saddr: Some(far),
            daddr: Some(self.guest),
            proto: Some(L4Proto::Tcp),
            sport: Some(443),
            dport: Some(40000),
            ct: CtStates::default(),
            ..Packet::default()
        };
        reply.ct.established = true;
        let mut allow = vec![];
        allow.extend(dev_match(Field::IifName));
        allow.extend([
            self.oif(),
            self.daddr(self.subnet),
            Match::eq(
                Field::CtState,
                Value::CtStates(CtStates::RELATED_ESTABLISHED),
            ),
        ]);
        out.push(self.flow(
            FlowKind::OutsideReplies,
            "outside → guest replies (ct established), tcp/443",
            self.forwarded(&reply, &self.bridge.to_string()),
            allow,
        ));

        if matches!(mode, ForwardMode::Route | ForwardMode::Open) {
            let mut inbound = Packet {
                iif: Some(self.uplink.clone()),
                saddr: Some(far),
                daddr: Some(self.guest),
                ..Packet::default()
            }
            .l4(L4Proto::Tcp, 443);
            inbound.ct.new = true;
            let mut allow = vec![];
            allow.extend(dev_match(Field::IifName));
            allow.extend([self.oif(), self.daddr(self.subnet)]);
            out.push(self.flow(
                FlowKind::OutsideToGuest,
                "outside → guest, tcp/443",
                self.forwarded(&inbound, &self.bridge.to_string()),
                allow,
            ));
        }
    }

    /// Two guests on the bridge: with br_netfilter, their frames cross
    /// prerouting, forward and postrouting with the bridge as both input
    /// and output interface (the ports are physdev matters), replies too.
    fn between_guests(&self, out: &mut Vec<Flow>) {
        let other = [3, 4]
            .map(|k| nth(&self.subnet, k))
            .into_iter()
            .find(|a| *a != self.host && *a != self.guest)
            .expect("two of three addresses differ from two");
        let mut p = Packet {
            iif: Some(self.bridge.to_string()),
            saddr: Some(self.guest),
            daddr: Some(other),
            ..Packet::default()
        }
        .l4(L4Proto::Tcp, 443);
        p.ct.new = true;
        out.push(self.flow(
            FlowKind::GuestToGuest,
            "guest → guest on the bridge (br_netfilter), tcp/443",
            self.forwarded(&p, &self.bridge.to_string()),
            vec![self.iif(), self.oif()],
        ));
    }

    /// A forwarded packet at prerouting (no output interface yet), forward
    /// and postrouting.
    fn forwarded(&self, p: &Packet, oif: &str) -> Vec<(Hook, Packet)> {
        let mut routed = p.clone();
        routed.oif = Some(oif.to_owned());
        vec![
            (Hook::Prerouting, p.clone()),
            (Hook::Forward, routed.clone()),
            (Hook::Postrouting, routed),
        ]
    }

    /// A packet from a guest to the host, at prerouting and input.
    fn to_host_steps(p: Packet) -> Vec<(Hook, Packet)> {
        vec![(Hook::Prerouting, p.clone()), (Hook::Input, p)]
    }

    /// Guest → host services, and the host's DHCP answers.
    fn to_host(&self, n: &Network, family: IpFamily, out: &mut Vec<Flow>) {
        let udp = |port| dport(L4Proto::Udp, port);
        let packet = |saddr: IpAddr, daddr: IpAddr, proto, port| {
            let mut p = Packet {
                iif: Some(self.bridge.to_string()),
                saddr: Some(saddr),
                daddr: Some(daddr),
                ..Packet::default()
            }
            .l4(proto, port);
            p.ct.new = true;
            p
        };
        // DHCP is configured on the network's <ip> of this family.
        let dhcp = n.ips.iter().any(|ip| ip.family() == family && ip.dhcp) || self.dhcp;
        match family {
            IpFamily::V4 if dhcp => {
                let mut discover = packet(
                    IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    IpAddr::V4(Ipv4Addr::BROADCAST),
                    L4Proto::Udp,
                    67,
                );
                discover.sport = Some(68);
                out.push(self.flow(
                    FlowKind::Dhcp,
                    "guest → host DHCP, udp/67",
                    Self::to_host_steps(discover),
                    vec![self.iif(), udp(67)],
                ));
                // The host's offer and acknowledgement to the guest.
                let mut offer = Packet {
                    oif: Some(self.bridge.to_string()),
                    saddr: Some(self.host),
                    daddr: Some(self.guest),
                    ..Packet::default()
                }
                .l4(L4Proto::Udp, 68);
                offer.sport = Some(67);
                offer.ct.new = true;
                out.push(self.flow(
                    FlowKind::DhcpReply,
                    "host → guest DHCP reply, udp/68",
                    vec![(Hook::Output, offer.clone()), (Hook::Postrouting, offer)],
                    vec![self.oif(), udp(68)],
                ));
            }
            IpFamily::V6 if dhcp => {
                let link_local: IpAddr =
                    IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0x5054, 0xff, 0xfe00, 0x2));
                let all_servers = IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2));
                let mut solicit = packet(link_local, all_servers, L4Proto::Udp, 547);
                solicit.sport = Some(546);
                out.push(self.flow(
                    FlowKind::Dhcp6,
                    "guest → host DHCPv6, udp/547",
                    Self::to_host_steps(solicit),
                    vec![self.iif(), udp(547)],
                ));
            }
            _ => {}
        }
        let service = |kind, what, proto, port| {
            self.flow(
                kind,
                what,
                Self::to_host_steps(packet(self.guest, self.host, proto, port)),
                vec![
                    self.iif(),
                    self.saddr(self.subnet),
                    self.daddr(self.host_net()),
                    dport(proto, port),
                ],
            )
        };
        out.push(service(
            FlowKind::DnsUdp,
            "guest → host DNS, udp/53",
            L4Proto::Udp,
            53,
        ));
        out.push(service(
            FlowKind::DnsTcp,
            "guest → host DNS, tcp/53",
            L4Proto::Tcp,
            53,
        ));
        if self.tftp {
            out.push(service(
                FlowKind::Tftp,
                "guest → host TFTP, udp/69",
                L4Proto::Udp,
                69,
            ));
        }
    }
}

/// Destination port `port` of `proto`.
fn dport(proto: L4Proto, port: u16) -> Match {
    Match::eq(
        Field::Dport(proto),
        Value::Ports(PortRange {
            start: port,
            end: port,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::front::{parse, Document};
    use crate::source::SourceFile;
    use ir::eval::evaluate;

    fn network(xml: &str) -> Network {
        match parse(&SourceFile::new("net.xml", xml)).unwrap() {
            Document::Network(n) => n,
            other => panic!("not a network: {other:?}"),
        }
    }

    const NAT: &str = "<network><name>default</name><bridge name='virbr0'/><forward mode='nat'/>\
        <ip address='192.168.122.1' netmask='255.255.255.0'><dhcp><range start='192.168.122.2' end='192.168.122.254'/></dhcp></ip></network>";

    fn kinds(f: &[Flow]) -> Vec<(FlowKind, IpFamily)> {
        f.iter().map(|f| (f.kind, f.family)).collect()
    }

    #[test]
    fn a_nat_network_needs_forwarding_replies_dhcp_and_dns() {
        let f = flows(&[network(NAT)], &Host::default());
        assert_eq!(
            kinds(&f),
            [
                FlowKind::GuestToOutside,
                FlowKind::OutsideReplies,
                FlowKind::Dhcp,
                FlowKind::DhcpReply,
                FlowKind::DnsUdp,
                FlowKind::DnsTcp,
            ]
            .map(|k| (k, IpFamily::V4))
        );
        let out = &f[0];
        assert_eq!(
            out.description,
            "guest → outside, tcp/443 (default: virbr0 192.168.122.0/24)"
        );
        let (hook, p) = &out.steps[1];
        assert_eq!(*hook, Hook::Forward);
        assert_eq!(p.iif.as_deref(), Some("virbr0"));
        assert_eq!(p.oif.as_deref(), Some(PLACEHOLDER_UPLINK));
        assert_eq!(p.saddr, Some("192.168.122.2".parse().unwrap()));
        assert_eq!(p.daddr, Some("198.51.100.1".parse().unwrap()));
        assert!(p.ct.new);
        assert_eq!(out.steps[0].1.oif, None, "no route yet at prerouting");
        let allow: Vec<String> = out.allow.iter().map(|m| m.to_string()).collect();
        assert_eq!(allow, ["iifname \"virbr0\"", "ip saddr 192.168.122.0/24"]);
        let replies = &f[1];
        assert!(replies.steps[1].1.ct.established && !replies.steps[1].1.ct.new);
        let allow: Vec<String> = replies.allow.iter().map(|m| m.to_string()).collect();
        assert_eq!(
            allow,
            [
                "oifname \"virbr0\"",
                "ip daddr 192.168.122.0/24",
                "ct state related,established"
            ]
        );
        let dns: Vec<String> = f[4].allow.iter().map(|m| m.to_string()).collect();
        assert_eq!(
            dns,
            [
                "iifname \"virbr0\"",
                "ip saddr 192.168.122.0/24",
                "ip daddr 192.168.122.1/32",
                "udp dport 53"
            ]
        );
    }

    #[test]
    fn guests_on_one_bridge_need_each_other_only_through_br_netfilter() {
        let iso = "<network><name>iso</name><bridge name='virbr1'/>\
             <ip address='10.0.0.1' netmask='255.255.255.0'/>\
             <ip family='ipv6' address='fd00::1' prefix='64'/></network>";
        let of = |bridge_nf| {
            let host = Host {
                bridge_nf,
                ..Host::default()
            };
            flows(&[network(iso)], &host)
                .into_iter()
                .filter(|f| f.kind == FlowKind::GuestToGuest)
                .collect::<Vec<_>>()
        };
        assert!(
            of(BridgeNf::default()).is_empty(),
            "bridged frames skip IP hooks"
        );
        let v4_only = of(BridgeNf {
            v4: true,
            v6: false,
        });
        assert_eq!(v4_only.len(), 1);
        let f = &v4_only[0];
        assert_eq!(f.family, IpFamily::V4);
        let hooks: Vec<Hook> = f.steps.iter().map(|(h, _)| *h).collect();
        assert_eq!(hooks, [Hook::Prerouting, Hook::Forward, Hook::Postrouting]);
        let p = &f.steps[1].1;
        assert_eq!(
            (p.iif.as_deref(), p.oif.as_deref()),
            (Some("virbr1"), Some("virbr1"))
        );
        assert_eq!(p.saddr, Some("10.0.0.2".parse().unwrap()));
        assert_eq!(p.daddr, Some("10.0.0.3".parse().unwrap()));
        let allow: Vec<String> = f.allow.iter().map(|m| m.to_string()).collect();
        assert_eq!(allow, ["iifname \"virbr1\"", "oifname \"virbr1\""]);
        let both = of(BridgeNf { v4: true, v6: true });
        let families: Vec<IpFamily> = both.iter().map(|f| f.family).collect();
        assert_eq!(families, [IpFamily::V4, IpFamily::V6]);
    }

    #[test]
    fn the_uplink_is_the_forward_dev_then_the_default_route() {
        let dev = NAT.replace("<forward mode='nat'/>", "<forward mode='nat' dev='eth1'/>");
        let up = Host {
            uplinks: Uplinks {
                v4: Some("eth0".into()),
                v6: None,
            },
            ..Host::default()
        };
        let f = flows(&[network(&dev)], &up);
        assert_eq!(f[0].steps[1].1.oif.as_deref(), Some("eth1"));
        assert!(f[0]
            .allow
            .iter()
            .any(|m| m.to_string() == "oifname \"eth1\""));
        let f = flows(&[network(NAT)], &up);
        assert_eq!(f[0].steps[1].1.oif.as_deref(), Some("eth0"));
        assert!(
            !f[0].allow.iter().any(|m| m.field == Field::OifName),
            "without <forward dev> any uplink will do"
        );
    }

    #[test]
    fn isolated_networks_only_reach_the_host_and_routed_ones_are_reachable() {
        let iso = network(
            "<network><name>iso</name><bridge name='virbr1'/>\
             <ip address='10.0.0.1' netmask='255.255.255.0'><tftp root='/srv'/></ip></network>",
        );
        let f = flows(&[iso], &Host::default());
        assert_eq!(
            kinds(&f),
            [FlowKind::DnsUdp, FlowKind::DnsTcp, FlowKind::Tftp].map(|k| (k, IpFamily::V4))
        );
        assert_eq!(
            f[0].steps[1].1.saddr,
            Some("10.0.0.2".parse().unwrap()),
            "a guest address that is not the host's"
        );
        let routed = network(
            "<network><name>r</name><bridge name='virbr2'/><forward mode='route'/>\
             <ip family='ipv6' address='fd00::1' prefix='64'><dhcp><range start='fd00::10' end='fd00::20'/></dhcp></ip></network>",
        );
        let f = flows(&[routed], &Host::default());
        assert_eq!(
            kinds(&f),
            [
                FlowKind::GuestToOutside,
                FlowKind::OutsideReplies,
                FlowKind::OutsideToGuest,
                FlowKind::Dhcp6,
                FlowKind::DnsUdp,
                FlowKind::DnsTcp,
            ]
            .map(|k| (k, IpFamily::V6))
        );
        assert_eq!(f[0].steps[0].1.saddr, Some("fd00::10".parse().unwrap()));
        assert_eq!(f[0].steps[0].1.daddr, Some("2001:db8::1".parse().unwrap()));
        let dhcp6 = &f[3];
        assert_eq!(dhcp6.steps[1].1.dport, Some(547));
        assert_eq!(dhcp6.steps[1].1.daddr, Some("ff02::1:2".parse().unwrap()));
    }

    #[test]
    fn bridge_mode_networks_need_nothing() {
        let br = network(
            "<network><name>host</name><bridge name='br0'/><forward mode='bridge'/></network>",
        );
        assert!(flows(&[br], &Host::default()).is_empty());
    }

    /// Every flow's packets pass its own `allow` matches at the hooks where
    /// the matched fields exist: a fix built from them lets the flow through.
    #[test]
    fn allow_matches_admit_the_flows_packets() {
        let f = flows(&[network(NAT)], &Host::default());
        for flow in &f {
            let mut rs = ir::Ruleset::default();
            let t = rs.table_mut(
                ir::Family::Inet,
                &ir::Name::new("t").unwrap(),
                ir::Ownership::Owned,
            );
            let (hook, p) = flow
                .steps
                .iter()
                .find(|(h, _)| matches!(h, Hook::Forward | Hook::Input | Hook::Output))
                .unwrap();
            let c = t.add_chain(
                ir::Name::new("c").unwrap(),
                ir::ChainKind::Base {
                    hook: *hook,
                    ty: ir::ChainType::Filter,
                    priority: 0,
                    policy: ir::Policy::Drop,
                },
                ir::Ownership::Owned,
            );
            t.chain_mut(c).rules.push(ir::Rule::new(
                ir::Provenance::Layout("test"),
                flow.allow.clone(),
                Some(ir::Verdict::Accept),
            ));
            assert_eq!(
                evaluate(&rs, *hook, p).decision,
                ir::eval::Decision::Accept,
                "{}",
                flow.description
            );
        }
    }
}
