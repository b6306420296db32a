//! `vdc serve`: the server on the embedded default (SQLite in `./vdc-data/`, loopback:8080,
//! simulated fleet) or on PostgreSQL.

use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use vdc_server::{Config, SimConfig};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "VDC_LISTEN")]
    listen: SocketAddr,
    /// Directory of the embedded store (created if missing).
    #[arg(long, default_value = "vdc-data", env = "VDC_DATA_DIR")]
    data_dir: PathBuf,
    /// Use this database instead of the embedded one, e.g. postgres://user@host/vdc.
    #[arg(long, env = "VDC_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Simulated hosts to start when no hypervisor is configured.
    #[arg(long, default_value_t = 8)]
    sim_hosts: usize,
    /// Simulated VMs on them.
    #[arg(long, default_value_t = 40)]
    sim_vms: usize,
    /// Seed of the simulated fleet (same seed, same fleet).
    #[arg(long, default_value_t = 1)]
    sim_seed: u64,
    /// Days of past use given to the simulated VMs on a fresh store (hourly and daily
    /// roll-ups from the simulator's load model), so reports and charts have history; 0: none.
    #[arg(long, default_value_t = 35)]
    sim_history_days: u32,
    /// Do not start a simulated fleet.
    #[arg(long)]
    no_sim: bool,
    /// How often the inventory is resynced from every host, e.g. 10s, 1m.
    #[arg(long, default_value = "10s", value_parser = humantime_duration)]
    sync_interval: Duration,
    /// Log lines as JSON.
    #[arg(long)]
    log_json: bool,
    /// Shell command that powers a host on or off (standby), e.g. a script calling its BMC;
    /// it gets VDC_POWER_ACTION (on/off), VDC_HOST_NAME and VDC_HOST_URI. Without it, hosts
    /// are powered through their driver where it can (the simulator can; libvirt cannot).
    #[arg(long, env = "VDC_POWER_COMMAND", hide_env_values = true)]
    power_command: Option<String>,
    /// Warn VM owners this long before their lease ends.
    #[arg(long, default_value = "7d", value_parser = humantime_duration)]
    lease_warn: Duration,
    /// The longest lease a user without lease.override may set.
    #[arg(long, default_value = "90d", value_parser = humantime_duration)]
    lease_max: Duration,
    /// How long a VM whose lease ended stays (powered off) before it is deleted.
    #[arg(long, default_value = "30d", value_parser = humantime_duration)]
    lease_retention: Duration,
    /// Provisioning requests costing at most this a month (all VMs) are approved by rule;
    /// without it every request waits for approvers.
    #[arg(long)]
    auto_approve_cost: Option<f64>,
    /// … and only when no VM has more vCPUs than this.
    #[arg(long, default_value_t = 4)]
    auto_approve_vcpus: u32,
    /// Distinct approvers other requests need, in order.
    #[arg(long, default_value_t = 1)]
    approvals: u32,
    /// Webhook that gets notifications (requests, decisions, lease warnings) as JSON POSTs.
    #[arg(long, env = "VDC_NOTIFY_URL", hide_env_values = true)]
    notify_url: Option<String>,
    /// How often every host and VM is sampled for monitoring; 0s turns it off.
    #[arg(long, default_value = "20s", value_parser = humantime_duration)]
    metrics_interval: Duration,
    /// How long raw samples are kept (at least a day: the daily roll-up reads them);
    /// roll-ups stay longer (5-minute 30 days, hourly a year, daily 5 years).
    #[arg(long, default_value = "2d", value_parser = humantime_duration)]
    metrics_raw_retention: Duration,
    #[command(flatten)]
    ha: HaArgs,
    #[command(flatten)]
    ldap: LdapArgs,
}

/// High availability: failure detection, fencing, shared storage.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "High availability")]
pub struct HaArgs {
    /// How often every host is pinged; 0s turns HA off.
    #[arg(long, default_value = "1s", value_parser = humantime_duration)]
    ha_interval: Duration,
    /// Silence on both paths (management and datastore heartbeat) after which a host is dead.
    #[arg(long, default_value = "15s", value_parser = humantime_duration)]
    ha_dead_after: Duration,
    /// How long a host's storage lease outlives its last renewal.
    #[arg(long, default_value = "10s", value_parser = humantime_duration)]
    ha_lease_ttl: Duration,
    /// Give up fencing (restart nothing) after this long.
    #[arg(long, default_value = "60s", value_parser = humantime_duration)]
    ha_fence_timeout: Duration,
    /// Shell command that powers a dead host off (gets VDC_HOST_NAME and VDC_HOST_URI; exit
    /// 0 = off).
    #[arg(long, env = "VDC_HA_FENCE_COMMAND", hide_env_values = true)]
    ha_fence_command: Option<String>,
    /// Directory on shared storage where each host touches a file named after it (its
    /// datastore heartbeat).
    #[arg(long)]
    ha_heartbeat_dir: Option<std::path::PathBuf>,
    /// A directory-type datastore that is in fact shared between the hosts (repeat).
    #[arg(long)]
    ha_shared_datastore: Vec<String>,
    /// At most this many VMs of a failed host start at once (within a priority wave), to
    /// spare the survivors and the shared storage a boot storm.
    #[arg(long, default_value_t = 32)]
    ha_restart_parallel: usize,
}

impl HaArgs {
    fn apply(&self, c: &mut vdc_server::app::config::HaConfig) -> anyhow::Result<()> {
        let ms = |d: Duration| d.as_millis() as i64;
        anyhow::ensure!(
            self.ha_dead_after >= Duration::from_secs(1),
            "--ha-dead-after must be at least 1s"
        );
        anyhow::ensure!(
            self.ha_restart_parallel >= 1,
            "--ha-restart-parallel must be at least 1"
        );
        c.interval = (!self.ha_interval.is_zero()).then_some(self.ha_interval);
        c.detector.dead_after_ms = ms(self.ha_dead_after);
        c.detector.suspect_after_ms = c.detector.suspect_after_ms.min(ms(self.ha_dead_after) / 2);
        c.fence.lease_ttl_ms = ms(self.ha_lease_ttl);
        c.fence.timeout_ms = ms(self.ha_fence_timeout);
        c.fence_command = self
            .ha_fence_command
            .clone()
            .map(vdc_server::app::config::Secret::new);
        c.heartbeat_dir = self.ha_heartbeat_dir.clone();
        c.shared_datastores = self.ha_shared_datastore.clone();
        c.restart_parallel = self.ha_restart_parallel;
        Ok(())
    }
}

/// Users from an LDAP directory, beside local users.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "LDAP directory")]
pub struct LdapArgs {
    /// Let users log in through this directory: ldap://host[:port] or ldaps://host[:port].
    #[arg(long, env = "VDC_LDAP_URL")]
    ldap_url: Option<String>,
    /// Upgrade ldap:// with StartTLS (required: without it the login fails).
    #[arg(long, env = "VDC_LDAP_STARTTLS")]
    ldap_starttls: bool,
    /// PEM file of the CA that signs the directory's certificate (default: system roots).
    #[arg(long, env = "VDC_LDAP_CA")]
    ldap_ca: Option<PathBuf>,
    /// The service account's DN vdc searches with (default: anonymous).
    #[arg(long, env = "VDC_LDAP_BIND_DN")]
    ldap_bind_dn: Option<String>,
    /// The service account's password (from the environment, so it stays out of `ps`).
    #[arg(long, env = "VDC_LDAP_BIND_PASSWORD", hide_env_values = true)]
    ldap_bind_password: Option<String>,
    /// The directory's base DN; users default to ou=people and groups to ou=groups under it.
    #[arg(long, env = "VDC_LDAP_BASE_DN", default_value = "")]
    ldap_base_dn: String,
    /// Where users are searched (default: ou=people,BASE).
    #[arg(long, env = "VDC_LDAP_USER_BASE")]
    ldap_user_base: Option<String>,
    /// The user's entry; {username} is the escaped login name.
    #[arg(long, env = "VDC_LDAP_USER_FILTER", default_value = vdc_server::app::config::DEFAULT_USER_FILTER)]
    ldap_user_filter: String,
    /// Where groups are searched (default: ou=groups,BASE).
    #[arg(long, env = "VDC_LDAP_GROUP_BASE")]
    ldap_group_base: Option<String>,
    /// The user's groups; {dn} is the user's entry, {username} the login name.
    #[arg(long, env = "VDC_LDAP_GROUP_FILTER", default_value = vdc_server::app::config::DEFAULT_GROUP_FILTER)]
    ldap_group_filter: String,
    /// A directory group (cn or DN) and the role its members get: GROUP=ROLE (global),
    /// GROUP=ROLE@DEPARTMENT or GROUP=ROLE@cluster:CLUSTER. Repeat for more groups.
    #[arg(long = "ldap-group", value_name = "GROUP=ROLE[@SCOPE]")]
    ldap_groups: Vec<vdc_server::app::config::GroupMapping>,
    /// How long a login may wait for the directory.
    #[arg(long, default_value = "5s", value_parser = humantime_duration)]
    ldap_timeout: Duration,
}

impl LdapArgs {
    fn config(self) -> Result<Option<vdc_server::app::config::LdapConfig>> {
        let Some(url) = self.ldap_url.filter(|u| !u.trim().is_empty()) else {
            return Ok(None);
        };
        let base = self.ldap_base_dn;
        if base.is_empty() && (self.ldap_user_base.is_none() || self.ldap_group_base.is_none()) {
            anyhow::bail!(
                "--ldap-url needs --ldap-base-dn (or both --ldap-user-base and --ldap-group-base)"
            );
        }
        let mut c = vdc_server::app::config::LdapConfig::new(url, &base);
        c.starttls = self.ldap_starttls;
        c.ca_file = self.ldap_ca;
        c.bind_dn = self.ldap_bind_dn;
        c.bind_password = self
            .ldap_bind_password
            .map(vdc_server::app::config::Secret::new);
        if let Some(b) = self.ldap_user_base {
            c.user_base = b;
        }
        if let Some(b) = self.ldap_group_base {
            c.group_base = b;
        }
        c.user_filter = self.ldap_user_filter;
        c.group_filter = self.ldap_group_filter;
        c.groups = self.ldap_groups;
        c.timeout = self.ldap_timeout;
        Ok(Some(c))
    }
}

pub(crate) fn humantime_duration(s: &str) -> Result<Duration, String> {
    s.parse::<humantime::Duration>()
        .map(Into::into)
        .map_err(|e| e.to_string())
}

pub async fn run(args: ServeArgs) -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn,tower_http=info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if args.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
    let database_url = match args.database_url {
        Some(u) => u,
        None => {
            std::fs::create_dir_all(&args.data_dir)
                .with_context(|| format!("cannot create {}", args.data_dir.display()))?;
            format!(
                "sqlite://{}?mode=rwc",
                args.data_dir.join("vdc.sqlite").display()
            )
        }
    };
    let mut config = Config::new(database_url);
    config.listen = args.listen;
    config.sync_interval = Some(args.sync_interval);
    config.power_command = args.power_command.filter(|c| !c.trim().is_empty());
    config.requests = vdc_server::app::config::RequestPolicy {
        auto_max_cost: args.auto_approve_cost,
        auto_max_vcpus: args.auto_approve_vcpus,
        approvals: args.approvals,
    };
    config.notify_url = args.notify_url.filter(|u| !u.trim().is_empty());
    config.lease = vdc_server::app::config::LeaseConfig {
        warn_before: args.lease_warn,
        max: args.lease_max,
        retention: args.lease_retention,
    };
    config.admin_password = std::env::var("VDC_ADMIN_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty())
        .map(vdc_server::app::config::Secret::new);
    config.ldap = args.ldap.config()?;
    anyhow::ensure!(
        args.metrics_raw_retention >= Duration::from_secs(86_400),
        "--metrics-raw-retention must be at least 1d (the daily roll-up reads the day's samples)"
    );
    config.metrics.interval = (!args.metrics_interval.is_zero()).then_some(args.metrics_interval);
    config.metrics.raw_retention = args.metrics_raw_retention;
    args.ha.apply(&mut config.ha)?;
    config.sim = (!args.no_sim).then_some(SimConfig {
        hosts: args.sim_hosts,
        vms: args.sim_vms,
        seed: args.sim_seed,
        history_days: args.sim_history_days,
        ..SimConfig::default()
    });
    // Hosts added by URI are opened by the libvirt driver (refused with the reason in a build
    // without the `libvirt` feature).
    let fleet = vdc_server::Fleet::for_config(&config)
        .with_connector(std::sync::Arc::new(vdc_driver_libvirt::LibvirtConnector));
    let server = vdc_server::start_with_fleet(config, std::sync::Arc::new(fleet)).await?;
    let url = format!("http://{}", server.addr);
    println!(
        "vdc is serving on {url}  (web UI: {url}/, API: {url}/api/v1, OpenAPI: {url}/api/v1/openapi.json)"
    );
    println!("store: {}", server.app.db.backend().as_str());
    if let Some(sim) = server.app.fleet.sim() {
        println!(
            "simulated fleet: {} hosts (no hypervisor configured)",
            sim.len()
        );
    }
    match &server.generated_admin_password {
        Some(p) => println!(
            "first start: user 'admin', password {p}  (shown once; set VDC_ADMIN_PASSWORD to choose it)"
        ),
        None => println!("log in: vdc login --server {url} --username admin"),
    }
    tokio::select! {
        r = server.wait() => r.map_err(Into::into),
        _ = tokio::signal::ctrl_c() => {
            println!("stopping");
            Ok(())
        }
    }
}
