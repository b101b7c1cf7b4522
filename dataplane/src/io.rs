//! The packet I/O a worker needs, as traits: a packet buffer, a fixed-capacity
//! burst of them, and RX/TX queues that fill and empty bursts. Implemented for
//! DPDK's mbufs and queues (feature `dpdk`) and for test vectors ([`crate::testio`]).

/// One received packet, owned. A packet larger than one buffer (a jumbo frame
/// in 2 KiB mbufs) is a chain of segments: its headers are read from the
/// first segment, and it is counted, metered and sent by its whole length.
pub trait PacketBuf: Sized {
    /// The packet's first segment: all of a one-segment packet, the start of
    /// a chained one. Never the packet's length (see [`PacketBuf::pkt_len`]).
    fn first_segment(&self) -> &[u8];
    /// Length of the whole packet in bytes, every segment.
    fn pkt_len(&self) -> u32;
    /// A second owner of the same bytes, for sending one packet to several ports.
    fn share(&self) -> Self;
}

/// A fixed-capacity burst of packets (no allocation after creation).
pub trait PacketBurst {
    /// The packet type held.
    type Pkt: PacketBuf;
    /// Most packets a burst holds.
    const CAPACITY: usize;
    /// An empty burst.
    fn empty() -> Self;
    /// Packets held.
    fn len(&self) -> usize;
    /// Whether no packet is held.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Whether the burst is full.
    fn is_full(&self) -> bool {
        self.len() >= Self::CAPACITY
    }
    /// The packets held, in order.
    fn as_slice(&self) -> &[Self::Pkt];
    /// Adds a packet at the end, or gives it back when full.
    fn push(&mut self, p: Self::Pkt) -> Result<(), Self::Pkt>;
    /// Hands every packet, in order, to `f`, leaving the burst empty.
    fn drain_each(&mut self, f: impl FnMut(Self::Pkt));
    /// Frees every packet held.
    fn clear(&mut self);
}

/// An RX queue polled by one worker.
pub trait RxQueueIo {
    /// The burst type it fills.
    type Burst: PacketBurst;
    /// Receives up to `max` packets at the end of `out`; returns how many.
    fn rx_burst(&mut self, out: &mut Self::Burst, max: usize) -> usize;
}

/// A TX queue used by one worker.
pub trait TxQueueIo {
    /// The burst type it sends.
    type Burst: PacketBurst;
    /// Sends from the front of `batch`; returns how many were taken. The refused
    /// ones stay in `batch`, still owned by the caller.
    fn tx_burst(&mut self, batch: &mut Self::Burst) -> usize;
}
