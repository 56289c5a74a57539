//! The command lines of a table built by appends ([`ir::Commands::Append`]),
//! as libvirt's ebtables/iptables nwfilter driver runs them; shared by the
//! `iptables` and `ebtables` targets, which only spell the rules.
//!
//! Setup:
//! 1. every chain fwc owns that no [`ir::Step`] creates (libvirt's shared
//!    `libvirt-in`, ...) is created, and the rules without a sequence
//!    number that enter it from built-in chains are inserted at their
//!    place (`-I FORWARD 2 -j libvirt-out`), each first deleted in case an
//!    earlier run left it;
//! 2. then the sequence: chain creations and appended rules in sequence
//!    order. A chain with a staging name ([`ir::Chain::staging`]) is built
//!    under it: before `-N` it is flushed and deleted (and, for a chain
//!    entered from a shared chain, the rules entering it are deleted), in
//!    case an interrupted earlier build left it; these commands fail on a
//!    clean host, and libvirt ignores their errors. A rule appended to a
//!    shared chain that does not enter a staged chain is first deleted, so
//!    that setup run again does not double it;
//! 3. then the staged chains take their final names: the rules entering
//!    the old generation are deleted, the old chains flushed and deleted,
//!    and the new ones renamed (`-E FJ-vnet0 FI-vnet0`), sub-chains before
//!    the chains that enter them.
//!
//! Teardown removes the staged chains (the rules entering them, then the
//! chains) and the other rules inputs added to shared chains; the shared
//! chains and the built-in chains' jumps into them stay, as libvirt leaves
//! them.

/// Which name a jump target is given: its own, or the one it is built
/// under ([`ir::Chain::staging`]) while command lines build it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Names {
    /// [`ir::Chain::name`].
    Final,
    /// [`ir::Chain::staging`] where there is one.
    Staging,
}

impl Names {
    /// The name of chain `c` of `t`.
    pub(crate) fn of(self, t: &ir::Table, c: ir::ChainId) -> String {
        let chain = t.chain(c);
        match (self, &chain.staging) {
            (Names::Staging, Some(s)) => s.to_string(),
            _ => chain.name.to_string(),
        }
    }
}

/// A table as the command writer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Table {
    /// The words before the verb (`iptables -w`, `ebtables --concurrent -t nat`).
    pub prefix: Vec<String>,
    /// The chains, in the IR's order.
    pub chains: Vec<Chain>,
    /// Chain creations: sequence number and index into `chains`.
    pub steps: Vec<(u32, usize)>,
}

/// A chain of a [`Table`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chain {
    /// Its final name.
    pub name: String,
    /// The name it is built under.
    pub staging: Option<String>,
    /// Whether fwc creates it (else it exists: a built-in chain).
    pub owned: bool,
    /// A policy to set right after creating it (`-P`), if its default is
    /// not the one wanted.
    pub policy: Option<String>,
    /// In evaluation order.
    pub rules: Vec<Rule>,
}

/// A rule of a [`Chain`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    /// The arguments after `-A CHAIN`, with final chain names.
    pub args: Vec<String>,
    /// The same with staging names.
    pub staged: Vec<String>,
    /// Its place in the sequence, if any.
    pub seq: Option<u32>,
    /// The chain it jumps or goes to, by index.
    pub enters: Option<usize>,
    /// Whether it comes from an input (not the layout's plumbing).
    pub input: bool,
}

/// The relations between a table's chains the writer needs.
struct Graph<'t> {
    t: &'t Table,
    /// For each chain, the (chain, rule) pairs that enter it.
    parents: Vec<Vec<(usize, usize)>>,
}

impl<'t> Graph<'t> {
    fn new(t: &'t Table) -> Self {
        let mut parents = vec![Vec::new(); t.chains.len()];
        for (c, chain) in t.chains.iter().enumerate() {
            for (r, rule) in chain.rules.iter().enumerate() {
                if let Some(e) = rule.enters.filter(|e| *e < t.chains.len()) {
                    parents[e].push((c, r));
                }
            }
        }
        Graph { t, parents }
    }

    fn staged(&self, c: usize) -> bool {
        self.t.chains[c].staging.is_some()
    }

    /// A staged chain not entered from another staged chain: entered from
    /// a shared or built-in chain, it is where a build starts.
    fn root(&self, c: usize) -> bool {
        self.staged(c) && !self.parents[c].iter().any(|(p, _)| self.staged(*p))
    }

    /// The rules entering `c` from chains that are not staged.
    fn entries(&self, c: usize) -> impl Iterator<Item = (usize, &'t Rule)> + '_ {
        self.parents[c]
            .iter()
            .filter(|(p, _)| !self.staged(*p))
            .map(|&(p, r)| (p, &self.t.chains[p].rules[r]))
    }

    /// The staged chains in rename order: sub-chains in the order their
    /// roots enter them, then the roots.
    fn rename_order(&self) -> (Vec<usize>, Vec<usize>) {
        let n = self.t.chains.len();
        let roots: Vec<usize> = (0..n).filter(|c| self.root(*c)).collect();
        // Breadth first from the roots, in their order and their jumps'.
        let mut subs: Vec<usize> = Vec::new();
        let mut queue = roots.clone();
        let mut next = 0;
        while let Some(&c) = queue.get(next) {
            next += 1;
            for r in &self.t.chains[c].rules {
                if let Some(e) = r.enters {
                    if e < n && self.staged(e) && !self.root(e) && !subs.contains(&e) {
                        subs.push(e);
                        queue.push(e);
                    }
                }
            }
        }
        let unreached: Vec<usize> = (0..n)
            .filter(|c| self.staged(*c) && !self.root(*c) && !subs.contains(c))
            .collect();
        subs.extend(unreached);
        (roots, subs)
    }

    /// Whether the rule enters a staged chain.
    fn enters_staged(&self, r: &Rule) -> bool {
        r.enters
            .is_some_and(|e| e < self.t.chains.len() && self.staged(e))
    }
}

/// The command writer's state during setup.
struct Writer<'t> {
    g: Graph<'t>,
    created: Vec<bool>,
    out: Vec<Vec<String>>,
}

impl Writer<'_> {
    fn cmd(&mut self, words: &[&str]) {
        self.out.push(
            self.g
                .t
                .prefix
                .iter()
                .map(String::as_str)
                .chain(words.iter().copied())
                .map(str::to_owned)
                .collect(),
        );
    }

    fn rule_cmd(&mut self, verb: &str, chain: &str, position: Option<usize>, args: &[String]) {
        let pos = position.map(|p| p.to_string());
        let mut words = vec![verb, chain];
        words.extend(pos.as_deref());
        words.extend(args.iter().map(String::as_str));
        self.cmd(&words);
    }

    /// The name chain `c` has while it is built.
    fn building(&self, c: usize) -> &str {
        let chain = &self.g.t.chains[c];
        chain.staging.as_deref().unwrap_or(&chain.name)
    }

    /// Creates chain `c` (after clearing leftovers of a staged one), sets
    /// its policy and appends its rules without a sequence number.
    fn create(&mut self, c: usize) {
        if self.created[c] || !self.g.t.chains[c].owned {
            return;
        }
        self.created[c] = true;
        let t = self.g.t;
        let name = self.building(c).to_owned();
        if self.g.staged(c) {
            if self.g.root(c) {
                let entries: Vec<_> = self.g.entries(c).collect();
                for (p, r) in entries {
                    let parent = t.chains[p].name.clone();
                    self.rule_cmd("-D", &parent, None, &r.staged);
                }
            }
            self.cmd(&["-F", &name]);
            self.cmd(&["-X", &name]);
        }
        self.cmd(&["-N", &name]);
        if let Some(policy) = &t.chains[c].policy {
            self.cmd(&["-P", &name, policy]);
        }
        for r in t.chains[c].rules.iter().filter(|r| r.seq.is_none()) {
            self.rule_cmd("-A", &name, None, &r.staged);
        }
    }

    /// Appends rule `r` of chain `c` as the sequence reaches it.
    fn append(&mut self, c: usize, r: usize) {
        let t = self.g.t;
        let rule = &t.chains[c].rules[r];
        self.create(c);
        if let Some(e) = rule.enters.filter(|e| *e < t.chains.len()) {
            self.create(e);
        }
        let chain = self.building(c).to_owned();
        if !self.g.staged(c) && rule.input && !self.g.enters_staged(rule) {
            self.rule_cmd("-D", &chain, None, &rule.staged);
        }
        self.rule_cmd("-A", &chain, None, &rule.staged);
    }
}

/// One event of the sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Create(usize),
    Append(usize, usize),
}

/// The setup commands of `t`, one argv each.
pub(crate) fn setup(t: &Table) -> Vec<Vec<String>> {
    let mut w = Writer {
        g: Graph::new(t),
        created: vec![false; t.chains.len()],
        out: Vec::new(),
    };
    let stepped: Vec<usize> = t.steps.iter().map(|(_, c)| *c).collect();
    // 1. Shared chains and the built-in chains' jumps into them.
    let shared: Vec<usize> = (0..t.chains.len())
        .filter(|c| t.chains[*c].owned && !stepped.contains(c) && !w.g.staged(*c))
        .collect();
    for &c in &shared {
        w.create(c);
    }
    let mut inserts = Vec::new();
    for &c in &shared {
        for (p, r) in w.g.parents[c].clone() {
            let parent = &t.chains[p];
            if !parent.owned && parent.rules[r].seq.is_none() {
                inserts.push((p, r));
            }
        }
    }
    for &(p, r) in &inserts {
        w.rule_cmd("-D", &t.chains[p].name, None, &t.chains[p].rules[r].staged);
    }
    // Each at its place: the earlier places first, so that each exists.
    inserts.sort();
    for &(p, r) in &inserts {
        w.rule_cmd(
            "-I",
            &t.chains[p].name,
            Some(r + 1),
            &t.chains[p].rules[r].staged,
        );
    }
    // 2. The sequence.
    let mut events: Vec<(u32, Event)> = t
        .steps
        .iter()
        .map(|&(seq, c)| (seq, Event::Create(c)))
        .collect();
    for (c, chain) in t.chains.iter().enumerate() {
        for (r, rule) in chain.rules.iter().enumerate() {
            if let Some(seq) = rule.seq {
                events.push((seq, Event::Append(c, r)));
            }
        }
    }
    events.sort();
    for (_, e) in events {
        match e {
            Event::Create(c) => w.create(c),
            Event::Append(c, r) => w.append(c, r),
        }
    }
    // Chains nothing created yet (declared, never used).
    for c in 0..t.chains.len() {
        w.create(c);
    }
    // 3. The staged chains take their final names.
    let (roots, subs) = w.g.rename_order();
    for &c in &roots {
        let entries: Vec<_> = w.g.entries(c).collect();
        for (p, r) in entries {
            w.rule_cmd("-D", &t.chains[p].name, None, &r.args);
        }
    }
    for &c in &roots {
        let name = &t.chains[c].name;
        w.cmd(&["-F", name]);
        w.cmd(&["-X", name]);
    }
    for &c in subs.iter().chain(&roots) {
        let chain = &t.chains[c];
        let staging = chain
            .staging
            .as_deref()
            .expect("only staged chains are renamed");
        if subs.contains(&c) {
            w.cmd(&["-F", &chain.name]);
            w.cmd(&["-X", &chain.name]);
        }
        w.cmd(&["-E", staging, &chain.name]);
    }
    w.out
}

/// The teardown commands of `t`, one argv each.
pub(crate) fn teardown(t: &Table) -> Vec<Vec<String>> {
    let g = Graph::new(t);
    let mut w = Writer {
        g,
        created: Vec::new(),
        out: Vec::new(),
    };
    let (roots, subs) = w.g.rename_order();
    for &c in &roots {
        let entries: Vec<_> = w.g.entries(c).collect();
        for (p, r) in entries {
            w.rule_cmd("-D", &t.chains[p].name, None, &r.args);
        }
    }
    let mut added: Vec<(u32, usize, usize)> = Vec::new();
    for (c, chain) in t.chains.iter().enumerate() {
        if w.g.staged(c) {
            continue;
        }
        for (r, rule) in chain.rules.iter().enumerate() {
            if let (Some(seq), true, false) = (rule.seq, rule.input, w.g.enters_staged(rule)) {
                added.push((seq, c, r));
            }
        }
    }
    added.sort();
    for (_, c, r) in added {
        w.rule_cmd("-D", &t.chains[c].name, None, &t.chains[c].rules[r].args);
    }
    for &c in roots.iter().chain(&subs) {
        let name = &t.chains[c].name;
        w.cmd(&["-F", name]);
        w.cmd(&["-X", name]);
    }
    w.out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_owned).collect()
    }

    fn rule(args: &str, staged: &str, seq: Option<u32>, enters: Option<usize>) -> Rule {
        Rule {
            args: words(args),
            staged: words(staged),
            seq,
            enters,
            input: true,
        }
    }

    fn chain(name: &str, staging: Option<&str>, owned: bool, rules: Vec<Rule>) -> Chain {
        Chain {
            name: name.into(),
            staging: staging.map(str::to_owned),
            owned,
            policy: None,
            rules,
        }
    }

    /// A port with a root chain and a sub-chain, entered from a built-in chain.
    fn ebtables_like() -> Table {
        let mut jump = rule(
            "-p 0x806 -j I-v-arp",
            "-p 0x806 -j J-v-arp",
            Some(2),
            Some(2),
        );
        jump.input = false;
        Table {
            prefix: words("eb -t nat"),
            chains: vec![
                chain(
                    "PREROUTING",
                    None,
                    false,
                    vec![rule("-i v -j lv-I-v", "-i v -j lv-J-v", Some(5), Some(1))],
                ),
                chain(
                    "lv-I-v",
                    Some("lv-J-v"),
                    true,
                    vec![jump, rule("-j DROP", "-j DROP", Some(4), None)],
                ),
                chain(
                    "I-v-arp",
                    Some("J-v-arp"),
                    true,
                    vec![rule("-j ACCEPT", "-j ACCEPT", Some(3), None)],
                ),
            ],
            steps: vec![(0, 1), (1, 2)],
        }
    }

    fn lines(cmds: Vec<Vec<String>>) -> Vec<String> {
        cmds.into_iter().map(|c| c.join(" ")).collect()
    }

    #[test]
    fn setup_builds_under_staging_names_then_renames() {
        assert_eq!(
            lines(setup(&ebtables_like())),
            [
                "eb -t nat -D PREROUTING -i v -j lv-J-v",
                "eb -t nat -F lv-J-v",
                "eb -t nat -X lv-J-v",
                "eb -t nat -N lv-J-v",
                "eb -t nat -F J-v-arp",
                "eb -t nat -X J-v-arp",
                "eb -t nat -N J-v-arp",
                "eb -t nat -A lv-J-v -p 0x806 -j J-v-arp",
                "eb -t nat -A J-v-arp -j ACCEPT",
                "eb -t nat -A lv-J-v -j DROP",
                "eb -t nat -A PREROUTING -i v -j lv-J-v",
                "eb -t nat -D PREROUTING -i v -j lv-I-v",
                "eb -t nat -F lv-I-v",
                "eb -t nat -X lv-I-v",
                "eb -t nat -F I-v-arp",
                "eb -t nat -X I-v-arp",
                "eb -t nat -E J-v-arp I-v-arp",
                "eb -t nat -E lv-J-v lv-I-v",
            ]
        );
    }

    #[test]
    fn teardown_unlinks_then_flushes_and_deletes_with_final_names() {
        assert_eq!(
            lines(teardown(&ebtables_like())),
            [
                "eb -t nat -D PREROUTING -i v -j lv-I-v",
                "eb -t nat -F lv-I-v",
                "eb -t nat -X lv-I-v",
                "eb -t nat -F I-v-arp",
                "eb -t nat -X I-v-arp",
            ]
        );
    }

    /// Shared chains are created first and entered at their positions;
    /// an input's rule in a shared chain is deleted before it is added.
    #[test]
    fn shared_chains_come_first_and_keep_one_copy_of_each_rule() {
        let mut fwd_jump = rule("-j shared", "-j shared", None, Some(1));
        fwd_jump.input = false;
        let t = Table {
            prefix: words("ipt -w"),
            chains: vec![
                chain("FORWARD", None, false, vec![fwd_jump]),
                chain(
                    "shared",
                    None,
                    true,
                    vec![
                        rule("-g FI", "-g FJ", Some(1), Some(2)),
                        rule("-m x -j ACCEPT", "-m x -j ACCEPT", Some(2), None),
                    ],
                ),
                chain("FI", Some("FJ"), true, vec![]),
            ],
            steps: vec![(0, 2)],
        };
        assert_eq!(
            lines(setup(&t)),
            [
                "ipt -w -N shared",
                "ipt -w -D FORWARD -j shared",
                "ipt -w -I FORWARD 1 -j shared",
                "ipt -w -D shared -g FJ",
                "ipt -w -F FJ",
                "ipt -w -X FJ",
                "ipt -w -N FJ",
                "ipt -w -A shared -g FJ",
                "ipt -w -D shared -m x -j ACCEPT",
                "ipt -w -A shared -m x -j ACCEPT",
                "ipt -w -D shared -g FI",
                "ipt -w -F FI",
                "ipt -w -X FI",
                "ipt -w -E FJ FI",
            ]
        );
        assert_eq!(
            lines(teardown(&t)),
            [
                "ipt -w -D shared -g FI",
                "ipt -w -D shared -m x -j ACCEPT",
                "ipt -w -F FI",
                "ipt -w -X FI",
            ]
        );
    }
}
