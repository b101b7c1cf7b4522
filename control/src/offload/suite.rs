//! One test suite for every [`OffloadBackend`]: what any backend must do, run
//! against the emulated NIC here (and meant for the `rte_flow` backend on a NIC
//! that has rte_flow, with `hit` sending real packets).

use flowlift_dataplane::flow::{FlowKey, KeyV4, NO_VLAN};

use super::{HwCounters, HwRule, HwRuleId, OffloadBackend, OffloadError};

/// The `i`-th sample rule: a distinct IPv4/UDP flow to `out_port`.
pub fn sample_rule(i: u32, in_port: u16, out_port: u16) -> HwRule {
    HwRule {
        key: udp_key(i.to_be_bytes(), 2000),
        in_port,
        out_port,
        meter: None,
    }
}

/// Runs the suite. `rule(i)` makes distinct rules; `hit(rule, packets, bytes)`
/// sends that traffic of `rule`'s flow through the NIC and returns once the NIC
/// has counted it.
pub fn check<B: OffloadBackend>(
    backend: &mut B,
    rule: impl Fn(u32) -> HwRule,
    mut hit: impl FnMut(&HwRule, u64, u64),
) {
    let caps = backend.probe();
    assert!(caps.can_offload(), "{}: {caps}", backend.name());
    let max = caps
        .max_rules
        .expect("the suite needs a known rule capacity") as usize;
    assert_eq!(backend.installed(), 0);

    // Install, count, query: each rule's counter sees exactly its own traffic.
    let rules: Vec<HwRule> = (0..4).map(&rule).collect();
    let ids: Vec<HwRuleId> = rules
        .iter()
        .map(|r| backend.install(r).expect("install"))
        .collect();
    assert_eq!(backend.installed(), 4);
    let zero = backend.query_batch(&ids);
    assert!(
        zero.iter().all(|c| *c == Ok(HwCounters::default())),
        "{zero:?}"
    );
    for (n, r) in rules.iter().enumerate() {
        hit(r, n as u64 + 1, 100 * (n as u64 + 1));
    }
    let counts = backend.query_batch(&ids);
    for (n, c) in counts.iter().enumerate() {
        assert_eq!(
            *c,
            Ok(HwCounters {
                packets: n as u64 + 1,
                bytes: 100 * (n as u64 + 1)
            })
        );
    }

    // Remove returns the final counters, including the latest traffic.
    hit(&rules[0], 5, 500);
    assert_eq!(
        backend.remove(ids[0]),
        Ok(HwCounters {
            packets: 6,
            bytes: 600
        })
    );
    assert_eq!(
        backend.remove(ids[0]),
        Err(OffloadError::NoSuchRule(ids[0]))
    );
    assert_eq!(
        backend.query_batch(&ids[..1]),
        vec![Err(OffloadError::NoSuchRule(ids[0]))]
    );
    assert_eq!(backend.installed(), 3);

    // A rule installed again for the same flow starts from zero.
    let again = backend.install(&rules[0]).expect("reinstall");
    assert_eq!(
        backend.query_batch(&[again]),
        vec![Ok(HwCounters::default())]
    );

    // Filling the table: no space, and nothing else changes.
    let mut extra = Vec::new();
    let mut i = 100;
    let refused = loop {
        match backend.install(&rule(i)) {
            Ok(id) => extra.push(id),
            Err(e) => break e,
        }
        i += 1;
        assert!(
            i < 100 + 2 * max as u32,
            "more rules than the probe said fit"
        );
    };
    assert_eq!(refused.label(), "no_space", "{refused}");
    assert_eq!(backend.installed(), max);

    // Everything comes off, in one batch.
    let all: Vec<HwRuleId> = ids[1..]
        .iter()
        .chain([again].iter())
        .chain(extra.iter())
        .copied()
        .collect();
    let removed = backend.remove_batch(&all);
    assert!(removed.iter().all(|r| r.is_ok()), "{removed:?}");
    assert_eq!(backend.installed(), 0);

    // Batches answer rule by rule, in order, refusals in place.
    let batch: Vec<HwRule> = (200..203).map(&rule).collect();
    let got = backend.install_batch(&batch);
    assert!(got.iter().all(|r| r.is_ok()), "{got:?}");
    let mut ids: Vec<HwRuleId> = got.into_iter().map(|r| r.expect("installed")).collect();
    hit(&batch[1], 2, 200);
    ids.insert(1, HwRuleId(u64::MAX));
    let gone = backend.remove_batch(&ids);
    assert_eq!(gone[1], Err(OffloadError::NoSuchRule(HwRuleId(u64::MAX))));
    assert_eq!(
        gone[2],
        Ok(HwCounters {
            packets: 2,
            bytes: 200
        })
    );
    assert!(gone[0].is_ok() && gone[3].is_ok());
    assert_eq!(backend.installed(), 0);
}

/// The key of an IPv4/UDP packet from `src` to 192.168.0.1 port `dport`.
pub fn udp_key(src: [u8; 4], dport: u16) -> FlowKey {
    FlowKey::V4(KeyV4 {
        src,
        dst: [192, 168, 0, 1],
        sport: 1000,
        dport,
        vlan: NO_VLAN,
        proto: 17,
        in_port: 0,
    })
}

/// The static-rule part of the suite: operators' rules in testpmd's syntax
/// on port `uplink`, forwarding to port `vf`. `hit(key, packets, bytes)`
/// sends that traffic of the flow `key` through the NIC and returns once the
/// NIC has counted it.
pub fn check_static<B: OffloadBackend>(
    backend: &mut B,
    uplink: u16,
    vf: u16,
    mut hit: impl FnMut(&FlowKey, u64, u64),
) {
    use crate::shell::testpmd_flow::{parse, FlowCommand, FlowRule};
    use rte::flow::error_type as et;
    let rule = |text: &str| -> FlowRule {
        match parse(text) {
            Ok(FlowCommand::Create(r) | FlowCommand::Validate(r)) => r,
            other => panic!("{text}: {other:?}"),
        }
    };
    let forward = rule(&format!(
        "flow create {uplink} ingress pattern eth / ipv4 src spec 10.9.0.0 src mask 255.255.0.0 / udp dst spec 5000 dst last 5009 / end actions count / represented_port ethdev_port_id {vf} / end"
    ));
    backend.validate_static(&forward).expect("validates");
    let id = backend.create_static(&forward).expect("created");
    assert_eq!(
        backend.installed(),
        0,
        "static rules are not per-flow rules"
    );
    assert_eq!(backend.query_static(id), Ok(HwCounters::default()));
    hit(&udp_key([10, 9, 3, 4], 5005), 3, 300);
    assert_eq!(
        backend.query_static(id),
        Ok(HwCounters {
            packets: 3,
            bytes: 300
        })
    );

    // Refusals keep rte_flow's error types, and create nothing.
    let bad = rule(&format!(
        "flow create {uplink} egress pattern eth / end actions drop / end"
    ));
    assert_eq!(
        backend.validate_static(&bad).unwrap_err().error_type,
        et::ATTR_EGRESS
    );
    assert_eq!(
        backend.create_static(&bad).unwrap_err().error_type,
        et::ATTR_EGRESS
    );

    // A rule without COUNT has nothing to query.
    let uncounted = rule(&format!(
        "flow create {uplink} ingress priority 1 pattern eth / ipv4 / end actions drop / end"
    ));
    let quiet = backend.create_static(&uncounted).expect("created");
    assert!(backend.query_static(quiet).is_err());

    // Destroyed, with its final counters: gone from queries and from a
    // second destroy.
    assert_eq!(
        backend.destroy_static(id),
        Ok(HwCounters {
            packets: 3,
            bytes: 300
        })
    );
    assert_eq!(backend.query_static(id).unwrap_err().error_type, et::HANDLE);
    assert!(backend.destroy_static(id).is_err());
    backend.destroy_static(quiet).expect("destroyed");

    // A new rule counts from zero.
    let again = backend.create_static(&forward).expect("created again");
    assert_eq!(backend.query_static(again), Ok(HwCounters::default()));
    backend.destroy_static(again).expect("destroyed");
}
