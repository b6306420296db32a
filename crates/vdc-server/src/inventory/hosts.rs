//! Adding and removing hypervisor hosts, and their live utilisation.

use vdc_db as db;
use vdc_types::*;

use crate::app::App;
use crate::app::fleet::{blocking, driver_error};
use crate::app::views;
use crate::app::{Actor, On};
use crate::inventory::sync::{SyncReport, sync_hosts};

/// The site hosts added by URI land in.
const DEFAULT_SITE: &str = "default";
/// The cluster hosts land in when the caller names none.
const DEFAULT_CLUSTER: &str = "default";

/// What adding a host did: the host and its first sync.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct HostAdded {
    pub host: HostView,
    pub sync: SyncReport,
}

impl App {
    /// Connects a libvirt host and registers it (admin). Nothing is written unless the host
    /// answers; its VMs are discovered by an immediate sync (those vdc did not create come
    /// in `unmanaged`).
    pub async fn add_host(&self, actor: &Actor, p: HostAddParams) -> Result<HostAdded, Error> {
        p.validate()?;
        let check = actor.require(Permission::HostManage, On::global());
        self.authorize(actor, "host.add", ("host", None), check)
            .await?;
        if self.db.all_hosts().await?.iter().any(|h| h.uri == p.uri) {
            return Err(Error::conflict(format!(
                "a host with URI {} is already registered",
                p.uri
            )));
        }
        let fleet = self.fleet.clone();
        let (uri, domain_type) = (p.uri.clone(), p.domain_type.clone());
        let info = tokio::task::spawn_blocking(move || {
            let driver = fleet.connect(&uri, domain_type.as_deref())?;
            driver.host_info().inspect_err(|_| fleet.remove(&uri))
        })
        .await
        .map_err(|e| Error::internal(format!("connect task panicked: {e}")))?
        .map_err(driver_error)?;
        let site = self.db.ensure_site(DEFAULT_SITE).await?;
        let cluster = self
            .db
            .ensure_cluster(site, p.cluster.as_deref().unwrap_or(DEFAULT_CLUSTER))
            .await?;
        let name = p.name.clone().unwrap_or_else(|| host_name(&info.hostname));
        let id = self
            .db
            .insert_host(&db::HostRegistration {
                name: name.clone(),
                uri: p.uri.clone(),
                cluster_id: cluster,
                hypervisor: info.hypervisor,
                domain_type: Some(p.domain_type.clone().unwrap_or_else(|| "kvm".into())),
            })
            .await
            .inspect_err(|_| self.fleet.remove(&p.uri))?;
        self.audit(
            actor.name(),
            "host.add",
            ("host", Some(id.to_string())),
            AuditResult::Ok,
            Some(format!("name={name} uri={}", p.uri)),
        )
        .await;
        let host = self.db.get_host(id).await?;
        let sync = sync_hosts(self, std::slice::from_ref(&host)).await?;
        Ok(HostAdded {
            host: self.host_view(&self.db.get_host(id).await?),
            sync,
        })
    }

    /// Removes a host from the inventory (admin). Its VMs stay on the hypervisor; their
    /// records go with the host. Refused while a job on one of its VMs is unfinished.
    pub async fn remove_host(&self, actor: &Actor, id: HostId) -> Result<(), Error> {
        let host = self.authorize_host(actor, "host.remove", id).await?;
        let busy = self.db.unfinished_jobs().await?;
        let on_host: std::collections::HashSet<String> = self
            .db
            .vm_generations_on(&[id])
            .await?
            .into_iter()
            .map(|(vm, _, _)| vm.to_string())
            .collect();
        if let Some(j) = busy
            .iter()
            .find(|j| j.target_id.as_ref().is_some_and(|t| on_host.contains(t)))
        {
            return Err(Error::conflict(format!(
                "job {} ({}) on a VM of {} is unfinished",
                j.id, j.kind, host.name
            )));
        }
        let vms = self.db.delete_host(id).await?;
        self.fleet.remove(&host.uri);
        self.audit(
            actor.name(),
            "host.remove",
            ("host", Some(id.to_string())),
            AuditResult::Ok,
            Some(format!(
                "name={} uri={} vm_records={vms}",
                host.name, host.uri
            )),
        )
        .await;
        Ok(())
    }

    /// Changes what placement may use a host for (admin): maintenance, the department it is
    /// reserved for, its licences.
    pub async fn update_host(
        &self,
        actor: &Actor,
        id: HostId,
        p: HostUpdateParams,
    ) -> Result<HostView, Error> {
        p.validate()?;
        let mut host = self.authorize_host(actor, "host.update", id).await?;
        if let Some(Some(d)) = p.dedicated_to {
            self.db
                .get_department(d)
                .await
                .map_err(|_| Error::invalid("dedicated_to", "no such department"))?;
        }
        if let Some(m) = p.maintenance {
            host.maintenance = m;
        }
        if let Some(d) = p.dedicated_to {
            host.dedicated_to = d;
        }
        if let Some(l) = p.licensed_software.clone() {
            host.licensed_software = l;
        }
        if let Some(c) = p.licence_cost_per_vcpu {
            host.licence_cost_per_vcpu = c;
        }
        self.db.update_host_settings(&host).await?;
        self.audit(
            actor.name(),
            "host.update",
            ("host", Some(id.to_string())),
            AuditResult::Ok,
            Some(format!(
                "name={} maintenance={} dedicated_to={} licensed={:?} licence_cost_per_vcpu={}",
                host.name,
                host.maintenance,
                host.dedicated_to
                    .map_or_else(|| "-".to_string(), |d| d.to_string()),
                host.licensed_software,
                host.licence_cost_per_vcpu
            )),
        )
        .await;
        Ok(self.host_view(&host))
    }

    /// Sets a cluster's overcommit ratios (admin).
    pub async fn update_cluster(
        &self,
        actor: &Actor,
        id: ClusterId,
        p: ClusterUpdateParams,
    ) -> Result<ClusterView, Error> {
        p.validate()?;
        let check = actor.require(Permission::ClusterManage, On::cluster(id));
        self.authorize(
            actor,
            "cluster.update",
            ("cluster", Some(id.to_string())),
            check,
        )
        .await?;
        self.db
            .update_cluster_ratios(id, p.vcpu_ratio, p.memory_ratio)
            .await?;
        if let Some(m) = p.balance_mode {
            self.db.set_balance_mode(id, m).await?;
        }
        if let Some(on) = p.power_saving {
            self.db.set_power_saving(id, on).await?;
        }
        let cluster = self.cluster(id).await?;
        self.audit(
            actor.name(),
            "cluster.update",
            ("cluster", Some(id.to_string())),
            AuditResult::Ok,
            Some(format!(
                "name={} vcpu_ratio={} memory_ratio={} balance_mode={} power_saving={}",
                cluster.name,
                cluster.vcpu_ratio,
                cluster.memory_ratio,
                cluster.balance_mode,
                cluster.power_saving
            )),
        )
        .await;
        Ok(views::cluster(&cluster))
    }

    /// The host, once the caller is found to manage hosts in its cluster (a refusal is
    /// audited as `action`).
    pub(crate) async fn authorize_host(
        &self,
        actor: &Actor,
        action: &str,
        id: HostId,
    ) -> Result<db::Host, Error> {
        let host = self.db.get_host(id).await?;
        let check = actor.require(Permission::HostManage, On::cluster(host.cluster_id));
        self.authorize(actor, action, ("host", Some(id.to_string())), check)
            .await?;
        Ok(host)
    }

    /// A host's utilisation now, from its driver.
    pub async fn host_stats(&self, id: HostId) -> Result<HostStatsView, Error> {
        let host = self.db.get_host(id).await?;
        let driver = self.fleet.driver(&host.uri)?;
        let stats = blocking(move || driver.host_stats()).await?;
        Ok(views::host_stats(id, &stats))
    }
}

/// A valid resource name from a hostname: its first label, or the whole name cleaned up.
fn host_name(hostname: &str) -> String {
    let cleaned: String = hostname
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(MAX_NAME_LEN)
        .collect();
    match cleaned.trim_start_matches(['.', '_', '-']) {
        "" => "host".to_string(),
        s => s.to_string(),
    }
}
