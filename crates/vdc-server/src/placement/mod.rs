//! Host ratings for a VM (the engine's `rating` pipeline over a snapshot of the store), used
//! by VM creation and shown by `POST /api/v1/placement/ratings`.

use std::collections::HashMap;
use vdc_db as db;
use vdc_engine::load::HourlyDigest;
use vdc_engine::rating::{self, HostSnapshot, Policy, Rating, VmRequest};
use vdc_types::*;

use crate::app::Actor;
use crate::app::App;

/// The size and needs of a VM to place.
#[derive(Debug, Clone)]
pub(crate) struct Need {
    pub vcpus: u32,
    pub memory_mib: u64,
    /// (datastore or any, GiB)
    pub disks: Vec<(Option<String>, u64)>,
    pub networks: Vec<String>,
    pub department: Option<DepartmentId>,
    pub constraints: PlacementConstraints,
}

impl Need {
    /// The needs of a VM described by size, disks and NICs (as in a creation request).
    pub(crate) fn of(
        vcpus: u32,
        memory_mib: u64,
        disks: &[DiskSpec],
        nics: &[NicSpec],
        department: Option<DepartmentId>,
        constraints: &PlacementConstraints,
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
            constraints: constraints.clone(),
        }
    }

    /// The needs of a VM to create.
    pub(crate) fn of_create(p: &VmCreateParams, department: Option<DepartmentId>) -> Need {
        Need::of(
            p.vcpus,
            p.memory_mib,
            &p.disks,
            &p.nics,
            department,
            &p.placement,
        )
    }

    pub(crate) fn request(&self) -> VmRequest {
        let c = &self.constraints;
        VmRequest {
            vcpus: self.vcpus,
            memory_mib: self.memory_mib,
            disks: self.disks.clone(),
            networks: self.networks.clone(),
            department: self.department,
            cpu_vendor: c.cpu_vendor.clone(),
            cpu_model: c.cpu_model.clone(),
            cpu_features: c.cpu_features.clone(),
            licensed_software: c.licensed_software.clone(),
            affinity: c.affinity_group.clone(),
            anti_affinity: c.anti_affinity_group.clone(),
            hourly_load: c.hourly_profile(),
            ha_restart: false,
        }
    }
}

/// The hourly load placement compares a VM's profile with: this percentile of each hour's
/// samples, once a host has this many samples.
const LOAD_PERCENTILE: f64 = 90.0;
const LOAD_MIN_SAMPLES: u32 = 30;

/// Hosts explained in a stored placement decision.
pub(crate) const DECISION_HOSTS: usize = 10;

/// What is stored with a VM vdc placed (as JSON in its placement record).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Decision {
    pub host_id: HostId,
    pub host_name: String,
    pub pinned: bool,
    pub rating: RatingView,
}

impl Decision {
    /// The decision to store: the host, and the best hosts of `rating` with every refusal.
    pub(crate) fn new(host: &db::Host, pinned: bool, rating: &Rating) -> Decision {
        let mut rating = view(rating);
        rating.hosts.truncate(DECISION_HOSTS);
        Decision {
            host_id: host.id,
            host_name: host.name.clone(),
            pinned,
            rating,
        }
    }
}

impl App {
    /// The hosts as the rating sees them: hardware, allocations of VMs holding resources,
    /// their cluster's overcommit ratios, datastores and networks, their department and
    /// licences, and the members of affinity groups they run.
    pub(crate) async fn host_snapshots(
        &self,
        hosts: &[db::Host],
    ) -> Result<Vec<HostSnapshot>, Error> {
        let ratios: HashMap<ClusterId, (f64, f64)> = self
            .db
            .list_clusters()
            .await?
            .into_iter()
            .map(|c| (c.id, (c.vcpu_ratio, c.memory_ratio)))
            .collect();
        let mut groups: HashMap<HostId, std::collections::BTreeMap<String, u32>> = HashMap::new();
        for (host, c) in self.db.grouped_vms().await? {
            let mut joined: Vec<String> = c
                .affinity_group
                .into_iter()
                .chain(c.anti_affinity_group)
                .collect();
            joined.dedup();
            for g in joined {
                *groups.entry(host).or_default().entry(g).or_insert(0) += 1;
            }
        }
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
        let failover = self.db.failover_hosts().await?;
        let mut networks: HashMap<ClusterId, Vec<String>> = HashMap::new();
        for n in self.db.list_networks().await? {
            networks.entry(n.cluster_id).or_default().push(n.name);
        }
        Ok(hosts
            .iter()
            .map(|h| {
                let (vcpus, mem) = alloc.get(&h.id).copied().unwrap_or((0, 0));
                let (vcpu_ratio, memory_ratio) = ratios
                    .get(&h.cluster_id)
                    .copied()
                    .unwrap_or((rating::DEFAULT_VCPU_RATIO, 1.0));
                let mut features = h.cpu_features.clone();
                features.sort();
                HostSnapshot {
                    id: h.id,
                    name: h.name.clone(),
                    cluster: h.cluster_id,
                    reachable: h.state == HostState::Connected,
                    maintenance: h.maintenance,
                    powered_on: true,
                    logical_cpus: h.topology.logical_cpus(),
                    memory_mib: h.memory_mib,
                    numa_cells: h.numa_cells.clone(),
                    allocated_vcpus: vcpus,
                    allocated_memory_mib: mem,
                    vcpu_ratio,
                    memory_ratio,
                    cpu_vendor: h.cpu_vendor.clone(),
                    cpu_model: h.cpu_model.clone(),
                    cpu_features: features,
                    datastores: datastores.get(&h.cluster_id).cloned().unwrap_or_default(),
                    networks: networks.get(&h.cluster_id).cloned().unwrap_or_default(),
                    dedicated_to: h.dedicated_to,
                    licensed_software: h.licensed_software.clone(),
                    licence_cost_per_vcpu: h.licence_cost_per_vcpu,
                    cpu_load: h.load.as_ref().map_or(0.0, |l| l.cpu_load),
                    hourly_load: h.load.as_ref().and_then(|l| {
                        serde_json::from_str::<HourlyDigest>(&l.digest)
                            .ok()?
                            .profile(LOAD_PERCENTILE, LOAD_MIN_SAMPLES)
                    }),
                    vcpu_wait: h.load.as_ref().and_then(|l| l.vcpu_wait).unwrap_or(0.0),
                    groups: groups
                        .get(&h.id)
                        .map(|g| g.iter().map(|(n, c)| (n.clone(), *c)).collect())
                        .unwrap_or_default(),
                    failover_reserved: failover.contains(&h.id),
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

    /// What an existing VM needs: its size, disks, networks, department, the constraints it
    /// was created with, and a host of its current host's CPU vendor (a running guest cannot
    /// move to another vendor's CPUs) unless it names one.
    pub(crate) async fn need_of_vm(&self, vm: &db::Vm) -> Result<Need, Error> {
        let mut constraints = self
            .db
            .vm_placement(vm.id)
            .await?
            .map(|p| p.constraints)
            .unwrap_or_default();
        if constraints.cpu_vendor.is_none()
            && let Some(h) = vm.host_id
        {
            let vendor = self.db.get_host(h).await?.cpu_vendor;
            constraints.cpu_vendor = (!vendor.is_empty()).then_some(vendor);
        }
        Ok(Need {
            vcpus: vm.vcpus,
            memory_mib: vm.memory_mib,
            disks: vm
                .disks
                .iter()
                .map(|d| (Some(d.datastore.clone()), d.size_gib))
                .collect(),
            networks: vm.nics.iter().map(|n| n.network.clone()).collect(),
            department: vm.department_id,
            constraints,
        })
    }

    /// Every host rated for a VM to create (by size) or an existing VM (by id).
    pub async fn rate_placement(
        &self,
        actor: &Actor,
        p: PlacementParams,
    ) -> Result<RatingView, Error> {
        p.validate()?;
        let need = match p.vm_id {
            Some(id) => self.need_of_vm(&self.visible_vm(actor, id).await?).await?,
            None => Need::of(
                p.vcpus.unwrap_or(1),
                p.memory_mib.unwrap_or(0),
                &p.disks,
                &p.nics,
                p.department_id.or(actor.user.department_id),
                &p.placement,
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
