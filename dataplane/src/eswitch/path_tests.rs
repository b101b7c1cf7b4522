//! The switch's data path over test vectors: hits to VFs on their counters,
//! misses to the workers by flow hash, back-pressure from a full worker ring,
//! the uplink budget, and the VF meter on the hardware path; wildcard rules
//! ahead of exact ones, their drops and their counters.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use crossbeam_channel::{bounded, Sender};
use etherparse::PacketBuilder;

use super::*;
use crate::eswitch::{
    CounterBank, EswitchCommand, EswitchConfig, EswitchReply, IpMatch, WildAction, WildMatch,
    WildRule,
};
use crate::flow::{FlowKey, KeyV4, NO_VLAN};
use crate::meter::MeterUnit;
use crate::testio::{VecBurst, VecRx, VecTx};

static NOW: AtomicU64 = AtomicU64::new(0);

fn clock() -> u64 {
    NOW.load(Relaxed)
}

/// An IPv4/UDP frame from 10.0.0.`host`.
fn udp(host: u8) -> Vec<u8> {
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 0xfe], [2, 0, 0, 0, 0, 1])
        .ipv4([10, 0, 0, host], [192, 168, 0, 1], 64)
        .udp(1000, 5001);
    let mut out = Vec::new();
    b.write(&mut out, &[0u8; 22]).unwrap();
    out
}

/// An ARP request: no flow key.
fn arp() -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&[2, 0, 0, 0, 0, 0xfe, 0x08, 0x06]);
    f.resize(60, 0);
    f
}

/// A later fragment (offset 128 bytes) of a datagram from 10.0.0.`host`: no
/// ports, so no flow key.
fn fragment(host: u8) -> Vec<u8> {
    let mut f = udp(host);
    f[14 + 6] = 0x00;
    f[14 + 7] = 0x10;
    f
}

/// A wildcard rule for IPv4 packets from 10.0.0.`host`.
fn from_host(host: u8, action: WildAction, counter: Option<u32>, metered: bool) -> WildRule {
    WildRule {
        priority: 0,
        matches: WildMatch {
            src: Some(IpMatch::host([10, 0, 0, host].into())),
            ..WildMatch::default()
        },
        action,
        counter,
        metered,
    }
}

fn key(host: u8) -> FlowKey {
    FlowKey::V4(KeyV4 {
        src: [10, 0, 0, host],
        dst: [192, 168, 0, 1],
        sport: 1000,
        dport: 5001,
        vlan: NO_VLAN,
        proto: 17,
        in_port: 0,
    })
}

struct Rig {
    path: SwitchPath<VecRx, VecTx>,
    stats: Arc<EswitchStats>,
    bank: Arc<CounterBank>,
    cmd: Sender<EswitchCommand>,
    replies: crossbeam_channel::Receiver<EswitchReply>,
}

fn rig(frames: Vec<Vec<u8>>, workers: usize, budget: Option<u64>, meter_pps: u64) -> Rig {
    let bank = Arc::new(CounterBank::new(16));
    let (cmd, cmd_rx) = bounded(16);
    let (reply_tx, replies) = bounded(16);
    let config = EswitchConfig {
        max_rules: 8,
        max_wildcards: 4,
        inserts_per_sec: 0,
        clock_hz: 1000,
    };
    let engine = Eswitch::new(config, Arc::clone(&bank), cmd_rx, reply_tx, clock);
    let stats = Arc::new(EswitchStats::new(3));
    let meters = (0..3)
        .map(|p| {
            (p == 2 && meter_pps > 0)
                .then(|| Arc::new(RateMeter::new(MeterUnit::Packets, meter_pps, 1, 1000, 0)))
        })
        .collect();
    let ports = SwitchPorts {
        uplink: VecRx::with_frames(frames),
        budget,
        to_ports: (0..3).map(|p| (p > 0).then(VecTx::default)).collect(),
        to_workers: (0..workers).map(|_| VecTx::default()).collect(),
        meters,
    };
    Rig {
        path: SwitchPath::new(engine, ports, Arc::clone(&stats), 32, clock),
        stats,
        bank,
        cmd,
        replies,
    }
}

impl Rig {
    fn install(&mut self, rule: u64, host: u8, counter: u32, metered: bool) {
        self.cmd
            .send(EswitchCommand::Install {
                rule,
                key: key(host),
                out_port: PortIdx(2),
                counter,
                metered,
            })
            .unwrap();
        self.path.engine.take_commands();
        assert_eq!(
            self.replies.try_recv().unwrap(),
            EswitchReply::Installed { rule }
        );
    }

    fn add_wild(&mut self, rule: u64, wild: WildRule) {
        self.cmd
            .send(EswitchCommand::AddWildcard { rule, wild })
            .unwrap();
        self.path.engine.take_commands();
        assert_eq!(
            self.replies.try_recv().unwrap(),
            EswitchReply::Installed { rule }
        );
    }

    fn remove_wild(&mut self, rule: u64) {
        self.cmd
            .send(EswitchCommand::RemoveWildcard { rule })
            .unwrap();
        self.path.engine.take_commands();
        assert_eq!(
            self.replies.try_recv().unwrap(),
            EswitchReply::Removed { rule }
        );
    }

    fn sent_to(&self, port: usize) -> usize {
        self.path.to_ports[port]
            .as_ref()
            .map_or(0, |q| q.sent.len())
    }

    /// Every packet taken from the uplink hit a rule of either table or
    /// missed.
    fn assert_all_accounted(&self) {
        let s = &self.stats;
        assert_eq!(
            s.ports[0].rx_packets.load(Relaxed),
            s.hits.load(Relaxed) + s.wildcard_hits.load(Relaxed) + s.misses.load(Relaxed)
        );
    }

    fn run_until_quiet(&mut self) {
        let mut burst = VecBurst::default();
        for _ in 0..1000 {
            if self.path.poll_once(&mut burst, true) == 0 {
                return;
            }
        }
        panic!("the switch kept moving packets");
    }

    fn to_workers(&self) -> usize {
        self.path.to_workers.iter().map(|q| q.sent.len()).sum()
    }
}

#[test]
fn hits_go_to_the_rule_port_on_its_counter_and_misses_to_the_workers() {
    let frames: Vec<_> = (0..10).flat_map(|_| [udp(1), udp(2), udp(3)]).collect();
    let mut r = rig(frames, 1, None, 0);
    r.install(1, 1, 4, false);
    r.run_until_quiet();
    assert_eq!(r.path.to_ports[2].as_ref().unwrap().sent.len(), 10);
    assert_eq!(r.bank.get(4).unwrap().read(), (10, 10 * 64));
    assert_eq!(r.to_workers(), 20);
    assert_eq!(r.stats.hits.load(Relaxed), 10);
    assert_eq!(r.stats.misses.load(Relaxed), 20);
    assert_eq!(r.stats.ports[0].rx_packets.load(Relaxed), 30);
    assert_eq!(r.stats.ports[2].tx_packets.load(Relaxed), 10);
    assert_eq!(r.stats.ports[2].tx_bytes.load(Relaxed), 640);
}

#[test]
fn a_flow_always_reaches_the_same_worker() {
    let frames: Vec<_> = (0..5)
        .flat_map(|_| (1..=40).map(udp).collect::<Vec<_>>())
        .collect();
    let mut r = rig(frames, 3, None, 0);
    r.run_until_quiet();
    let mut owner = std::collections::HashMap::new();
    for (w, q) in r.path.to_workers.iter().enumerate() {
        for f in &q.sent {
            let prev = owner.insert(f.clone(), w);
            assert!(prev.is_none_or(|p| p == w), "a flow went to two workers");
        }
    }
    let busy = r.path.to_workers.iter().filter(|q| !q.sent.is_empty());
    assert_eq!(busy.count(), 3, "40 flows spread over 3 workers");
    assert_eq!(r.to_workers(), 200);
}

#[test]
fn a_full_worker_ring_holds_the_uplink_back_and_loses_nothing() {
    let frames: Vec<_> = (0..100).map(|i| udp(i as u8)).collect();
    let mut r = rig(frames, 1, None, 0);
    r.path.to_workers[0].accept_per_call = Some(5);
    let mut burst = VecBurst::default();
    r.path.poll_once(&mut burst, true);
    assert_eq!(r.to_workers(), 5);
    assert_eq!(r.stats.backlog.load(Relaxed), 27);
    // While misses wait, the uplink is not read.
    r.path.poll_once(&mut burst, true);
    assert_eq!(r.stats.ports[0].rx_packets.load(Relaxed), 32);
    r.run_until_quiet();
    assert_eq!(r.to_workers(), 100);
    assert_eq!(r.stats.backlog.load(Relaxed), 0);
}

#[test]
fn the_budget_bounds_what_is_taken_from_the_uplink() {
    let frames: Vec<_> = (0..100).map(|_| udp(1)).collect();
    let mut r = rig(frames, 1, Some(70), 0);
    assert!(!r.path.drained());
    r.run_until_quiet();
    assert_eq!(r.stats.ports[0].rx_packets.load(Relaxed), 70);
    assert!(r.path.drained());
}

#[test]
fn receiving_off_still_empties_the_backlog() {
    let frames: Vec<_> = (0..40).map(|i| udp(i as u8)).collect();
    let mut r = rig(frames, 1, None, 0);
    r.path.to_workers[0].accept_per_call = Some(10);
    let mut burst = VecBurst::default();
    r.path.poll_once(&mut burst, true);
    while r.path.poll_once(&mut burst, false) > 0 {}
    assert_eq!(r.to_workers(), 32, "the first burst, and no more");
}

#[test]
fn metered_rules_are_policed_and_the_drops_counted_on_the_vf() {
    // 50 packets at one clock tick: the 1000 pps meter with a burst of one
    // passes the first.
    NOW.store(0, Relaxed);
    let frames: Vec<_> = (0..50).map(|_| udp(1)).collect();
    let mut r = rig(frames, 1, None, 1000);
    r.install(1, 1, 3, true);
    r.run_until_quiet();
    assert_eq!(
        r.bank.get(3).unwrap().read().0,
        50,
        "the counter sees all hits"
    );
    assert_eq!(r.path.to_ports[2].as_ref().unwrap().sent.len(), 1);
    assert_eq!(r.stats.ports[2].drop_meter.load(Relaxed), 49);
}

#[test]
fn a_wildcard_drop_counts_on_its_counter_and_forwards_nothing() {
    let frames: Vec<_> = (0..10).flat_map(|_| [udp(1), udp(2), udp(3)]).collect();
    let mut r = rig(frames, 1, None, 0);
    r.install(1, 1, 4, false);
    r.add_wild(1, from_host(2, WildAction::Drop, Some(7), false));
    r.run_until_quiet();
    assert_eq!(r.sent_to(2), 10, "only the exact rule's flow");
    assert_eq!(r.sent_to(1), 0);
    assert_eq!(r.to_workers(), 10, "only 10.0.0.3 misses");
    assert_eq!(r.bank.get(4).unwrap().read(), (10, 640));
    assert_eq!(r.bank.get(7).unwrap().read(), (10, 640));
    assert_eq!(r.stats.hits.load(Relaxed), 10);
    assert_eq!(r.stats.hit_bytes.load(Relaxed), 640);
    assert_eq!(r.stats.wildcard_hits.load(Relaxed), 10);
    assert_eq!(r.stats.wildcard_hit_bytes.load(Relaxed), 640);
    assert_eq!(r.stats.wildcard_drops.load(Relaxed), 10);
    assert_eq!(r.stats.misses.load(Relaxed), 10);
    assert_eq!(r.stats.ports[0].tx_dropped.load(Relaxed), 0);
    assert_eq!(r.stats.ports[2].tx_packets.load(Relaxed), 10);
    r.assert_all_accounted();
}

#[test]
fn a_wildcard_rule_takes_a_flow_from_its_exact_rule_until_removed() {
    let frames: Vec<_> = (0..20).map(|_| udp(1)).collect();
    let mut r = rig(frames, 1, Some(10), 0);
    r.install(1, 1, 4, false);
    r.add_wild(
        9,
        from_host(1, WildAction::Forward(PortIdx(1)), Some(5), false),
    );
    r.run_until_quiet();
    assert_eq!((r.sent_to(1), r.sent_to(2)), (10, 0));
    assert_eq!(r.bank.get(5).unwrap().read(), (10, 640));
    assert_eq!(
        r.bank.get(4).unwrap().read(),
        (0, 0),
        "the exact rule saw none"
    );
    assert_eq!(r.stats.hits.load(Relaxed), 0);
    assert_eq!(r.stats.wildcard_hits.load(Relaxed), 10);
    assert_eq!(r.stats.wildcard_drops.load(Relaxed), 0);
    assert_eq!(r.stats.ports[1].tx_packets.load(Relaxed), 10);
    // Removed, the flow's own rule carries it again.
    r.remove_wild(9);
    r.path.budget = Some(10);
    r.run_until_quiet();
    assert_eq!((r.sent_to(1), r.sent_to(2)), (10, 10));
    assert_eq!(
        r.bank.get(5).unwrap().read(),
        (10, 640),
        "no hit after removal"
    );
    assert_eq!(r.bank.get(4).unwrap().read(), (10, 640));
    assert_eq!(r.stats.hits.load(Relaxed), 10);
    assert_eq!(r.stats.wildcard_hits.load(Relaxed), 10);
    assert_eq!(r.to_workers(), 0);
    r.assert_all_accounted();
}

#[test]
fn a_metered_wildcard_forward_is_policed_and_one_without_a_counter_counts_nowhere() {
    NOW.store(0, Relaxed);
    let frames: Vec<_> = (0..50).map(|_| udp(1)).collect();
    let mut r = rig(frames, 1, None, 1000);
    r.add_wild(1, from_host(1, WildAction::Forward(PortIdx(2)), None, true));
    r.run_until_quiet();
    assert_eq!(r.sent_to(2), 1, "the meter's burst of one");
    assert_eq!(r.stats.ports[2].drop_meter.load(Relaxed), 49);
    assert_eq!(r.stats.wildcard_hits.load(Relaxed), 50);
    assert_eq!(r.stats.wildcard_drops.load(Relaxed), 0);
    for c in 0..r.bank.len() as u32 {
        assert_eq!(r.bank.get(c).unwrap().read(), (0, 0), "counter {c}");
    }
    r.assert_all_accounted();
}

#[test]
fn frames_without_a_flow_key_miss_even_a_match_everything_rule() {
    assert!(wire::parse(&arp()).is_err());
    assert!(wire::parse(&fragment(1)).is_err());
    let frames: Vec<_> = (0..5).flat_map(|_| [arp(), fragment(1), udp(1)]).collect();
    let mut r = rig(frames, 1, None, 0);
    r.add_wild(
        1,
        WildRule {
            priority: 7,
            matches: WildMatch::default(),
            action: WildAction::Drop,
            counter: Some(2),
            metered: false,
        },
    );
    r.run_until_quiet();
    assert_eq!(r.to_workers(), 10, "ARP and fragments go to the workers");
    assert_eq!(r.stats.misses.load(Relaxed), 10);
    assert_eq!(r.stats.wildcard_drops.load(Relaxed), 5);
    assert_eq!(r.bank.get(2).unwrap().read(), (5, 320));
    r.assert_all_accounted();
}

#[test]
fn a_wildcard_forward_to_a_port_without_a_queue_is_counted_not_a_panic() {
    let frames: Vec<_> = (0..4).flat_map(|_| [udp(1), udp(2)]).collect();
    let mut r = rig(frames, 1, None, 0);
    // Port 9 does not exist (metered, to try the meter's lookup too); the
    // uplink, port 0, has no TX queue on the switch.
    r.add_wild(
        1,
        from_host(1, WildAction::Forward(PortIdx(9)), Some(1), true),
    );
    r.add_wild(
        2,
        from_host(2, WildAction::Forward(PortIdx(0)), Some(2), false),
    );
    r.run_until_quiet();
    assert_eq!(r.stats.ports[0].tx_dropped.load(Relaxed), 8);
    assert_eq!(r.bank.get(1).unwrap().read().0, 4);
    assert_eq!(r.bank.get(2).unwrap().read().0, 4);
    assert_eq!((r.sent_to(1), r.sent_to(2), r.to_workers()), (0, 0, 0));
    r.assert_all_accounted();
}

#[test]
fn a_queue_rule_counts_its_hits_and_hands_them_to_that_worker_as_misses() {
    let frames: Vec<_> = (0..10)
        .flat_map(|_| (1..=8).map(udp).collect::<Vec<_>>())
        .collect();
    let mut r = rig(frames, 3, None, 0);
    // Every 10.0.0.2 packet to queue 2, whatever worker its hash would pick.
    r.add_wild(1, from_host(2, WildAction::Queue(2), Some(5), false));
    r.run_until_quiet();
    let host2 = udp(2);
    for (w, q) in r.path.to_workers.iter().enumerate() {
        let n = q.sent.iter().filter(|f| **f == host2).count();
        assert_eq!(n, if w == 2 { 10 } else { 0 }, "worker {w}");
    }
    assert_eq!(r.bank.get(5).unwrap().read(), (10, 640));
    assert_eq!(r.to_workers(), 80, "the queue rule's hits go to the host");
    assert_eq!(r.stats.misses.load(Relaxed), 80);
    assert_eq!(
        r.stats.wildcard_hits.load(Relaxed),
        0,
        "not carried by the NIC"
    );
    assert_eq!(r.sent_to(1) + r.sent_to(2), 0);
    r.assert_all_accounted();
}

#[test]
fn a_jumbo_frame_in_chained_buffers_hits_its_rule_by_its_whole_length() {
    // A 9000-byte datagram from 10.0.0.1 whose first segment holds 2048
    // bytes: the switch keys it from that segment and counts all 9000.
    let mut jumbo = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 0xfe], [2, 0, 0, 0, 0, 1])
        .ipv4([10, 0, 0, 1], [192, 168, 0, 1], 64)
        .udp(1000, 5001)
        .write(&mut jumbo, &vec![7u8; 9000 - 42])
        .unwrap();
    let mut r = rig(Vec::new(), 1, None, 0);
    r.path.uplink = VecRx::with_packets(
        (0..4).map(|_| crate::testio::VecPacket::segmented(jumbo.clone(), 2048)),
    );
    r.install(1, 1, 4, false);
    r.run_until_quiet();
    assert_eq!(r.bank.get(4).unwrap().read(), (4, 4 * 9000));
    assert_eq!(r.sent_to(2), 4);
    assert!(r.path.to_ports[2]
        .as_ref()
        .unwrap()
        .sent
        .iter()
        .all(|f| *f == jumbo));
    r.assert_all_accounted();
}
