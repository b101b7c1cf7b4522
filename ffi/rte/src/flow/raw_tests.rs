//! Unit tests of the lowering: the arrays rte_flow would read, checked field by
//! field in network byte order. No EAL or NIC is needed.

use std::net::{Ipv4Addr, Ipv6Addr};

use dpdk_sys as sys;

use super::*;
use crate::flow::{CounterRef, Masked, Pattern};

fn spec<T>(item: &sys::rte_flow_item) -> &T {
    assert!(!item.spec.is_null(), "item has a spec");
    // SAFETY: the test knows the item's type and the RawPattern is alive.
    unsafe { &*(item.spec as *const T) }
}

fn mask<T>(item: &sys::rte_flow_item) -> &T {
    assert!(!item.mask.is_null(), "item has a mask");
    // SAFETY: as for spec.
    unsafe { &*(item.mask as *const T) }
}

fn five_tuple_v4() -> Pattern {
    Pattern::new()
        .eth(EthItem::default())
        .ipv4(Ipv4Item {
            src: Some(Masked::exact(Ipv4Addr::new(10, 0, 0, 1))),
            dst: Some(Masked::prefix(Ipv4Addr::new(192, 168, 1, 0), 24)),
            proto: Some(Masked::exact(17)),
            tos: None,
            fragment_offset: Some(Masked {
                value: 0,
                mask: 0x3fff,
            }),
        })
        .udp(L4Item {
            src_port: Some(Masked::exact(1234)),
            dst_port: Some(Masked::exact(5001)),
        })
}

#[test]
fn ipv4_udp_five_tuple_lowers_in_network_order() {
    let raw = RawPattern::new(&five_tuple_v4());
    let items = raw.items();
    assert_eq!(items.len(), 4);
    assert_eq!(items[0].type_, sys::RTE_FLOW_ITEM_TYPE_ETH);
    // An Ethernet item with no field matches any frame: no spec, no mask.
    assert!(items[0].spec.is_null() && items[0].mask.is_null());

    assert_eq!(items[1].type_, sys::RTE_FLOW_ITEM_TYPE_IPV4);
    let ip: &sys::rte_flow_item_ipv4 = spec(&items[1]);
    let ipm: &sys::rte_flow_item_ipv4 = mask(&items[1]);
    assert_eq!(ip.hdr.src_addr.to_ne_bytes(), [10, 0, 0, 1]);
    assert_eq!(ipm.hdr.src_addr.to_ne_bytes(), [255, 255, 255, 255]);
    assert_eq!(ip.hdr.dst_addr.to_ne_bytes(), [192, 168, 1, 0]);
    assert_eq!(ipm.hdr.dst_addr.to_ne_bytes(), [255, 255, 255, 0]);
    assert_eq!((ip.hdr.next_proto_id, ipm.hdr.next_proto_id), (17, 0xff));
    assert_eq!(
        ipm.hdr.type_of_service, 0,
        "unmatched fields are masked out"
    );
    assert_eq!(
        (
            ip.hdr.fragment_offset,
            ipm.hdr.fragment_offset.to_ne_bytes()
        ),
        (0, [0x3f, 0xff]),
        "whole datagrams only"
    );
    assert!(items[1].last.is_null());

    assert_eq!(items[2].type_, sys::RTE_FLOW_ITEM_TYPE_UDP);
    let udp: &sys::rte_flow_item_udp = spec(&items[2]);
    let udpm: &sys::rte_flow_item_udp = mask(&items[2]);
    assert_eq!(udp.hdr.src_port.to_ne_bytes(), 1234u16.to_be_bytes());
    assert_eq!(udp.hdr.dst_port.to_ne_bytes(), 5001u16.to_be_bytes());
    assert_eq!({ udpm.hdr.dst_port }, 0xffff);
    assert_eq!(items[3].type_, sys::RTE_FLOW_ITEM_TYPE_END);
}

#[test]
fn ipv6_tcp_and_vlan_and_ports_lower() {
    let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
    let p = Pattern::new()
        .item(Item::RepresentedPort(3))
        .eth(EthItem {
            dst: Some(Masked::exact([2, 0, 0, 0, 0, 1])),
            src: None,
            ether_type: None,
        })
        .vlan(VlanItem {
            tci: Some(Masked {
                value: 100,
                mask: 0x0fff,
            }),
            inner_type: Some(Masked::exact(0x86dd)),
        })
        .ipv6(Ipv6Item {
            src: Some(Masked::exact(src)),
            dst: Some(Masked::prefix("2001:db8:1::".parse().unwrap(), 48)),
            proto: Some(Masked::exact(6)),
            has_frag_ext: Some(false),
        })
        .tcp(L4Item {
            src_port: None,
            dst_port: Some(Masked::exact(443)),
        })
        .item(Item::PortId(7));
    let raw = RawPattern::new(&p);
    let it = raw.items();
    assert_eq!(it.len(), 7);
    assert_eq!(it[0].type_, sys::RTE_FLOW_ITEM_TYPE_REPRESENTED_PORT);
    assert_eq!(spec::<sys::rte_flow_item_ethdev>(&it[0]).port_id, 3);

    assert_eq!(it[1].type_, sys::RTE_FLOW_ITEM_TYPE_ETH);
    let eth: &sys::rte_flow_item_eth = spec(&it[1]);
    let ethm: &sys::rte_flow_item_eth = mask(&it[1]);
    // SAFETY: the hdr view of the union is the one lowering wrote.
    let (e, em) = unsafe { (eth.__bindgen_anon_1.hdr, ethm.__bindgen_anon_1.hdr) };
    assert_eq!(e.dst_addr.addr_bytes, [2, 0, 0, 0, 0, 1]);
    assert_eq!(em.dst_addr.addr_bytes, [0xff; 6]);
    assert_eq!(em.src_addr.addr_bytes, [0; 6]);

    assert_eq!(it[2].type_, sys::RTE_FLOW_ITEM_TYPE_VLAN);
    let v: &sys::rte_flow_item_vlan = spec(&it[2]);
    let vm: &sys::rte_flow_item_vlan = mask(&it[2]);
    // SAFETY: as above.
    let (v, vm) = unsafe { (v.__bindgen_anon_1.hdr, vm.__bindgen_anon_1.hdr) };
    assert_eq!(v.vlan_tci.to_ne_bytes(), 100u16.to_be_bytes());
    assert_eq!(vm.vlan_tci.to_ne_bytes(), 0x0fffu16.to_be_bytes());
    assert_eq!(v.eth_proto.to_ne_bytes(), [0x86, 0xdd]);

    let ip6: &sys::rte_flow_item_ipv6 = spec(&it[3]);
    let ip6m: &sys::rte_flow_item_ipv6 = mask(&it[3]);
    assert_eq!(ip6.hdr.src_addr, src.octets());
    assert_eq!(ip6m.hdr.src_addr, [0xff; 16]);
    assert_eq!(&ip6m.hdr.dst_addr[..6], &[0xff; 6]);
    assert_eq!(&ip6m.hdr.dst_addr[6..], &[0; 10]);
    assert_eq!((ip6.hdr.proto, ip6m.hdr.proto), (6, 0xff));
    assert_eq!(
        (ip6.has_frag_ext(), ip6m.has_frag_ext()),
        (0, 1),
        "no fragment header"
    );

    let tcp: &sys::rte_flow_item_tcp = spec(&it[4]);
    let tcpm: &sys::rte_flow_item_tcp = mask(&it[4]);
    assert_eq!(tcp.hdr.dst_port.to_ne_bytes(), 443u16.to_be_bytes());
    assert_eq!({ tcpm.hdr.src_port }, 0);
    assert_eq!(it[5].type_, sys::RTE_FLOW_ITEM_TYPE_PORT_ID);
    assert_eq!(spec::<sys::rte_flow_item_port_id>(&it[5]).id, 7);
    assert_eq!(it[6].type_, sys::RTE_FLOW_ITEM_TYPE_END);
}

#[test]
fn every_action_lowers_with_its_configuration() {
    let fake_handle = CounterRef(0x1000 as *mut sys::rte_flow_action_handle);
    let acts = Actions::new()
        .then(Action::Count)
        .then(Action::IndirectCount(fake_handle))
        .then(Action::Queue(3))
        .then(Action::RepresentedPort(2))
        .then(Action::PortId(5))
        .then(Action::Drop)
        .then(Action::Meter(9))
        .then(Action::Mark(0xbeef))
        .then(Action::Rss(vec![0, 1, 2]));
    let raw = RawActions::new(&acts);
    let a = raw.actions();
    assert_eq!(a.len(), 10);
    let types: Vec<u32> = a.iter().map(|a| a.type_).collect();
    assert_eq!(
        types,
        vec![
            sys::RTE_FLOW_ACTION_TYPE_COUNT,
            sys::RTE_FLOW_ACTION_TYPE_INDIRECT,
            sys::RTE_FLOW_ACTION_TYPE_QUEUE,
            sys::RTE_FLOW_ACTION_TYPE_REPRESENTED_PORT,
            sys::RTE_FLOW_ACTION_TYPE_PORT_ID,
            sys::RTE_FLOW_ACTION_TYPE_DROP,
            sys::RTE_FLOW_ACTION_TYPE_METER,
            sys::RTE_FLOW_ACTION_TYPE_MARK,
            sys::RTE_FLOW_ACTION_TYPE_RSS,
            sys::RTE_FLOW_ACTION_TYPE_END,
        ]
    );
    assert!(a[0].conf.is_null(), "plain COUNT takes the PMD's default");
    assert_eq!(a[1].conf as usize, 0x1000, "INDIRECT's conf is the handle");
    // SAFETY: each conf points at the boxed struct of its action's type, alive
    // while `raw` is.
    unsafe {
        assert_eq!((*(a[2].conf as *const sys::rte_flow_action_queue)).index, 3);
        assert_eq!(
            (*(a[3].conf as *const sys::rte_flow_action_ethdev)).port_id,
            2
        );
        assert_eq!((*(a[4].conf as *const sys::rte_flow_action_port_id)).id, 5);
        assert!(a[5].conf.is_null());
        assert_eq!(
            (*(a[6].conf as *const sys::rte_flow_action_meter)).mtr_id,
            9
        );
        assert_eq!(
            (*(a[7].conf as *const sys::rte_flow_action_mark)).id,
            0xbeef
        );
        let rss = &*(a[8].conf as *const sys::rte_flow_action_rss);
        assert_eq!(rss.queue_num, 3);
        assert_eq!(std::slice::from_raw_parts(rss.queue, 3), &[0, 1, 2]);
    }
    assert!(a[9].conf.is_null());
}

#[test]
fn attributes_set_their_bits() {
    let a = lower_attr(&Attr {
        group: 1,
        priority: 2,
        ingress: false,
        egress: false,
        transfer: true,
    });
    assert_eq!((a.group, a.priority), (1, 2));
    assert_eq!((a.ingress(), a.egress(), a.transfer()), (0, 0, 1));
    let i = lower_attr(&Attr::ingress());
    assert_eq!((i.ingress(), i.transfer()), (1, 0));
}

#[test]
fn prefixes_clamp_and_zero_length_matches_all() {
    assert_eq!(
        Masked::prefix(Ipv4Addr::new(10, 1, 2, 3), 0).mask,
        Ipv4Addr::UNSPECIFIED
    );
    assert_eq!(
        Masked::prefix(Ipv4Addr::new(10, 1, 2, 3), 99).mask,
        Ipv4Addr::BROADCAST
    );
    assert_eq!(
        Masked::prefix(Ipv4Addr::new(10, 1, 2, 3), 12).mask,
        Ipv4Addr::new(255, 240, 0, 0)
    );
}

#[test]
fn errors_read_like_testpmd_and_classify() {
    let e = crate::flow::FlowError {
        error_type: sys::RTE_FLOW_ERROR_TYPE_ITEM,
        message: "unsupported item".into(),
        errno: crate::Errno(95),
    };
    let text = e.to_string();
    assert!(
        text.starts_with("Caught error type 13 (specific pattern item): unsupported item: "),
        "{text}"
    );
    assert_eq!(e.class(), crate::flow::FlowErrorClass::Unsupported);
    let full = crate::flow::FlowError {
        error_type: sys::RTE_FLOW_ERROR_TYPE_HANDLE,
        message: String::new(),
        errno: crate::Errno(28),
    };
    assert_eq!(full.class(), crate::flow::FlowErrorClass::NoSpace);
    assert!(full.to_string().contains("(no stated reason)"));
}
