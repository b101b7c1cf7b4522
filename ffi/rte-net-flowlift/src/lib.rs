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

/// Keeps the driver in a program that links this crate as an rlib (flowlift's
/// own binary, which calls it), so that it registers at start-up exactly as it
/// does when a DPDK application loads `librte_net_flowlift.so` with `-d`.
///
/// Why a call is needed: the registration is a function pointer in the
/// `.init_array` section (`REGISTER`), which nothing calls or names. `#[used]`
/// keeps it from the compiler, not from the linker: an rlib reaches the
/// linker as an archive, and the linker takes an archive member (the object
/// of one codegen unit) only when it defines a symbol that something already
/// taken refers to. Nothing in an application refers to a PMD (DPDK finds it
/// by name in the list the constructor links it into), so the object holding
/// `REGISTER` may be left out (in flowlift's dev build it is: EAL then stops
/// at `--vdev net_flowlift0,...` with `failed to parse device
/// "net_flowlift0"`, ENODEV, as for an unknown driver). This function refers to
/// `REGISTER` itself, so calling it links the object that holds it, whichever
/// codegen unit that is; `black_box` keeps the reference from being optimised
/// away. (The cdylib needs no call: a shared object is linked from all of its
/// crate's own objects, and the linker keeps every `.init_array` entry of the
/// objects it takes.) Calling it does nothing at run time.
#[inline(never)]
pub fn link() {
    std::hint::black_box(&REGISTER);
}

extern "C" fn register() {
    log::init();
    // SAFETY: runs at load, on the loading thread, before any probe: see
    // `already_registered`.
    if unsafe { already_registered() } {
        log::err(
            "another copy of this driver is already registered (built into the application, or \
             loaded before from another file): this copy stays unregistered and the first one \
             serves every net_flowlift device; load librte_net_flowlift.so only into \
             applications that do not have it built in (flowlift has)",
        );
        return;
    }
    // SAFETY: DRIVER is a 'static description whose probe and remove are this
    // crate's; the vdev bus keeps the pointer for the life of the process and
    // only links it into its driver list (see `DriverCell`).
    unsafe { sys::rte_vdev_register(DRIVER.0.get()) }
}

/// Whether the vdev bus already holds a driver named `net_flowlift` other
/// than this copy's: another copy of this crate in the process (the driver
/// built into the application, and the `.so` loaded with `-d` too). DPDK
/// 22.11's `rte_vdev_register` does not refuse a second driver of the same
/// name: it appends it, and the bus probes each device with the first driver
/// whose name matches, so a second registration would only leave a copy that
/// never runs. Asks the bus's own `parse` (its lookup of a driver by device
/// name, as EAL uses it for `--vdev`), which walks the registered drivers.
///
/// # Safety
/// Called from the load-time constructor: the vdev bus (a library this object
/// depends on, so constructed before it) is registered, and nothing else
/// changes its driver list meanwhile.
unsafe fn already_registered() -> bool {
    // SAFETY: a lookup in EAL's bus list by a NUL-terminated name.
    let bus = unsafe { sys::rte_bus_find_by_name(c"vdev".as_ptr()) };
    // SAFETY: a non-null bus from EAL's list is a live, 'static `rte_bus`.
    let Some(parse) = (unsafe { bus.as_ref() }).and_then(|b| b.parse) else {
        return false;
    };
    let mut found: *mut sys::rte_vdev_driver = null_mut();
    // SAFETY: the vdev bus's parse takes a device name and, as its address
    // argument, a `struct rte_vdev_driver **` it writes the match to.
    let miss = unsafe {
        parse(
            DRIVER_NAME.as_ptr(),
            (&mut found as *mut *mut sys::rte_vdev_driver).cast(),
        )
    };
    if miss != 0 || found.is_null() || found == DRIVER.0.get() {
        return false;
    }
    // SAFETY: `found` is a registered driver, 'static as every registered
    // one; its name is a NUL-terminated string it owns. The bus matches names
    // by prefix, so only an exact name is this driver's.
    unsafe {
        let name = (*found).driver.name;
        !name.is_null() && CStr::from_ptr(name) == DRIVER_NAME
    }
}
