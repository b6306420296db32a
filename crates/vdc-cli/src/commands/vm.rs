//! `vdc vm …`: VMs listed, shown, created, changed, operated, migrated, snapshotted, deleted.

use super::*;

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

pub(crate) fn vm_rows(vms: &[VmView]) -> Vec<Vec<String>> {
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

pub(crate) async fn action(
    client: &Client,
    a: ActionArgs,
    action: VmAction,
    out: Output,
) -> Result<()> {
    let id = resolve_vm(client, &a.vm).await?;
    let acc: JobAccepted = client
        .post(
            &format!("/vms/{id}/actions/{action}"),
            &serde_json::json!({}),
        )
        .await?;
    accepted(client, acc, a.no_wait, out).await
}
