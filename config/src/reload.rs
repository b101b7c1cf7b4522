//! What a config reload may change while the appliance runs, and what it may
//! not. The file is read and validated as at start (with the command line's
//! changes applied again, see [`crate::CommandLine`]); then this module
//! compares it with the running config, key by key:
//! - the offload thresholds, tick, limits and policies, the forwarding rules
//!   (for flows that start from now on), the L2 miss actions, the idle
//!   timeout, a VF's rate and burst, and the log level change live;
//! - everything that sizes or wires the dataplane (EAL, lcores, tables,
//!   queues, ports and their devices, the offload backend, the control
//!   socket and metrics address), and adding, removing or re-uniting a rate
//!   limit, needs a restart. A file that changes any of these is refused
//!   whole, naming each.
//!
//! Every field is destructured without `..`: a new config key does not
//! compile until it is sorted into one kind or the other.

use std::fmt::{self, Debug, Display};

use crate::{
    Config, ControlSection, DataplaneSection, EalSection, LogSection, OffloadSection, PortSpec,
    RateLimit,
};

/// What a reload changes: one line per setting, `key old -> new` (for the
/// rules and the policies, how many).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReloadPlan {
    pub changes: Vec<String>,
}

impl ReloadPlan {
    /// Whether the file says what runs already.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// A reload refused: the settings that cannot change while the appliance runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedSettings(pub Vec<String>);

impl Display for FixedSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} only at a restart: {}",
            if self.0.len() == 1 {
                "this setting changes"
            } else {
                "these settings change"
            },
            self.0.join("; ")
        )
    }
}

impl std::error::Error for FixedSettings {}

/// Compares `new` (validated) with `running`: the live changes, or every
/// fixed setting that differs.
pub fn plan_reload(running: &Config, new: &Config) -> Result<ReloadPlan, FixedSettings> {
    let mut d = Diff::default();
    let Config {
        eal,
        dataplane,
        ports,
        rules,
        offload,
        offload_policies,
        control,
        log,
    } = new;
    eal_diff(&mut d, &running.eal, eal);
    dataplane_diff(&mut d, &running.dataplane, dataplane);
    ports_diff(&mut d, &running.ports, ports);
    if *rules != running.rules {
        d.live(
            "rules",
            running.rules.len(),
            format!("{} (for flows that start from now on)", rules.len()),
        );
    }
    offload_diff(&mut d, &running.offload, offload);
    if *offload_policies != running.offload_policies {
        d.live(
            "offload.policy",
            running.offload_policies.len(),
            format!(
                "{} (for flows announced from now on)",
                offload_policies.len()
            ),
        );
    }
    control_diff(&mut d, &running.control, control);
    let LogSection { level } = log;
    d.live_key("log.level", &running.log.level, level);
    if d.fixed.is_empty() {
        Ok(ReloadPlan { changes: d.live })
    } else {
        Err(FixedSettings(d.fixed))
    }
}

/// The differences found so far, of each kind.
#[derive(Default)]
struct Diff {
    live: Vec<String>,
    fixed: Vec<String>,
}

impl Diff {
    fn live(&mut self, key: &str, old: impl Display, new: impl Display) {
        self.live.push(format!("{key} {old} -> {new}"));
    }

    /// A live key: noted if it changed.
    fn live_key<T: PartialEq + Debug>(&mut self, key: &str, old: &T, new: &T) {
        if old != new {
            self.live(key, format!("{old:?}"), format!("{new:?}"));
        }
    }

    /// A fixed key: refused if it changed.
    fn fixed_key<T: PartialEq + Debug>(&mut self, key: &str, old: &T, new: &T) {
        if old != new {
            self.fixed.push(format!("{key} ({old:?} -> {new:?})"));
        }
    }
}

fn eal_diff(d: &mut Diff, old: &EalSection, new: &EalSection) {
    let EalSection {
        args,
        memory_mb,
        mlockall,
    } = new;
    d.fixed_key("eal.args", &old.args, args);
    d.fixed_key("eal.memory_mb", &old.memory_mb, memory_mb);
    d.fixed_key("eal.mlockall", &old.mlockall, mlockall);
}

fn dataplane_diff(d: &mut Diff, old: &DataplaneSection, new: &DataplaneSection) {
    let DataplaneSection {
        main_lcore,
        worker_lcores,
        burst,
        rx_desc,
        tx_desc,
        mbufs,
        unknown_unicast,
        broadcast,
        flow_table_size,
        flow_table_size_v6,
        idle_timeout_s,
        event_queue,
        tx_drain_us,
    } = new;
    d.fixed_key("dataplane.main_lcore", &old.main_lcore, main_lcore);
    d.fixed_key("dataplane.worker_lcores", &old.worker_lcores, worker_lcores);
    d.fixed_key("dataplane.burst", &old.burst, burst);
    d.fixed_key("dataplane.rx_desc", &old.rx_desc, rx_desc);
    d.fixed_key("dataplane.tx_desc", &old.tx_desc, tx_desc);
    d.fixed_key("dataplane.mbufs", &old.mbufs, mbufs);
    d.live_key(
        "dataplane.unknown_unicast",
        &old.unknown_unicast,
        unknown_unicast,
    );
    d.live_key("dataplane.broadcast", &old.broadcast, broadcast);
    d.fixed_key(
        "dataplane.flow_table_size",
        &old.flow_table_size,
        flow_table_size,
    );
    d.fixed_key(
        "dataplane.flow_table_size_v6",
        &old.flow_table_size_v6,
        flow_table_size_v6,
    );
    d.live_key(
        "dataplane.idle_timeout_s",
        &old.idle_timeout_s,
        idle_timeout_s,
    );
    d.fixed_key("dataplane.event_queue", &old.event_queue, event_queue);
    d.fixed_key("dataplane.tx_drain_us", &old.tx_drain_us, tx_drain_us);
}

fn ports_diff(d: &mut Diff, old: &[PortSpec], new: &[PortSpec]) {
    if old.len() != new.len() {
        d.fixed
            .push(format!("ports ({} -> {})", old.len(), new.len()));
        return;
    }
    for (was, now) in old.iter().zip(new) {
        let PortSpec {
            name,
            role,
            mac,
            device,
            rate_limit,
            replay,
        } = now;
        if *name != was.name {
            d.fixed
                .push(format!("port name ({:?} -> {name:?})", was.name));
            continue;
        }
        let key = |k: &str| format!("port {name}: {k}");
        d.fixed_key(&key("role"), &was.role, role);
        d.fixed_key(&key("mac"), &was.mac, mac);
        d.fixed_key(&key("device"), &was.device, device);
        d.fixed_key(&key("replay"), &was.replay, replay);
        match (was.rate_limit, *rate_limit) {
            (Some(a), Some(b)) if a.unit == b.unit && a != b => {
                d.live(&key("rate limit"), limit_text(&a), limit_text(&b));
            }
            (Some(a), Some(b)) if a.unit == b.unit => {}
            (a, b) if a != b => d.fixed.push(format!(
                "{} ({} -> {}: a meter is made or removed only at start)",
                key("rate limit"),
                a.map_or("none".into(), |l| limit_text(&l)),
                b.map_or("none".into(), |l| limit_text(&l))
            )),
            _ => {}
        }
    }
}

/// `1000 pps, burst 64` or `1000000 bytes/s, burst 9000`.
fn limit_text(l: &RateLimit) -> String {
    let unit = match l.unit {
        flowlift_dataplane::meter::MeterUnit::Packets => "pps",
        flowlift_dataplane::meter::MeterUnit::Bytes => "bytes/s",
    };
    format!("{} {unit}, burst {}", l.rate, l.burst)
}

fn offload_diff(d: &mut Diff, old: &OffloadSection, new: &OffloadSection) {
    let OffloadSection {
        backend,
        max_rules,
        inserts_per_sec,
        tick_ms,
        promote_pps,
        demote_pps,
        hold,
        ewma_alpha,
        evict_margin,
        backoff_ms,
        // As written; compared validated, as `Config::offload_policies`.
        policies: _,
    } = new;
    d.fixed_key("offload.backend", &old.backend, backend);
    d.live_key("offload.max_rules", &old.max_rules, max_rules);
    d.live_key(
        "offload.inserts_per_sec",
        &old.inserts_per_sec,
        inserts_per_sec,
    );
    d.live_key("offload.tick_ms", &old.tick_ms, tick_ms);
    d.live_key("offload.promote_pps", &old.promote_pps, promote_pps);
    d.live_key("offload.demote_pps", &old.demote_pps, demote_pps);
    d.live_key("offload.hold", &old.hold, hold);
    d.live_key("offload.ewma_alpha", &old.ewma_alpha, ewma_alpha);
    d.live_key("offload.evict_margin", &old.evict_margin, evict_margin);
    d.live_key("offload.backoff_ms", &old.backoff_ms, backoff_ms);
}

fn control_diff(d: &mut Diff, old: &ControlSection, new: &ControlSection) {
    let ControlSection { socket, metrics } = new;
    d.fixed_key("control.socket", &old.socket, socket);
    d.fixed_key("control.metrics", &old.metrics, metrics);
}

#[cfg(test)]
#[path = "reload_tests.rs"]
mod tests;
