//! systemd's notify protocol (`sd_notify(3)`), by hand over its datagram
//! socket: `READY=1` once the appliance forwards, `STATUS=` with each status
//! line, `WATCHDOG=1` while the control loop turns, `STOPPING=1` at shutdown.
//!
//! Under a `Type=notify` unit systemd passes the socket in `NOTIFY_SOCKET` (a
//! path, or an abstract name written with a leading `@`) and, with
//! `WatchdogSec=`, the period in `WATCHDOG_USEC` (for the process named in
//! `WATCHDOG_PID`, if set). Outside systemd there is no socket and every call
//! does nothing. A message that cannot be sent is dropped: systemd's own
//! library ignores such failures too, and the appliance must not stop
//! forwarding because its supervisor went away.

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::{Duration, Instant};

/// A connection to systemd's notify socket.
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    to: SocketAddr,
    /// How often `WATCHDOG=1` is due (half systemd's timeout), if asked for.
    watchdog_every: Option<Duration>,
    last_watchdog: Option<Instant>,
}

impl Notifier {
    /// The notifier systemd's environment describes; `None` outside systemd
    /// (or with a socket address it cannot use, said on stderr once).
    pub fn from_env() -> Option<Notifier> {
        let path = std::env::var_os("NOTIFY_SOCKET")?;
        let watchdog = watchdog_from_env();
        match Notifier::new(&path.to_string_lossy(), watchdog) {
            Ok(n) => Some(n),
            Err(e) => {
                tracing::warn!(target: "control", socket = ?path, error = %e,
                    "NOTIFY_SOCKET {path:?}: {e}; not notifying systemd");
                None
            }
        }
    }

    /// A notifier sending to `address` (a path, or `@name` for an abstract
    /// socket); `watchdog` is systemd's watchdog timeout, if any.
    pub fn new(address: &str, watchdog: Option<Duration>) -> std::io::Result<Notifier> {
        let to = match address.strip_prefix('@') {
            Some(name) => abstract_address(name)?,
            None => SocketAddr::from_pathname(address)?,
        };
        Ok(Notifier {
            socket: UnixDatagram::unbound()?,
            to,
            watchdog_every: watchdog.map(|t| t / 2),
            last_watchdog: None,
        })
    }

    /// The appliance forwards: ports up, workers launched, a first tick run.
    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={}", one_line(status)));
    }

    /// A reload begins (SIGHUP); [`Notifier::ready`] says it ended. (systemd
    /// 253's `Type=notify-reload` also wants `MONOTONIC_USEC`; Debian 12's
    /// systemd 252 runs the unit as `Type=notify` with `ExecReload=` and
    /// takes the pair as information.)
    pub fn reloading(&self) {
        self.send("RELOADING=1");
    }

    /// What `systemctl status` shows.
    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={}", one_line(status)));
    }

    /// Called each turn of the control loop: sends `WATCHDOG=1` when due. A
    /// loop that stops turning stops sending it, and systemd restarts the
    /// appliance.
    pub fn alive(&mut self, now: Instant) {
        let Some(every) = self.watchdog_every else {
            return;
        };
        if self
            .last_watchdog
            .is_none_or(|t| now.duration_since(t) >= every)
        {
            self.send("WATCHDOG=1");
            self.last_watchdog = Some(now);
        }
    }

    /// The appliance is shutting down.
    pub fn stopping(&self) {
        self.send("STOPPING=1");
    }

    fn send(&self, message: &str) {
        let _ = self.socket.send_to_addr(message.as_bytes(), &self.to);
    }
}

/// `WATCHDOG_USEC`, if it is set for this process (`WATCHDOG_PID` unset or
/// ours).
fn watchdog_from_env() -> Option<Duration> {
    if let Some(pid) = std::env::var_os("WATCHDOG_PID") {
        if pid.to_string_lossy().parse::<u32>().ok() != Some(std::process::id()) {
            return None;
        }
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec))
}

#[cfg(target_os = "linux")]
fn abstract_address(name: &str) -> std::io::Result<SocketAddr> {
    use std::os::linux::net::SocketAddrExt;
    SocketAddr::from_abstract_name(name.as_bytes())
}

#[cfg(not(target_os = "linux"))]
fn abstract_address(_name: &str) -> std::io::Result<SocketAddr> {
    Err(std::io::Error::other("abstract sockets are Linux's"))
}

/// A status is one line in systemd's protocol (a newline starts another
/// assignment).
fn one_line(s: &str) -> String {
    s.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener() -> (tempfile::TempDir, UnixDatagram, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        (dir, sock, path.to_string_lossy().into_owned())
    }

    fn next(sock: &UnixDatagram) -> String {
        let mut buf = [0u8; 4096];
        let n = sock.recv(&mut buf).expect("a datagram");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn ready_status_and_stopping_reach_the_socket_as_systemd_reads_them() {
        let (_dir, sock, path) = listener();
        let n = Notifier::new(&path, None).unwrap();
        n.ready("forwarding\non 2 ports");
        assert_eq!(next(&sock), "READY=1\nSTATUS=forwarding on 2 ports");
        n.status("[ 1s] rx 1.00 Mpps");
        assert_eq!(next(&sock), "STATUS=[ 1s] rx 1.00 Mpps");
        n.stopping();
        assert_eq!(next(&sock), "STOPPING=1");
    }

    #[test]
    fn the_watchdog_is_fed_at_half_its_timeout_and_only_when_asked_for() {
        let (_dir, sock, path) = listener();
        let mut n = Notifier::new(&path, Some(Duration::from_secs(2))).unwrap();
        let t0 = Instant::now();
        n.alive(t0);
        assert_eq!(next(&sock), "WATCHDOG=1");
        n.alive(t0 + Duration::from_millis(500)); // not due
        n.alive(t0 + Duration::from_millis(1000)); // due
        n.status("marker");
        assert_eq!(next(&sock), "WATCHDOG=1");
        assert_eq!(next(&sock), "STATUS=marker", "one feed per half timeout");
        let (_dir2, sock2, path2) = listener();
        let mut off = Notifier::new(&path2, None).unwrap();
        off.alive(t0);
        off.status("only this");
        assert_eq!(
            next(&sock2),
            "STATUS=only this",
            "no watchdog without WATCHDOG_USEC"
        );
    }

    #[test]
    fn an_abstract_socket_is_named_with_an_at_sign() {
        let name = format!("flowlift-notify-test-{}", std::process::id());
        let addr = abstract_address(&name).unwrap();
        let sock = UnixDatagram::bind_addr(&addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Notifier::new(&format!("@{name}"), None).unwrap().stopping();
        assert_eq!(next(&sock), "STOPPING=1");
    }
}
