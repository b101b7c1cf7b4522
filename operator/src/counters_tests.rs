//! The read-model's sums: by path, over ports, over workers, and since a
//! baseline.

use std::sync::atomic::Ordering::Relaxed;

use super::*;

/// Two workers on two ports, the NIC's rules on both, the ethdevs' drops.
fn two_workers() -> Snapshot {
    let (a, b) = (WorkerStats::new(2), WorkerStats::new(2));
    a.ports[0].rx_packets.store(100, Relaxed);
    a.ports[0].rx_bytes.store(6400, Relaxed);
    a.ports[0].drop_rule.store(5, Relaxed);
    a.ports[0].drop_unknown_unicast.store(1, Relaxed);
    a.ports[1].tx_packets.store(90, Relaxed);
    a.ports[1].drop_meter.store(2, Relaxed);
    a.busy_cycles.store(700, Relaxed);
    a.idle_cycles.store(300, Relaxed);
    b.ports[0].rx_packets.store(50, Relaxed);
    b.ports[0].drop_rule.store(4, Relaxed);
    b.ports[1].rx_packets.store(7, Relaxed);
    b.ports[1].tx_dropped.store(3, Relaxed);
    b.busy_cycles.store(100, Relaxed);
    b.idle_cycles.store(900, Relaxed);
    let nic = [
        PortHw {
            rx: HwCounters {
                packets: 1000,
                bytes: 64_000,
            },
            ..PortHw::default()
        },
        PortHw {
            tx: HwCounters {
                packets: 990,
                bytes: 63_360,
            },
            meter_dropped: HwCounters {
                packets: 10,
                bytes: 640,
            },
            ..PortHw::default()
        },
    ];
    let ethdev = [
        rte::PortStats {
            rx_missed: 6,
            rx_nombuf: 1,
            ..rte::PortStats::default()
        },
        rte::PortStats::default(),
    ];
    Snapshot::read([(1, &a), (2, &b)], &nic, &ethdev, 2)
}

#[test]
fn a_port_s_total_adds_both_paths() {
    let s = two_workers();
    let t = s.totals();
    assert_eq!(t[0].rx_packets, 100 + 50 + 1000);
    assert_eq!(t[0].rx_bytes, 6400 + 64_000);
    assert_eq!(t[1].tx_packets, 90 + 990);
    assert_eq!(t[1].tx_bytes, 63_360);
    assert_eq!(t[1].drop_meter, 2 + 10, "both meters");
    assert_eq!(
        s.ports[0].workers.rx_packets, 150,
        "the workers' path alone"
    );
    assert_eq!(s.ports[0].nic.rx.packets, 1000, "the NIC's path alone");
}

#[test]
fn drops_by_reason_count_rule_drops_as_policy() {
    let s = two_workers();
    let d0 = s.ports[0].drops();
    assert_eq!(d0.policy, 5 + 4 + 1, "rule drops of both workers, then L2");
    assert_eq!(d0.rx_missed, 7, "missed and nombuf");
    assert_eq!(d0.taken(), 10, "what the NIC never gave is not taken");
    let d1 = s.ports[1].drops();
    assert_eq!((d1.meter, d1.meter_nic, d1.tx_refused), (12, 10, 3));
    assert_eq!(d1.taken(), 15);
}

#[test]
fn accumulated_adds_every_counter_of_every_port() {
    let s = two_workers();
    let all = s.accumulated();
    let (t, d) = (all.total(), all.drops());
    assert_eq!(t.drop_rule, 9, "the counter the report's sum left out");
    assert_eq!(d.policy, 10);
    assert_eq!(t.rx_packets, 100 + 50 + 7 + 1000);
    assert_eq!(t.tx_packets, 90 + 990);
    assert_eq!(d.meter, 12);
    assert_eq!(d.meter_nic, 10);
    assert_eq!(d.tx_refused, 3);
    assert_eq!(d.rx_missed, 7);
    // Field by field, the same as adding each port's totals by hand.
    let by_hand = s.totals().iter().fold(PortTotals::default(), |mut a, t| {
        add_totals(&mut a, t);
        a
    });
    assert_eq!(t, by_hand);
}

#[test]
fn carried_and_cycles_sum_over_workers() {
    let s = two_workers();
    let c = s.carried();
    assert_eq!(c.workers.packets, 100 + 50 + 7);
    assert_eq!(c.workers.bytes, 6400);
    assert_eq!(c.nic.packets, 1000, "the NIC's path: what its rules took");
    assert_eq!(s.cycles(), (800, 1200));
    assert_eq!(s.workers[0].lcore, 1);
    assert_eq!(s.workers[0].packets, 100);
    assert_eq!(s.workers[1].packets, 57);
}

#[test]
fn since_subtracts_a_baseline_and_never_goes_below_zero() {
    let s = two_workers();
    let base = s.ports[0];
    let mut now = base;
    now.workers.rx_packets += 5;
    now.workers.drop_rule += 2;
    now.nic.rx.packets += 3;
    now.ethdev.rx_missed = 0; // a driver that reset its counters
    let d = now.since(&base);
    assert_eq!(d.total().rx_packets, 8);
    assert_eq!(d.drops().policy, 2);
    assert_eq!(d.ethdev.rx_missed, 0);
    assert_eq!(s.ports[1].since(&s.ports[1]), PortCounts::default());
}

#[test]
fn missing_nic_and_ethdev_entries_read_as_zero() {
    let w = WorkerStats::new(3);
    w.ports[2].rx_packets.store(4, Relaxed);
    let s = Snapshot::read([(1, &w)], &[], &[], 3);
    assert_eq!(s.ports.len(), 3);
    assert_eq!(s.totals()[2].rx_packets, 4);
    assert_eq!(s.ports[2].nic, PortHw::default());
}
