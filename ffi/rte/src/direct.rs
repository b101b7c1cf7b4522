//! Experimental (feature `direct-burst`): `rx_burst`/`tx_burst` done in Rust the
//! way DPDK's `static inline` functions do them, reading `rte_eth_fp_ops` and
//! calling the PMD's burst function directly, instead of calling bindgen's
//! out-of-line C wrapper. Kept only to measure the wrapper's cost
//! (`cargo bench -p flowlift-perf --bench ffi_burst`); the default path is the
//! wrapper, which the measurement showed to cost the same (perf/README.md).

use crate::{MbufBurst, RxQueue, TxQueue, MAX_BURST};

impl RxQueue {
    /// [`RxQueue::rx_burst`] without the C wrapper.
    #[inline]
    pub fn rx_burst_direct(&mut self, out: &mut MbufBurst, max: usize) -> usize {
        let (ptr, room) = out.spare_raw();
        let want = (max.min(MAX_BURST) as u16).min(room);
        if want == 0 {
            return 0;
        }
        let (port, queue) = (self.port().id().0, self.queue().0);
        // SAFETY: mirrors DPDK 22.11's rte_eth_rx_burst: the port is started and
        // its fp_ops entry and queue data were set by rte_eth_dev_start; ptr has
        // `want` free slots; this lcore is the queue's only poller.
        let n = unsafe {
            let ops = &*std::ptr::addr_of!(dpdk_sys::rte_eth_fp_ops)
                .cast::<dpdk_sys::rte_eth_fp_ops>()
                .add(port as usize);
            let qd = *ops.rxq.data.add(queue as usize);
            let burst = ops
                .rx_pkt_burst
                .expect("a started port has an rx burst function");
            let mut n = burst(qd, ptr, want);
            let cb = *ops.rxq.clbk.add(queue as usize);
            if !cb.is_null() {
                n = dpdk_sys::rte_eth_call_rx_callbacks(port, queue, ptr, n, want, cb);
            }
            n
        };
        // SAFETY: the PMD wrote n owned mbuf pointers into those slots.
        unsafe { out.commit(n as usize) };
        n as usize
    }
}

impl TxQueue {
    /// [`TxQueue::tx_burst`] without the C wrapper.
    #[inline]
    pub fn tx_burst_direct(&mut self, batch: &mut MbufBurst) -> usize {
        let n = batch.len() as u16;
        if n == 0 {
            return 0;
        }
        let (port, queue) = (self.port().id().0, self.queue().0);
        // SAFETY: mirrors DPDK 22.11's rte_eth_tx_burst (callbacks first, then the
        // PMD); the first n slots hold owned mbufs, of which the PMD takes `sent`.
        let sent = unsafe {
            let ops = &*std::ptr::addr_of!(dpdk_sys::rte_eth_fp_ops)
                .cast::<dpdk_sys::rte_eth_fp_ops>()
                .add(port as usize);
            let qd = *ops.txq.data.add(queue as usize);
            let mut n = n;
            let cb = *ops.txq.clbk.add(queue as usize);
            if !cb.is_null() {
                n = dpdk_sys::rte_eth_call_tx_callbacks(port, queue, batch.raw_slots(), n, cb);
            }
            let burst = ops
                .tx_pkt_burst
                .expect("a started port has a tx burst function");
            burst(qd, batch.raw_slots(), n)
        } as usize;
        batch.consume_front(sent);
        sent
    }
}
