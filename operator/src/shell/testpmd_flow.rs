//! testpmd's `flow` commands (DPDK 22.11's `dpdk-testpmd`, "Flow rules
//! management" in its user guide), parsed into the offload side's static-rule
//! model ([`flowlift_offload::flow_rule`]), which the offload code lowers to
//! rte_flow items and actions. Parsing only: nothing here checks
//! that a port exists or that a NIC can offload the rule, as `flow validate`
//! asks the PMD and not the parser.
//!
//! What it parses (words split on whitespace, so `/` stands apart as in
//! testpmd):
//!
//! - `flow validate|create PORT [ingress] [egress] [transfer] [group N]
//!   [priority N] pattern ITEM / ... / end actions ACTION / ... / end`
//! - `flow list PORT`, `flow flush PORT`, `flow query PORT RULE count`,
//!   `flow destroy PORT rule ID [rule ID ...]`
//! - items `eth`, `vlan`, `ipv4`, `ipv6`, `tcp`, `udp`, `sctp`, `icmp`,
//!   `represented_port`, `port_id`, each field with testpmd's operators
//!   `is`, `spec`, `mask`, `last` and `prefix`;
//! - actions `count`, `queue`, `drop`, `represented_port`, `port_id`,
//!   `meter`, `jump`, `mark`.
//!
//! Numbers are read as testpmd reads them (C's `strtoumax` with base 0):
//! decimal, `0x` hexadecimal, and a leading `0` means octal, so `0800` is an
//! error here as there rather than a silent 800.
//!
//! Where it departs from testpmd, on purpose:
//!
//! - A field given `spec` (or `last`) but no `mask` gets the full mask. testpmd
//!   leaves the item's mask to rte_flow's default for the item (which covers
//!   only some fields: `ipv4 proto spec 6` matches any protocol there) or, once
//!   another field of the item used `is` or `mask`, to zero. A rule here means
//!   what it says, and a caller lowering to rte_flow passes the masks
//!   explicitly, so the NIC sees the same rule.
//! - Each attribute at most once, and an action's mandatory parameter
//!   (`queue index`, `jump group`, ...) must be given: testpmd takes a repeat
//!   and defaults a missing one to 0, which hides typos.
//!
//! What it does not parse: other items (`vxlan`, `gre`, `raw`, `any`, ...),
//! other fields (`vlan dei`, `ipv6 tc`, `eth has_vlan`, ...), other actions
//! (`rss`, `set_*`, encapsulations, indirect actions), `flow list PORT group
//! N`, `flow isolate`, `flow aged`, templates and the asynchronous `flow
//! queue` commands.

use std::net::{Ipv4Addr, Ipv6Addr};

use flowlift_dataplane::mac::MacAddr;

// The model the parser fills in, re-exported for the shell's callers (and the
// fuzz targets) that name it through the parser.
pub use flowlift_offload::flow_rule::{
    Action, Attr, EthItem, FieldMatch, FlowCommand, FlowRule, IcmpItem, Ipv4Item, Ipv6Item, Item,
    PortIdItem, PortsItem, RepresentedPortItem, TcpItem, VlanItem,
};

/// A line that is not a `flow` command: where, and what was expected there.
/// Displays as one line, e.g. `flow create: expected "pattern" after the
/// attributes (...), got "patern" (token 4)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{command}: {message} (token {token})")]
pub struct FlowSyntaxError {
    /// The command as far as it was recognized: `flow`, `flow create`, ...
    pub command: &'static str,
    /// The 0-based index of the word at fault (`flow` is 0); the number of
    /// words when the line ended too soon.
    pub token: usize,
    /// What was expected, and what came instead.
    pub message: String,
}

/// Parses one `flow ...` line.
pub fn parse(line: &str) -> Result<FlowCommand, FlowSyntaxError> {
    let words: Vec<&str> = line.split_whitespace().collect();
    Parser::new(&words).command()
}

/// The words that may follow `prefix_tokens` (whole words, the first being
/// `flow`), in the grammar's order, for tab completion: the shell filters
/// them by the partly typed word. Empty where a value (a number, an address)
/// comes next, after a complete command, and after a mistake.
pub fn completions(prefix_tokens: &[&str]) -> Vec<&'static str> {
    let mut parser = Parser::new(prefix_tokens);
    // Whether the words parse or not, the parser noted what it would have
    // taken at their end; a mistake before the end leaves nothing noted.
    let _ = parser.command();
    let mut out: Vec<&'static str> = Vec::new();
    for word in parser.offered {
        if !out.contains(&word) {
            out.push(word);
        }
    }
    out
}

// The grammar's words. Tables rather than code so that the error messages and
// completion list exactly what the parser takes.

/// The commands, with the name their errors go by.
const VERBS: &[(&str, &str)] = &[
    ("create", "flow create"),
    ("validate", "flow validate"),
    ("list", "flow list"),
    ("query", "flow query"),
    ("destroy", "flow destroy"),
    ("flush", "flow flush"),
];

const ATTRIBUTES: [&str; 5] = ["ingress", "egress", "transfer", "group", "priority"];

const OPERATORS: [&str; 5] = ["is", "spec", "mask", "last", "prefix"];

/// What a field's value is, which says how to read it and how wide it is.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Mac,
    Ipv4,
    Ipv6,
    /// An unsigned integer of this many bits.
    Uint(u32),
}

impl Kind {
    fn bits(self) -> u32 {
        match self {
            Kind::Mac => 48,
            Kind::Ipv4 => 32,
            Kind::Ipv6 => 128,
            Kind::Uint(bits) => bits,
        }
    }

    /// The value of `word` as an integer of [`Kind::bits`] bits, the first
    /// byte of an address in its top bits.
    fn parse(self, word: &str) -> Option<u128> {
        match self {
            Kind::Mac => word.parse::<MacAddr>().ok().map(|m| u128::from(m.to_u64())),
            Kind::Ipv4 => word
                .parse::<Ipv4Addr>()
                .ok()
                .map(|a| u128::from(u32::from(a))),
            Kind::Ipv6 => word.parse::<Ipv6Addr>().ok().map(u128::from),
            Kind::Uint(bits) => parse_uint(word).filter(|v| *v <= ones(bits)),
        }
    }

    fn describe(self) -> String {
        match self {
            Kind::Mac => "a MAC address like 02:00:00:00:00:01".to_string(),
            Kind::Ipv4 => "an IPv4 address like 10.0.0.1".to_string(),
            Kind::Ipv6 => "an IPv6 address like 2001:db8::1".to_string(),
            Kind::Uint(bits) => format!("a number from 0 to {}", ones(bits)),
        }
    }
}

/// An item: its name, its fields and how to make it from them.
#[derive(Debug)]
struct ItemDef {
    name: &'static str,
    fields: &'static [(&'static str, Kind)],
    build: fn(&Fields) -> Item,
}

const U8: Kind = Kind::Uint(8);
const U16: Kind = Kind::Uint(16);

/// The items, in the order completion offers them; field names are testpmd's.
const ITEMS: &[ItemDef] = &[
    ItemDef {
        name: "eth",
        fields: &[("dst", Kind::Mac), ("src", Kind::Mac), ("type", U16)],
        build: |f| {
            Item::Eth(EthItem {
                dst: f.get("dst"),
                src: f.get("src"),
                ether_type: f.get("type"),
            })
        },
    },
    ItemDef {
        name: "vlan",
        fields: &[
            ("tci", U16),
            ("pcp", Kind::Uint(3)),
            ("vid", Kind::Uint(12)),
            ("inner_type", U16),
        ],
        build: |f| {
            Item::Vlan(VlanItem {
                tci: f.get("tci"),
                pcp: f.get("pcp"),
                vid: f.get("vid"),
                inner_type: f.get("inner_type"),
            })
        },
    },
    ItemDef {
        name: "ipv4",
        fields: &[
            ("src", Kind::Ipv4),
            ("dst", Kind::Ipv4),
            ("proto", U8),
            ("tos", U8),
            ("ttl", U8),
        ],
        build: |f| {
            Item::Ipv4(Ipv4Item {
                src: f.get("src"),
                dst: f.get("dst"),
                proto: f.get("proto"),
                tos: f.get("tos"),
                ttl: f.get("ttl"),
            })
        },
    },
    ItemDef {
        name: "ipv6",
        fields: &[("src", Kind::Ipv6), ("dst", Kind::Ipv6), ("proto", U8)],
        build: |f| {
            Item::Ipv6(Ipv6Item {
                src: f.get("src"),
                dst: f.get("dst"),
                proto: f.get("proto"),
            })
        },
    },
    ItemDef {
        name: "tcp",
        fields: &[("src", U16), ("dst", U16), ("flags", U8)],
        build: |f| {
            Item::Tcp(TcpItem {
                src: f.get("src"),
                dst: f.get("dst"),
                flags: f.get("flags"),
            })
        },
    },
    ItemDef {
        name: "udp",
        fields: &[("src", U16), ("dst", U16)],
        build: |f| {
            Item::Udp(PortsItem {
                src: f.get("src"),
                dst: f.get("dst"),
            })
        },
    },
    ItemDef {
        name: "sctp",
        fields: &[("src", U16), ("dst", U16)],
        build: |f| {
            Item::Sctp(PortsItem {
                src: f.get("src"),
                dst: f.get("dst"),
            })
        },
    },
    ItemDef {
        name: "icmp",
        fields: &[("type", U8), ("code", U8)],
        build: |f| {
            Item::Icmp(IcmpItem {
                icmp_type: f.get("type"),
                code: f.get("code"),
            })
        },
    },
    ItemDef {
        name: "represented_port",
        fields: &[("ethdev_port_id", U16)],
        build: |f| {
            Item::RepresentedPort(RepresentedPortItem {
                ethdev_port_id: f.get("ethdev_port_id"),
            })
        },
    },
    ItemDef {
        name: "port_id",
        fields: &[("id", Kind::Uint(32))],
        build: |f| Item::PortId(PortIdItem { id: f.get("id") }),
    },
];

/// An action's parameter: `NAME N`, an unsigned integer of `bits` bits.
#[derive(Debug)]
struct Param {
    name: &'static str,
    bits: u32,
    /// Whether the action needs it (see the module doc).
    required: bool,
}

/// An action: its name, its parameters and how to make it from them.
#[derive(Debug)]
struct ActionDef {
    name: &'static str,
    params: &'static [Param],
    build: fn(&Params) -> Action,
}

const fn needs(name: &'static str, bits: u32) -> Param {
    Param {
        name,
        bits,
        required: true,
    }
}

/// The actions, in the order completion offers them. A required parameter's
/// `unwrap_or(0)` never takes the 0: the parser refuses the action without it.
const ACTIONS: &[ActionDef] = &[
    ActionDef {
        name: "count",
        params: &[Param {
            name: "identifier",
            bits: 32,
            required: false,
        }],
        build: |p| Action::Count {
            id: p.get("identifier"),
        },
    },
    ActionDef {
        name: "queue",
        params: &[needs("index", 16)],
        build: |p| Action::Queue {
            index: p.get("index").unwrap_or(0),
        },
    },
    ActionDef {
        name: "drop",
        params: &[],
        build: |_| Action::Drop,
    },
    ActionDef {
        name: "represented_port",
        params: &[needs("ethdev_port_id", 16)],
        build: |p| Action::RepresentedPort {
            ethdev_port_id: p.get("ethdev_port_id").unwrap_or(0),
        },
    },
    ActionDef {
        name: "port_id",
        params: &[needs("id", 32)],
        build: |p| Action::PortId {
            id: p.get("id").unwrap_or(0),
        },
    },
    ActionDef {
        name: "meter",
        params: &[needs("mtr_id", 32)],
        build: |p| Action::Meter {
            mtr_id: p.get("mtr_id").unwrap_or(0),
        },
    },
    ActionDef {
        name: "jump",
        params: &[needs("group", 32)],
        build: |p| Action::Jump {
            group: p.get("group").unwrap_or(0),
        },
    },
    ActionDef {
        name: "mark",
        params: &[needs("id", 32)],
        build: |p| Action::Mark {
            id: p.get("id").unwrap_or(0),
        },
    },
];

/// A value type of the AST, made from the integer [`Kind::parse`] gives.
trait FieldValue: Copy {
    /// Its width: values of a narrower [`Kind`] fit, wider ones would not.
    const BITS: u32;
    /// The value from its low [`Self::BITS`] bits (higher bits are dropped).
    fn from_bits(bits: u128) -> Self;
}

impl FieldValue for u8 {
    const BITS: u32 = 8;
    fn from_bits(bits: u128) -> Self {
        bits as u8
    }
}

impl FieldValue for u16 {
    const BITS: u32 = 16;
    fn from_bits(bits: u128) -> Self {
        bits as u16
    }
}

impl FieldValue for u32 {
    const BITS: u32 = 32;
    fn from_bits(bits: u128) -> Self {
        bits as u32
    }
}

impl FieldValue for MacAddr {
    const BITS: u32 = 48;
    fn from_bits(bits: u128) -> Self {
        let [_, _, a, b, c, d, e, f] = (bits as u64).to_be_bytes();
        MacAddr([a, b, c, d, e, f])
    }
}

impl FieldValue for Ipv4Addr {
    const BITS: u32 = 32;
    fn from_bits(bits: u128) -> Self {
        Ipv4Addr::from(bits as u32)
    }
}

impl FieldValue for Ipv6Addr {
    const BITS: u32 = 128;
    fn from_bits(bits: u128) -> Self {
        Ipv6Addr::from(bits)
    }
}

/// A field as its operators left it so far (`None`: not set).
#[derive(Debug, Clone, Copy, Default)]
struct Partial {
    spec: Option<u128>,
    mask: Option<u128>,
    last: Option<u128>,
}

/// An item's fields while it is parsed, one [`Partial`] per field of its
/// [`ItemDef`], in the same order.
#[derive(Debug)]
struct Fields {
    def: &'static ItemDef,
    set: Vec<Partial>,
}

impl Fields {
    /// Field `name`, `None` if no operator touched it.
    fn get<T: FieldValue>(&self, name: &str) -> Option<FieldMatch<T>> {
        let (&(_, kind), p) = self
            .def
            .fields
            .iter()
            .zip(&self.set)
            .find(|((n, _), _)| *n == name)?;
        debug_assert!(kind.bits() <= T::BITS, "{name} is wider than its type");
        if p.spec.is_none() && p.mask.is_none() && p.last.is_none() {
            return None;
        }
        Some(FieldMatch {
            spec: T::from_bits(p.spec.unwrap_or(0)),
            mask: T::from_bits(p.mask.unwrap_or(ones(kind.bits()))),
            last: p.last.map(T::from_bits),
        })
    }
}

/// An action's parameters while it is parsed, one per [`Param`] of its
/// [`ActionDef`], in the same order.
#[derive(Debug)]
struct Params {
    def: &'static ActionDef,
    values: Vec<Option<u128>>,
}

impl Params {
    fn get<T: FieldValue>(&self, name: &str) -> Option<T> {
        self.def
            .params
            .iter()
            .zip(&self.values)
            .find(|(p, _)| p.name == name)
            .and_then(|(_, v)| v.map(T::from_bits))
    }
}

/// `bits` ones in the low bits.
fn ones(bits: u32) -> u128 {
    u128::MAX
        .checked_shr(128u32.saturating_sub(bits))
        .unwrap_or(0)
}

/// A mask of `len` leading ones in a field of `bits` bits (`len <= bits`).
fn prefix_mask(len: u32, bits: u32) -> u128 {
    ones(len).checked_shl(bits.saturating_sub(len)).unwrap_or(0)
}

/// An unsigned integer as `strtoumax(word, _, 0)` reads it, all of the word:
/// `0x` hex, a leading `0` octal, otherwise decimal.
fn parse_uint(word: &str) -> Option<u128> {
    let (digits, radix) =
        if let Some(hex) = word.strip_prefix("0x").or_else(|| word.strip_prefix("0X")) {
            (hex, 16)
        } else if let Some(oct) = word.strip_prefix('0').filter(|rest| !rest.is_empty()) {
            (oct, 8)
        } else {
            (word, 10)
        };
    // from_str_radix alone would also take a sign.
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u128::from_str_radix(digits, radix).ok()
}

/// `names` as `a, b or c`.
fn or_list<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> String {
    let owned: Vec<S> = names.into_iter().collect();
    let names: Vec<&str> = owned.iter().map(AsRef::as_ref).collect();
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => (*last).to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// A recursive-descent parser over the line's words. Each step looks at the
/// next word with [`Parser::peek`], naming the keywords it would take there;
/// when the words run out, those are what completion offers.
struct Parser<'a> {
    words: &'a [&'a str],
    pos: usize,
    command: &'static str,
    /// The keywords the grammar takes after the last word, noted on the way.
    offered: Vec<&'static str>,
}

impl<'a> Parser<'a> {
    fn new(words: &'a [&'a str]) -> Self {
        Parser {
            words,
            pos: 0,
            command: "flow",
            offered: Vec::new(),
        }
    }

    /// The next word, not taken; at the end of the line, notes `offer` for
    /// completion.
    fn peek(&mut self, offer: impl IntoIterator<Item = &'static str>) -> Option<&'a str> {
        let word = self.word();
        if word.is_none() {
            self.offered.extend(offer);
        }
        word
    }

    /// The next word, not taken, where a value (nothing to complete) goes.
    fn word(&self) -> Option<&'a str> {
        self.words.get(self.pos).copied()
    }

    /// Takes the word [`Parser::peek`] or [`Parser::word`] just returned.
    fn advance(&mut self) {
        self.pos += 1;
    }

    /// An error about the next word.
    fn fail(&self, message: String) -> FlowSyntaxError {
        FlowSyntaxError {
            command: self.command,
            token: self.pos,
            message,
        }
    }

    /// "expected `what`, got" the next word.
    fn expected(&self, what: &str) -> FlowSyntaxError {
        let got = match self.word() {
            None => "the end of the line".to_string(),
            // testpmd splits on blanks only, so `eth/ipv4` is one word.
            Some(w) if w.contains('/') && w != "/" => {
                format!("{w:?} (\"/\" stands apart: put spaces around it)")
            }
            Some(w) => format!("{w:?}"),
        };
        self.fail(format!("expected {what}, got {got}"))
    }

    /// An unsigned integer of `T`'s width; `what` names it in the error.
    fn number<T: FieldValue>(&mut self, what: &str) -> Result<T, FlowSyntaxError> {
        let kind = Kind::Uint(T::BITS);
        match self.word().and_then(|w| kind.parse(w)) {
            Some(v) => {
                self.advance();
                Ok(T::from_bits(v))
            }
            None => Err(self.expected(&format!("{what} ({})", kind.describe()))),
        }
    }

    /// The end of the line.
    fn finish(&self) -> Result<(), FlowSyntaxError> {
        match self.word() {
            None => Ok(()),
            Some(_) => Err(self.expected("the end of the line")),
        }
    }

    fn command(&mut self) -> Result<FlowCommand, FlowSyntaxError> {
        if self.peek(["flow"]) != Some("flow") {
            return Err(self.expected("\"flow\""));
        }
        self.advance();
        let word = self.peek(VERBS.iter().map(|(v, _)| *v));
        let Some(&(verb, command)) = VERBS.iter().find(|(v, _)| Some(*v) == word) else {
            let verbs = or_list(VERBS.iter().map(|(v, _)| *v));
            return Err(self.expected(&verbs));
        };
        self.advance();
        self.command = command;
        let port = self.number("a port id")?;
        let cmd = match verb {
            "create" => FlowCommand::Create(self.rule(port)?),
            "validate" => FlowCommand::Validate(self.rule(port)?),
            "list" => FlowCommand::List { port },
            "query" => {
                let rule = self.number("a rule id")?;
                if self.peek(["count"]) != Some("count") {
                    return Err(self.expected("\"count\" (the only action queried)"));
                }
                self.advance();
                FlowCommand::Query { port, rule }
            }
            "destroy" => FlowCommand::Destroy {
                port,
                rules: self.rule_ids()?,
            },
            _ => FlowCommand::Flush { port },
        };
        self.finish()?;
        Ok(cmd)
    }

    /// `rule ID [rule ID ...]`
    fn rule_ids(&mut self) -> Result<Vec<u32>, FlowSyntaxError> {
        let mut rules = Vec::new();
        loop {
            match self.peek(["rule"]) {
                Some("rule") => {
                    self.advance();
                    rules.push(self.number("a rule id")?);
                }
                None if !rules.is_empty() => return Ok(rules),
                _ if rules.is_empty() => return Err(self.expected("\"rule\"")),
                _ => return Err(self.expected("\"rule\" or the end of the line")),
            }
        }
    }

    /// `ATTR... pattern ... / end actions ... / end`, after the port.
    fn rule(&mut self, port: u16) -> Result<FlowRule, FlowSyntaxError> {
        let attr = self.attributes()?;
        let pattern = self.pattern()?;
        if self.peek(["actions"]) != Some("actions") {
            return Err(self.expected("\"actions\" after the pattern's \"end\""));
        }
        self.advance();
        let actions = self.actions()?;
        Ok(FlowRule {
            port,
            attr,
            pattern,
            actions,
        })
    }

    /// The attributes, up to and including `pattern`.
    fn attributes(&mut self) -> Result<Attr, FlowSyntaxError> {
        let mut attr = Attr::default();
        let (mut group, mut priority) = (false, false);
        loop {
            let given = [attr.ingress, attr.egress, attr.transfer, group, priority];
            let offer = ATTRIBUTES
                .into_iter()
                .zip(given)
                .filter(|(_, given)| !given)
                .map(|(name, _)| name)
                .chain(["pattern"]);
            let word = self.peek(offer);
            let seen = match word {
                Some("pattern") => {
                    self.advance();
                    return Ok(attr);
                }
                Some("ingress") => &mut attr.ingress,
                Some("egress") => &mut attr.egress,
                Some("transfer") => &mut attr.transfer,
                Some("group") => &mut group,
                Some("priority") => &mut priority,
                _ => {
                    return Err(self.expected(
                        "\"pattern\" after the attributes (ingress, egress, transfer, group N, priority N)",
                    ))
                }
            };
            if *seen {
                return Err(self.fail(format!(
                    "{:?} given twice (each attribute at most once)",
                    word.unwrap_or_default()
                )));
            }
            *seen = true;
            self.advance();
            match word {
                Some("group") => attr.group = self.number("a group")?,
                Some("priority") => attr.priority = self.number("a priority")?,
                _ => {}
            }
        }
    }

    /// The items, up to and including `end`.
    fn pattern(&mut self) -> Result<Vec<Item>, FlowSyntaxError> {
        let mut items = Vec::new();
        loop {
            let word = self.peek(ITEMS.iter().map(|d| d.name).chain(["end"]));
            if word == Some("end") {
                self.advance();
                return Ok(items);
            }
            let Some(def) = ITEMS.iter().find(|d| Some(d.name) == word) else {
                let names = or_list(ITEMS.iter().map(|d| d.name).chain(["\"end\""]));
                return Err(self.expected(&format!("an item ({names})")));
            };
            self.advance();
            items.push(self.item(def)?);
        }
    }

    /// An item's fields, up to and including the `/` after them.
    fn item(&mut self, def: &'static ItemDef) -> Result<Item, FlowSyntaxError> {
        let mut set = vec![Partial::default(); def.fields.len()];
        loop {
            let word = self.peek(def.fields.iter().map(|(n, _)| *n).chain(["/"]));
            if word == Some("/") {
                self.advance();
                return Ok((def.build)(&Fields { def, set }));
            }
            let field = def
                .fields
                .iter()
                .zip(set.iter_mut())
                .find(|((n, _), _)| Some(*n) == word);
            let Some((&(name, kind), slot)) = field else {
                let names = or_list(def.fields.iter().map(|(n, _)| *n).chain(["\"/\""]));
                return Err(self.expected(&format!("a field of {} ({names})", def.name)));
            };
            self.advance();
            self.operator(def.name, name, kind, slot)?;
        }
    }

    /// `OPERATOR VALUE` after field `item` `field`, applied to `slot`.
    fn operator(
        &mut self,
        item: &str,
        field: &str,
        kind: Kind,
        slot: &mut Partial,
    ) -> Result<(), FlowSyntaxError> {
        let word = self.peek(OPERATORS);
        let Some(op) = OPERATORS.into_iter().find(|o| Some(*o) == word) else {
            let ops = or_list(OPERATORS.iter().map(|o| format!("{o:?}")));
            return Err(self.expected(&format!("{ops} after {item} {field}")));
        };
        self.advance();
        let bits = kind.bits();
        if op == "prefix" {
            let Some(len) = self
                .word()
                .and_then(parse_uint)
                .filter(|len| *len <= u128::from(bits))
            else {
                return Err(self.expected(&format!(
                    "a prefix length from 0 to {bits} for {item} {field}"
                )));
            };
            self.advance();
            // len <= bits <= 128: the cast keeps it whole.
            slot.mask = Some(prefix_mask(len as u32, bits));
            return Ok(());
        }
        let Some(value) = self.word().and_then(|w| kind.parse(w)) else {
            return Err(self.expected(&format!("{} for {item} {field}", kind.describe())));
        };
        self.advance();
        match op {
            "is" => {
                slot.spec = Some(value);
                slot.mask = Some(ones(bits));
            }
            "spec" => slot.spec = Some(value),
            "mask" => slot.mask = Some(value),
            _ => slot.last = Some(value),
        }
        Ok(())
    }

    /// The actions, up to and including `end`.
    fn actions(&mut self) -> Result<Vec<Action>, FlowSyntaxError> {
        let mut actions = Vec::new();
        loop {
            let word = self.peek(ACTIONS.iter().map(|d| d.name).chain(["end"]));
            if word == Some("end") {
                self.advance();
                return Ok(actions);
            }
            let Some(def) = ACTIONS.iter().find(|d| Some(d.name) == word) else {
                let names = or_list(ACTIONS.iter().map(|d| d.name).chain(["\"end\""]));
                return Err(self.expected(&format!("an action ({names})")));
            };
            self.advance();
            actions.push(self.action(def)?);
        }
    }

    /// An action's parameters, up to and including the `/` after them.
    fn action(&mut self, def: &'static ActionDef) -> Result<Action, FlowSyntaxError> {
        let mut values: Vec<Option<u128>> = vec![None; def.params.len()];
        loop {
            let missing = def
                .params
                .iter()
                .zip(&values)
                .find(|(p, v)| p.required && v.is_none())
                .map(|(p, _)| p.name);
            let offer = def
                .params
                .iter()
                .map(|p| p.name)
                .chain(missing.is_none().then_some("/"));
            let word = self.peek(offer);
            if word == Some("/") && missing.is_none() {
                self.advance();
                return Ok((def.build)(&Params { def, values }));
            }
            let param = def
                .params
                .iter()
                .zip(values.iter_mut())
                .find(|(p, _)| Some(p.name) == word);
            let Some((param, slot)) = param else {
                let what = match missing {
                    Some(name) => format!("\"{name} N\" after {}", def.name),
                    None if def.params.is_empty() => format!("\"/\" after {}", def.name),
                    None => {
                        let names = or_list(
                            def.params
                                .iter()
                                .map(|p| format!("{} N", p.name))
                                .chain(["\"/\"".to_string()]),
                        );
                        format!("a parameter of {} ({names})", def.name)
                    }
                };
                return Err(self.expected(&what));
            };
            self.advance();
            let kind = Kind::Uint(param.bits);
            let Some(value) = self.word().and_then(|w| kind.parse(w)) else {
                return Err(self.expected(&format!(
                    "{} for {} {}",
                    kind.describe(),
                    def.name,
                    param.name
                )));
            };
            self.advance();
            *slot = Some(value);
        }
    }
}

#[cfg(test)]
#[path = "testpmd_flow_tests.rs"]
mod tests;
