//! Issue 15's accounting under churn: `flowlift run` on the NIC model whose
//! uplink's wire is generated (`gen=churn`, scaled down), with offload on
//! through rte_flow (few rules, low thresholds, so flows are offloaded and
//! demoted all the time), the NIC refusing installs and failing counter
//! reads on purpose, and the wire paced with stalls so that the host misses
//! packets. After exit the flow log is checked against the generator's
//! ground truth (`gen_truth`), flow by flow and exactly: every flow that
//! reached the host is in the log once, with the packets and bytes it sent
//! less those the NIC missed; the flows whose every packet was missed are
//! not in it; and what the flow log says the NIC carried of each flow is
//! what the switch's rules took of it.

use std::collections::HashMap;

use flowlift_tests::model;
use flowlift_tests::{
    final_counters, flow_log_lines, number_after, offload_line, one_at_a_time, run_to_wire_end,
    tuple_of, Tuple,
};

#[test]
fn the_flow_log_is_the_ground_truth_less_what_was_missed_under_churn_and_faults() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let truth = dir.path().join("truth.jsonl");
    // 400 flows born a second for 4 s of the generator's time, paced at
    // 100,000 packets a second; the switch stalls 30 ms every 700 ms (the
    // paced wire misses what comes meanwhile). Installs refused (no space,
    // busy) and counter reads failed now and then. Live counters, and the
    // switch on the worker's CPU, as `offload_accounting` runs.
    let device = format!(
        "{},gen=churn,gen_flows_per_s=400,gen_seconds=4,gen_seed=15,gen_truth={},\
         rate_pps=100000,counter_refresh_ms=0,switch_cpu=1,fault_nospace_every=7,\
         fault_busy_every=5,fault_query_every=11,fault_stall_ms=30,fault_stall_every_ms=700",
        "net_flowlift0,representor=vf[0-3]",
        truth.display()
    );
    let tables = "idle_timeout_s = 0.5
[offload]
max_rules = 16
tick_ms = 10
promote_pps = 300
demote_pps = 100
hold = 2
backoff_ms = 10
";
    let cfg = model::config(dir.path(), &device, tables);
    let log = dir.path().join("flows.jsonl");
    // The generated wire ends the run.
    let (_, stdout) = run_to_wire_end(&cfg, "rte_flow", &log);

    // The truth: every flow once, with what it sent and what was missed.
    let mut want: HashMap<Tuple, (u64, u64)> = HashMap::new();
    // What the NIC's rules carried of each flow, as the switch saw it: the
    // flow log's `hw_packets` (read back from the rules' counters) must be
    // exactly that.
    let mut want_hw: HashMap<Tuple, u64> = HashMap::new();
    let (mut sent, mut missed, mut all_missed) = (0, 0, 0);
    for v in flow_log_lines(&truth) {
        let n = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"));
        sent += n("packets");
        missed += n("missed_packets");
        let got = (
            n("packets") - n("missed_packets"),
            n("bytes") - n("missed_bytes"),
        );
        if got.0 == 0 {
            all_missed += 1;
            continue;
        }
        assert!(
            want.insert(tuple_of(&v), got).is_none(),
            "a flow born twice: {v}"
        );
        want_hw.insert(tuple_of(&v), n("nic_packets"));
    }
    // How many reach the host depends on the machine's speed (a slow host
    // misses more of the paced wire); how many were born does not.
    assert!(
        want.len() + all_missed > 1000,
        "churn: {} flows born",
        want.len() + all_missed
    );
    assert!(!want.is_empty(), "flows reached the host");

    // The flow log: every flow once, each exactly its truth.
    let lines = flow_log_lines(&log);
    let mut hw = 0;
    let mut ended_idle = 0;
    let mut wrong = Vec::new();
    let mut seen = HashMap::new();
    for v in &lines {
        let t = tuple_of(v);
        assert!(seen.insert(t.clone(), ()).is_none(), "logged twice: {v}");
        let got = (v["packets"].as_u64().unwrap(), v["bytes"].as_u64().unwrap());
        if want.get(&t) != Some(&got) {
            wrong.push(format!("{v}: truth {:?}", want.get(&t)));
        }
        if want_hw.get(&t) != v["hw_packets"].as_u64().as_ref() {
            wrong.push(format!("{v}: the NIC carried {:?}", want_hw.get(&t)));
        }
        hw += v["hw_packets"].as_u64().unwrap();
        ended_idle += usize::from(v["end"] == "idle");
    }
    assert!(
        wrong.is_empty(),
        "flows counted wrong: {:#?}",
        &wrong[..wrong.len().min(5)]
    );
    assert_eq!(lines.len(), want.len(), "every flow the host got is logged");
    // Flows died during the run, and the flow table let them go.
    assert!(ended_idle > 0, "flows ended idle");

    // The NIC missed packets (and the truth knows which), and it carried
    // some of the flows.
    let counters = final_counters(&stdout);
    assert!(missed > 0, "some packets were missed");
    assert_eq!(
        counters["uplink"].rx_dropped, missed,
        "the uplink's imissed is the truth's missed"
    );
    assert!(hw > 0, "the NIC's rules carried packets");
    let line = offload_line(&stdout);
    assert!(number_after(&line, "installs") > 0, "{line}");
    assert!(number_after(&line, "removals") > 0, "{line}");
    assert!(line.contains("no_space") && line.contains("busy"), "{line}");
    eprintln!(
        "{} flows ({} all missed, {ended_idle} ended idle), {sent} packets sent, {missed} missed, \
         {hw} by the NIC; {line}",
        want.len() + all_missed,
        all_missed
    );
}

/// VMs that send generated flows too (`vfN_gen`): vm1 and vm2's flows go to
/// the outside and to the other VMs, the uplink's to the VMs, all churning,
/// with offload on. The flow log, port by port, is each wire's ground truth
/// less what was missed, and what the NIC carried of each flow is what the
/// switch's rules took of it.
#[test]
fn vms_generated_flows_both_ways_are_each_wires_truth() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let truth = |name: &str| dir.path().join(format!("{name}.jsonl"));
    let device = format!(
        "net_flowlift0,representor=vf[0-3],gen=churn,gen_flows_per_s=300,gen_seconds=3,\
         gen_seed=21,gen_truth={},vf0_gen=churn,vf0_gen_truth={},vf1_gen=steady,\
         vf1_gen_truth={},rate_pps=40000,counter_refresh_ms=0,switch_cpu=1",
        truth("uplink").display(),
        truth("vm1").display(),
        truth("vm2").display(),
    );
    let tables = "idle_timeout_s = 0.5
[offload]
max_rules = 32
tick_ms = 10
promote_pps = 200
demote_pps = 50
hold = 2
";
    let cfg = model::config(dir.path(), &device, tables);
    let log = dir.path().join("flows.jsonl");
    // Every wire, the VMs' too, ends the run.
    run_to_wire_end(&cfg, "rte_flow", &log);

    // Each port's truth: (packets, bytes, NIC packets) of each flow that
    // reached the host.
    let mut want: HashMap<(String, Tuple), (u64, u64, u64)> = HashMap::new();
    for port in ["uplink", "vm1", "vm2"] {
        let (mut outside, mut to_vm) = (0, 0);
        for v in flow_log_lines(&truth(port)) {
            let n = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"));
            if port != "uplink" {
                if n("vf") == 0 {
                    outside += 1;
                } else {
                    to_vm += 1;
                }
            }
            let got = (
                n("packets") - n("missed_packets"),
                n("bytes") - n("missed_bytes"),
                n("nic_packets"),
            );
            if got.0 > 0 {
                assert!(want.insert((port.to_owned(), tuple_of(&v)), got).is_none());
            }
        }
        if port != "uplink" {
            assert!(
                outside > 0 && to_vm > 0,
                "{port}: {outside} flows out, {to_vm} to VMs"
            );
        }
    }
    let lines = flow_log_lines(&log);
    let mut wrong = Vec::new();
    let mut hw = HashMap::new();
    for v in &lines {
        let port = v["in_port"].as_str().unwrap().to_owned();
        let got = (
            v["packets"].as_u64().unwrap(),
            v["bytes"].as_u64().unwrap(),
            v["hw_packets"].as_u64().unwrap(),
        );
        *hw.entry(port.clone()).or_insert(0) += got.2;
        match want.remove(&(port, tuple_of(v))) {
            Some(t) if t == got => {}
            t => wrong.push(format!("{v}: truth {t:?}")),
        }
    }
    assert!(
        wrong.is_empty(),
        "flows counted wrong ({} of {}): {:#?}",
        wrong.len(),
        lines.len(),
        &wrong[..wrong.len().min(5)]
    );
    assert!(
        want.is_empty(),
        "flows not logged: {:?}",
        want.keys().take(3).collect::<Vec<_>>()
    );
    for port in ["uplink", "vm1", "vm2"] {
        assert!(
            hw.get(port).copied().unwrap_or(0) > 0,
            "the NIC carried {port}'s flows: {hw:?}"
        );
    }
    eprintln!("{} flows, NIC packets by sender {hw:?}", lines.len());
}
