//! The model's RSS: the Toeplitz hash against Microsoft's verification vectors,
//! and which fields of each frame type it hashes.

use super::*;

/// Microsoft's RSS verification vectors (default key): destination and
/// source as `addr:port`, then the hash over the addresses and over the
/// addresses and TCP ports. The input order is source, destination.
const V4: &[(&str, &str, u32, u32)] = &[
    (
        "161.142.100.80:1766",
        "66.9.149.187:2794",
        0x323e8fc2,
        0x51ccc178,
    ),
    (
        "65.69.140.83:4739",
        "199.92.111.2:14230",
        0xd718262a,
        0xc626b0ea,
    ),
    (
        "12.22.207.184:38024",
        "24.19.198.95:12898",
        0xd2d0a5de,
        0x5c2b394a,
    ),
    (
        "209.142.163.6:2217",
        "38.27.205.30:48228",
        0x82989176,
        0xafc7327f,
    ),
    (
        "202.188.127.2:1303",
        "153.39.163.191:44251",
        0x5d1809c5,
        0x10e828a2,
    ),
];

const V6: &[(&str, &str, u32, u32)] = &[
    (
        "[3ffe:2501:200:3::1]:1766",
        "[3ffe:2501:200:1fff::7]:2794",
        0x2cc18cd5,
        0x40207d3d,
    ),
    (
        "[ff02::1]:4739",
        "[3ffe:501:8::260:97ff:fe40:efab]:14230",
        0x0f0c461c,
        0xdde51bbf,
    ),
    (
        "[fe80::200:f8ff:fe21:67cf]:38024",
        "[3ffe:1900:4545:3:200:f8ff:fe21:67cf]:44251",
        0x4b61e985,
        0x02d1feef,
    ),
];

fn v4(s: &str) -> std::net::SocketAddrV4 {
    s.parse().unwrap()
}

fn v6(s: &str) -> std::net::SocketAddrV6 {
    s.parse().unwrap()
}

#[test]
fn toeplitz_matches_microsoft_s_ipv4_vectors() {
    for &(dst, src, two, four) in V4 {
        let (d, s) = (v4(dst), v4(src));
        let input = ipv4_input(*s.ip(), *d.ip(), None);
        assert_eq!(toeplitz(&DEFAULT_KEY, &input), two, "{src} -> {dst}");
        let input = ipv4_input(*s.ip(), *d.ip(), Some((s.port(), d.port())));
        assert_eq!(toeplitz(&DEFAULT_KEY, &input), four, "{src} -> {dst} tcp");
    }
}

#[test]
fn toeplitz_matches_microsoft_s_ipv6_vectors() {
    for &(dst, src, two, four) in V6 {
        let (d, s) = (v6(dst), v6(src));
        let input = ipv6_input(*s.ip(), *d.ip(), None);
        assert_eq!(toeplitz(&DEFAULT_KEY, &input), two, "{src} -> {dst}");
        let input = ipv6_input(*s.ip(), *d.ip(), Some((s.port(), d.port())));
        assert_eq!(toeplitz(&DEFAULT_KEY, &input), four, "{src} -> {dst} tcp");
    }
}

#[test]
fn toeplitz_is_linear_and_zero_for_zero_input() {
    assert_eq!(toeplitz(&DEFAULT_KEY, &[0; 12]), 0);
    assert_eq!(toeplitz(&DEFAULT_KEY, &[]), 0);
    // The hash is XOR-linear in its input.
    let a = [1u8, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
    let b = [0xf0u8, 0, 0x0f, 0x55, 0xaa, 1, 2, 3, 4, 5, 6, 7];
    let x: Vec<u8> = a.iter().zip(&b).map(|(p, q)| p ^ q).collect();
    assert_eq!(
        toeplitz(&DEFAULT_KEY, &x),
        toeplitz(&DEFAULT_KEY, &a) ^ toeplitz(&DEFAULT_KEY, &b)
    );
    // The first input bit takes the key's first 32 bits.
    assert_eq!(toeplitz(&DEFAULT_KEY, &[0x80]), 0x6d5a56da);
    // A short key is padded with zeros rather than read out of bounds.
    assert_eq!(toeplitz(&[0xff; 4], &[0, 0, 0, 0, 0x80]), 0);
}

/// An Ethernet frame around an IPv4 packet of protocol `proto` whose payload
/// starts with the ports; `frag` is the flags-and-offset field.
fn ipv4_frame(src: [u8; 4], dst: [u8; 4], proto: u8, ports: (u16, u16), frag: u16) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00];
    let mut ip = vec![0x45, 0, 0, 48, 0, 1];
    ip.extend_from_slice(&frag.to_be_bytes());
    ip.extend_from_slice(&[64, proto, 0, 0]);
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    f.extend_from_slice(&ip);
    f.extend_from_slice(&ports.0.to_be_bytes());
    f.extend_from_slice(&ports.1.to_be_bytes());
    // Enough for a TCP header (20 bytes) or a UDP one (8) and some payload.
    f.extend_from_slice(&[0, 28, 0, 0, 0, 0, 0, 0, 0x50, 0, 0, 0, 0, 0, 0, 0]);
    f.extend_from_slice(&[0; 8]);
    f
}

/// An Ethernet frame around an IPv6 UDP packet.
fn ipv6_udp_frame(src: Ipv6Addr, dst: Ipv6Addr, ports: (u16, u16)) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x86, 0xdd];
    f.extend_from_slice(&[0x60, 0, 0, 0, 0, 16, UDP, 64]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    f.extend_from_slice(&ports.0.to_be_bytes());
    f.extend_from_slice(&ports.1.to_be_bytes());
    f.extend_from_slice(&[0, 16, 0, 0]);
    f.extend_from_slice(&[0; 8]);
    f
}

fn on(types: HashTypes) -> RssConf {
    let mut c = RssConf::default();
    c.configure(4, true, types, None);
    c
}

#[test]
fn frames_are_hashed_over_the_tuple_their_type_says() {
    let (d, s) = (v4(V4[0].0), v4(V4[0].1));
    let tcp = ipv4_frame(
        s.ip().octets(),
        d.ip().octets(),
        TCP,
        (s.port(), d.port()),
        0,
    );
    let udp = ipv4_frame(
        s.ip().octets(),
        d.ip().octets(),
        UDP,
        (s.port(), d.port()),
        0,
    );
    let icmp = ipv4_frame(s.ip().octets(), d.ip().octets(), 1, (0, 0), 0);
    let (two, four) = (V4[0].2, V4[0].3);

    let all = on(HashTypes::ALL);
    assert_eq!(all.hash(&tcp), Some(four));
    assert_eq!(all.hash(&udp), Some(four), "UDP ports hash as TCP's do");
    assert_eq!(all.hash(&icmp), Some(two));

    // Only the family type: TCP and UDP fall back to the addresses.
    let ip = on(HashTypes::IPV4);
    assert_eq!(ip.hash(&tcp), Some(two));
    assert_eq!(ip.hash(&udp), Some(two));
    assert_eq!(ip.hash(&icmp), Some(two));

    // Only UDP (testpmd's --rss-udp): TCP and ICMP are not hashed.
    let udp_only = on(HashTypes::IPV4_UDP | HashTypes::IPV6_UDP);
    assert_eq!(udp_only.hash(&udp), Some(four));
    assert_eq!(udp_only.hash(&tcp), None);
    assert_eq!(udp_only.hash(&icmp), None);
    assert_eq!(on(HashTypes::IPV4_OTHER).hash(&icmp), Some(two));
    assert_eq!(on(HashTypes::IPV6).hash(&tcp), None, "IPv6 types only");
}

#[test]
fn ipv6_frames_hash_as_the_vectors_say() {
    let (d, s) = (v6(V6[1].0), v6(V6[1].1));
    let udp = ipv6_udp_frame(*s.ip(), *d.ip(), (s.port(), d.port()));
    assert_eq!(on(HashTypes::ALL).hash(&udp), Some(V6[1].3));
    assert_eq!(on(HashTypes::IPV6).hash(&udp), Some(V6[1].2));
    assert_eq!(on(HashTypes::IPV4).hash(&udp), None);
}

#[test]
fn every_fragment_of_a_datagram_hashes_over_the_addresses() {
    let (d, s) = (v4(V4[2].0), v4(V4[2].1));
    let (src, dst) = (s.ip().octets(), d.ip().octets());
    let first = ipv4_frame(src, dst, UDP, (s.port(), d.port()), 0x2000);
    let later = ipv4_frame(src, dst, UDP, (0xdead, 0xbeef), 0x0010);
    let all = on(HashTypes::ALL);
    assert_eq!(all.hash(&first), Some(V4[2].2));
    assert_eq!(all.hash(&later), Some(V4[2].2));
    assert_eq!(on(HashTypes::FRAG_IPV4).hash(&later), Some(V4[2].2));
    assert_eq!(on(HashTypes::IPV4_UDP).hash(&later), None);
}

#[test]
fn non_ip_frames_and_rss_off_are_not_hashed_and_take_entry_0() {
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&[0x02, 0, 0, 0, 0, 1, 0x08, 0x06]);
    arp.resize(60, 0);
    let mut c = on(HashTypes::ALL);
    c.set_reta([(0, 3)]).unwrap();
    assert_eq!(c.steer(&arp), (3, None), "hash 0 picks RETA entry 0");
    assert_eq!(c.hash(&[0u8; 5]), None, "runt");

    let udp = ipv4_frame([10, 0, 0, 1], [10, 0, 0, 2], UDP, (1, 2), 0);
    let off = RssConf::default();
    assert_eq!(off.steer(&udp), (0, None));
    let mut none = on(HashTypes::NONE);
    none.set_reta([(0, 2)]).unwrap();
    assert_eq!(none.steer(&udp), (2, None));
}

#[test]
fn the_reta_is_indexed_by_the_hash_s_low_nine_bits() {
    let mut c = on(HashTypes::ALL);
    assert_eq!(c.queues(), 4);
    assert!(c
        .reta()
        .iter()
        .enumerate()
        .all(|(i, &q)| usize::from(q) == i % 4));
    assert_eq!(c.queue(Some(0x1234_5201)), 1, "0x201 = 513 -> entry 1");
    assert_eq!(c.queue(Some(0xffff_fe00)), 0, "0xfe00 & 0x1ff = entry 0");
    c.set_reta([(0x1ff, 2), (5, 3)]).unwrap();
    assert_eq!(c.queue(Some(0xdead_ffff)), 2);
    assert_eq!(c.queue(Some(0x0000_0205)), 3);
    // Refusals leave the table as it was.
    let before = c.reta().to_vec();
    assert_eq!(
        c.set_reta([(1, 0), (2, 4)]),
        Err(RetaError::Queue {
            entry: 2,
            queue: 4,
            queues: 4
        })
    );
    assert_eq!(c.set_reta([(512, 0)]), Err(RetaError::Size));
    assert_eq!(c.reta().to_vec(), before);
}

#[test]
fn configure_keeps_the_reta_unless_the_queue_count_changes() {
    let mut c = on(HashTypes::ALL);
    c.set_reta([(7, 0)]).unwrap();
    c.configure(4, true, HashTypes::IPV4, Some([1; KEY_LEN]));
    assert_eq!(c.reta()[7], 0, "same queue count: the RETA stays");
    assert_eq!(c.key, [1; KEY_LEN]);
    assert_eq!(c.types, HashTypes::IPV4);
    c.configure(2, true, HashTypes::ALL, None);
    assert_eq!(c.key, DEFAULT_KEY, "no key given: the default again");
    assert!(c
        .reta()
        .iter()
        .enumerate()
        .all(|(i, &q)| usize::from(q) == i % 2));
    c.configure(0, false, HashTypes::ALL, None);
    assert_eq!(c.queues(), 1);
}

#[test]
fn a_new_key_moves_flows() {
    let udp = ipv4_frame([10, 0, 0, 1], [10, 0, 0, 2], UDP, (1000, 5001), 0);
    let mut c = on(HashTypes::ALL);
    let h1 = c.hash(&udp).unwrap();
    let mut key = DEFAULT_KEY;
    key[0] ^= 0xff;
    c.configure(4, true, HashTypes::ALL, Some(key));
    let h2 = c.hash(&udp).unwrap();
    assert_ne!(h1, h2);
    assert_eq!(
        h2,
        toeplitz(
            &key,
            &ipv4_input(
                [10, 0, 0, 1].into(),
                [10, 0, 0, 2].into(),
                Some((1000, 5001))
            )
        )
    );
}
