//! Reading a capture back: the 5-tuple of every packet, for the harnesses that
//! need to know what flowlift was fed (OVS's exact rules; the most a NIC with
//! K rules could carry in the offload run).

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::net::IpAddr;
use std::path::Path;

use anyhow::Context;
use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use pcap_file::pcap::PcapReader;

/// A TCP or UDP flow as flowlift keys it (the VF MAC is not part of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FiveTuple {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub tcp: bool,
    pub sport: u16,
    pub dport: u16,
}

/// The 5-tuple of every packet of `capture`, in order. Non-IP or non-TCP/UDP
/// frames are skipped (the generator writes none).
pub fn five_tuples(capture: &Path) -> anyhow::Result<Vec<FiveTuple>> {
    let file = File::open(capture).with_context(|| format!("open {}", capture.display()))?;
    let mut reader = PcapReader::new(BufReader::with_capacity(1 << 20, file))
        .with_context(|| format!("read {}", capture.display()))?;
    let mut tuples = Vec::new();
    while let Some(pkt) = reader.next_packet() {
        let pkt = pkt.with_context(|| format!("read {}", capture.display()))?;
        let Ok(sliced) = SlicedPacket::from_ethernet(&pkt.data) else {
            continue;
        };
        let (src, dst) = match &sliced.net {
            Some(NetSlice::Ipv4(ip)) => (
                IpAddr::V4(ip.header().source_addr()),
                IpAddr::V4(ip.header().destination_addr()),
            ),
            Some(NetSlice::Ipv6(ip)) => (
                IpAddr::V6(ip.header().source_addr()),
                IpAddr::V6(ip.header().destination_addr()),
            ),
            None => continue,
        };
        let (tcp, sport, dport) = match &sliced.transport {
            Some(TransportSlice::Tcp(t)) => (true, t.source_port(), t.destination_port()),
            Some(TransportSlice::Udp(u)) => (false, u.source_port(), u.destination_port()),
            _ => continue,
        };
        tuples.push(FiveTuple {
            src,
            dst,
            tcp,
            sport,
            dport,
        });
    }
    Ok(tuples)
}

/// Percentage of `packets` that the `k` largest flows carry: with the capture
/// replayed in a loop, the most a NIC holding `k` rules can carry.
pub fn top_flows_share(packets: &[FiveTuple], k: usize) -> f64 {
    if packets.is_empty() {
        return 0.0;
    }
    let mut per_flow: HashMap<FiveTuple, u64> = HashMap::new();
    for t in packets {
        *per_flow.entry(*t).or_default() += 1;
    }
    let mut counts: Vec<u64> = per_flow.into_values().collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let top: u64 = counts.iter().take(k).sum();
    100.0 * top as f64 / packets.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn flow(sport: u16) -> FiveTuple {
        FiveTuple {
            src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            tcp: false,
            sport,
            dport: 53,
        }
    }

    #[test]
    fn top_share_counts_the_largest_flows() {
        // Flow 1: 5 packets, flow 2: 3, flow 3: 2.
        let mut packets = vec![flow(1); 5];
        packets.extend([flow(2); 3]);
        packets.extend([flow(3); 2]);
        assert_eq!(top_flows_share(&packets, 1), 50.0);
        assert_eq!(top_flows_share(&packets, 2), 80.0);
        assert_eq!(top_flows_share(&packets, 10), 100.0);
        assert_eq!(top_flows_share(&[], 1), 0.0);
    }

    #[test]
    fn reads_a_generated_capture() {
        let path = std::env::temp_dir().join(format!(
            "flowlift-perf-capture-test-{}.pcap",
            std::process::id()
        ));
        let spec = flowlift_control::traffic::TrafficSpec {
            flows: 50,
            packets: 400,
            ..Default::default()
        };
        let written = flowlift_control::traffic::generate(&spec, &path).unwrap();
        let tuples = five_tuples(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(tuples.len() as u64, written.packets);
        let distinct: std::collections::HashSet<_> = tuples.iter().collect();
        assert_eq!(distinct.len(), 50);
        let heaviest = top_flows_share(&tuples, 1) * tuples.len() as f64 / 100.0;
        assert_eq!(heaviest.round() as u64, written.top_flow_packets);
    }
}
