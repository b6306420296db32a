//! VM creation: one VM, or a group placed together (all or none). Each VM record is written
//! with its placement decision (constraints, chosen host, best hosts and their reasons) and
//! its job in one transaction.

use vdc_db as db;
use vdc_engine::rating::{self, Policy, Rating};
use vdc_types::*;

use crate::app::App;
use crate::app::views;
use crate::app::{Actor, On};
use crate::jobs;
use crate::placement::{DECISION_HOSTS, Decision, Need};

/// A VM whose creation is decided: its record, its job, its placement record, and the best
/// hosts for the audit line.
struct Planned {
    vm: db::Vm,
    job: db::Job,
    placement: db::VmPlacementRec,
    guest_os: Option<GuestOs>,
    host_name: String,
    top: String,
}

/// Where a VM goes and why.
struct Choice<'a> {
    host: &'a db::Host,
    /// The request named the host.
    pinned: bool,
    rating: &'a Rating,
}

impl App {
    /// Accepts a VM creation: validates, authorises, places (on the pinned host if it fits,
    /// else the best-rated one), records the VM, its placement decision and its job in one
    /// transaction, and starts the job. With `id`, the client chooses the VM's id, so a
    /// retried request cannot create a second VM (it gets 409).
    pub async fn create_vm(
        &self,
        actor: &Actor,
        id: Option<VmId>,
        p: VmCreateParams,
    ) -> Result<JobAccepted, Error> {
        p.validate()?;
        let department = self.check_create(actor, id, &p).await?;
        let (prices, _) = self.prices().await?;
        self.check_quota(
            actor,
            department,
            crate::governance::quota::request_of(&p, &prices),
        )
        .await?;
        let need = Need::of_create(&p, department);
        let hosts: Vec<db::Host> = self
            .db
            .all_hosts()
            .await?
            .into_iter()
            .filter(|h| p.host_id.is_none_or(|pin| pin == h.id))
            .collect();
        if p.host_id.is_some() && hosts.is_empty() {
            return Err(Error::invalid("host_id", "no such host"));
        }
        let rating = self.rate_hosts(&hosts, &need).await?;
        let host = chosen_host(&rating, &hosts, &need)?;
        if p.start {
            self.check_admission(host.cluster_id, p.vcpus, p.memory_mib)
                .await?;
        }
        let choice = Choice {
            host,
            pinned: p.host_id.is_some(),
            rating: &rating,
        };
        let planned = self.plan(actor, id, &p, department, choice).await?;
        let mut accepted = self.submit(actor, vec![planned]).await?;
        Ok(accepted.remove(0))
    }

    /// Accepts the creation of a group of VMs placed together: each on the best host given
    /// the ones before it (so anti-affinity holds within the group), all or none (507 naming
    /// the first VM that fits nowhere, and nothing written).
    pub async fn create_vm_group(
        &self,
        actor: &Actor,
        p: VmGroupCreateParams,
    ) -> Result<VmGroupAccepted, Error> {
        p.validate()?;
        if let Some(i) = p.vms.iter().position(|v| v.host_id.is_some()) {
            return Err(Error::invalid(
                format!("vms[{i}].host_id"),
                "VMs of a group are placed together: pin none",
            ));
        }
        let mut departments = Vec::with_capacity(p.vms.len());
        for vm in &p.vms {
            departments.push(self.check_create(actor, None, vm).await?);
        }
        // Each department's share of the group is checked against its quota at once.
        let (prices, _) = self.prices().await?;
        let mut asks: std::collections::BTreeMap<Option<DepartmentId>, vdc_engine::quota::Usage> =
            Default::default();
        for (vm, d) in p.vms.iter().zip(&departments) {
            let ask = asks.entry(*d).or_default();
            *ask = ask.plus(crate::governance::quota::request_of(vm, &prices));
        }
        for (d, ask) in asks {
            self.check_quota(actor, d, ask).await?;
        }
        let needs: Vec<Need> = p
            .vms
            .iter()
            .zip(&departments)
            .map(|(vm, d)| Need::of_create(vm, *d))
            .collect();
        let hosts = self.db.all_hosts().await?;
        let snapshot = self.host_snapshots(&hosts).await?;
        let reqs: Vec<_> = needs.iter().map(Need::request).collect();
        let ratings = rating::place_group(&snapshot, &reqs, &Policy::default(), DECISION_HOSTS)
            .map_err(|e| Error::InsufficientCapacity {
                message: format!(
                    "the group does not fit: {} (vms[{}]) fits on no host once the {} before it are placed: {}",
                    p.vms[e.index].name,
                    e.index,
                    e.index,
                    e.explain_rejections()
                ),
            })?;
        let mut chosen = Vec::with_capacity(p.vms.len());
        // What the group starts in each cluster, against the cluster's failover reserve.
        let mut started: std::collections::BTreeMap<ClusterId, (u32, u64)> = Default::default();
        for ((vm, rating), need) in p.vms.iter().zip(&ratings).zip(&needs) {
            let host = chosen_host(rating, &hosts, need)?;
            if vm.start {
                let s = started.entry(host.cluster_id).or_default();
                *s = (s.0 + vm.vcpus, s.1 + vm.memory_mib);
            }
            chosen.push(host);
        }
        for (cluster, (vcpus, memory_mib)) in started {
            self.check_admission(cluster, vcpus, memory_mib).await?;
        }
        let mut planned = Vec::with_capacity(p.vms.len());
        for ((vm, department), (rating, host)) in p
            .vms
            .iter()
            .zip(departments)
            .zip(ratings.iter().zip(chosen))
        {
            let choice = Choice {
                host,
                pinned: false,
                rating,
            };
            planned.push(self.plan(actor, None, vm, department, choice).await?);
        }
        Ok(VmGroupAccepted {
            vms: self.submit(actor, planned).await?,
        })
    }

    /// How a VM vdc created was placed (404 for VMs it discovered or adopted).
    pub async fn vm_placement(&self, actor: &Actor, id: VmId) -> Result<VmPlacementView, Error> {
        let vm = self.visible_vm(actor, id).await?;
        let rec = self
            .db
            .vm_placement(id)
            .await?
            .ok_or_else(|| Error::NotFound {
                kind: "placement",
                id: format!("{} (not created by vdc)", vm.name),
            })?;
        let d: Decision = serde_json::from_str(&rec.decision)
            .map_err(|e| Error::internal(format!("stored placement of {}: {e}", vm.name)))?;
        Ok(VmPlacementView {
            vm_id: id,
            constraints: rec.constraints,
            decided_at: rfc3339(rec.decided_at),
            decided_by: rec.decided_by,
            host_id: d.host_id,
            host_name: d.host_name,
            pinned: d.pinned,
            rating: d.rating,
        })
    }

    /// Authorises a creation and checks what must hold before placing: the department
    /// exists, the id and the name are free. Returns the VM's department.
    async fn check_create(
        &self,
        actor: &Actor,
        id: Option<VmId>,
        p: &VmCreateParams,
    ) -> Result<Option<DepartmentId>, Error> {
        let department = p.department_id.or(actor.user.department_id);
        self.authorize_create_in(actor, "vm.create", ("vm", None), department)
            .await?;
        if let Some(l) = &p.lease_expires_at {
            let lease = parse_rfc3339("lease_expires_at", l)?;
            self.check_lease(
                actor,
                On::department(department),
                Some(lease),
                self.clock().now_ms(),
            )?;
        }
        if let Some(id) = id
            && self.db.find_vm(id).await?.is_some()
        {
            return Err(Error::conflict(format!("VM {id} already exists")));
        }
        if self.db.vm_name_taken(&p.name).await? {
            return Err(Error::conflict(format!(
                "a VM named {} already exists",
                p.name
            )));
        }
        Ok(department)
    }

    /// The VM record, job and placement record of a VM to create where `choice` says.
    async fn plan(
        &self,
        actor: &Actor,
        id: Option<VmId>,
        p: &VmCreateParams,
        department: Option<DepartmentId>,
        choice: Choice<'_>,
    ) -> Result<Planned, Error> {
        let Choice {
            host,
            pinned,
            rating,
        } = choice;
        let default_ds = self
            .db
            .list_datastores()
            .await?
            .into_iter()
            .find(|d| d.cluster_id == host.cluster_id)
            .map(|d| d.name)
            .unwrap_or_else(|| "default".into());
        let now = db::now_ms();
        let vm = db::Vm {
            id: id.unwrap_or_else(|| VmId(uuid::Uuid::new_v4())),
            name: p.name.clone(),
            host_id: Some(host.id),
            cluster_id: Some(host.cluster_id),
            vcpus: p.vcpus,
            memory_mib: p.memory_mib,
            disks: p
                .disks
                .iter()
                .enumerate()
                .map(|(i, d)| db::DiskRec {
                    device: format!("vd{}", (b'a' + i as u8) as char),
                    size_gib: d.size_gib,
                    datastore: d.datastore.clone().unwrap_or_else(|| default_ds.clone()),
                    format: "qcow2".into(),
                    path: None,
                })
                .collect(),
            nics: p
                .nics
                .iter()
                .map(|n| db::NicRec {
                    mac: random_mac(),
                    network: n.network.clone(),
                })
                .collect(),
            power_state: PowerState::Shutoff,
            owner: Some(p.owner.clone().unwrap_or_else(|| actor.name().to_string())),
            department_id: department,
            purpose: p.purpose.clone(),
            tags: p.tags.clone(),
            lease_expires_at: p
                .lease_expires_at
                .as_deref()
                .map(|l| parse_rfc3339("lease_expires_at", l))
                .transpose()?,
            created_by: Some(actor.name().to_string()),
            created_at: now,
            updated_at: now,
            generation: 1,
            runtime_gen: 0,
            management: Management::Managed,
        };
        let job = jobs::new_job(
            jobs::JobSpec::VmCreate {
                vm_id: vm.id,
                start: p.start,
                boot: p.boot.clone(),
            },
            actor.name(),
        );
        let decision = Decision::new(host, pinned, rating);
        let placement = db::VmPlacementRec {
            vm_id: vm.id,
            constraints: p.placement.clone(),
            decided_at: now,
            decided_by: actor.name().to_string(),
            decision: serde_json::to_string(&decision)
                .map_err(|e| Error::internal(format!("placement decision: {e}")))?,
            boot: p.boot.clone(),
        };
        Ok(Planned {
            vm,
            job,
            placement,
            guest_os: p.guest_os.as_deref().and_then(GuestOs::from_libosinfo),
            host_name: host.name.clone(),
            top: crate::placement::top(rating, 3),
        })
    }

    /// Writes the planned VMs, their placements and jobs in one transaction, audits each
    /// creation and starts the jobs.
    async fn submit(
        &self,
        actor: &Actor,
        planned: Vec<Planned>,
    ) -> Result<Vec<JobAccepted>, Error> {
        let items: Vec<db::PlannedVm> = planned
            .iter()
            .map(|p| db::PlannedVm {
                job: p.job.clone(),
                vm: p.vm.clone(),
                placement: p.placement.clone(),
                guest_os: p.guest_os.clone(),
            })
            .collect();
        self.db.insert_jobs_with_vms(&items).await?;
        let mut out = Vec::with_capacity(planned.len());
        for p in planned {
            self.audit(
                actor.name(),
                "vm.create",
                ("vm", Some(p.vm.id.to_string())),
                AuditResult::Ok,
                Some(format!(
                    "name={} host={} rated: {}",
                    p.vm.name, p.host_name, p.top
                )),
            )
            .await;
            jobs::spawn(self, p.job.clone());
            out.push(JobAccepted {
                job: views::job(&p.job),
                vm_id: Some(p.vm.id),
            });
        }
        Ok(out)
    }

    /// Checks that a VM with these needs fits on `host` now (507 with the reason otherwise).
    pub(crate) async fn check_fits(&self, host: &db::Host, need: &Need) -> Result<(), Error> {
        let hosts = std::slice::from_ref(host);
        let rating = self.rate_hosts(hosts, need).await?;
        chosen_host(&rating, hosts, need).map(|_| ())
    }
}

/// The rating's choice among `hosts`, or 507 with every refusal counted.
fn chosen_host<'a>(
    rating: &Rating,
    hosts: &'a [db::Host],
    need: &Need,
) -> Result<&'a db::Host, Error> {
    let chosen = rating.chosen.ok_or_else(|| Error::InsufficientCapacity {
        message: format!(
            "no host fits {} vCPU / {} MiB: {}",
            need.vcpus,
            need.memory_mib,
            rating.explain_rejections()
        ),
    })?;
    hosts
        .iter()
        .find(|h| h.id == chosen)
        .ok_or_else(|| Error::internal("placement chose an unknown host"))
}

/// A random locally administered MAC in QEMU's 52:54:00 prefix.
fn random_mac() -> String {
    let mut b = [0u8; 3];
    getrandom::fill(&mut b).expect("the OS random source works");
    format!("52:54:00:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2])
}
