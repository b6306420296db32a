//! The index: rates a VM by explaining only the top k hosts, with exact rejection counts.

use super::*;

mod parts;
use parts::*;

// ---------------------------------------------------------------------------------------------
// The index

/// An index over a snapshot that rates a VM by explaining only the top k hosts, with exact
/// rejection counts, and follows allocations as VMs arrive ([`Rater::commit`]) and leave
/// ([`Rater::release`]).
///
/// Hosts are grouped into *classes* of hosts that are alike in everything the static filters
/// and the soft rules read (cluster, reachability, maintenance, power, department, CPU,
/// licences, networks, NUMA cells, datastore names; names interned, sets as bitsets), and
/// each class is cut into *chunks* of up to 32 hosts, sorted by free memory when built, their
/// state stored contiguously. Each chunk keeps the bounds of its hosts' vCPU room, memory room
/// and free space per datastore, and what bounds each ranker's value for any request: least
/// allocation and share, largest capacities, best contention and licence, quietest peak hour,
/// first name. Each cluster keeps the sums of its hosts' memory shares. A rating then
///
/// 1. runs the static filters once per class: a refused class is counted in O(1);
/// 2. per chunk of an accepted class, counts the whole chunk in O(1) when its bounds show that
///    every host fails vCPU, fails memory, fails datastores or passes everything; only the
///    chunks that straddle the request are scanned host by host;
/// 3. evaluates the hosts of the request's affinity and anti-affinity groups one by one (they
///    are few), which fixes which soft rules are kept;
/// 4. visits the candidate chunks by decreasing score bound for this request (a heap; the
///    bound is each ranker's best value in the chunk, combined as a score is, so it equals the
///    score of a host that has all of them: an empty host in an empty chunk), stopping at the
///    first that cannot beat the k-th best host, a tie with a later name included; in a
///    chunk, a host is scored exactly, except that the complementary load is first bounded
///    from the host's peak and the VM's quietest hour.
///
/// Cost per rating: O(classes × request size + chunks × datastores + hosts in straddling
/// chunks + group members × log hosts + visited chunks × (log chunks + chunk size)); O(hosts)
/// only in the worst case (every host its own class, or every chunk straddling the request).
/// When fewer than k hosts meet the kept rules, the list is completed with the other feasible
/// hosts the same way, then with refused hosts in name order, stopping after k. A commit or
/// release costs O(chunk size × datastores + log hosts).
#[derive(Debug, Clone)]
pub struct Rater {
    pub(crate) policy: Policy,
    pub(crate) weights: [f64; N_RANKERS],
    pub(crate) total_weight: f64,
    pub(crate) contention_full: f64,
    pub(crate) chunk_size: usize,
    pub(crate) hosts: Vec<HostSnapshot>,
    pub(crate) by_id: BTreeMap<HostId, usize>,
    /// Position of each host in (name, id) order.
    pub(crate) name_rank: Vec<usize>,
    /// Hosts in (name, id) order.
    pub(crate) by_name: Vec<usize>,
    /// Per slot (chunk order): the state the index reads.
    pub(crate) rows: Vec<Row>,
    /// Free GiB per datastore column of each row's class, in slot order.
    pub(crate) ds: Vec<u64>,
    /// Host index → slot.
    pub(crate) slot: Vec<usize>,
    pub(crate) classes: Vec<Class>,
    pub(crate) chunks: Vec<Chunk>,
    /// Per cluster: the memory shares of its active hosts.
    pub(crate) clusters: Vec<ClusterStat>,
    /// Distinct datastore column lists (sorted names) of the classes.
    pub(crate) layouts: Vec<Vec<String>>,
    pub(crate) vocab: Vocab,
    /// Group → host → members there (only counts > 0).
    pub(crate) groups: BTreeMap<String, BTreeMap<usize, u32>>,
    pub(crate) dedicated: BTreeSet<DepartmentId>,
    pub(crate) licence_max: f64,
}
impl Rater {
    /// Indexes `hosts` (ids must be unique) under `policy`. O(hosts × log hosts).
    pub fn new(hosts: &[HostSnapshot], policy: Policy) -> Self {
        Self::with_chunk_size(hosts, policy, DEFAULT_CHUNK)
    }

    /// Like [`Rater::new`] with `chunk` hosts per chunk (at least 1): smaller chunks mean
    /// tighter bounds, and more chunks to go through.
    pub fn with_chunk_size(hosts: &[HostSnapshot], policy: Policy, chunk: usize) -> Self {
        let (weights, total_weight) = policy.weights.sanitized();
        let contention_full = policy.contention_full();
        let licence_max = hosts
            .iter()
            .map(|h| sanitize_cost(h.licence_cost_per_vcpu))
            .fold(0.0, f64::max);
        let by_id = hosts.iter().enumerate().map(|(i, h)| (h.id, i)).collect();
        let mut by_name: Vec<usize> = (0..hosts.len()).collect();
        by_name.sort_by(|&a, &b| {
            (&hosts[a].name, hosts[a].id, a).cmp(&(&hosts[b].name, hosts[b].id, b))
        });
        let mut name_rank = vec![0; hosts.len()];
        for (r, &i) in by_name.iter().enumerate() {
            name_rank[i] = r;
        }
        let mut groups: BTreeMap<String, BTreeMap<usize, u32>> = BTreeMap::new();
        for (i, h) in hosts.iter().enumerate() {
            for (g, n) in &h.groups {
                if *n > 0 {
                    let c = groups.entry(g.clone()).or_default().entry(i).or_insert(0);
                    *c = c.saturating_add(*n);
                }
            }
        }
        let mut rater = Rater {
            policy,
            weights,
            total_weight,
            contention_full,
            chunk_size: chunk.max(1),
            hosts: hosts.to_vec(),
            by_id,
            name_rank,
            by_name,
            rows: Vec::with_capacity(hosts.len()),
            ds: Vec::new(),
            slot: vec![0; hosts.len()],
            classes: Vec::new(),
            chunks: Vec::new(),
            clusters: Vec::new(),
            layouts: Vec::new(),
            vocab: Vocab::default(),
            groups,
            dedicated: hosts.iter().filter_map(|h| h.dedicated_to).collect(),
            licence_max,
        };
        rater.build();
        rater
    }

    pub(crate) fn build(&mut self) {
        let hosts = std::mem::take(&mut self.hosts);
        let mut by_class: BTreeMap<ClassKey, Vec<usize>> = BTreeMap::new();
        for (i, h) in hosts.iter().enumerate() {
            by_class.entry(ClassKey::of(h)).or_default().push(i);
        }
        let mut cluster_ids: BTreeMap<ClusterId, usize> = BTreeMap::new();
        let mut layout_ids: BTreeMap<Vec<String>, usize> = BTreeMap::new();
        for (ci, (key, mut members)) in by_class.into_iter().enumerate() {
            let n = cluster_ids.len();
            let cluster = *cluster_ids.entry(key.cluster).or_insert(n);
            if cluster == self.clusters.len() {
                self.clusters.push(ClusterStat::default());
            }
            let n = layout_ids.len();
            let layout = *layout_ids.entry(key.datastores.clone()).or_insert(n);
            if layout == self.layouts.len() {
                self.layouts.push(key.datastores.clone());
            }
            let active = key.reachable && !key.maintenance && key.powered_on;
            members.sort_by_key(|&i| {
                let h = &hosts[i];
                let rm = room(
                    h.allocated_memory_mib,
                    memory_cap(h.memory_mib, h.memory_ratio),
                );
                let rv = room(h.allocated_vcpus, vcpu_cap(h.logical_cpus, h.vcpu_ratio));
                (std::cmp::Reverse((rm, rv)), i)
            });
            let first = self.chunks.len();
            for part in members.chunks(self.chunk_size) {
                let c = self.chunks.len();
                let start = self.rows.len();
                for &i in part {
                    let h = &hosts[i];
                    let vcap = vcpu_cap(h.logical_cpus, h.vcpu_ratio);
                    let mcap = memory_cap(h.memory_mib, h.memory_ratio);
                    let q = share_q(h.allocated_memory_mib, mcap);
                    if active {
                        self.clusters[cluster].add(q);
                    }
                    let profile = h.hourly_load.as_ref().map(sanitize_profile);
                    let ds = (self.ds.len(), key.datastores.len());
                    self.ds.extend(key.datastores.iter().map(|name| {
                        unique_datastores(h)
                            .find(|(n, _)| n == name)
                            .map_or(0, |(_, f)| f)
                    }));
                    self.slot[i] = self.rows.len();
                    self.rows.push(Row {
                        host: i,
                        class: ci,
                        chunk: c,
                        vcap,
                        mcap,
                        alloc_v: h.allocated_vcpus,
                        alloc_m: h.allocated_memory_mib,
                        q,
                        logical_cpus: h.logical_cpus,
                        powered_on: h.powered_on,
                        contention: contention(h.vcpu_wait, self.contention_full),
                        licence: licence(h.licence_cost_per_vcpu, self.licence_max),
                        ds,
                        peak: profile.map_or(0.0, |p| p.iter().fold(0.0, |m, x| x.max(m))),
                        profile: profile.map(Box::new),
                        ub: [0.0; 2],
                    });
                }
                self.chunks.push(Chunk {
                    class: ci,
                    slots: start..self.rows.len(),
                    min_rv: 0,
                    max_rv: 0,
                    min_rm: 0,
                    max_rm: 0,
                    ds_min: Vec::new(),
                    ds_max: Vec::new(),
                    min_av: 0,
                    min_am: 0,
                    q_min: 0,
                    q_max: 0,
                    vcap_max: 0,
                    lcpus_max: 0,
                    mcap_min: 0,
                    mcap_max: 0,
                    contention: 0.0,
                    licence: 0.0,
                    peak_min: None,
                    unprofiled: false,
                    min_rank: 0,
                });
            }
            let v = &mut self.vocab;
            self.classes.push(Class {
                vendor: intern(&mut v.vendors, &key.cpu_vendor),
                model: intern(&mut v.models, &key.cpu_model),
                features: bits(&mut v.features, &key.cpu_features),
                licensed: bits(&mut v.licences, &key.licensed),
                networks: bits(&mut v.networks, &key.networks),
                layout,
                cluster,
                active,
                chunks: first..self.chunks.len(),
                len: members.len(),
                key,
            });
        }
        self.hosts = hosts;
        for slot in 0..self.rows.len() {
            self.rows[slot].ub = self.row_bounds(&self.rows[slot]);
        }
        for c in 0..self.chunks.len() {
            self.rebuild_chunk(c);
        }
    }

    /// The snapshot as it stands after the commits and releases so far (input order).
    pub fn snapshot(&self) -> &[HostSnapshot] {
        &self.hosts
    }

    /// Rates `req`, explaining the first `k` hosts of [`rate`]'s list (bit for bit); the chosen
    /// host, the rejection counts and the relaxed rules are those of [`rate`] for any `k`.
    pub fn rate_top(&self, req: &VmRequest, k: usize) -> Rating {
        self.rate_top_inner(req, k).0
    }

    /// Records `req` as placed on `host`: its vCPUs and memory, its disks (named disks on
    /// their datastores, unnamed ones together on the datastore with most room left), and its
    /// membership of its affinity and anti-affinity groups. Does not re-check the filters.
    /// A datastore is debited on this host's view only.
    // TODO-correctness: a shared datastore seen by several hosts is not debited on the other
    // hosts' views; the snapshot has no datastore identity to know which names are shared.
    pub fn commit(&mut self, host: HostId, req: &VmRequest) -> Result<(), UnknownHost> {
        let i = *self.by_id.get(&host).ok_or(UnknownHost(host))?;
        self.commit_idx(i, req);
        Ok(())
    }

    /// Records that `vcpus` and `memory_mib` were freed on `host` (a VM left or shrank).
    /// Group membership is left to [`Rater::leave_group`], datastore space is not credited
    /// (disks may outlive the VM): build a new rater from a fresh snapshot for that.
    pub fn release(
        &mut self,
        host: HostId,
        vcpus: u64,
        memory_mib: u64,
    ) -> Result<(), UnknownHost> {
        let i = *self.by_id.get(&host).ok_or(UnknownHost(host))?;
        let r = &mut self.rows[self.slot[i]];
        r.alloc_v = r.alloc_v.saturating_sub(vcpus);
        r.alloc_m = r.alloc_m.saturating_sub(memory_mib);
        self.refresh(i);
        Ok(())
    }

    /// Records that one member of `group` left `host`.
    pub fn leave_group(&mut self, host: HostId, group: &str) -> Result<(), UnknownHost> {
        let i = *self.by_id.get(&host).ok_or(UnknownHost(host))?;
        let mut left = 0;
        if let Some(members) = self.groups.get_mut(group) {
            if let Some(c) = members.get_mut(&i) {
                *c -= 1;
                left = *c;
                if *c == 0 {
                    members.remove(&i);
                }
            }
            if members.is_empty() {
                self.groups.remove(group);
            }
        }
        self.set_group(i, group, left);
        Ok(())
    }

    pub(crate) fn commit_idx(&mut self, i: usize, req: &VmRequest) {
        let r = &mut self.rows[self.slot[i]];
        r.alloc_v = r.alloc_v.saturating_add(u64::from(req.vcpus));
        r.alloc_m = r.alloc_m.saturating_add(req.memory_mib);
        if !req.disks.is_empty() {
            let need = DiskNeed::new(&req.disks);
            let cols = &self.classes[r.class].key.datastores;
            let plan = DiskPlan::new(cols, &need);
            let row = &mut self.ds[r.ds.0..r.ds.0 + r.ds.1];
            let target = need.unnamed.and_then(|_| plan.unnamed_target(row));
            for &(c, n) in &plan.named {
                row[c] = row[c].saturating_sub(n);
            }
            if let (Some(c), Some(u)) = (target, need.unnamed) {
                row[c] = row[c].saturating_sub(u);
            }
            for (name, free) in cols.iter().zip(row.iter()) {
                if let Some(e) = self.hosts[i].datastores.iter_mut().find(|(n, _)| n == name) {
                    e.1 = *free;
                }
            }
        }
        let mut joined: Vec<&String> = req.affinity.iter().chain(&req.anti_affinity).collect();
        joined.dedup();
        for g in joined {
            let c = self
                .groups
                .entry(g.clone())
                .or_default()
                .entry(i)
                .or_insert(0);
            *c = c.saturating_add(1);
            let c = *c;
            self.set_group(i, g, c);
        }
        self.refresh(i);
    }

    /// Writes host `i`'s member count of `group` to its snapshot (sorted by group name).
    pub(crate) fn set_group(&mut self, i: usize, group: &str, count: u32) {
        let groups = &mut self.hosts[i].groups;
        groups.retain(|(g, _)| g != group);
        if count > 0 {
            let pos = groups.partition_point(|(g, _)| g.as_str() < group);
            groups.insert(pos, (group.to_owned(), count));
        }
    }

    /// After host `i`'s allocation changed: cluster, bounds, snapshot, chunk.
    pub(crate) fn refresh(&mut self, i: usize) {
        let slot = self.slot[i];
        let r = &self.rows[slot];
        let class = &self.classes[r.class];
        let q = share_q(r.alloc_m, r.mcap);
        if class.active && q != r.q {
            self.clusters[class.cluster].replace(r.q, q);
        }
        let ub = self.row_bounds(r);
        let r = &mut self.rows[slot];
        r.q = q;
        r.ub = ub;
        self.hosts[i].allocated_vcpus = r.alloc_v;
        self.hosts[i].allocated_memory_mib = r.alloc_m;
        let c = r.chunk;
        self.rebuild_chunk(c);
    }

    /// Upper bounds of a host's score apart from balance, for any request without / with an
    /// hourly profile: headroom before placement, affinity at 1, complementary at its bound.
    pub(crate) fn row_bounds(&self, r: &Row) -> [f64; 2] {
        let ub = |vm_profile: bool| {
            let values = [
                headroom(r.alloc_v, 0, r.vcap, r.alloc_m, 0, r.mcap),
                0.0,
                match (&r.profile, vm_profile) {
                    (Some(_), true) => complementary_bound(r.peak, 0.0, 0.0),
                    _ => 0.5,
                },
                r.contention,
                r.licence,
                if r.powered_on { 1.0 } else { 0.0 },
                1.0,
            ];
            combine(&values, &self.weights, self.total_weight).1
        };
        [ub(false), ub(true)]
    }

    /// An upper bound of the score of any host of chunk `c` outside the request's groups: each
    /// ranker's best value in the chunk, combined as [`combine`] does. Every value is a
    /// monotone function of the chunk's extremes, so the bound is exactly the score of a host
    /// that holds all of them (the usual case: the emptiest hosts of a uniform chunk). Also
    /// the balance contribution in it.
    pub(crate) fn chunk_bound(&self, c: usize, s: &Scan<'_, '_>) -> (f64, f64) {
        let ch = &self.chunks[c];
        let class = &self.classes[ch.class];
        let req = s.p.req;
        let complementary = match s.p.vm_profile {
            None => 0.5,
            Some(_) => {
                let scale = vm_scale(req.vcpus, ch.lcpus_max);
                let profiled = ch
                    .peak_min
                    .map_or(0.0, |peak| complementary_bound(peak, scale, s.vm_min));
                if ch.unprofiled {
                    profiled.max(0.5)
                } else {
                    profiled
                }
            }
        };
        let balance = self.balance_bound(ch, class, req.memory_mib);
        let values = [
            headroom(
                ch.min_av,
                u64::from(req.vcpus),
                ch.vcap_max,
                ch.min_am,
                req.memory_mib,
                ch.mcap_max,
            ),
            balance,
            complementary,
            ch.contention,
            ch.licence,
            if class.key.powered_on { 1.0 } else { 0.0 },
            if s.p.aff_applicable { 0.0 } else { 1.0 },
        ];
        let (contrib, score) = combine(&values, &s.p.weights, s.p.total_weight);
        (score, contrib[Ranker::Balance as usize])
    }

    /// The best balance a placement of `memory_mib` on a host of the chunk can give its
    /// cluster. The placement raises the host's share q by d, between
    /// min(⌊m·Q/cap_max⌋, Q − q_max) and ⌊m·Q/cap_min⌋ + 1. On an active host the spread
    /// becomes n·(s2 + 2qd + d²) − (s1 + d)²: growing with q, convex in d. On a host that is
    /// not counted yet (powered off) the share q + d joins: (n+1)(s2 + x²) − (s1 + x)², convex.
    pub(crate) fn balance_bound(&self, ch: &Chunk, class: &Class, memory_mib: u64) -> f64 {
        let st = self.clusters[class.cluster];
        let (n, s1, s2) = (i128::from(st.n), st.s1 as i128, st.s2 as i128);
        let d_lo = i128::from(share_q(memory_mib, ch.mcap_max).min(Q - ch.q_max));
        let d_hi = i128::from(share_q(memory_mib, ch.mcap_min)) + 1;
        let q = i128::from(ch.q_min);
        let (count, spread) = if class.active {
            // 2(n−1)·d + 2(nq − s1) = 0; with one host, f falls with d while q < s1 = q.
            let f = |d: i128| n * (s2 + 2 * q * d + d * d) - (s1 + d) * (s1 + d);
            let (num, den) = if n > 1 {
                (s1 - n * q, n - 1)
            } else {
                (d_lo, 1)
            };
            (st.n, least_convex(d_lo, d_hi, num, den, f))
        } else {
            // 2n·x − 2·s1 = 0.
            let f = |x: i128| (n + 1) * (s2 + x * x) - (s1 + x) * (s1 + x);
            let lo = (q + d_lo).min(i128::from(Q));
            (st.n + 1, least_convex(lo, i128::from(Q), s1, n.max(1), f))
        };
        balance_of(count, spread.max(0) as u128)
    }

    pub(crate) fn rebuild_chunk(&mut self, c: usize) {
        let cols = self.classes[self.chunks[c].class].key.datastores.len();
        let (mut min_rv, mut max_rv, mut min_rm, mut max_rm) =
            (i128::MAX, i128::MIN, i128::MAX, i128::MIN);
        let mut ds_min = vec![u64::MAX; cols];
        let mut ds_max = vec![0; cols];
        let slots = self.chunks[c].slots.clone();
        let mut ch = Chunk {
            ds_min: Vec::new(),
            ds_max: Vec::new(),
            min_av: u64::MAX,
            min_am: u64::MAX,
            q_min: u64::MAX,
            q_max: 0,
            vcap_max: 0,
            lcpus_max: 0,
            mcap_min: u64::MAX,
            mcap_max: 0,
            contention: 0.0,
            licence: 0.0,
            peak_min: None,
            unprofiled: false,
            min_rank: usize::MAX,
            ..self.chunks[c].clone()
        };
        for r in &self.rows[slots] {
            let rv = room(r.alloc_v, r.vcap);
            let rm = room(r.alloc_m, r.mcap);
            min_rv = min_rv.min(rv);
            max_rv = max_rv.max(rv);
            min_rm = min_rm.min(rm);
            max_rm = max_rm.max(rm);
            for (j, free) in self.row_ds(r).iter().enumerate() {
                ds_min[j] = ds_min[j].min(*free);
                ds_max[j] = ds_max[j].max(*free);
            }
            ch.min_av = ch.min_av.min(r.alloc_v);
            ch.min_am = ch.min_am.min(r.alloc_m);
            ch.q_min = ch.q_min.min(r.q);
            ch.q_max = ch.q_max.max(r.q);
            ch.vcap_max = ch.vcap_max.max(r.vcap);
            ch.lcpus_max = ch.lcpus_max.max(r.logical_cpus);
            ch.mcap_min = ch.mcap_min.min(r.mcap);
            ch.mcap_max = ch.mcap_max.max(r.mcap);
            ch.contention = ch.contention.max(r.contention);
            ch.licence = ch.licence.max(r.licence);
            match r.profile {
                Some(_) => ch.peak_min = Some(ch.peak_min.map_or(r.peak, |p| p.min(r.peak))),
                None => ch.unprofiled = true,
            }
            ch.min_rank = ch.min_rank.min(self.name_rank[r.host]);
        }
        (ch.min_rv, ch.max_rv, ch.min_rm, ch.max_rm) = (min_rv, max_rv, min_rm, max_rm);
        ch.ds_min = ds_min;
        ch.ds_max = ds_max;
        self.chunks[c] = ch;
    }

    /// vCPU, memory and datastore filters for a host whose class passed the static ones.
    pub(crate) fn dyn_filter(&self, r: &Row, req: &VmRequest, plan: &DiskPlan) -> Option<Filter> {
        if i128::from(req.vcpus) > room(r.alloc_v, r.vcap) {
            Some(Filter::Vcpus)
        } else if i128::from(req.memory_mib) > room(r.alloc_m, r.mcap) {
            Some(Filter::Memory)
        } else if !plan.row_fits(self.row_ds(r)) {
            Some(Filter::Datastore)
        } else {
            None
        }
    }

    pub(crate) fn row_ds(&self, r: &Row) -> &[u64] {
        &self.ds[r.ds.0..r.ds.0 + r.ds.1]
    }

    /// Host values for the request; the complementary load only bounded (by the host's peak
    /// hour and the VM's quietest one) when `quick`.
    pub(crate) fn values(
        &self,
        r: &Row,
        s: &Scan<'_, '_>,
        aff_member: bool,
        quick: bool,
    ) -> [f64; N_RANKERS] {
        let class = &self.classes[r.class];
        let req = s.p.req;
        let complementary = match (&r.profile, &s.p.vm_profile) {
            (Some(_), Some(_)) if quick => {
                complementary_bound(r.peak, vm_scale(req.vcpus, r.logical_cpus), s.vm_min)
            }
            (h, v) => complementary(h.as_deref(), v.as_ref(), req.vcpus, r.logical_cpus),
        };
        let input = RankInput {
            alloc_v: r.alloc_v,
            alloc_m: r.alloc_m,
            vcap: r.vcap,
            mcap: r.mcap,
            cluster: self.clusters[class.cluster],
            active: class.active,
            complementary,
            contention: r.contention,
            licence: r.licence,
            powered_on: r.powered_on,
            aff_member,
        };
        ranker_values(&input, &s.p)
    }

    /// Host `i`'s full verdict (used for group members and for the refused tail).
    pub(crate) fn eval(&self, i: usize, s: &Scan<'_, '_>) -> Eval {
        let r = &self.rows[self.slot[i]];
        let class = &self.classes[r.class];
        if let Some(f) = s.class_verdict[r.class] {
            return Eval::Rejected(f);
        }
        if let Some(f) = self.dyn_filter(r, s.p.req, &s.plans[class.layout]) {
            return Eval::Rejected(f);
        }
        let anti_member = s.anti.contains_key(&i);
        if s.p.anti_hard && anti_member {
            return Eval::Rejected(Filter::AntiAffinity);
        }
        let aff_member = s.aff.contains_key(&i);
        let k = &class.key;
        Eval::Feasible {
            mask: s
                .p
                .soft_mask(k.dedicated_to, k.powered_on, aff_member, anti_member),
            values: self.values(r, s, aff_member, false),
        }
    }

    pub(crate) fn cand(&self, i: usize, eval: Eval, p: &Prepared<'_>) -> Cand {
        let score = match &eval {
            Eval::Feasible { values, .. } => combine(values, &p.weights, p.total_weight).1,
            Eval::Rejected(_) => 0.0,
        };
        Cand {
            score,
            rank: self.name_rank[i],
            idx: i,
            eval,
        }
    }

    /// The best `want` feasible hosts whose mask meets (`eligible`) or breaks the kept rules.
    pub(crate) fn top(
        &self,
        s: &Scan<'_, '_>,
        live: &[(usize, bool)],
        special_evals: &[(usize, Eval)],
        kept: u8,
        eligible: bool,
        want: usize,
    ) -> Vec<Cand> {
        let mut top = TopK::new(want);
        for &(i, e) in special_evals {
            if let Eval::Feasible { mask, .. } = e
                && (mask & kept == 0) == eligible
            {
                top.offer(self.cand(i, e, &s.p));
            }
        }
        let mut heap: std::collections::BinaryHeap<Visit> = live
            .iter()
            .filter(|(c, _)| (s.class_mask[self.chunks[*c].class] & kept == 0) == eligible)
            .map(|&(c, all_feasible)| {
                let (ub, balance) = self.chunk_bound(c, s);
                Visit {
                    ub,
                    balance,
                    min_rank: self.chunks[c].min_rank,
                    chunk: c,
                    all_feasible,
                }
            })
            .collect();
        while let Some(visit) = heap.pop() {
            if top.closed_to(visit.ub, visit.min_rank) {
                break;
            }
            let chunk = &self.chunks[visit.chunk];
            let class = &self.classes[chunk.class];
            let mask = s.class_mask[chunk.class];
            let has_special = s.special_chunks.binary_search(&visit.chunk).is_ok();
            let quick = s.p.vm_profile.is_some();
            for r in &self.rows[chunk.slots.clone()] {
                if top.closed_to(r.ub[usize::from(quick)] + visit.balance + ROW_SLACK, 0)
                    || (has_special && s.specials.binary_search(&r.host).is_ok())
                    || (!visit.all_feasible
                        && self
                            .dyn_filter(r, s.p.req, &s.plans[class.layout])
                            .is_some())
                {
                    continue;
                }
                let rank = self.name_rank[r.host];
                let mut values = self.values(r, s, false, quick);
                if top.closed_to(combine(&values, &s.p.weights, s.p.total_weight).1, rank) {
                    continue;
                }
                if quick && r.profile.is_some() {
                    values = self.values(r, s, false, false);
                }
                top.offer(self.cand(r.host, Eval::Feasible { mask, values }, &s.p));
            }
        }
        top.items
    }

    pub(crate) fn rate_top_inner(&self, req: &VmRequest, k: usize) -> (Rating, Option<usize>) {
        let p = Prepared::new(
            req,
            &self.policy,
            |d| self.dedicated.contains(&d),
            |g| self.groups.get(g).is_some_and(|m| !m.is_empty()),
        );
        static EMPTY: BTreeMap<usize, u32> = BTreeMap::new();
        let members = |g: Option<&String>| g.and_then(|g| self.groups.get(g)).unwrap_or(&EMPTY);
        let aff = members(req.affinity.as_ref());
        let anti = members(req.anti_affinity.as_ref());
        let specials: Vec<usize> = aff
            .keys()
            .chain(anti.keys())
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut special_chunks: Vec<usize> = specials
            .iter()
            .map(|&i| self.rows[self.slot[i]].chunk)
            .collect();
        special_chunks.sort_unstable();
        let mut special_classes: Vec<usize> = specials
            .iter()
            .map(|&i| self.rows[self.slot[i]].class)
            .collect();
        special_classes.sort_unstable();

        let compiled = Compiled::new(req, &self.vocab);
        let mut s = Scan {
            vm_min: p
                .vm_profile
                .map_or(0.0, |v| v.iter().fold(1.0, |m: f64, x| x.min(m))),
            plans: self
                .layouts
                .iter()
                .map(|cols| DiskPlan::new(cols, &p.disks))
                .collect(),
            p,
            aff,
            anti,
            specials,
            special_chunks,
            class_verdict: Vec::with_capacity(self.classes.len()),
            class_mask: Vec::with_capacity(self.classes.len()),
        };
        let v = i128::from(req.vcpus);
        let m = i128::from(req.memory_mib);
        let mut counts = [0usize; Filter::ALL.len()];
        let mut class_feasible = vec![0usize; self.classes.len()];
        // Chunks with feasible hosts outside the groups, and whether all of them are feasible.
        let mut live: Vec<(usize, bool)> = Vec::new();

        for (ci, class) in self.classes.iter().enumerate() {
            let key = &class.key;
            let verdict = compiled.filter(class, req);
            s.class_verdict.push(verdict);
            s.class_mask
                .push(s.p.soft_mask(key.dedicated_to, key.powered_on, false, false));
            if let Some(f) = verdict {
                counts[f as usize] += class.len - count_in(&special_classes, ci);
                continue;
            }
            let plan = &s.plans[class.layout];
            for c in class.chunks.clone() {
                let ch = &self.chunks[c];
                let ns = count_in(&s.special_chunks, c);
                let n = ch.slots.len() - ns;
                let whole = if ch.max_rv < v {
                    Some(Some(Filter::Vcpus))
                } else if ch.min_rv >= v && ch.max_rm < m {
                    Some(Some(Filter::Memory))
                } else if ch.min_rv >= v && ch.min_rm >= m {
                    match plan.chunk(ch) {
                        (true, _) => Some(None),
                        (_, true) => Some(Some(Filter::Datastore)),
                        _ => None,
                    }
                } else {
                    None
                };
                match whole {
                    Some(Some(f)) => counts[f as usize] += n,
                    Some(None) => {
                        if n > 0 {
                            class_feasible[ci] += n;
                            live.push((c, true));
                        }
                    }
                    None => {
                        let mut feasible = 0;
                        for r in &self.rows[ch.slots.clone()] {
                            if ns > 0 && s.specials.binary_search(&r.host).is_ok() {
                                continue;
                            }
                            match self.dyn_filter(r, req, plan) {
                                Some(f) => counts[f as usize] += 1,
                                None => feasible += 1,
                            }
                        }
                        if feasible > 0 {
                            class_feasible[ci] += feasible;
                            live.push((c, false));
                        }
                    }
                }
            }
        }

        let mut present = 0u16;
        let mut special_evals = Vec::with_capacity(s.specials.len());
        for &i in &s.specials {
            let e = self.eval(i, &s);
            match e {
                Eval::Rejected(f) => counts[f as usize] += 1,
                Eval::Feasible { mask, .. } => present |= 1 << mask,
            }
            special_evals.push((i, e));
        }
        for (ci, n) in class_feasible.iter().enumerate() {
            if *n > 0 {
                present |= 1 << s.class_mask[ci];
            }
        }
        let kept = keep_rules(present, s.p.rules.len());
        let all_rules = ((1u16 << s.p.rules.len()) - 1) as u8;

        let feasible_total = class_feasible.iter().sum::<usize>()
            + special_evals
                .iter()
                .filter(|(_, e)| matches!(e, Eval::Feasible { .. }))
                .count();
        let refused_total: usize = counts.iter().sum();

        let want = k.max(1);
        let mut picked = self.top(&s, &live, &special_evals, kept, true, want);
        let chosen = picked.first().map(|c| c.idx);
        if picked.len() < want && feasible_total > picked.len() {
            let more = want - picked.len();
            picked.extend(self.top(&s, &live, &special_evals, kept, false, more));
        }
        if picked.len() < want && refused_total > 0 {
            for &i in &self.by_name {
                if picked.len() >= want {
                    break;
                }
                let e = self.eval(i, &s);
                if matches!(e, Eval::Rejected(_)) {
                    picked.push(self.cand(i, e, &s.p));
                }
            }
        }
        picked.truncate(k);
        let hosts = picked
            .iter()
            .map(|c| {
                let h = &self.hosts[c.idx];
                host_rating(h.id, &h.name, &c.eval, kept, &s.p)
            })
            .collect();
        let rating = Rating {
            hosts,
            chosen: chosen.map(|i| self.hosts[i].id),
            rejected: count_map(&counts),
            relaxed: s.p.rules_in(all_rules & !kept),
        };
        (rating, chosen)
    }
}
