//! Counters of the model NIC, read by the PMD's `stats_get` while the switch
//! and the application's lcores write them.
//!
//! Thread-safety: writers add with relaxed atomic read-modify-writes (a few
//! writers may share a counter: the TX queues of one representor all count
//! into its VF's sink), readers load relaxed. 64-bit atomics never tear, so a
//! reader sees each counter at some recent value. One counter is a gate: a
//! wire's count of frames taken off it is added last, with release order, and
//! read first, with acquire order ([`Counter::add_last`],
//! [`Counter::packets_first`]), so a reader that sees a frame taken off the
//! wire sees what became of it too (delivered, dropped, missed). Counters are never zeroed:
//! a stats reset takes a baseline that later reads subtract, so a reset never
//! races a writer.

use std::ops::Sub;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU64, Ordering};

/// One event counter.
#[derive(Debug, Default)]
pub struct Tally(AtomicU64);

impl Tally {
    /// Adds `n`.
    #[inline(always)]
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Relaxed);
    }

    /// The count so far.
    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

impl Counter {
    /// Counts, after every count made before it: a reader that sees these
    /// packets through [`Counter::packets_first`] sees those counts too.
    #[inline(always)]
    pub fn add_last(&self, packets: u64, bytes: u64) {
        self.bytes.add(bytes);
        self.packets.0.fetch_add(packets, Ordering::Release);
    }

    /// Packets so far, read before any other counter the reader reads.
    pub fn packets_first(&self) -> u64 {
        self.packets.0.load(Ordering::Acquire)
    }
}

/// Packets and bytes.
#[derive(Debug, Default)]
pub struct Counter {
    packets: Tally,
    bytes: Tally,
}

impl Counter {
    /// Counts `packets` packets of `bytes` bytes in all.
    #[inline(always)]
    pub fn add(&self, packets: u64, bytes: u64) {
        self.packets.add(packets);
        self.bytes.add(bytes);
    }

    /// Packets so far.
    pub fn packets(&self) -> u64 {
        self.packets.get()
    }

    /// Bytes so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.get()
    }
}

/// A port's statistics as `rte_eth_stats` has them (no per-queue detail).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PortStats {
    pub ipackets: u64,
    pub ibytes: u64,
    /// Packets that arrived for the port and that the host did not take: its
    /// RX ring was full, it had no buffer, or the port stopped with them in
    /// its ring.
    pub imissed: u64,
    /// Packets refused on receive (larger than the host's buffers).
    pub ierrors: u64,
    /// Receives that found no free buffer in the queue's pool.
    pub rx_nombuf: u64,
    pub opackets: u64,
    pub obytes: u64,
    pub oerrors: u64,
}

impl Sub for PortStats {
    type Output = PortStats;

    /// The stats since `base` (a reset's baseline).
    fn sub(self, base: PortStats) -> PortStats {
        PortStats {
            ipackets: self.ipackets.saturating_sub(base.ipackets),
            ibytes: self.ibytes.saturating_sub(base.ibytes),
            imissed: self.imissed.saturating_sub(base.imissed),
            ierrors: self.ierrors.saturating_sub(base.ierrors),
            rx_nombuf: self.rx_nombuf.saturating_sub(base.rx_nombuf),
            opackets: self.opackets.saturating_sub(base.opackets),
            obytes: self.obytes.saturating_sub(base.obytes),
            oerrors: self.oerrors.saturating_sub(base.oerrors),
        }
    }
}

/// What happened on the uplink's wire side (written by the switch).
#[derive(Debug, Default)]
pub struct UplinkCounters {
    /// Frames and bytes taken off the wire.
    pub wire: Counter,
    /// Frames handed to the host's RX rings (the host counts what it polls).
    pub delivered: Counter,
    /// Frames a transfer rule sent back out on the wire.
    pub to_wire: Counter,
    /// Everything that left on the wire (the uplink's TX side, as a physical
    /// port counts it): the host's TX on the PF, transfer rules back to the
    /// wire, and what the VFs sent that rules put on the wire.
    pub wire_tx: Counter,
    /// Frames a rule dropped.
    pub dropped: Counter,
    pub imissed: Tally,
    pub ierrors: Tally,
    pub rx_nombuf: Tally,
}

/// What reached one VF (its far side: the VM).
#[derive(Debug, Default)]
pub struct VfSink {
    /// Sent by the host on the VF's representor.
    pub from_host: Counter,
    /// Delivered by the switch (rules whose fate is this VF).
    pub from_switch: Counter,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_and_baselines_subtract() {
        let c = Counter::default();
        c.add(2, 120);
        c.add(1, 60);
        assert_eq!((c.packets(), c.bytes()), (3, 180));

        let now = PortStats {
            ipackets: 10,
            imissed: 2,
            ..PortStats::default()
        };
        let base = PortStats {
            ipackets: 4,
            imissed: 5,
            ..PortStats::default()
        };
        let d = now - base;
        assert_eq!(d.ipackets, 6);
        assert_eq!(d.imissed, 0, "never below zero");
    }
}
