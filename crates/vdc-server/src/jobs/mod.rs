//! Journaled jobs. A job is a list of named steps recorded in the store with the count of
//! steps done. Each step is idempotent (it checks what is already true before acting), so a
//! job interrupted by a crash resumes at its first unfinished step, and a step replayed after
//! it had in fact completed does nothing twice. A failed VM creation undoes what it did.

pub mod ops;
mod steps;

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;
use vdc_db::{self as db, DbError};
use vdc_driver::{DiskInfo, DriverError, KernelBoot, NicInfo, VmMetadata, VmSpec, state};
use vdc_types::*;

use crate::app::fleet::blocking;
use crate::app::fleet::{vm_driver, vm_report};
use crate::app::{App, Part};
use steps::*;

/// What a job does; stored as its `params`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobSpec {
    /// Define the VM recorded in the store on its host, start it if asked.
    VmCreate {
        vm_id: VmId,
        start: bool,
        #[serde(default)]
        boot: Option<KernelBootSpec>,
    },
    /// A power action.
    VmAction { vm_id: VmId, action: VmAction },
    /// Stop, undefine and forget a VM.
    VmDelete { vm_id: VmId },
    /// Live-migrate a VM to another host.
    VmMigrate { vm_id: VmId, to: HostId },
    /// Create, revert to or delete a snapshot.
    VmSnapshot {
        vm_id: VmId,
        name: String,
        op: SnapshotOp,
    },
    /// Mark a rogue VM quarantined and suspend it if it runs.
    VmQuarantine { vm_id: VmId },
    /// Fence a dead host, then restart its HA-protected VMs elsewhere (`vms`: those
    /// recorded running on it when it was declared dead, at `dead_ms`).
    HostFailover {
        host_id: HostId,
        dead_ms: i64,
        vms: Vec<VmId>,
    },
}

/// What a snapshot job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotOp {
    Create,
    Revert,
    Delete,
}

impl JobSpec {
    pub(crate) fn kind(&self) -> String {
        match self {
            JobSpec::VmCreate { .. } => "vm.create".into(),
            JobSpec::VmAction { action, .. } => format!("vm.{action}"),
            JobSpec::VmDelete { .. } => "vm.delete".into(),
            JobSpec::VmMigrate { .. } => "vm.migrate".into(),
            JobSpec::VmSnapshot { op, .. } => match op {
                SnapshotOp::Create => "vm.snapshot_create".into(),
                SnapshotOp::Revert => "vm.snapshot_revert".into(),
                SnapshotOp::Delete => "vm.snapshot_delete".into(),
            },
            JobSpec::VmQuarantine { .. } => "vm.quarantine".into(),
            JobSpec::HostFailover { .. } => "host.failover".into(),
        }
    }

    /// The id of what the job acts on: a VM, or a host.
    fn target(&self) -> String {
        match self {
            JobSpec::VmCreate { vm_id, .. }
            | JobSpec::VmAction { vm_id, .. }
            | JobSpec::VmDelete { vm_id }
            | JobSpec::VmMigrate { vm_id, .. }
            | JobSpec::VmSnapshot { vm_id, .. }
            | JobSpec::VmQuarantine { vm_id } => vm_id.to_string(),
            JobSpec::HostFailover { host_id, .. } => host_id.to_string(),
        }
    }
}

/// A new, queued job record for `spec`.
pub fn new_job(spec: JobSpec, created_by: &str) -> db::Job {
    let now = db::now_ms();
    db::Job {
        id: JobId::new(),
        kind: spec.kind(),
        target_id: Some(spec.target()),
        state: JobState::Queued,
        params: serde_json::to_string(&spec).expect("job spec serialises"),
        steps: spec.step_names().into_iter().map(String::from).collect(),
        steps_done: 0,
        error: None,
        created_by: created_by.to_string(),
        created_at: now,
        updated_at: now,
    }
}

/// Runs jobs on tokio tasks; jobs on the same VM run one at a time, in submission order.
#[derive(Debug, Default)]
pub(crate) struct JobRunner {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Part for JobRunner {
    fn new(_: &App) -> Self {
        JobRunner::default()
    }
}

/// How long a graceful shutdown may take before the job gives up waiting.
const WAIT_LIMIT: Duration = Duration::from_secs(300);

/// Starts running `job` in the background, after the jobs on its VM submitted before it.
pub(crate) fn spawn(app: &App, job: db::Job) {
    let lock = app
        .part::<JobRunner>()
        .locks
        .lock()
        .expect("job lock map")
        .entry(job.target_id.clone().unwrap_or_default())
        .or_default()
        .clone();
    let app = app.clone();
    tokio::spawn(async move {
        let _guard = lock.lock().await;
        run(&app, job).await;
    });
}

/// Resumes every job a previous run of the server left unfinished.
pub async fn resume_unfinished(app: &App) -> Result<usize, DbError> {
    let jobs = app.db.unfinished_jobs().await?;
    let n = jobs.len();
    for job in jobs {
        tracing::info!(job = %job.id, kind = %job.kind, steps_done = job.steps_done, "resuming job");
        spawn(app, job);
    }
    Ok(n)
}

async fn run(app: &App, job: db::Job) {
    let spec: JobSpec = match serde_json::from_str(&job.params) {
        Ok(s) => s,
        Err(e) => {
            let _ = app
                .db
                .update_job(
                    job.id,
                    JobState::Failed,
                    job.steps_done,
                    Some(&format!("unreadable job: {e}")),
                )
                .await;
            return;
        }
    };
    let mut done = job.steps_done;
    if let Err(e) = app
        .db
        .update_job(job.id, JobState::Running, done, None)
        .await
    {
        tracing::error!(job = %job.id, error = %e, "cannot mark job running");
        return;
    }
    for step in job.steps.iter().skip(done as usize) {
        match run_step(app, &spec, step).await {
            Ok(()) => {
                done += 1;
                if let Err(e) = app
                    .db
                    .update_job(job.id, JobState::Running, done, None)
                    .await
                {
                    tracing::error!(job = %job.id, error = %e, "cannot journal job progress");
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(job = %job.id, step = %step, error = %e, "job step failed");
                let undo = undo(app, &spec, done).await;
                let msg = match undo {
                    Ok(()) => format!("step {step} failed: {e}"),
                    Err(u) => format!("step {step} failed: {e}; undo also failed: {u}"),
                };
                let _ = app
                    .db
                    .update_job(job.id, JobState::Failed, done, Some(&msg))
                    .await;
                app.audit(
                    "system",
                    &job.kind,
                    ("vm", job.target_id.clone()),
                    AuditResult::Failed,
                    Some(msg),
                )
                .await;
                return;
            }
        }
    }
    if let Err(e) = app
        .db
        .update_job(job.id, JobState::Succeeded, done, None)
        .await
    {
        tracing::error!(job = %job.id, error = %e, "cannot mark job succeeded");
    }
}

/// vdc's metadata for a VM record, as written to its hypervisor.
pub(crate) fn metadata_of(vm: &db::Vm, department: Option<String>) -> VmMetadata {
    VmMetadata {
        managed: vm.management != Management::Unmanaged,
        owner: vm.owner.clone(),
        department,
        purpose: vm.purpose.clone(),
        tags: vm.tags.clone(),
        lease_expires_at: vm.lease_expires_at,
    }
}

/// The libosinfo id to define a VM with: the last one given at its creation or reported by
/// its host (so a VM defined again, on another host, keeps it).
pub(crate) async fn os_id_of(app: &App, vm: &db::Vm) -> Result<Option<String>, Error> {
    Ok(app.db.guest_os_id(vm.id).await?)
}

pub(crate) fn spec_of(
    vm: &db::Vm,
    department: Option<String>,
    boot: Option<&KernelBootSpec>,
    os_id: Option<String>,
) -> VmSpec {
    VmSpec {
        id: vm.id.0,
        name: vm.name.clone(),
        vcpus: vm.vcpus,
        memory_mib: vm.memory_mib,
        disks: vm
            .disks
            .iter()
            .map(|d| DiskInfo {
                path: d.path.clone(),
                device: d.device.clone(),
                size_gib: d.size_gib,
                datastore: d.datastore.clone(),
                format: d.format.clone(),
            })
            .collect(),
        nics: vm
            .nics
            .iter()
            .map(|n| NicInfo {
                mac: n.mac.clone(),
                network: n.network.clone(),
            })
            .collect(),
        metadata: metadata_of(vm, department),
        os_id,
        boot: boot.map(|b| KernelBoot {
            kernel: b.kernel.clone(),
            initrd: b.initrd.clone(),
            cmdline: b.cmdline.clone(),
        }),
    }
}

/// The name of a VM's department, as kept in hypervisor-side metadata.
pub(crate) async fn department_name(app: &App, vm: &db::Vm) -> Result<Option<String>, Error> {
    Ok(match vm.department_id {
        Some(d) => Some(app.db.get_department(d).await?.name),
        None => None,
    })
}

/// Reads the VM from its host and records the report (if newer than what is stored).
pub(crate) async fn refresh(app: &App, vm: &db::Vm) -> Result<vdc_driver::VmInfo, Error> {
    let driver = vm_driver(app, vm).await?;
    let id: Uuid = vm.id.0;
    let info = blocking(move || driver.vm_info(id)).await?;
    if let (Some(host), Some(cluster)) = (vm.host_id, vm.cluster_id) {
        app.db
            .apply_vm_report(&vm_report(&info, host, cluster))
            .await?;
    }
    Ok(info)
}

async fn run_step(app: &App, spec: &JobSpec, step: &str) -> Result<(), Error> {
    match spec {
        JobSpec::HostFailover {
            host_id,
            dead_ms,
            vms,
        } => match FailoverStep::parse(step)? {
            FailoverStep::Fence => app.fence_host(*host_id, *dead_ms).await,
            FailoverStep::Restart => app.restart_vms(*host_id, vms).await,
        },
        JobSpec::VmCreate { vm_id, boot, .. } => {
            let vm = recorded_vm(app, *vm_id).await?;
            match CreateStep::parse(step)? {
                CreateStep::Define => {
                    let dept = department_name(app, &vm).await?;
                    let driver = vm_driver(app, &vm).await?;
                    let s = spec_of(&vm, dept, boot.as_ref(), os_id_of(app, &vm).await?);
                    blocking(move || driver.define(&s)).await?;
                    Ok(())
                }
                CreateStep::Start => act_idempotent(app, &vm, VmAction::Start).await,
                CreateStep::Refresh => refresh(app, &vm).await.map(|_| ()),
            }
        }
        JobSpec::VmAction { vm_id, action } => {
            let vm = recorded_vm(app, *vm_id).await?;
            match ActionStep::parse(step)? {
                ActionStep::Act => act_idempotent(app, &vm, *action).await,
                ActionStep::Wait => wait_settled(app, &vm).await,
                ActionStep::Refresh => refresh(app, &vm).await.map(|_| ()),
            }
        }
        JobSpec::VmDelete { vm_id } => {
            let step = DeleteStep::parse(step)?;
            // The last step removes the record; replaying it finds nothing to do.
            let vm = match (app.db.find_vm(*vm_id).await?, step) {
                (Some(vm), _) => vm,
                (None, DeleteStep::Forget) => return Ok(()),
                (None, _) => return Err(Error::not_found("vm", vm_id)),
            };
            let id = vm.id.0;
            match step {
                DeleteStep::Stop => {
                    let driver = vm_driver(app, &vm).await?;
                    match blocking(move || driver.vm_info(id)).await {
                        Ok(info) if state::consumes_resources(info.state) => {
                            act_idempotent(app, &vm, VmAction::Stop).await
                        }
                        Ok(_) | Err(Error::NotFound { .. }) => Ok(()),
                        Err(e) => Err(e),
                    }
                }
                DeleteStep::Undefine => {
                    let driver = vm_driver(app, &vm).await?;
                    match blocking(move || driver.undefine(id)).await {
                        Ok(()) | Err(Error::NotFound { .. }) => Ok(()),
                        Err(e) => Err(e),
                    }
                }
                DeleteStep::Forget => app
                    .db
                    .delete_vm(*vm_id)
                    .await
                    .map(|_| ())
                    .map_err(Error::from),
            }
        }
        JobSpec::VmMigrate { vm_id, to } => {
            let vm = recorded_vm(app, *vm_id).await?;
            match MigrateStep::parse(step)? {
                MigrateStep::Migrate => migrate_step(app, &vm, *to).await,
                MigrateStep::Refresh => refresh(app, &vm).await.map(|_| ()),
            }
        }
        JobSpec::VmSnapshot { vm_id, name, op } => {
            let vm = recorded_vm(app, *vm_id).await?;
            match SnapshotStep::parse(step)? {
                SnapshotStep::Snapshot => {
                    let driver = vm_driver(app, &vm).await?;
                    let (id, name) = (vm.id.0, name.clone());
                    match op {
                        SnapshotOp::Create => {
                            blocking(move || driver.snapshot_create(id, &name).map(|_| ())).await
                        }
                        SnapshotOp::Revert => {
                            blocking(move || driver.snapshot_revert(id, &name).map(|_| ())).await
                        }
                        SnapshotOp::Delete => {
                            blocking(move || driver.snapshot_delete(id, &name)).await
                        }
                    }
                }
                SnapshotStep::Refresh => refresh(app, &vm).await.map(|_| ()),
            }
        }
        JobSpec::VmQuarantine { vm_id } => {
            let vm = recorded_vm(app, *vm_id).await?;
            match QuarantineStep::parse(step)? {
                QuarantineStep::Mark => {
                    if vm.management != Management::Quarantined {
                        let patch = db::VmPatch {
                            management: Some(Management::Quarantined),
                            ..db::VmPatch::default()
                        };
                        app.db.patch_vm(*vm_id, &patch, None).await?;
                    }
                    Ok(())
                }
                QuarantineStep::Suspend => {
                    let driver = vm_driver(app, &vm).await?;
                    let id = vm.id.0;
                    let info = blocking(move || driver.vm_info(id)).await?;
                    if info.state == PowerState::Running {
                        act_idempotent(app, &vm, VmAction::Suspend).await
                    } else {
                        Ok(())
                    }
                }
                QuarantineStep::Refresh => refresh(app, &vm).await.map(|_| ()),
            }
        }
    }
}

/// The record of the VM a job acts on (404 when it is gone).
async fn recorded_vm(app: &App, id: VmId) -> Result<db::Vm, Error> {
    app.db
        .find_vm(id)
        .await?
        .ok_or_else(|| Error::not_found("vm", id))
}

/// Waits until the VM's state settles (a shutdown in progress ends), up to [`WAIT_LIMIT`].
async fn wait_settled(app: &App, vm: &db::Vm) -> Result<(), Error> {
    let deadline = tokio::time::Instant::now() + WAIT_LIMIT;
    loop {
        let info = refresh(app, vm).await?;
        if state::settle(info.state) == info.state {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(Error::Unavailable {
                message: format!("VM still {} after {:?}", info.state, WAIT_LIMIT),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Moves a VM to host `to` unless it already is there (a replayed step after a crash), then
/// records the target's report, which carries the new host.
async fn migrate_step(app: &App, vm: &db::Vm, to: HostId) -> Result<(), Error> {
    let target = app.db.get_host(to).await?;
    let target_driver = app.fleet.driver(&target.uri)?;
    let id = vm.id.0;
    let td = target_driver.clone();
    let info = match blocking(move || td.vm_info(id)).await {
        Ok(info) => info,
        Err(Error::NotFound { .. }) => {
            let source = vm_driver(app, vm).await?;
            let uri = target.uri.clone();
            blocking(move || source.migrate(id, &uri)).await?
        }
        Err(e) => return Err(e),
    };
    // The report moves the record to the target; should a fresher report from the target
    // have landed first, the record still must name the target.
    if !app
        .db
        .apply_vm_report(&vm_report(&info, target.id, target.cluster_id))
        .await?
    {
        app.db
            .relocate_vm(vm.id, target.id, target.cluster_id)
            .await?;
    }
    Ok(())
}

/// Performs `action` unless the VM is already where it leads.
pub(crate) async fn act_idempotent(app: &App, vm: &db::Vm, action: VmAction) -> Result<(), Error> {
    let driver = vm_driver(app, vm).await?;
    let id = vm.id.0;
    let d = driver.clone();
    let info = blocking(move || d.vm_info(id)).await?;
    if state::already_done(info.state, action) {
        return Ok(());
    }
    let info = blocking(move || driver.act(id, action)).await?;
    if let (Some(host), Some(cluster)) = (vm.host_id, vm.cluster_id) {
        app.db
            .apply_vm_report(&vm_report(&info, host, cluster))
            .await?;
    }
    Ok(())
}

/// Undoes a failed VM creation: removes the definition from the host (if the define step
/// ran) and the record. Other jobs leave things as they are: their steps change only state
/// the next sync reports truthfully.
async fn undo(app: &App, spec: &JobSpec, steps_done: u32) -> Result<(), Error> {
    let JobSpec::VmCreate { vm_id, .. } = spec else {
        return Ok(());
    };
    if let Some(vm) = app.db.find_vm(*vm_id).await? {
        if steps_done > 0 {
            let driver = vm_driver(app, &vm).await?;
            let id = vm.id.0;
            blocking(move || {
                match driver.act(id, VmAction::Stop) {
                    Ok(_)
                    | Err(DriverError::InvalidTransition(_))
                    | Err(DriverError::NoSuchVm { .. }) => {}
                    Err(e) => return Err(e),
                }
                match driver.undefine(id) {
                    Ok(()) | Err(DriverError::NoSuchVm { .. }) => Ok(()),
                    Err(e) => Err(e),
                }
            })
            .await?;
        }
        app.db.delete_vm(*vm_id).await?;
    }
    Ok(())
}
