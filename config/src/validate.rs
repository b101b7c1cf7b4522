//! The config's checks: every value against its bound and the values against
//! each other, and the lowering of what the file says (`[[port]]`,
//! `[[rule]]`, `[[offload.policy]]`) into the types the appliance runs on.
//! Pure: the machine's part (memory, devices, files) is `eal_args::check` and
//! [`Config::check_files`]. Every refusal is one line.

use super::*;

/// Checks the file's values and lowers them into a [`Config`]. A refusal is
/// one line naming `origin`; of several mistakes, the first in the order
/// below is the one named.
pub(super) fn validate(raw: RawConfig, origin: &str) -> Result<Config, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        origin: one_line(origin),
        message: one_line(&message),
    };
    // The sections first: a mistake there is named before the ports and
    // rules that depend on it.
    check_eal(&raw.eal).map_err(invalid)?;
    check_dataplane(&raw.dataplane).map_err(invalid)?;
    check_control(&raw.control).map_err(invalid)?;

    let ports = lower_ports(&raw.ports).map_err(invalid)?;
    check_ports(&ports).map_err(invalid)?;
    let rules = lower_rules(&raw.rules, &ports).map_err(invalid)?;
    let mut offload = raw.offload;
    check_offload(&offload).map_err(invalid)?;
    let policies = std::mem::take(&mut offload.policies);
    let offload_policies = lower_offload_policies(&policies, &ports).map_err(invalid)?;
    let mut cfg = Config {
        eal: raw.eal,
        dataplane: raw.dataplane,
        ports,
        rules,
        offload,
        offload_policies,
        control: raw.control,
        log: raw.log,
    };
    cfg.check_together().map_err(invalid)?;
    cfg.lower_vf_replays();
    Ok(cfg)
}

/// The `[[port]]`s as [`PortSpec`]s, the uplink first and then the VFs in
/// file order (the order `Config::ports` promises). Each name is checked
/// before its port is lowered, so a refusal can name the port.
fn lower_ports(raw: &[RawPort]) -> Result<Vec<PortSpec>, String> {
    let mut uplinks = Vec::new();
    let mut vfs = Vec::new();
    for p in raw {
        check_port_name(&p.name)?;
        let spec = lower_port(p).map_err(|m| format!("port {}: {m}", p.name))?;
        match spec.role {
            Role::Uplink => uplinks.push(spec),
            Role::Vf => vfs.push(spec),
        }
    }
    check_role_counts(uplinks.len(), vfs.len())?;
    let mut ports = uplinks;
    ports.extend(vfs);
    Ok(ports)
}

/// Exactly one uplink and at least one VF: the appliance forwards between
/// the two.
fn check_role_counts(uplinks: usize, vfs: usize) -> Result<(), String> {
    match uplinks {
        0 => return Err("no port has role = \"uplink\": exactly one is needed".into()),
        1 => {}
        n => {
            return Err(format!(
                "{n} ports have role = \"uplink\": exactly one is allowed"
            ))
        }
    }
    if vfs == 0 {
        return Err("no port has role = \"vf\": at least one is needed".into());
    }
    Ok(())
}

/// The `[[rule]]`s, in file order; a refusal names the rule by its place
/// in the file and its priority.
fn lower_rules(raw: &[RawRule], ports: &[PortSpec]) -> Result<Vec<Rule>, String> {
    raw.iter()
        .enumerate()
        .map(|(i, r)| {
            lower_rule(r, ports)
                .map_err(|m| format!("rule {} (priority {}): {m}", i + 1, r.priority))
        })
        .collect()
}

/// The `[[offload.policy]]`s, highest priority first and equal priorities
/// in file order (the sort is stable); a refusal names the policy by its
/// place in the file and its priority.
fn lower_offload_policies(
    raw: &[RawOffloadPolicy],
    ports: &[PortSpec],
) -> Result<Vec<OffloadPolicy>, String> {
    let mut policies = raw
        .iter()
        .enumerate()
        .map(|(i, p)| {
            lower_offload_policy(p, ports)
                .map_err(|m| format!("offload policy {} (priority {}): {m}", i + 1, p.priority))
        })
        .collect::<Result<Vec<_>, _>>()?;
    policies.sort_by_key(|p| std::cmp::Reverse(p.matches.priority));
    Ok(policies)
}

impl Config {
    /// Checks every value and the values against each other, as `parse` does:
    /// for configs built in code (the demo) and after the command-line
    /// options, `--replay` and `--capture-dir` changed a parsed one. Pure: the
    /// machine's part (memory, devices, files) is `eal_args::check` and
    /// [`Config::check_files`].
    pub fn check(&self) -> Result<(), String> {
        check_eal(&self.eal)?;
        check_dataplane(&self.dataplane)?;
        check_control(&self.control)?;
        check_ports(&self.ports)?;
        check_offload(&self.offload)?;
        self.check_together()
    }

    /// What spans sections: DPDK's port count, queues per device.
    fn check_together(&self) -> Result<(), String> {
        let workers = self.dataplane.worker_lcores.len();
        if self.ports.len() > MAX_ETHPORTS {
            return Err(format!(
                "{} ports: DPDK here supports at most {MAX_ETHPORTS}",
                self.ports.len()
            ));
        }
        for p in &self.ports {
            // Each worker sends on every port.
            if let Some(offered) = pcap_tx_queues(&p.device) {
                if offered < workers {
                    return Err(format!(
                        "port {}: net_pcap offers {offered} TX queues; {workers} workers need one each (one per tx_pcap= argument)",
                        p.name
                    ));
                }
            }
        }
        Ok(())
    }
}

fn check_eal(e: &EalSection) -> Result<(), String> {
    EAL_MEMORY_MB.check_u64(e.memory_mb.into())?;
    for a in &e.args {
        // EAL takes C strings: a NUL would cut the argument short.
        if a.contains('\0') {
            return Err(format!(
                "eal.args: {} holds a NUL character, which no command-line argument can",
                quoted(a)
            ));
        }
    }
    for path in crate::model_nic::plugin_paths(&e.args) {
        let name = Path::new(path).file_name().map(|n| n.to_string_lossy());
        if name.is_some_and(|n| crate::model_nic::is_plugin_file(&n)) {
            return Err(crate::model_nic::plugin_refusal(&quoted(path)));
        }
    }
    Ok(())
}

fn check_dataplane(dp: &DataplaneSection) -> Result<(), String> {
    MAIN_LCORE.check_u64(dp.main_lcore.into())?;
    if dp.worker_lcores.is_empty() {
        return Err("dataplane.worker_lcores is empty: give at least one worker lcore".into());
    }
    let mut seen_lcores = HashSet::new();
    for &lc in &dp.worker_lcores {
        if !WORKER_LCORE.allows(lc.into()) {
            return Err(format!(
                "dataplane.worker_lcores: lcore {lc}: must be {} ({})",
                WORKER_LCORE.range(),
                WORKER_LCORE.why
            ));
        }
        if !seen_lcores.insert(lc) {
            return Err(format!("dataplane.worker_lcores lists lcore {lc} twice"));
        }
        if lc == dp.main_lcore {
            return Err(format!(
                "dataplane.worker_lcores includes the main lcore {lc}: workers need lcores of their own"
            ));
        }
    }
    BURST.check_u64(dp.burst as u64)?;
    RX_DESC.check_u64(dp.rx_desc.into())?;
    TX_DESC.check_u64(dp.tx_desc.into())?;
    MBUFS.check_u64(dp.mbufs.into())?;
    FLOW_TABLE_SIZE.check_u64(dp.flow_table_size.into())?;
    FLOW_TABLE_SIZE_V6.check_u64(dp.flow_table_size_v6.into())?;
    IDLE_TIMEOUT_S.check_f64(dp.idle_timeout_s)?;
    EVENT_QUEUE.check_u64(dp.event_queue.into())?;
    TX_DRAIN_US.check_f64(dp.tx_drain_us)?;
    Ok(())
}

fn check_control(c: &ControlSection) -> Result<(), String> {
    check_socket_path("control.socket", Path::new(&c.socket))?;
    check_metrics_addr("control.metrics", &c.metrics)
}

/// Checks a control socket path (`control.socket` or `--socket`): what a Unix
/// socket can be bound to.
pub fn check_socket_path(key: &str, path: &Path) -> Result<(), String> {
    let text = path.to_string_lossy();
    let len = path.as_os_str().len();
    // Control characters (a NUL ends sun_path; a newline would break the
    // lines that name the socket) have no place in a path operators type.
    if len == 0 || len > MAX_SOCKET_PATH || text.chars().any(char::is_control) {
        return Err(format!(
            "{key} = {}: must be a path of 1..={MAX_SOCKET_PATH} bytes without control characters (a Unix socket's sun_path)",
            quoted(&text)
        ));
    }
    Ok(())
}

/// Checks that the control socket's directory exists, or that its own
/// directory does, for flowlift to make it in (what is at the path itself is
/// the socket's own check, `shell::socket::check_path`).
pub fn check_socket_dir(key: &str, path: &Path) -> Result<(), String> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let makeable = |d: &Path| {
        !d.exists()
            && d.parent()
                .is_some_and(|p| p.as_os_str().is_empty() || p.is_dir())
    };
    if dir.is_some_and(|d| !d.is_dir() && !makeable(d)) {
        return Err(format!(
            "{key} = {}: no such directory",
            quoted(&path.to_string_lossy())
        ));
    }
    Ok(())
}

/// Checks a /metrics address (`control.metrics` or `--metrics`): "" or
/// `HOST:PORT`. Names are resolved by [`check_metrics_host`].
pub fn check_metrics_addr(key: &str, addr: &str) -> Result<(), String> {
    if addr.is_empty() || addr.parse::<std::net::SocketAddr>().is_ok() {
        return Ok(());
    }
    let named = addr.rsplit_once(':').is_some_and(|(host, port)| {
        !host.is_empty()
            && port.parse::<u16>().is_ok()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    });
    if named {
        Ok(())
    } else {
        Err(format!(
            "{key} = {}: must be \"\" (off) or HOST:PORT such as 127.0.0.1:9464",
            quoted(addr)
        ))
    }
}

/// Resolves a /metrics address as the server will bind it.
pub fn check_metrics_host(key: &str, addr: &str) -> Result<(), String> {
    use std::net::ToSocketAddrs;
    if addr.is_empty() {
        return Ok(());
    }
    match addr.to_socket_addrs().map(|mut a| a.next()) {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(format!("{key} = {}: resolves to no address", quoted(addr))),
        Err(e) => Err(format!("{key} = {}: {e}", quoted(addr))),
    }
}

/// Checks that an output file (`--flow-log`) can be created: its directory
/// exists.
pub fn check_output_file(key: &str, path: &Path) -> Result<(), String> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if dir.is_some_and(|d| !d.is_dir()) || path.is_dir() {
        return Err(format!(
            "{key} {}: no such directory to write it in",
            quoted(&path.to_string_lossy())
        ));
    }
    Ok(())
}

/// Names are checked first: every later message about the port quotes it.
fn check_port_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_PORT_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "port name {}: use 1..={MAX_PORT_NAME} letters, digits, '-' or '_' (it names files, metric labels and status columns)",
            quoted(name)
        ))
    }
}

/// Lowers a `[[port]]` as written; its values are checked by [`check_port`].
fn lower_port(p: &RawPort) -> Result<PortSpec, String> {
    let mac = match &p.mac {
        Some(text) => Some(
            text.parse::<MacAddr>()
                .map_err(|e| one_line(&e.to_string()))?,
        ),
        None if p.role == Role::Vf => return Err("a vf needs a mac".into()),
        None => None,
    };
    Ok(PortSpec {
        name: p.name.clone(),
        role: p.role,
        mac,
        device: p.device.clone(),
        rate_limit: rate_limit(p)?,
        replay: p.replay.as_ref().map(std::path::PathBuf::from),
    })
}

/// Checks each port, then that names, MACs and devices are each used once.
fn check_ports(ports: &[PortSpec]) -> Result<(), String> {
    if ports.first().map(|p| p.role) != Some(Role::Uplink)
        || ports.iter().skip(1).any(|p| p.role != Role::Vf)
    {
        return Err("exactly one port has role = \"uplink\", listed first, then the VFs".into());
    }
    if ports.len() < 2 {
        return Err("no port has role = \"vf\": at least one is needed".into());
    }
    let mut names = HashSet::new();
    let mut macs = HashSet::new();
    let mut devices = HashSet::new();
    for p in ports {
        check_port_name(&p.name)?;
        if !names.insert(p.name.as_str()) {
            return Err(format!("port {:?} is defined twice", p.name));
        }
        check_port(p).map_err(|m| format!("port {}: {m}", p.name))?;
        if let Some(mac) = p.mac {
            if !macs.insert(mac) {
                return Err(format!(
                    "port {}: MAC {mac} is used by another port",
                    p.name
                ));
            }
        }
        if !devices.insert(p.dpdk_name()) {
            return Err(format!(
                "port {}: device {} is used by another port",
                p.name,
                p.dpdk_name()
            ));
        }
    }
    for p in ports {
        check_model_representor(p, ports).map_err(|m| format!("port {}: {m}", p.name))?;
        check_replay(p, ports).map_err(|m| format!("port {}: {m}", p.name))?;
    }
    check_model_vf_wires(ports)
}

/// A VF's `replay`: a path the PMD can take as a devarg, on a representor of
/// the NIC model whose PF is the uplink, which must not give the VF a source
/// of its own (`vfN_wire=`) or other passes (`vfN_loops=`). The PF's
/// devargs may already hold what [`Config::lower_vf_replays`] put there.
fn check_replay(p: &PortSpec, ports: &[PortSpec]) -> Result<(), String> {
    let Some(path) = &p.replay else {
        return Ok(());
    };
    let text = path.to_string_lossy();
    let shown = quoted(&text);
    if p.role != Role::Vf {
        return Err(format!(
            "replay = {shown}: only a vf replays a capture (what its VM sends); the uplink's traffic is its device's (wire=, rx_pcap=) or --replay's"
        ));
    }
    if text.is_empty() {
        return Err("replay = \"\": must be a path to a pcap file".into());
    }
    if text.len() > MAX_REPLAY_PATH {
        return Err(format!(
            "replay = {shown}: {} bytes; a path has at most {MAX_REPLAY_PATH}",
            text.len()
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() || matches!(c, ',' | '[' | ']'))
        || text.trim() != text
    {
        return Err(format!(
            "replay = {shown}: a path without commas, brackets, control characters or surrounding blanks (it becomes a devarg of the NIC model's PF, where those separate or are trimmed)"
        ));
    }
    let Some((pf_name, vf)) = crate::model_nic::representor(p.dpdk_name()) else {
        return Err(format!(
            "replay = {shown}: only a VF on a representor of the NIC model (net_flowlift0_representor_vfN) sends its VM's traffic into the switch; device {} is not one (with net_pcap the frames would only reach the host, and it replays once or forever, not `loops` times)",
            quoted(p.dpdk_name())
        ));
    };
    let uplink = &ports[0];
    if uplink.dpdk_name() != pf_name {
        return Err(format!(
            "replay = {shown}: its representor's PF {pf_name} is not the uplink's device ({}): the uplink's switch plays the VFs' traffic",
            quoted(uplink.dpdk_name())
        ));
    }
    // The uplink's devargs were checked with it.
    let Ok(d) = crate::model_nic::devargs(&uplink.device) else {
        return Ok(());
    };
    if let Some(w) = d.vf_wires.iter().find(|w| w.vf == vf) {
        if w.path != *path {
            return Err(format!(
                "replay = {shown}: the uplink's device gives VF {vf} a source too (vf{vf}_wire={}): keep one",
                quoted(&w.path.to_string_lossy())
            ));
        }
        if w.loops.is_some_and(|l| l != d.loops) {
            return Err(format!(
                "replay = {shown}: the uplink's device sets vf{vf}_loops={}, but a replay plays as many times as the uplink's wire (loops={}): drop vf{vf}_loops",
                w.loops.unwrap_or_default(),
                d.loops
            ));
        }
    }
    Ok(())
}

/// Every VF source a model PF plays (`vfN_wire=`, given or lowered from a
/// port's `replay`) must be a port's representor: the PMD plays a VF's wire
/// only while its representor runs, so a finite run would wait for it forever.
fn check_model_vf_wires(ports: &[PortSpec]) -> Result<(), String> {
    for pf in ports
        .iter()
        .filter(|p| crate::model_nic::is_pf(p.dpdk_name()))
    {
        let Ok(d) = crate::model_nic::devargs(&pf.device) else {
            continue;
        };
        for w in &d.vf_wires {
            let rep = format!("{}_representor_vf{}", pf.dpdk_name(), w.vf);
            if !ports.iter().any(|p| p.dpdk_name() == rep) {
                let key = if w.gen.is_some() { "gen" } else { "wire" };
                return Err(format!(
                    "port {}: vf{}_{key}= sends from VF {}, but no port's device is its representor {rep}, and the NIC model plays a VF's traffic only while its representor runs: add that port{} or drop vf{}_{key}",
                    pf.name,
                    w.vf,
                    w.vf,
                    if w.gen.is_some() { "" } else { " (with replay = FILE)" },
                    w.vf
                ));
            }
        }
    }
    Ok(())
}

/// A representor of the NIC model (`net_flowlift0_representor_vfN`) exists
/// only if a port's device is its PF with VF N in its `representor=` list:
/// refused here, rather than by the start's "no such device".
fn check_model_representor(p: &PortSpec, ports: &[PortSpec]) -> Result<(), String> {
    let name = p.dpdk_name();
    if !name.contains("_representor_") {
        return Ok(());
    }
    let Some((pf_name, _)) = name.split_once("_representor_") else {
        return Ok(());
    };
    if !crate::model_nic::is_pf(pf_name) {
        return Ok(());
    }
    let Some((_, vf)) = crate::model_nic::representor(name) else {
        return Err(format!(
            "device {}: {pf_name}'s representors are named {pf_name}_representor_vfN (N a VF of its representor= list)",
            quoted(name)
        ));
    };
    let Some(pf) = ports.iter().find(|q| q.dpdk_name() == pf_name) else {
        return Err(format!(
            "device {name}: no port's device is its PF {pf_name} (whose representor=vf[...] makes it)"
        ));
    };
    // Checked with the PF's own port; a PF that does not parse is refused there.
    let listed =
        crate::model_nic::devargs(&pf.device).map_or(true, |d| d.representors.contains(&vf));
    if !listed {
        return Err(format!(
            "device {name}: port {}'s {pf_name} makes no representor of VF {vf}: add it to its representor=vf[...]",
            pf.name
        ));
    }
    Ok(())
}

/// One port's values.
fn check_port(p: &PortSpec) -> Result<(), String> {
    match p.mac {
        // A frame's destination MAC picks the VF: a group address would take
        // every multicast frame, the zero address is no station's.
        Some(mac) if mac.is_group() => {
            return Err(format!(
                "MAC {mac} is a multicast address: a port's MAC must be unicast"
            ))
        }
        Some(mac) if mac.0 == [0; 6] => {
            return Err(format!(
                "mac = {mac}: must be a unicast address other than all zeros"
            ))
        }
        Some(_) => {}
        None if p.role == Role::Vf => return Err("a vf needs a mac".into()),
        None => {}
    }
    check_device(&p.device)?;
    if let Some(l) = p.rate_limit {
        if p.role != Role::Vf {
            return Err("only a vf can have a rate limit".into());
        }
        check_burst(l)?;
    }
    Ok(())
}

/// A device as EAL takes it: a virtual device `net_<driver><n>[,args]`, a PCI
/// address `[DDDD:]BB:DD.F[,args]`, or a VF representor, which takes no
/// arguments: `<PCI address>_representor_vfN` (mlx5),
/// `net_<PCI address>_representor_N` (ice DCF) or
/// `net_flowlift0_representor_vfN` (the NIC model, named as mlx5). Whether the
/// driver exists and takes these arguments only EAL can tell, at start-up,
/// except for the built-in `net_flowlift`, whose devargs are checked here with
/// its own parser.
fn check_device(device: &str) -> Result<(), String> {
    if device.trim().is_empty() {
        return Err("device is empty".into());
    }
    if device.chars().any(char::is_control) {
        return Err(format!(
            "device {}: holds a control character",
            quoted(device)
        ));
    }
    let name = device.split(',').next().unwrap_or("");
    if name.len() > MAX_DEVICE_NAME {
        return Err(format!(
            "device {}: the name before the first comma has {} bytes; DPDK's limit is {MAX_DEVICE_NAME}",
            quoted(device),
            name.len()
        ));
    }
    let vdev_name = |n: &str| {
        n.strip_prefix("net_").is_some_and(|driver| {
            !driver.is_empty()
                && driver
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
    };
    let known = if let Some((pf, what)) = name.split_once("_representor_") {
        // The PF: a PCI address (mlx5), `net_` and one (ice DCF), or a
        // virtual device (net_flowlift, the NIC model).
        let pf_known = parse_pci(pf).is_some()
            || pf
                .strip_prefix("net_")
                .is_some_and(|p| parse_pci(p).is_some())
            || vdev_name(pf);
        if pf_known && !what.is_empty() && device.contains(',') {
            return Err(format!(
                "device {}: a representor takes no arguments: its PF's device gives them (representor=...)",
                quoted(device)
            ));
        }
        pf_known && !what.is_empty()
    } else if name.starts_with("net_") {
        vdev_name(name)
    } else {
        parse_pci(name).is_some()
    };
    if !known {
        return Err(format!(
            "device {}: not a DPDK virtual device (net_null1, net_pcap0,rx_pcap=FILE, ...), a PCI address (0000:03:00.0) nor a VF representor of either (0000:03:00.0_representor_vf0, net_flowlift0_representor_vf0)",
            quoted(device)
        ));
    }
    if crate::model_nic::is_pf(name) {
        crate::model_nic::devargs(device).map_err(|e| format!("device {name}: {e}"))?;
    }
    if device.split(',').skip(1).any(str::is_empty) {
        return Err(format!(
            "device {}: an empty argument between commas",
            quoted(device)
        ));
    }
    Ok(())
}

/// A PCI address as DPDK writes it (`0000:03:00.0`), from the same with or
/// without its domain; `None` if `s` is none.
pub fn parse_pci(s: &str) -> Option<String> {
    let (domain, rest) = match s.matches(':').count() {
        2 => {
            let (d, r) = s.split_once(':')?;
            (u32::from_str_radix(d, 16).ok().filter(|_| d.len() <= 8)?, r)
        }
        1 => (0, s),
        _ => return None,
    };
    let (bus, rest) = rest.split_once(':')?;
    let (dev, func) = rest.split_once('.')?;
    let hex = |t: &str, max: u32| {
        u32::from_str_radix(t, 16)
            .ok()
            .filter(|v| !t.is_empty() && t.len() <= 2 && *v <= max)
    };
    let (bus, dev, func) = (hex(bus, 0xff)?, hex(dev, 0x1f)?, hex(func, 7)?);
    Some(format!("{domain:04x}:{bus:02x}:{dev:02x}.{func:x}"))
}

fn rate_limit(p: &RawPort) -> Result<Option<RateLimit>, String> {
    use flowlift_dataplane::meter::MeterUnit;
    let (unit, rate) = match (p.rate_limit_pps, p.rate_limit_bps) {
        (None, None) => {
            if p.rate_burst.is_some() {
                return Err("rate_burst without rate_limit_pps or rate_limit_bps".into());
            }
            return Ok(None);
        }
        (Some(_), Some(_)) => {
            return Err("give rate_limit_pps or rate_limit_bps, not both".into());
        }
        (Some(r), None) => {
            RATE_LIMIT_PPS.check_u64(r)?;
            (MeterUnit::Packets, r)
        }
        (None, Some(r)) => {
            RATE_LIMIT_BPS.check_u64(r)?;
            (MeterUnit::Bytes, r / 8)
        }
    };
    if p.role != Role::Vf {
        return Err("only a vf can have a rate limit".into());
    }
    // Default burst: 10 ms at the rate, at least one full-size frame.
    let min = if unit == MeterUnit::Packets {
        1
    } else {
        MIN_BYTE_BURST
    };
    let burst = p.rate_burst.unwrap_or((rate / 100).max(min));
    let limit = RateLimit { unit, rate, burst };
    check_burst(limit)?;
    Ok(Some(limit))
}

/// A burst holds at least one packet (or full-size frame) and at most a
/// minute at the rate.
fn check_burst(l: RateLimit) -> Result<(), String> {
    use flowlift_dataplane::meter::MeterUnit;
    let (lo, unit) = match l.unit {
        MeterUnit::Packets => (1, "packets"),
        MeterUnit::Bytes => (MIN_BYTE_BURST, "bytes"),
    };
    let hi = l.rate.saturating_mul(MAX_BURST_SECONDS).max(lo);
    if l.rate == 0 || !(lo..=hi).contains(&l.burst) {
        return Err(format!(
            "rate_burst = {}: must be {lo}..={hi} {unit} (one {} up to a minute at the rate)",
            l.burst,
            if lo == 1 { "packet" } else { "full-size frame" }
        ));
    }
    Ok(())
}

/// Checks `[offload]` against `[dataplane]`; the message names the key.
pub fn check_offload(o: &OffloadSection) -> Result<(), String> {
    MAX_RULES.check_u64(o.max_rules.into())?;
    INSERTS_PER_SEC.check_u64(o.inserts_per_sec.into())?;
    TICK_MS.check_u64(o.tick_ms.into())?;
    PROMOTE_PPS.check_f64(o.promote_pps)?;
    DEMOTE_PPS.check_f64(o.demote_pps)?;
    if o.demote_pps > o.promote_pps {
        return Err(format!(
            "offload.demote_pps = {} is above offload.promote_pps = {}: flows would flap",
            o.demote_pps, o.promote_pps
        ));
    }
    HOLD.check_u64(o.hold.into())?;
    EWMA_ALPHA.check_f64(o.ewma_alpha)?;
    EVICT_MARGIN.check_f64(o.evict_margin)?;
    BACKOFF_MS.check_u64(o.backoff_ms.into())?;
    Ok(())
}

/// A header policy from the shell's `policy add FIELD VALUE ...` pairs, checked
/// as the config file's `[[offload.policy]]` is (same fields, same errors).
pub fn offload_policy_from_pairs(
    pairs: &[(String, String)],
    ports: &[PortSpec],
) -> Result<OffloadPolicy, String> {
    // Written as the TOML table the config would hold: numbers bare, the
    // rest quoted, so the one set of rules and messages serves both.
    let mut text = String::new();
    for (k, v) in pairs {
        if !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("bad field name {k:?}"));
        }
        if v.parse::<i64>().is_ok() {
            text += &format!("{k} = {v}\n");
        } else {
            text += &format!("{k} = {}\n", toml::Value::String(v.clone()));
        }
    }
    let raw: RawOffloadPolicy =
        toml::from_str(&text).map_err(|e| e.message().replace('\n', " ").trim().to_owned())?;
    lower_offload_policy(&raw, ports)
}

fn lower_offload_policy(p: &RawOffloadPolicy, ports: &[PortSpec]) -> Result<OffloadPolicy, String> {
    let raw = RawRule {
        priority: p.priority,
        in_port: p.in_port.clone(),
        vlan: p.vlan,
        src: p.src.clone(),
        dst: p.dst.clone(),
        proto: p.proto.clone(),
        sport: p.sport.clone(),
        dport: p.dport.clone(),
        action: "drop".into(),
        ..RawRule::default()
    };
    let mut matches = lower_rule(&raw, ports)?;
    matches.action = None;
    Ok(OffloadPolicy {
        matches,
        choice: p.offload,
    })
}

fn port_index(ports: &[PortSpec], name: &str) -> Result<PortIdx, String> {
    ports
        .iter()
        .position(|p| p.name == name)
        .map(|i| PortIdx(i as u16))
        .ok_or_else(|| format!("no port named {name:?}"))
}

fn lower_rule(r: &RawRule, ports: &[PortSpec]) -> Result<Rule, String> {
    let mac = |m: &Option<String>| {
        m.as_deref()
            .map(|t| t.parse::<MacAddr>().map_err(|e| e.to_string()))
            .transpose()
    };
    let range = |v: &Option<PortSpecValue>| {
        v.as_ref()
            .map(|v| match v {
                PortSpecValue::Number(n) => {
                    Ok(flowlift_dataplane::policy::PortRange { lo: *n, hi: *n })
                }
                PortSpecValue::Text(t) => t.parse(),
            })
            .transpose()
    };
    let proto = match &r.proto {
        None => None,
        Some(ProtoSpec::Number(n)) => Some(*n),
        Some(ProtoSpec::Name(n)) => Some(match n.as_str() {
            "tcp" => 6,
            "udp" => 17,
            "sctp" => 132,
            "icmp" => 1,
            "icmp6" | "icmpv6" => 58,
            other => {
                return Err(format!(
                    "unknown proto {other:?}: use tcp, udp, sctp, icmp, icmp6 or a number"
                ))
            }
        }),
    };
    if let Some(v) = r.vlan {
        VLAN.check_u64(v.into())?;
    }
    let action = match r.action.as_str() {
        "drop" => RuleAction::Drop,
        other => match other.strip_prefix("output:") {
            Some(name) => RuleAction::Output(port_index(ports, name)?),
            None => return Err(format!("action {other:?}: use \"drop\" or \"output:PORT\"")),
        },
    };
    Ok(Rule {
        priority: r.priority,
        in_port: r
            .in_port
            .as_deref()
            .map(|n| port_index(ports, n))
            .transpose()?,
        src_mac: mac(&r.src_mac)?,
        dst_mac: mac(&r.dst_mac)?,
        vlan: r.vlan,
        src: r.src.as_deref().map(str::parse).transpose()?,
        dst: r.dst.as_deref().map(str::parse).transpose()?,
        proto,
        sport: range(&r.sport)?,
        dport: range(&r.dport)?,
        action: Some(action),
    })
}
