//! Notifications: events people act on (a request to approve, a decision, a lease about to
//! end) are POSTed as JSON to the configured webhook — `{"event": …, "at": …, …}` — in the
//! background; a webhook that fails is logged and audited, and never blocks the operation.

use std::time::Duration;
use vdc_types::*;

use crate::app::App;

/// How long a webhook call may take.
const TIMEOUT: Duration = Duration::from_secs(10);

impl App {
    /// Sends `event` with `fields` (a JSON object) to the webhook, if one is configured.
    pub(crate) fn notify(&self, event: &str, fields: serde_json::Value) {
        let Some(url) = self.config.notify_url.clone() else {
            return;
        };
        let mut body = serde_json::json!({"event": event, "at": rfc3339(vdc_db::now_ms())});
        if let (Some(b), serde_json::Value::Object(f)) = (body.as_object_mut(), fields) {
            b.extend(f);
        }
        let app = self.clone();
        let event = event.to_string();
        tokio::spawn(async move {
            let sent = reqwest::Client::new()
                .post(&url)
                .timeout(TIMEOUT)
                .json(&body)
                .send()
                .await
                .and_then(reqwest::Response::error_for_status);
            if let Err(e) = sent {
                // The URL may carry a token: neither the log nor the audit log gets it.
                let e = e.without_url();
                tracing::warn!(%event, error = %e, "notification webhook failed");
                app.audit(
                    "notify",
                    "notify.failed",
                    ("webhook", None),
                    AuditResult::Failed,
                    Some(format!("{event}: {e}")),
                )
                .await;
            }
        });
    }
}
