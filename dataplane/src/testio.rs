//! The I/O traits over plain byte vectors: what the unit tests and the benchmarks
//! drive the worker with when there is no EAL. Allocation is fine here.

use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::io::{PacketBuf, PacketBurst, RxQueueIo, TxQueueIo};
use crate::lcore::{LcoreSignal, LcoreState};

/// A packet held in a shared vector (sharing is a reference count, as in an
/// mbuf), in one segment or, like a jumbo frame in chained mbufs, with only
/// its first `first_segment` bytes in the first segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VecPacket {
    /// The whole frame.
    pub bytes: Rc<Vec<u8>>,
    /// Bytes of it in the first segment.
    pub first_segment: usize,
}

impl VecPacket {
    /// A packet of these bytes, in one segment.
    pub fn new(bytes: Vec<u8>) -> Self {
        let first_segment = bytes.len();
        VecPacket {
            bytes: Rc::new(bytes),
            first_segment,
        }
    }

    /// A packet of these bytes whose first segment holds `first_segment` of
    /// them (all of them if the frame is shorter).
    pub fn segmented(bytes: Vec<u8>, first_segment: usize) -> Self {
        let first_segment = first_segment.min(bytes.len());
        VecPacket {
            bytes: Rc::new(bytes),
            first_segment,
        }
    }
}

impl PacketBuf for VecPacket {
    fn first_segment(&self) -> &[u8] {
        &self.bytes[..self.first_segment]
    }
    fn pkt_len(&self) -> u32 {
        self.bytes.len() as u32
    }
    fn share(&self) -> Self {
        VecPacket {
            bytes: Rc::clone(&self.bytes),
            first_segment: self.first_segment,
        }
    }
}

/// A burst of up to 64 vector packets.
#[derive(Debug, Default)]
pub struct VecBurst(pub Vec<VecPacket>);

impl PacketBurst for VecBurst {
    type Pkt = VecPacket;
    const CAPACITY: usize = 64;
    fn empty() -> Self {
        VecBurst(Vec::with_capacity(Self::CAPACITY))
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn as_slice(&self) -> &[VecPacket] {
        &self.0
    }
    fn push(&mut self, p: VecPacket) -> Result<(), VecPacket> {
        if self.0.len() >= Self::CAPACITY {
            return Err(p);
        }
        self.0.push(p);
        Ok(())
    }
    fn drain_each(&mut self, f: impl FnMut(VecPacket)) {
        self.0.drain(..).for_each(f)
    }
    fn clear(&mut self) {
        self.0.clear()
    }
}

/// An RX queue that yields queued packets.
#[derive(Debug, Default)]
pub struct VecRx {
    pub pending: VecDeque<VecPacket>,
    /// Each packet taken goes to the back of the queue again: traffic that
    /// never ends, for a worker run on a thread of its own.
    pub endless: bool,
    /// How many packets at the front are yielded once only, before the
    /// endless rest.
    pub once: usize,
}

impl VecRx {
    /// A queue holding these frames, each in one segment.
    pub fn with_frames(frames: impl IntoIterator<Item = Vec<u8>>) -> Self {
        Self::with_packets(frames.into_iter().map(VecPacket::new))
    }

    /// A queue holding these packets.
    pub fn with_packets(packets: impl IntoIterator<Item = VecPacket>) -> Self {
        VecRx {
            pending: packets.into_iter().collect(),
            endless: false,
            once: 0,
        }
    }

    /// A queue that yields these frames over and over.
    pub fn endless(frames: impl IntoIterator<Item = Vec<u8>>) -> Self {
        Self::endless_after(Vec::new(), frames)
    }

    /// A queue that yields `first` once, then `frames` over and over.
    pub fn endless_after(first: Vec<Vec<u8>>, frames: impl IntoIterator<Item = Vec<u8>>) -> Self {
        let once = first.len();
        VecRx {
            endless: true,
            once,
            ..Self::with_frames(first.into_iter().chain(frames))
        }
    }
}

impl RxQueueIo for VecRx {
    type Burst = VecBurst;
    fn rx_burst(&mut self, out: &mut VecBurst, max: usize) -> usize {
        let room = VecBurst::CAPACITY - out.len();
        let n = max.min(room).min(self.pending.len());
        for _ in 0..n {
            if let Some(p) = self.pending.pop_front() {
                if self.once > 0 {
                    self.once -= 1;
                } else if self.endless {
                    self.pending.push_back(p.clone());
                }
                out.0.push(p);
            }
        }
        n
    }
}

/// A TX queue that records what it sent, each packet whole (every segment,
/// as a NIC or `net_pcap` sends a chained mbuf); `accept_per_call` limits how
/// many packets one `tx_burst` takes, to play a NIC whose ring is full.
#[derive(Debug, Default)]
pub struct VecTx {
    pub sent: Vec<Vec<u8>>,
    pub accept_per_call: Option<usize>,
    /// A stall to inject into one `tx_burst`.
    pub stall: Option<Arc<TxStall>>,
}

/// An lcore stalled in the middle of a state change: the first `tx_burst`
/// of a partial batch made while its signal asks for `during` blocks for
/// `pause` first, as a preempted or faulting lcore would. (A running worker
/// whose clock stands still and whose RX never empties sends only full
/// batches; a partial one is the state change's flush.)
#[derive(Debug)]
pub struct TxStall {
    signal: Arc<LcoreSignal>,
    during: LcoreState,
    pause: Duration,
    fired: AtomicBool,
}

impl TxStall {
    pub fn new(signal: Arc<LcoreSignal>, during: LcoreState, pause: Duration) -> Self {
        TxStall {
            signal,
            during,
            pause,
            fired: AtomicBool::new(false),
        }
    }

    /// Whether the stall happened.
    pub fn fired(&self) -> bool {
        self.fired.load(Ordering::Acquire)
    }

    fn maybe_stall(&self, batch: usize) {
        if batch < VecBurst::CAPACITY
            && self.signal.requested().1 == self.during
            && !self.fired.swap(true, Ordering::AcqRel)
        {
            std::thread::sleep(self.pause);
        }
    }
}

impl TxQueueIo for VecTx {
    type Burst = VecBurst;
    fn tx_burst(&mut self, batch: &mut VecBurst) -> usize {
        if let Some(stall) = &self.stall {
            stall.maybe_stall(batch.len());
        }
        let n = self
            .accept_per_call
            .unwrap_or(usize::MAX)
            .min(batch.0.len());
        for p in batch.0.drain(..n) {
            self.sent.push(p.bytes.as_ref().clone());
        }
        n
    }
}
