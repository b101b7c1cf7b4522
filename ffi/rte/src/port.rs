//! Ethdev ports: configuration, start/stop, link, stats and xstats, and the RX/TX
//! queues the workers poll.
//!
//! A [`Port`] is a shared handle (`Arc`); every queue taken from it holds one, so
//! the port is stopped and closed only when the control thread and every worker
//! have let go of it.
//!
//! One owner per port: [`Port::by_name`] and [`Port::by_id`] look the id up in
//! the registry of open ports that the [`Eal`] keeps, and hand out the handle
//! already open if there is one, so there is only ever one shared state to stop
//! and close the device. A port whose handles are all gone has been closed, and
//! DPDK has released it; looking it up again is refused.

use std::ffi::CString;
use std::os::raw::c_char;
use std::sync::Arc;

use crate::eal::EalShared;
use crate::error::port_ret;
use crate::{Eal, Error, MbufBurst, Mempool, PortId, QueueId, MAX_BURST};

/// How to set a port up.
#[derive(Debug, Clone)]
pub struct PortConfig {
    /// RX queues (one per worker that polls this port).
    pub rx_queues: u16,
    /// TX queues (one per worker, so no TX queue is ever shared).
    pub tx_queues: u16,
    /// RX descriptors per queue (adjusted to the device's limits).
    pub rx_desc: u16,
    /// TX descriptors per queue (adjusted to the device's limits).
    pub tx_desc: u16,
    /// Spread flows over the RX queues by RSS on IP addresses and L4 ports.
    pub rss: bool,
    /// Receive every frame, whatever its destination MAC.
    pub promiscuous: bool,
}

impl Default for PortConfig {
    fn default() -> Self {
        PortConfig {
            rx_queues: 1,
            tx_queues: 1,
            rx_desc: 1024,
            tx_desc: 1024,
            rss: true,
            promiscuous: true,
        }
    }
}

/// What the driver says about the device.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    /// Driver name, e.g. `net_pcap`, `mlx5_pci`.
    pub driver: String,
    /// Most RX queues the device offers.
    pub max_rx_queues: u16,
    /// Most TX queues the device offers.
    pub max_tx_queues: u16,
    /// RX offload capability bits (`RTE_ETH_RX_OFFLOAD_*`).
    pub rx_offload_capa: u64,
    /// RSS hash types the device supports (`RTE_ETH_RSS_*`).
    pub rss_offloads: u64,
}

/// Basic counters (`rte_eth_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    /// Packets the NIC dropped for lack of RX descriptors.
    pub rx_missed: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    /// RX mbuf allocation failures.
    pub rx_nombuf: u64,
}

/// One extended statistic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Xstat {
    pub name: String,
    pub value: u64,
}

/// Link state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    pub up: bool,
    /// Mbit/s (0 when unknown).
    pub speed_mbps: u32,
    pub full_duplex: bool,
}

/// The one owner of an open port, shared by its handles and queues.
pub(crate) struct PortShared {
    id: PortId,
    name: String,
    // Keeps a handle of the pool the RX queues draw from (the pool itself lives
    // until EAL's clean-up either way).
    pool: std::sync::Mutex<Option<Arc<Mempool>>>,
    started: std::sync::atomic::AtomicBool,
    // Keeps EAL from being cleaned up while the port is open. Dropped after
    // `drop` below has closed the device.
    _eal: Arc<EalShared>,
}

impl Drop for PortShared {
    fn drop(&mut self) {
        // SAFETY: the last handle to the port is gone, so no queue is polled; it
        // was the only owner of this port id (the registry hands out no second
        // one, and refuses the id from now on); EAL is alive (`_eal`). Stop then
        // close releases its queues (net_pcap flushes its dumpers here).
        unsafe {
            if self.started.load(std::sync::atomic::Ordering::Relaxed) {
                dpdk_sys::rte_eth_dev_stop(self.id.0);
            }
            dpdk_sys::rte_eth_dev_close(self.id.0);
        }
    }
}

/// A shared handle to an ethdev port. Handles to one port are equal: they share
/// its one owner.
///
/// A port cannot be opened without EAL:
///
/// ```compile_fail,E0061
/// let port = rte::Port::by_name("net_null0");
/// ```
///
/// but only from it:
///
/// ```no_run
/// # fn f(eal: &rte::Eal) -> Result<(), rte::Error> {
/// let a = rte::Port::by_name(eal, "net_null0")?;
/// let b = rte::Port::by_id(eal, a.id())?;
/// assert_eq!(a, b); // one owner: the second lookup shares the first
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Port {
    shared: Arc<PortShared>,
}

impl PartialEq for Port {
    fn eq(&self, other: &Port) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl Eq for Port {}

impl std::fmt::Debug for Port {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}({})", self.shared.id, self.shared.name)
    }
}

impl Port {
    /// The port DPDK knows by `name` (a vdev's name such as `net_pcap0`, or a PCI
    /// address): the handle already open if there is one.
    pub fn by_name(eal: &Eal, name: &str) -> Result<Port, Error> {
        let cname = CString::new(name).map_err(|_| Error::BadArgument(name.to_owned()))?;
        let mut id: u16 = 0;
        // SAFETY: cname is a valid C string and id a valid out-pointer; EAL is
        // initialised (we borrow it).
        let ret = unsafe { dpdk_sys::rte_eth_dev_get_port_by_name(cname.as_ptr(), &mut id) };
        if ret != 0 {
            return Err(Error::NoSuchPort(name.to_owned()));
        }
        Port::open(eal, PortId(id), name)
    }

    /// The port with id `id` (it must exist): the handle already open if there is
    /// one.
    pub fn by_id(eal: &Eal, id: PortId) -> Result<Port, Error> {
        // SAFETY: validity check only reads the port table; EAL is initialised.
        if unsafe { dpdk_sys::rte_eth_dev_is_valid_port(id.0) } == 0 {
            return Err(Error::NoSuchPort(format!("{id:?}")));
        }
        let mut buf = [0 as c_char; dpdk_sys::RTE_ETH_NAME_MAX_LEN as usize];
        // SAFETY: buf has RTE_ETH_NAME_MAX_LEN bytes, as the call requires.
        unsafe { dpdk_sys::rte_eth_dev_get_name_by_port(id.0, buf.as_mut_ptr()) };
        Port::open(eal, id, &crate::cstr_to_string(buf.as_ptr()))
    }

    /// The one owner of port `id`, from the registry or made and registered now;
    /// the lock is held from lookup to insertion, so two threads cannot both make
    /// one.
    fn open(eal: &Eal, id: PortId, name: &str) -> Result<Port, Error> {
        let mut ports = eal.shared().ports.lock().expect("port registry");
        if let Some(weak) = ports.get(&id.0) {
            // A dead entry: the port's last handle is gone, so it is being or has
            // been closed; a second owner now would have its device closed
            // under it.
            return weak
                .upgrade()
                .map(|shared| Port { shared })
                .ok_or(Error::PortClosed(id));
        }
        let shared = Arc::new(PortShared {
            id,
            name: name.to_owned(),
            pool: std::sync::Mutex::new(None),
            started: std::sync::atomic::AtomicBool::new(false),
            _eal: Arc::clone(eal.shared()),
        });
        ports.insert(id.0, Arc::downgrade(&shared));
        Ok(Port { shared })
    }

    /// The port id.
    pub fn id(&self) -> PortId {
        self.shared.id
    }

    /// DPDK's name of the device.
    pub fn device_name(&self) -> &str {
        &self.shared.name
    }

    /// What the driver reports about the device.
    pub fn info(&self) -> Result<DeviceInfo, Error> {
        let raw = self.raw_info()?;
        Ok(DeviceInfo {
            driver: crate::cstr_to_string(raw.driver_name),
            max_rx_queues: raw.max_rx_queues,
            max_tx_queues: raw.max_tx_queues,
            rx_offload_capa: raw.rx_offload_capa,
            rss_offloads: raw.flow_type_rss_offloads,
        })
    }

    pub(crate) fn raw_info(&self) -> Result<dpdk_sys::rte_eth_dev_info, Error> {
        let mut info = dpdk_sys::rte_eth_dev_info::default();
        // SAFETY: info is a valid out-pointer for the call.
        let ret = unsafe { dpdk_sys::rte_eth_dev_info_get(self.id().0, &mut info) };
        port_ret(self.id(), "dev_info_get", ret)?;
        Ok(info)
    }

    /// The device's MAC address.
    pub fn mac(&self) -> Result<[u8; 6], Error> {
        let mut addr = dpdk_sys::rte_ether_addr::default();
        // SAFETY: addr is a valid out-pointer.
        let ret = unsafe { dpdk_sys::rte_eth_macaddr_get(self.id().0, &mut addr) };
        port_ret(self.id(), "macaddr_get", ret)?;
        Ok(addr.addr_bytes)
    }

    /// Configures queues and descriptors, sets each queue up on `pool`, and returns
    /// the queues. Call [`Port::start`] afterwards.
    pub fn configure(
        &self,
        cfg: &PortConfig,
        pool: &Arc<Mempool>,
    ) -> Result<(Vec<RxQueue>, Vec<TxQueue>), Error> {
        let id = self.id();
        let info = self.raw_info()?;
        if cfg.rx_queues > info.max_rx_queues || cfg.tx_queues > info.max_tx_queues {
            return Err(Error::PortConfig {
                port: id,
                msg: format!(
                    "asked for {} RX / {} TX queues, the device offers at most {} / {}",
                    cfg.rx_queues, cfg.tx_queues, info.max_rx_queues, info.max_tx_queues
                ),
            });
        }
        let mut conf = dpdk_sys::rte_eth_conf::default();
        if cfg.rss && cfg.rx_queues > 1 {
            let wanted = crate::rss::IP_TCP_UDP & info.flow_type_rss_offloads;
            if wanted != 0 {
                conf.rxmode.mq_mode = dpdk_sys::RTE_ETH_MQ_RX_RSS;
                conf.rx_adv_conf.rss_conf.rss_hf = wanted;
            }
        }
        // SAFETY: conf is a fully initialised configuration for this call.
        let ret =
            unsafe { dpdk_sys::rte_eth_dev_configure(id.0, cfg.rx_queues, cfg.tx_queues, &conf) };
        port_ret(id, "configure", ret)?;

        let (mut rx_desc, mut tx_desc) = (cfg.rx_desc, cfg.tx_desc);
        // SAFETY: both are valid in/out pointers.
        let ret =
            unsafe { dpdk_sys::rte_eth_dev_adjust_nb_rx_tx_desc(id.0, &mut rx_desc, &mut tx_desc) };
        port_ret(id, "adjust_nb_rx_tx_desc", ret)?;
        // SAFETY: reads the port's NUMA socket; -1 (any) is a valid answer.
        let socket = unsafe { dpdk_sys::rte_eth_dev_socket_id(id.0) };
        let socket = if socket < 0 { 0 } else { socket as u32 };

        let mut rxqs = Vec::with_capacity(cfg.rx_queues as usize);
        for q in 0..cfg.rx_queues {
            // SAFETY: the port is configured with this many queues; the pool lives
            // until EAL's clean-up, which the port's share of EAL holds off.
            let ret = unsafe {
                dpdk_sys::rte_eth_rx_queue_setup(
                    id.0,
                    q,
                    rx_desc,
                    socket,
                    std::ptr::null(),
                    pool.as_ptr(),
                )
            };
            port_ret(id, "rx_queue_setup", ret)?;
            rxqs.push(RxQueue {
                port: self.clone(),
                queue: QueueId(q),
                _pool: Arc::clone(pool),
            });
        }
        let mut txqs = Vec::with_capacity(cfg.tx_queues as usize);
        for q in 0..cfg.tx_queues {
            // SAFETY: the port is configured with this many TX queues.
            let ret = unsafe {
                dpdk_sys::rte_eth_tx_queue_setup(id.0, q, tx_desc, socket, std::ptr::null())
            };
            port_ret(id, "tx_queue_setup", ret)?;
            txqs.push(TxQueue {
                port: self.clone(),
                queue: QueueId(q),
            });
        }
        if cfg.promiscuous {
            // SAFETY: plain control call on a configured port. Virtual devices may
            // not support it; that is not an error for us.
            unsafe { dpdk_sys::rte_eth_promiscuous_enable(id.0) };
        }
        *self.shared.pool.lock().expect("pool lock") = Some(Arc::clone(pool));
        Ok((rxqs, txqs))
    }

    /// Starts the port.
    pub fn start(&self) -> Result<(), Error> {
        // SAFETY: plain control call; the port is configured.
        let ret = unsafe { dpdk_sys::rte_eth_dev_start(self.id().0) };
        port_ret(self.id(), "start", ret)?;
        self.shared
            .started
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Stops the port (its queues then receive and send nothing).
    pub fn stop(&self) -> Result<(), Error> {
        // SAFETY: plain control call.
        let ret = unsafe { dpdk_sys::rte_eth_dev_stop(self.id().0) };
        port_ret(self.id(), "stop", ret)?;
        self.shared
            .started
            .store(false, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Link state, without waiting for it to settle.
    pub fn link(&self) -> Result<Link, Error> {
        let mut link = dpdk_sys::rte_eth_link::default();
        // SAFETY: link is a valid out-pointer.
        let ret = unsafe { dpdk_sys::rte_eth_link_get_nowait(self.id().0, &mut link) };
        port_ret(self.id(), "link_get_nowait", ret)?;
        Ok(Link {
            up: link.link_status() != 0,
            speed_mbps: link.link_speed,
            full_duplex: link.link_duplex() != 0,
        })
    }

    /// Basic counters. Safe to call from the control thread while workers poll.
    pub fn stats(&self) -> Result<PortStats, Error> {
        let mut s = dpdk_sys::rte_eth_stats::default();
        // SAFETY: s is a valid out-pointer.
        let ret = unsafe { dpdk_sys::rte_eth_stats_get(self.id().0, &mut s) };
        port_ret(self.id(), "stats_get", ret)?;
        Ok(PortStats {
            rx_packets: s.ipackets,
            tx_packets: s.opackets,
            rx_bytes: s.ibytes,
            tx_bytes: s.obytes,
            rx_missed: s.imissed,
            rx_errors: s.ierrors,
            tx_errors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
        })
    }

    /// Resets the basic counters.
    pub fn reset_stats(&self) -> Result<(), Error> {
        // SAFETY: plain control call.
        let ret = unsafe { dpdk_sys::rte_eth_stats_reset(self.id().0) };
        port_ret(self.id(), "stats_reset", ret).map(|_| ())
    }

    /// Every extended statistic the driver offers, by name.
    pub fn xstats(&self) -> Result<Vec<Xstat>, Error> {
        let id = self.id().0;
        // SAFETY: a null array with size 0 asks for the count.
        let n = unsafe { dpdk_sys::rte_eth_xstats_get_names(id, std::ptr::null_mut(), 0) };
        let n = port_ret(self.id(), "xstats_get_names", n)? as usize;
        let mut names = vec![dpdk_sys::rte_eth_xstat_name::default(); n];
        let mut values = vec![dpdk_sys::rte_eth_xstat::default(); n];
        // SAFETY: both arrays hold n entries, as passed.
        let got = unsafe { dpdk_sys::rte_eth_xstats_get_names(id, names.as_mut_ptr(), n as u32) };
        port_ret(self.id(), "xstats_get_names", got)?;
        // SAFETY: as above.
        let got_v = unsafe { dpdk_sys::rte_eth_xstats_get(id, values.as_mut_ptr(), n as u32) };
        let got_v = port_ret(self.id(), "xstats_get", got_v)? as usize;
        Ok(values
            .iter()
            .take(got_v.min(n))
            .filter_map(|v| {
                names.get(v.id as usize).map(|name| Xstat {
                    name: crate::cstr_to_string(name.name.as_ptr()),
                    value: v.value,
                })
            })
            .collect())
    }
}

/// One RX queue of one port, polled by exactly one lcore.
#[derive(Debug)]
pub struct RxQueue {
    port: Port,
    queue: QueueId,
    _pool: Arc<Mempool>,
}

impl RxQueue {
    /// The port this queue belongs to.
    pub fn port(&self) -> &Port {
        &self.port
    }

    /// The queue index.
    pub fn queue(&self) -> QueueId {
        self.queue
    }

    /// Receives up to `max` packets (at most the burst's free room) at the end of
    /// `out`; returns how many arrived.
    #[inline]
    pub fn rx_burst(&mut self, out: &mut MbufBurst, max: usize) -> usize {
        let (ptr, room) = out.spare_raw();
        let want = (max.min(MAX_BURST) as u16).min(room);
        if want == 0 {
            return 0;
        }
        // SAFETY: ptr has `want` free slots; the queue is set up, and this lcore is
        // its only poller (RxQueue is not Sync and not Clone).
        let n = unsafe { dpdk_sys::rte_eth_rx_burst(self.port.id().0, self.queue.0, ptr, want) };
        // SAFETY: the PMD wrote n owned mbuf pointers into those slots.
        unsafe { out.commit(n as usize) };
        n as usize
    }
}

/// One TX queue of one port, used by exactly one lcore.
#[derive(Debug)]
pub struct TxQueue {
    port: Port,
    queue: QueueId,
}

impl TxQueue {
    /// The port this queue belongs to.
    pub fn port(&self) -> &Port {
        &self.port
    }

    /// The queue index.
    pub fn queue(&self) -> QueueId {
        self.queue
    }

    /// Sends from the front of `batch`; returns how many the NIC took. What it
    /// refused stays in `batch` (moved to the front), still owned by the caller:
    /// retry it, or `clear()` it and count the drop.
    #[inline]
    pub fn tx_burst(&mut self, batch: &mut MbufBurst) -> usize {
        let n = batch.len() as u16;
        if n == 0 {
            return 0;
        }
        // SAFETY: the first n slots hold owned mbufs; the PMD takes ownership of the
        // `sent` first ones, which consume_front then forgets.
        let sent = unsafe {
            dpdk_sys::rte_eth_tx_burst(self.port.id().0, self.queue.0, batch.raw_slots(), n)
        } as usize;
        batch.consume_front(sent);
        sent
    }
}
