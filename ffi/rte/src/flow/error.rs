//! rte_flow's errors: the `rte_flow_error` type and message, the errno, and the
//! class the offload logic acts on (no space, busy, unsupported, device gone).

use std::fmt;

use crate::Errno;

/// How the offload logic should treat a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowErrorClass {
    /// The NIC's rule table is full (`ENOSPC`, `ENOMEM`): try later or evict.
    NoSpace,
    /// The NIC is busy (`EBUSY`, `EAGAIN`): retry with back-off.
    Busy,
    /// The NIC cannot do this pattern or action (`ENOTSUP`, `ENOSYS`, `EINVAL`).
    Unsupported,
    /// The device is gone or broken (`ENODEV`, `EIO`).
    DeviceGone,
    /// Anything else: see the message.
    Other,
}

impl FlowErrorClass {
    /// Classifies an errno.
    pub fn from_errno(errno: Errno) -> Self {
        match errno.0 {
            28 | 12 => FlowErrorClass::NoSpace,
            16 | 11 => FlowErrorClass::Busy,
            95 | 38 | 22 | 7 => FlowErrorClass::Unsupported,
            19 | 5 => FlowErrorClass::DeviceGone,
            _ => FlowErrorClass::Other,
        }
    }

    /// A short label for metrics and the shell (`no_space`, `busy`, ...).
    pub fn label(self) -> &'static str {
        match self {
            FlowErrorClass::NoSpace => "no_space",
            FlowErrorClass::Busy => "busy",
            FlowErrorClass::Unsupported => "unsupported",
            FlowErrorClass::DeviceGone => "device_gone",
            FlowErrorClass::Other => "other",
        }
    }
}

/// A refused rte_flow call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowError {
    /// `enum rte_flow_error_type` value.
    pub error_type: u32,
    /// The driver's message, if it gave one.
    pub message: String,
    /// The errno the call returned (positive).
    pub errno: Errno,
}

/// `enum rte_flow_error_type` values, for errors made outside a PMD (a
/// backend that models a NIC refuses in the same terms as a real one).
pub mod error_type {
    use dpdk_sys as s;
    pub const UNSPECIFIED: u32 = s::RTE_FLOW_ERROR_TYPE_UNSPECIFIED;
    pub const ATTR_GROUP: u32 = s::RTE_FLOW_ERROR_TYPE_ATTR_GROUP;
    pub const ATTR_PRIORITY: u32 = s::RTE_FLOW_ERROR_TYPE_ATTR_PRIORITY;
    pub const ATTR_INGRESS: u32 = s::RTE_FLOW_ERROR_TYPE_ATTR_INGRESS;
    pub const ATTR_EGRESS: u32 = s::RTE_FLOW_ERROR_TYPE_ATTR_EGRESS;
    pub const ATTR_TRANSFER: u32 = s::RTE_FLOW_ERROR_TYPE_ATTR_TRANSFER;
    pub const ATTR: u32 = s::RTE_FLOW_ERROR_TYPE_ATTR;
    pub const ITEM_SPEC: u32 = s::RTE_FLOW_ERROR_TYPE_ITEM_SPEC;
    pub const ITEM_LAST: u32 = s::RTE_FLOW_ERROR_TYPE_ITEM_LAST;
    pub const ITEM_MASK: u32 = s::RTE_FLOW_ERROR_TYPE_ITEM_MASK;
    pub const ITEM: u32 = s::RTE_FLOW_ERROR_TYPE_ITEM;
    pub const ACTION_NUM: u32 = s::RTE_FLOW_ERROR_TYPE_ACTION_NUM;
    pub const ACTION_CONF: u32 = s::RTE_FLOW_ERROR_TYPE_ACTION_CONF;
    pub const ACTION: u32 = s::RTE_FLOW_ERROR_TYPE_ACTION;
    pub const HANDLE: u32 = s::RTE_FLOW_ERROR_TYPE_HANDLE;
}

impl FlowError {
    /// An error of `error_type` (see [`error_type`]) with `message`, as a
    /// PMD would return with `-errno`.
    pub fn new(error_type: u32, message: impl Into<String>, errno: i32) -> Self {
        FlowError {
            error_type,
            message: message.into(),
            errno: Errno(errno),
        }
    }

    /// The offload class of this error.
    pub fn class(&self) -> FlowErrorClass {
        FlowErrorClass::from_errno(self.errno)
    }

    /// What testpmd calls this error type.
    pub fn type_name(&self) -> &'static str {
        error_type_name(self.error_type)
    }

    /// The error of a call that returned `ret` (`-errno`).
    pub(crate) fn from_ret(raw: &dpdk_sys::rte_flow_error, ret: i32) -> FlowError {
        FlowError::with_errno(raw, Errno::from_ret(ret))
    }

    /// The error of a call that returned NULL and set `rte_errno`.
    pub(crate) fn from_rte_errno(raw: &dpdk_sys::rte_flow_error) -> FlowError {
        FlowError::with_errno(raw, Errno::last())
    }

    fn with_errno(raw: &dpdk_sys::rte_flow_error, errno: Errno) -> FlowError {
        FlowError {
            error_type: raw.type_,
            message: crate::cstr_to_string(raw.message),
            errno,
        }
    }
}

/// The names testpmd prints for `enum rte_flow_error_type`.
pub fn error_type_name(t: u32) -> &'static str {
    use dpdk_sys as s;
    match t {
        s::RTE_FLOW_ERROR_TYPE_NONE => "no error",
        s::RTE_FLOW_ERROR_TYPE_UNSPECIFIED => "cause unspecified",
        s::RTE_FLOW_ERROR_TYPE_HANDLE => "flow rule (handle)",
        s::RTE_FLOW_ERROR_TYPE_ATTR_GROUP => "group field",
        s::RTE_FLOW_ERROR_TYPE_ATTR_PRIORITY => "priority field",
        s::RTE_FLOW_ERROR_TYPE_ATTR_INGRESS => "ingress field",
        s::RTE_FLOW_ERROR_TYPE_ATTR_EGRESS => "egress field",
        s::RTE_FLOW_ERROR_TYPE_ATTR_TRANSFER => "transfer field",
        s::RTE_FLOW_ERROR_TYPE_ATTR => "attributes structure",
        s::RTE_FLOW_ERROR_TYPE_ITEM_NUM => "pattern length",
        s::RTE_FLOW_ERROR_TYPE_ITEM_SPEC => "item specification",
        s::RTE_FLOW_ERROR_TYPE_ITEM_LAST => "item specification range",
        s::RTE_FLOW_ERROR_TYPE_ITEM_MASK => "item specification mask",
        s::RTE_FLOW_ERROR_TYPE_ITEM => "specific pattern item",
        s::RTE_FLOW_ERROR_TYPE_ACTION_NUM => "number of actions",
        s::RTE_FLOW_ERROR_TYPE_ACTION_CONF => "action configuration",
        s::RTE_FLOW_ERROR_TYPE_ACTION => "specific action",
        s::RTE_FLOW_ERROR_TYPE_STATE => "state",
        _ => "unknown",
    }
}

impl fmt::Display for FlowError {
    /// testpmd's form: `Caught error type 13 (specific pattern item): <message>: <strerror>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let msg = if self.message.is_empty() {
            "(no stated reason)"
        } else {
            &self.message
        };
        write!(
            f,
            "Caught error type {} ({}): {}: {}",
            self.error_type,
            self.type_name(),
            msg,
            self.errno
        )
    }
}

impl std::error::Error for FlowError {}
