//! Server configuration.

use std::net::SocketAddr;
use std::time::Duration;

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
    pub ldap: Option<crate::ldap::LdapConfig>,
    /// Host-side monitoring: how often, how long kept.
    pub metrics: crate::metrics::MetricsConfig,
    /// High availability: detector timers, fencing, shared storage.
    pub ha: crate::failover::HaConfig,
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
            metrics: crate::metrics::MetricsConfig::default(),
            ha: crate::failover::HaConfig::default(),
        }
    }
}
