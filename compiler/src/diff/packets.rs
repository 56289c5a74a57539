//! Packets to compare rulesets on, generated from the constants the rules
//! mention.
//!
//! Per field: every interface name plus one mentioned nowhere; for each
//! prefix its network address, first host, last address and the address
//! just outside; every port bound ±1 plus one unmentioned port; tcp, udp,
//! icmp (icmpv6) and any other protocol mentioned; conntrack states new and
//! established. IPv4 and IPv6 are separate spaces, framed with their ether
//! type. Each hook gets only the
//! interfaces it has (no output interface before routing, no input
//! interface for the host's own packets). A space larger than the cap is
//! sampled with a fixed stride, so runs are reproducible.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use ir::eval::Packet;
use ir::{
    ChainKind, CtStates, Field, Hook, IpFamily, L4Proto, MapRef, PortRange, Ruleset, SetRef, Table,
    Value, Verdict,
};

/// The constants of some rulesets, by the field they are compared with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Constants {
    ifnames: BTreeSet<String>,
    saddr: BTreeSet<IpNet>,
    daddr: BTreeSet<IpNet>,
    sport: BTreeSet<PortRange>,
    dport: BTreeSet<PortRange>,
    protos: BTreeSet<L4Proto>,
}

impl Constants {
    /// The constants every rule, set and verdict map of `rulesets` mentions.
    pub fn of(rulesets: &[&Ruleset]) -> Constants {
        let mut c = Constants::default();
        for rs in rulesets {
            for t in &rs.tables {
                for chain in &t.chains {
                    for r in &chain.rules {
                        for m in &r.matches {
                            c.value(t, m.field, &m.value);
                        }
                        if let Some(Verdict::Vmap { key, map }) = &r.verdict {
                            let elems = match map {
                                MapRef::Anonymous(e) => e.as_slice(),
                                MapRef::Named(id) => t.maps[id.0].elements.as_slice(),
                            };
                            for (k, _) in elems {
                                for (f, v) in key.iter().zip(k) {
                                    c.value(t, *f, v);
                                }
                            }
                        }
                    }
                }
            }
        }
        c
    }

    fn value(&mut self, t: &Table, field: Field, v: &Value) {
        match (field, v) {
            (_, Value::Set(SetRef::Anonymous(items))) => {
                items.iter().for_each(|i| self.value(t, field, i))
            }
            (_, Value::Set(SetRef::Named(id))) => {
                for e in &t.sets[id.0].elements {
                    if let Some(first) = e.first() {
                        self.value(t, field, first);
                    }
                }
            }
            (Field::Iif | Field::Oif | Field::IifName | Field::OifName, Value::Ifname(n)) => {
                self.ifnames.insert(n.to_string());
            }
            (Field::Saddr(_), Value::Prefix(n)) => {
                self.saddr.insert(*n);
            }
            (Field::Daddr(_), Value::Prefix(n)) => {
                self.daddr.insert(*n);
            }
            (Field::L4Proto, Value::Proto(p)) => {
                self.protos.insert(*p);
            }
            (Field::Sport(p), Value::Ports(r)) => {
                self.protos.insert(p);
                self.sport.insert(*r);
            }
            (Field::Dport(p), Value::Ports(r)) => {
                self.protos.insert(p);
                self.dport.insert(*r);
            }
            _ => {}
        }
    }
}

/// Every hook some base chain of `rulesets` is attached to, in hook order.
pub fn hooks(rulesets: &[&Ruleset]) -> Vec<Hook> {
    let mut out = BTreeSet::new();
    for rs in rulesets {
        for t in &rs.tables {
            for c in &t.chains {
                if let ChainKind::Base { hook, .. } = c.kind {
                    out.insert(hook);
                }
            }
        }
    }
    out.into_iter().collect()
}

/// The packets of one IP family at one hook, as a mixed-radix index space.
#[derive(Debug, Clone)]
pub struct Space {
    iif: Vec<Option<String>>,
    oif: Vec<Option<String>>,
    saddr: Vec<IpAddr>,
    daddr: Vec<IpAddr>,
    l4: Vec<(L4Proto, Option<u16>, Option<u16>)>,
    ct: Vec<CtStates>,
}

/// The conntrack states packets are tried in.
fn states() -> Vec<CtStates> {
    let new = CtStates {
        new: true,
        ..CtStates::default()
    };
    let established = CtStates {
        established: true,
        ..CtStates::default()
    };
    vec![new, established]
}

impl Space {
    /// The packets of `family` at `hook` built from `c`.
    pub fn new(c: &Constants, family: IpFamily, hook: Hook) -> Space {
        let mut names: Vec<Option<String>> = c.ifnames.iter().cloned().map(Some).collect();
        names.push(Some(unmentioned_ifname(&c.ifnames)));
        let none = vec![None];
        let (iif, oif) = match hook {
            Hook::Prerouting | Hook::Input | Hook::Ingress => (names, none),
            Hook::Output => (none, names),
            Hook::Forward => (names.clone(), names),
            Hook::Postrouting => {
                let mut iif = none;
                iif.extend(names.iter().cloned());
                (iif, names)
            }
        };
        let all: BTreeSet<IpNet> = c.saddr.union(&c.daddr).copied().collect();
        let saddr = addresses(&c.saddr, &all, family);
        let daddr = addresses(&c.daddr, &all, family);
        let mut protos: BTreeSet<L4Proto> = [L4Proto::Tcp, L4Proto::Udp].into();
        protos.insert(if family == IpFamily::V4 {
            L4Proto::Icmp
        } else {
            L4Proto::Icmpv6
        });
        protos.extend(c.protos.iter().copied().filter(|p| match p {
            L4Proto::Icmp => family == IpFamily::V4,
            L4Proto::Icmpv6 => family == IpFamily::V6,
            _ => true,
        }));
        let sports = ports(&c.sport);
        let dports = ports(&c.dport);
        let mut l4 = Vec::new();
        for p in protos {
            if p.has_ports() {
                for s in &sports {
                    for d in &dports {
                        l4.push((p, Some(*s), Some(*d)));
                    }
                }
            } else {
                l4.push((p, None, None));
            }
        }
        Space {
            iif,
            oif,
            saddr,
            daddr,
            l4,
            ct: states(),
        }
    }

    fn radices(&self) -> [usize; 6] {
        [
            self.ct.len(),
            self.l4.len(),
            self.daddr.len(),
            self.saddr.len(),
            self.oif.len(),
            self.iif.len(),
        ]
    }

    /// How many packets the space holds.
    pub fn len(&self) -> u128 {
        self.radices().iter().map(|r| *r as u128).product()
    }

    /// Whether the space is empty (never: every dimension has an element).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The packet at `index` (< [`Space::len`]).
    pub fn get(&self, mut index: u128) -> Packet {
        let mut digit = |radix: usize| {
            let d = (index % radix as u128) as usize;
            index /= radix as u128;
            d
        };
        let [ct, l4, da, sa, oif, iif] = self.radices().map(&mut digit);
        let (proto, sport, dport) = self.l4[l4];
        Packet {
            iif: self.iif[iif].clone(),
            oif: self.oif[oif].clone(),
            saddr: Some(self.saddr[sa]),
            daddr: Some(self.daddr[da]),
            proto: Some(proto),
            sport,
            dport,
            ct: self.ct[ct],
            // What a bridge sees of an IP packet.
            ether_type: Some(if self.saddr[sa].is_ipv4() {
                0x0800
            } else {
                0x86dd
            }),
            ..Packet::default()
        }
    }

    /// Every packet, or `cap` of them spread over the space with a fixed
    /// stride coprime to its size when it holds more.
    pub fn sample(&self, cap: usize) -> impl Iterator<Item = Packet> + '_ {
        let len = self.len();
        let (count, stride) = if len <= cap as u128 {
            (len, 1)
        } else {
            (cap as u128, stride(len))
        };
        (0..count).map(move |k| self.get(k * stride % len))
    }
}

/// An odd step near `len` divided by the golden ratio that shares no factor
/// with `len`, so that `k * step % len` visits distinct indices spread over
/// every dimension.
fn stride(len: u128) -> u128 {
    fn gcd(a: u128, b: u128) -> u128 {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }
    let mut s = (len as f64 * 0.618_033_988_75) as u128 | 1;
    while gcd(s, len) != 1 {
        s += 2;
    }
    s
}

fn unmentioned_ifname(names: &BTreeSet<String>) -> String {
    (0..)
        .map(|i| format!("fwc-other{i}"))
        .find(|n| !names.contains(n))
        .expect("some name is free")
}

/// `addr + delta`, if it does not wrap.
fn offset(addr: IpAddr, delta: i128) -> Option<IpAddr> {
    match addr {
        IpAddr::V4(a) => {
            let v = i128::from(u32::from(a)) + delta;
            u32::try_from(v).ok().map(|v| IpAddr::V4(Ipv4Addr::from(v)))
        }
        IpAddr::V6(a) => {
            let v = u128::from(a).checked_add_signed(delta)?;
            Some(IpAddr::V6(Ipv6Addr::from(v)))
        }
    }
}

/// The boundary addresses of the prefixes of `family` in `nets`, plus one
/// address none of `all` contains.
fn addresses(nets: &BTreeSet<IpNet>, all: &BTreeSet<IpNet>, family: IpFamily) -> Vec<IpAddr> {
    let mut out = BTreeSet::new();
    for n in nets.iter().filter(|n| IpFamily::of_net(n) == family) {
        let (lo, hi) = (n.network(), n.broadcast());
        out.insert(lo);
        out.insert(hi);
        if lo != hi {
            out.extend(offset(lo, 1));
        }
        match offset(hi, 1) {
            Some(next) => out.extend([next]),
            None => out.extend(offset(lo, -1)),
        }
    }
    let candidates: &[&str] = if family == IpFamily::V4 {
        &["203.0.113.7", "198.51.100.7", "192.0.2.7", "100.64.0.7"]
    } else {
        &["2001:db8:ffff::7", "fd00:ffff::7", "2001:db8:eeee::7"]
    };
    let candidates: Vec<IpAddr> = candidates
        .iter()
        .map(|c| c.parse().expect("a valid address"))
        .collect();
    let free = candidates
        .iter()
        .find(|a| !all.iter().any(|n| n.contains(*a)))
        .unwrap_or(&candidates[0]);
    out.insert(*free);
    out.into_iter().collect()
}

/// Each range's bounds ±1, plus one port no range touches.
fn ports(ranges: &BTreeSet<PortRange>) -> Vec<u16> {
    let mut out = BTreeSet::new();
    for r in ranges {
        out.insert(r.start);
        out.insert(r.end);
        out.extend(r.start.checked_sub(1));
        out.extend(r.end.checked_add(1));
    }
    let free = (40000..=u16::MAX)
        .chain(1..40000)
        .find(|p| !out.contains(p) && !ranges.iter().any(|r| r.contains(*p)));
    out.extend(free);
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set<T: Ord + Clone>(items: &[T]) -> BTreeSet<T> {
        items.iter().cloned().collect()
    }

    #[test]
    fn prefixes_give_their_boundaries_and_an_outside_address() {
        let nets = set(&["192.168.122.0/24".parse::<IpNet>().unwrap()]);
        let got: Vec<String> = addresses(&nets, &nets, IpFamily::V4)
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(
            got,
            [
                "192.168.122.0",
                "192.168.122.1",
                "192.168.122.255",
                "192.168.123.0",
                "203.0.113.7"
            ]
        );
        let top = set(&["255.255.255.255/32".parse::<IpNet>().unwrap()]);
        let got = addresses(&top, &top, IpFamily::V4);
        assert!(got.contains(&"255.255.255.254".parse().unwrap()), "{got:?}");
        // The other family's prefixes give only the free address.
        assert_eq!(addresses(&nets, &nets, IpFamily::V6).len(), 1);
    }

    #[test]
    fn ports_are_bounds_plus_minus_one_and_one_free_port() {
        let r = set(&[
            PortRange::new(53, 53).unwrap(),
            PortRange::new(1024, 65535).unwrap(),
        ]);
        assert_eq!(ports(&r), [1, 52, 53, 54, 1023, 1024, 65535]);
        assert_eq!(ports(&BTreeSet::new()), [40000]);
    }

    #[test]
    fn sampling_is_distinct_and_covers_the_space() {
        let mut c = Constants::default();
        c.ifnames.insert("virbr0".into());
        c.saddr.insert("10.0.0.0/8".parse().unwrap());
        c.dport.insert(PortRange::new(53, 53).unwrap());
        let s = Space::new(&c, IpFamily::V4, Hook::Forward);
        let all: Vec<Packet> = s.sample(usize::MAX).collect();
        assert_eq!(all.len() as u128, s.len());
        let some: Vec<Packet> = s.sample(50).collect();
        assert_eq!(some.len(), 50);
        let distinct: std::collections::HashSet<String> =
            some.iter().map(|p| format!("{p:?}")).collect();
        assert_eq!(distinct.len(), 50);
        assert!(some.iter().any(|p| p.iif.as_deref() == Some("virbr0")));
        assert!(some.iter().any(|p| p.iif.as_deref() == Some("fwc-other0")));
        // Output packets have no input interface.
        let out = Space::new(&c, IpFamily::V4, Hook::Output);
        assert!(out.sample(1000).all(|p| p.iif.is_none() && p.oif.is_some()));
    }
}
