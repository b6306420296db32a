//! The lease controller: VMs whose lease nears its end are warned (audited as `lease.warn`),
//! powered off at expiry (`lease.expire` and a `vm.stop` job by `lease`), and deleted once the
//! retention after expiry is over (`lease.delete` and a `vm.delete` job) — the engine's
//! `lease::step` decides. Until deletion everything is reversible: a new lease (within the
//! policy's maximum, or any for holders of `lease.override`) clears the marks, and the VM can
//! be started again. An expired VM cannot be started.

use vdc_db as db;
use vdc_engine::lease::{self, LeasePolicy, LeaseStep, LeaseVm};
use vdc_types::*;

use crate::app::App;
use crate::app::{Actor, On};
use crate::jobs::JobSpec;

/// Who the controller's jobs and audit records are by.
const LEASE: &str = "lease";

/// What one round of the controller did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LeaseReport {
    pub warned: usize,
    pub expired: usize,
    pub deleted: usize,
}

impl App {
    fn lease_policy(&self) -> LeasePolicy {
        LeasePolicy {
            warn_before_ms: self.config.lease.warn_before.as_millis() as i64,
            retention_ms: self.config.lease.retention.as_millis() as i64,
        }
    }

    /// One round of the lease controller at `now` (ms since the epoch). A VM with a job
    /// under way is left for the next round.
    pub async fn lease_round(&self, now: UnixMs) -> Result<LeaseReport, Error> {
        let policy = self.lease_policy();
        let busy = self.busy_targets().await?;
        let mut report = LeaseReport::default();
        let candidates = self
            .db
            .lease_candidates(now.saturating_add(policy.warn_before_ms))
            .await?;
        for (vm, warned, expired) in candidates {
            let Some(expires_at) = vm.lease_expires_at else {
                continue;
            };
            if busy.contains(&vm.id.to_string()) {
                continue;
            }
            let state = LeaseVm {
                expires_at,
                warned: warned.is_some(),
                expired: expired.is_some(),
                running: vdc_driver::state::consumes_resources(vm.power_state),
            };
            let Some(step) = lease::step(&state, now, &policy) else {
                continue;
            };
            self.lease_step(&vm, step, expires_at, now).await?;
            match step {
                LeaseStep::Warn => report.warned += 1,
                LeaseStep::PowerOff | LeaseStep::MarkExpired => report.expired += 1,
                LeaseStep::Delete => report.deleted += 1,
            }
        }
        Ok(report)
    }

    async fn lease_step(
        &self,
        vm: &db::Vm,
        step: LeaseStep,
        expires_at: UnixMs,
        now: UnixMs,
    ) -> Result<(), Error> {
        let who = format!(
            "name={} owner={} expires_at={}",
            vm.name,
            vm.owner.as_deref().unwrap_or("-"),
            rfc3339(expires_at)
        );
        let target = ("vm", Some(vm.id.to_string()));
        match step {
            LeaseStep::Warn => {
                self.db.mark_lease(vm.id, false, now).await?;
                self.notify(
                    "lease.warn",
                    serde_json::json!({"vm_id": vm.id, "vm": vm.name, "owner": vm.owner,
                        "department_id": vm.department_id, "expires_at": rfc3339(expires_at)}),
                );
                self.audit(LEASE, "lease.warn", target, AuditResult::Ok, Some(who))
                    .await;
            }
            LeaseStep::PowerOff | LeaseStep::MarkExpired => {
                self.db.mark_lease(vm.id, true, now).await?;
                let retention = self.config.lease.retention.as_millis() as i64;
                self.audit(
                    LEASE,
                    "lease.expire",
                    target,
                    AuditResult::Ok,
                    Some(format!(
                        "{who}; deleted after {} unless the lease is extended",
                        rfc3339(expires_at.saturating_add(retention))
                    )),
                )
                .await;
                if step == LeaseStep::PowerOff {
                    self.submit_vm_job_by(
                        LEASE,
                        "vm.stop",
                        vm,
                        JobSpec::VmAction {
                            vm_id: vm.id,
                            action: VmAction::Stop,
                        },
                        Some("lease expired".into()),
                    )
                    .await?;
                }
            }
            LeaseStep::Delete => {
                self.audit(LEASE, "lease.delete", target, AuditResult::Ok, Some(who))
                    .await;
                self.submit_vm_job_by(
                    LEASE,
                    "vm.delete",
                    vm,
                    JobSpec::VmDelete { vm_id: vm.id },
                    Some("lease retention over".into()),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Checks a new lease end asked for a VM living at `on`: in the future, and no further
    /// than the policy's maximum unless the caller holds `lease.override` there; clearing the
    /// lease needs `lease.override` too.
    pub(crate) fn check_lease(
        &self,
        actor: &Actor,
        on: On,
        lease: Option<UnixMs>,
        now: UnixMs,
    ) -> Result<(), Error> {
        let may_override = actor.can(Permission::LeaseOverride, on);
        let max = now.saturating_add(self.config.lease.max.as_millis() as i64);
        match lease {
            None if !may_override => Err(Error::forbidden(
                "removing a lease requires permission lease.override",
            )),
            Some(t) if t <= now => Err(Error::invalid("lease_expires_at", "must be in the future")),
            Some(t) if t > max && !may_override => Err(Error::invalid(
                "lease_expires_at",
                format!(
                    "at most {} (the lease policy's {} days) without lease.override",
                    rfc3339(max),
                    self.config.lease.max.as_secs() / 86_400
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// Refuses to start a VM whose lease has ended.
pub(crate) fn check_not_expired(vm: &db::Vm, now: UnixMs) -> Result<(), Error> {
    match vm.lease_expires_at {
        Some(t) if t <= now => Err(Error::conflict(format!(
            "the lease of VM {} ended at {}: extend it before starting the VM",
            vm.name,
            rfc3339(t)
        ))),
        _ => Ok(()),
    }
}
