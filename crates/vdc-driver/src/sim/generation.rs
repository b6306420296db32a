//! The deterministic fleet generator: host shapes, VMs with owners, sizes, disks, NICs and
//! guest OSes, placed the way a datacenter fills up.

use super::*;

// ---------------------------------------------------------------------------------------------
// Generation
// ---------------------------------------------------------------------------------------------

/// splitmix64: a tiny, good-enough, deterministic PRNG.
/// Wall-clock Unix milliseconds.
pub(crate) fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.0)
    }

    /// Uniform-enough in `0..n` (n > 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub(crate) fn uuid_hash(id: Uuid) -> u64 {
    let (a, b) = id.as_u64_pair();
    mix64(a ^ mix64(b))
}

pub(crate) const OWNERS: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
];
pub(crate) const DEPARTMENTS: &[&str] =
    &["engineering", "finance", "sales", "operations", "research"];
pub(crate) const PURPOSES: &[&str] = &[
    "web",
    "database",
    "build",
    "analytics",
    "cache",
    "ci-runner",
    "batch",
];
pub(crate) const VCPU_CHOICES: &[u32] = &[1, 2, 2, 4, 4, 8, 16];
pub(crate) const MIN_VM_MEMORY_MIB: u64 = 512;
pub(crate) const MEMORY_STEP_MIB: u64 = 512;
pub(crate) const MIN_DISK_GIB: u64 = 10;
pub(crate) const MAX_DISK_GIB: u64 = 200;
/// Share of fleet memory the generator fills at most, in percent.
pub(crate) const FILL_PERCENT: u64 = 85;

/// A VM's size and home, decided before it is built.
pub(crate) struct Placed {
    pub(crate) host: usize,
    pub(crate) vcpus: u32,
    pub(crate) memory_mib: u64,
    pub(crate) disk_gib: u64,
    pub(crate) fits: bool,
}

/// `vcpus`, or the largest power of two that leaves at least 1 GiB per vCPU.
pub(crate) fn fit_vcpus(vcpus: u32, memory_mib: u64) -> u32 {
    let max = u32::try_from((memory_mib / 1024).max(1)).unwrap_or(u32::MAX);
    if vcpus <= max {
        vcpus.max(1)
    } else {
        1 << max.ilog2()
    }
}

/// `vm-000123`, `52:54:00:0a:1b:2c`: written by hand, `format!` is slow in debug builds.
pub(crate) fn push_decimal(out: &mut String, n: usize, width: usize) {
    let digits = n.checked_ilog10().unwrap_or(0) as usize + 1;
    for _ in digits..width {
        out.push('0');
    }
    let mut div = 10usize.pow(digits as u32 - 1);
    while div > 0 {
        out.push(char::from(b'0' + ((n / div) % 10) as u8));
        div /= 10;
    }
}

pub(crate) fn mac_address(low24: u64) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut mac = String::with_capacity(17);
    mac.push_str("52:54:00");
    for shift in [16, 8, 0] {
        let byte = (low24 >> shift) & 0xff;
        mac.push(':');
        mac.push(char::from(HEX[(byte >> 4) as usize]));
        mac.push(char::from(HEX[(byte & 0xf) as usize]));
    }
    mac
}

/// Decides every VM's size and host: sizes scaled down together when the fleet cannot hold
/// them, then each VM on the least utilised host it fits on.
pub(crate) fn place(hosts: &[Host], rng: &mut SplitMix64, count: usize) -> Vec<Placed> {
    let mut placed: Vec<Placed> = (0..count)
        .map(|_| {
            let vcpus = *rng.pick(VCPU_CHOICES);
            let per_vcpu_gib = 1 + rng.below(4);
            Placed {
                host: 0,
                vcpus,
                memory_mib: u64::from(vcpus) * per_vcpu_gib * 1024,
                disk_gib: MIN_DISK_GIB + rng.below(MAX_DISK_GIB - MIN_DISK_GIB + 1),
                fits: false,
            }
        })
        .collect();
    let capacity: u128 = hosts.iter().map(|h| u128::from(h.shape.memory_mib)).sum();
    let budget = capacity * u128::from(FILL_PERCENT) / 100;
    let demand: u128 = placed.iter().map(|p| u128::from(p.memory_mib)).sum();
    if demand > budget {
        for p in &mut placed {
            let scaled = u64::try_from(u128::from(p.memory_mib) * budget / demand).unwrap_or(0);
            p.memory_mib = (scaled / MEMORY_STEP_MIB * MEMORY_STEP_MIB).max(MIN_VM_MEMORY_MIB);
            p.vcpus = fit_vcpus(p.vcpus, p.memory_mib);
        }
    }

    // Water-filling: a cursor walks the hosts round-robin and puts the VM on the first host
    // whose memory stays within `level` sixty-fourths and whose local pool has room; when a
    // whole round finds none, the level rises. Every host ends up about equally utilised, at
    // O(1) amortised per VM plus one round per level step.
    const LEVELS: u64 = 64;
    let n = hosts.len();
    let caps: Vec<u64> = hosts.iter().map(|h| h.shape.memory_mib).collect();
    let disk_caps: Vec<u64> = hosts.iter().map(|h| h.local_capacity_gib).collect();
    let mut used = vec![0u64; n];
    let mut disk_used = vec![0u64; n];
    let mut level = 1u64;
    let mut cursor = 0usize;
    // Set once no host can take even the smallest VM; from then on VMs overflow.
    let mut full = false;
    for (i, p) in placed.iter_mut().enumerate() {
        let mut chosen = None;
        while !full && chosen.is_none() {
            let mut h = cursor;
            for _ in 0..n {
                if used[h] + p.memory_mib <= caps[h].saturating_mul(level) / LEVELS
                    && disk_used[h] + p.disk_gib <= disk_caps[h]
                {
                    chosen = Some(h);
                    break;
                }
                h += 1;
                if h == n {
                    h = 0;
                }
            }
            if chosen.is_some() {
                break;
            }
            if level < LEVELS {
                level += 1;
                continue;
            }
            // Fits nowhere: shrink it to the largest memory gap among hosts with disk room.
            let gap =
                |k: usize| caps[k].saturating_sub(used[k]) / MEMORY_STEP_MIB * MEMORY_STEP_MIB;
            let best = (0..n)
                .filter(|&k| disk_caps[k].saturating_sub(disk_used[k]) >= MIN_DISK_GIB)
                .max_by_key(|&k| (gap(k), Reverse(k)));
            match best {
                Some(k) if gap(k) >= MIN_VM_MEMORY_MIB => {
                    p.memory_mib = gap(k).min(p.memory_mib);
                    p.vcpus = fit_vcpus(p.vcpus, p.memory_mib);
                    p.disk_gib = p.disk_gib.min(disk_caps[k] - disk_used[k]);
                    chosen = Some(k);
                }
                _ => full = true,
            }
        }
        match chosen {
            Some(h) => {
                used[h] += p.memory_mib;
                disk_used[h] += p.disk_gib;
                p.host = h;
                p.fits = true;
                cursor = if h + 1 == n { 0 } else { h + 1 };
            }
            None => p.host = i % n,
        }
    }
    placed
}

/// Guest OSes of generated VMs, as virt-install records them (libosinfo ids).
pub(crate) const GUEST_OSES: &[&str] = &[
    "http://debian.org/debian/12",
    "http://debian.org/debian/11",
    "http://redhat.com/rhel/9.4",
    "http://redhat.com/rhel/9.2",
    "http://redhat.com/rhel/8.10",
    "http://ubuntu.com/ubuntu/24.04",
    "http://ubuntu.com/ubuntu/22.04",
    "http://ubuntu.com/ubuntu/20.04",
    "http://microsoft.com/win/2k19",
    "http://microsoft.com/win/2k22",
];

pub(crate) fn generate_vms(inner: &mut Inner, count: usize, seed: u64) {
    if inner.hosts.is_empty() || count == 0 {
        return;
    }
    let mut rng = SplitMix64(seed);
    let placed = place(&inner.hosts, &mut rng, count);

    let mut per_host = vec![0usize; inner.hosts.len()];
    for p in &placed {
        per_host[p.host] += 1;
    }
    for (host, n) in inner.hosts.iter_mut().zip(per_host) {
        host.vms.reserve(n);
    }
    inner.index.reserve(count);

    let mac_mask = mix64(seed) & 0x00FF_FFFF;
    for (i, p) in placed.into_iter().enumerate() {
        let running = p.fits && rng.below(10) < 8;
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
        let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
        let owner = *rng.pick(OWNERS);
        let department = *rng.pick(DEPARTMENTS);
        let purpose = *rng.pick(PURPOSES);
        let tag = if rng.below(10) < 6 { "prod" } else { "dev" };
        // A repeated UUID (122 random bits: never in practice) is skipped rather than
        // allowed to corrupt the index.
        let Entry::Vacant(slot) = inner.index.entry(id) else {
            continue;
        };
        slot.insert(p.host);
        inner.generation += 1;
        let mut name = String::with_capacity(10);
        name.push_str("vm-");
        push_decimal(&mut name, i + 1, 6);
        let state = if running {
            PowerState::Running
        } else {
            PowerState::Shutoff
        };
        let vm = SimVm {
            id,
            name,
            vcpus: p.vcpus,
            memory_mib: p.memory_mib,
            disks: vec![SimDisk {
                device: Cow::Borrowed("vda"),
                size_gib: p.disk_gib,
                datastore: Cow::Borrowed(LOCAL_DATASTORE),
                format: Cow::Borrowed("qcow2"),
            }],
            nics: vec![SimNic {
                mac: mac_address(((i as u64 + 1) ^ mac_mask) & 0x00FF_FFFF),
                network: Cow::Borrowed(DEFAULT_NETWORK),
            }],
            metadata: SimMetadata {
                managed: true,
                owner: Some(Cow::Borrowed(owner)),
                department: Some(Cow::Borrowed(department)),
                purpose: Some(Cow::Borrowed(purpose)),
                tags: vec![Cow::Borrowed(tag)],
                lease_expires_at: None,
            },
            // From the UUID, not the generator's stream: fleets of a seed keep their shape.
            os_id: Some(Cow::Borrowed(
                GUEST_OSES[(uuid_hash(id) % GUEST_OSES.len() as u64) as usize],
            )),
            snapshots: Vec::new(),
            state,
            generation: inner.generation,
            shutdown_at: None,
            cpu_ns: 0,
            burning_since: running.then_some(Duration::ZERO),
            load_permille: load_permille(id),
        };
        let host = &mut inner.hosts[p.host];
        host.local_used_gib = host.local_used_gib.saturating_add(p.disk_gib);
        host.vms.insert(id, vm);
    }
}
