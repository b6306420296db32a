//! vdc's store: one schema and one set of SQL strings that run unchanged on SQLite (the
//! embedded default) and PostgreSQL (several servers sharing state), through `sqlx::Any`.
//!
//! Ids are UUID text, timestamps unix milliseconds, flags 0/1 and nested lists JSON text, so
//! every value binds through `Any`. Runtime state updates are generation-checked: a report
//! applies only when it is newer than the one stored ([`DataStore::apply_vm_report`]).

mod accounts;
mod audit;
mod compliance;
pub mod ha;
pub mod imports;
mod inventory;
mod jobs;
pub mod metrics;
mod quotas;
mod requests;
mod rows;
pub mod scratch;
mod vms;

pub use inventory::{HostListFilter, HostRegistration};
pub use jobs::PlannedVm;
pub use quotas::{PriceList, Quota};
pub use requests::Request;
pub use rows::*;
pub use vms::{HostSyncWrite, VmFilter, VmPatch, VmReport, VmSyncOutcome};

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use std::str::FromStr;
use std::time::Duration;

/// What a store call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database could not be opened or migrated.
    #[error("cannot open store {url}")]
    Open {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    /// Migrations failed.
    #[error("cannot migrate store")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("store query failed: {what}")]
    Query {
        what: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// A stored value does not decode (e.g. an unknown enum spelling).
    #[error("corrupt {what} in store: {detail}")]
    Corrupt { what: &'static str, detail: String },
    /// The row changed since the caller read it (generation mismatch) or a unique key is taken.
    #[error("conflict: {0}")]
    Conflict(String),
    /// No such row.
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },
}

impl From<DbError> for vdc_types::Error {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Conflict(m) => vdc_types::Error::conflict(m),
            DbError::NotFound { kind, id } => vdc_types::Error::NotFound { kind, id },
            // The cause goes to the server log; the client gets no SQL detail.
            other => {
                let cause = std::error::Error::source(&other).map(ToString::to_string);
                tracing::error!(error = %other, cause = cause.as_deref().unwrap_or("-"), "store failure");
                vdc_types::Error::internal(other.to_string())
            }
        }
    }
}

pub type DbResult<T> = Result<T, DbError>;

/// Which engine the store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// `sqlite` or `postgres`.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// The store handle: a connection pool plus the queries. Cheap to clone.
#[derive(Debug, Clone)]
pub struct DataStore {
    pool: AnyPool,
    backend: Backend,
}

pub(crate) fn q(what: &'static str) -> impl FnOnce(sqlx::Error) -> DbError {
    move |source| DbError::Query { what, source }
}

/// Takes the write lock first thing in a transaction that reads before it writes: a no-op
/// update of row `id` of `table`. On SQLite (WAL) a deferred transaction that read a snapshot
/// cannot upgrade to writing once another connection has committed (`database is locked` at
/// once, whatever the busy timeout); writing first waits for the lock instead. On PostgreSQL
/// it locks the row, like `SELECT … FOR UPDATE`. `table` is one of ours, never user input.
pub(crate) async fn write_first<E>(
    exec: &mut E,
    table: &'static str,
    id: &str,
) -> Result<(), sqlx::Error>
where
    for<'e> &'e mut E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {table} SET id = id WHERE id = $1"
    )))
    .bind(id)
    .execute(&mut *exec)
    .await?;
    Ok(())
}

/// Current time in unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl DataStore {
    /// Opens (creating if needed) and migrates the store at `url`: `sqlite://path?mode=rwc`,
    /// `sqlite::memory:` or `postgres://…`.
    pub async fn connect(url: &str) -> DbResult<DataStore> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        };
        let memory = url.contains(":memory:");
        let pool = AnyPoolOptions::new()
            // An in-memory SQLite database exists per connection: keep exactly one.
            .max_connections(if memory {
                1
            } else if backend == Backend::Sqlite {
                8
            } else {
                16
            })
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the one writer; NORMAL sync is durable
                        // across application crashes (only an OS crash may lose the last commit).
                        for pragma in [
                            "PRAGMA journal_mode = WAL",
                            "PRAGMA synchronous = NORMAL",
                            "PRAGMA busy_timeout = 10000",
                            "PRAGMA foreign_keys = ON",
                        ] {
                            sqlx::query(pragma).execute(&mut *conn).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await
            .map_err(|source| DbError::Open {
                url: redact_url(url),
                source,
            })?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(DbError::Migrate)?;
        Ok(DataStore { pool, backend })
    }

    /// Which engine this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// One newest-first page of a table keyed by time-ordered (v7) ids: rows of `select`
    /// (a `SELECT … FROM table` without WHERE) older than `before`; the bool says whether more
    /// follow.
    pub(crate) async fn newest_first<T>(
        &self,
        select: &str,
        before: Option<String>,
        limit: u32,
        decode: fn(&AnyRow) -> DbResult<T>,
    ) -> DbResult<(Vec<T>, bool)> {
        let mut b = inventory::Binds::default();
        let mut sql = format!("{select} WHERE 1 = 1");
        if let Some(id) = before {
            sql.push_str(&format!(" AND id < {}", b.push(inventory::Arg::Str(id))));
        }
        sql.push_str(&format!(
            " ORDER BY id DESC LIMIT {}",
            b.push(inventory::Arg::Int(i64::from(limit) + 1))
        ));
        b.fetch_page(&self.pool, sql, limit, "list newest first", decode)
            .await
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A digest of every table's contents except the audit log: tests compare it before and
    /// after a rejected request to prove nothing was written.
    pub async fn fingerprint(&self) -> DbResult<String> {
        let mut out = String::new();
        for (table, order) in [
            ("sites", "id"),
            ("clusters", "id"),
            ("departments", "id"),
            ("hosts", "id"),
            ("datastores", "id"),
            ("networks", "id"),
            ("vms", "id"),
            ("vm_tags", "vm_id, tag"),
            ("physical_servers", "id"),
            ("users", "id"),
            ("role_bindings", "id"),
            ("roles", "name"),
            ("requests", "id"),
            ("quotas", "department_id"),
            ("api_tokens", "token_hash"),
            ("jobs", "id"),
        ] {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT * FROM {table} ORDER BY {order}"
            )))
            .fetch_all(&self.pool)
            .await
            .map_err(q("fingerprint"))?;
            out.push_str(&format!("{table}:{}\n", rows.len()));
            for row in rows {
                for i in 0..row.len() {
                    let cell = row
                        .try_get::<Option<String>, _>(i)
                        .map(|v| v.unwrap_or_default())
                        .or_else(|_| row.try_get::<Option<i64>, _>(i).map(|v| format!("{v:?}")))
                        .unwrap_or_else(|_| "?".into());
                    out.push_str(&cell);
                    out.push('|');
                }
                out.push('\n');
            }
        }
        Ok(out)
    }
}

/// Hides the password of a database URL for logs and errors.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

pub(crate) fn parse_enum<T: FromStr<Err = String>>(what: &'static str, s: &str) -> DbResult<T> {
    s.parse()
        .map_err(|detail| DbError::Corrupt { what, detail })
}

pub(crate) fn parse_id<T: FromStr>(what: &'static str, s: &str) -> DbResult<T> {
    s.parse().map_err(|_| DbError::Corrupt {
        what,
        detail: format!("bad id {s:?}"),
    })
}

pub(crate) fn opt_id<T: FromStr>(what: &'static str, s: Option<String>) -> DbResult<Option<T>> {
    s.map(|s| parse_id(what, &s)).transpose()
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    what: &'static str,
    s: &str,
) -> DbResult<T> {
    serde_json::from_str(s).map_err(|e| DbError::Corrupt {
        what,
        detail: e.to_string(),
    })
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("plain data serialises")
}

pub(crate) fn get<'r, T>(row: &'r AnyRow, col: &'static str) -> DbResult<T>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(col).map_err(q(col))
}

/// True when the error is a unique-constraint violation (name taken).
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            matches!(d.kind(), sqlx::error::ErrorKind::UniqueViolation)
                || d.message().contains("UNIQUE constraint failed")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            super::redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(super::redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(super::redact_url("sqlite://x.db"), "sqlite://x.db");
    }
}
