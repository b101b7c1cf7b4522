//! Carries out shell commands on the control core, between ticks: it reads the
//! workers' and the NIC's counters (relaxed loads, as the status line does),
//! the flow tracker and the offload engine, and changes only what the control
//! core owns (thresholds, policies, rules). Output follows testpmd's and
//! ovs-dpctl's layouts, which operators already read; `--json` gives the same
//! facts to scripts.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flowlift_dataplane::flow::{FlowId, FlowKey};
use flowlift_dataplane::lcore::LcoreState;
use flowlift_dataplane::meter::RateMeter;
use flowlift_dataplane::policy::FlowAction;
use flowlift_dataplane::stats::PortTotals;
use serde_json::json;

use super::command::{self, Command, FlowFilter, OffloadSet, PortSel};
use super::port_stats::{self, Rates};
use super::reload::ReloadSource;
use super::socket::Reply;
use super::static_reply;
use crate::counters::{PortCounts, Snapshot, WorkerCounts};
use crate::report::{percent, PortLabel};
use flowlift_config::{Config, PortSpec};
use flowlift_offload::fleet::{requested_state, set_state, FlowKeeper, WorkerHandle};
use flowlift_offload::flowlog::{key_json, with_fields};
use flowlift_offload::lifecycle::{DemoteReason, OffloadState};

/// What the shell remembers between commands.
#[derive(Debug, Default)]
pub struct ShellState {
    /// Per port: the counters at the last `clear port stats`, subtracted
    /// from what `show port stats` prints (neither the appliance's own
    /// counters nor the ethdev's are reset, so the final report and /metrics
    /// stay whole).
    baseline: Vec<PortCounts>,
    /// Per port: when `show port stats` last ran, and the totals then.
    last_port_show: Vec<Option<(Instant, PortTotals)>>,
    /// When `show fwd stats` last ran, and each worker's figures then.
    last_fwd_show: Option<(Instant, Vec<WorkerSample>)>,
}

/// A worker's packets, busy cycles and idle cycles at some moment.
type WorkerSample = (u64, u64, u64);

/// The running appliance, as the shell sees it.
pub struct Appliance<'a> {
    pub labels: &'a [PortLabel],
    pub ports: &'a [rte::Port],
    /// The config the appliance runs: as started, then as `set offload` and
    /// `reload` change it.
    pub config: &'a mut Config,
    /// Where `reload` reads the config again.
    pub reload: &'a ReloadSource,
    /// The workers' meters of the rate-limited VFs, by port index.
    pub meters: &'a [Option<Arc<RateMeter>>],
    pub workers: &'a [WorkerHandle],
    pub keeper: &'a mut FlowKeeper,
    /// The offload tick, which `set offload tick-ms` changes.
    pub tick: &'a mut Duration,
    /// Set by `quit`.
    pub stop: &'a AtomicBool,
    pub tsc_hz: u64,
    pub state: &'a mut ShellState,
}

impl std::fmt::Debug for Appliance<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Appliance")
            .field("ports", &self.labels.len())
            .field("workers", &self.workers.len())
            .finish()
    }
}

/// A flow as the shell shows it.
#[derive(Debug, Clone)]
pub struct FlowView {
    /// The shell's flow id: worker index in the high 32 bits, the worker's flow
    /// id in the low.
    pub id: u64,
    pub key: FlowKey,
    pub action: FlowAction,
    pub state: OffloadState,
    pub rate_pps: f64,
    pub sw_packets: u64,
    pub sw_bytes: u64,
    pub hw_packets: u64,
    pub hw_bytes: u64,
    pub offloads: u32,
    pub failure: Option<&'static str>,
    /// TSC of the last packet seen on either path.
    pub last_seen: u64,
}

/// The shell's id of a worker's flow.
pub fn flow_id(worker: usize, id: FlowId) -> u64 {
    ((worker as u64) << 32) | u64::from(id.0)
}

fn split_id(id: u64) -> (usize, FlowId) {
    ((id >> 32) as usize, FlowId(id as u32))
}

/// Every tracked flow with its counters from both paths.
pub fn flow_views(keeper: &FlowKeeper, workers: &[WorkerHandle]) -> Vec<FlowView> {
    keeper
        .tracker()
        .iter()
        .map(|(&(w, id), f)| {
            let sw = workers
                .get(w)
                .and_then(|h| h.counters.get(id))
                .map(|c| c.snapshot())
                .unwrap_or_default();
            let hw = f.off.hw_total();
            FlowView {
                id: flow_id(w, id),
                key: f.key,
                action: f.action,
                state: f.off.state,
                rate_pps: f.off.rate_pps,
                sw_packets: sw.packets,
                sw_bytes: sw.bytes,
                hw_packets: hw.packets,
                hw_bytes: hw.bytes,
                offloads: f.off.offloads,
                failure: f.off.last_failure,
                last_seen: sw.last_seen.max(f.off.hw_active_tsc),
            }
        })
        .collect()
}

impl Appliance<'_> {
    /// Parses and carries out one line.
    pub fn execute(&mut self, line: &str) -> Reply {
        match command::parse(line) {
            Ok(None) => Reply::ok(""),
            Ok(Some(cmd)) => self.run(cmd),
            Err(e) => Reply::err(e.0),
        }
    }

    fn run(&mut self, cmd: Command) -> Reply {
        match cmd {
            Command::Help(topic) => Reply::ok(command::help(topic.as_deref())),
            Command::ShowPortStats(sel) => self.ports_of(sel).map_or_else(Reply::err, |ps| {
                Reply::ok(ps.iter().map(|&i| self.port_stats(i)).collect::<String>())
            }),
            Command::ShowPortXstats(id) => self.port_xstats(id),
            Command::ClearPortStats(sel) => self.ports_of(sel).map_or_else(Reply::err, |ps| {
                let counts = self.counts();
                self.state
                    .baseline
                    .resize(counts.ports.len(), PortCounts::default());
                for &i in &ps {
                    self.state.baseline[i] = counts.ports[i];
                }
                Reply::ok(
                    ps.iter()
                        .map(|&i| {
                            format!(
                                "\n  NIC statistics for port {} cleared\n",
                                self.labels[i].port_id
                            )
                        })
                        .collect::<String>(),
                )
            }),
            Command::ShowFwdStats => Reply::ok(self.fwd_stats()),
            Command::ShowFlows { filter, top, json } => {
                Reply::ok(self.show_flows(filter, top, json))
            }
            Command::DumpFlows { json } => Reply::ok(self.dump_flows(json)),
            Command::ShowOffload => Reply::ok(self.show_offload()),
            Command::SetOffload(set) => self.set_offload(set),
            Command::PolicyList => Reply::ok(self.policy_list()),
            Command::PolicyAdd(pairs) => self.policy_add(&pairs),
            Command::PolicyDel(n) => match self.keeper.offload.as_mut() {
                None => Reply::err("offload is off (--offload none): no policies"),
                Some(off) => match off.remove_policy(n) {
                    Some(p) => Reply::ok(format!(
                        "policy {n} removed: {}{}",
                        policy_text(&p, &self.config.ports),
                        if n < off.policies().len() {
                            format!(" (the ones after it are now {n} and up)")
                        } else {
                            String::new()
                        }
                    )),
                    None => Reply::err(format!(
                        "policy del: no policy {n} ({}; see policy list)",
                        plural(off.policies().len(), "policy", "policies")
                    )),
                },
            },
            Command::FlowOffload(id) => self.flow_offload(id),
            Command::FlowOnload(id) => self.flow_onload(id),
            Command::Flow(line) => match super::testpmd_flow::parse(&line) {
                Err(e) => Reply::err(e.to_string()),
                Ok(cmd) => {
                    let ports: Vec<u16> = self.labels.iter().map(|l| l.port_id).collect();
                    match self.keeper.offload.as_mut() {
                        None => Reply::err(
                            rte::flow::FlowError::new(
                                rte::flow::error_type::UNSPECIFIED,
                                "offload is off (--offload none): no NIC holds flow rules",
                                rte::errno::ENOSYS,
                            )
                            .to_string(),
                        ),
                        Some(off) => match off.static_flow(cmd, &ports) {
                            Ok(r) => Reply::ok(static_reply::reply(&r)),
                            Err(e) => Reply::err(static_reply::refusal(&e)),
                        },
                    }
                }
            },
            // As testpmd, a second start or stop says it changed nothing.
            Command::Start if !self.paused() => Reply::ok("Forwarding already started"),
            Command::Start => match self.forward(LcoreState::Running) {
                Ok(()) => Reply::ok("Forwarding started"),
                Err(e) => Reply::err(e),
            },
            Command::Stop if self.paused() => Reply::ok("Forwarding already stopped"),
            Command::Stop => match self.forward(LcoreState::Paused) {
                Ok(()) => {
                    Reply::ok("Forwarding stopped (flows, rules and counters stay; start resumes)")
                }
                Err(e) => Reply::err(e),
            },
            Command::Reload => self.reload(),
            Command::Quit => {
                self.stop.store(true, Ordering::SeqCst);
                Reply::ok("Stopping the appliance")
            }
        }
    }

    /// Stops or resumes the workers, as testpmd's `stop` and `start` do: the
    /// NIC's rules go on switching what they carry, and what arrives for
    /// the host waits in the RX rings (or is missed, counted, once they are
    /// full). Returns once every worker has acknowledged: after `stop`, the
    /// host's traffic is quiet (every packet taken is sent and counted).
    fn forward(&mut self, state: LcoreState) -> Result<(), String> {
        set_state(self.workers, self.keeper, state, |_| {}).map_err(|e| format!("{e:#}"))
    }

    /// Whether the shell's `stop` holds forwarding.
    fn paused(&self) -> bool {
        requested_state(self.workers) == LcoreState::Paused
    }

    /// Port indexes a selector names (`N` is a DPDK port id).
    fn ports_of(&self, sel: PortSel) -> Result<Vec<usize>, String> {
        match sel {
            PortSel::All => Ok((0..self.labels.len()).collect()),
            PortSel::One(id) => self
                .labels
                .iter()
                .position(|l| l.port_id == id)
                .map(|i| vec![i])
                .ok_or_else(|| {
                    format!(
                        "no port {id}: ports are {}",
                        self.labels
                            .iter()
                            .map(|l| format!("{} ({})", l.port_id, l.name))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }),
        }
    }

    /// Every port's counters now, ethdev's included.
    fn counts(&self) -> Snapshot {
        Snapshot::of_fleet(self.workers, self.keeper, self.labels.len()).with_ethdev(self.ports)
    }

    /// testpmd's `show port stats` block for port index `i`.
    fn port_stats(&mut self, i: usize) -> String {
        let now = Instant::now();
        let base = self.state.baseline.get(i).copied().unwrap_or_default();
        let c = self.counts().ports[i].since(&base);
        let t = c.total();
        self.state.last_port_show.resize(self.labels.len(), None);
        let rates = match self.state.last_port_show[i] {
            Some((then, prev)) => {
                let secs = (now - then).as_secs_f64().max(1e-9);
                let rate = |a: u64, b: u64| ((a.saturating_sub(b)) as f64 / secs) as u64;
                Rates {
                    rx_pps: rate(t.rx_packets, prev.rx_packets),
                    tx_pps: rate(t.tx_packets, prev.tx_packets),
                    rx_bps: 8 * rate(t.rx_bytes, prev.rx_bytes),
                    tx_bps: 8 * rate(t.tx_bytes, prev.tx_bytes),
                }
            }
            None => Rates::default(),
        };
        self.state.last_port_show[i] = Some((now, t));
        port_stats::block(&self.labels[i], &c, rates)
    }

    fn port_xstats(&self, id: u16) -> Reply {
        let Ok(idx) = self.ports_of(PortSel::One(id)) else {
            return Reply::err(self.ports_of(PortSel::One(id)).unwrap_err());
        };
        let Some(port) = self.ports.get(idx[0]) else {
            return Reply::err(format!("no port {id}"));
        };
        match port.xstats() {
            Ok(x) => {
                let mut out = format!("###### NIC extended statistics for port {id}\n");
                for s in x {
                    let _ = writeln!(out, "{}: {}", s.name, s.value);
                }
                Reply::ok(out)
            }
            Err(e) => Reply::err(format!("show port xstats {id}: {e}")),
        }
    }

    fn fwd_stats(&mut self) -> String {
        let now = Instant::now();
        let figures: Vec<WorkerSample> = self
            .workers
            .iter()
            .map(|h| {
                let w = WorkerCounts::read(h.lcore, &h.stats);
                (w.packets, w.busy_cycles, w.idle_cycles)
            })
            .collect();
        let prev = self.state.last_fwd_show.take();
        let mut out = String::from("  Forwarding by worker (Mpps since the last show fwd stats)\n");
        for (i, (h, &(p, b, idle))) in self.workers.iter().zip(&figures).enumerate() {
            let (mpps, db, di) = match &prev {
                Some((then, old)) => {
                    let (op, ob, oi) = old.get(i).copied().unwrap_or_default();
                    let secs = (now - *then).as_secs_f64().max(1e-9);
                    ((p - op) as f64 / secs / 1e6, b - ob, idle - oi)
                }
                None => (0.0, b, idle),
            };
            let cpp = if p == 0 { 0.0 } else { b as f64 / p as f64 };
            let _ = writeln!(
                out,
                "  lcore {}: packets {p}, {mpps:.2} Mpps, CPU cycles/packet={cpp:.2}, busy {:.1}%",
                h.lcore,
                percent(db, db + di)
            );
        }
        if let Some((b, i)) = self
            .ports
            .first()
            .and_then(flowlift_config::model_nic::switch_cycles)
        {
            let _ = writeln!(
                out,
                "  NIC model's switch: busy {:.1}% since start (a model of hardware, not host work)",
                percent(b, b + i)
            );
        }
        if self.paused() {
            out.push_str("  (forwarding is stopped: start resumes it)\n");
        }
        self.state.last_fwd_show = Some((now, figures));
        out
    }

    fn port_name(&self, i: usize) -> String {
        self.labels
            .get(i)
            .map_or_else(|| format!("port{i}"), |l| l.name.clone())
    }

    fn action_text(&self, a: FlowAction) -> String {
        flowlift_offload::flowlog::action_text(a, |i| self.port_name(i))
    }

    fn flow_json(&self, f: &FlowView, now: u64) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert("id".into(), json!(f.id));
        m.extend(key_json(
            &f.key,
            self.port_name(usize::from(f.key.in_port())),
        ));
        with_fields(
            &mut m,
            json!({
                "state": f.state.label(),
                "rate_pps": (f.rate_pps * 10.0).round() / 10.0,
                "packets": f.sw_packets + f.hw_packets,
                "bytes": f.sw_bytes + f.hw_bytes,
                "sw_packets": f.sw_packets,
                "sw_bytes": f.sw_bytes,
                "hw_packets": f.hw_packets,
                "hw_bytes": f.hw_bytes,
                "offloads": f.offloads,
                "offload_failure": f.failure,
                "used_s": self.used_secs(f.last_seen, now),
                "action": self.action_text(f.action),
            }),
        );
        serde_json::Value::Object(m)
    }

    fn used_secs(&self, last: u64, now: u64) -> f64 {
        let s = now.saturating_sub(last) as f64 / self.tsc_hz.max(1) as f64;
        (s * 1000.0).round() / 1000.0
    }

    fn show_flows(&self, filter: FlowFilter, top: Option<usize>, json: bool) -> String {
        let now = rte::cycles::tsc();
        let mut flows: Vec<FlowView> = flow_views(self.keeper, self.workers)
            .into_iter()
            .filter(|f| match filter {
                FlowFilter::All => true,
                FlowFilter::Offloaded => f.state.rule().is_some(),
                FlowFilter::Onloaded => f.state.rule().is_none(),
            })
            .collect();
        flows.sort_by(|a, b| b.rate_pps.total_cmp(&a.rate_pps).then(a.id.cmp(&b.id)));
        let total = flows.len();
        flows.truncate(top.unwrap_or(usize::MAX));
        if json {
            let list: Vec<_> = flows.iter().map(|f| self.flow_json(f, now)).collect();
            return serde_json::to_string_pretty(&list).unwrap_or_default() + "\n";
        }
        let mut out = format!(
            "{:>14} {:<10} {:>10} {:>12} {:>12} {:>3} {:<8} {}\n",
            "ID", "STATE", "RATE(pps)", "PACKETS", "HW-PACKETS", "OFF", "IN", "FLOW"
        );
        for f in &flows {
            let _ = writeln!(
                out,
                "{:>14} {:<10} {:>10.0} {:>12} {:>12} {:>3} {:<8} {} -> {}",
                f.id,
                f.state.label(),
                f.rate_pps,
                f.sw_packets + f.hw_packets,
                f.hw_packets,
                f.offloads,
                self.port_name(usize::from(f.key.in_port())),
                flow_text(&f.key),
                self.action_text(f.action)
            );
        }
        let _ = writeln!(out, "{} of {total} flows", flows.len());
        out
    }

    /// One line per flow, ovs-dpctl style: match, counters, age, where it is
    /// carried, actions.
    fn dump_flows(&self, json: bool) -> String {
        let now = rte::cycles::tsc();
        let mut flows = flow_views(self.keeper, self.workers);
        flows.sort_by_key(|f| f.id);
        if json {
            let list: Vec<_> = flows.iter().map(|f| self.flow_json(f, now)).collect();
            return serde_json::to_string_pretty(&list).unwrap_or_default() + "\n";
        }
        let mut out = String::new();
        for f in &flows {
            let k = &f.key;
            let mut m = format!("in_port({})", self.port_name(usize::from(k.in_port())));
            if let Some(v) = k.vlan() {
                let _ = write!(m, ",vlan(vid={v})");
            }
            let fam = if k.src().is_ipv4() { "ipv4" } else { "ipv6" };
            let _ = write!(
                m,
                ",{fam}(src={},dst={},proto={})",
                k.src(),
                k.dst(),
                k.proto()
            );
            match k.proto() {
                6 => {
                    let _ = write!(m, ",tcp(src={},dst={})", k.sport(), k.dport());
                }
                17 => {
                    let _ = write!(m, ",udp(src={},dst={})", k.sport(), k.dport());
                }
                132 => {
                    let _ = write!(m, ",sctp(src={},dst={})", k.sport(), k.dport());
                }
                _ => {}
            }
            let carried = match f.state {
                OffloadState::Offloaded(_) | OffloadState::Onloading(_) => "nic",
                _ => "workers",
            };
            let _ = writeln!(
                out,
                "{m}, packets:{}, bytes:{}, used:{:.3}s, carried:{carried}, offloaded:{}, actions:{}",
                f.sw_packets + f.hw_packets,
                f.sw_bytes + f.hw_bytes,
                self.used_secs(f.last_seen, now),
                if carried == "nic" { "yes" } else { "no" },
                self.action_text(f.action)
            );
        }
        out
    }

    fn show_offload(&self) -> String {
        let Some(off) = self.keeper.offload.as_ref() else {
            return "Offload: off (--offload none): the workers carry every flow\n".into();
        };
        let s = off.stats();
        let p = off.params();
        let reasons = |m: &std::collections::BTreeMap<&'static str, u64>| {
            if m.is_empty() {
                "none".to_string()
            } else {
                m.iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        let mut by_state = [0u64; 4];
        for (_, f) in self.keeper.tracker().iter() {
            by_state[f.off.state.index()] += 1;
        }
        let demoted: Vec<String> = DemoteReason::ALL
            .iter()
            .zip(s.demotions)
            .map(|(r, n)| format!("{} {n}", r.label()))
            .collect();
        let mut out = String::new();
        let _ = writeln!(out, "Offload backend: {}", off.backend_name());
        let _ = writeln!(out, "  capabilities: {}", off.capabilities());
        // Rules of demoted flows are still in use until a tick removes
        // them: said so, as a budget just lowered leaves more in use than it.
        // by_state[3]: onloading (see OffloadState::index).
        let leaving = match by_state[3] {
            0 => String::new(),
            n => format!(", {n} of them coming off"),
        };
        let _ = writeln!(
            out,
            "  rules: {} used of {} (max-rules){leaving}; static rules: {} (flow list)",
            off.rules_installed(),
            p.max_rules,
            off.static_rules()
        );
        if let Some(c) = off.limits().capacity() {
            let _ = writeln!(
                out,
                "  NIC capacity: it refused a rule for space (ENOSPC) holding {c} of ours: flowlift holds at most {} until a quiet back-off lets it try one more",
                off.rule_budget()
            );
        }
        let refresh = off.counter_refresh().as_millis();
        let _ = writeln!(
            out,
            "  counters: {}",
            if refresh == 0 {
                "read live".to_string()
            } else {
                format!("read up to {refresh} ms stale (the NIC's counter refresh); a removed rule's final count read {refresh} ms after its destroy")
            }
        );
        let _ = writeln!(
            out,
            "  thresholds: promote-pps {}, demote-pps {}, hold {}, tick-ms {}, evict margin {}x, insertion rate limit {}/s{}",
            command::rate_text(p.promote_pps),
            command::rate_text(p.demote_pps),
            p.hold,
            self.tick.as_millis(),
            p.evict_margin,
            p.changes_per_sec,
            if off.change_rate() < p.changes_per_sec {
                format!(
                    " (slowed to {:.0}/s: the NIC answered busy)",
                    off.change_rate()
                )
            } else {
                String::new()
            }
        );
        let _ = writeln!(
            out,
            "  installs: {} ok, failed: {}",
            s.installs,
            reasons(&s.install_failures)
        );
        let _ = writeln!(
            out,
            "  removals: {} ({}; flapped {}), failed: {}",
            s.removals,
            demoted.join(", "),
            s.flaps,
            reasons(&s.removal_failures)
        );
        let _ = writeln!(
            out,
            "  counter queries failed: {}",
            reasons(&s.query_failures)
        );
        // A NIC with cached counters shows a removed rule's final count a
        // refresh period late; an ended flow's record waits for it.
        let _ = writeln!(
            out,
            "  final counts to come: {} removed rules; ended flows waiting for them: {}",
            off.finals_pending(),
            off.ended_waiting()
        );
        let _ = writeln!(
            out,
            "  flows: {} tracked: onloaded {}, offloading {}, offloaded {}, onloading {}",
            self.keeper.tracked(),
            by_state[0],
            by_state[1],
            by_state[2],
            by_state[3]
        );
        if let Some(meters) = off.meters_line() {
            // As a reload last set them.
            let _ = writeln!(out, "  {meters}");
        }
        let _ = writeln!(out, "  ticks: {}", s.ticks);
        out
    }

    /// `set offload`: the value is checked by the config file's own rules
    /// (`config::check_offload`) on the `[offload]` section as it would then
    /// stand, so the shell cannot set what the file could not; the answer
    /// echoes the value as stored.
    fn set_offload(&mut self, set: OffloadSet) -> Reply {
        let name = set.setting().name();
        let value = set.value_text();
        if self.keeper.offload.is_none() && !matches!(set, OffloadSet::TickMs(_)) {
            return Reply::err(format!(
                "set offload {name} {value}: offload is off (--offload none)"
            ));
        }
        // The file's values, under the ones in force now, under the new one.
        let mut o = self.config.offload.clone();
        o.tick_ms = u32::try_from(self.tick.as_millis()).unwrap_or(u32::MAX);
        if let Some(off) = self.keeper.offload.as_ref() {
            let p = off.params();
            o.promote_pps = p.promote_pps;
            o.demote_pps = p.demote_pps;
            o.hold = p.hold;
            o.max_rules = u32::try_from(p.max_rules).unwrap_or(u32::MAX);
        }
        match set {
            OffloadSet::PromotePps(v) => o.promote_pps = v,
            OffloadSet::DemotePps(v) => o.demote_pps = v,
            OffloadSet::Hold(n) => o.hold = n,
            OffloadSet::MaxRules(n) => o.max_rules = n,
            OffloadSet::TickMs(n) => o.tick_ms = n,
        }
        if let Err(why) = flowlift_config::check_offload(&o) {
            return Reply::err(format!("set offload {name} {value}: refused: {why}"));
        }
        let mut note = String::new();
        match set {
            OffloadSet::TickMs(n) => *self.tick = Duration::from_millis(u64::from(n)),
            OffloadSet::MaxRules(n) => {
                let Some(off) = self.keeper.offload.as_ref() else {
                    return Reply::err("offload is off (--offload none)");
                };
                if let Some(c) = off.capabilities().max_rules.filter(|c| n > *c) {
                    return Reply::err(format!(
                        "set offload max-rules {n}: refused: the NIC holds {c} rules"
                    ));
                }
                match self.keeper.set_max_rules(n as usize) {
                    Ok(0) => {}
                    Ok(k) => {
                        note = format!(
                            "; {} over it will be demoted (the coldest first, those put there by policy or by hand last), their rules removed at the next ticks",
                            plural(k, "offloaded flow", "offloaded flows")
                        )
                    }
                    Err(e) => return Reply::err(format!("set offload max-rules {n}: {e}")),
                }
            }
            OffloadSet::PromotePps(_) | OffloadSet::DemotePps(_) | OffloadSet::Hold(_) => {
                let Some(off) = self.keeper.offload.as_mut() else {
                    return Reply::err("offload is off (--offload none)");
                };
                let p = off.params_mut();
                p.promote_pps = o.promote_pps;
                p.demote_pps = o.demote_pps;
                p.hold = o.hold;
            }
        }
        // What runs now: a `reload` compares the file with it.
        self.config.offload = o;
        Reply::ok(format!("offload {name} set to {value}{note}"))
    }

    fn policy_list(&self) -> String {
        let Some(off) = self.keeper.offload.as_ref() else {
            return "offload is off (--offload none): no policies\n".into();
        };
        if off.policies().is_empty() {
            return "no header policies: the rates decide\n".into();
        }
        let mut out = String::new();
        for (i, p) in off.policies().iter().enumerate() {
            let _ = writeln!(out, "{i}: {}", policy_text(p, &self.config.ports));
        }
        out
    }

    fn policy_add(&mut self, pairs: &[(String, String)]) -> Reply {
        let Some(off) = self.keeper.offload.as_mut() else {
            return Reply::err("offload is off (--offload none): no policies");
        };
        match flowlift_config::offload_policy_from_pairs(pairs, &self.config.ports) {
            Ok(p) => {
                let text = policy_text(&p, &self.config.ports);
                let at = off.add_policy(p);
                // Policies are kept by priority: the new one's number is
                // where it went, which `policy del` takes.
                Reply::ok(format!(
                    "policy added as {at}: {text} ({}; it applies to flows announced from now on)",
                    plural(off.policies().len(), "policy", "policies")
                ))
            }
            Err(e) => Reply::err(format!("policy add: {e}")),
        }
    }

    fn flow_offload(&mut self, id: u64) -> Reply {
        if self.keeper.offload.is_none() {
            return Reply::err("offload is off (--offload none)");
        }
        let done = self.keeper.offload_now(split_id(id), rte::cycles::tsc());
        let evicted = done.evicted.map_or(String::new(), |(w, f)| {
            format!(
                "; flow {} gave its rule up for it (the coldest the rates had put there)",
                flow_id(w, f)
            )
        });
        match done.result {
            Ok(rule) => Reply::ok(format!("flow {id} offloaded (rule {}){evicted}", rule.0)),
            Err(e) => Reply::err(format!("flow offload {id}: {e}{evicted}")),
        }
    }

    fn flow_onload(&mut self, id: u64) -> Reply {
        if self.keeper.offload.is_none() {
            return Reply::err("offload is off (--offload none)");
        }
        match self.keeper.onload_now(split_id(id)) {
            Ok(Some(c)) => Reply::ok(format!(
                "flow {id} onloaded; its rule's final count: {} packets, {} bytes",
                c.packets, c.bytes
            )),
            Ok(None) => Reply::ok(format!("flow {id} stays on the workers (manual override)")),
            Err(e) => Reply::err(format!("flow onload {id}: {e}")),
        }
    }
}

/// `n policy` or `n policies`.
fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A header policy as `policy list` shows it.
fn policy_text(p: &flowlift_config::OffloadPolicy, specs: &[PortSpec]) -> String {
    format!(
        "priority {} {} -> offload {}",
        p.matches.priority,
        flowlift_config::describe_match(&p.matches, specs),
        p.choice.name()
    )
}

/// `10.0.0.1:1000 -> 192.168.0.1:5001 udp vlan 7`
fn flow_text(k: &FlowKey) -> String {
    let proto = match k.proto() {
        6 => "tcp".to_string(),
        17 => "udp".to_string(),
        132 => "sctp".to_string(),
        1 => "icmp".to_string(),
        58 => "icmp6".to_string(),
        n => format!("proto {n}"),
    };
    let vlan = k.vlan().map_or(String::new(), |v| format!(" vlan {v}"));
    if k.src().is_ipv6() {
        format!(
            "[{}]:{} > [{}]:{} {proto}{vlan}",
            k.src(),
            k.sport(),
            k.dst(),
            k.dport()
        )
    } else {
        format!(
            "{}:{} > {}:{} {proto}{vlan}",
            k.src(),
            k.sport(),
            k.dst(),
            k.dport()
        )
    }
}

#[cfg(test)]
#[path = "exec_tests.rs"]
mod tests;
