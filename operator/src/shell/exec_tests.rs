//! Shell commands carried out on an appliance without EAL (no ports, one
//! worker's channels and counters, the offload engine on a scripted NIC):
//! every reply says what was done, refusals are one line and change
//! nothing, and `show offload` agrees with what a `set` did.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_channel::{unbounded, Sender};
use flowlift_dataplane::flow::{FlowId, FlowKey, KeyV4, NO_VLAN};
use flowlift_dataplane::flowstate::{FlowCounters, FlowEvent};
use flowlift_dataplane::lcore::{LcoreSignal, LcoreState};
use flowlift_dataplane::policy::FlowAction;
use flowlift_dataplane::stats::WorkerStats;
use flowlift_dataplane::PortIdx;

use super::*;
use crate::shell::reload::ReloadSource;
use flowlift_offload::flowlog::TscClock;
use flowlift_offload::manager::{OffloadParams, Offloader, PortPlan};
use flowlift_offload::{
    Capabilities, Fate, HwCounters, HwRule, HwRuleId, OffloadBackend, OffloadError,
};

/// A NIC that holds up to `capacity` rules and counts nothing (the flows'
/// packets all go through the worker's counters here).
struct FakeNic {
    rules: Rc<RefCell<HashSet<HwRuleId>>>,
    next: u64,
    capacity: u32,
}

impl OffloadBackend for FakeNic {
    fn name(&self) -> &'static str {
        "fake"
    }
    fn probe(&mut self) -> Capabilities {
        Capabilities {
            max_rules: Some(self.capacity),
            count: true,
            indirect_count: true,
            meter: false,
            fates: vec![Fate::RepresentedPort],
        }
    }
    fn install(&mut self, _rule: &HwRule) -> Result<HwRuleId, OffloadError> {
        let mut rules = self.rules.borrow_mut();
        if rules.len() >= self.capacity as usize {
            return Err(OffloadError::NoSpace("full".into()));
        }
        self.next += 1;
        rules.insert(HwRuleId(self.next));
        Ok(HwRuleId(self.next))
    }
    fn remove(&mut self, id: HwRuleId) -> Result<HwCounters, OffloadError> {
        if self.rules.borrow_mut().remove(&id) {
            Ok(HwCounters::default())
        } else {
            Err(OffloadError::NoSuchRule(id))
        }
    }
    fn query_batch(&mut self, ids: &[HwRuleId]) -> Vec<Result<HwCounters, OffloadError>> {
        ids.iter().map(|_| Ok(HwCounters::default())).collect()
    }
    fn installed(&self) -> usize {
        self.rules.borrow().len()
    }
    fn flush_stale(&mut self) -> Result<(), OffloadError> {
        Ok(())
    }
}

/// 1000 TSC ticks a second; control ticks 100 apart (0.1 s).
const HZ: u64 = 1000;
const TICK: u64 = 100;

struct Rig {
    config: Config,
    reload: ReloadSource,
    labels: Vec<PortLabel>,
    keeper: FlowKeeper,
    workers: Vec<WorkerHandle>,
    announce: Sender<FlowEvent>,
    tick: Duration,
    stop: AtomicBool,
    state: ShellState,
    now: u64,
    _lcore: FakeLcore,
}

/// A worker lcore that answers every request at once, on a thread of its
/// own (the shell waits for the answer), until dropped.
struct FakeLcore {
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeLcore {
    fn answering(signal: Arc<LcoreSignal>) -> FakeLcore {
        let done = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&done);
        let thread = std::thread::spawn(move || {
            while !stop.load(Ordering::Acquire) {
                let (epoch, state) = signal.requested();
                if !signal.has_acknowledged(epoch) {
                    signal.acknowledge(epoch, state);
                }
                std::thread::yield_now();
            }
        });
        FakeLcore {
            done,
            thread: Some(thread),
        }
    }
}

impl Drop for FakeLcore {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Rig {
    /// The demo config's appliance, its NIC holding `capacity` rules.
    fn new(capacity: u32) -> Rig {
        Rig::with_config(
            capacity,
            Config::demo(std::path::Path::new("unused.pcap"), None),
        )
    }

    /// An appliance running `config`, its NIC holding `capacity` rules.
    fn with_config(capacity: u32, config: Config) -> Rig {
        let labels: Vec<PortLabel> = config
            .ports
            .iter()
            .enumerate()
            .map(|(i, p)| PortLabel {
                name: p.name.clone(),
                port_id: i as u16,
                driver: "test".into(),
            })
            .collect();
        let n = labels.len();
        let mut keeper = FlowKeeper::new(
            None,
            TscClock::new(0, HZ),
            HZ,
            0.0,
            labels.iter().map(|l| l.name.clone()).collect(),
        );
        let nic = FakeNic {
            rules: Rc::default(),
            next: 0,
            capacity,
        };
        keeper.offload = Some(
            Offloader::start(
                Box::new(nic),
                config.offload.params(0),
                Vec::new(),
                PortPlan {
                    hw_port: (0..n as u16).collect(),
                    nic_in: (0..n).map(|i| i == 0).collect(),
                    metered: vec![false; n],
                },
                0,
                HZ,
            )
            .expect("the fake NIC offloads"),
        );
        let (announce, events) = unbounded();
        let (commands, _) = unbounded();
        let worker = WorkerHandle {
            lcore: 1,
            stats: Arc::new(WorkerStats::new(n)),
            counters: Arc::new(FlowCounters::new(64)),
            events,
            commands,
            returned: Arc::new(Mutex::new(None)),
            signal: Arc::new(LcoreSignal::new()),
        };
        let lcore = FakeLcore::answering(Arc::clone(&worker.signal));
        Rig {
            tick: Duration::from_millis(u64::from(config.offload.tick_ms)),
            config,
            reload: ReloadSource::default(),
            labels,
            keeper,
            workers: vec![worker],
            announce,
            stop: AtomicBool::new(false),
            state: ShellState::default(),
            now: 0,
            _lcore: lcore,
        }
    }

    fn run(&mut self, line: &str) -> Reply {
        let mut a = Appliance {
            labels: &self.labels,
            ports: &[],
            config: &mut self.config,
            reload: &self.reload,
            meters: &[],
            workers: &self.workers,
            keeper: &mut self.keeper,
            tick: &mut self.tick,
            stop: &self.stop,
            tsc_hz: HZ,
            state: &mut self.state,
        };
        a.execute(line)
    }

    fn ok(&mut self, line: &str) -> String {
        let r = self.run(line);
        assert!(r.ok, "{line:?} refused: {}", r.text);
        r.text
    }

    /// The refusal of `line`, one line.
    fn refused(&mut self, line: &str) -> String {
        let r = self.run(line);
        assert!(!r.ok, "{line:?} done: {}", r.text);
        assert!(!r.text.contains('\n'), "{line:?}: one line: {:?}", r.text);
        r.text
    }

    fn params(&self) -> OffloadParams {
        self.keeper.offload.as_ref().unwrap().params().clone()
    }

    /// Flow `src`, UDP from 10.0.0.`src` on the uplink to vf1, appears.
    fn add(&mut self, src: u8) {
        let id = FlowId(u32::from(src));
        self.workers[0].counters.get(id).unwrap().reset(self.now);
        let key = FlowKey::V4(KeyV4 {
            src: [10, 0, 0, src],
            dst: [192, 168, 0, 1],
            sport: 1000,
            dport: 5001,
            vlan: NO_VLAN,
            proto: 17,
            in_port: 0,
        });
        let action = FlowAction::Forward(PortIdx(1));
        self.announce
            .send(FlowEvent::New { id, key, action })
            .unwrap();
        self.keeper.drain_events(&self.workers).unwrap();
    }

    /// Flows `src` send `n` packets each in the next 0.1 s, then a tick.
    fn round(&mut self, sends: &[(u8, u64)]) {
        for &(s, n) in sends {
            let c = self.workers[0].counters.get(FlowId(u32::from(s))).unwrap();
            for _ in 0..n {
                c.count(100, self.now + 1);
            }
        }
        self.now += TICK;
        self.keeper.offload_tick(&self.workers, self.now);
    }

    /// The `rules:` line of `show offload`.
    fn rules_line(&mut self) -> String {
        let shown = self.ok("show offload");
        shown
            .lines()
            .find(|l| l.trim_start().starts_with("rules:"))
            .unwrap_or_else(|| panic!("no rules line in {shown}"))
            .trim()
            .to_string()
    }
}

#[test]
fn set_offload_refuses_what_the_type_cannot_hold_and_changes_nothing() {
    let mut r = Rig::new(100);
    let before = r.params();
    for (line, want) in [
        ("set offload max-rules 0.9", "expected a whole number"),
        ("set offload hold 1e30", "expected a whole number"),
        ("set offload tick-ms 50.5", "expected a whole number"),
        ("set offload promote-pps 1e999", "expected a finite number"),
    ] {
        let e = r.refused(line);
        assert!(e.contains(want), "{line:?}: {e}");
    }
    assert_eq!(r.params(), before);
    assert_eq!(r.tick, Duration::from_millis(100));
}

#[test]
fn set_offload_keeps_to_the_config_files_bounds() {
    // A NIC that would hold any number: the config's bound is what refuses.
    let mut r = Rig::new(u32::MAX);
    let before = r.params();
    for (line, want) in [
        (
            "set offload hold 0",
            "set offload hold 0: refused: offload.hold = 0: must be 1..=10000",
        ),
        (
            "set offload tick-ms 0",
            "refused: offload.tick_ms = 0: must be 1..=60000",
        ),
        (
            "set offload tick-ms 60001",
            "refused: offload.tick_ms = 60001",
        ),
        (
            "set offload promote-pps -5",
            "refused: offload.promote_pps = -5: must be 0..=1500000000",
        ),
        (
            "set offload demote-pps 2000",
            "above offload.promote_pps = 1000: flows would flap",
        ),
        (
            "set offload promote-pps 50",
            "demote_pps = 100 is above offload.promote_pps = 50",
        ),
        (
            "set offload max-rules 16777217",
            "refused: offload.max_rules = 16777217",
        ),
    ] {
        let e = r.refused(line);
        assert!(e.contains(want), "{line:?}: expected {want:?} in {e:?}");
    }
    assert_eq!(r.params(), before, "nothing changed");
    assert_eq!(r.tick, Duration::from_millis(100));
}

#[test]
fn set_offload_echoes_the_value_as_stored() {
    let mut r = Rig::new(100);
    assert_eq!(r.ok("set offload hold 10000"), "offload hold set to 10000");
    assert_eq!(r.params().hold, 10000);
    assert_eq!(
        r.ok("set offload promote-pps 1500.25"),
        "offload promote-pps set to 1500.25"
    );
    assert_eq!(
        r.ok("set offload demote-pps -0"),
        "offload demote-pps set to 0"
    );
    assert_eq!(r.params().demote_pps.to_bits(), 0f64.to_bits());
    assert!(r
        .refused("set offload promote-pps 1e300")
        .contains("offload.promote_pps = 1e300: must be 0..=1500000000"));
    assert_eq!(
        r.ok("set offload promote-pps 1500000000"),
        "offload promote-pps set to 1500000000"
    );
    assert_eq!(r.params().promote_pps, 1.5e9);
    assert_eq!(r.ok("set offload tick-ms 25"), "offload tick-ms set to 25");
    assert_eq!(r.tick, Duration::from_millis(25));
    assert_eq!(
        r.ok("set offload max-rules 1"),
        "offload max-rules set to 1"
    );
    assert_eq!(r.params().max_rules, 1);
    let e = r.refused("set offload max-rules 101");
    assert!(e.ends_with("refused: the NIC holds 100 rules"), "{e}");
    let shown = r.ok("show offload");
    assert!(shown.contains("rules: 0 used of 1 (max-rules)"), "{shown}");
    assert!(
        shown.contains("promote-pps 1500000000, demote-pps 0,"),
        "{shown}"
    );
    assert!(shown.contains("hold 10000, tick-ms 25"), "{shown}");
    assert!(
        shown.contains("final counts to come: 0 removed rules; ended flows waiting for them: 0"),
        "{shown}"
    );
}

#[test]
fn lowering_max_rules_below_the_rules_in_use_says_how_many_go_and_they_do() {
    let mut r = Rig::new(100);
    let all: Vec<(u8, u64)> = (1..=7).map(|s| (s, 200)).collect();
    for &(s, _) in &all {
        r.add(s);
    }
    for _ in 0..4 {
        r.round(&all);
    }
    assert_eq!(
        r.rules_line(),
        "rules: 7 used of 100 (max-rules); static rules: 0 (flow list)"
    );
    let reply = r.ok("set offload max-rules 4");
    assert!(
        reply.starts_with("offload max-rules set to 4; 3 offloaded flows over it will be demoted"),
        "{reply}"
    );
    assert_eq!(
        r.rules_line(),
        "rules: 7 used of 4 (max-rules), 3 of them coming off; static rules: 0 (flow list)"
    );
    r.round(&all);
    assert_eq!(
        r.rules_line(),
        "rules: 4 used of 4 (max-rules); static rules: 0 (flow list)"
    );
    // Nothing over: nothing said.
    assert_eq!(
        r.ok("set offload max-rules 4"),
        "offload max-rules set to 4"
    );
    let reply = r.ok("set offload max-rules 1");
    assert!(reply.contains("; 3 offloaded flows over it"), "{reply}");
    r.round(&all);
    assert_eq!(
        r.rules_line(),
        "rules: 1 used of 1 (max-rules); static rules: 0 (flow list)"
    );
}

#[test]
fn flow_offload_says_which_flow_gave_its_rule_up() {
    let mut r = Rig::new(2);
    for s in 1..=3 {
        r.add(s);
    }
    for _ in 0..4 {
        r.round(&[(1, 300), (2, 200)]);
    }
    let reply = r.ok("flow offload 3");
    let demoted = flow_id(0, FlowId(2));
    assert!(
        reply.starts_with("flow 3 offloaded (rule ")
            && reply.ends_with(&format!(
                "; flow {demoted} gave its rule up for it (the coldest the rates had put there)"
            )),
        "{reply}"
    );
}

#[test]
fn a_second_start_or_stop_says_it_changed_nothing() {
    let mut r = Rig::new(10);
    assert_eq!(r.ok("start"), "Forwarding already started");
    assert!(r.ok("stop").starts_with("Forwarding stopped"));
    let signal = &r.workers[0].signal;
    assert_eq!(signal.requested().1, LcoreState::Paused);
    assert_eq!(
        signal.acked(),
        signal.requested(),
        "stop returns once acknowledged"
    );
    assert_eq!(r.ok("stop"), "Forwarding already stopped");
    assert_eq!(r.ok("start"), "Forwarding started");
    let signal = &r.workers[0].signal;
    assert_eq!(signal.acked(), (2, LcoreState::Running));
}

#[test]
fn policy_add_and_del_say_which_number_the_policy_has() {
    let mut r = Rig::new(10);
    assert_eq!(
        r.ok("policy add priority 1 proto udp offload never"),
        "policy added as 0: priority 1 proto 17 -> offload never (1 policy; it applies to flows announced from now on)"
    );
    // Kept by priority: a higher one goes first, and the first moves down.
    let reply = r.ok("policy add priority 5 proto tcp offload always");
    assert!(
        reply.starts_with("policy added as 0: priority 5 proto 6 -> offload always (2 policies"),
        "{reply}"
    );
    assert_eq!(
        r.ok("policy list"),
        "0: priority 5 proto 6 -> offload always\n1: priority 1 proto 17 -> offload never\n"
    );
    assert_eq!(
        r.ok("policy del 0"),
        "policy 0 removed: priority 5 proto 6 -> offload always (the ones after it are now 0 and up)"
    );
    assert_eq!(
        r.ok("policy del 0"),
        "policy 0 removed: priority 1 proto 17 -> offload never"
    );
    assert_eq!(
        r.refused("policy del 0"),
        "policy del: no policy 0 (0 policies; see policy list)"
    );
}

/// A config file for the reload tests: `{promote}`, `{lcores}` and `{extra}`
/// are filled in.
const RELOADED: &str = r#"
[dataplane]
worker_lcores = {lcores}

[offload]
promote_pps = {promote}
{extra}

[[port]]
name = "uplink"
role = "uplink"
device = "net_null0"

[[port]]
name = "vf1"
role = "vf"
mac = "02:00:00:00:00:01"
device = "net_null1"
rate_limit_pps = 1000
"#;

/// The reload rig: an appliance running the file as first written.
fn reload_rig(dir: &tempfile::TempDir) -> (Rig, std::path::PathBuf) {
    let path = dir.path().join("flowlift.toml");
    write_reloaded(&path, "1000", "[1]", "");
    let config = Config::load(&path).unwrap();
    let mut r = Rig::with_config(16, config);
    r.reload = ReloadSource {
        path: Some(path.clone()),
        ..ReloadSource::default()
    };
    (r, path)
}

fn write_reloaded(path: &std::path::Path, promote: &str, lcores: &str, extra: &str) {
    let text = RELOADED
        .replace("{promote}", promote)
        .replace("{lcores}", lcores)
        .replace("{extra}", extra);
    std::fs::write(path, text).unwrap();
}

fn promote_pps(r: &Rig) -> f64 {
    r.keeper.offload.as_ref().unwrap().params().promote_pps
}

#[test]
fn a_reload_applies_thresholds_tick_and_policies_and_says_each() {
    let dir = tempfile::tempdir().unwrap();
    let (mut r, path) = reload_rig(&dir);
    assert!(r.ok("reload").contains("nothing changed"));
    write_reloaded(
        &path,
        "5000",
        "[1]",
        "tick_ms = 50\n[[offload.policy]]\ndport = 53\noffload = \"never\"",
    );
    let text = r.ok("reload");
    assert!(text.contains("3 settings changed"), "{text}");
    assert!(
        text.contains("offload.promote_pps 1000.0 -> 5000.0"),
        "{text}"
    );
    assert!(text.contains("offload.tick_ms 100 -> 50"), "{text}");
    assert!(text.contains("offload.policy 0 -> 1"), "{text}");
    assert_eq!(promote_pps(&r), 5000.0);
    assert_eq!(r.tick, Duration::from_millis(50));
    assert_eq!(r.keeper.offload.as_ref().unwrap().policies().len(), 1);
    assert_eq!(r.config, Config::load(&path).unwrap(), "the running config");
}

#[test]
fn a_bad_reload_changes_nothing_and_names_why() {
    let dir = tempfile::tempdir().unwrap();
    let (mut r, path) = reload_rig(&dir);
    let before = r.config.clone();
    for (promote, lcores, extra, why) in [
        ("-5", "[1]", "", "promote_pps"),
        ("5000", "[1, 2]", "", "dataplane.worker_lcores"),
        ("5000", "[1]", "no_such_key = 1", "no_such_key"),
    ] {
        write_reloaded(&path, promote, lcores, extra);
        let reply = r.run("reload");
        assert!(!reply.ok, "{promote} {lcores} {extra}: {}", reply.text);
        assert!(
            reply.text.contains("refused, nothing changed") && reply.text.contains(why),
            "{why}: {}",
            reply.text
        );
        assert_eq!(r.config, before, "{why}: the running config is untouched");
        assert_eq!(promote_pps(&r), 1000.0, "{why}: the engine is untouched");
        assert_eq!(r.tick, Duration::from_millis(100));
    }
    std::fs::remove_file(&path).unwrap();
    let reply = r.run("reload");
    assert!(
        !reply.ok && reply.text.contains("flowlift.toml"),
        "{}",
        reply.text
    );
    assert_eq!(r.config, before);
}

#[test]
fn a_reload_puts_back_what_the_shell_set_and_the_demo_has_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let (mut r, path) = reload_rig(&dir);
    r.ok("set offload promote-pps 3000");
    assert_eq!(r.config.offload.promote_pps, 3000.0, "the running config");
    let text = r.ok("reload");
    assert!(
        text.contains("offload.promote_pps 3000.0 -> 1000.0"),
        "{text}"
    );
    assert_eq!(promote_pps(&r), 1000.0);
    // A budget beyond the NIC's is capped, as at start.
    write_reloaded(&path, "1000", "[1]", "max_rules = 64");
    let text = r.ok("reload");
    assert!(text.contains("offload.max_rules 1024 -> 64"), "{text}");
    assert!(text.contains("the NIC holds 16 rules"), "{text}");
    assert_eq!(r.keeper.offload.as_ref().unwrap().params().max_rules, 16);
    let reply = Rig::new(16).run("reload");
    assert!(
        !reply.ok && reply.text.contains("built-in demo"),
        "{}",
        reply.text
    );
}
