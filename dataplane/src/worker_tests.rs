//! The worker loop over test vectors: forwarding, per-flow counters, the flow
//! table in the path (hits, misses, a full table), policy rules, events and
//! evictions, TX refusals, with every packet accounted for.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use crossbeam_channel::{bounded, Receiver, Sender};
use etherparse::PacketBuilder;

use super::*;
use crate::l2::{L2Table, MissAction};
use crate::mac::MacAddr;
use crate::meter::{MeterUnit, RateMeter};
use crate::policy::{Rule, RuleAction};
use crate::stats::PortTotals;
use crate::testio::{TxStall, VecBurst, VecPacket, VecRx, VecTx};
use std::time::{Duration, Instant};

/// An IPv4/UDP frame to VF `vf` (MAC 02:00:00:00:00:vf) from 10.0.0.`host`:`sport`.
fn udp(vf: u8, host: u8, sport: u16, len: usize) -> Vec<u8> {
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 0xfe], [2, 0, 0, 0, 0, vf])
        .ipv4([10, 0, 0, host], [192, 168, 0, 1], 64)
        .udp(sport, 5001);
    let payload = vec![0u8; len.saturating_sub(42)];
    let mut out = Vec::new();
    b.write(&mut out, &payload).unwrap();
    out
}

fn arp(len: usize) -> Vec<u8> {
    let mut f = vec![
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 0xfe, 0x08, 0x06,
    ];
    f.resize(len, 0);
    f
}

struct Rig {
    worker: Worker<VecRx, VecTx>,
    stats: Arc<WorkerStats>,
    counters: Arc<FlowCounters>,
    events: Receiver<FlowEvent>,
    commands: Sender<WorkerCommand>,
}

fn rig(
    rx: Vec<RxAssignment<VecRx>>,
    miss: MissAction,
    rules: Vec<Rule>,
    flows: usize,
    event_room: usize,
) -> Rig {
    rig_draining(rx, miss, rules, flows, event_room, 0, Vec::new())
}

/// A rig whose worker lets partial TX batches wait `drain` clock ticks.
fn rig_draining(
    rx: Vec<RxAssignment<VecRx>>,
    miss: MissAction,
    rules: Vec<Rule>,
    flows: usize,
    event_room: usize,
    drain: u64,
    meters: Vec<Option<Arc<RateMeter>>>,
) -> Rig {
    let vfs: Vec<(MacAddr, PortIdx)> = (1..=3u8)
        .map(|i| (MacAddr([2, 0, 0, 0, 0, i]), PortIdx(u16::from(i))))
        .collect();
    let policy = Policy::new(rules, L2Table::new(PortIdx(0), &vfs, miss, miss));
    let stats = Arc::new(WorkerStats::new(4));
    let counters = Arc::new(FlowCounters::new(
        Worker::<VecRx, VecTx>::flow_slots_needed(flows, flows),
    ));
    let (ev_tx, ev_rx) = bounded(event_room);
    let (cmd_tx, cmd_rx) = bounded(16);
    let setup = WorkerSetup {
        policy,
        burst: 32,
        flows_v4: flows,
        flows_v6: flows,
        stats: Arc::clone(&stats),
        counters: Arc::clone(&counters),
        events: ev_tx,
        commands: cmd_rx,
        clock: (|| 1000) as fn() -> u64,
        tx_drain_ticks: drain,
        meters,
    };
    let tx = (0..4).map(|_| VecTx::default()).collect();
    Rig {
        worker: Worker::new(rx, tx, setup),
        stats,
        counters,
        events: ev_rx,
        commands: cmd_tx,
    }
}

fn uplink(frames: Vec<Vec<u8>>) -> Vec<RxAssignment<VecRx>> {
    vec![RxAssignment {
        port: PortIdx(0),
        queue: VecRx::with_frames(frames),
        budget: None,
    }]
}

fn totals(stats: &WorkerStats) -> Vec<PortTotals> {
    WorkerStats::port_totals([stats], 4)
}

fn run_until_empty(w: &mut Worker<VecRx, VecTx>) {
    let mut b = VecBurst::default();
    while w.poll_once(&mut b) > 0 {}
}

fn new_flows(events: &Receiver<FlowEvent>) -> Vec<(FlowId, FlowKey)> {
    events
        .try_iter()
        .filter_map(|e| match e {
            FlowEvent::New { id, key, .. } => Some((id, key)),
            _ => None,
        })
        .collect()
}

#[test]
fn forwards_every_frame_to_its_vf_in_order_and_counts_each_flow() {
    // 200 packets of 20 flows (host i % 20), spread over three VFs.
    let input: Vec<Vec<u8>> = (0..200)
        .map(|i| {
            udp(
                1 + (i % 3) as u8,
                (i % 20) as u8,
                1000 + (i % 20) as u16,
                60 + i,
            )
        })
        .collect();
    let mut r = rig(uplink(input.clone()), MissAction::Drop, vec![], 1024, 1024);
    run_until_empty(&mut r.worker);
    let t = totals(&r.stats);
    assert_eq!(t[0].rx_packets, 200);
    assert_eq!(
        t[0].rx_bytes,
        input.iter().map(|f| f.len() as u64).sum::<u64>()
    );
    for vf in 1..=3u8 {
        // A flow's action is its first packet's: flow h went to VF 1 + (h % 3).
        let want: Vec<&Vec<u8>> = input
            .iter()
            .enumerate()
            .filter(|(i, _)| 1 + ((i % 20) % 3) as u8 == vf)
            .map(|(_, f)| f)
            .collect();
        let got: Vec<&Vec<u8>> = r.worker.tx[vf as usize].queue.sent.iter().collect();
        assert_eq!(
            got, want,
            "vf{vf} gets its flows' frames, byte for byte, in order"
        );
    }
    let flows = new_flows(&r.events);
    assert_eq!(flows.len(), 20, "one New event per flow");
    assert_eq!(r.worker.flow_count(), 20);
    let mut packets = 0;
    for (id, key) in &flows {
        let c = r.counters.get(*id).unwrap().snapshot();
        assert_eq!(c.packets, 10, "{key}");
        packets += c.packets;
    }
    assert_eq!(packets, 200);
    assert_eq!(r.stats.flows_created.load(Relaxed), 20);
}

#[test]
fn frames_without_a_key_follow_l2_and_are_counted_by_reason() {
    let mut r = rig(
        uplink(vec![arp(60), vec![2, 0, 0, 0, 0, 1, 9], udp(2, 1, 1, 64)]),
        MissAction::Flood,
        vec![],
        64,
        64,
    );
    run_until_empty(&mut r.worker);
    let reasons = WorkerStats::parse_error_totals([r.stats.as_ref()]);
    let count = |label: &str| {
        reasons
            .iter()
            .find(|(e, _)| e.label() == label)
            .map_or(0, |(_, n)| *n)
    };
    assert_eq!(count("non_ip"), 1);
    assert_eq!(
        reasons.iter().map(|(_, n)| n).sum::<u64>(),
        2,
        "{reasons:?}"
    );
    let t = totals(&r.stats);
    assert_eq!(t[0].flooded, 1, "the ARP broadcast is flooded");
    assert_eq!(t[0].drop_runt, 1);
    assert_eq!(t[2].tx_packets, 2, "vf2: the flood copy and its UDP flow");
    assert_eq!(r.worker.flow_count(), 1);
}

#[test]
fn fragments_the_first_too_are_no_flow_and_go_by_the_mac_table() {
    // RSS hashes a first fragment over its addresses, its flow's whole
    // datagrams over their ports too: keyed, it could open its flow on a
    // second worker.
    let whole = udp(2, 1, 7, 64);
    let mut first = whole.clone();
    first[20..22].copy_from_slice(&0x2000u16.to_be_bytes());
    let mut later = whole.clone();
    later[20..22].copy_from_slice(&6u16.to_be_bytes());
    let mut r = rig(
        uplink(vec![first, whole, later]),
        MissAction::Flood,
        vec![],
        64,
        64,
    );
    run_until_empty(&mut r.worker);
    let reasons = WorkerStats::parse_error_totals([r.stats.as_ref()]);
    let fragments = reasons
        .iter()
        .find(|(e, _)| e.label() == "fragment")
        .map_or(0, |(_, n)| *n);
    assert_eq!(fragments, 2, "{reasons:?}");
    assert_eq!(r.worker.flow_count(), 1);
    let created = new_flows(&r.events);
    assert_eq!(created.len(), 1);
    let c = r.counters.get(created[0].0).unwrap().snapshot();
    assert_eq!(c.packets, 1, "the flow holds its whole datagram only");
    let t = totals(&r.stats);
    assert_eq!(t[2].tx_packets, 3, "every frame to vf2 by its MAC");
}

#[test]
fn rules_decide_before_the_mac_table_and_drops_are_counted() {
    let rules = vec![
        Rule {
            priority: 2,
            sport: Some("100-199".parse().unwrap()),
            action: Some(RuleAction::Output(PortIdx(3))),
            ..Rule::default()
        },
        Rule {
            priority: 1,
            src: Some("10.0.0.7/32".parse().unwrap()),
            action: Some(RuleAction::Drop),
            ..Rule::default()
        },
    ];
    let frames = vec![
        udp(1, 1, 150, 60),
        udp(1, 7, 50, 60),
        udp(1, 7, 50, 60),
        udp(1, 2, 50, 60),
    ];
    let mut r = rig(uplink(frames.clone()), MissAction::Drop, rules, 64, 64);
    run_until_empty(&mut r.worker);
    let t = totals(&r.stats);
    assert_eq!(r.worker.tx[3].queue.sent, vec![frames[0].clone()]);
    assert_eq!(t[0].drop_rule, 2);
    assert_eq!(r.worker.tx[1].queue.sent, vec![frames[3].clone()]);
}

#[test]
fn a_new_policy_decides_new_flows_only_and_the_old_one_comes_back() {
    let drop_150 = Rule {
        priority: 1,
        sport: Some("100-199".parse().unwrap()),
        action: Some(RuleAction::Drop),
        ..Rule::default()
    };
    let (old_flow, new_flow) = (udp(1, 1, 150, 60), udp(1, 2, 160, 60));
    let mut r = rig(
        uplink(vec![old_flow.clone()]),
        MissAction::Drop,
        vec![],
        64,
        64,
    );
    run_until_empty(&mut r.worker);
    let l2 = L2Table::new(
        PortIdx(0),
        &[(MacAddr([2, 0, 0, 0, 0, 1]), PortIdx(1))],
        MissAction::Drop,
        MissAction::Drop,
    );
    let (retired_tx, retired) = bounded(1);
    r.commands
        .send(WorkerCommand::SetPolicy {
            policy: Box::new(Policy::new(vec![drop_150], l2)),
            retired: retired_tx,
        })
        .unwrap();
    r.worker.take_commands();
    let old = retired.try_recv().expect("the old policy handed back");
    assert!(old.rules().is_empty(), "{old:?}");
    r.worker.rx[0]
        .queue
        .pending
        .extend([old_flow.clone(), new_flow].map(VecPacket::new));
    run_until_empty(&mut r.worker);
    let t = totals(&r.stats);
    assert_eq!(
        r.worker.tx[1].queue.sent,
        vec![old_flow.clone(), old_flow],
        "the flow already in the table keeps its action"
    );
    assert_eq!(t[0].drop_rule, 1, "the new flow goes by the new rule");
}

#[test]
fn a_full_table_still_forwards_uncached_and_counts_table_full() {
    // Tables of 8 entries; 40 flows of 2 packets each.
    let frames: Vec<Vec<u8>> = (0..80).map(|i| udp(1, (i % 40) as u8, 2000, 60)).collect();
    let mut r = rig(uplink(frames), MissAction::Drop, vec![], 8, 1024);
    run_until_empty(&mut r.worker);
    let cap = r.worker.flow_count() as u64;
    assert!(cap >= 8, "the table filled up: {cap}");
    let t = totals(&r.stats);
    assert_eq!(t[1].tx_packets, 80, "every packet forwarded, cached or not");
    assert_eq!(r.stats.table_full.load(Relaxed), 80 - 2 * cap);
    let counted: u64 = new_flows(&r.events)
        .iter()
        .map(|(id, _)| r.counters.get(*id).unwrap().snapshot().packets)
        .sum();
    assert_eq!(counted + r.stats.table_full.load(Relaxed), 80);
}

#[test]
fn the_control_core_evicts_idle_flows_and_gets_their_final_counters() {
    let mut r = rig(
        uplink(vec![udp(1, 1, 1, 60), udp(1, 1, 1, 70), udp(2, 2, 2, 80)]),
        MissAction::Drop,
        vec![],
        64,
        64,
    );
    run_until_empty(&mut r.worker);
    let flows = new_flows(&r.events);
    let (id, key) = flows[0];
    // Not idle yet: the flow's last packet was at 1000, after `idle_since`.
    r.commands
        .send(WorkerCommand::Evict {
            id,
            idle_since: 999,
        })
        .unwrap();
    r.worker.take_commands();
    assert_eq!(r.worker.flow_count(), 2);
    r.commands
        .send(WorkerCommand::Evict {
            id,
            idle_since: 1000,
        })
        .unwrap();
    r.commands
        .send(WorkerCommand::Evict {
            id,
            idle_since: 1000,
        })
        .unwrap();
    r.worker.take_commands();
    assert_eq!(
        r.worker.flow_count(),
        1,
        "evicted once; the repeat is harmless"
    );
    match r.events.try_recv().unwrap() {
        FlowEvent::Ended {
            id: got,
            key: k,
            counters,
            reason,
            ..
        } => {
            assert_eq!((got, k, reason), (id, key, EndReason::Idle));
            assert_eq!((counters.packets, counters.bytes), (2, 130));
        }
        other => panic!("{other:?}"),
    }
    assert!(r.events.try_recv().is_err());
    let left: Vec<_> = r.worker.remaining_flows().collect();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].3.packets, 1);
}

#[test]
fn with_the_event_queue_full_new_flows_still_run_are_announced_later_and_evictions_wait() {
    let frames: Vec<Vec<u8>> = (0..10).map(|i| udp(1, i, 7, 60)).collect();
    let mut r = rig(uplink(frames), MissAction::Drop, vec![], 64, 4);
    run_until_empty(&mut r.worker);
    assert_eq!(r.worker.flow_count(), 10);
    assert_eq!(r.stats.events_deferred.load(Relaxed), 6);
    assert_eq!(r.stats.events_dropped.load(Relaxed), 0);
    assert_eq!(totals(&r.stats)[1].tx_packets, 10);
    // The queue is still full: an eviction is put off, not lost.
    let evict = || WorkerCommand::Evict {
        id: FlowId(0),
        idle_since: 5000,
    };
    r.commands.send(evict()).unwrap();
    r.worker.take_commands();
    assert_eq!(r.stats.evictions_deferred.load(Relaxed), 1);
    assert_eq!(r.worker.flow_count(), 10);
    // As the control core drains the queue, the deferred flows are announced.
    let mut announced = std::collections::BTreeSet::new();
    for _ in 0..4 {
        for e in r.events.try_iter() {
            if let FlowEvent::New { id, .. } = e {
                assert!(announced.insert(id), "{id:?} announced twice");
            }
        }
        r.worker.take_commands();
    }
    assert_eq!(announced.len(), 10, "every flow announced once");
    r.commands.send(evict()).unwrap();
    r.worker.take_commands();
    assert_eq!(r.worker.flow_count(), 9);
}

#[test]
fn flooding_sends_one_copy_to_every_vf() {
    let mut bcast = udp(1, 1, 1, 60);
    bcast[..6].copy_from_slice(&[0xff; 6]);
    let mut r = rig(
        uplink(vec![bcast.clone(), arp(61)]),
        MissAction::Flood,
        vec![],
        64,
        64,
    );
    run_until_empty(&mut r.worker);
    let t = totals(&r.stats);
    assert_eq!(t[0].flooded, 2);
    for (slot, counters) in r.worker.tx.iter().zip(&t).skip(1) {
        assert_eq!(slot.queue.sent, vec![bcast.clone(), arp(61)]);
        assert_eq!(counters.tx_packets, 2);
    }
}

#[test]
fn vf_traffic_goes_up_or_to_another_vf_and_every_packet_is_accounted_for() {
    let rx = vec![
        RxAssignment {
            port: PortIdx(0),
            queue: VecRx::with_frames(vec![
                udp(9, 1, 1, 60),
                arp(60),
                vec![0; 10],
                udp(2, 2, 2, 64),
            ]),
            budget: None,
        },
        RxAssignment {
            port: PortIdx(2),
            // To VF 1's MAC (VM to VM), to a MAC no VF owns and a broadcast
            // (out of the uplink, whatever the uplink's miss actions).
            queue: VecRx::with_frames(vec![udp(1, 3, 3, 70), udp(9, 4, 4, 72), arp(80)]),
            budget: None,
        },
    ];
    let mut r = rig(rx, MissAction::Drop, vec![], 64, 64);
    run_until_empty(&mut r.worker);
    let t = totals(&r.stats);
    assert_eq!(t[0].rx_packets, 4);
    assert_eq!(
        (t[0].drop_unknown_unicast, t[0].drop_group, t[0].drop_runt),
        (1, 1, 1)
    );
    assert_eq!((t[2].rx_packets, t[2].policy_drops()), (3, 0));
    assert_eq!(
        r.worker.tx[0].queue.sent,
        vec![udp(9, 4, 4, 72), arp(80)],
        "the VF's frames for the outside go up"
    );
    assert_eq!(
        r.worker.tx[1].queue.sent,
        vec![udp(1, 3, 3, 70)],
        "VF 2's frame for VF 1's MAC goes to VF 1"
    );
    assert_eq!(r.worker.tx[2].queue.sent, vec![udp(2, 2, 2, 64)]);
    assert_eq!(
        (t[0].tx_packets, t[1].tx_packets, t[2].tx_packets),
        (2, 1, 1)
    );
    let received: u64 = t.iter().map(|p| p.rx_packets).sum();
    let sent: u64 = t.iter().map(|p| p.tx_packets).sum();
    let dropped: u64 = t.iter().map(|p| p.policy_drops() + p.tx_dropped).sum();
    assert_eq!(
        received,
        sent + dropped,
        "every packet is sent or counted as dropped"
    );
}

#[test]
fn a_budget_takes_exactly_that_many_packets() {
    let rx = vec![RxAssignment {
        port: PortIdx(0),
        queue: VecRx::with_frames((0..100).map(|_| udp(1, 1, 1, 60))),
        budget: Some(45),
    }];
    let mut r = rig(rx, MissAction::Drop, vec![], 64, 64);
    assert!(!r.worker.budgets_spent());
    run_until_empty(&mut r.worker);
    assert!(r.worker.budgets_spent());
    assert_eq!(totals(&r.stats)[0].rx_packets, 45);
    assert_eq!(r.worker.rx[0].queue.pending.len(), 55);
}

#[test]
fn refused_packets_are_counted_not_lost() {
    let mut r = rig(
        uplink((0..100).map(|_| udp(1, 1, 1, 100)).collect()),
        MissAction::Drop,
        vec![],
        64,
        64,
    );
    r.worker.tx[1].queue.accept_per_call = Some(10);
    run_until_empty(&mut r.worker);
    let t = totals(&r.stats);
    assert_eq!(t[1].tx_packets + t[1].tx_dropped, 100);
    assert_eq!(t[1].tx_packets, r.worker.tx[1].queue.sent.len() as u64);
    assert_eq!(t[1].tx_bytes, t[1].tx_packets * 100);
}

#[test]
fn run_stops_on_the_flag_and_flushes() {
    let mut r = rig(
        uplink((0..10).map(|_| udp(3, 1, 1, 60)).collect()),
        MissAction::Drop,
        vec![],
        64,
        64,
    );
    let signal = LcoreSignal::new();
    let epoch = signal.request(LcoreState::Stopped);
    r.worker.run(&signal);
    assert_eq!(r.stats.loops.load(Relaxed), 0);
    assert!(signal.has_acknowledged(epoch));
    assert_eq!(signal.acked().1, LcoreState::Stopped);
    let mut b = VecBurst::default();
    r.worker.poll_once(&mut b);
    assert_eq!(r.worker.tx[3].queue.sent.len(), 10);
}

#[test]
fn partial_batches_wait_while_traffic_flows_and_go_when_it_stops() {
    let frames: Vec<Vec<u8>> = (0..40).map(|i| udp(1 + (i % 2) as u8, 1, 1, 60)).collect();
    let mut r = rig_draining(
        uplink(frames),
        MissAction::Drop,
        vec![],
        64,
        64,
        1_000_000,
        Vec::new(),
    );
    let mut b = VecBurst::default();
    assert_eq!(r.worker.poll_once(&mut b), 32);
    assert!(
        r.worker.tx[1].queue.sent.is_empty(),
        "a partial batch waits for company"
    );
    assert_eq!(r.worker.poll_once(&mut b), 8);
    assert!(r.worker.tx[1].queue.sent.is_empty());
    assert_eq!(r.worker.poll_once(&mut b), 0);
    assert_eq!(
        r.worker.tx[1].queue.sent.len() + r.worker.tx[2].queue.sent.len(),
        40,
        "a quiet pass sends everything"
    );
    assert_eq!(totals(&r.stats)[1].tx_packets, 40);
}

#[test]
fn a_metered_port_gets_its_rate_and_the_rest_is_counted_as_meter_drops() {
    // The rig's clock stands still: a meter with a burst of 5 passes 5 packets.
    let meter = Arc::new(RateMeter::new(MeterUnit::Packets, 1000, 5, 1_000_000, 1000));
    let frames: Vec<Vec<u8>> = (0..40)
        .map(|i| udp(1 + (i % 2) as u8, 1 + (i % 2) as u8, 1000, 60))
        .collect();
    let mut r = rig_draining(
        uplink(frames),
        MissAction::Drop,
        vec![],
        64,
        64,
        0,
        vec![None, Some(meter), None, None],
    );
    run_until_empty(&mut r.worker);
    let t = totals(&r.stats);
    assert_eq!((t[1].tx_packets, t[1].drop_meter), (5, 15), "vf1 metered");
    assert_eq!((t[2].tx_packets, t[2].drop_meter), (20, 0), "vf2 not");
    // The flows keep every packet they sent, delivered or not.
    let counted: u64 = (0..64)
        .filter_map(|i| r.counters.get(FlowId(i)))
        .map(|c| c.snapshot().packets)
        .sum();
    assert_eq!(counted, 40);
}

/// An IPv6/UDP frame of `len` bytes to VF `vf` from fd00::`host`.
fn udp6(vf: u8, host: u8, len: usize) -> Vec<u8> {
    let mut src = [0u8; 16];
    src[0] = 0xfd;
    src[15] = host;
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 0xfe], [2, 0, 0, 0, 0, vf])
        .ipv6(src, [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9], 64)
        .udp(7000, 7001);
    let mut out = Vec::new();
    b.write(&mut out, &vec![0x11; len - 62]).unwrap();
    out
}

#[test]
fn jumbo_frames_in_chained_buffers_become_flows_counted_by_their_whole_length() {
    // 9000-byte frames whose first segment holds 2048 bytes (a default mbuf's
    // data room), as net_pcap hands them over; beside them normal frames.
    const FIRST: usize = 2048;
    let frames = [
        udp(1, 1, 1001, 9000),
        udp(2, 2, 1002, 64),
        udp6(3, 3, 9000),
        udp6(1, 4, 100),
    ];
    let rounds = 3;
    let packets: Vec<VecPacket> = (0..rounds)
        .flat_map(|_| frames.iter().cloned())
        .map(|f| VecPacket::segmented(f, FIRST))
        .collect();
    assert!(packets
        .iter()
        .any(|p| p.first_segment().len() < p.bytes.len()));
    let rx = vec![RxAssignment {
        port: PortIdx(0),
        queue: VecRx::with_packets(packets),
        budget: None,
    }];
    let mut r = rig(rx, MissAction::Drop, vec![], 64, 64);
    run_until_empty(&mut r.worker);

    let reasons = WorkerStats::parse_error_totals([r.stats.as_ref()]);
    assert!(
        reasons.iter().all(|(_, n)| *n == 0),
        "every frame has a key: {reasons:?}"
    );
    let flows = new_flows(&r.events);
    assert_eq!(flows.len(), frames.len(), "{flows:?}");
    for (id, key) in &flows {
        let frame = frames
            .iter()
            .find(|f| crate::wire::parse(f).map(|p| p.key.src()) == Ok(key.src()))
            .unwrap();
        let c = r.counters.get(*id).unwrap().snapshot();
        assert_eq!(c.packets, rounds as u64, "{key}");
        assert_eq!(c.bytes, rounds as u64 * frame.len() as u64, "{key}");
    }
    let t = totals(&r.stats);
    let all = rounds as u64 * frames.iter().map(|f| f.len() as u64).sum::<u64>();
    assert_eq!(t[0].rx_bytes, all);
    assert_eq!(t.iter().map(|p| p.tx_bytes).sum::<u64>(), all);
    // Sent whole: every segment goes out, not just the first.
    for (vf, want) in [(1, vec![&frames[0], &frames[3]]), (3, vec![&frames[2]])] {
        let sent = &r.worker.tx[vf].queue.sent;
        assert_eq!(sent.len(), rounds * want.len());
        for (i, f) in sent.iter().enumerate() {
            assert_eq!(f, want[i % want.len()], "vf{vf} frame {i}");
        }
    }
}

/// Spins (yielding) until `done`: tests wait on states and counters, not on
/// time.
fn wait_until(mut done: impl FnMut() -> bool) {
    while !done() {
        std::thread::yield_now();
    }
}

#[test]
fn pause_and_resume_are_acknowledged_and_a_paused_worker_takes_nothing() {
    let frames: Vec<Vec<u8>> = (0..64).map(|i| udp(1 + (i % 3) as u8, 1, 1, 60)).collect();
    let mut r = rig(uplink(vec![]), MissAction::Drop, vec![], 64, 1024);
    r.worker.rx[0].queue = VecRx::endless(frames);
    let stats = Arc::clone(&r.stats);
    let signal = LcoreSignal::new();
    std::thread::scope(|s| {
        s.spawn(|| {
            wait_until(|| totals(&stats)[0].rx_packets > 1000);
            let paused = signal.request(LcoreState::Paused);
            wait_until(|| signal.has_acknowledged(paused));
            let at_pause = totals(&stats);
            let sent: u64 = at_pause[1..].iter().map(|t| t.tx_packets).sum();
            assert_eq!(
                sent, at_pause[0].rx_packets,
                "paused: every packet taken is sent"
            );
            // Still paused after many of the worker's iterations.
            let loops = stats.loops.load(Relaxed);
            wait_until(|| stats.loops.load(Relaxed) > loops + 1000);
            assert_eq!(totals(&stats), at_pause, "a paused worker takes nothing");
            let resumed = signal.request(LcoreState::Running);
            wait_until(|| signal.has_acknowledged(resumed));
            wait_until(|| totals(&stats)[0].rx_packets > at_pause[0].rx_packets);
            let stopped = signal.request(LcoreState::Stopped);
            wait_until(|| signal.has_acknowledged(stopped));
        });
        r.worker.run(&signal);
    });
    assert_eq!(signal.acked().1, LcoreState::Stopped);
}

#[test]
fn a_drain_waits_for_a_stalled_lcore_and_what_is_read_at_its_acknowledgement_is_final() {
    // Endless traffic to VFs 1 and 2, and one packet, first, to VF 3. Partial
    // TX batches wait (the clock stands still, so only a pass that takes
    // nothing flushes them): VF 3's lone packet is still in its batch when the
    // drain comes, whatever the moment, so the drain's flush always sends
    // something, and that send stalls. (With endless traffic alone, some
    // passes end with every batch exactly full and sent.)
    let frames: Vec<Vec<u8>> = (0..300)
        .map(|i| {
            udp(
                1 + (i % 2) as u8,
                (i % 50) as u8,
                1000 + (i % 7) as u16,
                60 + i % 5,
            )
        })
        .collect();
    let mut r = rig_draining(
        uplink(vec![]),
        MissAction::Drop,
        vec![],
        1024,
        1 << 12,
        u64::MAX,
        Vec::new(),
    );
    r.worker.rx[0].queue = VecRx::endless_after(vec![udp(3, 60, 999, 64)], frames);
    let signal = Arc::new(LcoreSignal::new());
    let stall = Arc::new(TxStall::new(
        Arc::clone(&signal),
        LcoreState::Draining,
        Duration::from_millis(200),
    ));
    for slot in r.worker.tx.iter_mut() {
        slot.queue.stall = Some(Arc::clone(&stall));
    }
    let (stats, counters) = (Arc::clone(&r.stats), Arc::clone(&r.counters));
    let (at_ack, flows_at_ack, waited) = std::thread::scope(|s| {
        let control = s.spawn(|| {
            wait_until(|| totals(&stats)[0].rx_packets > 10_000);
            let asked = Instant::now();
            let drained = signal.request(LcoreState::Draining);
            wait_until(|| signal.has_acknowledged(drained));
            let waited = asked.elapsed();
            let at_ack = totals(&stats);
            // Every new flow's event is queued by now: the flows' counters.
            let ids: Vec<FlowId> = new_flows(&r.events).into_iter().map(|(id, _)| id).collect();
            let flows = ids
                .iter()
                .map(|&id| counters.get(id).unwrap().snapshot())
                .fold((0, 0), |(p, b), c| (p + c.packets, b + c.bytes));
            let stopped = signal.request(LcoreState::Stopped);
            wait_until(|| signal.has_acknowledged(stopped));
            (at_ack, flows, waited)
        });
        r.worker.run(&signal);
        control.join().unwrap()
    });
    assert!(stall.fired(), "the drain's flush stalled");
    assert!(
        waited >= Duration::from_millis(200),
        "the drain was acknowledged only once the stalled lcore came back ({waited:?})"
    );
    assert_eq!(
        totals(&r.stats),
        at_ack,
        "nothing moved after the drain's acknowledgement"
    );
    let rx = at_ack[0];
    let sent: u64 = at_ack[1..]
        .iter()
        .map(|t| t.tx_packets + t.tx_dropped)
        .sum();
    assert_eq!(
        sent, rx.rx_packets,
        "every packet taken was sent by the drain"
    );
    assert_eq!(
        flows_at_ack,
        (rx.rx_packets, rx.rx_bytes),
        "every packet is on its flow"
    );
    for (vf, t) in at_ack.iter().enumerate().skip(1) {
        assert_eq!(
            r.worker.tx[vf].queue.sent.len() as u64,
            t.tx_packets,
            "VF {vf}"
        );
    }
    assert_eq!(
        at_ack[3].tx_packets, 1,
        "VF 3's lone packet left in the drain"
    );
}
