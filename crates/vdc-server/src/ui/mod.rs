//! The web UI at `/`: server-rendered pages (askama templates, checked at compile time) with
//! htmx for live filters, polling and actions, and uPlot charts fed by the metrics API; both
//! vendored and embedded in the binary (rust-embed), nothing fetched at run time. Pages use
//! the browser session (HttpOnly cookie); changes go through the API with the session's CSRF
//! token, which the login leaves in a second, script-readable cookie (double submit).

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use std::collections::HashMap;
use vdc_db::{self as db};
use vdc_types::*;

use crate::app::Actor;
use crate::app::App;
use crate::auth::cookies::{
    cleared_csrf_cookie, cleared_session_cookie, session_cookie, session_cookies,
};

#[derive(rust_embed::RustEmbed)]
#[folder = "web/"]
struct Assets;

/// The UI's routes.
pub fn routes() -> axum::Router<App> {
    axum::Router::new()
        .route("/", get(dashboard))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/hosts", get(hosts))
        .route("/hosts/{id}", get(host))
        .route("/vms", get(vms))
        .route("/vms/{id}", get(vm))
        .route("/vms/{id}/state", get(vm_state))
        .route("/jobs", get(jobs))
        .route("/background", get(background))
        .route("/reports", get(reports))
        .route("/static/{*path}", get(asset))
}

/// A page that failed: the login page when the session is missing or over, else the error.
enum UiError {
    Login,
    Failed(Error),
}

impl From<Error> for UiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Unauthenticated => UiError::Login,
            e => UiError::Failed(e),
        }
    }
}

impl From<vdc_db::DbError> for UiError {
    fn from(e: vdc_db::DbError) -> Self {
        UiError::Failed(e.into())
    }
}

impl From<askama::Error> for UiError {
    fn from(e: askama::Error) -> Self {
        UiError::Failed(Error::internal(format!("rendering a page: {e}")))
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        match self {
            UiError::Login => Redirect::to("/login").into_response(),
            UiError::Failed(e) => {
                let status =
                    StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let page = ErrorPage {
                    user: String::new(),
                    status: status.as_u16(),
                    message: e.to_string(),
                };
                (
                    status,
                    Html(page.render().unwrap_or_else(|_| e.to_string())),
                )
                    .into_response()
            }
        }
    }
}

type Page = Result<Response, UiError>;

/// The signed-in caller of a page (a session cookie; GET only, so no CSRF token needed).
async fn caller(app: &App, headers: &HeaderMap) -> Result<Actor, UiError> {
    let token = session_cookie(headers).ok_or(UiError::Login)?;
    Ok(app.authenticate_with(token, true, None, true).await?)
}

/// Whether htmx asked (it then swaps part of the page).
fn from_htmx(headers: &HeaderMap) -> bool {
    headers.contains_key("hx-request")
}

fn html(t: &impl Template) -> Page {
    Ok(Html(t.render()?).into_response())
}

/// An empty form field is no filter.
fn field<T: std::str::FromStr>(v: &Option<String>) -> Option<T> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .and_then(|s| s.parse().ok())
}

fn mib(m: u64) -> String {
    if m >= 1024 {
        format!("{:.1} GiB", m as f64 / 1024.0)
    } else {
        format!("{m} MiB")
    }
}

// ---------------------------------------------------------------- login

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    user: String,
    error: Option<String>,
    username: String,
}

async fn login_page() -> Page {
    html(&LoginPage {
        user: String::new(),
        error: None,
        username: String::new(),
    })
}

#[derive(serde::Deserialize)]
struct LoginForm {
    username: String,
    password: String,
}

async fn login(State(app): State<App>, Form(f): Form<LoginForm>) -> Page {
    let p = LoginParams {
        username: f.username.clone(),
        password: f.password,
    };
    match app.open_session(&p).await {
        Ok((token, session)) => {
            let [a, b] =
                session_cookies(&token, &session.csrf_token, app.config.token_ttl.as_secs());
            Ok((
                StatusCode::SEE_OTHER,
                AppendHeaders([
                    (header::SET_COOKIE, a),
                    (header::SET_COOKIE, b),
                    (header::LOCATION, "/".to_string()),
                ]),
            )
                .into_response())
        }
        Err(e) => {
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNAUTHORIZED);
            let page = LoginPage {
                user: String::new(),
                error: Some(e.to_string()),
                username: f.username,
            };
            Ok((status, Html(page.render()?)).into_response())
        }
    }
}

async fn logout(State(app): State<App>, headers: HeaderMap) -> Page {
    if let Some(token) = session_cookie(&headers)
        && let Ok(actor) = app.authenticate_with(token, true, None, true).await
    {
        app.logout(&actor, token).await?;
    }
    Ok((
        StatusCode::SEE_OTHER,
        AppendHeaders([
            (header::SET_COOKIE, cleared_session_cookie()),
            (header::SET_COOKIE, cleared_csrf_cookie()),
            (header::LOCATION, "/login".to_string()),
        ]),
    )
        .into_response())
}

// ---------------------------------------------------------------- dashboard

struct Totals {
    hosts: usize,
    hosts_connected: usize,
    cpus: u32,
    memory_mib: u64,
    vms: usize,
    running: usize,
    vcpus: u32,
    vm_memory_mib: u64,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Dashboard {
    user: String,
    t: Totals,
    memory: String,
    vm_memory: String,
    alerts: Vec<AlertView>,
    reserves: Vec<ReserveRow>,
    unmanaged: Vec<VmRow>,
    unmanaged_count: usize,
    jobs: Vec<JobView>,
    /// Background activities on, and those whose last run failed (for global admins and
    /// auditors, who may open the Background page).
    background: Option<(usize, Vec<String>)>,
}

async fn dashboard(State(app): State<App>, headers: HeaderMap) -> Page {
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
        cpus: hosts
            .iter()
            .map(|h| h.sockets * h.cores_per_socket * h.threads_per_core)
            .sum(),
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
struct ReserveRow {
    cluster: String,
    reserve: String,
    capacity: String,
    reserved: String,
    used: String,
    headroom: String,
}

impl ReserveRow {
    fn of(cluster: &str, v: &ClusterHaView) -> ReserveRow {
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

// ---------------------------------------------------------------- hosts

/// Names of what ids point at, for people.
struct Names {
    clusters: HashMap<ClusterId, String>,
    departments: HashMap<DepartmentId, String>,
    hosts: HashMap<HostId, String>,
}

impl Names {
    /// The departments as filter choices.
    fn department_choices(&self, current: &Option<String>) -> Vec<Choice> {
        choices(
            self.departments
                .iter()
                .map(|(id, n)| (id.to_string(), n.clone())),
            current,
        )
    }

    async fn load(app: &App) -> Result<Names, Error> {
        Self::with_hosts(app, &app.db.all_hosts().await?).await
    }

    /// With the hosts already read.
    async fn with_hosts(app: &App, hosts: &[db::Host]) -> Result<Names, Error> {
        Ok(Names {
            clusters: app.cluster_names().await?,
            departments: app.department_names().await?,
            hosts: hosts.iter().map(|h| (h.id, h.name.clone())).collect(),
        })
    }

    fn vm_row(&self, v: &VmView) -> VmRow {
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
fn next_query(filters: &[(&str, &Option<String>)], token: &str) -> String {
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
struct Choice {
    value: String,
    label: String,
    selected: bool,
}

fn choices(
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

fn states<'a, T: std::fmt::Display + 'a>(
    all: impl Iterator<Item = &'a T>,
) -> Vec<(String, String)> {
    all.map(|s| (s.to_string(), s.to_string())).collect()
}

struct HostRow {
    id: String,
    name: String,
    cluster: String,
    state: String,
    maintenance: bool,
    cpus: u32,
    memory: String,
    load: String,
    vcpu_wait: String,
    /// The HA controller's verdict ("—" before its first round).
    ha: String,
    /// When it was last found dead and fenced, if ever.
    ha_detail: String,
}

fn pct(v: Option<f64>) -> String {
    v.map_or("–".to_string(), |v| format!("{:.0} %", v * 100.0))
}

impl Names {
    fn host_row(&self, h: &HostView) -> HostRow {
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
            cpus: h.sockets * h.cores_per_socket * h.threads_per_core,
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
struct HostFilter {
    cluster: Option<String>,
    state: Option<String>,
    name: Option<String>,
    page: Option<String>,
}

#[derive(Template)]
#[template(path = "hosts.html")]
struct HostsPage {
    user: String,
    rows: Vec<HostRow>,
    clusters: Vec<Choice>,
    states: Vec<Choice>,
    name: String,
    next: Option<String>,
}

async fn hosts(State(app): State<App>, headers: HeaderMap, Query(f): Query<HostFilter>) -> Page {
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
struct Chart {
    metric: &'static str,
    title: &'static str,
}

const CHARTS: [Chart; 6] = [
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
const RANGES: [&str; 5] = ["1h", "6h", "24h", "7d", "30d"];

#[derive(Template)]
#[template(path = "host.html")]
struct HostPage {
    user: String,
    h: HostRow,
    uri: String,
    cpu_model: String,
    state_reason: String,
    vms: Vec<VmRow>,
    charts: &'static [Chart],
    ranges: &'static [&'static str],
    source: String,
}

async fn host(State(app): State<App>, headers: HeaderMap, Path(id): Path<String>) -> Page {
    let actor = caller(&app, &headers).await?;
    let id: HostId = crate::http::extract::path_id("id", &id).map_err(|e| UiError::Failed(e.0))?;
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

// ---------------------------------------------------------------- VMs

struct VmRow {
    id: String,
    name: String,
    state: String,
    management: String,
    host: String,
    host_id: String,
    vcpus: u32,
    memory: String,
    owner: String,
    department: String,
}

#[derive(serde::Deserialize, Default)]
struct VmFilterForm {
    state: Option<String>,
    management: Option<String>,
    department: Option<String>,
    owner: Option<String>,
    name: Option<String>,
    page: Option<String>,
}

#[derive(Template)]
#[template(path = "vms.html")]
struct VmsPage {
    user: String,
    rows: Vec<VmRow>,
    states: Vec<Choice>,
    managements: Vec<Choice>,
    departments: Vec<Choice>,
    owner: String,
    name: String,
    next: Option<String>,
}

async fn vms(State(app): State<App>, headers: HeaderMap, Query(f): Query<VmFilterForm>) -> Page {
    let actor = caller(&app, &headers).await?;
    let page = app
        .list_vms(
            &actor,
            &VmListQuery {
                state: field(&f.state),
                management: field(&f.management),
                department_id: field(&f.department),
                owner: field(&f.owner),
                name_prefix: field(&f.name),
                limit: Some(100),
                page_token: field(&f.page),
                ..VmListQuery::default()
            },
        )
        .await?;
    let names = Names::load(&app).await?;
    let next = page.next_page_token.map(|t| {
        next_query(
            &[
                ("state", &f.state),
                ("management", &f.management),
                ("department", &f.department),
                ("owner", &f.owner),
                ("name", &f.name),
            ],
            &t,
        )
    });
    html(&VmsPage {
        user: actor.name().to_string(),
        rows: page.items.iter().map(|v| names.vm_row(v)).collect(),
        states: choices(states(PowerState::ALL.iter()).into_iter(), &f.state),
        managements: choices(states(Management::ALL.iter()).into_iter(), &f.management),
        departments: names.department_choices(&f.department),
        owner: f.owner.clone().unwrap_or_default(),
        name: f.name.clone().unwrap_or_default(),
        next,
    })
}

/// A host as placement rates it for a VM now.
struct RatingRow {
    name: String,
    stars: String,
    score: String,
    reasons: String,
    chosen: bool,
}

#[derive(Template)]
#[template(path = "vm.html")]
struct VmPage {
    user: String,
    v: VmRow,
    guest_os: String,
    purpose: String,
    tags: String,
    lease: String,
    actions: Vec<&'static str>,
    alert: Option<AlertView>,
    ratings: Vec<RatingRow>,
    rating_note: String,
    charts: &'static [Chart],
    ranges: &'static [&'static str],
    source: String,
}

/// The actions the VM's state allows.
fn actions(state: PowerState) -> Vec<&'static str> {
    VmAction::ALL
        .iter()
        .filter(|a| vdc_driver::transition(state, **a).is_ok())
        .map(|a| a.as_str())
        .collect()
}

async fn vm(State(app): State<App>, headers: HeaderMap, Path(id): Path<String>) -> Page {
    let actor = caller(&app, &headers).await?;
    let id: VmId = crate::http::extract::path_id("id", &id).map_err(|e| UiError::Failed(e.0))?;
    let v = app.get_vm(&actor, id).await?;
    let names = Names::load(&app).await?;
    let alert = app
        .alerts(&actor)
        .await?
        .into_iter()
        .find(|a| a.vm_id == id);
    let (ratings, rating_note) = match app
        .rate_placement(
            &actor,
            PlacementParams {
                vm_id: Some(id),
                ..PlacementParams::default()
            },
        )
        .await
    {
        Ok(r) => (
            r.hosts
                .iter()
                .map(|h| RatingRow {
                    name: h.name.clone(),
                    stars: format!("{:.1}", h.stars),
                    score: format!("{:.2}", h.score),
                    reasons: match &h.rejected_by {
                        Some(why) => format!("refused: {why}"),
                        None => h
                            .contributions
                            .iter()
                            .map(|(k, c)| format!("{k} {c:+.2}"))
                            .chain(h.unmet.iter().map(|u| format!("breaks {u}")))
                            .collect::<Vec<_>>()
                            .join(", "),
                    },
                    chosen: r.chosen == Some(h.host_id),
                })
                .collect(),
            r.rejected
                .iter()
                .map(|(f, n)| format!("{f} refused {n}"))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        Err(e) => (Vec::new(), e.to_string()),
    };
    let guest_os = match app.vm_guest_os(&actor, id).await {
        Ok(g) => format!("{} ({})", g.name, g.source),
        Err(_) => "unknown".into(),
    };
    html(&VmPage {
        user: actor.name().to_string(),
        guest_os,
        purpose: v.purpose.clone().unwrap_or_default(),
        tags: v.tags.join(", "),
        lease: v.lease_expires_at.clone().unwrap_or_default(),
        actions: actions(v.power_state),
        v: names.vm_row(&v),
        alert,
        ratings,
        rating_note,
        charts: &CHARTS,
        ranges: &RANGES,
        source: format!("/api/v1/vms/{id}/metrics"),
    })
}

#[derive(Template)]
#[template(path = "vm_state.html")]
struct VmState {
    id: String,
    state: String,
    actions: Vec<&'static str>,
}

/// The VM's power state and the actions it allows (polled by the VM page).
async fn vm_state(State(app): State<App>, headers: HeaderMap, Path(id): Path<String>) -> Page {
    let actor = caller(&app, &headers).await?;
    let id: VmId = crate::http::extract::path_id("id", &id).map_err(|e| UiError::Failed(e.0))?;
    let v = app.get_vm(&actor, id).await?;
    html(&VmState {
        id: id.to_string(),
        state: v.power_state.to_string(),
        actions: actions(v.power_state),
    })
}

// ---------------------------------------------------------------- jobs

#[derive(Template)]
#[template(path = "jobs.html")]
struct JobsPage {
    user: String,
    jobs: Vec<JobView>,
}

/// The job table's rows alone (polled by the jobs page).
#[derive(Template)]
#[template(path = "job_rows.html")]
struct JobRows {
    jobs: Vec<JobView>,
}

async fn jobs(State(app): State<App>, headers: HeaderMap) -> Page {
    let actor = caller(&app, &headers).await?;
    let page = app
        .list_jobs(
            &actor,
            &PageQuery {
                limit: Some(50),
                page_token: None,
            },
        )
        .await?;
    if from_htmx(&headers) {
        return html(&JobRows { jobs: page.items });
    }
    html(&JobsPage {
        user: actor.name().to_string(),
        jobs: page.items,
    })
}

// ---------------------------------------------------------------- background work

#[derive(Template)]
#[template(path = "background.html")]
struct BackgroundPage {
    user: String,
    tasks: Vec<BackgroundTaskView>,
}

async fn background(State(app): State<App>, headers: HeaderMap) -> Page {
    let actor = caller(&app, &headers).await?;
    let tasks = app.background_tasks(&actor).await?;
    html(&BackgroundPage {
        user: actor.name().to_string(),
        tasks,
    })
}

// ---------------------------------------------------------------- reports

#[derive(serde::Deserialize, Default)]
struct ReportFilter {
    department: Option<String>,
    month: Option<String>,
    model: Option<String>,
}

struct FindingRow {
    kind: String,
    name: String,
    vm_id: Option<String>,
    department: String,
    owner: String,
    waste: String,
    evidence: String,
}

struct StatementRow {
    department: String,
    vms: usize,
    fixed: String,
    total: String,
}

struct LicenceRow {
    product: String,
    model: String,
    owned: u64,
    needed_now: u64,
    needed: u64,
    shortfall: u64,
    unlicensed_hosts: String,
    idle: String,
}

struct PatchRow {
    status: String,
    vm_id: String,
    name: String,
    owner: String,
    os: String,
    baseline: String,
}

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportsPage {
    user: String,
    departments: Vec<Choice>,
    models: Vec<Choice>,
    month: String,
    currency: String,
    findings: Vec<FindingRow>,
    waste: Vec<(String, String)>,
    total_waste: String,
    days: u32,
    statements: Vec<StatementRow>,
    charge_title: String,
    charge_total: String,
    sprawl_csv: String,
    chargeback_csv: String,
    licences: Vec<LicenceRow>,
    licence_idle_cost: String,
    licence_partial: bool,
    licences_csv: String,
    patches: Vec<PatchRow>,
    patch_summary: String,
    behind_by_owner: Vec<(String, usize)>,
    patches_csv: String,
}

fn money(v: f64) -> String {
    format!("{v:.2}")
}

async fn reports(
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
struct ErrorPage {
    user: String,
    status: u16,
    message: String,
}

/// A vendored or own static file, embedded in the binary.
async fn asset(Path(path): Path<String>) -> Response {
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
