//! Unit tests of rte_mtr's lowering and answers: the structures a PMD would
//! read, and the capabilities and errors as flowlift reads them. No EAL or
//! NIC is needed (the calls themselves run against the NIC model in the
//! end-to-end tests).

use dpdk_sys as sys;

use super::*;

#[test]
fn an_srtcm_profile_in_packets_lowers_to_rfc2697_in_packet_mode() {
    let p = lower_profile(&ProfileSpec {
        algorithm: Algorithm::SrTcm {
            cir: 2000,
            cbs: 20,
            ebs: 0,
        },
        unit: Unit::Packets,
    });
    assert_eq!(p.alg, sys::RTE_MTR_SRTCM_RFC2697);
    assert_eq!(p.packet_mode, 1);
    // SAFETY: the member `alg` names.
    let s = unsafe { p.__bindgen_anon_1.srtcm_rfc2697 };
    assert_eq!((s.cir, s.cbs, s.ebs), (2000, 20, 0));
}

#[test]
fn a_trtcm_profile_in_bytes_lowers_to_rfc2698() {
    let p = lower_profile(&ProfileSpec {
        algorithm: Algorithm::TrTcm {
            cir: 1_000_000,
            pir: 2_000_000,
            cbs: 15_000,
            pbs: 30_000,
        },
        unit: Unit::Bytes,
    });
    assert_eq!(p.alg, sys::RTE_MTR_TRTCM_RFC2698);
    assert_eq!(p.packet_mode, 0);
    // SAFETY: the member `alg` names.
    let t = unsafe { p.__bindgen_anon_1.trtcm_rfc2698 };
    assert_eq!(
        (t.cir, t.pir, t.cbs, t.pbs),
        (1_000_000, 2_000_000, 15_000, 30_000)
    );
}

#[test]
fn a_policer_passes_green_and_yellow_and_drops_red() {
    let raw = RawPolicy::new(&PolicySpec::police());
    let [g, y, r] = raw.lists();
    let types = |l: &[sys::rte_flow_action]| l.iter().map(|a| a.type_).collect::<Vec<_>>();
    assert_eq!(
        types(g),
        vec![sys::RTE_FLOW_ACTION_TYPE_END],
        "green: no action"
    );
    assert_eq!(
        types(y),
        vec![sys::RTE_FLOW_ACTION_TYPE_END],
        "yellow: no action"
    );
    assert_eq!(
        types(r),
        vec![
            sys::RTE_FLOW_ACTION_TYPE_DROP,
            sys::RTE_FLOW_ACTION_TYPE_END
        ],
        "red: drop"
    );
    let params = raw.params();
    for (c, list) in raw.lists().iter().enumerate() {
        assert_eq!(
            params.actions[c],
            list.as_ptr(),
            "colour {c} points at its list"
        );
    }
}

#[test]
fn capabilities_say_which_algorithm_meters_in_which_unit() {
    let raw = sys::rte_mtr_capabilities {
        n_max: 16,
        meter_srtcm_rfc2697_n_max: 16,
        srtcm_rfc2697_byte_mode_supported: 1,
        srtcm_rfc2697_packet_mode_supported: 0,
        // As mlx5 says on its ASO meters: no count by algorithm, the modes
        // flagged.
        meter_trtcm_rfc2698_n_max: 0,
        trtcm_rfc2698_byte_mode_supported: 1,
        trtcm_rfc2698_packet_mode_supported: 0,
        stats_mask: stats::PKTS_DROPPED | stats::BYTES_DROPPED,
        ..Default::default()
    };
    let c = Capabilities::from_raw(&raw);
    let sr = Algorithm::SrTcm {
        cir: 1,
        cbs: 1,
        ebs: 0,
    };
    let tr = Algorithm::TrTcm {
        cir: 1,
        pir: 1,
        cbs: 1,
        pbs: 1,
    };
    assert!(c.supports(&sr, Unit::Bytes));
    assert!(!c.supports(&sr, Unit::Packets), "no packet mode said");
    assert!(
        c.supports(&tr, Unit::Bytes),
        "the mode flag says it, whatever the count by algorithm"
    );
    assert!(!c.supports(&tr, Unit::Packets));
    assert_eq!(c.stats_mask, 0x88);
}

#[test]
fn an_error_keeps_the_driver_s_type_message_and_errno() {
    let e = MtrError::local(
        sys::RTE_MTR_ERROR_TYPE_MTR_PARAMS,
        "meter profile values out of the device's range",
        crate::errno::ENOTSUP,
    );
    assert_eq!(e.type_name(), "MTR object params");
    assert_eq!(e.class(), FlowErrorClass::Unsupported);
    let text = e.to_string();
    assert!(
        text.starts_with("MTR object params: meter profile values out of the device's range: "),
        "{text}"
    );
    assert!(text.contains("ENOTSUP"), "{text}");
}
