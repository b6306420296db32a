//! The jobs page and the background work page.

use super::*;

// ---------------------------------------------------------------- jobs

#[derive(Template)]
#[template(path = "jobs.html")]
pub(crate) struct JobsPage {
    pub(crate) user: String,
    pub(crate) jobs: Vec<JobView>,
}

/// The job table's rows alone (polled by the jobs page).
#[derive(Template)]
#[template(path = "job_rows.html")]
pub(crate) struct JobRows {
    pub(crate) jobs: Vec<JobView>,
}

pub(crate) async fn jobs(State(app): State<App>, headers: HeaderMap) -> Page {
    let actor = caller(&app, &headers).await?;
    let page = app
        .list_jobs(
            &actor,
            &PageQuery {
                limit: Some(50),
                page_token: None,
            },
        )
        .await?;
    if from_htmx(&headers) {
        return html(&JobRows { jobs: page.items });
    }
    html(&JobsPage {
        user: actor.name().to_string(),
        jobs: page.items,
    })
}

// ---------------------------------------------------------------- background work

#[derive(Template)]
#[template(path = "background.html")]
pub(crate) struct BackgroundPage {
    pub(crate) user: String,
    pub(crate) tasks: Vec<BackgroundTaskView>,
}

pub(crate) async fn background(State(app): State<App>, headers: HeaderMap) -> Page {
    let actor = caller(&app, &headers).await?;
    let tasks = app.background_tasks(&actor).await?;
    html(&BackgroundPage {
        user: actor.name().to_string(),
        tasks,
    })
}
