//! One nwfilter rule as the nft rules libvirt's nftables driver makes of
//! it (`nftablesRuleInstCommand`): which table and direction each copy goes
//! to, whether a reply copy is added, and the implicit connection-state
//! matches. The match lists come from [`super::ethernet`] and
//! [`super::inet`]. fwc's own bridge layout uses the same instances, with
//! libvirt's mistakes corrected ([`Fidelity::Fwc`]).

use ir::{Comment, Match, Verdict};

use super::{ethernet, inet};
use crate::layout::LowerError;
use crate::nwfilter::{Action, Concrete, Direction, InstantiatedRule, Layer, Rule};

/// Whether to reproduce libvirt's driver to the letter or mean what the
/// filter says where the driver gets it wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fidelity {
    /// libvirt's rules, mistakes included (for its layout).
    Libvirt,
    /// What the XML means (for fwc's layout): STP ranges match when inside
    /// them, STP address masks are the masks given, the ARP target address
    /// uses its own mask, ICMPv6 type and code ranges are ranges, DSCP of
    /// an IPv6 element is IPv6's.
    Fwc,
}

/// Which of libvirt's two tables a rule belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    /// Layer 2 (`mac`, `vlan`, `stp`, `arp`, `rarp`, `ip`, `ipv6`, none).
    Ethernet,
    /// Layer 3 (`tcp`, `udp`, ..., `all` and their IPv6 forms).
    Inet,
}

impl Table {
    /// The table of a rule's protocol element.
    pub(crate) fn of(rule: &Rule<Concrete>) -> Table {
        match rule.protocol.layer() {
            Layer::Ethernet => Table::Ethernet,
            Layer::Ipv4 | Layer::Ipv6 => Table::Inet,
        }
    }
}

/// One nft rule of an nwfilter rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Instance {
    /// The table it goes to.
    pub table: Table,
    /// `true`: the guest's inbound chain (traffic to the guest, `IF-in`);
    /// `false`: its outbound chain (`IF-out`).
    pub inbound: bool,
    /// The matches, in libvirt's order.
    pub matches: Vec<Match>,
    /// `None` for `continue`.
    pub verdict: Option<Verdict>,
    /// `usercomment=...` (inet rules only, as libvirt).
    pub comment: Option<Comment>,
}

/// Whether the rule gets libvirt's implicit (or explicit) state matching
/// (`nftablesRuleNeedsConntrack`): layer-3 rules unless `statematch='false'`,
/// and then only accept rules or rules with a `state` (even `NONE`).
pub(crate) fn needs_conntrack(rule: &Rule<Concrete>) -> bool {
    Table::of(rule) == Table::Inet
        && rule.statematch
        && (rule.action == Action::Accept || inet::has_state(&rule.protocol))
}

/// The nft rules of one instantiated rule, in libvirt's order.
pub(crate) fn instances(
    r: &InstantiatedRule,
    fidelity: Fidelity,
) -> Result<Vec<Instance>, LowerError> {
    let rule = &r.rule;
    let one = |inbound: bool, reverse: bool| instance(rule, inbound, reverse, fidelity);
    let mut out = Vec::new();
    match rule.direction {
        Direction::InOut => {
            out.push(one(true, false)?);
            // libvirt swaps sources and destinations of the outbound copy of
            // an ethernet rule, as its ebtables driver did.
            out.push(one(false, Table::of(rule) == Table::Ethernet)?);
        }
        d => {
            let inbound = d == Direction::In;
            out.push(one(inbound, false)?);
            if needs_conntrack(rule) && rule.action == Action::Accept {
                out.push(one(!inbound, true)?);
            }
        }
    }
    Ok(out)
}

fn instance(
    rule: &Rule<Concrete>,
    inbound: bool,
    reverse: bool,
    fidelity: Fidelity,
) -> Result<Instance, LowerError> {
    let table = Table::of(rule);
    let fail = |message: String| LowerError {
        at: rule.source.clone(),
        message,
    };
    let matches = match table {
        Table::Ethernet => ethernet::matches(&rule.protocol, reverse, fidelity),
        Table::Inet => inet::matches(rule, inbound, reverse, fidelity),
    }
    .map_err(fail)?;
    let verdict = match rule.action {
        Action::Accept => Some(Verdict::Accept),
        // libvirt's nft driver drops where asked to reject.
        Action::Drop | Action::Reject => Some(Verdict::Drop),
        Action::Return => Some(Verdict::Return),
        Action::Continue => None,
    };
    let comment = match (table, inet::comment(&rule.protocol)) {
        (Table::Inet, Some(text)) => Some(
            Comment::new(&format!("usercomment={text}"))
                .map_err(|e| fail(format!("the comment cannot be kept: {e}")))?,
        ),
        _ => None,
    };
    Ok(Instance {
        table,
        inbound,
        matches,
        verdict,
        comment,
    })
}
