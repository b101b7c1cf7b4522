//! VM traffic both ways (issue 12): `flowlift run --offload rte_flow` on the
//! built-in NIC model, whose uplink's wire carries flows to the VMs while
//! two VMs send too (their ports' `replay = FILE`, the PF's `vfN_wire`):
//! `vm1`'s flows go to the outside (a destination MAC no VF owns) and to
//! `vm2`, `vm2`'s to the outside. flowlift forwards each by its L2 table
//! (a VF's frame to another VF's MAC goes to that VF, the rest up the
//! uplink), and puts the hot ones on the NIC as transfer rules on the PF
//! whose `represented_port` item is the sending VF's representor, sending to
//! the uplink or to the other VF. The run ends by itself when every wire,
//! the VMs' too, is done.
//!
//! Checked against the captures alone (the oracle parses them with
//! etherparse), with `--capture-dir` on the uplink and on both VFs at once:
//! - the flow log, per direction (in-port and tuple): every flow's packets
//!   and bytes are what its capture sent times the loops, each line's
//!   `packets = sw_packets + hw_packets`, its action where its frames went;
//! - what left by the uplink (`uplink.pcap` + `uplink-offloaded.pcap`) is
//!   exactly the VMs' frames for the outside, the rules' share exactly the
//!   hardware count of those flows;
//! - `vm2` received (`vm2.pcap` + `vm2-offloaded.pcap`) exactly what the wire
//!   and `vm1` sent it, and `vm1` what the wire sent it;
//! - VM-to-VM flows were carried by the NIC once hot: the heaviest has
//!   `hw_packets > 0`, and `vm2-offloaded.pcap` holds exactly the hardware
//!   count of the flows to `vm2` by sender;
//! - the ports' totals: RX on each port its sender's frames, TX on each its
//!   receivers' (workers' and rules' shares together).

use std::collections::HashMap;
use std::path::Path;

use flowlift_dataplane::mac::MacAddr;
use flowlift_tests::model::{self, VFS};
use flowlift_tests::{
    describe, final_counters, flow_log_lines, flowlift, one_at_a_time, oracle, read_pcap, tuple_of,
    Tuple,
};
use flowlift_traffic::TrafficSpec;

const LOOPS: u64 = 4;

/// A MAC no VF owns: a host beyond the uplink.
const OUTSIDE: [u8; 6] = [2, 0, 0, 0, 0, 0xfe];

fn mac_of(vm: &str) -> [u8; 6] {
    let (_, last) = VFS.iter().find(|(n, _)| *n == vm).expect("a VF of VFS");
    [2, 0, 0, 0, 0, *last]
}

/// Where a frame of a sender goes, by flowlift's L2 table: to the VF owning
/// its destination MAC, else (a VF's frame) up the uplink.
fn receiver(frame: &[u8]) -> &'static str {
    VFS.iter()
        .find(|(_, m)| frame[..6] == [2, 0, 0, 0, 0, *m])
        .map_or("uplink", |(n, _)| n)
}

/// Frames as a multiset.
type Bag = HashMap<Vec<u8>, u64>;

fn bag<'a>(frames: impl IntoIterator<Item = &'a Vec<u8>>, times: u64) -> Bag {
    let mut out = Bag::new();
    for f in frames {
        *out.entry(f.clone()).or_default() += times;
    }
    out
}

fn union(a: Bag, b: Bag) -> Bag {
    let mut out = a;
    for (f, n) in b {
        *out.entry(f).or_default() += n;
    }
    out
}

fn size(b: &Bag) -> u64 {
    b.values().sum()
}

/// A capture of `flows` flows (Zipf) from `src` to `dst` in turn, heaviest
/// first.
fn capture(
    path: &Path,
    flows: u32,
    packets: u64,
    seed: u64,
    src: [u8; 6],
    dst: &[[u8; 6]],
) -> Vec<Vec<u8>> {
    model::capture(
        path,
        &TrafficSpec {
            flows,
            packets,
            seed,
            src_mac: MacAddr(src),
            dst_macs: dst.iter().map(|m| MacAddr(*m)).collect(),
            ..Default::default()
        },
    )
}

#[test]
fn vms_send_to_the_outside_and_to_each_other_through_flowlift_and_the_nic() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let (vm1, vm2) = (mac_of("vm1"), mac_of("vm2"));
    // The senders: the uplink's wire (to both VMs), vm1 (the heaviest flow
    // to vm2, the next to the outside, and so on), vm2 (to the outside). The
    // VMs' wires are the longer: the run must wait for them, not only for
    // the uplink's.
    let senders: Vec<(&str, Vec<Vec<u8>>)> = vec![
        (
            "uplink",
            capture(
                &dir.path().join("wire.pcap"),
                60,
                3_000,
                21,
                OUTSIDE,
                &[vm1, vm2],
            ),
        ),
        (
            "vm1",
            capture(
                &dir.path().join("vm1.pcap"),
                60,
                9_000,
                22,
                vm1,
                &[vm2, OUTSIDE],
            ),
        ),
        (
            "vm2",
            capture(&dir.path().join("vm2.pcap"), 40, 6_000, 23, vm2, &[OUTSIDE]),
        ),
    ];
    let cfg = model::config_replaying(
        dir.path(),
        &(model::uplink(&dir.path().join("wire.pcap"), LOOPS) + ",counter_refresh_ms=200"),
        "rx_desc = 1024
[offload]
max_rules = 32
tick_ms = 5
promote_pps = 2000
demote_pps = 500
hold = 2
backoff_ms = 10
",
        &[
            ("vm1", &dir.path().join("vm1.pcap")),
            ("vm2", &dir.path().join("vm2.pcap")),
        ],
    );
    // The config check says what each VM sends, and puts it on the PF.
    // (Its own socket: the default one may be another run's.)
    let socket = dir.path().join("check.sock");
    let check = flowlift(&[
        "run",
        "--config",
        cfg.to_str().unwrap(),
        "--socket",
        socket.to_str().unwrap(),
        "--metrics",
        "",
        "--check-config",
    ]);
    assert!(check.status.success(), "{}", describe(&check));
    let text = String::from_utf8_lossy(&check.stdout);
    for (vm, vf, packets) in [("vm1", 0, 9_000), ("vm2", 1, 6_000)] {
        let capture = dir.path().join(format!("{vm}.pcap"));
        assert!(
            text.contains(&format!(
                "port {vm} replays {} ({packets} packets, {LOOPS} time(s)",
                capture.display()
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                ",vf{vf}_wire={},vf{vf}_loops={LOOPS}",
                capture.display()
            )),
            "{text}"
        );
    }

    let log = dir.path().join("flows.jsonl");
    let started = std::time::Instant::now();
    let run = flowlift(&[
        "run",
        "--config",
        cfg.to_str().unwrap(),
        "--offload",
        "rte_flow",
        "--capture-dir",
        out.to_str().unwrap(),
        "--flow-log",
        log.to_str().unwrap(),
    ]);
    eprintln!("run took {:?}", started.elapsed());
    assert!(run.status.success(), "{}", describe(&run));
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(
        stdout.contains("Stopping (replay complete)"),
        "the wires, the VMs' too, end the run\n{}",
        describe(&run)
    );
    let log = flow_log_lines(&log);

    // The oracle: every flow by sender and tuple, and where its frames go.
    let mut want: HashMap<(String, Tuple), (u64, u64)> = HashMap::new();
    let mut goes: HashMap<(String, Tuple), &str> = HashMap::new();
    for (from, frames) in &senders {
        for f in frames {
            let t = oracle(f).expect("every generated frame has a 5-tuple");
            let e = want.entry((from.to_string(), t.clone())).or_default();
            e.0 += LOOPS;
            e.1 += LOOPS * f.len() as u64;
            goes.insert((from.to_string(), t), receiver(f));
        }
    }
    let mut got: HashMap<(String, Tuple), (u64, u64)> = HashMap::new();
    let mut hw_of: HashMap<(String, Tuple), u64> = HashMap::new();
    for v in &log {
        let n = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"));
        assert_eq!(n("sw_packets") + n("hw_packets"), n("packets"), "{v}");
        assert_eq!(n("sw_bytes") + n("hw_bytes"), n("bytes"), "{v}");
        let key = (
            v["in_port"].as_str().expect("in_port").to_string(),
            tuple_of(v),
        );
        let to = goes
            .get(&key)
            .unwrap_or_else(|| panic!("a flow no capture sent: {v}"));
        assert_eq!(v["action"], format!("output:{to}"), "{v}");
        let e = got.entry(key.clone()).or_default();
        e.0 += n("packets");
        e.1 += n("bytes");
        *hw_of.entry(key).or_default() += n("hw_packets");
    }
    let wrong: Vec<_> = want
        .iter()
        .filter(|(k, w)| got.get(*k) != Some(*w))
        .take(5)
        .map(|(k, w)| format!("{k:?}: want {w:?}, got {:?}", got.get(k)))
        .collect();
    assert!(
        wrong.is_empty(),
        "flows counted wrong: {wrong:#?}\n{stdout}"
    );
    assert_eq!(got.len(), want.len(), "no flow the captures do not have");
    for from in ["uplink", "vm1", "vm2"] {
        assert!(
            want.keys().any(|(f, _)| f == from),
            "{from} sent flows of its own"
        );
    }

    // What each port sent out, by the captures of the PMD: the host's
    // share (`NAME.pcap`) and the rules' (`NAME-offloaded.pcap`).
    let sent_to = |to: &str| -> Bag {
        let frames = senders
            .iter()
            .flat_map(|(_, frames)| frames.iter())
            .filter(|f| receiver(f) == to);
        bag(frames, LOOPS)
    };
    let left = |port: &str| -> (Bag, Bag) {
        (
            bag(&read_pcap(&out.join(format!("{port}.pcap"))), 1),
            bag(&read_pcap(&out.join(format!("{port}-offloaded.pcap"))), 1),
        )
    };
    let hw_to = |to: &str, from: Option<&str>| -> u64 {
        hw_of
            .iter()
            .filter(|((f, t), _)| {
                goes[&(f.clone(), t.clone())] == to && from.is_none_or(|x| f == x)
            })
            .map(|(_, n)| *n)
            .sum()
    };
    for port in ["uplink", "vm1", "vm2"] {
        let (host, rules) = left(port);
        let want = sent_to(port);
        assert!(size(&want) > 0, "{port} receives something");
        assert_eq!(
            size(&rules),
            hw_to(port, None),
            "{port}-offloaded.pcap holds what the rules to {port} counted"
        );
        let all = union(host, rules);
        assert!(
            all == want,
            "{port}: what left (host {} + rules {}) is not what was sent to it ({} frames)",
            size(&all) - hw_to(port, None),
            hw_to(port, None),
            size(&want)
        );
    }
    // Nothing goes up but the VMs' frames for the outside.
    assert!(sent_to("uplink")
        .keys()
        .all(|f| f[6..12] == vm1 || f[6..12] == vm2));
    for (vm, _) in &VFS[2..] {
        assert!(
            read_pcap(&out.join(format!("{vm}.pcap"))).is_empty(),
            "{vm}"
        );
    }

    // VM to VM on the NIC once hot: the heaviest vm1 -> vm2 flow, and the
    // rules' frames to vm2 from vm1 in vm2-offloaded.pcap.
    let heaviest = want
        .iter()
        .filter(|(k, _)| k.0 == "vm1" && goes[*k] == "vm2")
        .max_by_key(|(_, (packets, _))| *packets)
        .map(|(k, _)| k.clone())
        .expect("vm1 sends to vm2");
    assert!(
        hw_of[&heaviest] > 0,
        "the heaviest VM-to-VM flow {heaviest:?} was never on the NIC\n{stdout}"
    );
    let (_, rules_to_vm2) = left("vm2");
    let from_vm1: u64 = rules_to_vm2
        .iter()
        .filter(|(f, _)| f[6..12] == vm1)
        .map(|(_, n)| n)
        .sum();
    assert_eq!(from_vm1, hw_to("vm2", Some("vm1")));
    assert!(from_vm1 > 0);
    // The VMs' flows to the outside on the NIC too.
    assert!(hw_to("uplink", Some("vm1")) + hw_to("uplink", Some("vm2")) > 0);

    // The ports' totals, workers' and rules' shares together.
    let counters = final_counters(&stdout);
    for (from, frames) in &senders {
        let c = &counters[*from];
        let bytes: u64 = frames.iter().map(|f| f.len() as u64).sum();
        assert_eq!(
            (c.rx_packets, c.rx_bytes),
            (frames.len() as u64 * LOOPS, bytes * LOOPS),
            "{from} RX: what it sent times the loops\n{stdout}"
        );
        assert_eq!(c.rx_dropped, 0, "nothing missed: the wires are unpaced");
    }
    for to in ["uplink", "vm1", "vm2"] {
        let want = sent_to(to);
        let c = &counters[to];
        let bytes: u64 = want.iter().map(|(f, n)| f.len() as u64 * n).sum();
        assert_eq!(
            (c.tx_packets, c.tx_bytes),
            (size(&want), bytes),
            "{to} TX: what was sent to it\n{stdout}"
        );
    }
    let offload_line = stdout
        .lines()
        .find(|l| l.contains("Offload (rte_flow"))
        .expect("the offload report line");
    eprintln!("{offload_line}");
    assert!(offload_line.contains("rules left 0"), "{offload_line}");
}
