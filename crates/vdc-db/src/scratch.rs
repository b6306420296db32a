//! Throwaway stores for tests and benchmarks: a SQLite file in a directory, or a new database
//! on the PostgreSQL server that `DATABASE_URL` names (`scripts/test.sh` starts one). A test
//! that asks for PostgreSQL without one fails; it never falls back to SQLite.

/// Which store engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    Sqlite,
    Postgres,
}

/// A fresh database URL for `store`, in `dir` for SQLite.
pub async fn fresh_database(store: Store, dir: &std::path::Path) -> String {
    match store {
        Store::Sqlite => format!("sqlite://{}?mode=rwc", dir.join("vdc.sqlite").display()),
        Store::Postgres => {
            let admin = std::env::var("DATABASE_URL").expect(
                "PostgreSQL tests need DATABASE_URL pointing at a test server: run scripts/test.sh, which starts one",
            );
            sqlx::any::install_default_drivers();
            let name = format!("t_{}", uuid::Uuid::new_v4().simple());
            let pool = sqlx::AnyPool::connect(&admin)
                .await
                .expect("connect to the test PostgreSQL");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&pool)
                .await
                .expect("create a test database");
            pool.close().await;
            match admin.rsplit_once('/') {
                Some((prefix, _)) => format!("{prefix}/{name}"),
                None => panic!("DATABASE_URL {admin:?} has no database part"),
            }
        }
    }
}
