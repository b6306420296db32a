//! The reports page: sprawl, licences, patch levels, chargeback, with CSV downloads.

use super::*;

// ---------------------------------------------------------------- reports

#[derive(serde::Deserialize, Default)]
pub(crate) struct ReportFilter {
    pub(crate) department: Option<String>,
    pub(crate) month: Option<String>,
    pub(crate) model: Option<String>,
}

pub(crate) struct FindingRow {
    pub(crate) kind: String,
    pub(crate) name: String,
    pub(crate) vm_id: Option<String>,
    pub(crate) department: String,
    pub(crate) owner: String,
    pub(crate) waste: String,
    pub(crate) evidence: String,
}

pub(crate) struct StatementRow {
    pub(crate) department: String,
    pub(crate) vms: usize,
    pub(crate) fixed: String,
    pub(crate) total: String,
}

pub(crate) struct LicenceRow {
    pub(crate) product: String,
    pub(crate) model: String,
    pub(crate) owned: u64,
    pub(crate) needed_now: u64,
    pub(crate) needed: u64,
    pub(crate) shortfall: u64,
    pub(crate) unlicensed_hosts: String,
    pub(crate) idle: String,
}

pub(crate) struct PatchRow {
    pub(crate) status: String,
    pub(crate) vm_id: String,
    pub(crate) name: String,
    pub(crate) owner: String,
    pub(crate) os: String,
    pub(crate) baseline: String,
}

#[derive(Template)]
#[template(path = "reports.html")]
pub(crate) struct ReportsPage {
    pub(crate) user: String,
    pub(crate) departments: Vec<Choice>,
    pub(crate) models: Vec<Choice>,
    pub(crate) month: String,
    pub(crate) currency: String,
    pub(crate) findings: Vec<FindingRow>,
    pub(crate) waste: Vec<(String, String)>,
    pub(crate) total_waste: String,
    pub(crate) days: u32,
    pub(crate) statements: Vec<StatementRow>,
    pub(crate) charge_title: String,
    pub(crate) charge_total: String,
    pub(crate) sprawl_csv: String,
    pub(crate) chargeback_csv: String,
    pub(crate) licences: Vec<LicenceRow>,
    pub(crate) licence_idle_cost: String,
    pub(crate) licence_partial: bool,
    pub(crate) licences_csv: String,
    pub(crate) patches: Vec<PatchRow>,
    pub(crate) patch_summary: String,
    pub(crate) behind_by_owner: Vec<(String, usize)>,
    pub(crate) patches_csv: String,
}

pub(crate) fn money(v: f64) -> String {
    format!("{v:.2}")
}

pub(crate) async fn reports(
    State(app): State<App>,
    headers: HeaderMap,
    Query(f): Query<ReportFilter>,
) -> Page {
    let actor = caller(&app, &headers).await?;
    let department: Option<DepartmentId> = field(&f.department);
    let sprawl_q = crate::reports::SprawlQuery {
        department_id: department,
        ..Default::default()
    };
    let charge_q = crate::reports::ChargebackQuery {
        month: field(&f.month),
        model: field(&f.model),
        department_id: department,
        format: None,
    };
    let sprawl = app.sprawl_report(&actor, &sprawl_q).await?;
    let charge = app.chargeback_report(&actor, &charge_q).await?;
    let compliance_q = crate::reports::compliance::ComplianceQuery {
        department_id: department,
        format: None,
    };
    // The sprawl above is of the same VMs at the default policy: its idle VMs serve.
    let licences = app
        .licence_report_with(&actor, &compliance_q, &sprawl)
        .await?;
    let patches = app.patch_report(&actor, &compliance_q).await?;
    let names = Names::load(&app).await?;
    let dept = |d: &Option<String>| d.clone().unwrap_or_else(|| "(none)".into());
    let query = |extra: &str| {
        let mut q = vec![format!("format=csv{extra}")];
        if let Some(d) = department {
            q.push(format!("department_id={d}"));
        }
        q.join("&")
    };
    html(&ReportsPage {
        user: actor.name().to_string(),
        departments: names.department_choices(&f.department),
        models: choices(
            [ChargeModel::Allocated, ChargeModel::Used]
                .iter()
                .map(|m| (m.to_string(), m.to_string())),
            &f.model,
        ),
        month: charge.month.clone(),
        currency: sprawl.currency.clone(),
        findings: sprawl
            .findings
            .iter()
            .map(|x| FindingRow {
                kind: x.kind.to_string().replace('_', " "),
                name: x.name.clone(),
                vm_id: x.vm_id.map(|v| v.to_string()),
                department: dept(&x.department),
                owner: x.owner.clone().unwrap_or_default(),
                waste: money(x.monthly_waste),
                evidence: x.evidence.clone(),
            })
            .collect(),
        waste: sprawl
            .waste_by_department
            .iter()
            .map(|d| (dept(&d.department), money(d.amount)))
            .collect(),
        total_waste: money(sprawl.total_waste),
        days: sprawl.days,
        statements: charge
            .statements
            .iter()
            .map(|s| StatementRow {
                department: dept(&s.department),
                vms: s.vms.len(),
                fixed: s
                    .fixed
                    .as_ref()
                    .map(|l| money(l.amount))
                    .unwrap_or_default(),
                total: money(s.total),
            })
            .collect(),
        charge_title: format!(
            "{} ({} model, {} – {})",
            charge.month,
            charge.model,
            &charge.from[..10],
            &charge.to[..16]
        ),
        charge_total: money(charge.total),
        sprawl_csv: format!("/api/v1/reports/sprawl?{}", query("")),
        chargeback_csv: format!(
            "/api/v1/reports/chargeback?{}",
            query(&format!("&month={}&model={}", charge.month, charge.model))
        ),
        licences: licences
            .products
            .iter()
            .map(|p| LicenceRow {
                product: p.product.clone(),
                model: p.model.to_string().replace('_', " "),
                owned: p.owned,
                needed_now: p.needed_now,
                needed: p.needed,
                shortfall: p.shortfall,
                unlicensed_hosts: p
                    .hosts
                    .iter()
                    .filter(|h| !h.licensed)
                    .map(|h| h.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                idle: p
                    .idle
                    .iter()
                    .map(|i| format!("{} ({})", i.name, money(i.monthly_cost)))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
            .collect(),
        licence_idle_cost: money(licences.idle_monthly_cost),
        licence_partial: !licences.whole_estate,
        licences_csv: format!("/api/v1/reports/licences?{}", query("")),
        patches: patches
            .vms
            .iter()
            .filter(|l| matches!(l.status, PatchStatus::Behind | PatchStatus::Unknown))
            .map(|l| PatchRow {
                status: l.status.to_string(),
                vm_id: l.vm_id.to_string(),
                name: l.name.clone(),
                owner: l.owner.clone().unwrap_or_default(),
                os: format!(
                    "{} {}",
                    l.os.as_deref().unwrap_or(""),
                    l.version.as_deref().unwrap_or("(version unknown)")
                ),
                baseline: l
                    .baseline
                    .as_ref()
                    .map(|b| b.min_version.clone())
                    .unwrap_or_default(),
            })
            .collect(),
        patch_summary: format!(
            "{} behind, {} unknown, {} unchecked, {} current",
            patches.behind, patches.unknown, patches.unchecked, patches.current
        ),
        behind_by_owner: patches
            .behind_by_owner
            .iter()
            .map(|o| (o.owner.clone().unwrap_or_else(|| "(none)".into()), o.behind))
            .collect(),
        patches_csv: format!("/api/v1/reports/patches?{}", query("")),
    })
}

#[derive(Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage {
    pub(crate) user: String,
    pub(crate) status: u16,
    pub(crate) message: String,
}

/// A vendored or own static file, embedded in the binary.
pub(crate) async fn asset(Path(path): Path<String>) -> Response {
    match Assets::get(&path) {
        Some(f) => {
            let mime = match path.rsplit_once('.').map(|(_, e)| e) {
                Some("js") => "text/javascript; charset=utf-8",
                Some("css") => "text/css; charset=utf-8",
                _ => "application/octet-stream",
            };
            (
                [
                    (header::CONTENT_TYPE, mime),
                    (header::CACHE_CONTROL, "public, max-age=3600"),
                ],
                f.data,
            )
                .into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
