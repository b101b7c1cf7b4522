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

use std::time::Instant;

use crate::counters::{Counter, Tally};
use crate::rss::RssConf;
use crate::rules::{RuleSet, Verdict};
use crate::uplink::{deliver, to_vf, Host, Rx, Step, Uplink};
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
    let paced = wire.paced();
    if paced {
        let wait = wire.due_in(Instant::now());
        if !wait.is_zero() {
            return Step::NotDue(wait);
        }
    }
    let Some(frame) = wire.peek() else {
        return Step::Finished;
    };
    let len = frame.len() as u64;
    // Switch port `vf + 1` (the uplink is 0), as the rules number them.
    let in_port = u8::try_from(vf + 1).unwrap_or(u8::MAX);
    let decision = rules.decide(frame, in_port);
    let outcome = match decision.verdict {
        Verdict::Wire => {
            tx.to_wire.add(1, len);
            fabric.uplink.wire_tx.add(1, len);
            Step::Switched
        }
        Verdict::Vf(i) => {
            to_vf(fabric, i, frame);
            tx.to_vf.add(1, len);
            Step::Switched
        }
        Verdict::Drop => {
            tx.dropped.add(1, len);
            Step::Dropped
        }
        // No transfer rule queues (QUEUE is refused there), so a host verdict
        // is a miss: the representor's RX.
        Verdict::Miss | Verdict::Host(_) => {
            let (queue, hash) = rss.get(vf + 1).map_or((0, None), |r| r.steer(frame));
            let to = Rx {
                port: vf + 1,
                queue,
                hash,
            };
            match deliver(up, to, frame, paced, &tx.rx_nombuf) {
                Some(step) => step,
                None => return Step::Blocked,
            }
        }
    };
    tx.sent.add(1, len);
    rules.commit(&decision, len);
    match outcome {
        Step::Delivered => tx.to_host.add(1, len),
        Step::Missed => tx.imissed.add(1),
        Step::Refused => tx.ierrors.add(1),
        _ => {}
    }
    wire.advance();
    outcome
}

#[cfg(test)]
#[path = "vf_source_tests.rs"]
mod tests;
