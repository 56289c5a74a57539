//! What `fwc doctor` finds: the flows the inputs must allow, and for each
//! one a foreign chain blocks, who blocks it and which fwc rule accepts it.
//!
//! These types are the contract between the analysis (live ruleset, flows,
//! evaluation, drift) and the fix generator ([`super::fix`]).

use ir::eval::{Decision, Packet};
use ir::{Family, Hook, IpFamily, Match, Policy, Provenance};

/// What a flow is for, so reports and fixes can name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FlowKind {
    /// A guest opens a connection to a machine beyond the host.
    GuestToOutside,
    /// The replies of [`FlowKind::GuestToOutside`] coming back.
    OutsideReplies,
    /// A machine beyond the host opens a connection to a guest (routed
    /// and open networks).
    OutsideToGuest,
    /// Guests on one bridge reaching each other, when br_netfilter hands
    /// bridged frames to the IP hooks (as Docker hosts have it), so that
    /// IP forward chains judge them.
    GuestToGuest,
    /// DHCPv4 from a guest to the host (udp 67).
    Dhcp,
    /// DHCPv6 from a guest to the host (udp 547).
    Dhcp6,
    /// The host's DHCP answers to a guest (udp 68, output hook).
    DhcpReply,
    /// DNS over UDP from a guest to the host (udp 53).
    DnsUdp,
    /// DNS over TCP from a guest to the host (tcp 53).
    DnsTcp,
    /// TFTP from a guest to the host (udp 69), when `<tftp>` is configured.
    Tftp,
}

/// One packet flow the inputs must allow on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    /// What the flow is for.
    pub kind: FlowKind,
    /// The network (its `<name>`) the flow belongs to.
    pub network: String,
    /// The network's bridge.
    pub bridge: ir::Ifname,
    /// IPv4 or IPv6.
    pub family: IpFamily,
    /// For people: "guest → outside, tcp/443 (virbr0, 192.168.122.0/24)".
    pub description: String,
    /// The packet at each hook it traverses, in order (prerouting, forward,
    /// postrouting for a forwarded packet; prerouting, input for one to the
    /// host). A drop at any of them blocks the flow.
    pub steps: Vec<(Hook, Packet)>,
    /// The narrowest matches that admit exactly this flow (interface,
    /// subnet, protocol, port, conntrack state): what a fix may allow,
    /// never more.
    pub allow: Vec<Match>,
}

/// Which software manages the foreign table that blocks a flow, as far as
/// its tables and chains tell. The fix follows that manager's conventions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Manager {
    /// Docker: an iptables(-nft) `filter` table with a `DOCKER-USER` chain.
    /// Fixes go into `DOCKER-USER`, the chain Docker leaves to the admin.
    Docker,
    /// UFW: iptables chains named `ufw-*`. Fixes are `before.rules` lines
    /// for the user to install (UFW rewrites its chains on reload).
    Ufw,
    /// firewalld: the `inet firewalld` table. Fixes are zone/policy XML for
    /// the user to install (firewalld rewrites its table on reload).
    Firewalld,
    /// Any other iptables(-nft) table (a built-in table name with built-in
    /// chain names): fixes are `iptables`/`ip6tables` inserts and deletes.
    Iptables,
    /// Any other nftables table: fixes are `nft insert rule` with a marker
    /// comment; their teardown deletes by the handles carrying it.
    Nftables,
}

/// What in the foreign chain decided against the flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// A rule's verdict.
    Rule {
        /// Its position in the chain (0-based) as listed by nft.
        index: usize,
        /// Its nft handle in the live ruleset, when known.
        handle: Option<u64>,
        /// The rule as nft lists it.
        text: String,
    },
    /// The base chain's policy (no rule decided).
    Policy(Policy),
}

/// A foreign base chain that drops or rejects a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    /// Index into [`Diagnosis::flows`].
    pub flow: usize,
    /// The hook where it is blocked.
    pub hook: Hook,
    /// The foreign table's family.
    pub family: Family,
    /// The foreign table's name.
    pub table: String,
    /// The base chain that decided (for a rule in a chain it jumps to,
    /// still the base chain on the hook).
    pub base_chain: String,
    /// The chain holding the deciding rule (the base chain for a policy).
    pub chain: String,
    /// The base chain's priority.
    pub priority: i32,
    /// Drop or reject.
    pub decision: Decision,
    /// The rule or policy responsible.
    pub cause: Cause,
    /// Who manages the foreign table.
    pub manager: Manager,
    /// The fwc rule that accepts the flow at this hook, if one does: its
    /// provenance (the input element) and its text.
    pub fwc_rule: Option<(Provenance, String)>,
}

impl Blocked {
    /// Flow `flow` dropped by the policy of base chain `chain` (priority 0)
    /// of a foreign table, with no fwc rule named: a manager's default
    /// drop, as when building findings by hand.
    pub fn policy_drop(
        flow: usize,
        manager: Manager,
        (family, table, chain): (Family, &str, &str),
        hook: Hook,
    ) -> Blocked {
        Blocked {
            flow,
            hook,
            family,
            table: table.into(),
            base_chain: chain.into(),
            chain: chain.into(),
            priority: 0,
            decision: Decision::Drop,
            cause: Cause::Policy(Policy::Drop),
            manager,
            fwc_rule: None,
        }
    }
}

/// One of fwc's own objects that is missing or altered on the live host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    /// `inet fwc`, `ip filter LIBVIRT_FWO`, ...
    pub object: String,
    /// What is wrong: "missing", "rule 3 differs: ...", "policy is drop".
    pub problem: String,
}

/// Everything `fwc doctor` found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diagnosis {
    /// The flows the inputs must allow, in a stable order (network name,
    /// then kind, then family).
    pub flows: Vec<Flow>,
    /// Each flow a foreign chain blocks (a flow can be blocked at several
    /// hooks; each is listed).
    pub blocked: Vec<Blocked>,
    /// fwc's own objects missing or altered on the live host.
    pub drift: Vec<Drift>,
    /// Foreign rules that could not be read (such as iptables-nft `xt`
    /// matches) and were assumed not to match, as `family table chain: text`.
    pub unjudged: Vec<String>,
}
