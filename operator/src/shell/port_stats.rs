//! `show port stats`'s answer, in testpmd's layout: one port's counters
//! from the read-model ([`crate::counters::PortCounts`], since the last
//! `clear port stats`) and its rates since the last show.

use std::fmt::Write as _;

use crate::counters::PortCounts;
use crate::report::PortLabel;

/// Rates since the last `show port stats` of the port (0 the first time).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rates {
    pub rx_pps: u64,
    pub tx_pps: u64,
    pub rx_bps: u64,
    pub tx_bps: u64,
}

/// testpmd's `show port stats` block for one port's counters `c`.
pub fn block(label: &PortLabel, c: &PortCounts, r: Rates) -> String {
    let (t, d, hw) = (c.total(), c.drops(), c.ethdev);
    let mut out = String::new();
    let title = format!(
        " NIC statistics for port {} ({}) ",
        label.port_id, label.name
    );
    let _ = writeln!(out, "\n  {title:#^76}");
    let _ = writeln!(
        out,
        "  RX-packets: {:<10} RX-missed: {:<10} RX-bytes:  {}",
        t.rx_packets, hw.rx_missed, t.rx_bytes
    );
    let _ = writeln!(out, "  RX-errors: {}", hw.rx_errors);
    let _ = writeln!(out, "  RX-nombuf:  {}", hw.rx_nombuf);
    let _ = writeln!(
        out,
        "  TX-packets: {:<10} TX-errors: {:<10} TX-bytes:  {}",
        t.tx_packets,
        hw.tx_errors + d.tx_refused,
        t.tx_bytes
    );
    let _ = writeln!(
        out,
        "  Dropped: policy {}, meter {}, TX refused {}",
        d.policy, d.meter, d.tx_refused
    );
    let _ = writeln!(out, "\n  Throughput (since last show)");
    let _ = writeln!(
        out,
        "  Rx-pps: {:>12}          Rx-bps: {:>12}",
        r.rx_pps, r.rx_bps
    );
    let _ = writeln!(
        out,
        "  Tx-pps: {:>12}          Tx-bps: {:>12}",
        r.tx_pps, r.tx_bps
    );
    let _ = writeln!(out, "  {}", "#".repeat(76));
    out
}
