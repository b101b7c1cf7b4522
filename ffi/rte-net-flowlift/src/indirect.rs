//! rte_flow's indirect actions (`rte_flow_action_handle_*`): the model's
//! indirect COUNTs, which rules name with an INDIRECT action and which
//! outlive them (destroy the rule, then read the handle: the final count).
//!
//! A handle is its id in the model (never 0), not a pointer to memory, as
//! rule handles are (see `flow.rs`).

use std::ffi::{c_int, c_void};

use dpdk_driver_sys as sys;
use flowlift_nic::flow::{At, Errno, FlowError};

use crate::flow::{answer_count, me, read_action, report};
use crate::port::port;

/// `rte_flow_ops.action_handle_create`: COUNT only; its attributes
/// (ingress, egress, transfer) do not matter to a counter.
pub(crate) unsafe extern "C" fn action_handle_create(
    dev: *mut sys::rte_eth_dev,
    _conf: *const sys::rte_flow_indir_action_conf,
    action: *const sys::rte_flow_action,
    error: *mut sys::rte_flow_error,
) -> *mut sys::rte_flow_action_handle {
    // SAFETY: rte_flow passes an open port of this driver.
    let port = unsafe { port(dev) };
    // SAFETY: rte_flow passes the action (or null), its conf as its type says.
    let Some(a) = (unsafe { action.as_ref() }) else {
        let e = FlowError {
            errno: Errno::Invalid,
            at: At::Action(0),
            message: "no action",
        };
        // SAFETY: `error` is rte_flow's.
        unsafe { report(error, e, None) };
        return std::ptr::null_mut();
    };
    // SAFETY: as above.
    let action = unsafe { read_action(&port.dev, me(port), a) };
    match port.dev.nic.rules().handle_create(me(port), &action) {
        // The id (never 0) is the handle.
        Ok(h) => h as usize as *mut sys::rte_flow_action_handle,
        Err(e) => {
            // SAFETY: `error` is rte_flow's.
            unsafe { report(error, e, None) };
            std::ptr::null_mut()
        }
    }
}

/// `rte_flow_ops.action_handle_destroy`: refused while a rule names it.
pub(crate) unsafe extern "C" fn action_handle_destroy(
    dev: *mut sys::rte_eth_dev,
    handle: *mut sys::rte_flow_action_handle,
    error: *mut sys::rte_flow_error,
) -> c_int {
    // SAFETY: rte_flow passes an open port of this driver.
    let port = unsafe { port(dev) };
    match port
        .dev
        .nic
        .rules()
        .handle_destroy(me(port), handle as usize as u64)
    {
        Ok(()) => 0,
        // SAFETY: `error` is rte_flow's.
        Err(e) => unsafe { report(error, e, None) },
    }
}

/// `rte_flow_ops.action_handle_query`: `data` is an `rte_flow_query_count`
/// (the only kind of handle there is); its `reset` starts the count again.
pub(crate) unsafe extern "C" fn action_handle_query(
    dev: *mut sys::rte_eth_dev,
    handle: *const sys::rte_flow_action_handle,
    data: *mut c_void,
    error: *mut sys::rte_flow_error,
) -> c_int {
    // SAFETY: rte_flow passes an open port of this driver.
    let port = unsafe { port(dev) };
    let rules = port.dev.nic.rules();
    // SAFETY: for an indirect COUNT, `data` is the caller's
    // `rte_flow_query_count`; `error` is rte_flow's.
    unsafe {
        answer_count(data, error, |reset| {
            rules.handle_query(me(port), handle as usize as u64, reset)
        })
    }
}
