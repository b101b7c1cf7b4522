//! Probe and remove: the vdev bus hands over `net_flowlift<N>,<devargs>`; the
//! driver makes the model NIC and its ports (the PF first, then one
//! representor per VF, in VF order, as the port numbering needs).

use std::ffi::{c_int, CStr, CString};
use std::sync::{Arc, Mutex};

use dpdk_driver_sys as sys;
use flowlift_nic::Nic;

use crate::log;
use crate::port::{self, lock, Device, Port, PrivSlot, Role};

/// The ports each probed device made, by device name, so that `remove` can
/// close those the application left open.
static DEVICES: Mutex<Vec<(String, Vec<CString>)>> = Mutex::new(Vec::new());

/// The vdev bus's probe for one `net_flowlift` device.
///
/// # Safety
/// `vdev` is a device the vdev bus is probing with this driver.
pub(crate) unsafe extern "C" fn probe(vdev: *mut sys::rte_vdev_device) -> c_int {
    // SAFETY: the bus passes a live device; its name and args are
    // NUL-terminated strings owned by the bus (args "" when none).
    let (name, args) = unsafe {
        let name = sys::rte_vdev_device_name(vdev);
        let args = sys::rte_vdev_device_args(vdev);
        if name.is_null() {
            return -libc::EINVAL;
        }
        let args = if args.is_null() {
            "".into()
        } else {
            CStr::from_ptr(args).to_string_lossy()
        };
        (
            CStr::from_ptr(name).to_string_lossy().into_owned(),
            args.into_owned(),
        )
    };
    // SAFETY: a plain query of EAL's state.
    if unsafe { sys::rte_eal_process_type() } != sys::RTE_PROC_PRIMARY {
        log::err(&format!(
            "{name}: only a primary process can run the model NIC"
        ));
        return -libc::ENOTSUP;
    }
    let nic = match Nic::from_devargs(&args) {
        Ok(nic) => nic,
        Err(e) => {
            log::err(&format!("{name}: {e}"));
            return -libc::EINVAL;
        }
    };
    // SAFETY: `vdev` as above.
    match unsafe { make_ports(vdev, &name, nic) } {
        Ok(ports) => {
            log::notice(&format!(
                "{name}: {} port(s): PF {} and {} VF representor(s)",
                ports.len(),
                name,
                ports.len() - 1
            ));
            lock(&DEVICES).push((name, ports));
            0
        }
        Err(e) => e,
    }
}

/// Allocates the PF's and the representors' ethdev ports for `nic`; returns
/// their names. On failure, nothing is left allocated.
///
/// # Safety
/// `vdev` is a device the vdev bus is probing with this driver.
unsafe fn make_ports(
    vdev: *mut sys::rte_vdev_device,
    name: &str,
    nic: Nic,
) -> Result<Vec<CString>, c_int> {
    let mut domain_id = 0u16;
    // SAFETY: writes one u16.
    if unsafe { sys::rte_eth_switch_domain_alloc(&mut domain_id) } != 0 {
        log::err(&format!("{name}: no switch domain left"));
        return Err(-libc::ENOSPC);
    }
    // SAFETY: `vdev` as above; the private area is one pointer.
    let pf = unsafe { sys::rte_eth_vdev_allocate(vdev, std::mem::size_of::<PrivSlot>()) };
    if pf.is_null() {
        // SAFETY: allocated just above, used by no port.
        unsafe { sys::rte_eth_switch_domain_free(domain_id) };
        log::err(&format!("{name}: cannot allocate the PF port"));
        return Err(-libc::ENOMEM);
    }
    // SAFETY: a freshly allocated port with its data.
    let pf_port = unsafe { (*(*pf).data).port_id };
    let vfs: Vec<u16> = nic.vfs().collect();
    let dev = Arc::new(Device {
        nic,
        pf_name: CString::new(name).unwrap_or_default(),
        ports: std::sync::OnceLock::new(),
        domain_id,
        uplink: Mutex::new(None),
        started: crate::switch::slots(vfs.len()),
    });
    let mut ports = vec![(pf, Role::Pf)];
    let mut names = vec![dev.pf_name.clone()];
    // SAFETY: `pf` is ours, its private area one pointer.
    let mut result = unsafe { init_port(pf, &dev, Role::Pf, pf_port) };
    for &vf in &vfs {
        if result.is_err() {
            break;
        }
        let rname = CString::new(format!("{name}_representor_vf{vf}")).unwrap_or_default();
        // SAFETY: `vdev` as above; `rname` is NUL-terminated.
        match unsafe { allocate_representor(vdev, &rname) } {
            Some(eth) => {
                ports.push((eth, Role::Vf(vf)));
                names.push(rname);
                // SAFETY: `eth` is ours, its private area one pointer.
                result = unsafe { init_port(eth, &dev, Role::Vf(vf), pf_port) };
            }
            None => {
                log::err(&format!("{name}: cannot allocate the port of VF {vf}"));
                result = Err(-libc::ENOMEM);
            }
        }
    }
    if result.is_ok() {
        let ids = ports
            .iter()
            // SAFETY: ports allocated above, with their data.
            .map(|(eth, role)| (unsafe { (*(**eth).data).port_id }, *role))
            .collect();
        let _ = dev.ports.set(ids);
    }
    drop(dev);
    if let Err(e) = result {
        for (eth, _) in ports {
            // SAFETY: ports allocated above and never announced; taking back
            // the `Port` (if set) then releasing the port frees everything
            // (the device with the last `Port`).
            unsafe { discard_port(eth) };
        }
        return Err(e);
    }
    for (eth, _) in ports {
        // SAFETY: every port is fully set up: announce it to applications.
        unsafe { sys::rte_eth_dev_probing_finish(eth) };
    }
    Ok(names)
}

/// A representor port on `vdev`'s device, with a private area of one pointer.
///
/// # Safety
/// `vdev` is a device the vdev bus is probing with this driver.
unsafe fn allocate_representor(
    vdev: *mut sys::rte_vdev_device,
    name: &CStr,
) -> Option<*mut sys::rte_eth_dev> {
    // SAFETY: `name` is NUL-terminated.
    let eth = unsafe { sys::rte_eth_dev_allocate(name.as_ptr()) };
    if eth.is_null() {
        return None;
    }
    // SAFETY: a freshly allocated port; the private area is freed by
    // `rte_eth_dev_release_port`, as for ports from `rte_eth_vdev_allocate`.
    unsafe {
        let numa = (*vdev).device.numa_node;
        let private =
            sys::rte_zmalloc_socket(name.as_ptr(), std::mem::size_of::<PrivSlot>(), 0, numa);
        if private.is_null() {
            sys::rte_eth_dev_release_port(eth);
            return None;
        }
        (*(*eth).data).dev_private = private;
        (*eth).device = &mut (*vdev).device;
        (*(*eth).data).numa_node = numa;
    }
    Some(eth)
}

/// Fills in a port: its `Port`, MAC address, ops, burst functions, flags.
///
/// # Safety
/// `eth` is a port this probe allocated, with a zeroed private area of one
/// pointer.
unsafe fn init_port(
    eth: *mut sys::rte_eth_dev,
    dev: &Arc<Device>,
    role: Role,
    pf_port: u16,
) -> Result<(), c_int> {
    // SAFETY: an allocated port; `data` is ethdev's.
    let data = unsafe { &mut *(*eth).data };
    // SAFETY: a request for 6 zeroed bytes; ethdev frees `mac_addrs` with
    // `rte_free` on release.
    let mac = unsafe {
        sys::rte_zmalloc(
            c"net_flowlift_mac".as_ptr(),
            std::mem::size_of::<sys::rte_ether_addr>(),
            0,
        )
    }
    .cast::<sys::rte_ether_addr>();
    if mac.is_null() {
        return Err(-libc::ENOMEM);
    }
    // A locally administered unicast address: 02:f1:00:<PF port>:<kind>:<VF>.
    let (kind, vf) = match role {
        Role::Pf => (0, 0),
        Role::Vf(vf) => (1, vf as u8),
    };
    // SAFETY: `mac` is a fresh allocation of one address.
    unsafe { (*mac).addr_bytes = [0x02, 0xf1, 0x00, pf_port as u8, kind, vf] };
    data.mac_addrs = mac;
    let slot = data.dev_private.cast::<PrivSlot>();
    let port = Box::into_raw(Box::new(Port::new(Arc::clone(dev), role)));
    // SAFETY: the private area is one pointer, zeroed; `dev_close` (or
    // `discard_port`) takes the `Box` back.
    unsafe { slot.write(port) };
    data.dev_flags |= sys::FLOWLIFT_ETH_DEV_AUTOFILL_QUEUE_XSTATS;
    if let Role::Vf(vf) = role {
        data.dev_flags |= sys::FLOWLIFT_ETH_DEV_REPRESENTOR;
        data.representor_id = vf;
        data.backer_port_id = pf_port;
    }
    // SAFETY: an allocated port of this driver.
    unsafe {
        (*eth).dev_ops = &port::OPS;
        (*eth).rx_pkt_burst = Some(port::rx_burst);
        (*eth).tx_pkt_burst = Some(port::tx_burst);
    }
    Ok(())
}

/// Undoes a port of a failed probe.
///
/// # Safety
/// `eth` is a port this probe allocated and did not announce.
unsafe fn discard_port(eth: *mut sys::rte_eth_dev) {
    // SAFETY: as stated; the slot is null or a `Box<Port>` from `init_port`.
    unsafe {
        let slot = (*(*eth).data).dev_private.cast::<PrivSlot>();
        if !slot.is_null() {
            let port = std::ptr::replace(slot, std::ptr::null_mut());
            if !port.is_null() {
                drop(Box::from_raw(port));
            }
        }
        sys::rte_eth_dev_release_port(eth);
    }
}

/// The vdev bus's remove (hot-unplug, or EAL clean-up): stops and closes the
/// device's ports that the application left open.
///
/// # Safety
/// `vdev` is a device this driver probed.
pub(crate) unsafe extern "C" fn remove(vdev: *mut sys::rte_vdev_device) -> c_int {
    // SAFETY: the bus passes a live device with its name.
    let name = unsafe {
        let n = sys::rte_vdev_device_name(vdev);
        if n.is_null() {
            return -libc::EINVAL;
        }
        CStr::from_ptr(n).to_string_lossy().into_owned()
    };
    let ports = {
        let mut devices = lock(&DEVICES);
        match devices.iter().position(|(n, _)| *n == name) {
            Some(i) => devices.remove(i).1,
            None => return -libc::ENODEV,
        }
    };
    for pname in ports {
        // SAFETY: `pname` is NUL-terminated; the port, if still allocated, is
        // ours (names are unique among ethdev ports).
        unsafe {
            let eth = sys::rte_eth_dev_allocated(pname.as_ptr());
            if eth.is_null() {
                continue;
            }
            let id = (*(*eth).data).port_id;
            if (*(*eth).data).dev_started() != 0 {
                sys::rte_eth_dev_stop(id);
            }
            sys::rte_eth_dev_close(id);
        }
    }
    0
}
