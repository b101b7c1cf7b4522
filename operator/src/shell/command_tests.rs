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
        Command::SetOffload(OffloadSet::PromotePps(5000.0))
    );
    assert_eq!(
        ok("set offload tick-ms 50"),
        Command::SetOffload(OffloadSet::TickMs(50))
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
            "set offload hold: expected a whole number from 0 to 4294967295, got \"-1\"",
        ),
        (
            "set offload hold lots",
            "set offload hold: expected a whole number from 0 to 4294967295, got \"lots\"",
        ),
        (
            "set offload promote-pps lots",
            "set offload promote-pps: expected a number of packets per second, got \"lots\"",
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

/// Every refusal `parse` words itself, in full: users' scripts match on
/// them, so a change to the grammar's code must leave them as they are.
#[test]
fn each_command_familys_refusals_word_for_word() {
    for (line, want) in [
        (
            "shwo",
            "unknown command \"shwo\": try help (commands: clear, dump-flows, flow, help, policy, quit, reload, set, show, start, stop)",
        ),
        ("show port", "show port: expected \"stats\" or \"xstats\", got None"),
        ("show port rates", "show port: expected \"stats\" or \"xstats\", got Some(\"rates\")"),
        ("show port xstats 1 2", "show port xstats: unexpected \"2\" at the end"),
        ("show fwd", "show fwd: expected \"stats\", got None"),
        ("show fwd stats now", "show fwd stats: unexpected \"now\" at the end"),
        ("show offload now", "show offload: unexpected \"now\" at the end"),
        ("show ports", "show: expected \"port\", \"fwd\", \"flows\" or \"offload\", got Some(\"ports\")"),
        ("clear", "clear: expected \"clear port stats all|N\""),
        ("clear port", "clear: expected \"clear port stats all|N\""),
        ("clear port stats", "clear port stats: expected \"all\" or a port id"),
        ("clear port stats all 1", "clear port stats: unexpected \"1\" at the end"),
        ("dump-flows --json --json", "dump-flows: unexpected \"--json\" at the end"),
        ("dump-flows --xml", "dump-flows: unexpected \"--xml\" (only --json)"),
        ("set", "set: expected \"offload\", got None"),
        ("set policy", "set: expected \"offload\", got Some(\"policy\")"),
        (
            "set offload",
            "set offload: expected promote-pps, demote-pps, hold, max-rules or tick-ms, got None",
        ),
        ("set offload tick-ms", "set offload tick-ms: expected a whole number from 0 to 4294967295"),
        ("policy", "policy: expected \"add\", \"del\" or \"list\", got None"),
        ("policy show", "policy: expected \"add\", \"del\" or \"list\", got Some(\"show\")"),
        ("policy list 1", "policy list: unexpected \"1\" at the end"),
        ("policy del", "policy del: expected a policy number (see policy list)"),
        ("policy del 1 2", "policy del: unexpected \"2\" at the end"),
        ("policy add", "policy add: expected \"offload always|never|auto\""),
        ("policy add proto udp dport", "policy add: expected FIELD VALUE pairs, \"dport\" has no value"),
        (
            "flow",
            "flow: expected create, validate, list, query, destroy, flush, offload or onload",
        ),
        ("flow onload", "flow onload: expected a flow id (see show flows)"),
        ("flow onload x", "flow onload: expected a flow id (see show flows), got \"x\""),
        ("flow offload 1 2", "flow offload: unexpected \"2\" at the end"),
        ("start now", "start: unexpected \"now\" at the end"),
        ("stop now", "stop: unexpected \"now\" at the end"),
        ("quit now", "quit: unexpected \"now\" at the end"),
    ] {
        assert_eq!(bad(line), want, "{line:?}");
    }
    // What is not refused: `?` is help, testpmd's flow commands pass through
    // as typed (trimmed), and policy add keeps its pairs in order.
    assert_eq!(ok("?"), Command::Help(None));
    assert_eq!(ok(" flow list  0 "), Command::Flow("flow list  0".into()));
    assert_eq!(ok("flow bogus"), Command::Flow("flow bogus".into()));
    assert_eq!(
        ok("policy add offload never offload always"),
        Command::PolicyAdd(vec![
            ("offload".into(), "never".into()),
            ("offload".into(), "always".into())
        ])
    );
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

#[test]
fn set_offload_values_parse_as_the_type_they_are_kept_in() {
    // What the config keeps as a count is a whole number: a fraction, an
    // exponent, a sign or an overflow is refused, never rounded or clamped.
    for (line, want) in [
        (
            "set offload max-rules 0.9",
            "expected a whole number from 0 to 4294967295, got \"0.9\"",
        ),
        (
            "set offload hold 1e30",
            "expected a whole number from 0 to 4294967295, got \"1e30\"",
        ),
        ("set offload tick-ms 50.7", "got \"50.7\""),
        ("set offload hold +3", "got \"+3\""),
        (
            "set offload max-rules 4294967296",
            "4294967296 is more than 4294967295",
        ),
        (
            "set offload hold",
            "set offload hold: expected a whole number",
        ),
        // Rates are f64, finite.
        (
            "set offload promote-pps 1e400",
            "expected a finite number of packets per second, got \"1e400\"",
        ),
        ("set offload demote-pps NaN", "got \"NaN\""),
        ("set offload promote-pps inf", "got \"inf\""),
        (
            "set offload max-rules 5 6",
            "set offload max-rules: unexpected \"6\" at the end",
        ),
    ] {
        let e = bad(line);
        assert!(e.contains(want), "{line:?}: expected {want:?} in {e:?}");
    }
    assert_eq!(
        ok("set offload max-rules 4294967295"),
        Command::SetOffload(OffloadSet::MaxRules(u32::MAX))
    );
    assert_eq!(
        ok("set offload hold 007"),
        Command::SetOffload(OffloadSet::Hold(7))
    );
    assert_eq!(
        ok("set offload promote-pps 1e3"),
        Command::SetOffload(OffloadSet::PromotePps(1000.0))
    );
    // -0 is stored, and echoed, as 0; a negative rate is the config
    // bounds' to refuse (exec), not the grammar's.
    let Command::SetOffload(OffloadSet::DemotePps(z)) = ok("set offload demote-pps -0") else {
        panic!("demote-pps");
    };
    assert!(z == 0.0 && z.is_sign_positive());
    assert_eq!(
        ok("set offload demote-pps -0").to_string(),
        "set offload demote-pps 0"
    );
    assert_eq!(
        ok("set offload promote-pps -5"),
        Command::SetOffload(OffloadSet::PromotePps(-5.0))
    );
}

#[test]
fn help_takes_every_word_of_its_topic() {
    assert_eq!(
        ok("help show port"),
        Command::Help(Some("show port".into()))
    );
    assert_eq!(
        ok("?  show   port "),
        Command::Help(Some("show port".into()))
    );
    assert_eq!(ok("help"), Command::Help(None));
    let text = help(Some("show port"));
    assert!(text.contains("show port stats") && !text.contains("show flows"));
}

#[test]
fn show_flows_options_are_given_once() {
    for (line, want) in [
        (
            "show flows onloaded offloaded",
            "onloaded or offloaded, not both",
        ),
        (
            "show flows offloaded offloaded",
            "onloaded or offloaded, not both",
        ),
        ("show flows top 5 top 10", "show flows: \"top\" given twice"),
        (
            "show flows --json --json",
            "show flows: \"--json\" given twice",
        ),
    ] {
        let e = bad(line);
        assert!(e.contains(want), "{line:?}: expected {want:?} in {e:?}");
    }
    assert_eq!(
        ok("show flows top 18446744073709551615"),
        Command::ShowFlows {
            filter: FlowFilter::All,
            top: Some(usize::MAX),
            json: false
        }
    );
}

#[test]
fn a_command_displays_as_a_line_that_parses_back_to_it() {
    for line in [
        "help",
        "help show port",
        "show port stats all",
        "show port stats 3",
        "show port xstats 0",
        "clear port stats all",
        "clear port stats 1",
        "show fwd stats",
        "show flows",
        "show flows offloaded top 5 --json",
        "show flows --json onloaded",
        "dump-flows",
        "dump-flows --json",
        "show offload",
        "set offload promote-pps 5000",
        "set offload demote-pps 0.1",
        "set offload promote-pps 1e300",
        "set offload promote-pps 0.000000001",
        "set offload hold 3",
        "set offload max-rules 0",
        "set offload tick-ms 60000",
        "policy add priority 3 proto udp dport 53 offload never",
        "policy del 2",
        "policy list",
        "flow offload 4294967300",
        "flow onload 7",
        "flow create 0 ingress pattern eth / ipv4 src is 10.0.0.1 / end actions count / end",
        "flow list 0",
        "start",
        "stop",
        "quit",
    ] {
        let cmd = ok(line);
        let text = cmd.to_string();
        assert_eq!(ok(&text), cmd, "{line:?} displays as {text:?}");
    }
    // The canonical form: one space apart, options in one order, values
    // as stored.
    assert_eq!(
        ok(" show  flows --json   onloaded ").to_string(),
        "show flows onloaded --json"
    );
    assert_eq!(
        ok("set offload promote-pps 1e300").to_string(),
        "set offload promote-pps 1e300"
    );
    assert_eq!(
        ok("set offload hold 010").to_string(),
        "set offload hold 10"
    );
}

#[test]
fn commands_that_change_state_are_told_from_those_that_look() {
    for line in [
        "set offload promote-pps 5000",
        "policy add proto udp offload never",
        "policy del 0",
        "flow offload 3",
        "flow onload 3",
        "flow create 0 ingress pattern eth / end actions drop / end",
        "flow destroy 0 rule 1",
        "flow flush 0",
        "clear port stats all",
        "start",
        "stop",
        "quit",
    ] {
        assert!(changes_state(line), "{line}");
    }
    for line in [
        "help",
        "show port stats all",
        "show flows top 3",
        "dump-flows",
        "show offload",
        "policy list",
        "flow list 0",
        "flow query 0 0 count",
        "flow validate 0 ingress pattern eth / end actions drop / end",
        "",
        "set offload nonsense 1",
    ] {
        assert!(!changes_state(line), "{line}");
    }
}
