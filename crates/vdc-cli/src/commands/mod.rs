//! The client commands: each calls the API and prints a table (or JSON with `-o json`).

use anyhow::{Result, bail};
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use serde::Serialize;
use vdc_types::*;

use crate::Output;
use crate::client::{Client, Credentials};

mod host;
mod job;
mod session;
mod vm;

pub use host::*;
pub use job::*;
pub use session::*;
pub use vm::*;

pub(crate) fn print_json<T: Serialize>(v: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

pub(crate) fn table(header: &[&str], rows: Vec<Vec<String>>) {
    let mut t = Table::new();
    t.load_style(UTF8_BORDERS_ONLY)
        .set_header(header.iter().copied());
    for r in rows {
        t.add_row(r);
    }
    println!("{t}");
}

pub(crate) fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref()
        .map(|x| x.to_string())
        .unwrap_or_else(|| "-".into())
}

pub(crate) fn push_opt<T: ToString>(
    q: &mut Vec<(&'static str, String)>,
    k: &'static str,
    v: &Option<T>,
) {
    if let Some(v) = v {
        q.push((k, v.to_string()));
    }
}

/// Fetches one page, or every page with `all`.
pub(crate) async fn pages<T: serde::de::DeserializeOwned>(
    client: &Client,
    path: &str,
    mut q: Vec<(&'static str, String)>,
    all: bool,
) -> Result<Vec<T>> {
    let mut items = Vec::new();
    loop {
        let page: Page<T> = client.get(path, &q).await?;
        items.extend(page.items);
        match page.next_page_token {
            Some(t) if all => {
                q.retain(|(k, _)| *k != "page_token");
                q.push(("page_token", t));
            }
            _ => return Ok(items),
        }
    }
}

pub(crate) async fn accepted(
    client: &Client,
    a: JobAccepted,
    no_wait: bool,
    out: Output,
) -> Result<()> {
    if no_wait {
        return match out {
            Output::Json => print_json(&a),
            Output::Table => {
                println!("job {} accepted ({})", a.job.id, a.job.kind);
                Ok(())
            }
        };
    }
    let job = client.wait_job(&a.job, out == Output::Json).await?;
    match (out, a.vm_id) {
        (Output::Json, Some(id)) if job.kind != "vm.delete" => {
            print_json(&client.get::<VmView>(&format!("/vms/{id}"), &[]).await?)
        }
        (Output::Json, _) => print_json(&job),
        (Output::Table, Some(id)) if job.kind != "vm.delete" => {
            let v: VmView = client.get(&format!("/vms/{id}"), &[]).await?;
            println!("{} {}: {}", job.kind, v.name, v.power_state);
            Ok(())
        }
        (Output::Table, _) => {
            println!("{} done", job.kind);
            Ok(())
        }
    }
}

pub async fn sync(client: &Client, out: Output) -> Result<()> {
    let r: serde_json::Value = client.post("/sync", &serde_json::json!({})).await?;
    match out {
        Output::Json => print_json(&r),
        Output::Table => {
            println!(
                "synced {} hosts ({} unreachable): {} VMs reported, {} new ({} unmanaged), {} updated, {} vanished in {} ms",
                r["hosts"],
                r["unreachable"],
                r["vms_reported"],
                r["inserted"],
                r["unmanaged_found"],
                r["updated"],
                r["vanished"],
                r["elapsed_ms"]
            );
            Ok(())
        }
    }
}

/// `vdc status`: the server's background activities and their last runs.
pub async fn status(client: &Client, out: Output) -> Result<()> {
    let tasks: Vec<vdc_types::BackgroundTaskView> = client.get("/background-tasks", &[]).await?;
    match out {
        Output::Json => print_json(&tasks),
        Output::Table => {
            let opt = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".into());
            table(
                &[
                    "ACTIVITY",
                    "WHEN",
                    "RUNS",
                    "LAST START",
                    "TOOK",
                    "RESULT",
                    "OUTCOME",
                    "NEXT",
                ],
                tasks
                    .iter()
                    .map(|t| {
                        vec![
                            t.name.clone(),
                            t.schedule.clone(),
                            t.runs.to_string(),
                            opt(&t.last_started_at),
                            t.last_duration_ms
                                .map_or_else(|| "-".into(), |ms| format!("{ms} ms")),
                            if t.running {
                                "running".into()
                            } else {
                                opt(&t.last_result)
                            },
                            opt(&t.last_outcome),
                            opt(&t.next_run_at),
                        ]
                    })
                    .collect(),
            );
            Ok(())
        }
    }
}
