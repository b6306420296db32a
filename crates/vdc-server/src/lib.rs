//! The vdc control-plane server, one folder per capability around a small kernel ([`app`]: the
//! store, the fleet's drivers, the configuration, jobs, audit, authorisation and what a caller
//! may see). HTTP handlers ([`http`]) and web pages ([`ui`]) call the capabilities; the
//! capabilities call the kernel and the pure engines. `docs/ARCHITECTURE.md` maps each
//! capability to its folder.

pub mod app;
pub mod auth;
pub mod availability;
pub mod background;
pub mod capacity;
pub mod governance;
pub mod http;
pub mod inventory;
pub mod jobs;
pub mod monitoring;
pub mod placement;
pub mod reports;
pub mod ui;

use std::sync::Arc;
use tokio::net::TcpListener;
use vdc_db::DataStore;
use vdc_driver::sim::SimFleet;
use vdc_types::{DepartmentId, Error, HypervisorType, Role, UserId};

pub use app::App;
pub use app::config::{Config, SimConfig};
pub use app::fleet::Fleet;

/// The departments a fresh store starts with, so the simulated fleet's owners map somewhere.
pub const SEED_DEPARTMENTS: &[(&str, &str)] = &[
    ("engineering", "CC-1000"),
    ("finance", "CC-2000"),
    ("sales", "CC-3000"),
    ("operations", "CC-4000"),
    ("research", "CC-5000"),
];

/// A running server.
#[derive(Debug)]
pub struct Server {
    pub addr: std::net::SocketAddr,
    pub app: App,
    /// The admin password generated at first start, to show once; `None` when it came from
    /// the configuration or the store already had users.
    pub generated_admin_password: Option<String>,
    task: tokio::task::JoinHandle<()>,
    /// The background activities' tasks ([`background::start`]) and the event sync's.
    background: Vec<tokio::task::JoinHandle<()>>,
}

impl Server {
    /// Serves until the process ends.
    pub async fn wait(self) -> Result<(), Error> {
        self.task
            .await
            .map_err(|e| Error::internal(format!("server task failed: {e}")))
    }

    /// Stops serving and the background loops; writes out the samples held.
    pub async fn stop(self) {
        self.task.abort();
        for t in self.background {
            t.abort();
        }
        let metrics = self.app.part::<monitoring::metrics::MetricStore>();
        if let Err(e) = metrics.flush(vdc_db::now_ms()).await {
            tracing::warn!(error = %e, "writing metrics at stop failed");
        }
        self.app.db.close().await;
    }
}

/// Opens the store, seeds a fresh one, connects the fleet (simulated hosts only: hosts added by
/// URI need [`start_with_fleet`] and a fleet with a connector), resumes unfinished jobs, binds
/// the listener and starts serving.
pub async fn start(config: Config) -> Result<Server, StartError> {
    let fleet = Fleet::for_config(&config);
    start_with_fleet(config, Arc::new(fleet)).await
}

/// [`start`] with a fleet built by the caller (tests keep a handle on its simulator, and can
/// restart a server on the same store and fleet).
pub async fn start_with_fleet(config: Config, fleet: Arc<Fleet>) -> Result<Server, StartError> {
    use StartError as E;
    let db = DataStore::connect(&config.database_url)
        .await
        .map_err(E::Store)?;
    let generated_admin_password = bootstrap(&db, &config).await.map_err(E::Bootstrap)?;
    if let Some(sim) = fleet.sim() {
        register_sim_hosts(
            &db,
            sim,
            config.sim.as_ref().map_or(16, |s| s.hosts_per_cluster),
        )
        .await
        .map_err(E::Bootstrap)?;
    }
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| E::Bind(config.listen, e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| E::Bind(config.listen, e))?;
    // A directory vdc cannot use stops the start here, with the reason; the one built is the
    // one logins use.
    let directory = config
        .ldap
        .clone()
        .map(auth::ldap::Directory::new)
        .transpose()
        .map_err(E::Directory)?;
    let app = App::new(db, fleet, Arc::new(config.clone()));
    app.insert_part(directory);
    let resumed = jobs::resume_unfinished(&app)
        .await
        .map_err(|e| E::Bootstrap(e.into()))?;
    if resumed > 0 {
        tracing::info!(resumed, "resumed unfinished jobs");
    }
    let held = app
        .part::<monitoring::metrics::MetricStore>()
        .load(vdc_db::now_ms())
        .await
        .map_err(E::Bootstrap)?;
    if held > 0 {
        tracing::info!(series = held, "took back this hour's samples");
    }
    if let Some(days) = config.sim.as_ref().map(|s| s.history_days)
        && days > 0
        && !app
            .db
            .any_vm_metrics()
            .await
            .map_err(|e| E::Bootstrap(e.into()))?
    {
        // The simulated VMs must be in the store before they get a history.
        inventory::sync::sync_all(&app)
            .await
            .map_err(E::Bootstrap)?;
        monitoring::sim_history::backfill(&app, days)
            .await
            .map_err(E::Bootstrap)?;
    }
    let router = http::router(app.clone()).layer(tower_http::trace::TraceLayer::new_for_http());
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    });
    let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
    let fleet = app.fleet.clone();
    tokio::task::spawn_blocking(move || fleet.forward_events(events_tx))
        .await
        .map_err(|e| E::Bootstrap(Error::internal(format!("event setup panicked: {e}"))))?;
    // Nothing can fail after this: the background work starts only for a server that runs.
    let mut background = background::start(&app);
    background.push(tokio::spawn(background::run_event_loop(
        app.clone(),
        events_rx,
    )));
    tracing::info!(%addr, store = app.db.backend().as_str(), "vdc serving");
    Ok(Server {
        addr,
        app,
        generated_admin_password,
        task,
        background,
    })
}

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the store")]
    Store(#[source] vdc_db::DbError),
    #[error("cannot prepare the store")]
    Bootstrap(#[source] vdc_types::Error),
    #[error("the LDAP directory is misconfigured: {0}")]
    Directory(String),
    #[error("cannot listen on {0}")]
    Bind(std::net::SocketAddr, #[source] std::io::Error),
}

/// Seeds an empty store: the departments and the first admin. Returns the admin password when
/// it was generated.
async fn bootstrap(db: &DataStore, config: &Config) -> Result<Option<String>, Error> {
    if db.count_users().await? > 0 {
        return Ok(None);
    }
    for (name, cc) in SEED_DEPARTMENTS {
        let d = vdc_db::Department {
            id: DepartmentId::new(),
            name: (*name).into(),
            cost_centre: (*cc).into(),
            created_at: vdc_db::now_ms(),
        };
        db.insert_department(&d).await?;
    }
    let (password, generated) = match &config.admin_password {
        Some(p) => (p.expose().to_string(), None),
        None => {
            let p = auth::random_secret();
            (p.clone(), Some(p))
        }
    };
    let hash = auth::hash_password(&password)?;
    let now = vdc_db::now_ms();
    let admin = vdc_db::User {
        id: UserId::new(),
        username: "admin".into(),
        password_hash: hash,
        department_id: None,
        directory_dn: None,
        created_at: now,
    };
    let global_admin = vdc_db::RoleBinding {
        id: vdc_types::RoleBindingId::new(),
        user_id: admin.id,
        role: Role::Admin.to_string(),
        department_id: None,
        cluster_id: None,
        from_group: None,
        created_at: now,
    };
    db.insert_user(&admin, &global_admin).await?;
    tracing::info!("created the first admin user 'admin'");
    Ok(generated)
}

/// Registers every simulated host (once) in generated clusters of one simulated site.
async fn register_sim_hosts(
    db: &DataStore,
    fleet: &SimFleet,
    hosts_per_cluster: usize,
) -> Result<(), Error> {
    let known: std::collections::HashSet<String> =
        db.all_hosts().await?.into_iter().map(|h| h.uri).collect();
    let site = db.ensure_site("sim-site").await?;
    let mut clusters = std::collections::HashMap::new();
    for (i, h) in fleet.hosts().iter().enumerate() {
        use vdc_driver::HostDriver;
        if known.contains(h.uri()) {
            continue;
        }
        let c = i / hosts_per_cluster.max(1);
        let cluster = match clusters.get(&c) {
            Some(id) => *id,
            None => {
                let id = db
                    .ensure_cluster(site, &format!("sim-cluster-{:02}", c + 1))
                    .await?;
                clusters.insert(c, id);
                id
            }
        };
        let name = h
            .uri()
            .trim_start_matches("sim:///")
            .replace("host-", "sim-host-");
        db.insert_host(&vdc_db::HostRegistration {
            name,
            uri: h.uri().to_string(),
            cluster_id: cluster,
            hypervisor: HypervisorType::Sim,
            domain_type: None,
        })
        .await?;
    }
    Ok(())
}
