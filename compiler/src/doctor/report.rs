//! The report of `fwc doctor`: for people, one block per blocked flow, then
//! drift, the rules that could not be judged, remarks and a summary line;
//! for tools, one JSON document with the same findings.

use std::fmt::Write as _;

use ir::eval::Decision;
use serde_json::{json, Value as Json};

use super::analyse::Analysis;
use super::finding::{Blocked, Cause, Diagnosis, FlowKind, Manager};

/// Whether the findings call for exit code 1: a flow blocked or drift.
pub fn trouble(d: &Diagnosis) -> bool {
    !d.blocked.is_empty() || !d.drift.is_empty()
}

/// The summary line, e.g. `fwc doctor: 2 of 9 flows blocked by foreign
/// rules; no drift` or `fwc doctor: all 9 flows pass; no drift`.
pub fn summary(d: &Diagnosis) -> String {
    let mut blocked: Vec<usize> = d.blocked.iter().map(|b| b.flow).collect();
    blocked.sort_unstable();
    blocked.dedup();
    let n = d.flows.len();
    let flows = if n == 0 {
        "the inputs need no flows".to_owned()
    } else if blocked.is_empty() {
        format!("all {n} flow{} pass", if n == 1 { "" } else { "s" })
    } else {
        format!(
            "{} of {n} flow{} blocked by foreign rules",
            blocked.len(),
            if n == 1 { "" } else { "s" }
        )
    };
    let drift = match d.drift.len() {
        0 => "no drift".to_owned(),
        1 => "1 drift finding".to_owned(),
        k => format!("{k} drift findings"),
    };
    format!("fwc doctor: {flows}; {drift}")
}

/// A manager's name for people.
pub fn manager_name(m: Manager) -> &'static str {
    match m {
        Manager::Docker => "Docker",
        Manager::Ufw => "UFW",
        Manager::Firewalld => "firewalld",
        Manager::Iptables => "iptables",
        Manager::Nftables => "nftables",
    }
}

fn decision_word(d: &Decision) -> &'static str {
    crate::explain::decision_text(d)
}

/// `ip filter FORWARD (hook forward, priority 0): policy drop`, or for a
/// rule `..., in chain C: rule 2 (handle 7): TEXT`.
pub fn by_line(b: &Blocked) -> String {
    let place = format!(
        "{} {} {} (hook {}, priority {})",
        b.family,
        b.table,
        b.base_chain,
        b.hook.keyword(),
        b.priority
    );
    match &b.cause {
        Cause::Policy(p) => format!("{place}: policy {}", p.keyword()),
        Cause::Rule {
            index,
            handle,
            text,
        } => {
            let within = if b.chain == b.base_chain {
                String::new()
            } else {
                format!(", in chain {}", b.chain)
            };
            let handle = handle.map(|h| format!(" (handle {h})")).unwrap_or_default();
            format!("{place}{within}: rule {}{handle}: {text}", index + 1)
        }
    }
}

/// The human report. `fix_command` is the command line that prints the
/// fix script (empty: say nothing of it).
pub fn human(a: &Analysis, fix_command: &str) -> String {
    let d = &a.diagnosis;
    let mut out = String::new();
    for (fi, flow) in d.flows.iter().enumerate() {
        let blocks: Vec<&Blocked> = d.blocked.iter().filter(|b| b.flow == fi).collect();
        if blocks.is_empty() {
            continue;
        }
        let _ = writeln!(out, "blocked: {}", flow.description);
        for b in blocks {
            let _ = writeln!(
                out,
                "  by: {} [managed by {}]",
                by_line(b),
                manager_name(b.manager)
            );
            match &b.fwc_rule {
                Some((prov, text)) => {
                    let _ = writeln!(out, "  fwc accepts it: {text}  ({prov})");
                }
                None => {
                    let _ = writeln!(
                        out,
                        "  fwc accepts it: no fwc rule decides it at the {} hook",
                        b.hook.keyword()
                    );
                }
            }
            let prefix = format!("{} {} ", b.family, b.table);
            let doubtful = d.unjudged.iter().filter(|u| u.starts_with(&prefix)).count();
            if doubtful > 0 {
                let _ = writeln!(
                    out,
                    "  note: {doubtful} rule{} of {} {} could not be read (listed below); one may let it through",
                    if doubtful == 1 { "" } else { "s" },
                    b.family,
                    b.table
                );
            }
        }
    }
    // Empty when the fix is what is being printed.
    if !d.blocked.is_empty() && !fix_command.is_empty() {
        let _ = writeln!(
            out,
            "fix: {fix_command} > fix.sh   (read it, then: sh fix.sh; undo: sh fix.sh --teardown)"
        );
    }
    for dr in &d.drift {
        let _ = writeln!(out, "drift: {}: {}", dr.object, dr.problem);
    }
    for u in &d.unjudged {
        let _ = writeln!(out, "unjudged (assumed not to match): {u}");
    }
    for n in &a.notes {
        let _ = writeln!(out, "note: {n}");
    }
    let _ = writeln!(out, "{}", summary(d));
    out
}

/// An IP family as the JSON report, the fix's markers and firewalld's
/// rules spell it.
pub fn family_name(f: ir::IpFamily) -> &'static str {
    match f {
        ir::IpFamily::V4 => "ipv4",
        ir::IpFamily::V6 => "ipv6",
    }
}

/// A flow kind's name in JSON and in the fix's markers.
pub fn kind_name(k: FlowKind) -> &'static str {
    match k {
        FlowKind::GuestToOutside => "guest-to-outside",
        FlowKind::OutsideReplies => "outside-replies",
        FlowKind::OutsideToGuest => "outside-to-guest",
        FlowKind::GuestToGuest => "guest-to-guest",
        FlowKind::Dhcp => "dhcp",
        FlowKind::Dhcp6 => "dhcp6",
        FlowKind::DhcpReply => "dhcp-reply",
        FlowKind::DnsUdp => "dns-udp",
        FlowKind::DnsTcp => "dns-tcp",
        FlowKind::Tftp => "tftp",
    }
}

/// The JSON report: `{"flows", "blocked", "drift", "unjudged", "notes",
/// "summary", "ok"}`; `fix` is added by the caller when asked for.
pub fn json(a: &Analysis) -> Json {
    let d = &a.diagnosis;
    let flows: Vec<Json> = d
        .flows
        .iter()
        .map(|f| {
            json!({
                "kind": kind_name(f.kind),
                "network": f.network,
                "bridge": f.bridge.as_str(),
                "family": family_name(f.family),
                "description": f.description,
                "hooks": f.steps.iter().map(|(h, _)| h.keyword()).collect::<Vec<_>>(),
                "allow": f.allow.iter().map(|m| m.to_string()).collect::<Vec<_>>(),
            })
        })
        .collect();
    let blocked: Vec<Json> = d
        .blocked
        .iter()
        .map(|b| {
            let cause = match &b.cause {
                Cause::Policy(p) => json!({ "policy": p.keyword() }),
                Cause::Rule {
                    index,
                    handle,
                    text,
                } => json!({ "rule": { "index": index, "handle": handle, "text": text } }),
            };
            json!({
                "flow": b.flow,
                "hook": b.hook.keyword(),
                "family": b.family.keyword(),
                "table": b.table,
                "base_chain": b.base_chain,
                "chain": b.chain,
                "priority": b.priority,
                "decision": decision_word(&b.decision),
                "cause": cause,
                "manager": manager_name(b.manager),
                "fwc_rule": b.fwc_rule.as_ref().map(|(p, t)| json!({ "provenance": p.to_string(), "text": t })),
            })
        })
        .collect();
    let drift: Vec<Json> = d
        .drift
        .iter()
        .map(|x| json!({ "object": x.object, "problem": x.problem }))
        .collect();
    json!({
        "flows": flows,
        "blocked": blocked,
        "drift": drift,
        "unjudged": d.unjudged,
        "notes": a.notes,
        "summary": summary(d),
        "ok": !trouble(d),
    })
}
