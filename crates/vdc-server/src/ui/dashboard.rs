//! The dashboard: fleet totals, alerts, failover reserves, unmanaged VMs, recent jobs, and the
//! background work for those who may read it.

use super::*;

// ---------------------------------------------------------------- dashboard

pub(crate) struct Totals {
    pub(crate) hosts: usize,
    pub(crate) hosts_connected: usize,
    pub(crate) cpus: u32,
    pub(crate) memory_mib: u64,
    pub(crate) vms: usize,
    pub(crate) running: usize,
    pub(crate) vcpus: u32,
    pub(crate) vm_memory_mib: u64,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
pub(crate) struct Dashboard {
    pub(crate) user: String,
    pub(crate) t: Totals,
    pub(crate) memory: String,
    pub(crate) vm_memory: String,
    pub(crate) alerts: Vec<AlertView>,
    pub(crate) reserves: Vec<ReserveRow>,
    pub(crate) unmanaged: Vec<VmRow>,
    pub(crate) unmanaged_count: usize,
    pub(crate) jobs: Vec<JobView>,
    /// Background activities on, and those whose last run failed (for global admins and
    /// auditors, who may open the Background page).
    pub(crate) background: Option<(usize, Vec<String>)>,
}

pub(crate) async fn dashboard(State(app): State<App>, headers: HeaderMap) -> Page {
    let actor = caller(&app, &headers).await?;
    let hosts = app.db.all_hosts().await?;
    let vms = app
        .every_vm(db::VmFilter {
            scope: actor.read_scope().map(|s| (s.departments, s.clusters)),
            ..db::VmFilter::default()
        })
        .await?;
    let t = Totals {
        hosts: hosts.len(),
        hosts_connected: hosts
            .iter()
            .filter(|h| h.state == HostState::Connected)
            .count(),
        cpus: hosts.iter().map(|h| h.topology.logical_cpus()).sum(),
        memory_mib: hosts.iter().map(|h| h.memory_mib).sum(),
        vms: vms.len(),
        running: vms
            .iter()
            .filter(|v| v.power_state == PowerState::Running)
            .count(),
        vcpus: vms.iter().map(|v| v.vcpus).sum(),
        vm_memory_mib: vms.iter().map(|v| v.memory_mib).sum(),
    };
    let names = Names::with_hosts(&app, &hosts).await?;
    let unmanaged: Vec<&db::Vm> = vms
        .iter()
        .filter(|v| v.management != Management::Managed)
        .collect();
    let reserves = app
        .all_clusters_ha()
        .await?
        .iter()
        .map(|(name, v)| ReserveRow::of(name, v))
        .collect();
    let background = if actor.can(Permission::AuditRead, crate::app::On::global()) {
        let tasks = app.background_tasks(&actor).await?;
        Some((
            tasks.iter().filter(|t| t.schedule != "off").count(),
            tasks
                .into_iter()
                .filter(|t| t.last_result.as_deref() == Some("failed"))
                .map(|t| t.name)
                .collect(),
        ))
    } else {
        None
    };
    let jobs = app
        .list_jobs(
            &actor,
            &PageQuery {
                limit: Some(5),
                page_token: None,
            },
        )
        .await?;
    html(&Dashboard {
        user: actor.name().to_string(),
        memory: mib(t.memory_mib),
        vm_memory: mib(t.vm_memory_mib),
        t,
        alerts: app.alerts(&actor).await?,
        reserves,
        unmanaged_count: unmanaged.len(),
        unmanaged: unmanaged
            .iter()
            .take(10)
            .map(|v| names.vm_row(&crate::app::views::vm(v)))
            .collect(),
        jobs: jobs.items,
        background,
    })
}

/// A cluster's failover reserve and what is left, for people.
pub(crate) struct ReserveRow {
    pub(crate) cluster: String,
    pub(crate) reserve: String,
    pub(crate) capacity: String,
    pub(crate) reserved: String,
    pub(crate) used: String,
    pub(crate) headroom: String,
}

impl ReserveRow {
    pub(crate) fn of(cluster: &str, v: &ClusterHaView) -> ReserveRow {
        let both = |a: AmountView| format!("{} vCPUs, {}", a.vcpus, mib(a.memory_mib));
        ReserveRow {
            cluster: cluster.to_string(),
            reserve: match &v.reserve {
                HaReserve::None => "none".to_string(),
                HaReserve::HostFailures { hosts } => format!("{hosts} host failure(s)"),
                HaReserve::Percent { cpu, memory } => format!("{cpu} % CPU, {memory} % memory"),
                HaReserve::FailoverHosts { hosts } => format!("{} failover host(s)", hosts.len()),
            },
            capacity: both(v.capacity),
            reserved: both(v.reserved),
            used: both(v.used),
            headroom: both(v.headroom),
        }
    }
}
