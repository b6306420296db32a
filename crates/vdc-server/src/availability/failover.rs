//! The HA controller: every second it pings each host through its driver (`ping`: a round
//! trip on the management path) and reads the host's
//! datastore heartbeat (the simulator's, or a file per host in `--ha-heartbeat-dir` that the
//! host touches), and judges it (`engine::ha::judge`). A dead host gets a journaled failover
//! job: fence it (the fence agent command, or wait out its storage lease), then restart its
//! HA-protected VMs on the survivors wave by wave (`engine::ha::restart_plan`). Each restart
//! first moves the VM's record to its new host, then defines and starts it there only if it
//! is not there yet, so a job resumed after a crash starts nothing twice.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use vdc_db::{self as db};
use vdc_engine::ha::{self as engine, Agent, Fence, HaVm, Verdict};
use vdc_engine::rating::Policy;
use vdc_types::*;

use crate::app::fleet::blocking;
use crate::app::fleet::vm_driver;
use crate::app::hooks;
use crate::app::{App, Part};
use crate::jobs::{self, JobSpec};

/// Host pings under way at once in an HA round.
const PINGS_AT_ONCE: usize = 64;

/// Pool kinds whose storage every host of a cluster reaches.
const SHARED_KINDS: [&str; 8] = [
    "netfs",
    "iscsi",
    "iscsi-direct",
    "rbd",
    "gluster",
    "sheepdog",
    "mpath",
    "vstorage",
];

/// What the controller knows of each host.
#[derive(Debug, Default)]
pub struct HaState {
    hosts: Mutex<HashMap<HostId, Watched>>,
}

impl Part for HaState {
    fn new(_: &App) -> Self {
        HaState::default()
    }
}

#[derive(Debug, Clone, Copy)]
struct Watched {
    since_ms: i64,
    management_ms: Option<i64>,
    verdict: Verdict,
    /// A failover job was started for the host's current death.
    failing_over: bool,
    /// When the host was found dead and when it was fenced (this death).
    dead_ms: Option<i64>,
    fenced_ms: Option<i64>,
}

/// What the HA controller knows of a host now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostHa {
    pub verdict: Verdict,
    /// When it was last found dead, and fenced after that.
    pub dead_ms: Option<i64>,
    pub fenced_ms: Option<i64>,
}

impl HostHa {
    pub fn view(&self) -> HostHaView {
        HostHaView {
            verdict: self.verdict,
            dead_at: self.dead_ms.map(rfc3339),
            fenced_at: self.fenced_ms.map(rfc3339),
        }
    }
}

impl App {
    /// A host as the API shows it.
    pub(crate) fn host_view(&self, h: &db::Host) -> HostView {
        crate::app::views::host(h, self.host_ha(h.id).map(|x| x.view()))
    }

    /// The datastore heartbeat of a host: the simulator's, else its file's age.
    fn datastore_heartbeat(&self, uri: &str, name: &str) -> Option<i64> {
        if let Some(sim) = self.fleet.sim()
            && let Some(i) = sim.host_index_of(uri)
        {
            return Some(sim.heartbeat_ms(i));
        }
        let dir = self.config.ha.heartbeat_dir.as_ref()?;
        let modified = std::fs::metadata(dir.join(name))
            .and_then(|m| m.modified())
            .ok()?;
        Some(
            modified
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?
                .as_millis() as i64,
        )
    }

    /// What the HA controller knows of a host (`None` before its first round).
    pub fn host_ha(&self, id: HostId) -> Option<HostHa> {
        self.part::<HaState>()
            .hosts
            .lock()
            .expect("ha state")
            .get(&id)
            .map(|w| HostHa {
                verdict: w.verdict,
                dead_ms: w.dead_ms,
                fenced_ms: w.fenced_ms,
            })
    }

    /// One round of the HA controller: ping every host, judge it, start the failover of each
    /// host found dead. Returns each host's verdict.
    pub async fn ha_round(&self) -> Result<Vec<(HostId, Verdict)>, Error> {
        let hosts: Vec<db::HostHead> = self
            .db
            .host_heads()
            .await?
            .into_iter()
            .filter(|h| !matches!(h.state, HostState::Standby | HostState::External))
            .collect();
        let timeout = self.config.ha.ping_timeout;
        // At most this many pings at once: each waits for its driver on a blocking thread, and
        // ten thousand of them at once would crowd out everything else (a ping's timeout
        // starts when it goes out, not while it waits for its turn).
        let turns = std::sync::Arc::new(tokio::sync::Semaphore::new(PINGS_AT_ONCE));
        let mut pings = tokio::task::JoinSet::new();
        for h in &hosts {
            let (id, driver, turns) = (h.id, self.fleet.driver(&h.uri), turns.clone());
            pings.spawn(async move {
                let ok = match driver {
                    Ok(d) => {
                        let _turn = turns.acquire_owned().await;
                        matches!(
                            tokio::time::timeout(timeout, blocking(move || d.ping())).await,
                            Ok(Ok(_))
                        )
                    }
                    Err(_) => false,
                };
                (id, ok)
            });
        }
        let mut answered = HashMap::new();
        while let Some(r) = pings.join_next().await {
            if let Ok((id, ok)) = r {
                answered.insert(id, ok);
            }
        }
        // The datastore heartbeats (file times, or the simulator's), read off the async threads.
        let heartbeats: HashMap<HostId, Option<i64>> = {
            let (app, hosts) = (self.clone(), hosts.clone());
            tokio::task::spawn_blocking(move || {
                hosts
                    .iter()
                    .map(|h| (h.id, app.datastore_heartbeat(&h.uri, &h.name)))
                    .collect()
            })
            .await
            .map_err(|e| Error::internal(format!("heartbeat reading panicked: {e}")))?
        };
        let ids: HashSet<HostId> = hosts.iter().map(|h| h.id).collect();
        let now = db::now_ms();
        let mut out = Vec::new();
        let mut dead = Vec::new();
        {
            let state = self.part::<HaState>();
            let mut watched = state.hosts.lock().expect("ha state");
            watched.retain(|id, _| ids.contains(id));
            for h in &hosts {
                let w = watched.entry(h.id).or_insert(Watched {
                    since_ms: now,
                    management_ms: None,
                    verdict: Verdict::Alive,
                    failing_over: false,
                    dead_ms: None,
                    fenced_ms: None,
                });
                if answered.get(&h.id) == Some(&true) {
                    w.management_ms = Some(now);
                }
                let hb = engine::Heartbeats {
                    since_ms: w.since_ms,
                    management_ms: w.management_ms,
                    datastore_ms: heartbeats.get(&h.id).copied().flatten(),
                };
                let verdict = engine::judge(&self.config.ha.detector, &hb, now);
                if verdict != w.verdict {
                    tracing::warn!(host = %h.name, from = ?w.verdict, to = ?verdict, "host verdict changed");
                }
                w.verdict = verdict;
                if verdict == Verdict::Alive {
                    w.failing_over = false;
                }
                if verdict == Verdict::Dead && !w.failing_over {
                    w.failing_over = true;
                    w.dead_ms = Some(now);
                    w.fenced_ms = None;
                    dead.push(h.clone());
                }
                out.push((h.id, verdict));
            }
        }
        for h in dead {
            if let Err(e) = self.start_failover(&h, now).await {
                tracing::error!(host = %h.name, error = %e, "cannot start the failover");
                if let Some(w) = self
                    .part::<HaState>()
                    .hosts
                    .lock()
                    .expect("ha state")
                    .get_mut(&h.id)
                {
                    w.failing_over = false;
                }
            }
        }
        Ok(out)
    }

    /// Journals and starts the failover of a dead host: the VMs recorded running on it.
    async fn start_failover(&self, host: &db::HostHead, dead_ms: i64) -> Result<JobId, Error> {
        let vms: Vec<VmId> = self
            .every_vm(db::VmFilter {
                host_id: Some(host.id),
                ..db::VmFilter::default()
            })
            .await?
            .into_iter()
            .filter(|v| vdc_driver::state::consumes_resources(v.power_state))
            .map(|v| v.id)
            .collect();
        let spec = JobSpec::HostFailover {
            host_id: host.id,
            dead_ms,
            vms,
        };
        let job = jobs::new_job(spec, "system");
        self.db.insert_job(&job).await?;
        self.audit(
            "system",
            "ha.host_dead",
            ("host", Some(host.id.to_string())),
            AuditResult::Ok,
            Some(format!(
                "{} silent on both paths; failover job {}",
                host.name, job.id
            )),
        )
        .await;
        let id = job.id;
        jobs::spawn(self, job);
        Ok(id)
    }

    /// Fencing step: until the agent confirms the host is off or its lease has run out.
    pub(crate) async fn fence_host(&self, host_id: HostId, dead_ms: i64) -> Result<(), Error> {
        let host = self.db.get_host(host_id).await?;
        let mut agent = Agent::None;
        if let Some(cmd) = &self.config.ha.fence_command {
            // The agent has until fencing's deadline; then it is killed.
            let env = [
                ("VDC_HOST_NAME", host.name.as_str()),
                ("VDC_HOST_URI", host.uri.as_str()),
            ];
            let left = dead_ms + self.config.ha.fence.timeout_ms - db::now_ms();
            let timeout = Duration::from_millis(u64::try_from(left).unwrap_or(0));
            agent = match hooks::run("fence command", cmd.expose(), &env, timeout).await {
                Ok(()) => Agent::PoweredOff,
                Err(why) => Agent::Failed(why),
            };
        }
        loop {
            let now = db::now_ms();
            match engine::fence(
                &self.config.ha.fence,
                dead_ms,
                &agent,
                self.datastore_heartbeat(&host.uri, &host.name),
                now,
            ) {
                Fence::Fenced(path) => {
                    if let Some(w) = self
                        .part::<HaState>()
                        .hosts
                        .lock()
                        .expect("ha state")
                        .get_mut(&host_id)
                    {
                        w.fenced_ms = Some(now);
                    }
                    self.audit(
                        "system",
                        "ha.fenced",
                        ("host", Some(host_id.to_string())),
                        AuditResult::Ok,
                        Some(format!("{} fenced by {}", host.name, path.as_str())),
                    )
                    .await;
                    return Ok(());
                }
                Fence::Failed(why) => {
                    return Err(Error::Unavailable {
                        message: format!("{}: {why}; its VMs are not restarted", host.name),
                    });
                }
                Fence::Wait { until_ms } => {
                    let wait = (until_ms - now).clamp(10, 500) as u64;
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                }
            }
        }
    }

    /// Restart step: the dead host's VMs, planned again from the store (those already moved
    /// to a survivor are only made sure to run there).
    pub(crate) async fn restart_vms(&self, dead: HostId, vms: &[VmId]) -> Result<(), Error> {
        let dead_host = self.db.get_host(dead).await?;
        let settings = self.db.all_vm_ha().await?;
        let datastores: HashMap<String, String> = self
            .db
            .list_datastores()
            .await?
            .into_iter()
            .map(|d| (d.name, d.kind))
            .collect();
        let shared = |name: &str| {
            self.config.ha.shared_datastores.iter().any(|s| s == name)
                || datastores
                    .get(name)
                    .is_some_and(|k| SHARED_KINDS.contains(&k.as_str()))
        };
        let mut moved = Vec::new();
        let mut candidates = Vec::new();
        for id in vms {
            let Some(vm) = self.db.find_vm(*id).await? else {
                continue;
            };
            if vm.host_id != Some(dead) {
                moved.push(vm);
                continue;
            }
            let ha = settings.get(id).cloned().unwrap_or_default();
            if let Some(d) = vm.disks.iter().find(|d| !shared(&d.datastore)) {
                self.not_restarted(
                    &vm,
                    &format!(
                        "its disk {} is on datastore {}, which the other hosts do not share",
                        d.device, d.datastore
                    ),
                )
                .await;
                continue;
            }
            let need = self.need_of_vm(&vm).await?;
            candidates.push((
                HaVm {
                    id: vm.id,
                    name: vm.name.clone(),
                    priority: ha.priority,
                    policy: ha.policy,
                    depends_on: ha.depends_on.clone(),
                    was_running: true,
                    req: need.request(),
                },
                vm,
            ));
        }
        // Restarts interrupted by a crash: the record already names the new host.
        for vm in &moved {
            self.run_on_its_host(vm).await?;
        }
        // Survivors: hosts of the dead host's cluster (they see its shared storage) that the
        // controller last found alive (a suspect or partitioned host may not answer a define).
        let alive: HashMap<HostId, Verdict> = self
            .part::<HaState>()
            .hosts
            .lock()
            .expect("ha state")
            .iter()
            .map(|(id, w)| (*id, w.verdict))
            .collect();
        let survivors: Vec<db::Host> = self
            .db
            .all_hosts()
            .await?
            .into_iter()
            .filter(|h| h.id != dead && h.cluster_id == dead_host.cluster_id)
            .filter(|h| h.state == HostState::Connected)
            .filter(|h| alive.get(&h.id).is_none_or(|v| *v == Verdict::Alive))
            .collect();
        let snapshot = self.host_snapshots(&survivors).await?;
        let havms: Vec<HaVm> = candidates.iter().map(|c| c.0.clone()).collect();
        let plan = engine::restart_plan(&havms, &snapshot, &Policy::default());
        let by_id: HashMap<VmId, &db::Vm> = candidates.iter().map(|c| (c.1.id, &c.1)).collect();
        for s in &plan.skipped {
            if let Some(vm) = by_id.get(&s.vm) {
                self.not_restarted(vm, &s.reason).await;
            }
        }
        let mut failed = Vec::new();
        let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(
            self.config.ha.restart_parallel.max(1),
        ));
        let mut wave = 0;
        let mut i = 0;
        while i < plan.restarts.len() {
            let mut set = tokio::task::JoinSet::new();
            while i < plan.restarts.len() && plan.restarts[i].wave == wave {
                let r = &plan.restarts[i];
                let vm = (*by_id[&r.vm]).clone();
                let host = survivors
                    .iter()
                    .find(|h| h.id == r.host)
                    .expect("planned on a survivor")
                    .clone();
                let app = self.clone();
                let why = format!("wave {wave}, {} priority: {}", r.priority, r.why);
                let slots = slots.clone();
                set.spawn(async move {
                    let _slot = slots.acquire_owned().await;
                    let outcome = app.restart_on(&vm, dead, &host, &why).await;
                    (vm, outcome)
                });
                i += 1;
            }
            while let Some(r) = set.join_next().await {
                let (vm, outcome) = r.map_err(|e| Error::internal(format!("restart task: {e}")))?;
                if let Err(e) = outcome {
                    // Back on the dead host's record, so that a retry plans it again.
                    self.db
                        .relocate_vm(vm.id, dead, dead_host.cluster_id)
                        .await?;
                    self.not_restarted(&vm, &format!("restart failed: {e}"))
                        .await;
                    failed.push(vm.name);
                }
            }
            wave += 1;
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(Error::Unavailable {
                message: format!("could not restart {}", failed.join(", ")),
            })
        }
    }

    async fn not_restarted(&self, vm: &db::Vm, why: &str) {
        tracing::warn!(vm = %vm.name, reason = %why, "not restarted");
        self.audit(
            "system",
            "ha.not_restarted",
            ("vm", Some(vm.id.to_string())),
            AuditResult::Failed,
            Some(why.to_string()),
        )
        .await;
    }

    /// Moves the VM's record from the dead host to `host` (the intent, written first, with
    /// the dead host's copy marked stale), then runs it there.
    async fn restart_on(
        &self,
        vm: &db::Vm,
        dead: HostId,
        host: &db::Host,
        why: &str,
    ) -> Result<(), Error> {
        self.db
            .restart_elsewhere(vm.id, dead, host.id, host.cluster_id)
            .await?;
        let moved = self
            .db
            .find_vm(vm.id)
            .await?
            .ok_or_else(|| Error::not_found("vm", vm.id))?;
        self.run_on_its_host(&moved).await?;
        self.audit(
            "system",
            "ha.restarted",
            ("vm", Some(vm.id.to_string())),
            AuditResult::Ok,
            Some(format!("{} restarted on {} ({why})", vm.name, host.name)),
        )
        .await;
        Ok(())
    }

    /// Defines the VM on the host its record names unless it is there, and starts it unless
    /// it runs.
    async fn run_on_its_host(&self, vm: &db::Vm) -> Result<(), Error> {
        let driver = vm_driver(self, vm).await?;
        let id = vm.id.0;
        let d = driver.clone();
        match blocking(move || d.vm_info(id)).await {
            Ok(_) => {}
            Err(Error::NotFound { .. }) => {
                let dept = jobs::department_name(self, vm).await?;
                let boot = self.db.vm_placement(vm.id).await?.and_then(|p| p.boot);
                let spec = jobs::spec_of(vm, dept, boot.as_ref(), jobs::os_id_of(self, vm).await?);
                let d = driver.clone();
                blocking(move || d.define(&spec)).await?;
            }
            Err(e) => return Err(e),
        }
        jobs::act_idempotent(self, vm, VmAction::Start).await
    }
}
