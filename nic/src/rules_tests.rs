use std::sync::atomic::AtomicBool;

use super::*;
use crate::flow::{Ipv4, Parts, Ports};

const PF: Context = Context {
    port: PortRef::Uplink,
    rx_queues: 2,
};

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

/// A 60-byte UDP/IPv4 frame to port `dport`.
fn frame(dport: u16) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    f.extend_from_slice(&[
        0x45, 0, 0, 46, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 1, 0, 1,
    ]);
    f.extend_from_slice(&1000u16.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&[0, 26, 0, 0]);
    f.resize(60, 0x78);
    f
}

fn rules() -> Rules {
    Rules::new(vec![0, 1, 2, 3], 8, 16)
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
    let view = r.view();
    let (v, counter) = view.set().classify(&frame(5001), 0);
    assert_eq!(v, Verdict::Vf(2), "VF 2 is the third representor");
    let counter = counter.expect("COUNT gives a counter");
    assert_eq!(view.set().classify(&frame(5002), 0), (Verdict::Miss, None));
    assert_eq!(
        view.set().classify(&frame(5001), 3),
        (Verdict::Miss, None),
        "from another port"
    );
    assert_eq!(
        view.set().classify(b"not an ip frame", 0),
        (Verdict::Miss, None)
    );
    drop(view);

    r.bank().get(counter).unwrap().count(60);
    r.bank().get(counter).unwrap().count(60);
    assert_eq!(r.query(PortRef::Uplink, id, true), Ok((2, 120)));
    assert_eq!(r.query(PortRef::Uplink, id, false), Ok((0, 0)), "reset");
    r.bank().get(counter).unwrap().count(60);
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
    assert_eq!(
        r.view().set().classify(&frame(5001), 0),
        (Verdict::Miss, None)
    );
    assert!(r.is_empty());
}

#[test]
fn transfer_rules_come_before_ingress_rules() {
    let r = rules();
    r.create(PF, ingress(), &udp_dst(5001), &[Action::Queue(1)])
        .unwrap();
    assert_eq!(r.view().set().classify(&frame(5001), 0).0, Verdict::Host(1));
    r.create(
        PF,
        transfer(),
        &udp_dst(5001),
        &[Action::Port(PortRef::Uplink)],
    )
    .unwrap();
    assert_eq!(r.view().set().classify(&frame(5001), 0).0, Verdict::Wire);
    r.create(
        PF,
        Attr {
            priority: 0,
            ..transfer()
        },
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
    assert_eq!(r.view().set().classify(&frame(5001), 0).0, Verdict::Wire);
    assert_eq!(r.view().set().classify(&frame(7), 0).0, Verdict::Drop);
}

#[test]
fn limits_refuse_with_no_space() {
    let r = Rules::new(vec![0], 2, 1);
    r.create(PF, ingress(), &udp_dst(1), &[Action::Drop, Action::Count])
        .unwrap();
    let e = r
        .create(PF, ingress(), &udp_dst(2), &[Action::Drop, Action::Count])
        .unwrap_err();
    assert_eq!((e.errno, e.message), (Errno::NoSpace, "no counter left"));
    assert_eq!(
        r.validate(PF, ingress(), &udp_dst(2), &[Action::Drop, Action::Count])
            .unwrap_err()
            .errno,
        Errno::NoSpace
    );
    r.create(PF, ingress(), &udp_dst(2), &[Action::Drop])
        .unwrap();
    let e = r
        .create(PF, ingress(), &udp_dst(3), &[Action::Drop])
        .unwrap_err();
    assert_eq!(
        (e.errno, e.message),
        (Errno::NoSpace, "the rule table is full")
    );
    assert!(
        r.validate(PF, transfer(), &udp_dst(3), &[Action::Drop])
            .is_ok(),
        "each table has its own room"
    );
    let no_count = r.query(PortRef::Uplink, 2, false).unwrap_err();
    assert_eq!(no_count.errno, Errno::NotSupported);
}

#[test]
fn a_destroyed_rule_gives_its_counter_back_from_zero() {
    let r = Rules::new(vec![0], 4, 1);
    let a = r
        .create(PF, ingress(), &udp_dst(1), &[Action::Drop, Action::Count])
        .unwrap();
    let c = r.view().set().classify(&frame(1), 0).1.unwrap();
    r.bank().get(c).unwrap().count(60);
    r.destroy(PortRef::Uplink, a).unwrap();
    let b = r
        .create(PF, ingress(), &udp_dst(1), &[Action::Drop, Action::Count])
        .unwrap();
    assert_eq!(r.query(PortRef::Uplink, b, false), Ok((0, 0)));
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

#[test]
fn changes_wait_for_a_running_switch_to_take_them_up() {
    let r = rules();
    let stop = AtomicBool::new(false);
    let ready = std::sync::Barrier::new(2);
    std::thread::scope(|s| {
        let switch = s.spawn(|| {
            let mut view = r.view();
            ready.wait();
            let mut verdicts = Vec::new();
            while !stop.load(Ordering::Acquire) {
                verdicts.push(view.refresh().classify(&frame(9), 0).0);
                std::thread::yield_now();
            }
            verdicts
        });
        ready.wait();
        let id = r
            .create(PF, transfer(), &udp_dst(9), &[Action::Drop])
            .unwrap();
        // Acknowledged: the switch's next lookup sees the rule.
        let ack = r.seen.load(Ordering::Acquire);
        assert!(
            ack >= 1,
            "create returned before the switch took the rule up"
        );
        r.destroy(PortRef::Uplink, id).unwrap();
        assert!(r.seen.load(Ordering::Acquire) >= 2);
        stop.store(true, Ordering::Release);
        let verdicts = switch.join().unwrap();
        assert_eq!(verdicts.last(), Some(&Verdict::Miss));
    });
    assert_eq!(
        r.seen.load(Ordering::Acquire),
        PARKED,
        "no switch: nothing to wait for"
    );
}
