//! The I/O traits over plain byte vectors: what the unit tests and the benchmarks
//! drive the worker with when there is no EAL. Allocation is fine here.

use std::collections::VecDeque;
use std::rc::Rc;

use crate::io::{PacketBuf, PacketBurst, RxQueueIo, TxQueueIo};

/// A packet held in a shared vector (sharing is a reference count, as in an mbuf).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VecPacket(pub Rc<Vec<u8>>);

impl VecPacket {
    /// A packet of these bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        VecPacket(Rc::new(bytes))
    }
}

impl PacketBuf for VecPacket {
    fn data(&self) -> &[u8] {
        &self.0
    }
    fn pkt_len(&self) -> u32 {
        self.0.len() as u32
    }
    fn share(&self) -> Self {
        VecPacket(Rc::clone(&self.0))
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
}

impl VecRx {
    /// A queue holding these frames.
    pub fn with_frames(frames: impl IntoIterator<Item = Vec<u8>>) -> Self {
        VecRx {
            pending: frames.into_iter().map(VecPacket::new).collect(),
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
                out.0.push(p);
            }
        }
        n
    }
}

/// A TX queue that records what it sent; `accept_per_call` limits how many
/// packets one `tx_burst` takes, to play a NIC whose ring is full.
#[derive(Debug, Default)]
pub struct VecTx {
    pub sent: Vec<Vec<u8>>,
    pub accept_per_call: Option<usize>,
}

impl TxQueueIo for VecTx {
    type Burst = VecBurst;
    fn tx_burst(&mut self, batch: &mut VecBurst) -> usize {
        let n = self
            .accept_per_call
            .unwrap_or(usize::MAX)
            .min(batch.0.len());
        for p in batch.0.drain(..n) {
            self.sent.push(p.0.as_ref().clone());
        }
        n
    }
}
