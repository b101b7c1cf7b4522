//! The generator's ground truth: for every flow born, its key, the packets
//! and bytes it sent, and those of them the host never got (missed at a
//! full ring or an empty pool while paced, refused, or left in a ring when
//! the port stopped). What the flow log says of a flow must be what it sent
//! less what was missed, exactly.
//!
//! Written as JSONL (`gen_truth=PATH`) when the PF stops, one line per flow
//! that sent anything, with the flow log's key fields spelt as the flow log
//! spells them (`vlan` the outer VID or null, `src` and `dst` as text,
//! `proto`, `sport`, `dport`), so the two join on them. Beside them: `size`
//! (packets it would send if the run lasted), `born_s`, `pps` (its own
//! constant rate), `vf`, and what the NIC's rules carried of it
//! (`nic_packets`, and `first_nic_s`, the generator's time of the first, or
//! null): the oracle of the offload measures needs each flow's rate over
//! time, and the time to offload is `first_nic_s - born_s`.

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
    /// Of those, packets a rule of the NIC carried past the host, and when
    /// the first of them was due (ns of the wire's time).
    pub nic: u64,
    pub first_nic_ns: Option<u64>,
}

impl FlowTruth {
    pub fn bytes(&self) -> u64 {
        self.sent * u64::from(self.spec.len)
    }

    pub fn missed_bytes(&self) -> u64 {
        self.missed * u64::from(self.spec.len)
    }

    /// Its JSONL line (without the newline), its birth on the wire's time
    /// (the generator's less `warm_ns`: before the start, negative).
    pub fn json_from(&self, warm_ns: u64) -> String {
        let k = &self.spec.key;
        let vlan = k.vlan.map_or("null".to_owned(), |v| v.to_string());
        format!(
            concat!(
                "{{\"vlan\":{},\"src\":\"{}\",\"dst\":\"{}\",\"proto\":{},\"sport\":{},",
                "\"dport\":{},\"packets\":{},\"bytes\":{},\"missed_packets\":{},",
                "\"missed_bytes\":{},\"size\":{},\"born_s\":{:.6},\"vf\":{},",
                "\"pps\":{:.3},\"nic_packets\":{},\"first_nic_s\":{}}}"
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
            (self.spec.born_ns as f64 - warm_ns as f64) / 1e9,
            self.spec.vf,
            1e9 / self.spec.interval_ns.max(1) as f64,
            self.nic,
            self.first_nic_ns
                .map_or("null".to_owned(), |t| format!("{:.6}", t as f64 / 1e9)),
        )
    }
}

/// Every flow born so far, by birth order.
#[derive(Debug)]
pub struct Truth {
    flows: Vec<FlowTruth>,
    ids: Ids,
    warm_ns: u64,
}

impl Truth {
    pub(crate) fn new(ids: Ids, warm_ns: u64) -> Truth {
        Truth {
            flows: Vec::new(),
            ids,
            warm_ns,
        }
    }

    /// Flow `spec` is born (births come in index order).
    pub(crate) fn born(&mut self, spec: FlowSpec) {
        debug_assert_eq!(spec.index, self.flows.len() as u64);
        self.flows.push(FlowTruth {
            spec,
            sent: 0,
            missed: 0,
            nic: 0,
            first_nic_ns: None,
        });
    }

    /// Flow `index` sent a packet.
    pub(crate) fn sent(&mut self, index: u64) {
        self.flows[index as usize].sent += 1;
    }

    pub(crate) fn missed(&mut self, index: u64) {
        self.flows[index as usize].missed += 1;
    }

    /// Flow `index`'s packet due at `at_ns` went by a rule of the NIC.
    pub(crate) fn carried(&mut self, index: u64, at_ns: u64) {
        let f = &mut self.flows[index as usize];
        f.nic += 1;
        f.first_nic_ns.get_or_insert(at_ns);
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
            writeln!(out, "{}", f.json_from(self.warm_ns))?;
        }
        Ok(())
    }

    /// Writes the JSONL file at `path` whole (made beside it, then renamed,
    /// so a reader never sees half of it).
    pub fn write_file(&self, path: &Path) -> std::io::Result<()> {
        write_whole(path, |out| self.write(out))
    }
}

/// Writes the file at `path` with `body`, made beside it and then renamed,
/// so a reader never sees half of it.
pub(crate) fn write_whole(
    path: &Path,
    body: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".part");
    let tmp = std::path::PathBuf::from(tmp);
    let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
    body(&mut out)?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(&tmp, path)
}
