//! Departments, users and API tokens.

use sqlx::any::AnyRow;
use vdc_types::*;

use crate::*;
use sqlx::AssertSqlSafe;

fn department_from_row(r: &AnyRow) -> DbResult<Department> {
    Ok(Department {
        id: parse_id("department id", &get::<String>(r, "id")?)?,
        name: get(r, "name")?,
        cost_centre: get(r, "cost_centre")?,
        created_at: get(r, "created_at")?,
    })
}

fn user_from_row(r: &AnyRow) -> DbResult<User> {
    Ok(User {
        id: parse_id("user id", &get::<String>(r, "id")?)?,
        username: get(r, "username")?,
        password_hash: get(r, "password_hash")?,
        department_id: opt_id("department id", get(r, "department_id")?)?,
        directory_dn: get(r, "directory_dn")?,
        created_at: get(r, "created_at")?,
    })
}

const USER_COLS: &str = "id, username, password_hash, department_id, directory_dn, created_at";

fn binding_from_row(r: &AnyRow) -> DbResult<RoleBinding> {
    Ok(RoleBinding {
        id: parse_id("role binding id", &get::<String>(r, "id")?)?,
        user_id: parse_id("user id", &get::<String>(r, "user_id")?)?,
        role: get(r, "role")?,
        department_id: opt_id("department id", get(r, "department_id")?)?,
        cluster_id: opt_id("cluster id", get(r, "cluster_id")?)?,
        from_group: get(r, "from_group")?,
        created_at: get(r, "created_at")?,
    })
}

fn token_from_row(
    r: &AnyRow,
    user_id: UserId,
    id_col: &'static str,
    created_col: &'static str,
) -> DbResult<TokenRecord> {
    let perms: Option<String> = get(r, "permissions")?;
    Ok(TokenRecord {
        id: opt_id("token id", get(r, id_col)?)?,
        user_id,
        name: get(r, "name")?,
        kind: parse_enum("token kind", &get::<String>(r, "kind")?)?,
        permissions: perms
            .map(|p| {
                from_json::<Vec<String>>("permissions", &p)?
                    .iter()
                    .map(|n| parse_enum("permission", n))
                    .collect::<DbResult<Vec<Permission>>>()
            })
            .transpose()?,
        csrf_hash: get(r, "csrf_hash")?,
        created_at: get(r, created_col)?,
        expires_at: get(r, "expires_at")?,
    })
}

const BINDING_COLS: &str = "id, user_id, role, department_id, cluster_id, from_group, created_at";

/// Inserts a role binding through `exec`.
async fn insert_binding_in<E>(exec: &mut E, b: &RoleBinding) -> Result<(), sqlx::Error>
where
    for<'e> &'e mut E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO role_bindings ({BINDING_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    )))
    .bind(b.id.to_string())
    .bind(b.user_id.to_string())
    .bind(&b.role)
    .bind(b.department_id.map(|d| d.to_string()))
    .bind(b.cluster_id.map(|c| c.to_string()))
    .bind(b.from_group.as_deref())
    .bind(b.created_at)
    .execute(&mut *exec)
    .await?;
    Ok(())
}

/// Adds a user through `exec` (none when `skip_taken` and the name is taken); rows added.
async fn insert_user_in<E>(exec: &mut E, u: &User, skip_taken: bool) -> Result<u64, sqlx::Error>
where
    for<'e> &'e mut E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let on_conflict = if skip_taken {
        " ON CONFLICT (username) DO NOTHING"
    } else {
        ""
    };
    let res = sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO users ({USER_COLS}) VALUES ($1, $2, $3, $4, $5, $6){on_conflict}"
    )))
    .bind(u.id.to_string())
    .bind(&u.username)
    .bind(&u.password_hash)
    .bind(u.department_id.map(|d| d.to_string()))
    .bind(u.directory_dn.as_deref())
    .bind(u.created_at)
    .execute(&mut *exec)
    .await?;
    Ok(res.rows_affected())
}

impl DataStore {
    /// Adds a department; a taken name is a conflict.
    pub async fn insert_department(&self, d: &Department) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO departments (id, name, cost_centre, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(d.id.to_string())
        .bind(&d.name)
        .bind(&d.cost_centre)
        .bind(d.created_at)
        .execute(self.pool())
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                DbError::Conflict(format!("department {} already exists", d.name))
            } else {
                DbError::Query {
                    what: "insert department",
                    source: e,
                }
            }
        })?;
        Ok(())
    }

    /// All departments, by name.
    pub async fn list_departments(&self) -> DbResult<Vec<Department>> {
        let rows =
            sqlx::query("SELECT id, name, cost_centre, created_at FROM departments ORDER BY name")
                .fetch_all(self.pool())
                .await
                .map_err(q("list departments"))?;
        rows.iter().map(department_from_row).collect()
    }

    /// One department.
    pub async fn get_department(&self, id: DepartmentId) -> DbResult<Department> {
        let row =
            sqlx::query("SELECT id, name, cost_centre, created_at FROM departments WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(self.pool())
                .await
                .map_err(q("get department"))?
                .ok_or_else(|| DbError::NotFound {
                    kind: "department",
                    id: id.to_string(),
                })?;
        department_from_row(&row)
    }

    /// Adds a user with its first role binding, in one transaction; a taken username is a
    /// conflict.
    pub async fn insert_user(&self, u: &User, first: &RoleBinding) -> DbResult<()> {
        let mut tx = self.pool().begin().await.map_err(q("begin"))?;
        insert_user_in(&mut *tx, u, false).await.map_err(|e| {
            if is_unique_violation(&e) {
                DbError::Conflict(format!("user {} already exists", u.username))
            } else {
                DbError::Query {
                    what: "insert user",
                    source: e,
                }
            }
        })?;
        insert_binding_in(&mut *tx, first)
            .await
            .map_err(q("insert role binding"))?;
        tx.commit().await.map_err(q("commit"))
    }

    /// Records a directory user at login: adds it when new (`u`, whose password stays in the
    /// directory), else updates its entry and, when `u` has one, its department; then makes
    /// the role bindings that came from directory groups those of `mapped` (unchanged ones
    /// keep their ids), keeping the roles granted in vdc. A local user of that name is a conflict. Returns the user, its bindings
    /// before and whether it was added.
    pub async fn sync_directory_user(
        &self,
        u: &User,
        mapped: &[RoleBinding],
    ) -> DbResult<(User, Vec<RoleBinding>, bool)> {
        let mut tx = self.pool().begin().await.map_err(q("begin"))?;
        // Writing first takes the write lock (see `write_first`) and adds a new user.
        let added = insert_user_in(&mut *tx, u, true)
            .await
            .map_err(q("add directory user"))?
            == 1;
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {USER_COLS} FROM users WHERE username = $1"
        )))
        .bind(&u.username)
        .fetch_one(&mut *tx)
        .await
        .map_err(q("directory user"))?;
        let mut user = user_from_row(&row)?;
        if user.directory_dn.is_none() {
            return Err(DbError::Conflict(format!(
                "{} is a local user, not one from the directory",
                u.username
            )));
        }
        user.directory_dn = u.directory_dn.clone();
        user.department_id = u.department_id.or(user.department_id);
        sqlx::query("UPDATE users SET directory_dn = $1, department_id = $2 WHERE id = $3")
            .bind(user.directory_dn.as_deref())
            .bind(user.department_id.map(|d| d.to_string()))
            .bind(user.id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(q("update directory user"))?;
        let before = sqlx::query(AssertSqlSafe(format!(
            "SELECT {BINDING_COLS} FROM role_bindings WHERE user_id = $1 ORDER BY created_at, id"
        )))
        .bind(user.id.to_string())
        .fetch_all(&mut *tx)
        .await
        .map_err(q("role bindings"))?
        .iter()
        .map(binding_from_row)
        .collect::<DbResult<Vec<_>>>()?;
        // Bindings that still hold keep their ids; the others go, the new ones come.
        let same = |a: &RoleBinding, b: &RoleBinding| {
            (&a.role, a.department_id, a.cluster_id, &a.from_group)
                == (&b.role, b.department_id, b.cluster_id, &b.from_group)
        };
        for old in before.iter().filter(|b| b.from_group.is_some()) {
            if !mapped.iter().any(|m| same(m, old)) {
                sqlx::query("DELETE FROM role_bindings WHERE id = $1")
                    .bind(old.id.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(q("drop directory role"))?;
            }
        }
        for m in mapped.iter().filter(|m| !before.iter().any(|b| same(m, b))) {
            let b = RoleBinding {
                user_id: user.id,
                ..m.clone()
            };
            insert_binding_in(&mut *tx, &b)
                .await
                .map_err(q("insert role binding"))?;
        }
        tx.commit().await.map_err(q("commit"))?;
        Ok((user, before, added))
    }

    /// One user.
    pub async fn get_user(&self, id: UserId) -> DbResult<User> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {USER_COLS} FROM users WHERE id = $1"
        )))
        .bind(id.to_string())
        .fetch_optional(self.pool())
        .await
        .map_err(q("get user"))?
        .ok_or_else(|| DbError::NotFound {
            kind: "user",
            id: id.to_string(),
        })?;
        user_from_row(&row)
    }

    /// Adds a role binding.
    pub async fn insert_binding(&self, b: &RoleBinding) -> DbResult<()> {
        let mut conn = self.pool().acquire().await.map_err(q("acquire"))?;
        insert_binding_in(&mut *conn, b)
            .await
            .map_err(q("insert role binding"))
    }

    /// Removes a user's role binding; `NotFound` when the user has no such binding.
    pub async fn delete_binding(&self, user: UserId, id: RoleBindingId) -> DbResult<()> {
        let res = sqlx::query("DELETE FROM role_bindings WHERE id = $1 AND user_id = $2")
            .bind(id.to_string())
            .bind(user.to_string())
            .execute(self.pool())
            .await
            .map_err(q("delete role binding"))?;
        if res.rows_affected() == 0 {
            return Err(DbError::NotFound {
                kind: "role binding",
                id: id.to_string(),
            });
        }
        Ok(())
    }

    /// Role bindings of some users (all users when `None`), by user and creation.
    pub async fn bindings(&self, user: Option<UserId>) -> DbResult<Vec<RoleBinding>> {
        let rows = match user {
            Some(u) => sqlx::query(AssertSqlSafe(format!(
                "SELECT {BINDING_COLS} FROM role_bindings WHERE user_id = $1 ORDER BY created_at, id"
            )))
            .bind(u.to_string())
            .fetch_all(self.pool())
            .await,
            None => sqlx::query(AssertSqlSafe(format!(
                "SELECT {BINDING_COLS} FROM role_bindings ORDER BY user_id, created_at, id"
            )))
            .fetch_all(self.pool())
            .await,
        }
        .map_err(q("role bindings"))?;
        rows.iter().map(binding_from_row).collect()
    }

    /// Adds a custom role; a taken name is a conflict.
    pub async fn insert_role(&self, r: &CustomRole) -> DbResult<()> {
        let perms: Vec<&str> = r.permissions.iter().map(|p| p.as_str()).collect();
        sqlx::query(
            "INSERT INTO roles (name, description, permissions, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&r.name)
        .bind(&r.description)
        .bind(to_json(&perms))
        .bind(r.created_at)
        .execute(self.pool())
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                DbError::Conflict(format!("role {} already exists", r.name))
            } else {
                DbError::Query { what: "insert role", source: e }
            }
        })?;
        Ok(())
    }

    /// Every custom role, by name.
    pub async fn custom_roles(&self) -> DbResult<Vec<CustomRole>> {
        let rows = sqlx::query(
            "SELECT name, description, permissions, created_at FROM roles ORDER BY name",
        )
        .fetch_all(self.pool())
        .await
        .map_err(q("list roles"))?;
        rows.iter()
            .map(|r| {
                let names: Vec<String> =
                    from_json("permissions", &get::<String>(r, "permissions")?)?;
                Ok(CustomRole {
                    name: get(r, "name")?,
                    description: get(r, "description")?,
                    permissions: names
                        .iter()
                        .map(|n| parse_enum("permission", n))
                        .collect::<DbResult<_>>()?,
                    created_at: get(r, "created_at")?,
                })
            })
            .collect()
    }

    /// A user by name.
    pub async fn user_by_name(&self, username: &str) -> DbResult<Option<User>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {USER_COLS} FROM users WHERE username = $1"
        )))
        .bind(username)
        .fetch_optional(self.pool())
        .await
        .map_err(q("user by name"))?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// All users, by name.
    pub async fn list_users(&self) -> DbResult<Vec<User>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {USER_COLS} FROM users ORDER BY username"
        )))
        .fetch_all(self.pool())
        .await
        .map_err(q("list users"))?;
        rows.iter().map(user_from_row).collect()
    }

    /// Number of users.
    pub async fn count_users(&self) -> DbResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(self.pool())
            .await
            .map_err(q("count users"))
    }

    /// Stores a token by its hash.
    pub async fn insert_token(&self, token_hash: &str, t: &TokenRecord) -> DbResult<()> {
        let perms = t
            .permissions
            .as_ref()
            .map(|p| to_json(&p.iter().map(|p| p.as_str()).collect::<Vec<_>>()));
        sqlx::query(
            "INSERT INTO api_tokens (token_hash, user_id, created_at, expires_at, id, name, kind, permissions, csrf_hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(token_hash)
        .bind(t.user_id.to_string())
        .bind(t.created_at)
        .bind(t.expires_at)
        .bind(t.id.map(|i| i.to_string()))
        .bind(t.name.as_deref())
        .bind(t.kind.as_str())
        .bind(perms)
        .bind(t.csrf_hash.as_deref())
        .execute(self.pool())
        .await
        .map_err(q("insert token"))?;
        Ok(())
    }

    /// The user owning an unexpired token, and the token.
    pub async fn user_by_token(
        &self,
        token_hash: &str,
        now: UnixMs,
    ) -> DbResult<Option<(User, TokenRecord)>> {
        let row = sqlx::query(
            "SELECT u.id, u.username, u.password_hash, u.department_id, u.directory_dn, u.created_at, \
             t.id AS token_id, t.name, t.kind, t.permissions, t.csrf_hash, t.created_at AS token_created_at, t.expires_at \
             FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1 AND t.expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(self.pool())
        .await
        .map_err(q("user by token"))?;
        let Some(r) = row else { return Ok(None) };
        let user = user_from_row(&r)?;
        let token = token_from_row(&r, user.id, "token_id", "token_created_at")?;
        Ok(Some((user, token)))
    }

    /// A user's named API tokens, newest first.
    pub async fn api_tokens(&self, user: UserId, now: UnixMs) -> DbResult<Vec<TokenRecord>> {
        let rows = sqlx::query(
            "SELECT id, name, kind, permissions, csrf_hash, created_at, expires_at FROM api_tokens \
             WHERE user_id = $1 AND kind = 'api' AND expires_at > $2 ORDER BY created_at DESC",
        )
        .bind(user.to_string())
        .bind(now)
        .fetch_all(self.pool())
        .await
        .map_err(q("api tokens"))?;
        rows.iter()
            .map(|r| token_from_row(r, user, "id", "created_at"))
            .collect()
    }

    /// Revokes one of a user's named tokens; `NotFound` when it has none of that id.
    pub async fn revoke_token(&self, user: UserId, id: TokenId) -> DbResult<()> {
        let res = sqlx::query("DELETE FROM api_tokens WHERE id = $1 AND user_id = $2")
            .bind(id.to_string())
            .bind(user.to_string())
            .execute(self.pool())
            .await
            .map_err(q("revoke token"))?;
        if res.rows_affected() == 0 {
            return Err(DbError::NotFound {
                kind: "token",
                id: id.to_string(),
            });
        }
        Ok(())
    }

    /// Deletes every token (session, browser session, API token) that ended by `now`; returns
    /// how many.
    pub async fn prune_tokens(&self, now: UnixMs) -> DbResult<u64> {
        let res = sqlx::query("DELETE FROM api_tokens WHERE expires_at <= $1")
            .bind(now)
            .execute(self.pool())
            .await
            .map_err(q("prune tokens"))?;
        Ok(res.rows_affected())
    }

    /// Revokes a token.
    pub async fn delete_token(&self, token_hash: &str) -> DbResult<()> {
        sqlx::query("DELETE FROM api_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .execute(self.pool())
            .await
            .map_err(q("delete token"))?;
        Ok(())
    }
}
