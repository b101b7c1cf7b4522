//! The `rte_flow` backend against a device without flow support (`net_null`), in
//! its own process with real EAL: the probe finds nothing to offload with, and
//! every call is refused with a typed error, leaving nothing installed.

use std::sync::Arc;

use flowlift_dataplane::flow::{FlowKey, KeyV4, NO_VLAN};
use flowlift_offload::rte_flow::RteFlowBackend;
use flowlift_offload::{HwRule, HwRuleId, OffloadBackend, OffloadError};
use rte::{Eal, Mempool, Port, PortConfig};

#[test]
fn a_nic_without_rte_flow_refuses_cleanly() {
    let eal = Eal::init([
        "-l",
        "0",
        "--no-huge",
        "-m",
        "128",
        "--no-pci",
        "--no-shconf",
        "--no-telemetry",
        "--log-level=lib.eal:error",
        "--file-prefix=test-rte-flow-backend",
        "--vdev=net_null0",
        "--vdev=net_null1,no-rx=1",
    ])
    .expect("EAL init");
    let pool =
        Arc::new(Mempool::new(&eal, "p", 1023, 32, rte::MBUF_DEFAULT_DATAROOM).expect("pool"));
    let up = Port::by_name(&eal, "net_null0").expect("port");
    let vf = Port::by_name(&eal, "net_null1").expect("port");
    let (_rx, _tx) = up
        .configure(&PortConfig::default(), &pool)
        .expect("configure");
    up.start().expect("start");

    let mut b = RteFlowBackend::new(up.clone(), vf.id().0);
    assert_eq!(b.name(), "rte_flow");
    let caps = b.probe();
    assert!(
        caps.fates.is_empty() && !caps.count && !caps.indirect_count,
        "{caps}"
    );
    assert!(!caps.can_offload());
    let rule = HwRule {
        key: FlowKey::V4(KeyV4 {
            src: [10, 0, 0, 1],
            dst: [10, 0, 0, 2],
            sport: 1,
            dport: 2,
            vlan: NO_VLAN,
            proto: 17,
            in_port: 0,
        }),
        in_port: up.id().0,
        out_port: vf.id().0,
        meter: None,
    };
    let err = b.install(&rule).unwrap_err();
    assert_eq!(err.label(), "unsupported", "{err}");
    assert_eq!(b.installed(), 0);
    assert_eq!(
        b.remove(HwRuleId(9)),
        Err(OffloadError::NoSuchRule(HwRuleId(9)))
    );
    assert_eq!(
        b.query_batch(&[HwRuleId(9)]),
        vec![Err(OffloadError::NoSuchRule(HwRuleId(9)))]
    );
    let err = b.flush_stale().unwrap_err();
    assert_eq!(
        err.label(),
        "unsupported",
        "net_null has no flow ops: {err}"
    );
}
