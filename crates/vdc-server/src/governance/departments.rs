//! Departments (cost centres): listing and creating them.

use vdc_db::{self as db};
use vdc_types::*;

use crate::app::views;
use crate::app::{Actor, App, On};

impl App {
    /// All departments.
    pub async fn list_departments(&self) -> Result<Vec<DepartmentView>, Error> {
        Ok(self
            .db
            .list_departments()
            .await?
            .iter()
            .map(views::department)
            .collect())
    }

    /// Creates a department (admin).
    pub async fn create_department(
        &self,
        actor: &Actor,
        p: DepartmentCreateParams,
    ) -> Result<DepartmentView, Error> {
        p.validate()?;
        self.authorize(
            actor,
            "department.create",
            ("department", None),
            actor.require(Permission::DepartmentManage, On::global()),
        )
        .await?;
        let d = db::Department {
            id: DepartmentId::new(),
            name: p.name,
            cost_centre: p.cost_centre,
            created_at: db::now_ms(),
        };
        self.db.insert_department(&d).await?;
        self.audit(
            actor.name(),
            "department.create",
            ("department", Some(d.id.to_string())),
            AuditResult::Ok,
            Some(format!("name={}", d.name)),
        )
        .await;
        Ok(views::department(&d))
    }
}
