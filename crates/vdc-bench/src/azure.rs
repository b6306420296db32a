//! The Azure Public Dataset V1 VM arrivals as processed by huaweicloud/trace_generation_rnn
//! (`testdata/azure-v1-vm-arrivals`): one line per 5-minute bin, `<t_seconds> <token>,…`
//! with `|` between tenants' batches; the flavors file gives each VM's size letter, the
//! durations file its lifetime bin (`U<k>` ended, `C<k>` still running at the trace's end).
//! Read by the placement benchmark only.

use crate::read_gz;
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::Path;

/// One VM creation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Arrival {
    /// Seconds since the start of the Azure trace.
    pub t_s: u64,
    pub vcpus: u32,
    pub memory_mib: u64,
    /// Lifetime (the middle of its duration bin); for a censored VM, how long it had run.
    pub lifetime_s: u64,
    /// Still running when the trace ends.
    pub censored: bool,
}

/// Flavor letter → (vCPUs, memory MiB), from `maps/flav_map.txt` lines `2,3.5 g`.
fn flavors(text: &str) -> Result<BTreeMap<String, (u32, u64)>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (size, letter) = l
                .split_once(' ')
                .with_context(|| format!("flavor line {l:?}"))?;
            let (cpu, gb) = size
                .split_once(',')
                .with_context(|| format!("flavor size {size:?}"))?;
            let gb: f64 = gb
                .parse()
                .with_context(|| format!("flavor memory {gb:?}"))?;
            Ok((
                letter.trim().to_string(),
                (cpu.parse()?, (gb * 1024.0).round() as u64),
            ))
        })
        .collect()
}

/// Duration bin → seconds (the middle of the durations mapped to it), from
/// `maps/v1.interval_map.txt` lines `<seconds> <bin>`.
fn bins(text: &str) -> Result<BTreeMap<u32, u64>> {
    let mut range: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
    for l in text.lines().filter(|l| !l.trim().is_empty()) {
        let (secs, bin) = l
            .split_once(' ')
            .with_context(|| format!("interval line {l:?}"))?;
        let (secs, bin): (u64, u32) = (secs.parse()?, bin.trim().parse()?);
        let r = range.entry(bin).or_insert((secs, secs));
        r.0 = r.0.min(secs);
        r.1 = r.1.max(secs);
    }
    Ok(range
        .into_iter()
        .map(|(b, (lo, hi))| (b, (lo + hi) / 2))
        .collect())
}

/// Every VM creation of the trace in `dir`, in arrival order.
pub fn load(dir: &Path) -> Result<Vec<Arrival>> {
    let flav = flavors(&std::fs::read_to_string(dir.join("maps/flav_map.txt"))?)?;
    let bins = bins(&std::fs::read_to_string(
        dir.join("maps/v1.interval_map.txt"),
    )?)?;
    let sizes = read_gz(&dir.join("v1.dev.flavors.txt.gz"))?;
    let lives = read_gz(&dir.join("v1.dev.c2100000.durations.txt.gz"))?;
    let mut out = Vec::new();
    for (n, (s, d)) in sizes.lines().zip(lives.lines()).enumerate() {
        let (t, s) = s.split_once(' ').unwrap_or((s, ""));
        let (t2, d) = d.split_once(' ').unwrap_or((d, ""));
        if t != t2 {
            bail!("line {}: flavors at t={t}, durations at t={t2}", n + 1);
        }
        let t_s: u64 = t.parse().with_context(|| format!("line {}: time", n + 1))?;
        let size_tokens = s.split(',').filter(|x| !x.is_empty() && *x != "|");
        let life_tokens = d.split(',').filter(|x| !x.is_empty() && *x != "|");
        for (letter, life) in size_tokens.zip(life_tokens) {
            let &(vcpus, memory_mib) = flav
                .get(letter)
                .with_context(|| format!("line {}: unknown flavor {letter:?}", n + 1))?;
            let (censored, bin) = match life.split_at(1) {
                ("U", b) => (false, b),
                ("C", b) => (true, b),
                _ => bail!("line {}: bad lifetime {life:?}", n + 1),
            };
            let bin: u32 = bin
                .parse()
                .with_context(|| format!("line {}: lifetime {life:?}", n + 1))?;
            let lifetime_s = *bins
                .get(&bin)
                .with_context(|| format!("line {}: unknown lifetime bin {bin}", n + 1))?;
            out.push(Arrival {
                t_s,
                vcpus,
                memory_mib,
                lifetime_s,
                censored,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_parse() {
        let f = flavors("1,0.75 a\n16,112 d\n").unwrap();
        assert_eq!(f["a"], (1, 768));
        assert_eq!(f["d"], (16, 112 * 1024));
        let b = bins("0 0\n300 1\n600 1\n900 2\n").unwrap();
        assert_eq!(b[&1], 450);
        assert!(flavors("garbage").is_err());
    }

    /// The published trace as it is: every creation read, sizes from the 16 flavors.
    #[test]
    fn loads_the_shared_trace() {
        let dir = std::env::var("VDC_TEST_DATA")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata"))
            .join("azure-v1-vm-arrivals");
        let all = load(&dir).expect("the Azure trace (the repository's testdata/)");
        assert_eq!(all.len(), 259_159);
        assert!(all.windows(2).all(|w| w[0].t_s <= w[1].t_s));
        assert_eq!(all.iter().map(|a| a.vcpus).max(), Some(16));
        assert!(all.iter().any(|a| a.censored) && all.iter().any(|a| !a.censored));
        assert!(all.iter().all(|a| a.memory_mib >= 768));
    }
}
