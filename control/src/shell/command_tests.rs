//! The command grammar: every command parses, every mistake is one line that
//! says what was expected, and completion offers what may come next.

use super::*;

fn ok(line: &str) -> Command {
    parse(line)
        .unwrap_or_else(|e| panic!("{line:?}: {e}"))
        .unwrap_or_else(|| panic!("{line:?}: no command"))
}

fn bad(line: &str) -> String {
    let e = parse(line).expect_err(line).0;
    assert!(!e.contains('\n'), "one line: {e}");
    e
}

#[test]
fn every_command_parses() {
    assert_eq!(
        ok("show port stats all"),
        Command::ShowPortStats(PortSel::All)
    );
    assert_eq!(
        ok("show port stats 2"),
        Command::ShowPortStats(PortSel::One(2))
    );
    assert_eq!(ok("show port xstats 0"), Command::ShowPortXstats(0));
    assert_eq!(
        ok("clear port stats all"),
        Command::ClearPortStats(PortSel::All)
    );
    assert_eq!(ok("show fwd stats"), Command::ShowFwdStats);
    assert_eq!(
        ok("show flows offloaded top 5 --json"),
        Command::ShowFlows {
            filter: FlowFilter::Offloaded,
            top: Some(5),
            json: true
        }
    );
    assert_eq!(
        ok("show flows"),
        Command::ShowFlows {
            filter: FlowFilter::All,
            top: None,
            json: false
        }
    );
    assert_eq!(ok("dump-flows"), Command::DumpFlows { json: false });
    assert_eq!(ok("dump-flows --json"), Command::DumpFlows { json: true });
    assert_eq!(ok("show offload"), Command::ShowOffload);
    assert_eq!(
        ok("set offload promote-pps 5000"),
        Command::SetOffload(OffloadSetting::PromotePps, 5000.0)
    );
    assert_eq!(
        ok("set offload tick-ms 50"),
        Command::SetOffload(OffloadSetting::TickMs, 50.0)
    );
    assert_eq!(ok("policy list"), Command::PolicyList);
    assert_eq!(ok("policy del 2"), Command::PolicyDel(2));
    assert_eq!(
        ok("policy add proto udp dport 5001 offload always"),
        Command::PolicyAdd(vec![
            ("proto".into(), "udp".into()),
            ("dport".into(), "5001".into()),
            ("offload".into(), "always".into())
        ])
    );
    assert_eq!(
        ok("flow offload 4294967300"),
        Command::FlowOffload(4_294_967_300)
    );
    assert_eq!(ok("flow onload 7"), Command::FlowOnload(7));
    let create =
        "flow create 0 ingress pattern eth / ipv4 src is 10.0.0.1 / end actions count / end";
    assert_eq!(ok(create), Command::Flow(create.into()));
    assert_eq!(ok("  start "), Command::Start);
    assert_eq!(ok("stop"), Command::Stop);
    assert_eq!(ok("quit"), Command::Quit);
    assert_eq!(ok("help show"), Command::Help(Some("show".into())));
    assert_eq!(parse("   ").unwrap(), None);
    assert_eq!(parse("# a comment").unwrap(), None);
}

#[test]
fn mistakes_say_what_was_expected() {
    for (line, want) in [
        ("shwo port stats all", "unknown command \"shwo\": try help"),
        (
            "show",
            "show: expected \"port\", \"fwd\", \"flows\" or \"offload\", got None",
        ),
        (
            "show port stats",
            "show port stats: expected \"all\" or a port id",
        ),
        (
            "show port stats x",
            "expected \"all\" or a port id, got \"x\"",
        ),
        (
            "show port stats all extra",
            "unexpected \"extra\" at the end",
        ),
        ("show port xstats", "show port xstats: expected a port id"),
        ("show flows top", "show flows top: expected a count"),
        ("show flows sideways", "show flows: unexpected \"sideways\""),
        (
            "set offload speed 3",
            "expected promote-pps, demote-pps, hold, max-rules or tick-ms",
        ),
        (
            "set offload hold -1",
            "set offload hold: -1 must be 0 or more",
        ),
        (
            "set offload hold lots",
            "set offload hold: expected a number, got \"lots\"",
        ),
        ("policy add proto", "has no value"),
        (
            "policy add proto udp",
            "expected \"offload always|never|auto\"",
        ),
        ("policy del x", "policy del: expected a policy number"),
        ("flow", "flow: expected create"),
        ("flow offload", "flow offload: expected a flow id"),
        ("quit now", "quit: unexpected \"now\""),
        ("dump-flows --xml", "dump-flows: unexpected \"--xml\""),
    ] {
        let e = bad(line);
        assert!(e.contains(want), "{line:?}: expected {want:?} in {e:?}");
    }
}

#[test]
fn help_covers_every_command_and_topics_narrow_it() {
    let all = help(None);
    for first in FIRST_WORDS {
        assert!(all.contains(first), "help mentions {first}");
    }
    let flows = help(Some("flow"));
    assert!(flows.contains("flow offload FLOW_ID"));
    assert!(!flows.contains("show port"));
    assert!(help(Some("frobnicate")).contains("no command starts with"));
}

#[test]
fn completion_offers_what_may_come_next() {
    assert_eq!(completions("sh"), ["show"]);
    assert_eq!(completions("show "), ["fwd", "flows", "offload", "port"]);
    assert_eq!(completions("show port st"), ["stats"]);
    assert_eq!(
        completions("set offload "),
        ["promote-pps", "demote-pps", "hold", "max-rules", "tick-ms"]
    );
    assert_eq!(completions("flow o"), ["offload", "onload"]);
    // testpmd's rule syntax, word by word.
    assert_eq!(completions("flow create 0 ingress pat"), ["pattern"]);
    assert!(completions("flow create 0 ingress pattern eth / ").contains(&"ipv4".to_string()));
    assert!(
        completions("flow create 0 ingress pattern eth / end actions ")
            .contains(&"queue".to_string())
    );
    assert!(
        completions("flow offload ").is_empty(),
        "a flow id comes next"
    );
    assert!(completions("").contains(&"dump-flows".to_string()));
    assert!(completions("quit ").is_empty());
}
