//! Reading pcap captures: counting packets (to know when a finite replay is done,
//! and how many mbufs `infinite_rx` needs), and finding the capture a `net_pcap`
//! device replays from memory.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use anyhow::Context;
use pcap_file::pcap::PcapReader;

/// Packets in a pcap file.
pub fn count_packets(path: &Path) -> anyhow::Result<u64> {
    let file =
        File::open(path).with_context(|| format!("cannot open capture {}", path.display()))?;
    let mut reader = PcapReader::new(BufReader::with_capacity(1 << 20, file))
        .with_context(|| format!("{} is not a pcap capture", path.display()))?;
    let mut n = 0u64;
    while let Some(pkt) = reader.next_raw_packet() {
        pkt.with_context(|| {
            format!(
                "capture {} is truncated or corrupt after {n} packets",
                path.display()
            )
        })?;
        n += 1;
    }
    Ok(n)
}

/// The capture a `net_pcap` device string replays from memory (`rx_pcap=FILE`
/// with `infinite_rx=1`), if it does.
pub fn infinite_rx_capture(device: &str) -> Option<PathBuf> {
    let mut parts = device.split(',');
    if !parts.next()?.starts_with("net_pcap") {
        return None;
    }
    let mut file = None;
    let mut infinite = false;
    for kv in parts {
        match kv.split_once('=') {
            Some(("rx_pcap", f)) => file = Some(PathBuf::from(f)),
            Some(("infinite_rx", v)) => infinite = v.trim() == "1",
            _ => {}
        }
    }
    if infinite {
        file
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_capture_held_in_memory() {
        assert_eq!(
            infinite_rx_capture("net_pcap0,rx_pcap=/a/b.pcap,infinite_rx=1"),
            Some(PathBuf::from("/a/b.pcap"))
        );
        assert_eq!(infinite_rx_capture("net_pcap0,rx_pcap=/a/b.pcap"), None);
        assert_eq!(infinite_rx_capture("net_null0,infinite_rx=1"), None);
    }

    #[test]
    fn counts_packets_and_refuses_non_captures() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.pcap");
        crate::traffic::generate(
            &crate::traffic::TrafficSpec {
                flows: 10,
                packets: 123,
                ..Default::default()
            },
            &p,
        )
        .unwrap();
        assert_eq!(count_packets(&p).unwrap(), 123);
        let bad = dir.path().join("bad.pcap");
        std::fs::write(&bad, b"not a capture at all").unwrap();
        assert!(count_packets(&bad)
            .unwrap_err()
            .to_string()
            .contains("not a pcap"));
        assert!(count_packets(&dir.path().join("none")).is_err());
    }
}
