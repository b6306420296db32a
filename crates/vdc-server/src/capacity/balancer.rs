//! The load balancer (like vSphere DRS): per cluster, the engine's `balance::plan` over the
//! hosts' measured CPU, contention and memory pressure and the VMs' measured demand.
//! `recommend` shows the plan (`GET /plans/balance`); `automatic` starts its migrations after
//! each load sample, a few per round, and — with power saving on — wakes a standby host or puts
//! an empty one in standby (`balance::power_plan`, see [`crate::capacity::power`]). Evacuating a host
//! puts it in maintenance and starts the migrations of its VMs.

use std::collections::{BTreeSet, HashMap, HashSet};
use vdc_db as db;
use vdc_engine::balance::{
    self, BalanceHost, BalanceParams, BalanceVm, PowerAction, PowerHost, PowerParams,
};
use vdc_types::*;

use crate::app::Actor;
use crate::app::App;
use crate::jobs::JobSpec;

/// Who starts the balancer's migrations, in jobs and the audit log.
const BALANCER: &str = "balancer";

/// A cluster's plan with the records it was made from.
struct ClusterPlan {
    view: BalancePlanView,
    /// (VM record, target) per move.
    moves: Vec<(db::Vm, HostId)>,
    /// The power step: (host, standby or wake, reason).
    power: Option<(db::Host, bool, String)>,
}

/// Per host, its migration class: live migration needs the same hypervisor and CPU vendor
/// on both ends.
pub(crate) fn migration_classes(hosts: &[&db::Host]) -> Vec<u32> {
    let mut classes: HashMap<(HypervisorType, &str), u32> = HashMap::new();
    hosts
        .iter()
        .map(|h| {
            let next = classes.len() as u32;
            *classes
                .entry((h.hypervisor, h.cpu_vendor.as_str()))
                .or_insert(next)
        })
        .collect()
}

/// Every VM of a cluster.
pub(crate) async fn cluster_vms(app: &App, cluster: ClusterId) -> Result<Vec<db::Vm>, Error> {
    app.every_vm(db::VmFilter {
        cluster_id: Some(cluster),
        ..db::VmFilter::default()
    })
    .await
}

impl App {
    /// The balancing plan of one cluster now.
    async fn cluster_plan(
        &self,
        cluster: &db::Cluster,
        hosts: &[db::Host],
        busy: &BTreeSet<String>,
        (demand, failover): (&HashMap<uuid::Uuid, f64>, &HashSet<HostId>),
        params: &BalanceParams,
    ) -> Result<ClusterPlan, Error> {
        let hosts: Vec<&db::Host> = hosts
            .iter()
            .filter(|h| h.cluster_id == cluster.id)
            .collect();
        let index: HashMap<HostId, usize> =
            hosts.iter().enumerate().map(|(i, h)| (h.id, i)).collect();
        let classes = migration_classes(&hosts);
        // Failover hosts are kept empty for HA: no balancing target, never put in standby.
        let bhosts: Vec<BalanceHost> = hosts
            .iter()
            .zip(&classes)
            .map(|(h, &class)| {
                let (vcpu_cap, memory_cap_mib) = cluster.caps(h);
                BalanceHost {
                    name: h.name.clone(),
                    cpus: f64::from(h.topology.logical_cpus()),
                    vcpu_cap,
                    memory_cap_mib,
                    vcpu_wait: h.load.as_ref().and_then(|l| l.vcpu_wait).unwrap_or(0.0),
                    balloon: h.load.as_ref().map_or(0.0, |l| l.balloon),
                    swap_kib_s: h.load.as_ref().map_or(0.0, |l| l.swap_kib_s),
                    maintenance: h.maintenance,
                    usable: h.state == HostState::Connected && !failover.contains(&h.id),
                    class,
                }
            })
            .collect();
        let vms: Vec<db::Vm> = cluster_vms(self, cluster.id)
            .await?
            .into_iter()
            .filter(|v| {
                v.host_id.is_some_and(|h| index.contains_key(&h))
                    && matches!(v.power_state, PowerState::Running | PowerState::Paused)
            })
            .collect();
        let bvms: Vec<BalanceVm> = vms
            .iter()
            .map(|v| BalanceVm {
                name: v.name.clone(),
                host: v.host_id.and_then(|h| index.get(&h).copied()).unwrap_or(0),
                vcpus: v.vcpus,
                memory_mib: v.memory_mib,
                cpu_demand: demand.get(&v.id.0).copied().unwrap_or(0.0),
                movable: v.management == Management::Managed && !busy.contains(&v.id.to_string()),
            })
            .collect();
        let plan = balance::plan(&bhosts, &bvms, params);
        let moves = plan
            .moves
            .iter()
            .map(|m| (vms[m.vm].clone(), hosts[m.to].id))
            .collect();
        let power = if cluster.power_saving {
            let mut running = vec![0usize; hosts.len()];
            for v in &bvms {
                running[v.host] += 1;
            }
            for m in &plan.moves {
                running[m.from] -= 1;
                running[m.to] += 1;
            }
            let phosts: Vec<PowerHost> = hosts
                .iter()
                .enumerate()
                .map(|(i, h)| PowerHost {
                    name: h.name.clone(),
                    cpus: bhosts[i].cpus,
                    demand: plan.demand_after[i],
                    running_vms: running[i],
                    standby: h.state == HostState::Standby,
                    usable: bhosts[i].usable && !h.maintenance,
                    hot: plan.hot_after_by_host[i],
                })
                .collect();
            balance::power_plan(&phosts, &PowerParams::default()).map(|a| match a {
                PowerAction::Wake { host, reason } => (hosts[host].clone(), false, reason),
                PowerAction::Standby { host, reason } => (hosts[host].clone(), true, reason),
            })
        } else {
            None
        };
        let view = BalancePlanView {
            cluster_id: cluster.id,
            name: cluster.name.clone(),
            mode: cluster.balance_mode,
            imbalance_before: plan.imbalance_before,
            imbalance_after: plan.imbalance_after,
            hot_before: plan.hot_before,
            hot_after: plan.hot_after,
            moves: plan
                .moves
                .iter()
                .map(|m| BalanceMoveView {
                    vm_id: vms[m.vm].id,
                    vm_name: vms[m.vm].name.clone(),
                    from_host_id: hosts[m.from].id,
                    from_host: hosts[m.from].name.clone(),
                    to_host_id: hosts[m.to].id,
                    to_host: hosts[m.to].name.clone(),
                    gain: m.gain,
                    reason: m.reason.clone(),
                })
                .collect(),
            power: power.as_ref().map(|(h, standby, reason)| PowerStepView {
                action: if *standby { "standby" } else { "wake" }.into(),
                host_id: h.id,
                host: h.name.clone(),
                reason: reason.clone(),
            }),
        };
        Ok(ClusterPlan { view, moves, power })
    }

    /// Plans of every cluster the balancer is not off in, or of `only` (whatever its mode),
    /// with at most `max_moves` moves.
    async fn plans(
        &self,
        only: Option<ClusterId>,
        max_moves: usize,
    ) -> Result<Vec<ClusterPlan>, Error> {
        let params = BalanceParams {
            max_moves,
            ..BalanceParams::default()
        };
        let hosts = self.db.all_hosts().await?;
        let busy = self.busy_targets().await?;
        // Read once for every cluster (every VM's demand, the failover hosts).
        let demand = self.vm_demands(None);
        let failover = self.db.failover_hosts().await?;
        let mut out = Vec::new();
        for c in self.db.list_clusters().await? {
            if only.is_some_and(|o| o != c.id)
                || (only.is_none() && c.balance_mode == BalanceMode::Off)
            {
                continue;
            }
            out.push(
                self.cluster_plan(&c, &hosts, &busy, (&demand, &failover), &params)
                    .await?,
            );
        }
        Ok(out)
    }

    /// The balancing plans of the clusters whose balancer is on.
    pub async fn balance_plans(&self, _actor: &Actor) -> Result<Vec<BalancePlanView>, Error> {
        Ok(self
            .plans(None, BalanceParams::default().max_moves)
            .await?
            .into_iter()
            .map(|p| p.view)
            .collect())
    }

    /// Starts the planned migrations of the clusters in automatic mode (a round of the
    /// controller) and takes their power steps; returns how many migrations started. A power
    /// step that fails is audited and logged, and the round goes on.
    pub async fn balance_round(&self) -> Result<usize, Error> {
        let mut started = 0;
        for p in self.plans(None, BalanceParams::default().max_moves).await? {
            if p.view.mode != BalanceMode::Automatic {
                continue;
            }
            if let Some((host, standby, reason)) = &p.power {
                // The power plan counts VMs after the moves: no move targets a host it powers
                // off, and one that the moves leave empty waits for the next round (its VMs
                // are still leaving), when the store shows it empty.
                if let Err(e) = self.set_standby(BALANCER, host, *standby, reason).await {
                    tracing::warn!(host = %host.name, error = %e, "power step failed");
                }
            }
            for ((vm, to), m) in p.moves.iter().zip(&p.view.moves) {
                self.submit_vm_job_by(
                    BALANCER,
                    "vm.migrate",
                    vm,
                    JobSpec::VmMigrate {
                        vm_id: vm.id,
                        to: *to,
                    },
                    Some(format!("to {}: {}", m.to_host, m.reason)),
                )
                .await?;
                started += 1;
            }
        }
        Ok(started)
    }

    /// Puts a host in maintenance and starts the migrations of its running VMs to the least
    /// loaded hosts of its cluster that fit them (admin). VMs that fit nowhere stay, and are
    /// listed in the answer's plan as not moved.
    pub async fn evacuate_host(&self, actor: &Actor, id: HostId) -> Result<VmGroupAccepted, Error> {
        let mut host = self.authorize_host(actor, "host.evacuate", id).await?;
        if !host.maintenance {
            host.maintenance = true;
            self.db.update_host_settings(&host).await?;
        }
        // Evacuations come first in a plan: as many moves as the host has VMs covers them.
        let on_host = self.db.vm_generations_on(&[id]).await?.len();
        let plan = self
            .plans(Some(host.cluster_id), on_host)
            .await?
            .pop()
            .ok_or_else(|| Error::internal("the host's cluster has no plan"))?;
        let mut accepted = Vec::new();
        for ((vm, to), m) in plan.moves.iter().zip(&plan.view.moves) {
            if m.from_host_id != id {
                continue;
            }
            accepted.push(
                self.submit_vm_job(
                    actor,
                    "vm.migrate",
                    vm,
                    JobSpec::VmMigrate {
                        vm_id: vm.id,
                        to: *to,
                    },
                    Some(format!("evacuating {}: to {}", host.name, m.to_host)),
                )
                .await?,
            );
        }
        self.audit(
            actor.name(),
            "host.evacuate",
            ("host", Some(id.to_string())),
            AuditResult::Ok,
            Some(format!("name={} migrations={}", host.name, accepted.len())),
        )
        .await;
        Ok(VmGroupAccepted { vms: accepted })
    }
}
