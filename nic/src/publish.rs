//! A value the control path changes and the switch thread reads before each
//! round of frames (the ports' RSS), published and acknowledged: a change
//! returns only once the switch has taken it up (or no switch runs), so
//! after `rte_eth_dev_rss_hash_update` returns, every later frame is hashed
//! with the new key. (The rules need no such protocol: the switch holds
//! their state's lock for each frame, [`crate::rules`].)
//!
//! Thread-safety: writers serialise on a mutex; the one reader (the switch)
//! checks a generation counter with one acquire load per round and takes
//! the mutex only when the generation moved.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// How often a change looks for the switch's acknowledgement: the switch
/// takes up the newest value at the top of each of its rounds (microseconds;
/// longer only through an injected stall, `fault_stall_ms`), and a reader
/// that goes away parks, which acknowledges everything.
const ACK_POLL: Duration = Duration::from_micros(20);
/// `seen` while no reader is live: every generation counts as acknowledged.
const PARKED: u64 = u64::MAX;

/// A value published to the switch.
#[derive(Debug)]
pub struct Published<T> {
    current: Mutex<Arc<T>>,
    generation: AtomicU64,
    /// The generation the live reader uses, or [`PARKED`].
    seen: AtomicU64,
}

impl<T> Published<T> {
    pub fn new(value: T) -> Published<T> {
        Published {
            current: Mutex::new(Arc::new(value)),
            generation: AtomicU64::new(0),
            seen: AtomicU64::new(PARKED),
        }
    }

    /// The value now in force.
    pub fn get(&self) -> Arc<T> {
        Arc::clone(&lock(&self.current))
    }

    /// Replaces the value by what `change` makes of it, then waits for the
    /// reader, if one is live, to take it up: its acknowledgement, not a
    /// time, ends the wait. Returns what `change` returned.
    pub fn update<R>(&self, change: impl FnOnce(&mut T) -> R) -> R
    where
        T: Clone,
    {
        let (generation, out) = {
            let mut current = lock(&self.current);
            let mut next = T::clone(&current);
            let out = change(&mut next);
            *current = Arc::new(next);
            (self.generation.fetch_add(1, Ordering::AcqRel) + 1, out)
        };
        while self.seen.load(Ordering::Acquire) < generation {
            std::thread::sleep(ACK_POLL);
        }
        out
    }

    /// The reader's handle, for the switch thread: while it lives, updates
    /// wait for it.
    pub fn reader(&self) -> Reader<'_, T> {
        let (generation, value) = self.snapshot();
        self.seen.store(generation, Ordering::Release);
        Reader {
            src: self,
            generation,
            value,
        }
    }

    fn snapshot(&self) -> (u64, Arc<T>) {
        let current = lock(&self.current);
        (
            self.generation.load(Ordering::Acquire),
            Arc::clone(&current),
        )
    }
}

/// The switch's view of a [`Published`] value.
#[derive(Debug)]
pub struct Reader<'a, T> {
    src: &'a Published<T>,
    generation: u64,
    value: Arc<T>,
}

impl<T> Reader<'_, T> {
    /// Takes up the newest value, if it changed, and acknowledges it.
    #[inline]
    pub fn refresh(&mut self) -> &T {
        if self.src.generation.load(Ordering::Acquire) != self.generation {
            let (generation, value) = self.src.snapshot();
            self.generation = generation;
            self.value = value;
            self.src.seen.store(generation, Ordering::Release);
        }
        &self.value
    }

    /// The value in use (as of the last refresh).
    #[inline]
    pub fn get(&self) -> &T {
        &self.value
    }
}

impl<T> Drop for Reader<'_, T> {
    fn drop(&mut self) {
        self.src.seen.store(PARKED, Ordering::Release);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::time::Instant;

    #[test]
    fn without_a_reader_updates_do_not_wait() {
        let p = Published::new(1u32);
        let t = Instant::now();
        assert_eq!(p.update(|v| std::mem::replace(v, 2)), 1);
        assert!(t.elapsed() < Duration::from_millis(500));
        assert_eq!(*p.get(), 2);
    }

    #[test]
    fn an_update_waits_for_a_stalled_reader_however_long() {
        // The reader stalls longer than the 2 s the wait once gave up after.
        const STALL: Duration = Duration::from_millis(2500);
        let p = Arc::new(Published::new(0u64));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let reader = {
            let p = Arc::clone(&p);
            std::thread::spawn(move || {
                let mut r = p.reader();
                ready_tx.send(()).unwrap();
                std::thread::sleep(STALL);
                *r.refresh()
            })
        };
        ready_rx.recv().unwrap();
        let t = Instant::now();
        p.update(|v| *v = 7);
        assert!(
            t.elapsed() >= STALL,
            "returned before the reader took it up"
        );
        assert_eq!(reader.join().unwrap(), 7);
    }

    #[test]
    fn an_update_returns_once_the_reader_took_it_up() {
        let p = Arc::new(Published::new(0u64));
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let reader = {
            let (p, stop) = (Arc::clone(&p), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut r = p.reader();
                ready_tx.send(()).unwrap();
                let mut last = 0;
                while !stop.load(Ordering::Acquire) {
                    let v = *r.refresh();
                    assert!(v >= last, "values never go back");
                    last = v;
                    std::hint::spin_loop();
                }
                last
            })
        };
        ready_rx.recv().unwrap();
        for i in 1..=50 {
            p.update(|v| *v = i);
            // Acknowledged: the reader uses `i` (or later) from here on.
            assert!(p.seen.load(Ordering::Acquire) >= i);
        }
        stop.store(true, Ordering::Release);
        assert_eq!(reader.join().unwrap(), 50);
        assert_eq!(p.seen.load(Ordering::Acquire), PARKED);
    }
}
