//! The control socket: a Unix stream socket (mode 0600) taking one command per
//! connection. The client writes one line; the server answers `OK` or `ERR` on
//! the first line, then the command's output, and closes. Each connection is
//! served by a short-lived thread that hands the line to the control core and
//! waits for its answer, so a slow, silent or vanishing client never holds up
//! the control core, and none of this is near a worker.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use crossbeam_channel::{Receiver, Sender};

/// A command line for the control core, and where its answer goes.
#[derive(Debug)]
pub struct Request {
    pub line: String,
    pub reply: Sender<Reply>,
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
}

/// Longest command line accepted.
const MAX_LINE: u64 = 64 * 1024;
/// How long a client may take to send its line.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the control core may take to answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served at once; more wait in the listen queue.
const MAX_CLIENTS: usize = 16;

/// The channel from the shells to the control core.
pub fn request_channel() -> (Sender<Request>, Receiver<Request>) {
    crossbeam_channel::bounded(64)
}

/// The listening socket; removes its file when dropped.
#[derive(Debug)]
pub struct ControlSocket {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ControlSocket {
    /// Listens on `path` (a stale socket file from a dead process is
    /// replaced; a live one is refused), mode 0600, handing lines to
    /// `requests`.
    pub fn serve(path: &Path, requests: Sender<Request>) -> anyhow::Result<ControlSocket> {
        if path.exists() {
            if UnixStream::connect(path).is_ok() {
                anyhow::bail!(
                    "control socket {}: another flowlift is serving it (give --socket PATH)",
                    path.display()
                );
            }
            std::fs::remove_file(path)
                .with_context(|| format!("remove stale control socket {}", path.display()))?;
        }
        let listener = UnixListener::bind(path)
            .with_context(|| format!("control socket {}", path.display()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("control socket {}: chmod 0600", path.display()))?;
        listener
            .set_nonblocking(true)
            .context("control socket: non-blocking accept")?;
        let stop = Arc::new(AtomicBool::new(false));
        let st = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("flowlift-ctl".into())
            .spawn(move || accept_loop(&listener, &requests, &st))
            .context("control socket thread")?;
        Ok(ControlSocket {
            path: path.to_owned(),
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn accept_loop(listener: &UnixListener, requests: &Sender<Request>, stop: &AtomicBool) {
    let active = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                if active.load(Ordering::SeqCst) >= MAX_CLIENTS {
                    let _ = answer(&stream, &Reply::err("too many clients; try again"));
                    continue;
                }
                active.fetch_add(1, Ordering::SeqCst);
                let (requests, mine) = (requests.clone(), Arc::clone(&active));
                let spawned = std::thread::Builder::new()
                    .name("flowlift-ctl-client".into())
                    .spawn(move || {
                        serve_client(stream, &requests);
                        mine.fetch_sub(1, Ordering::SeqCst);
                    });
                if spawned.is_err() {
                    active.fetch_sub(1, Ordering::SeqCst);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Reads one line, asks the control core, writes its answer. Any I/O failure
/// (a client that left) just ends the connection.
fn serve_client(stream: UnixStream, requests: &Sender<Request>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let mut line = String::new();
    let read = BufReader::new((&stream).take(MAX_LINE)).read_line(&mut line);
    let reply = match read {
        Ok(0) => return, // connected and left
        Ok(_) if !line.ends_with('\n') && line.len() as u64 >= MAX_LINE => {
            Reply::err(format!("command longer than {MAX_LINE} bytes"))
        }
        Ok(_) => ask(requests, line.trim_end_matches(['\n', '\r']).to_string()),
        Err(e) => Reply::err(format!("reading the command: {e}")),
    };
    let _ = answer(&stream, &reply);
}

/// Hands a line to the control core and waits for its answer.
pub fn ask(requests: &Sender<Request>, line: String) -> Reply {
    let (tx, rx) = crossbeam_channel::bounded(1);
    if requests
        .send_timeout(Request { line, reply: tx }, ANSWER_TIMEOUT)
        .is_err()
    {
        return Reply::err("the appliance is not taking commands (stopping?)");
    }
    rx.recv_timeout(ANSWER_TIMEOUT)
        .unwrap_or_else(|_| Reply::err("the appliance did not answer"))
}

fn answer(mut stream: &UnixStream, reply: &Reply) -> std::io::Result<()> {
    let head = if reply.ok { "OK" } else { "ERR" };
    write!(stream, "{head}\n{}", reply.text)?;
    if !reply.text.ends_with('\n') && !reply.text.is_empty() {
        stream.write_all(b"\n")?;
    }
    stream.flush()
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
        .set_read_timeout(Some(ANSWER_TIMEOUT + READ_TIMEOUT))
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
