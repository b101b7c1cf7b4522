//! Operators' static rules, as testpmd keeps them: numbered per port (the
//! next number is the highest plus one, 0 on an empty port), listed, queried
//! and destroyed by number, and answered in testpmd's words
//! (`Flow rule #N created`, the `COUNT:` block of `flow query`, errors in its
//! `Caught error type ...` form). The backend holds the rules; this keeps
//! what the operator typed, for `flow list`.
//!
//! They live beside the per-flow offload rules, not among them: the offload
//! engine never counts, evicts or flushes them, and `flow flush` leaves the
//! per-flow rules alone.

use std::collections::BTreeMap;

use crate::shell::testpmd_flow::{Action, FlowCommand, FlowRule};

use super::{HwRuleId, OffloadBackend};

/// Rules a port holds at most: testpmd's numbers are `u32`.
const MAX_NUMBER: u32 = u32::MAX;

#[derive(Debug, Clone)]
struct Entry {
    rule: FlowRule,
    id: HwRuleId,
}

/// The static rules, by port and number.
#[derive(Debug, Default)]
pub struct StaticRules {
    ports: BTreeMap<u16, BTreeMap<u32, Entry>>,
}

impl StaticRules {
    /// An empty set.
    pub fn new() -> Self {
        StaticRules::default()
    }

    /// Rules held, on every port.
    pub fn len(&self) -> usize {
        self.ports.values().map(BTreeMap::len).sum()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Runs one `flow` command on `backend`; `ports` are the DPDK port ids
    /// that exist. The answer is testpmd's, or one line saying why not (and
    /// nothing changed).
    pub fn run(
        &mut self,
        cmd: FlowCommand,
        backend: &mut dyn OffloadBackend,
        ports: &[u16],
    ) -> Result<String, String> {
        let port = match &cmd {
            FlowCommand::Validate(r) | FlowCommand::Create(r) => r.port,
            FlowCommand::List { port }
            | FlowCommand::Query { port, .. }
            | FlowCommand::Destroy { port, .. }
            | FlowCommand::Flush { port } => *port,
        };
        if !ports.contains(&port) {
            return Err(format!(
                "Invalid port {port} (ports are {})",
                ports
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        match cmd {
            FlowCommand::Validate(rule) => backend
                .validate_static(&rule)
                .map(|()| "Flow rule validated".to_string())
                .map_err(|e| e.to_string()),
            FlowCommand::Create(rule) => self.create(rule, backend),
            FlowCommand::List { port } => Ok(self.list(port)),
            FlowCommand::Query { port, rule } => self.query(port, rule, backend),
            FlowCommand::Destroy { port, rules } => self.destroy(port, &rules, backend),
            FlowCommand::Flush { port } => {
                let numbers: Vec<u32> = self
                    .ports
                    .get(&port)
                    .map(|m| m.keys().copied().collect())
                    .unwrap_or_default();
                let n = numbers.len();
                self.destroy(port, &numbers, backend).map(|_| {
                    format!(
                        "Flushed {n} flow rule{} on port {port}",
                        if n == 1 { "" } else { "s" }
                    )
                })
            }
        }
    }

    fn create(
        &mut self,
        rule: FlowRule,
        backend: &mut dyn OffloadBackend,
    ) -> Result<String, String> {
        let rules = self.ports.entry(rule.port).or_default();
        let number = match rules.last_key_value() {
            None => 0,
            Some((&n, _)) if n < MAX_NUMBER => n + 1,
            Some(_) => return Err("Highest rule ID is already assigned, delete it first".into()),
        };
        let id = backend.create_static(&rule).map_err(|e| e.to_string())?;
        rules.insert(number, Entry { rule, id });
        Ok(format!("Flow rule #{number} created"))
    }

    /// testpmd's table: `ID Group Prio Attr Rule`, one line per rule, items
    /// then actions by their rte_flow names.
    fn list(&self, port: u16) -> String {
        let Some(rules) = self.ports.get(&port).filter(|m| !m.is_empty()) else {
            return format!("No flow rules on port {port}");
        };
        let mut out = String::from("ID\tGroup\tPrio\tAttr\tRule");
        for (n, e) in rules {
            let a = e.rule.attr;
            let flag = |on: bool, c: char| if on { c } else { '-' };
            // As testpmd prints it: each item and a space, `=>`, then a
            // space and each action.
            let items: String = e
                .rule
                .pattern
                .iter()
                .map(|i| format!("{} ", i.name().to_uppercase()))
                .collect();
            let actions: String = e
                .rule
                .actions
                .iter()
                .map(|a| format!(" {}", a.name().to_uppercase()))
                .collect();
            out.push_str(&format!(
                "\n{n}\t{}\t{}\t{}{}{}\t{items}=>{actions}",
                a.group,
                a.priority,
                flag(a.ingress, 'i'),
                flag(a.egress, 'e'),
                flag(a.transfer, 't'),
            ));
        }
        out
    }

    fn query(
        &self,
        port: u16,
        number: u32,
        backend: &mut dyn OffloadBackend,
    ) -> Result<String, String> {
        let e = self
            .ports
            .get(&port)
            .and_then(|m| m.get(&number))
            .ok_or_else(|| format!("Flow rule #{number} not found"))?;
        if !e
            .rule
            .actions
            .iter()
            .any(|a| matches!(a, Action::Count { .. }))
        {
            return Err(rte::flow::FlowError::new(
                rte::flow::error_type::ACTION,
                format!("flow rule #{number} has no COUNT action"),
                rte::errno::ENOTSUP,
            )
            .to_string());
        }
        let c = backend.query_static(e.id).map_err(|e| e.to_string())?;
        Ok(format!(
            "COUNT:\n hits_set: 1\n bytes_set: 1\n hits: {}\n bytes: {}",
            c.packets, c.bytes
        ))
    }

    /// Destroys `numbers` in order. Every number must exist first, so a typo
    /// destroys nothing; a backend refusal stops there, with the rules before
    /// it destroyed and said so.
    fn destroy(
        &mut self,
        port: u16,
        numbers: &[u32],
        backend: &mut dyn OffloadBackend,
    ) -> Result<String, String> {
        let rules = self.ports.entry(port).or_default();
        if let Some(missing) = numbers.iter().find(|n| !rules.contains_key(n)) {
            // testpmd would destroy the others: say that none was.
            let others = if numbers.len() > 1 {
                " (none of the rules named was destroyed)"
            } else {
                ""
            };
            return Err(format!(
                "Flow rule #{missing} not found on port {port}{others}"
            ));
        }
        let mut done = Vec::new();
        for n in numbers {
            let Some(e) = rules.get(n) else { continue };
            if let Err(err) = backend.destroy_static(e.id) {
                done.push(err.to_string());
                return Err(done.join("\n"));
            }
            rules.remove(n);
            done.push(format!("Flow rule #{n} destroyed"));
        }
        Ok(done.join("\n"))
    }

    /// Destroys every rule (the appliance stops); returns what refused.
    pub fn destroy_all(&mut self, backend: &mut dyn OffloadBackend) -> Vec<String> {
        let mut refused = Vec::new();
        for (port, rules) in std::mem::take(&mut self.ports) {
            for (n, e) in rules {
                if let Err(err) = backend.destroy_static(e.id) {
                    refused.push(format!("port {port} rule #{n}: {err}"));
                }
            }
        }
        refused
    }
}

#[cfg(test)]
#[path = "static_rules_tests.rs"]
mod tests;
