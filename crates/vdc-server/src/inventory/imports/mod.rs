//! Estates from other tools' exports — RVTools workbooks, VMware `.vmx` files — imported as
//! external, read-only sites: hosts and VMs vdc reports on (sprawl, chargeback) but never
//! contacts or changes. Importing a source again replaces its estate and keeps the owners and
//! departments given to its VMs meanwhile. Nothing is written unless the whole export reads.

use vdc_db::imports::{ImportedHost, ImportedVm};
use vdc_types::*;

use crate::app::App;
use crate::app::{Actor, On};

pub mod rvtools;
pub mod vmx;

/// An estate read from an export.
#[derive(Debug, Clone, Default)]
pub struct Estate {
    pub hosts: Vec<ImportedHost>,
    pub vms: Vec<ImportedVm>,
    /// Templates, which are not VMs.
    pub templates: usize,
    /// VMs whose host the export does not list (or that name none): imported without a host.
    pub without_host: usize,
}

impl App {
    /// Imports what `parse` reads as the external estate `kind:source` (`host.manage`).
    pub async fn import_estate(
        &self,
        actor: &Actor,
        kind: &str,
        source: &str,
        parse: impl FnOnce() -> Result<Estate, Error> + Send + 'static,
    ) -> Result<ImportView, Error> {
        if source.is_empty()
            || source.len() > 64
            || !source
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(Error::invalid(
                "source",
                "1 to 64 letters, digits, '-', '_' or '.'",
            ));
        }
        let action = format!("import.{kind}");
        let check = actor.require(Permission::HostManage, On::global());
        self.authorize(actor, &action, ("site", None), check)
            .await?;
        // Reading a large workbook takes a while: off the async workers.
        let estate = tokio::task::spawn_blocking(parse)
            .await
            .map_err(|e| Error::internal(format!("import parser: {e}")))??;
        let site = format!("{kind}:{source}");
        let done = self
            .db
            .import_estate(&site, &estate.hosts, &estate.vms)
            .await?;
        self.audit(
            actor.name(),
            &action,
            ("site", Some(site.clone())),
            AuditResult::Ok,
            Some(format!(
                "{} clusters, {} hosts, {} VMs ({} on hosts the export does not list, {} templates skipped, {} VMs gone since the last import)",
                done.clusters, done.hosts, done.vms, estate.without_host, estate.templates, done.removed
            )),
        )
        .await;
        Ok(ImportView {
            source: source.to_string(),
            site,
            clusters: done.clusters,
            hosts: done.hosts,
            vms: done.vms,
            templates_skipped: estate.templates,
            vms_without_host: estate.without_host,
            vms_removed: done.removed,
        })
    }
}
