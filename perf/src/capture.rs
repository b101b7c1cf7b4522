//! Reading a capture back: the 5-tuple of every packet, for the harnesses that
//! need to know what flowlift was fed (OVS's exact rules; the most a NIC with
//! K rules could carry in the offload run). And captures with an equal share
//! of heavy-tailed traffic for each of N VFs: one generated capture per VF,
//! merged in a shuffled order.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::net::IpAddr;
use std::path::Path;

use anyhow::Context;
use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use flowlift_dataplane::mac::MacAddr;
use flowlift_traffic::{generate, TrafficSpec};
use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};

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
    Ok(frames(capture)?
        .iter()
        .filter_map(|f| five_tuple(f))
        .collect())
}

/// A frame's 5-tuple, if it is TCP or UDP over IPv4 or IPv6 (etherparse
/// reads it: the harness's oracle, not flowlift's parser).
pub fn five_tuple(frame: &[u8]) -> Option<FiveTuple> {
    let sliced = SlicedPacket::from_ethernet(frame).ok()?;
    let (src, dst) = match &sliced.net {
        Some(NetSlice::Ipv4(ip)) => (
            IpAddr::V4(ip.header().source_addr()),
            IpAddr::V4(ip.header().destination_addr()),
        ),
        Some(NetSlice::Ipv6(ip)) => (
            IpAddr::V6(ip.header().source_addr()),
            IpAddr::V6(ip.header().destination_addr()),
        ),
        None => return None,
    };
    let (tcp, sport, dport) = match &sliced.transport {
        Some(TransportSlice::Tcp(t)) => (true, t.source_port(), t.destination_port()),
        Some(TransportSlice::Udp(u)) => (false, u.source_port(), u.destination_port()),
        _ => return None,
    };
    Some(FiveTuple {
        src,
        dst,
        tcp,
        sport,
        dport,
    })
}

/// Every frame of `capture`, in order.
fn frames(capture: &Path) -> anyhow::Result<Vec<Vec<u8>>> {
    let file = File::open(capture).with_context(|| format!("open {}", capture.display()))?;
    let mut reader = PcapReader::new(BufReader::with_capacity(1 << 20, file))
        .with_context(|| format!("read {}", capture.display()))?;
    let mut out = Vec::new();
    while let Some(pkt) = reader.next_packet() {
        out.push(
            pkt.with_context(|| format!("read {}", capture.display()))?
                .data
                .into_owned(),
        );
    }
    Ok(out)
}

/// splitmix64: a deterministic shuffle, the same capture on every machine.
fn mix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Writes to `out` a capture in which each of `vfs` VFs (MACs
/// 02:00:00:00:00:01..) is the destination of `flows / vfs` flows and exactly
/// `packets / vfs` packets whose counts follow Zipf(`zipf`) within the VF:
/// an equal share of heavy-tailed traffic each. (`gen-traffic` deals the
/// flows of one Zipf law out in turn, which gives the first VF the heaviest
/// flow and so the largest share.) Returns the packets written.
pub fn per_vf_zipf(
    out: &Path,
    vfs: u8,
    flows: u32,
    packets: u64,
    zipf: f64,
    seed: u64,
) -> anyhow::Result<u64> {
    anyhow::ensure!(vfs > 0, "at least one VF");
    let part = out.with_extension("part.pcap");
    let mut all = Vec::with_capacity(packets as usize);
    for vf in 1..=vfs {
        generate(
            &TrafficSpec {
                flows: flows / u32::from(vfs),
                packets: packets / u64::from(vfs),
                zipf_s: zipf,
                dst_macs: vec![MacAddr([2, 0, 0, 0, 0, vf])],
                // Each VF its own flows: distinct seeds, distinct 5-tuples.
                seed: seed.wrapping_mul(1000).wrapping_add(u64::from(vf)),
                ..TrafficSpec::default()
            },
            &part,
        )?;
        all.extend(frames(&part)?);
    }
    let _ = std::fs::remove_file(&part);
    // Fisher-Yates, so every VF's packets are spread over the whole capture.
    let mut state = seed;
    for i in (1..all.len()).rev() {
        let j = (mix(&mut state) % (i as u64 + 1)) as usize;
        all.swap(i, j);
    }
    let file = File::create(out).with_context(|| format!("create {}", out.display()))?;
    let mut writer = PcapWriter::new(std::io::BufWriter::with_capacity(1 << 20, file))
        .context("write pcap header")?;
    for (i, data) in all.iter().enumerate() {
        let ts = std::time::Duration::from_micros(i as u64);
        writer
            .write_packet(&PcapPacket::new(ts, data.len() as u32, data))
            .with_context(|| format!("write {}", out.display()))?;
    }
    Ok(all.len() as u64)
}

/// Percentage of `packets` that the `k` largest flows carry: with the capture
/// replayed in a loop, the most a NIC holding `k` rules can carry.
pub fn top_flows_share(packets: &[FiveTuple], k: usize) -> f64 {
    let mut per_flow: HashMap<FiveTuple, u64> = HashMap::new();
    for t in packets {
        *per_flow.entry(*t).or_default() += 1;
    }
    top_share(per_flow.into_values(), k)
}

/// Percentage of all the packets of flows of these sizes that the `k`
/// largest carry (0 without packets).
pub fn top_share(flow_sizes: impl IntoIterator<Item = u64>, k: usize) -> f64 {
    let mut sizes: Vec<u64> = flow_sizes.into_iter().collect();
    let total: u64 = sizes.iter().sum();
    if total == 0 {
        return 0.0;
    }
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    100.0 * sizes.iter().take(k).sum::<u64>() as f64 / total as f64
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
    fn every_vf_gets_the_same_share() {
        let path = std::env::temp_dir().join(format!(
            "flowlift-perf-pervf-test-{}.pcap",
            std::process::id()
        ));
        let n = per_vf_zipf(&path, 3, 300, 3000, 1.1, 7).unwrap();
        let data = frames(&path).unwrap();
        let tuples = five_tuples(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(n, 3000);
        for vf in 1..=3u8 {
            let to_vf = data
                .iter()
                .filter(|f| f[..6] == [2, 0, 0, 0, 0, vf])
                .count();
            assert_eq!(to_vf, 1000, "VF {vf}");
        }
        let distinct: std::collections::HashSet<_> = tuples.iter().collect();
        assert_eq!(
            distinct.len(),
            300,
            "flows of different VFs never share a 5-tuple"
        );
        // Shuffled: the first VF's packets do not all come first.
        assert!(data[..1000].iter().any(|f| f[5] != 1));
    }

    #[test]
    fn reads_a_generated_capture() {
        let path = std::env::temp_dir().join(format!(
            "flowlift-perf-capture-test-{}.pcap",
            std::process::id()
        ));
        let spec = flowlift_traffic::TrafficSpec {
            flows: 50,
            packets: 400,
            ..Default::default()
        };
        let written = flowlift_traffic::generate(&spec, &path).unwrap();
        let tuples = five_tuples(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(tuples.len() as u64, written.packets);
        let distinct: std::collections::HashSet<_> = tuples.iter().collect();
        assert_eq!(distinct.len(), 50);
        let heaviest = top_flows_share(&tuples, 1) * tuples.len() as f64 / 100.0;
        assert_eq!(heaviest.round() as u64, written.top_flow_packets);
    }
}
