//! The host load sampler: each reachable host's CPU utilisation, its running VMs' vCPU wait
//! counters and their memory pressure (balloon, swap), stored on the host with a
//! per-hour-of-day histogram. Placement reads them (contention from the vCPU wait,
//! complementary load from the hourly 90th percentiles); the balancer reads all of them.
//! Rates are measured on the driver's clock (the simulator's own time for the simulator).
//! Each sample also records every cluster's allocations and CPU demand as the day's peak,
//! which capacity forecasts fit their trends on.
//!
//! The hosts are read once per metrics interval for both: the metrics collector's stats pass
//! ([`stats_pass`]) leaves its hosts' load readings here ([`offer`]) and the sampler takes the
//! newest one; it reads the hosts itself only when no pass is fresh (metrics off, or late).

use std::collections::HashMap;
use vdc_db as db;
use vdc_engine::load::{Histogram, HourlyDigest, WaitReading, vcpu_wait};
use vdc_types::*;

use crate::app::{App, Part};

/// Hosts sampled per blocking task.
const BATCH: usize = 64;

/// The load sampler's state: its last readings, since wait and demand are rates between two.
#[derive(Debug, Default)]
pub(crate) struct LoadState {
    /// Per host, the last vCPU counter reading.
    hosts: std::sync::Mutex<HashMap<HostId, WaitReading>>,
    /// Per VM, its CPU readings (the balancer and consolidation read the demand).
    vms: std::sync::Mutex<HashMap<uuid::Uuid, VmCpu>>,
    /// The load readings of the metrics collector's last stats pass, with when it was taken
    /// (unix ms), until the sampler takes them.
    offered: std::sync::Mutex<Option<(i64, Readings)>>,
}

/// What each connected host reported in a pass (`None`: it did not answer).
type Readings = Vec<(db::HostHead, Option<Sample>)>;

/// One host's stats and its running VMs' counters, read in one go.
pub(crate) struct HostStatsReading {
    /// The driver's clock when they were read.
    pub at_ns: u128,
    pub host: vdc_driver::HostStats,
    pub vms: Vec<(uuid::Uuid, vdc_driver::VmStats)>,
}

/// One stats pass: every connected host's stats and its VMs' counters.
pub(crate) async fn stats_pass(
    app: &App,
) -> Result<Vec<(db::HostHead, Option<HostStatsReading>)>, Error> {
    read_connected_hosts(app, |d| {
        let host = d.host_stats().ok()?;
        let vms = d.all_vm_stats().ok()?;
        Some(HostStatsReading {
            at_ns: d.clock_ns(),
            host,
            vms,
        })
    })
    .await
}

/// Leaves the load readings of a stats pass taken at `at_ms` for the next sample.
pub(crate) fn offer(app: &App, at_ms: i64, pass: &[(db::HostHead, Option<HostStatsReading>)]) {
    let readings = pass
        .iter()
        .map(|(h, r)| (h.clone(), r.as_ref().map(Sample::of)))
        .collect();
    *app.part::<LoadState>()
        .offered
        .lock()
        .expect("offered lock") = Some((at_ms, readings));
}

impl Part for LoadState {
    fn new(_: &App) -> Self {
        LoadState::default()
    }
}

/// What one host reported.
#[derive(Debug)]
struct Sample {
    cpu: f64,
    reading: WaitReading,
    /// Each running VM's counters.
    vms: Vec<VmReading>,
    /// The share of the running VMs' memory the balloon took back.
    balloon: f64,
}

impl Sample {
    /// The load reading of a host's stats.
    fn of(r: &HostStatsReading) -> Sample {
        let vms = &r.vms;
        let reading = WaitReading {
            at_ns: r.at_ns,
            delay_ns: vms
                .iter()
                .flat_map(|(_, s)| &s.vcpu_delay_ns)
                .map(|&d| u128::from(d))
                .sum(),
            vcpus: vms.iter().map(|(_, s)| s.vcpu_delay_ns.len() as u64).sum(),
        };
        let (mut given, mut taken) = (0u64, 0u64);
        for (_, s) in vms {
            if let (Some(b), Some(max)) = (s.balloon_current_mib, s.balloon_maximum_mib) {
                given += max;
                taken += max.saturating_sub(b);
            }
        }
        Sample {
            cpu: r.host.cpu_utilisation,
            reading,
            vms: vms
                .iter()
                .map(|(id, s)| VmReading {
                    id: *id,
                    cpu_ns: s.cpu_time_ns,
                    vcpus: s.vcpu_delay_ns.len() as u32,
                    swap_kib: s.swap_in_kib.zip(s.swap_out_kib).map(|(i, o)| i + o),
                })
                .collect(),
            balloon: if given > 0 {
                taken as f64 / given as f64
            } else {
                0.0
            },
        }
    }
}

/// One VM's cumulative counters at a reading.
#[derive(Debug)]
struct VmReading {
    id: uuid::Uuid,
    cpu_ns: u64,
    vcpus: u32,
    /// Swap in + out, KiB, when the hypervisor reports it.
    swap_kib: Option<u64>,
}

/// A VM's last CPU-time reading, the demand measured between the last two, and the histogram
/// of its demand per vCPU.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VmCpu {
    at_ns: u128,
    cpu_ns: u64,
    vcpus: u32,
    swap_kib: Option<u64>,
    /// Logical CPUs busy, `None` until two readings compare.
    pub demand: Option<f64>,
    shares: Histogram,
}

impl App {
    /// Each measured VM's CPU demand in logical CPUs: at the `percentile` of its samples when
    /// given (see [`VmCpu::demand_at`]), else the last measured.
    pub(crate) fn vm_demands(&self, percentile: Option<f64>) -> HashMap<uuid::Uuid, f64> {
        self.part::<LoadState>()
            .vms
            .lock()
            .expect("vm cpu lock")
            .iter()
            .filter_map(|(id, c)| Some((*id, c.demand_at(percentile)?)))
            .collect()
    }
}

/// Samples a VM needs before its percentile stands for it.
const MIN_SAMPLES: u32 = 10;

impl VmCpu {
    /// Its demand (logical CPUs) at the `p`-th percentile of what was measured, once there are
    /// enough samples; else the last measured demand.
    pub(crate) fn demand_at(&self, p: Option<f64>) -> Option<f64> {
        match p {
            Some(p) if self.shares.samples() >= MIN_SAMPLES => {
                self.shares.percentile(p).map(|s| s * f64::from(self.vcpus))
            }
            _ => self.demand,
        }
    }
}

/// Samples every connected host once; returns how many answered. A host that fails is left
/// as it was (the inventory sync reports it).
pub async fn sample_all(app: &App) -> Result<usize, Error> {
    let now = db::now_ms();
    let hour = ((now / 3_600_000) % 24) as u32;
    // The collector's pass when it is at most one metrics interval old, else our own.
    let fresh = app
        .config
        .metrics
        .interval
        .map_or(0, |d| d.as_millis() as i64);
    let offered = app
        .part::<LoadState>()
        .offered
        .lock()
        .expect("offered lock")
        .take()
        .filter(|(at, _)| now - at <= fresh);
    let read: Readings = match offered {
        Some((_, read)) => read,
        None => stats_pass(app)
            .await?
            .into_iter()
            .map(|(h, r)| (h, r.as_ref().map(Sample::of)))
            .collect(),
    };
    let hosts: HashMap<HostId, db::Host> = app
        .db
        .all_hosts()
        .await?
        .into_iter()
        .map(|h| (h.id, h))
        .collect();
    // Every VM's counters against its last reading: CPU work, off the async threads.
    let state = app.part::<LoadState>();
    let (read, hosts, loads) = tokio::task::spawn_blocking(move || {
        let mut loads = Vec::with_capacity(read.len());
        let mut readings = state.hosts.lock().expect("readings lock");
        let mut vm_cpu = state.vms.lock().expect("vm cpu lock");
        for (h, s) in &read {
            let (Some(s), Some(h)) = (s, hosts.get(&h.id)) else {
                continue;
            };
            // Swap traffic of the host's VMs, KiB/s; `None` until a VM's two readings compare.
            let mut swap_kib_s: Option<f64> = None;
            for &VmReading {
                id,
                cpu_ns,
                vcpus,
                swap_kib,
            } in &s.vms
            {
                let at_ns = s.reading.at_ns;
                let before = vm_cpu.get(&id).copied();
                let dt = before
                    .and_then(|b| at_ns.checked_sub(b.at_ns))
                    .filter(|&dt| dt > 0);
                let demand = before.zip(dt).and_then(|(b, dt)| {
                    let dc = cpu_ns.checked_sub(b.cpu_ns)?;
                    Some(dc as f64 / dt as f64)
                });
                if let Some(rate) = before.zip(dt).and_then(|(b, dt)| {
                    let ds = swap_kib?.checked_sub(b.swap_kib?)?;
                    Some(ds as f64 * 1e9 / dt as f64)
                }) {
                    *swap_kib_s.get_or_insert(0.0) += rate;
                }
                let mut shares = before.map(|b| b.shares).unwrap_or_default();
                if let Some(d) = demand {
                    shares.add(d / f64::from(vcpus.max(1)));
                }
                vm_cpu.insert(
                    id,
                    VmCpu {
                        at_ns,
                        cpu_ns,
                        vcpus,
                        swap_kib,
                        demand,
                        shares,
                    },
                );
            }
            let wait = readings
                .insert(h.id, s.reading)
                .and_then(|before| vcpu_wait(before, s.reading));
            let mut digest: HourlyDigest = h
                .load
                .as_ref()
                .and_then(|l| serde_json::from_str(&l.digest).ok())
                .unwrap_or_default();
            digest.add(hour, s.cpu);
            loads.push((
                h.id,
                db::HostLoad {
                    sampled_at: now,
                    cpu_load: s.cpu,
                    // Until two readings compare, the last known wait stands.
                    vcpu_wait: wait.or(h.load.as_ref().and_then(|l| l.vcpu_wait)),
                    balloon: s.balloon,
                    swap_kib_s: swap_kib_s
                        .or(h.load.as_ref().map(|l| l.swap_kib_s))
                        .unwrap_or(0.0),
                    digest: serde_json::to_string(&digest)
                        .map_err(|e| Error::internal(format!("load digest: {e}")))?,
                },
            ));
        }
        Ok::<_, Error>((read, hosts, loads))
    })
    .await
    .map_err(|e| Error::internal(format!("load sampling panicked: {e}")))??;
    app.db.record_host_loads(&loads).await?;
    let hosts: Vec<db::Host> = read
        .iter()
        .filter_map(|(h, _)| hosts.get(&h.id).cloned())
        .collect();
    let cpu: HashMap<HostId, f64> = loads.iter().map(|(h, l)| (*h, l.cpu_load)).collect();
    let days = cluster_readings(app, &hosts, &cpu, day_of(now)).await?;
    app.db.record_cluster_days(&days).await?;
    Ok(loads.len())
}

/// Every connected host with what `read` got from its driver (`None`: the host did not
/// answer), reading batches of hosts on the blocking pool.
pub(crate) async fn read_connected_hosts<T, F>(
    app: &App,
    read: F,
) -> Result<Vec<(db::HostHead, Option<T>)>, Error>
where
    T: Send + 'static,
    F: Fn(&dyn vdc_driver::HostDriver) -> Option<T> + Send + Copy + 'static,
{
    let hosts: Vec<db::HostHead> = app
        .db
        .host_heads()
        .await?
        .into_iter()
        .filter(|h| h.state == HostState::Connected)
        .collect();
    let mut out = Vec::with_capacity(hosts.len());
    for chunk in hosts.chunks(BATCH) {
        let drivers: Vec<_> = chunk
            .iter()
            .map(|h| app.fleet.driver(&h.uri).ok())
            .collect();
        let got: Vec<Option<T>> = tokio::task::spawn_blocking(move || {
            drivers.into_iter().map(|d| read(d?.as_ref())).collect()
        })
        .await
        .map_err(|e| Error::internal(format!("host reading task panicked: {e}")))?;
        out.extend(chunk.iter().cloned().zip(got));
    }
    Ok(out)
}

/// Days since 1970-01-01 (UTC) of a Unix time in milliseconds.
pub(crate) fn day_of(ms: i64) -> i64 {
    ms.div_euclid(86_400_000)
}

/// Each cluster's allocations, CPU demand and capacities now, as a reading of `day`.
async fn cluster_readings(
    app: &App,
    hosts: &[db::Host],
    loads: &HashMap<HostId, f64>,
    day: i64,
) -> Result<Vec<db::ClusterDay>, Error> {
    let alloc: HashMap<HostId, (u64, u64)> = app
        .db
        .host_allocations()
        .await?
        .into_iter()
        .map(|(h, v, m)| (h, (v, m)))
        .collect();
    let mut out = Vec::new();
    for c in app.db.list_clusters().await? {
        let mut d = db::ClusterDay {
            cluster_id: c.id,
            day,
            vcpus_allocated: 0,
            vcpu_capacity: 0,
            memory_allocated_mib: 0,
            memory_capacity_mib: 0,
            cpu_demand: 0.0,
            cpu_capacity: 0.0,
        };
        for h in hosts.iter().filter(|h| h.cluster_id == c.id) {
            let logical = h.topology.logical_cpus();
            let (v, m) = alloc.get(&h.id).copied().unwrap_or((0, 0));
            let (vcpu_cap, memory_cap) = c.caps(h);
            d.vcpus_allocated += v;
            d.memory_allocated_mib += m;
            d.vcpu_capacity += vcpu_cap;
            d.memory_capacity_mib += memory_cap;
            d.cpu_capacity += f64::from(logical);
            d.cpu_demand += loads.get(&h.id).copied().unwrap_or(0.0) * f64::from(logical);
        }
        out.push(d);
    }
    Ok(out)
}
