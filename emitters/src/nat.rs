//! Text of NAT translation targets, which nft and iptables spell alike.

use std::net::IpAddr;

use ir::{AddrRange, PortRange};

/// `S[-E][:P1[-P2]]`, as both `snat to` (nft) and `--to-source` (iptables)
/// take it. An IPv6 address is bracketed when a port follows, so that the
/// port's colon cannot be read as part of the address.
pub(crate) fn target_text(addr: &AddrRange, ports: Option<&PortRange>) -> String {
    let bracket = !addr.is_ipv4() && ports.is_some();
    let one = |a: &IpAddr| {
        if bracket {
            format!("[{a}]")
        } else {
            a.to_string()
        }
    };
    let mut s = one(&addr.start);
    if addr.end != addr.start {
        s.push('-');
        s.push_str(&one(&addr.end));
    }
    if let Some(p) = ports {
        s.push(':');
        s.push_str(&p.to_string());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(a: &str, b: &str) -> AddrRange {
        AddrRange::new(a.parse().unwrap(), b.parse().unwrap()).unwrap()
    }

    #[test]
    fn ipv4_ranges_and_ports() {
        let p = PortRange::new(1024, 65535).unwrap();
        assert_eq!(
            target_text(&range("10.0.0.1", "10.0.0.1"), None),
            "10.0.0.1"
        );
        assert_eq!(
            target_text(&range("10.0.0.1", "10.0.0.5"), Some(&p)),
            "10.0.0.1-10.0.0.5:1024-65535"
        );
    }

    #[test]
    fn ipv6_is_bracketed_only_before_a_port() {
        let p = PortRange::new(500, 500).unwrap();
        assert_eq!(
            target_text(&range("2001:db8::1", "2001:db8::2"), None),
            "2001:db8::1-2001:db8::2"
        );
        assert_eq!(
            target_text(&range("2001:db8::1", "2001:db8::2"), Some(&p)),
            "[2001:db8::1]-[2001:db8::2]:500"
        );
    }
}
