//! The worker loop over test vectors: forwarding, counters, budgets, flooding and
//! TX refusals, with every packet accounted for.

use std::sync::Arc;

use super::*;
use crate::l2::MissAction;
use crate::mac::MacAddr;
use crate::stats::PortTotals;
use crate::testio::{VecBurst, VecRx, VecTx};

fn frame(dst_last: u8, len: usize) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, dst_last, 2, 0, 0, 0, 0, 0xfe, 0x08, 0x00];
    f.resize(len, dst_last);
    f
}

fn broadcast(len: usize) -> Vec<u8> {
    let mut f = frame(0, len);
    f[..6].copy_from_slice(&[0xff; 6]);
    f
}

fn worker(
    rx: Vec<RxAssignment<VecRx>>,
    miss: MissAction,
) -> (Worker<VecRx, VecTx>, Arc<WorkerStats>) {
    let vfs: Vec<(MacAddr, PortIdx)> = (1..=3u8)
        .map(|i| (MacAddr([2, 0, 0, 0, 0, i]), PortIdx(u16::from(i))))
        .collect();
    let l2 = L2Table::new(PortIdx(0), &vfs, miss, miss);
    let stats = Arc::new(WorkerStats::new(4));
    let tx = (0..4).map(|_| VecTx::default()).collect();
    (Worker::new(rx, tx, l2, 32, Arc::clone(&stats), || 0), stats)
}

fn totals(stats: &WorkerStats) -> Vec<PortTotals> {
    WorkerStats::port_totals([stats], 4)
}

fn run_until_empty(w: &mut Worker<VecRx, VecTx>) {
    let mut b = VecBurst::default();
    while w.poll_once(&mut b) > 0 {}
}

#[test]
fn forwards_every_frame_to_its_vf_in_order_and_counts_it() {
    let input: Vec<Vec<u8>> = (0..200).map(|i| frame(1 + (i % 3) as u8, 60 + i)).collect();
    let rx = vec![RxAssignment {
        port: PortIdx(0),
        queue: VecRx::with_frames(input.clone()),
        budget: None,
    }];
    let (mut w, stats) = worker(rx, MissAction::Drop);
    run_until_empty(&mut w);
    let t = totals(&stats);
    assert_eq!(t[0].rx_packets, 200);
    assert_eq!(
        t[0].rx_bytes,
        input.iter().map(|f| f.len() as u64).sum::<u64>()
    );
    for vf in 1..=3u8 {
        let want: Vec<&Vec<u8>> = input.iter().filter(|f| f[5] == vf).collect();
        let got: Vec<&Vec<u8>> = w.tx[vf as usize].queue.sent.iter().collect();
        assert_eq!(got, want, "vf{vf} gets its frames, byte for byte, in order");
        assert_eq!(t[vf as usize].tx_packets, want.len() as u64);
        assert_eq!(
            t[vf as usize].tx_bytes,
            want.iter().map(|f| f.len() as u64).sum::<u64>()
        );
    }
    assert!(w.tx[0].queue.sent.is_empty());
}

#[test]
fn vf_traffic_goes_up_and_misses_are_dropped_and_counted() {
    let rx = vec![
        RxAssignment {
            port: PortIdx(0),
            queue: VecRx::with_frames(vec![frame(9, 60), broadcast(60), vec![0; 10], frame(2, 64)]),
            budget: None,
        },
        RxAssignment {
            port: PortIdx(2),
            queue: VecRx::with_frames(vec![frame(1, 70), broadcast(80)]),
            budget: None,
        },
    ];
    let (mut w, stats) = worker(rx, MissAction::Drop);
    run_until_empty(&mut w);
    let t = totals(&stats);
    assert_eq!(t[0].rx_packets, 4);
    assert_eq!(
        (t[0].drop_unknown_unicast, t[0].drop_group, t[0].drop_runt),
        (1, 1, 1)
    );
    assert_eq!(t[2].rx_packets, 2);
    assert_eq!(t[0].tx_packets, 2, "both VF frames went to the uplink");
    assert_eq!(w.tx[0].queue.sent, vec![frame(1, 70), broadcast(80)]);
    assert_eq!(t[2].tx_packets, 1);
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
fn flooding_sends_one_copy_to_every_vf() {
    let rx = vec![RxAssignment {
        port: PortIdx(0),
        queue: VecRx::with_frames(vec![broadcast(60), frame(7, 61)]),
        budget: None,
    }];
    let (mut w, stats) = worker(rx, MissAction::Flood);
    run_until_empty(&mut w);
    let t = totals(&stats);
    assert_eq!(t[0].flooded, 2);
    for (slot, counters) in w.tx.iter().zip(&t).skip(1) {
        assert_eq!(slot.queue.sent, vec![broadcast(60), frame(7, 61)]);
        assert_eq!(counters.tx_packets, 2);
    }
}

#[test]
fn a_budget_takes_exactly_that_many_packets() {
    let rx = vec![RxAssignment {
        port: PortIdx(0),
        queue: VecRx::with_frames((0..100).map(|_| frame(1, 60))),
        budget: Some(45),
    }];
    let (mut w, stats) = worker(rx, MissAction::Drop);
    assert!(!w.budgets_spent());
    run_until_empty(&mut w);
    assert!(w.budgets_spent());
    assert_eq!(totals(&stats)[0].rx_packets, 45);
    assert_eq!(w.rx[0].queue.pending.len(), 55);
}

#[test]
fn refused_packets_are_counted_not_lost() {
    let rx = vec![RxAssignment {
        port: PortIdx(0),
        queue: VecRx::with_frames((0..100).map(|_| frame(1, 100))),
        budget: None,
    }];
    let (mut w, stats) = worker(rx, MissAction::Drop);
    w.tx[1].queue.accept_per_call = Some(10);
    run_until_empty(&mut w);
    let t = totals(&stats);
    assert_eq!(t[1].tx_packets + t[1].tx_dropped, 100);
    assert_eq!(t[1].tx_packets, w.tx[1].queue.sent.len() as u64);
    assert_eq!(t[1].tx_bytes, t[1].tx_packets * 100);
}

#[test]
fn run_stops_on_the_flag_and_flushes() {
    let rx = vec![RxAssignment {
        port: PortIdx(0),
        queue: VecRx::with_frames((0..10).map(|_| frame(3, 60))),
        budget: None,
    }];
    let (mut w, stats) = worker(rx, MissAction::Drop);
    let stop = AtomicBool::new(true);
    w.run(&stop);
    assert_eq!(stats.loops.load(Ordering::Relaxed), 0);
    let mut b = VecBurst::default();
    w.poll_once(&mut b);
    assert_eq!(w.tx[3].queue.sent.len(), 10);
}
