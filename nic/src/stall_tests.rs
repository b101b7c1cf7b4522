//! The switch-stall fault end to end on the switch's thread: frames the
//! paced wires (the uplink's and a VF's) bring while the switch is stalled
//! are missed, every frame is still accounted for, and rule changes wait for
//! the stall to end.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::clock::MonotonicClock;
use crate::faults::Faults;
use crate::flow::{Action, Attr, Context, Item, Parts, PortRef, Ports};
use crate::limits::Limits;
use crate::ring::Ring;
use crate::uplink::{FillError, Host, Rx, ThreadSetup, Uplink, UplinkThread};
use crate::wire::{Capture, Wire};
use crate::{Fabric, Rules};

struct Unlimited;

impl Host for Unlimited {
    type Buf = ();
    fn fill(&mut self, _to: Rx, _frame: &[u8]) -> Result<(), FillError> {
        Ok(())
    }
    fn discard(&mut self, _buf: ()) {}
}

#[test]
fn a_stalled_switch_misses_a_paced_wire_and_delays_rule_changes() {
    let faults = Faults {
        stall_ms: 30,
        stall_every_ms: 50,
        ..Faults::default()
    };
    let rules = Rules::new(
        vec![0],
        Limits::unlimited(),
        faults,
        MonotonicClock::shared(),
    );
    let fabric = Arc::new(Fabric::with_rules(vec![0], rules));
    // 3000 frames at 20000 a second: 150 ms, over about three stalls.
    let frames = Capture::from_frames((0..3000u32).map(|i| vec![i as u8; 60]));
    let wire = Arc::new(Mutex::new(Wire::new(frames.clone(), 1, 20_000)));
    // VF 0 sends the same at the same pace; no rule takes its frames, so
    // they go to its representor's RX.
    let vf_wire = Arc::new(Mutex::new(Wire::new(frames, 1, 20_000)));
    let ring = Ring::new(8192);
    let rep_ring = Ring::new(8192);
    let up = Uplink::new(Unlimited, vec![ring.producer()])
        .with_reps(vec![Some(vec![rep_ring.producer()])]);
    let t = UplinkThread::start(
        wire,
        vec![(0, vf_wire)],
        up,
        fabric.clone(),
        ThreadSetup::named("test-stall"),
    )
    .unwrap();
    let ctx = Context {
        port: PortRef::Uplink,
        rx_queues: 1,
    };
    let attr = Attr {
        ingress: true,
        ..Attr::default()
    };
    let mut slowest = Duration::ZERO;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut port = 1u16;
    let done = || fabric.uplink.wire.packets() == 3000 && fabric.vf_tx[0].sent.packets() == 3000;
    while !done() && Instant::now() < deadline {
        let items = [Item::Udp(Parts {
            spec: Some(Ports { src: 0, dst: port }),
            ..Parts::default()
        })];
        let began = Instant::now();
        fabric
            .rules
            .create(ctx, attr, &items, &[Action::Drop])
            .unwrap();
        slowest = slowest.max(began.elapsed());
        port = port.wrapping_add(1);
        while ring.pop().is_some() {}
        while rep_ring.pop().is_some() {}
        std::thread::sleep(Duration::from_millis(1));
    }
    drop(t.stop());
    let c = &fabric.uplink;
    assert_eq!(c.wire.packets(), 3000);
    assert_eq!(c.delivered.packets() + c.imissed.get(), 3000);
    assert!(c.imissed.get() > 0, "nothing missed during the stalls");
    let vf = &fabric.vf_tx[0];
    assert_eq!(vf.sent.packets(), 3000);
    assert_eq!(vf.to_host.packets() + vf.imissed.get(), 3000);
    assert!(
        vf.imissed.get() > 0,
        "nothing the VF sent was missed during the stalls"
    );
    assert!(
        slowest >= Duration::from_millis(5),
        "a rule change made during a stall waits for it (slowest {slowest:?})"
    );
}
