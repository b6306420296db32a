//! Times host rating on a generated 10,000-host fleet: building the index, `Rater::rate_top`
//! (k = 10) with and without committing each decision, and the full reference `rate`; checks
//! on a sample that both agree. Run with
//!
//! ```sh
//! cargo run --release -p vdc-bench --example rating_bench [-- HOSTS DECISIONS [CHUNK]]
//! ```

use std::time::Instant;

use uuid::Uuid;
use vdc_engine::rating::{HostSnapshot, NumaCell, Policy, Rater, VmRequest, rate};
use vdc_types::{ClusterId, DepartmentId, HostId};

/// splitmix64: a deterministic fleet and request stream without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

const MODELS: [(&str, &str); 3] = [
    ("GenuineIntel", "Skylake-Server"),
    ("GenuineIntel", "Icelake-Server"),
    ("AuthenticAMD", "EPYC-Milan"),
];

fn profile(rng: &mut Rng, peak: f64) -> [f64; 24] {
    let shift = rng.below(24) as usize;
    let mut p = [0.0; 24];
    for (h, v) in p.iter_mut().enumerate() {
        let hour = (h + shift) % 24;
        let day = (8..18).contains(&hour);
        *v = if day { peak } else { peak * 0.3 };
    }
    p
}

fn fleet(n: usize, rng: &mut Rng) -> Vec<HostSnapshot> {
    let clusters = (n / 500).max(1);
    (0..n)
        .map(|i| {
            let c = i % clusters;
            let (vendor, model) = MODELS[c % MODELS.len()];
            let (cpus, mem_gib) = [(32u32, 256u64), (64, 512), (96, 768)][rng.below(3) as usize];
            let memory_mib = mem_gib * 1024;
            let memory_ratio = if c.is_multiple_of(4) { 1.2 } else { 1.0 };
            let used = 0.2 + 0.75 * rng.unit();
            let vcap = u64::from(cpus) * 4;
            let mcap = (memory_mib as f64 * memory_ratio) as u64;
            let mut features = vec!["avx2".to_string(), "sse4_2".to_string()];
            if model != "Skylake-Server" {
                features.push("avx512vnni".into());
            }
            features.sort();
            let groups = if rng.chance(0.06) {
                vec![(format!("app-{}", rng.below(300)), 1)]
            } else {
                vec![]
            };
            HostSnapshot {
                id: HostId(Uuid::from_u128(i as u128 + 1)),
                name: format!("c{c:02}-h{i:05}"),
                cluster: ClusterId(Uuid::from_u128(1_000_000 + c as u128)),
                reachable: !rng.chance(0.005),
                maintenance: rng.chance(0.02),
                powered_on: !rng.chance(0.05),
                logical_cpus: cpus,
                memory_mib,
                numa_cells: (0..2)
                    .map(|id| NumaCell {
                        id,
                        cpus: cpus / 2,
                        memory_mib: memory_mib / 2,
                    })
                    .collect(),
                allocated_vcpus: (vcap as f64 * used * (0.8 + 0.4 * rng.unit())) as u64,
                allocated_memory_mib: (mcap as f64 * used) as u64,
                vcpu_ratio: 4.0,
                memory_ratio,
                cpu_vendor: vendor.into(),
                cpu_model: model.into(),
                cpu_features: features,
                datastores: vec![
                    (format!("c{c:02}-san1"), 2000 + rng.below(20000)),
                    (format!("c{c:02}-san2"), rng.below(5000)),
                    ("local".into(), rng.below(800)),
                ],
                networks: vec!["backup".into(), "prod".into(), format!("vlan-{}", c % 7)],
                dedicated_to: rng
                    .chance(0.05)
                    .then(|| DepartmentId(Uuid::from_u128(77 + u128::from(rng.below(3) as u8)))),
                licensed_software: if c.is_multiple_of(3) {
                    vec!["mssql".into()]
                } else {
                    vec![]
                },
                licence_cost_per_vcpu: if c.is_multiple_of(3) { 50.0 } else { 5.0 },
                cpu_load: used,
                hourly_load: rng.chance(0.9).then(|| {
                    let peak = used * 0.9;
                    profile(rng, peak)
                }),
                vcpu_wait: 0.05 * rng.unit(),
                groups,
                failover_reserved: false,
            }
        })
        .collect()
}

fn request(rng: &mut Rng, clusters: usize) -> VmRequest {
    let kind = rng.below(10);
    let (vcpus, memory_mib) = match kind {
        0..=6 => (2, 4096 * (1 + rng.below(2))),
        7 | 8 => (8, 32768),
        _ => (32, 262_144),
    };
    let c = rng.below(clusters as u64);
    let mut req = VmRequest {
        vcpus,
        memory_mib,
        disks: vec![(None, 40)],
        networks: vec!["prod".into()],
        ..VmRequest::default()
    };
    if rng.chance(0.2) {
        req.disks.push((Some(format!("c{c:02}-san2")), 200));
    }
    if rng.chance(0.1) {
        req.cpu_features = vec!["avx512vnni".into()];
    }
    if rng.chance(0.1) {
        req.licensed_software = vec!["mssql".into()];
    }
    if rng.chance(0.1) {
        req.department = Some(DepartmentId(Uuid::from_u128(
            77 + u128::from(rng.below(3) as u8),
        )));
    }
    if rng.chance(0.2) {
        req.anti_affinity = Some(format!("app-{}", rng.below(300)));
    } else if rng.chance(0.1) {
        req.affinity = Some(format!("app-{}", rng.below(300)));
    }
    if rng.chance(0.5) {
        req.hourly_load = Some(profile(rng, 0.6));
    }
    req
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let decisions: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let chunk: Option<usize> = args.next().and_then(|a| a.parse().ok());
    let mut rng = Rng(42);
    let hosts = fleet(n, &mut rng);
    let clusters = (n / 500).max(1);
    let reqs: Vec<VmRequest> = (0..decisions)
        .map(|_| request(&mut rng, clusters))
        .collect();
    let policy = Policy::default();

    let t = Instant::now();
    let rater = match chunk {
        Some(c) => Rater::with_chunk_size(&hosts, policy.clone(), c),
        None => Rater::new(&hosts, policy.clone()),
    };
    println!(
        "hosts {n}: Rater::new {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );

    // Read-only: every request against the same snapshot.
    let t = Instant::now();
    let mut fitted = 0;
    for r in &reqs {
        fitted += usize::from(rater.rate_top(r, 10).chosen.is_some());
    }
    let per = t.elapsed().as_secs_f64() / decisions as f64;
    println!(
        "rate_top(k=10), no commit: {:.1} µs/decision, {:.0} decisions/s ({fitted}/{decisions} placed)",
        per * 1e6,
        1.0 / per
    );

    // Arrivals: commit each decision, as the server would.
    let mut live = rater.clone();
    let t = Instant::now();
    let mut placed = 0;
    for r in &reqs {
        if let Some(h) = live.rate_top(r, 10).chosen {
            live.commit(h, r).expect("chosen host is indexed");
            placed += 1;
        }
    }
    let per = t.elapsed().as_secs_f64() / decisions as f64;
    println!(
        "rate_top(k=10) + commit: {:.1} µs/decision, {:.0} decisions/s ({placed} placed)",
        per * 1e6,
        1.0 / per
    );

    // The reference, on a sample; the index must agree with it.
    let sample = 50.min(decisions);
    let t = Instant::now();
    let full: Vec<_> = reqs[..sample]
        .iter()
        .map(|r| rate(&hosts, r, &policy))
        .collect();
    let per = t.elapsed().as_secs_f64() / sample as f64;
    println!("rate (full, reference): {:.2} ms/decision", per * 1e3);
    for (r, f) in reqs[..sample].iter().zip(&full) {
        let top = rater.rate_top(r, 10);
        assert_eq!(top.chosen, f.chosen);
        assert_eq!(top.rejected, f.rejected);
        assert_eq!(top.hosts[..], f.hosts[..10.min(n)]);
    }
    println!("rate_top agrees with rate on {sample} requests");
    if let Some(f) = full.iter().find(|f| f.chosen.is_some()) {
        let h = &f.hosts[0];
        println!(
            "example: {} {:.1} stars (score {:.3}); refused: {}",
            h.name,
            h.stars,
            h.score,
            f.explain_rejections()
        );
    }
}
