//! High availability, the parts that need the store: each VM's restart settings and each
//! cluster's failover reserve, and admission control, which refuses to start a VM that would
//! eat into the reserve (`engine::ha::admission`).

use std::collections::{HashMap, HashSet};

use vdc_db::ha::VmHa;
use vdc_db::{self as db};
use vdc_engine::ha::{self as engine, CapacityHost, Reserve};
use vdc_types::*;

use crate::app::{Actor, On};
use crate::app::{App, on_vm};

fn ha_view(id: VmId, ha: &VmHa) -> VmHaView {
    VmHaView {
        vm_id: id,
        priority: ha.priority,
        policy: ha.policy,
        depends_on: ha.depends_on.clone(),
    }
}

fn amount(a: engine::Amount) -> AmountView {
    AmountView {
        vcpus: a.vcpus,
        memory_mib: a.memory_mib,
    }
}

fn cluster_ha_view(id: ClusterId, reserve: HaReserve, a: &engine::Admission) -> ClusterHaView {
    ClusterHaView {
        cluster_id: id,
        reserve,
        capacity: amount(a.capacity),
        reserved: amount(a.reserved),
        used: amount(a.used),
        headroom: amount(a.headroom()),
    }
}

/// The engine's reserve for the API's.
pub fn reserve_of(r: &HaReserve) -> Reserve {
    match r {
        HaReserve::None => Reserve::None,
        HaReserve::HostFailures { hosts } => Reserve::HostFailures(*hosts),
        HaReserve::Percent { cpu, memory } => Reserve::Percent {
            cpu: *cpu,
            memory: *memory,
        },
        HaReserve::FailoverHosts { hosts } => Reserve::FailoverHosts(hosts.clone()),
    }
}

/// The dependency path from `from` to `to` through `deps`, if there is one.
fn path(deps: &HashMap<VmId, Vec<VmId>>, from: VmId, to: VmId) -> Option<Vec<VmId>> {
    let mut stack = vec![vec![from]];
    let mut seen = HashSet::new();
    while let Some(p) = stack.pop() {
        let last = *p.last().expect("a path has a VM");
        if last == to {
            return Some(p);
        }
        if !seen.insert(last) {
            continue;
        }
        for d in deps.get(&last).into_iter().flatten() {
            let mut next = p.clone();
            next.push(*d);
            stack.push(next);
        }
    }
    None
}

impl App {
    /// A VM's HA settings.
    pub async fn vm_ha(&self, actor: &Actor, id: VmId) -> Result<VmHaView, Error> {
        self.visible_vm(actor, id).await?;
        Ok(ha_view(id, &self.db.vm_ha(id).await?))
    }

    /// Changes a VM's HA settings; dependencies must be VMs the caller sees and may not form a
    /// cycle.
    pub async fn set_vm_ha(
        &self,
        actor: &Actor,
        id: VmId,
        p: VmHaParams,
    ) -> Result<VmHaView, Error> {
        p.validate(id)?;
        let vm = self.visible_vm(actor, id).await?;
        let check = actor.require(Permission::VmOperate, on_vm(&vm));
        self.authorize(actor, "vm.ha.update", ("vm", Some(id.to_string())), check)
            .await?;
        let mut ha = self.db.vm_ha(id).await?;
        if let Some(d) = &p.depends_on {
            let mut names = Vec::new();
            for dep in d {
                let v = self
                    .visible_vm(actor, *dep)
                    .await
                    .map_err(|_| Error::invalid("depends_on", format!("no such VM: {dep}")))?;
                names.push(v.name);
            }
            let mut graph: HashMap<VmId, Vec<VmId>> = self
                .db
                .all_vm_ha()
                .await?
                .into_iter()
                .map(|(k, v)| (k, v.depends_on))
                .collect();
            graph.insert(id, d.clone());
            // A cycle through the VM: a path back to it from one of its new dependencies.
            if let Some(cycle) = d.iter().find_map(|dep| {
                path(&graph, *dep, id).map(|mut p| {
                    p.insert(0, id);
                    p
                })
            }) {
                let mut shown = Vec::new();
                for v in cycle {
                    shown.push(self.db.get_vm(v).await.map_or(v.to_string(), |v| v.name));
                }
                return Err(Error::invalid(
                    "depends_on",
                    format!("would make a cycle: {}", shown.join(" → ")),
                ));
            }
            ha.depends_on = d.clone();
        }
        if let Some(pr) = p.priority {
            ha.priority = pr;
        }
        if let Some(po) = p.policy {
            ha.policy = po;
        }
        self.db.set_vm_ha(id, &ha).await?;
        self.audit(
            actor.name(),
            "vm.ha.update",
            ("vm", Some(id.to_string())),
            AuditResult::Ok,
            Some(format!(
                "priority={} policy={} depends_on={}",
                ha.priority,
                ha.policy,
                ha.depends_on.len()
            )),
        )
        .await;
        Ok(ha_view(id, &ha))
    }

    /// A cluster's reserve and admission figures now.
    pub async fn cluster_ha(&self, id: ClusterId) -> Result<ClusterHaView, Error> {
        let cluster = self.cluster(id).await?;
        let reserve = self.db.cluster_reserve(id).await?;
        let a = self
            .admission(&cluster, &reserve, &self.db.all_hosts().await?)
            .await?;
        Ok(cluster_ha_view(id, reserve, &a))
    }

    /// Sets a cluster's failover reserve (failover hosts must be in the cluster); refused
    /// when what runs already breaks it.
    pub async fn set_cluster_ha(
        &self,
        actor: &Actor,
        id: ClusterId,
        p: ClusterHaParams,
    ) -> Result<ClusterHaView, Error> {
        p.validate()?;
        let check = actor.require(Permission::ClusterManage, On::cluster(id));
        self.authorize(
            actor,
            "cluster.ha.update",
            ("cluster", Some(id.to_string())),
            check,
        )
        .await?;
        let cluster = self.cluster(id).await?;
        if let HaReserve::FailoverHosts { hosts } = &p.reserve {
            for h in hosts {
                let host = self.db.get_host(*h).await.ok();
                if host.is_none_or(|x| x.cluster_id != id) {
                    return Err(Error::invalid(
                        "reserve.hosts",
                        format!("{h} is not a host of cluster {}", cluster.name),
                    ));
                }
            }
        }
        let a = self
            .admission(&cluster, &p.reserve, &self.db.all_hosts().await?)
            .await?;
        if let Err(why) = a.kept() {
            return Err(Error::conflict(format!(
                "the VMs running in cluster {} leave no room for that reserve: {why}",
                cluster.name
            )));
        }
        self.db.set_cluster_reserve(id, &p.reserve).await?;
        self.audit(
            actor.name(),
            "cluster.ha.update",
            ("cluster", Some(id.to_string())),
            AuditResult::Ok,
            Some(format!("reserve={:?}", p.reserve)),
        )
        .await;
        Ok(cluster_ha_view(id, p.reserve, &a))
    }

    /// Every cluster's reserve and admission figures (hosts and clusters read once).
    pub(crate) async fn all_clusters_ha(&self) -> Result<Vec<(String, ClusterHaView)>, Error> {
        let hosts = self.db.all_hosts().await?;
        let mut out = Vec::new();
        for c in self.db.list_clusters().await? {
            let reserve = self.db.cluster_reserve(c.id).await?;
            let a = self.admission(&c, &reserve, &hosts).await?;
            out.push((c.name.clone(), cluster_ha_view(c.id, reserve, &a)));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// The admission figures of a cluster under `reserve`: its connected hosts outside
    /// maintenance (among `hosts`), and its running VMs.
    async fn admission(
        &self,
        cluster: &db::Cluster,
        reserve: &HaReserve,
        hosts: &[db::Host],
    ) -> Result<engine::Admission, Error> {
        let hosts: Vec<&db::Host> = hosts
            .iter()
            .filter(|h| h.cluster_id == cluster.id)
            .collect();
        let running = self
            .every_vm(db::VmFilter {
                cluster_id: Some(cluster.id),
                state: Some(PowerState::Running),
                ..db::VmFilter::default()
            })
            .await?;
        let mut used: HashMap<HostId, (u64, u64)> = HashMap::new();
        for v in &running {
            if let Some(h) = v.host_id {
                let u = used.entry(h).or_default();
                u.0 += u64::from(v.vcpus);
                u.1 += v.memory_mib;
            }
        }
        let capacity: Vec<CapacityHost> = hosts
            .iter()
            .filter(|h| h.state == HostState::Connected && !h.maintenance)
            .map(|h| {
                let (vcpus, memory_mib) = cluster.caps(h);
                let (uv, um) = used.get(&h.id).copied().unwrap_or_default();
                CapacityHost {
                    id: h.id,
                    vcpus,
                    memory_mib,
                    used_vcpus: uv,
                    used_memory_mib: um,
                }
            })
            .collect();
        Ok(engine::admission(&capacity, &reserve_of(reserve)))
    }

    /// Refuses (409, with the figures) to start `vcpus` and `memory_mib` in a cluster when it
    /// would eat into the cluster's failover reserve.
    pub(crate) async fn check_admission(
        &self,
        cluster: ClusterId,
        vcpus: u32,
        memory_mib: u64,
    ) -> Result<(), Error> {
        let reserve = self.db.cluster_reserve(cluster).await?;
        if reserve == HaReserve::None {
            return Ok(());
        }
        let c = self.cluster(cluster).await?;
        let a = self
            .admission(&c, &reserve, &self.db.all_hosts().await?)
            .await?;
        a.admits(u64::from(vcpus), memory_mib)
            .map_err(|why| Error::conflict(format!("cannot start it in cluster {}: {why}", c.name)))
    }
}
