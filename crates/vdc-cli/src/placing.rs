//! Client commands for placement: host ratings, placement constraints on VM creation, the
//! stored decision of a VM, groups of VMs placed together, and the host and cluster
//! settings placement reads.

use anyhow::{Result, bail};
use vdc_types::*;

use crate::Output;
use crate::client::Client;
use crate::commands::{accepted, print_json, resolve_vm, table};
use crate::ops::resolve_host;

/// Placement constraints, as flags of `vm create` and `placement rate`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConstraintFlags {
    /// Prefer hosts running VMs of this group (relaxed, and said so, when none fits).
    #[arg(long)]
    affinity_group: Option<String>,
    /// Never share a host with a VM of this group.
    #[arg(long)]
    anti_affinity_group: Option<String>,
    /// Software the VM runs that its host must be licensed for (repeat for more).
    #[arg(long = "licensed")]
    licensed_software: Vec<String>,
    /// CPU vendor the VM needs (GenuineIntel, AuthenticAMD, …).
    #[arg(long)]
    cpu_vendor: Option<String>,
    /// CPU model the VM is pinned to.
    #[arg(long)]
    cpu_model: Option<String>,
    /// CPU feature the VM needs (repeat for more).
    #[arg(long = "cpu-feature")]
    cpu_features: Vec<String>,
    /// Expected CPU use per hour of the day (UTC): 24 comma-separated values in 0..=1.
    #[arg(long, value_delimiter = ',')]
    hourly_load: Option<Vec<f64>>,
}

impl ConstraintFlags {
    pub fn constraints(&self) -> PlacementConstraints {
        PlacementConstraints {
            affinity_group: self.affinity_group.clone(),
            anti_affinity_group: self.anti_affinity_group.clone(),
            licensed_software: self.licensed_software.clone(),
            cpu_vendor: self.cpu_vendor.clone(),
            cpu_model: self.cpu_model.clone(),
            cpu_features: self.cpu_features.clone(),
            hourly_load: self.hourly_load.clone(),
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct RateArgs {
    /// Rate hosts for this existing VM (id or name) instead of a size.
    #[arg(long, conflicts_with_all = ["vcpus", "memory_mib"])]
    vm: Option<String>,
    #[arg(long)]
    vcpus: Option<u32>,
    #[arg(long)]
    memory_mib: Option<u64>,
    /// A disk of this many GiB (repeat for more disks).
    #[arg(long = "disk-gib")]
    disks: Vec<u64>,
    /// A NIC on this network (repeat for more).
    #[arg(long = "network")]
    networks: Vec<String>,
    #[arg(long)]
    department: Option<DepartmentId>,
    #[command(flatten)]
    constraints: ConstraintFlags,
    /// Show at most this many hosts (refusal counts cover all).
    #[arg(long, default_value_t = 20)]
    top: usize,
}

/// "★★★★½" for 4.5 stars.
fn stars(s: f64) -> String {
    let full = s.floor() as usize;
    let half = s - s.floor() >= 0.5;
    format!("{}{}", "★".repeat(full), if half { "½" } else { "" })
}

/// Contributions that differ by less than this are shown as equal.
const SAME: f64 = 0.005;

/// Why a feasible host rates as it does: for the best host, its largest contributions; for
/// the others, where they lose (or gain) against the best, largest first.
fn why(h: &HostRatingView, best: Option<&HostRatingView>) -> String {
    let mut s = match best {
        Some(b) if b.host_id != h.host_id => {
            let mut deltas: Vec<(&String, f64)> = h
                .contributions
                .iter()
                .map(|(k, v)| (k, v - b.contributions.get(k).copied().unwrap_or(0.0)))
                .filter(|(_, d)| d.abs() >= SAME)
                .collect();
            deltas.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
            if deltas.is_empty() {
                format!("as {} (after it by name)", b.name)
            } else {
                let parts: Vec<String> = deltas
                    .iter()
                    .take(3)
                    .map(|(k, d)| format!("{k} {d:+.2}"))
                    .collect();
                format!("vs {}: {}", b.name, parts.join(", "))
            }
        }
        _ => {
            let mut parts: Vec<(&String, f64)> =
                h.contributions.iter().map(|(k, v)| (k, *v)).collect();
            parts.sort_by(|a, b| b.1.total_cmp(&a.1));
            parts
                .iter()
                .take(3)
                .map(|(k, v)| format!("{k} +{v:.2}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    if !h.unmet.is_empty() {
        s.push_str(&format!("; breaks {}", h.unmet.join(", ")));
    }
    s
}

/// Prints a rating: the best hosts with their stars and reasons, then refusal counts.
pub fn print_rating(r: &RatingView, top: usize) {
    let best = r.hosts.first().filter(|h| h.rejected_by.is_none());
    table(
        &["HOST", "STARS", "SCORE", "WHY"],
        r.hosts
            .iter()
            .take(top)
            .map(|h| {
                let why = match &h.rejected_by {
                    Some(f) => format!("refused: {f}"),
                    None => why(h, best),
                };
                vec![
                    h.name.clone(),
                    format!("{} {}", stars(h.stars), h.stars),
                    format!("{:.3}", h.score),
                    why,
                ]
            })
            .collect(),
    );
    if !r.rejected.is_empty() {
        let counts: Vec<String> = r.rejected.iter().map(|(k, n)| format!("{n} {k}")).collect();
        println!("refused: {}", counts.join(", "));
    }
    if !r.relaxed.is_empty() {
        println!(
            "relaxed (nothing fitted with them): {}",
            r.relaxed.join(", ")
        );
    }
    if r.chosen.is_none() {
        println!("no host fits");
    }
}

pub async fn rate(client: &Client, a: RateArgs, out: Output) -> Result<()> {
    let vm_id = match &a.vm {
        Some(vm) => Some(resolve_vm(client, vm).await?),
        None => None,
    };
    let p = PlacementParams {
        vm_id,
        vcpus: a.vcpus,
        memory_mib: a.memory_mib,
        disks: a
            .disks
            .iter()
            .map(|&size_gib| DiskSpec {
                size_gib,
                datastore: None,
            })
            .collect(),
        nics: a
            .networks
            .iter()
            .map(|n| NicSpec { network: n.clone() })
            .collect(),
        department_id: a.department,
        placement: a.constraints.constraints(),
    };
    let r: RatingView = client.post("/placement/ratings", &p).await?;
    match out {
        Output::Json => print_json(&r),
        Output::Table => {
            print_rating(&r, a.top);
            Ok(())
        }
    }
}

/// Shows how vdc placed a VM it created.
pub async fn show(client: &Client, vm: &str, top: usize, out: Output) -> Result<()> {
    let id = resolve_vm(client, vm).await?;
    let p: VmPlacementView = client.get(&format!("/vms/{id}/placement"), &[]).await?;
    if out == Output::Json {
        return print_json(&p);
    }
    println!(
        "placed on {}{} at {} by {}",
        p.host_name,
        if p.pinned {
            " (pinned by the request)"
        } else {
            ""
        },
        p.decided_at,
        p.decided_by
    );
    let c = serde_json::to_string(&p.constraints)?;
    if c != "{}" {
        println!("constraints: {c}");
    }
    print_rating(&p.rating, top);
    Ok(())
}

/// Creates `count` VMs like `p` (named NAME-1 … NAME-count) as one group placed together.
pub async fn create_group(
    client: &Client,
    p: VmCreateParams,
    count: usize,
    no_wait: bool,
    out: Output,
) -> Result<()> {
    if p.host_id.is_some() {
        bail!("--count places the VMs together: do not pin a --host");
    }
    let vms = (1..=count)
        .map(|i| VmCreateParams {
            name: format!("{}-{i}", p.name),
            ..p.clone()
        })
        .collect();
    let acc: VmGroupAccepted = client
        .post("/vm-groups", &VmGroupCreateParams { vms })
        .await?;
    if out == Output::Json && no_wait {
        return print_json(&acc);
    }
    if out == Output::Table {
        for a in acc.vms {
            accepted(client, a, no_wait, out).await?;
        }
        return Ok(());
    }
    // JSON: one array of the VMs once every job is done.
    let mut done = Vec::with_capacity(acc.vms.len());
    for a in &acc.vms {
        client.wait_job(&a.job, true).await?;
        if let Some(id) = a.vm_id {
            done.push(client.get::<VmView>(&format!("/vms/{id}"), &[]).await?);
        }
    }
    print_json(&done)
}

#[derive(Debug, clap::Args)]
pub struct HostSetArgs {
    /// Host id or name.
    host: String,
    /// Take new VMs (`off`) or not (`on`).
    #[arg(long, value_parser = ["on", "off"])]
    maintenance: Option<String>,
    /// Reserve the host for this department.
    #[arg(long, conflicts_with = "shared")]
    dedicate: Option<DepartmentId>,
    /// Share the host with every department again.
    #[arg(long)]
    shared: bool,
    /// Software the host is licensed for (repeat; replaces the list).
    #[arg(long = "licensed")]
    licensed_software: Vec<String>,
    /// Clear the host's licences.
    #[arg(long, conflicts_with = "licensed_software")]
    no_licences: bool,
    /// Licence cost per vCPU placed on the host.
    #[arg(long)]
    licence_cost: Option<f64>,
}

pub async fn host_set(client: &Client, a: HostSetArgs, out: Output) -> Result<()> {
    let id = resolve_host(client, &a.host).await?;
    let p = HostUpdateParams {
        maintenance: a.maintenance.as_deref().map(|m| m == "on"),
        dedicated_to: match (a.dedicate, a.shared) {
            (Some(d), _) => Some(Some(d)),
            (None, true) => Some(None),
            (None, false) => None,
        },
        licensed_software: if a.no_licences {
            Some(Vec::new())
        } else if a.licensed_software.is_empty() {
            None
        } else {
            Some(a.licensed_software)
        },
        licence_cost_per_vcpu: a.licence_cost,
    };
    let h: HostView = client.patch(&format!("/hosts/{id}"), &p).await?;
    match out {
        Output::Json => print_json(&h),
        Output::Table => {
            println!(
                "{}: maintenance {}, {}, licensed for [{}] at {} per vCPU",
                h.name,
                if h.maintenance { "on" } else { "off" },
                h.dedicated_to
                    .map_or_else(|| "shared".to_string(), |d| format!("dedicated to {d}")),
                h.licensed_software.join(", "),
                h.licence_cost_per_vcpu
            );
            Ok(())
        }
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum ClusterCmd {
    /// List clusters with their overcommit ratios.
    List,
    /// Set a cluster's overcommit ratios (admin).
    Set {
        /// Cluster id or name.
        cluster: String,
        /// vCPUs per logical CPU (e.g. 4).
        #[arg(long)]
        vcpu_ratio: Option<f64>,
        /// Memory per byte of RAM (1: no overcommit).
        #[arg(long)]
        memory_ratio: Option<f64>,
        /// The load balancer: off, recommend or automatic.
        #[arg(long)]
        balance_mode: Option<BalanceMode>,
        /// Let the automatic balancer put empty hosts in standby and wake them (true/false).
        #[arg(long)]
        power_saving: Option<bool>,
    },
    /// A cluster's failover reserve and admission figures; with --reserve, set it (admin).
    Ha {
        /// Cluster id or name.
        cluster: String,
        /// `none`, `hosts:N` (room for N failed hosts), `percent:CPU[:MEMORY]`, or
        /// `failover:HOST[,HOST…]` (hosts kept empty).
        #[arg(long)]
        reserve: Option<String>,
    },
}

/// Parses a `--reserve` value (hosts by id or name).
async fn parse_reserve(client: &Client, spec: &str) -> Result<HaReserve> {
    let (kind, rest) = spec.split_once(':').unwrap_or((spec, ""));
    let num = |s: &str| -> Result<f64> {
        s.parse()
            .map_err(|_| anyhow::anyhow!("--reserve: {s:?} is not a number"))
    };
    Ok(match kind {
        "none" => HaReserve::None,
        "hosts" => HaReserve::HostFailures {
            hosts: num(rest)? as u32,
        },
        "percent" => {
            let (cpu, memory) = rest.split_once(':').unwrap_or((rest, rest));
            HaReserve::Percent {
                cpu: num(cpu)?,
                memory: num(memory)?,
            }
        }
        "failover" => {
            let mut hosts = Vec::new();
            for h in rest.split(',').filter(|h| !h.is_empty()) {
                hosts.push(resolve_host(client, h).await?);
            }
            HaReserve::FailoverHosts { hosts }
        }
        _ => bail!("--reserve: none, hosts:N, percent:CPU[:MEMORY] or failover:HOST[,HOST]"),
    })
}

fn reserve_text(r: &HaReserve) -> String {
    match r {
        HaReserve::None => "none".into(),
        HaReserve::HostFailures { hosts } => format!("room for {hosts} failed host(s)"),
        HaReserve::Percent { cpu, memory } => format!("{cpu} % of vCPUs, {memory} % of memory"),
        HaReserve::FailoverHosts { hosts } => {
            format!("{} failover host(s) kept empty", hosts.len())
        }
    }
}

pub async fn cluster(client: &Client, cmd: ClusterCmd, out: Output) -> Result<()> {
    let clusters: Vec<ClusterView> = client.get("/clusters", &[]).await?;
    match cmd {
        ClusterCmd::List => match out {
            Output::Json => print_json(&clusters),
            Output::Table => {
                table(
                    &[
                        "NAME",
                        "VCPU RATIO",
                        "MEMORY RATIO",
                        "BALANCER",
                        "POWER SAVING",
                        "ID",
                    ],
                    clusters
                        .iter()
                        .map(|c| {
                            vec![
                                c.name.clone(),
                                c.vcpu_ratio.to_string(),
                                c.memory_ratio.to_string(),
                                c.balance_mode.to_string(),
                                c.power_saving.to_string(),
                                c.id.to_string(),
                            ]
                        })
                        .collect(),
                );
                Ok(())
            }
        },
        ClusterCmd::Ha { cluster, reserve } => {
            let Some(c) = clusters
                .iter()
                .find(|c| c.name == cluster || c.id.to_string() == cluster)
            else {
                bail!("no cluster {cluster}");
            };
            let path = format!("/clusters/{}/ha", c.id);
            let v: ClusterHaView = match reserve {
                Some(spec) => {
                    let reserve = parse_reserve(client, &spec).await?;
                    client.put(&path, &ClusterHaParams { reserve }).await?
                }
                None => client.get(&path, &[]).await?,
            };
            match out {
                Output::Json => print_json(&v),
                Output::Table => {
                    println!("{}: failover reserve {}", c.name, reserve_text(&v.reserve));
                    table(
                        &["", "VCPUS", "MEMORY MIB"],
                        [
                            ("capacity", v.capacity),
                            ("reserved", v.reserved),
                            ("used", v.used),
                            ("headroom", v.headroom),
                        ]
                        .iter()
                        .map(|(k, a)| {
                            vec![k.to_string(), a.vcpus.to_string(), a.memory_mib.to_string()]
                        })
                        .collect(),
                    );
                    Ok(())
                }
            }
        }
        ClusterCmd::Set {
            cluster,
            vcpu_ratio,
            memory_ratio,
            balance_mode,
            power_saving,
        } => {
            let Some(c) = clusters
                .iter()
                .find(|c| c.name == cluster || c.id.to_string() == cluster)
            else {
                bail!("no cluster {cluster}");
            };
            let p = ClusterUpdateParams {
                vcpu_ratio,
                memory_ratio,
                balance_mode,
                power_saving,
            };
            let c: ClusterView = client.patch(&format!("/clusters/{}", c.id), &p).await?;
            match out {
                Output::Json => print_json(&c),
                Output::Table => {
                    println!(
                        "{}: {} vCPUs per logical CPU, memory ratio {}, balancer {}, power saving {}",
                        c.name, c.vcpu_ratio, c.memory_ratio, c.balance_mode, c.power_saving
                    );
                    Ok(())
                }
            }
        }
    }
}

/// Puts a host in standby or wakes it (`action`: `standby` or `wake`).
pub async fn power(client: &Client, host: &str, action: &str, out: Output) -> Result<()> {
    let id = resolve_host(client, host).await?;
    let h: HostView = client
        .post(&format!("/hosts/{id}/{action}"), &serde_json::json!({}))
        .await?;
    match out {
        Output::Json => print_json(&h),
        Output::Table => {
            println!(
                "{}: {}{}",
                h.name,
                h.state,
                h.state_reason
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            );
            Ok(())
        }
    }
}

/// Puts a host in maintenance and migrates its running VMs away.
pub async fn evacuate(client: &Client, host: &str, no_wait: bool, out: Output) -> Result<()> {
    let id = resolve_host(client, host).await?;
    let acc: VmGroupAccepted = client
        .post(&format!("/hosts/{id}/evacuate"), &serde_json::json!({}))
        .await?;
    if out == Output::Table {
        println!("{host}: in maintenance, {} VMs to migrate", acc.vms.len());
    }
    if no_wait || out == Output::Json {
        return if out == Output::Json {
            print_json(&acc)
        } else {
            Ok(())
        };
    }
    for a in acc.vms {
        accepted(client, a, false, out).await?;
    }
    Ok(())
}
