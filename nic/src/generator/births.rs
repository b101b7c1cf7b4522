//! When flows are born and what each one is: a Poisson process of arrivals
//! (ten times as fast during a flash crowd), each flow's size from the size
//! law, its rate, its kind (IPv4/IPv6, TCP/UDP, VLAN), its destination,
//! and a 5-tuple no other flow of the run has.
//!
//! The births are a pure function of the settings and the seed, drawn in
//! time order from one stream, so the generator and a dry run that only
//! counts packets ([`planned_total`]) see the same flows.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::args::{Params, Scenario, FLASH_AT_MS, FLASH_FACTOR, FLASH_LEN_MS, SHIFT_PERIOD_MS};
use super::law::TOP;

const NS: f64 = 1e9;

/// A flow's identity bits: its source address's low 24 bits and its source
/// port's low 15 (ports 32768-65535, the ephemeral range), 2^39 flows.
const ID_BITS: u32 = 39;
const ID_MASK: u64 = (1 << ID_BITS) - 1;
/// An odd multiplier: `index * MIX mod 2^39` is a bijection, so flow
/// identities never repeat in a run, yet neighbours in birth order get
/// addresses far apart (as RSS and the flow table would see real ones).
const MIX: u64 = 0x5851_f42d_4c95_7f2d & ID_MASK;

/// One flow, as born.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowSpec {
    /// Its birth order, from 0.
    pub index: u64,
    /// When it sends its first packet (ns of the generator's time).
    pub born_ns: u64,
    /// Packets it sends if the run lasts.
    pub size: u64,
    /// Nanoseconds between its packets.
    pub interval_ns: u64,
    pub key: GenKey,
    /// Its frames' length, in bytes.
    pub len: u16,
    /// The VF it goes to: destination MAC `02:00:00:00:00:<vf>`, from 1;
    /// 0 is the outside (the router's MAC, up the uplink).
    pub vf: u8,
    /// Who sends it: 0 the wire (the router's MAC), else the VF whose MAC
    /// is `02:00:00:00:00:<from>` (a VM's egress, `vfN_gen`).
    pub from: u8,
}

/// What the flow log keys a flow by (the port aside: all come in on the
/// uplink).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GenKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
    pub vlan: Option<u16>,
}

pub const TCP: u8 = 6;
pub const UDP: u8 = 17;

/// The bijection between birth order and flow identity.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ids {
    offset: u64,
    inverse: u64,
}

impl Ids {
    pub(crate) fn new(seed: u64) -> Ids {
        // Newton's iteration for the inverse of an odd number mod 2^64.
        let mut inverse = MIX;
        for _ in 0..6 {
            inverse = inverse.wrapping_mul(2u64.wrapping_sub(MIX.wrapping_mul(inverse)));
        }
        Ids {
            offset: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) & ID_MASK,
            inverse: inverse & ID_MASK,
        }
    }

    /// The identity of flow `index`.
    fn id(&self, index: u64) -> u64 {
        (index.wrapping_mul(MIX).wrapping_add(self.offset)) & ID_MASK
    }

    /// The flow whose source address and port are these, if any flow's
    /// could be.
    pub(crate) fn index_of(&self, src: IpAddr, sport: u16) -> Option<u64> {
        let low24 = match src {
            IpAddr::V4(a) => {
                let o = a.octets();
                (o[0] == 10).then_some(u64::from(u32::from_be_bytes([0, o[1], o[2], o[3]])))?
            }
            IpAddr::V6(a) => {
                let o = a.octets();
                (o[..13] == v6_src_prefix()[..13])
                    .then_some(u64::from(u32::from_be_bytes([0, o[13], o[14], o[15]])))?
            }
        };
        if sport < 0x8000 {
            return None;
        }
        let id = (low24 << 15) | u64::from(sport & 0x7fff);
        Some((id.wrapping_sub(self.offset) & ID_MASK).wrapping_mul(self.inverse) & ID_MASK)
    }
}

fn v6_src_prefix() -> [u8; 16] {
    [0xfd, 0, 0x0f, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
}

/// Frame lengths: from a minimal frame to 1 KiB, so every frame fits one
/// mbuf of any pool's default size.
pub const MIN_LEN: u16 = 64;
pub const MAX_LEN: u16 = 1024;

/// The births of a run, in time order.
#[derive(Debug)]
pub struct Births {
    p: Params,
    rng: ChaCha8Rng,
    ids: Ids,
    next: u64,
    /// The next Poisson candidate's time (s of the generator's time).
    t: f64,
    /// The hot-set shift's next boundary (s), and the elephants born there.
    boundary: f64,
    elephants: VecDeque<(f64, f64)>,
}

impl Births {
    pub fn new(p: &Params) -> Births {
        // Shifts fall on the wire's time: every period from its start, and
        // as many periods before as the warm-up holds.
        let period = SHIFT_PERIOD_MS as f64 / 1e3;
        let mut b = Births {
            p: p.clone(),
            rng: ChaCha8Rng::seed_from_u64(p.seed),
            ids: Ids::new(p.seed),
            next: 0,
            t: 0.0,
            boundary: (p.warm_ns as f64 / NS) % period,
            elephants: VecDeque::new(),
        };
        b.t = b.gap();
        b
    }

    /// The candidates' rate: a flash crowd's, thinned outside it.
    fn max_rate(&self) -> f64 {
        match self.p.scenario {
            Scenario::Flash => self.p.flows_per_s * FLASH_FACTOR,
            Scenario::Shift => self.p.flows_per_s * (1.0 - TOP),
            _ => self.p.flows_per_s,
        }
    }

    /// An exponential gap at the candidates' rate.
    fn gap(&mut self) -> f64 {
        let u: f64 = self.rng.gen();
        -(1.0 - u).ln() / self.max_rate()
    }

    fn past_end(&self, t: f64) -> bool {
        self.p.end_ns.is_some_and(|end| t * NS >= end as f64)
    }

    fn spec(&mut self, t: f64, u: f64, shift_elephant: bool) -> FlowSpec {
        let index = self.next;
        self.next += 1;
        let p = &self.p;
        let size = p.law.size(u);
        let interval_ns = if shift_elephant {
            // It lasts until the next shift exactly.
            (SHIFT_PERIOD_MS as f64 * 1e6 / size as f64).max(1.0)
        } else {
            // A flow k times the smallest sends sqrt(k) times as fast (and
            // lasts sqrt(k) times as long): elephants are hot, not just long.
            let rate = p.flow_pps * (size as f64 / p.law.min()).max(1.0).sqrt();
            (NS / rate).max(1.0)
        } as u64;
        let v6 = self.rng.gen::<f64>() < p.ipv6;
        let tcp = self.rng.gen::<f64>() < p.tcp;
        let vlan = (self.rng.gen::<f64>() < p.vlan).then(|| self.rng.gen_range(1..4095));
        let dst_host: u16 = self.rng.gen();
        let dport: u16 = self.rng.gen_range(1..32768);
        let vf = match p.sender {
            None => self.rng.gen_range(1..=p.vfs.min(255)) as u8,
            // A VM's flow goes to the outside or to another VM:
            // drawing its own MAC or 0 is the outside.
            Some(me) => match self.rng.gen_range(0..=p.vfs.min(255)) as u8 {
                d if d == me => 0,
                d => d,
            },
        };
        let len = self
            .rng
            .gen_range(MIN_LEN..=MAX_LEN)
            .max(super::template::header_len(v6, tcp, vlan.is_some()));
        let id = self.ids.id(index);
        let low = ((id >> 15) as u32).to_be_bytes();
        let sport = 0x8000 | (id & 0x7fff) as u16;
        let h = dst_host.to_be_bytes();
        let (src, dst) = if v6 {
            let mut s = v6_src_prefix();
            s[13..].copy_from_slice(&low[1..]);
            let mut d = [0xfd, 0, 0x0f, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            d[14..].copy_from_slice(&h);
            (IpAddr::V6(Ipv6Addr::from(s)), IpAddr::V6(Ipv6Addr::from(d)))
        } else {
            (
                IpAddr::V4(Ipv4Addr::new(10, low[1], low[2], low[3])),
                IpAddr::V4(Ipv4Addr::new(192, 168, h[0], h[1])),
            )
        };
        FlowSpec {
            index,
            born_ns: (t * NS) as u64,
            size,
            interval_ns,
            key: GenKey {
                src,
                dst,
                proto: if tcp { TCP } else { UDP },
                sport,
                dport,
                vlan,
            },
            len,
            vf,
            from: p.sender.unwrap_or(0),
        }
    }

    /// The identities' bijection of this run.
    pub(crate) fn ids(&self) -> Ids {
        self.ids
    }
}

impl Iterator for Births {
    type Item = FlowSpec;

    fn next(&mut self) -> Option<FlowSpec> {
        loop {
            if self.p.max_flows.is_some_and(|m| self.next >= m) {
                return None;
            }
            if let Some((t, u)) = self.elephants.pop_front() {
                return Some(self.spec(t, u, true));
            }
            let t = self.t;
            if self.p.scenario == Scenario::Shift && t >= self.boundary {
                // The hot set of the coming period, born at once: the top
                // 1% of the law, as many as the period's arrivals would
                // bring (Poisson). The rest arrive below.
                let b = self.boundary;
                self.boundary += SHIFT_PERIOD_MS as f64 / 1e3;
                if self.past_end(b) {
                    continue;
                }
                let rate = self.p.flows_per_s * TOP;
                let mut s = 0.0;
                loop {
                    let u: f64 = self.rng.gen();
                    s += -(1.0 - u).ln() / rate;
                    if s >= SHIFT_PERIOD_MS as f64 / 1e3 {
                        break;
                    }
                    let u: f64 = self.rng.gen();
                    self.elephants.push_back((b, 1.0 - TOP + TOP * u));
                }
                continue;
            }
            if self.past_end(t) {
                return None;
            }
            self.t += self.gap();
            let mut u: f64 = self.rng.gen();
            match self.p.scenario {
                Scenario::Flash => {
                    // The crowd's time is the wire's.
                    let ms = t * 1e3 - self.p.warm_ns as f64 / 1e6;
                    let in_flash =
                        (FLASH_AT_MS as f64..(FLASH_AT_MS + FLASH_LEN_MS) as f64).contains(&ms);
                    // Thinning: a candidate outside the crowd is a birth
                    // with probability 1/FLASH_FACTOR.
                    let keep: f64 = self.rng.gen();
                    if !in_flash && keep >= 1.0 / FLASH_FACTOR {
                        continue;
                    }
                }
                // The law's lower 99%; its top 1% come at the shifts.
                Scenario::Shift => u *= 1.0 - TOP,
                _ => {}
            }
            return Some(self.spec(t, u, false));
        }
    }
}

/// The first of flow `f`'s packets the wire sends: those due before it
/// starts (`warm_ns`) are not.
pub fn first_sent(f: &FlowSpec, warm_ns: u64) -> u64 {
    warm_ns
        .saturating_sub(f.born_ns)
        .div_ceil(f.interval_ns.max(1))
}

/// Packets flow `f` sends from the wire's start (`warm_ns`) until the
/// generator's time ends at `end_ns`.
pub fn packets_sent(f: &FlowSpec, warm_ns: u64, end_ns: Option<u64>) -> u64 {
    let last = match end_ns {
        None => f.size,
        Some(end) if f.born_ns >= end => 0,
        Some(end) => f.size.min((end - f.born_ns).div_ceil(f.interval_ns)),
    };
    last.saturating_sub(first_sent(f, warm_ns))
}

/// Packets the whole run sends (`None`: it never ends).
pub fn planned_total(p: &Params) -> Option<u64> {
    if p.end_ns.is_none() && p.max_flows.is_none() {
        return None;
    }
    Some(
        Births::new(p)
            .map(|f| packets_sent(&f, p.warm_ns, p.end_ns))
            .sum(),
    )
}
