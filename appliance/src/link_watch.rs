//! Each port's link, as the control loop reads it about once a second
//! (`rte_eth_link_get_nowait`, which does not wait for the device), with a
//! log line (target `ports`) when it changes: a VF whose link goes down
//! stops taking what is forwarded to it, and that is the first thing an
//! operator asks about. Only changes are logged, never a steady state.

use std::time::{Duration, Instant};

use rte::{Link, Port};

/// How often the links are read.
pub const EVERY: Duration = Duration::from_secs(1);

/// A port's link as last read: `None` when the read failed.
type Reading = Option<Link>;

/// The links of the appliance's ports.
#[derive(Debug)]
pub struct LinkWatch {
    names: Vec<String>,
    last: Vec<Reading>,
    next: Instant,
}

/// A change of one port's link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub port: usize,
    pub was: Reading,
    pub now: Reading,
}

impl LinkWatch {
    /// Watches ports named `names`, whose links were `first` at `now`.
    pub fn new(names: Vec<String>, first: Vec<Reading>, now: Instant) -> Self {
        LinkWatch {
            names,
            last: first,
            next: now + EVERY,
        }
    }

    /// Notes port `port`'s new reading; the change, if it is one. Speed and
    /// duplex count as changes only while the link is up (a down link's
    /// speed means nothing).
    pub fn observe(&mut self, port: usize, now: Reading) -> Option<Change> {
        let was = *self.last.get(port)?;
        self.last[port] = now;
        let same = match (was, now) {
            (Some(a), Some(b)) if !a.up && !b.up => true,
            (a, b) => a == b,
        };
        (!same).then_some(Change { port, was, now })
    }

    /// Reads every port's link if a second has passed since the last
    /// reading, and logs what changed.
    pub fn poll(&mut self, ports: &[Port], now: Instant) {
        if now < self.next {
            return;
        }
        self.next = now + EVERY;
        for (i, p) in ports.iter().enumerate() {
            if let Some(c) = self.observe(i, p.link().ok()) {
                self.log(c, p.id().0);
            }
        }
    }

    fn log(&self, c: Change, port_id: u16) {
        let name = self.names.get(c.port).map_or("?", String::as_str);
        match c.now {
            Some(l) if l.up => tracing::info!(target: "ports", port = name, port_id,
                link = "up", speed_mbps = l.speed_mbps, full_duplex = l.full_duplex,
                "port {name}: link up, {} Mbit/s {} duplex", l.speed_mbps,
                if l.full_duplex { "full" } else { "half" }),
            Some(_) => tracing::warn!(target: "ports", port = name, port_id, link = "down",
                "port {name}: link down"),
            None => tracing::warn!(target: "ports", port = name, port_id, link = "unknown",
                "port {name}: link status unreadable"),
        }
    }
}

/// A link's state in words, for start-up lines.
pub fn describe(l: Reading) -> String {
    match l {
        Some(l) if l.up => format!("up {} Mbit/s", l.speed_mbps),
        Some(_) => "down".to_string(),
        None => "unknown".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(speed_mbps: u32) -> Reading {
        Some(Link {
            up: true,
            speed_mbps,
            full_duplex: true,
        })
    }

    fn down(speed_mbps: u32) -> Reading {
        Some(Link {
            up: false,
            speed_mbps,
            full_duplex: false,
        })
    }

    #[test]
    fn only_changes_are_reported() {
        let mut w = LinkWatch::new(
            vec!["uplink".into(), "vm1".into()],
            vec![up(10_000), down(0)],
            Instant::now(),
        );
        assert_eq!(w.observe(0, up(10_000)), None, "steady: nothing");
        assert_eq!(w.observe(1, down(0)), None);
        assert_eq!(
            w.observe(0, down(0)),
            Some(Change {
                port: 0,
                was: up(10_000),
                now: down(0)
            })
        );
        assert_eq!(w.observe(0, down(0)), None, "said once");
        assert_eq!(
            w.observe(1, down(100)),
            None,
            "a down link's speed is noise"
        );
        assert!(w.observe(1, up(25_000)).is_some());
        assert!(w.observe(1, up(10_000)).is_some(), "a new speed is news");
        assert!(w.observe(1, None).is_some(), "unreadable, once");
        assert_eq!(w.observe(1, None), None);
        assert_eq!(w.observe(7, up(1)), None, "no such port");
    }

    #[test]
    fn link_words() {
        assert_eq!(describe(up(100)), "up 100 Mbit/s");
        assert_eq!(describe(down(100)), "down");
        assert_eq!(describe(None), "unknown");
    }
}
