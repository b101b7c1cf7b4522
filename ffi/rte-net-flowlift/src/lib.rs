//! `net_flowlift`: the model NIC of `flowlift-nic` as a DPDK 22.11 poll-mode
//! driver for a virtual device, so that any DPDK application drives it through
//! ethdev and rte_flow and rte_mtr exactly as it drives a ConnectX.
//!
//! `--vdev net_flowlift0,wire=F,loops=1,representor=vf[0-3]` makes port 0, the
//! PF (uplink), whose wire replays the capture F, and ports 1-4, the
//! representors of VFs 0-3. Built as `librte_net_flowlift.so`, it loads into
//! any DPDK 22.11 application with `-d` (from a directory that is not world
//! writable: EAL refuses plugins from one such as /tmp).
//!
//! This crate is C-ABI glue only: registration, probe/remove, `eth_dev_ops`
//! (with RSS in `rss.rs` and the switch thread's start and stop in
//! `switch.rs`), the burst functions, mbufs, `rte_flow_ops` (`flow.rs`, with
//! the indirect COUNT handles of `indirect.rs`) and `rte_mtr_ops` (`mtr.rs`).
//! What the NIC does is `flowlift-nic`'s, in safe Rust. Every `unsafe` block
//! here says why it holds.

mod flow;
mod indirect;
mod log;
mod mtr;
mod port;
mod probe;
mod rss;
mod rxtx;
mod switch;

use std::cell::UnsafeCell;
use std::ffi::CStr;
use std::ptr::{null, null_mut};

use dpdk_driver_sys as sys;

/// The driver's name, as `--vdev` and `-d` users spell it.
pub const DRIVER_NAME: &CStr = c"net_flowlift";

/// The vdev driver description DPDK links into its driver list.
struct DriverCell(UnsafeCell<sys::rte_vdev_driver>);

// SAFETY: DPDK writes the description (its list links) only in
// `rte_vdev_register`, called once from the load-time constructor below,
// before any other thread can reach it, and in `rte_vdev_unregister`, never
// called; Rust code only takes its address.
unsafe impl Sync for DriverCell {}

static DRIVER: DriverCell = DriverCell(UnsafeCell::new(sys::rte_vdev_driver {
    next: sys::rte_vdev_driver__bindgen_ty_1 {
        tqe_next: null_mut(),
        tqe_prev: null_mut(),
    },
    driver: sys::rte_driver {
        next: sys::rte_driver__bindgen_ty_1 {
            tqe_next: null_mut(),
            tqe_prev: null_mut(),
        },
        name: DRIVER_NAME.as_ptr(),
        alias: null(),
    },
    probe: Some(probe::probe),
    remove: Some(probe::remove),
    dma_map: None,
    dma_unmap: None,
    drv_flags: 0,
}));

/// Registers the driver with the vdev bus when the object is loaded (by the
/// dynamic loader for `-d`, or at start-up when linked in), as
/// `RTE_PMD_REGISTER_VDEV` does with a constructor.
#[used]
#[link_section = ".init_array"]
static REGISTER: extern "C" fn() = register;

extern "C" fn register() {
    log::init();
    // SAFETY: DRIVER is a 'static description whose probe and remove are this
    // crate's; the vdev bus keeps the pointer for the life of the process and
    // only links it into its driver list (see `DriverCell`).
    unsafe { sys::rte_vdev_register(DRIVER.0.get()) }
}
