//! VFs that send: a VM's egress, replayed from a capture per VF
//! (`vfN_wire=PCAP`, paced and looped as the uplink's wire is).
//!
//! Each frame enters the switch on the VF's switch port and meets the
//! transfer rules (the PF's ingress rules are for what comes from the wire,
//! not for VF traffic): to the wire (the uplink's TX side counts it), to a
//! VF (its sink, and its `-offloaded` capture), dropped, or, when no rule
//! takes it, to the VF's representor's RX, as mlx5 in switchdev mode sends a
//! VF's unmatched traffic to its representor (RSS over the representor's
//! queues as over the PF's).
//!
//! Unpaced, a VF's wire waits for room in its representor's RX ring, as the
//! uplink's waits for the PF's; paced, what the representor's host cannot
//! take is missed (the representor's `imissed`). A VF's wire runs while the
//! switch runs (the PF started) and its representor is started.

use crate::counters::{Counter, Tally};
use crate::rss::RssConf;
use crate::rules::RuleSet;
use crate::uplink::{step_from, Host, Source, Step, Uplink};
use crate::wire::Wire;
use crate::Fabric;

/// What one VF sent and where the switch put it (written by the switch).
#[derive(Debug, Default)]
pub struct VfTx {
    /// Frames taken off the VF's wire.
    pub sent: Counter,
    /// Put on the wire by a rule.
    pub to_wire: Counter,
    /// Delivered to a VF by a rule.
    pub to_vf: Counter,
    /// Taken by no rule: handed to the representor's RX rings (the host
    /// counts what it polls).
    pub to_host: Counter,
    /// Dropped by a rule.
    pub dropped: Counter,
    /// The representor's RX side: frames its host did not take (full ring,
    /// no buffer, no such queue, or still in a ring when it stopped).
    pub imissed: Tally,
    /// Frames larger than the representor's buffers.
    pub ierrors: Tally,
    pub rx_nombuf: Tally,
}

/// Moves at most one frame from the wire of the VF at position `vf` of the
/// representor list to where `rules` send it.
pub fn step_vf<H: Host>(
    wire: &mut Wire,
    up: &mut Uplink<H>,
    fabric: &Fabric,
    rules: &mut RuleSet,
    rss: &[RssConf],
    vf: usize,
) -> Step {
    let Some(tx) = fabric.vf_tx.get(vf) else {
        return Step::Finished;
    };
    // Switch port `vf + 1` (the uplink is 0), as the rules number them, and
    // its representor's RX when no rule takes a frame, as mlx5's.
    let source = Source {
        port: vf + 1,
        taken: &tx.sent,
        delivered: &tx.to_host,
        to_wire: &tx.to_wire,
        to_vf: Some(&tx.to_vf),
        dropped: &tx.dropped,
        imissed: &tx.imissed,
        ierrors: &tx.ierrors,
        rx_nombuf: &tx.rx_nombuf,
    };
    step_from(wire, up, fabric, rules, rss, &source)
}

#[cfg(test)]
#[path = "vf_source_tests.rs"]
mod tests;
