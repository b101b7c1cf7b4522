//! What `wire::parse` costs per packet, from the Ethernet header to the flow
//! key, for the frame shapes a worker sees most: IPv4/UDP, IPv6/TCP with
//! timestamps, 802.1Q IPv4/TCP and QinQ IPv6/UDP (60 to 86 bytes). Each
//! iteration parses a burst of 32 frames, as a worker does; criterion's
//! throughput is packets per second.
//!
//! `cargo bench -p flowlift-perf --bench parser`

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use flowlift_dataplane::wire;

const BURST: usize = 32;

fn ethernet(tags: &[(u16, u16)], ethertype: u16) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
    for &(tpid, vid) in tags {
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&vid.to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f
}

fn ipv4(f: &mut Vec<u8>, proto: u8, l4_len: usize) {
    let total = (20 + l4_len) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x40, 0, 64, proto, 0, 0]);
    f.extend_from_slice(&[10, 0, 0, 1, 192, 168, 1, 20]);
}

fn ipv6(f: &mut Vec<u8>, next: u8, l4_len: usize) {
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&(l4_len as u16).to_be_bytes());
    f.extend_from_slice(&[next, 64]);
    f.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    f.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
}

fn udp(f: &mut Vec<u8>, payload: usize) {
    f.extend_from_slice(&[0x13, 0x88, 0x17, 0x70]);
    f.extend_from_slice(&((8 + payload) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.resize(f.len() + payload, 0xab);
}

/// TCP with the 12 bytes of options (NOP, NOP, timestamps) of an established
/// Linux connection.
fn tcp(f: &mut Vec<u8>) {
    f.extend_from_slice(&[0x9c, 0x40, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 1, 0x80, 0x10]);
    f.extend_from_slice(&[0x01, 0xf5, 0, 0, 0, 0]);
    f.extend_from_slice(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
}

fn frames() -> Vec<(&'static str, Vec<u8>)> {
    let mut ipv4_udp = ethernet(&[], 0x0800);
    ipv4(&mut ipv4_udp, 17, 8 + 18);
    udp(&mut ipv4_udp, 18);

    let mut ipv6_tcp = ethernet(&[], 0x86dd);
    ipv6(&mut ipv6_tcp, 6, 32);
    tcp(&mut ipv6_tcp);

    let mut vlan_ipv4_tcp = ethernet(&[(0x8100, 100)], 0x0800);
    ipv4(&mut vlan_ipv4_tcp, 6, 32);
    tcp(&mut vlan_ipv4_tcp);

    let mut qinq_ipv6_udp = ethernet(&[(0x88a8, 200), (0x8100, 300)], 0x86dd);
    ipv6(&mut qinq_ipv6_udp, 17, 8 + 12);
    udp(&mut qinq_ipv6_udp, 12);

    vec![
        ("ipv4_udp", ipv4_udp),
        ("ipv6_tcp", ipv6_tcp),
        ("vlan_ipv4_tcp", vlan_ipv4_tcp),
        ("qinq_ipv6_udp", qinq_ipv6_udp),
    ]
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(BURST as u64));
    for (name, frame) in frames() {
        let p = wire::parse(&frame).expect("bench frames are valid");
        eprintln!("{name}: {} bytes, {}", frame.len(), p.key);
        let burst: Vec<Vec<u8>> = vec![frame; BURST];
        g.bench_function(name, |b| {
            b.iter(|| {
                for f in &burst {
                    let _ = black_box(wire::parse(black_box(f)));
                }
            })
        });
    }
    g.finish();
    c.final_summary();
}
