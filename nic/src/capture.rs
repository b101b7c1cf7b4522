//! pcap captures of what left the NIC by each port (`capture_dir=DIR`, or
//! by its first name `vf_capture_dir=DIR`), split by path as flowlift's
//! `--capture-dir` names its files:
//!
//! - each VF with a representor: `DIR/NAME.pcap`, what the host sent to the
//!   VF on its representor, and `DIR/NAME-offloaded.pcap`, what the switch's
//!   rules delivered to it; NAME is the VF's `vfN_name` (flowlift's port
//!   name, `vm1`), by default `vfN`;
//! - the uplink: `DIR/uplink.pcap`, what the host sent on the PF (out on the
//!   wire), and `DIR/uplink-offloaded.pcap`, what the switch's rules sent out
//!   on the wire (a VF's traffic, or the wire's own sent back).
//!
//! Writing never stalls the switch or the host's lcores on the disk: a
//! frame is appended to its file's buffer in memory; a full buffer (256 KiB)
//! is handed whole to a writer thread of its own over an unbounded channel,
//! which writes it. What is left in the buffers goes out on [`Captures::flush`]
//! (the PMD calls it when a port stops) and when the captures are dropped
//! (the device closes), which also waits for the writer.
//!
//! Thread-safety: each file's buffer is behind its own mutex. The switch
//! thread writes the `-offloaded` files, the lcores that transmit on a port
//! (a representor or the PF) its host file; several TX queues of one port
//! share the mutex (held only for one copy).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use crossbeam_channel::{unbounded, Sender};

use crate::flow::PortRef;

/// Bytes a buffer holds before it is handed to the writer.
const CHUNK: usize = 256 * 1024;
/// The snapshot length the files declare (frames are written whole).
const SNAPLEN: u32 = 65535;
/// LINKTYPE_ETHERNET.
const ETHERNET: u32 = 1;

/// By which path a frame left by a port (which of its two files).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Sent by the host on the port (a representor: to its VF; the PF: out
    /// on the wire): `NAME.pcap`.
    Host,
    /// Sent there by the switch's rules: `NAME-offloaded.pcap`.
    Switch,
}

/// Why a capture cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("capture_dir={0}: not a directory")]
    NotADirectory(PathBuf),
    #[error("capture_dir: cannot create {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error("capture_dir: cannot start the capture writer: {0}")]
    Thread(io::Error),
}

enum Msg {
    Chunk(usize, Vec<u8>),
    Flush(Sender<()>),
}

/// The capture files of a device and their writer.
#[derive(Debug)]
pub struct Captures {
    /// The ports in file order, the uplink first: `ports[i]` has files
    /// `2i` (host) and `2i + 1` (switch).
    ports: Vec<PortRef>,
    buffers: Vec<Mutex<Vec<u8>>>,
    tx: Option<Sender<Msg>>,
    writer: Option<JoinHandle<()>>,
    /// The writer's first error, if any (the PMD logs it).
    error: std::sync::Arc<Mutex<Option<String>>>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::Chunk(i, c) => write!(f, "Chunk({i}, {} bytes)", c.len()),
            Msg::Flush(_) => write!(f, "Flush"),
        }
    }
}

impl Captures {
    /// The stem of the uplink's files, which no VF's name may make again.
    pub const UPLINK: &'static str = "uplink";

    /// The file names of a port whose files are called `stem`: what its
    /// host sent, what the switch sent.
    pub fn names(stem: &str) -> [String; 2] {
        [format!("{stem}.pcap"), format!("{stem}-offloaded.pcap")]
    }

    /// Creates (truncating) both files of the uplink and of each VF (`vfs`:
    /// VF number and file stem, see [`Captures::names`]) in `dir`, with
    /// their pcap headers, and starts the writer.
    pub fn create(dir: &Path, vfs: &[(u16, String)]) -> Result<Captures, CaptureError> {
        if !dir.is_dir() {
            return Err(CaptureError::NotADirectory(dir.to_owned()));
        }
        let ports = std::iter::once((PortRef::Uplink, Captures::UPLINK)).chain(
            vfs.iter()
                .map(|(vf, stem)| (PortRef::Vf(*vf), stem.as_str())),
        );
        let mut files = Vec::new();
        let mut order = Vec::new();
        for (port, stem) in ports {
            order.push(port);
            for name in Captures::names(stem) {
                let path = dir.join(name);
                let f = File::create(&path)
                    .map(BufWriter::new)
                    .and_then(|mut f| {
                        f.write_all(&file_header())?;
                        f.flush()?;
                        Ok(f)
                    })
                    .map_err(|source| CaptureError::Create {
                        path: path.clone(),
                        source,
                    })?;
                files.push(f);
            }
        }
        let (tx, rx) = unbounded::<Msg>();
        let error = std::sync::Arc::new(Mutex::new(None));
        let err = std::sync::Arc::clone(&error);
        let writer = std::thread::Builder::new()
            .name("flowlift-cap".into())
            .spawn(move || {
                let fail = |e: io::Error| {
                    lock(&err).get_or_insert_with(|| e.to_string());
                };
                for msg in rx {
                    match msg {
                        Msg::Chunk(i, chunk) => {
                            if let Some(f) = files.get_mut(i) {
                                if let Err(e) = f.write_all(&chunk) {
                                    fail(e);
                                }
                            }
                        }
                        Msg::Flush(ack) => {
                            for f in &mut files {
                                if let Err(e) = f.flush() {
                                    fail(e);
                                }
                            }
                            let _ = ack.send(());
                        }
                    }
                }
                for f in &mut files {
                    if let Err(e) = f.flush() {
                        fail(e);
                    }
                }
            })
            .map_err(CaptureError::Thread)?;
        Ok(Captures {
            buffers: (0..order.len() * 2)
                .map(|_| Mutex::new(Vec::new()))
                .collect(),
            ports: order,
            tx: Some(tx),
            writer: Some(writer),
            error,
        })
    }

    /// Appends a frame that left by `port` (the uplink, or a VF's
    /// representor by VF number) `via` a path, given in segments (an mbuf
    /// chain). A port without files (another switch's) is ignored.
    pub fn record(&self, port: PortRef, via: Via, segments: &[&[u8]]) {
        let Some(i) = self.ports.iter().position(|p| *p == port) else {
            return;
        };
        let file = 2 * i + usize::from(via == Via::Switch);
        let len: usize = segments.iter().map(|s| s.len()).sum();
        let Ok(len32) = u32::try_from(len) else {
            return;
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let secs = u32::try_from(now.as_secs()).unwrap_or(u32::MAX);
        let full = {
            let mut buf = lock(&self.buffers[file]);
            buf.reserve(16 + len);
            buf.extend_from_slice(&secs.to_le_bytes());
            buf.extend_from_slice(&now.subsec_micros().to_le_bytes());
            buf.extend_from_slice(&len32.min(SNAPLEN).to_le_bytes());
            buf.extend_from_slice(&len32.to_le_bytes());
            let mut left = SNAPLEN as usize;
            for s in segments {
                let take = s.len().min(left);
                buf.extend_from_slice(&s[..take]);
                left -= take;
            }
            (buf.len() >= CHUNK).then(|| std::mem::take(&mut *buf))
        };
        if let (Some(chunk), Some(tx)) = (full, &self.tx) {
            let _ = tx.send(Msg::Chunk(file, chunk));
        }
    }

    /// Hands every buffer to the writer and waits until it has written them
    /// out.
    pub fn flush(&self) {
        let Some(tx) = &self.tx else { return };
        for (i, b) in self.buffers.iter().enumerate() {
            let chunk = std::mem::take(&mut *lock(b));
            if !chunk.is_empty() {
                let _ = tx.send(Msg::Chunk(i, chunk));
            }
        }
        let (ack, done) = crossbeam_channel::bounded(1);
        if tx.send(Msg::Flush(ack)).is_ok() {
            let _ = done.recv();
        }
    }

    /// The writer's first error, if it had one.
    pub fn error(&self) -> Option<String> {
        lock(&self.error).clone()
    }
}

impl Drop for Captures {
    fn drop(&mut self) {
        self.flush();
        drop(self.tx.take());
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

/// A pcap file header (little-endian, microseconds, Ethernet).
fn file_header() -> [u8; 24] {
    let mut h = [0u8; 24];
    h[0..4].copy_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    h[4..6].copy_from_slice(&2u16.to_le_bytes());
    h[6..8].copy_from_slice(&4u16.to_le_bytes());
    h[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
    h[20..24].copy_from_slice(&ETHERNET.to_le_bytes());
    h
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_file::pcap::PcapReader;

    fn read(path: &Path) -> Vec<Vec<u8>> {
        let mut r = PcapReader::new(File::open(path).unwrap()).unwrap();
        let mut out = Vec::new();
        while let Some(p) = r.next_packet() {
            let p = p.unwrap();
            assert_eq!(p.orig_len as usize, p.data.len());
            out.push(p.data.into_owned());
        }
        out
    }

    /// VFs 0 and 3 named as flowlift names them, as the PMD makes them.
    fn vm_names() -> Vec<(u16, String)> {
        vec![(0, "vm1".to_owned()), (3, "vm4".to_owned())]
    }

    #[test]
    fn each_port_gets_its_two_files_by_name_split_by_path() {
        let dir = tempfile::tempdir().unwrap();
        let c = Captures::create(dir.path(), &vm_names()).unwrap();
        c.record(PortRef::Vf(3), Via::Switch, &[&[1, 2, 3], &[4]]);
        c.record(PortRef::Vf(3), Via::Host, &[&[9; 60]]);
        c.record(PortRef::Vf(0), Via::Switch, &[&[7; 64]]);
        c.record(PortRef::Uplink, Via::Host, &[&[6; 61]]);
        c.record(PortRef::Uplink, Via::Switch, &[&[5; 62], &[8]]);
        // No such VF, another switch's port: ignored.
        c.record(PortRef::Vf(5), Via::Host, &[&[1]]);
        c.record(PortRef::Foreign(9), Via::Host, &[&[1]]);
        c.flush();
        // Readable mid-run after a flush.
        assert_eq!(
            read(&dir.path().join("vm4-offloaded.pcap")),
            vec![vec![1, 2, 3, 4]]
        );
        c.record(PortRef::Vf(3), Via::Switch, &[&[5; 70]]);
        drop(c);
        let p = |n: &str| dir.path().join(n);
        assert_eq!(
            read(&p("vm4-offloaded.pcap")),
            vec![vec![1, 2, 3, 4], vec![5; 70]]
        );
        assert_eq!(read(&p("vm4.pcap")), vec![vec![9; 60]]);
        assert_eq!(read(&p("vm1-offloaded.pcap")), vec![vec![7; 64]]);
        assert!(read(&p("vm1.pcap")).is_empty(), "headers only");
        assert_eq!(read(&p("uplink.pcap")), vec![vec![6; 61]]);
        let mut both = vec![5; 62];
        both.push(8);
        assert_eq!(read(&p("uplink-offloaded.pcap")), vec![both]);
        let mut files: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        assert_eq!(
            files,
            [
                "uplink-offloaded.pcap",
                "uplink.pcap",
                "vm1-offloaded.pcap",
                "vm1.pcap",
                "vm4-offloaded.pcap",
                "vm4.pcap"
            ],
            "by name only: no vfN files, nothing for VF 5"
        );
    }

    #[test]
    fn the_uplink_has_its_files_without_any_vf() {
        let dir = tempfile::tempdir().unwrap();
        let c = Captures::create(dir.path(), &[]).unwrap();
        c.record(PortRef::Uplink, Via::Host, &[&[1; 60]]);
        drop(c);
        assert_eq!(read(&dir.path().join("uplink.pcap")), vec![vec![1; 60]]);
        assert!(read(&dir.path().join("uplink-offloaded.pcap")).is_empty());
    }

    #[test]
    fn large_captures_go_out_in_chunks_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let c = Captures::create(dir.path(), &[(1, "vf1".to_owned())]).unwrap();
        // ~1.5 MB: several chunks handed over while recording.
        for i in 0..1000u32 {
            let frame = vec![(i % 251) as u8; 1500];
            c.record(PortRef::Vf(1), Via::Host, &[&i.to_be_bytes(), &frame]);
        }
        drop(c);
        let got = read(&dir.path().join("vf1.pcap"));
        assert_eq!(got.len(), 1000);
        for (i, f) in got.iter().enumerate() {
            assert_eq!(f[..4], (i as u32).to_be_bytes());
            assert_eq!(f.len(), 1504);
        }
    }

    #[test]
    fn a_missing_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        assert!(matches!(
            Captures::create(&missing, &vm_names()),
            Err(CaptureError::NotADirectory(_))
        ));
    }
}
