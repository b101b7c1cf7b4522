//! How fresh flowlift's picture is, against the control tick (`tick_ms`):
//! - counter staleness: the control core reads every flow's worker counters
//!   and every rule's NIC counter once a tick, so what it reports (shell,
//!   /metrics, decisions) is at most one tick old; OVS refreshes its datapath
//!   flow statistics every 0.2-2 s (the range the issue quotes; its
//!   revalidators wait up to `max-revalidator`, 500 ms by default);
//! - hot to rule: ticks from a flow turning hot to its rule being in place,
//!   counted on the library's `Offloader` (`control_rig`), plus the measured
//!   install latency per rule (from the effectiveness runs: flowlift's
//!   rte_flow calls on the NIC model);
//! - what a tick costs the control core: the measured tick time (`scale`)
//!   over the tick interval.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use plotters::chart::SeriesLabelPosition;

use crate::control_rig::{self, Knobs};
use crate::forward::machine;
use crate::plot::{self, Panel, Point, Series, PALETTE};
use crate::samples::Summary;
use crate::summary::Ratio;

/// OVS's statistics refresh, ms: the two ends the issue names.
const OVS_MS: (f64, f64) = (200.0, 2000.0);
/// The hot flow runs at this many times the promote rate.
const HOT_FACTOR: f64 = 10.0;

/// One tick setting's figures.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Row {
    tick_ms: u32,
    decision_ticks: u32,
    hot_to_rule_ms: f64,
    /// Control core busy share for a tick every `tick_ms`, per tracked-flow count.
    cpu_pct: [Option<f64>; 2],
}

/// Computes the table and figure. `install_us`: the install latency per rule
/// through rte_flow on the NIC model (None: not measured, the decision delay alone is shown);
/// `tick_cost`: (tracked flows, ms per tick) from the scale run.
pub fn run(
    tick_values: &[u32],
    install_us: Option<f64>,
    tick_cost: &[(u32, Summary)],
    out: &Path,
) -> anyhow::Result<Vec<Ratio>> {
    std::fs::create_dir_all(out).with_context(|| format!("create {}", out.display()))?;
    let mut rows = Vec::new();
    for &t in tick_values {
        let knobs = Knobs {
            max_rules: 1024,
            tick_ms: t,
            promote_pps: 1000.0,
            demote_pps: 100.0,
        };
        let n = control_rig::ticks_to_offload(1000, knobs, HOT_FACTOR)?;
        let mut cpu = [None; 2];
        for (slot, (_, s)) in cpu.iter_mut().zip(tick_cost) {
            *slot = Some(100.0 * s.median / f64::from(t));
        }
        rows.push(Row {
            tick_ms: t,
            decision_ticks: n,
            hot_to_rule_ms: f64::from(n * t) + install_us.unwrap_or(0.0) / 1e3,
            cpu_pct: cpu,
        });
    }
    let flows_label = |i: usize| {
        tick_cost
            .get(i)
            .map_or("-".into(), |(n, _)| plot::count_label(f64::from(*n)))
    };
    let mut csv = format!(
        "tick_ms,counter_staleness_max_ms,ovs_staleness_min_ms,ovs_staleness_max_ms,decision_ticks,\
         hot_to_rule_ms,control_cpu_pct_{},control_cpu_pct_{}\n",
        flows_label(0),
        flows_label(1)
    );
    let mut md = format!(
        "Machine: {}.\n\nDecision delay: the library's `Offloader` (hold 3, EWMA 0.5, promote at \
         1000 pps) with 1000 other flows; one flow goes from silent to {HOT_FACTOR}x the promote \
         rate, ticks counted until its rule is in place. Install latency per rule: {}. Control \
         core share: measured tick time ({}) / tick interval.\n\n\
         | tick_ms | counter staleness (max) | OVS stats refresh | ticks hot -> rule | hot -> rule installed | control core, {} flows | control core, {} flows |\n\
         |---|---|---|---|---|---|---|\n",
        machine(),
        install_us.map_or("not measured (effectiveness runs missing)".into(), |u| format!(
            "{u:.1} us (rte_flow on the NIC model, median of the effectiveness runs)"
        )),
        tick_cost
            .iter()
            .map(|(n, s)| format!("{:.2} ms at {}", s.median, plot::count_label(f64::from(*n))))
            .collect::<Vec<_>>()
            .join(", "),
        flows_label(0),
        flows_label(1),
    );
    let pct = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.2}%"));
    for r in &rows {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{:.3},{},{}",
            r.tick_ms,
            r.tick_ms,
            OVS_MS.0,
            OVS_MS.1,
            r.decision_ticks,
            r.hot_to_rule_ms,
            r.cpu_pct[0].map_or(String::new(), |v| format!("{v:.3}")),
            r.cpu_pct[1].map_or(String::new(), |v| format!("{v:.3}")),
        );
        let _ = writeln!(
            md,
            "| {} | {} ms | {}-{} ms | {} | {:.1} ms | {} | {} |",
            r.tick_ms,
            r.tick_ms,
            OVS_MS.0,
            OVS_MS.1,
            r.decision_ticks,
            r.hot_to_rule_ms,
            pct(r.cpu_pct[0]),
            pct(r.cpu_pct[1]),
        );
    }
    std::fs::write(out.join("timing.csv"), &csv)?;
    std::fs::write(out.join("timing.md"), &md)?;
    println!("{md}");

    let xs = |f: &dyn Fn(&Row) -> f64| {
        rows.iter()
            .map(|r| Point::exact(f64::from(r.tick_ms), f(r)))
            .collect::<Vec<_>>()
    };
    let mut fresh = Panel::new(
        "Staleness and reaction time",
        "control tick, tick_ms (log scale)",
        "milliseconds (log scale)",
        vec![
            Series::new(
                "flowlift counter staleness (at most 1 tick)",
                PALETTE[0],
                xs(&|r| f64::from(r.tick_ms)),
            ),
            Series::new(
                "flowlift hot flow -> rule installed",
                PALETTE[2],
                xs(&|r| r.hot_to_rule_ms),
            ),
            Series::new("OVS stats refresh, 0.2 s", PALETTE[1], xs(&|_| OVS_MS.0)).dashed(),
            Series::new("OVS stats refresh, 2 s", PALETTE[3], xs(&|_| OVS_MS.1)).dashed(),
        ],
    );
    fresh.log_x = true;
    fresh.log_y = true;
    fresh.legend = SeriesLabelPosition::UpperLeft;
    let mut cpu_series = Vec::new();
    for (i, (n, _)) in tick_cost.iter().enumerate().take(2) {
        cpu_series.push(Series::new(
            format!("{} tracked flows", plot::count_label(f64::from(*n))),
            PALETTE[4 + i],
            rows.iter()
                .filter_map(|r| r.cpu_pct[i].map(|v| Point::exact(f64::from(r.tick_ms), v)))
                .collect(),
        ));
    }
    // Above one CPU the tick cannot keep its cadence: it runs late every time.
    cpu_series.push(
        Series::new(
            "100% = the whole control core",
            PALETTE[1],
            rows.iter()
                .map(|r| Point::exact(f64::from(r.tick_ms), 100.0))
                .collect(),
        )
        .dashed(),
    );
    let mut cpu = Panel::new(
        "What the ticks cost the control core",
        "control tick, tick_ms (log scale)",
        "control core busy (% of one CPU, log scale)",
        cpu_series,
    );
    cpu.log_x = true;
    cpu.log_y = true;
    plot::draw(
        &out.join("timing.png"),
        "Counter staleness, promotion delay and tick cost vs the control tick",
        &[fresh, cpu],
        1500,
    )?;
    Ok(rows
        .iter()
        .filter(|r| r.tick_ms == 100)
        .map(|r| {
            Ratio::new(
                "timing",
                "hot flow -> rule installed at tick_ms 100 (ms)",
                format!("{:.1} ({} ticks)", r.hot_to_rule_ms, r.decision_ticks),
            )
        })
        .collect())
}
