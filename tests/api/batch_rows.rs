//! The audit records and outbox events of a write transaction wait in memory with its chain
//! heads and go in just before the commit, one statement per table (`store::heads`,
//! decision 67): reads in the transaction still see them, a member undone after such a read
//! loses none of the others', and a backfill of a new matching attribute waits for the writes
//! that read the attributes before it was recorded.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use scimitar::audit::Verification;
use scimitar::store::{StoreError, match_values, outbox};

use crate::audit::{records, tamper, verify};
use crate::group_commit::{create_probe, heads_write, probes, texts, wait_for_batch};
use crate::helpers::TestApp;
use crate::on_both_backends;

/// Starts a write that appends to both chains and then holds its batch open until `size`
/// writes (itself included) wait in it; returns once its work has begun.
fn lead_batch(
    app: &TestApp,
    tenant: &str,
    size: usize,
) -> std::thread::JoinHandle<Result<(), StoreError>> {
    let (started, leader_started) = std::sync::mpsc::channel();
    let (store, tenant) = (app.store.clone(), tenant.to_string());
    let leader = std::thread::spawn(move || {
        store.write(|conn| {
            heads_write(conn, &tenant, "leader")?;
            let _ = started.send(());
            wait_for_batch(&store, size);
            Ok::<_, StoreError>(())
        })
    });
    leader_started.recv().expect("the leader started");
    leader
}

on_both_backends! {
    async fn a_member_undone_after_reading_the_chains_loses_none_of_the_records_before_it(app) {
        create_probe(&app);
        let tenant = app.tenant_id.clone();
        let audit_before = records(&app).len();
        let outbox_before = app.store.read(|conn| outbox::head(conn, &tenant)).expect("outbox head");
        let leader = lead_batch(&app, &tenant, 2);
        // Its turn comes after the leader's: it reads both chains, which puts the leader's
        // waiting rows in inside its own savepoint, and then fails, which takes them out again.
        let reader = {
            let (store, tenant) = (app.store.clone(), tenant.clone());
            std::thread::spawn(move || {
                store.write(|conn| {
                    heads_write(conn, &tenant, "reader")?;
                    let events = outbox::after(conn, &tenant, outbox_before, 100)?;
                    let chain = scimitar::store::audit::chain(conn, &tenant, 0, i64::MAX)?;
                    let seen = (events.len(), chain.len());
                    Err::<(), _>(StoreError::Conflict(format!("{seen:?}")))
                })
            })
        };
        let seen = match reader.join().expect("the reader") {
            Err(StoreError::Conflict(seen)) => seen,
            other => panic!("the reader fails as it was written to: {other:?}"),
        };
        assert!(leader.join().expect("the leader").is_ok());
        assert_eq!(seen, format!("{:?}", (2, audit_before + 2)), "the transaction's reads see its waiting rows");

        let names: Vec<String> = records(&app)[audit_before..].iter().map(|r| r.action.clone()).collect();
        assert_eq!(names, ["test.write"], "the leader's record is kept, the reader's is not");
        let events = app.store.read(|conn| outbox::after(conn, &tenant, outbox_before, 100)).expect("outbox");
        let users: Vec<_> = events.iter().map(|e| e.user_id.clone().unwrap_or_default()).collect();
        assert_eq!(users, ["leader"]);
        assert_eq!(app.store.read(|conn| outbox::head(conn, &tenant)).expect("head"), outbox_before + 1);
        assert_eq!(probes(&app.store), ["leader".to_string()].into());
        assert!(matches!(verify(&app), Verification::Intact { .. }), "{:?}", verify(&app));

        // The chains go on from there.
        app.store.write(|conn| heads_write(conn, &tenant, "after")).expect("a later write");
        assert!(matches!(verify(&app), Verification::Intact { .. }), "{:?}", verify(&app));
        assert_eq!(app.store.read(|conn| outbox::head(conn, &tenant)).expect("head"), outbox_before + 2);
    }

    async fn a_new_matching_attribute_is_filled_in_only_after_the_writes_that_read_the_old_list(app) {
        let tenant = app.tenant_id.clone();
        // Another replica, starting up: a store of its own on the same database.
        let url = scimitar::store::DatabaseUrl::parse(app.database_url()).expect("URL");
        let replica = scimitar::store::Store::open(&url, &scimitar::store::PoolSettings::default()).expect("a replica");
        let (read, write_read) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let committed = Arc::new(AtomicBool::new(false));
        let writer = {
            let (store, tenant, committed) = (app.store.clone(), tenant.clone(), committed.clone());
            std::thread::spawn(move || {
                store.write(|conn| {
                    let attributes = match_values::configured_for_write(conn, &tenant)?;
                    let _ = read.send(attributes.len());
                    let _ = released.recv_timeout(Duration::from_secs(20));
                    Ok::<_, StoreError>(())
                })?;
                committed.store(true, Ordering::SeqCst);
                Ok::<_, StoreError>(())
            })
        };
        assert_eq!(write_read.recv().expect("the write read the list"), 0);
        let syncing = {
            let store = replica.clone();
            let committed = committed.clone();
            std::thread::spawn(move || {
                let registry = scimitar::scim::schema::Registry::load().expect("schemas");
                let wanted = std::collections::BTreeMap::from([(
                    "default".to_string(),
                    vec!["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber".to_string()],
                )]);
                scimitar::scim::match_sync::sync(&store, &registry, &wanted).expect("sync");
                committed.load(Ordering::SeqCst)
            })
        };
        std::thread::sleep(Duration::from_millis(400));
        assert!(!syncing.is_finished(), "the backfill waits for the write in progress");
        release.send(()).expect("release the write");
        writer.join().expect("the writer").expect("its write");
        assert!(syncing.join().expect("the sync"), "the backfill walked after the write committed");
        let ready = app.store.read(|conn| match_values::configured(conn, &tenant)).expect("configured");
        assert_eq!(ready.len(), 1);
        assert!(ready[0].1, "and marked the attribute ready");
    }
}

/// On Postgres only: SQLite has no statement triggers to count with (the code is the same).
#[tokio::test]
async fn a_batch_inserts_its_records_and_events_in_one_statement_each() {
    let Some(app) = TestApp::spawn(crate::helpers::Backend::Postgres).await else {
        return;
    };
    create_probe(&app);
    tamper(&app, "CREATE TABLE inserts (tbl TEXT NOT NULL)");
    tamper(
        &app,
        "CREATE FUNCTION count_insert() RETURNS trigger AS $$ BEGIN INSERT INTO inserts VALUES (TG_TABLE_NAME); RETURN NULL; END $$ LANGUAGE plpgsql",
    );
    for table in ["audit_records", "outbox"] {
        tamper(
            &app,
            &format!(
                "CREATE TRIGGER {table}_inserts AFTER INSERT ON {table} FOR EACH STATEMENT EXECUTE FUNCTION count_insert()"
            ),
        );
    }
    let tenant = app.tenant_id.clone();
    let leader = lead_batch(&app, &tenant, 8);
    let members: Vec<_> = (0..7)
        .map(|i| {
            let (store, tenant) = (app.store.clone(), tenant.clone());
            std::thread::spawn(move || {
                store.write(|conn| heads_write(conn, &tenant, &format!("m{i}")))
            })
        })
        .collect();
    for member in members {
        member.join().expect("a member").expect("its write");
    }
    assert!(leader.join().expect("the leader").is_ok());
    assert_eq!(probes(&app.store).len(), 8);
    assert_eq!(
        records(&app)
            .iter()
            .filter(|r| r.action == "test.write")
            .count(),
        8
    );
    let mut statements = texts(&app.store, "SELECT tbl AS text FROM inserts");
    statements.sort();
    assert_eq!(
        statements,
        ["audit_records", "outbox"],
        "8 writes, one insert per table"
    );
    assert!(matches!(verify(&app), Verification::Intact { .. }));
}
