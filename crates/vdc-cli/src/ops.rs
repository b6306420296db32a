//! Client commands for hosts added by URI, rogue VMs, migration, snapshots and live stats.

use anyhow::{Result, bail};
use vdc_types::*;

use crate::Output;
use crate::client::Client;
use crate::commands::{accepted, print_json, resolve_vm, table};

#[derive(Debug, clap::Args)]
pub struct HostAddArgs {
    /// libvirt URI, e.g. qemu:///system, qemu+ssh://root@kvm1/system, esx://vc1/?no_verify=1.
    #[arg(long)]
    uri: String,
    /// Cluster name (created if missing; `default` when omitted).
    #[arg(long)]
    cluster: Option<String>,
    /// Display name (the host's hostname when omitted).
    #[arg(long)]
    name: Option<String>,
    /// `kvm` (default) or `qemu` (software emulation, for hosts without hardware
    /// virtualisation).
    #[arg(long)]
    domain_type: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct AdoptArgs {
    /// VM id or name.
    vm: String,
    #[arg(long)]
    owner: String,
    #[arg(long)]
    department: DepartmentId,
    #[arg(long)]
    purpose: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// VM id or name.
    vm: String,
    /// Target host id or name.
    #[arg(long)]
    to: String,
    #[arg(long)]
    no_wait: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum SnapshotCmd {
    /// List a VM's snapshots.
    List { vm: String },
    /// Take a snapshot.
    Create {
        vm: String,
        name: String,
        #[arg(long)]
        no_wait: bool,
    },
    /// Return the VM to a snapshot.
    Revert {
        vm: String,
        name: String,
        #[arg(long)]
        no_wait: bool,
    },
    /// Delete a snapshot.
    Delete {
        vm: String,
        name: String,
        #[arg(long)]
        no_wait: bool,
    },
}

/// Resolves a host given by id or by exact name.
pub(crate) async fn resolve_host(client: &Client, host: &str) -> Result<HostId> {
    if let Ok(id) = host.parse::<HostId>() {
        return Ok(id);
    }
    let page: Page<HostView> = client
        .get(
            "/hosts",
            &[("name_prefix", host.to_string()), ("limit", "1000".into())],
        )
        .await?;
    match page.items.iter().find(|h| h.name == host) {
        Some(h) => Ok(h.id),
        None => bail!("no host named {host}"),
    }
}

pub async fn host_add(client: &Client, a: HostAddArgs, out: Output) -> Result<()> {
    let p = HostAddParams {
        uri: a.uri,
        cluster: a.cluster,
        name: a.name,
        domain_type: a.domain_type,
    };
    let r: serde_json::Value = client.post("/hosts", &p).await?;
    match out {
        Output::Json => print_json(&r),
        Output::Table => {
            println!(
                "added host {} ({}, {}): {} VMs found, {} unmanaged",
                r["host"]["name"].as_str().unwrap_or("?"),
                r["host"]["hypervisor"].as_str().unwrap_or("?"),
                r["host"]["id"].as_str().unwrap_or("?"),
                r["sync"]["inserted"],
                r["sync"]["unmanaged_found"]
            );
            Ok(())
        }
    }
}

pub async fn host_remove(client: &Client, host: &str) -> Result<()> {
    let id = resolve_host(client, host).await?;
    let _: serde_json::Value = client.delete(&format!("/hosts/{id}")).await?;
    println!("removed host {id} from the inventory (its VMs stay on the hypervisor)");
    Ok(())
}

pub async fn host_stats(client: &Client, host: &str, out: Output) -> Result<()> {
    let id = resolve_host(client, host).await?;
    let s: HostStatsView = client.get(&format!("/hosts/{id}/stats"), &[]).await?;
    if out == Output::Json {
        return print_json(&s);
    }
    table(
        &["CPU %", "MEMORY USED MiB", "RUNNING VMS", "SAMPLED"],
        vec![vec![
            format!("{:.1}", s.cpu_utilisation * 100.0),
            s.memory_used_mib.to_string(),
            s.running_vms.to_string(),
            s.sampled_at,
        ]],
    );
    Ok(())
}

pub async fn vm_stats(client: &Client, vm: &str, out: Output) -> Result<()> {
    let id = resolve_vm(client, vm).await?;
    let s: VmStatsView = client.get(&format!("/vms/{id}/stats"), &[]).await?;
    if out == Output::Json {
        return print_json(&s);
    }
    let mib = |v: Option<u64>| v.map_or("-".into(), |v| format!("{v} MiB"));
    let kib = |v: Option<u64>| v.map_or("-".into(), |v| format!("{v} KiB"));
    table(
        &["COUNTER", "VALUE"],
        vec![
            vec!["state".into(), s.power_state.to_string()],
            vec![
                "cpu time".into(),
                format!("{:.3} s", s.cpu_time_ns as f64 / 1e9),
            ],
            vec![
                "vcpu wait (steal)".into(),
                s.vcpu_delay_ns
                    .iter()
                    .map(|d| format!("{:.3} s", *d as f64 / 1e9))
                    .collect::<Vec<_>>()
                    .join(", "),
            ],
            vec!["rss".into(), format!("{} MiB", s.memory_rss_mib)],
            vec!["balloon".into(), mib(s.balloon_current_mib)],
            vec!["available to guest".into(), mib(s.balloon_available_mib)],
            vec![
                "swap in/out".into(),
                format!("{} / {}", kib(s.swap_in_kib), kib(s.swap_out_kib)),
            ],
            vec![
                "disk read/write".into(),
                format!(
                    "{} B in {} ops / {} B in {} ops",
                    s.block_rd_bytes, s.block_rd_reqs, s.block_wr_bytes, s.block_wr_reqs
                ),
            ],
            vec![
                "network rx/tx".into(),
                format!("{} B / {} B", s.net_rx_bytes, s.net_tx_bytes),
            ],
            vec!["sampled".into(), s.sampled_at],
        ],
    );
    Ok(())
}

pub async fn adopt(client: &Client, a: AdoptArgs, out: Output) -> Result<()> {
    let id = resolve_vm(client, &a.vm).await?;
    let p = AdoptParams {
        owner: a.owner,
        department_id: a.department,
        purpose: a.purpose,
    };
    let v: VmView = client.post(&format!("/vms/{id}/adopt"), &p).await?;
    match out {
        Output::Json => print_json(&v),
        Output::Table => {
            println!(
                "{} adopted: owner {}, now {}",
                v.name,
                v.owner.as_deref().unwrap_or("-"),
                v.management
            );
            Ok(())
        }
    }
}

pub async fn quarantine(client: &Client, vm: &str, no_wait: bool, out: Output) -> Result<()> {
    let id = resolve_vm(client, vm).await?;
    let acc: JobAccepted = client
        .post(&format!("/vms/{id}/quarantine"), &serde_json::json!({}))
        .await?;
    accepted(client, acc, no_wait, out).await
}

pub async fn migrate(client: &Client, a: MigrateArgs, out: Output) -> Result<()> {
    let id = resolve_vm(client, &a.vm).await?;
    let host_id = resolve_host(client, &a.to).await?;
    let acc: JobAccepted = client
        .post(&format!("/vms/{id}/migrate"), &MigrateParams { host_id })
        .await?;
    accepted(client, acc, a.no_wait, out).await
}

pub async fn snapshot(client: &Client, cmd: SnapshotCmd, out: Output) -> Result<()> {
    let (acc, no_wait) = match cmd {
        SnapshotCmd::List { vm } => {
            let id = resolve_vm(client, &vm).await?;
            let snaps: Vec<SnapshotView> = client.get(&format!("/vms/{id}/snapshots"), &[]).await?;
            if out == Output::Json {
                return print_json(&snaps);
            }
            table(
                &["NAME", "STATE", "CREATED"],
                snaps
                    .into_iter()
                    .map(|s| vec![s.name, s.state.to_string(), s.created_at])
                    .collect(),
            );
            return Ok(());
        }
        SnapshotCmd::Create { vm, name, no_wait } => {
            let id = resolve_vm(client, &vm).await?;
            let acc = client
                .post(&format!("/vms/{id}/snapshots"), &SnapshotParams { name })
                .await?;
            (acc, no_wait)
        }
        SnapshotCmd::Revert { vm, name, no_wait } => {
            let id = resolve_vm(client, &vm).await?;
            let acc = client
                .post(
                    &format!("/vms/{id}/snapshots/{name}/revert"),
                    &serde_json::json!({}),
                )
                .await?;
            (acc, no_wait)
        }
        SnapshotCmd::Delete { vm, name, no_wait } => {
            let id = resolve_vm(client, &vm).await?;
            let acc = client
                .delete(&format!("/vms/{id}/snapshots/{name}"))
                .await?;
            (acc, no_wait)
        }
    };
    accepted(client, acc, no_wait, out).await
}
