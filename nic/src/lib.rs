//! The model NIC: an mlx5-like NIC in switchdev mode, in safe Rust.
//!
//! A PF uplink whose wire is a capture replayed from memory, VF representors
//! whose far side is a sink, and (coming) an embedded switch with rules,
//! counters, meters, limits and faults as a NIC has them. `net_flowlift`, the
//! PMD under `ffi/rte-net-flowlift`, is its C-ABI face: it holds no model
//! logic, and everything here is unit-tested without EAL.
//!
//! What exists so far: devargs ([`devargs`]), the wire ([`wire`]), the host RX
//! rings ([`ring`]), flow rules as rte_flow gives them ([`flow`]) and the
//! switch's state ([`rules`]): its exact-match table ([`exact`]), flow
//! counters read through the device's cache ([`flowcount`]), meters as
//! rte_mtr gives them ([`mtr`]) running the RFCs' token buckets
//! ([`meter`]), limits ([`limits`]) and injected faults ([`faults`]) on the
//! device's clock ([`clock`]); the uplink's replay through the rules into
//! the rings, the VF sinks and back to the wire ([`uplink`]), port counters
//! ([`counters`]) and the device's topology ([`Nic`]).
//!
//! It reuses `dataplane::eswitch` (the wildcard table, the counter bank) and
//! `dataplane::wire` (the parser that makes a frame's flow key) rather than
//! copying them; moving the eswitch here is left for later.
#![deny(unsafe_code)]

pub mod clock;
pub mod counters;
pub mod devargs;
pub mod exact;
pub mod faults;
pub mod flow;
pub mod flowcount;
pub mod limits;
pub mod meter;
pub mod mtr;
pub mod ring;
pub mod rules;
pub mod uplink;
pub mod wire;

#[cfg(test)]
mod stall_tests;

use std::sync::{Arc, Mutex};

pub use counters::{Counter, PortStats, Tally, UplinkCounters, VfSink};
pub use devargs::{Devargs, DevargsError};
pub use ring::{Ring, RingTx};
pub use rules::Rules;
pub use uplink::{FillError, Host, Uplink, UplinkThread};
pub use wire::{Capture, Wire, WireError};

/// Why a device cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum NicError {
    #[error(transparent)]
    Devargs(#[from] DevargsError),
    #[error(transparent)]
    Wire(#[from] WireError),
}

/// What the switch thread shares with the control path: the counters of the
/// uplink and of the VF sinks, and the rules.
#[derive(Debug)]
pub struct Fabric {
    pub uplink: UplinkCounters,
    /// The sinks of the VFs that have a representor, in VF order.
    pub vfs: Vec<(u16, VfSink)>,
    pub rules: Rules,
}

impl Fabric {
    /// A switch with these VFs and no limit a test would meet by accident
    /// ([`limits::Limits::unlimited`]: no insertion rate, live counters).
    pub fn new(vfs: Vec<u16>) -> Fabric {
        Fabric::with_rules(
            vfs.clone(),
            Rules::with_limits(vfs, limits::Limits::unlimited()),
        )
    }

    /// A switch with these VFs and these rules (and their limits, faults
    /// and clock).
    pub fn with_rules(vfs: Vec<u16>, rules: Rules) -> Fabric {
        Fabric {
            uplink: UplinkCounters::default(),
            vfs: vfs.iter().map(|&vf| (vf, VfSink::default())).collect(),
            rules,
        }
    }
}

/// One model NIC: its configuration, wire, switch and the counters of its
/// sides.
#[derive(Debug)]
pub struct Nic {
    devargs: Devargs,
    wire: Arc<Mutex<Wire>>,
    fabric: Arc<Fabric>,
}

impl Nic {
    /// A device for these devargs (`wire=...,loops=...`); reads the wire's
    /// capture.
    pub fn from_devargs(args: &str) -> Result<Nic, NicError> {
        Nic::new(Devargs::parse(args)?)
    }

    /// A device for `devargs`; reads the wire's capture.
    pub fn new(devargs: Devargs) -> Result<Nic, NicError> {
        let wire = match &devargs.wire {
            Some(path) => Wire::new(Capture::load(path)?, devargs.loops, devargs.rate_pps),
            None => Wire::silent(),
        };
        let vfs = devargs.representors.clone();
        let rules = Rules::new(
            vfs.clone(),
            devargs.limits,
            devargs.faults,
            clock::MonotonicClock::shared(),
        );
        let fabric = Fabric::with_rules(vfs, rules);
        Ok(Nic {
            devargs,
            wire: Arc::new(Mutex::new(wire)),
            fabric: Arc::new(fabric),
        })
    }

    /// Its configuration.
    pub fn devargs(&self) -> &Devargs {
        &self.devargs
    }

    /// The VFs that have a representor, in port order.
    pub fn vfs(&self) -> impl Iterator<Item = u16> + '_ {
        self.fabric.vfs.iter().map(|(vf, _)| *vf)
    }

    /// VF `vf`'s sink, if it has a representor.
    pub fn vf_sink(&self, vf: u16) -> Option<&VfSink> {
        self.fabric
            .vfs
            .iter()
            .find(|(v, _)| *v == vf)
            .map(|(_, s)| s)
    }

    /// The uplink's wire-side counters.
    pub fn uplink(&self) -> &UplinkCounters {
        &self.fabric.uplink
    }

    /// The switch's rules.
    pub fn rules(&self) -> &Rules {
        &self.fabric.rules
    }

    /// Frames the wire carries in all (`None`: forever).
    pub fn wire_total(&self) -> Option<u64> {
        self.wire.lock().map_or(None, |w| w.total())
    }

    /// Starts the uplink (the PF port starts): the wire replays through the
    /// switch into `up`'s rings from where it stood, on a thread named
    /// `name`.
    pub fn start_uplink<H: Host>(
        &self,
        up: Uplink<H>,
        name: String,
    ) -> std::io::Result<UplinkThread<H>> {
        UplinkThread::start(Arc::clone(&self.wire), up, Arc::clone(&self.fabric), name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topology_from_devargs() {
        let nic = Nic::from_devargs("representor=vf[1,3]").unwrap();
        assert_eq!(nic.vfs().collect::<Vec<_>>(), vec![1, 3]);
        assert!(nic.vf_sink(3).is_some());
        assert!(nic.vf_sink(0).is_none());
        assert_eq!(nic.wire_total(), Some(0), "no wire= carries nothing");
    }

    #[test]
    fn a_missing_wire_is_refused_at_once() {
        let err = Nic::from_devargs("wire=/nonexistent/x.pcap").unwrap_err();
        assert!(
            matches!(err, NicError::Wire(WireError::Open { .. })),
            "{err}"
        );
    }
}
