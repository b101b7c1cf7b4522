//! Flow rules and indirect counters on a port: validate, create, query, destroy,
//! flush. Each rule and counter owns (an `Arc` of) its port and is destroyed on
//! `Drop` if not destroyed explicitly.

use std::ptr::NonNull;

use dpdk_sys as sys;

use super::raw::{lower_attr, RawActions, RawPattern};
use super::{Actions, Attr, FlowError, Pattern};
use crate::Port;

/// Hits and bytes of a COUNT action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub hits: u64,
    pub bytes: u64,
    /// Whether the PMD filled each field (some count hits only).
    pub hits_set: bool,
    pub bytes_set: bool,
}

fn count_action() -> [sys::rte_flow_action; 2] {
    [
        sys::rte_flow_action {
            type_: sys::RTE_FLOW_ACTION_TYPE_COUNT,
            conf: std::ptr::null(),
        },
        sys::rte_flow_action {
            type_: sys::RTE_FLOW_ACTION_TYPE_END,
            conf: std::ptr::null(),
        },
    ]
}

fn counts_from(q: &sys::rte_flow_query_count) -> Counts {
    Counts {
        hits: q.hits,
        bytes: q.bytes,
        hits_set: q.hits_set() != 0,
        bytes_set: q.bytes_set() != 0,
    }
}

/// Asks the PMD whether it would accept this rule, without creating it.
pub fn validate(
    port: &Port,
    attr: &Attr,
    pattern: &Pattern,
    actions: &Actions,
) -> Result<(), FlowError> {
    let a = lower_attr(attr);
    let p = RawPattern::new(pattern);
    let acts = RawActions::new(actions);
    let mut err = sys::rte_flow_error::default();
    // SAFETY: all three arrays are END-terminated and their pointees live in p and
    // acts for the duration of the call; err is a valid out-pointer.
    let ret =
        unsafe { sys::rte_flow_validate(port.id().0, &a, p.as_ptr(), acts.as_ptr(), &mut err) };
    if ret == 0 {
        Ok(())
    } else {
        Err(FlowError::from_ret(&err, ret))
    }
}

/// Destroys every rule on the port (stale rules of an earlier run included).
pub fn flush(port: &Port) -> Result<(), FlowError> {
    let mut err = sys::rte_flow_error::default();
    // SAFETY: err is a valid out-pointer.
    let ret = unsafe { sys::rte_flow_flush(port.id().0, &mut err) };
    if ret == 0 {
        Ok(())
    } else {
        Err(FlowError::from_ret(&err, ret))
    }
}

/// A rule installed on a port.
#[derive(Debug)]
pub struct Rule {
    port: Port,
    raw: Option<NonNull<sys::rte_flow>>,
}

// SAFETY: rte_flow handles are opaque PMD pointers usable from any thread; the
// rte_flow API is thread-safe per port for the PMDs that declare it, and flowlift
// drives all rules from the control core only.
unsafe impl Send for Rule {}

impl Rule {
    /// Creates the rule.
    pub fn create(
        port: &Port,
        attr: &Attr,
        pattern: &Pattern,
        actions: &Actions,
    ) -> Result<Rule, FlowError> {
        let a = lower_attr(attr);
        let p = RawPattern::new(pattern);
        let acts = RawActions::new(actions);
        let mut err = sys::rte_flow_error::default();
        // SAFETY: as for validate; the PMD copies what it needs before returning.
        let raw =
            unsafe { sys::rte_flow_create(port.id().0, &a, p.as_ptr(), acts.as_ptr(), &mut err) };
        match NonNull::new(raw) {
            Some(raw) => Ok(Rule {
                port: port.clone(),
                raw: Some(raw),
            }),
            None => Err(FlowError::from_rte_errno(&err)),
        }
    }

    /// The port the rule is on.
    pub fn port(&self) -> &Port {
        &self.port
    }

    /// Reads the rule's COUNT action (optionally resetting it).
    pub fn query_count(&self, reset: bool) -> Result<Counts, FlowError> {
        let raw = self.raw.expect("a live rule has a handle");
        let action = count_action();
        let mut q = sys::rte_flow_query_count::default();
        q.set_reset(u32::from(reset));
        let mut err = sys::rte_flow_error::default();
        // SAFETY: raw is a live rule of this port; action is END-terminated; q and
        // err are valid out-pointers.
        let ret = unsafe {
            sys::rte_flow_query(
                self.port.id().0,
                raw.as_ptr(),
                action.as_ptr(),
                &mut q as *mut _ as *mut std::ffi::c_void,
                &mut err,
            )
        };
        if ret == 0 {
            Ok(counts_from(&q))
        } else {
            Err(FlowError::from_ret(&err, ret))
        }
    }

    /// Destroys the rule. On failure the rule is still installed and returned.
    pub fn destroy(mut self) -> Result<(), (Rule, FlowError)> {
        match self.destroy_inner() {
            Ok(()) => Ok(()),
            Err(e) => Err((self, e)),
        }
    }

    fn destroy_inner(&mut self) -> Result<(), FlowError> {
        let Some(raw) = self.raw else { return Ok(()) };
        let mut err = sys::rte_flow_error::default();
        // SAFETY: raw is a live rule of this port, destroyed once (raw is taken
        // below only on success).
        let ret = unsafe { sys::rte_flow_destroy(self.port.id().0, raw.as_ptr(), &mut err) };
        if ret == 0 {
            self.raw = None;
            Ok(())
        } else {
            Err(FlowError::from_ret(&err, ret))
        }
    }
}

impl Drop for Rule {
    fn drop(&mut self) {
        // A rule dropped without `destroy` is removed best-effort; `flush` at start-up
        // catches anything that survives.
        let _ = self.destroy_inner();
    }
}

/// A copyable reference to an [`IndirectCounter`], for use in an action list. The
/// counter must outlive every rule created with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterRef(pub(crate) *mut sys::rte_flow_action_handle);

// SAFETY: a handle is an opaque PMD pointer; it is only passed back to the PMD.
unsafe impl Send for CounterRef {}

impl CounterRef {
    /// A reference to no counter, for tests that only build action lists and
    /// never hand them to DPDK.
    #[doc(hidden)]
    pub fn dangling_for_tests() -> Self {
        CounterRef(std::ptr::NonNull::dangling().as_ptr())
    }
}

/// A shared COUNT action created apart from any rule (`rte_flow_action_handle`).
/// It outlives the rules that use it: destroy the rule, *then* read the counter,
/// and packets that hit the rule in its last microseconds are still counted.
#[derive(Debug)]
pub struct IndirectCounter {
    port: Port,
    raw: Option<NonNull<sys::rte_flow_action_handle>>,
}

// SAFETY: as for Rule.
unsafe impl Send for IndirectCounter {}

impl IndirectCounter {
    /// Creates a counter for rules with attribute `attr` (ingress/egress/transfer).
    pub fn create(port: &Port, attr: &Attr) -> Result<IndirectCounter, FlowError> {
        let mut conf = sys::rte_flow_indir_action_conf::default();
        conf.set_ingress(u32::from(attr.ingress));
        conf.set_egress(u32::from(attr.egress));
        conf.set_transfer(u32::from(attr.transfer));
        let action = count_action();
        let mut err = sys::rte_flow_error::default();
        // SAFETY: conf and action are valid for the call; err is an out-pointer.
        let raw = unsafe {
            sys::rte_flow_action_handle_create(port.id().0, &conf, action.as_ptr(), &mut err)
        };
        match NonNull::new(raw) {
            Some(raw) => Ok(IndirectCounter {
                port: port.clone(),
                raw: Some(raw),
            }),
            None => Err(FlowError::from_rte_errno(&err)),
        }
    }

    /// The reference to put in an action list.
    pub fn reference(&self) -> CounterRef {
        CounterRef(self.raw.expect("live counter").as_ptr())
    }

    /// Reads the counter.
    pub fn query(&self) -> Result<Counts, FlowError> {
        let raw = self.raw.expect("live counter");
        let mut q = sys::rte_flow_query_count::default();
        let mut err = sys::rte_flow_error::default();
        // SAFETY: raw is a live handle of this port; q and err are out-pointers.
        let ret = unsafe {
            sys::rte_flow_action_handle_query(
                self.port.id().0,
                raw.as_ptr(),
                &mut q as *mut _ as *mut std::ffi::c_void,
                &mut err,
            )
        };
        if ret == 0 {
            Ok(counts_from(&q))
        } else {
            Err(FlowError::from_ret(&err, ret))
        }
    }

    fn destroy_inner(&mut self) -> Result<(), FlowError> {
        let Some(raw) = self.raw else { return Ok(()) };
        let mut err = sys::rte_flow_error::default();
        // SAFETY: a live handle of this port, destroyed once.
        let ret = unsafe {
            sys::rte_flow_action_handle_destroy(self.port.id().0, raw.as_ptr(), &mut err)
        };
        if ret == 0 {
            self.raw = None;
            Ok(())
        } else {
            Err(FlowError::from_ret(&err, ret))
        }
    }

    /// Destroys the counter (every rule using it must be gone).
    pub fn destroy(mut self) -> Result<(), (IndirectCounter, FlowError)> {
        match self.destroy_inner() {
            Ok(()) => Ok(()),
            Err(e) => Err((self, e)),
        }
    }
}

impl Drop for IndirectCounter {
    fn drop(&mut self) {
        let _ = self.destroy_inner();
    }
}
