//! Reading pcap captures before EAL starts: counting packets (to know when a
//! finite replay is done, and how many mbufs `infinite_rx` needs), measuring the
//! largest frame (how large those mbufs must be), and finding the capture a
//! `net_pcap` device replays from memory.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use anyhow::Context;
use pcap_file::pcap::PcapReader;

/// What flowlift needs to know of a capture before it sizes the mbuf pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CaptureScan {
    /// Packets in the capture.
    pub packets: u64,
    /// Its largest frame, in captured bytes: what `net_pcap` reads into mbufs
    /// (it uses the captured length, never the original one).
    pub largest_frame: u32,
}

/// Counts a capture's packets and measures its largest frame.
pub fn scan(path: &Path) -> anyhow::Result<CaptureScan> {
    let file =
        File::open(path).with_context(|| format!("cannot open capture {}", path.display()))?;
    let mut reader = PcapReader::new(BufReader::with_capacity(1 << 20, file))
        .with_context(|| format!("{} is not a pcap capture", path.display()))?;
    let mut scan = CaptureScan::default();
    while let Some(pkt) = reader.next_raw_packet() {
        let pkt = pkt.with_context(|| {
            format!(
                "capture {} is truncated or corrupt after {} packets",
                path.display(),
                scan.packets
            )
        })?;
        scan.packets += 1;
        scan.largest_frame = scan.largest_frame.max(pkt.incl_len);
    }
    Ok(scan)
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
    fn counts_packets_measures_the_largest_frame_and_refuses_non_captures() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.pcap");
        crate::generate(
            &crate::TrafficSpec {
                flows: 10,
                packets: 123,
                ..Default::default()
            },
            &p,
        )
        .unwrap();
        assert_eq!(scan(&p).unwrap().packets, 123);
        let frames = [vec![0u8; 60], vec![1u8; 9000], vec![2u8; 1514]];
        let jumbo = dir.path().join("jumbo.pcap");
        let mut w = pcap_file::pcap::PcapWriter::new(File::create(&jumbo).unwrap()).unwrap();
        for (i, f) in frames.iter().enumerate() {
            let at = std::time::Duration::from_micros(i as u64);
            // The original length is larger than what was captured: the
            // captured bytes are what net_pcap reads.
            let pkt = pcap_file::pcap::PcapPacket::new_owned(at, 9100, f.clone());
            w.write_packet(&pkt).unwrap();
        }
        drop(w);
        assert_eq!(
            scan(&jumbo).unwrap(),
            CaptureScan {
                packets: 3,
                largest_frame: 9000
            }
        );
        let bad = dir.path().join("bad.pcap");
        std::fs::write(&bad, b"not a capture at all").unwrap();
        assert!(scan(&bad).unwrap_err().to_string().contains("not a pcap"));
        assert!(scan(&dir.path().join("none")).is_err());
    }
}
