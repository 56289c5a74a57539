//! nft-like text of IR rules, for artifacts that have no line of text per
//! rule (nft JSON) and for set and map elements.

use ir::{ChainKind, MapRef, Match, RejectKind, Rule, SetRef, Table, Value, Verdict};

/// A value; named sets resolve through `table`.
pub fn value(table: &Table, v: &Value) -> String {
    match v {
        Value::Set(SetRef::Named(id)) => match table.sets.get(id.0) {
            Some(s) => format!("@{}", s.name),
            None => format!("@set#{}", id.0),
        },
        Value::Set(SetRef::Anonymous(items)) => {
            let items: Vec<_> = items.iter().map(|i| value(table, i)).collect();
            format!("{{ {} }}", items.join(", "))
        }
        other => other.to_string(),
    }
}

/// A set element or map key: values joined by ` . `.
pub fn element(table: &Table, values: &[Value]) -> String {
    values
        .iter()
        .map(|v| value(table, v))
        .collect::<Vec<_>>()
        .join(" . ")
}

fn one_match(table: &Table, m: &Match) -> String {
    let op = match m.op {
        ir::CmpOp::Eq => "",
        ir::CmpOp::Ne => "!= ",
    };
    format!("{} {op}{}", m.field, value(table, &m.value))
}

/// A verdict; chain and map handles resolve through `table`.
pub fn verdict(table: &Table, v: &Verdict) -> String {
    let chain = |id: &ir::ChainId| {
        table
            .chains
            .get(id.0)
            .map(|c| c.name.to_string())
            .unwrap_or_else(|| format!("#{}", id.0))
    };
    match v {
        Verdict::Accept => "accept".into(),
        Verdict::Drop => "drop".into(),
        Verdict::Reject(RejectKind::Default) => "reject".into(),
        Verdict::Reject(RejectKind::TcpReset) => "reject with tcp reset".into(),
        Verdict::Reject(RejectKind::PortUnreachable) => "reject with port-unreachable".into(),
        Verdict::Reject(RejectKind::AdminProhibited) => "reject with admin-prohibited".into(),
        Verdict::Return => "return".into(),
        Verdict::Jump(c) => format!("jump {}", chain(c)),
        Verdict::Goto(c) => format!("goto {}", chain(c)),
        Verdict::Vmap { key, map } => {
            let key: Vec<_> = key.iter().map(|k| k.to_string()).collect();
            let map = match map {
                MapRef::Named(id) => match table.maps.get(id.0) {
                    Some(m) => format!("@{}", m.name),
                    None => format!("@map#{}", id.0),
                },
                MapRef::Anonymous(elems) => {
                    let elems: Vec<_> = elems
                        .iter()
                        .map(|(k, v)| format!("{} : {}", element(table, k), verdict(table, v)))
                        .collect();
                    format!("{{ {} }}", elems.join(", "))
                }
            };
            format!("{} vmap {map}", key.join(" . "))
        }
    }
}

/// A rule in nft's syntax (`continue` when it has nothing to say).
pub fn rule(table: &Table, r: &Rule) -> String {
    let mut parts: Vec<String> = r.matches.iter().map(|m| one_match(table, m)).collect();
    parts.extend(r.statements.iter().map(|s| s.to_string()));
    if let Some(v) = &r.verdict {
        parts.push(verdict(table, v));
    }
    if parts.is_empty() {
        parts.push("continue".into());
    }
    if let Some(c) = &r.comment {
        parts.push(format!("comment \"{c}\""));
    }
    parts.join(" ")
}

/// `type filter hook input priority 0; policy accept;`, or `None` for a
/// regular chain.
pub fn chain_spec(kind: &ChainKind) -> Option<String> {
    emitters::nft_chain_spec(kind)
}
