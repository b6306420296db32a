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
        role: parse_enum("role", &get::<String>(r, "role")?)?,
        department_id: opt_id("department id", get(r, "department_id")?)?,
        created_at: get(r, "created_at")?,
    })
}

const USER_COLS: &str = "id, username, password_hash, role, department_id, created_at";

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

    /// Adds a user; a taken username is a conflict.
    pub async fn insert_user(&self, u: &User) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, role, department_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(u.id.to_string())
        .bind(&u.username)
        .bind(&u.password_hash)
        .bind(u.role.as_str())
        .bind(u.department_id.map(|d| d.to_string()))
        .bind(u.created_at)
        .execute(self.pool())
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                DbError::Conflict(format!("user {} already exists", u.username))
            } else {
                DbError::Query { what: "insert user", source: e }
            }
        })?;
        Ok(())
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

    /// Stores a session token by its hash.
    pub async fn insert_token(
        &self,
        token_hash: &str,
        user: UserId,
        expires_at: UnixMs,
    ) -> DbResult<()> {
        sqlx::query("INSERT INTO api_tokens (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash)
            .bind(user.to_string())
            .bind(now_ms())
            .bind(expires_at)
            .execute(self.pool())
            .await
            .map_err(q("insert token"))?;
        Ok(())
    }

    /// The user owning an unexpired token.
    pub async fn user_by_token(&self, token_hash: &str, now: UnixMs) -> DbResult<Option<User>> {
        let row = sqlx::query(
            "SELECT u.id, u.username, u.password_hash, u.role, u.department_id, u.created_at \
             FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1 AND t.expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(self.pool())
        .await
        .map_err(q("user by token"))?;
        row.as_ref().map(user_from_row).transpose()
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
