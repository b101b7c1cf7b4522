//! The HTTP server for `/metrics`: `GET /metrics` answers the Prometheus text
//! of [`crate::metrics::render`], `GET /` a pointer to it, anything else 404;
//! one request per connection (`Connection: close`).
//!
//! Scrapes are served by one thread through poll(2) ([`crate::poll_server`],
//! whose doc says why not a thread per client): a scrape is answered as soon
//! as its request head is in, whatever other clients do. Each connection has
//! a deadline for its whole request head ([`HEAD_WITHIN`]) and one for taking
//! its whole answer ([`ANSWER_WITHIN`]); at most [`MAX_CLIENTS`] are held,
//! and one more closes the longest-connected.
//!
//! There is no authentication and no TLS: whoever reaches the address reads
//! the counters. The default address is loopback; any other is warned about
//! on stderr at start-up ([`exposure_warning`]).

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::metrics::{render, Sources};
use crate::poll_server::{ConnId, Got, Limits, PollServer, Service, Verdict};

/// Longest request head read; a longer one is answered 431.
pub const MAX_HEAD: usize = 8 * 1024;
/// From connecting to the end of the request head (a deadline for the whole
/// head, not per read); Prometheus sends its head at once.
pub const HEAD_WITHIN: Duration = Duration::from_secs(5);
/// From the answer being ready to its last byte taken.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(10);
/// Connections held at once; one more closes the longest-connected.
pub const MAX_CLIENTS: usize = 256;

/// The HTTP server for `/metrics`; stops with its thread when dropped.
#[derive(Debug)]
pub struct MetricsServer {
    pub addr: SocketAddr,
    _server: PollServer,
}

impl MetricsServer {
    /// Serves `/metrics` on `addr` (`127.0.0.1:9464`; port 0 picks one),
    /// with a warning on stderr if that is beyond loopback.
    pub fn serve(addr: &str, sources: Arc<Sources>) -> anyhow::Result<MetricsServer> {
        let listener =
            TcpListener::bind(addr).with_context(|| format!("metrics address {addr}"))?;
        listener.set_nonblocking(true).context("metrics listener")?;
        let local = listener.local_addr().context("metrics listener")?;
        if let Some(warning) = exposure_warning(local) {
            tracing::warn!(target: "control", addr = %local, "{warning}");
        }
        let limits = Limits {
            max_clients: MAX_CLIENTS,
            max_request: MAX_HEAD,
            request_within: HEAD_WITHIN,
            answer_within: ANSWER_WITHIN,
        };
        let server = PollServer::start("flowlift-metrics", listener, Scrapes { sources }, limits)
            .context("metrics thread")?;
        Ok(MetricsServer {
            addr: local,
            _server: server,
        })
    }
}

/// What to say when `/metrics` listens on `addr`: nothing on loopback; on
/// any other address (0.0.0.0 and :: included) that anyone who reaches it
/// reads the counters.
pub fn exposure_warning(addr: SocketAddr) -> Option<String> {
    if addr.ip().to_canonical().is_loopback() {
        return None;
    }
    Some(format!(
        "/metrics listens on {addr}, beyond loopback, with no authentication or TLS: anyone who reaches it reads the appliance's counters (put it behind a proxy or firewall, or give --metrics 127.0.0.1:PORT)"
    ))
}

/// The HTTP protocol for the poll loop: every answer is made at once.
struct Scrapes {
    sources: Arc<Sources>,
}

/// Where a request head ends (after its blank line), if it does.
fn head_end(request: &[u8]) -> Option<usize> {
    let crlf = request.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = request.windows(2).position(|w| w == b"\n\n");
    match (crlf, lf) {
        (Some(a), Some(b)) => Some((a + 4).min(b + 2)),
        (a, b) => a.map(|a| a + 4).or(b.map(|b| b + 2)),
    }
}

impl Scrapes {
    /// The answer to the request whose head is `head`.
    fn respond(&self, head: &[u8]) -> Vec<u8> {
        let line = String::from_utf8_lossy(head);
        let target = line.split_whitespace().take(2).collect::<Vec<_>>();
        match target.as_slice() {
            ["GET", path] if path.split('?').next() == Some("/metrics") => http(
                "200 OK",
                "text/plain; version=0.0.4; charset=utf-8",
                &render(&self.sources),
            ),
            ["GET", "/"] => http(
                "200 OK",
                "text/plain; charset=utf-8",
                "flowlift: metrics at /metrics\n",
            ),
            _ => http(
                "404 Not Found",
                "text/plain; charset=utf-8",
                "not found: try GET /metrics\n",
            ),
        }
    }
}

fn http(status: &str, ctype: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

impl Service for Scrapes {
    fn examine(&mut self, _conn: ConnId, request: &[u8], got: Got) -> Verdict {
        if let Some(end) = head_end(request) {
            return Verdict::Answer(self.respond(&request[..end]));
        }
        match got {
            Got::Data => Verdict::More,
            // A client that sent its request line and shut its side is
            // answered (`printf 'GET /metrics\n\n'` without the blank line).
            Got::End if request.contains(&b'\n') => Verdict::Answer(self.respond(request)),
            Got::End => Verdict::Close,
            Got::Full => Verdict::Answer(http(
                "431 Request Header Fields Too Large",
                "text/plain; charset=utf-8",
                "request head too large\n",
            )),
            Got::Expired => Verdict::Answer(http(
                "408 Request Timeout",
                "text/plain; charset=utf-8",
                "no whole request in time\n",
            )),
        }
    }

    fn answers(&mut self) -> Vec<(ConnId, Vec<u8>)> {
        Vec::new()
    }

    fn look_again_in(&self) -> Option<Duration> {
        None
    }

    fn forget(&mut self, _conn: ConnId) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::sync::atomic::Ordering::Relaxed;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;

    use flowlift_dataplane::stats::WorkerStats;

    use crate::metrics::ControlSnapshot;

    fn sources() -> Arc<Sources> {
        let w = Arc::new(WorkerStats::new(2));
        w.ports[0].rx_packets.store(10, Relaxed);
        Arc::new(Sources {
            port_names: vec!["uplink".into(), "vf1".into()],
            workers: vec![(1, w)],
            table_capacity: 1024,
            tsc_hz: 1_000_000,
            snapshot: Arc::new(Mutex::new(ControlSnapshot::default())),
        })
    }

    #[test]
    fn beyond_loopback_is_warned_about() {
        let warn = |a: &str| exposure_warning(a.parse().unwrap());
        assert_eq!(warn("127.0.0.1:9464"), None);
        assert_eq!(warn("127.1.2.3:9464"), None);
        assert_eq!(warn("[::1]:9464"), None);
        assert_eq!(warn("[::ffff:127.0.0.1]:9464"), None);
        for a in [
            "0.0.0.0:9464",
            "[::]:9464",
            "10.1.2.3:9464",
            "[fe80::1]:9464",
        ] {
            let w = warn(a).unwrap_or_else(|| panic!("no warning for {a}"));
            assert!(w.contains(a) && w.contains("loopback"), "{w}");
            assert_eq!(w.lines().count(), 1, "{w}");
        }
    }

    #[test]
    fn the_answer_is_what_it_was() {
        let s = sources();
        let body = render(&s);
        let mut scrapes = Scrapes { sources: s };
        let want = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let head = b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n";
        assert_eq!(
            scrapes.examine(0, head, Got::Data),
            Verdict::Answer(want.into_bytes())
        );
        assert_eq!(
            scrapes.examine(0, &head[..30], Got::Data),
            Verdict::More,
            "half a head"
        );
        assert_eq!(scrapes.examine(0, b"GET /met", Got::End), Verdict::Close);
    }

    #[test]
    fn the_server_answers_metrics_and_404() {
        let server = MetricsServer::serve("127.0.0.1:0", sources()).unwrap();
        let get = |path: &str| {
            let mut s = TcpStream::connect(server.addr).unwrap();
            write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            out
        };
        let m = get("/metrics");
        assert!(m.starts_with("HTTP/1.1 200 OK"), "{m}");
        assert!(m.contains("flowlift_port_rx_packets_total"));
        assert!(get("/nope").starts_with("HTTP/1.1 404"));
        // A client that connects and says nothing does not stop the server.
        let idle = TcpStream::connect(server.addr).unwrap();
        drop(idle);
        assert!(get("/metrics").starts_with("HTTP/1.1 200 OK"));
    }

    /// The README's promise: an honest scrape is answered within a second.
    fn scraped_within_a_second(addr: std::net::SocketAddr) {
        let t = std::time::Instant::now();
        let mut s = TcpStream::connect(addr).unwrap();
        write!(s, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let took = t.elapsed();
        assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
        assert!(out.contains("flowlift_port_rx_packets_total"), "{out}");
        assert!(took < Duration::from_secs(1), "the scrape took {took:?}");
    }

    #[test]
    fn an_honest_scrape_is_served_within_a_second_among_200_hostile_clients() {
        let server = MetricsServer::serve("127.0.0.1:0", sources()).unwrap();
        let mut held = Vec::new();
        let mut slow = Vec::new();
        // 50 of each: connect and idle; slow senders (a byte every 200 ms,
        // never the end of the head); half heads, held open; non-readers.
        for i in 0..200 {
            let mut s = TcpStream::connect(server.addr).unwrap();
            match i % 4 {
                0 => {}
                1 => {
                    s.write_all(b"GET /metrics HTTP/1.1\r\nX: ").unwrap();
                    slow.push(s);
                    continue;
                }
                2 => s.write_all(b"GET /metrics HTTP/1.1\r\n").unwrap(),
                _ => s.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap(),
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
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_secs(7) {
            scraped_within_a_second(server.addr);
            std::thread::sleep(Duration::from_millis(250));
        }
        stop.store(true, Ordering::SeqCst);
        dripper.join().unwrap();
        drop(held);
        scraped_within_a_second(server.addr);
    }

    #[test]
    fn a_slow_sender_is_cut_at_the_whole_head_deadline() {
        // The README's deadline for a whole request head.
        let within = Duration::from_secs(5);
        let server = MetricsServer::serve("127.0.0.1:0", sources()).unwrap();
        let mut slow = TcpStream::connect(server.addr).unwrap();
        slow.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        slow.write_all(b"GET /metrics HTTP/1.1\r\nX: ").unwrap();
        let (_, answer) = crate::poll_server::hostile::trickle_until_cut(&mut slow, within);
        let answer = String::from_utf8_lossy(&answer);
        assert!(!answer.contains("200 OK"), "{answer:?}");
    }
}
