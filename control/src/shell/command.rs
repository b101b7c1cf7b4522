//! The shell's commands, testpmd style: their grammar, their help, and what may
//! follow a partly typed line (tab completion). Parsing only; `exec` carries
//! them out. Every mistake is one line saying what was expected, and where.

use std::fmt;

/// Which ports a command is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortSel {
    All,
    /// A DPDK port id.
    One(u16),
}

/// Which flows `show flows` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowFilter {
    All,
    Onloaded,
    Offloaded,
}

/// A setting `set offload` changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffloadSetting {
    PromotePps,
    DemotePps,
    Hold,
    MaxRules,
    TickMs,
}

impl OffloadSetting {
    const ALL: [(&'static str, OffloadSetting); 5] = [
        ("promote-pps", OffloadSetting::PromotePps),
        ("demote-pps", OffloadSetting::DemotePps),
        ("hold", OffloadSetting::Hold),
        ("max-rules", OffloadSetting::MaxRules),
        ("tick-ms", OffloadSetting::TickMs),
    ];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        OffloadSetting::ALL
            .iter()
            .find(|(_, s)| *s == self)
            .map_or("?", |(n, _)| n)
    }
}

/// One shell command.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `help [COMMAND]`
    Help(Option<String>),
    /// `show port stats all|N`
    ShowPortStats(PortSel),
    /// `show port xstats N`
    ShowPortXstats(u16),
    /// `clear port stats all|N`
    ClearPortStats(PortSel),
    /// `show fwd stats`
    ShowFwdStats,
    /// `show flows [onloaded|offloaded] [top N] [--json]`
    ShowFlows {
        filter: FlowFilter,
        top: Option<usize>,
        json: bool,
    },
    /// `dump-flows [--json]`
    DumpFlows {
        json: bool,
    },
    /// `show offload`
    ShowOffload,
    /// `set offload SETTING VALUE`
    SetOffload(OffloadSetting, f64),
    /// `policy add FIELD VALUE ... offload always|never|auto`
    PolicyAdd(Vec<(String, String)>),
    /// `policy del N`
    PolicyDel(usize),
    /// `policy list`
    PolicyList,
    /// `flow offload FLOW_ID` / `flow onload FLOW_ID`
    FlowOffload(u64),
    FlowOnload(u64),
    /// `flow create|validate|list|query|destroy|flush ...` in testpmd's syntax.
    Flow(String),
    /// `start`, `stop`: forwarding on and off.
    Start,
    Stop,
    /// `quit`: stop the appliance.
    Quit,
}

/// A line that is not a command, as one line of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandError(pub String);

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CommandError {}

fn err<T>(msg: impl Into<String>) -> Result<T, CommandError> {
    Err(CommandError(msg.into()))
}

/// Every command's synopsis, for `help` and for the errors that point to it.
pub const HELP: &[(&str, &str)] = &[
    ("show port stats all|N", "RX/TX packets, bytes, drops and errors per port, testpmd's layout"),
    ("show port xstats N", "the driver's extended statistics of port N"),
    ("clear port stats all|N", "zero the ports' counters (flows keep theirs)"),
    ("show fwd stats", "per worker: packets, Mpps, cycles per packet, busy %"),
    ("show flows [onloaded|offloaded] [top N] [--json]", "flows by rate, with where they are carried"),
    ("dump-flows [--json]", "one line per flow, both paths, like ovs-dpctl dump-flows"),
    ("show offload", "backend, capabilities, rules used/max, installs, failures by reason"),
    ("set offload promote-pps|demote-pps|hold|max-rules|tick-ms VALUE", "change an offload threshold at run time"),
    ("policy add [priority N] [in_port P] [vlan N] [src PFX] [dst PFX] [proto P] [sport P] [dport P] offload always|never|auto", "add a header policy (applies to new flows)"),
    ("policy del N", "remove header policy N (see policy list)"),
    ("policy list", "the header policies, highest priority first"),
    ("flow offload FLOW_ID", "put a flow on the NIC now (whatever its rate)"),
    ("flow onload FLOW_ID", "bring a flow back to the workers now"),
    ("flow create|validate PORT ATTR pattern ... / end actions ... / end", "a static rule, testpmd's syntax"),
    ("flow list|flush PORT", "static rules of a port"),
    ("flow query PORT RULE count", "a static rule's hits and bytes"),
    ("flow destroy PORT rule ID [rule ID ...]", "remove static rules"),
    ("start", "start forwarding"),
    ("stop", "stop forwarding (flows and rules stay)"),
    ("quit", "stop the appliance"),
    ("help [COMMAND]", "this list, or one command's"),
];

/// The first words of every command, for completion.
const FIRST_WORDS: &[&str] = &[
    "clear",
    "dump-flows",
    "flow",
    "help",
    "policy",
    "quit",
    "set",
    "show",
    "start",
    "stop",
];

fn number<T: std::str::FromStr>(
    word: Option<&str>,
    what: &str,
    cmd: &str,
) -> Result<T, CommandError> {
    match word {
        None => err(format!("{cmd}: expected {what}")),
        Some(w) => w
            .parse()
            .map_err(|_| CommandError(format!("{cmd}: expected {what}, got {w:?}"))),
    }
}

fn port_sel(word: Option<&str>, cmd: &str) -> Result<PortSel, CommandError> {
    match word {
        Some("all") => Ok(PortSel::All),
        other => number(other, "\"all\" or a port id", cmd).map(PortSel::One),
    }
}

fn no_more(words: &mut std::slice::Iter<'_, &str>, cmd: &str) -> Result<(), CommandError> {
    match words.next() {
        None => Ok(()),
        Some(w) => err(format!("{cmd}: unexpected {w:?} at the end")),
    }
}

/// Parses one line. Blank lines and `#` comments are `Ok(None)`.
pub fn parse(line: &str) -> Result<Option<Command>, CommandError> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut w = words.iter();
    let first = *w.next().unwrap_or(&"");
    let cmd = match first {
        "help" | "?" => Command::Help(w.next().map(|s| s.to_string())),
        "show" => match w.next().copied() {
            Some("port") => match w.next().copied() {
                Some("stats") => {
                    let sel = port_sel(w.next().copied(), "show port stats")?;
                    no_more(&mut w, "show port stats")?;
                    Command::ShowPortStats(sel)
                }
                Some("xstats") => {
                    let port = number(w.next().copied(), "a port id", "show port xstats")?;
                    no_more(&mut w, "show port xstats")?;
                    Command::ShowPortXstats(port)
                }
                other => {
                    return err(format!(
                        "show port: expected \"stats\" or \"xstats\", got {other:?}"
                    ))
                }
            },
            Some("fwd") => match w.next().copied() {
                Some("stats") => {
                    no_more(&mut w, "show fwd stats")?;
                    Command::ShowFwdStats
                }
                other => return err(format!("show fwd: expected \"stats\", got {other:?}")),
            },
            Some("flows") => parse_show_flows(&mut w)?,
            Some("offload") => {
                no_more(&mut w, "show offload")?;
                Command::ShowOffload
            }
            other => {
                return err(format!(
                    "show: expected \"port\", \"fwd\", \"flows\" or \"offload\", got {other:?}"
                ))
            }
        },
        "clear" => match (w.next().copied(), w.next().copied()) {
            (Some("port"), Some("stats")) => {
                let sel = port_sel(w.next().copied(), "clear port stats")?;
                no_more(&mut w, "clear port stats")?;
                Command::ClearPortStats(sel)
            }
            _ => return err("clear: expected \"clear port stats all|N\""),
        },
        "dump-flows" => {
            let json = match w.next().copied() {
                None => false,
                Some("--json") => true,
                Some(other) => {
                    return err(format!("dump-flows: unexpected {other:?} (only --json)"))
                }
            };
            no_more(&mut w, "dump-flows")?;
            Command::DumpFlows { json }
        }
        "set" => match w.next().copied() {
            Some("offload") => {
                let name = w.next().copied();
                let Some(&(_, setting)) =
                    OffloadSetting::ALL.iter().find(|(n, _)| Some(*n) == name)
                else {
                    return err(format!(
                        "set offload: expected promote-pps, demote-pps, hold, max-rules or tick-ms, got {name:?}"
                    ));
                };
                let value: f64 = number(
                    w.next().copied(),
                    "a number",
                    &format!("set offload {}", setting.name()),
                )?;
                if !value.is_finite() || value < 0.0 {
                    return err(format!(
                        "set offload {}: {value} must be 0 or more",
                        setting.name()
                    ));
                }
                no_more(&mut w, "set offload")?;
                Command::SetOffload(setting, value)
            }
            other => return err(format!("set: expected \"offload\", got {other:?}")),
        },
        "policy" => match w.next().copied() {
            Some("list") => {
                no_more(&mut w, "policy list")?;
                Command::PolicyList
            }
            Some("del") => {
                let n = number(
                    w.next().copied(),
                    "a policy number (see policy list)",
                    "policy del",
                )?;
                no_more(&mut w, "policy del")?;
                Command::PolicyDel(n)
            }
            Some("add") => {
                let rest: Vec<&str> = w.copied().collect();
                if !rest.len().is_multiple_of(2) {
                    return err(format!(
                        "policy add: expected FIELD VALUE pairs, {:?} has no value",
                        rest.last().copied().unwrap_or("")
                    ));
                }
                let pairs: Vec<(String, String)> = rest
                    .chunks(2)
                    .map(|p| (p[0].to_string(), p[1].to_string()))
                    .collect();
                if !pairs.iter().any(|(k, _)| k == "offload") {
                    return err("policy add: expected \"offload always|never|auto\"");
                }
                return Ok(Some(Command::PolicyAdd(pairs)));
            }
            other => {
                return err(format!(
                    "policy: expected \"add\", \"del\" or \"list\", got {other:?}"
                ))
            }
        },
        "flow" => match w.next().copied() {
            Some(verb @ ("offload" | "onload")) => {
                let id = number(
                    w.next().copied(),
                    "a flow id (see show flows)",
                    &format!("flow {verb}"),
                )?;
                no_more(&mut w, &format!("flow {verb}"))?;
                if verb == "offload" {
                    Command::FlowOffload(id)
                } else {
                    Command::FlowOnload(id)
                }
            }
            Some(_) => Command::Flow(line.to_string()),
            None => return err(
                "flow: expected create, validate, list, query, destroy, flush, offload or onload",
            ),
        },
        "start" | "stop" | "quit" => {
            no_more(&mut w, first)?;
            match first {
                "start" => Command::Start,
                "stop" => Command::Stop,
                _ => Command::Quit,
            }
        }
        other => {
            return err(format!(
                "unknown command {other:?}: try help (commands: {})",
                FIRST_WORDS.join(", ")
            ))
        }
    };
    Ok(Some(cmd))
}

fn parse_show_flows(w: &mut std::slice::Iter<'_, &str>) -> Result<Command, CommandError> {
    let mut filter = FlowFilter::All;
    let mut top = None;
    let mut json = false;
    while let Some(word) = w.next().copied() {
        match word {
            "onloaded" => filter = FlowFilter::Onloaded,
            "offloaded" => filter = FlowFilter::Offloaded,
            "--json" => json = true,
            "top" => top = Some(number(w.next().copied(), "a count", "show flows top")?),
            other => {
                return err(format!(
                "show flows: unexpected {other:?} (expected onloaded, offloaded, top N or --json)"
            ))
            }
        }
    }
    Ok(Command::ShowFlows { filter, top, json })
}

/// The help text: every command, or those starting with `topic`.
pub fn help(topic: Option<&str>) -> String {
    let lines: Vec<String> = HELP
        .iter()
        .filter(|(syn, _)| topic.is_none_or(|t| syn.starts_with(t)))
        .map(|(syn, what)| format!("  {syn}\n      {what}"))
        .collect();
    if lines.is_empty() {
        return format!("no command starts with {:?}; try help", topic.unwrap_or(""));
    }
    lines.join("\n")
}

/// Words that may complete the last, partly typed word of `line`.
pub fn completions(line: &str) -> Vec<String> {
    let ends_in_space = line.ends_with(' ');
    let words: Vec<&str> = line.split_whitespace().collect();
    let (done, partial) = if ends_in_space || words.is_empty() {
        (&words[..], "")
    } else {
        (&words[..words.len() - 1], words[words.len() - 1])
    };
    let next: Vec<&str> = match done {
        [] => FIRST_WORDS.to_vec(),
        ["show"] => vec!["fwd", "flows", "offload", "port"],
        ["show", "port"] => vec!["stats", "xstats"],
        ["show", "port", "stats"] | ["clear", "port", "stats"] => vec!["all"],
        ["show", "fwd"] => vec!["stats"],
        ["show", "flows", ..] => vec!["--json", "offloaded", "onloaded", "top"],
        ["clear"] => vec!["port"],
        ["clear", "port"] => vec!["stats"],
        ["dump-flows"] => vec!["--json"],
        ["set"] => vec!["offload"],
        ["set", "offload"] => OffloadSetting::ALL.iter().map(|(n, _)| *n).collect(),
        ["policy"] => vec!["add", "del", "list"],
        ["policy", "add", ..] => vec![
            "dport", "dst", "in_port", "offload", "priority", "proto", "sport", "src", "vlan",
        ],
        ["flow"] => vec![
            "create", "destroy", "flush", "list", "offload", "onload", "query", "validate",
        ],
        // testpmd's rule syntax completes word by word, as testpmd does.
        ["flow", verb, ..] if !matches!(*verb, "offload" | "onload") => {
            super::testpmd_flow::completions(done)
        }
        ["help"] => FIRST_WORDS.to_vec(),
        _ => Vec::new(),
    };
    next.into_iter()
        .filter(|w| w.starts_with(partial))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
#[path = "command_tests.rs"]
mod tests;
