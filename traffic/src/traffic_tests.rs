//! The generator, checked with etherparse and pcap-file as independent readers.

use std::collections::HashMap;

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use pcap_file::pcap::PcapReader;

use super::*;

fn read_all(path: &Path) -> Vec<Vec<u8>> {
    let mut r = PcapReader::new(File::open(path).unwrap()).unwrap();
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        out.push(p.unwrap().data.into_owned());
    }
    out
}

#[test]
fn zipf_counts_are_exact_heavy_first_and_never_zero() {
    let c = zipf_counts(1000, 100_000, 1.1);
    assert_eq!(c.iter().sum::<u64>(), 100_000);
    assert!(c.iter().all(|&n| n >= 1));
    assert!(
        c.windows(2).filter(|w| w[0] < w[1]).count() < 10,
        "mostly decreasing"
    );
    assert!(c[0] > 10 * c[99]);
    assert_eq!(
        zipf_counts(10, 3, 1.0),
        vec![1; 10],
        "at least one packet per flow"
    );
    assert_eq!(zipf_counts(4, 100, 0.0), vec![25; 4], "s = 0 is uniform");
}

#[test]
fn captures_are_reproducible_parse_cleanly_and_have_n_flows() {
    let dir = tempfile::tempdir().unwrap();
    let spec = TrafficSpec {
        flows: 300,
        packets: 5000,
        ..Default::default()
    };
    let a = dir.path().join("a.pcap");
    let b = dir.path().join("b.pcap");
    let sum = generate(&spec, &a).unwrap();
    generate(&spec, &b).unwrap();
    assert_eq!(
        std::fs::read(&a).unwrap(),
        std::fs::read(&b).unwrap(),
        "same seed, same bytes"
    );
    assert_eq!(sum.packets, 5000);

    let frames = read_all(&a);
    assert_eq!(frames.len(), 5000);
    let mut flows: HashMap<Vec<u8>, u64> = HashMap::new();
    let (mut v6, mut tcp) = (0, 0);
    for f in &frames {
        assert!(f.len() >= 60);
        let p = SlicedPacket::from_ethernet(f).expect("etherparse reads every frame");
        let key = match (&p.net, &p.transport) {
            (Some(NetSlice::Ipv4(ip)), Some(t)) => {
                let mut k = ip.header().slice()[12..20].to_vec();
                k.extend(ports(t));
                k
            }
            (Some(NetSlice::Ipv6(ip)), Some(t)) => {
                v6 += 1;
                let mut k = ip.header().slice()[8..40].to_vec();
                k.extend(ports(t));
                k
            }
            other => panic!("unexpected layers {other:?}"),
        };
        if matches!(p.transport, Some(TransportSlice::Tcp(_))) {
            tcp += 1;
        }
        assert!(
            [1u8, 2, 3, 4].contains(&f[5]) && f[..5] == [2, 0, 0, 0, 0],
            "dst MAC is a VF's"
        );
        *flows.entry(key).or_default() += 1;
    }
    assert_eq!(flows.len(), 300, "exactly N distinct flows");
    assert!(v6 > 0 && v6 < 5000 && tcp > 0 && tcp < 5000);
    assert_eq!(*flows.values().max().unwrap(), sum.top_flow_packets);
    let other = dir.path().join("c.pcap");
    generate(&TrafficSpec { seed: 2, ..spec }, &other).unwrap();
    assert_ne!(std::fs::read(&a).unwrap(), std::fs::read(&other).unwrap());
}

fn ports(t: &TransportSlice) -> Vec<u8> {
    match t {
        TransportSlice::Tcp(t) => [
            t.source_port().to_be_bytes(),
            t.destination_port().to_be_bytes(),
            [6, 0],
        ]
        .concat(),
        TransportSlice::Udp(u) => [
            u.source_port().to_be_bytes(),
            u.destination_port().to_be_bytes(),
            [17, 0],
        ]
        .concat(),
        _ => panic!("not TCP/UDP"),
    }
}

#[test]
fn bad_specs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.pcap");
    assert!(generate(
        &TrafficSpec {
            flows: 0,
            ..Default::default()
        },
        &p
    )
    .is_err());
    assert!(generate(
        &TrafficSpec {
            dst_macs: vec![],
            ..Default::default()
        },
        &p
    )
    .is_err());
    assert!(generate(
        &TrafficSpec {
            zipf_s: -1.0,
            ..Default::default()
        },
        &p
    )
    .is_err());
}
