//! Host ratings for a VM (the engine's `rating` pipeline over a snapshot of the store), used
//! by VM creation and shown by `POST /api/v1/placement/ratings`.

use std::collections::HashMap;
use vdc_db as db;
use vdc_engine::rating::{self, DEFAULT_VCPU_RATIO, HostSnapshot, Policy, Rating, VmRequest};
use vdc_types::*;

use crate::app::App;
use crate::auth::Actor;

/// The size and needs of a VM to place.
#[derive(Debug, Clone)]
pub(crate) struct Need {
    pub vcpus: u32,
    pub memory_mib: u64,
    /// (datastore or any, GiB)
    pub disks: Vec<(Option<String>, u64)>,
    pub networks: Vec<String>,
    pub department: Option<DepartmentId>,
}

impl Need {
    /// The needs of a VM described by size, disks and NICs (as in a creation request).
    pub(crate) fn of(
        vcpus: u32,
        memory_mib: u64,
        disks: &[DiskSpec],
        nics: &[NicSpec],
        department: Option<DepartmentId>,
    ) -> Need {
        Need {
            vcpus,
            memory_mib,
            disks: disks
                .iter()
                .map(|d| (d.datastore.clone(), d.size_gib))
                .collect(),
            networks: nics.iter().map(|n| n.network.clone()).collect(),
            department,
        }
    }

    fn request(&self) -> VmRequest {
        VmRequest {
            vcpus: self.vcpus,
            memory_mib: self.memory_mib,
            disks: self.disks.clone(),
            networks: self.networks.clone(),
            department: self.department,
            ..VmRequest::default()
        }
    }
}

impl App {
    /// The hosts as the rating sees them: hardware, allocations of VMs holding resources, and
    /// their cluster's datastores and networks. Overcommit: 4 vCPUs per logical CPU, none for
    /// memory (per-cluster ratios come with cluster settings).
    async fn host_snapshots(&self, hosts: &[db::Host]) -> Result<Vec<HostSnapshot>, Error> {
        let alloc: HashMap<HostId, (u64, u64)> = self
            .db
            .host_allocations()
            .await?
            .into_iter()
            .map(|(h, c, m)| (h, (c, m)))
            .collect();
        let mut datastores: HashMap<ClusterId, Vec<(String, u64)>> = HashMap::new();
        for d in self.db.list_datastores().await? {
            datastores
                .entry(d.cluster_id)
                .or_default()
                .push((d.name, d.free_gib));
        }
        let mut networks: HashMap<ClusterId, Vec<String>> = HashMap::new();
        for n in self.db.list_networks().await? {
            networks.entry(n.cluster_id).or_default().push(n.name);
        }
        Ok(hosts
            .iter()
            .map(|h| {
                let (vcpus, mem) = alloc.get(&h.id).copied().unwrap_or((0, 0));
                let mut features = h.cpu_features.clone();
                features.sort();
                HostSnapshot {
                    id: h.id,
                    name: h.name.clone(),
                    cluster: h.cluster_id,
                    reachable: h.state == HostState::Connected,
                    maintenance: h.maintenance,
                    powered_on: true,
                    logical_cpus: h.sockets * h.cores_per_socket * h.threads_per_core,
                    memory_mib: h.memory_mib,
                    numa_cells: h
                        .numa_cells
                        .iter()
                        .map(|c| rating::NumaCell {
                            cpus: c.cpus,
                            memory_mib: c.memory_mib,
                        })
                        .collect(),
                    allocated_vcpus: vcpus,
                    allocated_memory_mib: mem,
                    vcpu_ratio: DEFAULT_VCPU_RATIO,
                    memory_ratio: 1.0,
                    cpu_vendor: h.cpu_vendor.clone(),
                    cpu_model: h.cpu_model.clone(),
                    cpu_features: features,
                    datastores: datastores.get(&h.cluster_id).cloned().unwrap_or_default(),
                    networks: networks.get(&h.cluster_id).cloned().unwrap_or_default(),
                    dedicated_to: None,
                    licensed_software: Vec::new(),
                    licence_cost_per_vcpu: 0.0,
                    cpu_load: 0.0,
                    hourly_load: None,
                    vcpu_wait: 0.0,
                    groups: Vec::new(),
                }
            })
            .collect())
    }

    /// Rates `hosts` for `need`.
    pub(crate) async fn rate_hosts(
        &self,
        hosts: &[db::Host],
        need: &Need,
    ) -> Result<Rating, Error> {
        let snapshot = self.host_snapshots(hosts).await?;
        Ok(rating::rate(&snapshot, &need.request(), &Policy::default()))
    }

    /// Every host rated for a VM to create (by size) or an existing VM (by id).
    pub async fn rate_placement(
        &self,
        actor: &Actor,
        p: PlacementParams,
    ) -> Result<RatingView, Error> {
        p.validate()?;
        let need = match p.vm_id {
            Some(id) => {
                let vm = self.visible_vm(actor, id).await?;
                Need {
                    vcpus: vm.vcpus,
                    memory_mib: vm.memory_mib,
                    disks: vm
                        .disks
                        .iter()
                        .map(|d| (Some(d.datastore.clone()), d.size_gib))
                        .collect(),
                    networks: vm.nics.iter().map(|n| n.network.clone()).collect(),
                    department: vm.department_id,
                }
            }
            None => Need::of(
                p.vcpus.unwrap_or(1),
                p.memory_mib.unwrap_or(0),
                &p.disks,
                &p.nics,
                p.department_id.or(actor.scope()),
            ),
        };
        let hosts = self.db.all_hosts().await?;
        Ok(view(&self.rate_hosts(&hosts, &need).await?))
    }
}

/// The wire form of a rating.
pub(crate) fn view(r: &Rating) -> RatingView {
    RatingView {
        chosen: r.chosen,
        hosts: r
            .hosts
            .iter()
            .map(|h| HostRatingView {
                host_id: h.id,
                name: h.name.clone(),
                stars: h.stars,
                score: h.score,
                contributions: h
                    .contributions
                    .iter()
                    .map(|(k, v)| (k.as_str().to_string(), *v))
                    .collect(),
                rejected_by: h.rejected_by.map(|f| f.as_str().to_string()),
                unmet: h.unmet.iter().map(|u| u.as_str().to_string()).collect(),
            })
            .collect(),
        rejected: r
            .rejected
            .iter()
            .map(|(f, n)| (f.as_str().to_string(), *n))
            .collect(),
        relaxed: r.relaxed.iter().map(|s| s.as_str().to_string()).collect(),
    }
}

/// "h1 4.5★, h2 4★, h3 3.5★": the best hosts of a rating, for audit records.
pub(crate) fn top(r: &Rating, n: usize) -> String {
    r.hosts
        .iter()
        .filter(|h| h.rejected_by.is_none())
        .take(n)
        .map(|h| format!("{} {}★", h.name, h.stars))
        .collect::<Vec<_>>()
        .join(", ")
}
