//! Fixes for firewalld: a zone for the bridge and policies for forwarded
//! flows, as XML files the user installs. firewalld rebuilds its table from
//! its configuration on every reload, so a rule inserted into it would not
//! last.
//!
//! Each flow becomes one rich rule with exactly its addresses, protocol and
//! port (`<rule family=...><source .../><port .../><accept/></rule>`); the
//! interface is the zone's binding. Where the flow was blocked decides the
//! file: the input hook the zone itself, the forward hook a policy from the
//! zone to `ANY` (flows from the bridge) or from `ANY` to the zone (flows to
//! it), the output hook a policy from `HOST` to the zone. A flow with a
//! match that firewalld's XML cannot say (conntrack state, another
//! interface) is left out with a note, never widened.

use std::collections::BTreeMap;

use ir::{CmpOp, Field, Hook, Match, Value};

use super::{marker, summary, Entry, Line, Part};
use crate::doctor::report::family_name;

/// firewalld's limit on zone and policy names.
const NAME_MAX: usize = 17;

/// Which file of a bridge a rule goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Place {
    /// The zone: traffic from the bridge to the host.
    Zone,
    /// A policy, zone → ANY.
    Out,
    /// A policy, ANY → zone.
    In,
    /// A policy, HOST → zone.
    Host,
}

/// `fwc-BRIDGE[-suffix]`, the bridge cut so that the name fits firewalld.
fn object_name(bridge: &str, suffix: &str) -> String {
    let room = NAME_MAX - "fwc-".len() - suffix.len();
    let cut: String = bridge.chars().take(room).collect();
    format!("fwc-{cut}{suffix}")
}

/// The rich rule for a flow, or why firewalld's XML cannot say it exactly.
fn rich_rule(e: &Entry) -> Result<String, String> {
    let flow = e.flow;
    let family = family_name(flow.family);
    let (mut source, mut destination, mut proto, mut port) = (None, None, None, None);
    for m in &flow.allow {
        let invert = if m.op == CmpOp::Ne {
            " invert=\"True\""
        } else {
            ""
        };
        match (&m.field, &m.value) {
            // The zone binds the bridge; a flow that must not go back out
            // of it is not forwarded by firewalld within a zone either.
            (Field::Iif | Field::IifName | Field::Oif | Field::OifName, Value::Ifname(n))
                if n == &flow.bridge =>
            {
                continue
            }
            (Field::Iif | Field::IifName | Field::Oif | Field::OifName, Value::Ifname(n)) => {
                return Err(format!(
                    "fwc's rules allow it only through {n}, and firewalld's policies name \
                     zones, not interfaces; add a policy for {n}'s zone by hand"
                ))
            }
            (Field::Saddr(_), Value::Prefix(p)) => {
                source = Some(format!("<source address=\"{p}\"{invert}/>"))
            }
            (Field::Daddr(_), Value::Prefix(p)) => {
                destination = Some(format!("<destination address=\"{p}\"{invert}/>"))
            }
            (Field::L4Proto, Value::Proto(p)) if m.op == CmpOp::Eq => proto = Some(p.name()),
            (Field::Dport(p), Value::Ports(r)) if m.op == CmpOp::Eq => {
                let ports = if r.start == r.end {
                    r.start.to_string()
                } else {
                    format!("{}-{}", r.start, r.end)
                };
                port = Some(format!(
                    "<port port=\"{ports}\" protocol=\"{}\"/>",
                    p.name()
                ))
            }
            _ => return Err(unsayable(m)),
        }
    }
    let what = match (port, proto) {
        (Some(port), _) => Some(port),
        (None, Some(p)) => Some(format!("<protocol value=\"{p}\"/>")),
        (None, None) => None,
    };
    let body: String = [source, destination, what]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .concat();
    Ok(format!("<rule family=\"{family}\">{body}<accept/></rule>"))
}

/// Why a match has no exact firewalld spelling.
fn unsayable(m: &Match) -> String {
    let what = match m.field {
        Field::CtState => "its conntrack state (firewalld accepts packets of established \
                           connections itself, before any zone or policy)"
            .to_owned(),
        other => format!("its {other:?} match"),
    };
    format!("firewalld's XML cannot express {what}; allow it by hand if it stays blocked")
}

/// Where a flow blocked at `hook` goes.
fn place(e: &Entry) -> Option<Place> {
    let from_bridge = e.flow.allow.iter().any(|m| {
        matches!(m.field, Field::Iif | Field::IifName)
            && m.op == CmpOp::Eq
            && m.value == Value::Ifname(e.flow.bridge.clone())
    });
    match e.blocked.hook {
        Hook::Input => Some(Place::Zone),
        Hook::Forward if from_bridge => Some(Place::Out),
        Hook::Forward => Some(Place::In),
        Hook::Output => Some(Place::Host),
        _ => None,
    }
}

/// The XML file for one place of one bridge, with its rules.
fn file(bridge: &str, place: Place, rules: &[(String, String)]) -> Vec<Line> {
    let zone = object_name(bridge, "");
    let (path, head, tail) = match place {
        Place::Zone => (
            format!("/etc/firewalld/zones/{zone}.xml"),
            vec![
                "<zone>".to_owned(),
                format!("  <short>{zone}</short>"),
                format!("  <interface name=\"{bridge}\"/>"),
            ],
            "</zone>",
        ),
        _ => {
            let (suffix, ingress, egress) = match place {
                Place::Out => ("-out", zone.as_str(), "ANY"),
                Place::In => ("-in", "ANY", zone.as_str()),
                _ => ("-host", "HOST", zone.as_str()),
            };
            let name = object_name(bridge, suffix);
            (
                format!("/etc/firewalld/policies/{name}.xml"),
                vec![
                    "<policy target=\"CONTINUE\">".to_owned(),
                    format!("  <short>{name}</short>"),
                    format!("  <ingress-zone name=\"{ingress}\"/>"),
                    format!("  <egress-zone name=\"{egress}\"/>"),
                ],
                "</policy>",
            )
        }
    };
    let mut out = vec![
        Line::Text(format!("{path}:")),
        Line::Verbatim("<?xml version=\"1.0\" encoding=\"utf-8\"?>".into()),
    ];
    out.extend(head.into_iter().map(Line::Verbatim));
    for (mark, rule) in rules {
        out.push(Line::Verbatim(format!("  <!-- {mark} -->")));
        out.push(Line::Verbatim(format!("  {rule}")));
    }
    out.push(Line::Verbatim(tail.into()));
    out.push(Line::Blank);
    out
}

/// The instructions for every flow firewalld blocks.
pub(super) fn part(entries: &[&Entry]) -> Part {
    let mut part = Part::default();
    // bridge → place → (marker, rich rule)
    let mut files: BTreeMap<String, BTreeMap<Place, Vec<(String, String)>>> = BTreeMap::new();
    let mut unfixable = Vec::new();
    for e in entries {
        part.summary.push(summary(e));
        let placed = place(e).ok_or_else(|| {
            format!(
                "firewalld has no zone or policy for the {} hook",
                e.blocked.hook.keyword()
            )
        });
        match placed.and_then(|p| rich_rule(e).map(|r| (p, r))) {
            Ok((p, rule)) => {
                let rules = files
                    .entry(e.flow.bridge.to_string())
                    .or_default()
                    .entry(p)
                    .or_default();
                let item = (marker(e.flow), rule);
                // Two blocked chains of one flow need one rule.
                if !rules.contains(&item) {
                    rules.push(item);
                }
                part.left.push(format!(
                    "firewalld: install the zone/policy files for \"{}\" (see the script's \
                     comments)",
                    e.flow.description
                ));
            }
            Err(why) => unfixable.push((e, why)),
        }
    }
    if !files.is_empty() {
        part.manual.push(Line::Text(
            "firewalld rebuilds its rules from its configuration on every reload, so rules \
             inserted into its table would not last. Write these files (without the leading \
             '# '), then run: firewall-cmd --reload"
                .into(),
        ));
        part.manual.push(Line::Text(
            "If the bridge is already in a zone (firewall-cmd --get-zone-of-interface=BRIDGE), \
             add the rules to that zone instead of creating a new one."
                .into(),
        ));
        part.manual.push(Line::Blank);
        for (bridge, places) in &files {
            // The policies name the zone, so it is written whenever they are.
            if !places.contains_key(&Place::Zone) {
                part.manual.extend(file(bridge, Place::Zone, &[]));
            }
            for (place, rules) in places {
                part.manual.extend(file(bridge, *place, rules));
            }
        }
        part.manual.push(Line::Text(
            "To remove them, delete those files and run firewall-cmd --reload again.".into(),
        ));
        part.manual.push(Line::Blank);
    }
    for (e, why) in unfixable {
        part.unfixable("firewalld", e, &why);
    }
    part
}
