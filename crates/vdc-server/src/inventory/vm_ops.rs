//! VM operations beyond create/act/delete: rogue-VM adoption and quarantine, live migration,
//! snapshots and live counters. Same order of checks as in [`crate::app`]: validate,
//! authorise, exist, conflict, then write and audit.

use vdc_db::{self as db, VmPatch};
use vdc_types::*;

use crate::app::Actor;
use crate::app::App;
use crate::app::fleet::blocking;
use crate::app::fleet::vm_driver;
use crate::app::views;
use crate::jobs::{self, JobSpec, SnapshotOp};

impl App {
    /// Writes a VM's ownership metadata to its hypervisor.
    pub(crate) async fn push_metadata(&self, vm: &db::Vm) -> Result<(), Error> {
        let meta = jobs::metadata_of(vm, jobs::department_name(self, vm).await?);
        let driver = vm_driver(self, vm).await?;
        let id = vm.id.0;
        blocking(move || driver.set_metadata(id, &meta).map(|_| ())).await
    }

    /// Takes an unmanaged (or quarantined) VM under management (admin): writes vdc's
    /// metadata to the hypervisor first, then the record.
    pub async fn adopt_vm(&self, actor: &Actor, id: VmId, p: AdoptParams) -> Result<VmView, Error> {
        p.validate()?;
        let vm = self.visible_vm(actor, id).await?;
        self.authorize_vm(actor, "vm.adopt", &vm, Permission::VmAdopt)
            .await?;
        self.db
            .get_department(p.department_id)
            .await
            .map_err(|_| Error::invalid("department_id", "no such department"))?;
        if vm.management == Management::Managed {
            return Err(Error::conflict(format!(
                "VM {} is already managed",
                vm.name
            )));
        }
        if vm.management == Management::External {
            return Err(Error::conflict(format!(
                "VM {} is in an imported estate (read-only)",
                vm.name
            )));
        }
        let adopted = db::Vm {
            management: Management::Managed,
            owner: Some(p.owner.clone()),
            department_id: Some(p.department_id),
            purpose: p.purpose.clone().or(vm.purpose.clone()),
            ..vm.clone()
        };
        self.push_metadata(&adopted).await?;
        let patch = VmPatch {
            owner: adopted.owner.clone(),
            department_id: adopted.department_id,
            purpose: adopted.purpose.clone(),
            management: Some(Management::Managed),
            ..VmPatch::default()
        };
        let updated = self.db.patch_vm(id, &patch, Some(vm.generation)).await?;
        self.audit(
            actor.name(),
            "vm.adopt",
            ("vm", Some(id.to_string())),
            AuditResult::Ok,
            Some(format!(
                "name={} owner={} department={}",
                vm.name, p.owner, p.department_id
            )),
        )
        .await;
        Ok(views::vm(&updated))
    }

    /// Quarantines an unmanaged VM (admin): marks it and suspends it if it runs; it stays
    /// defined for inspection and cannot be started or resumed until adopted.
    pub async fn quarantine_vm(&self, actor: &Actor, id: VmId) -> Result<JobAccepted, Error> {
        let vm = self.visible_vm(actor, id).await?;
        self.authorize_vm(actor, "vm.quarantine", &vm, Permission::VmAdopt)
            .await?;
        if vm.management != Management::Unmanaged {
            return Err(Error::conflict(format!(
                "VM {} is {}: only unmanaged VMs are quarantined",
                vm.name, vm.management
            )));
        }
        self.submit_vm_job(
            actor,
            "vm.quarantine",
            &vm,
            JobSpec::VmQuarantine { vm_id: id },
            Some(format!("name={}", vm.name)),
        )
        .await
    }

    /// Live-migrates a running or paused VM to another connected host that has room.
    pub async fn migrate_vm(
        &self,
        actor: &Actor,
        id: VmId,
        p: MigrateParams,
    ) -> Result<JobAccepted, Error> {
        let vm = self.visible_vm(actor, id).await?;
        self.authorize_vm(actor, "vm.migrate", &vm, Permission::VmOperate)
            .await?;
        let target = self
            .db
            .get_host(p.host_id)
            .await
            .map_err(|_| Error::invalid("host_id", "no such host"))?;
        if vm.host_id == Some(target.id) {
            return Err(Error::conflict(format!(
                "VM {} already runs on {}",
                vm.name, target.name
            )));
        }
        if !matches!(vm.power_state, PowerState::Running | PowerState::Paused) {
            return Err(Error::conflict(format!(
                "VM {} is {}: only running or paused VMs are live-migrated",
                vm.name, vm.power_state
            )));
        }
        let mut need = self.need_of_vm(&vm).await?;
        // The disks move by migration (shared or copied storage), not by placement.
        need.disks.clear();
        self.check_fits(&target, &need).await?;
        self.submit_vm_job(
            actor,
            "vm.migrate",
            &vm,
            JobSpec::VmMigrate {
                vm_id: id,
                to: target.id,
            },
            Some(format!("name={} to={}", vm.name, target.name)),
        )
        .await
    }

    /// Creates, reverts to or deletes a snapshot, as a job.
    pub async fn snapshot_vm(
        &self,
        actor: &Actor,
        id: VmId,
        name: String,
        op: SnapshotOp,
    ) -> Result<JobAccepted, Error> {
        SnapshotParams { name: name.clone() }.validate()?;
        let vm = self.visible_vm(actor, id).await?;
        let spec = JobSpec::VmSnapshot {
            vm_id: id,
            name: name.clone(),
            op,
        };
        let action = spec.kind();
        self.authorize_vm(actor, &action, &vm, Permission::VmOperate)
            .await?;
        // A revert may return the VM to running: not for an expired or quarantined VM.
        if op == SnapshotOp::Revert {
            crate::governance::lease::check_not_expired(&vm, self.clock().now_ms())?;
            if vm.management == Management::Quarantined {
                return Err(Error::conflict(format!(
                    "VM {} is quarantined: an admin must adopt it before it runs again",
                    vm.name
                )));
            }
        }
        if op == SnapshotOp::Revert
            && !self
                .list_snapshots(actor, id)
                .await?
                .iter()
                .any(|s| s.name == name)
        {
            return Err(Error::not_found("snapshot", name));
        }
        self.submit_vm_job(
            actor,
            &action,
            &vm,
            spec,
            Some(format!("name={} snapshot={name}", vm.name)),
        )
        .await
    }

    /// A VM's snapshots, oldest first, as its host keeps them.
    pub async fn list_snapshots(
        &self,
        actor: &Actor,
        id: VmId,
    ) -> Result<Vec<SnapshotView>, Error> {
        let vm = self.visible_vm(actor, id).await?;
        let driver = vm_driver(self, &vm).await?;
        let snaps = blocking(move || driver.snapshot_list(id.0)).await?;
        Ok(snaps.iter().map(views::snapshot).collect())
    }

    /// A VM's live counters from its host.
    pub async fn vm_stats(&self, actor: &Actor, id: VmId) -> Result<VmStatsView, Error> {
        let vm = self.visible_vm(actor, id).await?;
        let driver = vm_driver(self, &vm).await?;
        let d = driver.clone();
        let info = blocking(move || d.vm_info(id.0)).await?;
        let stats = blocking(move || driver.vm_stats(id.0)).await?;
        Ok(views::vm_stats(id, info.state, &stats))
    }
}
