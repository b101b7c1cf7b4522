//! The static rule registry against a scripted NIC: testpmd's numbering
//! (highest plus one, 0 on an empty port), what each command answers (the
//! shell's `static_reply_tests` check the words), and that a refused or
//! mistyped command changes nothing. Commands are built by the shell's parser,
//! which reads the operator's lines these tests mean.

use std::collections::{HashMap, HashSet};

use rte::flow::{error_type as et, FlowError};

use flowlift_offload::flow_rule::{Action, FlowCommand, FlowRule};
use flowlift_offload::static_rules::*;
use flowlift_offload::{Capabilities, HwCounters, HwRule, HwRuleId, OffloadBackend, OffloadError};
// The shell's parser builds the commands from the lines an operator types
// (in unit tests only: the registry itself takes the offload side's model).
use flowlift_operator::shell::testpmd_flow;

/// A NIC that holds static rules only. It refuses a rule with a `jump`
/// action, as a NIC with one group would, and what the test scripts.
#[derive(Default)]
struct Nic {
    rules: HashMap<HwRuleId, FlowRule>,
    counters: HashMap<HwRuleId, HwCounters>,
    next: u64,
    /// The next `create_static` fails with this.
    refuse_create: Option<FlowError>,
    /// `destroy_static` of these fails (and the rule stays).
    refuse_destroy: HashSet<HwRuleId>,
    creates: usize,
    destroys: usize,
    /// Counts a destroyed rule's indirect counter shows only a refresh
    /// later (a cached device): the destroy reads what it reads now.
    late: Option<HashMap<HwRuleId, HwCounters>>,
}

fn nic_error(message: &str) -> FlowError {
    FlowError::new(et::UNSPECIFIED, message, 28)
}

impl Nic {
    fn check(rule: &FlowRule) -> Result<(), FlowError> {
        if rule
            .actions
            .iter()
            .any(|a| matches!(a, Action::Jump { .. }))
        {
            return Err(FlowError::new(et::ACTION, "jump: one group only", 95));
        }
        Ok(())
    }

    /// The id of the rule `pred` picks.
    fn id_of(&self, pred: impl Fn(&FlowRule) -> bool) -> HwRuleId {
        *self
            .rules
            .iter()
            .find(|(_, r)| pred(r))
            .map(|(id, _)| id)
            .expect("no such rule on the NIC")
    }
}

impl OffloadBackend for Nic {
    fn name(&self) -> &'static str {
        "fake"
    }
    fn probe(&mut self) -> Capabilities {
        Capabilities::default()
    }
    fn install(&mut self, _rule: &HwRule) -> Result<HwRuleId, OffloadError> {
        Err(OffloadError::Unsupported("static rules only".into()))
    }
    fn remove(&mut self, id: HwRuleId) -> Result<HwCounters, OffloadError> {
        Err(OffloadError::NoSuchRule(id))
    }
    fn query_batch(&mut self, ids: &[HwRuleId]) -> Vec<Result<HwCounters, OffloadError>> {
        ids.iter()
            .map(|id| Err(OffloadError::NoSuchRule(*id)))
            .collect()
    }
    fn installed(&self) -> usize {
        0
    }
    fn flush_stale(&mut self) -> Result<(), OffloadError> {
        Ok(())
    }

    fn validate_static(&mut self, rule: &FlowRule) -> Result<(), FlowError> {
        Nic::check(rule)
    }
    fn create_static(&mut self, rule: &FlowRule) -> Result<HwRuleId, FlowError> {
        self.creates += 1;
        Nic::check(rule)?;
        if let Some(e) = self.refuse_create.take() {
            return Err(e);
        }
        self.next += 1;
        let id = HwRuleId(self.next * 10);
        self.rules.insert(id, rule.clone());
        self.counters.insert(id, HwCounters::default());
        Ok(id)
    }
    fn destroy_static(&mut self, id: HwRuleId) -> Result<HwCounters, FlowError> {
        self.destroys += 1;
        if self.refuse_destroy.contains(&id) {
            return Err(nic_error("rule busy"));
        }
        self.rules
            .remove(&id)
            .ok_or_else(|| FlowError::new(et::HANDLE, "no such rule", 22))?;
        let now = self.counters.remove(&id).unwrap_or_default();
        if let Some(late) = self.late.as_mut() {
            late.insert(id, now);
        }
        Ok(now)
    }
    fn final_pending(&self, id: HwRuleId) -> bool {
        self.late.as_ref().is_some_and(|l| l.contains_key(&id))
    }
    fn query_static(&mut self, id: HwRuleId) -> Result<HwCounters, FlowError> {
        self.counters
            .get(&id)
            .copied()
            .ok_or_else(|| FlowError::new(et::HANDLE, "no such rule", 22))
    }
}

const PORTS: &[u16] = &[0, 1];

const UDP_COUNT_QUEUE: &str = "flow create 0 ingress pattern eth / ipv4 src is 10.0.0.1 / \
     udp dst is 5001 / end actions count / queue index 0 / end";

struct Shell {
    rules: StaticRules,
    nic: Nic,
}

impl Shell {
    fn new() -> Self {
        Shell {
            rules: StaticRules::new(),
            nic: Nic::default(),
        }
    }

    fn run(&mut self, line: &str) -> Result<StaticReply, StaticError> {
        let cmd = testpmd_flow::parse(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        self.rules.run(cmd, &mut self.nic, PORTS)
    }

    fn ok(&mut self, line: &str) -> StaticReply {
        self.run(line)
            .unwrap_or_else(|e| panic!("{line:?} refused: {e:?}"))
    }

    fn err(&mut self, line: &str) -> StaticError {
        match self.run(line) {
            Ok(out) => panic!("{line:?} answered {out:?}"),
            Err(e) => e,
        }
    }

    /// `flow create` of a drop rule on `port` matching UDP to `dport`.
    fn create_drop(&mut self, port: u16, dport: u16) -> StaticReply {
        self.ok(&format!(
            "flow create {port} ingress pattern eth / ipv4 / udp dst is {dport} / end actions drop / end"
        ))
    }

    /// The numbers `flow list PORT` shows, in order.
    fn numbers(&mut self, port: u16) -> Vec<u32> {
        self.listed(port).iter().map(|r| r.number).collect()
    }

    /// What `flow list PORT` lists.
    fn listed(&mut self, port: u16) -> Vec<ListedRule> {
        match self.ok(&format!("flow list {port}")) {
            StaticReply::Listed { port: p, rules } if p == port => rules,
            other => panic!("flow list {port} answered {other:?}"),
        }
    }
}

fn created(number: u32) -> StaticReply {
    StaticReply::Created { number }
}

fn destroyed(numbers: &[u32]) -> StaticReply {
    StaticReply::Destroyed(numbers.to_vec())
}

fn flushed(port: u16, count: usize) -> StaticReply {
    StaticReply::Flushed { port, count }
}

/// The text of a refusal (the backend's own error's as is).
fn nic(e: StaticError) -> FlowError {
    match e {
        StaticError::Nic(e) => e,
        other => panic!("not the NIC's refusal: {other:?}"),
    }
}

#[test]
fn numbers_start_at_zero_and_follow_the_highest() {
    let mut sh = Shell::new();
    assert_eq!(sh.create_drop(0, 1), created(0));
    assert_eq!(sh.create_drop(0, 2), created(1));
    assert_eq!(sh.create_drop(0, 3), created(2));
    assert_eq!(sh.ok("flow destroy 0 rule 1"), destroyed(&[1]));
    // testpmd does not reuse a hole: the next is the highest plus one.
    assert_eq!(sh.create_drop(0, 4), created(3));
    assert_eq!(sh.numbers(0), vec![0, 2, 3]);
    // Destroying the highest frees its number.
    assert_eq!(sh.ok("flow destroy 0 rule 3"), destroyed(&[3]));
    assert_eq!(sh.create_drop(0, 5), created(3));
    assert_eq!(sh.rules.len(), 3);
    assert_eq!(sh.nic.rules.len(), 3);
}

#[test]
fn flush_destroys_all_and_numbering_starts_again() {
    let mut sh = Shell::new();
    for d in 1..=3 {
        sh.create_drop(0, d);
    }
    sh.create_drop(1, 9);
    assert_eq!(sh.ok("flow flush 0"), flushed(0, 3));
    assert_eq!(sh.listed(0), []);
    assert_eq!(sh.nic.rules.len(), 1, "port 1's rule stays");
    assert_eq!(sh.numbers(1), vec![0]);
    assert_eq!(sh.create_drop(0, 1), created(0));
    assert_eq!(sh.ok("flow flush 1"), flushed(1, 1));
    assert_eq!(sh.ok("flow flush 1"), flushed(1, 0));
}

#[test]
fn each_port_numbers_its_own_rules() {
    let mut sh = Shell::new();
    assert_eq!(sh.create_drop(0, 1), created(0));
    assert_eq!(sh.create_drop(0, 2), created(1));
    assert_eq!(sh.create_drop(1, 1), created(0));
    assert_eq!(sh.numbers(0), vec![0, 1]);
    assert_eq!(sh.numbers(1), vec![0]);
    assert_eq!(sh.ok("flow destroy 1 rule 0"), destroyed(&[0]));
    assert_eq!(sh.numbers(0), vec![0, 1], "port 0's rule #0 stays");
    assert_eq!(sh.rules.len(), 2);
}

#[test]
fn validate_answers_and_creates_nothing() {
    let mut sh = Shell::new();
    assert_eq!(
        sh.ok("flow validate 0 ingress pattern eth / end actions drop / end"),
        StaticReply::Validated
    );
    assert!(sh.rules.is_empty());
    assert!(sh.nic.rules.is_empty());
    assert_eq!(sh.nic.creates, 0);
    let e = sh.err("flow validate 0 ingress pattern eth / end actions jump group 1 / end");
    assert_eq!(
        e,
        StaticError::Nic(FlowError::new(et::ACTION, "jump: one group only", 95))
    );
    // Validation takes no number.
    assert_eq!(sh.create_drop(0, 1), created(0));
}

#[test]
fn list_gives_the_rules_as_typed_by_number() {
    let mut sh = Shell::new();
    assert_eq!(sh.listed(0), []);
    sh.ok(UDP_COUNT_QUEUE);
    let transfer =
        "flow create 0 transfer priority 2 pattern represented_port ethdev_port_id is 0 / \
         eth / vlan vid is 5 / ipv6 / tcp / end actions port_id id 1 / end";
    sh.ok(transfer);
    let typed = |line: &str| match testpmd_flow::parse(line).unwrap() {
        FlowCommand::Create(rule) => rule,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        sh.listed(0),
        [
            ListedRule {
                number: 0,
                rule: typed(UDP_COUNT_QUEUE)
            },
            ListedRule {
                number: 1,
                rule: typed(transfer)
            }
        ]
    );
    assert_eq!(sh.listed(1), []);
}

#[test]
fn query_reads_the_count() {
    let mut sh = Shell::new();
    sh.create_drop(0, 1);
    assert_eq!(sh.ok(UDP_COUNT_QUEUE), created(1));
    let id = sh
        .nic
        .id_of(|r| r.actions.iter().any(|a| matches!(a, Action::Queue { .. })));
    assert_eq!(
        sh.ok("flow query 0 1 count"),
        StaticReply::Queried(HwCounters::default())
    );
    sh.nic.counters.insert(
        id,
        HwCounters {
            packets: 12,
            bytes: 3456,
        },
    );
    assert_eq!(
        sh.ok("flow query 0 1 count"),
        StaticReply::Queried(HwCounters {
            packets: 12,
            bytes: 3456
        })
    );
}

#[test]
fn query_of_a_rule_without_count_is_refused() {
    let mut sh = Shell::new();
    sh.create_drop(0, 1);
    assert_eq!(
        sh.err("flow query 0 0 count"),
        StaticError::NotCounted { number: 0 }
    );
    assert_eq!(
        sh.err("flow query 0 5 count"),
        StaticError::NoSuchRule { number: 5 }
    );
    assert_eq!(
        sh.err("flow query 1 0 count"),
        StaticError::NoSuchRule { number: 0 },
        "rule #0 is port 0's"
    );
}

#[test]
fn a_nic_refusing_a_query_is_answered() {
    let mut sh = Shell::new();
    sh.ok(UDP_COUNT_QUEUE);
    sh.nic.counters.clear();
    let e = nic(sh.err("flow query 0 0 count"));
    assert_eq!(e.message, "no such rule", "{e}");
}

#[test]
fn an_unknown_port_is_refused_before_anything() {
    let mut sh = Shell::new();
    sh.create_drop(0, 1);
    let invalid = StaticError::InvalidPort {
        port: 9,
        ports: PORTS.to_vec(),
    };
    for line in [
        "flow create 9 ingress pattern eth / end actions drop / end",
        "flow validate 9 ingress pattern eth / end actions drop / end",
        "flow list 9",
        "flow query 9 0 count",
        "flow destroy 9 rule 0",
        "flow flush 9",
    ] {
        assert_eq!(sh.err(line), invalid, "{line}");
    }
    assert_eq!(sh.nic.creates, 1);
    assert_eq!(sh.nic.destroys, 0);
    assert_eq!(sh.rules.len(), 1);
    // With no port at all.
    let cmd = testpmd_flow::parse("flow list 0").unwrap();
    assert_eq!(
        sh.rules.run(cmd, &mut sh.nic, &[]).unwrap_err(),
        StaticError::InvalidPort {
            port: 0,
            ports: vec![]
        }
    );
}

#[test]
fn a_destroy_naming_an_unknown_rule_destroys_nothing() {
    let mut sh = Shell::new();
    for d in 1..=3 {
        sh.create_drop(0, d);
    }
    let before = sh.ok("flow list 0");
    assert_eq!(
        sh.err("flow destroy 0 rule 0 rule 7 rule 2"),
        StaticError::NotOnPort {
            port: 0,
            missing: 7,
            named: 3
        }
    );
    assert_eq!(sh.ok("flow list 0"), before);
    assert_eq!(sh.nic.destroys, 0);
    assert_eq!(sh.nic.rules.len(), 3);
    assert_eq!(
        sh.err("flow destroy 1 rule 0"),
        StaticError::NotOnPort {
            port: 1,
            missing: 0,
            named: 1
        }
    );
    assert_eq!(sh.ok("flow list 0"), before);
}

#[test]
fn destroy_takes_several_rules_in_order() {
    let mut sh = Shell::new();
    for d in 1..=3 {
        sh.create_drop(0, d);
    }
    assert_eq!(sh.ok("flow destroy 0 rule 2 rule 0"), destroyed(&[2, 0]));
    assert_eq!(sh.numbers(0), vec![1]);
    assert_eq!(sh.nic.rules.len(), 1);
    // The same number twice is destroyed once.
    assert_eq!(sh.ok("flow destroy 0 rule 1 rule 1"), destroyed(&[1]));
    assert_eq!(sh.nic.destroys, 3);
    assert!(sh.rules.is_empty());
}

#[test]
fn a_nic_refusing_a_destroy_stops_there() {
    let mut sh = Shell::new();
    for d in 1..=3 {
        sh.create_drop(0, d);
    }
    let id1 = sh.rules.hw_id(0, 1).unwrap();
    sh.nic.refuse_destroy.insert(id1);
    assert_eq!(
        sh.err("flow destroy 0 rule 0 rule 1 rule 2"),
        StaticError::DestroyRefused {
            destroyed: vec![0],
            error: nic_error("rule busy")
        }
    );
    assert_eq!(
        sh.numbers(0),
        vec![1, 2],
        "#0 went, #1 refused, #2 not tried"
    );
    assert_eq!(sh.nic.rules.len(), 2);
}

#[test]
fn a_nic_refusing_a_create_takes_no_number() {
    let mut sh = Shell::new();
    sh.create_drop(0, 1);
    sh.create_drop(0, 2);
    sh.nic.refuse_create = Some(nic_error("table full"));
    // The NIC refuses the drop rule flowlift added COUNT to, but not on its
    // actions: the COUNT is not why.
    let e = sh.err("flow create 0 ingress pattern eth / end actions drop / end");
    assert_eq!(e, StaticError::Nic(nic_error("table full")));
    let e = nic(sh.err("flow create 0 ingress pattern eth / end actions jump group 1 / end"));
    assert_eq!(e.message, "jump: one group only", "{e}");
    assert_eq!(sh.numbers(0), vec![0, 1]);
    assert_eq!(sh.rules.len(), 2);
    assert_eq!(sh.create_drop(0, 3), created(2));
    // On an empty port too: a refusal there leaves it empty.
    sh.nic.refuse_create = Some(nic_error("table full"));
    sh.err("flow create 1 ingress pattern eth / end actions drop / end");
    assert_eq!(sh.listed(1), []);
    assert_eq!(sh.create_drop(1, 1), created(0));
}

#[test]
fn destroy_all_empties_and_reports_refusals() {
    let mut sh = Shell::new();
    for d in 1..=3 {
        sh.create_drop(0, d);
    }
    sh.create_drop(1, 1);
    let id = sh.rules.hw_id(0, 1).unwrap();
    sh.nic.refuse_destroy.insert(id);
    let refused = sh.rules.destroy_all(&mut sh.nic);
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0].starts_with("port 0 rule #1: Caught error type "),
        "{}",
        refused[0]
    );
    assert!(refused[0].contains("rule busy"), "{}", refused[0]);
    assert!(sh.rules.is_empty());
    assert_eq!(sh.rules.len(), 0);
    assert_eq!(sh.nic.destroys, 4, "every rule was tried");
    assert_eq!(sh.nic.rules.keys().copied().collect::<Vec<_>>(), vec![id]);
    assert_eq!(sh.listed(0), []);
    assert_eq!(sh.create_drop(0, 1), created(0));
    // Nothing held: nothing to refuse.
    sh.nic.refuse_destroy.clear();
    assert!(sh.rules.destroy_all(&mut sh.nic).is_empty());
    assert!(sh.rules.destroy_all(&mut sh.nic).is_empty());
    assert_eq!(
        sh.nic.rules.keys().copied().collect::<Vec<_>>(),
        vec![id],
        "the refused rule is the NIC's still"
    );
}

/// Sets the NIC's counter of the rule created `nth` (0-based).
fn hits(sh: &mut Shell, nth: u64, packets: u64) {
    sh.nic.counters.insert(
        HwRuleId((nth + 1) * 10),
        HwCounters {
            packets,
            bytes: packets * 100,
        },
    );
}

#[test]
fn rules_that_take_packets_past_the_workers_are_counted_even_without_count() {
    let mut sh = Shell::new();
    sh.create_drop(0, 1);
    // The operator's rule as typed in `flow list`, with COUNT on the NIC.
    assert_eq!(sh.listed(0)[0].rule.actions, [Action::Drop]);
    let on_nic = &sh.nic.rules[&HwRuleId(10)];
    assert!(
        matches!(on_nic.actions[0], Action::Count { .. }),
        "{on_nic:?}"
    );
    // A queue rule's packets reach the workers: nothing is added.
    sh.ok("flow create 0 ingress pattern eth / end actions queue index 0 / end");
    assert_eq!(sh.nic.rules[&HwRuleId(20)].actions.len(), 1);
}

#[test]
fn a_nic_that_cannot_count_such_a_rule_refuses_it_saying_why() {
    let mut sh = Shell::new();
    sh.nic.refuse_create = Some(FlowError::new(et::ACTION, "count: no counters", 95));
    assert_eq!(
        sh.err("flow create 0 ingress pattern eth / end actions drop / end"),
        StaticError::CountAdded(FlowError::new(et::ACTION, "count: no counters", 95))
    );
    assert!(sh.numbers(0).is_empty());
}

#[test]
fn the_bucket_holds_live_and_ended_rules_by_port_and_fate() {
    let mut sh = Shell::new();
    sh.create_drop(0, 1); // #0, drop
    sh.ok(
        "flow create 0 transfer pattern eth / end actions represented_port ethdev_port_id 1 / end",
    ); // #1
    sh.ok(UDP_COUNT_QUEUE); // #2, to the workers
    sh.create_drop(1, 2); // port 1 #0
    hits(&mut sh, 0, 5);
    hits(&mut sh, 1, 7);
    hits(&mut sh, 2, 1000);
    hits(&mut sh, 3, 2);
    assert!(
        sh.rules.taken().iter().all(|t| t.counters.packets == 0),
        "not read yet"
    );
    sh.rules.refresh(&mut sh.nic);
    let bucket = |sh: &Shell| -> Vec<(u16, TakenBy, u64)> {
        sh.rules
            .taken()
            .iter()
            .map(|t| (t.port, t.by, t.counters.packets))
            .collect()
    };
    assert_eq!(
        bucket(&sh),
        [
            (0, TakenBy::Drop, 5),
            (0, TakenBy::Switch, 7),
            (1, TakenBy::Drop, 2)
        ]
    );

    // Destroyed: its final count (read as it goes) stays in the bucket, and
    // its record waits for the flow log.
    hits(&mut sh, 0, 9);
    sh.ok("flow destroy 0 rule 0");
    let ended = sh.rules.take_ended();
    assert_eq!(ended.len(), 1);
    assert_eq!((ended[0].number, ended[0].port), (0, 0));
    assert_eq!(ended[0].taken, Some(TakenBy::Drop));
    assert_eq!(
        ended[0].counters,
        HwCounters {
            packets: 9,
            bytes: 900
        }
    );
    assert_eq!(ended[0].end, StaticEnd::Destroyed);
    assert!(ended[0].rule.ends_with("=> DROP"), "{:?}", ended[0].rule);
    assert!(sh.rules.take_ended().is_empty(), "taken once");
    // A new drop rule adds to the same bucket.
    sh.create_drop(0, 3); // #3
    hits(&mut sh, 4, 4);
    sh.rules.refresh(&mut sh.nic);
    assert_eq!(
        bucket(&sh),
        [
            (0, TakenBy::Drop, 13),
            (0, TakenBy::Switch, 7),
            (1, TakenBy::Drop, 2)
        ]
    );

    // At exit every rule ends, the queue rule too (its packets are the
    // flows', so it has no fate in the bucket); a NIC that refuses a destroy
    // still leaves the rule's last reading in the bucket.
    sh.nic.refuse_destroy.insert(HwRuleId(40));
    let refused = sh.rules.destroy_all(&mut sh.nic);
    assert_eq!(refused.len(), 1, "{refused:?}");
    let ended = sh.rules.take_ended();
    assert_eq!(ended.len(), 4);
    assert!(ended.iter().all(|r| r.end == StaticEnd::Exit));
    let queue = ended.iter().find(|r| r.taken.is_none()).unwrap();
    assert_eq!(queue.counters.packets, 1000);
    assert_eq!(
        bucket(&sh),
        [
            (0, TakenBy::Drop, 13),
            (0, TakenBy::Switch, 7),
            (1, TakenBy::Drop, 2)
        ]
    );
}

#[test]
fn the_bucket_never_goes_back() {
    let mut sh = Shell::new();
    sh.create_drop(0, 1);
    hits(&mut sh, 0, 50);
    sh.rules.refresh(&mut sh.nic);
    // A NIC that answers less than before (a reset counter) is not believed,
    // at a refresh or at the destroy.
    hits(&mut sh, 0, 3);
    sh.rules.refresh(&mut sh.nic);
    assert_eq!(sh.rules.taken()[0].counters.packets, 50);
    sh.ok("flow destroy 0 rule 0");
    assert_eq!(sh.rules.taken()[0].counters.packets, 50);
}

#[test]
fn a_cached_nic_s_final_count_completes_the_record_a_refresh_later() {
    let mut sh = Shell::new();
    sh.nic.late = Some(HashMap::new());
    sh.create_drop(0, 53);
    let id = sh.nic.id_of(|_| true);
    sh.nic.counters.insert(
        id,
        HwCounters {
            packets: 40,
            bytes: 4000,
        },
    );
    sh.ok("flow destroy 0 rule 0");
    // The destroy read 40; the record waits for the count to come.
    assert!(sh.rules.take_ended().is_empty());
    assert_eq!(sh.rules.awaiting(), 1);
    assert_eq!(
        sh.rules.taken()[0].counters.packets,
        40,
        "the bucket holds the reading"
    );
    // A refresh later the device shows the rule's last hits.
    let last = HwCounters {
        packets: 43,
        bytes: 4300,
    };
    sh.rules.late_final(id, last);
    let ended = sh.rules.take_ended();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].counters, last);
    assert_eq!(sh.rules.taken()[0].counters, last, "counted once");
    assert_eq!(sh.rules.awaiting(), 0);
    // One whose count never comes keeps the destroy's reading.
    sh.create_drop(0, 54);
    sh.ok("flow destroy 0 rule 0");
    assert_eq!(sh.rules.give_up_awaiting(), 1);
    assert_eq!(sh.rules.take_ended()[0].counters, HwCounters::default());
}
