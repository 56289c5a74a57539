//! fwc's own nwfilter layout: libvirt's policy in one declarative `bridge
//! fwc` table whose dispatch costs the same whatever the number of ports.
//!
//! ```text
//! table bridge fwc {
//!     map ports_in_l2 { type ifname : verdict; elements = { "vnet0" : jump vnet0-in, ... } }
//!     map ports_in_l3, ports_out_l2, ports_out_l3   (likewise)
//!     chain in_l2  { type filter hook postrouting priority 0; oifname vmap @ports_in_l2 }
//!     chain in_l3  { type filter hook postrouting priority 1; oifname vmap @ports_in_l3 }
//!     chain out_l2 { type filter hook prerouting priority 0;  iifname vmap @ports_out_l2 }
//!     chain out_l3 { type filter hook prerouting priority 1;  iifname vmap @ports_out_l3 }
//!     chain vnet0-in, vnet0-out          the port's layer-2 rules (and jumps to sub-chains)
//!     chain vnet0-arp-in, ...            its layer-2 sub-chains, one per filter chain
//!     chain vnet0-in-l3, vnet0-out-l3    its layer-3 rules
//! }
//! ```
//!
//! The policy is libvirt's, rule for rule: the same sort (root chain first,
//! then priority), the same sub-chains created at the same places, the
//! same directions (`in` is traffic to the guest, leaving by the port;
//! `out` traffic from it), reply copies and connection-state matches, and
//! the same two passes per packet (layer 2 at priority 0, layer 3 at 1, so
//! an accept in the first still meets the second), with what libvirt's
//! driver gets wrong corrected ([`Fidelity::Fwc`]). What differs is the
//! dispatch: one verdict map per pass keyed by interface *name*, so a
//! packet costs one lookup however many ports are bound, a port's element
//! can be added or removed without touching the others, and the artifact
//! can be loaded before the guest's tap device exists.

use ir::{
    ChainId, ChainKind, Family, Field, Hook, KeyType, MapId, Name, Notation, Ownership, Rule,
    Ruleset, Table as IrTable, Value, Verdict,
};

use super::libvirt_nft::{same_ip_set, Fidelity, Table};
use super::nft_shared::{lower_rules, Dispatch, PortSink};
use super::Port;
use crate::layout::LowerError;

/// fwc's bridge table.
pub const TABLE: &str = "fwc";

/// The four passes: (map and base chain name, hook, priority, key, inbound, layer).
const PASSES: [(&str, Hook, i32, Field, bool, Table); 4] = [
    (
        "in_l2",
        Hook::Postrouting,
        0,
        Field::OifName,
        true,
        Table::Ethernet,
    ),
    (
        "in_l3",
        Hook::Postrouting,
        1,
        Field::OifName,
        true,
        Table::Inet,
    ),
    (
        "out_l2",
        Hook::Prerouting,
        0,
        Field::IifName,
        false,
        Table::Ethernet,
    ),
    (
        "out_l3",
        Hook::Prerouting,
        1,
        Field::IifName,
        false,
        Table::Inet,
    ),
];

/// Lowers bound ports into fwc's `bridge fwc` table (empty ruleset for no port).
pub fn lower(ports: &[Port]) -> Result<Ruleset, LowerError> {
    let mut rs = Ruleset::default();
    if ports.is_empty() {
        return Ok(rs);
    }
    let t = rs.table_mut(Family::Bridge, &name(TABLE)?, Ownership::Owned);
    let mut maps = Vec::new();
    for (pass, hook, priority, key, ..) in PASSES {
        let map = Dispatch {
            map: name(&format!("ports_{pass}"))?,
            key_type: KeyType::Ifname,
            chain: name(pass)?,
            hook,
            priority,
            key,
            why: "dispatch to the ports' chains by interface name",
        }
        .add_to(t);
        maps.push(map);
    }
    // A set, not a search of the table's chains: binding N ports stays linear.
    let mut bound = std::collections::HashSet::new();
    for port in ports {
        if !bound.insert(port.ifname.as_str()) {
            return Err(LowerError {
                at: port.source.clone(),
                message: format!("port {} is bound twice", port.ifname),
            });
        }
        lower_port(t, &maps, port)?;
    }
    let gratuitous = t.chains.iter().flat_map(|c| &c.rules).any(|r| {
        r.matches
            .iter()
            .any(|m| m.field == Field::Arp(ir::ArpField::Gratuitous))
    });
    if gratuitous {
        t.add_set(same_ip_set());
    }
    Ok(rs)
}

fn name(text: &str) -> Result<Name, LowerError> {
    Name::new(text).map_err(|e| LowerError {
        at: ir::Source {
            file: "".into(),
            line: 0,
            column: 0,
            element: "filterbinding".into(),
        },
        message: format!("no chain can be named after it: {e}"),
    })
}

/// The port's pass chain of a layer and direction; `passes` are in the
/// order of [`PASSES`].
fn pass(passes: &[ChainId; 4], table: Table, inbound: bool) -> ChainId {
    let i = PASSES
        .iter()
        .position(|p| p.4 == inbound && p.5 == table)
        .expect("every pass exists");
    passes[i]
}

/// fwc's one table, as the place a port's sub-chains and rules go.
struct PortTable<'a> {
    t: &'a mut IrTable,
    ifname: &'a str,
}

impl PortSink for PortTable<'_> {
    fn add_sub_chain(&mut self, name: &str) -> Result<ChainId, String> {
        let ifname = self.ifname;
        let n = Name::new(name)
            .map_err(|e| format!("no chain can be named after port {ifname}: {e}"))?;
        Ok(self.t.add_chain(n, ChainKind::Regular, Ownership::Owned))
    }

    fn add_rule(&mut self, _: Table, chain: ChainId, rule: Rule) {
        self.t.chain_mut(chain).rules.push(rule);
    }
}

fn lower_port(t: &mut IrTable, maps: &[MapId], port: &Port) -> Result<(), LowerError> {
    let at = |message: String| LowerError {
        at: port.source.clone(),
        message,
    };
    let ifname = port.ifname.as_str();
    let chain_name = |suffix: &str| {
        Name::new(&format!("{ifname}-{suffix}"))
            .map_err(|e| at(format!("no chain can be named after port {ifname}: {e}")))
    };
    let mut passes = [ChainId(0); 4];
    for (i, (_, _, _, _, inbound, layer)) in PASSES.iter().enumerate() {
        let dir = if *inbound { "in" } else { "out" };
        let suffix = match layer {
            Table::Ethernet => dir.to_owned(),
            Table::Inet => format!("{dir}-l3"),
        };
        let n = chain_name(&suffix)?;
        passes[i] = t.add_chain(n, ChainKind::Regular, Ownership::Owned);
        let element = (
            vec![Value::Ifname(port.ifname.clone())],
            Verdict::Jump(passes[i]),
        );
        t.maps[maps[i].0].elements.push(element);
    }
    let mut sink = PortTable { t, ifname };
    let root = |table, inbound| pass(&passes, table, inbound);
    lower_rules(&mut sink, port, ifname, root, Fidelity::Fwc, plain_numbers)
}

/// A match with numbers written the plain way every target reads: ether
/// types in four hex digits, everything else decimal. (libvirt's notations
/// reproduce its command lines; this layout has none to reproduce.)
fn plain_numbers(mut m: ir::Match) -> ir::Match {
    if let Value::Int(r) = &mut m.value {
        r.notation = match m.field {
            Field::EtherType | Field::VlanEtherType => Notation::Hex { width: 4 },
            _ => Notation::Decimal,
        };
    }
    m
}
