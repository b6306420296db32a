//! `vdc request …`: provisioning requests and their approvals.

use super::*;

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
                    r.id.to_string(),
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
