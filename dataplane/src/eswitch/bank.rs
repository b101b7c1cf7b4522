//! Hit counters of the emulated NIC, shared with the control core. A slot is
//! allocated by the control core for a rule, written by the switch while the
//! rule lives, and read (then freed) by the control core after the rule is gone:
//! an indirect counter, which is what makes removal exact.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::stats::bump;

/// One counter: packets and bytes.
#[derive(Debug, Default)]
#[repr(C, align(16))]
pub struct CounterSlot {
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
}

impl CounterSlot {
    /// Counts one hit (switch only).
    #[inline(always)]
    pub fn count(&self, len: u64) {
        bump(&self.packets, 1);
        bump(&self.bytes, len);
    }

    /// Reads the counter.
    pub fn read(&self) -> (u64, u64) {
        (self.packets.load(Relaxed), self.bytes.load(Relaxed))
    }

    /// Zeroes the counter (control core, while no rule counts on it).
    pub fn reset(&self) {
        self.packets.store(0, Relaxed);
        self.bytes.store(0, Relaxed);
    }
}

/// Every counter the NIC has, preallocated.
#[derive(Debug)]
pub struct CounterBank {
    slots: Box<[CounterSlot]>,
}

impl CounterBank {
    /// `n` zeroed counters.
    pub fn new(n: usize) -> Self {
        CounterBank {
            slots: (0..n).map(|_| CounterSlot::default()).collect(),
        }
    }

    /// Counter `i`.
    #[inline(always)]
    pub fn get(&self, i: u32) -> Option<&CounterSlot> {
        self.slots.get(i as usize)
    }

    /// How many counters there are.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}
