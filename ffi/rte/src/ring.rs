//! `rte_ring`s of mbufs, and ethdev ports made of rings (`rte_eth_from_rings`):
//! how the emulated NIC hands packets to workers as if they came from a real port.

use std::ffi::CString;
use std::ptr::NonNull;
use std::sync::Arc;

use crate::{Errno, Error, Mbuf, MbufBurst, Port, PortId};

/// A lock-free ring of mbufs (multi-producer/multi-consumer unless created
/// single-ended). Owned; freed on `Drop`.
#[derive(Debug)]
pub struct Ring {
    raw: NonNull<dpdk_sys::rte_ring>,
    name: String,
}

// SAFETY: rte_ring's enqueue/dequeue are safe from many lcores at once for the
// producer/consumer modes it was created with; SP/SC rings are only created with
// `single_producer_consumer` and documented as such.
unsafe impl Send for Ring {}
// SAFETY: as above.
unsafe impl Sync for Ring {}

/// `RING_F_SP_ENQ | RING_F_SC_DEQ`.
const RING_F_SP_SC: u32 = 0x0001 | 0x0002;

impl Ring {
    /// Creates a ring of `count` slots (a power of two; one slot stays empty).
    /// With `single_producer_consumer`, exactly one lcore may enqueue and one
    /// dequeue.
    pub fn new(name: &str, count: u32, single_producer_consumer: bool) -> Result<Ring, Error> {
        let cname = CString::new(name).map_err(|_| Error::BadArgument(name.to_owned()))?;
        let flags = if single_producer_consumer {
            RING_F_SP_SC
        } else {
            0
        };
        // SAFETY: cname is valid; -1 means any socket. Failure sets rte_errno.
        let raw = unsafe { dpdk_sys::rte_ring_create(cname.as_ptr(), count, -1, flags) };
        NonNull::new(raw)
            .map(|raw| Ring {
                raw,
                name: name.to_owned(),
            })
            .ok_or_else(|| Error::Ring {
                name: name.to_owned(),
                errno: Errno::last(),
            })
    }

    /// The ring's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Entries currently queued.
    pub fn count(&self) -> u32 {
        // SAFETY: the ring is alive; the count is a racy read by design.
        unsafe { dpdk_sys::rte_ring_count(self.raw.as_ptr()) }
    }

    /// Moves as many mbufs as fit from the front of `batch` into the ring; what
    /// did not fit stays in `batch`. Returns how many went in.
    pub fn enqueue_burst(&self, batch: &mut MbufBurst) -> usize {
        let n = batch.len() as u32;
        if n == 0 {
            return 0;
        }
        // SAFETY: the first n slots hold owned mbuf pointers; the ring takes the
        // first `done`, which consume_front forgets.
        let done = unsafe {
            dpdk_sys::rte_ring_enqueue_burst(
                self.raw.as_ptr(),
                batch.raw_slots() as *const *mut std::ffi::c_void,
                n,
                std::ptr::null_mut(),
            )
        } as usize;
        batch.consume_front(done);
        done
    }

    /// Moves up to the burst's free room of mbufs from the ring into `out`.
    pub fn dequeue_burst(&self, out: &mut MbufBurst) -> usize {
        let mut tmp = [std::ptr::null_mut::<std::ffi::c_void>(); crate::MAX_BURST];
        let room = (crate::MAX_BURST - out.len()) as u32;
        // SAFETY: tmp has room for `room` pointers; only mbufs are ever enqueued.
        let n = unsafe {
            dpdk_sys::rte_ring_dequeue_burst(
                self.raw.as_ptr(),
                tmp.as_mut_ptr(),
                room,
                std::ptr::null_mut(),
            )
        } as usize;
        for p in &tmp[..n] {
            out.push_raw(*p as *mut dpdk_sys::rte_mbuf);
        }
        n
    }

    /// Enqueues one mbuf; gives it back if the ring is full.
    pub fn enqueue(&self, m: Mbuf) -> Result<(), Mbuf> {
        let mut b = MbufBurst::new();
        b.push(m).ok();
        if self.enqueue_burst(&mut b) == 1 {
            return Ok(());
        }
        let mut back = None;
        b.drain_each(|m| back = Some(m));
        Err(back.expect("the mbuf that did not fit"))
    }

    pub(crate) fn as_ptr(&self) -> *mut dpdk_sys::rte_ring {
        self.raw.as_ptr()
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // Free whatever mbufs are still queued, then the ring itself.
        let mut b = MbufBurst::new();
        while self.dequeue_burst(&mut b) > 0 {
            b.clear();
        }
        // SAFETY: the ring is ours and no port or lcore uses it any more (ports made
        // from rings keep an Arc of them).
        unsafe { dpdk_sys::rte_ring_free(self.raw.as_ptr()) }
    }
}

/// Makes an ethdev port named `name` whose RX queue i dequeues from `rx[i]` and TX
/// queue i enqueues to `tx[i]`. The rings must outlive the port: keep the `Arc`s.
pub fn eth_from_rings(name: &str, rx: &[Arc<Ring>], tx: &[Arc<Ring>]) -> Result<Port, Error> {
    let cname = CString::new(name).map_err(|_| Error::BadArgument(name.to_owned()))?;
    let mut rxp: Vec<*mut dpdk_sys::rte_ring> = rx.iter().map(|r| r.as_ptr()).collect();
    let mut txp: Vec<*mut dpdk_sys::rte_ring> = tx.iter().map(|r| r.as_ptr()).collect();
    // SAFETY: both arrays hold valid ring pointers for the lengths passed; -1 is
    // any socket. The ring PMD keeps the ring pointers, which the caller's Arcs
    // keep alive.
    let ret = unsafe {
        dpdk_sys::rte_eth_from_rings(
            cname.as_ptr(),
            rxp.as_mut_ptr(),
            rxp.len() as u32,
            txp.as_mut_ptr(),
            txp.len() as u32,
            0,
        )
    };
    if ret < 0 {
        return Err(Error::Port {
            port: PortId(u16::MAX),
            op: "eth_from_rings",
            errno: Errno::last(),
        });
    }
    Port::by_id(PortId(ret as u16))
}
