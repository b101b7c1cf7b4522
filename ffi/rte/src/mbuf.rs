//! Owned packet buffers, and fixed-size bursts of them for rx/tx.
//!
//! An [`Mbuf`] is one pointer, with no hold on its pool and no count to keep: a
//! pool lives until EAL's clean-up, and [`Eal::cleanup`](crate::Eal::cleanup)
//! refuses while any mbuf of any pool is out. So an mbuf is always freed into a
//! live pool, however long it outlives the handles it came through.

use std::mem::MaybeUninit;
use std::ptr::NonNull;

/// Largest burst a [`MbufBurst`] holds. DPDK's vector PMDs work in bursts of 32;
/// 64 leaves room for a doubled burst without a second array.
pub const MAX_BURST: usize = 64;

/// Bytes reserved at the front of every mbuf's data room for headers a
/// sender may prepend (`RTE_PKTMBUF_HEADROOM`): a data room of `d` bytes holds
/// a frame of `d - MBUF_HEADROOM` bytes in one segment.
pub const MBUF_HEADROOM: u16 = dpdk_sys::RTE_PKTMBUF_HEADROOM as u16;

/// One packet buffer, owned: freed on `Drop`, handed over (not freed) when a
/// `tx_burst` takes it. `Send` (an mbuf can move between threads) but not
/// `Sync`, and never `Clone`: [`Mbuf::share`] adds a reference instead.
///
/// ```compile_fail,E0599
/// fn twice(m: rte::Mbuf) -> (rte::Mbuf, rte::Mbuf) {
///     (m.clone(), m) // a second owner only through `share`, which counts it
/// }
/// ```
#[repr(transparent)]
#[derive(Debug)]
pub struct Mbuf(NonNull<dpdk_sys::rte_mbuf>);

// SAFETY: an mbuf is a plain buffer owned by whoever holds the pointer; DPDK moves
// them between lcores all the time. Shared access (`&Mbuf`) only reads.
unsafe impl Send for Mbuf {}

impl Mbuf {
    pub(crate) fn from_raw_nonnull(raw: NonNull<dpdk_sys::rte_mbuf>) -> Mbuf {
        Mbuf(raw)
    }

    fn raw(&self) -> &dpdk_sys::rte_mbuf {
        // SAFETY: we own a live mbuf; reading its header is always valid.
        unsafe { self.0.as_ref() }
    }

    /// Bytes of the whole packet (all segments): what counters and meters
    /// count, never `data().len()`.
    #[inline]
    pub fn pkt_len(&self) -> u32 {
        self.raw().pkt_len
    }

    /// Segments in the packet: 1 unless it outgrew one buffer's data room.
    #[inline]
    pub fn nb_segs(&self) -> u16 {
        self.raw().nb_segs
    }

    /// The packet's first segment as bytes (its `data_len` bytes). A packet
    /// larger than the pool's data room (a 9000-byte frame in 2 KiB mbufs, as
    /// `net_pcap` and scattering NICs deliver it) is a chain of segments, and
    /// this is only the start of it: the rest is reached through the chain,
    /// sent whole by `tx_burst` and freed whole on `Drop`.
    #[inline]
    pub fn data(&self) -> &[u8] {
        let m = self.raw();
        // SAFETY: buf_addr + data_off points at data_len initialised bytes inside
        // the buffer, alive as long as we hold the mbuf.
        unsafe {
            std::slice::from_raw_parts(
                (m.buf_addr as *const u8).add(m.data_off as usize),
                m.data_len as usize,
            )
        }
    }

    /// The first segment, writable; `None` while the buffer is shared
    /// (reference count above one), since another owner may be reading it.
    #[inline]
    pub fn data_mut(&mut self) -> Option<&mut [u8]> {
        if self.refcnt() != 1 {
            return None;
        }
        // SAFETY: we are the only owner (refcnt 1) and hold &mut self; the range is
        // the segment's initialised data.
        let m = unsafe { self.0.as_mut() };
        Some(unsafe {
            // SAFETY: as above.
            std::slice::from_raw_parts_mut(
                (m.buf_addr as *mut u8).add(m.data_off as usize),
                m.data_len as usize,
            )
        })
    }

    /// Appends `bytes` at the tail of the packet (its last segment); false if
    /// they do not fit in that segment's tailroom.
    pub fn append(&mut self, bytes: &[u8]) -> bool {
        let Ok(len) = u16::try_from(bytes.len()) else {
            return false;
        };
        if self.refcnt() != 1 {
            return false;
        }
        // SAFETY: we own the mbuf exclusively; append checks the tailroom and returns
        // null when the bytes do not fit.
        let dst = unsafe { dpdk_sys::rte_pktmbuf_append(self.0.as_ptr(), len) };
        if dst.is_null() {
            return false;
        }
        // SAFETY: dst points at `len` writable bytes just reserved in our buffer.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst as *mut u8, bytes.len()) };
        true
    }

    /// The port the PMD received this packet on.
    pub fn in_port(&self) -> u16 {
        self.raw().port
    }

    /// Current reference count.
    pub fn refcnt(&self) -> u16 {
        // SAFETY: reads the live mbuf's (atomic) reference count.
        unsafe { dpdk_sys::rte_mbuf_refcnt_read(self.0.as_ptr()) }
    }

    /// A second owner of the same buffer (reference count + 1), for sending one
    /// packet to several ports without copying. Both owners see it read-only.
    #[inline]
    pub fn share(&self) -> Mbuf {
        // SAFETY: the mbuf is alive; the update is atomic, so owners on other lcores
        // are fine. Each owner frees once, which the count balances.
        unsafe { dpdk_sys::rte_pktmbuf_refcnt_update(self.0.as_ptr(), 1) };
        Mbuf(self.0)
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: we own one reference to a live mbuf; this returns it to its
        // pool, which lives until EAL's clean-up, refused while this mbuf is out.
        unsafe { dpdk_sys::rte_pktmbuf_free(self.0.as_ptr()) }
    }
}

/// Up to [`MAX_BURST`] owned mbufs in an array on the stack or in per-lcore state:
/// what `rx_burst` fills and `tx_burst` empties. Remaining mbufs are freed on
/// `Drop` (or [`MbufBurst::clear`]).
pub struct MbufBurst {
    // Invariant: slots[..len] are initialised and owned; Mbuf is repr(transparent)
    // over NonNull<rte_mbuf>, so the array is also an array of `*mut rte_mbuf`.
    slots: [MaybeUninit<Mbuf>; MAX_BURST],
    len: usize,
}

impl std::fmt::Debug for MbufBurst {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MbufBurst").field("len", &self.len).finish()
    }
}

impl Default for MbufBurst {
    fn default() -> Self {
        MbufBurst::new()
    }
}

impl MbufBurst {
    /// An empty burst.
    pub const fn new() -> MbufBurst {
        MbufBurst {
            slots: [const { MaybeUninit::uninit() }; MAX_BURST],
            len: 0,
        }
    }

    /// Number of mbufs held.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no mbuf is held.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether another mbuf fits.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.len == MAX_BURST
    }

    /// The held mbufs.
    #[inline]
    pub fn as_slice(&self) -> &[Mbuf] {
        // SAFETY: slots[..len] are initialised (type invariant).
        unsafe { std::slice::from_raw_parts(self.slots.as_ptr() as *const Mbuf, self.len) }
    }

    /// Adds an mbuf at the end, or gives it back if the burst is full.
    #[inline]
    pub fn push(&mut self, m: Mbuf) -> Result<(), Mbuf> {
        if self.len == MAX_BURST {
            return Err(m);
        }
        self.slots[self.len].write(m);
        self.len += 1;
        Ok(())
    }

    /// Hands every mbuf, in order, to `f`, leaving the burst empty.
    #[inline]
    pub fn drain_each(&mut self, mut f: impl FnMut(Mbuf)) {
        let n = self.len;
        // Set len first: should `f` unwind, the rest leak rather than double-free.
        self.len = 0;
        for slot in &self.slots[..n] {
            // SAFETY: slots[..n] were initialised and, with len reset, each is read
            // exactly once, moving ownership out.
            f(unsafe { slot.assume_init_read() });
        }
    }

    /// Frees every held mbuf.
    pub fn clear(&mut self) {
        if self.len == 0 {
            return;
        }
        let n = self.len as u32;
        self.len = 0;
        // SAFETY: the first n slots hold owned mbufs (repr(transparent) pointers);
        // with len reset, nobody reads them again.
        unsafe { dpdk_sys::rte_pktmbuf_free_bulk(self.raw_slots(), n) };
    }

    /// The slot array as DPDK's `struct rte_mbuf **`.
    pub(crate) fn raw_slots(&mut self) -> *mut *mut dpdk_sys::rte_mbuf {
        self.slots.as_mut_ptr() as *mut *mut dpdk_sys::rte_mbuf
    }

    /// Free room at the end, as DPDK's `struct rte_mbuf **` and its length.
    pub(crate) fn spare_raw(&mut self) -> (*mut *mut dpdk_sys::rte_mbuf, u16) {
        let len = self.len;
        // SAFETY: len <= MAX_BURST, so the offset stays within (or one past) the array.
        let ptr = unsafe { self.raw_slots().add(len) };
        (ptr, (MAX_BURST - len) as u16)
    }

    /// Records that DPDK filled `n` more slots after the current end.
    ///
    /// # Safety
    /// The `n` slots after `len` must hold mbufs now owned by this burst.
    pub(crate) unsafe fn commit(&mut self, n: usize) {
        debug_assert!(self.len + n <= MAX_BURST);
        self.len += n;
    }

    /// Records that DPDK took the first `n` mbufs; moves the rest to the front.
    pub(crate) fn consume_front(&mut self, n: usize) {
        let n = n.min(self.len);
        let rest = self.len - n;
        if rest > 0 && n > 0 {
            // SAFETY: both ranges lie within the array; copy handles overlap. The
            // first n were taken by DPDK, so their slots are free to overwrite.
            unsafe {
                let base = self.slots.as_mut_ptr();
                std::ptr::copy(base.add(n), base, rest);
            }
        }
        self.len = rest;
    }
}

impl Drop for MbufBurst {
    fn drop(&mut self) {
        self.clear();
    }
}

// Mbuf must stay pointer-sized for a burst's array to double as DPDK's
// `struct rte_mbuf **`.
const _: () = assert!(std::mem::size_of::<Mbuf>() == std::mem::size_of::<*mut u8>());
