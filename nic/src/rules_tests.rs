//! The model's rule tables: transfer rules before ingress ones, per-flow rules in
//! the exact table in one order, and tens of thousands of them.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::*;
use crate::clock::ManualClock;
use crate::flow::{Ipv4, Parts, Ports};
use crate::meter::{Algorithm, Profile, Unit};
use crate::mtr::{MeterParams, Policy};

const PF: Context = Context {
    port: PortRef::Uplink,
    rx_queues: 2,
};

const MS: Duration = Duration::from_millis(1);

fn transfer() -> Attr {
    Attr {
        transfer: true,
        ..Attr::default()
    }
}

fn ingress() -> Attr {
    Attr {
        ingress: true,
        ..Attr::default()
    }
}

fn udp_dst(port: u16) -> [Item; 2] {
    [
        Item::Ipv4(Parts::default()),
        Item::Udp(Parts {
            spec: Some(Ports { src: 0, dst: port }),
            mask: Some(Ports {
                src: 0,
                dst: 0xffff,
            }),
            ..Parts::default()
        }),
    ]
}

/// The fully specified 5-tuple of [`frame_from`]'s frames: an exact rule.
fn five_tuple(src: [u8; 4], sport: u16, dport: u16) -> [Item; 2] {
    [
        Item::Ipv4(Parts {
            spec: Some(Ipv4 {
                src,
                dst: [10, 1, 0, 1],
                proto: 17,
                ..Ipv4::default()
            }),
            mask: Some(Ipv4 {
                src: [0xff; 4],
                dst: [0xff; 4],
                proto: 0xff,
                ..Ipv4::default()
            }),
            ..Parts::default()
        }),
        Item::Udp(Parts {
            spec: Some(Ports {
                src: sport,
                dst: dport,
            }),
            ..Parts::default()
        }),
    ]
}

/// A 60-byte UDP/IPv4 frame from `src`:`sport` to 10.1.0.1:`dport`.
fn frame_from(src: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    f.extend_from_slice(&[0x45, 0, 0, 46, 0, 0, 0, 0, 64, 17, 0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[10, 1, 0, 1]);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&[0, 26, 0, 0]);
    f.resize(60, 0x78);
    f
}

/// A 60-byte UDP/IPv4 frame 10.0.0.1:1000 -> 10.1.0.1:`dport`.
fn frame(dport: u16) -> Vec<u8> {
    frame_from([10, 0, 0, 1], 1000, dport)
}

fn rules() -> Rules {
    Rules::with_limits(
        vec![0, 1, 2, 3],
        Limits {
            rules: 8,
            counters: 16,
            ..Limits::unlimited()
        },
    )
}

/// Rules on a clock the test moves, with these limits and faults.
fn timed(limits: Limits, faults: Faults) -> (Rules, Arc<ManualClock>) {
    let mut faults = faults;
    faults.check().unwrap();
    let clock = ManualClock::new();
    let shared: SharedClock = clock.clone();
    (Rules::new(vec![0, 1], limits, faults, shared), clock)
}

/// Passes `frame` through the switch as the uplink does: decide, then
/// (taken) count and meter.
fn pass(r: &Rules, frame: &[u8], in_port: u8) -> Verdict {
    let mut s = r.lock_switch();
    let d = s.decide(frame, in_port);
    s.commit(&d, frame.len() as u64);
    d.verdict
}

/// An ingress rule on the PF that drops and counts UDP to `port`.
fn counted_drop(r: &Rules, port: u16) -> Result<u64, FlowError> {
    r.create(
        PF,
        ingress(),
        &udp_dst(port),
        &[Action::Drop, Action::Count],
    )
}

fn verdict(r: &Rules, frame: &[u8], in_port: u8) -> Verdict {
    r.lock_switch().decide(frame, in_port).verdict
}

#[test]
fn a_transfer_rule_sends_its_flow_to_the_vf_and_counts() {
    let r = rules();
    let id = r
        .create(
            PF,
            transfer(),
            &udp_dst(5001),
            &[Action::Port(PortRef::Vf(2)), Action::Count],
        )
        .unwrap();
    assert_ne!(id, 0);
    {
        let s = r.lock_switch();
        let d = s.decide(&frame(5001), 0);
        assert_eq!(d.verdict, Verdict::Vf(2), "VF 2 is the third representor");
        assert!(d.counter().is_some(), "COUNT gives a counter");
        assert_eq!(s.decide(&frame(5002), 0), Decision::MISS);
        assert_eq!(
            s.decide(&frame(5001), 3),
            Decision::MISS,
            "from another port"
        );
        assert_eq!(s.decide(b"not an ip frame", 0), Decision::MISS);
    }
    // Decided but not taken (a full host ring): not counted.
    let _ = verdict(&r, &frame(5001), 0);
    pass(&r, &frame(5001), 0);
    pass(&r, &frame(5001), 0);
    assert_eq!(r.query(PortRef::Uplink, id, true), Ok((2, 120)));
    assert_eq!(r.query(PortRef::Uplink, id, false), Ok((0, 0)), "reset");
    pass(&r, &frame(5001), 0);
    assert_eq!(r.query(PortRef::Uplink, id, false), Ok((1, 60)));

    assert_eq!(
        r.destroy(PortRef::Vf(0), id).unwrap_err().errno,
        Errno::NotFound,
        "another port's rule"
    );
    r.destroy(PortRef::Uplink, id).unwrap();
    assert_eq!(r.destroy(PortRef::Uplink, id).unwrap_err().at, At::Handle);
    assert_eq!(
        r.query(PortRef::Uplink, id, false).unwrap_err().errno,
        Errno::NotFound
    );
    assert_eq!(verdict(&r, &frame(5001), 0), Verdict::Miss);
    assert!(r.is_empty());
}

#[test]
fn transfer_rules_come_before_ingress_rules() {
    let r = rules();
    r.create(PF, ingress(), &udp_dst(5001), &[Action::Queue(1)])
        .unwrap();
    assert_eq!(verdict(&r, &frame(5001), 0), Verdict::Host(1));
    assert_eq!(
        verdict(&r, &frame(5001), 1),
        Verdict::Miss,
        "ingress rules are the PF's: not for what a VF sends"
    );
    r.create(
        PF,
        transfer(),
        &udp_dst(5001),
        &[Action::Port(PortRef::Uplink)],
    )
    .unwrap();
    assert_eq!(verdict(&r, &frame(5001), 0), Verdict::Wire);
    r.create(
        PF,
        transfer(),
        &[Item::Ipv4(Parts {
            spec: Some(Ipv4 {
                src: [10, 0, 0, 1],
                ..Ipv4::default()
            }),
            mask: Some(Ipv4 {
                src: [255, 255, 255, 0],
                ..Ipv4::default()
            }),
            ..Parts::default()
        })],
        &[Action::Drop],
    )
    .unwrap();
    // Equal priorities: the older rule first.
    assert_eq!(verdict(&r, &frame(5001), 0), Verdict::Wire);
    assert_eq!(verdict(&r, &frame(7), 0), Verdict::Drop);
}

#[test]
fn per_flow_rules_go_to_the_exact_table_and_keep_the_one_order() {
    let r = rules();
    let src = [10, 0, 0, 1];
    // A fully specified 5-tuple on the PF: exact.
    let exact = r
        .create(
            PF,
            Attr {
                priority: 2,
                ..transfer()
            },
            &five_tuple(src, 1000, 5001),
            &[Action::Port(PortRef::Vf(1)), Action::Count],
        )
        .unwrap();
    assert_eq!(r.exact_len(), 1);
    assert_eq!(verdict(&r, &frame(5001), 0), Verdict::Vf(1));
    assert_eq!(verdict(&r, &frame_from(src, 1001, 5001), 0), Verdict::Miss);
    // A wildcard rule of a lower priority value wins over it...
    let wild = r
        .create(
            PF,
            Attr {
                priority: 1,
                ..transfer()
            },
            &udp_dst(5001),
            &[Action::Drop],
        )
        .unwrap();
    assert_eq!(r.exact_len(), 1, "a port range is not exact");
    assert_eq!(verdict(&r, &frame(5001), 0), Verdict::Drop);
    r.destroy(PortRef::Uplink, wild).unwrap();
    // ...one of a higher value does not.
    r.create(
        PF,
        Attr {
            priority: 3,
            ..transfer()
        },
        &udp_dst(5001),
        &[Action::Drop],
    )
    .unwrap();
    assert_eq!(verdict(&r, &frame(5001), 0), Verdict::Vf(1));
    // Equal priority: the older (exact) first; an ingress exact rule does
    // not see what a transfer rule took.
    r.create(
        PF,
        ingress(),
        &five_tuple(src, 1000, 5001),
        &[Action::Queue(1)],
    )
    .unwrap();
    assert_eq!(r.exact_len(), 2);
    assert_eq!(verdict(&r, &frame(5001), 0), Verdict::Vf(1));
    r.destroy(PortRef::Uplink, exact).unwrap();
    assert_eq!(
        verdict(&r, &frame(5001), 0),
        Verdict::Drop,
        "the wildcard transfer rule is left"
    );
    // A transfer rule from another source port does not take the wire's.
    let vf0 = Context {
        port: PortRef::Vf(0),
        rx_queues: 1,
    };
    r.create(
        vf0,
        Attr {
            priority: 0,
            ..transfer()
        },
        &five_tuple(src, 1000, 5001),
        &[Action::Port(PortRef::Uplink)],
    )
    .unwrap();
    assert_eq!(verdict(&r, &frame(5001), 0), Verdict::Drop);
    assert_eq!(verdict(&r, &frame(5001), 1), Verdict::Wire, "from VF 0");
}

#[test]
fn tens_of_thousands_of_per_flow_rules() {
    let n: u16 = 30_000;
    let r = Rules::with_limits(vec![0], Limits::unlimited());
    for i in 0..n {
        let src = [10, 0, (i >> 8) as u8, i as u8];
        r.create(
            PF,
            transfer(),
            &five_tuple(src, 1000, 5001),
            &[Action::Port(PortRef::Vf(0)), Action::Count],
        )
        .unwrap();
    }
    assert_eq!((r.len(), r.exact_len()), (usize::from(n), usize::from(n)));
    for i in (0..n).step_by(101) {
        let src = [10, 0, (i >> 8) as u8, i as u8];
        assert_eq!(pass(&r, &frame_from(src, 1000, 5001), 0), Verdict::Vf(0));
        assert_eq!(
            r.query(PortRef::Uplink, u64::from(i) + 1, false),
            Ok((1, 60))
        );
    }
    r.flush(PortRef::Uplink);
    assert_eq!((r.len(), r.exact_len()), (0, 0));
}

#[test]
fn rules_and_counters_refuse_with_no_space_beyond_their_limits() {
    let r = Rules::with_limits(
        vec![0],
        Limits {
            rules: 2,
            counters: 1,
            ..Limits::unlimited()
        },
    );
    counted_drop(&r, 1).unwrap();
    let e = counted_drop(&r, 2).unwrap_err();
    assert_eq!(
        (e.errno, e.at, e.message),
        (Errno::NoSpace, At::Action(1), "no counter left")
    );
    assert_eq!(
        r.validate(PF, ingress(), &udp_dst(2), &[Action::Drop, Action::Count])
            .unwrap_err()
            .errno,
        Errno::NoSpace
    );
    r.create(PF, ingress(), &udp_dst(2), &[Action::Drop])
        .unwrap();
    let e = r
        .create(PF, transfer(), &udp_dst(3), &[Action::Drop])
        .unwrap_err();
    assert_eq!(
        (e.errno, e.at, e.message),
        (Errno::NoSpace, At::Unspecified, "the rule table is full"),
        "one limit for both domains and both tables"
    );
    assert_eq!(
        r.handle_create(PortRef::Uplink, &Action::Count)
            .unwrap_err()
            .errno,
        Errno::NoSpace,
        "indirect COUNTs take counters too"
    );
    let no_count = r.query(PortRef::Uplink, 2, false).unwrap_err();
    assert_eq!(no_count.errno, Errno::NotSupported);
}

#[test]
fn a_destroyed_rule_gives_its_counter_back_from_zero() {
    let r = Rules::with_limits(
        vec![0],
        Limits {
            counters: 1,
            ..Limits::unlimited()
        },
    );
    let a = counted_drop(&r, 1).unwrap();
    pass(&r, &frame(1), 0);
    r.destroy(PortRef::Uplink, a).unwrap();
    let b = counted_drop(&r, 1).unwrap();
    assert_eq!(r.query(PortRef::Uplink, b, false), Ok((0, 0)));
}

#[test]
fn creations_over_the_insertion_rate_are_busy() {
    // 100 a second: a burst of 10, then one every 10 ms.
    let (r, clock) = timed(
        Limits {
            inserts_per_sec: 100,
            ..Limits::unlimited()
        },
        Faults::default(),
    );
    let mut created = 0;
    let mut busy = None;
    for port in 0..20 {
        match r.create(PF, ingress(), &udp_dst(port), &[Action::Drop]) {
            Ok(_) => created += 1,
            Err(e) => {
                busy.get_or_insert(e);
            }
        }
    }
    assert_eq!(created, 10);
    let e = busy.unwrap();
    assert_eq!((e.errno, e.at), (Errno::Busy, At::Unspecified));
    assert!(
        r.validate(PF, ingress(), &udp_dst(99), &[Action::Drop])
            .is_ok(),
        "validation is not an insertion"
    );
    clock.advance(9 * MS);
    assert_eq!(
        r.create(PF, ingress(), &udp_dst(30), &[Action::Drop])
            .unwrap_err()
            .errno,
        Errno::Busy
    );
    clock.advance(MS);
    r.create(PF, ingress(), &udp_dst(30), &[Action::Drop])
        .unwrap();
    assert_eq!(r.len(), 11);
}

#[test]
fn counters_read_as_the_device_caches_them() {
    let (r, clock) = timed(
        Limits {
            counter_refresh_ms: 100,
            ..Limits::unlimited()
        },
        Faults::default(),
    );
    let id = counted_drop(&r, 1).unwrap();
    pass(&r, &frame(1), 0);
    assert_eq!(r.query(PortRef::Uplink, id, false), Ok((1, 60)));
    pass(&r, &frame(1), 0);
    clock.advance(99 * MS);
    assert_eq!(
        r.query(PortRef::Uplink, id, false),
        Ok((1, 60)),
        "within the refresh interval the cached value"
    );
    clock.advance(MS);
    assert_eq!(r.query(PortRef::Uplink, id, false), Ok((2, 120)));
}

#[test]
fn an_indirect_count_outlives_its_rule() {
    let (r, clock) = timed(
        Limits {
            counter_refresh_ms: 1000,
            ..Limits::unlimited()
        },
        Faults::default(),
    );
    let h = r.handle_create(PortRef::Uplink, &Action::Count).unwrap();
    assert_ne!(h, 0);
    assert_eq!(r.indirect_len(), 1);
    let id = r
        .create(
            PF,
            ingress(),
            &udp_dst(7),
            &[Action::Indirect(h), Action::Drop],
        )
        .unwrap();
    for _ in 0..3 {
        assert_eq!(pass(&r, &frame(7), 0), Verdict::Drop);
    }
    assert_eq!(
        r.query(PortRef::Uplink, id, false),
        Ok((3, 180)),
        "the rule's query reads its indirect counter"
    );
    pass(&r, &frame(7), 0);
    let e = r.handle_destroy(PortRef::Uplink, h).unwrap_err();
    assert_eq!((e.errno, e.at), (Errno::Busy, At::Action(0)), "in use");
    r.destroy(PortRef::Uplink, id).unwrap();
    assert_eq!(pass(&r, &frame(7), 0), Verdict::Miss, "no longer counted");
    assert_eq!(
        r.handle_query(PortRef::Uplink, h, false),
        Ok((3, 180)),
        "still the cache of this period"
    );
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        r.handle_query(PortRef::Uplink, h, false),
        Ok((4, 240)),
        "the final count, from the next refresh on"
    );
    assert_eq!(
        r.handle_query(PortRef::Vf(0), h, false).unwrap_err().errno,
        Errno::NotFound,
        "another port's handle"
    );
    assert_eq!(r.indirect_len(), 1, "a refused destroy keeps it");
    r.handle_destroy(PortRef::Uplink, h).unwrap();
    assert_eq!(r.indirect_len(), 0);
    let e = r.handle_query(PortRef::Uplink, h, false).unwrap_err();
    assert_eq!((e.errno, e.at), (Errno::NotFound, At::Handle));
    let e = r
        .create(
            PF,
            ingress(),
            &udp_dst(7),
            &[Action::Indirect(h), Action::Drop],
        )
        .unwrap_err();
    assert_eq!((e.errno, e.at), (Errno::Invalid, At::ActionConf(0)));
    let e = r.handle_create(PortRef::Uplink, &Action::Drop).unwrap_err();
    assert_eq!(e.errno, Errno::NotSupported);
}

/// A meter of 1000 bytes a second with 120 committed and 60 excess bytes of
/// burst, on a clock the test drives; returns the meter's id.
fn meter(r: &Rules, policy: Policy) -> u32 {
    r.meters(|m, now| {
        m.add_profile(
            1,
            Profile {
                algorithm: Algorithm::SrTcm {
                    cir: 1000,
                    cbs: 120,
                    ebs: 60,
                },
                unit: Unit::Bytes,
            },
        )?;
        m.add_policy(9, policy)?;
        m.create(
            5,
            MeterParams {
                profile_id: 1,
                policy_id: 9,
                enabled: true,
                stats_mask: crate::mtr::stats_bits::ALL,
                colour_aware: false,
            },
            now,
        )
    })
    .unwrap();
    5
}

fn drop_red() -> Policy {
    Policy([PolicyAction::Pass, PolicyAction::Pass, PolicyAction::Drop])
}

#[test]
fn a_metered_rule_drops_red_and_counts_by_its_action_order() {
    let (r, clock) = timed(Limits::unlimited(), Faults::default());
    let m = meter(&r, drop_red());
    // COUNT before METER: every packet the rule takes.
    let all = r
        .create(
            PF,
            transfer(),
            &udp_dst(1),
            &[
                Action::Count,
                Action::Meter(Some(m)),
                Action::Port(PortRef::Vf(1)),
            ],
        )
        .unwrap();
    // COUNT after METER: what the policy passes.
    let passed = r
        .create(
            PF,
            transfer(),
            &udp_dst(2),
            &[
                Action::Meter(Some(m)),
                Action::Count,
                Action::Port(PortRef::Vf(1)),
            ],
        )
        .unwrap();
    // Buckets: C 120, E 60; 60-byte frames at one instant: G G Y R R.
    let got: Vec<Verdict> = [1, 2, 1, 2, 1]
        .iter()
        .map(|&p| pass(&r, &frame(p), 0))
        .collect();
    use Verdict::{Drop, Vf};
    assert_eq!(got, [Vf(1), Vf(1), Vf(1), Drop, Drop]);
    assert_eq!(r.query(PortRef::Uplink, all, false), Ok((3, 180)));
    assert_eq!(r.query(PortRef::Uplink, passed, false), Ok((1, 60)));
    let (stats, mask) = r.meter_stats(m, false).unwrap();
    assert_eq!(mask, crate::mtr::stats_bits::ALL);
    assert_eq!(stats.packets, [2, 1, 2]);
    assert_eq!(stats.bytes, [120, 60, 120]);
    assert_eq!((stats.packets_dropped, stats.bytes_dropped), (2, 120));
    // 60 ms later: 60 more committed tokens, one more green.
    clock.advance(60 * MS);
    assert_eq!(pass(&r, &frame(1), 0), Vf(1));
    assert_eq!(pass(&r, &frame(1), 0), Drop);
    // In use: neither the meter nor its profile or policy can go.
    let busy = r.meters(|ms, _| ms.destroy(m)).unwrap_err();
    assert_eq!(busy.errno, Errno::Busy);
    r.flush(PortRef::Uplink);
    assert_eq!(
        r.meters(|ms, _| ms.delete_profile(1)).unwrap_err().errno,
        Errno::Busy
    );
    r.meters(|ms, _| ms.destroy(m)).unwrap();
    r.meters(|ms, _| ms.delete_profile(1)).unwrap();
    r.meters(|ms, _| ms.delete_policy(9)).unwrap();
    let e = r
        .create(
            PF,
            transfer(),
            &udp_dst(1),
            &[Action::Meter(Some(m)), Action::Drop],
        )
        .unwrap_err();
    assert_eq!(
        (e.errno, e.at),
        (Errno::Invalid, At::Action(0)),
        "no such meter"
    );
}

#[test]
fn a_disabled_meter_passes_everything_green() {
    let (r, _clock) = timed(Limits::unlimited(), Faults::default());
    let m = meter(&r, drop_red());
    r.meters(|ms, _| ms.set_enabled(m, false)).unwrap();
    r.create(
        PF,
        transfer(),
        &udp_dst(1),
        &[Action::Meter(Some(m)), Action::Port(PortRef::Vf(0))],
    )
    .unwrap();
    for _ in 0..10 {
        assert_eq!(pass(&r, &frame(1), 0), Verdict::Vf(0));
    }
    let (stats, _) = r.meter_stats(m, true).unwrap();
    assert_eq!(stats.packets, [10, 0, 0]);
    assert_eq!(
        r.meter_stats(m, false).unwrap().0.packets,
        [0, 0, 0],
        "cleared"
    );
}

#[test]
fn injected_faults_refuse_every_nth_installation_and_query() {
    let faults = Faults {
        nospace_every: 3,
        busy_every: 2,
        query_every: 2,
        ..Faults::default()
    };
    let (r, _clock) = timed(Limits::unlimited(), faults);
    let mut errnos = Vec::new();
    for port in 1..=6 {
        errnos.push(counted_drop(&r, port).err().map(|e| e.errno));
    }
    use Errno::{Busy, NoSpace};
    assert_eq!(
        errnos,
        [
            None,
            Some(Busy),
            Some(NoSpace),
            Some(Busy),
            None,
            Some(NoSpace)
        ]
    );
    // An invalid rule is no installation attempt.
    assert_eq!(
        r.create(PF, ingress(), &udp_dst(9), &[Action::Count])
            .unwrap_err()
            .errno,
        Errno::Invalid
    );
    assert!(
        r.create(PF, ingress(), &udp_dst(9), &[Action::Drop])
            .is_ok(),
        "the 7th"
    );
    assert!(r.query(PortRef::Uplink, 1, false).is_ok());
    let e = r.query(PortRef::Uplink, 1, false).unwrap_err();
    assert_eq!((e.errno, e.at), (Errno::Io, At::Unspecified));
    let h = r.handle_create(PortRef::Uplink, &Action::Count).unwrap();
    assert!(r.handle_query(PortRef::Uplink, h, false).is_ok());
    assert_eq!(
        r.handle_query(PortRef::Uplink, h, false).unwrap_err().errno,
        Errno::Io
    );
    let m = meter(&r, drop_red());
    assert!(r.meter_stats(m, false).is_ok());
    let e = r.meter_stats(m, false).unwrap_err();
    assert_eq!((e.errno, e.at), (Errno::Io, MtrAt::Stats));
}

#[test]
fn the_switch_stalls_on_its_schedule() {
    let faults = Faults {
        stall_ms: 20,
        stall_every_ms: 100,
        ..Faults::default()
    };
    let (r, clock) = timed(Limits::unlimited(), faults);
    r.arm_stall();
    assert_eq!(r.lock_switch().stall_due(), None);
    clock.advance(100 * MS);
    assert_eq!(r.lock_switch().stall_due(), Some(20 * MS));
    assert_eq!(r.lock_switch().stall_due(), None);
    let (none, _) = timed(Limits::unlimited(), Faults::default());
    none.arm_stall();
    assert_eq!(none.lock_switch().stall_due(), None);
}

#[test]
fn flush_takes_only_the_port_s_rules() {
    let r = rules();
    let vf1 = Context {
        port: PortRef::Vf(1),
        rx_queues: 1,
    };
    r.create(PF, transfer(), &udp_dst(1), &[Action::Drop])
        .unwrap();
    let kept = r
        .create(vf1, transfer(), &udp_dst(2), &[Action::Drop])
        .unwrap();
    r.create(PF, ingress(), &udp_dst(3), &[Action::Drop])
        .unwrap();
    r.flush(PortRef::Uplink);
    assert_eq!(r.len(), 1);
    r.destroy(PortRef::Vf(1), kept).unwrap();
}

/// With a switch moving packets as fast as it can on another thread, a
/// destroyed rule counts nothing once `destroy` has returned, and control
/// operations are not starved by the switch's locking.
#[test]
fn after_destroy_returns_the_rule_counts_nothing() {
    let r = rules();
    let stop = AtomicBool::new(false);
    let h = r.handle_create(PortRef::Uplink, &Action::Count).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            let f = frame(9);
            while !stop.load(Ordering::Acquire) {
                pass(&r, &f, 0);
            }
        });
        for _ in 0..50 {
            let id = r
                .create(
                    PF,
                    transfer(),
                    &udp_dst(9),
                    &[Action::Drop, Action::Indirect(h)],
                )
                .unwrap();
            std::thread::sleep(Duration::from_micros(200));
            r.destroy(PortRef::Uplink, id).unwrap();
            let after = r.handle_query(PortRef::Uplink, h, false).unwrap();
            std::thread::sleep(Duration::from_micros(200));
            assert_eq!(r.handle_query(PortRef::Uplink, h, false).unwrap(), after);
        }
        stop.store(true, Ordering::Release);
    });
    assert!(r.handle_query(PortRef::Uplink, h, false).unwrap().0 > 0);
}

#[test]
fn a_full_wildcard_stage_refuses_with_no_space_and_keeps_the_counter() {
    let mut set = RuleSet::new(
        vec![0],
        Limits {
            counters: 1,
            ..Limits::unlimited()
        },
        Faults::default(),
        MonotonicClock::shared(),
    );
    // As if WILDCARD_MAX were 1.
    set.ingress = WildcardTable::new(1);
    let r = Rules {
        state: Mutex::new(set),
        waiting: AtomicUsize::new(0),
        limits: Limits::unlimited(),
    };
    let a = r
        .create(PF, ingress(), &udp_dst(1), &[Action::Drop])
        .unwrap();
    let e = counted_drop(&r, 2).unwrap_err();
    assert_eq!(
        (e.errno, e.at, e.message),
        (
            Errno::NoSpace,
            At::Unspecified,
            "the wildcard stage is full"
        )
    );
    // The refused rule's counter went back: an exact rule may have it.
    r.create(
        PF,
        ingress(),
        &five_tuple([10, 0, 0, 1], 1000, 2),
        &[Action::Drop, Action::Count],
    )
    .unwrap();
    r.destroy(PortRef::Uplink, a).unwrap();
    r.create(PF, ingress(), &udp_dst(2), &[Action::Drop])
        .unwrap();
}

/// An Open vSwitch megaflow's offload (`eth type is 0x0800 has_vlan is 0 /
/// ipv4 ... fragment_offset is 0x0 / udp ...`, see flow_tests.rs): a per-flow
/// rule still, in the exact table, that takes the flow's untagged whole
/// datagrams and leaves its tagged frames and its first fragments alone.
#[test]
fn untagged_unfragmented_rules_stay_exact_and_leave_tags_and_fragments() {
    use crate::flow::Eth;
    let r = rules();
    let src = [10, 0, 0, 1];
    let [Item::Ipv4(mut ip), udp] = five_tuple(src, 1000, 5001) else {
        unreachable!()
    };
    if let (Some(s), Some(m)) = (ip.spec.as_mut(), ip.mask.as_mut()) {
        (s.frag, m.frag) = (0, 0x3fff);
    }
    let eth = Item::Eth(Parts {
        spec: Some(Eth {
            ether_type: 0x0800,
            ..Eth::default()
        }),
        mask: Some(Eth {
            ether_type: 0xffff,
            has_vlan: true,
            ..Eth::default()
        }),
        ..Parts::default()
    });
    let id = r
        .create(
            PF,
            transfer(),
            &[eth, Item::Ipv4(ip), udp],
            &[Action::Count, Action::Port(PortRef::Vf(1))],
        )
        .unwrap();
    assert_eq!(r.exact_len(), 1, "one hash lookup still");
    let whole = frame(5001);
    let mut tagged = whole[..12].to_vec();
    tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x07]);
    tagged.extend_from_slice(&whole[12..]);
    let mut first_fragment = whole.clone();
    first_fragment[20] = 0x20; // MF, offset 0: the UDP header is there
    assert_eq!(pass(&r, &whole, 0), Verdict::Vf(1));
    assert_eq!(pass(&r, &tagged, 0), Verdict::Miss, "has_vlan is 0");
    assert_eq!(pass(&r, &first_fragment, 0), Verdict::Miss, "frag=no");
    assert_eq!(r.query(PortRef::Uplink, id, false), Ok((1, 60)));
    // A rule for the flow's fragments, later and of a higher priority value,
    // takes what the first leaves: the key's rules are met in order, each
    // with its conditions.
    let [Item::Ipv4(mut ip), udp] = five_tuple(src, 1000, 5001) else {
        unreachable!()
    };
    if let (Some(s), Some(m)) = (ip.spec.as_mut(), ip.mask.as_mut()) {
        (s.frag, m.frag) = (1, 0x3fff);
    }
    ip.last = Some(Ipv4 {
        frag: 0x3fff,
        ..Ipv4::default()
    });
    r.create(
        PF,
        Attr {
            priority: 1,
            ..transfer()
        },
        &[Item::Ipv4(ip), udp],
        &[Action::Drop],
    )
    .unwrap();
    assert_eq!(r.exact_len(), 2);
    assert_eq!(pass(&r, &first_fragment, 0), Verdict::Drop);
    assert_eq!(pass(&r, &whole, 0), Verdict::Vf(1));
    assert_eq!(pass(&r, &tagged, 0), Verdict::Miss, "not a fragment either");
    // In the wildcard stage the same conditions hold (a port range is not
    // exact).
    let [ip, _] = udp_dst(6000);
    let ranged = Item::Udp(Parts {
        spec: Some(Ports { src: 0, dst: 6000 }),
        last: Some(Ports { src: 0, dst: 6001 }),
        mask: Some(Ports {
            src: 0,
            dst: 0xffff,
        }),
        ..Parts::default()
    });
    r.create(PF, transfer(), &[eth, ip, ranged], &[Action::Drop])
        .unwrap();
    assert_eq!(r.exact_len(), 2);
    assert_eq!(pass(&r, &frame(6001), 0), Verdict::Drop);
    let mut tagged = frame(6001)[..12].to_vec();
    tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x07]);
    tagged.extend_from_slice(&frame(6001)[12..]);
    assert_eq!(pass(&r, &tagged, 0), Verdict::Miss);
}
