//! The emulated NIC inside the appliance: one ring per worker exposed as an
//! ethdev port (the switch transmits a worker's misses into it, the worker
//! receives them from it as from any port), the switch's lcore, and the
//! handles the control core stops it with.
//!
//! Stopping is staged so that no packet is lost: the switch stops taking from
//! the uplink and hands its last misses to the rings; the workers empty the
//! rings and stop; the control core removes every rule (the switch still
//! answers); then the switch stops.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::offload::emulated::EmulatedBackend;
use anyhow::Context;
use flowlift_dataplane::eswitch::{EswitchStats, SwitchPath};
use rte::{Eal, LaunchHandle, LcoreId, Mempool, Port, PortConfig, Ring, RxQueue, TxQueue};

/// Slots in each worker's miss ring (a power of two).
pub const MISS_RING: u32 = 1024;

/// The switch's data path on DPDK queues.
pub type DpdkSwitch = SwitchPath<RxQueue, TxQueue>;

/// The rings between the switch and the workers, as ports.
#[derive(Debug)]
pub struct MissPorts {
    /// Kept alive for the ports (the ring PMD holds their pointers).
    pub rings: Vec<Arc<Ring>>,
    pub ports: Vec<Port>,
    /// Each worker's RX queue on its ring port.
    pub worker_rx: Vec<RxQueue>,
    /// The switch's TX queue into each ring port.
    pub switch_tx: Vec<TxQueue>,
}

/// Makes one ring port per worker.
pub fn miss_ports(workers: usize, pool: &Arc<Mempool>) -> anyhow::Result<MissPorts> {
    let mut out = MissPorts {
        rings: Vec::new(),
        ports: Vec::new(),
        worker_rx: Vec::new(),
        switch_tx: Vec::new(),
    };
    for w in 0..workers {
        let ring = Arc::new(
            Ring::new(&format!("flowlift_miss{w}"), MISS_RING, true)
                .with_context(|| format!("miss ring of worker {w}"))?,
        );
        let port = rte::eth_from_rings(
            &format!("net_ring_miss{w}"),
            std::slice::from_ref(&ring),
            std::slice::from_ref(&ring),
        )
        .with_context(|| format!("miss port of worker {w}"))?;
        let pc = PortConfig {
            rss: false,
            ..PortConfig::default()
        };
        let (mut rx, mut tx) = port
            .configure(&pc, pool)
            .with_context(|| format!("miss port of worker {w}"))?;
        port.start()
            .with_context(|| format!("miss port of worker {w}"))?;
        out.worker_rx.push(rx.remove(0));
        out.switch_tx.push(tx.remove(0));
        out.rings.push(ring);
        out.ports.push(port);
    }
    Ok(out)
}

/// The running switch.
#[derive(Debug)]
pub struct EmulatedNic {
    pub lcore: u32,
    pub stats: Arc<EswitchStats>,
    rx_stop: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    handle: Option<LaunchHandle>,
    rings: Vec<Arc<Ring>>,
    /// The switch hands itself back here when it stops, so its queues are
    /// released before the ports close.
    returned: Arc<Mutex<Option<DpdkSwitch>>>,
    /// The control core's handle on the switch's rules, until the offload
    /// engine takes it.
    pub backend: Option<EmulatedBackend>,
}

impl EmulatedNic {
    /// Runs `path` on `lcore`; `rings` are the workers' miss rings.
    pub fn launch(
        eal: &Eal,
        lcore: u32,
        mut path: DpdkSwitch,
        stats: Arc<EswitchStats>,
        rings: Vec<Arc<Ring>>,
    ) -> anyhow::Result<EmulatedNic> {
        let rx_stop = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let returned = Arc::new(Mutex::new(None));
        let (rs, st, back) = (
            Arc::clone(&rx_stop),
            Arc::clone(&stop),
            Arc::clone(&returned),
        );
        let handle = eal
            .launch(LcoreId(lcore), move || {
                path.run(&rs, &st);
                *back.lock().unwrap_or_else(|e| e.into_inner()) = Some(path);
                0
            })
            .with_context(|| format!("launch the emulated NIC on lcore {lcore}"))?;
        Ok(EmulatedNic {
            lcore,
            stats,
            rx_stop,
            stop,
            handle: Some(handle),
            rings,
            returned,
            backend: None,
        })
    }

    /// Stops taking packets from the uplink, then waits until every miss has
    /// left the switch and the workers have emptied their rings, for as long
    /// as `limit` says (asked again as the wait goes on, so a hurried stop
    /// can cut it short). Returns whether they did.
    pub fn quiesce(&self, limit: &dyn Fn() -> Duration) -> bool {
        self.rx_stop.store(true, Ordering::SeqCst);
        let start = Instant::now();
        // A moment for the switch to finish the burst it holds.
        std::thread::sleep(Duration::from_millis(2));
        loop {
            let backlog = self.stats.backlog.load(Ordering::Relaxed);
            let queued: u32 = self.rings.iter().map(|r| r.count()).sum();
            if backlog == 0 && queued == 0 {
                // The workers may still hold the last burst they dequeued;
                // they finish it before they look at their stop flag.
                return true;
            }
            if start.elapsed() >= limit() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Stops (or resumes) taking packets from the uplink: the shell's `stop`
    /// and `start`. Rules and counters stay.
    pub fn set_paused(&self, paused: bool) {
        self.rx_stop.store(paused, Ordering::SeqCst);
    }

    /// Stops the switch and waits for its lcore; returns whether it ended well.
    pub fn stop(&mut self) -> bool {
        self.stop.store(true, Ordering::SeqCst);
        let ok = self.handle.take().is_none_or(|h| h.join() == 0);
        drop(
            self.returned
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
        ok
    }
}

impl Drop for EmulatedNic {
    fn drop(&mut self) {
        if self.handle.is_some() {
            self.rx_stop.store(true, Ordering::SeqCst);
            self.stop();
        }
    }
}
