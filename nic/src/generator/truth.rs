//! The generator's ground truth: for every flow born, its key, the packets
//! and bytes it sent, and those of them the host never got (missed at a
//! full ring or an empty pool while paced, refused, or left in a ring when
//! the port stopped). What the flow log says of a flow must be what it sent
//! less what was missed, exactly.
//!
//! Written as JSONL (`gen_truth=PATH`) when the PF stops, one line per flow
//! that sent anything, with the flow log's key fields spelt as the flow log
//! spells them (`vlan` the outer VID or null, `src` and `dst` as text,
//! `proto`, `sport`, `dport`), so the two join on them.

use std::io::Write;
use std::path::Path;

use super::births::{FlowSpec, Ids};

/// One flow's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowTruth {
    pub spec: FlowSpec,
    /// Packets taken off the wire.
    pub sent: u64,
    /// Of those, packets the host never got.
    pub missed: u64,
}

impl FlowTruth {
    pub fn bytes(&self) -> u64 {
        self.sent * u64::from(self.spec.len)
    }

    pub fn missed_bytes(&self) -> u64 {
        self.missed * u64::from(self.spec.len)
    }

    /// Its JSONL line (without the newline).
    pub fn json(&self) -> String {
        let k = &self.spec.key;
        let vlan = k.vlan.map_or("null".to_owned(), |v| v.to_string());
        format!(
            concat!(
                "{{\"vlan\":{},\"src\":\"{}\",\"dst\":\"{}\",\"proto\":{},\"sport\":{},",
                "\"dport\":{},\"packets\":{},\"bytes\":{},\"missed_packets\":{},",
                "\"missed_bytes\":{},\"size\":{},\"born_s\":{:.6},\"vf\":{}}}"
            ),
            vlan,
            k.src,
            k.dst,
            k.proto,
            k.sport,
            k.dport,
            self.sent,
            self.bytes(),
            self.missed,
            self.missed_bytes(),
            self.spec.size,
            self.spec.born_ns as f64 / 1e9,
            self.spec.vf
        )
    }
}

/// Every flow born so far, by birth order.
#[derive(Debug)]
pub struct Truth {
    flows: Vec<FlowTruth>,
    ids: Ids,
}

impl Truth {
    pub(crate) fn new(ids: Ids) -> Truth {
        Truth {
            flows: Vec::new(),
            ids,
        }
    }

    /// Flow `spec` is born (births come in index order).
    pub(crate) fn born(&mut self, spec: FlowSpec) {
        debug_assert_eq!(spec.index, self.flows.len() as u64);
        self.flows.push(FlowTruth {
            spec,
            sent: 0,
            missed: 0,
        });
    }

    /// Flow `index` sent a packet.
    pub(crate) fn sent(&mut self, index: u64) {
        self.flows[index as usize].sent += 1;
    }

    pub(crate) fn missed(&mut self, index: u64) {
        self.flows[index as usize].missed += 1;
    }

    /// Counts `frame` missed against the flow whose key it has.
    pub(crate) fn missed_frame(&mut self, frame: &[u8]) -> bool {
        let Ok(parsed) = flowlift_dataplane::wire::parse(frame) else {
            return false;
        };
        let k = parsed.key;
        let Some(i) = self.ids.index_of(k.src(), k.sport()) else {
            return false;
        };
        match self.flows.get_mut(i as usize) {
            Some(f)
                if f.spec.key.dst == k.dst()
                    && f.spec.key.proto == k.proto()
                    && f.spec.key.dport == k.dport()
                    && f.spec.key.vlan == k.vlan()
                    && f.missed < f.sent =>
            {
                f.missed += 1;
                true
            }
            _ => false,
        }
    }

    /// Every flow born, by birth order (some may not have sent yet).
    pub fn flows(&self) -> &[FlowTruth] {
        &self.flows
    }

    /// Packets sent in all, and missed.
    pub fn totals(&self) -> (u64, u64) {
        self.flows
            .iter()
            .fold((0, 0), |(s, m), f| (s + f.sent, m + f.missed))
    }

    /// Writes one line per flow that sent anything to `out`.
    pub fn write(&self, out: &mut impl Write) -> std::io::Result<()> {
        for f in self.flows.iter().filter(|f| f.sent > 0) {
            writeln!(out, "{}", f.json())?;
        }
        Ok(())
    }

    /// Writes the JSONL file at `path` whole (made beside it, then renamed,
    /// so a reader never sees half of it).
    pub fn write_file(&self, path: &Path) -> std::io::Result<()> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".part");
        let tmp = std::path::PathBuf::from(tmp);
        let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        self.write(&mut out)?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, path)
    }
}
