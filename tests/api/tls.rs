//! TLS to Postgres: the bundled libpq is built with OpenSSL, so `sslmode=require` works.
//! (SQLite is a local file; there is nothing to encrypt.)

use diesel::sql_types::Bool;
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};

use crate::helpers::{Backend, TestDb};

#[derive(QueryableByName)]
struct Encrypted {
    #[diesel(sql_type = Bool)]
    ssl: bool,
}

#[test]
fn sslmode_require_gives_an_encrypted_postgres_connection() {
    let Some(db) = TestDb::create(Backend::Postgres) else {
        return;
    };
    let separator = if db.url.contains('?') { '&' } else { '?' };
    let url = format!("{}{separator}sslmode=require", db.url);
    match PgConnection::establish(&url) {
        Ok(mut conn) => {
            let row: Encrypted =
                diesel::sql_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                    .get_result(&mut conn)
                    .expect("pg_stat_ssl");
            assert!(row.ssl, "the connection is encrypted");
        }
        // A server without TLS is refused by libpq's TLS code; a libpq built without TLS would
        // instead reject the option itself ("SSL support is not compiled in").
        Err(error) => {
            let message = error.to_string();
            assert!(
                !message.contains("not compiled in"),
                "libpq lacks TLS: {message}"
            );
            assert!(
                message.contains("does not support SSL"),
                "unexpected error: {message}"
            );
        }
    }
    // Scimitar's own store accepts the same URL.
    let store_url = scimitar::store::DatabaseUrl::parse(&url).expect("URL");
    if PgConnection::establish(&url).is_ok() {
        scimitar::store::Store::open(&store_url, &Default::default()).expect("open over TLS");
    }
}
