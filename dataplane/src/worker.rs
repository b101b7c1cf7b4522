//! The poll-mode worker: poll each assigned RX queue for a burst, decide each
//! packet's egress, batch per egress port, send each batch with one `tx_burst`.
//!
//! Per iteration the worker touches only its own queues, its own batches and its
//! own counters: no lock, no allocation (the batches are built at start-up), no
//! syscall. It stops when the shared stop flag is set, after flushing its batches.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::io::{PacketBuf, PacketBurst, RxQueueIo, TxQueueIo};
use crate::l2::{DropReason, L2Table, Verdict};
use crate::stats::{bump, PortCounters, WorkerStats};
use crate::PortIdx;

/// An RX queue this worker polls, and the port it belongs to.
#[derive(Debug)]
pub struct RxAssignment<R> {
    pub port: PortIdx,
    pub queue: R,
    /// Packets still to take from this queue (`None`: no limit). Used to replay a
    /// capture an exact number of times from an endlessly looping PMD.
    pub budget: Option<u64>,
}

/// A TX queue and the batch waiting for it.
struct TxSlot<T: TxQueueIo> {
    queue: T,
    batch: T::Burst,
    /// Bytes of the packets in `batch`.
    batch_bytes: u64,
}

/// One worker's state. Generic over the I/O so the same loop runs on DPDK queues
/// and on test vectors.
pub struct Worker<R: RxQueueIo, T: TxQueueIo<Burst = R::Burst>> {
    rx: Vec<RxAssignment<R>>,
    tx: Vec<TxSlot<T>>,
    l2: L2Table,
    burst: usize,
    stats: Arc<WorkerStats>,
    clock: fn() -> u64,
}

impl<R: RxQueueIo, T: TxQueueIo<Burst = R::Burst>> std::fmt::Debug for Worker<R, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("rx_queues", &self.rx.len())
            .field("tx_ports", &self.tx.len())
            .field("burst", &self.burst)
            .finish()
    }
}

impl<R: RxQueueIo, T: TxQueueIo<Burst = R::Burst>> Worker<R, T> {
    /// A worker polling `rx`, sending through `tx` (one queue per port, indexed by
    /// [`PortIdx`]), deciding with `l2`, bursts of `burst` (clamped to the burst
    /// capacity), timing itself with `clock` (the TSC on DPDK).
    pub fn new(
        rx: Vec<RxAssignment<R>>,
        tx: Vec<T>,
        l2: L2Table,
        burst: usize,
        stats: Arc<WorkerStats>,
        clock: fn() -> u64,
    ) -> Self {
        assert_eq!(
            stats.ports.len(),
            tx.len(),
            "one TX queue and one counter set per port"
        );
        Worker {
            rx,
            tx: tx
                .into_iter()
                .map(|queue| TxSlot {
                    queue,
                    batch: T::Burst::empty(),
                    batch_bytes: 0,
                })
                .collect(),
            l2,
            burst: burst.clamp(1, R::Burst::CAPACITY),
            stats,
            clock,
        }
    }

    /// Polls until `stop` is set, then flushes and returns.
    pub fn run(&mut self, stop: &AtomicBool) {
        let mut rx_burst = R::Burst::empty();
        let mut last = (self.clock)();
        while !stop.load(Ordering::Relaxed) {
            let moved = self.poll_once(&mut rx_burst);
            let now = (self.clock)();
            let spent = now.wrapping_sub(last);
            last = now;
            if moved > 0 {
                bump(&self.stats.busy_cycles, spent);
            } else {
                bump(&self.stats.idle_cycles, spent);
            }
            bump(&self.stats.loops, 1);
        }
        self.flush_all();
    }

    /// Whether every budgeted RX queue has delivered its budget.
    pub fn budgets_spent(&self) -> bool {
        self.rx.iter().all(|a| a.budget.is_none_or(|b| b == 0))
    }

    /// One pass over the RX queues, then a flush of every batch. Returns how many
    /// packets were received.
    pub fn poll_once(&mut self, rx_burst: &mut R::Burst) -> usize {
        let mut moved = 0;
        let Worker {
            rx,
            tx,
            l2,
            burst,
            stats,
            ..
        } = self;
        for assignment in rx.iter_mut() {
            let max = match assignment.budget {
                Some(0) => continue,
                Some(left) => (*burst as u64).min(left) as usize,
                None => *burst,
            };
            let n = assignment.queue.rx_burst(rx_burst, max);
            if n == 0 {
                bump(&stats.empty_polls, 1);
                continue;
            }
            if let Some(left) = assignment.budget.as_mut() {
                *left = left.saturating_sub(n as u64);
            }
            moved += n;
            bump(&stats.bursts, 1);
            let in_port = assignment.port;
            let mut rx_bytes = 0u64;
            rx_burst.drain_each(|pkt| {
                rx_bytes += u64::from(pkt.pkt_len());
                forward(l2, tx, &stats.ports, in_port, pkt);
            });
            let counters = &stats.ports[in_port.index()];
            bump(&counters.rx_packets, n as u64);
            bump(&counters.rx_bytes, rx_bytes);
        }
        flush_all(tx, &stats.ports);
        moved
    }

    /// Sends every waiting batch.
    pub fn flush_all(&mut self) {
        flush_all(&mut self.tx, &self.stats.ports);
    }
}

/// Applies the forwarding decision to one packet.
#[inline(always)]
fn forward<T: TxQueueIo>(
    l2: &L2Table,
    tx: &mut [TxSlot<T>],
    counters: &[PortCounters],
    in_port: PortIdx,
    pkt: <T::Burst as PacketBurst>::Pkt,
) {
    match l2.decide(in_port, pkt.data()) {
        Verdict::Forward(out) => enqueue(tx, counters, out, pkt),
        Verdict::Flood => {
            bump(&counters[in_port.index()].flooded, 1);
            for out in l2.vf_ports() {
                if out != in_port {
                    enqueue(tx, counters, out, pkt.share());
                }
            }
            // The original reference is released here; the copies own the buffer.
        }
        Verdict::Drop(reason) => {
            let c = &counters[in_port.index()];
            bump(
                match reason {
                    DropReason::Runt => &c.drop_runt,
                    DropReason::UnknownUnicast => &c.drop_unknown_unicast,
                    DropReason::Group => &c.drop_group,
                },
                1,
            );
        }
    }
}

/// Puts a packet in its egress batch, sending the batch first if it is full.
#[inline(always)]
fn enqueue<T: TxQueueIo>(
    tx: &mut [TxSlot<T>],
    counters: &[PortCounters],
    out: PortIdx,
    pkt: <T::Burst as PacketBurst>::Pkt,
) {
    let Some(slot) = tx.get_mut(out.index()) else {
        return; // no such port: the packet is freed (cannot happen with a valid table)
    };
    let len = u64::from(pkt.pkt_len());
    let pkt = match slot.batch.push(pkt) {
        Ok(()) => {
            slot.batch_bytes += len;
            return;
        }
        Err(pkt) => pkt,
    };
    flush(slot, &counters[out.index()]);
    if slot.batch.push(pkt).is_ok() {
        slot.batch_bytes += len;
    }
}

fn flush_all<T: TxQueueIo>(tx: &mut [TxSlot<T>], counters: &[PortCounters]) {
    for (slot, c) in tx.iter_mut().zip(counters) {
        if !slot.batch.is_empty() {
            flush(slot, c);
        }
    }
}

/// Sends a batch; what the queue refuses is freed and counted as `tx_dropped`.
#[inline]
fn flush<T: TxQueueIo>(slot: &mut TxSlot<T>, c: &PortCounters) {
    let sent = slot.queue.tx_burst(&mut slot.batch) as u64;
    let mut refused = 0u64;
    let mut refused_bytes = 0u64;
    if !slot.batch.is_empty() {
        slot.batch.drain_each(|p| {
            refused += 1;
            refused_bytes += u64::from(p.pkt_len());
        });
    }
    bump(&c.tx_packets, sent);
    bump(&c.tx_bytes, slot.batch_bytes - refused_bytes);
    if refused > 0 {
        bump(&c.tx_dropped, refused);
    }
    slot.batch_bytes = 0;
}

#[cfg(test)]
#[path = "worker_tests.rs"]
mod tests;
