//! Builders for hand-made IR in tests, libvirt's layouts for `nat-default`
//! rebuilt by hand, and access to libvirt's expected command files.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use ir::*;

pub(crate) fn name(s: &str) -> Name {
    Name::new(s).unwrap()
}

pub(crate) fn ifname(s: &str) -> Value {
    Value::Ifname(Ifname::new(s).unwrap())
}

pub(crate) fn net(s: &str) -> Value {
    Value::Prefix(s.parse().unwrap())
}

pub(crate) fn ports(start: u16, end: u16) -> Value {
    Value::Ports(PortRange::new(start, end).unwrap())
}

pub(crate) fn from(file: &str, line: u32, element: &str) -> Provenance {
    Provenance::Input(Source {
        file: Arc::from(file),
        line,
        column: 3,
        element: Arc::from(element),
    })
}

pub(crate) fn base(t: &mut Table, n: &str, hook: Hook, ty: ChainType, priority: i32) -> ChainId {
    t.add_chain(
        name(n),
        ChainKind::Base {
            hook,
            ty,
            priority,
            policy: Policy::Accept,
        },
        Ownership::Owned,
    )
}

/// An owned `forward` filter base chain whose policy drops.
pub(crate) fn drop_forward(t: &mut Table, priority: i32) -> ChainId {
    t.add_chain(
        name("forward"),
        ChainKind::Base {
            hook: Hook::Forward,
            ty: ChainType::Filter,
            priority,
            policy: Policy::Drop,
        },
        Ownership::Owned,
    )
}

pub(crate) fn regular(t: &mut Table, n: &str) -> ChainId {
    t.add_chain(name(n), ChainKind::Regular, Ownership::Owned)
}

/// libvirt's way of adding a rule: at the head of the chain, as the next
/// command of the sequence.
pub(crate) struct Inserter {
    next: u32,
}

impl Inserter {
    pub(crate) fn new() -> Self {
        Inserter { next: 0 }
    }

    pub(crate) fn insert(&mut self, t: &mut Table, c: ChainId, rule: Rule) {
        t.chain_mut(c).rules.insert(0, rule.at_seq(self.next));
        self.next += 1;
    }
}

/// A layout rule inserted at the head of `parent`: `[counter] jump child`.
fn layout_jump(t: &mut Table, parent: ChainId, child: ChainId, counter: bool) {
    let mut r = Rule::new(
        Provenance::Layout("jump to libvirt's chain"),
        vec![],
        Some(Verdict::Jump(child)),
    );
    if counter {
        r = r.with(Statement::Counter);
    }
    t.chain_mut(parent).rules.insert(0, r);
}

const NET: &str = "192.168.122.0/24";

/// `base.nftables` + `nat-default-linux.nftables` as IR.
pub(crate) fn libvirt_nft_nat_default() -> Ruleset {
    let mut rs = Ruleset::default();
    for fam in [Family::Ip, Family::Ip6] {
        let t = rs.table_mut(fam, &name("libvirt_network"), Ownership::Owned);
        let fwd = base(t, "forward", Hook::Forward, ChainType::Filter, 0);
        for child in ["guest_output", "guest_input", "guest_cross"] {
            let c = regular(t, child);
            layout_jump(t, fwd, c, true);
        }
        base(t, "guest_nat", Hook::Postrouting, ChainType::Nat, 100);
    }
    let t = rs.table_mut(Family::Ip, &name("libvirt_network"), Ownership::Owned);
    let [out, inp, cross, nat] =
        ["guest_output", "guest_input", "guest_cross", "guest_nat"].map(|c| t.chain_id(c).unwrap());
    let br = || ifname("virbr0");
    let src = || Match::eq(Field::Saddr(IpFamily::V4), net(NET));
    let not_dst = || Match::ne(Field::Daddr(IpFamily::V4), net(NET));
    let network = from("nat-default.xml", 1, "network");
    let ip = from("nat-default.xml", 9, "ip");
    let mut s = Inserter::new();
    let rule = |p: &Provenance, m: Vec<Match>, v: Option<Verdict>| {
        Rule::new(p.clone(), m, v).with(Statement::Counter)
    };
    s.insert(
        t,
        nat,
        Rule::new(
            ip.clone(),
            vec![
                Match::eq(Field::Oif, br()),
                Match::eq(Field::Dport(L4Proto::Udp), ports(68, 68)),
            ],
            None,
        )
        .with(Statement::ChecksumFill),
    );
    s.insert(
        t,
        out,
        rule(
            &network,
            vec![Match::eq(Field::Iif, br())],
            Some(Verdict::Reject(RejectKind::Default)),
        ),
    );
    s.insert(
        t,
        inp,
        rule(
            &network,
            vec![Match::eq(Field::Oif, br())],
            Some(Verdict::Reject(RejectKind::Default)),
        ),
    );
    s.insert(
        t,
        cross,
        rule(
            &network,
            vec![Match::eq(Field::Iif, br()), Match::eq(Field::Oif, br())],
            Some(Verdict::Accept),
        ),
    );
    s.insert(
        t,
        out,
        rule(
            &ip,
            vec![src(), Match::eq(Field::Iif, br())],
            Some(Verdict::Accept),
        ),
    );
    s.insert(
        t,
        inp,
        rule(
            &ip,
            vec![
                Match::eq(Field::Oif, br()),
                Match::eq(Field::Daddr(IpFamily::V4), net(NET)),
                Match::eq(
                    Field::CtState,
                    Value::CtStates(CtStates::RELATED_ESTABLISHED),
                ),
            ],
            Some(Verdict::Accept),
        ),
    );
    let masq = |p: Option<PortRange>| Statement::Nat(Nat::Masquerade { ports: p });
    let range = PortRange::new(1024, 65535).unwrap();
    s.insert(
        t,
        nat,
        rule(&ip, vec![src(), not_dst()], None).with(masq(None)),
    );
    for proto in [L4Proto::Udp, L4Proto::Tcp] {
        let m = vec![
            Match::eq(Field::L4Proto, Value::Proto(proto)),
            src(),
            not_dst(),
        ];
        s.insert(t, nat, rule(&ip, m, None).with(masq(Some(range))));
    }
    for dst in ["255.255.255.255/32", "224.0.0.0/24"] {
        let m = vec![src(), Match::eq(Field::Daddr(IpFamily::V4), net(dst))];
        s.insert(t, nat, rule(&ip, m, Some(Verdict::Return)));
    }
    rs
}

/// `base.iptables` + `nat-default-linux.iptables` as IR, both families'
/// private chains and the IPv4 rules.
pub(crate) fn libvirt_xt_nat_default() -> Ruleset {
    let mut rs = Ruleset::default();
    let builtin = |t: &mut Table, n: &str, hook: Hook| {
        t.add_chain(
            name(n),
            ChainKind::Base {
                hook,
                ty: ChainType::Filter,
                priority: 0,
                policy: Policy::Accept,
            },
            Ownership::External,
        )
    };
    for fam in [Family::Ip, Family::Ip6] {
        let t = rs.table_mut(fam, &name("filter"), Ownership::External);
        let input = builtin(t, "INPUT", Hook::Input);
        let output = builtin(t, "OUTPUT", Hook::Output);
        let forward = builtin(t, "FORWARD", Hook::Forward);
        for (parent, child) in [
            (input, "LIBVIRT_INP"),
            (output, "LIBVIRT_OUT"),
            (forward, "LIBVIRT_FWO"),
            (forward, "LIBVIRT_FWI"),
            (forward, "LIBVIRT_FWX"),
        ] {
            let c = regular(t, child);
            layout_jump(t, parent, c, false);
        }
        for table in ["nat", "mangle"] {
            let t = rs.table_mut(fam, &name(table), Ownership::External);
            let post = builtin(t, "POSTROUTING", Hook::Postrouting);
            let c = regular(t, "LIBVIRT_PRT");
            layout_jump(t, post, c, false);
        }
    }
    let br = || ifname("virbr0");
    let network = from("nat-default.xml", 1, "network");
    let ip = from("nat-default.xml", 9, "ip");
    let src = || Match::eq(Field::Saddr(IpFamily::V4), net(NET));
    let dst = |n: &str| Match::eq(Field::Daddr(IpFamily::V4), net(n));
    let port = |p: L4Proto, n: u16| Match::eq(Field::Dport(p), ports(n, n));
    let mut s = Inserter::new();
    let t = rs.table_mut(Family::Ip, &name("filter"), Ownership::External);
    let [inp, out, fwo, fwi, fwx] = [
        "LIBVIRT_INP",
        "LIBVIRT_OUT",
        "LIBVIRT_FWO",
        "LIBVIRT_FWI",
        "LIBVIRT_FWX",
    ]
    .map(|c| t.chain_id(c).unwrap());
    let accept = Some(Verdict::Accept);
    for (chain, field, n) in [
        (inp, Field::Iif, 67),
        (out, Field::Oif, 68),
        (inp, Field::Iif, 53),
        (out, Field::Oif, 53),
    ] {
        for p in [L4Proto::Tcp, L4Proto::Udp] {
            s.insert(
                t,
                chain,
                Rule::new(
                    network.clone(),
                    vec![Match::eq(field, br()), port(p, n)],
                    accept.clone(),
                ),
            );
        }
    }
    let reject = Some(Verdict::Reject(RejectKind::Default));
    s.insert(
        t,
        fwo,
        Rule::new(
            network.clone(),
            vec![Match::eq(Field::Iif, br())],
            reject.clone(),
        ),
    );
    s.insert(
        t,
        fwi,
        Rule::new(network.clone(), vec![Match::eq(Field::Oif, br())], reject),
    );
    s.insert(
        t,
        fwx,
        Rule::new(
            network.clone(),
            vec![Match::eq(Field::Iif, br()), Match::eq(Field::Oif, br())],
            accept.clone(),
        ),
    );
    s.insert(
        t,
        fwo,
        Rule::new(
            ip.clone(),
            vec![src(), Match::eq(Field::Iif, br())],
            accept.clone(),
        ),
    );
    let ct = Match::eq(
        Field::CtState,
        Value::CtStates(CtStates::RELATED_ESTABLISHED),
    );
    s.insert(
        t,
        fwi,
        Rule::new(
            ip.clone(),
            vec![dst(NET), Match::eq(Field::Oif, br()), ct],
            accept,
        ),
    );
    let t = rs.table_mut(Family::Ip, &name("nat"), Ownership::External);
    let prt = t.chain_id("LIBVIRT_PRT").unwrap();
    let not_dst = || Match::ne(Field::Daddr(IpFamily::V4), net(NET));
    let masq = |p: Option<PortRange>| Statement::Nat(Nat::Masquerade { ports: p });
    s.insert(
        t,
        prt,
        Rule::new(ip.clone(), vec![src(), not_dst()], None).with(masq(None)),
    );
    for p in [L4Proto::Udp, L4Proto::Tcp] {
        let m = vec![src(), Match::eq(Field::L4Proto, Value::Proto(p)), not_dst()];
        s.insert(
            t,
            prt,
            Rule::new(ip.clone(), m, None).with(masq(Some(PortRange::new(1024, 65535).unwrap()))),
        );
    }
    for d in ["255.255.255.255/32", "224.0.0.0/24"] {
        s.insert(
            t,
            prt,
            Rule::new(ip.clone(), vec![src(), dst(d)], Some(Verdict::Return)),
        );
    }
    let t = rs.table_mut(Family::Ip, &name("mangle"), Ownership::External);
    let prt = t.chain_id("LIBVIRT_PRT").unwrap();
    s.insert(
        t,
        prt,
        Rule::new(
            ip,
            vec![Match::eq(Field::Oif, br()), port(L4Proto::Udp, 68)],
            None,
        )
        .with(Statement::ChecksumFill),
    );
    rs
}

/// One inet table using every construct the nft targets print: named and
/// concatenated sets, verdict maps, base chains of three kinds, every
/// reject kind, log, ether, ct state and NAT statements.
pub(crate) fn every_construct() -> Ruleset {
    let p = || from("r.xml", 1, "rule");
    let mut rs = Ruleset::default();
    let t = rs.table_mut(Family::Inet, &name("fwc"), Ownership::Owned);
    // Concatenated keys only appear in declarations and verdict maps.
    t.add_set(Set {
        name: name("nets"),
        key: vec![KeyType::Ifname, KeyType::Ipv4Addr],
        interval: true,
        elements: vec![
            vec![ifname("virbr0"), net("192.168.122.0/24")],
            vec![ifname("virbr1"), net("10.0.0.1/32")],
        ],
    });
    let fwd = base(t, "forward", Hook::Forward, ChainType::Filter, 0);
    let guests = regular(t, "guests");
    let pre = base(t, "prerouting", Hook::Prerouting, ChainType::Nat, -100);
    let map = t.add_map(Map {
        name: name("by_bridge"),
        key: vec![KeyType::Ifname],
        interval: false,
        elements: vec![
            (vec![ifname("virbr0")], Verdict::Jump(guests)),
            (vec![ifname("virbr1")], Verdict::Goto(guests)),
        ],
    });
    let ct = Value::CtStates(CtStates::RELATED_ESTABLISHED);
    t.chain_mut(fwd).rules = vec![
        Rule::new(p(), vec![Match::ne(Field::CtState, ct)], None).with(Statement::Counter),
        Rule::new(
            p(),
            vec![],
            Some(Verdict::Vmap {
                key: vec![Field::IifName],
                map: MapRef::Named(map),
            }),
        ),
        Rule::new(
            p(),
            vec![Match::eq(Field::Dport(L4Proto::Tcp), ports(22, 22))],
            Some(Verdict::Reject(RejectKind::TcpReset)),
        ),
        Rule::new(
            p(),
            vec![],
            Some(Verdict::Reject(RejectKind::AdminProhibited)),
        ),
    ];
    let mut logged = Rule::new(
        p(),
        vec![Match::eq(
            Field::Saddr(IpFamily::V4),
            Value::Set(SetRef::Anonymous(vec![
                net("10.0.0.0/8"),
                net("192.168.1.1/32"),
            ])),
        )],
        Some(Verdict::Drop),
    )
    .with(Statement::Log {
        prefix: Comment::new("fwc: dropped ").unwrap(),
    });
    logged.comment = Some(Comment::new("guests' rule").unwrap());
    t.chain_mut(guests).rules = vec![
        Rule::new(
            p(),
            vec![Match::eq(
                Field::EtherSaddr,
                Value::Mac("52:54:00:00:00:01".parse().unwrap()),
            )],
            Some(Verdict::Return),
        ),
        logged,
    ];
    let addr = AddrRange::new(
        "192.168.122.2".parse().unwrap(),
        "192.168.122.9".parse().unwrap(),
    )
    .unwrap();
    t.chain_mut(pre).rules = vec![Rule::new(
        p(),
        vec![
            Match::eq(Field::L4Proto, Value::Proto(L4Proto::Tcp)),
            Match::eq(Field::Dport(L4Proto::Tcp), ports(8080, 8080)),
        ],
        None,
    )
    .with(Statement::Nat(Nat::Dnat {
        addr,
        ports: Some(PortRange::new(80, 80).unwrap()),
    }))];
    let post = base(t, "postrouting", Hook::Postrouting, ChainType::Nat, 100);
    let to = AddrRange::new("10.0.0.1".parse().unwrap(), "10.0.0.5".parse().unwrap()).unwrap();
    t.chain_mut(post).rules = vec![
        Rule::new(
            p(),
            vec![
                Match::eq(Field::L4Proto, Value::Proto(L4Proto::Tcp)),
                Match::eq(Field::Saddr(IpFamily::V4), net("192.168.122.0/24")),
            ],
            None,
        )
        .with(Statement::Nat(Nat::Snat {
            addr: to,
            ports: Some(PortRange::new(1024, 65535).unwrap()),
        })),
        Rule::new(p(), vec![Match::eq(Field::OifName, ifname("eth0"))], None)
            .with(Statement::Nat(Nat::Masquerade { ports: None })),
        Rule::new(p(), vec![], None),
    ];
    rs
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/libvirt/network")
}

/// The commands of one of libvirt's expected files, one per line (its
/// `" \"` continuations joined), without the read-only probes that fwc
/// leaves out (`nft list`, `--list-rules`, `tc qdisc show`).
pub(crate) fn corpus(file: &str) -> Vec<String> {
    let path = corpus_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut cmds = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        match line.strip_suffix(" \\") {
            Some(part) => {
                cur.push_str(part);
                cur.push(' ');
            }
            None => {
                cur.push_str(line);
                cmds.push(std::mem::take(&mut cur));
            }
        }
    }
    cmds.retain(|c| {
        !(c.starts_with("nft list ")
            || c.contains("--list-rules")
            || c.starts_with("tc qdisc show "))
    });
    cmds
}

/// Joins commands as the emitters print them.
pub(crate) fn lines(cmds: &[String]) -> String {
    cmds.iter().map(|c| format!("{c}\n")).collect()
}

/// Runs `script` with `sh` in a fresh network namespace, or says why it
/// cannot (not root, no `unshare`, a tool missing) and returns `None`.
pub(crate) fn in_netns(script: &str, tools: &[&str]) -> Option<std::process::Output> {
    // CI sets FWC_REQUIRE_KERNEL=1: there a kernel check that cannot run fails.
    let skip = |why: &str| {
        if std::env::var("FWC_REQUIRE_KERNEL").is_ok_and(|v| v == "1") {
            panic!("kernel check cannot run but FWC_REQUIRE_KERNEL=1: {why}");
        }
        eprintln!("skipped: {why}");
    };
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        skip("the kernel check needs root");
        return None;
    }
    for tool in tools {
        let found = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
            .iter()
            .any(|d| Path::new(d).join(tool).exists());
        if !found {
            skip(&format!("{tool} is not installed"));
            return None;
        }
    }
    let probe = Command::new("unshare")
        .args(["-n", "true"])
        .stderr(Stdio::null())
        .status();
    if !matches!(probe, Ok(s) if s.success()) {
        skip("cannot create a network namespace (unshare -n)");
        return None;
    }
    let out = Command::new("unshare")
        .args(["-n", "sh", "-c", script])
        .env("PATH", "/usr/sbin:/sbin:/usr/bin:/bin")
        .output()
        .expect("unshare runs");
    Some(out)
}

/// `rs` emitted for `target` in `format` and `direction`.
pub(crate) fn emit_as(
    rs: &Ruleset,
    target: crate::Target,
    format: crate::Format,
    direction: crate::Direction,
) -> Result<crate::Artifact, crate::Error> {
    crate::emit(rs, target, &crate::Options { format, direction })
}

/// Asserts that a command run by [`in_netns`] succeeded, showing its
/// output if not.
pub(crate) fn assert_succeeded(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes `text` to a fresh temporary file and returns it (kept alive by
/// the caller).
pub(crate) fn temp_file(text: &str) -> tempfile::NamedTempFile {
    use std::io::Write as _;
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}
