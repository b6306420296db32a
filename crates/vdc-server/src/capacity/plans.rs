//! Capacity plans: when each cluster runs out, from the daily peaks the load sampler records
//! (the engine's `forecast`: a robust trend kept only when it predicts better than a flat
//! level).

use std::collections::BTreeMap;
use vdc_db as db;
use vdc_engine::forecast;
use vdc_types::*;

use crate::app::Actor;
use crate::app::App;
use crate::monitoring::load::day_of;

/// One metric's forecast from `(day, value)` points against the last day's capacity.
fn metric(name: &str, points: &[(f64, f64)], capacity: f64) -> CapacityForecastView {
    let current = points.last().map_or(0.0, |p| p.1);
    let (trend_per_day, until) = match forecast::fit(points) {
        Some(t) => (t.slope, forecast::days_until(&t, capacity)),
        // One day: no trend yet, but full is full.
        None => (
            0.0,
            forecast::DaysUntilFull {
                expected: (current >= capacity).then_some(0.0),
                pessimistic: (current >= capacity).then_some(0.0),
            },
        ),
    };
    CapacityForecastView {
        metric: name.to_string(),
        current,
        capacity,
        trend_per_day,
        days_until_full: until.expected,
        days_until_full_pessimistic: until.pessimistic,
    }
}

impl App {
    /// For every cluster with samples in the last `q.days` days: per metric (vCPUs and memory
    /// allocated, CPU demand) the last day's peak, the capacity, the trend and the days until
    /// full.
    pub async fn forecast(
        &self,
        _actor: &Actor,
        q: ForecastQuery,
    ) -> Result<Vec<ClusterForecastView>, Error> {
        let days = q.days()?;
        let since = day_of(db::now_ms()) - i64::from(days) + 1;
        let mut by_cluster: BTreeMap<ClusterId, Vec<db::ClusterDay>> = BTreeMap::new();
        for d in self.db.cluster_days(since).await? {
            by_cluster.entry(d.cluster_id).or_default().push(d);
        }
        let names = self.cluster_names().await?;
        let mut out: Vec<ClusterForecastView> = by_cluster
            .into_iter()
            .filter_map(|(id, days)| {
                let last = *days.last()?;
                let series = |f: fn(&db::ClusterDay) -> f64| -> Vec<(f64, f64)> {
                    days.iter().map(|d| (d.day as f64, f(d))).collect()
                };
                Some(ClusterForecastView {
                    cluster_id: id,
                    name: names.get(&id).cloned().unwrap_or_default(),
                    days_of_history: days.len(),
                    metrics: vec![
                        metric(
                            "vcpus_allocated",
                            &series(|d| d.vcpus_allocated as f64),
                            last.vcpu_capacity as f64,
                        ),
                        metric(
                            "memory_allocated_mib",
                            &series(|d| d.memory_allocated_mib as f64),
                            last.memory_capacity_mib as f64,
                        ),
                        metric("cpu_demand", &series(|d| d.cpu_demand), last.cpu_capacity),
                    ],
                })
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}

/// Estimated draw of a host with VMs: idle and at full CPU (a typical two-socket server; the
/// inventory does not know hosts' power curves).
const IDLE_W: f64 = 100.0;
const MAX_W: f64 = 250.0;

impl App {
    /// The fewest hosts that carry each cluster's VMs (or one cluster's), optionally under a
    /// what-if: VMs added, a host removed, a host lost. Changes nothing.
    pub async fn consolidate(
        &self,
        _actor: &Actor,
        p: ConsolidateParams,
    ) -> Result<Vec<ConsolidationPlanView>, Error> {
        use vdc_engine::consolidation::{self, ConsolidationHost, ConsolidationVm};
        p.validate()?;
        let clusters = self.db.list_clusters().await?;
        let hosts = self.db.all_hosts().await?;
        for (field, h) in [("remove_host", p.remove_host), ("lose_host", p.lose_host)] {
            if let Some(h) = h
                && !hosts.iter().any(|x| x.id == h)
            {
                return Err(Error::invalid(field, "no such host"));
            }
        }
        if let Some(c) = p.cluster_id
            && !clusters.iter().any(|x| x.id == c)
        {
            return Err(Error::invalid("cluster_id", "no such cluster"));
        }
        // Failover hosts are kept empty for HA: never a target of a consolidation.
        let failover = self.db.failover_hosts().await?;
        let gone =
            |h: HostId| p.remove_host == Some(h) || p.lose_host == Some(h) || failover.contains(&h);
        let demand = self.vm_demands(Some(p.percentile()));
        let busy = self.busy_targets().await?;
        let targets: Vec<&db::Cluster> = clusters
            .iter()
            .filter(|c| p.cluster_id.is_none_or(|id| id == c.id))
            .collect();
        let mut out = Vec::new();
        for (ci, c) in targets.iter().enumerate() {
            let mine: Vec<&db::Host> = hosts.iter().filter(|h| h.cluster_id == c.id).collect();
            let index: std::collections::HashMap<HostId, usize> =
                mine.iter().enumerate().map(|(i, h)| (h.id, i)).collect();
            let classes = crate::capacity::balancer::migration_classes(&mine);
            let chosts: Vec<ConsolidationHost> = mine
                .iter()
                .zip(&classes)
                .map(|(h, &class)| {
                    let (vcpu_cap, memory_cap_mib) = c.caps(h);
                    ConsolidationHost {
                        name: h.name.clone(),
                        cpus: f64::from(h.topology.logical_cpus()),
                        vcpu_cap,
                        memory_cap_mib,
                        usable: h.state == HostState::Connected && !h.maintenance && !gone(h.id),
                        idle_w: IDLE_W,
                        max_w: MAX_W,
                        class,
                    }
                })
                .collect();
            let vms: Vec<db::Vm> = crate::capacity::balancer::cluster_vms(self, c.id)
                .await?
                .into_iter()
                .filter(|v| {
                    matches!(v.power_state, PowerState::Running | PowerState::Paused)
                        && v.host_id.is_some_and(|h| index.contains_key(&h))
                })
                .collect();
            let mut cvms: Vec<ConsolidationVm> = vms
                .iter()
                .map(|v| ConsolidationVm {
                    name: v.name.clone(),
                    host: v.host_id.and_then(|h| index.get(&h).copied()),
                    vcpus: v.vcpus,
                    memory_mib: v.memory_mib,
                    cpu_demand: demand.get(&v.id.0).copied().unwrap_or(0.0),
                    movable: v.management == Management::Managed
                        && !busy.contains(&v.id.to_string()),
                    class: v.host_id.and_then(|h| index.get(&h)).map(|&i| classes[i]),
                })
                .collect();
            // Added VMs go to the given cluster, or the first one planned.
            if let Some(a) = p.add.as_ref().filter(|_| ci == 0) {
                cvms.extend((1..=a.count).map(|i| ConsolidationVm {
                    name: format!("new-{i}"),
                    host: None,
                    vcpus: a.vcpus,
                    memory_mib: a.memory_mib,
                    cpu_demand: a.cpu_demand,
                    movable: true,
                    class: None,
                }));
            }
            let plan = consolidation::plan(&chosts, &cvms, p.high_water.unwrap_or(0.8));
            let name = |h: usize| mine[h].name.clone();
            out.push(ConsolidationPlanView {
                cluster_id: c.id,
                name: c.name.clone(),
                hosts_before: plan.hosts_before,
                hosts_after: plan.hosts_after,
                freed: plan.freed.iter().map(|&h| name(h)).collect(),
                woken: plan.woken.iter().map(|&h| name(h)).collect(),
                unplaced: plan
                    .unplaced
                    .iter()
                    .map(|&i| cvms[i].name.clone())
                    .collect(),
                power_before_w: plan.power_before_w,
                power_after_w: plan.power_after_w,
                steps: plan
                    .steps
                    .iter()
                    .map(|s| ConsolidationStepView {
                        vm_id: vms.get(s.vm).map(|v| v.id),
                        vm_name: cvms[s.vm].name.clone(),
                        from_host: s.from.map(name),
                        to_host: name(s.to),
                        reason: s.reason.clone(),
                    })
                    .collect(),
                assumptions: format!(
                    "power per host with VMs: {IDLE_W} W idle to {MAX_W} W at full CPU, linear; \
                     CPU demand at the {:.0}th percentile of what the load sampler measured (the \
                     last reading until a VM has 10 samples; VMs not measured yet count by their \
                     vCPU and memory allocation only); no host above {:.0} % CPU",
                    p.percentile(),
                    p.high_water.unwrap_or(0.8) * 100.0
                ),
            });
        }
        Ok(out)
    }
}
