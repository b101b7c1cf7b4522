//! Scale: flowlift's flow table at 1M and 8M flows beside hashbrown in the
//! same run (bytes per flow from each table's own accounting, bulk lookups of
//! random hits per second), and the control core's tick time with 100K and 1M
//! tracked flows (`control_rig`, no EAL). Criterion's `benches/table.rs` has
//! the finer table figures and rte_hash; this is the quick, plotted view.

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use flowlift_dataplane::flow::{FlowId, KeyV4, NO_VLAN};
use flowlift_dataplane::table::CuckooTable;
use plotters::chart::SeriesLabelPosition;

use crate::control_rig;
use crate::forward::machine;
use crate::plot::{self, Panel, Point, Series, PALETTE};
use crate::samples::{summarize, Summary};
use crate::summary::Ratio;

/// Sizes of one run.
#[derive(Debug, Clone)]
pub struct Sweep {
    pub table_flows: Vec<usize>,
    pub tick_flows: Vec<u32>,
    pub runs: usize,
    /// Time each lookup measurement runs for.
    pub lookup_time: Duration,
    pub ticks: usize,
}

impl Sweep {
    pub fn full() -> Sweep {
        Sweep {
            table_flows: vec![1_000_000, 8_000_000],
            tick_flows: vec![100_000, 1_000_000],
            runs: 3,
            lookup_time: Duration::from_secs(1),
            ticks: 10,
        }
    }

    pub fn quick() -> Sweep {
        Sweep {
            table_flows: vec![1_000_000, 8_000_000],
            tick_flows: vec![100_000, 1_000_000],
            runs: 1,
            lookup_time: Duration::from_millis(300),
            ticks: 3,
        }
    }
}

/// Keys per bulk lookup: a worker's RX burst.
const BURST: usize = 32;
/// Prepared queries, cycled through: 16 MiB of keys, more than the last-level
/// cache, so the query stream does not keep the table warm by itself.
const QUERIES: usize = 1 << 20;

/// splitmix64.
fn mix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `n` distinct IPv4/UDP keys: the source address is a bijection of the
/// index (distinct without a set to check), the rest random.
fn keys(n: usize) -> Vec<KeyV4> {
    let mut s = 0x5eed_u64;
    (0..n as u32)
        .map(|i| {
            let r = mix(&mut s);
            KeyV4 {
                // An odd multiplier permutes u32: distinct sources.
                src: i.wrapping_mul(0x9e37_79b1).to_be_bytes(),
                dst: (r as u32).to_be_bytes(),
                sport: (r >> 32) as u16,
                dport: (r >> 48) as u16,
                vlan: NO_VLAN,
                proto: 17,
                in_port: 0,
            }
        })
        .collect()
}

/// Lookups per second (millions) of `lookup` over `queries` for `time`.
fn rate(time: Duration, queries: &[KeyV4], mut lookup: impl FnMut(&[KeyV4]) -> usize) -> f64 {
    // One pass over a slice of the queries first: code and TLBs warm.
    let mut hits = 0;
    for chunk in queries[..QUERIES / 16].chunks_exact(BURST) {
        hits += lookup(chunk);
    }
    let start = Instant::now();
    let mut done = 0usize;
    let mut at = 0;
    while start.elapsed() < time {
        for _ in 0..256 {
            hits += lookup(&queries[at..at + BURST]);
            at = (at + BURST) % queries.len();
            done += BURST;
        }
    }
    black_box(hits);
    done as f64 / start.elapsed().as_secs_f64() / 1e6
}

/// Figures of one table size.
#[derive(Debug, Clone)]
struct TableFigures {
    flows: usize,
    ours_mlps: Summary,
    hb_mlps: Summary,
    ours_bytes: f64,
    hb_bytes: f64,
    ours_refused: usize,
}

fn table_run(n: usize, sweep: &Sweep) -> anyhow::Result<TableFigures> {
    let all = keys(n);
    let mut ours = CuckooTable::<KeyV4>::with_capacity(n);
    let mut refused = 0;
    for k in &all {
        refused += usize::from(ours.insert(*k).is_err());
    }
    let mut hb: hashbrown::HashMap<KeyV4, u32> = hashbrown::HashMap::with_capacity(n);
    for (i, k) in all.iter().enumerate() {
        hb.insert(*k, i as u32);
    }
    let mut s = n as u64;
    // Random keys both tables hold: all lookups hit, for both.
    let queries: Vec<KeyV4> = (0..QUERIES)
        .map(|_| loop {
            let k = all[(mix(&mut s) % n as u64) as usize];
            if ours.lookup(&k).is_some() {
                break k;
            }
        })
        .collect();
    let mut out = [None::<FlowId>; BURST];
    let (mut a, mut b) = (Vec::new(), Vec::new());
    // Alternate the two, so drift on the shared machine hits both alike.
    for _ in 0..sweep.runs {
        a.push(rate(sweep.lookup_time, &queries, |q| {
            ours.lookup_bulk(q, &mut out);
            out.iter().filter(|o| o.is_some()).count()
        }));
        b.push(rate(sweep.lookup_time, &queries, |q| {
            q.iter().filter(|k| hb.get(*k).is_some()).count()
        }));
    }
    anyhow::ensure!(!ours.is_empty(), "flowlift's table took no key");
    Ok(TableFigures {
        flows: n,
        ours_mlps: summarize(&a),
        hb_mlps: summarize(&b),
        ours_bytes: ours.memory_bytes() as f64 / ours.len() as f64,
        hb_bytes: hb.allocation_size() as f64 / hb.len() as f64,
        ours_refused: refused,
    })
}

fn point(x: f64, s: &Summary) -> Point {
    Point {
        x,
        y: s.median,
        min: s.min,
        max: s.max,
    }
}

/// What the scale run measured.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// (tracked flows, ms per tick over the timed ticks).
    pub ticks: Vec<(u32, Summary)>,
    pub ratios: Vec<Ratio>,
}

/// Runs the table and tick measurements; writes `scale.csv`, `scale.md`,
/// `scale.png`.
pub fn run(sweep: &Sweep, out: &Path) -> anyhow::Result<Outcome> {
    std::fs::create_dir_all(out).with_context(|| format!("create {}", out.display()))?;
    let mut tables = Vec::new();
    for &n in &sweep.table_flows {
        eprintln!("flowlift-perf: scale: flow tables of {n} flows");
        let t = table_run(n, sweep)?;
        eprintln!(
            "flowlift-perf:   flowlift {:.1} M lookups/s, {:.1} B/flow; hashbrown {:.1} M lookups/s, {:.1} B/flow",
            t.ours_mlps.median, t.ours_bytes, t.hb_mlps.median, t.hb_bytes
        );
        tables.push(t);
    }
    let mut ticks = Vec::new();
    for &n in &sweep.tick_flows {
        eprintln!("flowlift-perf: scale: control ticks with {n} tracked flows");
        let ms = control_rig::tick_ms(n, 5, sweep.ticks)?;
        let s = summarize(&ms);
        eprintln!("flowlift-perf:   {:.2} ms per tick", s.median);
        ticks.push((n, s));
    }

    let mut csv = String::from("measure,flows,contender,median,min,max,unit\n");
    let mut md = format!(
        "Machine: {}.\n\nFlow tables preallocated for N and filled with N distinct random IPv4 \
         keys; lookups: bursts of {BURST} random keys that are all in the table (flowlift \
         `lookup_bulk`, hashbrown {BURST} `get`s), {} x {:.1} s each, alternating; bytes per flow: \
         flowlift `memory_bytes()`, hashbrown `allocation_size()`, over the entries. Control tick: \
         flowlift's `Offloader::tick` through the library (in-memory NIC, 1024 rules, Zipf 1.1 \
         over the flows at 10 Mpps in all), {} timed ticks after 5.\n\n\
         | measure | flows | flowlift | hashbrown | flowlift / hashbrown |\n|---|---|---|---|---|\n",
        machine(),
        sweep.runs,
        sweep.lookup_time.as_secs_f64(),
        sweep.ticks,
    );
    let cell = |s: &Summary| {
        if s.min == s.max {
            format!("{:.1}", s.median)
        } else {
            format!("{:.1} [{:.1}..{:.1}]", s.median, s.min, s.max)
        }
    };
    let mut ratios = Vec::new();
    for t in &tables {
        for (who, s) in [("flowlift", &t.ours_mlps), ("hashbrown", &t.hb_mlps)] {
            let _ = writeln!(
                csv,
                "lookups,{},{who},{:.2},{:.2},{:.2},M lookups/s",
                t.flows, s.median, s.min, s.max
            );
        }
        for (who, b) in [("flowlift", t.ours_bytes), ("hashbrown", t.hb_bytes)] {
            let _ = writeln!(
                csv,
                "memory,{},{who},{b:.1},{b:.1},{b:.1},bytes/flow",
                t.flows
            );
        }
        let _ = writeln!(
            md,
            "| lookups (M/s, random hits) | {} | {} | {} | {:.2} |",
            plot::count_label(t.flows as f64),
            cell(&t.ours_mlps),
            cell(&t.hb_mlps),
            t.ours_mlps.median / t.hb_mlps.median
        );
        let _ = writeln!(
            md,
            "| memory (bytes/flow) | {} | {:.1} | {:.1} | {:.2} |",
            plot::count_label(t.flows as f64),
            t.ours_bytes,
            t.hb_bytes,
            t.ours_bytes / t.hb_bytes
        );
        let label = plot::count_label(t.flows as f64);
        ratios.push(Ratio::new(
            "scale",
            format!("lookups/s flowlift / hashbrown, {label} flows"),
            format!("{:.2}", t.ours_mlps.median / t.hb_mlps.median),
        ));
        ratios.push(Ratio::new(
            "scale",
            format!("bytes per flow flowlift / hashbrown, {label} flows"),
            format!(
                "{:.2} ({:.1} / {:.1})",
                t.ours_bytes / t.hb_bytes,
                t.ours_bytes,
                t.hb_bytes
            ),
        ));
        if t.ours_refused > 0 {
            let _ = writeln!(
                md,
                "\nflowlift's table refused {} of {} keys at this size.\n",
                t.ours_refused, t.flows
            );
        }
    }
    for (n, s) in &ticks {
        let _ = writeln!(
            csv,
            "tick,{n},flowlift,{:.3},{:.3},{:.3},ms",
            s.median, s.min, s.max
        );
        let _ = writeln!(
            md,
            "| control tick (ms) | {} tracked | {} | - | - |",
            plot::count_label(f64::from(*n)),
            if s.min == s.max {
                format!("{:.2}", s.median)
            } else {
                format!("{:.2} [{:.2}..{:.2}]", s.median, s.min, s.max)
            }
        );
        ratios.push(Ratio::new(
            "scale",
            format!(
                "control tick with {} tracked flows (ms)",
                plot::count_label(f64::from(*n))
            ),
            format!("{:.2}", s.median),
        ));
    }
    std::fs::write(out.join("scale.csv"), &csv)?;
    std::fs::write(out.join("scale.md"), &md)?;
    println!("{md}");

    let line = |f: &dyn Fn(&TableFigures) -> Point| tables.iter().map(f).collect::<Vec<_>>();
    let mut lookups = Panel::new(
        "Bulk lookups, random hits",
        "flows in the table (log scale)",
        "million lookups per second (one core)",
        vec![
            Series::new(
                "flowlift CuckooTable",
                PALETTE[0],
                line(&|t| point(t.flows as f64, &t.ours_mlps)),
            ),
            Series::new(
                "hashbrown HashMap",
                PALETTE[1],
                line(&|t| point(t.flows as f64, &t.hb_mlps)),
            ),
        ],
    );
    lookups.log_x = true;
    let mut memory = Panel::new(
        "Memory",
        "flows in the table (log scale)",
        "bytes per flow",
        vec![
            Series::new(
                "flowlift CuckooTable",
                PALETTE[0],
                line(&|t| Point::exact(t.flows as f64, t.ours_bytes)),
            ),
            Series::new(
                "hashbrown HashMap",
                PALETTE[1],
                line(&|t| Point::exact(t.flows as f64, t.hb_bytes)),
            ),
        ],
    );
    memory.log_x = true;
    memory.legend = SeriesLabelPosition::LowerRight;
    let mut tick = Panel::new(
        "Control core: one offload tick",
        "tracked flows (log scale)",
        "ms per tick",
        vec![Series::new(
            "flowlift Offloader::tick",
            PALETTE[2],
            ticks.iter().map(|(n, s)| point(f64::from(*n), s)).collect(),
        )],
    );
    tick.log_x = true;
    tick.legend = SeriesLabelPosition::UpperLeft;
    plot::draw(
        &out.join("scale.png"),
        &format!(
            "Scale: flow table and control tick (median of {} runs, min-max bars)",
            sweep.runs
        ),
        &[lookups, memory, tick],
        1600,
    )?;
    Ok(Outcome { ticks, ratios })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_distinct() {
        let k = keys(100_000);
        let set: std::collections::HashSet<_> = k.iter().collect();
        assert_eq!(set.len(), 100_000);
    }

    #[test]
    fn a_small_table_run_reports_both_contenders() {
        let sweep = Sweep {
            table_flows: vec![],
            tick_flows: vec![],
            runs: 1,
            lookup_time: Duration::from_millis(20),
            ticks: 1,
        };
        let t = table_run(50_000, &sweep).unwrap();
        assert!(t.ours_mlps.median > 0.0 && t.hb_mlps.median > 0.0);
        assert!(t.ours_bytes > 16.0 && t.hb_bytes > 16.0);
        assert_eq!(t.ours_refused, 0);
    }
}
