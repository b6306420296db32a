//! `vdc user`, `vdc role`, `vdc department`: who may do what, where.

use anyhow::{Result, bail};
use vdc_types::*;

use crate::Output;
use crate::client::Client;
use crate::commands::{print_json, table};

mod access;
mod audit;
mod quota;
mod request;

pub use access::*;
pub use audit::*;
pub use quota::*;
pub use request::*;

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

pub(crate) async fn cluster_id(client: &Client, c: Option<String>) -> Result<Option<ClusterId>> {
    let Some(c) = c else { return Ok(None) };
    let all: Vec<ClusterView> = client.get("/clusters", &[]).await?;
    match all.iter().find(|x| x.name == c || x.id.to_string() == c) {
        Some(x) => Ok(Some(x.id)),
        None => bail!("no cluster {c}"),
    }
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
