//! libnftables JSON back into IR: fwc's `nft -j -f` command lists
//! (`add`/`delete`/`flush`/`insert` objects) and `nft -j list ruleset`
//! output (bare objects), read as the commands they stand for. A rule's
//! comment carries its provenance; rules get an nft-like text from
//! [`super::render`]. [`read_live`] reads a live host's listing, where
//! not everything can be read, tolerantly.

use ipnet::IpNet;
use serde_json::{Map as JsonMap, Value as Json};

use ir::{
    ChainKind, ChainType, CmpOp, CtStates, Family, Field, Ifname, IpFamily, KeyType, MacAddr, Map,
    MapRef, Match, Nat, Ownership, Policy, PortRange, RejectKind, Rule, Set, SetRef, Statement,
    Value, Verdict,
};

use super::build::{self, Builder, TableIdx};
use super::nft_text::{ct_state, key_type, priority_of, reject_code};
use super::{provenance, render, values, ReadError, Readback};

const WHAT: &str = "nft JSON";

mod live;
pub use live::{complete_from_save, read_live, ListedRule, Listing};

/// Reads libnftables JSON.
pub fn read(text: &str) -> Result<Readback, ReadError> {
    let items = objects(text)?;
    let mut b = Builder::default();
    for (n, item) in items.iter().enumerate() {
        command(&mut b, item)
            .map_err(|m| ReadError::new(WHAT, 0, format!("object {} of the list: {m}", n + 1)))?;
    }
    b.finish().map_err(|m| ReadError::new(WHAT, 0, m))
}

/// The objects of a `{"nftables": [...]}` document.
fn objects(text: &str) -> Result<Vec<Json>, ReadError> {
    let doc: Json =
        serde_json::from_str(text).map_err(|e| ReadError::new(WHAT, e.line(), e.to_string()))?;
    match doc {
        Json::Object(mut o) => match o.remove("nftables") {
            Some(Json::Array(items)) => Some(items),
            _ => None,
        },
        _ => None,
    }
    .ok_or_else(|| ReadError::new(WHAT, 0, "expected {\"nftables\": [...]}".into()))
}

/// The one key of `{"key": value}`.
fn single(j: &Json) -> Result<(&str, &Json), String> {
    match j.as_object() {
        Some(o) if o.len() == 1 => {
            let (k, v) = o.iter().next().expect("one entry");
            Ok((k.as_str(), v))
        }
        _ => Err(format!("expected an object with one key, found {j}")),
    }
}

fn str_of<'j>(o: &'j JsonMap<String, Json>, key: &str) -> Result<&'j str, String> {
    o.get(key)
        .and_then(Json::as_str)
        .ok_or_else(|| format!("'{key}' is missing or not a string"))
}

fn family(o: &JsonMap<String, Json>) -> Result<Family, String> {
    Ok(match str_of(o, "family")? {
        "ip" => Family::Ip,
        "ip6" => Family::Ip6,
        "inet" => Family::Inet,
        "bridge" => Family::Bridge,
        "netdev" => Family::Netdev,
        other => return Err(format!("unknown family '{other}'")),
    })
}

/// How an object is applied.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Insert,
}

fn command(b: &mut Builder, item: &Json) -> Result<(), String> {
    let (key, inner) = single(item)?;
    match key {
        "metainfo" => Ok(()),
        "add" | "create" => object(b, inner, Op::Add),
        "insert" => object(b, inner, Op::Insert),
        "delete" | "destroy" => {
            let (what, o) = single(inner)?;
            let o = o.as_object().ok_or("expected an object")?;
            match what {
                "table" => {
                    b.delete_table(family(o)?, str_of(o, "name")?);
                    Ok(())
                }
                other => Err(format!("'delete {other}' is not read back")),
            }
        }
        "flush" => {
            let (what, o) = single(inner)?;
            if what == "ruleset" {
                b.clear();
                return Ok(());
            }
            let o = o.as_object().ok_or("expected an object")?;
            match what {
                "table" => {
                    let t = b.table(family(o)?, str_of(o, "name")?, Ownership::Owned)?;
                    b.flush_table(t);
                    Ok(())
                }
                "chain" => {
                    let t = b.table(family(o)?, str_of(o, "table")?, Ownership::Owned)?;
                    let c = b.chain(t, str_of(o, "name")?)?;
                    b.flush_chain(t, c);
                    Ok(())
                }
                other => Err(format!("'flush {other}' is not read back")),
            }
        }
        "table" | "chain" | "rule" | "set" | "map" | "element" => object(b, item, Op::Add),
        other => Err(format!("'{other}' is not read back")),
    }
}

fn object(b: &mut Builder, obj: &Json, op: Op) -> Result<(), String> {
    let (what, o) = single(obj)?;
    let o = o.as_object().ok_or("expected an object")?;
    let fam = family(o)?;
    if what == "table" {
        b.table(fam, str_of(o, "name")?, Ownership::Owned)?;
        return Ok(());
    }
    let t = b.table(fam, str_of(o, "table")?, Ownership::Owned)?;
    match what {
        "chain" => chain(b, t, fam, o),
        "set" | "map" => set(b, t, what == "map", o),
        "element" => element(b, t, o),
        "rule" => rule(b, t, o, op),
        other => Err(format!("'{other}' is not read back")),
    }
}

fn chain(
    b: &mut Builder,
    t: TableIdx,
    fam: Family,
    o: &JsonMap<String, Json>,
) -> Result<(), String> {
    let name = str_of(o, "name")?;
    let kind = match o.get("hook").and_then(Json::as_str) {
        None => ChainKind::Regular,
        Some(hook) => {
            let ty = match o.get("type").and_then(Json::as_str).unwrap_or("filter") {
                "filter" => ChainType::Filter,
                "nat" => ChainType::Nat,
                "route" => ChainType::Route,
                other => return Err(format!("unknown chain type '{other}'")),
            };
            let priority = match o.get("prio") {
                Some(Json::Number(n)) => n
                    .as_i64()
                    .and_then(|n| i32::try_from(n).ok())
                    .ok_or_else(|| format!("priority {n} is out of range"))?,
                Some(Json::String(s)) => priority_of(fam, s)?,
                _ => 0,
            };
            let policy = match o.get("policy").and_then(Json::as_str) {
                None | Some("accept") => Policy::Accept,
                Some("drop") => Policy::Drop,
                Some(p) => return Err(format!("unknown policy '{p}'")),
            };
            ChainKind::Base {
                hook: values::hook(hook)?,
                ty,
                priority,
                policy,
            }
        }
    };
    b.declare_chain(t, name, kind, Ownership::Owned)?;
    Ok(())
}

fn key_types(j: Option<&Json>) -> Result<Vec<KeyType>, String> {
    match j {
        Some(Json::String(s)) => Ok(vec![key_type(s)?]),
        Some(Json::Array(a)) => a
            .iter()
            .map(|k| key_type(k.as_str().ok_or("a key type is not a string")?))
            .collect(),
        _ => Err("'type' is missing".into()),
    }
}

fn set(
    b: &mut Builder,
    t: TableIdx,
    is_map: bool,
    o: &JsonMap<String, Json>,
) -> Result<(), String> {
    let name = build::name(str_of(o, "name")?)?;
    let key = key_types(o.get("type"))?;
    let interval = match o.get("flags") {
        Some(Json::Array(f)) => f.iter().any(|f| f == "interval"),
        Some(Json::String(f)) => f == "interval",
        _ => false,
    };
    if is_map {
        if o.get("map").and_then(Json::as_str) != Some("verdict") {
            return Err("only verdict maps are read back".into());
        }
        // Elements are read before the map or set is added, so that one
        // whose elements cannot be read is not left behind empty
        // (`read_live` goes on after it).
        let elements = map_elems(b, t, &key, o.get("elem"))?;
        b.add_map(
            t,
            Map {
                name,
                key,
                interval,
                elements,
            },
        );
    } else {
        let elements = set_elems(&key, o.get("elem"))?;
        b.add_set(
            t,
            Set {
                name,
                key,
                interval,
                elements,
            },
        );
    }
    Ok(())
}

/// `{"element": {..., "name": N, "elem": [...]}}`: elements added to a set or map.
fn element(b: &mut Builder, t: TableIdx, o: &JsonMap<String, Json>) -> Result<(), String> {
    let name = str_of(o, "name")?;
    if let Ok(id) = b.set_id(t, name) {
        let key = b.get(t).sets[id.0].key.clone();
        let elems = set_elems(&key, o.get("elem"))?;
        b.set_mut(t, id).elements.extend(elems);
        return Ok(());
    }
    let id = b.map_id(t, name)?;
    let key = b.get(t).maps[id.0].key.clone();
    let elems = map_elems(b, t, &key, o.get("elem"))?;
    b.map_mut(t, id).elements.extend(elems);
    Ok(())
}

fn elem_list(j: Option<&Json>) -> Result<&[Json], String> {
    match j {
        None => Ok(&[]),
        Some(Json::Array(a)) => Ok(a),
        Some(other) => Err(format!("'elem' is not a list: {other}")),
    }
}

/// A key: one value per key type, `{"concat": [...]}` for several; an
/// `{"elem": {"val": ...}}` wrapper (with a comment or timeout) is unwrapped.
fn key(types: &[KeyType], j: &Json) -> Result<Vec<Value>, String> {
    if let Some(val) = j.get("elem").and_then(|e| e.get("val")) {
        return key(types, val);
    }
    match (types, j.get("concat").and_then(Json::as_array)) {
        ([one], None) => Ok(vec![scalar(*one, j)?]),
        (many, Some(parts)) if parts.len() == many.len() => {
            many.iter().zip(parts).map(|(k, p)| scalar(*k, p)).collect()
        }
        _ => Err(format!("element {j} does not fit the key type")),
    }
}

fn set_elems(types: &[KeyType], j: Option<&Json>) -> Result<Vec<Vec<Value>>, String> {
    elem_list(j)?.iter().map(|e| key(types, e)).collect()
}

fn map_elems(
    b: &mut Builder,
    t: TableIdx,
    types: &[KeyType],
    j: Option<&Json>,
) -> Result<Vec<(Vec<Value>, Verdict)>, String> {
    elem_list(j)?
        .iter()
        .map(|e| match e.as_array().map(Vec::as_slice) {
            Some([k, v]) => Ok((
                key(types, k)?,
                verdict(b, t, v)?.ok_or("a map element needs a verdict")?,
            )),
            _ => Err(format!("map element {e} is not [key, verdict]")),
        })
        .collect()
}

fn rule(b: &mut Builder, t: TableIdx, o: &JsonMap<String, Json>, op: Op) -> Result<(), String> {
    let chain = b.chain(t, str_of(o, "chain")?)?;
    let mut r = Rule::new(provenance::UNKNOWN, Vec::new(), None);
    if let Some(c) = o.get("comment").and_then(Json::as_str) {
        match provenance::parse(c) {
            Some(p) => r.provenance = p,
            None => r.comment = Some(ir::Comment::lossy(c)),
        }
    }
    let exprs = o
        .get("expr")
        .and_then(Json::as_array)
        .ok_or("a rule without 'expr'")?;
    for e in exprs {
        expr(b, t, e, &mut r)?;
    }
    let text = render::rule(b.get(t), &r);
    match op {
        Op::Add => b.push_rule(t, chain, r, text),
        Op::Insert => b.insert_rule(t, chain, 0, r, text),
    }
    Ok(())
}

fn expr(b: &mut Builder, t: TableIdx, e: &Json, r: &mut Rule) -> Result<(), String> {
    let (k, v) = single(e)?;
    match k {
        "match" => {
            let field = field(v.get("left").ok_or("a match without 'left'")?)?;
            let op = match v.get("op").and_then(Json::as_str).unwrap_or("==") {
                "==" | "in" => CmpOp::Eq,
                "!=" => CmpOp::Ne,
                other => return Err(format!("operator '{other}' is not read back")),
            };
            let right = v.get("right").ok_or("a match without 'right'")?;
            let value = match_value(b, t, field.key_type(), right)?;
            r.matches.push(Match { field, op, value });
        }
        "counter" => r.statements.push(Statement::Counter),
        "log" => {
            let prefix = v.get("prefix").and_then(Json::as_str).unwrap_or("");
            let prefix = ir::Comment::new(prefix).map_err(|e| e.to_string())?;
            r.statements.push(Statement::Log { prefix });
        }
        "masquerade" => {
            let ports = v.get("port").map(port_range).transpose()?;
            r.statements.push(Statement::Nat(Nat::Masquerade { ports }));
        }
        "snat" | "dnat" => {
            let addr = nat_addr(v.get("addr").ok_or("NAT without 'addr'")?)?;
            let ports = v.get("port").map(port_range).transpose()?;
            r.statements.push(Statement::Nat(if k == "snat" {
                Nat::Snat { addr, ports }
            } else {
                Nat::Dnat { addr, ports }
            }));
        }
        "vmap" => {
            let key_j = v.get("key").ok_or("a vmap without 'key'")?;
            let key: Vec<Field> = match key_j.get("concat").and_then(Json::as_array) {
                Some(parts) => parts.iter().map(field).collect::<Result<_, _>>()?,
                None => vec![field(key_j)?],
            };
            let data = v.get("data").ok_or("a vmap without 'data'")?;
            let map = match data {
                Json::String(s) => {
                    let name = s.strip_prefix('@').ok_or("a map reference needs '@'")?;
                    MapRef::Named(b.map_id(t, name)?)
                }
                _ => {
                    let elems = data
                        .get("set")
                        .ok_or_else(|| format!("vmap data {data} is not a map"))?;
                    let types: Vec<KeyType> = key.iter().map(|f| f.key_type()).collect();
                    MapRef::Anonymous(map_elems(b, t, &types, Some(elems))?)
                }
            };
            r.verdict = Some(Verdict::Vmap { key, map });
        }
        _ => r.verdict = verdict(b, t, e)?,
    }
    Ok(())
}

fn field(j: &Json) -> Result<Field, String> {
    let (k, v) = single(j)?;
    let get = |key: &str| v.get(key).and_then(Json::as_str).unwrap_or("");
    Ok(match (k, get("key")) {
        ("meta", "iif") => Field::Iif,
        ("meta", "oif") => Field::Oif,
        ("meta", "iifname") => Field::IifName,
        ("meta", "oifname") => Field::OifName,
        ("meta", "l4proto") => Field::L4Proto,
        ("ct", "state") => Field::CtState,
        ("ct", "direction") => Field::CtDirection,
        ("payload", _) => values::payload_field(get("protocol"), get("field"))?,
        _ => return Err(format!("expression {j} is not read back")),
    })
}

/// The right side of a match: a scalar, a list of flags, an anonymous set
/// or `@set`.
fn match_value(b: &Builder, t: TableIdx, kt: KeyType, j: &Json) -> Result<Value, String> {
    if let Some(name) = j.as_str().and_then(|s| s.strip_prefix('@')) {
        return Ok(Value::Set(SetRef::Named(b.set_id(t, name)?)));
    }
    if kt == KeyType::CtState {
        return scalar(kt, j);
    }
    if let Some(items) = j.get("set").and_then(Json::as_array) {
        let items = items
            .iter()
            .map(|i| scalar(kt, i))
            .collect::<Result<_, _>>()?;
        return Ok(Value::Set(SetRef::Anonymous(items)));
    }
    scalar(kt, j)
}

fn scalar(kt: KeyType, j: &Json) -> Result<Value, String> {
    let text = || {
        j.as_str()
            .ok_or_else(|| format!("expected a string, found {j}"))
    };
    Ok(match kt {
        KeyType::IfIndex | KeyType::Ifname => {
            Value::Ifname(Ifname::new(text()?).map_err(|e| e.to_string())?)
        }
        KeyType::Ipv4Addr | KeyType::Ipv6Addr => {
            let fam = if kt == KeyType::Ipv4Addr {
                IpFamily::V4
            } else {
                IpFamily::V6
            };
            if let Some(Json::Array(r)) = j.get("range") {
                let [a, b] = &r[..] else {
                    return Err(format!("bad address range {j}"));
                };
                let (a, b) = (a.as_str().unwrap_or(""), b.as_str().unwrap_or(""));
                return values::address_value(fam, &format!("{a}-{b}"));
            }
            let net = match j.get("prefix") {
                Some(p) => {
                    let addr = p
                        .get("addr")
                        .and_then(Json::as_str)
                        .ok_or("prefix without addr")?;
                    let len = p
                        .get("len")
                        .and_then(Json::as_u64)
                        .ok_or("prefix without len")?;
                    let net = IpNet::new(
                        addr.parse().map_err(|_| format!("bad address '{addr}'"))?,
                        u8::try_from(len).map_err(|_| "bad prefix length")?,
                    )
                    .map_err(|_| format!("bad prefix {addr}/{len}"))?;
                    values::prefix_of(fam, &net.to_string())?
                }
                None => values::prefix_of(fam, text()?)?,
            };
            Value::Prefix(net)
        }
        KeyType::InetProto => match j {
            Json::Number(n) => Value::Proto(values::proto(&n.to_string())?),
            _ => Value::Proto(values::proto(text()?)?),
        },
        KeyType::InetService => Value::Ports(port_range(j)?),
        KeyType::CtState => {
            let mut states = CtStates::default();
            match j {
                Json::Array(items) => {
                    for i in items {
                        ct_state(&mut states, i.as_str().ok_or("a state is not a string")?)?;
                    }
                }
                Json::String(s) => ct_state(&mut states, s)?,
                other => return Err(format!("expected conntrack states, found {other}")),
            }
            Value::CtStates(states)
        }
        KeyType::EtherAddr => Value::Mac(text()?.parse::<MacAddr>().map_err(|e| e.to_string())?),
        KeyType::Integer => Value::Int(int_range(j)?),
        KeyType::CtDirection => Value::CtDir(values::ct_direction(text()?)?),
        KeyType::Bool | KeyType::TcpFlags | KeyType::IpSetRef => {
            return Err(format!("values of type {kt:?} are not read back"))
        }
    })
}

/// A number, `{"range": [a, b]}`, or a number or ether type name as a string.
fn int_range(j: &Json) -> Result<ir::IntRange, String> {
    let one = |p: &Json| -> Result<u64, String> {
        match p {
            Json::Number(n) => n.as_u64().ok_or_else(|| format!("{p} is not a number")),
            Json::String(s) => values::ether_type_int(s).map(|r| r.start),
            _ => Err(format!("{p} is not a number")),
        }
    };
    match j.get("range").and_then(Json::as_array).map(Vec::as_slice) {
        Some([a, b]) => ir::IntRange::new(one(a)?, one(b)?).map_err(|e| e.to_string()),
        Some(_) => Err(format!("bad range {j}")),
        None => Ok(ir::IntRange::single(one(j)?)),
    }
}

/// A port, `{"range": [a, b]}`, or a port number as a string.
fn port_range(j: &Json) -> Result<PortRange, String> {
    let port = |p: &Json| -> Result<u16, String> {
        match p {
            Json::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
            Json::String(s) => s.parse().ok(),
            _ => None,
        }
        .ok_or_else(|| format!("{p} is not a port"))
    };
    match j.get("range").and_then(Json::as_array).map(Vec::as_slice) {
        Some([a, b]) => PortRange::new(port(a)?, port(b)?).map_err(|e| e.to_string()),
        Some(_) => Err(format!("bad port range {j}")),
        None => {
            let p = port(j)?;
            Ok(PortRange { start: p, end: p })
        }
    }
}

fn nat_addr(j: &Json) -> Result<ir::AddrRange, String> {
    let addr = |a: &Json| -> Result<std::net::IpAddr, String> {
        a.as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("{a} is not an address"))
    };
    match j.get("range").and_then(Json::as_array).map(Vec::as_slice) {
        Some([a, b]) => ir::AddrRange::new(addr(a)?, addr(b)?).map_err(|e| e.to_string()),
        Some(_) => Err(format!("bad address range {j}")),
        None => Ok(ir::AddrRange::single(addr(j)?)),
    }
}

/// A verdict object; `continue` is none.
fn verdict(b: &mut Builder, t: TableIdx, j: &Json) -> Result<Option<Verdict>, String> {
    let (k, v) = single(j)?;
    let target = || {
        v.get("target")
            .and_then(Json::as_str)
            .ok_or_else(|| format!("'{k}' without a target"))
    };
    Ok(Some(match k {
        "accept" => Verdict::Accept,
        "drop" => Verdict::Drop,
        "return" => Verdict::Return,
        "continue" => return Ok(None),
        "jump" => Verdict::Jump(b.chain(t, target()?)?),
        "goto" => Verdict::Goto(b.chain(t, target()?)?),
        "reject" => Verdict::Reject(match v.get("type").and_then(Json::as_str) {
            None => RejectKind::Default,
            Some("tcp reset") => RejectKind::TcpReset,
            Some("icmp" | "icmpv6" | "icmpx") => match v.get("expr").and_then(Json::as_str) {
                None => RejectKind::Default,
                Some(code) => reject_code(code)?,
            },
            Some(other) => return Err(format!("reject type '{other}' is not read back")),
        }),
        other => return Err(format!("statement '{other}' is not read back")),
    }))
}
