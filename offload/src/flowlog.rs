//! `--flow-log FILE`: one JSON object per line for each flow when it ends (idle
//! expiry or exit), written by the control core, never by a worker.
//!
//! Fields: `in_port` (port name), `vlan` (outer VID or null), `src`, `dst` (IP
//! addresses as text), `proto` (number), `sport`, `dport`, `packets`, `bytes`
//! (all paths), `sw_packets`, `sw_bytes` (counted by the worker), `hw_packets`,
//! `hw_bytes` (counted by the NIC's rules: `packets = sw_packets + hw_packets`),
//! `offloads` (times put on the NIC), `offload_failure` (the last failed
//! install's reason, or null), `first_seen`, `last_seen` (Unix time, seconds),
//! `end` (`idle` or `exit`), `action` (`output:vf1`, `flood`, `drop`), `worker`
//! (lcore).
//!
//! Beside the flows, one record for each operator's static rule (`flow
//! create`) when it ends (`flow destroy`, `flow flush`, exit): `static_rule`
//! (its number), `port` (the DPDK port it is on), `rule` (as `flow list` shows
//! it), `taken` (`drop` or `switch`: the NIC took its packets past the
//! workers, so no flow holds them; `null` for a `queue` rule, whose packets
//! are in the flows), `packets`, `bytes` (its final counters), `created`,
//! `ended` (Unix time), `end` (`destroyed` or `exit`). The flows' `packets`
//! plus the `packets` of the records with a `taken` fate are every packet the
//! ports took in, less the drops counted by reason (unparsable, no room).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::lifecycle::FlowOffload;
use crate::static_rules::{EndedStatic, TakenBy};
use anyhow::Context;
use flowlift_dataplane::flow::FlowKey;
use flowlift_dataplane::flowstate::{EndReason, FlowSnapshot};
use flowlift_dataplane::policy::FlowAction;
use serde_json::json;

/// Converts worker TSC stamps to Unix time.
#[derive(Debug, Clone, Copy)]
pub struct TscClock {
    tsc0: u64,
    unix0: f64,
    hz: f64,
}

impl TscClock {
    /// Pins TSC `tsc_now` (at `hz` ticks per second) to the current wall clock.
    pub fn new(tsc_now: u64, hz: u64) -> Self {
        let unix0 = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        TscClock {
            tsc0: tsc_now,
            unix0,
            hz: hz.max(1) as f64,
        }
    }

    /// Unix seconds of TSC `tsc`.
    pub fn unix(&self, tsc: u64) -> f64 {
        self.unix0 + (tsc as f64 - self.tsc0 as f64) / self.hz
    }
}

/// The flow log file.
#[derive(Debug)]
pub struct FlowLog {
    out: BufWriter<File>,
    lines: u64,
}

/// One ended flow, as logged.
#[derive(Debug, Clone, Copy)]
pub struct EndedFlow<'a> {
    pub key: &'a FlowKey,
    pub counters: FlowSnapshot,
    pub action: FlowAction,
    pub reason: EndReason,
    pub worker_lcore: u32,
    /// The flow's offload record, if the control core knew the flow.
    pub offload: Option<&'a FlowOffload>,
}

impl FlowLog {
    /// Creates (truncates) the log file.
    pub fn create(path: &Path) -> anyhow::Result<FlowLog> {
        let file = File::create(path)
            .with_context(|| format!("cannot create flow log {}", path.display()))?;
        Ok(FlowLog {
            out: BufWriter::with_capacity(1 << 20, file),
            lines: 0,
        })
    }

    /// Writes one flow.
    pub fn write(
        &mut self,
        f: &EndedFlow<'_>,
        port_names: &[String],
        clock: &TscClock,
    ) -> anyhow::Result<()> {
        let name = |i: usize| {
            port_names
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("port{i}"))
        };
        let action = action_text(f.action, name);
        let hw = f.offload.map(|o| o.hw_total()).unwrap_or_default();
        let last_seen = f
            .counters
            .last_seen
            .max(f.offload.map_or(0, |o| o.hw_active_tsc));
        let mut line = key_json(f.key, name(usize::from(f.key.in_port())));
        with_fields(
            &mut line,
            json!({
                "packets": f.counters.packets + hw.packets,
                "bytes": f.counters.bytes + hw.bytes,
                "sw_packets": f.counters.packets,
                "sw_bytes": f.counters.bytes,
                "hw_packets": hw.packets,
                "hw_bytes": hw.bytes,
                "offloads": f.offload.map_or(0, |o| o.offloads),
                "offload_failure": f.offload.and_then(|o| o.last_failure),
                "first_seen": round_us(clock.unix(f.counters.first_seen)),
                "last_seen": round_us(clock.unix(last_seen)),
                "end": f.reason.label(),
                "action": action,
                "worker": f.worker_lcore,
            }),
        );
        writeln!(self.out, "{}", serde_json::Value::Object(line)).context("write flow log")?;
        self.lines += 1;
        Ok(())
    }

    /// Writes one static rule's record.
    pub fn write_static(&mut self, r: &EndedStatic) -> anyhow::Result<()> {
        let line = json!({
            "static_rule": r.number,
            "port": r.port,
            "rule": r.rule,
            "taken": r.taken.map(TakenBy::label),
            "packets": r.counters.packets,
            "bytes": r.counters.bytes,
            "created": round_us(r.created),
            "ended": round_us(r.ended),
            "end": r.end.label(),
        });
        writeln!(self.out, "{line}").context("write flow log")?;
        self.lines += 1;
        Ok(())
    }

    /// Records written so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Flushes to disk.
    pub fn flush(&mut self) -> anyhow::Result<()> {
        self.out.flush().context("flush flow log")
    }
}

/// A flow's key as the flow log and `show flows --json` name its fields:
/// `in_port`, `vlan`, `src`, `dst`, `proto`, `sport`, `dport`.
pub fn key_json(key: &FlowKey, in_port: String) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    with_fields(
        &mut m,
        json!({
            "in_port": in_port,
            "vlan": key.vlan(),
            "src": key.src().to_string(),
            "dst": key.dst().to_string(),
            "proto": key.proto(),
            "sport": key.sport(),
            "dport": key.dport(),
        }),
    );
    m
}

/// Appends the fields of the JSON object `more` to `m`, in order.
pub fn with_fields(m: &mut serde_json::Map<String, serde_json::Value>, more: serde_json::Value) {
    if let serde_json::Value::Object(more) = more {
        m.extend(more);
    }
}

/// A flow's action as text: `output:vf1`, `flood`, `drop`.
pub fn action_text(a: FlowAction, port_name: impl Fn(usize) -> String) -> String {
    match a {
        FlowAction::Forward(p) => format!("output:{}", port_name(p.index())),
        FlowAction::Flood => "flood".into(),
        FlowAction::Drop(_) => "drop".into(),
    }
}

fn round_us(secs: f64) -> f64 {
    (secs * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowlift_dataplane::flow::{KeyV4, NO_VLAN};
    use flowlift_dataplane::PortIdx;

    #[test]
    fn one_json_object_per_flow() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flows.jsonl");
        let mut log = FlowLog::create(&path).unwrap();
        let key = FlowKey::V4(KeyV4 {
            src: [10, 0, 0, 1],
            dst: [192, 168, 0, 2],
            sport: 1234,
            dport: 53,
            vlan: NO_VLAN,
            proto: 17,
            in_port: 0,
        });
        let clock = TscClock {
            tsc0: 1000,
            unix0: 1_700_000_000.0,
            hz: 1000.0,
        };
        let f = EndedFlow {
            key: &key,
            counters: FlowSnapshot {
                packets: 3,
                bytes: 180,
                first_seen: 1000,
                last_seen: 2500,
            },
            action: FlowAction::Forward(PortIdx(1)),
            reason: EndReason::Exit,
            worker_lcore: 1,
            offload: None,
        };
        log.write(&f, &["uplink".into(), "vf1".into()], &clock)
            .unwrap();
        log.flush().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["in_port"], "uplink");
        assert!(v["vlan"].is_null());
        assert_eq!(
            (v["src"].as_str(), v["dst"].as_str()),
            (Some("10.0.0.1"), Some("192.168.0.2"))
        );
        assert_eq!(
            (
                v["proto"].as_u64(),
                v["sport"].as_u64(),
                v["dport"].as_u64()
            ),
            (Some(17), Some(1234), Some(53))
        );
        assert_eq!(
            (v["packets"].as_u64(), v["bytes"].as_u64()),
            (Some(3), Some(180))
        );
        assert_eq!(v["first_seen"].as_f64(), Some(1_700_000_000.0));
        assert_eq!(v["last_seen"].as_f64(), Some(1_700_000_001.5));
        assert_eq!(
            (v["end"].as_str(), v["action"].as_str()),
            (Some("exit"), Some("output:vf1"))
        );
        assert_eq!(
            (v["sw_packets"].as_u64(), v["hw_packets"].as_u64()),
            (Some(3), Some(0))
        );
        assert_eq!(v["offloads"].as_u64(), Some(0));
        assert!(v["offload_failure"].is_null());
        assert_eq!(log.lines(), 1);
    }

    #[test]
    fn offloaded_flows_add_the_nic_counters() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flows.jsonl");
        let mut log = FlowLog::create(&path).unwrap();
        let key = FlowKey::V4(KeyV4::default());
        let clock = TscClock::new(0, 1000);
        let mut off = FlowOffload::new(crate::policy::OffloadChoice::Auto);
        off.install_failed("busy", 1, 1);
        off.installed(crate::HwRuleId(7));
        off.removed(crate::HwCounters {
            packets: 10,
            bytes: 1000,
        });
        let f = EndedFlow {
            key: &key,
            counters: FlowSnapshot {
                packets: 2,
                bytes: 120,
                first_seen: 0,
                last_seen: 5,
            },
            action: FlowAction::Forward(PortIdx(1)),
            reason: EndReason::Idle,
            worker_lcore: 1,
            offload: Some(&off),
        };
        log.write(&f, &["uplink".into(), "vf1".into()], &clock)
            .unwrap();
        log.flush().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        let n = |k: &str| v[k].as_u64().unwrap();
        assert_eq!((n("packets"), n("bytes")), (12, 1120));
        assert_eq!((n("sw_packets"), n("sw_bytes")), (2, 120));
        assert_eq!((n("hw_packets"), n("hw_bytes")), (10, 1000));
        assert_eq!(n("offloads"), 1);
        assert_eq!(v["offload_failure"], "busy");
    }
}
