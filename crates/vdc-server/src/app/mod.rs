//! The kernel every capability builds on: the [`App`] (store, fleet, configuration, and each
//! capability's state by type), the caller ([`Actor`]) and its scope checks, audit, and the
//! visibility helpers. It imports no capability module.
//!
//! Every API operation is a method of [`App`] (in the folder of its capability) taking the caller
//! and the parameters. Checks run in this order: validation (400), role and department (403),
//! existence (404), state and conflicts (409), capacity (507); only then is anything written,
//! and every change or refusal past validation is audited.

pub mod actor;
pub mod clock;
pub mod config;
pub mod fleet;
pub(crate) mod hooks;
pub(crate) mod parts;
pub mod views;

use std::collections::HashMap;
use std::sync::Arc;
use vdc_db::{self as db, DataStore};
use vdc_types::*;

pub use actor::{Actor, Grant, On, ReadScope};
use config::Config;
use fleet::Fleet;
pub(crate) use parts::Part;

/// Shared server state. Cheap to clone.
#[derive(Debug, Clone)]
pub struct App {
    pub db: DataStore,
    pub fleet: Arc<Fleet>,
    pub config: Arc<Config>,
    /// Each capability's in-memory state, by type ([`App::part`]).
    parts: Arc<parts::Parts>,
}

/// Where a VM lives, for scope checks.
pub(crate) fn on_vm(vm: &db::Vm) -> On {
    On {
        department: vm.department_id,
        cluster: vm.cluster_id,
    }
}

/// A target for audit records: (kind, id).
pub type Target<'a> = (&'a str, Option<String>);

impl App {
    pub(crate) fn new(db: DataStore, fleet: Arc<Fleet>, config: Arc<Config>) -> App {
        App {
            db,
            fleet,
            config,
            parts: Arc::default(),
        }
    }

    /// Appends an audit record. A failure to audit is logged, never hidden: the change it
    /// describes has already happened.
    pub async fn audit(
        &self,
        actor: &str,
        action: &str,
        target: Target<'_>,
        result: AuditResult,
        detail: Option<String>,
    ) {
        let rec = db::AuditRecord {
            id: AuditId::new(),
            at: db::now_ms(),
            actor: actor.to_string(),
            action: action.to_string(),
            target_kind: target.0.to_string(),
            target_id: target.1,
            result,
            detail,
        };
        if let Err(e) = self.db.insert_audit(&rec).await {
            tracing::error!(error = %e, action, "cannot write audit record");
        }
    }

    /// Runs an authorisation check; a refusal is audited as `denied`.
    pub(crate) async fn authorize(
        &self,
        actor: &Actor,
        action: &str,
        target: Target<'_>,
        check: Result<(), Error>,
    ) -> Result<(), Error> {
        if let Err(e) = check {
            self.audit(
                actor.name(),
                action,
                target,
                AuditResult::Denied,
                Some(e.to_string()),
            )
            .await;
            return Err(e);
        }
        Ok(())
    }

    /// Authorises creating something in `department` (`vm.create`, audited when refused),
    /// then checks that the department exists (400 on `department_id` otherwise).
    pub(crate) async fn authorize_create_in(
        &self,
        actor: &Actor,
        action: &str,
        target: Target<'_>,
        department: Option<DepartmentId>,
    ) -> Result<(), Error> {
        let check = actor.require(Permission::VmCreate, On::department(department));
        self.authorize(actor, action, target, check).await?;
        if let Some(d) = department {
            self.db
                .get_department(d)
                .await
                .map_err(|_| Error::invalid("department_id", "no such department"))?;
        }
        Ok(())
    }

    /// One cluster.
    pub(crate) async fn cluster(&self, id: ClusterId) -> Result<db::Cluster, Error> {
        self.db
            .list_clusters()
            .await?
            .into_iter()
            .find(|c| c.id == id)
            .ok_or_else(|| Error::not_found("cluster", id))
    }

    /// Cluster names by id.
    pub(crate) async fn cluster_names(&self) -> Result<HashMap<ClusterId, String>, Error> {
        let clusters = self.db.list_clusters().await?;
        Ok(clusters.into_iter().map(|c| (c.id, c.name)).collect())
    }

    /// Department names by id.
    pub(crate) async fn department_names(&self) -> Result<HashMap<DepartmentId, String>, Error> {
        let departments = self.db.list_departments().await?;
        Ok(departments.into_iter().map(|d| (d.id, d.name)).collect())
    }

    /// Every VM matching `f` (its cursor and limit aside), paging through the store.
    pub(crate) async fn every_vm(&self, mut f: db::VmFilter) -> Result<Vec<db::Vm>, Error> {
        let mut out = Vec::new();
        f.limit = 1000;
        f.after = None;
        loop {
            let (page, more) = self.db.list_vms(&f).await?;
            f.after = page.last().map(|v| (v.name.clone(), v.id.to_string()));
            out.extend(page);
            if !more {
                return Ok(out);
            }
        }
    }

    /// A VM the caller may see (404 otherwise, so other departments' VMs are not revealed).
    pub(crate) async fn visible_vm(&self, actor: &Actor, id: VmId) -> Result<db::Vm, Error> {
        let vm = self.db.get_vm(id).await?;
        if !actor.sees(on_vm(&vm)) {
            return Err(Error::not_found("vm", id));
        }
        Ok(vm)
    }

    /// Checks that the caller holds `permission` where `vm` lives (its department or
    /// cluster); audits a refusal.
    pub(crate) async fn authorize_vm(
        &self,
        actor: &Actor,
        action: &str,
        vm: &db::Vm,
        permission: Permission,
    ) -> Result<(), Error> {
        let check = actor.require(permission, on_vm(vm));
        self.authorize(actor, action, ("vm", Some(vm.id.to_string())), check)
            .await
    }
}
