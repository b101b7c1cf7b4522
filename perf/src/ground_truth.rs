//! The generated wire's ground truth read back (the NIC model's `gen_truth`
//! JSONL and `gen_series` CSV, docs/model-nic.md), and what the scenarios
//! compute from it:
//!
//! - the oracle: in each 100 ms bin, the packets the K flows sending most in
//!   that bin sent (the best any K exact-match rules could carry, knowing
//!   every flow's true rate as it is), from each flow's birth, rate and
//!   packets;
//! - the flow log checked against the truth, flow by flow (packets and
//!   bytes sent less missed, and what the NIC carried);
//! - the time from a hot flow's birth to the first packet a rule carried.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context};
use serde_json::Value;

/// The series' bin, seconds (the model's `BIN_NS`).
pub const BIN_S: f64 = 0.1;

/// One flow of the truth.
#[derive(Debug, Clone, PartialEq)]
pub struct TruthFlow {
    /// The flow log's key fields, as one string (see [`key_of`]).
    pub key: String,
    pub born_s: f64,
    pub pps: f64,
    pub packets: u64,
    pub bytes: u64,
    pub missed_packets: u64,
    pub missed_bytes: u64,
    pub nic_packets: u64,
    pub first_nic_s: Option<f64>,
}

/// A flow's key as both files spell it: `vlan`, `src`, `dst`, `proto`,
/// `sport`, `dport`.
pub fn key_of(v: &Value) -> String {
    ["vlan", "src", "dst", "proto", "sport", "dport"]
        .iter()
        .map(|k| v[k].to_string())
        .collect::<Vec<_>>()
        .join("|")
}

fn jsonl(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .with_context(|| format!("{}:{}: not JSON", path.display(), i + 1))
        })
        .collect()
}

/// Reads `gen_truth`.
pub fn read_truth(path: &Path) -> anyhow::Result<Vec<TruthFlow>> {
    jsonl(path)?
        .iter()
        .map(|v| {
            let n = |k: &str| v[k].as_u64().with_context(|| format!("no {k} in {v}"));
            let f = |k: &str| v[k].as_f64().with_context(|| format!("no {k} in {v}"));
            Ok(TruthFlow {
                key: key_of(v),
                born_s: f("born_s")?,
                pps: f("pps")?,
                packets: n("packets")?,
                bytes: n("bytes")?,
                missed_packets: n("missed_packets")?,
                missed_bytes: n("missed_bytes")?,
                nic_packets: n("nic_packets")?,
                first_nic_s: v["first_nic_s"].as_f64(),
            })
        })
        .collect()
}

/// One bin of `gen_series`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SeriesBin {
    pub t_s: f64,
    pub sent: u64,
    pub missed: u64,
    pub nic: u64,
}

/// Reads `gen_series`.
pub fn read_series(path: &Path) -> anyhow::Result<Vec<SeriesBin>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let mut lines = text.lines();
    if lines.next() != Some("t_s,sent,missed,nic") {
        bail!("{}: not a gen_series file", path.display());
    }
    lines
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            let bad = || format!("{}: bad row {l:?}", path.display());
            if c.len() != 4 {
                bail!(bad());
            }
            Ok(SeriesBin {
                t_s: c[0].parse().with_context(bad)?,
                sent: c[1].parse().with_context(bad)?,
                missed: c[2].parse().with_context(bad)?,
                nic: c[3].parse().with_context(bad)?,
            })
        })
        .collect()
}

/// Per bin: the packets the flows sent, how many flows sent them, those
/// the `k` flows that sent most in it sent (the oracle), and the same among
/// the flows born at least `learn_s` before the bin (an oracle that, like
/// any engine, must see a flow for a while before it knows its rate).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OracleBin {
    pub sent: u64,
    pub live: usize,
    pub top_k: u64,
    pub top_k_learned: u64,
}

/// The sum of the `k` largest of `counts` (reordered).
fn top_sum(counts: &mut [u64], k: usize) -> u64 {
    if counts.len() > k {
        counts.select_nth_unstable_by(k, |a, b| b.cmp(a));
        counts[..k].iter().sum()
    } else {
        counts.iter().sum()
    }
}

/// The oracle over `bins` bins of [`BIN_S`]: each flow's packets fall at
/// `born_s + j / pps` (its own even rate, as the generator sends them).
pub fn oracle(flows: &[TruthFlow], bins: usize, k: usize, learn_s: f64) -> Vec<OracleBin> {
    // Per bin, each flow's packets in it and whether it was learnt by then.
    let mut per_bin: Vec<Vec<(u64, bool)>> = vec![Vec::new(); bins];
    for f in flows {
        let interval = 1.0 / f.pps.max(1e-9);
        // Packet j is at born + j * interval; bin i holds the j with
        // born + j * interval in [i * BIN_S, (i + 1) * BIN_S).
        // A flow born before the wire's start (`gen_warm`, a negative
        // birth) sent its packets from the first one due after it.
        let first_bin = (f.born_s / BIN_S).floor().max(0.0) as usize;
        let mut j0 = ((-f.born_s / interval).ceil().max(0.0)) as u64;
        let end = j0 + f.packets;
        let mut i = first_bin;
        while j0 < end && i < bins {
            let start = i as f64 * BIN_S;
            let j1 = (((start + BIN_S - f.born_s) / interval).ceil().max(0.0) as u64).min(end);
            if j1 > j0 {
                per_bin[i].push((j1 - j0, start >= f.born_s + learn_s));
            }
            j0 = j0.max(j1);
            i += 1;
        }
    }
    per_bin
        .into_iter()
        .map(|flows| {
            let mut all: Vec<u64> = flows.iter().map(|f| f.0).collect();
            let mut learned: Vec<u64> = flows.iter().filter(|f| f.1).map(|f| f.0).collect();
            OracleBin {
                sent: all.iter().sum(),
                live: all.len(),
                top_k: top_sum(&mut all, k),
                top_k_learned: top_sum(&mut learned, k),
            }
        })
        .collect()
}

/// The flow log set against the truth.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Accounting {
    /// Flows that reached the host (sent more than was missed).
    pub expected: usize,
    pub logged: usize,
    /// Logged with packets, bytes or NIC packets other than the truth's, or
    /// logged twice, or not a flow of the truth.
    pub wrong: Vec<String>,
    /// Expected and not logged.
    pub missing: usize,
}

impl Accounting {
    pub fn exact(&self) -> bool {
        self.wrong.is_empty() && self.missing == 0 && self.expected == self.logged
    }
}

/// Checks the flow log at `log` against `truth`: each flow that reached the
/// host once, with `packets - missed_packets`, `bytes - missed_bytes`, and
/// `hw_packets` the NIC's `nic_packets`.
pub fn check_flow_log(truth: &[TruthFlow], log: &Path) -> anyhow::Result<Accounting> {
    let mut want: HashMap<&str, &TruthFlow> = truth
        .iter()
        .filter(|f| f.packets > f.missed_packets)
        .map(|f| (f.key.as_str(), f))
        .collect();
    let mut a = Accounting {
        expected: want.len(),
        ..Accounting::default()
    };
    for v in jsonl(log)? {
        if v.get("static_rule").is_some() {
            continue;
        }
        a.logged += 1;
        let key = key_of(&v);
        let got = (
            v["packets"].as_u64(),
            v["bytes"].as_u64(),
            v["hw_packets"].as_u64(),
        );
        match want.remove(key.as_str()) {
            Some(t)
                if got
                    == (
                        Some(t.packets - t.missed_packets),
                        Some(t.bytes - t.missed_bytes),
                        Some(t.nic_packets),
                    ) => {}
            Some(t) => a.wrong.push(format!("{v}: truth {t:?}")),
            None => a
                .wrong
                .push(format!("{v}: logged twice, or not a flow of the truth")),
        }
    }
    a.missing = want.len();
    Ok(a)
}

/// Seconds from birth to the first packet a rule carried, for the flows
/// born on the wire that are hot (at or above `hot_pps`) for at least `min_life_s` (long
/// enough for a rule to pay), among those a rule carried; and how many
/// such flows there were in all.
pub fn time_to_offload(truth: &[TruthFlow], hot_pps: f64, min_life_s: f64) -> (Vec<f64>, usize) {
    let hot: Vec<&TruthFlow> = truth
        .iter()
        // Born on the wire (not before its start, whose rules came later).
        .filter(|f| f.born_s >= 0.0 && f.pps >= hot_pps && f.packets as f64 / f.pps >= min_life_s)
        .collect();
    let times = hot
        .iter()
        .filter_map(|f| Some(f.first_nic_s? - f.born_s))
        .collect();
    (times, hot.len())
}

/// The `q` quantile (0..=1) of `values`, or NaN if there are none.
pub fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    v[i]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(born_s: f64, pps: f64, packets: u64) -> TruthFlow {
        TruthFlow {
            key: format!("{born_s}|{pps}"),
            born_s,
            pps,
            packets,
            bytes: packets * 100,
            missed_packets: 0,
            missed_bytes: 0,
            nic_packets: 0,
            first_nic_s: None,
        }
    }

    #[test]
    fn the_oracle_places_each_flows_packets_in_their_bins_and_takes_the_top_k() {
        // 100 pps from 0.055 s: packets at 0.055, 0.065, ... 0.245 (20
        // packets): 5 in bin 0, 10 in bin 1, 5 in bin 2.
        let a = flow(0.055, 100.0, 20);
        // 20 pps from 0.001: 0.001, 0.051, ... 0.351 (8): 2 in each of bins 0-3.
        let b = flow(0.001, 20.0, 8);
        // 10 pps from 0.102: 0.102 and 0.202: 1 in bin 1, 1 in bin 2.
        let c = flow(0.102, 10.0, 2);
        let o = oracle(&[a.clone(), b.clone(), c.clone()], 5, 1, 0.0);
        let sent: Vec<u64> = o.iter().map(|b| b.sent).collect();
        let live: Vec<usize> = o.iter().map(|b| b.live).collect();
        let top: Vec<u64> = o.iter().map(|b| b.top_k).collect();
        assert_eq!(sent, vec![7, 13, 8, 2, 0]);
        assert_eq!(live, vec![2, 3, 3, 1, 0]);
        assert_eq!(top, vec![5, 10, 5, 2, 0]);
        let o2 = oracle(&[flow(0.055, 100.0, 20), flow(0.001, 20.0, 8)], 5, 2, 0.0);
        assert_eq!((o2[1].sent, o2[1].top_k), (12, 12));
        // Learning takes 0.09 s: in bin 1 only b (born at 0.001) is known;
        // by bin 2 all are.
        let learned: Vec<u64> = oracle(&[a, b, c], 5, 1, 0.09)
            .iter()
            .map(|b| b.top_k_learned)
            .collect();
        assert_eq!(learned, vec![0, 2, 5, 2, 0]);
        // Born 0.0195 s before the start at 100 pps: its packets sent are
        // those due from 0.0005 s on, 12 of them: 10 in bin 0, 2 in bin 1.
        let early = oracle(&[flow(-0.0195, 100.0, 12)], 3, 1, 0.0);
        assert_eq!(
            early.iter().map(|b| b.sent).collect::<Vec<_>>(),
            vec![10, 2, 0]
        );
    }

    #[test]
    fn the_flow_log_is_checked_flow_by_flow() {
        let dir = tempfile::tempdir().unwrap();
        let line = |sport: u16, p: u64, hw: u64| {
            format!(
                "{{\"in_port\":\"uplink\",\"vlan\":null,\"src\":\"10.0.0.1\",\"dst\":\"10.0.0.2\",\
                 \"proto\":17,\"sport\":{sport},\"dport\":9,\"packets\":{p},\"bytes\":{},\"hw_packets\":{hw}}}",
                p * 100
            )
        };
        let truth_line = |sport: u16, p: u64, missed: u64, nic: u64| {
            format!(
                "{{\"vlan\":null,\"src\":\"10.0.0.1\",\"dst\":\"10.0.0.2\",\"proto\":17,\"sport\":{sport},\
                 \"dport\":9,\"packets\":{p},\"bytes\":{},\"missed_packets\":{missed},\"missed_bytes\":{},\
                 \"size\":{p},\"born_s\":0.5,\"vf\":1,\"pps\":10.0,\"nic_packets\":{nic},\"first_nic_s\":null}}",
                p * 100,
                missed * 100
            )
        };
        let truth_path = dir.path().join("t.jsonl");
        std::fs::write(
            &truth_path,
            [
                truth_line(1, 10, 2, 3),
                truth_line(2, 5, 5, 0),
                truth_line(3, 4, 0, 0),
            ]
            .join("\n"),
        )
        .unwrap();
        let truth = read_truth(&truth_path).unwrap();
        assert_eq!(truth.len(), 3);
        let log = dir.path().join("f.jsonl");
        std::fs::write(&log, [line(1, 8, 3), line(3, 4, 0)].join("\n")).unwrap();
        let a = check_flow_log(&truth, &log).unwrap();
        assert!(a.exact(), "{a:?}");
        assert_eq!(
            (a.expected, a.logged),
            (2, 2),
            "the wholly missed flow is not expected"
        );
        // One packet too many, a NIC count off, a flow twice, one missing.
        for (lines, why) in [
            (vec![line(1, 9, 3), line(3, 4, 0)], "packets"),
            (vec![line(1, 8, 2), line(3, 4, 0)], "hw"),
            (vec![line(1, 8, 3), line(3, 4, 0), line(3, 4, 0)], "twice"),
            (vec![line(1, 8, 3)], "missing"),
        ] {
            std::fs::write(&log, lines.join("\n")).unwrap();
            let a = check_flow_log(&truth, &log).unwrap();
            assert!(!a.exact(), "{why}: {a:?}");
        }
    }

    #[test]
    fn hot_flows_time_to_their_first_carried_packet() {
        let mut a = flow(1.0, 500.0, 100);
        a.first_nic_s = Some(1.3);
        let b = flow(2.0, 500.0, 100);
        let c = flow(2.0, 5.0, 100);
        // 0.02 s long: too short to count as hot for 0.1 s.
        let d = flow(2.0, 500.0, 10);
        let (t, hot) = time_to_offload(&[a, b, c, d], 100.0, 0.1);
        assert_eq!(hot, 2);
        assert_eq!(t.len(), 1);
        assert!((t[0] - 0.3).abs() < 1e-9);
        assert_eq!(quantile(&[3.0, 1.0, 2.0], 0.5), 2.0);
        assert!(quantile(&[], 0.5).is_nan());
    }
}
