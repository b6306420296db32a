//! `vdc user`, `vdc role`, `vdc department`: who may do what, where.

use anyhow::{Result, bail};
use vdc_types::*;

use crate::Output;
use crate::client::Client;
use crate::commands::{print_json, table};

#[derive(Debug, clap::Subcommand)]
pub enum UserCmd {
    /// Users with their roles.
    List,
    /// Create a local user with a first role (in its department when given, else global or
    /// in --cluster).
    Create {
        username: String,
        /// Built-in (admin, operator, requester, approver, auditor, viewer) or custom.
        #[arg(long)]
        role: String,
        /// Read from the VDC_NEW_PASSWORD environment variable when not given.
        #[arg(long, env = "VDC_NEW_PASSWORD", hide_env_values = true)]
        password: String,
        /// Department id or name the user belongs to (its role is scoped to it).
        #[arg(long)]
        department: Option<String>,
        /// Scope the role to this cluster (id or name) instead.
        #[arg(long)]
        cluster: Option<String>,
    },
    /// Give a user one more role, globally or in a department or cluster.
    Grant {
        username: String,
        #[arg(long)]
        role: String,
        #[arg(long)]
        department: Option<String>,
        #[arg(long)]
        cluster: Option<String>,
    },
    /// Take one of a user's roles away (the binding id from `user list`).
    Revoke { username: String, binding: String },
}

#[derive(Debug, clap::Subcommand)]
pub enum RoleCmd {
    /// Built-in and custom roles with their permissions.
    List,
    /// Define a custom role from permissions (e.g. --permission inventory.read
    /// --permission vm.operate).
    Create {
        name: String,
        #[arg(long = "permission", required = true)]
        permissions: Vec<Permission>,
        #[arg(long, default_value = "")]
        description: String,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum TokenCmd {
    /// Make a named API token (printed once), optionally limited to some permissions.
    Create {
        name: String,
        #[arg(long = "permission")]
        permissions: Vec<Permission>,
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// Your named API tokens.
    List,
    /// Revoke one of your tokens by id.
    Revoke { id: String },
}

pub async fn token(client: &Client, cmd: TokenCmd, out: Output) -> Result<()> {
    let tokens: Vec<TokenView> = match cmd {
        TokenCmd::Create {
            name,
            permissions,
            expires_in_days,
        } => {
            let p = TokenCreateParams {
                name,
                permissions: (!permissions.is_empty()).then_some(permissions),
                expires_in_days,
            };
            let t: TokenCreated = client.post("/tokens", &p).await?;
            if out == Output::Json {
                return print_json(&t);
            }
            println!("{}", t.token);
            eprintln!("token {} ({}): shown this once", t.info.name, t.info.id);
            return Ok(());
        }
        TokenCmd::List => client.get("/tokens", &[]).await?,
        TokenCmd::Revoke { id } => {
            let _: serde_json::Value = client.delete(&format!("/tokens/{id}")).await?;
            Vec::new()
        }
    };
    if out == Output::Json {
        return print_json(&tokens);
    }
    table(
        &["ID", "NAME", "PERMISSIONS", "EXPIRES"],
        tokens
            .iter()
            .map(|t| {
                vec![
                    t.id.clone(),
                    t.name.clone(),
                    t.permissions.as_ref().map_or_else(
                        || "all".to_string(),
                        |p| p.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(","),
                    ),
                    t.expires_at.clone(),
                ]
            })
            .collect(),
    );
    Ok(())
}

#[derive(Debug, clap::Subcommand)]
pub enum RequestCmd {
    /// Ask for VMs of one size (approved by rule or by approvers, then created).
    Create {
        /// Why they are needed.
        #[arg(long)]
        purpose: String,
        /// Name, or prefix when --count > 1 (NAME-1 … NAME-N).
        #[arg(long)]
        name: String,
        #[arg(long, default_value_t = 1)]
        count: usize,
        #[arg(long, default_value_t = 1)]
        vcpus: u32,
        #[arg(long, default_value_t = 1024)]
        memory_mib: u64,
        /// Disk size in GiB (none when omitted).
        #[arg(long)]
        disk_gib: Option<u64>,
        /// Lease end, RFC 3339.
        #[arg(long)]
        lease: Option<String>,
        /// Department id or name (default: yours).
        #[arg(long)]
        department: Option<String>,
    },
    /// Requests you may see, newest first.
    List,
    /// Approve a pending request.
    Approve {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Reject a pending request, saying why.
    Reject {
        id: String,
        #[arg(long)]
        reason: String,
    },
}

pub async fn request(client: &Client, cmd: RequestCmd, out: Output) -> Result<()> {
    let rs: Vec<RequestView> = match cmd {
        RequestCmd::Create {
            purpose,
            name,
            count,
            vcpus,
            memory_mib,
            disk_gib,
            lease,
            department,
        } => {
            let department = department_id(client, department).await?;
            let names: Vec<String> = if count <= 1 {
                vec![name]
            } else {
                (1..=count).map(|i| format!("{name}-{i}")).collect()
            };
            let vms = names
                .into_iter()
                .map(|n| {
                    serde_json::from_value(serde_json::json!({
                        "name": n, "vcpus": vcpus, "memory_mib": memory_mib, "start": true,
                        "disks": disk_gib.map(|g| vec![serde_json::json!({"size_gib": g})]).unwrap_or_default(),
                        "lease_expires_at": lease, "department_id": department,
                    }))
                })
                .collect::<Result<Vec<VmCreateParams>, _>>()?;
            vec![
                client
                    .post("/requests", &RequestCreateParams { purpose, vms })
                    .await?,
            ]
        }
        RequestCmd::List => client.get("/requests", &[]).await?,
        RequestCmd::Approve { id, reason } => vec![
            client
                .post(
                    &format!("/requests/{id}/approve"),
                    &RequestDecisionParams { reason },
                )
                .await?,
        ],
        RequestCmd::Reject { id, reason } => vec![
            client
                .post(
                    &format!("/requests/{id}/reject"),
                    &RequestDecisionParams {
                        reason: Some(reason),
                    },
                )
                .await?,
        ],
    };
    if out == Output::Json {
        return print_json(&rs);
    }
    table(
        &[
            "ID",
            "REQUESTER",
            "STATE",
            "VMS",
            "COST/MONTH",
            "APPROVALS",
            "WHY",
        ],
        rs.iter()
            .map(|r| {
                vec![
                    r.id.clone(),
                    r.requester.clone(),
                    r.state.to_string(),
                    r.vms.len().to_string(),
                    format!("{:.2} {}", r.cost_month, r.currency),
                    format!(
                        "{}/{}",
                        r.approvals.iter().filter(|a| a.approved).count(),
                        r.approvals_needed
                    ),
                    r.reason.clone().unwrap_or_else(|| r.rule.clone()),
                ]
            })
            .collect(),
    );
    Ok(())
}

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

/// Filters of an audit search.
#[derive(Debug, clap::Args)]
pub struct AuditFilterArgs {
    #[arg(long)]
    actor: Option<String>,
    /// Actions starting with this (e.g. `vm.`).
    #[arg(long)]
    action: Option<String>,
    #[arg(long)]
    target_kind: Option<String>,
    #[arg(long)]
    target_id: Option<String>,
    /// ok, denied or failed.
    #[arg(long)]
    result: Option<AuditResult>,
    /// RFC 3339.
    #[arg(long)]
    since: Option<String>,
    /// RFC 3339.
    #[arg(long)]
    until: Option<String>,
    /// Text in the detail.
    #[arg(long)]
    text: Option<String>,
}

impl AuditFilterArgs {
    fn query(&self) -> Vec<(&'static str, String)> {
        [
            ("actor", self.actor.clone()),
            ("action", self.action.clone()),
            ("target_kind", self.target_kind.clone()),
            ("target_id", self.target_id.clone()),
            ("result", self.result.map(|r| r.to_string())),
            ("since", self.since.clone()),
            ("until", self.until.clone()),
            ("text", self.text.clone()),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k, v?)))
        .collect()
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum AuditCmd {
    /// Search the audit log, newest first.
    List {
        #[command(flatten)]
        filter: AuditFilterArgs,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Every matching record as CSV (default) or JSON, on standard output.
    Export {
        #[command(flatten)]
        filter: AuditFilterArgs,
        /// csv or json.
        #[arg(long, default_value = "csv")]
        format: String,
    },
}

pub async fn audit(client: &Client, cmd: AuditCmd, out: Output) -> Result<()> {
    match cmd {
        AuditCmd::List { filter, limit } => {
            let mut q = filter.query();
            q.push(("limit", limit.to_string()));
            let page: Page<AuditView> = client.get("/audit", &q).await?;
            if out == Output::Json {
                return print_json(&page.items);
            }
            table(
                &["AT", "ACTOR", "ACTION", "TARGET", "RESULT", "DETAIL"],
                page.items
                    .iter()
                    .map(|a| {
                        vec![
                            a.at.clone(),
                            a.actor.clone(),
                            a.action.clone(),
                            format!(
                                "{} {}",
                                a.target_kind,
                                a.target_id.clone().unwrap_or_default()
                            ),
                            a.result.to_string(),
                            a.detail.clone().unwrap_or_default(),
                        ]
                    })
                    .collect(),
            );
            Ok(())
        }
        AuditCmd::Export { filter, format } => {
            let mut q = filter.query();
            q.push(("format", format));
            print!("{}", client.get_text("/audit/export", &q).await?);
            Ok(())
        }
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum DepartmentCmd {
    /// Departments (cost centres).
    List,
    /// Create a department.
    Create {
        name: String,
        #[arg(long)]
        cost_centre: String,
    },
}

/// `role` or `role@department:ID` / `role@cluster:ID`, comma-separated.
pub fn roles_text(roles: &[RoleBindingView]) -> String {
    roles
        .iter()
        .map(|b| match (b.department_id, b.cluster_id) {
            (Some(d), _) => format!("{}@department:{d}", b.role),
            (None, Some(c)) => format!("{}@cluster:{c}", b.role),
            (None, None) => b.role.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) async fn department_id(
    client: &Client,
    d: Option<String>,
) -> Result<Option<DepartmentId>> {
    let Some(d) = d else { return Ok(None) };
    let all: Vec<DepartmentView> = client.get("/departments", &[]).await?;
    match all.iter().find(|x| x.name == d || x.id.to_string() == d) {
        Some(x) => Ok(Some(x.id)),
        None => bail!("no department {d}"),
    }
}

async fn cluster_id(client: &Client, c: Option<String>) -> Result<Option<ClusterId>> {
    let Some(c) = c else { return Ok(None) };
    let all: Vec<ClusterView> = client.get("/clusters", &[]).await?;
    match all.iter().find(|x| x.name == c || x.id.to_string() == c) {
        Some(x) => Ok(Some(x.id)),
        None => bail!("no cluster {c}"),
    }
}

async fn user_by_name(client: &Client, name: &str) -> Result<UserView> {
    let all: Vec<UserView> = client.get("/users", &[]).await?;
    match all.into_iter().find(|u| u.username == name) {
        Some(u) => Ok(u),
        None => bail!("no user {name}"),
    }
}

fn print_users(users: &[UserView], out: Output) -> Result<()> {
    if out == Output::Json {
        return print_json(&users);
    }
    let mut rows = Vec::new();
    for u in users {
        for b in &u.roles {
            rows.push(vec![
                u.username.clone(),
                u.department_id
                    .map_or_else(|| "-".into(), |d| d.to_string()),
                roles_text(std::slice::from_ref(b)),
                b.from_group
                    .as_ref()
                    .map_or_else(|| "vdc".into(), |g| format!("directory group {g}")),
                b.id.clone(),
            ]);
        }
        if u.roles.is_empty() {
            rows.push(vec![
                u.username.clone(),
                "-".into(),
                "(no role)".into(),
                "-".into(),
                "-".into(),
            ]);
        }
    }
    table(
        &["USER", "DEPARTMENT", "ROLE", "GRANTED BY", "BINDING"],
        rows,
    );
    Ok(())
}

pub async fn user(client: &Client, cmd: UserCmd, out: Output) -> Result<()> {
    match cmd {
        UserCmd::List => {
            let users: Vec<UserView> = client.get("/users", &[]).await?;
            print_users(&users, out)
        }
        UserCmd::Create {
            username,
            role,
            password,
            department,
            cluster,
        } => {
            let p = UserCreateParams {
                username,
                password,
                role,
                department_id: department_id(client, department).await?,
                cluster_id: cluster_id(client, cluster).await?,
            };
            let u: UserView = client.post("/users", &p).await?;
            print_users(&[u], out)
        }
        UserCmd::Grant {
            username,
            role,
            department,
            cluster,
        } => {
            let u = user_by_name(client, &username).await?;
            let p = RoleBindingParams {
                role,
                department_id: department_id(client, department).await?,
                cluster_id: cluster_id(client, cluster).await?,
            };
            let u: UserView = client.post(&format!("/users/{}/roles", u.id), &p).await?;
            print_users(&[u], out)
        }
        UserCmd::Revoke { username, binding } => {
            let u = user_by_name(client, &username).await?;
            let u: UserView = client
                .delete(&format!("/users/{}/roles/{binding}", u.id))
                .await?;
            print_users(&[u], out)
        }
    }
}

pub async fn role(client: &Client, cmd: RoleCmd, out: Output) -> Result<()> {
    let roles: Vec<RoleView> = match cmd {
        RoleCmd::List => client.get("/roles", &[]).await?,
        RoleCmd::Create {
            name,
            permissions,
            description,
        } => {
            let p = RoleCreateParams {
                name,
                description,
                permissions,
            };
            vec![client.post("/roles", &p).await?]
        }
    };
    if out == Output::Json {
        return print_json(&roles);
    }
    table(
        &["ROLE", "BUILT IN", "PERMISSIONS", "DESCRIPTION"],
        roles
            .iter()
            .map(|r| {
                vec![
                    r.name.clone(),
                    r.builtin.to_string(),
                    r.permissions
                        .iter()
                        .map(|p| p.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                    r.description.clone(),
                ]
            })
            .collect(),
    );
    Ok(())
}

pub async fn department(client: &Client, cmd: DepartmentCmd, out: Output) -> Result<()> {
    let departments: Vec<DepartmentView> = match cmd {
        DepartmentCmd::List => client.get("/departments", &[]).await?,
        DepartmentCmd::Create { name, cost_centre } => {
            let p = DepartmentCreateParams { name, cost_centre };
            vec![client.post("/departments", &p).await?]
        }
    };
    if out == Output::Json {
        return print_json(&departments);
    }
    table(
        &["NAME", "COST CENTRE", "ID"],
        departments
            .iter()
            .map(|d| vec![d.name.clone(), d.cost_centre.clone(), d.id.to_string()])
            .collect(),
    );
    Ok(())
}
