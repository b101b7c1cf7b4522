//! One thread that serves every client of a listening socket through poll(2),
//! with a bound on each client's time and memory: the engine under the
//! control socket ([`crate::shell::socket`]) and `/metrics`
//! ([`crate::metrics_server`]).
//!
//! Why poll and not a thread per client: both servers answer one request per
//! connection, and what they must survive is clients that do not play along
//! (connect and idle, send a byte at a time, never read the answer). With a
//! thread per client, a cap on threads is a number of hostile clients that
//! locks everyone else out, and without a cap they cost a thread (and its
//! stack) each. A fixed pool has the same limit at its size. Here a client
//! costs a socket and its request buffer, nothing waits on one client, and an
//! honest request is served as soon as it arrives however many others stall.
//! The one thread never blocks: sockets are non-blocking, and answers that
//! come from elsewhere (the control core) are collected without waiting.
//!
//! Bounds, per connection, in [`Limits`]: the whole request must arrive within
//! `request_within` of the accept (a deadline for the request, not a timeout
//! per read, which a client sending a byte at a time never trips); the whole
//! answer must be taken within `answer_within`; a request may be at most
//! `max_request` bytes; at most `max_clients` connections are held, and a new
//! one beyond that closes the longest-connected to make room, so a crowd of
//! idle clients cannot keep a new one out (an honest exchange takes
//! milliseconds, so it is never the oldest for long).
//!
//! The protocol (what ends a request, what to answer) is a [`Service`].

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout};

/// A connection's number, unique for the life of its server.
pub type ConnId = u64;

/// What one connection may cost.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections held at once; one more closes the longest-connected.
    pub max_clients: usize,
    /// The longest request; more is [`Got::Full`].
    pub max_request: usize,
    /// From the accept to the end of the request.
    pub request_within: Duration,
    /// From the answer being ready to its last byte taken by the client.
    pub answer_within: Duration,
}

/// Why the service is shown a connection's request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Got {
    /// More bytes came; the client may send more.
    Data,
    /// The client shut its side: nothing more will come.
    End,
    /// The request deadline passed: nothing more will be read.
    Expired,
    /// `max_request` bytes came: nothing more will be read.
    Full,
}

/// What the service makes of a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not whole yet: read on (only for [`Got::Data`]).
    More,
    /// Write these bytes, then close.
    Answer(Vec<u8>),
    /// Whole; the answer will come from [`Service::answers`].
    Later,
    /// Close without a word.
    Close,
}

/// A protocol served by a [`PollServer`]. Its methods run on the server's
/// thread and must not block.
pub trait Service: Send + 'static {
    /// `request` is everything the connection sent so far (at most
    /// `max_request` bytes).
    fn examine(&mut self, conn: ConnId, request: &[u8], got: Got) -> Verdict;
    /// Answers that became ready for connections left [`Verdict::Later`].
    fn answers(&mut self) -> Vec<(ConnId, Vec<u8>)>;
    /// How soon to call [`Service::answers`] again even if no socket stirs
    /// (`None`: no answer is pending).
    fn look_again_in(&self) -> Option<Duration>;
    /// The connection is gone (its client left, or it made room): drop
    /// whatever is kept for it.
    fn forget(&mut self, conn: ConnId);
    /// A new connection, and who is at its other end if the socket says
    /// ([`Listener::peer`]).
    fn accepted(&mut self, _conn: ConnId, _peer: Option<String>) {}
}

/// A listening socket the server can take connections from.
pub trait Listener: AsFd + Send + 'static {
    type Stream: Read + Write + AsFd + Send + 'static;
    /// One pending connection, made non-blocking.
    fn accept_stream(&self) -> io::Result<Self::Stream>;
    /// Who is at the other end of `stream`, for the log.
    fn peer(_stream: &Self::Stream) -> Option<String> {
        None
    }
}

impl Listener for UnixListener {
    type Stream = UnixStream;
    fn accept_stream(&self) -> io::Result<UnixStream> {
        let (s, _) = self.accept()?;
        s.set_nonblocking(true)?;
        Ok(s)
    }

    /// The client's process and user, as the kernel saw them at connect
    /// (SO_PEERCRED).
    fn peer(stream: &UnixStream) -> Option<String> {
        let c = nix::sys::socket::getsockopt(stream, nix::sys::socket::sockopt::PeerCredentials)
            .ok()?;
        Some(format!("pid {} uid {}", c.pid(), c.uid()))
    }
}

impl Listener for TcpListener {
    type Stream = TcpStream;
    fn accept_stream(&self) -> io::Result<TcpStream> {
        let (s, _) = self.accept()?;
        s.set_nonblocking(true)?;
        Ok(s)
    }
}

/// The serving thread; stops (closing every connection) when dropped.
#[derive(Debug)]
pub struct PollServer {
    stop: Arc<AtomicBool>,
    /// A byte written here wakes the thread out of poll(2) to see `stop`.
    wake: UnixStream,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PollServer {
    /// Serves `listener` with `service` on a thread called `name`.
    pub fn start<L: Listener, S: Service>(
        name: &str,
        listener: L,
        service: S,
        limits: Limits,
    ) -> io::Result<PollServer> {
        let (wake, woken) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        woken.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let st = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                Loop {
                    name: std::thread::current().name().unwrap_or("poll").to_string(),
                    listener,
                    service,
                    limits,
                    conns: Vec::new(),
                    next_id: 0,
                    accept_after: None,
                }
                .run(&woken, &st)
            })?;
        Ok(PollServer {
            stop,
            wake,
            thread: Some(thread),
        })
    }
}

impl Drop for PollServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // A full pipe means a wake-up is pending already.
        let _ = (&self.wake).write(&[1]);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

enum State {
    /// Gathering the request.
    Reading(Vec<u8>),
    /// The service has the request; no I/O until its answer.
    Waiting,
    /// Writing the answer; `done` bytes are out.
    Writing { out: Vec<u8>, done: usize },
    /// To be dropped at the end of this pass.
    Closed,
}

struct Conn<S> {
    id: ConnId,
    stream: S,
    /// When the current state must be over (reading, writing).
    deadline: Instant,
    state: State,
}

/// Read size per call: a request line or HTTP head fits in one or two.
const CHUNK: usize = 4096;
/// How long to stop accepting after accept(2) failed for want of resources
/// (EMFILE, ENFILE, ENOMEM): the listener stays readable, and polling it at
/// once again would spin.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// At most this much unread input is drained before a close: closing a
/// socket with input unread resets the connection, and the client may then
/// lose the end of its answer.
const DRAIN_AT_CLOSE: usize = 64 * 1024;
/// How long a stopping server still delivers answers already on their way.
const STOP_GRACE: Duration = Duration::from_secs(2);

struct Loop<L: Listener, S> {
    /// The thread's name, which says in the log which server it is.
    name: String,
    listener: L,
    service: S,
    limits: Limits,
    /// Oldest first.
    conns: Vec<Conn<L::Stream>>,
    next_id: ConnId,
    /// Accepting is paused until then.
    accept_after: Option<Instant>,
}

impl<L: Listener, S: Service> Loop<L, S> {
    fn run(mut self, woken: &UnixStream, stop: &AtomicBool) {
        // Once told to stop: no more clients or requests, but answers on
        // their way (the `quit` that stopped the appliance) still go out,
        // for a while.
        let mut stopping: Option<Instant> = None;
        loop {
            let now = Instant::now();
            if stopping.is_none() && stop.load(Ordering::SeqCst) {
                stopping = Some(now + STOP_GRACE);
                for c in &mut self.conns {
                    if matches!(c.state, State::Reading(_)) {
                        c.state = State::Closed;
                    }
                }
                self.sweep();
            }
            if let Some(until) = stopping {
                if now >= until || self.conns.is_empty() {
                    return;
                }
            }
            for (id, out) in self.service.answers() {
                if let Some(c) = self.conns.iter_mut().find(|c| c.id == id) {
                    if matches!(c.state, State::Waiting) {
                        c.state = State::Writing { out, done: 0 };
                        c.deadline = now + self.limits.answer_within;
                    }
                }
            }
            if self.accept_after.is_some_and(|t| now >= t) {
                self.accept_after = None;
            }
            let listening = self.accept_after.is_none() && stopping.is_none();
            let (woke, heard, stirred) = match self.wait(woken, listening, stopping, now) {
                Ok(r) => r,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    // poll(2) fails only on bad arguments or no memory; do
                    // not spin on it.
                    flowlift_offload::log_limited!("poll", |held| tracing::error!(
                        target: "control", server = %self.name, error = %e, held = held.count,
                        "poll(2) failed: {e}{held}"
                    ));
                    std::thread::sleep(ACCEPT_PAUSE);
                    continue;
                }
            };
            if woke {
                let mut buf = [0u8; 64];
                while matches!((&*woken).read(&mut buf), Ok(n) if n > 0) {}
            }
            let now = Instant::now();
            for (c, revents) in self.conns.iter_mut().zip(stirred) {
                if !revents.is_empty() {
                    step(c, revents, &mut self.service, &self.limits, now);
                }
            }
            for c in &mut self.conns {
                if c.deadline <= now {
                    let what = match c.state {
                        State::Reading(_) => "its request",
                        _ => "its answer",
                    };
                    flowlift_offload::log_limited!(what, |held| tracing::debug!(
                        target: "control", server = %self.name, held = held.count,
                        "a client took too long over {what}: cut off{held}"
                    ));
                    expire(c, &mut self.service, &self.limits, now);
                }
            }
            self.sweep();
            if heard {
                self.accept(now);
            }
        }
    }

    /// Waits in poll(2) for the wake-up pipe, the listener (if `listening`)
    /// and every connection, until the first deadline (`also` is one more).
    /// Whether the pipe and the listener stirred, and what each connection
    /// had.
    fn wait(
        &self,
        woken: &UnixStream,
        listening: bool,
        also: Option<Instant>,
        now: Instant,
    ) -> nix::Result<(bool, bool, Vec<PollFlags>)> {
        let mut due = self.service.look_again_in().map(|d| now + d);
        let mut sooner = |t: Instant| due = Some(due.map_or(t, |d| d.min(t)));
        for t in [self.accept_after, also].into_iter().flatten() {
            sooner(t);
        }
        let mut fds = Vec::with_capacity(self.conns.len() + 2);
        fds.push(PollFd::new(woken.as_fd(), PollFlags::POLLIN));
        if listening {
            fds.push(PollFd::new(self.listener.as_fd(), PollFlags::POLLIN));
        }
        for c in &self.conns {
            // Hang-ups and errors are reported whatever is asked: a client
            // that leaves while its answer is made is seen at once.
            let events = match c.state {
                State::Reading(_) => PollFlags::POLLIN,
                State::Writing { .. } => PollFlags::POLLOUT,
                State::Waiting | State::Closed => PollFlags::empty(),
            };
            if matches!(c.state, State::Reading(_) | State::Writing { .. }) {
                sooner(c.deadline);
            }
            fds.push(PollFd::new(c.stream.as_fd(), events));
        }
        let timeout = match due {
            // Rounded up: a timeout that rounds to 0 ms would spin until due.
            Some(t) => {
                let ms = t
                    .saturating_duration_since(now)
                    .as_nanos()
                    .div_ceil(1_000_000);
                PollTimeout::try_from(ms.min(60_000)).unwrap_or(PollTimeout::MAX)
            }
            None => PollTimeout::NONE,
        };
        nix::poll::poll(&mut fds, timeout)?;
        let got = |f: &PollFd| f.revents().unwrap_or(PollFlags::empty());
        let woke = !got(&fds[0]).is_empty();
        let heard = listening && !got(&fds[1]).is_empty();
        let first = if listening { 2 } else { 1 };
        Ok((woke, heard, fds[first..].iter().map(got).collect()))
    }

    /// Drops closed connections, telling the service.
    fn sweep(&mut self) {
        let service = &mut self.service;
        self.conns.retain_mut(|c| {
            if matches!(c.state, State::Closed) {
                service.forget(c.id);
                drain(&mut c.stream);
                false
            } else {
                true
            }
        });
    }

    /// Takes the pending connections, each beyond `max_clients` closing the
    /// longest-connected.
    fn accept(&mut self, now: Instant) {
        // A bounded number per pass, so a flood of connections does not keep
        // the loop from the clients it has.
        for _ in 0..self.limits.max_clients.max(1) {
            match self.listener.accept_stream() {
                Ok(stream) => {
                    if self.conns.len() >= self.limits.max_clients.max(1) {
                        flowlift_offload::log_limited!("full", |held| tracing::warn!(
                            target: "control", server = %self.name,
                            max_clients = self.limits.max_clients, held = held.count,
                            "{} clients connected: the longest-connected closed to make room{held}",
                            self.limits.max_clients
                        ));
                        let oldest = self.conns.remove(0);
                        self.service.forget(oldest.id);
                    }
                    self.service.accepted(self.next_id, L::peer(&stream));
                    self.conns.push(Conn {
                        id: self.next_id,
                        stream,
                        deadline: now + self.limits.request_within,
                        state: State::Reading(Vec::new()),
                    });
                    self.next_id += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) => {}
                Err(e) => {
                    flowlift_offload::log_limited!("accept", |held| tracing::warn!(
                        target: "control", server = %self.name, error = %e, held = held.count,
                        "accept(2) failed: {e}; not accepting for {} ms{held}",
                        ACCEPT_PAUSE.as_millis()
                    ));
                    self.accept_after = Some(now + ACCEPT_PAUSE);
                    return;
                }
            }
        }
    }
}

/// Does what `revents` allows on `c`.
fn step<T: Read + Write, S: Service>(
    c: &mut Conn<T>,
    revents: PollFlags,
    service: &mut S,
    limits: &Limits,
    now: Instant,
) {
    match &mut c.state {
        State::Reading(buf) => {
            let got = read_some(&mut c.stream, buf, limits.max_request);
            let Some(got) = got else {
                c.state = State::Closed;
                return;
            };
            let verdict = service.examine(c.id, buf, got);
            settle(c, verdict, got, limits, now);
        }
        State::Waiting => {
            if revents.intersects(PollFlags::POLLHUP | PollFlags::POLLERR) {
                c.state = State::Closed;
            }
        }
        State::Writing { out, done } => {
            while *done < out.len() {
                match c.stream.write(&out[*done..]) {
                    Ok(0) => break,
                    Ok(n) => *done += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            // All written, or the client cannot take the rest.
            c.state = State::Closed;
        }
        State::Closed => {}
    }
}

/// Reads what is there into `buf` (up to `max` bytes in all): `Data` if the
/// client may send more, `End` at its end of input, `Full` at `max`; `None`
/// if the connection failed.
fn read_some(stream: &mut impl Read, buf: &mut Vec<u8>, max: usize) -> Option<Got> {
    let mut chunk = [0u8; CHUNK];
    loop {
        let room = max.saturating_sub(buf.len()).min(CHUNK);
        if room == 0 {
            return Some(Got::Full);
        }
        match stream.read(&mut chunk[..room]) {
            Ok(0) => return Some(Got::End),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Some(Got::Data),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

/// Moves `c` on after the service's `verdict` on a request it was shown
/// because of `got`.
fn settle<T>(c: &mut Conn<T>, verdict: Verdict, got: Got, limits: &Limits, now: Instant) {
    c.state = match verdict {
        // Nothing more will be read: a service that still wants more gets
        // the connection closed.
        Verdict::More if got == Got::Data => return,
        Verdict::More | Verdict::Close => State::Closed,
        Verdict::Later => State::Waiting,
        Verdict::Answer(out) => {
            c.deadline = now + limits.answer_within;
            State::Writing { out, done: 0 }
        }
    };
}

/// `c`'s deadline passed.
fn expire<T, S: Service>(c: &mut Conn<T>, service: &mut S, limits: &Limits, now: Instant) {
    match &c.state {
        State::Reading(buf) => {
            let verdict = service.examine(c.id, buf, Got::Expired);
            settle(c, verdict, Got::Expired, limits, now);
        }
        State::Writing { .. } => c.state = State::Closed,
        State::Waiting | State::Closed => {}
    }
}

/// Reads and discards what input is waiting (a bounded amount), so that the
/// close that follows is a clean one.
fn drain(stream: &mut impl Read) {
    let mut chunk = [0u8; CHUNK];
    let mut left = DRAIN_AT_CLOSE;
    while left > 0 {
        match stream.read(&mut chunk) {
            Ok(n) if n > 0 => left = left.saturating_sub(n),
            _ => return,
        }
    }
}

/// What the servers' tests do to them as a hostile client would.
#[cfg(test)]
pub(crate) mod hostile {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};

    /// Sends a byte every read time-out of `stream` (so never slow enough
    /// for a per-read time-out), never ending the request, until the server
    /// cuts it off; returns when that happened and what it answered. Fails
    /// the test if the server still reads after three times `deadline`.
    pub fn trickle_until_cut<S: Read + Write>(
        stream: &mut S,
        deadline: Duration,
    ) -> (Duration, Vec<u8>) {
        let start = Instant::now();
        let mut answer = Vec::new();
        let cut = loop {
            assert!(
                start.elapsed() < deadline * 3,
                "still reading after {:?}",
                start.elapsed()
            );
            if stream.write_all(b"x").is_err() {
                break start.elapsed();
            }
            match stream.read_to_end(&mut answer) {
                Ok(_) => break start.elapsed(),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => break start.elapsed(),
            }
        };
        assert!(
            cut >= deadline - Duration::from_millis(500) && cut < deadline * 2,
            "cut after {cut:?}, the deadline is {deadline:?}"
        );
        (cut, answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Answers a line with itself upper-cased, `later` lines only when told
    /// to, and records what it forgot.
    #[derive(Default)]
    struct Shout {
        pending: Arc<Mutex<Vec<ConnId>>>,
        release: Arc<AtomicBool>,
        forgotten: Arc<Mutex<Vec<ConnId>>>,
    }

    impl Service for Shout {
        fn examine(&mut self, conn: ConnId, request: &[u8], got: Got) -> Verdict {
            match request.iter().position(|&b| b == b'\n') {
                Some(_) if request.starts_with(b"later") => {
                    self.pending.lock().unwrap().push(conn);
                    Verdict::Later
                }
                Some(i) => Verdict::Answer(request[..=i].to_ascii_uppercase()),
                None if got == Got::Data => Verdict::More,
                None if got == Got::End => Verdict::Close,
                None => Verdict::Answer(format!("{got:?}\n").into_bytes()),
            }
        }
        fn answers(&mut self) -> Vec<(ConnId, Vec<u8>)> {
            if !self.release.load(Ordering::SeqCst) {
                return Vec::new();
            }
            let mut p = self.pending.lock().unwrap();
            p.drain(..).map(|c| (c, b"LATER\n".to_vec())).collect()
        }
        fn look_again_in(&self) -> Option<Duration> {
            (!self.pending.lock().unwrap().is_empty()).then_some(Duration::from_millis(2))
        }
        fn forget(&mut self, conn: ConnId) {
            self.forgotten.lock().unwrap().push(conn);
            self.pending.lock().unwrap().retain(|&c| c != conn);
        }
    }

    const LIMITS: Limits = Limits {
        max_clients: 4,
        max_request: 16,
        request_within: Duration::from_millis(400),
        answer_within: Duration::from_millis(400),
    };

    fn server(dir: &std::path::Path, shout: Shout) -> (PollServer, std::path::PathBuf) {
        let path = dir.join("s");
        let l = UnixListener::bind(&path).unwrap();
        l.set_nonblocking(true).unwrap();
        (PollServer::start("test", l, shout, LIMITS).unwrap(), path)
    }

    fn ask(path: &std::path::Path, line: &[u8]) -> String {
        let mut s = UnixStream::connect(path).unwrap();
        s.write_all(line).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn beyond_max_clients_the_longest_connected_makes_room() {
        let dir = tempfile::tempdir().unwrap();
        let (_srv, path) = server(dir.path(), Shout::default());
        let mut idle: Vec<UnixStream> = (0..LIMITS.max_clients)
            .map(|_| UnixStream::connect(&path).unwrap())
            .collect();
        assert_eq!(ask(&path, b"hello\n"), "HELLO\n");
        // The first idle client was closed to make room, before its deadline.
        idle[0]
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut rest = Vec::new();
        assert_eq!(idle[0].read_to_end(&mut rest).unwrap(), 0);
    }

    #[test]
    fn deadlines_and_sizes_end_a_request() {
        let dir = tempfile::tempdir().unwrap();
        let (_srv, path) = server(dir.path(), Shout::default());
        assert_eq!(ask(&path, b"0123456789abcdefXYZ"), "Full\n");
        let t = Instant::now();
        let mut slow = UnixStream::connect(&path).unwrap();
        slow.write_all(b"sl").unwrap();
        let mut out = String::new();
        slow.read_to_string(&mut out).unwrap();
        assert_eq!(out, "Expired\n");
        assert!(t.elapsed() >= LIMITS.request_within, "{:?}", t.elapsed());
        // Half a line, then the end: closed without a word.
        let mut half = UnixStream::connect(&path).unwrap();
        half.write_all(b"hal").unwrap();
        half.shutdown(std::net::Shutdown::Write).unwrap();
        let mut out = String::new();
        half.read_to_string(&mut out).unwrap();
        assert_eq!(out, "");
    }

    #[test]
    fn a_client_that_leaves_while_its_answer_is_made_is_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let shout = Shout::default();
        let (forgotten, release) = (Arc::clone(&shout.forgotten), Arc::clone(&shout.release));
        let pending = Arc::clone(&shout.pending);
        let (_srv, path) = server(dir.path(), shout);
        let mut gone = UnixStream::connect(&path).unwrap();
        gone.write_all(b"later\n").unwrap();
        // Asked (its answer is being made), then gone.
        let t = Instant::now();
        while pending.lock().unwrap().is_empty() {
            assert!(t.elapsed() < Duration::from_secs(5), "never asked");
            std::thread::yield_now();
        }
        drop(gone);
        let t = Instant::now();
        while forgotten.lock().unwrap().is_empty() {
            assert!(t.elapsed() < Duration::from_secs(5), "never forgotten");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(*forgotten.lock().unwrap(), [0]);
        // Answers that come later go to the clients still there.
        release.store(true, Ordering::SeqCst);
        assert_eq!(ask(&path, b"later\n"), "LATER\n");
    }

    #[test]
    fn a_stopping_server_still_delivers_answers_on_their_way() {
        let dir = tempfile::tempdir().unwrap();
        let shout = Shout::default();
        let (pending, release) = (Arc::clone(&shout.pending), Arc::clone(&shout.release));
        let (srv, path) = server(dir.path(), shout);
        let mut asking = UnixStream::connect(&path).unwrap();
        asking.write_all(b"later\n").unwrap();
        let t = Instant::now();
        while pending.lock().unwrap().is_empty() {
            assert!(t.elapsed() < Duration::from_secs(5), "never asked");
            std::thread::sleep(Duration::from_millis(10));
        }
        // The answer is ready as the server is told to stop (the `quit`
        // that stops the appliance).
        release.store(true, Ordering::SeqCst);
        drop(srv);
        let mut out = String::new();
        asking.read_to_string(&mut out).unwrap();
        assert_eq!(out, "LATER\n");
    }

    #[test]
    fn stops_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (srv, path) = server(dir.path(), Shout::default());
        let mut idle = UnixStream::connect(&path).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let t = Instant::now();
        drop(srv);
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        let mut rest = Vec::new();
        assert_eq!(
            idle.read_to_end(&mut rest).unwrap(),
            0,
            "connections closed"
        );
    }
}
