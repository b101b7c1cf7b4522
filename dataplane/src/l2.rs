//! Forwarding by destination MAC, as an SR-IOV NIC's embedded switch does it:
//! frames from the uplink go to the VF that owns their destination MAC; frames
//! from a VF go to another VF when that VF owns their destination MAC (VM to
//! VM), else to the uplink (the outside: unknown unicast, group addresses, and
//! the VF's own MAC, since a switch never sends a frame back where it came
//! from). Unknown unicast and group (broadcast/multicast) destinations on the
//! uplink are dropped or flooded to every VF, per config.

use crate::mac::MacAddr;
use crate::PortIdx;

/// What to do with a frame whose destination no VF owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissAction {
    /// Drop it and count it.
    #[default]
    Drop,
    /// Send a copy to every VF.
    Flood,
}

/// Why a frame was dropped by the forwarding decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Shorter than an Ethernet header.
    Runt,
    /// Unicast to a MAC no VF owns.
    UnknownUnicast,
    /// Broadcast or multicast.
    Group,
}

/// Where a frame goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Forward(PortIdx),
    Flood,
    Drop(DropReason),
}

/// The MAC table: a handful of VFs, searched linearly (faster than hashing at
/// this size, and it never allocates after construction).
#[derive(Debug, Clone)]
pub struct L2Table {
    uplink: PortIdx,
    /// (MAC as u64, VF port), one per VF.
    vfs: Vec<(u64, PortIdx)>,
    unknown_unicast: MissAction,
    group: MissAction,
}

/// Ethernet header length: destination, source, ethertype.
const ETH_HDR_LEN: usize = 14;

impl L2Table {
    /// A table for `uplink` and the VFs `(mac, port)`.
    pub fn new(
        uplink: PortIdx,
        vfs: &[(MacAddr, PortIdx)],
        unknown_unicast: MissAction,
        group: MissAction,
    ) -> Self {
        L2Table {
            uplink,
            vfs: vfs.iter().map(|(m, p)| (m.to_u64(), *p)).collect(),
            unknown_unicast,
            group,
        }
    }

    /// The uplink port.
    pub fn uplink(&self) -> PortIdx {
        self.uplink
    }

    /// The VF ports, in table order (the flood list).
    pub fn vf_ports(&self) -> impl Iterator<Item = PortIdx> + '_ {
        self.vfs.iter().map(|(_, p)| *p)
    }

    /// Decides where `frame`, received on `in_port`, goes.
    #[inline]
    pub fn decide(&self, in_port: PortIdx, frame: &[u8]) -> Verdict {
        if frame.len() < ETH_HDR_LEN {
            return Verdict::Drop(DropReason::Runt);
        }
        let Some(dst) = MacAddr::from_slice(frame) else {
            return Verdict::Drop(DropReason::Runt);
        };
        if in_port != self.uplink {
            return Verdict::Forward(self.vf_from_vf(in_port, dst));
        }
        if dst.is_group() {
            return match self.group {
                MissAction::Drop => Verdict::Drop(DropReason::Group),
                MissAction::Flood => Verdict::Flood,
            };
        }
        let key = dst.to_u64();
        for &(mac, port) in &self.vfs {
            if mac == key {
                return Verdict::Forward(port);
            }
        }
        match self.unknown_unicast {
            MissAction::Drop => Verdict::Drop(DropReason::UnknownUnicast),
            MissAction::Flood => Verdict::Flood,
        }
    }

    /// Where a frame a VF sent (`in_port`) to `dst` goes: the other VF that
    /// owns `dst`, else the uplink. Group addresses go to the uplink only
    /// (the VMs behind the other VFs do not get a VM's broadcasts).
    #[inline]
    fn vf_from_vf(&self, in_port: PortIdx, dst: MacAddr) -> PortIdx {
        if !dst.is_group() {
            let key = dst.to_u64();
            for &(mac, port) in &self.vfs {
                if mac == key && port != in_port {
                    return port;
                }
            }
        }
        self.uplink
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(miss: MissAction) -> L2Table {
        let vf = |i: u8| (MacAddr([2, 0, 0, 0, 0, i]), PortIdx(u16::from(i)));
        L2Table::new(PortIdx(0), &[vf(1), vf(2)], miss, miss)
    }

    fn frame(dst: [u8; 6]) -> Vec<u8> {
        let mut f = dst.to_vec();
        f.extend_from_slice(&[2, 0, 0, 0, 0, 0xfe, 0x08, 0x00]);
        f.resize(60, 0);
        f
    }

    #[test]
    fn uplink_frames_go_to_the_vf_owning_the_mac() {
        let t = table(MissAction::Drop);
        assert_eq!(
            t.decide(PortIdx(0), &frame([2, 0, 0, 0, 0, 2])),
            Verdict::Forward(PortIdx(2))
        );
        assert_eq!(
            t.decide(PortIdx(0), &frame([2, 0, 0, 0, 0, 1])),
            Verdict::Forward(PortIdx(1))
        );
    }

    #[test]
    fn vf_frames_go_to_the_vf_owning_the_mac_else_to_the_uplink() {
        // Whatever the uplink's miss actions: they are for the wire's frames.
        for miss in [MissAction::Drop, MissAction::Flood] {
            let t = table(miss);
            // VM to VM, both ways.
            assert_eq!(
                t.decide(PortIdx(1), &frame([2, 0, 0, 0, 0, 2])),
                Verdict::Forward(PortIdx(2))
            );
            assert_eq!(
                t.decide(PortIdx(2), &frame([2, 0, 0, 0, 0, 1])),
                Verdict::Forward(PortIdx(1))
            );
            // To the outside: a MAC no VF owns, a group address, and the
            // VF's own MAC (never sent back where it came from).
            for dst in [
                [2, 0, 0, 0, 0, 9],
                [0xff; 6],
                [1, 0, 0x5e, 0, 0, 1],
                [2, 0, 0, 0, 0, 1],
            ] {
                assert_eq!(
                    t.decide(PortIdx(1), &frame(dst)),
                    Verdict::Forward(PortIdx(0)),
                    "{dst:x?}"
                );
            }
        }
    }

    #[test]
    fn misses_follow_the_configured_action() {
        let drop = table(MissAction::Drop);
        assert_eq!(
            drop.decide(PortIdx(0), &frame([2, 0, 0, 0, 0, 9])),
            Verdict::Drop(DropReason::UnknownUnicast)
        );
        assert_eq!(
            drop.decide(PortIdx(0), &frame([0xff; 6])),
            Verdict::Drop(DropReason::Group)
        );
        assert_eq!(
            drop.decide(PortIdx(0), &frame([1, 0, 0x5e, 0, 0, 1])),
            Verdict::Drop(DropReason::Group)
        );
        let flood = table(MissAction::Flood);
        assert_eq!(
            flood.decide(PortIdx(0), &frame([2, 0, 0, 0, 0, 9])),
            Verdict::Flood
        );
        assert_eq!(flood.decide(PortIdx(0), &frame([0xff; 6])), Verdict::Flood);
    }

    #[test]
    fn short_frames_are_runts() {
        let t = table(MissAction::Flood);
        for len in 0..14 {
            assert_eq!(
                t.decide(PortIdx(0), &vec![2u8; len]),
                Verdict::Drop(DropReason::Runt)
            );
            assert_eq!(
                t.decide(PortIdx(1), &vec![2u8; len]),
                Verdict::Drop(DropReason::Runt)
            );
        }
    }
}
