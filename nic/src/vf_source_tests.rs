//! Traffic a VF sends into the model's switch: what no rule takes reaches its
//! representor (spread by RSS), and rules send it to the wire, another VF or a drop.

use super::*;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::flow::{Action, Attr, Context, Item, Parts, PortRef};
use crate::ring::Ring;
use crate::rss::HashTypes;
use crate::switch_test_support::{transfer_rule as rule, udp};
use crate::uplink::{FillError, Rx, ThreadSetup, UplinkThread};
use crate::wire::Capture;

/// Buffers are `(frame tag, where it went)`.
#[derive(Default)]
struct Recorder {
    pool: Option<usize>,
}

impl Host for Recorder {
    type Buf = (u8, Rx);
    fn fill(&mut self, to: Rx, frame: &[u8]) -> Result<(u8, Rx), FillError> {
        if let Some(p) = &mut self.pool {
            if *p == 0 {
                return Err(FillError::NoBuffer);
            }
            *p -= 1;
        }
        Ok((frame[0], to))
    }
    fn discard(&mut self, _buf: (u8, Rx)) {}
}

/// A switch with VFs 0 and 1; VF 0's representor (position 0) has `reps0`
/// RX rings of `slots` slots, VF 1's is stopped.
type Rings = Vec<Ring<(u8, Rx)>>;

fn setup(reps0: usize, slots: usize) -> (Fabric, Rings, Uplink<Recorder>) {
    let f = Fabric::new(vec![0, 1]);
    let rings: Rings = (0..reps0).map(|_| Ring::new(slots)).collect();
    let up = Uplink::new(Recorder::default(), Vec::new())
        .with_reps(vec![Some(rings.iter().map(Ring::producer).collect()), None]);
    (f, rings, up)
}

fn drain(wire: &mut Wire, up: &mut Uplink<Recorder>, f: &Fabric, vf: usize) -> Vec<Step> {
    let rss = f.rss.get();
    let mut steps = Vec::new();
    loop {
        match step_vf(wire, up, f, &mut f.rules.lock_switch(), &rss, vf) {
            Step::Finished => return steps,
            Step::Blocked if steps.last() == Some(&Step::Blocked) => return steps,
            s => steps.push(s),
        }
    }
}

#[test]
fn what_no_rule_takes_reaches_the_representor_s_rx_spread_by_rss() {
    let (f, rings, mut up) = setup(2, 64);
    f.rss
        .update(|r| r[1].configure(2, true, HashTypes::ALL, None));
    let frames: Vec<Vec<u8>> = (0..40u8).map(|i| udp(i, i % 8, 9)).collect();
    let mut wire = Wire::new(Capture::from_frames(frames.clone()), 1, 0);
    let steps = drain(&mut wire, &mut up, &f, 0);
    assert_eq!(steps, vec![Step::Delivered; 40]);
    let rss = f.rss.get();
    let mut got = Vec::new();
    for (q, ring) in rings.iter().enumerate() {
        while let Some((tag, to)) = ring.pop() {
            assert_eq!(to.port, 1, "the representor of VF position 0");
            assert_eq!(usize::from(to.queue), q);
            let hash = rss[1].hash(&frames[usize::from(tag)]);
            assert_eq!(to.hash, hash);
            assert_eq!(to.queue, rss[1].queue(hash));
            got.push(tag);
        }
    }
    got.sort_unstable();
    assert_eq!(got, (0..40).collect::<Vec<u8>>());
    assert!(rings.iter().all(|r| r.is_empty()));
    let tx = &f.vf_tx[0];
    assert_eq!((tx.sent.packets(), tx.to_host.packets()), (40, 40));
    assert_eq!(tx.sent.bytes(), 40 * 60);
    assert_eq!(f.uplink.wire.packets(), 0, "nothing of the uplink's");
}

#[test]
fn rules_take_a_vf_s_frames_to_the_wire_to_another_vf_or_drop_them() {
    let dir = tempfile::tempdir().unwrap();
    let (mut f, rings, mut up) = setup(1, 64);
    let names = [(0, "vm1".to_owned()), (1, "vm2".to_owned())];
    f.captures = Some(crate::capture::Captures::create(dir.path(), &names).unwrap());
    // Created on VF 0's representor: its source is VF 0.
    let out = rule(&f, PortRef::Vf(0), 80, Action::Port(PortRef::Uplink));
    let across = rule(&f, PortRef::Vf(0), 81, Action::Port(PortRef::Vf(1)));
    rule(&f, PortRef::Vf(0), 82, Action::Drop);
    // The uplink's own rule (source: the wire) does not see VF 0's frames.
    rule(&f, PortRef::Uplink, 83, Action::Drop);
    let frames = [
        udp(1, 1, 80),
        udp(2, 1, 81),
        udp(3, 1, 82),
        udp(4, 1, 83),
        udp(5, 1, 80),
    ];
    let mut wire = Wire::new(Capture::from_frames(frames), 1, 0);
    let steps = drain(&mut wire, &mut up, &f, 0);
    use Step::*;
    assert_eq!(
        steps,
        vec![Switched, Switched, Dropped, Delivered, Switched]
    );
    assert_eq!(rings[0].pop().map(|(t, _)| t), Some(4));
    let tx = &f.vf_tx[0];
    assert_eq!(tx.sent.packets(), 5);
    assert_eq!(tx.to_wire.packets(), 2);
    assert_eq!(f.uplink.wire_tx.packets(), 2, "the uplink's TX side");
    assert_eq!(tx.to_vf.packets(), 1);
    assert_eq!(f.vfs[1].1.from_switch.packets(), 1);
    assert_eq!((tx.dropped.packets(), tx.to_host.packets()), (1, 1));
    assert_eq!(f.rules.query(PortRef::Vf(0), out, false), Ok((2, 120)));
    assert_eq!(f.rules.query(PortRef::Vf(0), across, false), Ok((1, 60)));
    drop(f);
    assert_eq!(tags(&dir.path().join("vm2-offloaded.pcap")), vec![2]);
    assert_eq!(
        tags(&dir.path().join("uplink-offloaded.pcap")),
        vec![1, 5],
        "what the rules put on the wire, in order"
    );
    for empty in ["vm1-offloaded.pcap", "vm1.pcap", "vm2.pcap", "uplink.pcap"] {
        assert!(tags(&dir.path().join(empty)).is_empty(), "{empty}");
    }
}

/// The first byte of each frame of a pcap, in order.
fn tags(path: &std::path::Path) -> Vec<u8> {
    let file = std::fs::File::open(path).unwrap();
    let mut r = pcap_file::pcap::PcapReader::new(file).unwrap();
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        out.push(p.unwrap().data[0]);
    }
    out
}

/// The rule the brief's users write on the PF: a `represented_port` item
/// naming VF 0 and a port action to the PF, i.e. VF 0's traffic out on the
/// wire. It takes VF 0's matching frames only (not VF 1's, not the wire's,
/// not VF 0's other flows), counts them on the rule, on VF 0's `to_wire` and
/// on the uplink's TX side, and captures them as the uplink's offloaded
/// traffic; the rest of VF 0's traffic reaches its representor's RX.
#[test]
fn a_rule_on_the_pf_naming_a_vf_sends_its_flow_out_on_the_wire() {
    let dir = tempfile::tempdir().unwrap();
    let (mut f, rings, mut up) = setup(1, 64);
    let names = [(0, "vm1".to_owned()), (1, "vm2".to_owned())];
    f.captures = Some(crate::capture::Captures::create(dir.path(), &names).unwrap());
    let id = f
        .rules
        .create(
            Context {
                port: PortRef::Uplink,
                rx_queues: 1,
            },
            Attr {
                transfer: true,
                ..Attr::default()
            },
            &[
                Item::Port(Some(PortRef::Vf(0))),
                Item::Eth(Parts::default()),
                Item::Udp(Parts {
                    spec: Some(crate::flow::Ports { src: 0, dst: 80 }),
                    mask: Some(crate::flow::Ports {
                        src: 0,
                        dst: 0xffff,
                    }),
                    ..Parts::default()
                }),
            ],
            &[Action::Port(PortRef::Uplink), Action::Count],
        )
        .unwrap();
    let frames = [udp(1, 1, 80), udp(2, 1, 9), udp(3, 1, 80), udp(4, 1, 80)];
    let mut wire = Wire::new(Capture::from_frames(frames), 1, 0);
    use Step::*;
    assert_eq!(
        drain(&mut wire, &mut up, &f, 0),
        vec![Switched, Delivered, Switched, Switched]
    );
    // VF 1's port-80 traffic is not VF 0's: the rule leaves it (VF 1's
    // representor is stopped here, so it is missed there).
    let mut wire1 = Wire::new(Capture::from_frames([udp(9, 1, 80)]), 1, 0);
    assert_eq!(drain(&mut wire1, &mut up, &f, 1), vec![Missed]);
    assert_eq!(f.rules.query(PortRef::Uplink, id, false), Ok((3, 180)));
    let tx = &f.vf_tx[0];
    assert_eq!((tx.sent.packets(), tx.to_wire.packets()), (4, 3));
    assert_eq!((tx.to_host.packets(), tx.to_vf.packets()), (1, 0));
    assert_eq!(
        (f.uplink.wire_tx.packets(), f.uplink.wire_tx.bytes()),
        (3, 180)
    );
    assert_eq!(
        f.uplink.wire.packets(),
        0,
        "nothing came off the uplink's wire"
    );
    assert_eq!(
        f.uplink.to_wire.packets(),
        0,
        "the uplink's own hairpin count"
    );
    assert_eq!(f.vf_tx[1].to_wire.packets(), 0);
    assert_eq!(rings[0].pop().map(|(t, to)| (t, to.port)), Some((2, 1)));
    drop(f);
    assert_eq!(
        tags(&dir.path().join("uplink-offloaded.pcap")),
        vec![1, 3, 4]
    );
    assert!(tags(&dir.path().join("uplink.pcap")).is_empty());
}

#[test]
fn a_rule_from_the_pf_with_a_port_item_takes_vf_traffic() {
    let (f, _rings, mut up) = setup(1, 64);
    let id = f
        .rules
        .create(
            Context {
                port: PortRef::Uplink,
                rx_queues: 1,
            },
            Attr {
                transfer: true,
                ..Attr::default()
            },
            &[
                Item::Port(Some(PortRef::Vf(0))),
                Item::Eth(Parts::default()),
            ],
            &[Action::Port(PortRef::Vf(1)), Action::Count],
        )
        .unwrap();
    let mut wire = Wire::new(Capture::from_frames([udp(1, 1, 9)]), 1, 0);
    assert_eq!(drain(&mut wire, &mut up, &f, 0), vec![Step::Switched]);
    assert_eq!(f.rules.query(PortRef::Uplink, id, false), Ok((1, 60)));
    assert_eq!(f.vfs[1].1.from_switch.packets(), 1);
}

#[test]
fn unpaced_a_vf_waits_for_its_representor_paced_it_misses() {
    let (f, rings, mut up) = setup(1, 2);
    let frames: Vec<Vec<u8>> = (0..5u8).map(|i| udp(i, 1, 9)).collect();
    let mut wire = Wire::new(Capture::from_frames(frames.clone()), 1, 0);
    let steps = drain(&mut wire, &mut up, &f, 0);
    assert_eq!(steps, vec![Step::Delivered, Step::Delivered, Step::Blocked]);
    assert_eq!(
        f.vf_tx[0].sent.packets(),
        2,
        "a blocked frame is not sent yet"
    );
    assert_eq!(f.vf_tx[0].imissed.get(), 0);

    // Paced: fast enough that every frame is due at once.
    let (f, rings2, mut up) = setup(1, 2);
    let mut wire = Wire::new(Capture::from_frames(frames), 1, 1_000_000_000);
    wire.start_pacing(Instant::now() - Duration::from_secs(1));
    up.host.pool = Some(1);
    let steps = drain(&mut wire, &mut up, &f, 0);
    assert_eq!(
        steps,
        vec![
            Step::Delivered,
            Step::Missed,
            Step::Missed,
            Step::Missed,
            Step::Missed
        ]
    );
    let tx = &f.vf_tx[0];
    // The ring has room; the pool had one buffer.
    assert_eq!(
        (tx.sent.packets(), tx.imissed.get(), tx.rx_nombuf.get()),
        (5, 4, 4)
    );
    assert_eq!(tx.to_host.packets() + tx.imissed.get(), 5);
    drop((rings, rings2));
}

#[test]
fn a_stopped_representor_misses_what_its_vf_sends() {
    let (f, _rings, mut up) = setup(1, 2);
    let mut wire = Wire::new(Capture::from_frames([udp(1, 1, 9)]), 1, 0);
    // VF position 1 (VF 1): its representor is not started.
    assert_eq!(drain(&mut wire, &mut up, &f, 1), vec![Step::Missed]);
    assert_eq!(f.vf_tx[1].imissed.get(), 1);
}

#[test]
fn the_switch_thread_runs_the_uplink_and_the_vfs_side_by_side() {
    let pf_ring = Ring::new(4);
    let rep_ring = Ring::new(4);
    let up = Uplink::new(Recorder::default(), vec![pf_ring.producer()])
        .with_reps(vec![Some(vec![rep_ring.producer()]), None]);
    let fabric = Arc::new(Fabric::new(vec![0, 1]));
    let wire = Arc::new(Mutex::new(Wire::new(
        Capture::from_frames((0..50u8).map(|i| udp(i, 1, 9))),
        2,
        0,
    )));
    let vf0 = Arc::new(Mutex::new(Wire::new(
        Capture::from_frames((100..130u8).map(|i| udp(i, 2, 9))),
        1,
        0,
    )));
    let t = UplinkThread::start(
        Arc::clone(&wire),
        vec![(0, Arc::clone(&vf0))],
        up,
        Arc::clone(&fabric),
        ThreadSetup::named("test-sw"),
    )
    .unwrap();
    let (mut pf, mut rep) = (Vec::new(), Vec::new());
    let deadline = Instant::now() + Duration::from_secs(10);
    while (pf.len() < 100 || rep.len() < 30) && Instant::now() < deadline {
        // Poll the representor only now and then: the PF must not wait for
        // it.
        if let Some((tag, _)) = pf_ring.pop() {
            pf.push(tag);
        } else if let Some((tag, _)) = rep_ring.pop() {
            rep.push(tag);
        } else {
            std::thread::yield_now();
        }
    }
    drop(t.stop());
    let want_pf: Vec<u8> = (0..2).flat_map(|_| 0..50).collect();
    assert_eq!(pf, want_pf);
    assert_eq!(rep, (100..130).collect::<Vec<u8>>());
    assert!(wire.lock().unwrap().finished() && vf0.lock().unwrap().finished());
    assert_eq!(fabric.vf_tx[0].to_host.packets(), 30);
}
