//! libvirt's ebtables + iptables/ip6tables nwfilter driver
//! (`nwfilter_ebiptables_driver.c`), one tool at a time.
//!
//! libvirt runs one driver for three tools; a ruleset here holds one tool's
//! part ([`Backend::Ebtables`], [`Backend::Iptables`] or
//! [`Backend::Ip6tables`]):
//!
//! * **ebtables** ([`ethernet`]): table `nat`; per port a chain for frames
//!   from the guest (`libvirt-I-vnet0`, entered from `PREROUTING -i vnet0`)
//!   and one for frames to it (`libvirt-O-vnet0`, from `POSTROUTING -o
//!   vnet0`), plus a sub-chain per filter chain (`I-vnet0-arp`, entered by
//!   protocol from the root chain). The rules of `mac`, `vlan`, `stp`,
//!   `arp`, `rarp`, `ip` and `ipv6` elements (and rules without one) go
//!   here.
//! * **iptables / ip6tables** ([`ip`]): table `filter`; the shared chains
//!   `libvirt-in`, `libvirt-out`, `libvirt-in-post` (entered from `FORWARD`)
//!   and `libvirt-host-in` (from `INPUT`), and per port `FI-vnet0` (from the
//!   guest, bridged), `FO-vnet0` (to the guest) and `HI-vnet0` (from the
//!   guest to the host), entered by `physdev` matches. Every rule of the
//!   other elements goes here three times.
//!
//! libvirt builds a port's chains under temporary names (`libvirt-J-vnet0`,
//! `J-vnet0-arp`, `FJ-vnet0`, ...) and renames them once complete; the IR
//! chains carry the final names with the temporary ones as
//! [`ir::Chain::staging`]. libvirt appends every rule (`-A`), so the tables
//! use [`ir::Commands::Append`]: each rule's [`ir::Rule::seq`] and each
//! chain's creation ([`ir::Step::CreateChain`]) are numbered in the order
//! libvirt runs them ([`Sequence`]), which the command form replays.
//! Rule order follows [`order`].

mod ethernet;
mod fields;
mod ip;
mod order;
#[cfg(test)]
mod tests;

use ir::{ChainId, Commands, IpFamily, Name, Rule, Ruleset, Spelling, Step, Table, Verdict};

use super::Port;
use crate::layout::{Backend, LowerError};
use crate::nwfilter::Action;

/// Lowers bound ports into `backend`'s part of libvirt's ebiptables rules.
/// [`Backend::Nft`] is libvirt's other nwfilter driver (`libvirt_nft`) and
/// gets nothing here.
pub fn lower(ports: &[Port], backend: Backend) -> Result<Ruleset, LowerError> {
    match backend {
        Backend::Ebtables => ethernet::lower(ports),
        Backend::Iptables => ip::lower(ports, IpFamily::V4),
        Backend::Ip6tables => ip::lower(ports, IpFamily::V6),
        Backend::Nft => Ok(Ruleset::default()),
    }
}

/// The order in which libvirt runs its commands for one table: rules are
/// appended, chains created, each at the next number.
#[derive(Debug, Default)]
struct Sequence {
    next: u32,
    steps: Vec<(u32, Step)>,
}

impl Sequence {
    fn take(&mut self) -> u32 {
        let n = self.next;
        self.next += 1;
        n
    }

    /// Creates `chain` as the next command.
    fn create(&mut self, chain: ChainId) {
        let n = self.take();
        self.steps.push((n, Step::CreateChain(chain)));
    }

    /// Appends `rule` to `chain` of `t` as the next command.
    fn append(&mut self, t: &mut Table, chain: ChainId, rule: Rule) {
        let rule = rule.at_seq(self.take());
        t.chain_mut(chain).rules.push(rule);
    }

    /// Marks `t` as built by this sequence of appends.
    fn finish(self, t: &mut Table, spelling: Spelling) {
        t.commands = Commands::Append {
            steps: self.steps,
            spelling,
        };
    }
}

/// A chain name libvirt builds from valid parts.
fn name(text: &str, at: &ir::Source) -> Result<Name, LowerError> {
    Name::new(text).map_err(|e| LowerError {
        at: at.clone(),
        message: format!("cannot name libvirt's chain: {e}"),
    })
}

/// The verdict of a non-accept action (accept depends on the chain).
/// ebtables has no REJECT, and libvirt drops instead; iptables rejects.
fn verdict(action: Action, reject: Verdict) -> Option<Verdict> {
    match action {
        Action::Accept => Some(Verdict::Accept),
        Action::Drop => Some(Verdict::Drop),
        Action::Reject => Some(reject),
        Action::Return => Some(Verdict::Return),
        // libvirt's CONTINUE: on to the next rule.
        Action::Continue => None,
    }
}
