//! The ports of a `net_flowlift` device and their `eth_dev_ops`: what ethdev
//! calls on the control path (configure, info, start/stop/close, queue
//! set-up, link, stats).
//!
//! One device has one PF port (the uplink) and a representor port per VF
//! named by `representor=`. They share one [`Device`] (the model NIC) and one
//! switch domain, as mlx5's ports of one PCI function do.

use std::ffi::{c_int, c_uint, CString};
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, OnceLock};

use dpdk_driver_sys as sys;
use flowlift_nic::{Nic, Ring, UplinkThread};

use crate::log;
use crate::rxtx::{self, MbufHost, QueueCounters, RxQueue, TxQueue};

/// Queues a port offers each way (mlx5 offers far more; 16 is what
/// `rte_eth_stats` has per-queue counters for).
pub(crate) const MAX_QUEUES: u16 = 16;
/// Largest MTU: 9000, and the frame it makes with an Ethernet header and CRC.
const MAX_MTU: u16 = 9000;
const MAX_RX_PKTLEN: u32 = MAX_MTU as u32 + 18;
/// Descriptors a ring may have at most.
const MAX_DESC: u16 = 32768;

/// What a port is on the model NIC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The uplink.
    Pf,
    /// The representor of this VF.
    Vf(u16),
}

/// One device: the model NIC and what its ports share.
#[derive(Debug)]
pub(crate) struct Device {
    pub(crate) nic: Nic,
    /// The PF port's name (the switch's name in `switch_info`).
    pub(crate) pf_name: CString,
    /// The ethdev port ids of the device's ports and what they are (set once
    /// every port exists).
    pub(crate) ports: OnceLock<Vec<(u16, Role)>>,
    pub(crate) domain_id: u16,
    /// The uplink's switch thread while the PF is started.
    pub(crate) uplink: Mutex<Option<UplinkThread<MbufHost>>>,
    /// The RX side of each started port: the PF, then each representor in
    /// VF order (see `switch`).
    pub(crate) started: Mutex<Vec<Option<crate::switch::StartedRx>>>,
}

impl Drop for Device {
    fn drop(&mut self) {
        // SAFETY: the domain was allocated for this device at probe and is
        // freed once, when its last port is gone.
        unsafe { sys::rte_eth_switch_domain_free(self.domain_id) };
    }
}

/// One port's private state; `dev_private` holds a pointer to it.
#[derive(Debug)]
pub(crate) struct Port {
    pub(crate) dev: Arc<Device>,
    pub(crate) role: Role,
    /// Wire-side counters at the last stats reset (PF only).
    base_missed: Mutex<(u64, u64, u64)>,
    /// The model's xstats at the last xstats reset, by position.
    base_x: Mutex<Vec<u64>>,
}

impl Port {
    pub(crate) fn new(dev: Arc<Device>, role: Role) -> Port {
        Port {
            dev,
            role,
            base_missed: Mutex::new((0, 0, 0)),
            base_x: Mutex::new(Vec::new()),
        }
    }

    /// The port's place among the model's RX ports: 0 the PF, `i + 1` the
    /// representor of the `i`-th VF.
    pub(crate) fn rx_index(&self) -> usize {
        match self.role {
            Role::Pf => 0,
            Role::Vf(vf) => self
                .dev
                .nic
                .vfs()
                .position(|v| v == vf)
                .map_or(usize::MAX, |i| i + 1),
        }
    }
}

/// The private area ethdev allocates per port: one pointer to the [`Port`].
pub(crate) type PrivSlot = *mut Port;

/// The port behind `dev`.
///
/// # Safety
/// `dev` is a port of this driver (its `dev_ops` are [`OPS`]) that is not yet
/// closed: then `dev_private` holds the pointer to a live [`Port`] that probe
/// stored, and only `dev_close` takes it away.
pub(crate) unsafe fn port<'a>(dev: *mut sys::rte_eth_dev) -> &'a Port {
    // SAFETY: as stated above.
    unsafe { &**(*(*dev).data).dev_private.cast::<PrivSlot>() }
}

/// The ethdev data of `dev`.
///
/// # Safety
/// `dev` is a port ethdev handed to one of the ops.
unsafe fn data<'a>(dev: *mut sys::rte_eth_dev) -> &'a mut sys::rte_eth_dev_data {
    // SAFETY: ethdev passes ports with their data allocated; it serialises
    // control-path ops on a port (the application's contract).
    unsafe { &mut *(*dev).data }
}

pub(crate) static OPS: sys::eth_dev_ops = sys::eth_dev_ops {
    dev_configure: Some(dev_configure),
    dev_infos_get: Some(dev_infos_get),
    dev_start: Some(dev_start),
    dev_stop: Some(dev_stop),
    dev_close: Some(dev_close),
    link_update: Some(link_update),
    promiscuous_enable: Some(no_op),
    promiscuous_disable: Some(no_op),
    allmulticast_enable: Some(no_op),
    allmulticast_disable: Some(no_op),
    mtu_set: Some(mtu_set),
    rss_hash_update: Some(crate::rss::rss_hash_update),
    rss_hash_conf_get: Some(crate::rss::rss_hash_conf_get),
    reta_update: Some(crate::rss::reta_update),
    reta_query: Some(crate::rss::reta_query),
    stats_get: Some(stats_get),
    stats_reset: Some(stats_reset),
    xstats_get: Some(xstats_get),
    xstats_get_names: Some(xstats_get_names),
    xstats_reset: Some(xstats_reset),
    rx_queue_setup: Some(rx_queue_setup),
    rx_queue_release: Some(rx_queue_release),
    tx_queue_setup: Some(tx_queue_setup),
    tx_queue_release: Some(tx_queue_release),
    representor_info_get: Some(representor_info_get),
    flow_ops_get: Some(crate::flow::flow_ops_get),
    mtr_ops_get: Some(crate::mtr::mtr_ops_get),
    // SAFETY: `eth_dev_ops` holds only optional function pointers, for which
    // all zero bits are `None` (NULL: "not supported" to ethdev).
    ..unsafe { std::mem::zeroed() }
};

/// RSS (what ethdev checked against `dev_infos_get` needs nothing more:
/// queue counts, MTU).
unsafe extern "C" fn dev_configure(dev: *mut sys::rte_eth_dev) -> c_int {
    // SAFETY: a port of this driver, not closed; ethdev's own data.
    let (port, data) = unsafe { (port(dev), data(dev)) };
    crate::rss::configure(port, data)
}

unsafe extern "C" fn dev_infos_get(
    dev: *mut sys::rte_eth_dev,
    info: *mut sys::rte_eth_dev_info,
) -> c_int {
    // SAFETY: ethdev calls the ops only on ports of this driver, not closed.
    let port = unsafe { port(dev) };
    // SAFETY: ethdev passes its own, initialised `rte_eth_dev_info`.
    let info = unsafe { &mut *info };
    info.max_mac_addrs = 1;
    info.max_rx_queues = MAX_QUEUES;
    info.max_tx_queues = MAX_QUEUES;
    info.min_mtu = 68;
    info.max_mtu = MAX_MTU;
    info.max_rx_pktlen = MAX_RX_PKTLEN;
    info.rx_desc_lim.nb_max = MAX_DESC;
    info.tx_desc_lim.nb_max = MAX_DESC;
    info.speed_capa = sys::FLOWLIFT_ETH_LINK_SPEED_100G;
    // RSS as mlx5 offers it: a 40-byte Toeplitz key, a 512-entry RETA, the
    // hash in the mbuf.
    info.reta_size = flowlift_nic::rss::RETA_SIZE as u16;
    info.hash_key_size = flowlift_nic::rss::KEY_LEN as u8;
    info.flow_type_rss_offloads = crate::rss::offered();
    info.rx_offload_capa |= sys::FLOWLIFT_ETH_RX_OFFLOAD_RSS_HASH as u64;
    // As mlx5 in switchdev mode: every port of the device is in one switch
    // domain named after the PF; the PF (the uplink) has switch port id
    // 0xffff, a representor its VF number.
    info.switch_info.name = port.dev.pf_name.as_ptr();
    info.switch_info.domain_id = port.dev.domain_id;
    info.switch_info.port_id = match port.role {
        Role::Pf => u16::MAX,
        Role::Vf(vf) => vf,
    };
    info.switch_info.rx_domain = 0;
    // Rules and indirect actions live in the model's switch whatever the
    // port's state, as mlx5 keeps them across stop and start.
    info.dev_capa |= u64::from(sys::FLOWLIFT_ETH_DEV_CAPA_FLOW_RULE_KEEP)
        | u64::from(sys::FLOWLIFT_ETH_DEV_CAPA_FLOW_SHARED_OBJECT_KEEP);
    0
}

unsafe extern "C" fn dev_start(dev: *mut sys::rte_eth_dev) -> c_int {
    // SAFETY: a port of this driver, not closed.
    let port = unsafe { port(dev) };
    // SAFETY: ethdev's own port.
    let data = unsafe { data(dev) };
    let rc = crate::switch::port_started(port, data);
    if rc != 0 {
        return rc;
    }
    set_queue_states(data, sys::RTE_ETH_QUEUE_STATE_STARTED as u8);
    set_link(dev, true);
    0
}

unsafe extern "C" fn dev_stop(dev: *mut sys::rte_eth_dev) -> c_int {
    // SAFETY: a port of this driver, not closed.
    let port = unsafe { port(dev) };
    // SAFETY: ethdev's own port.
    let data = unsafe { data(dev) };
    crate::switch::port_stopping(port, data);
    // What left by the ports so far is on disk once a port has stopped.
    if let Some(c) = port.dev.nic.captures() {
        c.flush();
        if let Some(e) = c.error() {
            log::err(&format!("capture_dir: {e}"));
        }
    }
    // And the generated wire's ground truth, whole as of this stop (the
    // switch is stopped with the PF, so nothing more is sent until a
    // start; a later stop writes it again).
    // A VF's generated wire (its VM's egress) is whole once its
    // representor stops: the switch no longer runs it.
    if let Role::Vf(_) = port.role {
        let truth = port
            .rx_index()
            .checked_sub(1)
            .and_then(|i| port.dev.nic.write_vf_truth(i));
        match truth {
            Some((path, Ok((sent, missed)))) => log::notice(&format!(
                "vf gen_truth: {}: {sent} packets sent, {missed} missed",
                path.display()
            )),
            Some((path, Err(e))) => log::err(&format!("vfN_gen_truth={}: {e}", path.display())),
            None => {}
        }
    }
    if port.role == Role::Pf {
        match port.dev.nic.write_truth() {
            Some((path, Ok((sent, missed)))) => log::notice(&format!(
                "gen_truth: {}: {sent} packets sent, {missed} missed",
                path.display()
            )),
            Some((path, Err(e))) => log::err(&format!("gen_truth={}: {e}", path.display())),
            None => {}
        }
        match port.dev.nic.write_series() {
            Some((path, Ok(bins))) => log::notice(&format!(
                "gen_series: {}: {bins} bins of 100 ms",
                path.display()
            )),
            Some((path, Err(e))) => log::err(&format!("gen_series={}: {e}", path.display())),
            None => {}
        }
    }
    set_queue_states(data, sys::RTE_ETH_QUEUE_STATE_STOPPED as u8);
    set_link(dev, false);
    0
}

/// Frees the port's queues and private state; ethdev then releases the port.
unsafe extern "C" fn dev_close(dev: *mut sys::rte_eth_dev) -> c_int {
    // SAFETY: ethdev's own port.
    let data = unsafe { data(dev) };
    for q in 0..data.nb_rx_queues {
        // SAFETY: a port of this driver, stopped (ethdev refuses to close a
        // started port).
        unsafe { rx_queue_release(dev, q) };
    }
    for q in 0..data.nb_tx_queues {
        // SAFETY: as above.
        unsafe { tx_queue_release(dev, q) };
    }
    let slot = data.dev_private.cast::<PrivSlot>();
    if !slot.is_null() {
        // SAFETY: the slot holds the `Box<Port>` pointer probe stored (or
        // null once taken); it is taken here once, and no op runs after
        // close.
        let port = unsafe { std::ptr::replace(slot, std::ptr::null_mut()) };
        if !port.is_null() {
            // SAFETY: made by `Box::into_raw` at probe, not freed before.
            let port = unsafe { Box::from_raw(port) };
            if port.role == Role::Pf {
                drop(lock(&port.dev.uplink).take());
                // What the application left on the device, in the device's
                // own count (a test of a clean exit reads it here: the
                // process is gone before anyone could ask `flow list`).
                let rules = port.dev.nic.rules();
                log::notice(&format!(
                    "{}: closed holding {} flow rule(s) and {} indirect action(s)",
                    port.dev.pf_name.to_string_lossy(),
                    rules.len(),
                    rules.indirect_len()
                ));
            }
        }
    }
    0
}

unsafe extern "C" fn link_update(dev: *mut sys::rte_eth_dev, _wait: c_int) -> c_int {
    // SAFETY: ethdev's own port.
    let up = unsafe { data(dev) }.dev_started() != 0;
    set_link(dev, up)
}

/// Sets the link up (100G, full duplex, fixed) or down; 0 if it changed.
fn set_link(dev: *mut sys::rte_eth_dev, up: bool) -> c_int {
    let mut link = sys::rte_eth_link::default();
    if up {
        link.link_speed = sys::RTE_ETH_SPEED_NUM_100G;
        link.set_link_duplex(sys::RTE_ETH_LINK_FULL_DUPLEX as u16);
        link.set_link_status(sys::RTE_ETH_LINK_UP as u16);
    }
    link.set_link_autoneg(sys::RTE_ETH_LINK_FIXED as u16);
    // SAFETY: `dev` is a port ethdev handed to an op; the link is a local.
    unsafe { sys::rte_eth_linkstatus_set(dev, &link) }
}

fn set_queue_states(data: &mut sys::rte_eth_dev_data, state: u8) {
    let rx = usize::from(data.nb_rx_queues).min(data.rx_queue_state.len());
    let tx = usize::from(data.nb_tx_queues).min(data.tx_queue_state.len());
    data.rx_queue_state[..rx].fill(state);
    data.tx_queue_state[..tx].fill(state);
}

unsafe extern "C" fn no_op(_dev: *mut sys::rte_eth_dev) -> c_int {
    0
}

unsafe extern "C" fn mtu_set(_dev: *mut sys::rte_eth_dev, _mtu: u16) -> c_int {
    0
}

unsafe extern "C" fn stats_get(
    dev: *mut sys::rte_eth_dev,
    stats: *mut sys::rte_eth_stats,
) -> c_int {
    // SAFETY: a port of this driver, not closed.
    let port = unsafe { port(dev) };
    // SAFETY: ethdev's own port.
    let data = unsafe { data(dev) };
    // SAFETY: ethdev passes its own, zeroed `rte_eth_stats`.
    let stats = unsafe { &mut *stats };
    for (q, rxq) in rx_queues(data) {
        let (p, b) = rxq.counters.since_reset();
        stats.ipackets += p;
        stats.ibytes += b;
        if let (Some(qp), Some(qb)) = (stats.q_ipackets.get_mut(q), stats.q_ibytes.get_mut(q)) {
            *qp = p;
            *qb = b;
        }
    }
    for (q, txq) in tx_queues(data) {
        let (p, b) = txq.counters.since_reset();
        stats.opackets += p;
        stats.obytes += b;
        if let (Some(qp), Some(qb)) = (stats.q_opackets.get_mut(q), stats.q_obytes.get_mut(q)) {
            *qp = p;
            *qb = b;
        }
    }
    let now = rx_tallies(port);
    let base = *lock(&port.base_missed);
    stats.imissed = now.0.saturating_sub(base.0);
    stats.ierrors = now.1.saturating_sub(base.1);
    stats.rx_nombuf = now.2.saturating_sub(base.2);
    0
}

/// The port's receive-side losses the model counts (totals since probe):
/// missed, errors, no buffer. The PF's are the wire's; a representor's are
/// what its VF sent that its host did not take.
fn rx_tallies(port: &Port) -> (u64, u64, u64) {
    let nic = &port.dev.nic;
    match port.role {
        Role::Pf => {
            let up = nic.uplink();
            (up.imissed.get(), up.ierrors.get(), up.rx_nombuf.get())
        }
        Role::Vf(_) => match port.rx_index().checked_sub(1).and_then(|i| nic.vf_tx(i)) {
            Some(tx) => (tx.imissed.get(), tx.ierrors.get(), tx.rx_nombuf.get()),
            None => (0, 0, 0),
        },
    }
}

unsafe extern "C" fn stats_reset(dev: *mut sys::rte_eth_dev) -> c_int {
    // SAFETY: a port of this driver, not closed.
    let port = unsafe { port(dev) };
    // SAFETY: ethdev's own port.
    let data = unsafe { data(dev) };
    for (_, rxq) in rx_queues(data) {
        rxq.counters.reset();
    }
    for (_, txq) in tx_queues(data) {
        txq.counters.reset();
    }
    *lock(&port.base_missed) = rx_tallies(port);
    0
}

/// The model's own counters of a port, as extended stats (totals since
/// probe; `rte_eth_xstats_reset` takes a baseline, `rte_eth_stats_reset`
/// does not touch them). The PF shows its wire and what
/// the switch did with it; a representor shows what its VF received, by path.
fn xstats(port: &Port) -> Vec<(&'static str, u64)> {
    match port.role {
        Role::Pf => {
            let up = port.dev.nic.uplink();
            vec![
                // First: the frames it shows off the wire have their fates
                // counted in what is read after it (nic's `add_last`).
                ("wire_rx_packets", up.wire.packets_first()),
                ("wire_rx_bytes", up.wire.bytes()),
                ("switch_to_host_packets", up.delivered.packets()),
                ("switch_to_host_bytes", up.delivered.bytes()),
                ("switch_to_wire_packets", up.to_wire.packets()),
                ("switch_to_wire_bytes", up.to_wire.bytes()),
                ("switch_drop_packets", up.dropped.packets()),
                ("switch_drop_bytes", up.dropped.bytes()),
                ("wire_tx_packets", up.wire_tx.packets()),
                ("wire_tx_bytes", up.wire_tx.bytes()),
                // The NIC model's own CPU, apart from the application's, in
                // TSC cycles as DPDK counts lcore cycles.
                (
                    "switch_busy_cycles",
                    cycles(port.dev.nic.switch_cpu().busy_ns.get()),
                ),
                (
                    "switch_idle_cycles",
                    cycles(port.dev.nic.switch_cpu().idle_ns.get()),
                ),
            ]
        }
        Role::Vf(vf) => {
            let (switched, sent) = match port.dev.nic.vf_sink(vf) {
                Some(s) => (
                    (s.from_switch.packets(), s.from_switch.bytes()),
                    (s.from_host.packets(), s.from_host.bytes()),
                ),
                None => ((0, 0), (0, 0)),
            };
            let mut v = vec![
                ("vf_rx_from_switch_packets", switched.0),
                ("vf_rx_from_switch_bytes", switched.1),
                ("vf_rx_from_host_packets", sent.0),
                ("vf_rx_from_host_bytes", sent.1),
            ];
            // What the VF sent (its `vfN_wire`) and where the switch put it:
            // what it sent read before where that went (nic's `add_last`).
            let tx = port
                .rx_index()
                .checked_sub(1)
                .and_then(|i| port.dev.nic.vf_tx(i));
            if let Some(tx) = tx {
                let sent = tx.sent.packets_first();
                v.extend([
                    ("vf_tx_packets", sent),
                    ("vf_tx_bytes", tx.sent.bytes()),
                    ("vf_tx_to_wire_packets", tx.to_wire.packets()),
                    ("vf_tx_to_vf_packets", tx.to_vf.packets()),
                    ("vf_tx_to_host_packets", tx.to_host.packets()),
                    ("vf_tx_drop_packets", tx.dropped.packets()),
                ]);
            }
            v
        }
    }
}

/// Nanoseconds in TSC cycles.
fn cycles(ns: u64) -> u64 {
    // SAFETY: a plain read of EAL's TSC frequency.
    let hz = unsafe { sys::rte_get_tsc_hz() };
    u64::try_from(u128::from(ns) * u128::from(hz) / 1_000_000_000).unwrap_or(u64::MAX)
}

/// The port's xstats since the last xstats reset (a baseline: the writers
/// are never disturbed).
fn xstats_since_reset(port: &Port) -> Vec<(&'static str, u64)> {
    let mut stats = xstats(port);
    let base = lock(&port.base_x);
    for (i, (_, v)) in stats.iter_mut().enumerate() {
        *v = v.saturating_sub(base.get(i).copied().unwrap_or(0));
    }
    stats
}

/// `rte_eth_xstats_reset`: the basic stats and the model's xstats start
/// from zero again, as a NIC clears its counters.
unsafe extern "C" fn xstats_reset(dev: *mut sys::rte_eth_dev) -> c_int {
    // SAFETY: a port of this driver, not closed.
    let port = unsafe { port(dev) };
    *lock(&port.base_x) = xstats(port).iter().map(|(_, v)| *v).collect();
    // SAFETY: as above.
    unsafe { stats_reset(dev) }
}

unsafe extern "C" fn xstats_get(
    dev: *mut sys::rte_eth_dev,
    out: *mut sys::rte_eth_xstat,
    n: c_uint,
) -> c_int {
    // SAFETY: a port of this driver, not closed.
    let stats = xstats_since_reset(unsafe { port(dev) });
    let count = c_int::try_from(stats.len()).unwrap_or(c_int::MAX);
    if out.is_null() || (n as usize) < stats.len() {
        return count;
    }
    for (i, (_, value)) in stats.iter().enumerate() {
        // SAFETY: `out` has room for `n` >= `stats.len()` entries.
        unsafe {
            out.add(i).write(sys::rte_eth_xstat {
                id: i as u64,
                value: *value,
            })
        };
    }
    count
}

unsafe extern "C" fn xstats_get_names(
    dev: *mut sys::rte_eth_dev,
    out: *mut sys::rte_eth_xstat_name,
    n: c_uint,
) -> c_int {
    // SAFETY: a port of this driver, not closed.
    let stats = xstats(unsafe { port(dev) });
    let count = c_int::try_from(stats.len()).unwrap_or(c_int::MAX);
    if out.is_null() || (n as usize) < stats.len() {
        return count;
    }
    for (i, (name, _)) in stats.iter().enumerate() {
        let mut entry = sys::rte_eth_xstat_name { name: [0; 64] };
        // Names are short ASCII literals; the last byte stays NUL.
        for (d, s) in entry.name.iter_mut().take(63).zip(name.bytes()) {
            *d = s as std::ffi::c_char;
        }
        // SAFETY: `out` has room for `n` >= `stats.len()` entries.
        unsafe { out.add(i).write(entry) };
    }
    count
}

/// The port's RX queues that are set up, with their index.
fn rx_queues(data: &sys::rte_eth_dev_data) -> impl Iterator<Item = (usize, &RxQueue)> {
    (0..usize::from(data.nb_rx_queues)).filter_map(move |q| {
        // SAFETY: `rx_queues` has `nb_rx_queues` entries, each null or a live
        // `RxQueue` stored by set-up (freed only by release, which nulls it).
        let p = unsafe { *data.rx_queues.add(q) }.cast::<RxQueue>();
        // SAFETY: as above.
        NonNull::new(p).map(|p| (q, unsafe { &*p.as_ptr() }))
    })
}

/// The port's TX queues that are set up, with their index.
fn tx_queues(data: &sys::rte_eth_dev_data) -> impl Iterator<Item = (usize, &TxQueue)> {
    (0..usize::from(data.nb_tx_queues)).filter_map(move |q| {
        // SAFETY: as in `rx_queues`, for `tx_queues` and `TxQueue`.
        let p = unsafe { *data.tx_queues.add(q) }.cast::<TxQueue>();
        // SAFETY: as above.
        NonNull::new(p).map(|p| (q, unsafe { &*p.as_ptr() }))
    })
}

unsafe extern "C" fn rx_queue_setup(
    dev: *mut sys::rte_eth_dev,
    queue: u16,
    nb_desc: u16,
    _socket: c_uint,
    _conf: *const sys::rte_eth_rxconf,
    pool: *mut sys::rte_mempool,
) -> c_int {
    let Some(pool) = NonNull::new(pool) else {
        return -libc::EINVAL;
    };
    // SAFETY: ethdev's own port; it checked `queue < nb_rx_queues` and
    // released any queue set up there before.
    let data = unsafe { data(dev) };
    let rxq = Box::new(RxQueue {
        ring: Ring::new(usize::from(nb_desc)),
        pool,
        counters: QueueCounters::default(),
    });
    // SAFETY: `queue < nb_rx_queues`, the length of `rx_queues`.
    unsafe { *data.rx_queues.add(usize::from(queue)) = Box::into_raw(rxq).cast() };
    0
}

/// Frees RX queue `queue` (and the mbufs left in its ring).
///
/// # Safety
/// `dev` is a stopped port of this driver and `queue < nb_rx_queues`.
unsafe extern "C" fn rx_queue_release(dev: *mut sys::rte_eth_dev, queue: u16) {
    // SAFETY: ethdev's own port.
    let data = unsafe { data(dev) };
    if queue >= data.nb_rx_queues || data.rx_queues.is_null() {
        return;
    }
    // SAFETY: in bounds (checked); the entry is null or a `Box<RxQueue>`
    // pointer, taken here once. The port is stopped, so no burst runs on it
    // and the switch (stopped with the PF) does not fill it.
    let p =
        unsafe { std::ptr::replace(data.rx_queues.add(usize::from(queue)), std::ptr::null_mut()) };
    if !p.is_null() {
        // SAFETY: made by `Box::into_raw` in set-up.
        drop(unsafe { Box::from_raw(p.cast::<RxQueue>()) });
    }
}

unsafe extern "C" fn tx_queue_setup(
    dev: *mut sys::rte_eth_dev,
    queue: u16,
    _nb_desc: u16,
    _socket: c_uint,
    _conf: *const sys::rte_eth_txconf,
) -> c_int {
    // SAFETY: a port of this driver, not closed.
    let port = unsafe { port(dev) };
    // SAFETY: ethdev's own port; it checked `queue < nb_tx_queues`.
    let data = unsafe { data(dev) };
    let txq = Box::new(TxQueue {
        dev: Arc::clone(&port.dev),
        role: port.role,
        counters: QueueCounters::default(),
    });
    // SAFETY: `queue < nb_tx_queues`, the length of `tx_queues`.
    unsafe { *data.tx_queues.add(usize::from(queue)) = Box::into_raw(txq).cast() };
    0
}

/// Frees TX queue `queue`.
///
/// # Safety
/// `dev` is a stopped port of this driver and `queue < nb_tx_queues`.
unsafe extern "C" fn tx_queue_release(dev: *mut sys::rte_eth_dev, queue: u16) {
    // SAFETY: ethdev's own port.
    let data = unsafe { data(dev) };
    if queue >= data.nb_tx_queues || data.tx_queues.is_null() {
        return;
    }
    // SAFETY: as in `rx_queue_release`, for `tx_queues`.
    let p =
        unsafe { std::ptr::replace(data.tx_queues.add(usize::from(queue)), std::ptr::null_mut()) };
    if !p.is_null() {
        // SAFETY: made by `Box::into_raw` in set-up.
        drop(unsafe { Box::from_raw(p.cast::<TxQueue>()) });
    }
}

/// One range of VF representors of PF 0, ids equal to VF numbers (mlx5
/// encodes PF and type in the id's high bits; one PF needs no such encoding).
unsafe extern "C" fn representor_info_get(
    _dev: *mut sys::rte_eth_dev,
    info: *mut sys::rte_eth_representor_info,
) -> c_int {
    const RANGES: c_int = 1;
    // SAFETY: ethdev passes null (to ask how many ranges) or an info with
    // room for `nb_ranges_alloc` ranges.
    let Some(info) = (unsafe { info.as_mut() }) else {
        return RANGES;
    };
    info.controller = 0;
    info.pf = 0;
    info.nb_ranges = 0;
    if info.nb_ranges_alloc == 0 {
        return RANGES;
    }
    // SAFETY: room for at least one range (checked above).
    let range = unsafe { &mut *info.ranges.as_mut_ptr() };
    range.type_ = sys::RTE_ETH_REPRESENTOR_VF;
    range.controller = 0;
    range.pf = 0;
    range.__bindgen_anon_1.vf = 0;
    range.id_base = 0;
    range.id_end = u32::from(flowlift_nic::devargs::MAX_VFS);
    let name = b"pf0vf\0";
    for (d, s) in range.name.iter_mut().zip(name) {
        *d = *s as std::ffi::c_char;
    }
    info.nb_ranges = 1;
    RANGES
}

/// Locks a mutex of the control path; a poisoned one (a panic elsewhere,
/// which aborts in release builds) still holds consistent data here.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) use rxtx::{rx_burst, tx_burst};
