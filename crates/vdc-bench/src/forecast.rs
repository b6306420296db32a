//! `vdc bench forecast`: how well the capacity trend predicts, on the full-quarter Bitbrains
//! VMs (`testdata/bitbrains-rnd/full`): fit each VM's daily 95th-percentile CPU and memory
//! use on July, predict every day of August and September, and compare with two naive
//! forecasts in the same run (July's last week held flat; a least-squares line).

use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;
use vdc_engine::forecast;

use crate::read_gz;

#[derive(Debug, clap::Args)]
pub struct ForecastArgs {
    /// The data folder (bitbrains-rnd: the repository's `testdata/`, or your own in the same layout).
    #[arg(long, env = "VDC_BENCH_DATA", default_value = "testdata")]
    data: PathBuf,
    /// Print one JSON object as the last line.
    #[arg(long)]
    json: bool,
}

const DAY_S: f64 = 86_400.0;

/// A daily series and the capacity it is measured against.
struct Series {
    days: BTreeMap<i64, f64>,
    capacity: f64,
}

/// Per day (days since the Unix epoch), the 95th percentile of CPU use (MHz) and of memory use
/// (KB) over the day's samples of one VM file (`;\t`-separated, timestamp in seconds), with
/// the largest provisioned CPU and memory as capacities.
fn daily_p95(text: &str) -> Result<(Series, Series)> {
    let mut cpu: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    let mut mem: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    let (mut cpu_cap, mut mem_cap) = (0.0f64, 0.0f64);
    for (n, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split(';').map(str::trim).collect();
        if f.len() < 7 {
            continue;
        }
        let parse = |i: usize| {
            f[i].parse::<f64>()
                .with_context(|| format!("line {}: field {i}: {:?}", n + 1, f[i]))
        };
        let day = (parse(0)? / DAY_S).floor() as i64;
        cpu.entry(day).or_default().push(parse(3)?);
        mem.entry(day).or_default().push(parse(6)?);
        cpu_cap = cpu_cap.max(parse(2)?);
        mem_cap = mem_cap.max(parse(5)?);
    }
    let p95 = |m: BTreeMap<i64, Vec<f64>>, capacity| Series {
        days: m
            .into_iter()
            .map(|(d, mut v)| {
                v.sort_by(f64::total_cmp);
                let k = ((0.95 * v.len() as f64).ceil() as usize).clamp(1, v.len());
                (d, v[k - 1])
            })
            .collect(),
        capacity,
    };
    Ok((p95(cpu, cpu_cap), p95(mem, mem_cap)))
}

/// Ordinary least squares through `(day, value)`.
fn ols(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let (sxy, sxx) = points.iter().fold((0.0, 0.0), |(a, b), (x, y)| {
        (a + (x - mx) * (y - my), b + (x - mx) * (x - mx))
    });
    (sxx > 0.0).then(|| {
        let slope = sxy / sxx;
        (slope, my - slope * mx)
    })
}

/// Errors of one series for (vdc's forecast, flat last week, least squares) over the test
/// days: mean absolute error as a share of the capacity, and MAPE.
fn errors(series: &Series, split: i64) -> Option<[[f64; 3]; 2]> {
    let train: Vec<(f64, f64)> = series
        .days
        .range(..split)
        .map(|(d, v)| (*d as f64, *v))
        .collect();
    let test: Vec<(f64, f64)> = series
        .days
        .range(split..)
        .map(|(d, v)| (*d as f64, *v))
        .collect();
    if train.len() < 14 || test.is_empty() {
        return None;
    }
    let trend = forecast::fit(&train)?;
    let last_week = train[train.len() - 7..].iter().map(|(_, v)| v).sum::<f64>() / 7.0;
    let (slope, intercept) = ols(&train)?;
    let forecasts: [&dyn Fn(f64) -> f64; 3] = [&|d| trend.at(d).max(0.0), &|_| last_week, &|d| {
        (intercept + slope * d).max(0.0)
    }];
    if series.capacity <= 0.0 {
        return None;
    }
    let mut out = [[0.0; 3]; 2];
    for (i, f) in forecasts.iter().enumerate() {
        out[0][i] = test.iter().map(|(d, v)| (f(*d) - v).abs()).sum::<f64>()
            / test.len() as f64
            / series.capacity;
        out[1][i] = forecast::mape(test.iter().map(|(d, v)| (*v, f(*d))))?;
    }
    Some(out)
}

pub fn run(a: ForecastArgs) -> Result<()> {
    let dir = a.data.join("bitbrains-rnd/full");
    let started = Instant::now();
    // 2013-08-01 00:00 UTC in days since the epoch: July is the training month.
    let split = 15_918;
    let mut rows: Vec<(String, &str, [[f64; 3]; 2])> = Vec::new();
    for vm in 1..=8 {
        let mut text = String::new();
        for month in ["2013-7", "2013-8", "2013-9"] {
            let path: PathBuf = dir.join(month).join(format!("{vm}.csv.gz"));
            let t = read_gz(&path)?;
            // Keep one header line in front.
            let body = t.split_once('\n').map_or("", |(_, b)| b);
            if text.is_empty() {
                text.push_str("header\n");
            }
            text.push_str(body);
            text.push('\n');
        }
        let (cpu, mem) = daily_p95(&text)?;
        for (metric, series) in [("cpu", &cpu), ("memory", &mem)] {
            if let Some(e) = errors(series, split) {
                rows.push((vm.to_string(), metric, e));
            }
        }
    }
    if rows.is_empty() {
        bail!("no series long enough in {}", dir.display());
    }
    let mean = |m: usize, i: usize| rows.iter().map(|r| r.2[m][i]).sum::<f64>() / rows.len() as f64;
    let median = |m: usize, i: usize| {
        let mut v: Vec<f64> = rows.iter().map(|r| r.2[m][i]).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "vdc bench forecast: {} series (8 Bitbrains VMs × CPU, memory daily p95), fit on July, predict Aug–Sep",
        rows.len()
    );
    println!("  error as a share of provisioned capacity (MAE), and MAPE:");
    println!(
        "  {:>3} {:>6}  {:>18} {:>18} {:>18}",
        "vm", "metric", "vdc", "flat last week", "least squares"
    );
    for (vm, metric, e) in &rows {
        let cell = |i: usize| format!("{:.1}% / {:.0}%", e[0][i] * 100.0, e[1][i] * 100.0);
        println!(
            "  {vm:>3} {metric:>6}  {:>18} {:>18} {:>18}",
            cell(0),
            cell(1),
            cell(2)
        );
    }
    for (m, name) in [(0, "MAE / capacity"), (1, "MAPE")] {
        println!(
            "  {name} mean (median): vdc {:.1}% ({:.1}%), flat last week {:.1}% ({:.1}%), least squares {:.1}% ({:.1}%)",
            mean(m, 0) * 100.0,
            median(m, 0) * 100.0,
            mean(m, 1) * 100.0,
            median(m, 1) * 100.0,
            mean(m, 2) * 100.0,
            median(m, 2) * 100.0,
        );
    }
    println!("  in {:.2} s", started.elapsed().as_secs_f64());
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "series": rows.len(),
                "mae_share_of_capacity": mean(0, 0),
                "mape": mean(1, 0),
                "mape_median": median(1, 0),
                "baseline_flat_week_mae_share_of_capacity": mean(0, 1),
                "baseline_flat_week_mape": mean(1, 1),
                "baseline_least_squares_mae_share_of_capacity": mean(0, 2),
                "baseline_least_squares_mape": mean(1, 2),
            })
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daily_percentiles_per_day() {
        let text = "Timestamp [ms];\tCPU cores;\tx;\tCPU usage [MHZ];\ty;\tz;\tMemory usage [KB]\n\
            0;\t1;\t0;\t10.0;\t0;\t0;\t100\n\
            300;\t1;\t0;\t30.0;\t0;\t0;\t300\n\
            86400;\t1;\t0;\t5.0;\t0;\t0;\t50\n";
        let (cpu, mem) = daily_p95(text).unwrap();
        assert_eq!(cpu.days, BTreeMap::from([(0, 30.0), (1, 5.0)]));
        assert_eq!(mem.days, BTreeMap::from([(0, 300.0), (1, 50.0)]));
        assert_eq!((cpu.capacity, mem.capacity), (0.0, 0.0));
        assert!(daily_p95("h\n1;\t2;\t3;\tx;\t4;\t5;\t6\n").is_err());
    }
}
