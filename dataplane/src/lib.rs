//! Everything a flowlift worker core touches per packet.
//!
//! No DPDK type appears in this crate's API: packets, bursts and queues are reached
//! through the small traits of [`io`], which the `rte` crate's types implement
//! (feature `dpdk`) and [`testio`] implements over plain byte vectors, so all of
//! this is unit-tested without EAL.
#![deny(unsafe_code)]

pub mod clock;
pub mod flow;
pub mod flowstate;
pub mod io;
pub mod l2;
pub mod lcore;
pub mod mac;
pub mod meter;
pub mod pages;
pub mod policy;
pub mod stages;
pub mod stats;
pub mod table;
pub mod testio;
pub mod wire;
pub mod worker;

#[cfg(feature = "dpdk")]
mod dpdk;
#[cfg(feature = "dpdk")]
pub use dpdk::Tsc;

/// Index of a port in the appliance's configuration (not a DPDK port id): the
/// uplink and the VFs in the order the config lists them.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PortIdx(pub u16);

impl std::fmt::Debug for PortIdx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "port{}", self.0)
    }
}

impl PortIdx {
    /// As an array index.
    #[inline]
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}
