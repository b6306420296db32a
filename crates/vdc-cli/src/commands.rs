//! The client commands: each calls the API and prints a table (or JSON with `-o json`).

use anyhow::{Result, bail};
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use serde::Serialize;
use vdc_types::*;

use crate::Output;
use crate::client::{Client, Credentials};

#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    #[arg(long, short, default_value = "admin")]
    username: String,
    /// Password (default: $VDC_PASSWORD, else asked on the terminal).
    #[arg(long, env = "VDC_PASSWORD", hide_env_values = true)]
    password: Option<String>,
}

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

#[derive(Debug, clap::Subcommand)]
pub enum VmCmd {
    /// List VMs.
    List {
        #[arg(long)]
        cluster: Option<ClusterId>,
        #[arg(long)]
        host: Option<HostId>,
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        owner: Option<String>,
        #[arg(long)]
        department: Option<DepartmentId>,
        #[arg(long)]
        tag: Option<String>,
        #[arg(long)]
        name_prefix: Option<String>,
        /// `managed`, `unmanaged` (rogue VMs) or `quarantined`.
        #[arg(long)]
        management: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Follow every page.
        #[arg(long)]
        all: bool,
    },
    /// Show one VM (by id or name).
    Show { vm: String },
    /// Create a VM.
    Create(Box<VmCreateArgs>),
    /// Power on.
    Start(ActionArgs),
    /// Graceful (ACPI) shutdown.
    Shutdown(ActionArgs),
    /// Hard power off.
    Stop(ActionArgs),
    /// Suspend in memory.
    Suspend(ActionArgs),
    /// Resume a suspended VM.
    Resume(ActionArgs),
    /// Delete a VM (stopping it first).
    Delete(ActionArgs),
    /// Change owner, department, purpose, tags or lease.
    Update(VmUpdateArgs),
    /// A VM's HA settings; with options, change them.
    Ha {
        /// VM id or name.
        vm: String,
        /// highest, high, medium, low or lowest.
        #[arg(long)]
        priority: Option<RestartPriority>,
        /// restart or leave_off.
        #[arg(long)]
        policy: Option<HaPolicy>,
        /// A VM started before this one (repeat; `--depends-on ''` clears).
        #[arg(long)]
        depends_on: Vec<String>,
    },
    /// Live counters from the VM's host (CPU, vCPU wait, memory, I/O).
    Stats {
        /// VM id or name.
        vm: String,
    },
    /// Take an unmanaged VM under management (admin).
    Adopt(crate::ops::AdoptArgs),
    /// Suspend an unmanaged VM and keep it until adopted (admin).
    Quarantine(ActionArgs),
    /// Live-migrate a VM to another host.
    Migrate(crate::ops::MigrateArgs),
    /// Snapshots of a VM.
    #[command(subcommand)]
    Snapshot(crate::ops::SnapshotCmd),
}

#[derive(Debug, clap::Args)]
pub struct ActionArgs {
    /// VM id or name.
    vm: String,
    /// Return once the job is accepted instead of waiting for it.
    #[arg(long)]
    no_wait: bool,
}

#[derive(Debug, clap::Args)]
pub struct VmCreateArgs {
    #[arg(long)]
    name: String,
    #[arg(long, default_value_t = 1)]
    vcpus: u32,
    #[arg(long, default_value_t = 1024)]
    memory_mib: u64,
    /// A disk of this many GiB (repeat for more disks).
    #[arg(long = "disk-gib")]
    disks: Vec<u64>,
    /// A NIC on this network (repeat for more).
    #[arg(long = "network")]
    networks: Vec<String>,
    #[arg(long)]
    host: Option<HostId>,
    #[arg(long)]
    owner: Option<String>,
    #[arg(long)]
    department: Option<DepartmentId>,
    #[arg(long)]
    purpose: Option<String>,
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// Lease expiry, RFC 3339.
    #[arg(long)]
    lease: Option<String>,
    /// Power on once defined.
    #[arg(long)]
    start: bool,
    /// Boot this kernel (a path on the host) instead of the first disk.
    #[arg(long)]
    kernel: Option<String>,
    /// Show how every host rates for this VM before creating it.
    #[arg(long)]
    explain: bool,
    #[command(flatten)]
    constraints: crate::placing::ConstraintFlags,
    /// Create this many VMs (NAME-1 … NAME-N) placed together, all or none.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=100))]
    count: u16,
    /// Initrd for --kernel (a path on the host).
    #[arg(long, requires = "kernel")]
    initrd: Option<String>,
    /// Kernel command line for --kernel.
    #[arg(long, requires = "kernel")]
    cmdline: Option<String>,
    /// The guest OS as a libosinfo id (`osinfo-query os`), e.g. http://debian.org/debian/12.
    #[arg(long = "os")]
    guest_os: Option<String>,
    #[arg(long)]
    no_wait: bool,
}

#[derive(Debug, clap::Args)]
pub struct VmUpdateArgs {
    /// VM id or name.
    vm: String,
    #[arg(long)]
    owner: Option<String>,
    #[arg(long)]
    department: Option<DepartmentId>,
    #[arg(long)]
    purpose: Option<String>,
    /// Replace the tags (repeat for several).
    #[arg(long = "tag")]
    tags: Option<Vec<String>>,
    /// Lease expiry, RFC 3339; empty clears it.
    #[arg(long)]
    lease: Option<String>,
    /// Refuse if the VM changed since this generation.
    #[arg(long)]
    generation: Option<i64>,
}

#[derive(Debug, clap::Subcommand)]
pub enum JobCmd {
    /// Recent jobs.
    List {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// One job.
    Show { id: JobId },
    /// Wait for a job to end, with a progress bar.
    Wait { id: JobId },
}

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

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref()
        .map(|x| x.to_string())
        .unwrap_or_else(|| "-".into())
}

pub async fn login(server: Option<String>, args: LoginArgs, out: Output) -> Result<()> {
    let client = Client::new(server, None)?;
    let password = match args.password {
        Some(p) => p,
        None => {
            eprint!("password for {}: ", args.username);
            let mut s = String::new();
            std::io::stdin().read_line(&mut s)?;
            s.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    let resp: LoginResponse = client
        .post(
            "/auth/login",
            &LoginParams {
                username: args.username,
                password,
            },
        )
        .await?;
    let path = Credentials {
        server: client.base.clone(),
        token: resp.token.clone(),
    }
    .save()?;
    match out {
        Output::Json => print_json(&resp.user),
        Output::Table => {
            println!(
                "logged in to {} as {} ({}); session saved in {}",
                client.base,
                resp.user.username,
                crate::governance::roles_text(&resp.user.roles),
                path.display()
            );
            Ok(())
        }
    }
}

pub async fn logout(client: &Client) -> Result<()> {
    let _: serde_json::Value = client.post("/auth/logout", &serde_json::json!({})).await?;
    let path = crate::client::config_dir().join("credentials.json");
    let _ = std::fs::remove_file(path);
    println!("logged out");
    Ok(())
}

fn push_opt<T: ToString>(q: &mut Vec<(&'static str, String)>, k: &'static str, v: &Option<T>) {
    if let Some(v) = v {
        q.push((k, v.to_string()));
    }
}

/// Fetches one page, or every page with `all`.
async fn pages<T: serde::de::DeserializeOwned>(
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
                            format!(
                                "{}x{}x{}",
                                h.sockets, h.cores_per_socket, h.threads_per_core
                            ),
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

/// Resolves a VM given by id or by exact name.
pub(crate) async fn resolve_vm(client: &Client, vm: &str) -> Result<VmId> {
    if let Ok(id) = vm.parse::<VmId>() {
        return Ok(id);
    }
    let page: Page<VmView> = client
        .get(
            "/vms",
            &[("name_prefix", vm.to_string()), ("limit", "1000".into())],
        )
        .await?;
    match page.items.iter().find(|v| v.name == vm) {
        Some(v) => Ok(v.id),
        None => bail!("no VM named {vm}"),
    }
}

fn vm_rows(vms: &[VmView]) -> Vec<Vec<String>> {
    vms.iter()
        .map(|v| {
            vec![
                v.name.clone(),
                v.power_state.to_string(),
                v.management.to_string(),
                v.vcpus.to_string(),
                v.memory_mib.to_string(),
                opt(&v.owner),
                v.tags.join(","),
                v.id.to_string(),
            ]
        })
        .collect()
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

pub async fn vm(client: &Client, cmd: VmCmd, out: Output) -> Result<()> {
    match cmd {
        VmCmd::List {
            cluster,
            host,
            state,
            owner,
            department,
            tag,
            name_prefix,
            management,
            limit,
            all,
        } => {
            let mut q = vec![("limit", limit.to_string())];
            push_opt(&mut q, "management", &management);
            push_opt(&mut q, "cluster_id", &cluster);
            push_opt(&mut q, "host_id", &host);
            push_opt(&mut q, "state", &state);
            push_opt(&mut q, "owner", &owner);
            push_opt(&mut q, "department_id", &department);
            push_opt(&mut q, "tag", &tag);
            push_opt(&mut q, "name_prefix", &name_prefix);
            let vms: Vec<VmView> = pages(client, "/vms", q, all).await?;
            if out == Output::Json {
                return print_json(&vms);
            }
            table(
                &[
                    "NAME",
                    "STATE",
                    "MANAGEMENT",
                    "VCPUS",
                    "MEMORY MiB",
                    "OWNER",
                    "TAGS",
                    "ID",
                ],
                vm_rows(&vms),
            );
            Ok(())
        }
        VmCmd::Show { vm } => {
            let id = resolve_vm(client, &vm).await?;
            let v: VmView = client.get(&format!("/vms/{id}"), &[]).await?;
            if out == Output::Json {
                return print_json(&v);
            }
            table(
                &["FIELD", "VALUE"],
                vec![
                    vec!["name".into(), v.name.clone()],
                    vec!["id".into(), v.id.to_string()],
                    vec!["state".into(), v.power_state.to_string()],
                    vec!["management".into(), v.management.to_string()],
                    vec!["host".into(), opt(&v.host_id)],
                    vec![
                        "size".into(),
                        format!("{} vCPU, {} MiB", v.vcpus, v.memory_mib),
                    ],
                    vec![
                        "disks".into(),
                        v.disks
                            .iter()
                            .map(|d| {
                                format!(
                                    "{} {} GiB {} on {}",
                                    d.device, d.size_gib, d.format, d.datastore
                                )
                            })
                            .collect::<Vec<_>>()
                            .join("; "),
                    ],
                    vec![
                        "nics".into(),
                        v.nics
                            .iter()
                            .map(|n| format!("{} on {}", n.mac, n.network))
                            .collect::<Vec<_>>()
                            .join("; "),
                    ],
                    vec!["owner".into(), opt(&v.owner)],
                    vec!["department".into(), opt(&v.department_id)],
                    vec!["purpose".into(), opt(&v.purpose)],
                    vec!["tags".into(), v.tags.join(", ")],
                    vec!["lease expires".into(), opt(&v.lease_expires_at)],
                    vec![
                        "created".into(),
                        format!("{} by {}", v.created_at, opt(&v.created_by)),
                    ],
                    vec!["generation".into(), v.generation.to_string()],
                ],
            );
            Ok(())
        }
        VmCmd::Create(a) => {
            let a = *a;
            let p = VmCreateParams {
                name: a.name,
                vcpus: a.vcpus,
                memory_mib: a.memory_mib,
                disks: a
                    .disks
                    .into_iter()
                    .map(|size_gib| DiskSpec {
                        size_gib,
                        datastore: None,
                    })
                    .collect(),
                nics: a
                    .networks
                    .into_iter()
                    .map(|network| NicSpec { network })
                    .collect(),
                host_id: a.host,
                owner: a.owner,
                department_id: a.department,
                purpose: a.purpose,
                tags: a.tags,
                lease_expires_at: a.lease,
                start: a.start,
                boot: a.kernel.map(|kernel| KernelBootSpec {
                    kernel,
                    initrd: a.initrd,
                    cmdline: a.cmdline,
                }),
                placement: a.constraints.constraints(),
                guest_os: a.guest_os,
            };
            if a.explain && out == Output::Table {
                let r: RatingView = client
                    .post(
                        "/placement/ratings",
                        &PlacementParams {
                            vm_id: None,
                            vcpus: Some(p.vcpus),
                            memory_mib: Some(p.memory_mib),
                            disks: p.disks.clone(),
                            nics: p.nics.clone(),
                            department_id: p.department_id,
                            placement: p.placement.clone(),
                        },
                    )
                    .await?;
                crate::placing::print_rating(&r, 10);
            }
            if a.count > 1 {
                return crate::placing::create_group(
                    client,
                    p,
                    usize::from(a.count),
                    a.no_wait,
                    out,
                )
                .await;
            }
            let acc: JobAccepted = client.post("/vms", &p).await?;
            accepted(client, acc, a.no_wait, out).await
        }
        VmCmd::Start(a) => action(client, a, VmAction::Start, out).await,
        VmCmd::Shutdown(a) => action(client, a, VmAction::Shutdown, out).await,
        VmCmd::Stop(a) => action(client, a, VmAction::Stop, out).await,
        VmCmd::Suspend(a) => action(client, a, VmAction::Suspend, out).await,
        VmCmd::Resume(a) => action(client, a, VmAction::Resume, out).await,
        VmCmd::Delete(a) => {
            let id = resolve_vm(client, &a.vm).await?;
            let acc: JobAccepted = client.delete(&format!("/vms/{id}")).await?;
            accepted(client, acc, a.no_wait, out).await
        }
        VmCmd::Stats { vm } => crate::ops::vm_stats(client, &vm, out).await,
        VmCmd::Ha {
            vm,
            priority,
            policy,
            depends_on,
        } => {
            let id = resolve_vm(client, &vm).await?;
            let path = format!("/vms/{id}/ha");
            let v: VmHaView = if priority.is_none() && policy.is_none() && depends_on.is_empty() {
                client.get(&path, &[]).await?
            } else {
                let mut deps = Vec::new();
                for d in depends_on.iter().filter(|d| !d.is_empty()) {
                    deps.push(resolve_vm(client, d).await?);
                }
                let p = VmHaParams {
                    priority,
                    policy,
                    depends_on: (!depends_on.is_empty()).then_some(deps),
                };
                client.put(&path, &p).await?
            };
            match out {
                Output::Json => print_json(&v),
                Output::Table => {
                    println!(
                        "{vm}: priority {}, {}, {} dependencies",
                        v.priority,
                        v.policy,
                        v.depends_on.len()
                    );
                    Ok(())
                }
            }
        }
        VmCmd::Adopt(a) => crate::ops::adopt(client, a, out).await,
        VmCmd::Quarantine(a) => crate::ops::quarantine(client, &a.vm, a.no_wait, out).await,
        VmCmd::Migrate(a) => crate::ops::migrate(client, a, out).await,
        VmCmd::Snapshot(c) => crate::ops::snapshot(client, c, out).await,
        VmCmd::Update(a) => {
            let id = resolve_vm(client, &a.vm).await?;
            let p = VmUpdateParams {
                owner: a.owner,
                department_id: a.department,
                purpose: a.purpose,
                tags: a.tags,
                lease_expires_at: a.lease,
                generation: a.generation,
            };
            let v: VmView = client.patch(&format!("/vms/{id}"), &p).await?;
            match out {
                Output::Json => print_json(&v),
                Output::Table => {
                    println!("{} updated (generation {})", v.name, v.generation);
                    Ok(())
                }
            }
        }
    }
}

async fn action(client: &Client, a: ActionArgs, action: VmAction, out: Output) -> Result<()> {
    let id = resolve_vm(client, &a.vm).await?;
    let acc: JobAccepted = client
        .post(
            &format!("/vms/{id}/actions/{action}"),
            &serde_json::json!({}),
        )
        .await?;
    accepted(client, acc, a.no_wait, out).await
}

pub async fn job(client: &Client, cmd: JobCmd, out: Output) -> Result<()> {
    match cmd {
        JobCmd::List { limit } => {
            let page: Page<JobView> = client.get("/jobs", &[("limit", limit.to_string())]).await?;
            if out == Output::Json {
                return print_json(&page.items);
            }
            table(
                &["ID", "KIND", "STATE", "PROGRESS", "TARGET", "BY", "CREATED"],
                page.items
                    .iter()
                    .map(|j| {
                        vec![
                            j.id.to_string(),
                            j.kind.clone(),
                            j.state.to_string(),
                            format!("{}%", j.progress),
                            opt(&j.target_id),
                            j.created_by.clone(),
                            j.created_at.clone(),
                        ]
                    })
                    .collect(),
            );
            Ok(())
        }
        JobCmd::Show { id } => {
            let j: JobView = client.get(&format!("/jobs/{id}"), &[]).await?;
            if out == Output::Json {
                return print_json(&j);
            }
            table(
                &["STEP", "DONE"],
                j.steps
                    .iter()
                    .map(|s| {
                        vec![
                            s.name.clone(),
                            if s.done { "yes".into() } else { "no".into() },
                        ]
                    })
                    .collect(),
            );
            println!(
                "{} {} {}%{}",
                j.kind,
                j.state,
                j.progress,
                j.error.map(|e| format!(": {e}")).unwrap_or_default()
            );
            Ok(())
        }
        JobCmd::Wait { id } => {
            let j: JobView = client.get(&format!("/jobs/{id}"), &[]).await?;
            let j = client.wait_job(&j, out == Output::Json).await?;
            if out == Output::Json {
                print_json(&j)?;
            }
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
