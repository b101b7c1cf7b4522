//! STUB (not committed)
use crate::flow::{FlowId, KeyV4, KeyV6};
use std::collections::HashMap;
pub trait TableKey: Copy + Eq + std::hash::Hash {
    fn hash64(&self) -> u64 {
        0
    }
}
impl TableKey for KeyV4 {}
impl TableKey for KeyV6 {}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableFull;
pub struct CuckooTable<K: TableKey> {
    map: HashMap<K, FlowId>,
    keys: Vec<Option<K>>,
    free: Vec<u32>,
}
impl<K: TableKey> CuckooTable<K> {
    pub fn with_capacity(n: usize) -> Self {
        CuckooTable {
            map: HashMap::new(),
            keys: vec![None; n],
            free: (0..n as u32).rev().collect(),
        }
    }
    pub fn capacity(&self) -> usize {
        self.keys.len()
    }
    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
    pub fn lookup(&self, k: &K) -> Option<FlowId> {
        self.map.get(k).copied()
    }
    pub fn lookup_bulk(&self, keys: &[K], out: &mut [Option<FlowId>]) {
        for (k, o) in keys.iter().zip(out) {
            *o = self.lookup(k)
        }
    }
    pub fn insert(&mut self, k: K) -> Result<FlowId, TableFull> {
        if let Some(i) = self.lookup(&k) {
            return Ok(i);
        }
        let id = FlowId(self.free.pop().ok_or(TableFull)?);
        self.keys[id.index()] = Some(k);
        self.map.insert(k, id);
        Ok(id)
    }
    pub fn remove(&mut self, k: &K) -> Option<FlowId> {
        let id = self.map.remove(k)?;
        self.keys[id.index()] = None;
        self.free.push(id.0);
        Some(id)
    }
    pub fn remove_id(&mut self, id: FlowId) -> Option<K> {
        let k = self.keys.get_mut(id.index())?.take()?;
        self.map.remove(&k);
        self.free.push(id.0);
        Some(k)
    }
    pub fn key(&self, id: FlowId) -> Option<&K> {
        self.keys.get(id.index())?.as_ref()
    }
    pub fn iter(&self) -> impl Iterator<Item = (FlowId, &K)> + '_ {
        self.keys
            .iter()
            .enumerate()
            .filter_map(|(i, k)| k.as_ref().map(|k| (FlowId(i as u32), k)))
    }
    pub fn memory_bytes(&self) -> usize {
        0
    }
}
