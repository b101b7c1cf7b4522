//! The fast path: RX and TX queues, the burst functions ethdev calls from the
//! application's lcores, and the mbufs the switch fills for the host.

use std::ffi::c_void;
use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use dpdk_driver_sys as sys;
use flowlift_nic::flow::PortRef;
use flowlift_nic::{Counter, FillError, Host, Ring, Rx, Via};

use crate::port::{Device, Role};

/// An mbuf this driver owns: allocated for a frame and not yet handed to the
/// application. Freed on drop.
#[derive(Debug)]
pub(crate) struct Mbuf(NonNull<sys::rte_mbuf>);

// SAFETY: an `Mbuf` is the only handle to its mbuf (it is never cloned and is
// given up by `into_raw`), and DPDK mbufs and their mempools may be used and
// freed from any thread.
unsafe impl Send for Mbuf {}

impl Mbuf {
    /// Length of its packet.
    fn pkt_len(&self) -> u32 {
        // SAFETY: the mbuf is allocated and owned by this handle.
        unsafe { self.0.as_ref().pkt_len }
    }

    /// Calls `f` with the packet's data, segment by segment.
    pub(crate) fn with_segments<R>(&self, f: impl FnOnce(&[&[u8]]) -> R) -> R {
        let slice = |m: &sys::rte_mbuf| -> &[u8] {
            // SAFETY: an mbuf's `data_len` bytes from `buf_addr + data_off`
            // are its data, alive as long as the mbuf (owned by this handle).
            unsafe {
                std::slice::from_raw_parts(
                    m.buf_addr.cast::<u8>().add(usize::from(m.data_off)),
                    usize::from(m.data_len),
                )
            }
        };
        // SAFETY: the mbuf is allocated and owned by this handle.
        let head = unsafe { self.0.as_ref() };
        if head.next.is_null() {
            return f(&[slice(head)]);
        }
        let mut segments = vec![slice(head)];
        let mut next = head.next;
        // SAFETY: the chain's segments belong to the packet, which this
        // handle owns; `nb_segs` bounds the walk against a broken chain.
        while let Some(m) = unsafe { next.as_ref() } {
            if segments.len() >= usize::from(head.nb_segs) {
                break;
            }
            segments.push(slice(m));
            next = m.next;
        }
        f(&segments)
    }

    /// Gives the mbuf up to the application.
    fn into_raw(self) -> *mut sys::rte_mbuf {
        ManuallyDrop::new(self).0.as_ptr()
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: the mbuf is allocated, owned by this handle alone, and
        // referenced by nothing else once the handle goes.
        unsafe { sys::rte_pktmbuf_free(self.0.as_ptr()) }
    }
}

/// Packets and bytes of one queue, with the baseline of the last stats reset.
#[derive(Debug, Default)]
pub(crate) struct QueueCounters {
    now: Counter,
    base_packets: AtomicU64,
    base_bytes: AtomicU64,
}

impl QueueCounters {
    /// Counts a burst.
    #[inline(always)]
    fn add(&self, packets: u64, bytes: u64) {
        self.now.add(packets, bytes);
    }

    /// Packets and bytes since the last reset.
    pub(crate) fn since_reset(&self) -> (u64, u64) {
        (
            self.now
                .packets()
                .saturating_sub(self.base_packets.load(Relaxed)),
            self.now
                .bytes()
                .saturating_sub(self.base_bytes.load(Relaxed)),
        )
    }

    /// Starts counting from zero again (the writer is never disturbed).
    pub(crate) fn reset(&self) {
        self.base_packets.store(self.now.packets(), Relaxed);
        self.base_bytes.store(self.now.bytes(), Relaxed);
    }
}

/// An RX queue: the ring the switch fills and the application polls.
#[derive(Debug)]
pub(crate) struct RxQueue {
    pub(crate) ring: Ring<Mbuf>,
    /// The pool the application gave at set-up; it outlives the queue
    /// (ethdev's contract for `rte_eth_rx_queue_setup`).
    pub(crate) pool: NonNull<sys::rte_mempool>,
    pub(crate) counters: QueueCounters,
}

/// A TX queue: what the host sends leaves the NIC here.
#[derive(Debug)]
pub(crate) struct TxQueue {
    pub(crate) dev: Arc<Device>,
    pub(crate) role: Role,
    pub(crate) counters: QueueCounters,
}

/// ethdev's RX burst: hands over up to `n` mbufs the switch put in the ring.
///
/// # Safety
/// `rxq` is a pointer `rx_queue_setup` stored in `rx_queues` and `pkts` has
/// room for `n` pointers (ethdev's contract for `rte_eth_rx_burst`).
pub(crate) unsafe extern "C" fn rx_burst(
    rxq: *mut c_void,
    pkts: *mut *mut sys::rte_mbuf,
    n: u16,
) -> u16 {
    // SAFETY: ethdev passes the queue this driver stored; it lives until
    // released, which ethdev allows only on a stopped port, after
    // `rte_eth_dev_stop` has replaced this function by a dummy.
    let q = unsafe { &*rxq.cast::<RxQueue>() };
    let mut got = 0u16;
    let mut bytes = 0u64;
    while got < n {
        let Some(m) = q.ring.pop() else { break };
        bytes += u64::from(m.pkt_len());
        // SAFETY: `got < n` and the caller gave room for `n` pointers.
        unsafe { pkts.add(usize::from(got)).write(m.into_raw()) };
        got += 1;
    }
    if got > 0 {
        q.counters.add(u64::from(got), bytes);
    }
    got
}

/// ethdev's TX burst: the host's packets leave the NIC. The PF's go out on
/// the wire, a representor's to its VF's sink; both are counted, captured
/// (`capture_dir`: the port's host file) and freed.
///
/// # Safety
/// `txq` is a pointer `tx_queue_setup` stored in `tx_queues`, and `pkts`
/// holds `n` mbufs the application hands over (ethdev's contract for
/// `rte_eth_tx_burst`).
pub(crate) unsafe extern "C" fn tx_burst(
    txq: *mut c_void,
    pkts: *mut *mut sys::rte_mbuf,
    n: u16,
) -> u16 {
    // SAFETY: as for `rx_burst`, the queue lives while the port is started.
    let q = unsafe { &*txq.cast::<TxQueue>() };
    let capture = q.dev.nic.captures().map(|c| {
        let port = match q.role {
            Role::Vf(vf) => PortRef::Vf(vf),
            Role::Pf => PortRef::Uplink,
        };
        (c, port)
    });
    let mut bytes = 0u64;
    for i in 0..usize::from(n) {
        // SAFETY: `i < n`; the application gave `n` valid mbufs, now ours.
        let m = Mbuf(unsafe { NonNull::new_unchecked(pkts.add(i).read()) });
        bytes += u64::from(m.pkt_len());
        if let Some((c, port)) = capture {
            m.with_segments(|segments| c.record(port, Via::Host, segments));
        }
    }
    q.counters.add(u64::from(n), bytes);
    match q.role {
        Role::Vf(vf) => {
            if let Some(sink) = q.dev.nic.vf_sink(vf) {
                sink.from_host.add(u64::from(n), bytes);
            }
        }
        Role::Pf => q.dev.nic.uplink().wire_tx.add(u64::from(n), bytes),
    }
    n
}

/// One port's RX queues as the switch fills them: their pools, by queue.
#[derive(Debug, Clone)]
pub(crate) struct HostRx {
    pub(crate) pools: Vec<NonNull<sys::rte_mempool>>,
    pub(crate) port_id: u16,
}

// SAFETY: the pools are DPDK mempools, which any thread may allocate from
// (the switch thread has no lcore id, so it bypasses the per-lcore caches);
// the pointers are only dereferenced by the switch, while the port's queues
// (and so their pools) live: the switch is joined before a port stops.
unsafe impl Send for HostRx {}

/// The RX queues of the started ports, as the switch fills them: the PF
/// first, then each representor in VF order (`None`: not started).
#[derive(Debug)]
pub(crate) struct MbufHost {
    pub(crate) ports: Vec<Option<HostRx>>,
}

impl Host for MbufHost {
    type Buf = Mbuf;

    fn fill(&mut self, to: Rx, frame: &[u8]) -> Result<Mbuf, FillError> {
        let port = self
            .ports
            .get(to.port)
            .and_then(Option::as_ref)
            .ok_or(FillError::NoBuffer)?;
        let pool = port
            .pools
            .get(usize::from(to.queue))
            .ok_or(FillError::NoBuffer)?;
        // SAFETY: the pool outlives its queue (ethdev's contract), and the
        // queue outlives this run of the switch: queues are released only on
        // a stopped port, and stopping the PF joins the switch first.
        let raw = unsafe { sys::rte_pktmbuf_alloc(pool.as_ptr()) };
        let m = Mbuf(NonNull::new(raw).ok_or(FillError::NoBuffer)?);
        let len = u16::try_from(frame.len()).map_err(|_| FillError::TooBig)?;
        // SAFETY: the mbuf is freshly allocated and ours.
        if unsafe { sys::rte_pktmbuf_tailroom(m.0.as_ptr()) } < len {
            return Err(FillError::TooBig);
        }
        // SAFETY: the mbuf is ours; its data room from `data_off` has at
        // least `len` bytes (tailroom, checked above), which cannot overlap
        // `frame` (Rust memory).
        unsafe {
            let mb = &mut *m.0.as_ptr();
            let data = mb.buf_addr.cast::<u8>().add(usize::from(mb.data_off));
            std::ptr::copy_nonoverlapping(frame.as_ptr(), data, frame.len());
            mb.data_len = len;
            mb.pkt_len = u32::from(len);
            mb.port = port.port_id;
            if let Some(hash) = to.hash {
                mb.__bindgen_anon_2.hash.rss = hash;
                mb.ol_flags |= sys::FLOWLIFT_MBUF_F_RX_RSS_HASH as u64;
            }
        }
        Ok(m)
    }

    fn discard(&mut self, buf: Mbuf) {
        drop(buf);
    }
}
