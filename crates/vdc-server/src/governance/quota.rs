//! Department quotas in resources and money, checked before VMs are created: the engine's
//! `quota::check` against the department's VMs now. Beyond a limit plus its grace a request is
//! refused with the figures (`quota_exceeded`), or — in `audit` mode — recorded as a would-be
//! refusal and let through; reaching the warning threshold or the grace is recorded too.

use std::collections::BTreeMap;
use vdc_db as db;
use vdc_engine::quota::{self, Limits, Prices, Usage, Verdict};
use vdc_types::*;

use crate::app::App;
use crate::app::{Actor, On};

/// Defaults of a new quota.
const WARN_PERCENT: u32 = 80;

fn prices(p: &db::PriceList) -> Prices {
    Prices {
        vcpu: p.vcpu_month,
        memory_gib: p.memory_gib_month,
        disk_gib: p.disk_gib_month,
        licences: p.licences.clone(),
        per_vm: p.vm_month,
        per_department: p.department_month,
    }
}

fn limits(q: &db::Quota) -> Limits {
    Limits {
        vcpus: q.vcpus,
        memory_mib: q.memory_mib,
        disk_gib: q.disk_gib,
        vms: q.vms,
        money: q.money_cents.map(|c| c as f64 / 100.0),
        warn_percent: q.warn_percent,
        grace_percent: q.grace_percent,
    }
}

fn usage_view(u: &Usage) -> QuotaUsageView {
    QuotaUsageView {
        vcpus: u.vcpus,
        memory_mib: u.memory_mib,
        disk_gib: u.disk_gib,
        vms: u.vms,
        money_month: (u.money * 100.0).round() / 100.0,
    }
}

/// What a VM to create asks for.
pub(crate) fn request_of(p: &VmCreateParams, prices: &Prices) -> Usage {
    Usage::of_vm(
        p.vcpus,
        p.memory_mib,
        p.disks.iter().map(|d| d.size_gib).sum(),
        &p.placement.licensed_software,
        prices,
    )
}

impl App {
    /// The price list as the engine reads it.
    pub(crate) async fn prices(&self) -> Result<(Prices, String), Error> {
        let p = self.db.price_list().await?;
        Ok((prices(&p), p.currency))
    }

    /// What a department's VMs use now and cost per month.
    async fn department_usage(&self, d: DepartmentId, p: &Prices) -> Result<Usage, Error> {
        let licences = self.db.department_licences(d).await?;
        let mut used = Usage::default();
        let mut after = None;
        loop {
            let (page, more) = self
                .db
                .list_vms(&db::VmFilter {
                    department_id: Some(d),
                    after: after.clone(),
                    limit: 1000,
                    ..db::VmFilter::default()
                })
                .await?;
            after = page.last().map(|v| (v.name.clone(), v.id.to_string()));
            for v in &page {
                let disk = v.disks.iter().map(|d| d.size_gib).sum();
                let sw = licences.get(&v.id).map_or(&[][..], Vec::as_slice);
                used = used.plus(Usage::of_vm(v.vcpus, v.memory_mib, disk, sw, p));
            }
            if !more {
                return Ok(used);
            }
        }
    }

    /// Checks VMs to create for `department` against its quota: refuses (enforce mode) or
    /// records (audit mode) what goes beyond limit plus grace; records warnings.
    pub(crate) async fn check_quota(
        &self,
        actor: &Actor,
        department: Option<DepartmentId>,
        request: Usage,
    ) -> Result<(), Error> {
        let Some(d) = department else { return Ok(()) };
        let Some(q) = self.db.quota(d).await? else {
            return Ok(());
        };
        let (prices, currency) = self.prices().await?;
        let used = self.department_usage(d, &prices).await?;
        let decision = quota::check(&limits(&q), &used, &request);
        let target = ("department", Some(d.to_string()));
        let figures = |at: Verdict| decision.explain(at, q.grace_percent, &currency);
        match (decision.verdict, q.mode) {
            (Verdict::Within, _) => Ok(()),
            (Verdict::Deny, QuotaMode::Enforce) => {
                let message = format!(
                    "quota of the department exceeded: {}",
                    figures(Verdict::Deny)
                );
                self.audit(
                    actor.name(),
                    "quota.deny",
                    target,
                    AuditResult::Denied,
                    Some(message.clone()),
                )
                .await;
                Err(Error::QuotaExceeded { message })
            }
            (Verdict::Deny, QuotaMode::Audit) => {
                let detail = format!("audit mode, let through: {}", figures(Verdict::Deny));
                self.audit(
                    actor.name(),
                    "quota.would_deny",
                    target,
                    AuditResult::Ok,
                    Some(detail),
                )
                .await;
                Ok(())
            }
            (Verdict::Grace, _) => {
                self.audit(
                    actor.name(),
                    "quota.grace",
                    target,
                    AuditResult::Ok,
                    Some(figures(Verdict::Grace)),
                )
                .await;
                Ok(())
            }
            (Verdict::Warn, _) => {
                self.audit(
                    actor.name(),
                    "quota.warn",
                    target,
                    AuditResult::Ok,
                    Some(figures(Verdict::Warn)),
                )
                .await;
                Ok(())
            }
        }
    }

    /// A department's quota and use (`inventory.read` in the department).
    pub async fn get_quota(&self, actor: &Actor, d: DepartmentId) -> Result<QuotaView, Error> {
        actor.require(Permission::InventoryRead, On::department(Some(d)))?;
        self.db.get_department(d).await?;
        let q = self.db.quota(d).await?.unwrap_or(db::Quota {
            department_id: d,
            vcpus: None,
            memory_mib: None,
            disk_gib: None,
            vms: None,
            money_cents: None,
            warn_percent: WARN_PERCENT,
            grace_percent: 0,
            mode: QuotaMode::Enforce,
        });
        let (prices, currency) = self.prices().await?;
        let used = self.department_usage(d, &prices).await?;
        Ok(QuotaView {
            department_id: d,
            vcpus: q.vcpus,
            memory_mib: q.memory_mib,
            disk_gib: q.disk_gib,
            vms: q.vms,
            money_month: q.money_cents.map(|c| c as f64 / 100.0),
            currency,
            warn_percent: q.warn_percent,
            grace_percent: q.grace_percent,
            mode: q.mode,
            usage: usage_view(&used),
        })
    }

    /// Sets a department's quota (`quota.manage`).
    pub async fn set_quota(
        &self,
        actor: &Actor,
        d: DepartmentId,
        p: QuotaParams,
    ) -> Result<QuotaView, Error> {
        p.validate()?;
        let check = actor.require(Permission::QuotaManage, On::global());
        self.authorize(
            actor,
            "quota.set",
            ("department", Some(d.to_string())),
            check,
        )
        .await?;
        self.db.get_department(d).await?;
        let q = db::Quota {
            department_id: d,
            vcpus: p.vcpus,
            memory_mib: p.memory_mib,
            disk_gib: p.disk_gib,
            vms: p.vms,
            money_cents: p.money_month.map(|m| (m * 100.0).round() as i64),
            warn_percent: p.warn_percent.unwrap_or(WARN_PERCENT),
            grace_percent: p.grace_percent.unwrap_or(0),
            mode: p.mode.unwrap_or(QuotaMode::Enforce),
        };
        self.db.set_quota(&q).await?;
        self.audit(
            actor.name(),
            "quota.set",
            ("department", Some(d.to_string())),
            AuditResult::Ok,
            Some(format!("{q:?}")),
        )
        .await;
        self.get_quota(actor, d).await
    }

    /// The price list.
    pub async fn price_list(&self) -> Result<PriceListView, Error> {
        let p = self.db.price_list().await?;
        Ok(PriceListView {
            currency: p.currency,
            vcpu_month: p.vcpu_month,
            memory_gib_month: p.memory_gib_month,
            disk_gib_month: p.disk_gib_month,
            licences: p.licences,
            vm_month: p.vm_month,
            department_month: p.department_month,
        })
    }

    /// Replaces the price list (`quota.manage`).
    pub async fn set_price_list(
        &self,
        actor: &Actor,
        p: PriceListView,
    ) -> Result<PriceListView, Error> {
        validate_price_list(&p)?;
        let check = actor.require(Permission::QuotaManage, On::global());
        self.authorize(actor, "prices.set", ("price_list", None), check)
            .await?;
        let licences: BTreeMap<String, f64> = p.licences.clone();
        self.db
            .set_price_list(&db::PriceList {
                currency: p.currency.clone(),
                vcpu_month: p.vcpu_month,
                memory_gib_month: p.memory_gib_month,
                disk_gib_month: p.disk_gib_month,
                licences,
                vm_month: p.vm_month,
                department_month: p.department_month,
            })
            .await?;
        self.audit(
            actor.name(),
            "prices.set",
            ("price_list", None),
            AuditResult::Ok,
            Some(format!("{p:?}")),
        )
        .await;
        Ok(p)
    }
}
