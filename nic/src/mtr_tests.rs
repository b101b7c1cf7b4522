//! The model's meters (rte_mtr): profiles checked as mlx5 checks them, policies
//! per colour, meter objects and their refusals, and colour marking and counts.

use super::*;

fn srtcm(cir: u64, cbs: u64, ebs: u64, unit: Unit) -> Profile {
    Profile {
        algorithm: Algorithm::SrTcm { cir, cbs, ebs },
        unit,
    }
}

fn params(profile_id: u32, policy_id: u32) -> MeterParams {
    MeterParams {
        profile_id,
        policy_id,
        enabled: true,
        stats_mask: stats_bits::ALL,
        colour_aware: false,
    }
}

fn errno_at(e: MtrError) -> (Errno, MtrAt) {
    (e.errno, e.at)
}

#[test]
fn profiles_are_checked_as_mlx5_checks_them() {
    let mut m = Meters::new(4);
    m.add_profile(1, srtcm(1_000_000, 2000, 0, Unit::Bytes))
        .unwrap();
    assert_eq!(
        errno_at(m.add_profile(1, srtcm(1, 1, 0, Unit::Bytes)).unwrap_err()),
        (Errno::Exists, MtrAt::MeterProfileId)
    );
    assert_eq!(
        errno_at(
            m.add_profile(u32::MAX, srtcm(1, 1, 0, Unit::Bytes))
                .unwrap_err()
        ),
        (Errno::Invalid, MtrAt::MeterProfileId)
    );
    let out_of_range = [
        srtcm(0, 1, 0, Unit::Bytes),
        srtcm(1, 0, 0, Unit::Bytes),
        srtcm(XIR_MAX + 1, 1, 0, Unit::Bytes),
        srtcm(1, XBS_MAX + 1, 0, Unit::Bytes),
        // Packet mode counts 128 bytes a packet against the same limits.
        srtcm(XIR_MAX / 128 + 1, 1, 0, Unit::Packets),
        Profile {
            algorithm: Algorithm::TrTcm2698 {
                cir: 100,
                pir: 99,
                cbs: 10,
                pbs: 10,
            },
            unit: Unit::Bytes,
        },
        Profile {
            algorithm: Algorithm::TrTcm2698 {
                cir: 100,
                pir: 100,
                cbs: 10,
                pbs: 9,
            },
            unit: Unit::Bytes,
        },
    ];
    for (i, p) in out_of_range.into_iter().enumerate() {
        assert_eq!(
            errno_at(m.add_profile(10 + i as u32, p).unwrap_err()),
            (Errno::NotSupported, MtrAt::MtrParams),
            "{p:?}"
        );
    }
    m.add_profile(
        2,
        Profile {
            algorithm: Algorithm::TrTcm4115 {
                cir: 100,
                eir: 0,
                cbs: 10,
                ebs: 0,
            },
            unit: Unit::Packets,
        },
    )
    .unwrap();
    m.delete_profile(2).unwrap();
    assert_eq!(
        errno_at(m.delete_profile(2).unwrap_err()),
        (Errno::NotFound, MtrAt::MeterProfileId)
    );
    let caps = m.capabilities();
    assert_eq!(
        (caps.n_max, caps.rate_max, caps.stats_mask),
        (4, 1 << 40, 0xff)
    );
}

#[test]
fn policies_pass_or_drop_each_colour() {
    let drop = [Action::Drop];
    let pass = [Action::Void];
    let p = Policy::from_actions([None, Some(&pass), Some(&drop)]).unwrap();
    assert_eq!(
        p,
        Policy([PolicyAction::Pass, PolicyAction::Pass, PolicyAction::Drop])
    );
    let all_pass = Policy::from_actions([None, None, Some(&[Action::Passthru])]).unwrap();
    assert_eq!(all_pass.action(Color::Red), PolicyAction::Pass);
    let queue = [Action::Queue(0)];
    assert_eq!(
        errno_at(Policy::from_actions([Some(&queue), None, Some(&drop)]).unwrap_err()),
        (Errno::NotSupported, MtrAt::MeterPolicy)
    );
    let both = [Action::Drop, Action::Count];
    assert_eq!(
        Policy::from_actions([None, None, Some(&both)])
            .unwrap_err()
            .errno,
        Errno::NotSupported
    );
    let mut m = Meters::new(4);
    m.add_policy(1, p).unwrap();
    assert_eq!(
        errno_at(m.add_policy(1, p).unwrap_err()),
        (Errno::Exists, MtrAt::MeterPolicyId)
    );
    assert_eq!(
        errno_at(m.delete_policy(2).unwrap_err()),
        (Errno::NotSupported, MtrAt::MeterPolicyId),
        "mlx5 answers an unknown policy with ENOTSUP"
    );
    m.delete_policy(1).unwrap();
}

#[test]
fn meter_objects_and_their_refusals() {
    let mut m = Meters::new(2);
    m.add_profile(1, srtcm(1000, 100, 0, Unit::Bytes)).unwrap();
    m.add_policy(1, Policy::default()).unwrap();
    assert_eq!(
        errno_at(m.create(1, params(9, 1), 0).unwrap_err()),
        (Errno::NotFound, MtrAt::MeterProfileId)
    );
    assert_eq!(
        errno_at(m.create(1, params(1, 9), 0).unwrap_err()),
        (Errno::NotFound, MtrAt::MeterPolicyId)
    );
    let aware = MeterParams {
        colour_aware: true,
        ..params(1, 1)
    };
    assert_eq!(
        errno_at(m.create(1, aware, 0).unwrap_err()),
        (Errno::NotSupported, MtrAt::MtrParams)
    );
    m.create(1, params(1, 1), 0).unwrap();
    assert_eq!(
        errno_at(m.create(1, params(1, 1), 0).unwrap_err()),
        (Errno::Exists, MtrAt::MtrId)
    );
    m.create(2, params(1, 1), 0).unwrap();
    assert_eq!(
        errno_at(m.create(3, params(1, 1), 0).unwrap_err()),
        (Errno::NoMemory, MtrAt::Unspecified),
        "beyond meters=, as mlx5 fails to allocate one"
    );
    assert_eq!(
        errno_at(m.delete_profile(1).unwrap_err()),
        (Errno::Busy, MtrAt::MeterProfileId)
    );
    assert_eq!(
        errno_at(m.delete_policy(1).unwrap_err()),
        (Errno::Busy, MtrAt::MeterPolicyId)
    );
    m.attach(2, true);
    assert_eq!(
        errno_at(m.destroy(2).unwrap_err()),
        (Errno::Busy, MtrAt::Unspecified)
    );
    m.attach(2, false);
    m.destroy(2).unwrap();
    assert_eq!(
        errno_at(m.destroy(2).unwrap_err()),
        (Errno::NotFound, MtrAt::MtrId)
    );
    for e in [
        m.set_enabled(7, true).unwrap_err(),
        m.set_stats_mask(7, 0).unwrap_err(),
        m.read_stats(7, None, false).unwrap_err(),
        m.update_profile(7, 1, 0).unwrap_err(),
    ] {
        assert_eq!(errno_at(e), (Errno::NotFound, MtrAt::MtrId));
    }
    m.destroy(1).unwrap();
    m.delete_profile(1).unwrap();
    m.delete_policy(1).unwrap();
}

#[test]
fn marking_counts_colours_and_drops_and_the_mask_selects_what_is_shown() {
    let mut m = Meters::new(1);
    m.add_profile(1, srtcm(1000, 100, 50, Unit::Bytes)).unwrap();
    m.add_profile(2, srtcm(1000, 1000, 0, Unit::Bytes)).unwrap();
    m.add_policy(
        1,
        Policy([PolicyAction::Pass, PolicyAction::Drop, PolicyAction::Drop]),
    )
    .unwrap();
    m.create(1, params(1, 1), 0).unwrap();
    let mut colours = Vec::new();
    for _ in 0..4 {
        let mk = m.peek(1, 0, 50).unwrap();
        m.mark(&mk, 50);
        colours.push((mk.color, mk.action));
    }
    use PolicyAction::{Drop, Pass};
    assert_eq!(
        colours,
        [
            (Color::Green, Pass),
            (Color::Green, Pass),
            (Color::Yellow, Drop),
            (Color::Red, Drop)
        ]
    );
    let (s, mask) = m.read_stats(1, None, false).unwrap();
    assert_eq!((s.packets, s.bytes), ([2, 1, 1], [100, 50, 50]));
    assert_eq!((s.packets_dropped, s.bytes_dropped, mask), (2, 100, 0xff));
    m.set_stats_mask(1, stats_bits::PKTS_DROPPED | stats_bits::PKTS_RED)
        .unwrap();
    let (s, mask) = m.read_stats(1, None, true).unwrap();
    assert_eq!(mask, stats_bits::PKTS_DROPPED | stats_bits::PKTS_RED);
    assert_eq!(
        (s.packets, s.bytes, s.packets_dropped, s.bytes_dropped),
        ([0, 0, 1], [0; 3], 2, 0)
    );
    assert_eq!(
        m.read_stats(1, None, false).unwrap().0.packets_dropped,
        0,
        "cleared"
    );
    // A new profile starts with full buckets.
    m.update_profile(1, 2, 0).unwrap();
    assert_eq!(m.peek(1, 0, 1000).unwrap().color, Color::Green);
    assert_eq!(errno_at(m.delete_profile(2).unwrap_err()).0, Errno::Busy);
    m.delete_profile(1).unwrap();
}

#[test]
fn stats_read_through_the_cache_change_once_a_period() {
    let mut m = Meters::new(1);
    m.add_profile(1, srtcm(1000, 1000, 0, Unit::Bytes)).unwrap();
    m.add_policy(1, Policy::default()).unwrap();
    m.create(1, params(1, 1), 0).unwrap();
    let one = |m: &mut Meters| {
        let mk = m.peek(1, 0, 10).unwrap();
        m.mark(&mk, 10);
    };
    one(&mut m);
    assert_eq!(m.read_stats(1, Some(0), false).unwrap().0.packets[0], 1);
    one(&mut m);
    assert_eq!(m.read_stats(1, Some(0), false).unwrap().0.packets[0], 1);
    assert_eq!(m.read_stats(1, Some(1), false).unwrap().0.packets[0], 2);
}
