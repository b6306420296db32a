//! Licence compliance and patch levels (C12): the licence catalogue and the OS baselines, each
//! VM's guest OS, and the two reports over the VMs the caller sees. `engine::compliance`
//! decides; idle VMs come from the sprawl report.

use std::collections::BTreeMap;

use vdc_engine::compliance::{self as engine, LicHost, LicVm, PatchVm};
use vdc_types::*;

use crate::app::fleet::vm_driver;
use crate::app::{Actor, On};
use crate::app::{App, on_vm};
use crate::reports::{SprawlQuery, csv, opt};

/// `GET /api/v1/reports/licences` and `/reports/patches` query.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ComplianceQuery {
    /// Only this department's VMs.
    pub department_id: Option<DepartmentId>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

impl App {
    /// Licence compliance of every product in the catalogue, for the VMs the caller sees.
    pub async fn licence_report(
        &self,
        actor: &Actor,
        q: &ComplianceQuery,
    ) -> Result<LicenceReportView, Error> {
        let sprawl = self
            .sprawl_report(
                actor,
                &SprawlQuery {
                    department_id: q.department_id,
                    ..SprawlQuery::default()
                },
            )
            .await?;
        self.licence_report_with(actor, q, &sprawl).await
    }

    /// The licence report, its idle VMs taken from `sprawl` (the sprawl report of the same
    /// VMs at the default policy), for a caller that has it already.
    pub(crate) async fn licence_report_with(
        &self,
        actor: &Actor,
        q: &ComplianceQuery,
        sprawl: &SprawlReportView,
    ) -> Result<LicenceReportView, Error> {
        let vms = self.report_vms(actor, q.department_id).await?;
        let required = self.db.vm_licences().await?;
        let oses = self.db.guest_oses().await?;
        let lic_vms: Vec<LicVm> = vms
            .iter()
            .map(|v| LicVm {
                id: v.id,
                name: v.name.clone(),
                department: v.department_id,
                owner: v.owner.clone(),
                host: v.host_id,
                cluster: v.cluster_id,
                power_state: v.power_state,
                required: required.get(&v.id).cloned().unwrap_or_default(),
                tags: v.tags.clone(),
                guest_os: oses.get(&v.id).cloned(),
            })
            .collect();
        let hosts: Vec<LicHost> = self
            .db
            .all_hosts()
            .await?
            .into_iter()
            .map(|h| LicHost {
                id: h.id,
                name: h.name,
                cluster: h.cluster_id,
                topology: h.topology,
                licensed: h.licensed_software,
                dedicated_to: h.dedicated_to,
            })
            .collect();
        let idle: BTreeMap<VmId, String> = sprawl
            .findings
            .iter()
            .filter(|f| matches!(f.kind, SprawlKind::Idle | SprawlKind::Zombie))
            .filter_map(|f| Some((f.vm_id?, format!("{}: {}", f.kind, f.evidence))))
            .collect();
        let prices = self.db.price_list().await?;
        let products = self.db.licence_products().await?;
        let names = self.department_names().await?;
        let name = |d: Option<DepartmentId>| d.and_then(|d| names.get(&d).cloned());
        let out: Vec<ProductComplianceView> =
            engine::licences(&products, &lic_vms, &hosts, &idle, &prices.licences)
                .into_iter()
                .map(|p| ProductComplianceView {
                    product: p.product,
                    model: p.model,
                    owned: p.owned,
                    needed_now: p.needed_now,
                    needed: p.needed,
                    shortfall: p.shortfall,
                    vms: p
                        .vms
                        .into_iter()
                        .map(|v| LicenceVmView {
                            vm_id: v.vm,
                            name: v.name,
                            department_id: v.department,
                            department: name(v.department),
                            owner: v.owner,
                            power_state: v.power_state,
                            why: v.why,
                            host: v.host,
                            may_run_on: v.may_run_on,
                            confined: v.confined,
                        })
                        .collect(),
                    hosts: p
                        .hosts
                        .into_iter()
                        .map(|h| LicenceHostView {
                            host_id: h.host,
                            name: h.name,
                            units: h.units,
                            current: h.current,
                            licensed: h.licensed,
                            why: h.why,
                        })
                        .collect(),
                    uncounted: p.uncounted,
                    idle: p
                        .idle
                        .into_iter()
                        .map(|i| IdleLicenceView {
                            vm_id: i.vm,
                            name: i.name,
                            department_id: i.department,
                            department: name(i.department),
                            owner: i.owner,
                            evidence: i.evidence,
                            monthly_cost: i.monthly_cost,
                        })
                        .collect(),
                })
                .collect();
        let whole_estate =
            q.department_id.is_none() && vms.len() as i64 == self.db.count_vms().await?;
        Ok(LicenceReportView {
            generated_at: sprawl.generated_at.clone(),
            currency: prices.currency,
            whole_estate,
            short: out.iter().filter(|p| p.shortfall > 0).count(),
            idle_monthly_cost: out
                .iter()
                .flat_map(|p| &p.idle)
                .map(|i| i.monthly_cost)
                .sum(),
            products: out,
        })
    }

    /// Each visible VM's guest OS against its OS's baseline.
    pub async fn patch_report(
        &self,
        actor: &Actor,
        q: &ComplianceQuery,
    ) -> Result<PatchReportView, Error> {
        let vms = self.report_vms(actor, q.department_id).await?;
        let mut oses = self.db.guest_oses().await?;
        let patch_vms: Vec<PatchVm> = vms
            .iter()
            .map(|v| PatchVm {
                id: v.id,
                name: v.name.clone(),
                department: v.department_id,
                owner: v.owner.clone(),
                guest_os: oses.remove(&v.id),
            })
            .collect();
        let r = engine::patches(&patch_vms, &self.db.os_baselines().await?);
        let names = self.department_names().await?;
        let count = |s: PatchStatus| r.counts.get(&s).copied().unwrap_or(0);
        Ok(PatchReportView {
            generated_at: rfc3339(vdc_db::now_ms()),
            current: count(PatchStatus::Current),
            behind: count(PatchStatus::Behind),
            unknown: count(PatchStatus::Unknown),
            unchecked: count(PatchStatus::Unchecked),
            behind_by_owner: r
                .behind_by_owner
                .iter()
                .map(|(owner, &behind)| OwnerCountView {
                    owner: owner.clone(),
                    behind,
                })
                .collect(),
            vms: r
                .lines
                .into_iter()
                .map(|l| PatchLineView {
                    vm_id: l.vm,
                    name: l.name,
                    department_id: l.department,
                    department: l.department.and_then(|d| names.get(&d).cloned()),
                    owner: l.owner,
                    os: l.os,
                    version: l.version,
                    os_name: l.os_name,
                    source: l.source,
                    baseline: l.baseline,
                    status: l.status,
                })
                .collect(),
        })
    }

    /// The licence catalogue.
    pub async fn licence_products(&self) -> Result<Vec<LicenceProduct>, Error> {
        Ok(self.db.licence_products().await?)
    }

    /// Adds or replaces a product of the catalogue (`quota.manage`).
    pub async fn set_licence_product(
        &self,
        actor: &Actor,
        name: &str,
        p: LicenceProduct,
    ) -> Result<LicenceProduct, Error> {
        if p.name != name {
            return Err(Error::invalid("name", "must be the name in the path"));
        }
        p.validate()?;
        self.global_change(actor, "licence.set", ("licence", Some(name)))
            .await?;
        self.db.set_licence_product(&p).await?;
        self.audit_change(actor, "licence.set", ("licence", name), format!("{p:?}"))
            .await;
        Ok(p)
    }

    /// Removes a product of the catalogue (`quota.manage`).
    pub async fn delete_licence_product(&self, actor: &Actor, name: &str) -> Result<(), Error> {
        self.global_change(actor, "licence.delete", ("licence", Some(name)))
            .await?;
        if !self.db.delete_licence_product(name).await? {
            return Err(Error::not_found("licence", name));
        }
        self.audit_change(actor, "licence.delete", ("licence", name), String::new())
            .await;
        Ok(())
    }

    /// The patch baselines.
    pub async fn os_baselines(&self) -> Result<Vec<OsBaseline>, Error> {
        Ok(self.db.os_baselines().await?)
    }

    /// Sets the baseline of an OS (`quota.manage`).
    pub async fn set_os_baseline(
        &self,
        actor: &Actor,
        os: &str,
        b: OsBaseline,
    ) -> Result<OsBaseline, Error> {
        if b.os != os {
            return Err(Error::invalid("os", "must be the OS in the path"));
        }
        b.validate()?;
        self.global_change(actor, "os_baseline.set", ("os_baseline", Some(os)))
            .await?;
        self.db.set_os_baseline(&b).await?;
        self.audit_change(
            actor,
            "os_baseline.set",
            ("os_baseline", os),
            b.min_version.clone(),
        )
        .await;
        Ok(b)
    }

    /// Removes the baseline of an OS (`quota.manage`).
    pub async fn delete_os_baseline(&self, actor: &Actor, os: &str) -> Result<(), Error> {
        self.global_change(actor, "os_baseline.delete", ("os_baseline", Some(os)))
            .await?;
        if !self.db.delete_os_baseline(os).await? {
            return Err(Error::not_found("os_baseline", os));
        }
        self.audit_change(
            actor,
            "os_baseline.delete",
            ("os_baseline", os),
            String::new(),
        )
        .await;
        Ok(())
    }

    /// What a VM runs, when known (404 otherwise).
    pub async fn vm_guest_os(&self, actor: &Actor, id: VmId) -> Result<GuestOs, Error> {
        self.visible_vm(actor, id).await?;
        self.db
            .guest_os(id)
            .await?
            .ok_or_else(|| Error::not_found("guest_os", id))
    }

    /// Sets what a VM runs by hand (kept over what hosts report), or with `None` forgets it
    /// (hosts' reports fill it again) (`vm.operate` on the VM).
    pub async fn set_vm_guest_os(
        &self,
        actor: &Actor,
        id: VmId,
        p: Option<GuestOsParams>,
    ) -> Result<Option<GuestOs>, Error> {
        if let Some(p) = &p {
            p.validate()?;
        }
        let vm = self.visible_vm(actor, id).await?;
        let check = actor.require(Permission::VmOperate, on_vm(&vm));
        self.authorize(actor, "vm.guest_os", ("vm", Some(id.to_string())), check)
            .await?;
        let g = p.as_ref().map(GuestOsParams::guest_os);
        self.db.set_guest_os(id, g.as_ref()).await?;
        self.audit(
            actor.name(),
            "vm.guest_os",
            ("vm", Some(id.to_string())),
            AuditResult::Ok,
            Some(match &g {
                Some(g) => format!("{} {}", g.os, g.version.as_deref().unwrap_or("")),
                None => "cleared".into(),
            }),
        )
        .await;
        if g.is_none() {
            self.reread_guest_os(&vm).await;
        }
        Ok(g)
    }

    /// Asks a VM's host what it runs (after a manual value is forgotten); a host that cannot
    /// say (within 5 s) leaves what is known until its next report.
    async fn reread_guest_os(&self, vm: &vdc_db::Vm) {
        if vm.host_id.is_none() || vm.management == Management::External {
            return;
        }
        let id = vm.id;
        let read = async {
            let driver = vm_driver(self, vm).await?;
            let info = crate::app::fleet::blocking(move || driver.vm_info(id.0)).await?;
            if let Some(g) = info.guest_os {
                self.db.set_guest_os(id, Some(&g)).await?;
            }
            Ok::<_, Error>(())
        };
        match tokio::time::timeout(std::time::Duration::from_secs(5), read).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::info!(vm = %id, error = %e, "guest OS not re-read from the host")
            }
            Err(_) => {
                tracing::info!(vm = %id, "guest OS not re-read: the host did not answer in 5 s")
            }
        }
    }

    async fn global_change(
        &self,
        actor: &Actor,
        action: &str,
        (kind, name): (&str, Option<&str>),
    ) -> Result<(), Error> {
        let check = actor.require(Permission::QuotaManage, On::global());
        self.authorize(actor, action, (kind, name.map(str::to_string)), check)
            .await
    }

    async fn audit_change(
        &self,
        actor: &Actor,
        action: &str,
        (kind, name): (&str, &str),
        detail: String,
    ) {
        self.audit(
            actor.name(),
            action,
            (kind, Some(name.to_string())),
            AuditResult::Ok,
            (!detail.is_empty()).then_some(detail),
        )
        .await;
    }
}

/// The licence report as CSV: a row per product and VM, host, or idle holder.
pub fn licences_csv(r: &LicenceReportView) -> String {
    let mut rows = Vec::new();
    for p in &r.products {
        let row = |kind: &str, name: &str, units: String, detail: &str| {
            vec![
                p.product.clone(),
                p.model.to_string(),
                p.owned.to_string(),
                p.needed_now.to_string(),
                p.needed.to_string(),
                p.shortfall.to_string(),
                kind.to_string(),
                name.to_string(),
                units,
                detail.to_string(),
            ]
        };
        rows.push(row("product", "", String::new(), ""));
        for v in &p.vms {
            let mut detail = format!("{}; on {}", v.why, v.host.as_deref().unwrap_or("no host"));
            if v.may_run_on > 0 {
                detail.push_str(&format!("; may run on {} hosts", v.may_run_on));
            }
            if v.confined {
                detail.push_str(" (licensed hosts only)");
            }
            rows.push(row("vm", &v.name, String::new(), &detail));
        }
        for h in &p.hosts {
            let detail = format!(
                "{}{}",
                h.why,
                if h.licensed {
                    ""
                } else {
                    "; not marked licensed"
                }
            );
            rows.push(row("host", &h.name, h.units.to_string(), &detail));
        }
        for i in &p.idle {
            rows.push(row(
                "idle",
                &i.name,
                format!("{:.2} {}", i.monthly_cost, r.currency),
                &i.evidence,
            ));
        }
    }
    csv(
        &[
            "product",
            "model",
            "owned",
            "needed_now",
            "needed",
            "shortfall",
            "kind",
            "name",
            "units",
            "detail",
        ],
        rows,
    )
}

/// The patch report as CSV: a row per VM.
pub fn patches_csv(r: &PatchReportView) -> String {
    csv(
        &[
            "status",
            "name",
            "vm_id",
            "department",
            "owner",
            "os",
            "version",
            "baseline",
            "os_name",
            "source",
        ],
        r.vms.iter().map(|l| {
            vec![
                l.status.to_string(),
                l.name.clone(),
                l.vm_id.to_string(),
                opt(&l.department),
                opt(&l.owner),
                opt(&l.os),
                opt(&l.version),
                opt(&l.baseline.as_ref().map(|b| b.min_version.clone())),
                opt(&l.os_name),
                opt(&l.source),
            ]
        }),
    )
}
