//! `vdc audit …`: the audit log searched and exported.

use super::*;

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
