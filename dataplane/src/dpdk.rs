//! The I/O traits for DPDK's mbufs and queues: thin delegation to `rte`.

use crate::clock::Clock;
use crate::io::{PacketBuf, PacketBurst, RxQueueIo, TxQueueIo};

/// The TSC, read inline: the workers' clock on DPDK.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tsc;

impl Clock for Tsc {
    #[inline(always)]
    fn now(&self) -> u64 {
        rte::cycles::tsc()
    }
}

impl PacketBuf for rte::Mbuf {
    #[inline(always)]
    fn first_segment(&self) -> &[u8] {
        rte::Mbuf::data(self)
    }
    #[inline(always)]
    fn pkt_len(&self) -> u32 {
        rte::Mbuf::pkt_len(self)
    }
    #[inline(always)]
    fn share(&self) -> Self {
        rte::Mbuf::share(self)
    }
}

impl PacketBurst for rte::MbufBurst {
    type Pkt = rte::Mbuf;
    const CAPACITY: usize = rte::MAX_BURST;
    #[inline(always)]
    fn empty() -> Self {
        rte::MbufBurst::new()
    }
    #[inline(always)]
    fn len(&self) -> usize {
        rte::MbufBurst::len(self)
    }
    #[inline(always)]
    fn as_slice(&self) -> &[rte::Mbuf] {
        rte::MbufBurst::as_slice(self)
    }
    #[inline(always)]
    fn push(&mut self, p: rte::Mbuf) -> Result<(), rte::Mbuf> {
        rte::MbufBurst::push(self, p)
    }
    #[inline(always)]
    fn drain_each(&mut self, f: impl FnMut(rte::Mbuf)) {
        rte::MbufBurst::drain_each(self, f)
    }
    #[inline(always)]
    fn clear(&mut self) {
        rte::MbufBurst::clear(self)
    }
}

impl RxQueueIo for rte::RxQueue {
    type Burst = rte::MbufBurst;
    #[inline(always)]
    fn rx_burst(&mut self, out: &mut rte::MbufBurst, max: usize) -> usize {
        rte::RxQueue::rx_burst(self, out, max)
    }
}

impl TxQueueIo for rte::TxQueue {
    type Burst = rte::MbufBurst;
    #[inline(always)]
    fn tx_burst(&mut self, batch: &mut rte::MbufBurst) -> usize {
        rte::TxQueue::tx_burst(self, batch)
    }
}
