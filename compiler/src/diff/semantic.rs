//! Comparing what two rulesets do: every hook, on packets generated from
//! the constants both mention (see [`super::packets`]).
//!
//! Per hook and packet the two sides must agree on the verdict, the NAT
//! and, for an accepted packet, whether a rule accepted it or it only fell
//! through to the policy: on a host whose own firewall drops by default,
//! that decides whether the packet passes. An explicit drop equals a drop
//! policy, `reject` equals `reject with port-unreachable`, and a checksum
//! fill is not a verdict, so none of these is a difference. Tables are
//! never paired: nft's one table per family and iptables' filter/nat/mangle
//! meet at the hooks.

use std::fmt::Write as _;

use ir::eval::{evaluate, DecidedBy, Decision, Outcome, Packet};
use ir::{ChainId, ChainKind, ChainType, Hook, IpFamily, Nat, RejectKind, Ruleset, Statement};

use super::packets::{hooks, Constants, Space};
use crate::explain::{decision_text, packet_text};
use crate::readback::Readback;

/// What a side does to a packet at a hook, as far as comparisons go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookResult {
    /// The verdict (`reject` and port-unreachable are one).
    pub decision: Decision,
    /// The translation applied.
    pub nat: Option<Nat>,
    /// For an accepted packet: whether a filter rule accepted it (rather
    /// than every base chain's policy). Always false otherwise.
    pub accepted_by_rule: bool,
}

impl HookResult {
    /// The comparable part of an evaluator outcome.
    pub fn of(rs: &Ruleset, o: &Outcome) -> HookResult {
        let decision = match &o.decision {
            Decision::Reject(RejectKind::PortUnreachable) => Decision::Reject(RejectKind::Default),
            d => d.clone(),
        };
        let accepted_by_rule = decision == Decision::Accept
            && o.chains.iter().any(|c| {
                let filter = !matches!(
                    rs.tables[c.table].chains[c.chain.0].kind,
                    ChainKind::Base {
                        ty: ChainType::Nat,
                        ..
                    }
                );
                filter
                    && c.decision == Decision::Accept
                    && matches!(c.decided_by, DecidedBy::Rule(_))
            });
        HookResult {
            decision,
            nat: o.nat.clone(),
            accepted_by_rule,
        }
    }
}

impl std::fmt::Display for HookResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(decision_text(&self.decision))?;
        if self.decision == Decision::Accept {
            f.write_str(if self.accepted_by_rule {
                " by a rule"
            } else {
                ", no rule accepts it (the policy decides)"
            })?;
        }
        if let Some(n) = &self.nat {
            write!(f, ", {}", Statement::Nat(n.clone()))?;
        }
        Ok(())
    }
}

/// The rules that decided an outcome: one per base chain a rule decided.
type Deciders = Vec<(usize, ChainId, usize)>;

fn deciders(o: &Outcome) -> Deciders {
    o.chains
        .iter()
        .filter_map(|c| match &c.decided_by {
            DecidedBy::Rule(r) => Some((r.table, r.chain, r.rule)),
            DecidedBy::Policy => None,
        })
        .collect()
}

/// Packets on which the sides differ in the same way for the same rules.
#[derive(Debug, Clone)]
pub struct Difference {
    /// Where.
    pub hook: Hook,
    /// The first such packet.
    pub packet: Packet,
    /// How many packets differ this way.
    pub count: usize,
    /// What each side does.
    pub results: [HookResult; 2],
    /// The rules that decided on each side.
    deciders: [Deciders; 2],
}

/// The result of [`compare`].
#[derive(Debug, Clone)]
pub struct Comparison {
    /// The hooks compared.
    pub hooks: Vec<Hook>,
    /// Packets compared (per hook, both families).
    pub packets: usize,
    /// Whether some packet spaces were larger than the cap and sampled.
    pub sampled: bool,
    /// The differences, grouped.
    pub differences: Vec<Difference>,
}

impl Comparison {
    /// How many packets differ.
    pub fn differing_packets(&self) -> usize {
        self.differences.iter().map(|d| d.count).sum()
    }
}

/// Compares two readbacks on every hook either has, evaluating at most
/// `cap` packets per hook and IP family.
pub fn compare(a: &Readback, b: &Readback, cap: usize) -> Comparison {
    let both = [&a.ruleset, &b.ruleset];
    let consts = Constants::of(&both);
    let hooks = hooks(&both);
    let mut cmp = Comparison {
        hooks: hooks.clone(),
        packets: 0,
        sampled: false,
        differences: Vec::new(),
    };
    for family in [IpFamily::V4, IpFamily::V6] {
        for &hook in &hooks {
            let space = Space::new(&consts, family, hook);
            cmp.sampled |= space.len() > cap as u128;
            for p in space.sample(cap) {
                cmp.packets += 1;
                let oa = evaluate(&a.ruleset, hook, &p);
                let ob = evaluate(&b.ruleset, hook, &p);
                let ra = HookResult::of(&a.ruleset, &oa);
                let rb = HookResult::of(&b.ruleset, &ob);
                if ra == rb {
                    continue;
                }
                let results = [ra, rb];
                let deciders = [deciders(&oa), deciders(&ob)];
                match cmp
                    .differences
                    .iter_mut()
                    .find(|d| d.hook == hook && d.results == results && d.deciders == deciders)
                {
                    Some(d) => d.count += 1,
                    None => cmp.differences.push(Difference {
                        hook,
                        packet: p,
                        count: 1,
                        results,
                        deciders,
                    }),
                }
            }
        }
    }
    cmp
}

/// The most differences [`report`] prints in full.
const SHOWN: usize = 50;

/// The comparison for people: each difference as a packet (in the words
/// `fwc explain --packet` takes, hook included), both outcomes and the
/// rules that decided them, then a summary.
pub fn report(cmp: &Comparison, names: [&str; 2], sides: [&Readback; 2]) -> String {
    let mut out = String::new();
    let width = names.iter().map(|n| n.len()).max().unwrap_or(0) + 1;
    for d in cmp.differences.iter().take(SHOWN) {
        // The first line is the packet as `fwc explain --packet` takes it.
        let _ = writeln!(out, "hook {} {}", d.hook.keyword(), packet_text(&d.packet));
        if d.count > 1 {
            let _ = writeln!(out, "  and {} more packets like it", d.count - 1);
        }
        for i in 0..2 {
            let name = format!("{}:", names[i]);
            let _ = writeln!(out, "  {name:<width$} {}", d.results[i]);
            for &(t, c, r) in &d.deciders[i] {
                let _ = writeln!(out, "      {}", sides[i].describe(t, c, r));
            }
        }
        out.push('\n');
    }
    if cmp.differences.len() > SHOWN {
        let _ = writeln!(
            out,
            "... and {} more kinds of difference\n",
            cmp.differences.len() - SHOWN
        );
    }
    let hooks: Vec<&str> = cmp.hooks.iter().map(|h| h.keyword()).collect();
    let sampled = if cmp.sampled {
        " (large packet spaces sampled)"
    } else {
        ""
    };
    let [a, b] = names;
    if cmp.differences.is_empty() {
        let _ = writeln!(
            out,
            "{a} and {b} do the same: {} packets compared at hooks {}{sampled}",
            cmp.packets,
            hooks.join(", ")
        );
    } else {
        let _ = writeln!(
            out,
            "{a} and {b} differ: {} of {} packets compared at hooks {}{sampled}",
            cmp.differing_packets(),
            cmp.packets,
            hooks.join(", ")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::readback::{read, Format};

    fn nft(body: &str) -> Readback {
        let script = format!(
            "table ip t {{\n\tchain f {{\n\t\ttype filter hook forward priority 0; policy {body}\n\t}}\n\
             \tchain p {{\n\t\ttype nat hook postrouting priority 100; policy accept;\n\
             \t\tip saddr 10.0.0.0/24 masquerade\n\t}}\n}}\n"
        );
        read(Format::NftText, &script).unwrap()
    }

    #[test]
    fn explicit_drop_equals_a_drop_policy_and_reject_its_default_code() {
        let a = nft("drop;\n\t\tiifname \"br0\" accept\n\t\tiifname \"br1\" reject");
        let b = nft(
            "accept;\n\t\tiifname \"br0\" accept\n\t\tiifname \"br1\" reject with icmp type port-unreachable\n\t\tdrop",
        );
        let cmp = compare(&a, &b, 10_000);
        assert!(cmp.packets > 100);
        assert!(
            cmp.differences.is_empty(),
            "{}",
            report(&cmp, ["a", "b"], [&a, &b])
        );
    }

    #[test]
    fn accepting_by_rule_or_by_policy_and_nat_are_differences() {
        let a = nft("accept;\n\t\tiifname \"br0\" accept");
        let b = nft("accept;");
        let cmp = compare(&a, &b, 10_000);
        assert_eq!(cmp.differences.len(), 1);
        let d = &cmp.differences[0];
        assert_eq!(d.hook, Hook::Forward);
        assert_eq!(d.packet.iif.as_deref(), Some("br0"));
        assert!(d.results[0].accepted_by_rule && !d.results[1].accepted_by_rule);
        let text = report(&cmp, ["a", "b"], [&a, &b]);
        assert!(
            text.contains("  a: accept by a rule\n      ip t f: iifname \"br0\" accept  # "),
            "{text}"
        );
        assert!(
            text.contains("  b: accept, no rule accepts it (the policy decides)\n"),
            "{text}"
        );
        assert!(text.ends_with(&format!(
            "a and b differ: {} of {} packets compared at hooks forward, postrouting\n",
            d.count, cmp.packets
        )));

        let snat = read(
            Format::NftText,
            "table ip t {\n\tchain p {\n\t\ttype nat hook postrouting priority 100; policy accept;\n\
             \t\tip saddr 10.0.0.0/24 snat to 192.0.2.1\n\t}\n}\n",
        )
        .unwrap();
        let masq = nft("accept;");
        let cmp = compare(&masq, &snat, 10_000);
        assert!(!cmp.differences.is_empty());
        assert!(cmp.differences.iter().all(|d| d.hook == Hook::Postrouting
            && d.results[0].nat == Some(Nat::Masquerade { ports: None })));
        // Established packets never reach NAT chains: no difference there.
        assert!(cmp.differences.iter().all(|d| d.packet.ct.new));
    }
}
