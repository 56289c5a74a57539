//! What both nft nwfilter layouts (libvirt's and fwc's) share: the base
//! chains that dispatch to the ports' chains through a verdict map, and,
//! for a port whose root chains exist, its layer-2 sub-chains created where
//! libvirt creates them (each entered by a guarded jump from the port's
//! root chain) and every rule put in its chain. The layouts differ in their
//! tables, names and keys and in how a rule is recorded, which [`PortSink`]
//! and the arguments carry.

use ir::{
    ChainId, ChainKind, ChainType, Field, Hook, KeyType, Map, MapId, MapRef, Match, Name,
    Ownership, Provenance, Rule, Table as IrTable, Verdict,
};

use super::libvirt_nft::{guard, instances, plan, sorted, sub_chains, Fidelity, Planned, Table};
use super::Port;
use crate::layout::LowerError;

/// A verdict map and the base chain whose one rule dispatches through it
/// (`KEY vmap @MAP`).
pub(crate) struct Dispatch {
    /// The map's name.
    pub map: Name,
    /// What the map is keyed by.
    pub key_type: KeyType,
    /// The base chain's name.
    pub chain: Name,
    /// The base chain's hook.
    pub hook: Hook,
    /// The base chain's priority.
    pub priority: i32,
    /// The packet field looked up in the map.
    pub key: Field,
    /// The dispatch rule's layout provenance.
    pub why: &'static str,
}

impl Dispatch {
    /// Adds the (empty) map, then the filter base chain (policy accept) with
    /// its dispatch rule; the map's id.
    pub(crate) fn add_to(self, t: &mut IrTable) -> MapId {
        let map = t.add_map(Map {
            name: self.map,
            key: vec![self.key_type],
            interval: false,
            elements: Vec::new(),
        });
        let kind = ChainKind::accepting(self.hook, ChainType::Filter, self.priority);
        let c = t.add_chain(self.chain, kind, Ownership::Owned);
        t.chain_mut(c).rules.push(Rule::new(
            Provenance::Layout(self.why),
            vec![],
            Some(Verdict::Vmap {
                key: vec![self.key],
                map: MapRef::Named(map),
            }),
        ));
        map
    }
}

/// Where a layout puts a port's sub-chains and rules.
pub(crate) trait PortSink {
    /// Creates the regular layer-2 chain `name`; `Err` says why it cannot be.
    fn add_sub_chain(&mut self, name: &str) -> Result<ChainId, String>;
    /// Appends `rule` to `chain` of `table`.
    fn add_rule(&mut self, table: Table, chain: ChainId, rule: Rule);
}

/// Lowers a port's rules in libvirt's order. `prefix` starts the port's chain
/// names (a sub-chain is `PREFIX-CHAIN-in|out`); `root` is the port's chain
/// of a table and direction (`true`: inbound); `each_match` rewrites the
/// matches of every input rule.
pub(crate) fn lower_rules(
    sink: &mut impl PortSink,
    port: &Port,
    prefix: &str,
    root: impl Fn(Table, bool) -> ChainId,
    fidelity: Fidelity,
    each_match: fn(Match) -> Match,
) -> Result<(), LowerError> {
    let dir = |inbound: bool| if inbound { "in" } else { "out" };
    let rules = sorted(&port.rules);
    let subs = sub_chains(&rules);
    let mut chains: Vec<(String, ChainId)> = Vec::new();
    for step in plan(&rules, &subs) {
        match step {
            Planned::Rule(i) => {
                let r = &rules[i];
                for inst in instances(r.rule, fidelity)? {
                    let chain = if r.rule.chain.is_root() || inst.table == Table::Inet {
                        root(inst.table, inst.inbound)
                    } else {
                        let wanted =
                            format!("{prefix}-{}-{}", r.rule.chain.as_str(), dir(inst.inbound));
                        chains
                            .iter()
                            .find(|(n, _)| *n == wanted)
                            .map(|(_, id)| *id)
                            .ok_or_else(|| LowerError {
                                at: r.rule.rule.source.clone(),
                                message: format!(
                                    "no chain {wanted} for filter chain {}",
                                    r.rule.chain
                                ),
                            })?
                    };
                    let mut rule = Rule::new(
                        Provenance::Input(r.rule.rule.source.clone()),
                        inst.matches.into_iter().map(each_match).collect(),
                        inst.verdict,
                    );
                    rule.comment = inst.comment;
                    sink.add_rule(inst.table, chain, rule);
                }
            }
            Planned::SubChain(i) => {
                let sub = &subs[i];
                for (wanted, inbound) in [(sub.inbound, true), (sub.outbound, false)] {
                    if !wanted {
                        continue;
                    }
                    let name = format!("{prefix}-{}-{}", sub.suffix, dir(inbound));
                    let id = sink.add_sub_chain(&name).map_err(|message| LowerError {
                        at: port.source.clone(),
                        message,
                    })?;
                    let jump = Rule::new(
                        Provenance::Layout("jump to a filter chain"),
                        guard(sub.kind).into_iter().collect(),
                        Some(Verdict::Jump(id)),
                    );
                    sink.add_rule(Table::Ethernet, root(Table::Ethernet, inbound), jump);
                    chains.push((name, id));
                }
            }
        }
    }
    Ok(())
}
