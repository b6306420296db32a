//! Capacity plans: when each cluster runs out, from the daily peaks the load sampler records
//! (the engine's `forecast`: a robust trend kept only when it predicts better than a flat
//! level).

use std::collections::BTreeMap;
use vdc_db as db;
use vdc_engine::forecast;
use vdc_types::*;

use crate::app::App;
use crate::auth::Actor;
use crate::monitor::day_of;

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
        let names: BTreeMap<ClusterId, String> = self
            .db
            .list_clusters()
            .await?
            .into_iter()
            .map(|c| (c.id, c.name))
            .collect();
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
