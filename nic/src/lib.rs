//! The model NIC: an mlx5-like NIC in switchdev mode, in safe Rust.
//!
//! A PF uplink whose wire is a capture replayed from memory, VF representors
//! whose far side is a sink (and, optionally, a source), and an embedded
//! switch with rules, counters, meters, limits and faults as a NIC has them. `net_flowlift`, the
//! PMD under `ffi/rte-net-flowlift`, is its C-ABI face: it holds no model
//! logic, and everything here is unit-tested without EAL.
//!
//! What exists so far: devargs ([`devargs`]), the wire ([`wire`]), the host RX
//! rings ([`ring`]), flow rules as rte_flow gives them ([`flow`]) and the
//! switch's state ([`rules`]): its exact-match table ([`exact`]), flow
//! counters read through the device's cache ([`flowcount`]), meters as
//! rte_mtr gives them ([`mtr`]) running the RFCs' token buckets
//! ([`meter`]), limits ([`limits`]) and injected faults ([`faults`]) on the
//! device's clock ([`clock`]); the switch thread's replay of the uplink's
//! wire ([`uplink`]) and of the VFs' wires ([`vf_source`]) through the rules
//! into the host's RX rings (what no rule takes spread by RSS, [`rss`],
//! published to the switch by [`publish`]), the VF sinks and back to the
//! wire (what leaves by each port, the host's and the rules' apart,
//! captured by [`capture`]), port counters ([`counters`]) and the device's
//! topology ([`Nic`]).
//!
//! The uplink's wire may be generated instead ([`generator`]): flows born
//! and dying all the run long, with their ground truth.
//!
//! Its wildcard table is [`wildcard`]; it reuses `dataplane::table` (the
//! exact-match table's cuckoo hash) and `dataplane::wire` (the parser that
//! makes a frame's flow key) rather than copying them.
#![deny(unsafe_code)]

pub mod capture;
pub mod clock;
pub mod counters;
pub mod devargs;
pub mod exact;
pub mod faults;
pub mod flow;
pub mod flowcount;
pub mod generator;
pub mod limits;
pub mod meter;
pub mod mtr;
pub mod publish;
pub mod ring;
pub mod rss;
pub mod rules;
pub mod uplink;
pub mod vf_source;
pub mod wildcard;
pub mod wire;

#[cfg(test)]
mod stall_tests;
#[cfg(test)]
mod switch_test_support;

use std::sync::{Arc, Mutex};

pub use capture::{CaptureError, Captures, Via};
pub use counters::{Counter, PortStats, Tally, UplinkCounters, VfSink};
pub use devargs::{Devargs, DevargsError};
pub use publish::Published;
pub use ring::{Ring, RingTx};
pub use rss::RssConf;
pub use rules::Rules;
pub use uplink::{FillError, Host, Rx, SwitchCpu, ThreadSetup, Uplink, UplinkThread};
pub use vf_source::VfTx;
pub use wire::{Capture, Wire, WireError};

/// Why a device cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum NicError {
    #[error(transparent)]
    Devargs(#[from] DevargsError),
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error(transparent)]
    Capture(#[from] CaptureError),
}

/// What the switch thread shares with the control path: the counters of the
/// uplink and of the VF sinks, and the rules.
#[derive(Debug)]
pub struct Fabric {
    pub uplink: UplinkCounters,
    /// The sinks of the VFs that have a representor, in VF order.
    pub vfs: Vec<(u16, VfSink)>,
    pub rules: Rules,
    /// The RSS of each port's RX: the PF first, then each representor in VF
    /// order.
    pub rss: Published<Vec<RssConf>>,
    /// What left by each port (the VFs and the uplink), by path, when
    /// `capture_dir` is given.
    pub captures: Option<Captures>,
    /// What each VF sent (`vfN_wire`), in representor order.
    pub vf_tx: Vec<VfTx>,
    /// The switch thread's busy and idle time.
    pub cpu: SwitchCpu,
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
            rss: Published::new(vec![RssConf::default(); vfs.len() + 1]),
            captures: None,
            vf_tx: vfs.iter().map(|_| VfTx::default()).collect(),
            cpu: SwitchCpu::default(),
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
    /// Each VF's wire (`vfN_wire`), in representor order.
    vf_wires: Vec<Option<Arc<Mutex<Wire>>>>,
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
        let wire = match (&devargs.wire, &devargs.gen) {
            (Some(path), _) => Wire::new(Capture::load(path)?, devargs.loops, devargs.rate_pps),
            (None, Some(args)) => Wire::generated(
                generator::Generator::new(&generator::Params::resolve(
                    args,
                    devargs.rate_pps,
                    devargs.representors.len(),
                )),
                devargs.rate_pps,
            ),
            (None, None) => Wire::silent(),
        };
        let mut vf_wires = Vec::new();
        for (position, &vf) in devargs.representors.iter().enumerate() {
            let w = match devargs.vf_wires.iter().find(|w| w.vf == vf) {
                Some(w) => Some(Arc::new(Mutex::new(match w.gen {
                    None => Wire::new(
                        Capture::load(&w.path)?,
                        devargs.vf_loops(w),
                        devargs.vf_rate_pps(w),
                    ),
                    Some(scenario) => Wire::generated(
                        generator::Generator::new(&generator::Params::resolve_vf(
                            &devargs.vf_gen,
                            scenario,
                            devargs.vf_rate_pps(w),
                            devargs.representors.len(),
                            position,
                            w.gen_truth.is_some(),
                        )),
                        devargs.vf_rate_pps(w),
                    ),
                }))),
                None => None,
            };
            vf_wires.push(w);
        }
        let vfs = devargs.representors.clone();
        let rules = Rules::new(
            vfs.clone(),
            devargs.limits,
            devargs.faults,
            clock::MonotonicClock::shared(),
        );
        let mut fabric = Fabric::with_rules(vfs, rules);
        if let Some(dir) = &devargs.vf_capture_dir {
            let names: Vec<(u16, String)> = devargs
                .representors
                .iter()
                .map(|&vf| (vf, devargs.vf_name(vf)))
                .collect();
            fabric.captures = Some(Captures::create(dir, &names)?);
        }
        Ok(Nic {
            devargs,
            wire: Arc::new(Mutex::new(wire)),
            vf_wires,
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

    /// The captures of what left by each port (`capture_dir`).
    pub fn captures(&self) -> Option<&Captures> {
        self.fabric.captures.as_ref()
    }

    /// What the VF at position `i` of the representor list sent.
    pub fn vf_tx(&self, i: usize) -> Option<&VfTx> {
        self.fabric.vf_tx.get(i)
    }

    /// Frames VF position `i`'s wire carries in all (`None`: forever, or no
    /// wire: `Some(0)`).
    pub fn vf_wire_total(&self, i: usize) -> Option<u64> {
        match self.vf_wires.get(i) {
            Some(Some(w)) => w.lock().map_or(None, |w| w.total()),
            _ => Some(0),
        }
    }

    /// The uplink's wire-side counters.
    pub fn uplink(&self) -> &UplinkCounters {
        &self.fabric.uplink
    }

    /// The switch's rules.
    pub fn rules(&self) -> &Rules {
        &self.fabric.rules
    }

    /// The RSS of port `port` (0 the PF, `i + 1` the `i`-th representor).
    pub fn rss(&self, port: usize) -> Option<RssConf> {
        self.fabric.rss.get().get(port).cloned()
    }

    /// Changes port `port`'s RSS; returns once the switch uses the change
    /// (`None`: no such port).
    pub fn update_rss<R>(&self, port: usize, change: impl FnOnce(&mut RssConf) -> R) -> Option<R> {
        self.fabric.rss.update(|all| all.get_mut(port).map(change))
    }

    /// Frames the wire carries in all (`None`: forever).
    pub fn wire_total(&self) -> Option<u64> {
        self.wire.lock().map_or(None, |w| w.total())
    }

    /// Starts the switch (the PF port starts, or a representor starts or
    /// stops while the PF runs): the wire, and the wire of each VF whose
    /// representor's rings `up` has, replay through the switch into `up`'s
    /// rings from where they stood, on a thread set up as `setup` says.
    pub fn start_uplink<H: Host>(
        &self,
        up: Uplink<H>,
        setup: ThreadSetup,
    ) -> std::io::Result<UplinkThread<H>> {
        let vf_wires = self
            .vf_wires
            .iter()
            .enumerate()
            .filter(|(i, _)| up.reps.get(*i).is_some_and(Option::is_some))
            .filter_map(|(i, w)| w.as_ref().map(|w| (i, Arc::clone(w))))
            .collect();
        UplinkThread::start(
            Arc::clone(&self.wire),
            vf_wires,
            up,
            Arc::clone(&self.fabric),
            setup,
        )
    }

    /// The switch thread's busy and idle time so far.
    pub fn switch_cpu(&self) -> &SwitchCpu {
        &self.fabric.cpu
    }

    /// A frame the uplink's wire sent was lost in the PF's RX ring (freed
    /// at the port's stop): a generated wire counts it against its flow.
    /// Only while the switch is stopped (it holds the wire while it runs).
    pub fn uplink_frame_lost(&self, frame: &[u8]) {
        if let Ok(mut w) = self.wire.lock() {
            w.lost_frame(frame);
        }
    }

    /// Writes the generated wire's ground truth to its `gen_truth` file, if
    /// it has one; returns the file and the packets sent and missed. Only
    /// while the switch is stopped.
    pub fn write_truth(&self) -> Option<(std::path::PathBuf, std::io::Result<(u64, u64)>)> {
        let path = self.devargs.gen.as_ref()?.truth.clone()?;
        let w = self.wire.lock().ok()?;
        let truth = w.generator()?.truth()?;
        let written = truth.write_file(&path).map(|()| truth.totals());
        Some((path, written))
    }

    /// A frame VF position `i`'s wire sent was lost in its representor's
    /// RX ring (freed at the port's stop): a generated wire counts it
    /// against its flow. Only while the switch is stopped.
    pub fn vf_frame_lost(&self, i: usize, frame: &[u8]) {
        if let Some(Some(w)) = self.vf_wires.get(i) {
            if let Ok(mut w) = w.lock() {
                w.lost_frame(frame);
            }
        }
    }

    /// Writes the ground truth of VF position `i`'s generated wire to its
    /// `vfN_gen_truth` file, if it has one; returns the file and the packets
    /// sent and missed. Only while the switch does not run that VF's wire
    /// (its representor stopped).
    pub fn write_vf_truth(
        &self,
        i: usize,
    ) -> Option<(std::path::PathBuf, std::io::Result<(u64, u64)>)> {
        let vf = *self.devargs.representors.get(i)?;
        let path = self
            .devargs
            .vf_wires
            .iter()
            .find(|w| w.vf == vf)?
            .gen_truth
            .clone()?;
        let w = self.vf_wires.get(i)?.as_ref()?.lock().ok()?;
        let truth = w.generator()?.truth()?;
        let written = truth.write_file(&path).map(|()| truth.totals());
        Some((path, written))
    }

    /// Writes the generated wire's time series to its `gen_series` file, if
    /// it has one; returns the file and the bins written. Only while the
    /// switch is stopped.
    pub fn write_series(&self) -> Option<(std::path::PathBuf, std::io::Result<usize>)> {
        let path = self.devargs.gen.as_ref()?.series.clone()?;
        let w = self.wire.lock().ok()?;
        let series = w.generator()?.series()?;
        let written = series.write_file(&path).map(|()| series.bins().len());
        Some((path, written))
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

    /// At probe, `capture_dir` makes the uplink's files and each
    /// represented VF's under its `vfN_name` (else `vfN`), and nothing else.
    #[test]
    fn capture_files_are_made_at_probe_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let nic = Nic::from_devargs(&format!(
            "representor=vf[0-2],vf0_name=vm1,vf2_name=vm3,capture_dir={}",
            dir.path().display()
        ))
        .unwrap();
        assert!(nic.captures().is_some());
        let mut files: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        assert_eq!(
            files,
            [
                "uplink-offloaded.pcap",
                "uplink.pcap",
                "vf1-offloaded.pcap",
                "vf1.pcap",
                "vm1-offloaded.pcap",
                "vm1.pcap",
                "vm3-offloaded.pcap",
                "vm3.pcap"
            ]
        );
        let missing = dir.path().join("nope");
        let err = Nic::from_devargs(&format!("capture_dir={}", missing.display())).unwrap_err();
        assert!(
            matches!(err, NicError::Capture(CaptureError::NotADirectory(_))),
            "{err}"
        );
        assert!(err.to_string().starts_with("capture_dir="), "{err}");
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
