//! The flow keys' 64-bit hash: a folded 64x64->128-bit multiply over the key's
//! machine words (two for [`KeyV4`], five for [`KeyV6`]).
//!
//! Why this shape: one `mul` gives 128 bits in which every output bit depends
//! on many input bits; XOR-folding the high half onto the low half makes the low
//! bits (the table's bucket index) as well mixed as the high bits (its tag). It
//! costs a few cycles per word pair, against tens for a byte-wise hash such as
//! jhash, and needs no CPU extension (unlike CRC32-C).
//!
//! The words are built from the fields with shifts, not by reinterpreting the
//! struct's bytes, so no unchecked memory access is needed and padding never matters (there is
//! none: both keys are exactly packed, see `flow.rs`).
//!
//! Not keyed: a fixed hash lets whoever controls the traffic aim keys at one
//! bucket pair. A table then refuses the excess flows (`TableFull`) rather than
//! slowing down, which bounds the damage; seeding it per table is a later step.

use crate::flow::{KeyV4, KeyV6};

/// What the flow table needs of its keys: plain-old-data equality and a 64-bit
/// hash of good quality in its low and high bits alike.
pub trait TableKey: Copy + Eq {
    /// The key's hash. Equal keys must have equal hashes.
    fn hash64(&self) -> u64;
}

/// Odd 64-bit constants with about half their bits set, XORed into the words so
/// that an all-zero word (a zero port pair, an unspecified address) still
/// multiplies into something (a zero factor would erase the other word). Taken
/// from the hexadecimal digits of pi, a "nothing up my sleeve" source.
const K: [u64; 7] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7345,
    0xa409_3822_299f_31d1,
    0x082e_fa98_ec4e_6c89,
    0x4528_21e6_38d0_1377,
    0xbe54_66cf_34e9_0c6d,
    0xc0ac_29b7_c97c_50dd,
];

/// The 128-bit product of `a` and `b`, high half XOR low half.
#[inline(always)]
fn fold(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// Ports, VLAN, protocol and in-port: the same last 8 bytes in both keys.
#[inline(always)]
fn tail_word(sport: u16, dport: u16, vlan: u16, proto: u8, in_port: u8) -> u64 {
    u64::from(sport)
        | u64::from(dport) << 16
        | u64::from(vlan) << 32
        | u64::from(proto) << 48
        | u64::from(in_port) << 56
}

impl TableKey for KeyV4 {
    #[inline(always)]
    fn hash64(&self) -> u64 {
        let addrs =
            u64::from(u32::from_le_bytes(self.src)) | u64::from(u32::from_le_bytes(self.dst)) << 32;
        let tail = tail_word(self.sport, self.dport, self.vlan, self.proto, self.in_port);
        // The first fold mixes the two words together; the second spreads that
        // over all 64 bits again (one fold alone leaves the low bits of the
        // product depending only on the low bits of its factors).
        fold(fold(addrs ^ K[0], tail ^ K[1]) ^ K[2], K[3])
    }
}

impl TableKey for KeyV6 {
    #[inline(always)]
    fn hash64(&self) -> u64 {
        let w = |b: &[u8; 16], half: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[half * 8..half * 8 + 8]);
            u64::from_le_bytes(x)
        };
        let tail = tail_word(self.sport, self.dport, self.vlan, self.proto, self.in_port);
        // Two independent folds (they run in parallel on the multiplier), then
        // the tail folded with both, then a final spread as for IPv4.
        let a = fold(w(&self.src, 0) ^ K[0], w(&self.src, 1) ^ K[1]);
        let b = fold(w(&self.dst, 0) ^ K[2], w(&self.dst, 1) ^ K[3]);
        let c = fold(tail ^ K[4], a ^ b.rotate_left(32) ^ K[5]);
        fold(c ^ K[6], K[3])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(i: u32) -> KeyV4 {
        KeyV4 {
            src: [10, 0, 0, 1],
            dst: i.to_be_bytes(),
            sport: 1234,
            dport: 80,
            vlan: crate::flow::NO_VLAN,
            proto: 6,
            in_port: 0,
        }
    }

    /// Sequential keys (one field counting up, the usual shape of test traffic
    /// and of real address ranges) must spread evenly over buckets and tags: a
    /// chi-squared test on the low and high 8 bits.
    fn assert_uniform(hashes: impl Iterator<Item = u64>) {
        let mut low = [0u32; 256];
        let mut high = [0u32; 256];
        let mut n = 0u32;
        for h in hashes {
            low[(h & 0xff) as usize] += 1;
            high[(h >> 56) as usize] += 1;
            n += 1;
        }
        let expect = f64::from(n) / 256.0;
        for counts in [low, high] {
            let chi2: f64 = counts
                .iter()
                .map(|&c| (f64::from(c) - expect).powi(2) / expect)
                .sum();
            // 255 degrees of freedom: mean 255, and above 350 with p < 0.0001.
            assert!(chi2 < 350.0, "chi2 {chi2}");
        }
    }

    #[test]
    fn sequential_v4_keys_spread() {
        assert_uniform((0..100_000).map(|i| v4(i).hash64()));
        assert_uniform((0..65_536u32).map(|p| {
            KeyV4 {
                sport: p as u16,
                ..v4(7)
            }
            .hash64()
        }));
    }

    #[test]
    fn sequential_v6_keys_spread() {
        assert_uniform((0..100_000u32).map(|i| {
            let mut dst = [0u8; 16];
            dst[12..].copy_from_slice(&i.to_be_bytes());
            KeyV6 {
                dst,
                ..Default::default()
            }
            .hash64()
        }));
    }

    #[test]
    fn every_field_changes_the_hash() {
        let base = v4(1);
        let variants = [
            KeyV4 {
                src: [10, 0, 0, 2],
                ..base
            },
            KeyV4 { sport: 1, ..base },
            KeyV4 { dport: 1, ..base },
            KeyV4 { vlan: 1, ..base },
            KeyV4 { proto: 17, ..base },
            KeyV4 { in_port: 1, ..base },
            v4(2),
        ];
        for k in variants {
            assert_ne!(k.hash64(), base.hash64(), "{k:?}");
        }
        let b6 = KeyV6::default();
        let mut s = b6;
        s.src[15] = 1;
        let mut d = b6;
        d.dst[0] = 1;
        let p = KeyV6 { in_port: 1, ..b6 };
        for k in [s, d, p] {
            assert_ne!(k.hash64(), b6.hash64(), "{k:?}");
        }
        // Swapping source and destination is a different flow.
        let mut swapped = s;
        std::mem::swap(&mut swapped.src, &mut swapped.dst);
        assert_ne!(swapped.hash64(), s.hash64());
    }
}
