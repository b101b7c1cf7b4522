//! The words of every answer to a static-rule command, byte for byte (users'
//! scripts parse them): testpmd's where testpmd has them.

use rte::flow::{error_type as et, FlowError};

use super::*;
use crate::shell::testpmd_flow;
use flowlift_offload::flow_rule::FlowCommand;
use flowlift_offload::HwCounters;

fn rule(line: &str) -> FlowRule {
    match testpmd_flow::parse(line).unwrap_or_else(|e| panic!("{line:?}: {e}")) {
        FlowCommand::Create(r) => r,
        other => panic!("{other:?}"),
    }
}

#[test]
fn answers_are_testpmds() {
    assert_eq!(reply(&StaticReply::Validated), "Flow rule validated");
    assert_eq!(
        reply(&StaticReply::Created { number: 0 }),
        "Flow rule #0 created"
    );
    assert_eq!(
        reply(&StaticReply::Created { number: u32::MAX }),
        "Flow rule #4294967295 created"
    );
    assert_eq!(
        reply(&StaticReply::Destroyed(vec![1])),
        "Flow rule #1 destroyed"
    );
    assert_eq!(
        reply(&StaticReply::Destroyed(vec![2, 0])),
        "Flow rule #2 destroyed\nFlow rule #0 destroyed"
    );
    for (count, text) in [
        (3, "Flushed 3 flow rules on port 0"),
        (1, "Flushed 1 flow rule on port 0"),
        (0, "Flushed 0 flow rules on port 0"),
    ] {
        assert_eq!(reply(&StaticReply::Flushed { port: 0, count }), text);
    }
}

#[test]
fn query_is_testpmds_count_block() {
    assert_eq!(
        reply(&StaticReply::Queried(HwCounters::default())),
        "COUNT:\n hits_set: 1\n bytes_set: 1\n hits: 0\n bytes: 0"
    );
    assert_eq!(
        reply(&StaticReply::Queried(HwCounters {
            packets: 12,
            bytes: 3456
        })),
        "COUNT:\n hits_set: 1\n bytes_set: 1\n hits: 12\n bytes: 3456"
    );
}

#[test]
fn list_is_testpmds_table() {
    assert_eq!(
        reply(&StaticReply::Listed {
            port: 1,
            rules: vec![]
        }),
        "No flow rules on port 1"
    );
    let rules = vec![
        ListedRule {
            number: 0,
            rule: rule(
                "flow create 0 ingress pattern eth / ipv4 src is 10.0.0.1 / \
                 udp dst is 5001 / end actions count / queue index 0 / end",
            ),
        },
        ListedRule {
            number: 1,
            rule: rule(
                "flow create 0 transfer priority 2 pattern represented_port ethdev_port_id is 0 / \
                 eth / vlan vid is 5 / ipv6 / tcp / end actions port_id id 1 / end",
            ),
        },
        ListedRule {
            number: 7,
            rule: rule(
                "flow create 0 ingress egress group 3 pattern eth / ipv4 / udp dst is 53 / \
                 end actions drop / end",
            ),
        },
    ];
    assert_eq!(
        reply(&StaticReply::Listed { port: 0, rules }),
        "ID\tGroup\tPrio\tAttr\tRule\n\
         0\t0\t0\ti--\tETH IPV4 UDP => COUNT QUEUE\n\
         1\t0\t2\t--t\tREPRESENTED_PORT ETH VLAN IPV6 TCP => PORT_ID\n\
         7\t3\t0\tie-\tETH IPV4 UDP => DROP"
    );
}

#[test]
fn refusals_in_flowlifts_words() {
    assert_eq!(
        refusal(&StaticError::InvalidPort {
            port: 9,
            ports: vec![0, 1]
        }),
        "Invalid port 9 (ports are 0, 1)"
    );
    assert_eq!(
        refusal(&StaticError::InvalidPort {
            port: 0,
            ports: vec![]
        }),
        "Invalid port 0 (ports are )"
    );
    assert_eq!(
        refusal(&StaticError::NumbersExhausted),
        "Highest rule ID is already assigned, delete it first"
    );
    assert_eq!(
        refusal(&StaticError::NoSuchRule { number: 5 }),
        "Flow rule #5 not found"
    );
    assert_eq!(
        refusal(&StaticError::NotOnPort {
            port: 0,
            missing: 7,
            named: 3
        }),
        "Flow rule #7 not found on port 0 (none of the rules named was destroyed)"
    );
    assert_eq!(
        refusal(&StaticError::NotOnPort {
            port: 1,
            missing: 0,
            named: 1
        }),
        "Flow rule #0 not found on port 1"
    );
}

#[test]
fn refusals_in_rte_flows_words() {
    let jump = FlowError::new(et::ACTION, "jump: one group only", 95);
    let e = refusal(&StaticError::Nic(jump.clone()));
    assert_eq!(e, jump.to_string());
    assert!(
        e.starts_with(&format!(
            "Caught error type {} (specific action): jump: one group only: ",
            et::ACTION
        )),
        "{e}"
    );

    let e = refusal(&StaticError::NotCounted { number: 0 });
    assert_eq!(
        e,
        FlowError::new(
            et::ACTION,
            "flow rule #0 has no COUNT action",
            rte::errno::ENOTSUP
        )
        .to_string()
    );
    assert!(
        e.starts_with(&format!(
            "Caught error type {} (specific action): ",
            et::ACTION
        )),
        "{e}"
    );

    let no_counters = FlowError::new(et::ACTION, "count: no counters", 95);
    assert_eq!(
        refusal(&StaticError::CountAdded(no_counters.clone())),
        format!(
            "{no_counters} (flowlift adds COUNT to a rule that takes packets past the workers, \
             to account for them)"
        )
    );
}

#[test]
fn a_refused_destroy_says_what_went_before() {
    let busy = FlowError::new(et::UNSPECIFIED, "rule busy", 28);
    let e = refusal(&StaticError::DestroyRefused {
        destroyed: vec![0],
        error: busy.clone(),
    });
    assert_eq!(e, format!("Flow rule #0 destroyed\n{busy}"));
    assert!(e.lines().nth(1).unwrap().starts_with("Caught error type "));
    assert_eq!(
        refusal(&StaticError::DestroyRefused {
            destroyed: vec![],
            error: busy.clone(),
        }),
        busy.to_string()
    );
}
