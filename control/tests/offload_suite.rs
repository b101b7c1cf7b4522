//! The offload backend test suite, run against the emulated NIC: its switch runs
//! on a thread of its own taking commands, as it will on its lcore, and the
//! suite's traffic is counted by the switch's own classify-and-hit path. Also:
//! injected refusals come back as typed errors and leave nothing installed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crossbeam_channel::bounded;
use flowlift_control::offload::emulated::EmulatedBackend;
use flowlift_control::offload::static_lower::SwitchLayout;
use flowlift_control::offload::suite::{check, check_static, sample_rule};
use flowlift_control::offload::OffloadBackend;
use flowlift_dataplane::eswitch::{CounterBank, Eswitch, EswitchConfig, Faults};

struct Nic {
    switch: Arc<Mutex<Eswitch>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Drop for Nic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

fn nic(max_rules: usize) -> (EmulatedBackend, Nic) {
    let bank = Arc::new(CounterBank::new(max_rules + 8));
    let (cmd_tx, cmd_rx) = bounded(64);
    let (reply_tx, reply_rx) = bounded(64);
    let config = EswitchConfig {
        max_rules,
        inserts_per_sec: 0,
        clock_hz: 1_000_000_000,
        max_wildcards: 4,
    };
    let switch = Arc::new(Mutex::new(Eswitch::new(
        config,
        Arc::clone(&bank),
        cmd_rx,
        reply_tx,
        || 0,
    )));
    let stop = Arc::new(AtomicBool::new(false));
    let (sw, st) = (Arc::clone(&switch), Arc::clone(&stop));
    let thread = thread::spawn(move || {
        while !st.load(Ordering::SeqCst) {
            if sw.lock().unwrap().take_commands() == 0 {
                thread::sleep(Duration::from_micros(50));
            }
        }
    });
    let backend = EmulatedBackend::new(cmd_tx, reply_rx, bank, max_rules);
    (
        backend,
        Nic {
            switch,
            stop,
            thread: Some(thread),
        },
    )
}

/// Counts `packets` packets of `bytes` in all on `counter`, as the switch's
/// data path does: the bytes spread over the packets, the last takes the rest.
fn hit_packets(sw: &Eswitch, counter: u32, packets: u64, bytes: u64) {
    for p in 0..packets {
        let len = if p + 1 == packets {
            bytes - (packets - 1) * (bytes / packets)
        } else {
            bytes / packets
        };
        sw.hit(counter, len);
    }
}

#[test]
fn the_emulated_backend_passes_the_backend_suite() {
    let (mut backend, nic) = nic(16);
    let switch = Arc::clone(&nic.switch);
    check(
        &mut backend,
        |i| sample_rule(i, 0, 1),
        |rule, packets, bytes| {
            let sw = switch.lock().unwrap();
            let hit = sw
                .classify_exact(&rule.key)
                .expect("the rule matches its flow");
            assert_eq!(hit.out_port().map(|p| p.0), Some(rule.out_port));
            let counter = hit.counter.expect("exact rules count");
            hit_packets(&sw, counter, packets, bytes);
        },
    );
    assert_eq!(
        nic.switch.lock().unwrap().rules(),
        0,
        "no rule is left installed"
    );
}

#[test]
fn injected_refusals_are_typed_and_leave_nothing_behind() {
    let (mut backend, nic) = nic(4);
    backend
        .inject_faults(Faults {
            no_space: 1,
            busy: 1,
        })
        .unwrap();
    let r = sample_rule(1, 0, 1);
    assert_eq!(backend.install(&r).unwrap_err().label(), "no_space");
    assert_eq!(backend.install(&r).unwrap_err().label(), "busy");
    assert_eq!(backend.installed(), 0);
    assert_eq!(nic.switch.lock().unwrap().rules(), 0);
    let id = backend.install(&r).expect("faults used up");
    assert_eq!(backend.remove(id).unwrap().packets, 0);
}

#[test]
fn a_switch_that_stops_answering_is_reported_gone() {
    let (mut backend, nic) = nic(4);
    drop(nic);
    let err = backend.install(&sample_rule(1, 0, 1)).unwrap_err();
    assert_eq!(err.label(), "device_gone", "{err}");
}

#[test]
fn the_emulated_backend_passes_the_static_rule_suite() {
    let (backend, nic) = nic(16);
    let mut backend = backend.with_static_rules(
        SwitchLayout {
            port_ids: vec![0, 1, 2],
            queues: 1,
        },
        16..24,
    );
    let switch = Arc::clone(&nic.switch);
    check_static(&mut backend, 0, 2, |key, packets, bytes| {
        let sw = switch.lock().unwrap();
        let hit = sw.classify(key).expect("a static rule matches");
        assert_eq!(hit.out_port().map(|p| p.0), Some(2));
        let counter = hit.counter.expect("the rule counts");
        hit_packets(&sw, counter, packets, bytes);
    });
    assert_eq!(nic.switch.lock().unwrap().wildcards(), 0, "none left");
}

#[test]
fn a_backend_without_static_rules_refuses_them_in_testpmd_terms() {
    let (mut backend, _nic) = nic(4);
    let Ok(flowlift_control::shell::testpmd_flow::FlowCommand::Create(rule)) =
        flowlift_control::shell::testpmd_flow::parse(
            "flow create 0 ingress pattern eth / end actions drop / end",
        )
    else {
        panic!("parses");
    };
    let err = backend.create_static(&rule).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("Caught error type 1 (cause unspecified): "),
        "{err}"
    );
}

#[test]
fn a_full_static_rule_table_says_so_with_its_size() {
    use flowlift_control::shell::testpmd_flow::{parse, FlowCommand};
    use rte::flow::error_type as et;
    let rule = |port: u16, actions: &str| {
        let line = format!(
            "flow create 0 ingress pattern eth / ipv4 / udp dst is {port} / end actions {actions} / end"
        );
        match parse(&line) {
            Ok(FlowCommand::Create(r)) => r,
            other => panic!("{line}: {other:?}"),
        }
    };
    let layout = || SwitchLayout {
        port_ids: vec![0, 1, 2],
        queues: 1,
    };
    // (counters set aside, the switch's wildcard slots are 4): whichever
    // runs out first, the refusal is the table's.
    for (counters, size) in [(16..20, 4), (16..24, 4), (16..18, 2)] {
        let (backend, _nic) = nic(16);
        let mut backend = backend.with_static_rules(layout(), counters.clone());
        let ids: Vec<_> = (0..size)
            .map(|i| {
                backend
                    .create_static(&rule(1000 + i, "count / drop"))
                    .unwrap_or_else(|e| panic!("rule {i} of {size}: {e}"))
            })
            .collect();
        for actions in ["count / drop", "drop"] {
            let err = backend
                .create_static(&rule(2000, actions))
                .expect_err("the table is full");
            assert_eq!(
                (err.error_type, err.errno.0),
                (et::HANDLE, rte::errno::ENOSPC),
                "{counters:?} {actions}: {err}"
            );
            assert!(
                err.message
                    .contains(&format!("static-rule table is full ({size} rules)")),
                "{counters:?} {actions}: {err}"
            );
        }
        // Room again once one is gone.
        backend.destroy_static(ids[0]).unwrap();
        backend
            .create_static(&rule(2000, "count / drop"))
            .expect("a freed place is taken");
    }
}
