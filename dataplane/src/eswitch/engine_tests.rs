//! The rule engine on its own: installs, hits, removal, capacity, the insertion
//! rate, injected faults; wildcard rules through commands and ahead of exact
//! ones.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_channel::{bounded, Receiver, Sender};

use super::*;
use crate::eswitch::{IpMatch, WildMatch};
use crate::flow::{KeyV4, KeyV6, NO_VLAN};

static NOW: AtomicU64 = AtomicU64::new(0);

fn clock() -> u64 {
    NOW.load(Ordering::SeqCst)
}

fn key(i: u32) -> FlowKey {
    FlowKey::V4(KeyV4 {
        src: i.to_be_bytes(),
        dst: [10, 0, 0, 1],
        sport: 1,
        dport: 2,
        vlan: NO_VLAN,
        proto: 17,
        in_port: 0,
    })
}

struct Rig {
    sw: Eswitch,
    cmd: Sender<EswitchCommand>,
    reply: Receiver<EswitchReply>,
    bank: Arc<CounterBank>,
}

fn rig(max_rules: usize, rate: u64) -> Rig {
    rig_with(max_rules, 4, rate)
}

fn rig_with(max_rules: usize, max_wildcards: usize, rate: u64) -> Rig {
    let bank = Arc::new(CounterBank::new(64));
    let (cmd, cmd_rx) = bounded(256);
    let (reply_tx, reply) = bounded(256);
    let config = EswitchConfig {
        max_rules,
        max_wildcards,
        inserts_per_sec: rate,
        clock_hz: 1000,
    };
    Rig {
        sw: Eswitch::new(config, Arc::clone(&bank), cmd_rx, reply_tx, clock),
        cmd,
        reply,
        bank,
    }
}

impl Rig {
    fn ask(&mut self, c: EswitchCommand) -> EswitchReply {
        self.cmd.send(c).unwrap();
        assert_eq!(self.sw.take_commands(), 1);
        self.reply.try_recv().unwrap()
    }

    fn install(&mut self, rule: u64, k: FlowKey, counter: u32) -> EswitchReply {
        self.ask(EswitchCommand::Install {
            rule,
            key: k,
            out_port: PortIdx(2),
            counter,
            metered: false,
        })
    }

    fn add_wild(&mut self, rule: u64, wild: WildRule) -> EswitchReply {
        self.ask(EswitchCommand::AddWildcard { rule, wild })
    }
}

#[test]
fn hits_count_on_the_rule_counter_and_outlive_the_rule() {
    let mut r = rig(8, 0);
    assert_eq!(r.install(1, key(1), 5), EswitchReply::Installed { rule: 1 });
    let v6 = FlowKey::V6(KeyV6 {
        vlan: NO_VLAN,
        proto: 6,
        ..Default::default()
    });
    assert_eq!(r.install(2, v6, 6), EswitchReply::Installed { rule: 2 });
    assert_eq!(r.sw.classify(&key(1)), Some(hit(5)));
    assert_eq!(r.sw.classify(&v6), Some(hit(6)));
    assert_eq!(r.sw.classify(&key(9)), None);
    r.sw.hit(5, 60);
    r.sw.hit(5, 100);
    assert_eq!(
        r.ask(EswitchCommand::Remove { rule: 1 }),
        EswitchReply::Removed { rule: 1 }
    );
    assert_eq!(r.sw.classify(&key(1)), None);
    assert_eq!(
        r.bank.get(5).unwrap().read(),
        (2, 160),
        "the counter outlives the rule"
    );
    assert_eq!(
        r.ask(EswitchCommand::Remove { rule: 1 }),
        EswitchReply::Refused {
            rule: 1,
            error: EswitchError::NoSuchRule
        }
    );
    assert_eq!(r.sw.rules(), 1);
}

#[test]
fn a_full_table_says_no_space_and_duplicates_are_refused() {
    let mut r = rig(3, 0);
    for i in 0..3 {
        assert_eq!(
            r.install(u64::from(i), key(i), i),
            EswitchReply::Installed { rule: u64::from(i) }
        );
    }
    assert_eq!(
        r.install(9, key(9), 9),
        EswitchReply::Refused {
            rule: 9,
            error: EswitchError::NoSpace
        }
    );
    assert_eq!(
        r.install(1, key(1), 1),
        EswitchReply::Refused {
            rule: 1,
            error: EswitchError::Exists
        }
    );
    assert_eq!(
        r.install(10, key(10), 999),
        EswitchReply::Refused {
            rule: 10,
            error: EswitchError::BadCounter
        }
    );
}

#[test]
fn the_insertion_rate_is_enforced_with_a_small_burst() {
    // 100 inserts per second at a 1 kHz clock: a burst of 10, then one per 10 ticks.
    NOW.store(0, Ordering::SeqCst);
    let mut r = rig(64, 100);
    let mut ok = 0;
    for i in 0..20 {
        if r.install(u64::from(i), key(i), i) == (EswitchReply::Installed { rule: u64::from(i) }) {
            ok += 1;
        }
    }
    assert_eq!(ok, 10, "the burst");
    NOW.store(25, Ordering::SeqCst);
    let later: Vec<_> = (20..25)
        .map(|i| r.install(u64::from(i), key(i), i))
        .collect();
    assert_eq!(
        later
            .iter()
            .filter(|r| matches!(r, EswitchReply::Installed { .. }))
            .count(),
        2
    );
    NOW.store(0, Ordering::SeqCst);
}

#[test]
fn injected_faults_refuse_the_next_installs_then_stop() {
    let mut r = rig(8, 0);
    assert_eq!(
        r.ask(EswitchCommand::InjectFaults(Faults {
            no_space: 1,
            busy: 2
        })),
        EswitchReply::FaultsSet
    );
    let errors: Vec<_> = (0..4)
        .map(|i| match r.install(i, key(i as u32), i as u32) {
            EswitchReply::Refused { error, .. } => Some(error),
            _ => None,
        })
        .collect();
    assert_eq!(
        errors,
        vec![
            Some(EswitchError::NoSpace),
            Some(EswitchError::Busy),
            Some(EswitchError::Busy),
            None
        ]
    );
}

fn hit(counter: u32) -> Hit {
    Hit {
        action: WildAction::Forward(PortIdx(2)),
        counter: Some(counter),
        metered: false,
        table: RuleTable::Exact,
    }
}

/// A rule for every IPv4 packet from 10.0.0.0/8.
fn from_ten(priority: u32, action: WildAction, counter: Option<u32>) -> WildRule {
    WildRule {
        priority,
        matches: WildMatch {
            src: IpMatch::prefix("10.0.0.0/8".parse().unwrap()),
            ..WildMatch::default()
        },
        action,
        counter,
        metered: false,
    }
}

#[test]
fn wildcard_rules_come_before_exact_rules() {
    let mut r = rig(8, 0);
    let exact = FlowKey::V4(KeyV4 {
        src: [10, 0, 0, 1],
        ..match key(0) {
            FlowKey::V4(k) => k,
            FlowKey::V6(_) => unreachable!(),
        }
    });
    assert_eq!(r.install(1, exact, 5), EswitchReply::Installed { rule: 1 });
    assert_eq!(r.sw.classify(&exact), Some(hit(5)));
    // Rule id 1 is an exact rule's: wildcard ids are apart.
    assert_eq!(
        r.add_wild(1, from_ten(0, WildAction::Drop, Some(6))),
        EswitchReply::Installed { rule: 1 }
    );
    assert_eq!((r.sw.rules(), r.sw.wildcards()), (1, 1));
    let wild_drop = Hit {
        action: WildAction::Drop,
        counter: Some(6),
        metered: false,
        table: RuleTable::Wildcard,
    };
    assert_eq!(r.sw.classify(&exact), Some(wild_drop));
    assert_eq!(r.sw.classify(&exact).unwrap().out_port(), None);
    assert_eq!(r.sw.classify_exact(&exact), Some(hit(5)));
    assert_eq!(r.sw.classify(&key(9)), None, "0.0.0.9 is not in 10/8");
    // An exact rule for a flow a wildcard rule covers is still accepted: the
    // tables are apart, as a NIC's groups are.
    let covered = FlowKey::V4(KeyV4 {
        src: [10, 9, 9, 9],
        ..match exact {
            FlowKey::V4(k) => k,
            FlowKey::V6(_) => unreachable!(),
        }
    });
    assert_eq!(
        r.install(2, covered, 7),
        EswitchReply::Installed { rule: 2 }
    );
    assert_eq!(r.sw.classify(&covered), Some(wild_drop));
    assert_eq!(
        r.ask(EswitchCommand::RemoveWildcard { rule: 1 }),
        EswitchReply::Removed { rule: 1 }
    );
    assert_eq!(r.sw.classify(&exact), Some(hit(5)));
    assert_eq!(r.sw.classify(&covered), Some(hit(7)));
    assert_eq!((r.sw.rules(), r.sw.wildcards()), (2, 0));
}

#[test]
fn wildcard_commands_answer_as_exact_ones_do() {
    let mut r = rig_with(8, 2, 0);
    let fwd = WildAction::Forward(PortIdx(1));
    assert_eq!(
        r.add_wild(1, from_ten(0, fwd, Some(999))),
        EswitchReply::Refused {
            rule: 1,
            error: EswitchError::BadCounter
        }
    );
    assert_eq!(
        r.add_wild(1, from_ten(0, fwd, None)),
        EswitchReply::Installed { rule: 1 }
    );
    assert_eq!(
        r.add_wild(1, from_ten(0, fwd, None)),
        EswitchReply::Refused {
            rule: 1,
            error: EswitchError::Exists
        }
    );
    assert_eq!(
        r.add_wild(2, from_ten(0, fwd, Some(3))),
        EswitchReply::Installed { rule: 2 }
    );
    assert_eq!(
        r.add_wild(3, from_ten(0, fwd, None)),
        EswitchReply::Refused {
            rule: 3,
            error: EswitchError::NoSpace
        }
    );
    assert_eq!(
        r.ask(EswitchCommand::RemoveWildcard { rule: 3 }),
        EswitchReply::Refused {
            rule: 3,
            error: EswitchError::NoSuchRule
        }
    );
    // Removing a wildcard id never removes the exact rule of that id.
    assert_eq!(r.install(7, key(7), 7), EswitchReply::Installed { rule: 7 });
    assert_eq!(
        r.ask(EswitchCommand::RemoveWildcard { rule: 7 }),
        EswitchReply::Refused {
            rule: 7,
            error: EswitchError::NoSuchRule
        }
    );
    assert_eq!(r.sw.rules(), 1);
    // The first of equal priority answers; removed, the next does.
    let first = r.sw.classify(&key(0x0a00_0001)).unwrap();
    assert_eq!((first.counter, first.table), (None, RuleTable::Wildcard));
    assert_eq!(
        r.ask(EswitchCommand::RemoveWildcard { rule: 1 }),
        EswitchReply::Removed { rule: 1 }
    );
    assert_eq!(r.sw.classify(&key(0x0a00_0001)).unwrap().counter, Some(3));
    assert_eq!(r.sw.wildcards(), 1);
}

#[test]
fn wildcard_rules_spend_no_insertion_tokens_nor_injected_faults() {
    NOW.store(0, Ordering::SeqCst);
    // 10 inserts per second at a 1 kHz clock: a burst of one.
    let mut r = rig_with(8, 8, 10);
    assert_eq!(
        r.ask(EswitchCommand::InjectFaults(Faults {
            no_space: 1,
            busy: 0
        })),
        EswitchReply::FaultsSet
    );
    for i in 0..8 {
        assert_eq!(
            r.add_wild(i, from_ten(0, WildAction::Drop, None)),
            EswitchReply::Installed { rule: i }
        );
    }
    // The fault and the one token are still there for the exact rules.
    assert_eq!(
        r.install(1, key(1), 1),
        EswitchReply::Refused {
            rule: 1,
            error: EswitchError::NoSpace
        }
    );
    assert_eq!(r.install(1, key(1), 1), EswitchReply::Installed { rule: 1 });
    assert_eq!(
        r.install(2, key(2), 2),
        EswitchReply::Refused {
            rule: 2,
            error: EswitchError::Busy
        }
    );
}
