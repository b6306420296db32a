//! `vdc quota …` and `vdc prices …`: department quotas and the price list.

use super::*;

#[derive(Debug, clap::Subcommand)]
pub enum QuotaCmd {
    /// A department's quota and what it uses now.
    Show { department: String },
    /// Set a department's quota (omitted limits are unlimited).
    Set {
        department: String,
        #[arg(long)]
        vcpus: Option<u64>,
        #[arg(long)]
        memory_mib: Option<u64>,
        #[arg(long)]
        disk_gib: Option<u64>,
        #[arg(long)]
        vms: Option<u64>,
        /// Per month, in the price list's currency.
        #[arg(long)]
        money: Option<f64>,
        #[arg(long)]
        warn_percent: Option<u32>,
        #[arg(long)]
        grace_percent: Option<u32>,
        /// enforce or audit.
        #[arg(long)]
        mode: Option<QuotaMode>,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum PriceCmd {
    /// The price list.
    Show,
    /// Replace the price list.
    Set {
        #[arg(long, default_value = "EUR")]
        currency: String,
        #[arg(long, default_value_t = 0.0)]
        vcpu: f64,
        #[arg(long, default_value_t = 0.0)]
        memory_gib: f64,
        #[arg(long, default_value_t = 0.0)]
        disk_gib: f64,
        /// NAME=PRICE per VM per month (repeat for several).
        #[arg(long = "licence")]
        licences: Vec<String>,
        /// Fixed per VM per month.
        #[arg(long, default_value_t = 0.0)]
        per_vm: f64,
        /// Fixed per department per month (statements only).
        #[arg(long, default_value_t = 0.0)]
        per_department: f64,
    },
}

pub async fn quota(client: &Client, cmd: QuotaCmd, out: Output) -> Result<()> {
    let q: QuotaView = match cmd {
        QuotaCmd::Show { department } => {
            let d = department_id(client, Some(department))
                .await?
                .expect("given");
            client.get(&format!("/departments/{d}/quota"), &[]).await?
        }
        QuotaCmd::Set {
            department,
            vcpus,
            memory_mib,
            disk_gib,
            vms,
            money,
            warn_percent,
            grace_percent,
            mode,
        } => {
            let d = department_id(client, Some(department))
                .await?
                .expect("given");
            let p = QuotaParams {
                vcpus,
                memory_mib,
                disk_gib,
                vms,
                money_month: money,
                warn_percent,
                grace_percent,
                mode,
            };
            client.put(&format!("/departments/{d}/quota"), &p).await?
        }
    };
    if out == Output::Json {
        return print_json(&q);
    }
    let lim = |v: Option<String>| v.unwrap_or_else(|| "unlimited".into());
    let u = &q.usage;
    table(
        &["WHAT", "IN USE", "LIMIT"],
        vec![
            vec![
                "vCPUs".into(),
                u.vcpus.to_string(),
                lim(q.vcpus.map(|v| v.to_string())),
            ],
            vec![
                "memory MiB".into(),
                u.memory_mib.to_string(),
                lim(q.memory_mib.map(|v| v.to_string())),
            ],
            vec![
                "disk GiB".into(),
                u.disk_gib.to_string(),
                lim(q.disk_gib.map(|v| v.to_string())),
            ],
            vec![
                "VMs".into(),
                u.vms.to_string(),
                lim(q.vms.map(|v| v.to_string())),
            ],
            vec![
                format!("{}/month", q.currency),
                format!("{:.2}", u.money_month),
                lim(q.money_month.map(|v| format!("{v:.2}"))),
            ],
        ],
    );
    println!(
        "warn at {} %, grace {} %, mode {}",
        q.warn_percent, q.grace_percent, q.mode
    );
    Ok(())
}

pub async fn prices(client: &Client, cmd: PriceCmd, out: Output) -> Result<()> {
    let p: PriceListView = match cmd {
        PriceCmd::Show => client.get("/price-list", &[]).await?,
        PriceCmd::Set {
            currency,
            vcpu,
            memory_gib,
            disk_gib,
            licences,
            per_vm,
            per_department,
        } => {
            let mut map = std::collections::BTreeMap::new();
            for l in licences {
                let Some((name, price)) = l.split_once('=') else {
                    bail!("--licence {l}: expected NAME=PRICE");
                };
                map.insert(name.to_string(), price.parse()?);
            }
            let p = PriceListView {
                currency,
                vcpu_month: vcpu,
                memory_gib_month: memory_gib,
                disk_gib_month: disk_gib,
                licences: map,
                vm_month: per_vm,
                department_month: per_department,
            };
            client.put("/price-list", &p).await?
        }
    };
    if out == Output::Json {
        return print_json(&p);
    }
    let mut rows = vec![
        vec!["vCPU".into(), format!("{:.2}", p.vcpu_month)],
        vec!["GiB memory".into(), format!("{:.2}", p.memory_gib_month)],
        vec!["GiB disk".into(), format!("{:.2}", p.disk_gib_month)],
        vec!["per VM".into(), format!("{:.2}", p.vm_month)],
        vec![
            "per department".into(),
            format!("{:.2}", p.department_month),
        ],
    ];
    rows.extend(
        p.licences
            .iter()
            .map(|(n, v)| vec![format!("licence {n}"), format!("{v:.2}")]),
    );
    table(&["ITEM", &format!("{}/MONTH", p.currency)], rows);
    Ok(())
}
