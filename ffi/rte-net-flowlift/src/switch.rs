//! The model's switch thread as the device's ports start and stop: it runs
//! while the PF is started, and fills the RX rings of every started port
//! (the PF's with the wire, a representor's with what its VF sends that no
//! rule takes). When a port starts or stops, the thread is stopped (joined)
//! and started again with the rings of the ports started now, so it never
//! touches a ring or a pool of a stopped port: ethdev may release those
//! queues as soon as the port is stopped.
//!
//! Lock order: `Device::uplink` (the running thread) before
//! `Device::started`.

use std::ffi::c_int;
use std::ptr::NonNull;

use dpdk_driver_sys as sys;
use flowlift_nic::{RingTx, ThreadSetup, Uplink, UplinkThread};

use crate::log;
use crate::port::{lock, Device, Port, Role};
use crate::rxtx::{HostRx, Mbuf, MbufHost, RxQueue};

/// A started port's RX side, as the switch fills it.
#[derive(Debug)]
pub(crate) struct StartedRx {
    host: HostRx,
    rings: Vec<RingTx<Mbuf>>,
}

/// The port's RX queues (it starts): its pools and the producer ends of its
/// rings. `None` if a queue is not set up.
fn rx_side(data: &sys::rte_eth_dev_data) -> Option<StartedRx> {
    let mut pools = Vec::new();
    let mut rings = Vec::new();
    for q in 0..usize::from(data.nb_rx_queues) {
        // SAFETY: `rx_queues` has `nb_rx_queues` entries; ethdev starts a
        // port only once every queue is set up.
        let rxq = NonNull::new(unsafe { *data.rx_queues.add(q) }.cast::<RxQueue>())?;
        // SAFETY: set-up stored a live `RxQueue` there.
        let rxq = unsafe { rxq.as_ref() };
        pools.push(rxq.pool);
        rings.push(rxq.ring.producer());
    }
    Some(StartedRx {
        host: HostRx {
            pools,
            port_id: data.port_id,
        },
        rings,
    })
}

/// `dev_start`: the port's RX joins the switch (started with the PF).
pub(crate) fn port_started(port: &Port, data: &sys::rte_eth_dev_data) -> c_int {
    let Some(rx) = rx_side(data) else {
        return -libc::EINVAL;
    };
    let dev = &port.dev;
    let mut running = lock(&dev.uplink);
    stop(&mut running);
    if let Some(slot) = lock(&dev.started).get_mut(port.rx_index()) {
        *slot = Some(rx);
    }
    match start(dev, &mut running) {
        Ok(()) => {
            if let (Role::Pf, Some(cpu)) = (port.role, dev.nic.devargs().switch_cpu) {
                log::notice(&format!(
                    "the switch thread (flowlift-sw{}) runs on CPU {cpu}",
                    data.port_id
                ));
            }
            0
        }
        Err(e) => {
            log::err(&format!("cannot start the switch thread: {e}"));
            if let Some(slot) = lock(&dev.started).get_mut(port.rx_index()) {
                *slot = None;
            }
            -libc::ENOMEM
        }
    }
}

/// `dev_stop`: the port's RX leaves the switch (which stops with the PF);
/// what the host had not polled is lost, as a stopped NIC queue loses it:
/// counted missed on the port.
pub(crate) fn port_stopping(port: &Port, data: &sys::rte_eth_dev_data) {
    let dev = &port.dev;
    {
        let mut running = lock(&dev.uplink);
        stop(&mut running);
        if let Some(slot) = lock(&dev.started).get_mut(port.rx_index()) {
            *slot = None;
        }
        if let Err(e) = start(dev, &mut running) {
            log::err(&format!("cannot restart the switch thread: {e}"));
        }
    }
    // From here on the switch does not touch this port's rings.
    let mut lost = 0;
    for q in 0..usize::from(data.nb_rx_queues) {
        // SAFETY: as in `rx_side`; null entries are skipped.
        if let Some(rxq) = NonNull::new(unsafe { *data.rx_queues.add(q) }.cast::<RxQueue>()) {
            // SAFETY: a live `RxQueue` stored by set-up.
            let ring = unsafe { &rxq.as_ref().ring };
            while let Some(m) = ring.pop() {
                lost += 1;
                // A generated wire's ground truth counts it against its
                // flow (the switch is stopped: the wire is free).
                m.with_segments(|s| {
                    if let Some(first) = s.first() {
                        match port.role {
                            Role::Pf => dev.nic.uplink_frame_lost(first),
                            Role::Vf(_) => {
                                if let Some(i) = port.rx_index().checked_sub(1) {
                                    dev.nic.vf_frame_lost(i, first);
                                }
                            }
                        }
                    }
                });
            }
        }
    }
    match port.role {
        Role::Pf => dev.nic.uplink().imissed.add(lost),
        Role::Vf(_) => {
            if let Some(tx) = port
                .rx_index()
                .checked_sub(1)
                .and_then(|i| dev.nic.vf_tx(i))
            {
                tx.imissed.add(lost);
            }
        }
    }
}

/// Stops the running switch, if any, and waits for it.
fn stop(running: &mut Option<UplinkThread<MbufHost>>) {
    drop(running.take().and_then(UplinkThread::stop));
}

/// Starts the switch over the started ports' rings, if the PF is started.
fn start(dev: &Device, running: &mut Option<UplinkThread<MbufHost>>) -> std::io::Result<()> {
    let started = lock(&dev.started);
    let Some(Some(pf)) = started.first() else {
        return Ok(());
    };
    let host = MbufHost {
        ports: started
            .iter()
            .map(|s| s.as_ref().map(|s| s.host.clone()))
            .collect(),
    };
    let reps = started
        .iter()
        .skip(1)
        .map(|s| s.as_ref().map(|s| s.rings.clone()))
        .collect();
    let up = Uplink::new(host, pf.rings.clone()).with_reps(reps);
    let mut setup = ThreadSetup::named(format!("flowlift-sw{}", pf.host.port_id));
    if let Some(cpu) = dev.nic.devargs().switch_cpu {
        setup.on_start = Some(Box::new(move || pin(cpu)));
    }
    *running = Some(dev.nic.start_uplink(up, setup)?);
    Ok(())
}

/// Pins the calling thread (the switch) to CPU `cpu`.
fn pin(cpu: usize) -> Result<(), String> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(format!("switch_cpu={cpu}: beyond CPU_SETSIZE"));
    }
    // SAFETY: a zeroed `cpu_set_t` is the empty set; CPU_SET sets bit `cpu`,
    // within the set (checked above); sched_setaffinity with pid 0 applies
    // to the calling thread only and reads the set, a local.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if rc != 0 {
        let why = std::io::Error::last_os_error();
        return Err(format!(
            "switch_cpu={cpu}: cannot pin the switch thread: {why}"
        ));
    }
    Ok(())
}

/// The slots of a device's started ports: the PF and each representor.
pub(crate) fn slots(vfs: usize) -> std::sync::Mutex<Vec<Option<StartedRx>>> {
    std::sync::Mutex::new((0..=vfs).map(|_| None).collect())
}
