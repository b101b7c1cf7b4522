//! The control socket: a Unix stream socket (mode 0600, so only its owner
//! may connect) taking one command per connection. The client writes one
//! line; the server answers `OK` or `ERR` on the first line, then the
//! command's output, and closes.
//!
//! Clients are served by one thread through poll(2) ([`crate::poll_server`]),
//! not a thread each: a thread per client with a cap is a number of hostile
//! local clients (idle, slow, not reading) that locks the operator out, and a
//! fixed pool is the same at its size; with poll, a stalled client costs a
//! socket and its buffer and delays no one. Each connection has a deadline
//! for its whole line ([`LINE_WITHIN`]) and one for taking its whole answer
//! ([`ANSWER_WITHIN`]); the control core has [`ANSWER_TIMEOUT`] to answer.
//! Only a whole line (ended by its newline) is carried out: a client that
//! leaves mid-line has said nothing. The control core gets the lines on a
//! channel and answers between its duties, so none of this is near a worker.
//!
//! The socket file is made where nothing can take its place or reach it
//! early: bound in a fresh private (0700) directory beside the path, set to
//! 0600 there, then hard-linked to the path, which fails if anything is
//! there; so the path is never replaced, and never 0600-less. Only a stale
//! socket of ours (nothing serving it) is removed to make way; a file, a
//! link, a directory, a live or someone else's socket are refused in one
//! line. A directory anyone may write to, without the sticky bit, is refused
//! too: anyone could swap the socket for theirs under the operator's shell.

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};

use crate::poll_server::{ConnId, Got, Limits, PollServer, Service, Verdict};

/// A command line for the control core, and where its answer goes.
#[derive(Debug)]
pub struct Request {
    pub line: String,
    pub reply: Sender<Reply>,
    /// Who sent it, for the log: `socket (pid P uid U)` or `terminal`.
    pub origin: String,
}

/// The control core's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub ok: bool,
    pub text: String,
}

impl Reply {
    /// A successful answer.
    pub fn ok(text: impl Into<String>) -> Reply {
        Reply {
            ok: true,
            text: text.into(),
        }
    }

    /// A refusal, one line.
    pub fn err(text: impl Into<String>) -> Reply {
        Reply {
            ok: false,
            text: text.into(),
        }
    }

    /// The reply as it goes on the wire: `OK` or `ERR`, then the text,
    /// ending in a newline.
    fn to_wire(&self) -> Vec<u8> {
        let head = if self.ok { "OK" } else { "ERR" };
        let mut out = format!("{head}\n{}", self.text);
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out.into_bytes()
    }
}

/// Longest command line accepted, its newline included.
pub const MAX_LINE: usize = 64 * 1024;
/// From connecting to the end of the line: a deadline for the whole line,
/// not per read, so a client sending a byte at a time is cut all the same.
pub const LINE_WITHIN: Duration = Duration::from_secs(5);
/// From the answer being ready to its last byte taken: a client that does
/// not read is cut. Ample for the largest `dump-flows` on a local socket.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(10);
/// How long the control core may take to take up a line and answer it.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections held at once; one more closes the longest-connected. Above
/// the 200 hostile clients the abuse tests hold, far below a default
/// 1024-descriptor limit.
pub const MAX_CLIENTS: usize = 256;
/// How often answers are looked for while the control core has lines: its
/// answers come on a channel that cannot wake poll(2), so at most this is
/// added to an answer, and nothing is spent while no line is out.
const LOOK_FOR_ANSWERS: Duration = Duration::from_millis(2);

/// The channel from the shells to the control core.
pub fn request_channel() -> (Sender<Request>, Receiver<Request>) {
    crossbeam_channel::bounded(64)
}

/// The listening socket; removes its file (if still its own) when dropped.
#[derive(Debug)]
pub struct ControlSocket {
    path: PathBuf,
    /// Device and inode of the socket file: a file put at the path since is
    /// not ours to remove.
    file: (u64, u64),
    server: Option<PollServer>,
}

impl ControlSocket {
    /// Listens on `path`, mode 0600, handing whole lines to `requests`. A
    /// stale socket of this user's (nothing serving it) is replaced; anything
    /// else at `path` is refused.
    pub fn serve(path: &Path, requests: Sender<Request>) -> anyhow::Result<ControlSocket> {
        let (listener, file) = bind(path)?;
        listener
            .set_nonblocking(true)
            .context("control socket: non-blocking accept")?;
        let commands = Commands {
            requests,
            queued: VecDeque::new(),
            waiting: HashMap::new(),
            peers: HashMap::new(),
        };
        let limits = Limits {
            max_clients: MAX_CLIENTS,
            max_request: MAX_LINE,
            request_within: LINE_WITHIN,
            answer_within: ANSWER_WITHIN,
        };
        let server = PollServer::start("flowlift-ctl", listener, commands, limits);
        let server = match server {
            Ok(s) => s,
            Err(e) => {
                let _ = std::fs::remove_file(path);
                return Err(e).context("control socket thread");
            }
        };
        Ok(ControlSocket {
            path: path.to_owned(),
            file,
            server: Some(server),
        })
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        drop(self.server.take());
        if let Ok(m) = std::fs::symlink_metadata(&self.path) {
            if (m.dev(), m.ino()) == self.file {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

/// Makes the socket file at `path` (see the module doc): the listener, and
/// the file's device and inode.
fn bind(path: &Path) -> anyhow::Result<(UnixListener, (u64, u64))> {
    let shown = path.display();
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.exists() {
        // As systemd's RuntimeDirectory= would (`/run/flowlift`): one level,
        // owner and group only.
        std::fs::DirBuilder::new()
            .mode(0o750)
            .create(parent)
            .with_context(|| {
                format!(
                    "control socket {shown}: make its directory {}",
                    parent.display()
                )
            })?;
    }
    let dir = std::fs::metadata(parent)
        .with_context(|| format!("control socket {shown}: its directory {}", parent.display()))?;
    let mode = dir.permissions().mode();
    if mode & 0o002 != 0 && mode & 0o1000 == 0 {
        anyhow::bail!(
            "control socket {shown}: its directory {} is writable by anyone (mode {:o}) and not sticky, so anyone could replace the socket; use a directory only you can write to",
            parent.display(),
            mode & 0o7777
        );
    }
    // Once for a free path; once more after a stale socket is removed.
    for _ in 0..2 {
        let private = PrivateDir::new(parent)
            .with_context(|| format!("control socket {shown}: a private directory beside it"))?;
        let listener = UnixListener::bind(&private.socket)
            .with_context(|| format!("control socket {shown}"))?;
        std::fs::set_permissions(&private.socket, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("control socket {shown}: chmod 0600"))?;
        // link(2) never replaces what is at the path, and never follows a
        // symbolic link there.
        match std::fs::hard_link(&private.socket, path) {
            Ok(()) => {
                let m = std::fs::symlink_metadata(path)
                    .with_context(|| format!("control socket {shown}"))?;
                return Ok((listener, (m.dev(), m.ino())));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                drop(private);
                make_way(path)?;
            }
            Err(e) => return Err(e).with_context(|| format!("control socket {shown}")),
        }
    }
    anyhow::bail!("control socket {shown}: something keeps appearing at the path")
}

/// Removes what is at `path` if it is a stale socket of this user's; any
/// other thing there is an error that says what it is.
fn make_way(path: &Path) -> anyhow::Result<()> {
    if check_path(path)? {
        std::fs::remove_file(path)
            .with_context(|| format!("remove stale control socket {}", path.display()))?;
    }
    Ok(())
}

/// Whether `path` may be served: `Ok(false)` when nothing is there,
/// `Ok(true)` when a stale socket of this user's is (to be replaced), and an
/// error saying what is there otherwise. Changes nothing, so that
/// `--check-config` refuses what the start would.
pub fn check_path(path: &Path) -> anyhow::Result<bool> {
    let shown = path.display();
    let m = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        // Gone since: the next link will tell.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e).with_context(|| format!("control socket {shown}")),
    };
    let t = m.file_type();
    let what = if t.is_socket() {
        if UnixStream::connect(path).is_ok() {
            anyhow::bail!(
                "control socket {shown}: another flowlift is serving it (give --socket PATH)"
            );
        }
        let me = nix::unistd::geteuid().as_raw();
        if m.uid() == me {
            // Nothing serves it and it is ours: a run that died left it.
            return Ok(true);
        }
        format!("a socket of uid {} that nothing serves", m.uid())
    } else if t.is_symlink() {
        match std::fs::read_link(path) {
            Ok(to) => format!("a symbolic link (to {})", to.display()),
            Err(_) => "a symbolic link".into(),
        }
    } else if t.is_dir() {
        "a directory".into()
    } else if t.is_file() {
        "a regular file".into()
    } else if t.is_fifo() {
        "a fifo".into()
    } else if t.is_block_device() || t.is_char_device() {
        "a device".into()
    } else {
        "something".into()
    };
    anyhow::bail!(
        "control socket {shown}: {what} is there; not replacing it (give --socket a free path)"
    )
}

/// A fresh directory (mode 0700) beside the socket's path, where the socket
/// is made before it is linked into place; removed with what it holds when
/// dropped.
struct PrivateDir {
    dir: PathBuf,
    socket: PathBuf,
}

impl PrivateDir {
    fn new(parent: &Path) -> std::io::Result<PrivateDir> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        loop {
            // Short: the socket's path in it must fit sun_path (108 bytes).
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir = parent.join(format!(".fl{}.{n}", std::process::id()));
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {
                    let socket = dir.join("s");
                    return Ok(PrivateDir { dir, socket });
                }
                // Left by a dead process of the same pid: try the next name.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 64 => {}
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.socket);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// The control socket's protocol for the poll loop: a whole line goes to the
/// control core; its answer comes back on a channel of its own.
struct Commands {
    requests: Sender<Request>,
    /// Lines waiting for room in the control core's queue, oldest first.
    queued: VecDeque<(ConnId, Request)>,
    /// Where each line's answer comes, and until when it is waited for.
    waiting: HashMap<ConnId, (Receiver<Reply>, Instant)>,
    /// Who each connection's client is (SO_PEERCRED), until it is gone.
    peers: HashMap<ConnId, String>,
}

impl Commands {
    fn hand_over(&mut self, conn: ConnId, line: String) -> Verdict {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let origin = match self.peers.get(&conn) {
            Some(p) => format!("socket ({p})"),
            None => "socket".to_string(),
        };
        let request = Request {
            line,
            reply: tx,
            origin,
        };
        if self.queued.is_empty() {
            match self.requests.try_send(request) {
                Ok(()) => {}
                Err(TrySendError::Full(r)) => self.queued.push_back((conn, r)),
                Err(TrySendError::Disconnected(_)) => {
                    return Verdict::Answer(not_taking().to_wire());
                }
            }
        } else {
            // Behind the lines already waiting: in order of arrival.
            self.queued.push_back((conn, request));
        }
        self.waiting
            .insert(conn, (rx, Instant::now() + ANSWER_TIMEOUT));
        Verdict::Later
    }
}

fn not_taking() -> Reply {
    Reply::err("the appliance is not taking commands (stopping?)")
}

impl Service for Commands {
    fn examine(&mut self, conn: ConnId, request: &[u8], got: Got) -> Verdict {
        let Some(end) = request.iter().position(|&b| b == b'\n') else {
            let why = match got {
                Got::Data => return Verdict::More,
                Got::End if request.is_empty() => return Verdict::Close,
                Got::End => "the command has no newline at its end; not carried out".into(),
                Got::Full => format!("command longer than {MAX_LINE} bytes; not carried out"),
                Got::Expired => format!(
                    "no whole command line within {} s; not carried out",
                    LINE_WITHIN.as_secs()
                ),
            };
            return Verdict::Answer(Reply::err(why).to_wire());
        };
        let line = &request[..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match std::str::from_utf8(line) {
            Ok(line) => self.hand_over(conn, line.to_string()),
            Err(_) => Verdict::Answer(Reply::err("the command is not UTF-8").to_wire()),
        }
    }

    fn answers(&mut self) -> Vec<(ConnId, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some((conn, request)) = self.queued.pop_front() {
            match self.requests.try_send(request) {
                Ok(()) => {}
                Err(TrySendError::Full(r)) => {
                    self.queued.push_front((conn, r));
                    break;
                }
                Err(TrySendError::Disconnected(_)) => {
                    self.waiting.remove(&conn);
                    out.push((conn, not_taking().to_wire()));
                }
            }
        }
        let now = Instant::now();
        let mut done = Vec::new();
        for (&conn, (rx, until)) in &self.waiting {
            let reply = match rx.try_recv() {
                Ok(reply) => reply,
                Err(TryRecvError::Disconnected) => not_taking(),
                Err(TryRecvError::Empty) if now >= *until => Reply::err(format!(
                    "the appliance did not answer within {} s",
                    ANSWER_TIMEOUT.as_secs()
                )),
                Err(TryRecvError::Empty) => continue,
            };
            done.push(conn);
            out.push((conn, reply.to_wire()));
        }
        for conn in done {
            self.forget(conn);
        }
        out
    }

    fn look_again_in(&self) -> Option<Duration> {
        (!self.waiting.is_empty()).then_some(LOOK_FOR_ANSWERS)
    }

    fn forget(&mut self, conn: ConnId) {
        // A line not yet handed over is not carried out for a client that left.
        self.waiting.remove(&conn);
        self.queued.retain(|(c, _)| *c != conn);
        self.peers.remove(&conn);
    }

    fn accepted(&mut self, conn: ConnId, peer: Option<String>) {
        if let Some(p) = peer {
            self.peers.insert(conn, p);
        }
    }
}

/// Hands a line to the control core and waits for its answer (the shell on
/// the appliance's own terminal).
pub fn ask(requests: &Sender<Request>, line: String) -> Reply {
    let (tx, rx) = crossbeam_channel::bounded(1);
    if requests
        .send_timeout(
            Request {
                line,
                reply: tx,
                origin: "terminal".to_string(),
            },
            ANSWER_TIMEOUT,
        )
        .is_err()
    {
        return not_taking();
    }
    rx.recv_timeout(ANSWER_TIMEOUT)
        .unwrap_or_else(|_| Reply::err("the appliance did not answer"))
}

/// The client side: sends `line` to the socket at `path`, returns the answer.
pub fn send(path: &Path, line: &str) -> anyhow::Result<Reply> {
    let mut stream = UnixStream::connect(path).with_context(|| {
        format!(
            "cannot reach flowlift at {} (is `flowlift run` serving it? see --socket)",
            path.display()
        )
    })?;
    stream
        .set_read_timeout(Some(ANSWER_TIMEOUT + LINE_WITHIN + ANSWER_WITHIN))
        .context("control socket")?;
    writeln!(stream, "{}", line.trim_end()).context("send the command")?;
    let mut text = String::new();
    stream
        .read_to_string(&mut text)
        .context("read the answer")?;
    let (head, body) = text.split_once('\n').unwrap_or((text.as_str(), ""));
    match head {
        "OK" => Ok(Reply::ok(body)),
        "ERR" => Ok(Reply::err(body)),
        other => anyhow::bail!("unexpected answer from {}: {other:?}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    /// A control core that echoes, refusing lines that start with "bad".
    fn echo(requests: Receiver<Request>) {
        std::thread::spawn(move || {
            for r in requests {
                let reply = if r.line.starts_with("bad") {
                    Reply::err(format!("no: {}", r.line))
                } else {
                    Reply::ok(format!("you said {}", r.line))
                };
                let _ = r.reply.send(reply);
            }
        });
    }

    #[test]
    fn one_command_per_connection_with_ok_or_err() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctl.sock");
        let (tx, rx) = request_channel();
        echo(rx);
        let sock = ControlSocket::serve(&path, tx).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            send(&path, "show offload").unwrap(),
            Reply::ok("you said show offload\n")
        );
        assert_eq!(
            send(&path, "bad thing").unwrap(),
            Reply::err("no: bad thing\n")
        );
        // A client that connects and leaves, or leaves mid-line, harms nothing.
        drop(UnixStream::connect(&path).unwrap());
        let mut half = UnixStream::connect(&path).unwrap();
        half.write_all(b"show po").unwrap();
        drop(half);
        assert_eq!(send(&path, "again").unwrap(), Reply::ok("you said again\n"));
        // A second server on the same live socket is refused.
        let (tx2, _rx2) = request_channel();
        let e = ControlSocket::serve(&path, tx2).unwrap_err().to_string();
        assert!(e.contains("another flowlift is serving it"), "{e}");
        drop(sock);
        assert!(!path.exists(), "the socket file goes with the server");
    }

    #[test]
    fn a_stale_socket_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctl.sock");
        drop(UnixListener::bind(&path).unwrap()); // a dead process's socket
        let (tx, rx) = request_channel();
        echo(rx);
        let _sock = ControlSocket::serve(&path, tx).unwrap();
        assert!(send(&path, "hello").unwrap().ok);
    }

    /// A control core that records every line it carries out: `big N`
    /// answers N bytes, anything else is echoed.
    fn recording_core(requests: Receiver<Request>) -> Arc<std::sync::Mutex<Vec<String>>> {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for r in requests {
                log.lock().unwrap().push(r.line.clone());
                let reply = match r.line.strip_prefix("big ") {
                    Some(n) => Reply::ok("x".repeat(n.parse().unwrap())),
                    None => Reply::ok(format!("you said {}", r.line)),
                };
                let _ = r.reply.send(reply);
            }
        });
        seen
    }

    /// The README's promise: an honest client is answered within a second.
    fn served_within_a_second(path: &Path, line: &str) {
        let t = Instant::now();
        let reply = send(path, line).unwrap();
        let took = t.elapsed();
        assert_eq!(reply, Reply::ok(format!("you said {line}\n")));
        assert!(took < Duration::from_secs(1), "{line:?} took {took:?}");
    }

    /// 200 hostile clients, 50 of each kind, held until dropped: connect and
    /// idle; slow senders (a byte every 200 ms, never a newline); half lines
    /// (no newline, held open); non-readers (ask for 1 MiB, read nothing).
    struct Hostile {
        held: Vec<UnixStream>,
        stop: Arc<AtomicBool>,
        dripper: Option<std::thread::JoinHandle<()>>,
    }

    impl Hostile {
        fn connect(path: &Path) -> Hostile {
            let mut held = Vec::new();
            let mut slow = Vec::new();
            for i in 0..200 {
                let mut s = UnixStream::connect(path).unwrap();
                match i % 4 {
                    0 => {}
                    1 => {
                        s.write_all(b"s").unwrap();
                        slow.push(s);
                        continue;
                    }
                    2 => s.write_all(b"show offl").unwrap(),
                    _ => s.write_all(b"big 1048576\n").unwrap(),
                }
                held.push(s);
            }
            let stop = Arc::new(AtomicBool::new(false));
            let st = Arc::clone(&stop);
            let dripper = std::thread::spawn(move || {
                while !st.load(Ordering::SeqCst) {
                    for s in &mut slow {
                        let _ = s.write(b"x");
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            });
            Hostile {
                held,
                stop,
                dripper: Some(dripper),
            }
        }
    }

    impl Drop for Hostile {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            if let Some(t) = self.dripper.take() {
                let _ = t.join();
            }
            self.held.clear();
        }
    }

    #[test]
    fn an_honest_client_is_served_within_a_second_among_200_hostile_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctl.sock");
        let (tx, rx) = request_channel();
        recording_core(rx);
        let _sock = ControlSocket::serve(&path, tx).unwrap();
        let hostile = Hostile::connect(&path);
        // Over several seconds: past the point where the first slow senders
        // and non-readers would have been cut, so both before and after.
        let start = Instant::now();
        let mut n = 0;
        while start.elapsed() < Duration::from_secs(7) {
            served_within_a_second(&path, &format!("honest {n}"));
            n += 1;
            std::thread::sleep(Duration::from_millis(250));
        }
        drop(hostile);
        served_within_a_second(&path, "after");
    }

    #[test]
    fn a_line_without_its_newline_is_not_carried_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctl.sock");
        let (tx, rx) = request_channel();
        let seen = recording_core(rx);
        let _sock = ControlSocket::serve(&path, tx).unwrap();
        // Closed after half a line.
        let mut gone = UnixStream::connect(&path).unwrap();
        gone.write_all(b"quit").unwrap();
        drop(gone);
        // Half a line, then the write side shut: told so, not carried out.
        let mut half = UnixStream::connect(&path).unwrap();
        half.write_all(b"stop").unwrap();
        half.shutdown(std::net::Shutdown::Write).unwrap();
        let mut answer = String::new();
        half.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("ERR\n"), "{answer:?}");
        assert_eq!(answer.lines().count(), 2, "{answer:?}");
        // A whole line with the write side shut is carried out.
        let mut whole = UnixStream::connect(&path).unwrap();
        whole.write_all(b"whole\n").unwrap();
        whole.shutdown(std::net::Shutdown::Write).unwrap();
        let mut answer = String::new();
        whole.read_to_string(&mut answer).unwrap();
        assert_eq!(answer, "OK\nyou said whole\n");
        served_within_a_second(&path, "last");
        assert_eq!(*seen.lock().unwrap(), ["whole", "last"]);
    }

    /// The README's deadlines: a whole line within 5 s, a whole answer
    /// written within 10 s.
    const LINE_WITHIN: Duration = Duration::from_secs(5);
    const ANSWER_WITHIN: Duration = Duration::from_secs(10);

    #[test]
    fn a_slow_sender_is_cut_at_the_whole_line_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctl.sock");
        let (tx, rx) = request_channel();
        let seen = recording_core(rx);
        let _sock = ControlSocket::serve(&path, tx).unwrap();
        let mut slow = UnixStream::connect(&path).unwrap();
        slow.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        // A byte every 300 ms (each read well within any per-read timeout),
        // never a newline, until the server gives up on it.
        let (_, answer) = crate::poll_server::hostile::trickle_until_cut(&mut slow, LINE_WITHIN);
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.is_empty() || answer.starts_with("ERR\n"),
            "{answer:?}"
        );
        assert!(seen.lock().unwrap().is_empty(), "nothing carried out");
    }

    #[test]
    fn a_non_reader_is_cut_at_the_whole_answer_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctl.sock");
        let (tx, rx) = request_channel();
        recording_core(rx);
        let _sock = ControlSocket::serve(&path, tx).unwrap();
        let size = 64 << 20;
        let mut lazy = UnixStream::connect(&path).unwrap();
        writeln!(lazy, "big {size}").unwrap();
        // Reads nothing until well past the deadline: by then the server has
        // given up and closed, so the rest of the answer never comes.
        std::thread::sleep(ANSWER_WITHIN + Duration::from_secs(3));
        lazy.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut got = Vec::new();
        let _ = lazy.read_to_end(&mut got);
        assert!(
            got.len() < size,
            "the whole answer ({} bytes) came after the deadline",
            got.len()
        );
    }

    /// What a refused `serve` left at `path`: one line naming it.
    fn refused(path: &Path, want: &str) {
        let (tx, _rx) = request_channel();
        let e = format!("{:#}", ControlSocket::serve(path, tx).unwrap_err());
        assert!(e.contains(&path.display().to_string()), "{e}");
        assert!(e.contains(want), "{want:?} in {e}");
        assert_eq!(e.lines().count(), 1, "{e}");
    }

    #[test]
    fn only_a_stale_socket_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("file"), "precious").unwrap();
        refused(&d.join("file"), "a regular file");
        std::os::unix::fs::symlink(d.join("file"), d.join("link")).unwrap();
        refused(&d.join("link"), "a symbolic link");
        std::os::unix::fs::symlink(d.join("nowhere"), d.join("dangling")).unwrap();
        refused(&d.join("dangling"), "a symbolic link");
        std::fs::create_dir(d.join("dir")).unwrap();
        refused(&d.join("dir"), "a directory");
        nix::unistd::mkfifo(&d.join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        refused(&d.join("fifo"), "a fifo");
        // All still there, untouched.
        assert_eq!(std::fs::read_to_string(d.join("file")).unwrap(), "precious");
        assert_eq!(std::fs::read_to_string(d.join("link")).unwrap(), "precious");
        let kind = |p: &str| std::fs::symlink_metadata(d.join(p)).unwrap().file_type();
        assert!(kind("link").is_symlink() && kind("dangling").is_symlink());
        assert!(kind("dir").is_dir());
        assert!(std::os::unix::fs::FileTypeExt::is_fifo(&kind("fifo")));
    }

    #[test]
    fn a_directory_anyone_may_write_to_is_refused_unless_sticky() {
        let dir = tempfile::tempdir().unwrap();
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        refused(&open.join("ctl.sock"), "writable by anyone");
        // Sticky, as /tmp: others cannot remove or rename what is ours.
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let (tx, rx) = request_channel();
        echo(rx);
        let _sock = ControlSocket::serve(&open.join("ctl.sock"), tx).unwrap();
        assert!(send(&open.join("ctl.sock"), "hi").unwrap().ok);
    }

    #[test]
    fn another_users_stale_socket_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctl.sock");
        drop(UnixListener::bind(&path).unwrap());
        if std::os::unix::fs::chown(&path, Some(65534), None).is_err() {
            eprintln!("skipped: giving a file away needs root");
            return;
        }
        refused(&path, "a socket of uid 65534 that nothing serves");
        assert_eq!(std::fs::symlink_metadata(&path).unwrap().uid(), 65534);
    }

    #[test]
    fn the_socket_appears_whole_and_leaves_nothing_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctl.sock");
        let (tx, rx) = request_channel();
        echo(rx);
        let sock = ControlSocket::serve(&path, tx).unwrap();
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["ctl.sock"], "no private directory left");
        // A file put in its place since is not the server's to remove.
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, "someone else's").unwrap();
        drop(sock);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "someone else's");
    }

    #[test]
    fn a_missing_directory_is_made_owner_and_group_only_one_level_deep() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/ctl.sock");
        let (tx, rx) = request_channel();
        echo(rx);
        let sock = ControlSocket::serve(&path, tx).unwrap();
        let made = std::fs::metadata(dir.path().join("run")).unwrap();
        assert_eq!(made.permissions().mode() & 0o777, 0o750);
        drop(sock);
        let (tx, _rx) = request_channel();
        let deeper = dir.path().join("a/b/ctl.sock");
        let e = ControlSocket::serve(&deeper, tx).err().unwrap();
        assert!(format!("{e:#}").contains("make its directory"), "{e:#}");
    }

    #[test]
    fn no_server_is_a_clear_error() {
        let e = send(Path::new("/nonexistent/flowlift.sock"), "show offload")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cannot reach flowlift at /nonexistent/flowlift.sock"),
            "{e}"
        );
    }
}
