//! The parts of the index: rows, classes and chunks of hosts with their bounds, the disk plan
//! of a request, the top-k list and the heap of chunks to visit.

use super::*;

/// Per-host state the index reads.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) host: usize,
    pub(crate) class: usize,
    pub(crate) chunk: usize,
    pub(crate) vcap: u64,
    pub(crate) mcap: u64,
    pub(crate) alloc_v: u64,
    pub(crate) alloc_m: u64,
    pub(crate) q: u64,
    pub(crate) logical_cpus: u32,
    pub(crate) powered_on: bool,
    pub(crate) contention: f64,
    pub(crate) licence: f64,
    /// Where the row's datastore columns start in `Rater::ds`, and how many there are.
    pub(crate) ds: (usize, usize),
    pub(crate) profile: Option<Box<[f64; 24]>>,
    /// The host profile's highest hour.
    pub(crate) peak: f64,
    /// Upper bounds of the score without the balance contribution, for any request without /
    /// with an hourly profile: a cheap first test of a host.
    pub(crate) ub: [f64; 2],
}

/// Slack for [`Row::ub`] plus a balance contribution: a sum in another order than a score's,
/// so only a host whose bound is this much below the k-th score is skipped with it.
pub(crate) const ROW_SLACK: f64 = 1e-9;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ClassKey {
    pub(crate) cluster: ClusterId,
    pub(crate) reachable: bool,
    pub(crate) maintenance: bool,
    pub(crate) failover_reserved: bool,
    pub(crate) powered_on: bool,
    pub(crate) dedicated_to: Option<DepartmentId>,
    pub(crate) cpu_vendor: String,
    pub(crate) cpu_model: String,
    pub(crate) cpu_features: Vec<String>,
    pub(crate) licensed: Vec<String>,
    pub(crate) networks: Vec<String>,
    pub(crate) numa: Vec<NumaCell>,
    /// Sorted, deduplicated: the datastore columns.
    pub(crate) datastores: Vec<String>,
}

impl ClassKey {
    pub(crate) fn of(h: &HostSnapshot) -> Self {
        ClassKey {
            cluster: h.cluster,
            reachable: h.reachable,
            maintenance: h.maintenance,
            failover_reserved: h.failover_reserved,
            powered_on: h.powered_on,
            dedicated_to: h.dedicated_to,
            cpu_vendor: h.cpu_vendor.clone(),
            cpu_model: h.cpu_model.clone(),
            cpu_features: sorted_set(&h.cpu_features),
            licensed: sorted_set(&h.licensed_software),
            networks: sorted_set(&h.networks),
            numa: h.numa_cells.clone(),
            datastores: sorted_set(
                &h.datastores
                    .iter()
                    .map(|(n, _)| n.clone())
                    .collect::<Vec<_>>(),
            ),
        }
    }
}

pub(crate) fn sorted_set(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v.dedup();
    v
}

/// Interned names: the static filters compare integers and test bits.
#[derive(Debug, Clone, Default)]
pub(crate) struct Vocab {
    pub(crate) vendors: BTreeMap<String, u32>,
    pub(crate) models: BTreeMap<String, u32>,
    pub(crate) features: BTreeMap<String, u32>,
    pub(crate) licences: BTreeMap<String, u32>,
    pub(crate) networks: BTreeMap<String, u32>,
}

pub(crate) fn intern(map: &mut BTreeMap<String, u32>, s: &str) -> u32 {
    let n = map.len() as u32;
    *map.entry(s.to_owned()).or_insert(n)
}

pub(crate) fn bits(map: &mut BTreeMap<String, u32>, items: &[String]) -> Vec<u64> {
    let mut b = Vec::new();
    for s in items {
        let id = intern(map, s) as usize;
        if b.len() <= id / 64 {
            b.resize(id / 64 + 1, 0);
        }
        b[id / 64] |= 1 << (id % 64);
    }
    b
}

pub(crate) fn has_bit(b: &[u64], id: u32) -> bool {
    let id = id as usize;
    b.get(id / 64).is_some_and(|w| w & (1 << (id % 64)) != 0)
}

/// The ids of `items`, or `None` when one is unknown to every host (then no host has it).
pub(crate) fn ids(map: &BTreeMap<String, u32>, items: &[String]) -> Option<Vec<u32>> {
    items.iter().map(|s| map.get(s).copied()).collect()
}

#[derive(Debug, Clone)]
pub(crate) struct Class {
    pub(crate) key: ClassKey,
    pub(crate) vendor: u32,
    pub(crate) model: u32,
    pub(crate) features: Vec<u64>,
    pub(crate) licensed: Vec<u64>,
    pub(crate) networks: Vec<u64>,
    pub(crate) layout: usize,
    pub(crate) cluster: usize,
    /// Counts in its cluster's balance (reachable, out of maintenance, powered on).
    pub(crate) active: bool,
    pub(crate) chunks: Range<usize>,
    pub(crate) len: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct Chunk {
    pub(crate) class: usize,
    pub(crate) slots: Range<usize>,
    pub(crate) min_rv: i128,
    pub(crate) max_rv: i128,
    pub(crate) min_rm: i128,
    pub(crate) max_rm: i128,
    pub(crate) ds_min: Vec<u64>,
    pub(crate) ds_max: Vec<u64>,
    /// Least vCPU and memory allocation, least and greatest memory share.
    pub(crate) min_av: u64,
    pub(crate) min_am: u64,
    pub(crate) q_min: u64,
    pub(crate) q_max: u64,
    /// Largest vCPU cap and logical CPUs, smallest and largest memory cap.
    pub(crate) vcap_max: u64,
    pub(crate) lcpus_max: u32,
    pub(crate) mcap_min: u64,
    pub(crate) mcap_max: u64,
    /// Best contention and licence values.
    pub(crate) contention: f64,
    pub(crate) licence: f64,
    /// The quietest peak hour of its hosts with a profile; whether some host has none.
    pub(crate) peak_min: Option<f64>,
    pub(crate) unprofiled: bool,
    /// Its first host in name order.
    pub(crate) min_rank: usize,
}

/// The least of convex `f` over the integers `lo..=hi` (`lo <= hi`) whose real minimum is at
/// `num / den` (`den > 0`): at the integer just below or above it, or at an end.
pub(crate) fn least_convex(
    lo: i128,
    hi: i128,
    num: i128,
    den: i128,
    f: impl Fn(i128) -> i128,
) -> i128 {
    let v = num.div_euclid(den);
    if v >= hi {
        f(hi)
    } else if v < lo {
        f(lo)
    } else {
        f(v).min(f((v + 1).min(hi)))
    }
}

/// A request's datastore needs against one datastore layout.
#[derive(Debug)]
pub(crate) struct DiskPlan {
    /// A named datastore the layout does not have.
    pub(crate) missing: bool,
    pub(crate) named: Vec<(usize, u64)>,
    pub(crate) col_need: Vec<u64>,
    pub(crate) unnamed: Option<u64>,
}

impl DiskPlan {
    pub(crate) fn new(cols: &[String], need: &DiskNeed) -> Self {
        let mut plan = DiskPlan {
            missing: false,
            named: Vec::new(),
            col_need: vec![0; cols.len()],
            unnamed: need.unnamed,
        };
        for (name, n) in &need.named {
            match cols.binary_search(name) {
                Ok(c) => {
                    plan.named.push((c, *n));
                    plan.col_need[c] = *n;
                }
                Err(_) => plan.missing = true,
            }
        }
        plan
    }

    pub(crate) fn row_fits(&self, row: &[u64]) -> bool {
        !self.missing
            && self.named.iter().all(|&(c, n)| row[c] >= n)
            && self.unnamed.is_none_or(|u| {
                row.iter()
                    .zip(&self.col_need)
                    .any(|(&free, &need)| free >= need.saturating_add(u))
            })
    }

    /// (every host of the chunk fits, no host fits), from the chunk's bounds.
    pub(crate) fn chunk(&self, ch: &Chunk) -> (bool, bool) {
        if self.missing {
            return (false, true);
        }
        let mut pass = self.named.iter().all(|&(c, n)| ch.ds_min[c] >= n);
        let mut fail = self.named.iter().any(|&(c, n)| ch.ds_max[c] < n);
        if let Some(u) = self.unnamed {
            let some_col = |bound: &[u64]| {
                bound
                    .iter()
                    .zip(&self.col_need)
                    .any(|(&free, &need)| free >= need.saturating_add(u))
            };
            pass &= some_col(&ch.ds_min);
            fail |= !some_col(&ch.ds_max);
        }
        (pass, fail)
    }

    /// The column the unnamed disks go to on commit: most room left after the named disks,
    /// then the first name.
    pub(crate) fn unnamed_target(&self, row: &[u64]) -> Option<usize> {
        let mut best: Option<(usize, u64)> = None;
        for (c, (&free, &need)) in row.iter().zip(&self.col_need).enumerate() {
            let left = free.saturating_sub(need);
            if best.is_none_or(|(_, b)| left > b) {
                best = Some((c, left));
            }
        }
        best.map(|(c, _)| c)
    }
}

/// A scored candidate in the top-k selection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cand {
    pub(crate) score: f64,
    pub(crate) rank: usize,
    /// Host index.
    pub(crate) idx: usize,
    pub(crate) eval: Eval,
}

pub(crate) fn better(a: &Cand, b: &Cand) -> bool {
    a.score > b.score || (a.score == b.score && a.rank < b.rank)
}

/// The best `want` candidates, best first.
#[derive(Debug)]
pub(crate) struct TopK {
    pub(crate) want: usize,
    pub(crate) items: Vec<Cand>,
}

impl TopK {
    pub(crate) fn new(want: usize) -> Self {
        TopK {
            want,
            items: Vec::with_capacity(want + 1),
        }
    }

    /// No host with a score at most `ub` and a name rank at least `rank` can enter.
    pub(crate) fn closed_to(&self, ub: f64, rank: usize) -> bool {
        self.items.len() >= self.want && {
            let last = &self.items[self.want - 1];
            ub < last.score || (ub == last.score && rank > last.rank)
        }
    }

    pub(crate) fn offer(&mut self, c: Cand) {
        if self.items.len() >= self.want && !better(&c, &self.items[self.want - 1]) {
            return;
        }
        let pos = self.items.partition_point(|x| better(x, &c));
        self.items.insert(pos, c);
        self.items.truncate(self.want);
    }
}

/// A chunk to visit, ordered by its score bound (highest first), then its first name.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Visit {
    pub(crate) ub: f64,
    /// The balance contribution in `ub`.
    pub(crate) balance: f64,
    pub(crate) min_rank: usize,
    pub(crate) chunk: usize,
    pub(crate) all_feasible: bool,
}

impl PartialEq for Visit {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for Visit {}

impl PartialOrd for Visit {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Visit {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.ub
            .total_cmp(&other.ub)
            .then(other.min_rank.cmp(&self.min_rank))
            .then(other.chunk.cmp(&self.chunk))
    }
}

/// The request's names as the index's ids: `None` inside = a name no host has.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub(crate) vendor: Option<Option<u32>>,
    pub(crate) model: Option<Option<u32>>,
    pub(crate) features: Option<Vec<u32>>,
    pub(crate) licences: Option<Vec<u32>>,
    pub(crate) networks: Option<Vec<u32>>,
}

impl Compiled {
    pub(crate) fn new(req: &VmRequest, v: &Vocab) -> Self {
        Compiled {
            vendor: req.cpu_vendor.as_ref().map(|s| v.vendors.get(s).copied()),
            model: req.cpu_model.as_ref().map(|s| v.models.get(s).copied()),
            features: ids(&v.features, &req.cpu_features),
            licences: ids(&v.licences, &req.licensed_software),
            networks: ids(&v.networks, &req.networks),
        }
    }

    /// [`static_filter`] on a class, with ids and bitsets.
    pub(crate) fn filter(&self, c: &Class, req: &VmRequest) -> Option<Filter> {
        let k = &c.key;
        let all = |want: &Option<Vec<u32>>, have: &[u64]| {
            want.as_ref()
                .is_some_and(|ids| ids.iter().all(|id| has_bit(have, *id)))
        };
        if !k.reachable {
            Some(Filter::Unreachable)
        } else if k.maintenance {
            Some(Filter::Maintenance)
        } else if k.failover_reserved && !req.ha_restart {
            Some(Filter::Failover)
        } else if k.dedicated_to.is_some() && k.dedicated_to != req.department {
            Some(Filter::Department)
        } else if self.vendor.is_some_and(|v| v != Some(c.vendor))
            || self.model.is_some_and(|m| m != Some(c.model))
            || !all(&self.features, &c.features)
        {
            Some(Filter::Cpu)
        } else if !all(&self.licences, &c.licensed) {
            Some(Filter::Licence)
        } else if !all(&self.networks, &c.networks) {
            Some(Filter::Network)
        } else if !numa_fits(&k.numa, req.vcpus, req.memory_mib) {
            Some(Filter::Numa)
        } else {
            None
        }
    }
}

/// What one rating knows about the request against the index.
pub(crate) struct Scan<'a, 'r> {
    pub(crate) p: Prepared<'r>,
    pub(crate) aff: &'a BTreeMap<usize, u32>,
    pub(crate) anti: &'a BTreeMap<usize, u32>,
    /// Hosts with members of the request's groups, sorted: evaluated one by one.
    pub(crate) specials: Vec<usize>,
    pub(crate) special_chunks: Vec<usize>,
    pub(crate) class_verdict: Vec<Option<Filter>>,
    pub(crate) class_mask: Vec<u8>,
    /// Per datastore layout.
    pub(crate) plans: Vec<DiskPlan>,
    /// The VM profile's quietest hour.
    pub(crate) vm_min: f64,
}

pub(crate) fn count_in(sorted: &[usize], x: usize) -> usize {
    sorted.partition_point(|&y| y <= x) - sorted.partition_point(|&y| y < x)
}
