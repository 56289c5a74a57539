//! Resolution tests: filters built in Rust, no XML.

use ir::Source;

use super::*;

fn at(file: &str, line: u32, element: &str) -> Source {
    Source {
        file: file.into(),
        line,
        column: 3,
        element: element.into(),
    }
}

/// A syntax for the kinds these tests use, on std's parsers.
struct TestSyntax;

impl Syntax for TestSyntax {
    fn parse(&self, kind: ValueKind, text: &str) -> Result<Value, String> {
        let bad = || kind.expected().to_string();
        match kind {
            ValueKind::Ipv4 => text.parse().map(Value::Ipv4).map_err(|_| bad()),
            ValueKind::U16 => text.parse().map(Value::U16).map_err(|_| bad()),
            ValueKind::Mac => text.parse().map(Value::Mac).map_err(|_| bad()),
            _ => Err(format!("{kind:?} is not supported by the test syntax")),
        }
    }
}

/// `<rule action='accept' direction='out'><tcp srcipaddr=… srcportstart=…/></rule>`
/// with `$NAME` values for attributes starting with `$`.
fn tcp_rule(file: &str, line: u32, attrs: &[(&str, &str)]) -> Entry {
    let mut m = ProtocolMatch::new(ProtocolKind::Tcp);
    for (name, value) in attrs {
        let template = match value.strip_prefix('$') {
            Some(var) => Template::Var(VarRef {
                name: var.into(),
                index: None,
                source: at(file, line, "tcp"),
            }),
            None => Template::Literal(
                TestSyntax
                    .parse(
                        m.attributes()
                            .iter()
                            .find(|a| a.name == *name)
                            .unwrap()
                            .kind,
                        value,
                    )
                    .unwrap(),
            ),
        };
        m.set(name, Attr::new(template)).unwrap();
    }
    Entry::Rule(Rule {
        action: Action::Accept,
        direction: Direction::Out,
        priority: 500,
        statematch: true,
        protocol: m,
        source: at(file, line, "rule"),
    })
}

fn reference(file: &str, line: u32, name: &str, params: &[(&str, &str)]) -> Entry {
    let mut p = Vars::new();
    for (k, v) in params {
        p.push(*k, *v);
    }
    Entry::FilterRef(FilterRef {
        name: name.into(),
        params: p,
        source: at(file, line, "filterref"),
    })
}

fn filter(name: &str, chain: &str, entries: Vec<Entry>) -> Filter {
    let chain = ChainName::new(chain).unwrap();
    Filter {
        name: name.into(),
        priority: chain.kind().default_priority(),
        chain,
        entries,
        source: at(&format!("{name}.xml"), 1, "filter"),
    }
}

fn library(filters: Vec<Filter>) -> Library {
    let mut lib = Library::new();
    for f in filters {
        lib.insert(f).unwrap();
    }
    lib
}

fn src_ips(rules: &[InstantiatedRule]) -> Vec<String> {
    rules
        .iter()
        .map(|r| {
            r.rule
                .protocol
                .attrs()
                .iter()
                .map(|a| format!("{}={}", a.name, a.text))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

#[test]
fn rules_are_collected_depth_first_in_document_order() {
    let lib = library(vec![
        filter(
            "child",
            "ipv4-x",
            vec![
                tcp_rule("child.xml", 2, &[("dstportstart", "1")]),
                reference("child.xml", 3, "leaf", &[]),
                tcp_rule("child.xml", 4, &[("dstportstart", "3")]),
            ],
        ),
        filter(
            "leaf",
            "mac",
            vec![tcp_rule("leaf.xml", 2, &[("dstportstart", "2")])],
        ),
    ]);
    let root = filter(
        "root",
        "root",
        vec![
            tcp_rule("root.xml", 2, &[("dstportstart", "0")]),
            reference("root.xml", 3, "child", &[]),
            tcp_rule("root.xml", 4, &[("dstportstart", "4")]),
        ],
    );
    let rules = resolve(Root::Filter(&root), &lib, &Vars::new(), &TestSyntax).unwrap();
    assert_eq!(
        src_ips(&rules),
        [
            "dstportstart=0",
            "dstportstart=1",
            "dstportstart=2",
            "dstportstart=3",
            "dstportstart=4"
        ]
    );
    let chains: Vec<_> = rules
        .iter()
        .map(|r| (r.filter.as_str(), r.chain.as_str(), r.chain_priority))
        .collect();
    assert_eq!(
        chains,
        [
            ("root", "root", 0),
            ("child", "ipv4-x", -700),
            ("leaf", "mac", -800),
            ("child", "ipv4-x", -700),
            ("root", "root", 0)
        ]
    );
    assert_eq!(rules[2].rule.source.file.as_ref(), "leaf.xml");
}

#[test]
fn an_unknown_filter_is_reported_at_its_reference() {
    let lib = library(vec![filter(
        "child",
        "root",
        vec![reference("child.xml", 7, "nowhere", &[])],
    )]);
    let root = filter("root", "root", vec![reference("root.xml", 2, "child", &[])]);
    let err = resolve(Root::Filter(&root), &lib, &Vars::new(), &TestSyntax).unwrap_err();
    assert_eq!(err.to_string(), "unknown filter 'nowhere'");
    assert_eq!(err.at(), &at("child.xml", 7, "filterref"));
}

#[test]
fn a_cycle_names_its_filters_in_order_and_the_closing_reference() {
    let lib = library(vec![
        filter(
            "a",
            "root",
            vec![
                reference("a.xml", 2, "ok", &[]),
                reference("a.xml", 3, "b", &[]),
            ],
        ),
        filter("b", "root", vec![reference("b.xml", 5, "a", &[])]),
        filter("ok", "root", vec![]),
    ]);
    let root = filter("top", "root", vec![reference("top.xml", 2, "a", &[])]);
    let err = resolve(Root::Filter(&root), &lib, &Vars::new(), &TestSyntax).unwrap_err();
    assert_eq!(err.to_string(), "filter reference cycle: a -> b -> a");
    assert_eq!(err.at(), &at("b.xml", 5, "filterref"));

    // A filter referencing itself, and a reference back to the root.
    let selfish = library(vec![filter(
        "s",
        "root",
        vec![reference("s.xml", 4, "s", &[])],
    )]);
    let root = filter("top", "root", vec![reference("top.xml", 2, "s", &[])]);
    let err = resolve(Root::Filter(&root), &selfish, &Vars::new(), &TestSyntax).unwrap_err();
    assert_eq!(err.to_string(), "filter reference cycle: s -> s");
    let back = library(vec![filter(
        "c",
        "root",
        vec![reference("c.xml", 9, "top", &[])],
    )]);
    let root = filter("top", "root", vec![reference("top.xml", 2, "c", &[])]);
    let err = resolve(Root::Filter(&root), &back, &Vars::new(), &TestSyntax).unwrap_err();
    assert_eq!(err.to_string(), "filter reference cycle: top -> c -> top");
    assert_eq!(err.at(), &at("c.xml", 9, "filterref"));
}

#[test]
fn a_filter_referenced_twice_is_not_a_cycle() {
    let lib = library(vec![
        filter(
            "mid",
            "root",
            vec![
                reference("mid.xml", 2, "leaf", &[]),
                reference("mid.xml", 3, "leaf", &[]),
            ],
        ),
        filter(
            "leaf",
            "root",
            vec![tcp_rule("leaf.xml", 2, &[("dstportstart", "9")])],
        ),
    ]);
    let root = filter(
        "top",
        "root",
        vec![
            reference("top.xml", 2, "mid", &[]),
            reference("top.xml", 3, "leaf", &[]),
        ],
    );
    let rules = resolve(Root::Filter(&root), &lib, &Vars::new(), &TestSyntax).unwrap();
    assert_eq!(rules.len(), 3);
}

#[test]
fn parameters_fill_in_what_the_caller_does_not_define() {
    let lib = library(vec![filter(
        "child",
        "root",
        vec![tcp_rule(
            "child.xml",
            2,
            &[("srcipaddr", "$IP"), ("dstportstart", "$PORT")],
        )],
    )]);
    let root = filter(
        "top",
        "root",
        vec![reference(
            "top.xml",
            2,
            "child",
            &[("IP", "192.168.0.1"), ("PORT", "22")],
        )],
    );
    let mut vars = Vars::new();
    vars.set("IP", "10.0.0.1");
    let rules = resolve(Root::Filter(&root), &lib, &vars, &TestSyntax).unwrap();
    assert_eq!(src_ips(&rules), ["srcipaddr=10.0.0.1 dstportstart=22"]);

    // $IP and $PORT share iterator 0: a two-value PORT cannot pair with one IP.
    vars.push("PORT", "80");
    vars.push("PORT", "443");
    let err = resolve(Root::Filter(&root), &lib, &vars, &TestSyntax).unwrap_err();
    assert_eq!(
        err.to_string(),
        "'$PORT' and '$IP' share an iterator but have 2 and 1 values; \
         variables iterated in parallel must have as many values"
    );
}

#[test]
fn an_undefined_variable_is_reported_at_its_use() {
    let root = filter(
        "top",
        "root",
        vec![
            tcp_rule("top.xml", 2, &[("dstportstart", "1")]),
            tcp_rule("top.xml", 3, &[("srcipaddr", "$IP")]),
        ],
    );
    let err = resolve(
        Root::Filter(&root),
        &Library::new(),
        &Vars::new(),
        &TestSyntax,
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "undefined variable 'IP'");
    assert_eq!(err.at(), &at("top.xml", 3, "tcp"));
}

#[test]
fn a_bad_variable_value_names_variable_and_value() {
    let root = filter(
        "top",
        "root",
        vec![tcp_rule("top.xml", 4, &[("srcipaddr", "$IP")])],
    );
    let mut vars = Vars::new();
    vars.set("IP", "fe80::1");
    let err = resolve(Root::Filter(&root), &Library::new(), &vars, &TestSyntax).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid IPv4 address 'fe80::1' in variable '$IP' (a dotted-quad IPv4 address)"
    );
    assert_eq!(err.at().line, 4);
}

#[test]
fn a_binding_resolves_its_filter_with_mac() {
    let lib = library(vec![filter(
        "no-mac-spoofing",
        "mac",
        vec![{
            let mut m = ProtocolMatch::new(ProtocolKind::Mac);
            m.set(
                "srcmacaddr",
                Attr::new(Template::Var(VarRef {
                    name: "MAC".into(),
                    index: None,
                    source: at("nms.xml", 3, "mac"),
                })),
            )
            .unwrap();
            Entry::Rule(Rule {
                action: Action::Return,
                direction: Direction::Out,
                priority: 500,
                statematch: true,
                protocol: m,
                source: at("nms.xml", 2, "rule"),
            })
        }],
    )]);
    let binding = FilterBinding {
        portdev: ir::Ifname::new("vnet0").unwrap(),
        linkdev: None,
        mac: "52:54:00:ab:cd:ef".parse().unwrap(),
        filter: FilterRef {
            name: "no-mac-spoofing".into(),
            params: Vars::new(),
            source: at("b.xml", 6, "filterref"),
        },
        source: at("b.xml", 1, "filterbinding"),
    };
    let rules = resolve(Root::Binding(&binding), &lib, &Vars::new(), &TestSyntax).unwrap();
    assert_eq!(src_ips(&rules), ["srcmacaddr=52:54:00:ab:cd:ef"]);
    assert_eq!(rules[0].chain_priority, -800);

    let mut missing = binding.clone();
    missing.filter.name = "absent".into();
    let err = resolve(Root::Binding(&missing), &lib, &Vars::new(), &TestSyntax).unwrap_err();
    assert_eq!(err.to_string(), "unknown filter 'absent'");
    assert_eq!(err.at(), &at("b.xml", 6, "filterref"));
}

#[test]
fn a_library_refuses_a_second_filter_of_a_name() {
    let mut lib = Library::new();
    lib.insert(filter("x", "root", vec![])).unwrap();
    let mut again = filter("x", "mac", vec![]);
    again.source = at("y.xml", 1, "filter");
    let err = lib.insert(again).unwrap_err();
    assert_eq!(err.to_string(), "filter 'x' is defined twice");
    assert_eq!(err.first.file.as_ref(), "x.xml");
    assert_eq!(err.again.file.as_ref(), "y.xml");
    assert_eq!(lib.len(), 1);
    assert_eq!(lib.get("x").unwrap().chain.as_str(), "root");
}
