//! `/metrics` in the OpenMetrics text format Prometheus scrapes: every host and every VM the
//! caller may see, with its inventory (vCPUs, memory, running or not) and the collector's
//! latest sample, labelled by host, cluster, department and owner so dashboards can group
//! them as vdc does.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::time::Duration;
use vdc_db::{self as db};
use vdc_types::*;

use crate::app::{Actor, App};
use crate::monitoring::metrics::{MetricStore, host_entity, vm_entity};

/// The content type of the answer.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

const MIB: f64 = 1024.0 * 1024.0;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VmLabels {
    vm_id: String,
    vm: String,
    host: String,
    cluster: String,
    department: String,
    owner: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HostLabels {
    host_id: String,
    host: String,
    cluster: String,
}

type Gauges<L> = Family<L, Gauge<f64, AtomicU64>>;

/// A metric's exposed name (after `vdc_vm_` or `vdc_host_`), help, and the factor to base
/// units (bytes, not MiB or KiB).
fn exposed(m: Metric) -> (&'static str, &'static str, f64) {
    match m {
        Metric::Cpu => (
            "cpu_percent",
            "CPU busy, % of the vCPUs (a host: of its CPUs)",
            1.0,
        ),
        Metric::VcpuDelay => (
            "vcpu_delay_percent",
            "Time vCPUs waited for a host CPU (CPU ready / steal), % per vCPU",
            1.0,
        ),
        Metric::MemoryMib => (
            "memory_used_bytes",
            "Memory in use seen from the host (a VM: its resident memory)",
            MIB,
        ),
        Metric::BalloonMib => (
            "balloon_bytes",
            "A VM: memory its balloon leaves the guest; a host: memory balloons took back",
            MIB,
        ),
        Metric::SwapInKibS => ("swap_in_bytes_per_second", "Guest swap-in traffic", 1024.0),
        Metric::SwapOutKibS => (
            "swap_out_bytes_per_second",
            "Guest swap-out traffic",
            1024.0,
        ),
        Metric::DiskReadBytesS => (
            "disk_read_bytes_per_second",
            "Disk reads over all disks",
            1.0,
        ),
        Metric::DiskWriteBytesS => (
            "disk_write_bytes_per_second",
            "Disk writes over all disks",
            1.0,
        ),
        Metric::DiskReadOpsS => ("disk_read_ops_per_second", "Disk read operations", 1.0),
        Metric::DiskWriteOpsS => ("disk_write_ops_per_second", "Disk write operations", 1.0),
        Metric::NetRxBytesS => (
            "network_receive_bytes_per_second",
            "Network traffic received over all NICs",
            1.0,
        ),
        Metric::NetTxBytesS => (
            "network_transmit_bytes_per_second",
            "Network traffic sent over all NICs",
            1.0,
        ),
    }
}

/// The gauges of one kind of entity: inventory gauges by name, then one per [`Metric`].
struct Kind<L> {
    inventory: Vec<Gauges<L>>,
    metrics: Vec<Gauges<L>>,
}

impl<L> Kind<L>
where
    L: Clone + std::hash::Hash + Eq + std::fmt::Debug + EncodeLabelSet + Send + Sync + 'static,
{
    fn register(reg: &mut Registry, prefix: &str, inventory: &[(&str, &str)]) -> Kind<L> {
        let mut add = |name: String, help: &str| {
            let f = Gauges::<L>::default();
            reg.register(name, help, f.clone());
            f
        };
        Kind {
            inventory: inventory
                .iter()
                .map(|(n, h)| add(format!("{prefix}_{n}"), h))
                .collect(),
            metrics: Metric::ALL
                .iter()
                .map(|m| {
                    let (n, h, _) = exposed(*m);
                    add(format!("{prefix}_{n}"), h)
                })
                .collect(),
        }
    }

    /// Sets an entity's inventory values and, when it has one, its latest sample.
    fn set(&self, labels: &L, inventory: &[f64], sample: Option<&vdc_db::metrics::Sample>) {
        for (g, v) in self.inventory.iter().zip(inventory) {
            g.get_or_create(labels).set(*v);
        }
        let Some(s) = sample else { return };
        for (m, g) in Metric::ALL.iter().zip(&self.metrics) {
            let v = s[m.index()];
            if !v.is_nan() {
                g.get_or_create(labels).set(f64::from(v) * exposed(*m).2);
            }
        }
    }
}

impl App {
    /// The OpenMetrics text of the hosts and of the VMs `actor` may see.
    pub async fn prometheus(&self, actor: &Actor) -> Result<String, Error> {
        let interval = self
            .config
            .metrics
            .interval
            .unwrap_or(Duration::from_secs(20));
        // Samples older than a few collection rounds are stale: the entity stopped reporting.
        let since = db::now_ms() - (interval * 3).max(Duration::from_secs(120)).as_millis() as i64;
        let latest = self.part::<MetricStore>().latest(since);
        let hosts = self.db.all_hosts().await?;
        let vms = self
            .every_vm(db::VmFilter {
                scope: actor.read_scope().map(|s| (s.departments, s.clusters)),
                ..db::VmFilter::default()
            })
            .await?;
        let clusters = self.cluster_names().await?;
        let departments = self.department_names().await?;
        let host_names: HashMap<HostId, &str> =
            hosts.iter().map(|h| (h.id, h.name.as_str())).collect();
        let cluster_name = |c: Option<ClusterId>| {
            c.and_then(|c| clusters.get(&c).cloned())
                .unwrap_or_default()
        };

        let mut reg = Registry::with_prefix("vdc");
        let host_kind = Kind::<HostLabels>::register(
            &mut reg,
            "host",
            &[
                ("up", "1 when vdc is connected to the host"),
                ("cpus", "Logical CPUs"),
                ("memory_bytes", "Physical memory"),
            ],
        );
        let vm_kind = Kind::<VmLabels>::register(
            &mut reg,
            "vm",
            &[
                ("running", "1 when the VM runs"),
                ("vcpus", "vCPUs allocated"),
                ("memory_allocated_bytes", "Memory allocated"),
            ],
        );
        for h in &hosts {
            let labels = HostLabels {
                host_id: h.id.to_string(),
                host: h.name.clone(),
                cluster: cluster_name(Some(h.cluster_id)),
            };
            let up = f64::from(u8::from(h.state == HostState::Connected));
            let cpus = f64::from(h.topology.logical_cpus());
            host_kind.set(
                &labels,
                &[up, cpus, h.memory_mib as f64 * MIB],
                latest.get(&host_entity(h.id)),
            );
        }
        for v in &vms {
            let labels = VmLabels {
                vm_id: v.id.to_string(),
                vm: v.name.clone(),
                host: v
                    .host_id
                    .and_then(|h| host_names.get(&h))
                    .map(|h| h.to_string())
                    .unwrap_or_default(),
                cluster: cluster_name(v.cluster_id),
                department: v
                    .department_id
                    .and_then(|d| departments.get(&d).cloned())
                    .unwrap_or_default(),
                owner: v.owner.clone().unwrap_or_default(),
            };
            let running = f64::from(u8::from(v.power_state == PowerState::Running));
            vm_kind.set(
                &labels,
                &[running, f64::from(v.vcpus), v.memory_mib as f64 * MIB],
                latest.get(&vm_entity(v.id)),
            );
        }
        let mut out = String::with_capacity(256 * (hosts.len() + vms.len()) * Metric::COUNT);
        prometheus_client::encoding::text::encode(&mut out, &reg)
            .map_err(|e| Error::internal(format!("encoding metrics: {e}")))?;
        Ok(out)
    }
}
