//! Server configuration: everything `vdc serve` is told, for every capability (the kernel owns
//! it, so no capability module is needed to read another's settings).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use vdc_engine::ha::{DetectorConfig, FenceConfig};

/// The simulated fleet to start when no hypervisor is configured.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub hosts: usize,
    pub vms: usize,
    pub seed: u64,
    /// Hosts per generated cluster.
    pub hosts_per_cluster: usize,
    /// Days of past use written for the simulated VMs on a fresh store (0: none).
    pub history_days: u32,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            hosts: 8,
            vms: 40,
            seed: 1,
            hosts_per_cluster: 16,
            history_days: 0,
        }
    }
}

/// The lease policy: how long before expiry owners are warned, the longest lease a caller
/// without `lease.override` may set, and how long an expired VM is kept (powered off) before
/// it is deleted.
#[derive(Debug, Clone, Copy)]
pub struct LeaseConfig {
    pub warn_before: Duration,
    pub max: Duration,
    pub retention: Duration,
}

impl Default for LeaseConfig {
    /// Warn 7 days before; leases of at most 90 days; delete 30 days after expiry.
    fn default() -> Self {
        const DAY: u64 = 86_400;
        LeaseConfig {
            warn_before: Duration::from_secs(7 * DAY),
            max: Duration::from_secs(90 * DAY),
            retention: Duration::from_secs(30 * DAY),
        }
    }
}

/// How provisioning requests are approved: without approvers under a cost and size, else by
/// `approvals` distinct approvers, in order.
#[derive(Debug, Clone, Copy)]
pub struct RequestPolicy {
    /// `None`: every request needs approvers.
    pub auto_max_cost: Option<f64>,
    pub auto_max_vcpus: u32,
    pub approvals: u32,
}

impl Default for RequestPolicy {
    /// No approval without approvers (set a cost to allow it, e.g. 100 a month and 4 vCPUs
    /// per VM); one approver.
    fn default() -> Self {
        RequestPolicy {
            auto_max_cost: None,
            auto_max_vcpus: 4,
            approvals: 1,
        }
    }
}

/// A secret from the configuration (a password): never printed, not even in debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The secret itself, for where it is used.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Everything `vdc serve` needs.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// `sqlite://…?mode=rwc` or `postgres://…`.
    pub database_url: String,
    /// `None`: no simulated fleet.
    pub sim: Option<SimConfig>,
    /// How often the inventory controller resyncs every host; `None` disables the loop
    /// (tests drive syncs explicitly).
    pub sync_interval: Option<Duration>,
    /// Password of the first admin; generated (and returned once) when `None`.
    pub admin_password: Option<Secret>,
    /// How long a login token stays valid.
    pub token_ttl: Duration,
    /// A shell command that powers a host on or off out of band (its BMC); it gets
    /// `VDC_POWER_ACTION` (`on`/`off`), `VDC_HOST_NAME` and `VDC_HOST_URI`. `None`: the host's
    /// driver powers it, where it can.
    pub power_command: Option<String>,
    pub lease: LeaseConfig,
    pub requests: RequestPolicy,
    /// Where notifications (requests to approve, decisions, lease warnings) are POSTed as
    /// JSON, besides the audit log.
    pub notify_url: Option<String>,
    /// The LDAP directory users may also log in through.
    pub ldap: Option<LdapConfig>,
    /// Host-side monitoring: how often, how long kept.
    pub metrics: MetricsConfig,
    /// High availability: detector timers, fencing, shared storage.
    pub ha: HaConfig,
}

impl Config {
    /// Defaults for a store URL: loopback port 8080, simulated fleet, 10 s sync.
    pub fn new(database_url: impl Into<String>) -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: database_url.into(),
            sim: Some(SimConfig::default()),
            sync_interval: Some(Duration::from_secs(10)),
            admin_password: None,
            token_ttl: Duration::from_secs(12 * 3600),
            power_command: None,
            lease: LeaseConfig::default(),
            requests: RequestPolicy::default(),
            notify_url: None,
            ldap: None,
            metrics: MetricsConfig::default(),
            ha: HaConfig::default(),
        }
    }
}

/// HA settings.
#[derive(Debug, Clone)]
pub struct HaConfig {
    /// How often hosts are pinged; `None`: no controller loop (tests drive rounds).
    pub interval: Option<Duration>,
    pub detector: DetectorConfig,
    pub fence: FenceConfig,
    /// A shell command that powers a dead host off through its BMC; it gets `VDC_HOST_NAME`
    /// and `VDC_HOST_URI`, and exit status 0 means the host is off. A secret: it often holds
    /// the BMC's credentials.
    pub fence_command: Option<Secret>,
    /// A directory (on storage the hosts share) where each host touches a file named after
    /// it; its modification time is the host's datastore heartbeat.
    pub heartbeat_dir: Option<PathBuf>,
    /// Datastores of a local kind (`dir`, `fs`) that are in fact shared between the hosts
    /// (an NFS mount in a directory pool), so their VMs can restart elsewhere.
    pub shared_datastores: Vec<String>,
    /// A ping slower than this counts as silence.
    pub ping_timeout: Duration,
    /// At most this many VMs start at once within a restart wave.
    pub restart_parallel: usize,
}

impl Default for HaConfig {
    fn default() -> Self {
        HaConfig {
            interval: Some(Duration::from_secs(1)),
            detector: DetectorConfig::default(),
            fence: FenceConfig::default(),
            fence_command: None,
            heartbeat_dir: None,
            shared_datastores: Vec::new(),
            ping_timeout: Duration::from_secs(2),
            restart_parallel: 32,
        }
    }
}

/// How often to sample and how long to keep what.
#[derive(Debug, Clone, Copy)]
pub struct MetricsConfig {
    /// `None`: no collector loop (tests collect explicitly).
    pub interval: Option<Duration>,
    /// How often the store writes out what it holds.
    pub flush_every: Duration,
    pub raw_retention: Duration,
    /// Per resolution in [`RESOLUTIONS`] order.
    pub rollup_retention: [Duration; 3],
}

impl Default for MetricsConfig {
    /// Every 20 s; raw for 2 days (a day's roll-up reads its raw samples), 5-minute roll-ups
    /// for 30 days, hourly for a year, daily for 5 years.
    fn default() -> Self {
        let days = |d: u64| Duration::from_secs(d * 86_400);
        MetricsConfig {
            interval: Some(Duration::from_secs(20)),
            flush_every: Duration::from_secs(60),
            raw_retention: days(2),
            rollup_retention: [days(30), days(365), days(5 * 365)],
        }
    }
}

/// Where the directory is and how vdc reads it.
#[derive(Debug, Clone)]
pub struct LdapConfig {
    /// `ldap://host[:port]` or `ldaps://host[:port]`.
    pub url: String,
    /// Upgrade an `ldap://` connection with StartTLS (required then: a directory that does
    /// not offer it is unavailable, never used in clear).
    pub starttls: bool,
    /// PEM file of the CA(s) that sign the directory's certificate; the system's roots when
    /// `None`.
    pub ca_file: Option<PathBuf>,
    /// The service account vdc searches with; anonymous when `None`.
    pub bind_dn: Option<String>,
    pub bind_password: Option<Secret>,
    /// Where users are searched (subtree).
    pub user_base: String,
    /// The user's entry; `{username}` is replaced by the escaped login name.
    pub user_filter: String,
    /// Where groups are searched (subtree).
    pub group_base: String,
    /// The user's groups; `{dn}` and `{username}` are replaced, escaped.
    pub group_filter: String,
    /// Which groups give which roles.
    pub groups: Vec<GroupMapping>,
    /// How long the whole exchange with the directory may take.
    pub timeout: Duration,
}

impl LdapConfig {
    /// A directory at `url` with users under `ou=people,<base>` (by `uid`) and groups under
    /// `ou=groups,<base>` (by `member`, `uniqueMember` or `memberUid`), no mappings.
    pub fn new(url: impl Into<String>, base: &str) -> LdapConfig {
        LdapConfig {
            url: url.into(),
            starttls: false,
            ca_file: None,
            bind_dn: None,
            bind_password: None,
            user_base: format!("ou=people,{base}"),
            user_filter: DEFAULT_USER_FILTER.into(),
            group_base: format!("ou=groups,{base}"),
            group_filter: DEFAULT_GROUP_FILTER.into(),
            groups: Vec::new(),
            timeout: Duration::from_secs(5),
        }
    }
}

/// The default user filter: a person by `uid`.
pub const DEFAULT_USER_FILTER: &str = "(&(objectClass=person)(uid={username}))";
/// The default group filter: the usual three membership attributes.
pub const DEFAULT_GROUP_FILTER: &str = "(|(member={dn})(uniqueMember={dn})(memberUid={username}))";

/// A directory group (its `cn` or whole DN, compared without case) and the role its members
/// get, with the role's scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMapping {
    pub group: String,
    pub role: String,
    pub scope: MappedScope,
}

/// The scope of a mapped role; departments and clusters by name, resolved at each login.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MappedScope {
    Global,
    Department(String),
    Cluster(String),
}

impl std::str::FromStr for GroupMapping {
    type Err = String;

    /// `GROUP=ROLE`, `GROUP=ROLE@DEPARTMENT` or `GROUP=ROLE@cluster:CLUSTER`.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!("{s:?}: expected GROUP=ROLE, GROUP=ROLE@DEPARTMENT or GROUP=ROLE@cluster:NAME")
        };
        let (group, rest) = s.rsplit_once('=').ok_or_else(bad)?;
        let (role, scope) = match rest.split_once('@') {
            None => (rest, MappedScope::Global),
            Some((role, at)) => match at.strip_prefix("cluster:") {
                Some(c) if !c.trim().is_empty() => (role, MappedScope::Cluster(c.trim().into())),
                Some(_) => return Err(bad()),
                None if !at.trim().is_empty() => (role, MappedScope::Department(at.trim().into())),
                None => return Err(bad()),
            },
        };
        let (group, role) = (group.trim(), role.trim());
        if group.is_empty() || role.is_empty() {
            return Err(bad());
        }
        Ok(GroupMapping {
            group: group.into(),
            role: role.into(),
            scope,
        })
    }
}
