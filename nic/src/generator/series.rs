//! The generated wire's time series (`gen_series=PATH`): per 100 ms of the
//! generator's time, the packets sent, those the host missed, and those the
//! NIC's rules carried past the host. A perf harness sets these beside an
//! oracle computed from the ground truth (the best any K rules could carry
//! in each bin), on the same clock, which flowlift's own once-a-second
//! status lines cannot give.
//!
//! Frames lost only at the port's stop (left in an RX ring) count in the
//! truth, not here: the series is of the run, the truth of the stop.
//!
//! Written as CSV when the PF stops: `t_s,sent,missed,nic`, one row per bin
//! from the first to the last that sent anything, `t_s` the bin's start.

use std::io::Write;
use std::path::Path;

/// A bin's width, in nanoseconds of the generator's time.
pub const BIN_NS: u64 = 100_000_000;

/// One bin's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bin {
    pub sent: u64,
    pub missed: u64,
    pub nic: u64,
}

/// The bins so far, from time 0.
#[derive(Debug, Default)]
pub struct Series {
    bins: Vec<Bin>,
}

impl Series {
    /// The bin of time `at_ns`, made (with every one before it) if need be.
    pub(crate) fn bin(&mut self, at_ns: u64) -> &mut Bin {
        let i = usize::try_from(at_ns / BIN_NS).unwrap_or(usize::MAX);
        if i >= self.bins.len() {
            // A run's time is bounded by its packets' (one bin per 100 ms
            // of it), so this grows with the run, not with a stray stamp.
            self.bins.resize(i.saturating_add(1), Bin::default());
        }
        &mut self.bins[i]
    }

    pub fn bins(&self) -> &[Bin] {
        &self.bins
    }

    /// Writes the CSV to `out`.
    pub fn write(&self, out: &mut impl Write) -> std::io::Result<()> {
        writeln!(out, "t_s,sent,missed,nic")?;
        for (i, b) in self.bins.iter().enumerate() {
            let t = i as f64 * BIN_NS as f64 / 1e9;
            writeln!(out, "{t:.1},{},{},{}", b.sent, b.missed, b.nic)?;
        }
        Ok(())
    }

    /// Writes the CSV file at `path` whole (made beside it, then renamed).
    pub fn write_file(&self, path: &Path) -> std::io::Result<()> {
        crate::generator::truth::write_whole(path, |out| self.write(out))
    }
}
