//! testpmd's words for what a `flow` command did to the static rules
//! ([`flowlift_offload::static_rules`]): `Flow rule #N created`, the
//! `ID Group Prio Attr Rule` table of `flow list`, the `COUNT:` block of
//! `flow query`, refusals in rte_flow's `Caught error type ...` form. Users'
//! scripts parse these texts: they are testpmd's, byte for byte, but where
//! flowlift says more (why a rule was refused, that a destroy naming an
//! unknown rule destroyed none).

use rte::flow::FlowError;

use flowlift_offload::flow_rule::FlowRule;
use flowlift_offload::static_rules::{ListedRule, StaticError, StaticReply};

/// The answer to a command that went through.
pub fn reply(r: &StaticReply) -> String {
    match r {
        StaticReply::Validated => "Flow rule validated".to_string(),
        StaticReply::Created { number } => format!("Flow rule #{number} created"),
        StaticReply::Listed { port, rules } if rules.is_empty() => {
            format!("No flow rules on port {port}")
        }
        StaticReply::Listed { rules, .. } => list(rules),
        StaticReply::Queried(c) => format!(
            "COUNT:\n hits_set: 1\n bytes_set: 1\n hits: {}\n bytes: {}",
            c.packets, c.bytes
        ),
        StaticReply::Destroyed(numbers) => destroyed(numbers).join("\n"),
        StaticReply::Flushed { port, count } => format!(
            "Flushed {count} flow rule{} on port {port}",
            if *count == 1 { "" } else { "s" }
        ),
    }
}

/// The answer to a command refused (or, a destroy, stopped partway): one
/// line, but for a destroy's rules that went before the refusal.
pub fn refusal(e: &StaticError) -> String {
    match e {
        StaticError::InvalidPort { port, ports } => format!(
            "Invalid port {port} (ports are {})",
            ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        StaticError::NumbersExhausted => {
            "Highest rule ID is already assigned, delete it first".to_string()
        }
        StaticError::Nic(e) => e.to_string(),
        StaticError::CountAdded(e) => format!(
            "{e} (flowlift adds COUNT to a rule that takes packets past the workers, to account for them)"
        ),
        StaticError::NoSuchRule { number } => format!("Flow rule #{number} not found"),
        // As a PMD refuses to query an action the rule does not have.
        StaticError::NotCounted { number } => FlowError::new(
            rte::flow::error_type::ACTION,
            format!("flow rule #{number} has no COUNT action"),
            rte::errno::ENOTSUP,
        )
        .to_string(),
        StaticError::NotOnPort {
            port,
            missing,
            named,
        } => {
            // testpmd would destroy the others: say that none was.
            let others = if *named > 1 {
                " (none of the rules named was destroyed)"
            } else {
                ""
            };
            format!("Flow rule #{missing} not found on port {port}{others}")
        }
        StaticError::DestroyRefused { destroyed: done, error } => {
            let mut lines = destroyed(done);
            lines.push(error.to_string());
            lines.join("\n")
        }
    }
}

/// `Flow rule #N destroyed`, one line each.
fn destroyed(numbers: &[u32]) -> Vec<String> {
    numbers
        .iter()
        .map(|n| format!("Flow rule #{n} destroyed"))
        .collect()
}

/// testpmd's table: `ID Group Prio Attr Rule`, one line per rule, items then
/// actions by their rte_flow names.
fn list(rules: &[ListedRule]) -> String {
    let mut out = String::from("ID\tGroup\tPrio\tAttr\tRule");
    for ListedRule { number, rule } in rules {
        out.push('\n');
        out.push_str(&row(*number, rule));
    }
    out
}

/// A rule's line of the table.
fn row(number: u32, rule: &FlowRule) -> String {
    let a = rule.attr;
    let flag = |on: bool, c: char| if on { c } else { '-' };
    format!(
        "{number}\t{}\t{}\t{}{}{}\t{}",
        a.group,
        a.priority,
        flag(a.ingress, 'i'),
        flag(a.egress, 'e'),
        flag(a.transfer, 't'),
        rule.summary()
    )
}

#[cfg(test)]
#[path = "static_reply_tests.rs"]
mod tests;
