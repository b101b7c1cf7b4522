//! `flowlift gen-traffic`: a reproducible pcap of N flows whose packet counts
//! follow a Zipf law (a few heavy flows, a long tail of light ones), as data-centre
//! traffic does. IPv4 and IPv6, TCP and UDP, each flow addressed to one VF's MAC.
//! Also the demo's capture ([`demo_capture`]) and reading a capture's shape
//! ([`capture`]). The appliance links this crate for `gen-traffic`, its
//! built-in demo and sizing a replay's mbufs; nothing of it runs per packet.
#![deny(unsafe_code)]

pub mod capture;
pub mod demo_capture;

use std::collections::HashSet;
use std::fs::File;
use std::io::BufWriter;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use etherparse::PacketBuilder;
use flowlift_dataplane::mac::MacAddr;
use pcap_file::pcap::{PcapPacket, PcapWriter};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What to generate.
#[derive(Debug, Clone)]
pub struct TrafficSpec {
    /// Distinct flows (5-tuples); each gets at least one packet.
    pub flows: u32,
    /// Packets in all (at least `flows`).
    pub packets: u64,
    /// Zipf exponent: packet share of the flow of rank r is proportional to r^-s.
    pub zipf_s: f64,
    /// Share of flows that are IPv6 (0..=1).
    pub ipv6_share: f64,
    /// Share of flows that are TCP (the rest UDP).
    pub tcp_share: f64,
    /// Frame length without FCS; headers that need more get it.
    pub frame_len: usize,
    /// Destination MACs, flows spread over them in turn (heaviest flow first).
    pub dst_macs: Vec<MacAddr>,
    /// Source MAC of every frame (the uplink's peer).
    pub src_mac: MacAddr,
    /// Seed: the same spec and seed give the same capture, byte for byte.
    pub seed: u64,
}

impl Default for TrafficSpec {
    fn default() -> Self {
        TrafficSpec {
            flows: 1000,
            packets: 10_000,
            zipf_s: 1.1,
            ipv6_share: 0.2,
            tcp_share: 0.5,
            frame_len: 60,
            dst_macs: (1..=4u8).map(|i| MacAddr([2, 0, 0, 0, 0, i])).collect(),
            src_mac: MacAddr([2, 0, 0, 0, 0, 0xfe]),
            seed: 1,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficSummary {
    pub flows: u32,
    pub packets: u64,
    pub bytes: u64,
    /// Packets of the heaviest flow.
    pub top_flow_packets: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Addrs {
    V4(Ipv4Addr, Ipv4Addr),
    V6(Ipv6Addr, Ipv6Addr),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FlowTuple {
    addrs: Addrs,
    tcp: bool,
    src_port: u16,
    dst_port: u16,
}

/// Packets per flow, heaviest first: Zipf shares of `total`, at least one each,
/// summing exactly to `total`.
pub fn zipf_counts(flows: u32, total: u64, s: f64) -> Vec<u64> {
    let n = flows as usize;
    if n == 0 {
        return Vec::new();
    }
    let total = total.max(flows as u64);
    let weights: Vec<f64> = (1..=n).map(|r| (r as f64).powf(-s)).collect();
    let sum: f64 = weights.iter().sum();
    let mut counts: Vec<u64> = weights
        .iter()
        .map(|w| ((total as f64 * w / sum).floor() as u64).max(1))
        .collect();
    let mut have: u64 = counts.iter().sum();
    let mut i = 0;
    while have < total {
        counts[i % n] += 1;
        have += 1;
        i += 1;
    }
    i = 0;
    while have > total {
        // Take from the heaviest flows first; never below one packet.
        if counts[i % n] > 1 {
            counts[i % n] -= 1;
            have -= 1;
        }
        i += 1;
    }
    counts
}

fn random_tuple(rng: &mut ChaCha8Rng, spec: &TrafficSpec) -> FlowTuple {
    let addrs = if rng.gen_bool(spec.ipv6_share.clamp(0.0, 1.0)) {
        let src = Ipv6Addr::from(
            0xfd00_0000_0000_0000_0000_0000_0000_0000u128 | u128::from(rng.gen::<u64>()),
        );
        let dst = Ipv6Addr::from(
            0xfd00_0000_0000_0001_0000_0000_0000_0000u128 | u128::from(rng.gen::<u32>()),
        );
        Addrs::V6(src, dst)
    } else {
        Addrs::V4(
            Ipv4Addr::from(0x0a00_0000 | (rng.gen::<u32>() & 0x00ff_ffff)),
            Ipv4Addr::from(0xc0a8_0000 | (rng.gen::<u32>() & 0x0000_ffff)),
        )
    };
    FlowTuple {
        addrs,
        tcp: rng.gen_bool(spec.tcp_share.clamp(0.0, 1.0)),
        src_port: rng.gen_range(1024..=65535),
        dst_port: rng.gen_range(1..=9999),
    }
}

fn build_frame(
    t: &FlowTuple,
    src: MacAddr,
    dst: MacAddr,
    frame_len: usize,
    seq: u32,
) -> anyhow::Result<Vec<u8>> {
    let eth = PacketBuilder::ethernet2(src.0, dst.0);
    let (ip_len, l4_len) = (
        match t.addrs {
            Addrs::V4(..) => 20,
            Addrs::V6(..) => 40,
        },
        if t.tcp { 20 } else { 8 },
    );
    let payload = vec![0u8; frame_len.saturating_sub(14 + ip_len + l4_len)];
    let mut out = Vec::with_capacity(frame_len.max(14 + ip_len + l4_len));
    match (t.addrs, t.tcp) {
        (Addrs::V4(s, d), true) => eth
            .ipv4(s.octets(), d.octets(), 64)
            .tcp(t.src_port, t.dst_port, seq, 65535)
            .write(&mut out, &payload)?,
        (Addrs::V4(s, d), false) => eth
            .ipv4(s.octets(), d.octets(), 64)
            .udp(t.src_port, t.dst_port)
            .write(&mut out, &payload)?,
        (Addrs::V6(s, d), true) => eth
            .ipv6(s.octets(), d.octets(), 64)
            .tcp(t.src_port, t.dst_port, seq, 65535)
            .write(&mut out, &payload)?,
        (Addrs::V6(s, d), false) => eth
            .ipv6(s.octets(), d.octets(), 64)
            .udp(t.src_port, t.dst_port)
            .write(&mut out, &payload)?,
    }
    Ok(out)
}

/// Writes the capture described by `spec` to `path`.
pub fn generate(spec: &TrafficSpec, path: &Path) -> anyhow::Result<TrafficSummary> {
    if spec.flows == 0 {
        bail!("--flows must be at least 1");
    }
    if spec.dst_macs.is_empty() {
        bail!("at least one destination MAC is needed");
    }
    if !(0.0..=10.0).contains(&spec.zipf_s) {
        bail!("--zipf {} is out of range 0..=10", spec.zipf_s);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let mut seen = HashSet::with_capacity(spec.flows as usize);
    let mut tuples = Vec::with_capacity(spec.flows as usize);
    while tuples.len() < spec.flows as usize {
        let t = random_tuple(&mut rng, spec);
        if seen.insert(t) {
            tuples.push(t);
        }
    }
    let counts = zipf_counts(spec.flows, spec.packets, spec.zipf_s);
    let mut order: Vec<u32> = Vec::with_capacity(counts.iter().sum::<u64>() as usize);
    for (flow, &c) in counts.iter().enumerate() {
        order.extend(std::iter::repeat_n(flow as u32, c as usize));
    }
    order.shuffle(&mut rng);

    // Each flow's frame is built once; only TCP's sequence number would differ,
    // and a constant one keeps a flow's frames identical, which tests rely on.
    let frames: Vec<Vec<u8>> = tuples
        .iter()
        .enumerate()
        .map(|(i, t)| {
            build_frame(
                t,
                spec.src_mac,
                spec.dst_macs[i % spec.dst_macs.len()],
                spec.frame_len,
                1,
            )
        })
        .collect::<anyhow::Result<_>>()?;

    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut writer =
        PcapWriter::new(BufWriter::with_capacity(1 << 20, file)).context("write pcap header")?;
    let mut bytes = 0u64;
    for (i, &flow) in order.iter().enumerate() {
        let data = &frames[flow as usize];
        let ts = Duration::from_micros(i as u64);
        writer
            .write_packet(&PcapPacket::new(ts, data.len() as u32, data))
            .with_context(|| format!("write {}", path.display()))?;
        bytes += data.len() as u64;
    }
    writer
        .into_writer()
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(|| format!("flush {}", path.display()))?;
    Ok(TrafficSummary {
        flows: spec.flows,
        packets: order.len() as u64,
        bytes,
        top_flow_packets: counts.first().copied().unwrap_or(0),
    })
}

#[cfg(test)]
#[path = "traffic_tests.rs"]
mod tests;
