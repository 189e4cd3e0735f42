//! A read-modify-write of a user or a group reads and locks its row in one statement
//! (`store::users::get_for_update`, `SELECT … FOR UPDATE` on Postgres): another replica that
//! reads the row for a change of its own waits until the first transaction ends, then reads
//! the row as it was left, so neither change is lost. On both backends (on SQLite a write
//! transaction holds the database's write lock).

use std::sync::mpsc;
use std::time::Duration;

use reqwest::StatusCode;
use scimitar::store::users::{self, UserChanges};
use scimitar::store::{DatabaseUrl, PoolSettings, Store, StoreError};
use serde_json::json;

use crate::helpers::{expect_status, id_of};
use crate::on_both_backends;

on_both_backends! {
    async fn a_replica_reading_a_row_for_update_waits_for_the_write_holding_it(app) {
        let created = expect_status(app.post("/Users", &json!({"userName": "held"})).await, StatusCode::CREATED).await;
        let (tenant, id) = (app.tenant_id.clone(), id_of(&created));
        // Another replica: a store of its own on the same database, opened before any write.
        let url = DatabaseUrl::parse(app.database_url()).expect("URL");
        let replica = Store::open(&url, &PoolSettings::default()).expect("a replica");
        let (locked, holding) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let first = {
            let (store, tenant, id) = (app.store.clone(), tenant.clone(), id.clone());
            std::thread::spawn(move || {
                store.write(|conn| {
                    let row = users::get_for_update(conn, &tenant, &id)?.ok_or(StoreError::NotFound)?;
                    let _ = locked.send(row.version);
                    let _ = released.recv_timeout(Duration::from_secs(20));
                    let changes = UserChanges {
                        user_name: row.user_name,
                        user_name_key: row.user_name_key,
                        external_id: Some("changed-by-the-first".into()),
                        active: row.active,
                        attributes: row.attributes,
                        search: row.search,
                        last_modified: row.last_modified,
                    };
                    users::update(conn, &tenant, &id, &changes)?.ok_or(StoreError::NotFound)
                })
            })
        };
        let before = holding.recv().expect("the first write read the row");
        let second = std::thread::spawn(move || {
            replica.write(|conn| users::get_for_update(conn, &tenant, &id)?.ok_or(StoreError::NotFound))
        });
        std::thread::sleep(Duration::from_millis(400));
        assert!(!second.is_finished(), "the second read waits for the row held by the first write");
        release.send(()).expect("release the first write");
        let written = first.join().expect("the first writer").expect("its write");
        assert_eq!(written.version, before + 1);
        let read = second.join().expect("the second writer").expect("its read");
        assert_eq!(read.version, before + 1, "the second read sees the row as the first write left it");
        assert_eq!(read.external_id.as_deref(), Some("changed-by-the-first"));
    }
}
