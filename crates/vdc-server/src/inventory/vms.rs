//! Reading hosts and VMs, and the VM operations that are not jobs of their own module: power
//! actions, deletion and ownership changes.

use vdc_db::{self as db, VmFilter, VmPatch};
use vdc_types::*;

use crate::app::views;
use crate::app::{Actor, App, On, on_vm};
use crate::jobs::{self};

impl App {
    /// One page of hosts.
    pub async fn list_hosts(&self, q: &HostListQuery) -> Result<Page<HostView>, Error> {
        let f = db::HostListFilter {
            cluster_id: q.cluster_id,
            state: q.state,
            name_prefix: q.name_prefix.clone(),
            after: q
                .page_token
                .as_deref()
                .map(views::parse_page_token)
                .transpose()?,
            limit: validate_limit(q.limit)?,
        };
        let (hosts, more) = self.db.list_hosts(&f).await?;
        let next = views::next_page(&hosts, more, |h| (h.name.clone(), h.id.to_string()));
        Ok(Page {
            items: hosts.iter().map(|h| self.host_view(h)).collect(),
            next_page_token: next,
        })
    }

    /// One host.
    pub async fn get_host(&self, id: HostId) -> Result<HostView, Error> {
        Ok(self.host_view(&self.db.get_host(id).await?))
    }

    /// One page of the VMs the caller may see.
    pub async fn list_vms(&self, actor: &Actor, q: &VmListQuery) -> Result<Page<VmView>, Error> {
        let f = VmFilter {
            cluster_id: q.cluster_id,
            host_id: q.host_id,
            state: q.state,
            management: q.management,
            owner: q.owner.clone(),
            department_id: q.department_id,
            tag: q.tag.clone(),
            name_prefix: q.name_prefix.clone(),
            scope: actor.read_scope().map(|s| (s.departments, s.clusters)),
            after: q
                .page_token
                .as_deref()
                .map(views::parse_page_token)
                .transpose()?,
            limit: validate_limit(q.limit)?,
        };
        let (vms, more) = self.db.list_vms(&f).await?;
        let next = views::next_page(&vms, more, |v| (v.name.clone(), v.id.to_string()));
        Ok(Page {
            items: vms.iter().map(views::vm).collect(),
            next_page_token: next,
        })
    }

    /// One VM.
    pub async fn get_vm(&self, actor: &Actor, id: VmId) -> Result<VmView, Error> {
        Ok(views::vm(&self.visible_vm(actor, id).await?))
    }

    /// Accepts a power action on a VM, refusing at once (409) when its state does not allow it.
    pub async fn act_vm(
        &self,
        actor: &Actor,
        id: VmId,
        action: VmAction,
    ) -> Result<JobAccepted, Error> {
        let vm = self.visible_vm(actor, id).await?;
        let name = format!("vm.{action}");
        self.authorize_vm(actor, &name, &vm, Permission::VmOperate)
            .await?;
        if vm.management == Management::Quarantined
            && matches!(action, VmAction::Start | VmAction::Resume)
        {
            return Err(Error::conflict(format!(
                "VM {} is quarantined: an admin must adopt it before it runs again",
                vm.name
            )));
        }
        if matches!(action, VmAction::Start | VmAction::Resume) {
            crate::governance::lease::check_not_expired(&vm, self.clock().now_ms())?;
        }
        vdc_driver::transition(vm.power_state, action).map_err(Error::from)?;
        if action == VmAction::Start
            && let Some(c) = vm.cluster_id
        {
            self.check_admission(c, vm.vcpus, vm.memory_mib).await?;
        }
        self.submit_vm_job(
            actor,
            &name,
            &vm,
            jobs::JobSpec::VmAction { vm_id: id, action },
            None,
        )
        .await
    }

    /// Accepts the deletion of a VM (stopped if running, undefined, forgotten).
    pub async fn delete_vm(&self, actor: &Actor, id: VmId) -> Result<JobAccepted, Error> {
        let vm = self.visible_vm(actor, id).await?;
        self.authorize_vm(actor, "vm.delete", &vm, Permission::VmDelete)
            .await?;
        let detail = format!("name={}", vm.name);
        self.submit_vm_job(
            actor,
            "vm.delete",
            &vm,
            jobs::JobSpec::VmDelete { vm_id: id },
            Some(detail),
        )
        .await
    }

    /// Changes a VM's ownership fields, refusing a stale generation with 409.
    pub async fn update_vm(
        &self,
        actor: &Actor,
        id: VmId,
        p: VmUpdateParams,
    ) -> Result<VmView, Error> {
        p.validate()?;
        let vm = self.visible_vm(actor, id).await?;
        let mut check = actor.require(Permission::VmOperate, on_vm(&vm));
        if p.department_id.is_some() {
            // Moving a VM to another department needs the right there too.
            check = check.and_then(|_| {
                actor.require(Permission::VmOperate, On::department(p.department_id))
            });
        }
        self.authorize(actor, "vm.update", ("vm", Some(id.to_string())), check)
            .await?;
        if let Some(d) = p.department_id {
            self.db
                .get_department(d)
                .await
                .map_err(|_| Error::invalid("department_id", "no such department"))?;
        }
        let lease_expires_at = match p.lease_expires_at.as_deref() {
            None => None,
            Some("") => Some(None),
            Some(l) => Some(Some(parse_rfc3339("lease_expires_at", l)?)),
        };
        if let Some(lease) = lease_expires_at {
            match self.check_lease(actor, on_vm(&vm), lease, self.clock().now_ms()) {
                Err(e @ Error::Forbidden { .. }) => {
                    let target = ("vm", Some(id.to_string()));
                    self.authorize(actor, "vm.update", target, Err(e)).await?
                }
                other => other?,
            }
        }
        let patch = VmPatch {
            owner: p.owner.clone(),
            department_id: p.department_id,
            purpose: p.purpose.clone(),
            tags: p.tags.clone(),
            lease_expires_at,
            management: None,
        };
        let updated = self.db.patch_vm(id, &patch, p.generation).await?;
        // The hypervisor-side copy follows; the store is the authority, so a host that is
        // down now gets the metadata on the next edit or adoption.
        if updated.management == Management::Managed
            && let Err(e) = self.push_metadata(&updated).await
        {
            tracing::warn!(vm = %updated.name, error = %e, "cannot write ownership metadata to the hypervisor");
        }
        self.audit(
            actor.name(),
            "vm.update",
            ("vm", Some(id.to_string())),
            AuditResult::Ok,
            None,
        )
        .await;
        Ok(views::vm(&updated))
    }
}
