//! The control socket and `/metrics` against hostile local clients, end to
//! end on the real binary: `--socket` never removes what is not a stale
//! socket; 200 hostile clients on each interface (connect and idle, slow
//! senders, half lines, non-readers) lock out neither `flowlift shell` nor a
//! scrape; a line whose client closed before its newline is not carried out;
//! `/metrics` beyond loopback is warned about. (The bulk of the abuse is unit
//! tested against `ControlSocket` and the metrics server with a fake control
//! core; this checks that the appliance is wired to them.)

use std::io::Write;
use std::net::TcpStream;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flowlift_operator::shell::socket::{send, Reply};
use flowlift_tests::{describe, flowlift, one_at_a_time, shell, Background};
use flowlift_traffic::{generate, TrafficSpec};

/// A small capture in `dir`.
fn capture(dir: &Path) -> PathBuf {
    let input = dir.join("in.pcap");
    let spec = TrafficSpec {
        flows: 50,
        packets: 1000,
        ..TrafficSpec::default()
    };
    generate(&spec, &input).unwrap();
    input
}

/// The appliance replaying `input` (endlessly, for up to two minutes) with
/// its control socket at `sock` and /metrics on `metrics`.
fn serve(input: &Path, sock: &Path, metrics: &str) -> Background {
    Background::start(&[
        "run",
        "--replay",
        input.to_str().unwrap(),
        "--loops",
        "0",
        "--duration",
        "120",
        "--socket",
        sock.to_str().unwrap(),
        "--metrics",
        metrics,
    ])
}

/// The metrics address `app` printed.
fn metrics_addr(app: &mut Background) -> String {
    app.wait_for("metrics on http://", Duration::from_secs(60))
        .trim_start_matches("metrics on http://")
        .trim_end_matches("/metrics")
        .to_string()
}

/// `flowlift run` with its socket at `sock`, which must be refused in one
/// line naming `sock` and `what` is there.
fn refused(input: &Path, sock: &Path, what: &str) {
    let out = flowlift(&[
        "run",
        "--replay",
        input.to_str().unwrap(),
        "--loops",
        "1",
        "--socket",
        sock.to_str().unwrap(),
        "--metrics",
        "",
    ]);
    assert!(!out.status.success(), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim().lines().count(),
        1,
        "one line: {}",
        describe(&out)
    );
    assert!(
        err.contains(&sock.display().to_string()) && err.contains(what),
        "{sock:?} and {what:?} in {err:?}"
    );
}

#[test]
fn a_socket_path_that_is_not_a_stale_socket_is_refused_and_left_alone() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = capture(d);
    let file = d.join("precious.txt");
    std::fs::write(&file, "precious").unwrap();
    refused(&input, &file, "a regular file");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "precious");

    let link = d.join("link.sock");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    refused(&input, &link, "a symbolic link");
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read_link(&link).unwrap(), file);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "precious");
}

#[test]
fn a_stale_socket_is_replaced_and_metrics_beyond_loopback_are_warned_about() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let input = capture(dir.path());
    let sock = dir.path().join("ctl.sock");
    drop(UnixListener::bind(&sock).unwrap()); // a dead run's socket
    let mut app = serve(&input, &sock, "0.0.0.0:0");
    app.wait_for("control socket", Duration::from_secs(60));
    let (good, text) = shell(&sock, "show offload");
    assert!(good, "{text}");
    assert!(shell(&sock, "quit").0);
    let (status, stdout, stderr) = app.finish(Duration::from_secs(60));
    assert!(status.success(), "{stdout}\n{stderr}");
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("metrics")).collect();
    assert_eq!(warnings.len(), 1, "one warning line: {stderr}");
    assert!(
        warnings[0].contains("0.0.0.0") && warnings[0].contains("loopback"),
        "{stderr}"
    );
}

/// 200 hostile clients of one interface, 50 of each kind, held until
/// dropped: connect and idle; slow senders (a byte every 200 ms, never the
/// end of the request); half requests held open; non-readers (a whole
/// request, nothing read).
struct Hostile<S: Write + Send + 'static> {
    held: Vec<S>,
    stop: Arc<AtomicBool>,
    dripper: Option<std::thread::JoinHandle<()>>,
}

impl<S: Write + Send + 'static> Hostile<S> {
    fn connect(mut open: impl FnMut() -> S, half: &[u8], whole: &[u8]) -> Hostile<S> {
        let mut held = Vec::new();
        let mut slow = Vec::new();
        for i in 0..200 {
            let mut s = open();
            match i % 4 {
                0 => {}
                1 => {
                    s.write_all(half).unwrap();
                    slow.push(s);
                    continue;
                }
                2 => s.write_all(half).unwrap(),
                _ => s.write_all(whole).unwrap(),
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

impl<S: Write + Send + 'static> Drop for Hostile<S> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.dripper.take() {
            let _ = t.join();
        }
        self.held.clear();
    }
}

fn scrape(addr: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect to /metrics");
    write!(s, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut out = String::new();
    std::io::Read::read_to_string(&mut s, &mut out).unwrap();
    out
}

#[test]
fn hostile_clients_lock_out_neither_the_shell_nor_metrics() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let input = capture(dir.path());
    let sock = dir.path().join("ctl.sock");
    let mut app = serve(&input, &sock, "127.0.0.1:0");
    app.wait_for("control socket", Duration::from_secs(60));
    let addr = metrics_addr(&mut app);

    // Clients that send `quit` without its newline and leave: never carried out.
    for _ in 0..20 {
        let mut q = UnixStream::connect(&sock).unwrap();
        q.write_all(b"quit").unwrap();
    }
    let on_socket = Hostile::connect(
        || UnixStream::connect(&sock).unwrap(),
        b"quit",
        b"dump-flows\n",
    );
    let on_metrics = Hostile::connect(
        || TcpStream::connect(&addr).unwrap(),
        b"GET /metrics HTTP/1.1\r\nX: ",
        b"GET /metrics HTTP/1.1\r\n\r\n",
    );

    // For longer than the whole-line deadline (5 s), so before and after the
    // first hostile clients are cut: each honest client within a second.
    let second = Duration::from_secs(1);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(7) {
        let t = Instant::now();
        let reply = send(&sock, "show offload").unwrap();
        let took = t.elapsed();
        assert!(reply.ok, "refused: {reply:?}");
        assert!(reply.text.contains("Offload backend"), "{reply:?}");
        assert!(took < second, "the shell took {took:?}");

        let t = Instant::now();
        let m = scrape(&addr);
        let took = t.elapsed();
        assert!(m.starts_with("HTTP/1.1 200 OK"), "{m}");
        assert!(m.contains("flowlift_port_rx_packets_total"), "{m}");
        assert!(took < second, "the scrape took {took:?}");
        std::thread::sleep(Duration::from_millis(300));
    }
    drop(on_socket);
    drop(on_metrics);
    assert!(
        app.child.try_wait().unwrap().is_none(),
        "a `quit` without its newline stopped the appliance:\n{}",
        app.stdout()
    );
    assert_eq!(
        send(&sock, "quit").unwrap(),
        Reply::ok("Stopping the appliance\n"),
        "carried out once whole"
    );
    let (status, stdout, stderr) = app.finish(Duration::from_secs(60));
    assert!(status.success(), "{stdout}\n{stderr}");
    assert!(
        !stderr.contains("loopback"),
        "no warning on 127.0.0.1: {stderr}"
    );
}
