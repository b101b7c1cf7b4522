//! What the switch's tests (uplink, VF sources) build their traffic and
//! rules from.

use crate::flow::{Action, Attr, Context, Item, Parts, PortRef, Ports};
use crate::Fabric;

/// A 60-byte UDP/IPv4 frame from 10.0.0.`src` to port `dport`, its first
/// byte `tag`.
pub(crate) fn udp(tag: u8, src: u8, dport: u16) -> Vec<u8> {
    let mut f = vec![tag, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    f.extend_from_slice(&[
        0x45, 0, 0, 46, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, src, 10, 1, 0, 1,
    ]);
    f.extend_from_slice(&1000u16.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&[0, 26, 0, 0]);
    f.resize(60, 0x78);
    f
}

/// A transfer rule on port `on` for UDP to `dport`, with `fate` and COUNT.
pub(crate) fn transfer_rule(f: &Fabric, on: PortRef, dport: u16, fate: Action) -> u64 {
    f.rules
        .create(
            Context {
                port: on,
                rx_queues: 1,
            },
            Attr {
                transfer: true,
                ..Attr::default()
            },
            &[Item::Udp(Parts {
                spec: Some(Ports { src: 0, dst: dport }),
                mask: Some(Ports {
                    src: 0,
                    dst: 0xffff,
                }),
                ..Parts::default()
            })],
            &[fate, Action::Count],
        )
        .unwrap()
}
