//! The hosts list and a host's page with its charts; the names and filter choices the lists
//! share.

use super::*;

// ---------------------------------------------------------------- hosts

/// Names of what ids point at, for people.
pub(crate) struct Names {
    pub(crate) clusters: HashMap<ClusterId, String>,
    pub(crate) departments: HashMap<DepartmentId, String>,
    pub(crate) hosts: HashMap<HostId, String>,
}

impl Names {
    /// The departments as filter choices.
    pub(crate) fn department_choices(&self, current: &Option<String>) -> Vec<Choice> {
        choices(
            self.departments
                .iter()
                .map(|(id, n)| (id.to_string(), n.clone())),
            current,
        )
    }

    pub(crate) async fn load(app: &App) -> Result<Names, Error> {
        Self::with_hosts(app, &app.db.all_hosts().await?).await
    }

    /// With the hosts already read.
    pub(crate) async fn with_hosts(app: &App, hosts: &[db::Host]) -> Result<Names, Error> {
        Ok(Names {
            clusters: app.cluster_names().await?,
            departments: app.department_names().await?,
            hosts: hosts.iter().map(|h| (h.id, h.name.clone())).collect(),
        })
    }

    pub(crate) fn vm_row(&self, v: &VmView) -> VmRow {
        VmRow {
            id: v.id.to_string(),
            name: v.name.clone(),
            state: v.power_state.to_string(),
            management: v.management.to_string(),
            host: v
                .host_id
                .and_then(|h| self.hosts.get(&h).cloned())
                .unwrap_or_default(),
            host_id: v.host_id.map(|h| h.to_string()).unwrap_or_default(),
            vcpus: v.vcpus,
            memory: mib(v.memory_mib),
            owner: v.owner.clone().unwrap_or_default(),
            department: v
                .department_id
                .and_then(|d| self.departments.get(&d).cloned())
                .unwrap_or_default(),
        }
    }
}

/// The query of a list's next page: the same filters and the page token.
pub(crate) fn next_query(filters: &[(&str, &Option<String>)], token: &str) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in filters {
        if let Some(v) = v {
            q.append_pair(k, v);
        }
    }
    q.append_pair("page", token);
    q.finish()
}

/// A choice in a filter's drop-down.
pub(crate) struct Choice {
    pub(crate) value: String,
    pub(crate) label: String,
    pub(crate) selected: bool,
}

pub(crate) fn choices(
    options: impl Iterator<Item = (String, String)>,
    current: &Option<String>,
) -> Vec<Choice> {
    let mut out: Vec<Choice> = options
        .map(|(value, label)| Choice {
            selected: current.as_deref() == Some(value.as_str()),
            value,
            label,
        })
        .collect();
    out.sort_by(|a, b| a.label.cmp(&b.label));
    out
}

pub(crate) fn states<'a, T: std::fmt::Display + 'a>(
    all: impl Iterator<Item = &'a T>,
) -> Vec<(String, String)> {
    all.map(|s| (s.to_string(), s.to_string())).collect()
}

pub(crate) struct HostRow {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) cluster: String,
    pub(crate) state: String,
    pub(crate) maintenance: bool,
    pub(crate) cpus: u32,
    pub(crate) memory: String,
    pub(crate) load: String,
    pub(crate) vcpu_wait: String,
    /// The HA controller's verdict ("—" before its first round).
    pub(crate) ha: String,
    /// When it was last found dead and fenced, if ever.
    pub(crate) ha_detail: String,
}

pub(crate) fn pct(v: Option<f64>) -> String {
    v.map_or("–".to_string(), |v| format!("{:.0} %", v * 100.0))
}

impl Names {
    pub(crate) fn host_row(&self, h: &HostView) -> HostRow {
        HostRow {
            id: h.id.to_string(),
            name: h.name.clone(),
            cluster: self
                .clusters
                .get(&h.cluster_id)
                .cloned()
                .unwrap_or_default(),
            state: h.state.to_string(),
            maintenance: h.maintenance,
            cpus: h.topology().logical_cpus(),
            memory: mib(h.memory_mib),
            load: pct(h.cpu_load),
            vcpu_wait: pct(h.vcpu_wait),
            ha: h
                .ha
                .as_ref()
                .map_or_else(|| "—".to_string(), |x| x.verdict.to_string()),
            ha_detail: h.ha.as_ref().map_or_else(String::new, |x| {
                [("found dead", &x.dead_at), ("fenced", &x.fenced_at)]
                    .iter()
                    .filter_map(|(what, at)| at.as_ref().map(|t| format!("{what} {t}")))
                    .collect::<Vec<_>>()
                    .join(", ")
            }),
        }
    }
}

#[derive(serde::Deserialize, Default)]
pub(crate) struct HostFilter {
    pub(crate) cluster: Option<String>,
    pub(crate) state: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) page: Option<String>,
}

#[derive(Template)]
#[template(path = "hosts.html")]
pub(crate) struct HostsPage {
    pub(crate) user: String,
    pub(crate) rows: Vec<HostRow>,
    pub(crate) clusters: Vec<Choice>,
    pub(crate) states: Vec<Choice>,
    pub(crate) name: String,
    pub(crate) next: Option<String>,
}

pub(crate) async fn hosts(
    State(app): State<App>,
    headers: HeaderMap,
    Query(f): Query<HostFilter>,
) -> Page {
    let actor = caller(&app, &headers).await?;
    let page = app
        .list_hosts(&HostListQuery {
            cluster_id: field(&f.cluster),
            state: field(&f.state),
            name_prefix: field(&f.name),
            limit: Some(100),
            page_token: field(&f.page),
        })
        .await?;
    let names = Names::load(&app).await?;
    let next = page.next_page_token.map(|t| {
        next_query(
            &[
                ("cluster", &f.cluster),
                ("state", &f.state),
                ("name", &f.name),
            ],
            &t,
        )
    });
    html(&HostsPage {
        user: actor.name().to_string(),
        rows: page.items.iter().map(|h| names.host_row(h)).collect(),
        clusters: choices(
            names
                .clusters
                .iter()
                .map(|(id, n)| (id.to_string(), n.clone())),
            &f.cluster,
        ),
        states: choices(states(HostState::ALL.iter()).into_iter(), &f.state),
        name: f.name.clone().unwrap_or_default(),
        next,
    })
}

/// A chart on a page: the metric and its title; the script fetches the series.
pub(crate) struct Chart {
    pub(crate) metric: &'static str,
    pub(crate) title: &'static str,
}

pub(crate) const CHARTS: [Chart; 6] = [
    Chart {
        metric: "cpu",
        title: "CPU (%)",
    },
    Chart {
        metric: "vcpu_delay",
        title: "vCPU delay — CPU ready (%)",
    },
    Chart {
        metric: "balloon_mib",
        title: "Balloon (MiB)",
    },
    Chart {
        metric: "memory_mib",
        title: "Memory used (MiB)",
    },
    Chart {
        metric: "disk_write_bytes_s",
        title: "Disk writes (B/s)",
    },
    Chart {
        metric: "net_rx_bytes_s",
        title: "Network received (B/s)",
    },
];

/// Ranges a chart can show.
pub(crate) const RANGES: [&str; 5] = ["1h", "6h", "24h", "7d", "30d"];

#[derive(Template)]
#[template(path = "host.html")]
pub(crate) struct HostPage {
    pub(crate) user: String,
    pub(crate) h: HostRow,
    pub(crate) uri: String,
    pub(crate) cpu_model: String,
    pub(crate) state_reason: String,
    pub(crate) vms: Vec<VmRow>,
    pub(crate) charts: &'static [Chart],
    pub(crate) ranges: &'static [&'static str],
    pub(crate) source: String,
}

pub(crate) async fn host(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Page {
    let actor = caller(&app, &headers).await?;
    let id: HostId = crate::app::views::path_id("id", &id).map_err(UiError::Failed)?;
    let h = app.get_host(id).await?;
    let names = Names::load(&app).await?;
    let on_host = app
        .list_vms(
            &actor,
            &VmListQuery {
                host_id: Some(id),
                limit: Some(500),
                ..VmListQuery::default()
            },
        )
        .await?;
    html(&HostPage {
        user: actor.name().to_string(),
        uri: h.uri.clone(),
        cpu_model: h.cpu_model.clone(),
        state_reason: h.state_reason.clone().unwrap_or_default(),
        h: names.host_row(&h),
        vms: on_host.items.iter().map(|v| names.vm_row(v)).collect(),
        charts: &CHARTS,
        ranges: &RANGES,
        source: format!("/api/v1/hosts/{id}/metrics"),
    })
}
