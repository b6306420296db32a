//! `vdc bench placement`: explained placement decisions at fleet scale, on host shapes from
//! real libvirt capability dumps and VM sizes, arrival order and lifetimes from the Azure V1
//! trace (`testdata/`), against a naive baseline in the same process.

use anyhow::{Context, Result, bail};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use vdc_driver::shapes::{HostShape, from_capabilities_xml_assuming_memory};
use vdc_engine::rating::{self, HostSnapshot, Policy, Rater, VmRequest};
use vdc_types::{ClusterId, HostId};

use crate::azure::{self, Arrival};
use crate::percentile;

#[derive(Debug, clap::Args)]
pub struct PlacementArgs {
    #[arg(long, default_value_t = 10_000)]
    hosts: usize,
    /// How many arrivals of the trace to place (the decision stream).
    #[arg(long, default_value_t = 50_000)]
    vms: usize,
    /// Hosts explained per decision (the rest are counted by rejection reason).
    #[arg(long, default_value_t = 10)]
    explain: usize,
    /// The naive baseline decides every Nth decision of the stream, on the same fleet state.
    #[arg(long, default_value_t = 50)]
    baseline_every: usize,
    /// Replay the whole Azure trace with lifetimes instead, comparing vdc's ranking with
    /// first-fit and best-fit.
    #[arg(long)]
    replay_azure: bool,
    /// The data folder (libvirt-capabilities, azure-v1-vm-arrivals: the repository's `testdata/`, or your own in the same layout).
    #[arg(long, env = "VDC_BENCH_DATA", default_value = "testdata")]
    data: PathBuf,
    /// Print one JSON object as the last line.
    #[arg(long)]
    json: bool,
}

/// Host shapes from every `virsh capabilities` dump in `dir` (domain capabilities skipped).
fn shapes(dir: &Path) -> Result<Vec<HostShape>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("read {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "xml") && !p.to_string_lossy().contains("domcaps")
        })
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let xml = std::fs::read_to_string(&f)?;
        // Dumps that state no memory get 64 GiB, a common size.
        if let Ok(s) = from_capabilities_xml_assuming_memory(&xml, 64 * 1024)
            && s.topology.logical_cpus() > 0
        {
            out.push(s);
        }
    }
    if out.is_empty() {
        bail!("no host capabilities in {}", dir.display());
    }
    Ok(out)
}

/// Hosts per cluster in the benchmark fleet (vSphere allows up to 96).
const CLUSTER_SIZE: usize = 64;

/// `n` hosts in clusters of [`CLUSTER_SIZE`], each cluster of one shape (clusters are
/// bought as one hardware generation), cycling through `shapes`; vCPU overcommit 4:1, no
/// memory overcommit.
fn fleet(shapes: &[HostShape], n: usize) -> Vec<HostSnapshot> {
    let clusters: Vec<ClusterId> = (0..n.div_ceil(CLUSTER_SIZE))
        .map(|_| ClusterId::new())
        .collect();
    (0..n)
        .map(|i| {
            let s = &shapes[(i / CLUSTER_SIZE) % shapes.len()];
            HostSnapshot {
                id: HostId::new(),
                name: format!("host-{i:05}"),
                cluster: clusters[i / CLUSTER_SIZE],
                reachable: true,
                maintenance: false,
                powered_on: true,
                logical_cpus: s.topology.logical_cpus(),
                memory_mib: s.memory_mib,
                numa_cells: s.numa_cells.clone(),
                allocated_vcpus: 0,
                allocated_memory_mib: 0,
                vcpu_ratio: 4.0,
                memory_ratio: 1.0,
                cpu_vendor: s.cpu_vendor.clone(),
                cpu_model: s.cpu_model.clone(),
                cpu_features: s.cpu_features.clone(),
                datastores: vec![("local".into(), 4096)],
                networks: vec!["default".into()],
                dedicated_to: None,
                licensed_software: Vec::new(),
                licence_cost_per_vcpu: 0.0,
                cpu_load: 0.0,
                hourly_load: None,
                vcpu_wait: 0.0,
                groups: Vec::new(),
                failover_reserved: false,
            }
        })
        .collect()
}

fn request(a: &Arrival) -> VmRequest {
    VmRequest {
        vcpus: a.vcpus,
        memory_mib: a.memory_mib,
        networks: vec!["default".into()],
        ..VmRequest::default()
    }
}

/// A placement strategy under replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strategy {
    /// vdc's rating (the chosen host).
    Vdc,
    /// The first host, in fleet order, with room.
    FirstFit,
    /// The host with room whose free memory after placement is smallest.
    BestFit,
}

/// Capacity and use of one host during a replay.
#[derive(Debug, Clone, Copy)]
struct Slot {
    vcpu_cap: u64,
    mem_cap: u64,
    vcpus: u64,
    mem: u64,
    vms: u32,
}

impl Slot {
    fn fits(&self, a: &Arrival) -> bool {
        self.vcpus + u64::from(a.vcpus) <= self.vcpu_cap && self.mem + a.memory_mib <= self.mem_cap
    }
}

/// The outcome of replaying the trace with one strategy.
#[derive(Debug, Clone, Copy, serde::Serialize)]
struct Replay {
    accepted: usize,
    rejected: usize,
    peak_hosts_used: usize,
    /// Mean, over arrivals, of the share of memory left free on hosts that run VMs.
    mean_fragmentation: f64,
}

fn replay(hosts: &[HostSnapshot], arrivals: &[Arrival], strategy: Strategy) -> Replay {
    let mut slots: Vec<Slot> = hosts
        .iter()
        .map(|h| Slot {
            vcpu_cap: (f64::from(h.logical_cpus) * h.vcpu_ratio).floor() as u64,
            mem_cap: h.memory_mib,
            vcpus: 0,
            mem: 0,
            vms: 0,
        })
        .collect();
    let mut rater = (strategy == Strategy::Vdc).then(|| Rater::new(hosts, Policy::default()));
    let index: std::collections::HashMap<HostId, usize> =
        hosts.iter().enumerate().map(|(i, h)| (h.id, i)).collect();
    let mut ends: BinaryHeap<Reverse<(u64, usize, u64, u64)>> = BinaryHeap::new();
    let (mut accepted, mut rejected, mut used, mut peak) = (0, 0, 0usize, 0usize);
    let (mut frag_sum, mut cap_used, mut mem_used) = (0.0, 0u64, 0u64);
    for a in arrivals {
        while let Some(&Reverse((end, h, v, m))) = ends.peek() {
            if end > a.t_s {
                break;
            }
            ends.pop();
            let s = &mut slots[h];
            s.vcpus -= v;
            s.mem -= m;
            s.vms -= 1;
            mem_used -= m;
            if s.vms == 0 {
                used -= 1;
                cap_used -= s.mem_cap;
            }
            if let Some(r) = rater.as_mut() {
                r.release(hosts[h].id, v, m).expect("known host");
            }
        }
        let chosen = match strategy {
            Strategy::Vdc => {
                let r = rater.as_ref().expect("vdc strategy has a rater");
                r.rate_top(&request(a), 1).chosen.map(|id| index[&id])
            }
            Strategy::FirstFit => slots.iter().position(|s| s.fits(a)),
            Strategy::BestFit => slots
                .iter()
                .enumerate()
                .filter(|(_, s)| s.fits(a))
                .min_by_key(|(i, s)| (s.mem_cap - s.mem - a.memory_mib, *i))
                .map(|(i, _)| i),
        };
        match chosen {
            Some(h) => {
                accepted += 1;
                let s = &mut slots[h];
                if s.vms == 0 {
                    used += 1;
                    cap_used += s.mem_cap;
                }
                s.vcpus += u64::from(a.vcpus);
                s.mem += a.memory_mib;
                s.vms += 1;
                mem_used += a.memory_mib;
                peak = peak.max(used);
                if !a.censored {
                    ends.push(Reverse((
                        a.t_s + a.lifetime_s,
                        h,
                        u64::from(a.vcpus),
                        a.memory_mib,
                    )));
                }
                if let Some(r) = rater.as_mut() {
                    r.commit(hosts[h].id, &request(a)).expect("known host");
                }
            }
            None => rejected += 1,
        }
        if cap_used > 0 {
            frag_sum += 1.0 - mem_used as f64 / cap_used as f64;
        }
    }
    Replay {
        accepted,
        rejected,
        peak_hosts_used: peak,
        mean_fragmentation: frag_sum / arrivals.len().max(1) as f64,
    }
}

/// A VM placed during the decision stream: host index, vCPUs, memory, end time.
type Live = (usize, u64, u64, u64);

/// The VMs of `live` still running at `t_s`: dropped from the list, like a naive scheduler.
fn drop_ended(live: &mut Vec<Live>, t_s: u64) {
    live.retain(|p| p.3 > t_s);
}

/// The naive explained baseline: the VM list is the only state. Each decision recomputes
/// every host's use from it, then rates every host with the reference [`rating::rate`] (all
/// filters, all rankers, every host explained and sorted): the same answer as vdc, without an
/// index.
struct Naive {
    snap: Vec<HostSnapshot>,
}

impl Naive {
    fn decide(&mut self, live: &[Live], req: &VmRequest, policy: &Policy) -> rating::Rating {
        for h in &mut self.snap {
            h.allocated_vcpus = 0;
            h.allocated_memory_mib = 0;
        }
        for &(h, v, m, _) in live {
            self.snap[h].allocated_vcpus += v;
            self.snap[h].allocated_memory_mib += m;
        }
        rating::rate(&self.snap, req, policy)
    }
}

/// A simpler scan, for scale: the same recomputation, then the host with most free memory
/// after placement (no other filter, no ranking, nothing explained).
fn simple_scan(caps: &[(u64, u64)], live: &[Live], a: &Arrival) -> Option<usize> {
    let mut use_: Vec<(u64, u64)> = vec![(0, 0); caps.len()];
    for &(h, v, m, _) in live {
        use_[h].0 += v;
        use_[h].1 += m;
    }
    (0..caps.len())
        .filter(|&i| {
            use_[i].0 + u64::from(a.vcpus) <= caps[i].0 && use_[i].1 + a.memory_mib <= caps[i].1
        })
        .max_by_key(|&i| (caps[i].1 - use_[i].1 - a.memory_mib, Reverse(i)))
}

/// Seconds spent, and how many times.
#[derive(Debug, Default)]
struct Timer {
    secs: f64,
    n: usize,
}

impl Timer {
    fn time<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let t = Instant::now();
        let out = f();
        self.secs += t.elapsed().as_secs_f64();
        self.n += 1;
        out
    }

    fn per_s(&self) -> f64 {
        self.n as f64 / self.secs
    }
}

pub fn run(a: PlacementArgs) -> Result<()> {
    let shapes = shapes(&a.data.join("libvirt-capabilities"))?;
    let arrivals = azure::load(&a.data.join("azure-v1-vm-arrivals"))?;
    let hosts = fleet(&shapes, a.hosts);
    if a.replay_azure {
        return replay_all(&a, &hosts, &arrivals);
    }
    if a.baseline_every == 0 {
        bail!("--baseline-every must be at least 1");
    }
    let stream = &arrivals[..a.vms.min(arrivals.len())];
    let policy = Policy::default();
    let index: std::collections::HashMap<HostId, usize> =
        hosts.iter().enumerate().map(|(i, h)| (h.id, i)).collect();
    let caps: Vec<(u64, u64)> = hosts
        .iter()
        .map(|h| {
            (
                (f64::from(h.logical_cpus) * h.vcpu_ratio).floor() as u64,
                h.memory_mib,
            )
        })
        .collect();
    let built = Instant::now();
    let mut rater = Rater::new(&hosts, policy.clone());
    let build_ms = built.elapsed().as_secs_f64() * 1e3;
    let mut naive = Naive {
        snap: hosts.clone(),
    };
    let mut ends: BinaryHeap<Reverse<(u64, HostId, u64, u64)>> = BinaryHeap::new();
    let mut live: Vec<Live> = Vec::new();
    let mut lat_ms = Vec::with_capacity(stream.len());
    let (mut vdc, mut base, mut simple) = (Timer::default(), Timer::default(), Timer::default());
    let (mut placed, mut refused, mut disagreed) = (0usize, 0usize, 0usize);
    let progress = indicatif::ProgressBar::new(stream.len() as u64);
    for (n, arr) in stream.iter().enumerate() {
        let req = request(arr);
        let sampled = n % a.baseline_every == 0;
        let naive_rating = sampled.then(|| {
            simple.time(|| {
                let mut l = live.clone();
                drop_ended(&mut l, arr.t_s);
                simple_scan(&caps, &l, arr)
            });
            base.time(|| {
                drop_ended(&mut live, arr.t_s);
                naive.decide(&live, &req, &policy)
            })
        });
        drop_ended(&mut live, arr.t_s);
        let t = Instant::now();
        let rating = vdc.time(|| {
            while let Some(&Reverse((end, h, v, m))) = ends.peek() {
                if end > arr.t_s {
                    break;
                }
                ends.pop();
                rater.release(h, v, m).expect("known host");
            }
            let rating = rater.rate_top(&req, a.explain);
            if let Some(h) = rating.chosen {
                rater.commit(h, &req).expect("known host");
            }
            rating
        });
        lat_ms.push(t.elapsed().as_secs_f64() * 1e3);
        if let Some(full) = naive_rating
            && (full.chosen != rating.chosen
                || full.hosts[..rating.hosts.len()] != rating.hosts[..])
        {
            disagreed += 1;
        }
        match rating.chosen {
            Some(h) => {
                placed += 1;
                let end = if arr.censored {
                    u64::MAX
                } else {
                    arr.t_s + arr.lifetime_s
                };
                if !arr.censored {
                    ends.push(Reverse((end, h, u64::from(arr.vcpus), arr.memory_mib)));
                }
                live.push((index[&h], u64::from(arr.vcpus), arr.memory_mib, end));
            }
            None => refused += 1,
        }
        if n % 1024 == 0 {
            progress.set_position(n as u64);
        }
    }
    progress.finish_and_clear();
    let (per_s, baseline, simple_per_s) = (vdc.per_s(), base.per_s(), simple.per_s());
    lat_ms.sort_by(f64::total_cmp);
    let (p50, p99) = (percentile(&lat_ms, 50.0), percentile(&lat_ms, 99.0));
    println!(
        "vdc bench placement: {} hosts ({} shapes from libvirt capability dumps), {} Azure V1 arrivals",
        hosts.len(),
        shapes.len(),
        stream.len()
    );
    println!("  index built in {build_ms:.1} ms");
    println!(
        "  vdc: {per_s:.0} explained decisions/s (top {} hosts explained, rejections counted for all), p50 {p50:.3} ms, p99 {p99:.3} ms; {placed} placed, {refused} refused",
        a.explain
    );
    println!(
        "  baseline (every {}th decision, same fleet state: recompute every host's use from the VM list, rate every host): {baseline:.0} decisions/s over {} decisions; same answer as vdc in {} of them",
        a.baseline_every,
        base.n,
        base.n - disagreed
    );
    println!(
        "  for scale, the same recomputation with a most-free-memory scan (nothing explained): {simple_per_s:.0} decisions/s"
    );
    println!(
        "  vdc is {:.0}x the baseline; goal >= 10,000/s and >= 100x: {}",
        per_s / baseline,
        if per_s >= 10_000.0 && per_s >= 100.0 * baseline {
            "met"
        } else {
            "NOT met"
        }
    );
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "hosts": hosts.len(),
                "decisions": stream.len(),
                "placed": placed,
                "refused": refused,
                "decisions_per_s": per_s,
                "p50_ms": p50,
                "p99_ms": p99,
                "baseline_decisions_per_s": baseline,
                "baseline_decisions": base.n,
                "baseline_disagreed": disagreed,
                "simple_scan_decisions_per_s": simple_per_s,
                "speedup": per_s / baseline,
            })
        );
    }
    if disagreed > 0 {
        bail!("the index and the reference disagreed on {disagreed} decisions");
    }
    Ok(())
}

fn replay_all(a: &PlacementArgs, hosts: &[HostSnapshot], arrivals: &[Arrival]) -> Result<()> {
    println!(
        "vdc bench placement --replay-azure: {} Azure V1 arrivals with their lifetimes onto {} hosts",
        arrivals.len(),
        hosts.len()
    );
    let mut out = serde_json::Map::new();
    for (name, s) in [
        ("vdc", Strategy::Vdc),
        ("first_fit", Strategy::FirstFit),
        ("best_fit", Strategy::BestFit),
    ] {
        let t = Instant::now();
        let r = replay(hosts, arrivals, s);
        println!(
            "  {name:>9}: accepted {}, rejected {}, peak hosts used {}, mean fragmentation {:.3} ({:.1} s)",
            r.accepted,
            r.rejected,
            r.peak_hosts_used,
            r.mean_fragmentation,
            t.elapsed().as_secs_f64()
        );
        out.insert(name.into(), serde_json::to_value(r)?);
    }
    if a.json {
        let vdc = &out["vdc"];
        let mut line = serde_json::json!({
            "hosts": hosts.len(),
            "arrivals": arrivals.len(),
            "accepted": vdc["accepted"],
            "rejected": vdc["rejected"],
            "peak_hosts_used": vdc["peak_hosts_used"],
            "mean_fragmentation": vdc["mean_fragmentation"],
        });
        line["first_fit"] = out["first_fit"].clone();
        line["best_fit"] = out["best_fit"].clone();
        println!("{line}");
    }
    Ok(())
}
