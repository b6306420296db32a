//! `vdc host …`: hosts listed, shown, added, changed, removed, evacuated, put in standby and woken.

use super::*;

#[derive(Debug, clap::Subcommand)]
pub enum HostCmd {
    /// List hosts.
    List {
        #[arg(long)]
        cluster: Option<ClusterId>,
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        name_prefix: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Follow every page.
        #[arg(long)]
        all: bool,
    },
    /// Show one host.
    Show { id: HostId },
    /// Connect a libvirt host and add it (admin); its VMs are discovered at once.
    Add(crate::ops::HostAddArgs),
    /// Remove a host from the inventory (admin); its VMs stay on it.
    Remove {
        /// Host id or name.
        host: String,
    },
    /// A host's utilisation now.
    Stats {
        /// Host id or name.
        host: String,
    },
    /// What placement may use a host for (admin): maintenance, department, licences.
    Set(crate::placing::HostSetArgs),
    /// Put a host in maintenance and migrate its running VMs away (admin).
    Evacuate {
        /// Host id or name.
        host: String,
        #[arg(long)]
        no_wait: bool,
    },
    /// Power off a host that runs no VM (admin); it stays in standby until woken.
    Standby {
        /// Host id or name.
        host: String,
    },
    /// Power a host in standby back on (admin).
    Wake {
        /// Host id or name.
        host: String,
    },
}

pub async fn host(client: &Client, cmd: HostCmd, out: Output) -> Result<()> {
    match cmd {
        HostCmd::List {
            cluster,
            state,
            name_prefix,
            limit,
            all,
        } => {
            let mut q = vec![("limit", limit.to_string())];
            push_opt(&mut q, "cluster_id", &cluster);
            push_opt(&mut q, "state", &state);
            push_opt(&mut q, "name_prefix", &name_prefix);
            let hosts: Vec<HostView> = pages(client, "/hosts", q, all).await?;
            if out == Output::Json {
                return print_json(&hosts);
            }
            table(
                &[
                    "NAME",
                    "STATE",
                    "HA",
                    "HYPERVISOR",
                    "CPU",
                    "CORES",
                    "MEMORY GiB",
                    "ID",
                ],
                hosts
                    .iter()
                    .map(|h| {
                        vec![
                            h.name.clone(),
                            h.state.to_string(),
                            h.ha.as_ref()
                                .map_or_else(|| "-".to_string(), |x| x.verdict.to_string()),
                            h.hypervisor.to_string(),
                            h.cpu_model.clone(),
                            h.topology().to_string(),
                            format!("{:.0}", h.memory_mib as f64 / 1024.0),
                            h.id.to_string(),
                        ]
                    })
                    .collect(),
            );
            Ok(())
        }
        HostCmd::Add(a) => crate::ops::host_add(client, a, out).await,
        HostCmd::Remove { host } => crate::ops::host_remove(client, &host).await,
        HostCmd::Stats { host } => crate::ops::host_stats(client, &host, out).await,
        HostCmd::Set(a) => crate::placing::host_set(client, a, out).await,
        HostCmd::Evacuate { host, no_wait } => {
            crate::placing::evacuate(client, &host, no_wait, out).await
        }
        HostCmd::Standby { host } => crate::placing::power(client, &host, "standby", out).await,
        HostCmd::Wake { host } => crate::placing::power(client, &host, "wake", out).await,
        HostCmd::Show { id } => {
            let h: HostView = client.get(&format!("/hosts/{id}"), &[]).await?;
            if out == Output::Json {
                return print_json(&h);
            }
            table(
                &["FIELD", "VALUE"],
                vec![
                    vec!["name".into(), h.name],
                    vec!["id".into(), h.id.to_string()],
                    vec!["uri".into(), h.uri],
                    vec![
                        "state".into(),
                        format!(
                            "{}{}",
                            h.state,
                            h.state_reason
                                .map(|r| format!(" ({r})"))
                                .unwrap_or_default()
                        ),
                    ],
                    vec![
                        "ha".into(),
                        h.ha.map_or_else(
                            || "-".to_string(),
                            |x| {
                                let mut s = x.verdict.to_string();
                                if let Some(t) = x.dead_at {
                                    s += &format!(", found dead {t}");
                                }
                                if let Some(t) = x.fenced_at {
                                    s += &format!(", fenced {t}");
                                }
                                s
                            },
                        ),
                    ],
                    vec!["hypervisor".into(), h.hypervisor.to_string()],
                    vec!["cpu".into(), format!("{} {}", h.cpu_vendor, h.cpu_model)],
                    vec![
                        "topology".into(),
                        format!(
                            "{} sockets x {} cores x {} threads",
                            h.sockets, h.cores_per_socket, h.threads_per_core
                        ),
                    ],
                    vec!["memory".into(), format!("{} MiB", h.memory_mib)],
                    vec!["numa cells".into(), h.numa_cells.len().to_string()],
                    vec!["maintenance".into(), h.maintenance.to_string()],
                    vec![
                        "dedicated to".into(),
                        h.dedicated_to
                            .map_or_else(|| "(shared)".into(), |d| d.to_string()),
                    ],
                    vec![
                        "licensed".into(),
                        format!(
                            "{} ({} per vCPU)",
                            h.licensed_software.join(", "),
                            h.licence_cost_per_vcpu
                        ),
                    ],
                    vec![
                        "load".into(),
                        match (h.cpu_load, &h.load_sampled_at) {
                            (Some(c), Some(at)) => format!(
                                "CPU {:.0} %, vCPU wait {}, balloon {:.1} %, swap {:.0} KiB/s \
                                 (at {at})",
                                c * 100.0,
                                h.vcpu_wait
                                    .map_or_else(|| "-".into(), |w| format!("{:.1} %", w * 100.0)),
                                h.balloon_share.unwrap_or(0.0) * 100.0,
                                h.swap_kib_s.unwrap_or(0.0)
                            ),
                            _ => "not sampled yet".into(),
                        },
                    ],
                    vec!["last sync".into(), opt(&h.last_sync_at)],
                ],
            );
            Ok(())
        }
    }
}
