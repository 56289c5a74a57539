//! Rules, values and verdicts as libnftables JSON, spelled from the nft
//! model ([`crate::nft::model`]) that the text writer spells too, so both
//! say the same rule. The shapes are those `nft -j list ruleset` prints
//! (nft 1.0.6, JSON schema version 1).

use ir::{CmpOp, CtStates, Field, MapRef, Match, PortRange, Rule, SetRef, Table, Value, Verdict};
use serde_json::{json, Value as Json};

use crate::nft::model::{self, Lhs, NatStmt, Stmt};

/// The expression that reads `field`: `{"meta": {"key": "iifname"}}`,
/// `{"payload": {"protocol": "ip", "field": "saddr"}}`, `{"ct": {"key": "state"}}`.
fn lhs(field: Field) -> Json {
    lhs_json(model::lhs(field))
}

fn lhs_json(l: Lhs) -> Json {
    match l {
        Lhs::Meta { key, .. } => json!({ "meta": { "key": key } }),
        // Two-word fields (`arp saddr ether`) keep their space in JSON.
        Lhs::Payload { protocol, field } => {
            json!({ "payload": { "protocol": protocol, "field": field } })
        }
        Lhs::Ct { key } => json!({ "ct": { "key": key } }),
        Lhs::Raw { base, offset, len } => {
            json!({ "payload": { "base": base, "offset": offset, "len": len } })
        }
    }
}

fn op_text(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "==",
        CmpOp::Ne => "!=",
    }
}

/// TCP flags: one name, their bitwise or, or 0.
fn flags(f: ir::TcpFlagSet) -> Json {
    let names = model::tcp_flag_names(f);
    match names.len() {
        0 => json!(0),
        1 => json!(names[0]),
        _ => json!({ "|": names }),
    }
}

/// A raw payload value: numbers and MACs as integers, a prefix as its bits
/// and mask.
fn raw_value(v: &Value, len: u32) -> (Option<Json>, Json) {
    let mac = |a: &ir::MacAddr| a.0.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b));
    match v {
        Value::Int(r) if r.start == r.end => (None, json!(r.start)),
        Value::Int(r) => (None, json!({ "range": [r.start, r.end] })),
        Value::Mac(a) => (None, json!(mac(a))),
        Value::MacMasked { addr, mask } => (Some(json!(mac(mask))), json!(mac(addr))),
        Value::Prefix(n) => {
            let bits = match n.addr() {
                std::net::IpAddr::V4(a) => u64::from(u32::from(a)),
                std::net::IpAddr::V6(_) => 0,
            };
            let plen = u32::from(n.prefix_len());
            if plen >= len {
                (None, json!(bits))
            } else {
                let full = (1u64 << len) - 1;
                let keep = if plen == 0 {
                    0
                } else {
                    full & !((1u64 << (len - plen)) - 1)
                };
                (Some(json!(keep)), json!(bits & keep))
            }
        }
        other => (None, json!(other.to_string())),
    }
}

/// One item as is, several as a concatenation (`a . b`).
fn concat(mut items: Vec<Json>) -> Json {
    if items.len() == 1 {
        items.remove(0)
    } else {
        json!({ "concat": items })
    }
}

fn port_range(p: &PortRange) -> Json {
    if p.start == p.end {
        json!(p.start)
    } else {
        json!({ "range": [p.start, p.end] })
    }
}

/// Conntrack states as a value: one name, or their bitwise or.
fn ct_states(s: &CtStates) -> Json {
    let names = s.names();
    if names.len() == 1 {
        json!(names[0])
    } else {
        json!({ "|": names })
    }
}

/// A value (`in_set`: inside a set, see [`model::bare_address`]).
fn value(table: &Table, v: &Value, in_set: bool) -> Json {
    match v {
        Value::Ifname(n) => json!(n.as_str()),
        Value::Prefix(n) if model::bare_address(n, in_set) => json!(n.addr().to_string()),
        Value::Prefix(n) => {
            json!({ "prefix": { "addr": n.addr().to_string(), "len": n.prefix_len() } })
        }
        Value::Proto(p) => json!(p.name()),
        Value::Ports(p) => port_range(p),
        Value::CtStates(s) => ct_states(s),
        Value::Mac(m) | Value::MacMasked { addr: m, .. } => json!(m.to_string()),
        Value::AddrRange(r) if r.start == r.end => json!(r.start.to_string()),
        Value::AddrRange(r) => json!({ "range": [r.start.to_string(), r.end.to_string()] }),
        Value::Int(r) if r.start == r.end => json!(r.start),
        Value::Int(r) => json!({ "range": [r.start, r.end] }),
        Value::CtDir(ir::CtDirection::Original) => json!("original"),
        Value::CtDir(ir::CtDirection::Reply) => json!("reply"),
        // Refused by `model::inexpressible` before anything is written.
        Value::Bool(b) => json!(b),
        Value::TcpFlags { set, .. } => json!(set.0),
        Value::IpSet { name, .. } => json!(name.as_str()),
        Value::Set(SetRef::Anonymous(items)) => {
            let items: Vec<_> = items.iter().map(|i| value(table, i, true)).collect();
            json!({ "set": items })
        }
        Value::Set(SetRef::Named(id)) => json!(format!("@{}", table.sets[id.0].name)),
    }
}

/// One set element or map key.
pub(crate) fn element(table: &Table, values: &[Value]) -> Json {
    concat(values.iter().map(|v| value(table, v, true)).collect())
}

/// A comparison. Conntrack states compared for equality are nft's implicit
/// flag test ("any of these"), which JSON writes as `in` with a list.
fn match_expr(table: &Table, rule: &Rule, m: &Match, out: &mut Vec<Json>) {
    let cmp = |op: &str, left: Json, right: Json| json!({ "match": { "op": op, "left": left, "right": right } });
    match (m.field, &m.value) {
        (ir::Field::Arp(ir::ArpField::Gratuitous), _) => {
            for mask in model::SAME_IP_MASKS {
                let part = |f: &str| json!({ "&": [{ "payload": { "protocol": "arp", "field": f } }, mask] });
                let key = json!({ "concat": [part("saddr ip"), part("daddr ip")] });
                out.push(cmp("==", key, json!(format!("@{}", model::SAME_IP_SET))));
            }
            return;
        }
        (ir::Field::ConnCount, v) => {
            let n = model::count_over(v).unwrap_or(0);
            out.push(json!({ "ct count": { "val": n, "inv": m.op == CmpOp::Eq } }));
            return;
        }
        (ir::Field::TcpFlags, Value::TcpFlags { mask, set }) => {
            let left = json!({ "&": [lhs(m.field), flags(*mask)] });
            out.push(cmp(op_text(m.op), left, flags(*set)));
            return;
        }
        _ => {}
    }
    let l = model::rule_lhs(rule, m.field);
    if let Lhs::Raw { len, .. } = l {
        let (mask, right) = raw_value(&m.value, len);
        let left = match mask {
            Some(mask) => json!({ "&": [lhs_json(l), mask] }),
            None => lhs_json(l),
        };
        out.push(cmp(op_text(m.op), left, right));
        return;
    }
    if let Value::MacMasked { addr, mask } = &m.value {
        if mask.0 != [0xff; 6] {
            let left = json!({ "&": [lhs_json(l), mask.to_string()] });
            out.push(cmp(op_text(m.op), left, json!(addr.to_string())));
            return;
        }
    }
    let (op, right) = match (&m.value, m.op) {
        (Value::CtStates(s), CmpOp::Eq) => ("in", json!(s.names())),
        (Value::Int(r), op) if m.field == ir::Field::EtherType => {
            let v = match (r.notation, model::ether_type_name(r.start)) {
                (ir::Notation::Name, Some(name)) if r.start == r.end => json!(name),
                _ => value(table, &m.value, false),
            };
            (op_text(op), v)
        }
        (v, op) => (op_text(op), value(table, v, false)),
    };
    out.push(cmp(op, lhs_json(l), right));
}

/// `{"masquerade": null}`, `{"snat": {"family": "ip", "addr": ..., "port": ...}}`.
fn nat(n: &NatStmt<'_>) -> Json {
    let mut args = serde_json::Map::new();
    if let Some(f) = n.family {
        let name = if f == ir::IpFamily::V4 { "ip" } else { "ip6" };
        args.insert("family".into(), json!(name));
    }
    if let Some(a) = n.addr {
        let addr = if a.start == a.end {
            json!(a.start.to_string())
        } else {
            json!({ "range": [a.start.to_string(), a.end.to_string()] })
        };
        args.insert("addr".into(), addr);
    }
    if let Some(p) = n.ports {
        args.insert("port".into(), port_range(p));
    }
    let args = if args.is_empty() {
        Json::Null
    } else {
        Json::Object(args)
    };
    json!({ n.kind.keyword(): args })
}

/// A verdict, also as the value of a map element.
pub(crate) fn verdict(table: &Table, v: &Verdict) -> Json {
    let chain = |id: &ir::ChainId| json!({ "target": table.chain(*id).name.as_str() });
    match v {
        Verdict::Accept => json!({ "accept": null }),
        Verdict::Drop => json!({ "drop": null }),
        Verdict::Return => json!({ "return": null }),
        Verdict::Reject(kind) => match model::reject(table.family, *kind) {
            None => json!({ "reject": null }),
            Some(with) => match with.code {
                Some(code) => json!({ "reject": { "type": with.ty, "expr": code } }),
                None => json!({ "reject": { "type": with.ty } }),
            },
        },
        Verdict::Jump(c) => json!({ "jump": chain(c) }),
        Verdict::Goto(c) => json!({ "goto": chain(c) }),
        Verdict::Vmap { key, map } => {
            let data = match map {
                MapRef::Named(id) => json!(format!("@{}", table.maps[id.0].name)),
                MapRef::Anonymous(elems) => json!({ "set": map_elements(table, elems) }),
            };
            json!({ "vmap": { "key": concat(key.iter().map(|f| lhs(*f)).collect()), "data": data } })
        }
    }
}

/// Map elements as `[key, verdict]` pairs.
pub(crate) fn map_elements(table: &Table, elems: &[(Vec<Value>, Verdict)]) -> Vec<Json> {
    elems
        .iter()
        .map(|(k, v)| json!([element(table, k), verdict(table, v)]))
        .collect()
}

/// The rule's `expr` list (see [`model::statements`]).
pub(crate) fn rule_exprs(table: &Table, rule: &Rule) -> Vec<Json> {
    let mut out = Vec::new();
    for s in model::statements(table.family, rule) {
        let j = match s {
            Stmt::Match(m) => {
                match_expr(table, rule, m, &mut out);
                continue;
            }
            Stmt::Counter => json!({ "counter": null }),
            Stmt::Log(prefix) => {
                json!({ "log": { "prefix": crate::quote::nft_log_prefix_text(prefix.as_str()) } })
            }
            Stmt::Nat(n) => nat(&n),
            Stmt::Verdict(v) => verdict(table, v),
            Stmt::Continue => json!({ "continue": null }),
        };
        out.push(j);
    }
    out
}

#[cfg(test)]
mod tests {
    use ir::*;

    use super::*;
    use crate::testutil::*;

    fn p() -> Provenance {
        from("r.xml", 1, "rule")
    }

    #[test]
    fn matches_in_nfts_json_shapes() {
        let t = Table::new(Family::Inet, name("t"), Ownership::Owned);
        let r = Rule::new(
            p(),
            vec![
                Match::ne(Field::IifName, ifname("eth0")),
                Match::eq(Field::L4Proto, Value::Proto(L4Proto::Udp)),
                Match::eq(
                    Field::Dport(L4Proto::Udp),
                    Value::Set(SetRef::Anonymous(vec![ports(53, 53), ports(67, 68)])),
                ),
                Match::eq(
                    Field::Saddr(IpFamily::V4),
                    Value::Set(SetRef::Anonymous(vec![
                        net("10.0.0.0/8"),
                        net("192.168.1.1/32"),
                    ])),
                ),
                Match::eq(Field::Daddr(IpFamily::V4), net("255.255.255.255/32")),
                Match::eq(
                    Field::CtState,
                    Value::CtStates(CtStates::RELATED_ESTABLISHED),
                ),
                Match::ne(
                    Field::CtState,
                    Value::CtStates(CtStates::RELATED_ESTABLISHED),
                ),
                Match::eq(
                    Field::EtherSaddr,
                    Value::Mac("52:54:00:00:00:01".parse().unwrap()),
                ),
            ],
            None,
        );
        let empty = Rule::new(p(), vec![], None);
        assert_eq!(rule_exprs(&t, &empty), [json!({ "continue": null })]);
        let m = |op: &str, left: Json, right: Json| json!({ "match": { "op": op, "left": left, "right": right } });
        let meta = |k: &str| json!({ "meta": { "key": k } });
        let payload = |p: &str, f: &str| json!({ "payload": { "protocol": p, "field": f } });
        let ct = json!({ "ct": { "key": "state" } });
        assert_eq!(
            rule_exprs(&t, &r),
            [
                m("!=", meta("iifname"), json!("eth0")),
                m("==", meta("l4proto"), json!("udp")),
                m(
                    "==",
                    payload("udp", "dport"),
                    json!({ "set": [53, { "range": [67, 68] }] })
                ),
                m(
                    "==",
                    payload("ip", "saddr"),
                    json!({ "set": [{ "prefix": { "addr": "10.0.0.0", "len": 8 } }, "192.168.1.1"] })
                ),
                m(
                    "==",
                    payload("ip", "daddr"),
                    json!({ "prefix": { "addr": "255.255.255.255", "len": 32 } })
                ),
                m("in", ct.clone(), json!(["related", "established"])),
                m("!=", ct, json!({ "|": ["related", "established"] })),
                m("==", payload("ether", "saddr"), json!("52:54:00:00:00:01")),
            ]
        );
    }

    #[test]
    fn statements_and_verdicts() {
        let mut t = Table::new(Family::Inet, name("t"), Ownership::Owned);
        let other = regular(&mut t, "other");
        let addr = AddrRange::new(
            "192.168.122.2".parse().unwrap(),
            "192.168.122.9".parse().unwrap(),
        )
        .unwrap();
        let r = Rule::new(p(), vec![], Some(Verdict::Reject(RejectKind::TcpReset)))
            .with(Statement::Log {
                prefix: Comment::new("fwc: ").unwrap(),
            })
            .with(Statement::Counter)
            .with(Statement::Nat(Nat::Dnat {
                addr,
                ports: Some(PortRange::new(80, 80).unwrap()),
            }))
            .with(Statement::Nat(Nat::Masquerade { ports: None }))
            .with(Statement::Nat(Nat::Masquerade {
                ports: Some(PortRange::new(1024, 65535).unwrap()),
            }));
        assert_eq!(
            rule_exprs(&t, &r),
            [
                json!({ "log": { "prefix": "fwc: " } }),
                json!({ "counter": null }),
                json!({ "dnat": { "family": "ip", "addr": { "range": ["192.168.122.2", "192.168.122.9"] }, "port": 80 } }),
                json!({ "masquerade": null }),
                json!({ "masquerade": { "port": { "range": [1024, 65535] } } }),
                json!({ "reject": { "type": "tcp reset" } }),
            ]
        );
        let vmap = Verdict::Vmap {
            key: vec![Field::IifName, Field::Saddr(IpFamily::V4)],
            map: MapRef::Anonymous(vec![(
                vec![ifname("virbr0"), net("192.168.122.0/24")],
                Verdict::Goto(other),
            )]),
        };
        assert_eq!(
            verdict(&t, &vmap),
            json!({ "vmap": {
                "key": { "concat": [
                    { "meta": { "key": "iifname" } },
                    { "payload": { "protocol": "ip", "field": "saddr" } }
                ] },
                "data": { "set": [[
                    { "concat": ["virbr0", { "prefix": { "addr": "192.168.122.0", "len": 24 } }] },
                    { "goto": { "target": "other" } }
                ]] }
            } })
        );
        assert_eq!(
            verdict(&t, &Verdict::Reject(RejectKind::AdminProhibited)),
            json!({ "reject": { "type": "icmpx", "expr": "admin-prohibited" } })
        );
        assert_eq!(
            verdict(&t, &Verdict::Reject(RejectKind::Default)),
            json!({ "reject": null })
        );
    }
}
