//! Submitting a VM's job (recorded, audited, started) and reading jobs.

use vdc_db::{self as db};
use vdc_types::*;

use crate::app::views;
use crate::app::{Actor, App, On};
use crate::jobs::{self};

impl App {
    /// Records a job on `vm`, audits its acceptance and starts it.
    pub(crate) async fn submit_vm_job(
        &self,
        actor: &Actor,
        action: &str,
        vm: &db::Vm,
        spec: jobs::JobSpec,
        detail: Option<String>,
    ) -> Result<JobAccepted, Error> {
        self.submit_vm_job_by(actor.name(), action, vm, spec, detail)
            .await
    }

    /// The targets (VM ids) of unfinished jobs: VMs nothing else may move now.
    pub(crate) async fn busy_targets(&self) -> Result<std::collections::BTreeSet<String>, Error> {
        Ok(self
            .db
            .unfinished_jobs()
            .await?
            .into_iter()
            .filter_map(|j| j.target_id)
            .collect())
    }

    /// [`App::submit_vm_job`] on behalf of `who` (a user, or a controller such as the
    /// balancer).
    pub(crate) async fn submit_vm_job_by(
        &self,
        who: &str,
        action: &str,
        vm: &db::Vm,
        spec: jobs::JobSpec,
        detail: Option<String>,
    ) -> Result<JobAccepted, Error> {
        if vm.management == Management::External {
            return Err(Error::conflict(format!(
                "{} is in an imported estate (read-only): vdc reports on it but does not change it",
                vm.name
            )));
        }
        let job = jobs::new_job(spec, who);
        self.db.insert_job(&job).await?;
        self.audit(
            who,
            action,
            ("vm", Some(vm.id.to_string())),
            AuditResult::Ok,
            detail,
        )
        .await;
        jobs::spawn(self, job.clone());
        Ok(JobAccepted {
            job: views::job(&job),
            vm_id: Some(vm.id),
        })
    }

    /// A job the caller may see: those who read the audit log globally see all, others their
    /// own.
    pub async fn get_job(&self, actor: &Actor, id: JobId) -> Result<JobView, Error> {
        let job = self.db.get_job(id).await?;
        if !actor.can(Permission::AuditRead, On::global()) && job.created_by != actor.name() {
            return Err(Error::not_found("job", id));
        }
        Ok(views::job(&job))
    }

    /// Newest jobs first (global auditors and admins: all; others: their own).
    pub async fn list_jobs(&self, actor: &Actor, q: &PageQuery) -> Result<Page<JobView>, Error> {
        let limit = validate_limit(q.limit)?;
        let before = q
            .page_token
            .as_deref()
            .map(views::parse_id_token::<JobId>)
            .transpose()?;
        let (jobs, more) = self.db.list_jobs(before, limit).await?;
        let next = views::next_page(&jobs, more, |j| (String::new(), j.id.to_string()));
        let all = actor.can(Permission::AuditRead, On::global());
        let items = jobs
            .iter()
            .filter(|j| all || j.created_by == actor.name())
            .map(views::job)
            .collect();
        Ok(Page {
            items,
            next_page_token: next,
        })
    }
}
