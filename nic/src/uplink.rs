//! The switch's uplink side: frames come off the wire and go to the host's RX
//! rings, as a NIC's receive path DMAs them into descriptors.
//!
//! Unpaced (`rate_pps=0`), the wire waits for the host: a full ring or an
//! empty pool holds the wire back, and nothing is missed. Paced, the wire does
//! not wait, as a real link does not: a frame the host cannot take (full
//! ring, no buffer) is counted missed and dropped.
//!
//! Each frame first meets the switch's rules ([`crate::rules`]): transfer
//! rules may send it to a VF, back to the wire or drop it; the PF's ingress
//! rules may pick its RX queue or drop it; what no rule takes goes to RX queue
//! 0 (RSS comes with a later step). A rule's counter counts a frame when the
//! frame leaves the wire, whatever happens to it after.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::ring::RingTx;
use crate::rules::{RuleSet, Verdict};
use crate::wire::Wire;
use crate::Fabric;

/// Why the host gave no buffer for a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FillError {
    /// The queue's pool is empty.
    NoBuffer,
    /// The frame does not fit the queue's buffers (no scatter is modelled).
    TooBig,
}

/// The host side of the uplink: the PMD fills its buffers (mbufs) with frames.
pub trait Host: Send + 'static {
    /// A filled buffer, handed over the RX ring.
    type Buf: Send + 'static;
    /// A buffer of RX queue `queue`'s pool holding `frame`.
    fn fill(&mut self, queue: usize, frame: &[u8]) -> Result<Self::Buf, FillError>;
    /// Takes back a filled buffer that no ring took.
    fn discard(&mut self, buf: Self::Buf);
}

/// The host and its RX rings, one per RX queue of the PF.
#[derive(Debug)]
pub struct Uplink<H: Host> {
    pub host: H,
    pub queues: Vec<RingTx<H::Buf>>,
}

/// What one [`step`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// A frame went into an RX ring.
    Delivered,
    /// A frame was dropped: no queue, full ring or no buffer (paced only).
    Missed,
    /// A frame was refused: larger than the host's buffers.
    Refused,
    /// A rule sent a frame to a VF or back to the wire.
    Switched,
    /// A rule dropped a frame.
    Dropped,
    /// The host cannot take the next frame yet (unpaced: the wire waits).
    Blocked,
    /// The next frame is due after this long (paced).
    NotDue(Duration),
    /// The wire has carried everything.
    Finished,
}

/// Moves at most one frame from the wire to where `rules` send it.
pub fn step<H: Host>(
    wire: &mut Wire,
    up: &mut Uplink<H>,
    fabric: &Fabric,
    rules: &mut RuleSet,
) -> Step {
    let paced = wire.paced();
    if paced {
        let wait = wire.due_in(Instant::now());
        if !wait.is_zero() {
            return Step::NotDue(wait);
        }
    }
    let Some(frame) = wire.peek() else {
        return Step::Finished;
    };
    let len = frame.len() as u64;
    let counters = &fabric.uplink;
    let decision = rules.decide(frame, 0);
    let outcome = match decision.verdict {
        Verdict::Host(queue) => match up.queues.get(usize::from(queue)) {
            None => Step::Missed,
            Some(ring) if !ring.has_room() => {
                if paced {
                    Step::Missed
                } else {
                    return Step::Blocked;
                }
            }
            Some(ring) => match up.host.fill(usize::from(queue), frame) {
                Ok(buf) => match ring.push(buf) {
                    Ok(()) => Step::Delivered,
                    Err(buf) => {
                        // Not with one producer (room was seen above); kept so
                        // a buffer can never leak.
                        up.host.discard(buf);
                        return Step::Blocked;
                    }
                },
                Err(FillError::NoBuffer) if paced => {
                    counters.rx_nombuf.add(1);
                    Step::Missed
                }
                Err(FillError::NoBuffer) => return Step::Blocked,
                Err(FillError::TooBig) => Step::Refused,
            },
        },
        Verdict::Wire => {
            counters.to_wire.add(1, len);
            Step::Switched
        }
        Verdict::Vf(i) => {
            if let Some((_, sink)) = fabric.vfs.get(i) {
                sink.from_switch.add(1, len);
            }
            Step::Switched
        }
        Verdict::Drop => {
            counters.dropped.add(1, len);
            Step::Dropped
        }
    };
    counters.wire.add(1, len);
    rules.commit(&decision, len);
    match outcome {
        Step::Delivered => counters.delivered.add(1, len),
        Step::Missed => counters.imissed.add(1),
        Step::Refused => counters.ierrors.add(1),
        _ => {}
    }
    wire.advance();
    outcome
}

/// Runs the uplink until `stop` is set, holding the switch's state for one
/// frame at a time (so rule changes come between frames).
pub fn run<H: Host>(wire: &mut Wire, up: &mut Uplink<H>, fabric: &Fabric, stop: &AtomicBool) {
    // Sleeps are capped so that a rule change is taken up within about a
    // millisecond even while the wire is idle.
    const NAP: Duration = Duration::from_millis(1);
    wire.start_pacing(Instant::now());
    let mut blocked = 0u32;
    while !stop.load(Ordering::Acquire) {
        let moved = {
            let mut rules = fabric.rules.lock_switch();
            if let Some(stall) = rules.stall_due() {
                // The switch stalls (an injected fault) holding its state,
                // so rule changes wait too; a paced wire does not.
                std::thread::sleep(stall);
                drop(rules);
                miss_backlog(wire, fabric);
                continue;
            }
            step(wire, up, fabric, &mut rules)
        };
        match moved {
            Step::Delivered | Step::Missed | Step::Refused | Step::Switched | Step::Dropped => {
                blocked = 0
            }
            Step::Blocked => {
                // The host is behind: spin a little, then give the CPU away
                // (two CPUs here are shared with the application's lcores).
                blocked = blocked.saturating_add(1);
                if blocked < 64 {
                    std::hint::spin_loop();
                } else if blocked < 128 {
                    std::thread::yield_now();
                } else {
                    std::thread::sleep(Duration::from_micros(20));
                }
            }
            Step::NotDue(wait) if wait > Duration::from_micros(200) => {
                std::thread::sleep((wait - Duration::from_micros(100)).min(NAP));
            }
            Step::NotDue(_) => std::hint::spin_loop(),
            Step::Finished => std::thread::sleep(NAP),
        }
    }
}

/// Counts as missed the frames a paced wire brought while the switch was
/// stalled: a NIC whose pipeline stops drops what arrives meanwhile.
fn miss_backlog(wire: &mut Wire, fabric: &Fabric) {
    if !wire.paced() {
        return;
    }
    let now = Instant::now();
    while wire.due_in(now).is_zero() {
        let Some(frame) = wire.peek() else { break };
        fabric.uplink.wire.add(1, frame.len() as u64);
        fabric.uplink.imissed.add(1);
        wire.advance();
    }
}

/// The uplink running on a thread of its own, apart from the application's
/// lcores (it stands for the NIC's hardware).
#[derive(Debug)]
pub struct UplinkThread<H: Host> {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Uplink<H>>>,
}

impl<H: Host> UplinkThread<H> {
    /// Starts replaying `wire` into `up`'s rings.
    pub fn start(
        wire: Arc<Mutex<Wire>>,
        mut up: Uplink<H>,
        fabric: Arc<Fabric>,
        name: String,
    ) -> std::io::Result<UplinkThread<H>> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::Builder::new().name(name).spawn(move || {
            // Only this thread replays the wire while it runs; a poisoned lock
            // only means an earlier run panicked, and the wire is still whole.
            let mut wire = wire.lock().unwrap_or_else(|p| p.into_inner());
            fabric.rules.arm_stall();
            run(&mut wire, &mut up, &fabric, &flag);
            up
        })?;
        Ok(UplinkThread {
            stop,
            handle: Some(handle),
        })
    }

    /// Stops the thread and waits for it: once this returns, the switch
    /// touches neither the rings nor the host's pools. Gives the host back.
    pub fn stop(mut self) -> Option<Uplink<H>> {
        self.halt()
    }

    fn halt(&mut self) -> Option<Uplink<H>> {
        self.stop.store(true, Ordering::Release);
        self.handle.take().and_then(|h| h.join().ok())
    }
}

impl<H: Host> Drop for UplinkThread<H> {
    fn drop(&mut self) {
        self.halt();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::Ring;
    use crate::rules::RuleSet;
    use crate::wire::Capture;

    /// Buffers are the frames' first byte; a pool of `pool` buffers at most
    /// `max_len` bytes long.
    struct TestHost {
        pool: usize,
        max_len: usize,
    }

    impl Host for TestHost {
        type Buf = u8;
        fn fill(&mut self, _queue: usize, frame: &[u8]) -> Result<u8, FillError> {
            if frame.len() > self.max_len {
                return Err(FillError::TooBig);
            }
            if self.pool == 0 {
                return Err(FillError::NoBuffer);
            }
            self.pool -= 1;
            Ok(frame[0])
        }
        fn discard(&mut self, _buf: u8) {
            self.pool += 1;
        }
    }

    fn fabric() -> Fabric {
        Fabric::new(Vec::new())
    }

    fn capture(n: u8) -> Capture {
        Capture::from_frames((0..n).map(|i| vec![i; 60]))
    }

    fn uplink(ring: &Ring<u8>, pool: usize) -> Uplink<TestHost> {
        Uplink {
            host: TestHost {
                pool,
                max_len: 1514,
            },
            queues: vec![ring.producer()],
        }
    }

    #[test]
    fn unpaced_waits_for_the_host_and_misses_nothing() {
        let ring = Ring::new(2);
        let mut up = uplink(&ring, 100);
        let mut wire = Wire::new(capture(3), 1, 0);
        let f = fabric();
        let c = &f.uplink;
        let mut none = RuleSet::empty();
        assert_eq!(step(&mut wire, &mut up, &f, &mut none), Step::Delivered);
        assert_eq!(step(&mut wire, &mut up, &f, &mut none), Step::Delivered);
        assert_eq!(
            step(&mut wire, &mut up, &f, &mut none),
            Step::Blocked,
            "ring full"
        );
        assert_eq!(ring.pop(), Some(0));
        assert_eq!(step(&mut wire, &mut up, &f, &mut none), Step::Delivered);
        assert_eq!(step(&mut wire, &mut up, &f, &mut none), Step::Finished);
        assert_eq!((ring.pop(), ring.pop()), (Some(1), Some(2)));
        assert_eq!(c.wire.packets(), 3);
        assert_eq!(c.delivered.packets(), 3);
        assert_eq!(c.imissed.get(), 0);
    }

    #[test]
    fn unpaced_waits_for_buffers_too() {
        let ring = Ring::new(8);
        let mut up = uplink(&ring, 1);
        let mut wire = Wire::new(capture(2), 1, 0);
        let f = fabric();
        let c = &f.uplink;
        let mut none = RuleSet::empty();
        assert_eq!(step(&mut wire, &mut up, &f, &mut none), Step::Delivered);
        assert_eq!(
            step(&mut wire, &mut up, &f, &mut none),
            Step::Blocked,
            "pool empty"
        );
        up.host.pool = 1;
        assert_eq!(step(&mut wire, &mut up, &f, &mut none), Step::Delivered);
        assert_eq!((c.rx_nombuf.get(), c.imissed.get()), (0, 0));
    }

    #[test]
    fn paced_misses_what_the_host_cannot_take() {
        let ring = Ring::new(1);
        let mut up = uplink(&ring, 1);
        // Fast enough that every frame is due at once in this test.
        let mut wire = Wire::new(capture(4), 1, 1_000_000_000);
        wire.start_pacing(Instant::now() - Duration::from_secs(1));
        let f = fabric();
        let c = &f.uplink;
        let mut none = RuleSet::empty();
        assert_eq!(step(&mut wire, &mut up, &f, &mut none), Step::Delivered);
        assert_eq!(
            step(&mut wire, &mut up, &f, &mut none),
            Step::Missed,
            "ring full"
        );
        assert_eq!(ring.pop(), Some(0));
        assert_eq!(
            step(&mut wire, &mut up, &f, &mut none),
            Step::Missed,
            "no buffer"
        );
        up.host.pool = 1;
        assert_eq!(step(&mut wire, &mut up, &f, &mut none), Step::Delivered);
        assert_eq!(step(&mut wire, &mut up, &f, &mut none), Step::Finished);
        assert_eq!(c.wire.packets(), 4);
        assert_eq!(c.delivered.packets() + c.imissed.get(), 4);
        assert_eq!((c.imissed.get(), c.rx_nombuf.get()), (2, 1));
    }

    #[test]
    fn paced_frames_wait_for_their_time() {
        let ring = Ring::new(8);
        let mut up = uplink(&ring, 8);
        let mut wire = Wire::new(capture(2), 1, 1);
        wire.start_pacing(Instant::now());
        let f = fabric();
        let mut none = RuleSet::empty();
        assert_eq!(step(&mut wire, &mut up, &f, &mut none), Step::Delivered);
        assert!(
            matches!(step(&mut wire, &mut up, &f, &mut none), Step::NotDue(d) if d > Duration::from_millis(900))
        );
    }

    #[test]
    fn oversized_frames_are_refused_and_no_queue_misses() {
        let ring = Ring::new(8);
        let mut up = uplink(&ring, 8);
        up.host.max_len = 59;
        let mut wire = Wire::new(capture(1), 1, 0);
        let f = fabric();
        let c = &f.uplink;
        let mut none = RuleSet::empty();
        assert_eq!(step(&mut wire, &mut up, &f, &mut none), Step::Refused);
        assert_eq!(c.ierrors.get(), 1);

        let mut nothing: Uplink<TestHost> = Uplink {
            host: TestHost {
                pool: 8,
                max_len: 1514,
            },
            queues: Vec::new(),
        };
        let mut wire = Wire::new(capture(1), 1, 0);
        assert_eq!(step(&mut wire, &mut nothing, &f, &mut none), Step::Missed);
        assert_eq!(c.imissed.get(), 1);
        assert_eq!(c.wire.packets(), 2);
    }

    #[test]
    fn the_thread_replays_everything_and_stops_on_request() {
        let ring = Ring::new(4);
        let up = uplink(&ring, usize::MAX);
        let wire = Arc::new(Mutex::new(Wire::new(capture(10), 3, 0)));
        let fabric = Arc::new(fabric());
        let t = UplinkThread::start(wire.clone(), up, fabric.clone(), "test-sw".into()).unwrap();
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while got.len() < 30 && Instant::now() < deadline {
            match ring.pop() {
                Some(b) => got.push(b),
                None => std::thread::yield_now(),
            }
        }
        let back = t.stop().expect("the thread hands the host back");
        assert_eq!(back.queues.len(), 1);
        let want: Vec<u8> = (0..3).flat_map(|_| 0..10).collect();
        assert_eq!(got, want);
        assert_eq!(fabric.uplink.wire.packets(), 30);
        assert!(wire.lock().unwrap().finished());
    }

    /// A 60-byte UDP/IPv4 frame to port `dport`, its first byte `tag`.
    fn udp(tag: u8, dport: u16) -> Vec<u8> {
        let mut f = vec![tag, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
        f.extend_from_slice(&[
            0x45, 0, 0, 46, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 1, 0, 1,
        ]);
        f.extend_from_slice(&1000u16.to_be_bytes());
        f.extend_from_slice(&dport.to_be_bytes());
        f.extend_from_slice(&[0, 26, 0, 0]);
        f.resize(60, 0x78);
        f
    }

    fn rule_to(f: &Fabric, dport: u16, fate: crate::flow::Action) -> u64 {
        use crate::flow::{Action, Attr, Context, Item, Parts, PortRef, Ports};
        f.rules
            .create(
                Context {
                    port: PortRef::Uplink,
                    rx_queues: 1,
                },
                Attr {
                    transfer: true,
                    ..Attr::default()
                },
                &[Item::Udp(Parts {
                    spec: Some(Ports { src: 0, dst: dport }),
                    mask: Some(Ports {
                        src: 0,
                        dst: 0xffff,
                    }),
                    ..Parts::default()
                })],
                &[fate, Action::Count],
            )
            .unwrap()
    }

    #[test]
    fn rules_send_frames_to_vfs_or_drop_them_and_count_each_once() {
        use crate::flow::{Action, PortRef};
        let ring = Ring::new(1);
        let mut up = uplink(&ring, 100);
        let f = Fabric::new(vec![0, 1]);
        let to_vf1 = rule_to(&f, 5001, Action::Port(PortRef::Vf(1)));
        let dropped = rule_to(&f, 5002, Action::Drop);
        let capture = Capture::from_frames([
            udp(1, 5001),
            udp(2, 9),
            udp(3, 9),
            udp(4, 5002),
            udp(5, 5001),
        ]);
        let mut wire = Wire::new(capture, 1, 0);
        let next = |wire: &mut Wire, up: &mut Uplink<TestHost>| {
            step(wire, up, &f, &mut f.rules.lock_switch())
        };
        assert_eq!(next(&mut wire, &mut up), Step::Switched);
        assert_eq!(next(&mut wire, &mut up), Step::Delivered);
        assert_eq!(
            next(&mut wire, &mut up),
            Step::Blocked,
            "the host's ring is full"
        );
        assert_eq!(next(&mut wire, &mut up), Step::Blocked);
        assert_eq!(ring.pop(), Some(2));
        assert_eq!(next(&mut wire, &mut up), Step::Delivered);
        assert_eq!(next(&mut wire, &mut up), Step::Dropped);
        assert_eq!(next(&mut wire, &mut up), Step::Switched);
        assert_eq!(next(&mut wire, &mut up), Step::Finished);
        let sink = &f.vfs[1].1;
        assert_eq!(
            (sink.from_switch.packets(), sink.from_switch.bytes()),
            (2, 120)
        );
        assert_eq!(f.vfs[0].1.from_switch.packets(), 0);
        assert_eq!(f.rules.query(PortRef::Uplink, to_vf1, false), Ok((2, 120)));
        assert_eq!(f.rules.query(PortRef::Uplink, dropped, false), Ok((1, 60)));
        assert_eq!(f.uplink.dropped.packets(), 1);
        assert_eq!(
            f.uplink.delivered.packets(),
            2,
            "blocked retries are not counted twice"
        );
        assert_eq!(f.uplink.wire.packets(), 5);
    }

    #[test]
    fn a_rule_created_while_the_switch_runs_takes_the_rest_of_the_wire() {
        use crate::flow::{Action, PortRef};
        let ring = Ring::new(64);
        let up = uplink(&ring, usize::MAX);
        let fabric = Arc::new(Fabric::new(vec![0]));
        // Forever, paced so the switch is mid-replay when the rule comes.
        let wire = Arc::new(Mutex::new(Wire::new(
            Capture::from_frames([udp(1, 7)]),
            0,
            20_000,
        )));
        let t = UplinkThread::start(wire, up, fabric.clone(), "test-sw".into()).unwrap();
        let drain = |n: usize| {
            let mut got = 0;
            let deadline = Instant::now() + Duration::from_secs(10);
            while got < n && Instant::now() < deadline {
                match ring.pop() {
                    Some(_) => got += 1,
                    None => std::thread::yield_now(),
                }
            }
            got
        };
        assert_eq!(drain(100), 100);
        let id = rule_to(&fabric, 7, Action::Port(PortRef::Vf(0)));
        // Acknowledged: from here on every frame is the rule's.
        while ring.pop().is_some() {}
        let before = fabric.vfs[0].1.from_switch.packets();
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(
            ring.pop(),
            None,
            "no frame reaches the host once the rule is in"
        );
        assert!(fabric.vfs[0].1.from_switch.packets() > before);
        fabric.rules.destroy(PortRef::Uplink, id).unwrap();
        let hits = fabric.vfs[0].1.from_switch.packets();
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(
            fabric.vfs[0].1.from_switch.packets(),
            hits,
            "none after destroy returned"
        );
        drop(t.stop());
    }
}
