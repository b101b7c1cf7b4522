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

/// `set offload SETTING VALUE`, the value in the type the setting is kept in
/// (the config's): a line whose value that type cannot hold is refused, so
/// what is stored is what was typed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OffloadSet {
    /// Packets per second, finite (the bounds are the config's, checked
    /// where the value is applied).
    PromotePps(f64),
    DemotePps(f64),
    /// Ticks.
    Hold(u32),
    /// Rules.
    MaxRules(u32),
    /// Milliseconds.
    TickMs(u32),
}

impl OffloadSet {
    /// Which setting it changes.
    pub fn setting(self) -> OffloadSetting {
        match self {
            OffloadSet::PromotePps(_) => OffloadSetting::PromotePps,
            OffloadSet::DemotePps(_) => OffloadSetting::DemotePps,
            OffloadSet::Hold(_) => OffloadSetting::Hold,
            OffloadSet::MaxRules(_) => OffloadSetting::MaxRules,
            OffloadSet::TickMs(_) => OffloadSetting::TickMs,
        }
    }

    /// The value as stored, in a form that parses back to it exactly.
    pub fn value_text(self) -> String {
        match self {
            OffloadSet::PromotePps(v) | OffloadSet::DemotePps(v) => rate_text(v),
            OffloadSet::Hold(n) | OffloadSet::MaxRules(n) | OffloadSet::TickMs(n) => n.to_string(),
        }
    }
}

/// A rate as the shell echoes it (the config's refusals write it the same
/// way).
pub use flowlift_config::float_text as rate_text;

/// One shell command. Its `Display` is the command's line in full, which
/// parses back to the same command.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `help [COMMAND]`: the topic is the words after `help`, one space
    /// apart (`help show port` narrows to the `show port` commands).
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
    SetOffload(OffloadSet),
    /// `policy add FIELD VALUE ... offload always|never|auto`
    PolicyAdd(Vec<(String, String)>),
    /// `policy del N`
    PolicyDel(usize),
    /// `policy list`
    PolicyList,
    /// `flow offload FLOW_ID` / `flow onload FLOW_ID`
    FlowOffload(u64),
    FlowOnload(u64),
    /// `flow create|validate|list|query|destroy|flush ...` in testpmd's
    /// syntax: the line as typed (trimmed), for `testpmd_flow::parse`.
    Flow(String),
    /// `start`, `stop`: forwarding on and off.
    Start,
    Stop,
    /// `reload`: read the config file again (as SIGHUP does).
    Reload,
    /// `quit`: stop the appliance.
    Quit,
}

impl Command {
    /// Whether carrying the command out changes the appliance's state
    /// (what it forwards or offloads, its settings, its counters' baseline,
    /// whether it runs): those are logged, with who gave them.
    pub fn changes_state(&self) -> bool {
        match self {
            Command::ClearPortStats(_)
            | Command::SetOffload(_)
            | Command::PolicyAdd(_)
            | Command::PolicyDel(_)
            | Command::FlowOffload(_)
            | Command::FlowOnload(_)
            | Command::Start
            | Command::Stop
            | Command::Reload
            | Command::Quit => true,
            // testpmd's `flow VERB PORT ...`: list, query and validate
            // only look.
            Command::Flow(line) => matches!(
                line.split_whitespace().nth(1),
                Some("create" | "destroy" | "flush")
            ),
            Command::Help(_)
            | Command::ShowPortStats(_)
            | Command::ShowPortXstats(_)
            | Command::ShowFwdStats
            | Command::ShowFlows { .. }
            | Command::DumpFlows { .. }
            | Command::ShowOffload
            | Command::PolicyList => false,
        }
    }
}

/// Whether `line` is a command that changes the appliance's state
/// ([`Command::changes_state`]); a line that does not parse changes nothing.
pub fn changes_state(line: &str) -> bool {
    matches!(parse(line), Ok(Some(c)) if c.changes_state())
}

impl fmt::Display for PortSel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortSel::All => f.write_str("all"),
            PortSel::One(id) => write!(f, "{id}"),
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Help(None) => f.write_str("help"),
            Command::Help(Some(topic)) => write!(f, "help {topic}"),
            Command::ShowPortStats(sel) => write!(f, "show port stats {sel}"),
            Command::ShowPortXstats(id) => write!(f, "show port xstats {id}"),
            Command::ClearPortStats(sel) => write!(f, "clear port stats {sel}"),
            Command::ShowFwdStats => f.write_str("show fwd stats"),
            Command::ShowFlows { filter, top, json } => {
                f.write_str("show flows")?;
                match filter {
                    FlowFilter::All => {}
                    FlowFilter::Onloaded => f.write_str(" onloaded")?,
                    FlowFilter::Offloaded => f.write_str(" offloaded")?,
                }
                if let Some(n) = top {
                    write!(f, " top {n}")?;
                }
                if *json {
                    f.write_str(" --json")?;
                }
                Ok(())
            }
            Command::DumpFlows { json } => f.write_str(if *json {
                "dump-flows --json"
            } else {
                "dump-flows"
            }),
            Command::ShowOffload => f.write_str("show offload"),
            Command::SetOffload(set) => write!(
                f,
                "set offload {} {}",
                set.setting().name(),
                set.value_text()
            ),
            Command::PolicyAdd(pairs) => {
                f.write_str("policy add")?;
                for (k, v) in pairs {
                    write!(f, " {k} {v}")?;
                }
                Ok(())
            }
            Command::PolicyDel(n) => write!(f, "policy del {n}"),
            Command::PolicyList => f.write_str("policy list"),
            Command::FlowOffload(id) => write!(f, "flow offload {id}"),
            Command::FlowOnload(id) => write!(f, "flow onload {id}"),
            Command::Flow(line) => f.write_str(line),
            Command::Start => f.write_str("start"),
            Command::Stop => f.write_str("stop"),
            Command::Reload => f.write_str("reload"),
            Command::Quit => f.write_str("quit"),
        }
    }
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
    ("clear port stats all|N", "zero the counters show port stats prints (flows, /metrics and the final report keep theirs)"),
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
    ("reload", "read the config file again and apply what may change live (as SIGHUP does)"),
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
    "reload",
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

/// A `set offload` count: decimal digits only (no sign, point or exponent),
/// within `u32`, the type the setting is kept in.
fn whole(word: Option<&str>, cmd: &str) -> Result<u32, CommandError> {
    let what = format!("a whole number from 0 to {}", u32::MAX);
    match word {
        None => err(format!("{cmd}: expected {what}")),
        Some(w) if !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()) => w
            .parse()
            .map_err(|_| CommandError(format!("{cmd}: {w} is more than {}", u32::MAX))),
        Some(w) => err(format!("{cmd}: expected {what}, got {w:?}")),
    }
}

/// A `set offload` rate: a finite `f64` (`-0` is kept as 0). Its sign is
/// left to the bounds the config file has, checked where it is applied.
fn rate(word: Option<&str>, cmd: &str) -> Result<f64, CommandError> {
    let v: f64 = number(word, "a number of packets per second", cmd)?;
    if !v.is_finite() {
        return err(format!(
            "{cmd}: expected a finite number of packets per second, got {:?}",
            word.unwrap_or_default()
        ));
    }
    // Adding 0 turns -0 into 0, the only change the sum makes.
    Ok(v + 0.0)
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
        "help" | "?" => {
            let topic: Vec<&str> = w.copied().collect();
            Command::Help((!topic.is_empty()).then(|| topic.join(" ")))
        }
        "show" => parse_show(&mut w)?,
        "clear" => parse_clear(&mut w)?,
        "dump-flows" => parse_dump_flows(&mut w)?,
        "set" => parse_set(&mut w)?,
        "policy" => parse_policy(&mut w)?,
        "flow" => parse_flow(&mut w, line)?,
        "start" | "stop" | "reload" | "quit" => {
            no_more(&mut w, first)?;
            match first {
                "start" => Command::Start,
                "stop" => Command::Stop,
                "reload" => Command::Reload,
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

/// `show port ...`, `show fwd stats`, `show flows ...`, `show offload`: the
/// words after `show`.
fn parse_show(w: &mut std::slice::Iter<'_, &str>) -> Result<Command, CommandError> {
    match w.next().copied() {
        Some("port") => parse_show_port(w),
        Some("fwd") => match w.next().copied() {
            Some("stats") => {
                no_more(w, "show fwd stats")?;
                Ok(Command::ShowFwdStats)
            }
            other => err(format!("show fwd: expected \"stats\", got {other:?}")),
        },
        Some("flows") => parse_show_flows(w),
        Some("offload") => {
            no_more(w, "show offload")?;
            Ok(Command::ShowOffload)
        }
        other => err(format!(
            "show: expected \"port\", \"fwd\", \"flows\" or \"offload\", got {other:?}"
        )),
    }
}

/// `show port stats all|N`, `show port xstats N`: the words after
/// `show port`.
fn parse_show_port(w: &mut std::slice::Iter<'_, &str>) -> Result<Command, CommandError> {
    match w.next().copied() {
        Some("stats") => {
            let sel = port_sel(w.next().copied(), "show port stats")?;
            no_more(w, "show port stats")?;
            Ok(Command::ShowPortStats(sel))
        }
        Some("xstats") => {
            let port = number(w.next().copied(), "a port id", "show port xstats")?;
            no_more(w, "show port xstats")?;
            Ok(Command::ShowPortXstats(port))
        }
        other => err(format!(
            "show port: expected \"stats\" or \"xstats\", got {other:?}"
        )),
    }
}

/// `clear port stats all|N`: the words after `clear`.
fn parse_clear(w: &mut std::slice::Iter<'_, &str>) -> Result<Command, CommandError> {
    match (w.next().copied(), w.next().copied()) {
        (Some("port"), Some("stats")) => {
            let sel = port_sel(w.next().copied(), "clear port stats")?;
            no_more(w, "clear port stats")?;
            Ok(Command::ClearPortStats(sel))
        }
        _ => err("clear: expected \"clear port stats all|N\""),
    }
}

/// `dump-flows [--json]`: the words after `dump-flows`.
fn parse_dump_flows(w: &mut std::slice::Iter<'_, &str>) -> Result<Command, CommandError> {
    let json = match w.next().copied() {
        None => false,
        Some("--json") => true,
        Some(other) => return err(format!("dump-flows: unexpected {other:?} (only --json)")),
    };
    no_more(w, "dump-flows")?;
    Ok(Command::DumpFlows { json })
}

/// `set offload SETTING VALUE`: the words after `set`.
fn parse_set(w: &mut std::slice::Iter<'_, &str>) -> Result<Command, CommandError> {
    match w.next().copied() {
        Some("offload") => parse_set_offload(w),
        other => err(format!("set: expected \"offload\", got {other:?}")),
    }
}

/// `SETTING VALUE` after `set offload`, the value read as the type the
/// setting is kept in (see [`OffloadSet`]); errors name the setting.
fn parse_set_offload(w: &mut std::slice::Iter<'_, &str>) -> Result<Command, CommandError> {
    let name = w.next().copied();
    let Some(&(_, setting)) = OffloadSetting::ALL.iter().find(|(n, _)| Some(*n) == name) else {
        return err(format!(
            "set offload: expected promote-pps, demote-pps, hold, max-rules or tick-ms, got {name:?}"
        ));
    };
    let cmd = format!("set offload {}", setting.name());
    let value = w.next().copied();
    let set = match setting {
        OffloadSetting::PromotePps => OffloadSet::PromotePps(rate(value, &cmd)?),
        OffloadSetting::DemotePps => OffloadSet::DemotePps(rate(value, &cmd)?),
        OffloadSetting::Hold => OffloadSet::Hold(whole(value, &cmd)?),
        OffloadSetting::MaxRules => OffloadSet::MaxRules(whole(value, &cmd)?),
        OffloadSetting::TickMs => OffloadSet::TickMs(whole(value, &cmd)?),
    };
    no_more(w, &cmd)?;
    Ok(Command::SetOffload(set))
}

/// `policy list`, `policy del N`, `policy add ...`: the words after `policy`.
fn parse_policy(w: &mut std::slice::Iter<'_, &str>) -> Result<Command, CommandError> {
    match w.next().copied() {
        Some("list") => {
            no_more(w, "policy list")?;
            Ok(Command::PolicyList)
        }
        Some("del") => {
            let n = number(
                w.next().copied(),
                "a policy number (see policy list)",
                "policy del",
            )?;
            no_more(w, "policy del")?;
            Ok(Command::PolicyDel(n))
        }
        Some("add") => parse_policy_add(w),
        other => err(format!(
            "policy: expected \"add\", \"del\" or \"list\", got {other:?}"
        )),
    }
}

/// The `FIELD VALUE` pairs after `policy add`, as typed: only their shape
/// is checked here (pairs, one of them `offload`); the fields and values
/// are checked as the config file's `[[offload.policy]]` is, by
/// `config::offload_policy_from_pairs`, where the command is carried out.
fn parse_policy_add(w: &mut std::slice::Iter<'_, &str>) -> Result<Command, CommandError> {
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
    Ok(Command::PolicyAdd(pairs))
}

/// `flow offload|onload FLOW_ID`, flowlift's own; any other `flow ...` is
/// testpmd's rule syntax and is kept as the whole `line` (trimmed) for
/// `testpmd_flow::parse`.
fn parse_flow(w: &mut std::slice::Iter<'_, &str>, line: &str) -> Result<Command, CommandError> {
    match w.next().copied() {
        Some(verb @ ("offload" | "onload")) => {
            let cmd = format!("flow {verb}");
            let id = number(w.next().copied(), "a flow id (see show flows)", &cmd)?;
            no_more(w, &cmd)?;
            if verb == "offload" {
                Ok(Command::FlowOffload(id))
            } else {
                Ok(Command::FlowOnload(id))
            }
        }
        Some(_) => Ok(Command::Flow(line.to_string())),
        None => {
            err("flow: expected create, validate, list, query, destroy, flush, offload or onload")
        }
    }
}

/// `show flows`' options, each at most once: a second one would silently
/// overrule the first, and the list would not be the one asked for.
fn parse_show_flows(w: &mut std::slice::Iter<'_, &str>) -> Result<Command, CommandError> {
    let mut filter = FlowFilter::All;
    let mut top = None;
    let mut json = false;
    while let Some(word) = w.next().copied() {
        let twice = || err(format!("show flows: {word:?} given twice"));
        match word {
            "onloaded" | "offloaded" => {
                if filter != FlowFilter::All {
                    return err(
                        "show flows: onloaded or offloaded, not both (neither lists every flow)",
                    );
                }
                filter = if word == "onloaded" {
                    FlowFilter::Onloaded
                } else {
                    FlowFilter::Offloaded
                };
            }
            "--json" if json => return twice(),
            "--json" => json = true,
            "top" if top.is_some() => return twice(),
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
