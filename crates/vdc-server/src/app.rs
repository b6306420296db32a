//! The application layer: every API operation as a function of (caller, parameters), between
//! the thin HTTP handlers and the store. Checks run in this order: validation (400), role and
//! department (403), existence (404), state and conflicts (409), capacity (507); only then is
//! anything written, and every change or refusal past validation is audited.

use std::collections::HashMap;
use std::sync::Arc;
use vdc_db::{self as db, DataStore, VmFilter, VmPatch};
use vdc_types::*;

use crate::auth::{self, Actor, On};
use crate::config::Config;
use crate::fleet::Fleet;
use crate::jobs::{self, JobRunner};
use crate::views;

/// Shared server state. Cheap to clone.
#[derive(Debug, Clone)]
pub struct App {
    pub db: DataStore,
    pub fleet: Arc<Fleet>,
    pub config: Arc<Config>,
    pub(crate) jobs: Arc<JobRunner>,
    /// Held by every inventory sync, so periodic, event-driven and requested syncs do not
    /// interleave.
    pub(crate) sync_lock: Arc<tokio::sync::Mutex<()>>,
    /// Per host, a hash of the storage (datastores, networks, volumes) last written for it,
    /// so a sync writes storage only when a host reports a change.
    pub(crate) storage_seen: Arc<std::sync::Mutex<HashMap<HostId, u64>>>,
    /// Per host, the last vCPU counter reading of the load sampler.
    pub(crate) load_readings: crate::monitor::Readings,
    /// Per VM, the load sampler's CPU readings.
    pub(crate) vm_cpu: crate::monitor::VmCpuReadings,
    /// The LDAP directory users may log in through, when configured.
    pub(crate) directory: Option<Arc<crate::ldap::Directory>>,
    /// Monitoring samples and roll-ups.
    pub metrics: Arc<crate::metrics::MetricStore>,
    /// Behaviour profiles and open anomaly alerts.
    pub(crate) watch: Arc<crate::anomalies::Watch>,
    /// What the HA controller knows of each host.
    pub(crate) ha: Arc<crate::failover::HaState>,
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
            metrics: Arc::new(crate::metrics::MetricStore::new(db.clone())),
            watch: Arc::default(),
            ha: Arc::default(),
            db,
            fleet,
            config,
            jobs: Arc::new(JobRunner::default()),
            sync_lock: Arc::new(tokio::sync::Mutex::new(())),
            storage_seen: Arc::default(),
            load_readings: Arc::default(),
            vm_cpu: Arc::default(),
            directory: None,
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

    // ---- auth

    /// Checks a username and password, locally or (for a user vdc does not know, or knows from
    /// the directory) against the LDAP directory; audits the attempt.
    async fn check_login(&self, p: &LoginParams) -> Result<db::User, Error> {
        let user = self.db.user_by_name(&p.username).await?;
        if let Some(dir) = &self.directory
            && user.as_ref().is_none_or(|u| u.directory_dn.is_some())
            && validate_name("username", &p.username).is_ok()
        {
            return self.directory_login(dir, &p.username, &p.password).await;
        }
        let hash = user
            .as_ref()
            .map(|u| u.password_hash.clone())
            .unwrap_or_else(|| auth::dummy_hash().to_string());
        let password = p.password.clone();
        let ok = tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash))
            .await
            .map_err(|e| Error::internal(format!("password check panicked: {e}")))?;
        // The attempted name is recorded only when it is a valid name, so nothing a user
        // typed by mistake (such as a password in the name field) lands in the log.
        let who = if validate_name("username", &p.username).is_ok() {
            p.username.as_str()
        } else {
            "(invalid name)"
        };
        match (user, ok) {
            (Some(u), true) => {
                self.audit(
                    &u.username,
                    "auth.login",
                    ("user", Some(u.id.to_string())),
                    AuditResult::Ok,
                    None,
                )
                .await;
                Ok(u)
            }
            _ => {
                self.audit(who, "auth.login", ("user", None), AuditResult::Denied, None)
                    .await;
                Err(Error::BadCredentials)
            }
        }
    }

    /// Stores a new token of `kind` for `user`; returns the secret and its record.
    pub(crate) async fn issue_token(
        &self,
        user: UserId,
        kind: &str,
        ttl_ms: i64,
        name: Option<String>,
        permissions: Option<Vec<Permission>>,
        csrf_hash: Option<String>,
    ) -> Result<(String, db::TokenRecord), Error> {
        let token = auth::random_secret();
        let now = db::now_ms();
        let rec = db::TokenRecord {
            id: Some(uuid::Uuid::now_v7().to_string()),
            user_id: user,
            name,
            kind: kind.to_string(),
            permissions,
            csrf_hash,
            created_at: now,
            expires_at: now + ttl_ms,
        };
        self.db
            .insert_token(&auth::token_hash(&token), &rec)
            .await?;
        Ok((token, rec))
    }

    /// Checks a username and password and opens a session (a bearer token).
    pub async fn login(&self, p: &LoginParams) -> Result<LoginResponse, Error> {
        let user = self.check_login(p).await?;
        let ttl = self.config.token_ttl.as_millis() as i64;
        let (token, rec) = self
            .issue_token(user.id, "session", ttl, None, None, None)
            .await?;
        Ok(LoginResponse {
            token,
            expires_at: rfc3339(rec.expires_at),
            user: views::user(&user, &self.db.bindings(Some(user.id)).await?),
        })
    }

    /// Checks a username and password and opens a browser session: the cookie's token and
    /// the session's CSRF token.
    pub async fn open_session(&self, p: &LoginParams) -> Result<(String, SessionResponse), Error> {
        let user = self.check_login(p).await?;
        let csrf = auth::random_secret();
        let ttl = self.config.token_ttl.as_millis() as i64;
        let (token, rec) = self
            .issue_token(
                user.id,
                "cookie",
                ttl,
                None,
                None,
                Some(auth::token_hash(&csrf)),
            )
            .await?;
        Ok((
            token,
            SessionResponse {
                csrf_token: csrf,
                expires_at: rfc3339(rec.expires_at),
                user: views::user(&user, &self.db.bindings(Some(user.id)).await?),
            },
        ))
    }

    /// The caller behind a token (bearer or cookie). A cookie session must also present its
    /// CSRF token (`csrf`) unless the request changes nothing (`safe`); a token limited to
    /// some permissions grants only those.
    pub async fn authenticate_with(
        &self,
        token: &str,
        from_cookie: bool,
        csrf: Option<&str>,
        safe: bool,
    ) -> Result<Actor, Error> {
        let Some((user, rec)) = self
            .db
            .user_by_token(&auth::token_hash(token), db::now_ms())
            .await?
        else {
            return Err(Error::Unauthenticated);
        };
        if from_cookie {
            if rec.kind != "cookie" {
                return Err(Error::Unauthenticated);
            }
            let presented = csrf.map(auth::token_hash);
            if !safe && (presented.is_none() || presented != rec.csrf_hash) {
                let e = Error::forbidden(
                    "CSRF token missing or wrong: send the session's csrf_token in X-CSRF-Token",
                );
                self.audit(
                    &user.username,
                    "auth.csrf",
                    ("user", Some(user.id.to_string())),
                    AuditResult::Denied,
                    Some(e.to_string()),
                )
                .await;
                return Err(e);
            }
        }
        let mut grants = self.grants_of(user.id).await?;
        if let Some(limit) = &rec.permissions {
            for g in &mut grants {
                g.permissions.retain(|p| limit.contains(p));
            }
        }
        Ok(Actor {
            grants,
            user,
            token_limit: rec.permissions,
        })
    }

    /// The caller behind a bearer token.
    pub async fn authenticate(&self, token: &str) -> Result<Actor, Error> {
        self.authenticate_with(token, false, None, true).await
    }

    /// Ends the caller's session.
    pub async fn logout(&self, actor: &Actor, token: &str) -> Result<(), Error> {
        self.db.delete_token(&auth::token_hash(token)).await?;
        self.audit(
            actor.name(),
            "auth.logout",
            ("user", Some(actor.user.id.to_string())),
            AuditResult::Ok,
            None,
        )
        .await;
        Ok(())
    }

    // ---- inventory reads

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

    /// One VM.
    pub async fn get_vm(&self, actor: &Actor, id: VmId) -> Result<VmView, Error> {
        Ok(views::vm(&self.visible_vm(actor, id).await?))
    }

    // ---- VM changes

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
            crate::lease::check_not_expired(&vm, db::now_ms())?;
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
        self.jobs.spawn(self.clone(), job.clone());
        Ok(JobAccepted {
            job: views::job(&job),
            vm_id: Some(vm.id),
        })
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
            match self.check_lease(actor, on_vm(&vm), lease, db::now_ms()) {
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

    // ---- jobs

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

    // ---- governance

    /// All departments.
    pub async fn list_departments(&self) -> Result<Vec<DepartmentView>, Error> {
        Ok(self
            .db
            .list_departments()
            .await?
            .iter()
            .map(views::department)
            .collect())
    }

    /// Creates a department (admin).
    pub async fn create_department(
        &self,
        actor: &Actor,
        p: DepartmentCreateParams,
    ) -> Result<DepartmentView, Error> {
        p.validate()?;
        self.authorize(
            actor,
            "department.create",
            ("department", None),
            actor.require(Permission::DepartmentManage, On::global()),
        )
        .await?;
        let d = db::Department {
            id: DepartmentId::new(),
            name: p.name,
            cost_centre: p.cost_centre,
            created_at: db::now_ms(),
        };
        self.db.insert_department(&d).await?;
        self.audit(
            actor.name(),
            "department.create",
            ("department", Some(d.id.to_string())),
            AuditResult::Ok,
            Some(format!("name={}", d.name)),
        )
        .await;
        Ok(views::department(&d))
    }

    /// Newest audit records first (admin).
    pub async fn list_audit(
        &self,
        actor: &Actor,
        q: &AuditQuery,
    ) -> Result<Page<AuditView>, Error> {
        actor.require(Permission::AuditRead, On::global())?;
        let f = q.filter()?;
        if q.format.is_some() {
            return Err(Error::invalid("format", "only for /audit/export"));
        }
        let limit = validate_limit(q.limit)?;
        let before = q
            .page_token
            .as_deref()
            .map(views::parse_id_token::<AuditId>)
            .transpose()?;
        let (recs, more) = self.db.list_audit(&f, before, limit).await?;
        let next = views::next_page(&recs, more, |a| (String::new(), a.id.to_string()));
        Ok(Page {
            items: recs.iter().map(views::audit).collect(),
            next_page_token: next,
        })
    }

    /// Registers a physical server (operator, within department).
    pub async fn create_physical_server(
        &self,
        actor: &Actor,
        p: PhysicalServerCreateParams,
    ) -> Result<PhysicalServerView, Error> {
        p.validate()?;
        let department = p.department_id.or(actor.user.department_id);
        self.authorize_create_in(
            actor,
            "physical_server.create",
            ("physical_server", None),
            department,
        )
        .await?;
        if let Some(s) = p.site_id
            && !self.db.list_sites().await?.iter().any(|x| x.id == s)
        {
            return Err(Error::invalid("site_id", "no such site"));
        }
        let ps = db::PhysicalServer {
            id: PhysicalServerId::new(),
            name: p.name,
            serial: p.serial,
            cpu_model: p.cpu_model,
            sockets: p.sockets,
            cores_per_socket: p.cores_per_socket,
            memory_mib: p.memory_mib,
            site_id: p.site_id,
            department_id: department,
            owner: p.owner,
            purpose: p.purpose,
            created_at: db::now_ms(),
        };
        self.db.insert_physical_server(&ps).await?;
        self.audit(
            actor.name(),
            "physical_server.create",
            ("physical_server", Some(ps.id.to_string())),
            AuditResult::Ok,
            Some(format!("name={}", ps.name)),
        )
        .await;
        Ok(views::physical_server(&ps))
    }

    /// Physical servers the caller may see.
    pub async fn list_physical_servers(
        &self,
        actor: &Actor,
    ) -> Result<Vec<PhysicalServerView>, Error> {
        Ok(self
            .db
            .list_physical_servers()
            .await?
            .iter()
            .filter(|p| actor.sees(On::department(p.department_id)))
            .map(views::physical_server)
            .collect())
    }
}
