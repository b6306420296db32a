//! Watching VMs against their behaviour profiles: every hour each VM's profile is learnt
//! again from its 5-minute roll-ups of the last 28 days (`engine::anomaly`); each closed
//! 5-minute bucket then steps the VM's detector, which opens an alert when a dimension keeps
//! diverging and closes it when the VM is back to its usual.

use std::collections::HashMap;
use std::sync::Mutex;

use vdc_db::{self as db};
use vdc_engine::anomaly::{Anomaly, Detector, Profile, Thresholds};
use vdc_types::*;

use crate::app::{Actor, App, Part};
use crate::monitoring::metrics::MetricStore;
use crate::monitoring::metrics::vm_entity;

const MINUTE: i64 = 60_000;
/// History a profile is learnt from.
const HISTORY_MS: i64 = 28 * 24 * 60 * MINUTE;
/// 5-minute buckets a VM needs (a day) before it has a profile.
const MIN_BUCKETS: usize = 288;

/// Profiles, detectors and open alerts.
#[derive(Debug, Default)]
pub struct Watch {
    inner: Mutex<WatchInner>,
}

impl Part for Watch {
    fn new(_: &App) -> Self {
        Watch::default()
    }
}

#[derive(Debug, Default)]
struct WatchInner {
    profiles: HashMap<VmId, Profile>,
    /// The bucket each detector last took, and the detector.
    detectors: HashMap<VmId, (i64, Detector)>,
    alerts: HashMap<VmId, Alert>,
}

#[derive(Debug, Clone)]
struct Alert {
    since_ms: i64,
    anomaly: Anomaly,
}

impl Watch {
    fn lock(&self) -> std::sync::MutexGuard<'_, WatchInner> {
        self.inner.lock().expect("watch lock")
    }
}

impl App {
    /// Learns the profile of every VM with a day of history; returns how many have one.
    pub async fn learn_profiles(&self, now: i64) -> Result<usize, Error> {
        let vms = self.every_vm(db::VmFilter::default()).await?;
        let mut learnt = HashMap::new();
        for vm in &vms {
            let rows = self
                .db
                .metric_rollups(&vm_entity(vm.id), 300, now - HISTORY_MS, now)
                .await?;
            if rows.len() < MIN_BUCKETS {
                continue;
            }
            let history: Vec<(i64, vdc_engine::metrics::Sample)> = rows
                .iter()
                .map(|r| (r.start_ms / 1000, r.summaries.map(|s| s[1])))
                .collect();
            learnt.insert(vm.id, Profile::learn(&history));
        }
        let n = learnt.len();
        let watch = self.part::<Watch>();
        let mut w = watch.lock();
        w.detectors.retain(|id, _| learnt.contains_key(id));
        w.alerts.retain(|id, _| learnt.contains_key(id));
        w.profiles = learnt;
        Ok(n)
    }

    /// Steps each profiled VM's detector with its newest closed 5-minute bucket; opens,
    /// updates and closes alerts. Returns the number open.
    pub fn detect_anomalies(&self) -> usize {
        let buckets = self.part::<MetricStore>().last_buckets();
        let th = Thresholds::default();
        let watch = self.part::<Watch>();
        let mut g = watch.lock();
        let w = &mut *g;
        for (id, profile) in &w.profiles {
            let Some((start, means)) = buckets.get(&vm_entity(*id)) else {
                continue;
            };
            let (last, detector) = w.detectors.entry(*id).or_default();
            if *last >= *start {
                continue;
            }
            *last = *start;
            match detector.step(profile, &th, start / 1000, means) {
                Some(anomaly) => {
                    let since_ms = w.alerts.get(id).map_or(*start, |a| a.since_ms);
                    if !w.alerts.contains_key(id) {
                        tracing::info!(vm = %id, reason = %anomaly.reason, "anomaly");
                    }
                    w.alerts.insert(*id, Alert { since_ms, anomaly });
                }
                None => {
                    w.alerts.remove(id);
                }
            }
        }
        w.alerts.len()
    }

    /// The open alerts of the VMs the caller may see, newest first.
    pub async fn alerts(&self, actor: &Actor) -> Result<Vec<AlertView>, Error> {
        let open: Vec<(VmId, Alert)> = self
            .part::<Watch>()
            .lock()
            .alerts
            .iter()
            .map(|(id, a)| (*id, a.clone()))
            .collect();
        let mut out = Vec::new();
        for (id, a) in open {
            let Ok(vm) = self.visible_vm(actor, id).await else {
                continue;
            };
            out.push(AlertView {
                vm_id: id,
                vm_name: vm.name,
                host_id: vm.host_id,
                since: rfc3339(a.since_ms),
                last_seen: rfc3339(a.anomaly.at_s * 1000),
                dimensions: a
                    .anomaly
                    .dimensions
                    .iter()
                    .map(|d| DivergenceView {
                        metric: d.metric,
                        unit: d.metric.unit().to_string(),
                        value: d.value,
                        expected: d.expected,
                        score: d.score,
                    })
                    .collect(),
                remedy: a.anomaly.remedy,
                reason: a.anomaly.reason,
            });
        }
        out.sort_by(|a, b| b.since.cmp(&a.since).then(a.vm_name.cmp(&b.vm_name)));
        Ok(out)
    }
}
