//! Scalar values as artifacts spell them, shared by every reader.

use std::net::IpAddr;

use ipnet::IpNet;
use ir::{AddrRange, Hook, IpFamily, L4Proto, PortRange};

/// Every protocol the IR names.
pub(crate) const L4PROTOS: [L4Proto; 9] = L4Proto::ALL;

/// A hook by nft's name of it.
pub(crate) fn hook(text: &str) -> Result<Hook, String> {
    Ok(match text {
        "prerouting" => Hook::Prerouting,
        "input" => Hook::Input,
        "forward" => Hook::Forward,
        "output" => Hook::Output,
        "postrouting" => Hook::Postrouting,
        "ingress" => Hook::Ingress,
        other => return Err(format!("unknown hook '{other}'")),
    })
}

/// A protocol by name (nft's and iptables' names, including iptables-save's
/// `ipv6-icmp`) or IANA number.
pub(crate) fn proto(text: &str) -> Result<L4Proto, String> {
    let lower = text.to_ascii_lowercase();
    let lower = match lower.as_str() {
        "ipv6-icmp" | "icmp6" => "icmpv6",
        other => other,
    };
    L4PROTOS
        .into_iter()
        .find(|p| p.name() == lower || lower.parse::<u8>().ok() == Some(p.number()))
        .ok_or_else(|| format!("unknown protocol '{text}'"))
}

/// `N`, `N-M` or (iptables) `N:M`.
pub(crate) fn ports(text: &str) -> Result<PortRange, String> {
    let err = || format!("'{text}' is not a port or port range");
    let (a, b) = match text.split_once(['-', ':']) {
        Some((a, b)) => (a, b),
        None => (text, text),
    };
    let a: u16 = a.parse().map_err(|_| err())?;
    let b: u16 = b.parse().map_err(|_| err())?;
    PortRange::new(a, b).map_err(|e| e.to_string())
}

/// A number or range of numbers, decimal or `0x` hexadecimal: `N`, `N-M`.
pub(crate) fn int(text: &str) -> Result<ir::IntRange, String> {
    let one = |s: &str| -> Result<u64, String> {
        match s.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => s.parse(),
        }
        .map_err(|_| format!("'{text}' is not a number or range"))
    };
    let (a, b) = text.split_once('-').unwrap_or((text, text));
    ir::IntRange::new(one(a)?, one(b)?).map_err(|e| e.to_string())
}

/// The field nft names `PROTO FIELD` (`ip saddr`, `tcp dport`,
/// `arp saddr ip`, `vlan id`, ...), as fwc's nft emitters write them.
pub(crate) fn payload_field(proto: &str, field: &str) -> Result<ir::Field, String> {
    use ir::{ArpField, Field};
    let ip = match proto {
        "ip" => Some(IpFamily::V4),
        "ip6" => Some(IpFamily::V6),
        _ => None,
    };
    let icmp = match proto {
        "icmp" => Some(IpFamily::V4),
        "icmpv6" => Some(IpFamily::V6),
        _ => None,
    };
    Ok(match (proto, field, ip, icmp) {
        (_, "saddr", Some(f), _) => Field::Saddr(f),
        (_, "daddr", Some(f), _) => Field::Daddr(f),
        (_, "dscp", Some(f), _) => Field::Dscp(f),
        (_, "type", _, Some(f)) => Field::IcmpType(f),
        (_, "code", _, Some(f)) => Field::IcmpCode(f),
        ("ether", "saddr", ..) => Field::EtherSaddr,
        ("ether", "daddr", ..) => Field::EtherDaddr,
        ("ether", "type", ..) => Field::EtherType,
        ("vlan", "id", ..) => Field::VlanId,
        ("vlan", "type", ..) => Field::VlanEtherType,
        ("arp", "operation", ..) => Field::Arp(ArpField::Opcode),
        ("arp", "htype", ..) => Field::Arp(ArpField::HwType),
        ("arp", "ptype", ..) => Field::Arp(ArpField::ProtoType),
        ("arp", "saddr ether", ..) => Field::Arp(ArpField::SenderMac),
        ("arp", "daddr ether", ..) => Field::Arp(ArpField::TargetMac),
        ("arp", "saddr ip", ..) => Field::Arp(ArpField::SenderIp),
        ("arp", "daddr ip", ..) => Field::Arp(ArpField::TargetIp),
        (p, "sport" | "dport", ..) => {
            let p = proto_with_ports(p)?;
            if field == "sport" {
                Field::Sport(p)
            } else {
                Field::Dport(p)
            }
        }
        _ => return Err(format!("'{proto} {field}' is not read back")),
    })
}

fn proto_with_ports(name: &str) -> Result<L4Proto, String> {
    proto(name)
        .ok()
        .filter(|p| p.has_ports())
        .ok_or_else(|| format!("'{name}' has no ports"))
}

/// An ether type by nft's name for it, or a number.
pub(crate) fn ether_type_int(text: &str) -> Result<ir::IntRange, String> {
    Ok(ir::IntRange::single(match text {
        "ip" => 0x0800,
        "ip6" => 0x86dd,
        "arp" => 0x0806,
        "vlan" => 0x8100,
        _ => return int(text),
    }))
}

/// A conntrack direction, `original` or `reply`.
pub(crate) fn ct_direction(text: &str) -> Result<ir::CtDirection, String> {
    match text {
        "original" => Ok(ir::CtDirection::Original),
        "reply" => Ok(ir::CtDirection::Reply),
        other => Err(format!("unknown conntrack direction '{other}'")),
    }
}

/// An address, prefix or (with `-`) inclusive address range of `family`.
pub(crate) fn address_value(family: IpFamily, text: &str) -> Result<ir::Value, String> {
    match text.split_once('-') {
        Some((a, b)) => {
            let a: IpAddr = a
                .parse()
                .map_err(|_| format!("'{text}' is not an address range"))?;
            let b: IpAddr = b
                .parse()
                .map_err(|_| format!("'{text}' is not an address range"))?;
            if IpFamily::of(&a) != family {
                return Err(format!("'{text}' is not of the field's address family"));
            }
            Ok(ir::Value::AddrRange(
                AddrRange::new(a, b).map_err(|e| e.to_string())?,
            ))
        }
        None => Ok(ir::Value::Prefix(prefix_of(family, text)?)),
    }
}

/// An address or prefix: `ADDR`, `ADDR/LEN` or (ebtables) `ADDR/MASK`.
/// A bare address is a full-length prefix.
pub(crate) fn prefix(text: &str) -> Result<IpNet, String> {
    let err = || format!("'{text}' is not an address or prefix");
    match text.split_once('/') {
        None => {
            let a: IpAddr = text.parse().map_err(|_| err())?;
            Ok(IpNet::from(a))
        }
        Some((addr, len)) => {
            let a: IpAddr = addr.parse().map_err(|_| err())?;
            let len = match len.parse::<u8>() {
                Ok(l) => l,
                Err(_) => {
                    let mask: IpAddr = len.parse().map_err(|_| err())?;
                    ipnet::ip_mask_to_prefix(mask).map_err(|_| err())?
                }
            };
            IpNet::new(a, len).map_err(|_| err())
        }
    }
}

/// A prefix that must be of `family`.
pub(crate) fn prefix_of(family: IpFamily, text: &str) -> Result<IpNet, String> {
    let net = prefix(text)?;
    if IpFamily::of_net(&net) != family {
        return Err(format!(
            "'{text}' is not an {} address",
            if family == IpFamily::V4 {
                "IPv4"
            } else {
                "IPv6"
            }
        ));
    }
    Ok(net)
}

/// A NAT target, `S[-E][:P1[-P2]]`, IPv6 addresses bracketed before a port.
pub(crate) fn nat_target(text: &str) -> Result<(AddrRange, Option<PortRange>), String> {
    let err = || format!("'{text}' is not a NAT target");
    let addr = |s: &str| -> Result<IpAddr, String> {
        s.trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| err())
    };
    let (addrs, port) = if text.starts_with('[') {
        match text.rfind("]:") {
            Some(i) => (&text[..=i], Some(&text[i + 2..])),
            None => (text, None),
        }
    } else if text.matches(':').count() == 1 {
        // IPv4 with a port; an IPv6 address has several colons.
        let (a, p) = text.split_once(':').ok_or_else(err)?;
        (a, Some(p))
    } else {
        (text, None)
    };
    // Split at the '-' between two addresses (IPv6 has no '-').
    let (start, end) = match addrs.split_once('-') {
        Some((a, b)) => (addr(a)?, addr(b)?),
        None => {
            let a = addr(addrs)?;
            (a, a)
        }
    };
    let range = AddrRange::new(start, end).map_err(|e| e.to_string())?;
    let ports = port.map(ports).transpose()?;
    Ok((range, ports))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nat_targets_of_both_families() {
        let (r, p) = nat_target("10.0.0.1-10.0.0.5:1024-65535").unwrap();
        assert_eq!(r.to_string(), "10.0.0.1-10.0.0.5");
        assert_eq!(p, Some(PortRange::new(1024, 65535).unwrap()));
        let (r, p) = nat_target("[2001:db8::1]-[2001:db8::2]:500").unwrap();
        assert_eq!(r.to_string(), "2001:db8::1-2001:db8::2");
        assert_eq!(p, Some(PortRange::new(500, 500).unwrap()));
        let (r, p) = nat_target("2001:db8::1-2001:db8::2").unwrap();
        assert_eq!((r.to_string(), p), ("2001:db8::1-2001:db8::2".into(), None));
        assert_eq!(nat_target("10.0.0.1").unwrap().0.to_string(), "10.0.0.1");
        assert!(nat_target("10.0.0.9-10.0.0.1").is_err());
        assert!(nat_target("nonsense").is_err());
    }

    #[test]
    fn prefixes_ports_and_protocols() {
        assert_eq!(prefix("10.1.2.3").unwrap().to_string(), "10.1.2.3/32");
        assert_eq!(
            prefix("192.168.1.0/255.255.255.0").unwrap().to_string(),
            "192.168.1.0/24"
        );
        assert!(prefix_of(IpFamily::V6, "10.0.0.0/8").is_err());
        assert_eq!(
            ports("1024:65535").unwrap(),
            PortRange::new(1024, 65535).unwrap()
        );
        assert_eq!(ports("53").unwrap(), PortRange::new(53, 53).unwrap());
        assert!(ports("9-1").is_err());
        assert_eq!(proto("ipv6-icmp").unwrap(), L4Proto::Icmpv6);
        assert_eq!(proto("17").unwrap(), L4Proto::Udp);
        assert!(proto("gre").is_err());
    }
}
