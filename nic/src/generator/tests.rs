//! The generator's unit tests: the Poisson births, the size law's top-1%
//! share, unique keys, determinism by seed, templates that parse as their
//! flow's key, and the ground truth's accounting through a paced uplink.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use super::args::{GenArgs, Params, Scenario};
use super::births::{packets_sent, planned_total, Births, GenKey};
use super::law::{SizeLaw, TOP};
use super::Generator;
use crate::devargs::{Devargs, DevargsError};

/// The settings `devargs` give, keeping the truth.
fn params(devargs: &str, rate_pps: u64) -> Params {
    let d = Devargs::parse(devargs).unwrap();
    Params {
        keep_truth: true,
        keep_series: true,
        ..Params::resolve(d.gen.as_ref().unwrap(), rate_pps, 4)
    }
}

/// The share of all packets the largest 1% of `sizes` holds.
fn top_share(mut sizes: Vec<u64>) -> f64 {
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    let top = (sizes.len() as f64 * TOP).round() as usize;
    let all: u64 = sizes.iter().sum();
    sizes[..top].iter().sum::<u64>() as f64 / all as f64
}

#[test]
fn the_law_s_top_share_is_the_one_asked_for() {
    for want in [0.9, 0.6, 0.3] {
        let law = SizeLaw::for_share(want, 200.0);
        assert!((law.top_share(TOP) - want).abs() < 1e-6, "{law:?}");
        assert!(law.min() >= 1.0);
    }
    // The unbounded law's p^(1 - 1/a) is the limit of a wide bound.
    for a in [1.5, 3.0] {
        let law = SizeLaw::bounded(a, 1e12);
        let unbounded = TOP.powf(1.0 - 1.0 / a);
        assert!((law.top_share(TOP) - unbounded).abs() < 1e-3, "a={a}");
    }
}

#[test]
fn the_realised_top_share_is_near_the_target() {
    for (share, seed) in [(900_000, 1), (900_000, 2), (600_000, 3), (300_000, 4)] {
        let p = params(
            &format!(
                "gen=steady,gen_top_share=0.{},gen_flows=100000,gen_seed={seed}",
                share / 100_000
            ),
            100_000,
        );
        let sizes: Vec<u64> = Births::new(&p).map(|f| f.size).collect();
        assert_eq!(sizes.len(), 100_000);
        let got = top_share(sizes);
        let want = f64::from(share) / 1e6;
        assert!((got - want).abs() < 0.04, "seed {seed}: {got} vs {want}");
    }
}

#[test]
fn births_are_poisson_at_the_rate_and_a_flash_crowd_is_ten_times_it() {
    let p = params("gen=steady,gen_flows_per_s=1000,gen_seconds=100", 0);
    let born: Vec<u64> = Births::new(&p).map(|f| f.born_ns).collect();
    // Mean 100,000, standard deviation 316: within 5 of them.
    assert!(
        (born.len() as i64 - 100_000).abs() < 1_600,
        "{}",
        born.len()
    );
    assert!(born.windows(2).all(|w| w[0] <= w[1]), "in time order");
    // Gaps are exponential: as many above the mean as e^-1 says.
    let gaps: Vec<u64> = born.windows(2).map(|w| w[1] - w[0]).collect();
    let above = gaps.iter().filter(|&&g| g > 1_000_000).count() as f64 / gaps.len() as f64;
    assert!((above - (-1f64).exp()).abs() < 0.01, "{above}");

    let p = params("gen=flash,gen_flows_per_s=1000,gen_seconds=10", 0);
    let per_s = |lo: u64, hi: u64| {
        Births::new(&p)
            .filter(|f| (lo * 1_000_000_000..hi * 1_000_000_000).contains(&f.born_ns))
            .count() as f64
            / (hi - lo) as f64
    };
    let (before, during, after) = (per_s(0, 5), per_s(5, 7), per_s(7, 10));
    assert!((before - 1000.0).abs() < 100.0, "{before}");
    assert!((during - 10_000.0).abs() < 400.0, "{during}");
    assert!((after - 1000.0).abs() < 100.0, "{after}");
}

#[test]
fn a_hot_set_shift_replaces_the_top_flows_at_once() {
    let p = params("gen=shift,gen_flows_per_s=2000,gen_seconds=30", 0);
    let threshold = p.law.quantile(1.0 - TOP);
    let elephants: Vec<_> = Births::new(&p)
        .filter(|f| f.size as f64 >= threshold)
        .collect();
    // About 1% of 60,000 flows, born at 0, 10 and 20 s, each gone by the
    // next shift.
    assert!(
        (450..=750).contains(&elephants.len()),
        "{}",
        elephants.len()
    );
    for f in &elephants {
        assert_eq!(f.born_ns % 10_000_000_000, 0, "{f:?}");
        let last = f.born_ns + (f.size - 1) * f.interval_ns;
        assert!(last < f.born_ns + 10_000_000_000, "{f:?}");
    }
    let epochs: HashSet<u64> = elephants.iter().map(|f| f.born_ns).collect();
    assert_eq!(epochs.len(), 3);
}

fn key_of(f: &super::FlowSpec) -> GenKey {
    f.key
}

#[test]
fn every_flow_has_a_key_never_used_before_in_the_run() {
    for devargs in [
        "gen=mice,gen_flows=300000,gen_ipv6=0.5,gen_vlan=0.5",
        "gen=churn,gen_flows=100000,gen_seed=9",
    ] {
        let p = params(devargs, 0);
        let mut seen = HashSet::new();
        // Unique by construction: the source address and port alone.
        let mut sources = HashSet::new();
        let mut v6 = 0;
        let births = Births::new(&p);
        let ids = births.ids();
        for f in births {
            assert!(seen.insert(key_of(&f)), "{devargs}: {f:?} twice");
            assert!(sources.insert((f.key.src, f.key.sport)), "{f:?}");
            assert_eq!(ids.index_of(f.key.src, f.key.sport), Some(f.index));
            v6 += usize::from(f.key.src.is_ipv6());
        }
        assert_eq!(seen.len() as u64, p.max_flows.unwrap());
        assert!(v6 > 0);
    }
}

/// The first `n` frames of a generator, and its truth's key per frame.
fn frames(p: &Params, n: usize) -> Vec<Box<[u8]>> {
    let mut g = Generator::new(p);
    let mut out = Vec::new();
    while let Some(f) = g.peek() {
        out.push(f.into());
        g.advance();
        if out.len() == n {
            break;
        }
    }
    out
}

#[test]
fn a_seed_gives_one_run_and_another_seed_another() {
    let p = |seed: u64| {
        params(
            &format!("gen=churn,gen_flows_per_s=500,gen_seed={seed}"),
            50_000,
        )
    };
    let a = frames(&p(7), 20_000);
    assert_eq!(a.len(), 20_000);
    assert_eq!(a, frames(&p(7), 20_000));
    assert_ne!(a, frames(&p(8), 20_000));
    let sizes = |seed| {
        Births::new(&p(seed))
            .take(1000)
            .map(|f| f.size)
            .collect::<Vec<_>>()
    };
    assert_ne!(
        sizes(7),
        sizes(8),
        "the seed draws the flows, not only their addresses"
    );
    assert_eq!(
        Births::new(&p(7)).take(1000).collect::<Vec<_>>(),
        Births::new(&p(7)).take(1000).collect::<Vec<_>>()
    );
}

#[test]
fn templates_parse_with_etherparse_as_their_flow_s_key() {
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    let p = params(
        "gen=steady,gen_flows=5000,gen_ipv6=0.5,gen_tcp=0.5,gen_vlan=0.3,gen_vfs=4",
        0,
    );
    let (mut v6, mut tcp, mut vlan) = (0, 0, 0);
    for f in Births::new(&p) {
        let frame = super::template::frame(&f);
        assert_eq!(frame.len(), usize::from(f.len));
        assert_eq!(frame[..6], [2, 0, 0, 0, 0, f.vf]);
        assert!((1..=4).contains(&f.vf));
        let s = SlicedPacket::from_ethernet(&frame).unwrap_or_else(|e| panic!("{f:?}: {e}"));
        let vid = s.vlan.as_ref().map(|v| match v {
            etherparse::VlanSlice::SingleVlan(v) => v.vlan_identifier().value(),
            etherparse::VlanSlice::DoubleVlan(v) => v.outer().vlan_identifier().value(),
        });
        assert_eq!(vid, f.key.vlan);
        let (src, dst): (IpAddr, IpAddr) = match s.net.unwrap() {
            NetSlice::Ipv4(ip) => {
                let h = ip.header();
                assert!(h.to_header().calc_header_checksum() == h.header_checksum());
                assert!(h.dont_fragment() && !h.is_fragmenting_payload());
                (h.source_addr().into(), h.destination_addr().into())
            }
            NetSlice::Ipv6(ip) => {
                v6 += 1;
                (
                    ip.header().source_addr().into(),
                    ip.header().destination_addr().into(),
                )
            }
        };
        let (proto, sport, dport) = match s.transport.unwrap() {
            TransportSlice::Tcp(t) => {
                tcp += 1;
                (6, t.source_port(), t.destination_port())
            }
            TransportSlice::Udp(u) => (17, u.source_port(), u.destination_port()),
            other => panic!("{other:?}"),
        };
        vlan += usize::from(vid.is_some());
        let got = GenKey {
            src,
            dst,
            proto,
            sport,
            dport,
            vlan: vid,
        };
        assert_eq!(got, f.key);
        // And as the model's (and flowlift's) own parser keys it.
        let k = flowlift_dataplane::wire::parse(&frame).unwrap().key;
        assert_eq!(
            (k.src(), k.dst(), k.sport(), k.vlan()),
            (src, dst, sport, vid)
        );
    }
    for (n, want) in [(v6, 2500), (tcp, 2500), (vlan, 1500)] {
        assert!((n as i64 - want).abs() < 250, "{n} vs {want}");
    }
}

#[test]
fn the_plan_counts_what_the_generator_sends() {
    for devargs in [
        "gen=churn,gen_flows_per_s=300,gen_seconds=2",
        "gen=shift,gen_flows_per_s=300,gen_seconds=12",
        "gen=mice,gen_flows=2000",
    ] {
        let p = params(devargs, 20_000);
        let mut g = Generator::new(&p);
        let mut n = 0u64;
        let mut per_flow: HashMap<u64, u64> = HashMap::new();
        while g.peek().is_some() {
            g.advance();
            n += 1;
        }
        assert!(g.finished());
        assert_eq!(Some(n), g.total(), "{devargs}");
        assert_eq!(Some(n), planned_total(&p));
        for f in g.truth().unwrap().flows() {
            *per_flow.entry(f.spec.index).or_default() += f.sent;
            assert_eq!(
                f.sent,
                packets_sent(&f.spec, p.warm_ns, p.end_ns),
                "{devargs}"
            );
            assert!(f.sent >= 1);
        }
        assert_eq!(per_flow.len(), g.truth().unwrap().flows().len());
    }
}

#[test]
fn packets_are_in_the_flows_time_order_and_each_flow_keeps_its_rate() {
    let p = params("gen=steady,gen_flows_per_s=200,gen_seconds=3", 50_000);
    let mut g = Generator::new(&p);
    // The time of each frame, rebuilt from its flow's spec.
    let mut last = 0;
    let mut seen: HashMap<u64, u64> = HashMap::new();
    while g.peek().is_some() {
        let (_, index, _) = g.current.unwrap();
        let spec = g.truth().unwrap().flows()[index as usize].spec;
        let j = seen.entry(index).or_default();
        let t = spec.born_ns + *j * spec.interval_ns;
        *j += 1;
        assert_eq!(g.due_ns(), Some(t), "the frame's time is its flow's");
        assert!(t >= last, "time goes forward");
        last = t;
        g.advance();
    }
    assert!(last < 3_000_000_000);
}

#[test]
fn devargs_of_the_generated_wire() {
    let d = Devargs::parse("gen=churn,gen_flows_per_s=300,gen_top_share=0.8,gen_seconds=2.5,gen_seed=3,gen_truth=/t/x.jsonl,rate_pps=1000").unwrap();
    let g = d.gen.clone().unwrap();
    assert_eq!(g.scenario, Scenario::Churn);
    assert_eq!(
        (g.flows_per_s, g.top_share_ppm, g.duration_ms, g.seed),
        (Some(300), Some(800_000), Some(2500), 3)
    );
    assert_eq!(g.truth.as_deref(), Some(std::path::Path::new("/t/x.jsonl")));
    let p = Params::resolve(&g, d.rate_pps, 0);
    assert_eq!(p.vfs, 1);
    assert!(p.keep_truth, "gen_truth keeps it");
    let mut no_file = g.clone();
    no_file.truth = None;
    let p2 = Params::resolve(&no_file, d.rate_pps, 0);
    assert!(!p2.keep_truth);
    let mut gen = Generator::new(&p2);
    while gen.peek().is_some() {
        gen.lost();
        gen.advance();
    }
    assert!(gen.truth().is_none(), "no file, no records");
    assert_eq!(p.end_ns, Some(2_500_000_000));
    // Sizes keep the total near the wire's rate: mean = rate / births.
    assert!((p.law.mean() - 1000.0 / 300.0).abs() < 1e-6 || p.law.min() == 1.0);
    assert_eq!(GenArgs::default().scenario, Scenario::Steady);

    for bad in [
        "gen=storm",
        "gen_seed=1",
        "gen=steady,wire=/a.pcap",
        "gen=steady,gen_top_share=1.5",
        "gen=steady,gen_top_share=0.999",
        "gen=steady,gen_flows_per_s=0",
        "gen=steady,gen_seconds=-1",
        "gen=steady,gen_truth=",
        "gen=steady,gen_vfs=0",
    ] {
        assert!(Devargs::parse(bad).is_err(), "{bad}");
    }
    assert!(matches!(
        Devargs::parse("gen_seed=1"),
        Err(DevargsError::Generated(..))
    ));
}

/// The host of the truth test: takes frames while its ring has room.
struct Host;

impl crate::uplink::Host for Host {
    type Buf = Box<[u8]>;
    fn fill(&mut self, _to: crate::Rx, frame: &[u8]) -> Result<Box<[u8]>, crate::FillError> {
        Ok(frame.into())
    }
    fn discard(&mut self, _buf: Box<[u8]>) {}
}

/// A paced generated wire into a small ring the test drains only now and
/// then: frames are missed, some are left in the ring at the end (lost at
/// the stop), and for every flow what the host got is what it sent less
/// what the truth says it missed.
#[test]
fn the_truth_is_sent_less_missed_flow_by_flow() {
    use std::time::{Duration, Instant};

    use crate::ring::Ring;
    use crate::rules::RuleSet;
    use crate::uplink::{step, Step, Uplink};
    use crate::{Fabric, Wire};

    let p = params(
        "gen=churn,gen_flows_per_s=400,gen_seconds=2,gen_vlan=0.3,gen_ipv6=0.3",
        1_000_000_000,
    );
    let mut wire = Wire::generated(Generator::new(&p), 1_000_000_000);
    // Every frame due at once: the wire never waits, the ring overflows.
    wire.start_pacing(Instant::now() - Duration::from_secs(100));
    let ring = Ring::new(16);
    let mut up = Uplink::new(Host, vec![ring.producer()]);
    let f = Fabric::new(vec![]);
    let mut got: HashMap<GenKey, (u64, u64)> = HashMap::new();
    let mut take = |frame: Box<[u8]>| {
        let k = flowlift_dataplane::wire::parse(&frame).unwrap().key;
        let key = GenKey {
            src: k.src(),
            dst: k.dst(),
            proto: k.proto(),
            sport: k.sport(),
            dport: k.dport(),
            vlan: k.vlan(),
        };
        let e = got.entry(key).or_default();
        e.0 += 1;
        e.1 += frame.len() as u64;
    };
    let mut n = 0u64;
    loop {
        match step(&mut wire, &mut up, &f, &mut RuleSet::empty(), &[]) {
            Step::Finished => break,
            _ => n += 1,
        }
        // The host polls a burst every 50 frames: it falls behind.
        if n.is_multiple_of(50) {
            for _ in 0..8 {
                if let Some(b) = ring.pop() {
                    take(b);
                }
            }
        }
    }
    // The stop: what is left in the ring is lost.
    let mut left = 0;
    while let Some(b) = ring.pop() {
        wire.lost_frame(&b);
        left += 1;
    }
    assert!(left > 0);
    let truth = wire.generator().unwrap().truth().unwrap();
    let (sent, missed) = truth.totals();
    assert_eq!(Some(sent), wire.total());
    assert_eq!(f.uplink.imissed.get() + left, missed);
    assert!(missed > 0 && missed < sent);
    let mut partly = 0;
    for t in truth.flows() {
        let want = (t.sent - t.missed, t.bytes() - t.missed_bytes());
        assert_eq!(got.remove(&t.spec.key).unwrap_or((0, 0)), want, "{t:?}");
        partly += usize::from(t.missed > 0 && t.missed < t.sent);
    }
    assert!(got.is_empty(), "no frame of a flow the truth lacks");
    assert!(partly > 0, "flows partly missed");

    // The file: one line per flow that sent anything, in the flow log's
    // spelling.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("truth.jsonl");
    truth.write_file(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), truth.flows().len());
    let first = &truth.flows()[0];
    let line = text.lines().next().unwrap();
    assert!(
        line.contains(&format!("\"src\":\"{}\"", first.spec.key.src)),
        "{line}"
    );
    assert!(
        line.contains(&format!("\"missed_packets\":{},", first.missed)),
        "{line}"
    );
}

#[test]
fn the_series_and_the_truth_count_what_rules_carried_when() {
    let p = params("gen=steady,gen_flows_per_s=300,gen_seconds=1.5", 20_000);
    let mut g = Generator::new(&p);
    // Every third frame is carried by a rule, every seventh missed.
    let (mut sent, mut nic, mut missed) = (0u64, 0u64, 0u64);
    let mut per_bin: HashMap<u64, (u64, u64, u64)> = HashMap::new();
    let mut first: HashMap<u64, u64> = HashMap::new();
    while let Some(at) = g.due_ns() {
        let (_, index, _) = g.current.unwrap();
        let b = per_bin.entry(at / super::BIN_NS).or_default();
        b.0 += 1;
        if sent % 3 == 0 {
            g.carried();
            nic += 1;
            b.2 += 1;
            first.entry(index).or_insert(at);
        } else if sent % 7 == 0 {
            g.lost();
            missed += 1;
            b.1 += 1;
        }
        sent += 1;
        g.advance();
    }
    let truth = g.truth().unwrap();
    let flows = truth.flows();
    assert_eq!(flows.iter().map(|f| f.nic).sum::<u64>(), nic);
    for f in flows {
        assert_eq!(f.first_nic_ns, first.get(&f.spec.index).copied(), "{f:?}");
        assert!(f.nic <= f.sent);
    }
    let bins = g.series().unwrap().bins();
    assert!(bins.len() >= 14 && bins.len() <= 15, "{} bins", bins.len());
    for (i, b) in bins.iter().enumerate() {
        let want = per_bin.get(&(i as u64)).copied().unwrap_or_default();
        assert_eq!((b.sent, b.missed, b.nic), want, "bin {i}");
    }
    let line = flows[0].json_from(0);
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["nic_packets"].as_u64(), Some(flows[0].nic));
    let pps = 1e9 / flows[0].spec.interval_ns as f64;
    assert!((v["pps"].as_f64().unwrap() - pps).abs() < 1e-3, "{line}");
    let mut csv = Vec::new();
    g.series().unwrap().write(&mut csv).unwrap();
    let csv = String::from_utf8(csv).unwrap();
    assert_eq!(csv.lines().next(), Some("t_s,sent,missed,nic"));
    assert_eq!(csv.lines().count(), bins.len() + 1);
    assert_eq!(
        csv.lines().nth(1).unwrap(),
        format!("0.0,{},{},{}", bins[0].sent, bins[0].missed, bins[0].nic)
    );
    let _ = missed;
}

#[test]
fn a_paced_generated_wire_sends_each_frame_at_its_time() {
    use std::time::{Duration, Instant};

    use crate::Wire;

    let p = params("gen=flash,gen_flows_per_s=50,gen_seconds=8", 2_000);
    let mut wire = Wire::generated(Generator::new(&p), 2_000);
    let epoch = Instant::now();
    // The start is the first frame's time: no wait for the first birth.
    let t0 = wire.generator().unwrap().due_ns().unwrap();
    wire.start_pacing(epoch);
    let mut times = Vec::new();
    while let Some(at) = wire.generator().unwrap().due_ns() {
        // Due exactly at its time on the timeline, not before.
        let at_d = Duration::from_nanos(at - t0);
        assert_eq!(wire.due_in(epoch + at_d), Duration::ZERO);
        if at > t0 {
            assert_eq!(
                wire.due_in(epoch + at_d - Duration::from_nanos(1)),
                Duration::from_nanos(1)
            );
        }
        times.push(at);
        wire.advance();
    }
    // The flash crowd (10x births from 5 s for 2 s) is a rise in the load
    // offered, not only in the mix: the flows born in it add their packets.
    let per_s = |a: u64, b: u64| {
        times
            .iter()
            .filter(|&&t| t >= a * 1_000_000_000 && t < b * 1_000_000_000)
            .count() as f64
            / (b - a) as f64
    };
    let (before, during) = (per_s(3, 5), per_s(5, 7));
    assert!(
        during > 2.0 * before,
        "{before} pps before the crowd, {during} in it"
    );

    // A restart goes on from the next frame: nothing is owed for the stop.
    let p = params("gen=steady,gen_flows_per_s=50,gen_seconds=4", 2_000);
    let mut wire = Wire::generated(Generator::new(&p), 2_000);
    wire.start_pacing(epoch);
    for _ in 0..500 {
        wire.advance();
    }
    let later = epoch + Duration::from_secs(3600);
    wire.start_pacing(later);
    assert_eq!(wire.due_in(later), Duration::ZERO, "the next frame at once");
    let next = wire.generator().unwrap().due_ns().unwrap();
    wire.advance();
    let after = wire.generator().unwrap().due_ns().unwrap();
    assert_eq!(wire.due_in(later), Duration::from_nanos(after - next));
}

#[test]
fn a_warm_wire_starts_with_its_flows_under_way() {
    // Packets in the wire's first second, and in all, with and without a
    // 60-s warm-up.
    let first_second = |devargs: &str| {
        let p = params(devargs, 20_000);
        let mut g = Generator::new(&p);
        let (mut first, mut all) = (0u64, 0u64);
        let mut times = Vec::new();
        while let Some(t) = g.due_ns() {
            first += u64::from(t < 1_000_000_000);
            all += 1;
            times.push(t);
            g.advance();
        }
        assert_eq!(Some(all), planned_total(&p), "{devargs}");
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "time goes forward");
        assert!(
            *times.last().unwrap() < 2_000_000_000,
            "gen_seconds is the wire's"
        );
        (first, g)
    };
    let (cold, _) = first_second("gen=steady,gen_flows_per_s=200,gen_seconds=2,gen_truth=/t");
    let (warm, g) =
        first_second("gen=steady,gen_flows_per_s=200,gen_seconds=2,gen_warm=60,gen_truth=/t");
    assert!(
        warm > 3 * cold,
        "{warm} packets in the first second warm, {cold} cold"
    );
    // Flows born before the start are under way: their birth is negative
    // on the wire's time, and they sent only what was due after it.
    let truth = g.truth().unwrap();
    let early: Vec<_> = truth
        .flows()
        .iter()
        .filter(|f| f.sent > 0 && f.spec.born_ns < 60_000_000_000)
        .collect();
    assert!(!early.is_empty());
    for f in early {
        let v: serde_json::Value = serde_json::from_str(&f.json_from(60_000_000_000)).unwrap();
        assert!(v["born_s"].as_f64().unwrap() < 0.0, "{v}");
        assert!(
            f.sent < f.spec.size
                || f.spec.born_ns + f.spec.interval_ns * (f.spec.size - 1) >= 60_000_000_000
        );
    }
    // The flash crowd comes at the wire's 5 s, however long the warm-up.
    let p = params(
        "gen=flash,gen_flows_per_s=50,gen_seconds=8,gen_warm=30",
        2_000,
    );
    let births: Vec<f64> = Births::new(&p)
        .map(|f| f.born_ns as f64 / 1e9 - 30.0)
        .filter(|t| *t >= 0.0)
        .collect();
    let in_crowd = births.iter().filter(|t| (5.0..7.0).contains(*t)).count();
    let before = births.iter().filter(|t| (0.0..5.0).contains(*t)).count();
    // Per second: ten times the arrivals in the crowd's 2 s as in the 5 s
    // before.
    assert!(
        in_crowd as f64 / 2.0 > 5.0 * before as f64 / 5.0,
        "{in_crowd} births in the crowd, {before} before"
    );
}

#[test]
fn a_vms_flows_go_from_its_mac_to_the_outside_and_to_the_other_vms() {
    use super::template::ROUTER_MAC;

    let d = Devargs::parse("representor=vf[0-3],vf1_gen=churn,gen_seconds=2").unwrap();
    let p = Params::resolve_vf(&d.vf_gen, Scenario::Churn, 20_000, 4, 1, true);
    let uplink = Params::resolve(&d.vf_gen, 20_000, 4);
    let mut g = Generator::new(&p);
    let mut dsts = HashSet::new();
    while let Some(frame) = g.peek() {
        assert_eq!(frame[6..12], [2, 0, 0, 0, 0, 2], "from vf1's MAC");
        let dst: [u8; 6] = frame[..6].try_into().unwrap();
        assert_ne!(dst, [2, 0, 0, 0, 0, 2], "never to itself");
        dsts.insert(dst);
        g.advance();
    }
    assert!(dsts.contains(&ROUTER_MAC), "to the outside");
    for other in [1, 3, 4] {
        assert!(dsts.contains(&[2, 0, 0, 0, 0, other]), "to VM {other}");
    }
    // Its own flows: not the uplink's, with the same settings.
    let first = |p: &Params| Births::new(p).next().unwrap().key;
    assert_ne!(first(&p), first(&uplink));
}
