//! `vdc report sprawl|licences|chargeback|patches`: the server's reports as tables, JSON or CSV; `vdc import
//! rvtools`: another tool's export into the estate they cover.

use anyhow::{Context, Result};
use vdc_types::*;

use crate::OutputArg as Output;
use crate::client::Client;
use crate::commands::{print_json, table};
use crate::governance::department_id;

#[derive(Debug, clap::Subcommand)]
pub enum ReportCmd {
    /// Idle, zombie and oversized VMs, ended leases, VMs of no one, unmanaged VMs and unused
    /// volumes, with the evidence and the monthly cost each wastes.
    Sprawl {
        /// Only this department's VMs (name or id).
        #[arg(long)]
        department: Option<String>,
        /// Days of use judged for idle and oversized VMs.
        #[arg(long)]
        days: Option<u32>,
        /// Days off that make a zombie.
        #[arg(long)]
        zombie_days: Option<u32>,
        /// Also name managed VMs without a lease.
        #[arg(long)]
        missing_leases: bool,
    },
    /// Licence compliance per product: needed (where VMs run, and every host they may be
    /// moved to) against owned, hosts not marked licensed, idle VMs holding licences.
    Licences {
        /// Only this department's VMs (name or id).
        #[arg(long)]
        department: Option<String>,
    },
    /// Each VM's guest OS against its OS's baseline, the VMs behind first.
    Patches {
        /// Only this department's VMs (name or id).
        #[arg(long)]
        department: Option<String>,
    },
    /// Monthly statements per department and VM.
    Chargeback {
        /// Only this department (name or id).
        #[arg(long)]
        department: Option<String>,
        /// YYYY-MM (default: this month so far).
        #[arg(long)]
        month: Option<String>,
        /// What vCPUs and memory are charged by: allocated or used.
        #[arg(long, default_value = "allocated")]
        model: String,
    },
}

pub async fn report(client: &Client, cmd: ReportCmd, out: Output) -> Result<()> {
    let (path, mut q) = match cmd {
        ReportCmd::Sprawl {
            department,
            days,
            zombie_days,
            missing_leases,
        } => {
            let mut q = of_department(client, department).await?;
            q.push(("missing_leases", missing_leases.to_string()));
            q.extend(days.map(|d| ("days", d.to_string())));
            q.extend(zombie_days.map(|d| ("zombie_days", d.to_string())));
            ("/reports/sprawl", q)
        }
        ReportCmd::Chargeback {
            department,
            month,
            model,
        } => {
            let mut q = of_department(client, department).await?;
            q.push(("model", model));
            q.extend(month.map(|m| ("month", m)));
            ("/reports/chargeback", q)
        }
        ReportCmd::Licences { department } => (
            "/reports/licences",
            of_department(client, department).await?,
        ),
        ReportCmd::Patches { department } => {
            ("/reports/patches", of_department(client, department).await?)
        }
    };
    if out == Output::Csv {
        q.push(("format", "csv".into()));
        print!("{}", client.get_text(path, &q).await?);
        return Ok(());
    }
    match path {
        "/reports/sprawl" => show(client.get(path, &q).await?, out, sprawl_table),
        "/reports/licences" => show(client.get(path, &q).await?, out, licences_table),
        "/reports/patches" => show(client.get(path, &q).await?, out, patches_table),
        _ => show(client.get(path, &q).await?, out, chargeback_table),
    }
}

/// The query of a report of one department, or of all.
async fn of_department(
    client: &Client,
    department: Option<String>,
) -> Result<Vec<(&'static str, String)>> {
    Ok(department_id(client, department)
        .await?
        .map(|d| ("department_id", d.to_string()))
        .into_iter()
        .collect())
}

/// A report as JSON or as tables.
fn show<T: serde::Serialize>(r: T, out: Output, tables: fn(&T)) -> Result<()> {
    if out == Output::Json {
        return print_json(&r);
    }
    tables(&r);
    Ok(())
}

fn licences_table(r: &LicenceReportView) {
    table(
        &[
            "PRODUCT",
            "MODEL",
            "OWNED",
            "NEEDED NOW",
            "NEEDED",
            "SHORTFALL",
            "VMS",
            "IDLE HOLDERS",
        ],
        r.products
            .iter()
            .map(|p| {
                vec![
                    p.product.clone(),
                    p.model.to_string(),
                    p.owned.to_string(),
                    p.needed_now.to_string(),
                    p.needed.to_string(),
                    p.shortfall.to_string(),
                    p.vms.len().to_string(),
                    p.idle.len().to_string(),
                ]
            })
            .collect(),
    );
    let mut rows = Vec::new();
    for p in &r.products {
        for h in p.hosts.iter().filter(|h| !h.licensed) {
            rows.push(vec![
                p.product.clone(),
                format!("host {}", h.name),
                h.units.to_string(),
                format!("not marked licensed; {}", h.why),
            ]);
        }
        for i in &p.idle {
            rows.push(vec![
                p.product.clone(),
                format!("vm {}", i.name),
                format!("{:.2} {}/month", i.monthly_cost, r.currency),
                i.evidence.clone(),
            ]);
        }
        for v in &p.uncounted {
            rows.push(vec![
                p.product.clone(),
                format!("vm {v}"),
                String::new(),
                "no host or cluster known: not counted".into(),
            ]);
        }
    }
    if !rows.is_empty() {
        table(&["PRODUCT", "WHAT", "UNITS / COST", "WHY"], rows);
    }
    println!(
        "{} of {} products short; idle VMs hold licences worth {:.2} {}/month",
        r.short,
        r.products.len(),
        r.idle_monthly_cost,
        r.currency
    );
    if !r.whole_estate {
        println!("needed counts only the VMs in view, against every licence owned");
    }
}

fn patches_table(r: &PatchReportView) {
    table(
        &[
            "STATUS",
            "VM",
            "OWNER",
            "DEPARTMENT",
            "OS",
            "VERSION",
            "BASELINE",
            "SOURCE",
        ],
        r.vms
            .iter()
            .map(|l| {
                vec![
                    l.status.to_string(),
                    l.name.clone(),
                    l.owner.clone().unwrap_or_default(),
                    dept(&l.department),
                    l.os.clone().unwrap_or_default(),
                    l.version.clone().unwrap_or_default(),
                    l.baseline
                        .as_ref()
                        .map(|b| b.min_version.clone())
                        .unwrap_or_default(),
                    l.source.map(|s| s.to_string()).unwrap_or_default(),
                ]
            })
            .collect(),
    );
    table(
        &["OWNER", "BEHIND"],
        r.behind_by_owner
            .iter()
            .map(|o| {
                vec![
                    o.owner.clone().unwrap_or_else(|| "(none)".into()),
                    o.behind.to_string(),
                ]
            })
            .collect(),
    );
    println!(
        "{} behind, {} unknown, {} unchecked, {} current",
        r.behind, r.unknown, r.unchecked, r.current
    );
}

fn dept(d: &Option<String>) -> String {
    d.clone().unwrap_or_else(|| "(none)".into())
}

fn sprawl_table(r: &SprawlReportView) {
    let c = &r.currency;
    table(
        &[
            "KIND",
            "NAME",
            "DEPARTMENT",
            "OWNER",
            &format!("WASTE {c}/MONTH"),
            "EVIDENCE",
        ],
        r.findings
            .iter()
            .map(|f| {
                vec![
                    f.kind.to_string(),
                    f.name.clone(),
                    dept(&f.department),
                    f.owner.clone().unwrap_or_default(),
                    format!("{:.2}", f.monthly_waste),
                    f.evidence.clone(),
                ]
            })
            .collect(),
    );
    table(
        &["DEPARTMENT", &format!("WASTE {c}/MONTH")],
        r.waste_by_department
            .iter()
            .map(|d| vec![dept(&d.department), format!("{:.2}", d.amount)])
            .chain([vec!["total".into(), format!("{:.2}", r.total_waste)]])
            .collect(),
    );
}

fn chargeback_table(r: &ChargebackView) {
    println!(
        "{} ({} model), {} – {}, {}",
        r.month, r.model, r.from, r.to, r.currency
    );
    let mut rows = Vec::new();
    for s in &r.statements {
        for b in &s.vms {
            let items: Vec<String> = b
                .lines
                .iter()
                .map(|l| format!("{} {:.2}", l.item, l.amount))
                .collect();
            rows.push(vec![
                dept(&s.department),
                b.name.clone(),
                items.join(", "),
                format!("{:.2}", b.total),
            ]);
        }
        if let Some(f) = &s.fixed {
            rows.push(vec![
                dept(&s.department),
                String::new(),
                "department (fixed)".into(),
                format!("{:.2}", f.amount),
            ]);
        }
        rows.push(vec![
            dept(&s.department),
            "total".into(),
            String::new(),
            format!("{:.2}", s.total),
        ]);
    }
    rows.push(vec![
        "all".into(),
        "total".into(),
        String::new(),
        format!("{:.2}", r.total),
    ]);
    table(
        &[
            "DEPARTMENT",
            "VM",
            "ITEMS",
            &format!("TOTAL {}", r.currency),
        ],
        rows,
    );
}

#[derive(Debug, clap::Subcommand)]
pub enum ImportCmd {
    /// An RVTools export (xlsx: vInfo, vHost, vDisk) as an external, read-only estate that
    /// the reports cover; importing the same source again replaces it.
    Rvtools {
        /// The workbook.
        file: std::path::PathBuf,
        /// Names the estate (default: the file's name without extension).
        #[arg(long)]
        source: Option<String>,
    },
    /// VMware .vmx files (one per VM) as an external, read-only estate of VMs without hosts.
    Vmx {
        /// The files.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
        /// Names the estate.
        #[arg(long, default_value = "vmx")]
        source: String,
    },
}

pub async fn import(client: &Client, cmd: ImportCmd, out: crate::Output) -> Result<()> {
    let read =
        |f: &std::path::Path| std::fs::read(f).with_context(|| format!("read {}", f.display()));
    let (what, done): (String, ImportView) = match cmd {
        ImportCmd::Rvtools { file, source } => {
            let source = match source {
                Some(s) => s,
                None => file
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .context("name the estate with --source")?
                    .to_string(),
            };
            let done = client
                .post_bytes(
                    "/imports/rvtools",
                    &[("source", source)],
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    read(&file)?,
                )
                .await?;
            (file.display().to_string(), done)
        }
        ImportCmd::Vmx { files, source } => {
            let mut p = VmxImportParams::default();
            for f in &files {
                let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                let text = String::from_utf8(read(f)?)
                    .with_context(|| format!("{} is not text", f.display()))?;
                if p.files.insert(name.to_string(), text).is_some() {
                    anyhow::bail!("two files are named {name}: import them as separate sources");
                }
            }
            let done = client
                .post_query("/imports/vmx", &[("source", source)], &p)
                .await?;
            (format!("{} .vmx files", files.len()), done)
        }
    };
    if out == crate::Output::Json {
        return print_json(&done);
    }
    println!(
        "imported {what} into {}: {} clusters, {} hosts, {} VMs ({} without a listed host, {} templates skipped, {} gone since the last import)",
        done.site,
        done.clusters,
        done.hosts,
        done.vms,
        done.vms_without_host,
        done.templates_skipped,
        done.vms_removed
    );
    Ok(())
}
