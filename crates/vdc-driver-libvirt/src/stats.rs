//! Bulk VM counters and node CPU times through raw libvirt calls.
//!
//! This module and [`crate::events`] own the driver's only `unsafe` code. It calls libvirt
//! directly (through `virt::sys`) where virt 0.5 has no usable wrapper:
//! - `virConnectGetAllDomainStats` / `virDomainListGetStats`: virt's `all_domain_stats`
//!   frees the returned array with `free()` instead of `virDomainStatsRecordListFree`, which
//!   leaks every record, its typed parameters and its domain reference, and it exposes the
//!   records only as raw pointers;
//! - `virNodeGetCPUStats`, which virt does not wrap at all.
//!
//! Every record list is owned by a [`RecordList`] guard that frees it on every path, and the
//! typed parameters are copied into owned Rust values before the guard goes. Parsing those
//! values into [`VmStats`] ([`from_params`]) and CPU samples into a utilisation
//! ([`cpu_utilisation`]) is safe code, unit-tested without libvirt.
// SAFETY (module-wide allowance): `unsafe` is denied crate-wide and allowed here only, for
// FFI calls into libvirt and for reading the C structures they return; each block states why
// it is sound.
#![allow(unsafe_code)]

use std::collections::BTreeMap;
use std::ffi::{CStr, c_char, c_int};
use std::ptr;

use uuid::Uuid;
use vdc_driver::VmStats;
use virt::connect::Connect;
use virt::domain::Domain;
use virt::error::Error;
use virt::sys;

/// The stats groups vdc reads: state, total CPU time, balloon (memory), per-vCPU times,
/// NICs and disks.
const GROUPS: sys::virDomainStatsTypes = sys::VIR_DOMAIN_STATS_STATE
    | sys::VIR_DOMAIN_STATS_CPU_TOTAL
    | sys::VIR_DOMAIN_STATS_BALLOON
    | sys::VIR_DOMAIN_STATS_VCPU
    | sys::VIR_DOMAIN_STATS_INTERFACE
    | sys::VIR_DOMAIN_STATS_BLOCK;

/// A typed parameter's value, whatever libvirt typed it as.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Int(i64),
    UInt(u64),
    Double(f64),
    Bool(bool),
    Str(String),
}

impl Value {
    /// The value as a non-negative counter; `None` for negative numbers and non-numeric
    /// strings (names and paths of disks and NICs).
    fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Int(v) => u64::try_from(*v).ok(),
            Value::UInt(v) => Some(*v),
            Value::Double(v) => (v.is_finite() && *v >= 0.0).then_some(*v as u64),
            Value::Bool(b) => Some(u64::from(*b)),
            Value::Str(s) => s.parse().ok(),
        }
    }
}

/// [`VmStats`] from one record's parameters, by name (libvirt's names, see
/// `virConnectGetAllDomainStats`). Memory comes in KiB; `vcpu.<n>.delay` is the time vCPU
/// `n` waited for a host CPU. A parameter vdc does not use is ignored, so newer libvirts that
/// add parameters are fine.
pub(crate) fn from_params<'a>(params: impl IntoIterator<Item = (&'a str, Value)>) -> VmStats {
    let mut s = VmStats::default();
    let mut vcpus: usize = 0;
    let mut delays: BTreeMap<usize, u64> = BTreeMap::new();
    for (name, value) in params {
        let Some(n) = value.as_u64() else { continue };
        match name {
            "cpu.time" => s.cpu_time_ns = n,
            "balloon.current" => s.balloon_current_mib = Some(n / 1024),
            "balloon.available" => s.balloon_available_mib = Some(n / 1024),
            "balloon.maximum" => s.balloon_maximum_mib = Some(n / 1024),
            "balloon.rss" => s.memory_rss_mib = n / 1024,
            "balloon.swap_in" => s.swap_in_kib = Some(n),
            "balloon.swap_out" => s.swap_out_kib = Some(n),
            "vcpu.current" => vcpus = usize::try_from(n).unwrap_or(0),
            _ => {
                let Some((group, rest)) = name.split_once('.') else {
                    continue;
                };
                // `<group>.<index>.<field>`; `block.count`, `net.count` have no index.
                let Some((index, field)) = rest.split_once('.') else {
                    continue;
                };
                let Ok(index) = index.parse::<usize>() else {
                    continue;
                };
                let sum = match (group, field) {
                    ("vcpu", "delay") => {
                        delays.insert(index, n);
                        continue;
                    }
                    ("block", "rd.bytes") => &mut s.block_rd_bytes,
                    ("block", "wr.bytes") => &mut s.block_wr_bytes,
                    ("block", "rd.reqs") => &mut s.block_rd_reqs,
                    ("block", "wr.reqs") => &mut s.block_wr_reqs,
                    ("net", "rx.bytes") => &mut s.net_rx_bytes,
                    ("net", "tx.bytes") => &mut s.net_tx_bytes,
                    _ => continue,
                };
                *sum = sum.saturating_add(n);
            }
        }
    }
    // One entry per vCPU when the host reports delays at all (it needs the kernel's
    // schedstats); a vCPU without a figure (offline) counts as 0.
    if let Some((&last, _)) = delays.last_key_value() {
        s.vcpu_delay_ns = vec![0; vcpus.max(last + 1)];
        for (i, d) in delays {
            s.vcpu_delay_ns[i] = d;
        }
    }
    s
}

/// Host CPU utilisation (0–1) between two cumulative `virNodeGetCPUStats` samples: the share
/// of the CPU time that was neither idle nor waiting for I/O (`iowait` is idle CPU). A
/// driver that reports `utilization` (a percentage) directly is taken at its word. No time
/// passed (or the host's counters do not move, as with libvirt's test driver): 0.
pub(crate) fn cpu_utilisation(before: &[(String, u64)], after: &[(String, u64)]) -> f64 {
    if let Some((_, pct)) = after.iter().find(|(f, _)| f == "utilization") {
        return (*pct as f64 / 100.0).clamp(0.0, 1.0);
    }
    let split = |sample: &[(String, u64)]| {
        sample.iter().fold((0u64, 0u64), |(idle, total), (f, v)| {
            let idle = if f == "idle" || f == "iowait" {
                idle.saturating_add(*v)
            } else {
                idle
            };
            (idle, total.saturating_add(*v))
        })
    };
    let (idle0, total0) = split(before);
    let (idle1, total1) = split(after);
    let total = total1.saturating_sub(total0);
    if total == 0 {
        return 0.0;
    }
    let busy = total.saturating_sub(idle1.saturating_sub(idle0));
    (busy as f64 / total as f64).clamp(0.0, 1.0)
}

/// A NUL-terminated C character buffer (a fixed-size field) as a string.
fn field_name(field: &[c_char]) -> String {
    let bytes: Vec<u8> = field.iter().map(|&c| c as u8).collect();
    CStr::from_bytes_until_nul(&bytes)
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned())
}

/// One typed parameter's value, copied out; `None` for a type this libvirt did not define.
fn typed_value(p: &sys::virTypedParameter) -> Option<Value> {
    // SAFETY: libvirt sets exactly the union member named by `type_`, and each arm reads
    // only that member. A string value, when not null, is a NUL-terminated string owned by
    // the record list, which outlives this call (the caller borrows the list); it is copied.
    unsafe {
        Some(match p.type_ as sys::virTypedParameterType {
            sys::VIR_TYPED_PARAM_INT => Value::Int(i64::from(p.value.i)),
            sys::VIR_TYPED_PARAM_UINT => Value::UInt(u64::from(p.value.ui)),
            sys::VIR_TYPED_PARAM_LLONG => Value::Int(p.value.l),
            sys::VIR_TYPED_PARAM_ULLONG => Value::UInt(p.value.ul),
            sys::VIR_TYPED_PARAM_DOUBLE => Value::Double(p.value.d),
            sys::VIR_TYPED_PARAM_BOOLEAN => Value::Bool(p.value.b != 0),
            sys::VIR_TYPED_PARAM_STRING if !p.value.s.is_null() => {
                Value::Str(CStr::from_ptr(p.value.s).to_string_lossy().into_owned())
            }
            _ => return None,
        })
    }
}

/// Owns a record list returned by `virConnectGetAllDomainStats` or `virDomainListGetStats`
/// and frees it, with every record's parameters and domain reference, when dropped.
struct RecordList {
    ptr: *mut sys::virDomainStatsRecordPtr,
    len: usize,
}

impl Drop for RecordList {
    fn drop(&mut self) {
        if !self.ptr.is_null() {
            // SAFETY: `ptr` is the NULL-terminated list libvirt allocated for this call; it
            // is freed exactly once, here, and no borrow of it outlives `self`.
            unsafe { sys::virDomainStatsRecordListFree(self.ptr) }
        }
    }
}

impl RecordList {
    /// Takes ownership of what a stats call returned (`n` records, or -1 on failure).
    fn new(n: c_int, ptr: *mut sys::virDomainStatsRecordPtr) -> Result<RecordList, Error> {
        // Guard first, so a list is freed even when the call reports failure.
        let mut list = RecordList { ptr, len: 0 };
        if n < 0 {
            return Err(Error::last_error());
        }
        if !list.ptr.is_null() {
            list.len = n as usize;
        }
        Ok(list)
    }

    /// Each record's domain UUID and counters, copied into owned values.
    fn parse(&self) -> Vec<(Uuid, VmStats)> {
        (0..self.len)
            .filter_map(|i| {
                // SAFETY: libvirt returned `len` valid, non-null record pointers before the
                // terminating NULL; they live as long as `self`.
                let rec = unsafe { &**self.ptr.add(i) };
                let id = domain_uuid(rec.dom)?;
                let params: &[sys::virTypedParameter] = if rec.params.is_null() || rec.nparams <= 0
                {
                    &[]
                } else {
                    // SAFETY: `params` points to `nparams` initialised typed parameters
                    // owned by the record.
                    unsafe { std::slice::from_raw_parts(rec.params, rec.nparams as usize) }
                };
                let named: Vec<(String, Value)> = params
                    .iter()
                    .filter_map(|p| Some((field_name(&p.field), typed_value(p)?)))
                    .collect();
                Some((
                    id,
                    from_params(named.iter().map(|(n, v)| (n.as_str(), v.clone()))),
                ))
            })
            .collect()
    }
}

/// The UUID of a domain that libvirt handed over (a stats record's, or an event's); `None`
/// if libvirt cannot say (the record or event is skipped).
///
/// `dom` must be null or a domain reference that stays valid for the call: the caller
/// borrows it from a record list or from libvirt for the duration of a callback.
pub(crate) fn domain_uuid(dom: sys::virDomainPtr) -> Option<Uuid> {
    if dom.is_null() {
        return None;
    }
    let mut buf = [0 as c_char; sys::VIR_UUID_STRING_BUFLEN as usize];
    // SAFETY: `dom` is a valid domain reference for the call (see above), and `buf` has
    // the VIR_UUID_STRING_BUFLEN bytes the call writes at most.
    let rc = unsafe { sys::virDomainGetUUIDString(dom, buf.as_mut_ptr()) };
    if rc < 0 {
        tracing::warn!(error = %Error::last_error(), "domain without a UUID: skipped");
        return None;
    }
    Uuid::parse_str(&field_name(&buf)).ok()
}

/// Counters of every active (running or paused) domain on the connection, in one call.
pub(crate) fn all_active(conn: &Connect) -> Result<Vec<(Uuid, VmStats)>, Error> {
    let mut ptr: *mut sys::virDomainStatsRecordPtr = ptr::null_mut();
    // SAFETY: the connection pointer is live for the duration of the call (`conn` is
    // borrowed); on success libvirt stores a list it allocated in `ptr`, which `RecordList`
    // takes over at once.
    let n = unsafe {
        sys::virConnectGetAllDomainStats(
            conn.as_ptr(),
            GROUPS,
            &mut ptr,
            sys::VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE,
        )
    };
    Ok(RecordList::new(n, ptr)?.parse())
}

/// Counters of one domain (an inactive one reports little more than its state).
pub(crate) fn one(dom: &Domain) -> Result<VmStats, Error> {
    // SAFETY: `dom` is borrowed for the call, so its pointer stays valid; the list of
    // domains handed to libvirt is NULL-terminated as the API requires.
    let mut doms = [unsafe { dom.as_ptr() }, ptr::null_mut()];
    let mut ptr: *mut sys::virDomainStatsRecordPtr = ptr::null_mut();
    // SAFETY: as above; on success libvirt stores a list it allocated in `ptr`, which
    // `RecordList` takes over at once.
    let n = unsafe { sys::virDomainListGetStats(doms.as_mut_ptr(), GROUPS, &mut ptr, 0) };
    Ok(RecordList::new(n, ptr)?
        .parse()
        .into_iter()
        .next()
        .map(|(_, s)| s)
        .unwrap_or_default())
}

/// One cumulative sample of the host's CPU times (ns) over all CPUs, by field (`kernel`,
/// `user`, `idle`, `iowait` on Linux).
pub(crate) fn node_cpu_times(conn: &Connect) -> Result<Vec<(String, u64)>, Error> {
    let mut n: c_int = 0;
    // SAFETY: a null array with a count of 0 asks libvirt for the number of fields only.
    let rc = unsafe {
        sys::virNodeGetCPUStats(
            conn.as_ptr(),
            sys::VIR_NODE_CPU_STATS_ALL_CPUS,
            ptr::null_mut(),
            &mut n,
            0,
        )
    };
    if rc < 0 {
        return Err(Error::last_error());
    }
    let mut params = vec![
        sys::virNodeCPUStats {
            field: [0; 80],
            value: 0,
        };
        usize::try_from(n).unwrap_or(0)
    ];
    // SAFETY: `params` holds `n` entries, the count libvirt asked for and is told.
    let rc = unsafe {
        sys::virNodeGetCPUStats(
            conn.as_ptr(),
            sys::VIR_NODE_CPU_STATS_ALL_CPUS,
            params.as_mut_ptr(),
            &mut n,
            0,
        )
    };
    if rc < 0 {
        return Err(Error::last_error());
    }
    params.truncate(usize::try_from(n).unwrap_or(0));
    Ok(params
        .iter()
        .map(|p| (field_name(&p.field), p.value))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(v: u64) -> Value {
        Value::UInt(v)
    }

    #[test]
    fn params_of_a_qemu_domain() {
        let s = from_params([
            ("state.state", Value::Int(1)),
            ("cpu.time", u(5_000_000_000)),
            ("cpu.user", u(1)),
            ("balloon.current", u(131_072)),
            ("balloon.maximum", u(131_072)),
            ("balloon.available", u(97_280)),
            ("balloon.rss", u(204_800)),
            ("balloon.swap_in", u(3)),
            ("balloon.swap_out", u(4)),
            ("vcpu.current", Value::UInt(2)),
            ("vcpu.maximum", Value::UInt(2)),
            ("vcpu.0.state", Value::Int(1)),
            ("vcpu.0.time", u(9)),
            ("vcpu.0.delay", u(1500)),
            ("vcpu.1.delay", Value::Int(2500)),
            ("net.count", Value::UInt(2)),
            ("net.0.name", Value::Str("vnet0".into())),
            ("net.0.rx.bytes", u(100)),
            ("net.0.tx.bytes", u(10)),
            ("net.1.rx.bytes", u(1)),
            ("net.1.tx.bytes", u(2)),
            ("block.count", Value::UInt(2)),
            ("block.0.name", Value::Str("vda".into())),
            ("block.0.path", Value::Str("/p/vda.qcow2".into())),
            ("block.0.rd.bytes", u(1 << 20)),
            ("block.0.wr.bytes", u(4096)),
            ("block.0.rd.reqs", u(16)),
            ("block.0.wr.reqs", u(1)),
            ("block.1.rd.bytes", u(1)),
            ("block.1.rd.reqs", u(1)),
            ("block.0.allocation", u(7)),
            ("some.future.stat", Value::Double(1.5)),
            ("flag.x", Value::Bool(true)),
        ]);
        assert_eq!(
            s,
            VmStats {
                cpu_time_ns: 5_000_000_000,
                vcpu_delay_ns: vec![1500, 2500],
                memory_rss_mib: 200,
                balloon_current_mib: Some(128),
                balloon_maximum_mib: Some(128),
                balloon_available_mib: Some(95),
                swap_in_kib: Some(3),
                swap_out_kib: Some(4),
                block_rd_bytes: (1 << 20) + 1,
                block_wr_bytes: 4096,
                block_rd_reqs: 17,
                block_wr_reqs: 1,
                net_rx_bytes: 101,
                net_tx_bytes: 12,
            }
        );
    }

    #[test]
    fn missing_figures_stay_none_or_empty() {
        // What libvirt's test driver returns: the state group only.
        let s = from_params([("state.state", Value::Int(1)), ("state.reason", u(0))]);
        assert_eq!(s, VmStats::default());
        // A vCPU without a delay figure counts as 0; negative values are not counters.
        let s = from_params([
            ("vcpu.current", u(3)),
            ("vcpu.1.delay", u(7)),
            ("cpu.time", Value::Int(-1)),
        ]);
        assert_eq!(s.vcpu_delay_ns, vec![0, 7, 0]);
        assert_eq!(s.cpu_time_ns, 0);
    }

    #[test]
    fn utilisation_from_two_samples() {
        let sample = |kernel: u64, user: u64, idle: u64, iowait: u64| {
            vec![
                ("kernel".to_string(), kernel),
                ("user".to_string(), user),
                ("idle".to_string(), idle),
                ("iowait".to_string(), iowait),
            ]
        };
        let a = sample(100, 100, 1000, 10);
        // 30 busy (10 kernel + 20 user) of 100: 0.3.
        let b = sample(110, 120, 1060, 20);
        assert!((cpu_utilisation(&a, &b) - 0.3).abs() < 1e-9);
        assert_eq!(cpu_utilisation(&a, &a), 0.0, "no time passed");
        let pct = vec![("utilization".to_string(), 42)];
        assert!((cpu_utilisation(&[], &pct) - 0.42).abs() < 1e-9);
    }

    #[test]
    fn field_names_stop_at_nul() {
        let mut f = [0 as c_char; 80];
        for (i, b) in b"cpu.time".iter().enumerate() {
            f[i] = *b as c_char;
        }
        assert_eq!(field_name(&f), "cpu.time");
    }
}
