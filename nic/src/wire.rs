//! The uplink's wire: a capture held in memory and replayed frame by frame,
//! a given number of times or forever, or generated flows
//! ([`crate::generator`]); either optionally paced to a packet rate.
//!
//! The capture is read once, at probe, so a missing or broken file is refused
//! before any port exists and the replay itself never touches the disk.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::time::{Duration, Instant};

use pcap_file::pcap::PcapReader;

use crate::generator::Generator;

/// Why a capture cannot be the wire.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The file cannot be opened.
    #[error("cannot open wire capture {path}: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    /// The file is not a pcap (or is damaged).
    #[error("wire capture {path} is not a readable pcap: {source}")]
    Pcap {
        path: String,
        source: pcap_file::PcapError,
    },
}

/// The frames of a capture, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capture {
    frames: Vec<Box<[u8]>>,
    bytes: u64,
}

impl Capture {
    /// Reads every frame of the pcap at `path` (as captured: a frame cut by the
    /// capture's snap length is replayed cut).
    pub fn load(path: &Path) -> Result<Capture, WireError> {
        let name = || path.display().to_string();
        let file = File::open(path).map_err(|source| WireError::Open {
            path: name(),
            source,
        })?;
        let mut reader =
            PcapReader::new(BufReader::new(file)).map_err(|source| WireError::Pcap {
                path: name(),
                source,
            })?;
        let mut frames = Vec::new();
        while let Some(packet) = reader.next_packet() {
            let packet = packet.map_err(|source| WireError::Pcap {
                path: name(),
                source,
            })?;
            frames.push(packet.data.into_owned().into_boxed_slice());
        }
        Ok(Capture::from_frames(frames))
    }

    /// A capture of these frames.
    pub fn from_frames<F: Into<Box<[u8]>>>(frames: impl IntoIterator<Item = F>) -> Capture {
        let frames: Vec<Box<[u8]>> = frames.into_iter().map(Into::into).collect();
        let bytes = frames.iter().map(|f| f.len() as u64).sum();
        Capture { frames, bytes }
    }

    /// Frames in one pass.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether it has no frame.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Bytes in one pass.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// A capture being replayed: where the replay stands, and its pace.
#[derive(Debug)]
pub struct Wire {
    capture: Capture,
    /// Passes to make; 0 is forever.
    loops: u64,
    /// Next frame, and the pass it belongs to.
    pos: usize,
    pass: u64,
    /// Frames taken off the wire so far (delivered, missed or refused).
    sent: u64,
    pacer: Option<Pacer>,
    /// Generated flows instead of the capture (`gen=`).
    gen: Option<Box<Generator>>,
}

impl Wire {
    /// A replay of `capture`, `loops` times (0: forever), at `rate_pps`
    /// packets per second (0: unpaced).
    pub fn new(capture: Capture, loops: u64, rate_pps: u64) -> Wire {
        Wire {
            capture,
            loops,
            pos: 0,
            pass: 0,
            sent: 0,
            pacer: (rate_pps > 0).then(|| Pacer::new(rate_pps)),
            gen: None,
        }
    }

    /// A wire of generated flows, paced (`rate_pps` above 0) or not. Paced,
    /// each frame goes at its own time on the generator's timeline, whose
    /// steady load `rate_pps` is (the sizes are solved for it): a flash
    /// crowd's births, or a run's warm-up, change the load offered as they
    /// would on a real wire.
    pub fn generated(gen: Generator, rate_pps: u64) -> Wire {
        Wire {
            gen: Some(Box::new(gen)),
            ..Wire::new(Capture::default(), 1, rate_pps)
        }
    }

    /// The generator, on a generated wire.
    pub fn generator(&self) -> Option<&Generator> {
        self.gen.as_deref()
    }

    /// The frame `peek` shows will never reach the host (missed or
    /// refused): a generated wire counts it against its flow. Called before
    /// [`Wire::advance`] takes it off.
    #[inline]
    pub fn lost(&mut self) {
        if let Some(g) = &mut self.gen {
            g.lost();
        }
    }

    /// A rule of the NIC takes the frame `peek` shows past the host: a
    /// generated wire counts it on its flow. Called before
    /// [`Wire::advance`].
    #[inline]
    pub fn carried(&mut self) {
        if let Some(g) = &mut self.gen {
            g.carried();
        }
    }

    /// A frame taken off earlier never reached the host after all (left in
    /// a ring at the port's stop): a generated wire counts it against its
    /// flow.
    pub fn lost_frame(&mut self, frame: &[u8]) {
        if let Some(g) = &mut self.gen {
            g.lost_frame(frame);
        }
    }

    /// A wire that carries nothing (no `wire=` devarg).
    pub fn silent() -> Wire {
        Wire::new(Capture::default(), 1, 0)
    }

    /// The next frame, or `None` once every pass is done. An empty capture is
    /// done at once, even when looped forever.
    #[inline]
    pub fn peek(&self) -> Option<&[u8]> {
        if let Some(g) = &self.gen {
            return g.peek();
        }
        if self.finished() {
            return None;
        }
        self.capture.frames.get(self.pos).map(|f| &f[..])
    }

    /// Takes the frame `peek` showed off the wire.
    #[inline]
    pub fn advance(&mut self) {
        if self.finished() {
            return;
        }
        self.sent += 1;
        if let Some(p) = &mut self.pacer {
            p.released += 1;
        }
        if let Some(g) = &mut self.gen {
            g.advance();
            return;
        }
        self.pos += 1;
        if self.pos == self.capture.len() {
            self.pos = 0;
            self.pass += 1;
        }
    }

    /// Whether every pass is done.
    #[inline]
    pub fn finished(&self) -> bool {
        if let Some(g) = &self.gen {
            return g.finished();
        }
        self.capture.is_empty() || (self.loops != 0 && self.pass >= self.loops)
    }

    /// Frames taken off the wire so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Frames the whole replay carries (`None`: forever).
    pub fn total(&self) -> Option<u64> {
        if let Some(g) = &self.gen {
            return g.total();
        }
        match self.loops {
            0 if !self.capture.is_empty() => None,
            0 => Some(0),
            n => Some(n * self.capture.len() as u64),
        }
    }

    /// Whether the wire is paced (then what the host cannot take is missed;
    /// unpaced, the wire waits for the host).
    pub fn paced(&self) -> bool {
        self.pacer.is_some()
    }

    /// Restarts the pace from now (the port starts): a stopped port does not
    /// owe the frames of the time it was stopped. A generated wire's
    /// timeline goes on from its next frame.
    pub fn start_pacing(&mut self, now: Instant) {
        let resume_ns = self.gen.as_ref().and_then(|g| g.due_ns()).unwrap_or(0);
        if let Some(p) = &mut self.pacer {
            p.epoch = now;
            p.released = 0;
            p.resume_ns = resume_ns;
        }
    }

    /// How long until the next frame is due at `now` (zero: due).
    pub fn due_in(&self, now: Instant) -> Duration {
        let Some(p) = &self.pacer else {
            return Duration::ZERO;
        };
        match &self.gen {
            Some(g) => g
                .due_ns()
                .map_or(Duration::ZERO, |t| p.timeline_due_in(t, now)),
            None => p.due_in(now),
        }
    }
}

/// Releases frame `i` (counted from the last start) at `epoch + i / rate`;
/// on a generated wire, the frame due at `t` on the timeline at
/// `epoch + (t - resume_ns)`.
#[derive(Debug, Clone, Copy)]
struct Pacer {
    rate_pps: u64,
    epoch: Instant,
    released: u64,
    /// The timeline's time at the last start.
    resume_ns: u64,
}

impl Pacer {
    fn new(rate_pps: u64) -> Pacer {
        Pacer {
            rate_pps,
            epoch: Instant::now(),
            released: 0,
            resume_ns: 0,
        }
    }

    fn timeline_due_in(&self, at_ns: u64, now: Instant) -> Duration {
        let at = self.epoch + Duration::from_nanos(at_ns.saturating_sub(self.resume_ns));
        at.saturating_duration_since(now)
    }

    fn due_in(&self, now: Instant) -> Duration {
        let at_ns = u128::from(self.released) * 1_000_000_000 / u128::from(self.rate_pps);
        let at = self.epoch + Duration::from_nanos(u64::try_from(at_ns).unwrap_or(u64::MAX));
        at.saturating_duration_since(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(n: u8) -> Capture {
        Capture::from_frames((0..n).map(|i| vec![i; 60]))
    }

    fn drain(w: &mut Wire, max: usize) -> Vec<u8> {
        let mut seen = Vec::new();
        while let Some(f) = w.peek() {
            seen.push(f[0]);
            w.advance();
            if seen.len() == max {
                break;
            }
        }
        seen
    }

    #[test]
    fn loops_replay_in_order_then_stop() {
        let mut w = Wire::new(frames(3), 2, 0);
        assert_eq!(w.total(), Some(6));
        assert_eq!(drain(&mut w, 100), vec![0, 1, 2, 0, 1, 2]);
        assert!(w.finished());
        assert_eq!(w.sent(), 6);
        w.advance();
        assert_eq!(w.sent(), 6, "a finished wire sends nothing more");
    }

    #[test]
    fn zero_loops_is_forever() {
        let mut w = Wire::new(frames(2), 0, 0);
        assert_eq!(w.total(), None);
        assert_eq!(drain(&mut w, 7), vec![0, 1, 0, 1, 0, 1, 0]);
        assert!(!w.finished());
    }

    #[test]
    fn empty_or_silent_wires_are_done_at_once() {
        for mut w in [Wire::new(Capture::default(), 0, 0), Wire::silent()] {
            assert!(w.finished());
            assert_eq!(w.peek(), None);
            assert_eq!(w.total(), Some(0));
            w.advance();
            assert_eq!(w.sent(), 0);
        }
    }

    #[test]
    fn pacing_spaces_frames_by_the_rate() {
        let mut w = Wire::new(frames(4), 0, 1000);
        assert!(w.paced());
        let t0 = Instant::now();
        w.start_pacing(t0);
        assert_eq!(
            w.due_in(t0),
            Duration::ZERO,
            "the first frame is due at start"
        );
        w.advance();
        assert_eq!(w.due_in(t0), Duration::from_millis(1));
        w.advance();
        assert_eq!(w.due_in(t0), Duration::from_millis(2));
        assert_eq!(w.due_in(t0 + Duration::from_millis(5)), Duration::ZERO);
        // A restart does not owe the frames of the stopped time.
        let t1 = t0 + Duration::from_secs(10);
        w.start_pacing(t1);
        assert_eq!(w.due_in(t1), Duration::ZERO);
        w.advance();
        assert_eq!(w.due_in(t1), Duration::from_millis(1));
    }

    #[test]
    fn unpaced_frames_are_always_due() {
        let w = Wire::new(frames(1), 0, 0);
        assert!(!w.paced());
        assert_eq!(w.due_in(Instant::now()), Duration::ZERO);
    }

    #[test]
    fn loads_a_pcap_and_refuses_others() {
        use pcap_file::pcap::{PcapPacket, PcapWriter};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.pcap");
        let mut writer = PcapWriter::new(File::create(&path).unwrap()).unwrap();
        for i in 0..5u8 {
            let data = vec![i; 64 + usize::from(i)];
            writer
                .write_packet(&PcapPacket::new(Duration::ZERO, data.len() as u32, &data))
                .unwrap();
        }
        drop(writer);
        let c = Capture::load(&path).unwrap();
        assert_eq!(c.len(), 5);
        assert_eq!(c.bytes(), 64 * 5 + 10);

        let junk = dir.path().join("junk.pcap");
        std::fs::write(&junk, b"not a pcap at all").unwrap();
        assert!(matches!(Capture::load(&junk), Err(WireError::Pcap { .. })));
        assert!(matches!(
            Capture::load(&dir.path().join("missing.pcap")),
            Err(WireError::Open { .. })
        ));
    }
}
