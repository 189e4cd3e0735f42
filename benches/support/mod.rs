//! What the benchmarks share: a fresh SQLite file and a fresh Postgres database to run on.

pub mod service;

use diesel::{Connection, PgConnection, RunQueryDsl};

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Runs `bench` on a new SQLite file, then on a new Postgres database (from
/// `SCIMITAR_TEST_POSTGRES_URL` or the default test URL) if one can be created.
pub fn on_each_backend(bench: impl Fn(&str, &str)) {
    let dir = tempfile::tempdir().expect("temporary directory");
    bench("sqlite", &dir.path().join("bench.db").display().to_string());
    let admin =
        std::env::var("SCIMITAR_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.into());
    match PgConnection::establish(&admin) {
        Ok(mut conn) => {
            let name = format!("scimitar_bench_{}", uuid::Uuid::new_v4().simple());
            diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
                .execute(&mut conn)
                .expect("create database");
            let server = admin
                .rsplit_once('/')
                .map_or(admin.as_str(), |(server, _)| server);
            bench("postgres", &format!("{server}/{name}"));
            let _ = diesel::sql_query(format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
                .execute(&mut conn);
        }
        Err(error) => println!("postgres: skipped ({error})"),
    }
}
