//! Errors of the safe DPDK layer: one enum for the whole crate (DPDK's own errors are
//! all `-errno` or `rte_errno`), with the operation and the object named in each.

use std::fmt;

/// A positive errno value as DPDK returns it (negated) or sets it in `rte_errno`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    /// The errno from a negative DPDK return code.
    pub fn from_ret(ret: i32) -> Self {
        Errno(ret.saturating_abs())
    }

    /// The calling thread's `rte_errno`.
    pub fn last() -> Self {
        // SAFETY: reads the caller's thread-local rte_errno; no other effect.
        Errno(unsafe { dpdk_sys::flowlift_rte_errno() })
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", errno_name(self.0))
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SAFETY: rte_strerror returns a pointer to a static or per-lcore buffer
        // holding a NUL-terminated message; we copy it at once.
        let msg = crate::cstr_to_string(unsafe { dpdk_sys::rte_strerror(self.0) });
        write!(f, "{} ({})", msg, errno_name(self.0))
    }
}

/// The errno values DPDK uses (Linux's), by name: for code that answers in
/// DPDK's terms without a DPDK call (a modelled NIC), and for [`errno_name`].
pub mod errno {
    pub const EPERM: i32 = 1;
    pub const ENOENT: i32 = 2;
    pub const EIO: i32 = 5;
    pub const E2BIG: i32 = 7;
    pub const EAGAIN: i32 = 11;
    pub const ENOMEM: i32 = 12;
    pub const EFAULT: i32 = 14;
    pub const EBUSY: i32 = 16;
    pub const EEXIST: i32 = 17;
    pub const ENODEV: i32 = 19;
    pub const EINVAL: i32 = 22;
    pub const ENOSPC: i32 = 28;
    pub const ENOSYS: i32 = 38;
    pub const ENOTSUP: i32 = 95;
    pub const EALREADY: i32 = 114;
}

/// The symbolic name of the errno values DPDK uses, as operators grep for them.
pub fn errno_name(errno: i32) -> &'static str {
    match errno {
        errno::EPERM => "EPERM",
        errno::ENOENT => "ENOENT",
        errno::EIO => "EIO",
        errno::E2BIG => "E2BIG",
        errno::EAGAIN => "EAGAIN",
        errno::ENOMEM => "ENOMEM",
        errno::EFAULT => "EFAULT",
        errno::EBUSY => "EBUSY",
        errno::EEXIST => "EEXIST",
        errno::ENODEV => "ENODEV",
        errno::EINVAL => "EINVAL",
        errno::ENOSPC => "ENOSPC",
        errno::ENOSYS => "ENOSYS",
        errno::ENOTSUP => "ENOTSUP",
        errno::EALREADY => "EALREADY",
        _ => "errno",
    }
}

/// What a DPDK call refused, and which call and object it was.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// EAL was already initialised in this process (it can be done once).
    #[error("EAL is already initialised in this process")]
    EalAlreadyInitialised,
    /// An EAL argument held a NUL byte.
    #[error("EAL argument {0:?} contains a NUL byte")]
    BadArgument(String),
    /// `rte_eal_init` failed.
    #[error("EAL initialisation failed: {0}")]
    EalInit(Errno),
    /// An lcore cannot run a launched function (not enabled, main lcore, or busy).
    #[error("cannot launch on {lcore:?}: {reason}")]
    Launch {
        lcore: crate::LcoreId,
        reason: &'static str,
    },
    /// A mempool could not be created.
    #[error("mempool {name:?}: {errno}")]
    Mempool { name: String, errno: Errno },
    /// An `rte_hash` could not be created or refused a key.
    #[error("hash table {name:?} {op}: {errno}")]
    Hash {
        name: String,
        op: &'static str,
        errno: Errno,
    },
    /// No ethdev port has this name.
    #[error("no DPDK port named {0:?} (is its --vdev/-a argument given to EAL?)")]
    NoSuchPort(String),
    /// The port was open and every handle to it is gone: it is closed, and a
    /// second owner of its id would have the device closed under it.
    #[error("{0:?} was closed when its last handle went; it cannot be opened again")]
    PortClosed(crate::PortId),
    /// An ethdev operation failed.
    #[error("{port:?} {op}: {errno}")]
    Port {
        port: crate::PortId,
        op: &'static str,
        errno: Errno,
    },
    /// A port cannot be configured as asked (too many queues, ...).
    #[error("{port:?}: {msg}")]
    PortConfig { port: crate::PortId, msg: String },
}

/// Maps a DPDK return code (`< 0` is `-errno`) to a port error.
pub(crate) fn port_ret(port: crate::PortId, op: &'static str, ret: i32) -> Result<i32, Error> {
    if ret < 0 {
        Err(Error::Port {
            port,
            op,
            errno: Errno::from_ret(ret),
        })
    } else {
        Ok(ret)
    }
}
