//! `vdc job …`: jobs listed, shown and waited for.

use super::*;

#[derive(Debug, clap::Subcommand)]
pub enum JobCmd {
    /// Recent jobs.
    List {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// One job.
    Show { id: JobId },
    /// Wait for a job to end, with a progress bar.
    Wait { id: JobId },
}

pub async fn job(client: &Client, cmd: JobCmd, out: Output) -> Result<()> {
    match cmd {
        JobCmd::List { limit } => {
            let page: Page<JobView> = client.get("/jobs", &[("limit", limit.to_string())]).await?;
            if out == Output::Json {
                return print_json(&page.items);
            }
            table(
                &["ID", "KIND", "STATE", "PROGRESS", "TARGET", "BY", "CREATED"],
                page.items
                    .iter()
                    .map(|j| {
                        vec![
                            j.id.to_string(),
                            j.kind.clone(),
                            j.state.to_string(),
                            format!("{}%", j.progress),
                            opt(&j.target_id),
                            j.created_by.clone(),
                            j.created_at.clone(),
                        ]
                    })
                    .collect(),
            );
            Ok(())
        }
        JobCmd::Show { id } => {
            let j: JobView = client.get(&format!("/jobs/{id}"), &[]).await?;
            if out == Output::Json {
                return print_json(&j);
            }
            table(
                &["STEP", "DONE"],
                j.steps
                    .iter()
                    .map(|s| {
                        vec![
                            s.name.clone(),
                            if s.done { "yes".into() } else { "no".into() },
                        ]
                    })
                    .collect(),
            );
            println!(
                "{} {} {}%{}",
                j.kind,
                j.state,
                j.progress,
                j.error.map(|e| format!(": {e}")).unwrap_or_default()
            );
            Ok(())
        }
        JobCmd::Wait { id } => {
            let j: JobView = client.get(&format!("/jobs/{id}"), &[]).await?;
            let j = client.wait_job(&j, out == Output::Json).await?;
            if out == Output::Json {
                print_json(&j)?;
            }
            Ok(())
        }
    }
}
