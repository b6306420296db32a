//! Exporting the audit log: every record matching a search, as CSV or JSON. The log is
//! append-only: the API has no call that changes or deletes a record.

use vdc_types::*;

use crate::app::App;
use crate::app::views;
use crate::app::{Actor, On};

/// Records read per store query while exporting.
const EXPORT_PAGE: u32 = 1000;
/// The most records one export returns; narrow the search for more.
pub const EXPORT_MAX: usize = 200_000;

/// An export: its media type and body.
#[derive(Debug)]
pub struct Export {
    pub content_type: &'static str,
    pub body: String,
}

impl App {
    /// Every record matching the search, newest first, as CSV (default) or JSON; refused
    /// (400) when more than [`EXPORT_MAX`] match. The export itself is audited.
    pub async fn export_audit(&self, actor: &Actor, q: &AuditQuery) -> Result<Export, Error> {
        actor.require(Permission::AuditRead, On::global())?;
        let f = q.filter()?;
        let json = match q.format.as_deref() {
            None | Some("csv") => false,
            Some("json") => true,
            Some(_) => return Err(Error::invalid("format", "csv or json")),
        };
        if q.limit.is_some() || q.page_token.is_some() {
            return Err(Error::invalid(
                "limit",
                "an export has every matching record",
            ));
        }
        let mut all = Vec::new();
        let mut before = None;
        loop {
            let (page, more) = self.db.list_audit(&f, before, EXPORT_PAGE).await?;
            before = page.last().map(|r| r.id);
            all.extend(page.iter().map(views::audit));
            if all.len() > EXPORT_MAX {
                return Err(Error::invalid(
                    "since",
                    format!("more than {EXPORT_MAX} records match; narrow the search"),
                ));
            }
            if !more {
                break;
            }
        }
        self.audit(
            actor.name(),
            "audit.export",
            ("audit", None),
            AuditResult::Ok,
            Some(format!(
                "records={} format={}",
                all.len(),
                if json { "json" } else { "csv" }
            )),
        )
        .await;
        if json {
            return Ok(Export {
                content_type: "application/json",
                body: serde_json::to_string(&all)
                    .map_err(|e| Error::internal(format!("audit export: {e}")))?,
            });
        }
        // The reports' CSV writer: a field a spreadsheet would run as a formula (a user name
        // given at a failed login, say) is neutralised.
        let body = crate::reports::csv(
            &[
                "id",
                "at",
                "actor",
                "action",
                "target_kind",
                "target_id",
                "result",
                "detail",
            ],
            all.iter().map(|a| {
                vec![
                    a.id.to_string(),
                    a.at.clone(),
                    a.actor.clone(),
                    a.action.clone(),
                    a.target_kind.clone(),
                    a.target_id.clone().unwrap_or_default(),
                    a.result.to_string(),
                    a.detail.clone().unwrap_or_default(),
                ]
            }),
        );
        Ok(Export {
            content_type: "text/csv; charset=utf-8",
            body,
        })
    }
}

impl App {
    /// Newest audit records first (admin).
    pub async fn list_audit(
        &self,
        actor: &Actor,
        q: &AuditQuery,
    ) -> Result<Page<AuditView>, Error> {
        actor.require(Permission::AuditRead, On::global())?;
        let f = q.filter()?;
        if q.format.is_some() {
            return Err(Error::invalid("format", "only for /audit/export"));
        }
        let limit = validate_limit(q.limit)?;
        let before = q
            .page_token
            .as_deref()
            .map(views::parse_id_token::<AuditId>)
            .transpose()?;
        let (recs, more) = self.db.list_audit(&f, before, limit).await?;
        let next = views::next_page(&recs, more, |a| (String::new(), a.id.to_string()));
        Ok(Page {
            items: recs.iter().map(views::audit).collect(),
            next_page_token: next,
        })
    }
}
