//! `rte_mtr_ops`: capabilities, meter profiles, policies, meter objects and
//! their statistics, from rte_mtr's C structures to `flowlift_nic::mtr`'s
//! types and back. What is metered, kept or refused is the model's; this file
//! reads the C structures and reports refusals through `rte_mtr_error_set`.
//!
//! The switch has one set of meters: a meter made through any port of the
//! device may be named by the METER action of a rule on any of its ports.

use std::ffi::{c_int, c_void};

use dpdk_driver_sys as sys;
use flowlift_nic::flow::Action;
use flowlift_nic::meter::{Algorithm, Profile, Unit};
use flowlift_nic::mtr::{MeterParams, MeterStats, MtrAt, MtrError, Policy};

use crate::flow::{errno, message, read_action};
use crate::port::port;

/// Actions a policy's colour may list at most.
const MAX_POLICY_ACTIONS: usize = 16;

pub(crate) static MTR_OPS: sys::rte_mtr_ops = sys::rte_mtr_ops {
    capabilities_get: Some(capabilities_get),
    meter_profile_add: Some(meter_profile_add),
    meter_profile_delete: Some(meter_profile_delete),
    create: Some(create),
    destroy: Some(destroy),
    meter_enable: Some(meter_enable),
    meter_disable: Some(meter_disable),
    meter_profile_update: Some(meter_profile_update),
    stats_update: Some(stats_update),
    stats_read: Some(stats_read),
    meter_policy_validate: Some(meter_policy_validate),
    meter_policy_add: Some(meter_policy_add),
    meter_policy_delete: Some(meter_policy_delete),
    // SAFETY: `rte_mtr_ops` holds only optional function pointers, for which
    // all zero bits are `None` (NULL: "not supported" to rte_mtr).
    ..unsafe { std::mem::zeroed() }
};

/// `eth_dev_ops.mtr_ops_get`.
///
/// # Safety
/// `ops` points to writable storage for one `const struct rte_mtr_ops *`
/// (ethdev's contract).
pub(crate) unsafe extern "C" fn mtr_ops_get(
    _dev: *mut sys::rte_eth_dev,
    ops: *mut c_void,
) -> c_int {
    if ops.is_null() {
        return -libc::EINVAL;
    }
    // SAFETY: as stated; MTR_OPS is 'static.
    unsafe { ops.cast::<*const sys::rte_mtr_ops>().write(&MTR_OPS) };
    0
}

/// Reports `e` through `error` (which may be null); returns `-errno`.
///
/// # Safety
/// `error` is null or writable.
unsafe fn report(error: *mut sys::rte_mtr_error, e: MtrError) -> c_int {
    let kind = match e.at {
        MtrAt::Unspecified => sys::RTE_MTR_ERROR_TYPE_UNSPECIFIED,
        MtrAt::MeterProfileId => sys::RTE_MTR_ERROR_TYPE_METER_PROFILE_ID,
        MtrAt::MeterProfile => sys::RTE_MTR_ERROR_TYPE_METER_PROFILE,
        MtrAt::MtrId => sys::RTE_MTR_ERROR_TYPE_MTR_ID,
        MtrAt::MtrParams => sys::RTE_MTR_ERROR_TYPE_MTR_PARAMS,
        MtrAt::StatsMask => sys::RTE_MTR_ERROR_TYPE_STATS_MASK,
        MtrAt::Stats => sys::RTE_MTR_ERROR_TYPE_STATS,
        MtrAt::MeterPolicyId => sys::RTE_MTR_ERROR_TYPE_METER_POLICY_ID,
        MtrAt::MeterPolicy => sys::RTE_MTR_ERROR_TYPE_METER_POLICY,
    };
    // SAFETY: `error` is null or writable (rte_mtr_error_set checks null); the
    // message is a NUL-terminated string that lives as long as the process.
    let code = unsafe {
        sys::rte_mtr_error_set(
            error,
            errno(e.errno),
            kind,
            std::ptr::null(),
            message(e.message).as_ptr(),
        )
    };
    -code
}

/// A refusal of the glue itself (a null argument).
fn invalid(at: MtrAt, message: &'static str) -> MtrError {
    MtrError {
        errno: flowlift_nic::flow::Errno::Invalid,
        at,
        message,
    }
}

/// 0, or the refusal reported.
///
/// # Safety
/// `error` is null or writable.
unsafe fn answer(error: *mut sys::rte_mtr_error, r: Result<(), MtrError>) -> c_int {
    match r {
        Ok(()) => 0,
        // SAFETY: as stated.
        Err(e) => unsafe { report(error, e) },
    }
}

unsafe extern "C" fn capabilities_get(
    dev: *mut sys::rte_eth_dev,
    cap: *mut sys::rte_mtr_capabilities,
    error: *mut sys::rte_mtr_error,
) -> c_int {
    // SAFETY: rte_mtr passes the caller's capabilities (or null).
    let Some(cap) = (unsafe { cap.as_mut() }) else {
        // SAFETY: `error` is rte_mtr's.
        return unsafe {
            report(
                error,
                invalid(MtrAt::Unspecified, "no capabilities to fill"),
            )
        };
    };
    // SAFETY: an open port of this driver.
    let c = unsafe { port(dev) }
        .dev
        .nic
        .rules()
        .meters(|m, _| m.capabilities());
    // SAFETY: plain data; all zero is "nothing supported".
    *cap = unsafe { std::mem::zeroed() };
    cap.n_max = c.n_max;
    cap.n_shared_max = c.n_max;
    cap.identical = 1;
    cap.shared_identical = 1;
    cap.shared_n_flows_per_mtr_max = u32::MAX;
    cap.chaining_n_mtrs_per_flow_max = 1;
    cap.meter_srtcm_rfc2697_n_max = c.n_max;
    cap.meter_trtcm_rfc2698_n_max = c.n_max;
    cap.meter_trtcm_rfc4115_n_max = c.n_max;
    cap.meter_rate_max = c.rate_max;
    cap.meter_policy_n_max = u64::from(c.n_max);
    cap.srtcm_rfc2697_byte_mode_supported = 1;
    cap.srtcm_rfc2697_packet_mode_supported = 1;
    cap.trtcm_rfc2698_byte_mode_supported = 1;
    cap.trtcm_rfc2698_packet_mode_supported = 1;
    cap.trtcm_rfc4115_byte_mode_supported = 1;
    cap.trtcm_rfc4115_packet_mode_supported = 1;
    cap.stats_mask = c.stats_mask;
    0
}

unsafe extern "C" fn meter_profile_add(
    dev: *mut sys::rte_eth_dev,
    id: u32,
    profile: *mut sys::rte_mtr_meter_profile,
    error: *mut sys::rte_mtr_error,
) -> c_int {
    // SAFETY: rte_mtr passes the caller's profile (or null).
    let Some(p) = (unsafe { profile.as_ref() }) else {
        // SAFETY: `error` is rte_mtr's.
        return unsafe { report(error, invalid(MtrAt::MeterProfile, "no meter profile")) };
    };
    let unit = if p.packet_mode != 0 {
        Unit::Packets
    } else {
        Unit::Bytes
    };
    // SAFETY: the union's member read is the one `alg` names; all are plain
    // integers.
    let algorithm = unsafe {
        match p.alg {
            sys::RTE_MTR_SRTCM_RFC2697 => {
                let s = p.__bindgen_anon_1.srtcm_rfc2697;
                Algorithm::SrTcm {
                    cir: s.cir,
                    cbs: s.cbs,
                    ebs: s.ebs,
                }
            }
            sys::RTE_MTR_TRTCM_RFC2698 => {
                let t = p.__bindgen_anon_1.trtcm_rfc2698;
                Algorithm::TrTcm2698 {
                    cir: t.cir,
                    pir: t.pir,
                    cbs: t.cbs,
                    pbs: t.pbs,
                }
            }
            sys::RTE_MTR_TRTCM_RFC4115 => {
                let t = p.__bindgen_anon_1.trtcm_rfc4115;
                Algorithm::TrTcm4115 {
                    cir: t.cir,
                    eir: t.eir,
                    cbs: t.cbs,
                    ebs: t.ebs,
                }
            }
            _ => {
                let e = MtrError {
                    errno: flowlift_nic::flow::Errno::NotSupported,
                    at: MtrAt::MtrParams,
                    message: "unknown metering algorithm",
                };
                return report(error, e);
            }
        }
    };
    // SAFETY: an open port of this driver.
    let rules = unsafe { port(dev) }.dev.nic.rules();
    let r = rules.meters(|m, _| m.add_profile(id, Profile { algorithm, unit }));
    // SAFETY: `error` is rte_mtr's.
    unsafe { answer(error, r) }
}

unsafe extern "C" fn meter_profile_delete(
    dev: *mut sys::rte_eth_dev,
    id: u32,
    error: *mut sys::rte_mtr_error,
) -> c_int {
    // SAFETY: an open port of this driver.
    let rules = unsafe { port(dev) }.dev.nic.rules();
    // SAFETY: `error` is rte_mtr's.
    unsafe { answer(error, rules.meters(|m, _| m.delete_profile(id))) }
}

/// Reads a policy's per-colour action lists.
///
/// # Safety
/// `dev` is an open port of this driver; `policy` is null or rte_mtr's
/// policy, whose lists are null or END-terminated with confs as their types
/// say.
unsafe fn read_policy(
    dev: *mut sys::rte_eth_dev,
    policy: *const sys::rte_mtr_meter_policy_params,
) -> Result<Policy, MtrError> {
    // SAFETY: as stated.
    let Some(params) = (unsafe { policy.as_ref() }) else {
        return Err(invalid(MtrAt::MeterPolicy, "no meter policy"));
    };
    // SAFETY: as stated.
    let port = unsafe { port(dev) };
    let me = crate::flow::me(port);
    let mut lists: [Option<Vec<Action>>; 3] = [None, None, None];
    for (c, list) in params.actions.iter().enumerate() {
        let mut a = *list;
        if a.is_null() {
            continue;
        }
        let mut out = Vec::new();
        loop {
            // SAFETY: END-terminated (checked before going on).
            let action = unsafe { &*a };
            if action.type_ == sys::RTE_FLOW_ACTION_TYPE_END {
                break;
            }
            if out.len() == MAX_POLICY_ACTIONS {
                return Err(MtrError {
                    errno: flowlift_nic::flow::Errno::NotSupported,
                    at: MtrAt::MeterPolicy,
                    message: "too many actions in a meter policy",
                });
            }
            // SAFETY: the action's conf is as its type says.
            out.push(unsafe { read_action(&port.dev, me, action) });
            // SAFETY: not END, so another element follows.
            a = unsafe { a.add(1) };
        }
        lists[c] = Some(out);
    }
    let [g, y, r] = &lists;
    Policy::from_actions([g.as_deref(), y.as_deref(), r.as_deref()])
}

unsafe extern "C" fn meter_policy_validate(
    dev: *mut sys::rte_eth_dev,
    policy: *mut sys::rte_mtr_meter_policy_params,
    error: *mut sys::rte_mtr_error,
) -> c_int {
    // SAFETY: rte_mtr passes an open port of this driver and its policy.
    let r = unsafe { read_policy(dev, policy) }.map(|_| ());
    // SAFETY: `error` is rte_mtr's.
    unsafe { answer(error, r) }
}

unsafe extern "C" fn meter_policy_add(
    dev: *mut sys::rte_eth_dev,
    id: u32,
    policy: *mut sys::rte_mtr_meter_policy_params,
    error: *mut sys::rte_mtr_error,
) -> c_int {
    // SAFETY: rte_mtr passes an open port of this driver and its policy.
    let r = unsafe { read_policy(dev, policy) }.and_then(|p| {
        // SAFETY: an open port of this driver.
        let rules = unsafe { port(dev) }.dev.nic.rules();
        rules.meters(|m, _| m.add_policy(id, p))
    });
    // SAFETY: `error` is rte_mtr's.
    unsafe { answer(error, r) }
}

unsafe extern "C" fn meter_policy_delete(
    dev: *mut sys::rte_eth_dev,
    id: u32,
    error: *mut sys::rte_mtr_error,
) -> c_int {
    // SAFETY: an open port of this driver.
    let rules = unsafe { port(dev) }.dev.nic.rules();
    // SAFETY: `error` is rte_mtr's.
    unsafe { answer(error, rules.meters(|m, _| m.delete_policy(id))) }
}

/// Whether a colour table (null, or `n` colours) asks for colour-aware
/// metering: any colour other than green.
///
/// # Safety
/// `table` is null or points to `n` colours.
unsafe fn aware(table: *const sys::rte_color, n: usize) -> bool {
    if table.is_null() {
        return false;
    }
    // SAFETY: as stated.
    let colours = unsafe { std::slice::from_raw_parts(table, n) };
    colours.iter().any(|c| *c != sys::RTE_COLOR_GREEN)
}

unsafe extern "C" fn create(
    dev: *mut sys::rte_eth_dev,
    id: u32,
    params: *mut sys::rte_mtr_params,
    _shared: c_int,
    error: *mut sys::rte_mtr_error,
) -> c_int {
    // SAFETY: rte_mtr passes the caller's parameters (or null).
    let Some(p) = (unsafe { params.as_ref() }) else {
        // SAFETY: `error` is rte_mtr's.
        return unsafe { report(error, invalid(MtrAt::MtrParams, "no meter parameters")) };
    };
    // rte_mtr: a DSCP table has 64 entries, a VLAN table 16 (PCP and DEI).
    // SAFETY: the tables are null or as long as rte_mtr says.
    let colour_aware = p.use_prev_mtr_color != 0
        || unsafe { aware(p.dscp_table, 64) }
        || unsafe { aware(p.vlan_table, 16) };
    let params = MeterParams {
        profile_id: p.meter_profile_id,
        policy_id: p.meter_policy_id,
        enabled: p.meter_enable != 0,
        stats_mask: p.stats_mask,
        colour_aware,
    };
    // SAFETY: an open port of this driver.
    let rules = unsafe { port(dev) }.dev.nic.rules();
    // SAFETY: `error` is rte_mtr's.
    unsafe { answer(error, rules.meters(|m, now| m.create(id, params, now))) }
}

unsafe extern "C" fn destroy(
    dev: *mut sys::rte_eth_dev,
    id: u32,
    error: *mut sys::rte_mtr_error,
) -> c_int {
    // SAFETY: an open port of this driver.
    let rules = unsafe { port(dev) }.dev.nic.rules();
    // SAFETY: `error` is rte_mtr's.
    unsafe { answer(error, rules.meters(|m, _| m.destroy(id))) }
}

unsafe extern "C" fn meter_enable(
    dev: *mut sys::rte_eth_dev,
    id: u32,
    error: *mut sys::rte_mtr_error,
) -> c_int {
    // SAFETY: an open port of this driver.
    let rules = unsafe { port(dev) }.dev.nic.rules();
    // SAFETY: `error` is rte_mtr's.
    unsafe { answer(error, rules.meters(|m, _| m.set_enabled(id, true))) }
}

unsafe extern "C" fn meter_disable(
    dev: *mut sys::rte_eth_dev,
    id: u32,
    error: *mut sys::rte_mtr_error,
) -> c_int {
    // SAFETY: an open port of this driver.
    let rules = unsafe { port(dev) }.dev.nic.rules();
    // SAFETY: `error` is rte_mtr's.
    unsafe { answer(error, rules.meters(|m, _| m.set_enabled(id, false))) }
}

unsafe extern "C" fn meter_profile_update(
    dev: *mut sys::rte_eth_dev,
    id: u32,
    profile_id: u32,
    error: *mut sys::rte_mtr_error,
) -> c_int {
    // SAFETY: an open port of this driver.
    let rules = unsafe { port(dev) }.dev.nic.rules();
    let r = rules.meters(|m, now| m.update_profile(id, profile_id, now));
    // SAFETY: `error` is rte_mtr's.
    unsafe { answer(error, r) }
}

unsafe extern "C" fn stats_update(
    dev: *mut sys::rte_eth_dev,
    id: u32,
    mask: u64,
    error: *mut sys::rte_mtr_error,
) -> c_int {
    // SAFETY: an open port of this driver.
    let rules = unsafe { port(dev) }.dev.nic.rules();
    // SAFETY: `error` is rte_mtr's.
    unsafe { answer(error, rules.meters(|m, _| m.set_stats_mask(id, mask))) }
}

unsafe extern "C" fn stats_read(
    dev: *mut sys::rte_eth_dev,
    id: u32,
    stats: *mut sys::rte_mtr_stats,
    mask: *mut u64,
    clear: c_int,
    error: *mut sys::rte_mtr_error,
) -> c_int {
    // SAFETY: an open port of this driver.
    let rules = unsafe { port(dev) }.dev.nic.rules();
    match rules.meter_stats(id, clear != 0) {
        Ok((s, m)) => {
            let MeterStats {
                packets,
                bytes,
                packets_dropped,
                bytes_dropped,
            } = s;
            // SAFETY: rte_mtr passes the caller's stats and mask (either may
            // be null).
            unsafe {
                if let Some(out) = stats.as_mut() {
                    out.n_pkts = packets;
                    out.n_bytes = bytes;
                    out.n_pkts_dropped = packets_dropped;
                    out.n_bytes_dropped = bytes_dropped;
                }
                if let Some(out) = mask.as_mut() {
                    *out = m;
                }
            }
            0
        }
        // SAFETY: `error` is rte_mtr's.
        Err(e) => unsafe { report(error, e) },
    }
}
