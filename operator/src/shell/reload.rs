//! `reload` (the shell's, and SIGHUP's): the config file read again, checked
//! as at start, compared with the running config
//! ([`flowlift_config::reload`]), and applied, or refused whole.
//!
//! The order keeps a refusal from changing anything: first every check (the
//! file, the command line applied again, the keys that cannot change live),
//! then the one step the NIC may refuse (a new
//! meter profile for a changed rate limit, undone for the VFs already moved
//! if a later one is refused), then the steps that cannot fail. Flows, rules
//! and counters are not touched: the new thresholds and policies apply from
//! the next tick, the new forwarding rules to flows that start from now on.

use std::path::{Path, PathBuf};
use std::time::Duration;

use flowlift_config::reload::plan_reload;
use flowlift_config::{CommandLine, Config, LogLevel, RateLimit};
use flowlift_dataplane::flowstate::WorkerCommand;

use super::exec::Appliance;
use super::socket::Reply;

/// Where a reload reads its config: the file the appliance started with,
/// and the command line's changes to apply to it again.
#[derive(Debug, Clone)]
pub struct ReloadSource {
    /// `None`: the built-in demo, which has no file.
    pub path: Option<PathBuf>,
    pub command_line: CommandLine,
    /// Sets the config's log level (the process's log is the binary's to
    /// set up: the appliance gives its setter here).
    pub set_log_level: fn(LogLevel),
}

impl Default for ReloadSource {
    fn default() -> Self {
        ReloadSource {
            path: None,
            command_line: CommandLine::default(),
            set_log_level: |_| {},
        }
    }
}

impl Appliance<'_> {
    /// `reload`: the answer names each setting changed, or why nothing was.
    pub(super) fn reload(&mut self) -> Reply {
        let Some(file) = self.reload.path.clone() else {
            return Reply::err(
                "reload refused: the appliance runs the built-in demo (no --config), so there is no file to read again",
            );
        };
        let path = file.display().to_string();
        let done = self.try_reload(&file);
        match &done {
            Ok(changes) => {
                tracing::info!(target: "control", config = %path, changed = %changes.join("; "),
                    "config {path} reloaded: {}",
                    if changes.is_empty() { "nothing changed".to_string() } else { changes.join("; ") });
            }
            Err(why) => {
                tracing::error!(target: "control", config = %path, error = %why,
                    "config {path} not reloaded, the running config stays: {why}");
            }
        }
        match done {
            Ok(changes) if changes.is_empty() => Reply::ok(format!(
                "reload {path}: the file says what runs already; nothing changed"
            )),
            Ok(changes) => Reply::ok(format!(
                "reload {path}: {} changed (flows, rules and counters kept):\n  {}",
                if changes.len() == 1 {
                    "1 setting".to_string()
                } else {
                    format!("{} settings", changes.len())
                },
                changes.join("\n  ")
            )),
            Err(why) => Reply::err(format!("reload {path} refused, nothing changed: {why}")),
        }
    }

    fn try_reload(&mut self, file: &Path) -> Result<Vec<String>, String> {
        let mut new = Config::load(file).map_err(|e| e.to_string())?;
        self.reload
            .command_line
            .apply(&mut new)
            .map_err(|e| format!("{e:#}"))?;
        let plan = plan_reload(self.config, &new).map_err(|e| e.to_string())?;
        if plan.is_empty() {
            return Ok(Vec::new());
        }
        self.reload_nic_meters(&new)?;
        // From here on nothing can fail.
        self.reload_meters(&new);
        let mut changes = plan.changes;
        if let Some(note) = self.reload_offload(&new) {
            if let Some(line) = changes
                .iter_mut()
                .find(|c| c.starts_with("offload.max_rules "))
            {
                *line = format!("{line} {note}");
            }
        }
        if new.rules != self.config.rules
            || new.dataplane.unknown_unicast != self.config.dataplane.unknown_unicast
            || new.dataplane.broadcast != self.config.dataplane.broadcast
        {
            self.reload_forwarding(&new);
        }
        if new.log.level != self.config.log.level {
            (self.reload.set_log_level)(new.log.level);
        }
        *self.config = new;
        Ok(changes)
    }

    /// The NIC's meters of the VFs whose limit changed; on a refusal, those
    /// already moved go back to their old limit.
    fn reload_nic_meters(&mut self, new: &Config) -> Result<(), String> {
        let Some(off) = self.keeper.offload.as_mut() else {
            return Ok(());
        };
        let changed: Vec<(u32, RateLimit, RateLimit, &str)> = self
            .config
            .ports
            .iter()
            .zip(&new.ports)
            .enumerate()
            .filter_map(|(i, (was, now))| match (was.rate_limit, now.rate_limit) {
                (Some(a), Some(b)) if a != b => Some((i as u32, a, b, now.name.as_str())),
                _ => None,
            })
            .collect();
        for (n, &(meter, _, limit, name)) in changed.iter().enumerate() {
            if let Err(e) = off.set_rate_limit(meter, limit) {
                for &(meter, old, _, _) in &changed[..n] {
                    // Back to what was in force; a refusal here leaves that
                    // VF's NIC meter at the new limit, which is said.
                    if let Err(back) = off.set_rate_limit(meter, old) {
                        return Err(format!(
                            "port {name}: the NIC refused the new meter profile ({e}), and port {meter}'s could not be put back ({back}): its NIC meter polices the new limit"
                        ));
                    }
                }
                return Err(format!(
                    "port {name}: the NIC refused the new meter profile: {e}"
                ));
            }
        }
        Ok(())
    }

    /// The workers' meters (the software path) of the VFs whose limit changed.
    fn reload_meters(&self, new: &Config) {
        for (i, (was, now)) in self.config.ports.iter().zip(&new.ports).enumerate() {
            if let (Some(m), Some(limit)) =
                (self.meters.get(i).and_then(Option::as_ref), now.rate_limit)
            {
                if was.rate_limit != Some(limit) {
                    m.set_limit(limit.rate, limit.burst);
                }
            }
        }
    }

    /// The offload engine's thresholds, budget and policies, the tick and the
    /// idle timeout. Returns a note if the NIC caps the rule budget.
    fn reload_offload(&mut self, new: &Config) -> Option<String> {
        *self.tick = Duration::from_millis(u64::from(new.offload.tick_ms));
        self.keeper
            .set_idle_timeout(new.dataplane.idle_timeout_s, self.tsc_hz);
        let idle_tsc = (new.dataplane.idle_timeout_s * self.tsc_hz as f64) as u64;
        let params = new.offload.params(idle_tsc);
        let off = self.keeper.offload.as_mut()?;
        // Capped by what the NIC holds, as at start.
        let max_rules = off
            .capabilities()
            .max_rules
            .map_or(params.max_rules, |c| params.max_rules.min(c as usize));
        let note = (max_rules < params.max_rules)
            .then(|| format!("(the NIC holds {max_rules} rules: the budget is {max_rules})"));
        let budget = off.params().max_rules;
        *off.params_mut() = flowlift_offload::manager::OffloadParams {
            max_rules: budget,
            ..params
        };
        off.set_policies(new.offload_policies.clone());
        if max_rules != budget {
            // Flows over a smaller budget are demoted as `set offload
            // max-rules` does.
            let _ = self.keeper.set_max_rules(max_rules);
        }
        note
    }

    /// The workers' forwarding policy for new flows: each takes the new one
    /// between bursts and hands its old one back to be freed here. Returns
    /// once every worker has (each takes commands even while paused; a
    /// worker that ended drops its end, which ends the wait).
    fn reload_forwarding(&self, new: &Config) {
        let policy = new.forwarding_policy();
        let (retired_tx, retired) = crossbeam_channel::bounded(self.workers.len().max(1));
        let mut asked = 0;
        for w in self.workers {
            let cmd = WorkerCommand::SetPolicy {
                policy: Box::new(policy.clone()),
                retired: retired_tx.clone(),
            };
            if w.commands.send(cmd).is_ok() {
                asked += 1;
            }
        }
        drop(retired_tx);
        for _ in 0..asked {
            if retired.recv().is_err() {
                break;
            }
        }
    }
}
