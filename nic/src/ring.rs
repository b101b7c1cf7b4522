//! A host RX ring: a bounded queue of host buffers from the switch (one
//! producer) to the lcore that polls the queue (one consumer), with as many
//! slots as the queue has descriptors. A full ring is what makes a NIC miss
//! packets.

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};

/// A ring of `T` (the PMD's mbuf handles).
#[derive(Debug)]
pub struct Ring<T> {
    tx: Sender<T>,
    rx: Receiver<T>,
}

/// The switch's end of a ring.
#[derive(Debug)]
pub struct RingTx<T>(Sender<T>);

impl<T> Clone for RingTx<T> {
    /// Another handle on the same ring (for the switch's next run: one
    /// producer at a time pushes).
    fn clone(&self) -> RingTx<T> {
        RingTx(self.0.clone())
    }
}

impl<T> Ring<T> {
    /// A ring of `slots` slots (at least one).
    pub fn new(slots: usize) -> Ring<T> {
        let (tx, rx) = bounded(slots.max(1));
        Ring { tx, rx }
    }

    /// The producer end, for the switch.
    pub fn producer(&self) -> RingTx<T> {
        RingTx(self.tx.clone())
    }

    /// The oldest buffer, if any (the polling lcore).
    #[inline(always)]
    pub fn pop(&self) -> Option<T> {
        self.rx.try_recv().ok()
    }

    /// Buffers waiting.
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }
}

impl<T> RingTx<T> {
    /// Whether a push would succeed now. With one producer, room seen here
    /// stays until this producer pushes: the consumer only makes more.
    #[inline(always)]
    pub fn has_room(&self) -> bool {
        !self.0.is_full()
    }

    /// Appends `buf`, or gives it back if the ring is full or gone.
    #[inline(always)]
    pub fn push(&self, buf: T) -> Result<(), T> {
        self.0.try_send(buf).map_err(|e| match e {
            TrySendError::Full(b) | TrySendError::Disconnected(b) => b,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_fifo() {
        let r = Ring::new(2);
        let p = r.producer();
        assert!(p.has_room());
        p.push(1).unwrap();
        p.push(2).unwrap();
        assert!(!p.has_room());
        assert_eq!(p.push(3), Err(3));
        assert_eq!(r.len(), 2);
        assert_eq!(r.pop(), Some(1));
        assert!(p.has_room());
        assert_eq!(r.pop(), Some(2));
        assert_eq!(r.pop(), None);
        assert!(r.is_empty());
    }
}
