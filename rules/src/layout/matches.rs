//! Short constructors for the matches libvirt's rules use.

use ipnet::IpNet;
use ir::{CtStates, Field, Ifname, IpFamily, L4Proto, Match, PortRange, Value};

/// `field == name` for an interface field (index or name).
pub(crate) fn iface(field: Field, name: &Ifname) -> Match {
    Match::eq(field, Value::Ifname(name.clone()))
}

/// Source address in `net`.
pub(crate) fn saddr(net: IpNet) -> Match {
    Match::eq(Field::Saddr(IpFamily::of_net(&net)), Value::Prefix(net))
}

/// Destination address in `net`.
pub(crate) fn daddr(net: IpNet) -> Match {
    Match::eq(Field::Daddr(IpFamily::of_net(&net)), Value::Prefix(net))
}

/// Destination address outside `net`.
pub(crate) fn daddr_not(net: IpNet) -> Match {
    Match::ne(Field::Daddr(IpFamily::of_net(&net)), Value::Prefix(net))
}

/// Layer-4 protocol `proto`, without a port.
pub(crate) fn l4proto(proto: L4Proto) -> Match {
    Match::eq(Field::L4Proto, Value::Proto(proto))
}

/// Destination port `port` of `proto`.
pub(crate) fn dport(proto: L4Proto, port: u16) -> Match {
    Match::eq(
        Field::Dport(proto),
        Value::Ports(PortRange {
            start: port,
            end: port,
        }),
    )
}

/// Conntrack state related or established (replies to guest connections).
pub(crate) fn related_established() -> Match {
    Match::eq(
        Field::CtState,
        Value::CtStates(CtStates::RELATED_ESTABLISHED),
    )
}
