//! Physical (non-virtual) servers registered beside the hypervisors.

use vdc_db::{self as db};
use vdc_types::*;

use crate::app::views;
use crate::app::{Actor, App, On};

impl App {
    /// Registers a physical server (operator, within department).
    pub async fn create_physical_server(
        &self,
        actor: &Actor,
        p: PhysicalServerCreateParams,
    ) -> Result<PhysicalServerView, Error> {
        p.validate()?;
        let department = p.department_id.or(actor.user.department_id);
        self.authorize_create_in(
            actor,
            "physical_server.create",
            ("physical_server", None),
            department,
        )
        .await?;
        if let Some(s) = p.site_id
            && !self.db.list_sites().await?.iter().any(|x| x.id == s)
        {
            return Err(Error::invalid("site_id", "no such site"));
        }
        let ps = db::PhysicalServer {
            id: PhysicalServerId::new(),
            name: p.name,
            serial: p.serial,
            cpu_model: p.cpu_model,
            sockets: p.sockets,
            cores_per_socket: p.cores_per_socket,
            memory_mib: p.memory_mib,
            site_id: p.site_id,
            department_id: department,
            owner: p.owner,
            purpose: p.purpose,
            created_at: db::now_ms(),
        };
        self.db.insert_physical_server(&ps).await?;
        self.audit(
            actor.name(),
            "physical_server.create",
            ("physical_server", Some(ps.id.to_string())),
            AuditResult::Ok,
            Some(format!("name={}", ps.name)),
        )
        .await;
        Ok(views::physical_server(&ps))
    }

    /// Physical servers the caller may see.
    pub async fn list_physical_servers(
        &self,
        actor: &Actor,
    ) -> Result<Vec<PhysicalServerView>, Error> {
        Ok(self
            .db
            .list_physical_servers()
            .await?
            .iter()
            .filter(|p| actor.sees(On::department(p.department_id)))
            .map(views::physical_server)
            .collect())
    }
}
