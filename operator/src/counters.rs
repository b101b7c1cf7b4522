//! The counters read-model: one [`Snapshot`] of every port's counters, by
//! path (the workers' and the NIC's), with the ethdev's own, and of every
//! worker's poll-loop figures. Built once from the workers' [`WorkerStats`]
//! (relaxed loads), the NIC's per-flow rule counters ([`PortHw`]) and the
//! ports' ethdev counters; the status line, the shell's `show port stats`,
//! `/metrics` and the final report all read it.
//!
//! This is the only place that sums counters: per port over paths, over
//! ports (the report's Accumulated block), over workers (carried by path,
//! cycles). The sums destructure their inputs exhaustively, so a counter
//! added to [`PortTotals`], [`PortHw`] or [`rte::PortStats`] fails to
//! compile here until it is summed too.

use std::sync::atomic::Ordering::Relaxed;

use flowlift_dataplane::stages::Stage;
use flowlift_dataplane::stats::{PortTotals, WorkerStats};

use flowlift_offload::fleet::{FlowKeeper, PortHw, WorkerHandle};
use flowlift_offload::HwCounters;

/// One port's counters, by source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortCounts {
    /// What the workers counted, summed over workers.
    pub workers: PortTotals,
    /// What the NIC's per-flow rules carried for the port, and what its NIC
    /// meter dropped.
    pub nic: PortHw,
    /// The ethdev's own counters (missed, errors, nombuf; zero where not read).
    pub ethdev: rte::PortStats,
}

/// Packets received on or bound for a port and not delivered, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drops {
    /// By the forwarding decision: unknown unicast, group, runt, rule.
    pub policy: u64,
    /// Over the port's rate limit, by either meter.
    pub meter: u64,
    /// Of `meter`, those of the NIC's meter.
    pub meter_nic: u64,
    /// Refused by the port's TX queue.
    pub tx_refused: u64,
    /// Never taken off the NIC: no RX descriptor (missed) or no mbuf.
    pub rx_missed: u64,
}

impl Drops {
    /// What the appliance dropped of what it took (the status line's `drop`):
    /// all but `rx_missed`.
    pub fn taken(&self) -> u64 {
        self.policy + self.meter + self.tx_refused
    }
}

impl PortCounts {
    /// Both paths together: what the NIC's rules took counts as RX on the
    /// port it came in on, what they delivered as TX on the VF, and its NIC
    /// meter's drops with the workers' meter's.
    pub fn total(&self) -> PortTotals {
        let mut t = self.workers;
        let PortHw {
            rx,
            tx,
            meter_dropped,
        } = self.nic;
        t.rx_packets += rx.packets;
        t.rx_bytes += rx.bytes;
        t.tx_packets += tx.packets;
        t.tx_bytes += tx.bytes;
        t.drop_meter += meter_dropped.packets;
        t
    }

    /// The port's drops by reason.
    pub fn drops(&self) -> Drops {
        let t = self.total();
        Drops {
            policy: t.policy_drops(),
            meter: t.drop_meter,
            meter_nic: self.nic.meter_dropped.packets,
            tx_refused: t.tx_dropped,
            rx_missed: self.ethdev.rx_missed + self.ethdev.rx_nombuf,
        }
    }

    /// Adds another port's counters, field by field.
    pub fn add(&mut self, o: &PortCounts) {
        add_totals(&mut self.workers, &o.workers);
        add_hw(&mut self.nic, &o.nic);
        add_ethdev(&mut self.ethdev, &o.ethdev);
    }

    /// These counters less `base`, an earlier reading of the same port
    /// (0 where a counter went back, as a driver's may on reset).
    pub fn since(&self, base: &PortCounts) -> PortCounts {
        PortCounts {
            workers: totals_since(&self.workers, &base.workers),
            nic: PortHw {
                rx: hw_since(self.nic.rx, base.nic.rx),
                tx: hw_since(self.nic.tx, base.nic.tx),
                meter_dropped: hw_since(self.nic.meter_dropped, base.nic.meter_dropped),
            },
            ethdev: ethdev_since(&self.ethdev, &base.ethdev),
        }
    }
}

/// One worker's poll-loop figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerCounts {
    pub lcore: u32,
    /// Packets and bytes the worker received, over all ports.
    pub packets: u64,
    pub bytes: u64,
    /// RX bursts that returned packets.
    pub bursts: u64,
    /// TSC cycles of iterations that moved packets, and of those that did not.
    pub busy_cycles: u64,
    pub idle_cycles: u64,
    /// Cycles by stage of the loop, in [`Stage::ALL`]'s order (zero unless
    /// built with `stage-cycles`).
    pub stages: [u64; Stage::ALL.len()],
}

impl WorkerCounts {
    /// Reads worker `lcore`'s counters.
    pub fn read(lcore: u32, s: &WorkerStats) -> Self {
        WorkerCounts {
            lcore,
            packets: s.ports.iter().map(|p| p.rx_packets.load(Relaxed)).sum(),
            bytes: s.ports.iter().map(|p| p.rx_bytes.load(Relaxed)).sum(),
            bursts: s.bursts.load(Relaxed),
            busy_cycles: s.busy_cycles.load(Relaxed),
            idle_cycles: s.idle_cycles.load(Relaxed),
            stages: Stage::ALL.map(|st| s.stages.get(st)),
        }
    }
}

/// Packets and bytes carried, by path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Carried {
    /// By the NIC's per-flow rules (ended flows and live ones).
    pub nic: HwCounters,
    /// By the workers (what they received).
    pub workers: HwCounters,
}

/// Every port's and every worker's counters at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// By port index.
    pub ports: Vec<PortCounts>,
    /// In the workers' order.
    pub workers: Vec<WorkerCounts>,
}

impl Snapshot {
    /// Reads `nports` ports' counters from the workers (`(lcore, stats)`),
    /// the NIC's rules (`nic`, by port) and the ethdevs (`ethdev`, by port);
    /// missing entries of `nic` and `ethdev` are zero.
    pub fn read<'a>(
        workers: impl IntoIterator<Item = (u32, &'a WorkerStats)>,
        nic: &[PortHw],
        ethdev: &[rte::PortStats],
        nports: usize,
    ) -> Self {
        let workers: Vec<(u32, &WorkerStats)> = workers.into_iter().collect();
        let sw = WorkerStats::port_totals(workers.iter().map(|(_, w)| *w), nports);
        let ports = sw
            .into_iter()
            .enumerate()
            .map(|(i, workers)| PortCounts {
                workers,
                nic: nic.get(i).copied().unwrap_or_default(),
                ethdev: ethdev.get(i).copied().unwrap_or_default(),
            })
            .collect();
        Snapshot {
            ports,
            workers: workers
                .iter()
                .map(|&(lc, w)| WorkerCounts::read(lc, w))
                .collect(),
        }
    }

    /// The running appliance's counters: its workers', and the NIC's rules'
    /// as `keeper` knows them; no ethdev counters (see [`Self::with_ethdev`]).
    pub fn of_fleet(fleet: &[WorkerHandle], keeper: &FlowKeeper, nports: usize) -> Self {
        Self::read(
            fleet.iter().map(|h| (h.lcore, h.stats.as_ref())),
            &keeper.hw_by_port(),
            &[],
            nports,
        )
    }

    /// The same with the ports' ethdev counters read now (zero where a
    /// driver has none).
    pub fn with_ethdev(mut self, ports: &[rte::Port]) -> Self {
        for (p, port) in self.ports.iter_mut().zip(ports) {
            p.ethdev = port.stats().unwrap_or_default();
        }
        self
    }

    /// Each port's totals over both paths.
    pub fn totals(&self) -> Vec<PortTotals> {
        self.ports.iter().map(PortCounts::total).collect()
    }

    /// Every port's counters added up (the report's Accumulated block).
    pub fn accumulated(&self) -> PortCounts {
        let mut all = PortCounts::default();
        for p in &self.ports {
            all.add(p);
        }
        all
    }

    /// Packets and bytes carried by the NIC's rules and by the workers.
    pub fn carried(&self) -> Carried {
        let mut c = Carried::default();
        for p in &self.ports {
            c.nic.packets += p.nic.rx.packets;
            c.nic.bytes += p.nic.rx.bytes;
        }
        for w in &self.workers {
            c.workers.packets += w.packets;
            c.workers.bytes += w.bytes;
        }
        c
    }

    /// The workers' busy and idle TSC cycles, summed.
    pub fn cycles(&self) -> (u64, u64) {
        self.workers
            .iter()
            .fold((0, 0), |(b, i), w| (b + w.busy_cycles, i + w.idle_cycles))
    }
}

fn add_totals(t: &mut PortTotals, o: &PortTotals) {
    let PortTotals {
        rx_packets,
        rx_bytes,
        tx_packets,
        tx_bytes,
        tx_dropped,
        drop_unknown_unicast,
        drop_group,
        drop_runt,
        drop_rule,
        flooded,
        drop_meter,
    } = *o;
    t.rx_packets += rx_packets;
    t.rx_bytes += rx_bytes;
    t.tx_packets += tx_packets;
    t.tx_bytes += tx_bytes;
    t.tx_dropped += tx_dropped;
    t.drop_unknown_unicast += drop_unknown_unicast;
    t.drop_group += drop_group;
    t.drop_runt += drop_runt;
    t.drop_rule += drop_rule;
    t.flooded += flooded;
    t.drop_meter += drop_meter;
}

fn totals_since(now: &PortTotals, base: &PortTotals) -> PortTotals {
    let PortTotals {
        rx_packets,
        rx_bytes,
        tx_packets,
        tx_bytes,
        tx_dropped,
        drop_unknown_unicast,
        drop_group,
        drop_runt,
        drop_rule,
        flooded,
        drop_meter,
    } = *base;
    PortTotals {
        rx_packets: now.rx_packets.saturating_sub(rx_packets),
        rx_bytes: now.rx_bytes.saturating_sub(rx_bytes),
        tx_packets: now.tx_packets.saturating_sub(tx_packets),
        tx_bytes: now.tx_bytes.saturating_sub(tx_bytes),
        tx_dropped: now.tx_dropped.saturating_sub(tx_dropped),
        drop_unknown_unicast: now
            .drop_unknown_unicast
            .saturating_sub(drop_unknown_unicast),
        drop_group: now.drop_group.saturating_sub(drop_group),
        drop_runt: now.drop_runt.saturating_sub(drop_runt),
        drop_rule: now.drop_rule.saturating_sub(drop_rule),
        flooded: now.flooded.saturating_sub(flooded),
        drop_meter: now.drop_meter.saturating_sub(drop_meter),
    }
}

fn add_hw(h: &mut PortHw, o: &PortHw) {
    let PortHw {
        rx,
        tx,
        meter_dropped,
    } = *o;
    for (mine, theirs) in [
        (&mut h.rx, rx),
        (&mut h.tx, tx),
        (&mut h.meter_dropped, meter_dropped),
    ] {
        mine.packets += theirs.packets;
        mine.bytes += theirs.bytes;
    }
}

fn hw_since(now: HwCounters, base: HwCounters) -> HwCounters {
    HwCounters {
        packets: now.packets.saturating_sub(base.packets),
        bytes: now.bytes.saturating_sub(base.bytes),
    }
}

fn add_ethdev(e: &mut rte::PortStats, o: &rte::PortStats) {
    let rte::PortStats {
        rx_packets,
        tx_packets,
        rx_bytes,
        tx_bytes,
        rx_missed,
        rx_errors,
        tx_errors,
        rx_nombuf,
    } = *o;
    e.rx_packets += rx_packets;
    e.tx_packets += tx_packets;
    e.rx_bytes += rx_bytes;
    e.tx_bytes += tx_bytes;
    e.rx_missed += rx_missed;
    e.rx_errors += rx_errors;
    e.tx_errors += tx_errors;
    e.rx_nombuf += rx_nombuf;
}

fn ethdev_since(now: &rte::PortStats, base: &rte::PortStats) -> rte::PortStats {
    let rte::PortStats {
        rx_packets,
        tx_packets,
        rx_bytes,
        tx_bytes,
        rx_missed,
        rx_errors,
        tx_errors,
        rx_nombuf,
    } = *base;
    rte::PortStats {
        rx_packets: now.rx_packets.saturating_sub(rx_packets),
        tx_packets: now.tx_packets.saturating_sub(tx_packets),
        rx_bytes: now.rx_bytes.saturating_sub(rx_bytes),
        tx_bytes: now.tx_bytes.saturating_sub(tx_bytes),
        rx_missed: now.rx_missed.saturating_sub(rx_missed),
        rx_errors: now.rx_errors.saturating_sub(rx_errors),
        tx_errors: now.tx_errors.saturating_sub(tx_errors),
        rx_nombuf: now.rx_nombuf.saturating_sub(rx_nombuf),
    }
}

#[cfg(test)]
#[path = "counters_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "counters_agreement_tests.rs"]
mod agreement_tests;
