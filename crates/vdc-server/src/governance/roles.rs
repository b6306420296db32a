//! Who may do what, where: users, the roles they hold at a scope (global, a department, a
//! cluster), built-in and custom roles. A request's [`Actor`] carries its grants, resolved
//! here from the user's role bindings; `Actor::require` checks a permission against the scope
//! of what is acted on.

use std::collections::HashMap;
use vdc_db as db;
use vdc_types::*;

use crate::app::App;
use crate::app::views;
use crate::app::{Actor, Grant, On};
use crate::auth;

/// A new binding's id.
impl App {
    /// The permissions of a role by name: a built-in one, or a custom one from `custom`.
    pub(crate) fn role_permissions(
        name: &str,
        custom: &HashMap<String, Vec<Permission>>,
    ) -> Option<Vec<Permission>> {
        match name.parse::<Role>() {
            Ok(r) => Some(r.permissions().to_vec()),
            Err(_) => custom.get(name).cloned(),
        }
    }

    pub(crate) async fn custom_role_map(&self) -> Result<HashMap<String, Vec<Permission>>, Error> {
        Ok(self
            .db
            .custom_roles()
            .await?
            .into_iter()
            .map(|r| (r.name, r.permissions))
            .collect())
    }

    /// A user's grants: each role binding with its role's permissions. A binding to a role
    /// that no longer exists grants nothing.
    pub(crate) async fn grants_of(&self, user: UserId) -> Result<Vec<Grant>, Error> {
        let custom = self.custom_role_map().await?;
        Ok(self
            .db
            .bindings(Some(user))
            .await?
            .into_iter()
            .filter_map(|b| {
                Some(Grant {
                    permissions: Self::role_permissions(&b.role, &custom)?,
                    role: b.role,
                    department: b.department_id,
                    cluster: b.cluster_id,
                })
            })
            .collect())
    }

    /// Checks a binding's role and scope exist (400 naming the field otherwise).
    async fn check_binding(
        &self,
        role: &str,
        department: Option<DepartmentId>,
        cluster: Option<ClusterId>,
    ) -> Result<(), Error> {
        let custom = self.custom_role_map().await?;
        if Self::role_permissions(role, &custom).is_none() {
            return Err(Error::invalid("role", format!("no role {role}")));
        }
        if let Some(d) = department {
            self.db
                .get_department(d)
                .await
                .map_err(|_| Error::invalid("department_id", "no such department"))?;
        }
        if let Some(c) = cluster
            && !self.db.list_clusters().await?.iter().any(|x| x.id == c)
        {
            return Err(Error::invalid("cluster_id", "no such cluster"));
        }
        Ok(())
    }

    /// Refuses (audited) unless the caller may manage users.
    async fn authorize_user_admin(&self, actor: &Actor, action: &str) -> Result<(), Error> {
        self.authorize(
            actor,
            action,
            ("user", None),
            actor.require(Permission::UserManage, On::global()),
        )
        .await
    }

    /// All users with their roles.
    pub async fn list_users(&self, actor: &Actor) -> Result<Vec<UserView>, Error> {
        actor.require(Permission::UserManage, On::global())?;
        let mut bindings: HashMap<UserId, Vec<db::RoleBinding>> = HashMap::new();
        for b in self.db.bindings(None).await? {
            bindings.entry(b.user_id).or_default().push(b);
        }
        Ok(self
            .db
            .list_users()
            .await?
            .iter()
            .map(|u| views::user(u, bindings.get(&u.id).map_or(&[], Vec::as_slice)))
            .collect())
    }

    /// Creates a local user with a first role: in its department when it has one, else in
    /// the given cluster, else global.
    pub async fn create_user(&self, actor: &Actor, p: UserCreateParams) -> Result<UserView, Error> {
        p.validate()?;
        self.authorize_user_admin(actor, "user.create").await?;
        self.check_binding(&p.role, p.department_id, p.cluster_id)
            .await?;
        let password = p.password.clone();
        let hash = tokio::task::spawn_blocking(move || auth::hash_password(&password))
            .await
            .map_err(|e| Error::internal(format!("hashing panicked: {e}")))??;
        let now = db::now_ms();
        let u = db::User {
            id: UserId::new(),
            username: p.username,
            password_hash: hash,
            department_id: p.department_id,
            directory_dn: None,
            created_at: now,
        };
        let first = db::RoleBinding {
            id: RoleBindingId::new(),
            user_id: u.id,
            role: p.role,
            department_id: p.department_id,
            cluster_id: p.cluster_id,
            from_group: None,
            created_at: now,
        };
        self.db.insert_user(&u, &first).await?;
        self.audit(
            actor.name(),
            "user.create",
            ("user", Some(u.id.to_string())),
            AuditResult::Ok,
            Some(format!(
                "username={} {}",
                u.username,
                views::binding_text(&first)
            )),
        )
        .await;
        Ok(views::user(&u, std::slice::from_ref(&first)))
    }

    /// Gives a user one more role at a scope.
    pub async fn grant_role(
        &self,
        actor: &Actor,
        user: UserId,
        p: RoleBindingParams,
    ) -> Result<UserView, Error> {
        p.validate()?;
        self.authorize_user_admin(actor, "user.grant").await?;
        let u = self.db.get_user(user).await?;
        self.check_binding(&p.role, p.department_id, p.cluster_id)
            .await?;
        let b = db::RoleBinding {
            id: RoleBindingId::new(),
            user_id: user,
            role: p.role,
            department_id: p.department_id,
            cluster_id: p.cluster_id,
            from_group: None,
            created_at: db::now_ms(),
        };
        self.db.insert_binding(&b).await?;
        self.audit(
            actor.name(),
            "user.grant",
            ("user", Some(user.to_string())),
            AuditResult::Ok,
            Some(format!(
                "username={} {}",
                u.username,
                views::binding_text(&b)
            )),
        )
        .await;
        Ok(views::user(&u, &self.db.bindings(Some(user)).await?))
    }

    /// Takes one of a user's roles away.
    pub async fn revoke_role(
        &self,
        actor: &Actor,
        user: UserId,
        binding: RoleBindingId,
    ) -> Result<UserView, Error> {
        self.authorize_user_admin(actor, "user.revoke").await?;
        let u = self.db.get_user(user).await?;
        let before = self.db.bindings(Some(user)).await?;
        let gone = before
            .iter()
            .find(|b| b.id == binding)
            .ok_or_else(|| Error::not_found("role binding", binding))?;
        if let Some(group) = &gone.from_group {
            return Err(Error::conflict(format!(
                "this role comes from the directory group {group} and returns at the next login: take {} out of the group in the directory",
                u.username
            )));
        }
        self.db.delete_binding(user, binding).await?;
        self.audit(
            actor.name(),
            "user.revoke",
            ("user", Some(user.to_string())),
            AuditResult::Ok,
            Some(format!(
                "username={} {}",
                u.username,
                views::binding_text(gone)
            )),
        )
        .await;
        Ok(views::user(&u, &self.db.bindings(Some(user)).await?))
    }

    /// The built-in roles and the custom ones, with their permissions.
    pub async fn list_roles(&self, _actor: &Actor) -> Result<Vec<RoleView>, Error> {
        let mut out: Vec<RoleView> = Role::ALL
            .iter()
            .map(|r| RoleView {
                name: r.to_string(),
                builtin: true,
                description: builtin_description(*r).to_string(),
                permissions: r.permissions().to_vec(),
            })
            .collect();
        out.extend(self.db.custom_roles().await?.into_iter().map(|r| RoleView {
            name: r.name,
            builtin: false,
            description: r.description,
            permissions: r.permissions,
        }));
        Ok(out)
    }

    /// Defines a custom role from a permission list.
    pub async fn create_role(&self, actor: &Actor, p: RoleCreateParams) -> Result<RoleView, Error> {
        p.validate()?;
        self.authorize_user_admin(actor, "role.create").await?;
        let r = db::CustomRole {
            name: p.name,
            description: p.description,
            permissions: p.permissions,
            created_at: db::now_ms(),
        };
        self.db.insert_role(&r).await?;
        let perms: Vec<&str> = r.permissions.iter().map(|p| p.as_str()).collect();
        self.audit(
            actor.name(),
            "role.create",
            ("role", Some(r.name.clone())),
            AuditResult::Ok,
            Some(format!("permissions={}", perms.join(","))),
        )
        .await;
        Ok(RoleView {
            name: r.name,
            builtin: false,
            description: r.description,
            permissions: r.permissions,
        })
    }
}

fn builtin_description(r: Role) -> &'static str {
    match r {
        Role::Viewer => "reads the inventory in scope",
        Role::Requester => "reads, and asks for VMs through provisioning requests",
        Role::Operator => "creates, operates and deletes VMs in scope",
        Role::Approver => "reads, and approves or rejects provisioning requests",
        Role::Auditor => "reads, and reads the audit log",
        Role::Admin => "everything",
    }
}
