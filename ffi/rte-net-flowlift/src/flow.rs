//! `rte_flow_ops`: validate, create, destroy, flush and query (COUNT), and
//! the indirect action handles of `indirect.rs`, from
//! rte_flow's C structures to `flowlift_nic::flow`'s types and back. What is
//! matched, done or refused is the model's; this file only reads the C
//! structures, resolves ethdev port ids, and reports refusals through
//! `rte_flow_error_set`.
//!
//! A rule's handle is its id in the model (never 0), not a pointer to
//! memory: a stale or foreign handle is refused as unknown instead of being
//! dereferenced.

use std::collections::BTreeMap;
use std::ffi::{c_int, c_void, CStr, CString};
use std::sync::Mutex;

use dpdk_driver_sys as sys;
use flowlift_nic::flow::{
    Action, At, Attr, Context, Errno, Eth, FlowError, Icmp, Ipv4, Ipv6, Item, Parts, PortRef,
    Ports, Vlan,
};

use crate::port::{port, Device, Port, Role};

/// Items or actions read at most (a longer list is refused).
const MAX_LIST: usize = 64;

pub(crate) static FLOW_OPS: sys::rte_flow_ops = sys::rte_flow_ops {
    validate: Some(validate),
    create: Some(create),
    destroy: Some(destroy),
    flush: Some(flush),
    query: Some(query),
    action_handle_create: Some(crate::indirect::action_handle_create),
    action_handle_destroy: Some(crate::indirect::action_handle_destroy),
    action_handle_query: Some(crate::indirect::action_handle_query),
    // SAFETY: `rte_flow_ops` holds only optional function pointers, for which
    // all zero bits are `None` (NULL: "not supported" to rte_flow).
    ..unsafe { std::mem::zeroed() }
};

/// `eth_dev_ops.flow_ops_get`.
///
/// # Safety
/// `ops` points to writable storage for one pointer (ethdev's contract).
pub(crate) unsafe extern "C" fn flow_ops_get(
    _dev: *mut sys::rte_eth_dev,
    ops: *mut *const sys::rte_flow_ops,
) -> c_int {
    // SAFETY: as stated; FLOW_OPS is 'static.
    unsafe { ops.write(&FLOW_OPS) };
    0
}

/// The switch port `port` is.
pub(crate) fn me(port: &Port) -> PortRef {
    match port.role {
        Role::Pf => PortRef::Uplink,
        Role::Vf(vf) => PortRef::Vf(vf),
    }
}

/// The switch port behind ethdev port `id`.
fn resolve(dev: &Device, id: u32) -> PortRef {
    let role = u16::try_from(id)
        .ok()
        .and_then(|id| dev.ports.get()?.iter().find(|(p, _)| *p == id))
        .map(|(_, role)| *role);
    match role {
        Some(Role::Pf) => PortRef::Uplink,
        Some(Role::Vf(vf)) => PortRef::Vf(vf),
        None => PortRef::Foreign(id),
    }
}

/// A rule as read from C, with what a refusal points at.
pub(crate) struct Request {
    ctx: Context,
    attr: Attr,
    items: Vec<Item>,
    actions: Vec<Action>,
    attr_ptr: *const sys::rte_flow_attr,
    item_ptrs: Vec<*const sys::rte_flow_item>,
    action_ptrs: Vec<*const sys::rte_flow_action>,
}

/// Reads a rule.
///
/// # Safety
/// `dev` is an open port of this driver; `attr`, `pattern` and `actions` are
/// what rte_flow passed: a valid attribute, and END-terminated lists whose
/// specs, lasts, masks and confs are null or point to the structure their
/// type names.
unsafe fn read(
    dev: *mut sys::rte_eth_dev,
    attr: *const sys::rte_flow_attr,
    pattern: *const sys::rte_flow_item,
    actions: *const sys::rte_flow_action,
) -> Result<Request, FlowError> {
    // SAFETY: as stated.
    let port = unsafe { port(dev) };
    // SAFETY: ethdev's own port.
    let rx_queues = unsafe { (*(*dev).data).nb_rx_queues };
    let ctx = Context {
        port: me(port),
        rx_queues,
    };
    // SAFETY: rte_flow checks the attribute is not null before calling.
    let a = unsafe { attr.as_ref() }.ok_or(FlowError {
        errno: Errno::Invalid,
        at: At::Attr,
        message: "no attributes",
    })?;
    let attr_v = Attr {
        group: a.group,
        priority: a.priority,
        ingress: a.ingress() != 0,
        egress: a.egress() != 0,
        transfer: a.transfer() != 0,
    };
    let mut req = Request {
        ctx,
        attr: attr_v,
        items: Vec::new(),
        actions: Vec::new(),
        attr_ptr: attr,
        item_ptrs: Vec::new(),
        action_ptrs: Vec::new(),
    };
    let too_long = |at| FlowError {
        errno: Errno::NotSupported,
        at,
        message: "too many items or actions",
    };
    let mut it = pattern;
    while !it.is_null() {
        // SAFETY: the list is END-terminated (checked before going on).
        let item = unsafe { &*it };
        if item.type_ == sys::RTE_FLOW_ITEM_TYPE_END {
            break;
        }
        if req.items.len() == MAX_LIST {
            return Err(too_long(At::Item(MAX_LIST)));
        }
        // SAFETY: the item's pointers are as stated.
        req.items.push(unsafe { read_item(&port.dev, item) });
        req.item_ptrs.push(it);
        // SAFETY: not END, so another element follows.
        it = unsafe { it.add(1) };
    }
    let mut ac = actions;
    while !ac.is_null() {
        // SAFETY: the list is END-terminated (checked before going on).
        let action = unsafe { &*ac };
        if action.type_ == sys::RTE_FLOW_ACTION_TYPE_END {
            break;
        }
        if req.actions.len() == MAX_LIST {
            return Err(too_long(At::Action(MAX_LIST)));
        }
        // SAFETY: the action's conf is as stated.
        req.actions
            .push(unsafe { read_action(&port.dev, ctx.port, action) });
        req.action_ptrs.push(ac);
        // SAFETY: not END, so another element follows.
        ac = unsafe { ac.add(1) };
    }
    Ok(req)
}

/// spec, last and mask of an item, through `f`; `beyond` says whether a
/// mask has bits on fields the model does not match.
///
/// # Safety
/// The item's spec, last and mask are null or point to a `T`.
unsafe fn parts<T, U>(
    item: &sys::rte_flow_item,
    f: impl Fn(&T) -> U,
    beyond: impl Fn(&T) -> bool,
) -> Parts<U> {
    // SAFETY: as stated.
    let get = |p: *const c_void| unsafe { p.cast::<T>().as_ref() };
    let mask = get(item.mask);
    Parts {
        spec: get(item.spec).map(&f),
        last: get(item.last).map(&f),
        mask: mask.map(&f),
        mask_beyond: mask.is_some_and(beyond),
    }
}

/// Reads one pattern item.
///
/// # Safety
/// Its spec, last and mask are null or point to the structure of its type.
unsafe fn read_item(dev: &Device, item: &sys::rte_flow_item) -> Item {
    let be = u16::from_be;
    // SAFETY: each `parts` call and pointer read below is for the structure
    // the item's type names, as the caller guarantees; the unions read are
    // two views of the same plain bytes.
    unsafe {
        match item.type_ {
            sys::RTE_FLOW_ITEM_TYPE_VOID => Item::Void,
            sys::RTE_FLOW_ITEM_TYPE_ETH => Item::Eth(parts(
                item,
                |e: &sys::rte_flow_item_eth| {
                    // The union's two views are the same bytes; `hdr` is
                    // plain data, valid whichever view was written.
                    let h = &e.__bindgen_anon_1.hdr;
                    Eth {
                        dst: h.dst_addr.addr_bytes,
                        src: h.src_addr.addr_bytes,
                        ether_type: be(h.ether_type),
                        has_vlan: e.has_vlan() != 0,
                    }
                },
                |e| e.reserved() != 0,
            )),
            sys::RTE_FLOW_ITEM_TYPE_VLAN => Item::Vlan(parts(
                item,
                |v: &sys::rte_flow_item_vlan| {
                    let h = &v.__bindgen_anon_1.hdr;
                    Vlan {
                        tci: be(h.vlan_tci),
                        inner_type: be(h.eth_proto),
                    }
                },
                |v| v.has_more_vlan() != 0,
            )),
            sys::RTE_FLOW_ITEM_TYPE_IPV4 => Item::Ipv4(parts(
                item,
                |i: &sys::rte_flow_item_ipv4| Ipv4 {
                    src: u32::from_be(i.hdr.src_addr).to_be_bytes(),
                    dst: u32::from_be(i.hdr.dst_addr).to_be_bytes(),
                    proto: i.hdr.next_proto_id,
                    frag: be(i.hdr.fragment_offset),
                },
                |i| {
                    let h = &i.hdr;
                    h.__bindgen_anon_1.version_ihl != 0
                        || h.type_of_service != 0
                        || h.total_length != 0
                        || h.packet_id != 0
                        || h.time_to_live != 0
                        || h.hdr_checksum != 0
                },
            )),
            sys::RTE_FLOW_ITEM_TYPE_IPV6 => Item::Ipv6(parts(
                item,
                |i: &sys::rte_flow_item_ipv6| Ipv6 {
                    src: i.hdr.src_addr,
                    dst: i.hdr.dst_addr,
                    proto: i.hdr.proto,
                    has_frag_ext: i.has_frag_ext() != 0,
                },
                |i| {
                    i.hdr.vtc_flow != 0
                        || i.hdr.payload_len != 0
                        || i.hdr.hop_limits != 0
                        || i.has_hop_ext() != 0
                        || i.has_route_ext() != 0
                        || i.has_auth_ext() != 0
                        || i.has_esp_ext() != 0
                        || i.has_dest_ext() != 0
                },
            )),
            sys::RTE_FLOW_ITEM_TYPE_UDP => Item::Udp(parts(
                item,
                |u: &sys::rte_flow_item_udp| Ports {
                    src: be(u.hdr.src_port),
                    dst: be(u.hdr.dst_port),
                },
                |u| u.hdr.dgram_len != 0 || u.hdr.dgram_cksum != 0,
            )),
            sys::RTE_FLOW_ITEM_TYPE_TCP => Item::Tcp(parts(
                item,
                |t: &sys::rte_flow_item_tcp| Ports {
                    src: be(t.hdr.src_port),
                    dst: be(t.hdr.dst_port),
                },
                |t| {
                    let h = &t.hdr;
                    h.sent_seq != 0
                        || h.recv_ack != 0
                        || h.data_off != 0
                        || h.tcp_flags != 0
                        || h.rx_win != 0
                        || h.cksum != 0
                        || h.tcp_urp != 0
                },
            )),
            sys::RTE_FLOW_ITEM_TYPE_SCTP => Item::Sctp(parts(
                item,
                |s: &sys::rte_flow_item_sctp| Ports {
                    src: be(s.hdr.src_port),
                    dst: be(s.hdr.dst_port),
                },
                |s| s.hdr.tag != 0 || s.hdr.cksum != 0,
            )),
            sys::RTE_FLOW_ITEM_TYPE_ICMP => Item::Icmp(parts(
                item,
                |i: &sys::rte_flow_item_icmp| Icmp {
                    icmp_type: i.hdr.icmp_type,
                    code: i.hdr.icmp_code,
                },
                |i| i.hdr.icmp_cksum != 0 || i.hdr.icmp_ident != 0 || i.hdr.icmp_seq_nb != 0,
            )),
            sys::RTE_FLOW_ITEM_TYPE_REPRESENTED_PORT => {
                let spec = item.spec.cast::<sys::rte_flow_item_ethdev>().as_ref();
                Item::Port(spec.map(|s| resolve(dev, u32::from(s.port_id))))
            }
            sys::RTE_FLOW_ITEM_TYPE_PORT_ID => {
                let spec = item.spec.cast::<sys::rte_flow_item_port_id>().as_ref();
                Item::Port(spec.map(|s| resolve(dev, s.id)))
            }
            other => Item::Other(i64::from(other)),
        }
    }
}

/// Reads one action.
///
/// # Safety
/// Its conf is null or points to the structure of its type.
pub(crate) unsafe fn read_action(
    dev: &Device,
    me: PortRef,
    action: &sys::rte_flow_action,
) -> Action {
    // SAFETY: each conf read below is for the structure the action's type
    // names, as the caller guarantees.
    unsafe {
        match action.type_ {
            sys::RTE_FLOW_ACTION_TYPE_VOID => Action::Void,
            sys::RTE_FLOW_ACTION_TYPE_PASSTHRU => Action::Passthru,
            sys::RTE_FLOW_ACTION_TYPE_COUNT => Action::Count,
            sys::RTE_FLOW_ACTION_TYPE_METER => Action::Meter(
                action
                    .conf
                    .cast::<sys::rte_flow_action_meter>()
                    .as_ref()
                    .map(|m| m.mtr_id),
            ),
            // The conf is the handle itself (an id of the model, see
            // indirect.rs); an unknown one is refused by the model.
            sys::RTE_FLOW_ACTION_TYPE_INDIRECT => Action::Indirect(action.conf as usize as u64),
            sys::RTE_FLOW_ACTION_TYPE_DROP => Action::Drop,
            sys::RTE_FLOW_ACTION_TYPE_QUEUE => {
                match action.conf.cast::<sys::rte_flow_action_queue>().as_ref() {
                    Some(q) => Action::Queue(q.index),
                    None => Action::Other(i64::from(action.type_)),
                }
            }
            sys::RTE_FLOW_ACTION_TYPE_REPRESENTED_PORT => {
                match action.conf.cast::<sys::rte_flow_action_ethdev>().as_ref() {
                    Some(e) => Action::Port(resolve(dev, u32::from(e.port_id))),
                    None => Action::Other(i64::from(action.type_)),
                }
            }
            sys::RTE_FLOW_ACTION_TYPE_PORT_ID => {
                match action.conf.cast::<sys::rte_flow_action_port_id>().as_ref() {
                    Some(p) if p.original() != 0 => Action::Port(me),
                    Some(p) => Action::Port(resolve(dev, p.id)),
                    None => Action::Other(i64::from(action.type_)),
                }
            }
            other => Action::Other(i64::from(other)),
        }
    }
}

/// Reports `e` through `error` (which may be null); returns `-errno`.
///
/// # Safety
/// `error` is null or writable; the pointers in `req` (if any) are those
/// rte_flow passed.
pub(crate) unsafe fn report(
    error: *mut sys::rte_flow_error,
    e: FlowError,
    req: Option<&Request>,
) -> c_int {
    let errno = errno(e.errno);
    let item = |i: usize| req.and_then(|r| r.item_ptrs.get(i).copied());
    let action = |i: usize| req.and_then(|r| r.action_ptrs.get(i).copied());
    let attr: *const c_void = req.map_or(std::ptr::null(), |r| r.attr_ptr.cast());
    // SAFETY: the item and action pointers are rte_flow's valid elements.
    let (kind, cause): (sys::rte_flow_error_type, *const c_void) = unsafe {
        match e.at {
            At::Unspecified => (sys::RTE_FLOW_ERROR_TYPE_UNSPECIFIED, std::ptr::null()),
            At::Handle => (sys::RTE_FLOW_ERROR_TYPE_HANDLE, std::ptr::null()),
            At::Attr => (sys::RTE_FLOW_ERROR_TYPE_ATTR, attr),
            At::AttrGroup => (sys::RTE_FLOW_ERROR_TYPE_ATTR_GROUP, attr),
            At::AttrPriority => (sys::RTE_FLOW_ERROR_TYPE_ATTR_PRIORITY, attr),
            At::AttrIngress => (sys::RTE_FLOW_ERROR_TYPE_ATTR_INGRESS, attr),
            At::AttrEgress => (sys::RTE_FLOW_ERROR_TYPE_ATTR_EGRESS, attr),
            At::AttrTransfer => (sys::RTE_FLOW_ERROR_TYPE_ATTR_TRANSFER, attr),
            At::Item(i) => (
                sys::RTE_FLOW_ERROR_TYPE_ITEM,
                item(i).map_or(std::ptr::null(), |p| p.cast()),
            ),
            At::ItemSpec(i) => (
                sys::RTE_FLOW_ERROR_TYPE_ITEM_SPEC,
                item(i).map_or(std::ptr::null(), |p| (*p).spec),
            ),
            At::ItemLast(i) => (
                sys::RTE_FLOW_ERROR_TYPE_ITEM_LAST,
                item(i).map_or(std::ptr::null(), |p| (*p).last),
            ),
            At::ItemMask(i) => (
                sys::RTE_FLOW_ERROR_TYPE_ITEM_MASK,
                item(i).map_or(std::ptr::null(), |p| (*p).mask),
            ),
            At::Action(i) => (
                sys::RTE_FLOW_ERROR_TYPE_ACTION,
                action(i).map_or(std::ptr::null(), |p| p.cast()),
            ),
            At::ActionConf(i) => (
                sys::RTE_FLOW_ERROR_TYPE_ACTION_CONF,
                action(i).map_or(std::ptr::null(), |p| (*p).conf),
            ),
        }
    };
    // SAFETY: `error` is null or writable (rte_flow_error_set checks null);
    // the message is a 'static NUL-terminated string.
    unsafe { sys::rte_flow_error_set(error, errno, kind, cause, message(e.message).as_ptr()) }
}

/// The C errno of a refusal.
pub(crate) fn errno(e: Errno) -> c_int {
    match e {
        Errno::NotSupported => libc::ENOTSUP,
        Errno::Invalid => libc::EINVAL,
        Errno::NoSpace => libc::ENOSPC,
        Errno::NotFound => libc::ENOENT,
        Errno::Busy => libc::EBUSY,
        Errno::Exists => libc::EEXIST,
        Errno::Io => libc::EIO,
        Errno::NoMemory => libc::ENOMEM,
    }
}

/// `msg` as a C string that lives as long as the process: rte_flow keeps the
/// pointer in the caller's error. Messages are the model's static strings,
/// so each is made once.
pub(crate) fn message(msg: &'static str) -> &'static CStr {
    static MESSAGES: Mutex<BTreeMap<&'static str, &'static CStr>> = Mutex::new(BTreeMap::new());
    let mut known = crate::port::lock(&MESSAGES);
    known.entry(msg).or_insert_with(|| {
        let c = CString::new(msg.replace('\0', " ")).unwrap_or_default();
        Box::leak(c.into_boxed_c_str())
    })
}

unsafe extern "C" fn validate(
    dev: *mut sys::rte_eth_dev,
    attr: *const sys::rte_flow_attr,
    pattern: *const sys::rte_flow_item,
    actions: *const sys::rte_flow_action,
    error: *mut sys::rte_flow_error,
) -> c_int {
    // SAFETY: rte_flow passes an open port of this driver and valid lists.
    let req = match unsafe { read(dev, attr, pattern, actions) } {
        Ok(r) => r,
        // SAFETY: `error` is rte_flow's.
        Err(e) => return unsafe { report(error, e, None) },
    };
    // SAFETY: an open port of this driver.
    let port = unsafe { port(dev) };
    match port
        .dev
        .nic
        .rules()
        .validate(req.ctx, req.attr, &req.items, &req.actions)
    {
        Ok(()) => 0,
        // SAFETY: `error` and the request's pointers are rte_flow's.
        Err(e) => unsafe { report(error, e, Some(&req)) },
    }
}

unsafe extern "C" fn create(
    dev: *mut sys::rte_eth_dev,
    attr: *const sys::rte_flow_attr,
    pattern: *const sys::rte_flow_item,
    actions: *const sys::rte_flow_action,
    error: *mut sys::rte_flow_error,
) -> *mut sys::rte_flow {
    // SAFETY: rte_flow passes an open port of this driver and valid lists.
    let req = match unsafe { read(dev, attr, pattern, actions) } {
        Ok(r) => r,
        Err(e) => {
            // SAFETY: `error` is rte_flow's.
            unsafe { report(error, e, None) };
            return std::ptr::null_mut();
        }
    };
    // SAFETY: an open port of this driver.
    let port = unsafe { port(dev) };
    match port
        .dev
        .nic
        .rules()
        .create(req.ctx, req.attr, &req.items, &req.actions)
    {
        // The id (never 0) is the handle; see the module's doc.
        Ok(id) => id as usize as *mut sys::rte_flow,
        Err(e) => {
            // SAFETY: `error` and the request's pointers are rte_flow's.
            unsafe { report(error, e, Some(&req)) };
            std::ptr::null_mut()
        }
    }
}

unsafe extern "C" fn destroy(
    dev: *mut sys::rte_eth_dev,
    flow: *mut sys::rte_flow,
    error: *mut sys::rte_flow_error,
) -> c_int {
    // SAFETY: an open port of this driver.
    let port = unsafe { port(dev) };
    match port.dev.nic.rules().destroy(me(port), flow as usize as u64) {
        Ok(()) => 0,
        // SAFETY: `error` is rte_flow's.
        Err(e) => unsafe { report(error, e, None) },
    }
}

unsafe extern "C" fn flush(dev: *mut sys::rte_eth_dev, _error: *mut sys::rte_flow_error) -> c_int {
    // SAFETY: an open port of this driver.
    let port = unsafe { port(dev) };
    port.dev.nic.rules().flush(me(port));
    0
}

unsafe extern "C" fn query(
    dev: *mut sys::rte_eth_dev,
    flow: *mut sys::rte_flow,
    action: *const sys::rte_flow_action,
    data: *mut c_void,
    error: *mut sys::rte_flow_error,
) -> c_int {
    // SAFETY: an open port of this driver.
    let port = unsafe { port(dev) };
    // SAFETY: rte_flow passes the action to query (or null).
    let kind = unsafe { action.as_ref() }.map(|a| a.type_);
    if kind != Some(sys::RTE_FLOW_ACTION_TYPE_COUNT) {
        let e = FlowError {
            errno: Errno::NotSupported,
            at: At::Action(0),
            message: "only COUNT can be queried",
        };
        // SAFETY: `error` is rte_flow's.
        return unsafe { report(error, e, None) };
    }
    let rules = port.dev.nic.rules();
    // SAFETY: for COUNT, `data` is the caller's `rte_flow_query_count`;
    // `error` is rte_flow's.
    unsafe {
        answer_count(data, error, |reset| {
            rules.query(me(port), flow as usize as u64, reset)
        })
    }
}

/// Answers a query of a COUNT, a rule's or an indirect one: `read` takes the
/// caller's `reset` and gives hits and bytes, which go into `data`.
///
/// # Safety
///
/// `data` is null or the caller's `rte_flow_query_count`; `error` is
/// rte_flow's (null or writable).
pub(crate) unsafe fn answer_count(
    data: *mut c_void,
    error: *mut sys::rte_flow_error,
    read: impl FnOnce(bool) -> Result<(u64, u64), FlowError>,
) -> c_int {
    // SAFETY: the caller's promise.
    let Some(out) = (unsafe { data.cast::<sys::rte_flow_query_count>().as_mut() }) else {
        let e = FlowError {
            errno: Errno::Invalid,
            at: At::Unspecified,
            message: "no query data",
        };
        // SAFETY: `error` is rte_flow's.
        return unsafe { report(error, e, None) };
    };
    match read(out.reset() != 0) {
        Ok((hits, bytes)) => {
            out.hits = hits;
            out.bytes = bytes;
            out.set_hits_set(1);
            out.set_bytes_set(1);
            0
        }
        // SAFETY: `error` is rte_flow's.
        Err(e) => unsafe { report(error, e, None) },
    }
}
