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
//! rules may pick its RX queue or drop it; what no rule takes is spread over
//! the PF's RX queues by RSS ([`crate::rss`]). The switch decides a frame,
//! then counts and meters it ([`RuleSet::commit`]) only once the frame
//! leaves the wire, whatever happens to it after: a frame the host holds
//! back (unpaced, full ring or empty pool) stays on the wire and is decided
//! again, never counted twice.
//!
//! The same thread replays the VFs' wires ([`crate::vf_source`]); the run
//! loop ([`run`]) takes a burst from each wire in turn, so a wire the host
//! holds back never holds the others back. It holds the switch's state
//! ([`crate::Rules::lock_switch`]) for one frame at a time, so rule changes
//! come between frames, and stalls when the `fault_stall_ms` fault says.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::counters::{Counter, Tally};
use crate::flow::PortRef;
use crate::publish::Reader;
use crate::ring::RingTx;
use crate::rss::RssConf;
use crate::rules::{RuleSet, Verdict};
use crate::vf_source::step_vf;
use crate::wire::Wire;
use crate::{Fabric, Via};

/// Why the host gave no buffer for a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FillError {
    /// The queue's pool is empty.
    NoBuffer,
    /// The frame does not fit the queue's buffers (no scatter is modelled).
    TooBig,
}

/// Where the switch hands a frame to the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rx {
    /// The port: 0 the PF, `i + 1` the representor of the `i`-th VF (in
    /// representor order).
    pub port: usize,
    /// Its RX queue.
    pub queue: u16,
    /// The RSS hash, if the frame was hashed (`mbuf->hash.rss`).
    pub hash: Option<u32>,
}

/// The host side of the switch: the PMD fills its buffers (mbufs) with frames.
pub trait Host: Send + 'static {
    /// A filled buffer, handed over the RX ring.
    type Buf: Send + 'static;
    /// A buffer of `to`'s queue's pool holding `frame` (and `to.hash`).
    fn fill(&mut self, to: Rx, frame: &[u8]) -> Result<Self::Buf, FillError>;
    /// Takes back a filled buffer that no ring took.
    fn discard(&mut self, buf: Self::Buf);
}

/// The host and its RX rings: the PF's, one per RX queue, and each
/// representor's (in representor order; `None` while it is stopped).
#[derive(Debug)]
pub struct Uplink<H: Host> {
    pub host: H,
    pub queues: Vec<RingTx<H::Buf>>,
    pub reps: Vec<Option<Vec<RingTx<H::Buf>>>>,
}

impl<H: Host> Uplink<H> {
    /// A host with these PF RX rings and no representor started.
    pub fn new(host: H, queues: Vec<RingTx<H::Buf>>) -> Uplink<H> {
        Uplink {
            host,
            queues,
            reps: Vec::new(),
        }
    }

    /// The same, with these representors' RX rings.
    pub fn with_reps(mut self, reps: Vec<Option<Vec<RingTx<H::Buf>>>>) -> Uplink<H> {
        self.reps = reps;
        self
    }
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

/// Hands `frame` to the host at `to`: `Delivered`, `Missed` (no such queue;
/// paced: full ring or no buffer, the latter also counted on `nombuf`) or
/// `Refused` (too big); `None` when the host cannot take it yet (unpaced).
pub(crate) fn deliver<H: Host>(
    up: &mut Uplink<H>,
    to: Rx,
    frame: &[u8],
    paced: bool,
    nombuf: &Tally,
) -> Option<Step> {
    let Uplink { host, queues, reps } = up;
    let rings = match to.port {
        0 => Some(&*queues),
        p => reps.get(p - 1).and_then(Option::as_ref),
    };
    match rings.and_then(|r| r.get(usize::from(to.queue))) {
        None => Some(Step::Missed),
        Some(ring) if !ring.has_room() => paced.then_some(Step::Missed),
        Some(ring) => match host.fill(to, frame) {
            Ok(buf) => match ring.push(buf) {
                Ok(()) => Some(Step::Delivered),
                Err(buf) => {
                    // Not with one producer (room was seen above); kept so a
                    // buffer can never leak.
                    host.discard(buf);
                    None
                }
            },
            Err(FillError::NoBuffer) if paced => {
                nombuf.add(1);
                Some(Step::Missed)
            }
            Err(FillError::NoBuffer) => None,
            Err(FillError::TooBig) => Some(Step::Refused),
        },
    }
}

/// Delivers `frame` to the VF at position `i` of the representor list (a
/// rule's fate): counted on its sink, captured if asked.
pub(crate) fn to_vf(fabric: &Fabric, i: usize, frame: &[u8]) {
    if let Some((vf, sink)) = fabric.vfs.get(i) {
        sink.from_switch.add(1, frame.len() as u64);
        if let Some(c) = &fabric.captures {
            c.record(PortRef::Vf(*vf), Via::Switch, &[frame]);
        }
    }
}

/// Moves at most one frame from the wire to where `rules` send it; what they
/// leave goes to the PF RX queue `rss` (the ports' RSS, the PF's first)
/// picks.
pub fn step<H: Host>(
    wire: &mut Wire,
    up: &mut Uplink<H>,
    fabric: &Fabric,
    rules: &mut RuleSet,
    rss: &[RssConf],
) -> Step {
    let c = &fabric.uplink;
    let source = Source {
        port: 0,
        taken: &c.wire,
        delivered: &c.delivered,
        to_wire: &c.to_wire,
        to_vf: None,
        dropped: &c.dropped,
        imissed: &c.imissed,
        ierrors: &c.ierrors,
        rx_nombuf: &c.rx_nombuf,
    };
    step_from(wire, up, fabric, rules, rss, &source)
}

/// Where a wire's frames enter the switch, and the counters of what became
/// of them: the uplink's wire or a VF's ([`crate::vf_source`]).
pub(crate) struct Source<'a> {
    /// The switch port the rules see the frames on (0 the uplink, `i + 1`
    /// the `i`-th VF of the representor list), and the host port a frame
    /// no rule takes goes to (0 the PF, `i + 1` that VF's representor).
    pub port: usize,
    /// Every frame taken off the wire.
    pub taken: &'a Counter,
    /// Handed to the host's RX rings.
    pub delivered: &'a Counter,
    /// Put on the wire by a rule (the uplink's `wire_tx` counts it too).
    pub to_wire: &'a Counter,
    /// Delivered to a VF by a rule, where the source counts that (the VF's
    /// sink always does).
    pub to_vf: Option<&'a Counter>,
    /// Dropped by a rule.
    pub dropped: &'a Counter,
    pub imissed: &'a Tally,
    pub ierrors: &'a Tally,
    pub rx_nombuf: &'a Tally,
}

/// Moves at most one frame from `source`'s wire to where `rules` send it;
/// what they leave goes to `source.port`'s RX queue its RSS (`rss[port]`)
/// picks.
pub(crate) fn step_from<H: Host>(
    wire: &mut Wire,
    up: &mut Uplink<H>,
    fabric: &Fabric,
    rules: &mut RuleSet,
    rss: &[RssConf],
    source: &Source<'_>,
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
    let in_port = u8::try_from(source.port).unwrap_or(u8::MAX);
    let decision = rules.decide(frame, in_port);
    let outcome = match decision.verdict {
        Verdict::Host(_) | Verdict::Miss => {
            let to = match decision.verdict {
                // A queue is the PF's ingress rules' fate, which only the
                // uplink's frames meet (no transfer rule queues: QUEUE is
                // refused there); anything else a miss.
                Verdict::Host(queue) if source.port == 0 => Rx {
                    port: 0,
                    queue,
                    hash: None,
                },
                _ => {
                    let (queue, hash) = rss.get(source.port).map_or((0, None), |r| r.steer(frame));
                    Rx {
                        port: source.port,
                        queue,
                        hash,
                    }
                }
            };
            match deliver(up, to, frame, paced, source.rx_nombuf) {
                Some(step) => step,
                None => return Step::Blocked,
            }
        }
        Verdict::Wire => {
            source.to_wire.add(1, len);
            fabric.uplink.wire_tx.add(1, len);
            if let Some(c) = &fabric.captures {
                c.record(PortRef::Uplink, Via::Switch, &[frame]);
            }
            Step::Switched
        }
        Verdict::Vf(i) => {
            to_vf(fabric, i, frame);
            if let Some(c) = source.to_vf {
                c.add(1, len);
            }
            Step::Switched
        }
        Verdict::Drop => {
            source.dropped.add(1, len);
            Step::Dropped
        }
    };
    rules.commit(&decision, len);
    if matches!(outcome, Step::Switched | Step::Dropped) {
        wire.carried();
    }
    match outcome {
        Step::Delivered => source.delivered.add(1, len),
        Step::Missed => source.imissed.add(1),
        Step::Refused => source.ierrors.add(1),
        _ => {}
    }
    if matches!(outcome, Step::Missed | Step::Refused) {
        wire.lost();
    }
    // Last: whoever sees the frame off the wire sees where it went.
    source.taken.add_last(1, len);
    wire.advance();
    outcome
}

/// Frames one wire moves in a row before the next wire's turn.
const BURST: usize = 32;

/// What one round over the wires did.
#[derive(Debug, Default)]
struct Round {
    moved: usize,
    blocked: bool,
    /// The soonest a paced wire's next frame is due.
    wait: Option<Duration>,
}

impl Round {
    /// Runs `next` up to [`BURST`] times, until the wire blocks, is not due
    /// or is finished.
    fn burst(&mut self, mut next: impl FnMut() -> Step) {
        for _ in 0..BURST {
            match next() {
                Step::Delivered | Step::Missed | Step::Refused | Step::Switched | Step::Dropped => {
                    self.moved += 1
                }
                Step::Blocked => {
                    self.blocked = true;
                    return;
                }
                Step::NotDue(d) => {
                    self.wait = Some(self.wait.map_or(d, |w| w.min(d)));
                    return;
                }
                Step::Finished => return,
            }
        }
    }
}

/// Runs the switch until `stop` is set: the uplink's wire and the VFs'
/// (`vfs`: each VF's position in the representor list and its wire), a
/// burst from each in turn, holding the switch's state for one frame at a
/// time (so rule changes come between frames) and taking up RSS changes
/// before each round.
pub fn run<H: Host>(
    wire: &mut Wire,
    vfs: &mut [(usize, &mut Wire)],
    up: &mut Uplink<H>,
    fabric: &Fabric,
    rss: &mut Reader<'_, Vec<RssConf>>,
    stop: &AtomicBool,
) {
    let now = Instant::now();
    wire.start_pacing(now);
    for (_, w) in vfs.iter_mut() {
        w.start_pacing(now);
    }
    let mut idle = 0u32;
    let cpu = &fabric.cpu;
    while !stop.load(Ordering::Acquire) {
        let began = Instant::now();
        if stalled(wire, vfs, fabric) {
            cpu.idle_ns.add(nanos(began.elapsed()));
            continue;
        }
        let rss = rss.refresh();
        let mut round = Round::default();
        round.burst(|| step(wire, up, fabric, &mut fabric.rules.lock_switch(), rss));
        for (i, w) in vfs.iter_mut() {
            round.burst(|| step_vf(w, up, fabric, &mut fabric.rules.lock_switch(), rss, *i));
        }
        if round.moved > 0 {
            idle = 0;
            cpu.busy_ns.add(nanos(began.elapsed()));
            continue;
        }
        idle = idle.saturating_add(1);
        back_off(&round, idle);
        cpu.idle_ns.add(nanos(began.elapsed()));
    }
}

/// Stalls the switch if the `fault_stall_ms` fault says it is due: it
/// holds its state meanwhile, so rule changes wait too; paced wires do not,
/// and what they brought meanwhile is missed, as a NIC whose pipeline stops
/// drops what arrives. Returns whether it stalled.
fn stalled(wire: &mut Wire, vfs: &mut [(usize, &mut Wire)], fabric: &Fabric) -> bool {
    let mut rules = fabric.rules.lock_switch();
    let Some(stall) = rules.stall_due() else {
        return false;
    };
    std::thread::sleep(stall);
    drop(rules);
    let up = &fabric.uplink;
    miss_backlog(wire, |len| {
        up.imissed.add(1);
        up.wire.add_last(1, len);
    });
    for (i, w) in vfs.iter_mut() {
        if let Some(tx) = fabric.vf_tx.get(*i) {
            // Sent by the VF, lost in the switch: its representor's imissed.
            miss_backlog(w, |len| {
                tx.imissed.add(1);
                tx.sent.add_last(1, len);
            });
        }
    }
    true
}

/// Takes off a paced wire every frame due by now, calling `missed` with
/// each one's length (an unpaced wire waits for the switch: nothing to do).
fn miss_backlog(wire: &mut Wire, mut missed: impl FnMut(u64)) {
    if !wire.paced() {
        return;
    }
    let now = Instant::now();
    while wire.due_in(now).is_zero() {
        let Some(frame) = wire.peek() else { break };
        missed(frame.len() as u64);
        wire.lost();
        wire.advance();
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Waits after a round that moved nothing (the `idle`-th in a row).
fn back_off(round: &Round, idle: u32) {
    // Sleeps are capped so that an RSS change is taken up, and a stall
    // fault comes, within about a millisecond even while the wires are idle.
    const NAP: Duration = Duration::from_millis(1);
    match round.wait {
        // A wire is held back by its host: spin a little, then give the CPU
        // away (two CPUs here are shared with the application's lcores).
        _ if round.blocked && idle < 64 => std::hint::spin_loop(),
        _ if round.blocked && idle < 128 => std::thread::yield_now(),
        _ if round.blocked => std::thread::sleep(Duration::from_micros(20)),
        Some(wait) if wait > Duration::from_micros(200) => {
            std::thread::sleep((wait - Duration::from_micros(100)).min(NAP));
        }
        Some(_) => std::hint::spin_loop(),
        None => std::thread::sleep(NAP),
    }
}

/// Where the switch's time goes (written by the switch thread): rounds
/// that moved frames are busy, the others (backing off, waiting for a paced
/// frame, or nothing left to replay) idle. The CPU the NIC model burns,
/// reported apart from the application's.
#[derive(Debug, Default)]
pub struct SwitchCpu {
    pub busy_ns: Tally,
    pub idle_ns: Tally,
}

/// How the switch thread starts.
pub struct ThreadSetup {
    /// The thread's name.
    pub name: String,
    /// Run first on the new thread (e.g. to pin it to a CPU); an error fails
    /// the start.
    pub on_start: Option<Box<dyn FnOnce() -> Result<(), String> + Send>>,
}

impl ThreadSetup {
    /// A thread named `name`, with nothing to run first.
    pub fn named(name: impl Into<String>) -> ThreadSetup {
        ThreadSetup {
            name: name.into(),
            on_start: None,
        }
    }
}

impl std::fmt::Debug for ThreadSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadSetup")
            .field("name", &self.name)
            .field("on_start", &self.on_start.is_some())
            .finish()
    }
}

/// The switch running on a thread of its own, apart from the application's
/// lcores (it stands for the NIC's hardware).
#[derive(Debug)]
pub struct UplinkThread<H: Host> {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Uplink<H>>>,
}

impl<H: Host> UplinkThread<H> {
    /// Starts replaying `wire` and the VFs' wires (`vf_wires`: each VF's
    /// position in the representor list and its wire) into `up`'s rings.
    /// Returns once the thread has run `setup.on_start` (and fails if that
    /// did).
    pub fn start(
        wire: Arc<Mutex<Wire>>,
        vf_wires: Vec<(usize, Arc<Mutex<Wire>>)>,
        mut up: Uplink<H>,
        fabric: Arc<Fabric>,
        setup: ThreadSetup,
    ) -> std::io::Result<UplinkThread<H>> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let (ready_tx, ready) = std::sync::mpsc::sync_channel(1);
        let on_start = setup.on_start;
        let builder = std::thread::Builder::new().name(setup.name);
        let handle = builder.spawn(move || {
            let set_up = on_start.map_or(Ok(()), |f| f());
            let failed = set_up.is_err();
            let _ = ready_tx.send(set_up);
            if failed {
                return up;
            }
            // Only this thread replays the wires while it runs.
            let mut wire = relock(&wire);
            let mut guards: Vec<(usize, MutexGuard<'_, Wire>)> =
                vf_wires.iter().map(|(i, w)| (*i, relock(w))).collect();
            let mut vfs: Vec<(usize, &mut Wire)> =
                guards.iter_mut().map(|(i, g)| (*i, &mut **g)).collect();
            let mut rss = fabric.rss.reader();
            fabric.rules.arm_stall();
            run(&mut wire, &mut vfs, &mut up, &fabric, &mut rss, &flag);
            up
        })?;
        let started = ready
            .recv()
            .unwrap_or_else(|_| Err("the switch thread died".into()));
        let thread = UplinkThread {
            stop,
            handle: Some(handle),
        };
        match started {
            Ok(()) => Ok(thread),
            Err(why) => {
                drop(thread);
                Err(std::io::Error::other(why))
            }
        }
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

/// Locks a wire; a poisoned lock only means an earlier run panicked, and the
/// wire is still whole.
fn relock(w: &Mutex<Wire>) -> MutexGuard<'_, Wire> {
    w.lock().unwrap_or_else(|p| p.into_inner())
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
    #[derive(Debug)]
    struct TestHost {
        pool: usize,
        max_len: usize,
    }

    impl Host for TestHost {
        type Buf = u8;
        fn fill(&mut self, _to: Rx, frame: &[u8]) -> Result<u8, FillError> {
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
        Uplink::new(
            TestHost {
                pool,
                max_len: 1514,
            },
            vec![ring.producer()],
        )
    }

    #[test]
    fn unpaced_waits_for_the_host_and_misses_nothing() {
        let ring = Ring::new(2);
        let mut up = uplink(&ring, 100);
        let mut wire = Wire::new(capture(3), 1, 0);
        let f = fabric();
        let c = &f.uplink;
        let mut none = RuleSet::empty();
        assert_eq!(
            step(&mut wire, &mut up, &f, &mut none, &[]),
            Step::Delivered
        );
        assert_eq!(
            step(&mut wire, &mut up, &f, &mut none, &[]),
            Step::Delivered
        );
        assert_eq!(
            step(&mut wire, &mut up, &f, &mut none, &[]),
            Step::Blocked,
            "ring full"
        );
        assert_eq!(ring.pop(), Some(0));
        assert_eq!(
            step(&mut wire, &mut up, &f, &mut none, &[]),
            Step::Delivered
        );
        assert_eq!(step(&mut wire, &mut up, &f, &mut none, &[]), Step::Finished);
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
        assert_eq!(
            step(&mut wire, &mut up, &f, &mut none, &[]),
            Step::Delivered
        );
        assert_eq!(
            step(&mut wire, &mut up, &f, &mut none, &[]),
            Step::Blocked,
            "pool empty"
        );
        up.host.pool = 1;
        assert_eq!(
            step(&mut wire, &mut up, &f, &mut none, &[]),
            Step::Delivered
        );
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
        assert_eq!(
            step(&mut wire, &mut up, &f, &mut none, &[]),
            Step::Delivered
        );
        assert_eq!(
            step(&mut wire, &mut up, &f, &mut none, &[]),
            Step::Missed,
            "ring full"
        );
        assert_eq!(ring.pop(), Some(0));
        assert_eq!(
            step(&mut wire, &mut up, &f, &mut none, &[]),
            Step::Missed,
            "no buffer"
        );
        up.host.pool = 1;
        assert_eq!(
            step(&mut wire, &mut up, &f, &mut none, &[]),
            Step::Delivered
        );
        assert_eq!(step(&mut wire, &mut up, &f, &mut none, &[]), Step::Finished);
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
        assert_eq!(
            step(&mut wire, &mut up, &f, &mut none, &[]),
            Step::Delivered
        );
        assert!(
            matches!(step(&mut wire, &mut up, &f, &mut none, &[]), Step::NotDue(d) if d > Duration::from_millis(900))
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
        assert_eq!(step(&mut wire, &mut up, &f, &mut none, &[]), Step::Refused);
        assert_eq!(c.ierrors.get(), 1);

        let mut nothing: Uplink<TestHost> = Uplink::new(
            TestHost {
                pool: 8,
                max_len: 1514,
            },
            Vec::new(),
        );
        let mut wire = Wire::new(capture(1), 1, 0);
        assert_eq!(
            step(&mut wire, &mut nothing, &f, &mut none, &[]),
            Step::Missed
        );
        assert_eq!(c.imissed.get(), 1);
        assert_eq!(c.wire.packets(), 2);
    }

    #[test]
    fn a_failed_setup_fails_the_start_and_the_switch_reports_its_time() {
        let ring = Ring::new(4);
        let fabric = Arc::new(fabric());
        let wire = Arc::new(Mutex::new(Wire::new(capture(3), 1, 0)));
        let setup = ThreadSetup {
            name: "test-sw".into(),
            on_start: Some(Box::new(|| Err("no such CPU".into()))),
        };
        let err = UplinkThread::start(
            wire.clone(),
            Vec::new(),
            uplink(&ring, 10),
            fabric.clone(),
            setup,
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "no such CPU");
        assert_eq!(fabric.uplink.wire.packets(), 0, "it never ran");

        let ran_on = Arc::new(Mutex::new(None));
        let seen = Arc::clone(&ran_on);
        let setup = ThreadSetup {
            name: "test-sw2".into(),
            on_start: Some(Box::new(move || {
                *seen.lock().unwrap() = std::thread::current().name().map(str::to_owned);
                Ok(())
            })),
        };
        let t = UplinkThread::start(wire, Vec::new(), uplink(&ring, 10), fabric.clone(), setup)
            .unwrap();
        assert_eq!(
            ran_on.lock().unwrap().as_deref(),
            Some("test-sw2"),
            "on the switch thread"
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while ring.len() < 3 && Instant::now() < deadline {
            std::thread::yield_now();
        }
        std::thread::sleep(Duration::from_millis(20));
        drop(t.stop());
        assert!(fabric.cpu.busy_ns.get() > 0, "it moved frames");
        assert!(fabric.cpu.idle_ns.get() >= 10_000_000, "then idled ~20 ms");
    }

    #[test]
    fn the_thread_replays_everything_and_stops_on_request() {
        let ring = Ring::new(4);
        let up = uplink(&ring, usize::MAX);
        let wire = Arc::new(Mutex::new(Wire::new(capture(10), 3, 0)));
        let fabric = Arc::new(fabric());
        let t = UplinkThread::start(
            wire.clone(),
            Vec::new(),
            up,
            fabric.clone(),
            ThreadSetup::named("test-sw"),
        )
        .unwrap();
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

    /// A 60-byte UDP/IPv4 frame from 10.0.0.1 to port `dport`, its first
    /// byte `tag`.
    fn udp(tag: u8, dport: u16) -> Vec<u8> {
        crate::switch_test_support::udp(tag, 1, dport)
    }

    /// A transfer rule on the uplink for UDP to `dport`, with `fate` and COUNT.
    fn rule_to(f: &Fabric, dport: u16, fate: crate::flow::Action) -> u64 {
        crate::switch_test_support::transfer_rule(f, crate::flow::PortRef::Uplink, dport, fate)
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
            step(wire, up, &f, &mut f.rules.lock_switch(), &[])
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

    /// Remembers where each frame went.
    #[derive(Default)]
    struct Recorder(Vec<(u8, Rx)>);

    impl Host for Recorder {
        type Buf = u8;
        fn fill(&mut self, to: Rx, frame: &[u8]) -> Result<u8, FillError> {
            self.0.push((frame[0], to));
            Ok(frame[0])
        }
        fn discard(&mut self, _buf: u8) {}
    }

    /// A UDP/IPv4 frame of flow `flow` (its source address), first byte `tag`.
    fn flow_frame(tag: u8, flow: u8) -> Vec<u8> {
        let mut f = udp(tag, 5001);
        f[14 + 15] = flow;
        f
    }

    #[test]
    fn rss_spreads_flows_over_the_pf_queues_and_keeps_each_on_one() {
        use crate::rss::HashTypes;
        let rings = [Ring::new(1024), Ring::new(1024)];
        let mut up = Uplink::new(
            Recorder::default(),
            rings.iter().map(Ring::producer).collect(),
        );
        let f = fabric();
        f.rss
            .update(|r| r[0].configure(2, true, HashTypes::ALL, None));
        let rss = f.rss.get();
        // 32 flows, 4 frames each, interleaved.
        let frames: Vec<Vec<u8>> = (0..4u8)
            .flat_map(|_| (0..32u8).map(|flow| flow_frame(flow, flow)))
            .collect();
        let mut wire = Wire::new(Capture::from_frames(frames.clone()), 1, 0);
        let mut none = RuleSet::empty();
        while step(&mut wire, &mut up, &f, &mut none, &rss) != Step::Finished {}
        assert_eq!(up.host.0.len(), 128);
        let mut queue_of = std::collections::HashMap::new();
        for (i, (flow, to)) in up.host.0.iter().enumerate() {
            let hash = to.hash.expect("hashed");
            assert_eq!(Some(hash), rss[0].hash(&frames[i]));
            assert_eq!(to.queue, rss[0].reta()[hash as usize & 511]);
            assert_eq!(to.queue, (hash & 1) as u16, "default RETA over 2 queues");
            assert_eq!(to.port, 0);
            let q = *queue_of.entry(*flow).or_insert(to.queue);
            assert_eq!(q, to.queue, "flow {flow} stays on one queue");
        }
        let per_queue = [rings[0].len(), rings[1].len()];
        assert_eq!(per_queue[0] + per_queue[1], 128);
        assert!(per_queue.iter().all(|&n| n >= 32), "{per_queue:?}");
    }

    #[test]
    fn every_frame_off_the_wire_is_accounted_for_once() {
        use crate::flow::{Action, PortRef};
        use crate::rss::HashTypes;
        // Two queues, one of them tiny; a paced wire (every frame due at once)
        // so full rings miss; rules that switch and drop; oversized frames.
        let rings = [Ring::new(3), Ring::new(1000)];
        let mut up = Uplink::new(
            TestHost {
                pool: 500,
                max_len: 100,
            },
            rings.iter().map(Ring::producer).collect(),
        );
        let f = Fabric::new(vec![0]);
        f.rss
            .update(|r| r[0].configure(2, true, HashTypes::ALL, None));
        rule_to(&f, 80, Action::Port(PortRef::Vf(0)));
        rule_to(&f, 81, Action::Drop);
        let frames: Vec<Vec<u8>> = (0..2000u32)
            .map(|i| {
                let dport: u16 = [80, 81, 9, 10, 11][(i % 5) as usize];
                let mut fr = flow_frame(i as u8, (i % 97) as u8);
                fr[14 + 22..14 + 24].copy_from_slice(&dport.to_be_bytes());
                if i % 37 == 0 {
                    fr.resize(200, 0); // beyond the host's buffers
                }
                fr
            })
            .collect();
        let mut wire = Wire::new(Capture::from_frames(frames), 1, 1_000_000_000);
        wire.start_pacing(Instant::now() - Duration::from_secs(10));
        let rss = f.rss.get();
        while step(&mut wire, &mut up, &f, &mut f.rules.lock_switch(), &rss) != Step::Finished {}
        let u = &f.uplink;
        let sink = &f.vfs[0].1;
        assert_eq!(u.wire.packets(), 2000);
        assert_eq!(
            u.delivered.packets()
                + u.imissed.get()
                + u.ierrors.get()
                + sink.from_switch.packets()
                + u.dropped.packets(),
            2000
        );
        assert_eq!(
            u.delivered.packets(),
            (rings[0].len() + rings[1].len()) as u64
        );
        assert_eq!(rings[0].len(), 3, "the tiny ring filled");
        assert!(u.imissed.get() > 0 && u.ierrors.get() > 0 && u.rx_nombuf.get() > 0);
        assert_eq!(u.to_wire.packets(), 0);
    }

    #[test]
    fn without_rss_everything_goes_to_queue_0_unhashed() {
        let rings = [Ring::new(64), Ring::new(64)];
        let mut up = Uplink::new(
            Recorder::default(),
            rings.iter().map(Ring::producer).collect(),
        );
        let f = fabric();
        let rss = f.rss.get();
        let frames: Vec<Vec<u8>> = (0..16u8).map(|i| flow_frame(i, i)).collect();
        let mut wire = Wire::new(Capture::from_frames(frames), 1, 0);
        while step(&mut wire, &mut up, &f, &mut RuleSet::empty(), &rss) != Step::Finished {}
        assert_eq!((rings[0].len(), rings[1].len()), (16, 0));
        assert!(up.host.0.iter().all(|(_, to)| to.hash.is_none()));
    }

    /// The switch's deliveries are captured as `-offloaded`: to a VF under
    /// the VF's name, back out on the wire as the uplink's.
    #[test]
    fn what_rules_deliver_to_a_vf_or_the_wire_is_captured_as_offloaded() {
        use crate::capture::Captures;
        use crate::flow::{Action, PortRef};
        let dir = tempfile::tempdir().unwrap();
        let ring = Ring::new(8);
        let mut up = uplink(&ring, 100);
        let mut f = Fabric::new(vec![0, 4]);
        let names = [(0, "vf0".to_owned()), (4, "vm5".to_owned())];
        f.captures = Some(Captures::create(dir.path(), &names).unwrap());
        rule_to(&f, 5001, Action::Port(PortRef::Vf(4)));
        rule_to(&f, 7000, Action::Port(PortRef::Uplink));
        let capture = Capture::from_frames([
            udp(1, 5001),
            udp(2, 9),
            udp(3, 5001),
            udp(4, 7000),
            udp(5, 7000),
        ]);
        let mut wire = Wire::new(capture, 1, 0);
        while step(&mut wire, &mut up, &f, &mut f.rules.lock_switch(), &[]) != Step::Finished {}
        drop(f);
        let read = |name: &str| {
            let file = std::fs::File::open(dir.path().join(name)).unwrap();
            let mut r = pcap_file::pcap::PcapReader::new(file).unwrap();
            let mut tags = Vec::new();
            while let Some(p) = r.next_packet() {
                tags.push(p.unwrap().data[0]);
            }
            tags
        };
        assert_eq!(read("vm5-offloaded.pcap"), vec![1, 3]);
        assert_eq!(read("vm5.pcap"), Vec::<u8>::new());
        assert_eq!(read("vf0-offloaded.pcap"), Vec::<u8>::new());
        assert_eq!(read("uplink-offloaded.pcap"), vec![4, 5], "hairpinned");
        assert_eq!(read("uplink.pcap"), Vec::<u8>::new(), "the host sent none");
        assert_eq!(ring.pop(), Some(2), "the miss reached the PF's host");
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
        let t = UplinkThread::start(
            wire,
            Vec::new(),
            up,
            fabric.clone(),
            ThreadSetup::named("test-sw"),
        )
        .unwrap();
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
        // Created between two frames: from here on every frame is the rule's.
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
