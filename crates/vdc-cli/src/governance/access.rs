//! `vdc user …`, `vdc role …`, `vdc token …`: who may do what.

use super::*;

#[derive(Debug, clap::Subcommand)]
pub enum UserCmd {
    /// Users with their roles.
    List,
    /// Create a local user with a first role (in its department when given, else global or
    /// in --cluster).
    Create {
        username: String,
        /// Built-in (admin, operator, requester, approver, auditor, viewer) or custom.
        #[arg(long)]
        role: String,
        /// Read from the VDC_NEW_PASSWORD environment variable when not given.
        #[arg(long, env = "VDC_NEW_PASSWORD", hide_env_values = true)]
        password: String,
        /// Department id or name the user belongs to (its role is scoped to it).
        #[arg(long)]
        department: Option<String>,
        /// Scope the role to this cluster (id or name) instead.
        #[arg(long)]
        cluster: Option<String>,
    },
    /// Give a user one more role, globally or in a department or cluster.
    Grant {
        username: String,
        #[arg(long)]
        role: String,
        #[arg(long)]
        department: Option<String>,
        #[arg(long)]
        cluster: Option<String>,
    },
    /// Take one of a user's roles away (the binding id from `user list`).
    Revoke { username: String, binding: String },
}

#[derive(Debug, clap::Subcommand)]
pub enum RoleCmd {
    /// Built-in and custom roles with their permissions.
    List,
    /// Define a custom role from permissions (e.g. --permission inventory.read
    /// --permission vm.operate).
    Create {
        name: String,
        #[arg(long = "permission", required = true)]
        permissions: Vec<Permission>,
        #[arg(long, default_value = "")]
        description: String,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum TokenCmd {
    /// Make a named API token (printed once), optionally limited to some permissions.
    Create {
        name: String,
        #[arg(long = "permission")]
        permissions: Vec<Permission>,
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// Your named API tokens.
    List,
    /// Revoke one of your tokens by id.
    Revoke { id: String },
}

pub async fn token(client: &Client, cmd: TokenCmd, out: Output) -> Result<()> {
    let tokens: Vec<TokenView> = match cmd {
        TokenCmd::Create {
            name,
            permissions,
            expires_in_days,
        } => {
            let p = TokenCreateParams {
                name,
                permissions: (!permissions.is_empty()).then_some(permissions),
                expires_in_days,
            };
            let t: TokenCreated = client.post("/tokens", &p).await?;
            if out == Output::Json {
                return print_json(&t);
            }
            println!("{}", t.token);
            eprintln!("token {} ({}): shown this once", t.info.name, t.info.id);
            return Ok(());
        }
        TokenCmd::List => client.get("/tokens", &[]).await?,
        TokenCmd::Revoke { id } => {
            let _: serde_json::Value = client.delete(&format!("/tokens/{id}")).await?;
            Vec::new()
        }
    };
    if out == Output::Json {
        return print_json(&tokens);
    }
    table(
        &["ID", "NAME", "PERMISSIONS", "EXPIRES"],
        tokens
            .iter()
            .map(|t| {
                vec![
                    t.id.clone(),
                    t.name.clone(),
                    t.permissions.as_ref().map_or_else(
                        || "all".to_string(),
                        |p| p.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(","),
                    ),
                    t.expires_at.clone(),
                ]
            })
            .collect(),
    );
    Ok(())
}

/// `role` or `role@department:ID` / `role@cluster:ID`, comma-separated.
pub fn roles_text(roles: &[RoleBindingView]) -> String {
    roles
        .iter()
        .map(|b| match (b.department_id, b.cluster_id) {
            (Some(d), _) => format!("{}@department:{d}", b.role),
            (None, Some(c)) => format!("{}@cluster:{c}", b.role),
            (None, None) => b.role.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) async fn user_by_name(client: &Client, name: &str) -> Result<UserView> {
    let all: Vec<UserView> = client.get("/users", &[]).await?;
    match all.into_iter().find(|u| u.username == name) {
        Some(u) => Ok(u),
        None => bail!("no user {name}"),
    }
}

pub(crate) fn print_users(users: &[UserView], out: Output) -> Result<()> {
    if out == Output::Json {
        return print_json(&users);
    }
    let mut rows = Vec::new();
    for u in users {
        for b in &u.roles {
            rows.push(vec![
                u.username.clone(),
                u.department_id
                    .map_or_else(|| "-".into(), |d| d.to_string()),
                roles_text(std::slice::from_ref(b)),
                b.from_group
                    .as_ref()
                    .map_or_else(|| "vdc".into(), |g| format!("directory group {g}")),
                b.id.clone(),
            ]);
        }
        if u.roles.is_empty() {
            rows.push(vec![
                u.username.clone(),
                "-".into(),
                "(no role)".into(),
                "-".into(),
                "-".into(),
            ]);
        }
    }
    table(
        &["USER", "DEPARTMENT", "ROLE", "GRANTED BY", "BINDING"],
        rows,
    );
    Ok(())
}

pub async fn user(client: &Client, cmd: UserCmd, out: Output) -> Result<()> {
    match cmd {
        UserCmd::List => {
            let users: Vec<UserView> = client.get("/users", &[]).await?;
            print_users(&users, out)
        }
        UserCmd::Create {
            username,
            role,
            password,
            department,
            cluster,
        } => {
            let p = UserCreateParams {
                username,
                password,
                role,
                department_id: department_id(client, department).await?,
                cluster_id: cluster_id(client, cluster).await?,
            };
            let u: UserView = client.post("/users", &p).await?;
            print_users(&[u], out)
        }
        UserCmd::Grant {
            username,
            role,
            department,
            cluster,
        } => {
            let u = user_by_name(client, &username).await?;
            let p = RoleBindingParams {
                role,
                department_id: department_id(client, department).await?,
                cluster_id: cluster_id(client, cluster).await?,
            };
            let u: UserView = client.post(&format!("/users/{}/roles", u.id), &p).await?;
            print_users(&[u], out)
        }
        UserCmd::Revoke { username, binding } => {
            let u = user_by_name(client, &username).await?;
            let u: UserView = client
                .delete(&format!("/users/{}/roles/{binding}", u.id))
                .await?;
            print_users(&[u], out)
        }
    }
}

pub async fn role(client: &Client, cmd: RoleCmd, out: Output) -> Result<()> {
    let roles: Vec<RoleView> = match cmd {
        RoleCmd::List => client.get("/roles", &[]).await?,
        RoleCmd::Create {
            name,
            permissions,
            description,
        } => {
            let p = RoleCreateParams {
                name,
                description,
                permissions,
            };
            vec![client.post("/roles", &p).await?]
        }
    };
    if out == Output::Json {
        return print_json(&roles);
    }
    table(
        &["ROLE", "BUILT IN", "PERMISSIONS", "DESCRIPTION"],
        roles
            .iter()
            .map(|r| {
                vec![
                    r.name.clone(),
                    r.builtin.to_string(),
                    r.permissions
                        .iter()
                        .map(|p| p.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                    r.description.clone(),
                ]
            })
            .collect(),
    );
    Ok(())
}
