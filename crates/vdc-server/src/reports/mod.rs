//! Reports from one ownership model (C12): sprawl and chargeback statements, for the VMs (and
//! volumes) the caller may see, as JSON or CSV. The server gathers VMs, their daily and
//! hourly roll-ups, volumes and the price list; `engine::report` decides.

pub mod compliance;

use std::collections::{HashMap, HashSet};

use vdc_db::{self as db};
use vdc_engine::report::{
    self as engine, ChargeVm, DAY_MS, DayUse, OrphanVolume, ReportVm, SprawlPolicy,
};
use vdc_types::*;

use crate::app::{Actor, On};
use crate::app::{App, on_vm};
use crate::monitoring::metrics::vm_entity;

const HOUR_MS: i64 = 3_600_000;

/// `GET /api/v1/reports/sprawl` query.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SprawlQuery {
    /// Only this department's VMs (and no volumes).
    pub department_id: Option<DepartmentId>,
    /// Days of use judged for idle and oversized VMs (default 14, 1–365).
    pub days: Option<u32>,
    /// Days off that make a zombie (default 30, 1–3650).
    pub zombie_days: Option<u32>,
    /// Also name managed VMs without a lease.
    #[serde(default)]
    pub missing_leases: bool,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// `GET /api/v1/reports/chargeback` query.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChargebackQuery {
    /// `YYYY-MM` (default: this month so far).
    pub month: Option<String>,
    /// `allocated` (default) or `used`.
    pub model: Option<ChargeModel>,
    pub department_id: Option<DepartmentId>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// A report's wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
}

impl Format {
    pub fn parse(f: Option<&str>) -> Result<Format, Error> {
        match f.unwrap_or("json") {
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            _ => Err(Error::invalid("format", "json or csv")),
        }
    }
}

/// `[start, end)` of a `YYYY-MM` month.
pub fn month_bounds(month: &str) -> Result<(UnixMs, UnixMs), Error> {
    let bad = || Error::invalid("month", "a month such as 2026-11");
    let (y, m) = month.split_once('-').ok_or_else(bad)?;
    let (y, m): (u32, u32) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if month.len() != 7 || !(1970..=9998).contains(&y) || !(1..=12).contains(&m) {
        return Err(bad());
    }
    let at = |y: u32, m: u32| parse_rfc3339("month", &format!("{y:04}-{m:02}-01T00:00:00Z"));
    let next = if m == 12 { at(y + 1, 1) } else { at(y, m + 1) };
    Ok((at(y, m)?, next?))
}

fn f(v: f32) -> f64 {
    if v.is_finite() { f64::from(v) } else { 0.0 }
}

impl App {
    /// The VMs of a report: those the caller sees, of one department if asked.
    pub(crate) async fn report_vms(
        &self,
        actor: &Actor,
        department: Option<DepartmentId>,
    ) -> Result<Vec<db::Vm>, Error> {
        Ok(self
            .every_vm(db::VmFilter {
                department_id: department,
                ..db::VmFilter::default()
            })
            .await?
            .into_iter()
            .filter(|v| actor.sees(on_vm(v)))
            .collect())
    }

    /// Volumes no VM uses, in datastores the caller sees. A datastore where some VM's disk
    /// has no known path is left out: that disk could be any of its volumes.
    async fn orphan_volumes(
        &self,
        actor: &Actor,
        vms: &[db::Vm],
    ) -> Result<Vec<OrphanVolume>, Error> {
        let mut used: HashSet<&str> = HashSet::new();
        let mut unsure: HashSet<(ClusterId, &str)> = HashSet::new();
        for vm in vms {
            for d in &vm.disks {
                match (&d.path, vm.cluster_id) {
                    (Some(p), _) => {
                        used.insert(p);
                    }
                    (None, Some(c)) => {
                        unsure.insert((c, d.datastore.as_str()));
                    }
                    (None, None) => {}
                }
            }
        }
        let datastores: HashMap<DatastoreId, db::Datastore> = self
            .db
            .list_datastores()
            .await?
            .into_iter()
            .map(|d| (d.id, d))
            .collect();
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for v in self.db.list_volumes(None).await? {
            let Some(ds) = datastores.get(&v.datastore_id) else {
                continue;
            };
            let scope = On::cluster(ds.cluster_id);
            if used.contains(v.path.as_str())
                || unsure.contains(&(ds.cluster_id, ds.name.as_str()))
                || !actor.sees(scope)
                || !seen.insert(v.path.clone())
            {
                continue;
            }
            out.push(OrphanVolume {
                datastore: ds.name.clone(),
                name: v.name,
                path: v.path,
                capacity_gib: v.capacity_mib as f64 / 1024.0,
            });
        }
        Ok(out)
    }

    /// Sprawl among the VMs (and volumes) the caller sees.
    pub async fn sprawl_report(
        &self,
        actor: &Actor,
        q: &SprawlQuery,
    ) -> Result<SprawlReportView, Error> {
        let defaults = SprawlPolicy::default();
        let days = q.days.unwrap_or(defaults.days);
        let zombie_days = q.zombie_days.unwrap_or(defaults.zombie_days);
        if !(1..=365).contains(&days) {
            return Err(Error::invalid("days", "1 to 365"));
        }
        if !(1..=3650).contains(&zombie_days) {
            return Err(Error::invalid("zombie_days", "1 to 3650"));
        }
        let policy = SprawlPolicy {
            days,
            zombie_days,
            missing_leases: q.missing_leases,
            ..defaults
        };
        // Lease ends are judged by the server's clock.
        let now = self.clock().now_ms();
        let vms = self.report_vms(actor, q.department_id).await?;
        let orphans = if q.department_id.is_none() {
            self.orphan_volumes(actor, &vms).await?
        } else {
            Vec::new()
        };
        let today = now.div_euclid(DAY_MS) * DAY_MS;
        let mut daily: HashMap<String, Vec<DayUse>> = HashMap::new();
        for r in self
            .db
            .vm_rollups(86_400, today - i64::from(days) * DAY_MS, today)
            .await?
        {
            let p95 = |m: Metric| f(r.summaries[m.index()][3]);
            daily.entry(r.entity.clone()).or_default().push(DayUse {
                day_ms: r.start_ms,
                cpu_p95: p95(Metric::Cpu),
                memory_p95_mib: p95(Metric::MemoryMib),
                disk_p95_bytes_s: p95(Metric::DiskReadBytesS) + p95(Metric::DiskWriteBytesS),
                net_p95_bytes_s: p95(Metric::NetRxBytesS) + p95(Metric::NetTxBytesS),
            });
        }
        let last = self.db.vms_last_sampled().await?;
        let licences = self.db.vm_licences().await?;
        let report_vms: Vec<ReportVm> = vms
            .iter()
            .map(|v| {
                let entity = vm_entity(v.id);
                ReportVm {
                    id: v.id,
                    name: v.name.clone(),
                    department: v.department_id,
                    owner: v.owner.clone(),
                    management: v.management,
                    power_state: v.power_state,
                    vcpus: v.vcpus,
                    memory_mib: v.memory_mib,
                    disk_gib: v.disks.iter().map(|d| d.size_gib).sum(),
                    licences: licences.get(&v.id).cloned().unwrap_or_default(),
                    created_ms: v.created_at,
                    last_running_ms: last.get(&entity).copied(),
                    lease_expires_ms: v.lease_expires_at,
                    days: daily.remove(&entity).unwrap_or_default(),
                }
            })
            .collect();
        let (prices, currency) = self.prices().await?;
        let s = engine::sprawl(&report_vms, &orphans, &prices, &policy, now);
        let names = self.department_names().await?;
        let name = |d: Option<DepartmentId>| d.and_then(|d| names.get(&d).cloned());
        Ok(SprawlReportView {
            generated_at: rfc3339(now),
            currency,
            days,
            zombie_days,
            findings: s
                .findings
                .into_iter()
                .map(|x| SprawlFindingView {
                    kind: x.kind,
                    vm_id: x.vm,
                    name: x.name,
                    department_id: x.department,
                    department: name(x.department),
                    owner: x.owner,
                    evidence: x.evidence,
                    monthly_cost: x.monthly_cost,
                    monthly_waste: x.monthly_waste,
                    right_size: x.right_size.map(|r| RightSizeView {
                        vcpus: r.vcpus,
                        memory_mib: r.memory_mib,
                    }),
                })
                .collect(),
            total_waste: s.total_waste,
            waste_by_department: s
                .waste_by_department
                .into_iter()
                .map(|(d, amount)| DepartmentAmountView {
                    department_id: d,
                    department: name(d),
                    amount,
                })
                .collect(),
        })
    }

    /// Monthly statements per department for the VMs the caller sees.
    pub async fn chargeback_report(
        &self,
        actor: &Actor,
        q: &ChargebackQuery,
    ) -> Result<ChargebackView, Error> {
        let now = db::now_ms();
        let month = q
            .month
            .clone()
            .unwrap_or_else(|| rfc3339(now)[..7].to_string());
        let (start, end) = month_bounds(&month)?;
        if start > now {
            return Err(Error::invalid("month", "a month that has begun"));
        }
        let to = end.min(now);
        let model = q.model.unwrap_or(ChargeModel::Allocated);
        let vms = self.report_vms(actor, q.department_id).await?;
        // Measured use from the hourly roll-ups: each bucket is an hour of samples.
        let mut used: HashMap<String, (f64, f64)> = HashMap::new();
        if model == ChargeModel::Used {
            let vcpus: HashMap<String, u32> =
                vms.iter().map(|v| (vm_entity(v.id), v.vcpus)).collect();
            for r in self.db.vm_rollups(3600, start, to).await? {
                let Some(n) = vcpus.get(&r.entity) else {
                    continue;
                };
                let u = used.entry(r.entity.clone()).or_default();
                u.0 += f(r.summaries[Metric::Cpu.index()][1]) / 100.0 * f64::from(*n);
                u.1 += f(r.summaries[Metric::MemoryMib.index()][1]) / 1024.0;
            }
        }
        let licences = self.db.vm_licences().await?;
        let charge: Vec<ChargeVm> = vms
            .iter()
            .filter_map(|v| {
                let hours = (to - v.created_at.max(start)) as f64 / HOUR_MS as f64;
                let (cpu, mem) = used.get(&vm_entity(v.id)).copied().unwrap_or_default();
                (hours > 0.0).then(|| ChargeVm {
                    id: v.id,
                    name: v.name.clone(),
                    department: v.department_id,
                    vcpus: v.vcpus,
                    memory_mib: v.memory_mib,
                    disk_gib: v.disks.iter().map(|d| d.size_gib).sum(),
                    licences: licences.get(&v.id).cloned().unwrap_or_default(),
                    hours,
                    used_vcpu_hours: cpu,
                    used_memory_gib_hours: mem,
                })
            })
            .collect();
        // Departments the caller sees pay their fixed charge even without VMs.
        let names = self.department_names().await?;
        let departments: Vec<DepartmentId> = names
            .keys()
            .copied()
            .filter(|d| q.department_id.is_none_or(|x| x == *d))
            .filter(|d| actor.sees(On::department(Some(*d))))
            .collect();
        let (prices, currency) = self.prices().await?;
        let month_hours = (end - start) as f64 / HOUR_MS as f64;
        let period_hours = (to - start) as f64 / HOUR_MS as f64;
        let statements = engine::statements(
            &charge,
            &departments,
            &prices,
            model,
            period_hours,
            month_hours,
        );
        let line = |l: engine::Line| ChargeLineView {
            item: l.item,
            quantity: l.quantity,
            unit: l.unit.to_string(),
            unit_price: l.unit_price,
            amount: l.amount,
        };
        let total = statements.iter().map(|s| s.total).sum();
        Ok(ChargebackView {
            month,
            model,
            currency,
            from: rfc3339(start),
            to: rfc3339(to),
            statements: statements
                .into_iter()
                .map(|s| StatementView {
                    department_id: s.department,
                    department: s.department.and_then(|d| names.get(&d).cloned()),
                    vms: s
                        .vms
                        .into_iter()
                        .map(|b| VmBillView {
                            vm_id: b.id,
                            name: b.name,
                            lines: b.lines.into_iter().map(line).collect(),
                            total: b.total,
                        })
                        .collect(),
                    fixed: s.fixed.map(line),
                    total: s.total,
                })
                .collect(),
            total,
        })
    }
}

/// One CSV field (RFC 4180: quoted when it holds a comma, quote or line break). Text that a
/// spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR first) is prefixed with `'`;
/// numbers are written by the report itself and pass through.
fn field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) && s.parse::<f64>().is_err() {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

pub(crate) fn csv(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut out = header.join(",");
    out.push_str("\r\n");
    for r in rows {
        let r: Vec<String> = r.iter().map(|c| field(c)).collect();
        out.push_str(&r.join(","));
        out.push_str("\r\n");
    }
    out
}

pub(crate) fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_default()
}

fn money(v: f64) -> String {
    format!("{v:.2}")
}

/// The sprawl report as CSV: a row per finding.
pub fn sprawl_csv(r: &SprawlReportView) -> String {
    csv(
        &[
            "kind",
            "name",
            "vm_id",
            "department",
            "owner",
            "monthly_cost",
            "monthly_waste",
            "currency",
            "right_size_vcpus",
            "right_size_memory_mib",
            "evidence",
        ],
        r.findings.iter().map(|x| {
            vec![
                x.kind.to_string(),
                x.name.clone(),
                opt(&x.vm_id),
                opt(&x.department),
                opt(&x.owner),
                money(x.monthly_cost),
                money(x.monthly_waste),
                r.currency.clone(),
                opt(&x.right_size.as_ref().map(|s| s.vcpus)),
                opt(&x.right_size.as_ref().map(|s| s.memory_mib)),
                x.evidence.clone(),
            ]
        }),
    )
}

/// The chargeback report as CSV: a row per bill line (the department's fixed charge with an
/// empty VM).
pub fn chargeback_csv(r: &ChargebackView) -> String {
    let mut rows = Vec::new();
    for s in &r.statements {
        let dept = opt(&s.department);
        let row = |vm: &str, vm_id: String, l: &ChargeLineView| {
            vec![
                r.month.clone(),
                r.model.to_string(),
                dept.clone(),
                vm.to_string(),
                vm_id,
                l.item.clone(),
                format!("{:.4}", l.quantity),
                l.unit.clone(),
                format!("{:.6}", l.unit_price),
                money(l.amount),
                r.currency.clone(),
            ]
        };
        for b in &s.vms {
            for l in &b.lines {
                rows.push(row(&b.name, b.vm_id.to_string(), l));
            }
        }
        if let Some(l) = &s.fixed {
            rows.push(row("", String::new(), l));
        }
    }
    csv(
        &[
            "month",
            "model",
            "department",
            "vm",
            "vm_id",
            "item",
            "quantity",
            "unit",
            "unit_price",
            "amount",
            "currency",
        ],
        rows,
    )
}
