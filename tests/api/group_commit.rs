//! Group commit (`store::group_commit`): concurrent writes share one transaction, yet each keeps its
//! own all-or-nothing outcome, audit record and answer, is acknowledged only after the commit,
//! and fails whole when the shared commit fails. On both backends.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::RunQueryDsl;
use diesel::sql_types::Text;
use reqwest::{Method, StatusCode};
use scimitar::audit::{self, Event, Verification};
use scimitar::store::{DatabaseUrl, PoolSettings, Store, StoreError, Write, outbox};
use serde_json::{Value, json};

use crate::audit::{records, tamper, verify};
use crate::helpers::{TestApp, expect_status, id_of};
use crate::on_both_backends;

/// A table of the test's own, written by the writes below.
pub(crate) fn create_probe(app: &TestApp) {
    tamper(app, "CREATE TABLE probe (name TEXT PRIMARY KEY)");
}

/// One write's work: a probe row and its audit record.
fn probe_write(conn: &mut Write, tenant: &str, name: &str) -> Result<(), StoreError> {
    diesel::sql_query("INSERT INTO probe (name) VALUES ($1)")
        .bind::<Text, _>(name)
        .execute(&mut **conn)?;
    let event = Event::new("test.write", json!({ "name": name }));
    audit::record(conn, tenant, chrono::Utc::now(), event)?;
    Ok(())
}

pub(crate) fn probes(store: &Store) -> BTreeSet<String> {
    texts(store, "SELECT name AS text FROM probe")
        .into_iter()
        .collect()
}

/// The values of a query's one text column, named `text`, from a table of a test's own.
pub(crate) fn texts(store: &Store, sql: &str) -> Vec<String> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        text: String,
    }
    store
        .read(|conn| {
            diesel::sql_query(sql)
                .load::<Row>(&mut **conn)
                .map_err(StoreError::from)
        })
        .expect("a test table's rows")
        .into_iter()
        .map(|row| row.text)
        .collect()
}

/// The names of the committed `test.write` audit records.
fn recorded(app: &TestApp) -> Vec<String> {
    records(app)
        .iter()
        .filter(|r| r.action == "test.write")
        .map(|r| {
            serde_json::from_str::<Value>(&r.details).expect("details")["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

/// Blocks inside the leader's work until `count` writes (the leader included) wait in its
/// batch, so that they are bound to share its transaction.
pub(crate) fn wait_for_batch(store: &Store, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while store.queued_writes() < count {
        assert!(
            Instant::now() < deadline,
            "the writes never joined the batch"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// What each member's after-commit hook saw: its name, and whether its row was visible from
/// another connection when the hook ran (it must be: hooks run after the commit).
type Hooked = Arc<Mutex<Vec<(String, bool)>>>;

fn hook_on_commit(write: &mut Write, store: &Store, name: &str, hooked: &Hooked) {
    let (store, name, hooked) = (store.clone(), name.to_string(), hooked.clone());
    write.after_commit(move || {
        let visible = probes(&store).contains(&name);
        hooked.lock().expect("hooked").push((name, visible));
    });
}

on_both_backends! {
    async fn a_failing_or_panicking_write_in_a_batch_leaves_nothing_and_the_others_commit(app) {
        create_probe(&app);
        let tenant = app.tenant_id.clone();
        let hooked: Hooked = Arc::default();
        let (started, leader_started) = std::sync::mpsc::channel();
        let leader = {
            let (store, tenant, hooked) = (app.store.clone(), tenant.clone(), hooked.clone());
            std::thread::spawn(move || {
                store.write(|conn| {
                    probe_write(conn, &tenant, "leader")?;
                    hook_on_commit(conn, &store, "leader", &hooked);
                    let _ = started.send(());
                    wait_for_batch(&store, 5);
                    Ok::<_, StoreError>(())
                })
            })
        };
        leader_started.recv().expect("the leader started");
        let members: Vec<_> = ["kept1", "fails", "panics", "kept2"]
            .into_iter()
            .map(|name| {
                let (store, tenant, hooked) = (app.store.clone(), tenant.clone(), hooked.clone());
                std::thread::spawn(move || {
                    store.write(|conn| {
                        probe_write(conn, &tenant, name)?;
                        hook_on_commit(conn, &store, name, &hooked);
                        match name {
                            "fails" => Err(StoreError::NotFound),
                            "panics" => panic!("a bug in the middle of a batch"),
                            _ => Ok(()),
                        }
                    })
                })
            })
            .collect();
        let outcomes: Vec<_> = members.into_iter().map(|m| m.join().map(|r| r.is_ok())).collect();
        assert!(leader.join().expect("the leader").is_ok());
        assert_eq!(outcomes[0].as_ref().ok(), Some(&true));
        assert_eq!(outcomes[1].as_ref().ok(), Some(&false));
        assert!(outcomes[2].is_err(), "the panic reaches its own caller");
        assert_eq!(outcomes[3].as_ref().ok(), Some(&true));

        let kept: BTreeSet<String> = ["kept1", "kept2", "leader"].map(String::from).into();
        assert_eq!(probes(&app.store), kept);
        let mut audited = recorded(&app);
        audited.sort();
        assert_eq!(audited, vec!["kept1", "kept2", "leader"], "one record per committed write");
        assert!(matches!(verify(&app), Verification::Intact { .. }), "{:?}", verify(&app));
        let mut hooks = hooked.lock().expect("hooked").clone();
        hooks.sort();
        assert_eq!(hooks, vec![("kept1".into(), true), ("kept2".into(), true), ("leader".into(), true)],
            "hooks run once per committed write, after the commit");

        // Nothing is left wedged: the next write commits alone.
        app.store.write(|conn| probe_write(conn, &tenant, "after")).expect("a later write");
        assert!(probes(&app.store).contains("after"));
        assert!(matches!(verify(&app), Verification::Intact { .. }));
    }

    async fn a_batch_whose_first_write_fails_or_panics_keeps_the_others_and_its_chains_whole(app) {
        // The first turn runs without a savepoint: its failure rolls the transaction back
        // and begins it again, and the members after it must find the chains as they were.
        create_probe(&app);
        let tenant = app.tenant_id.clone();
        let outbox_before = app.store.read(|conn| outbox::head(conn, &tenant)).expect("outbox head");
        for (round, how) in ["fails", "panics"].into_iter().enumerate() {
            let (started, leader_started) = std::sync::mpsc::channel();
            let leader = {
                let (store, tenant) = (app.store.clone(), tenant.clone());
                std::thread::spawn(move || {
                    store.write(|conn| {
                        heads_write(conn, &tenant, &format!("first-{how}"))?;
                        let _ = started.send(());
                        wait_for_batch(&store, 3);
                        match how {
                            "fails" => Err::<(), _>(StoreError::NotFound),
                            _ => panic!("a bug in the batch's first write"),
                        }
                    })
                })
            };
            leader_started.recv().expect("the first write began");
            let members: Vec<_> = ["a", "b"].into_iter().map(|name| {
                let (store, tenant, name) = (app.store.clone(), tenant.clone(), format!("{name}{round}"));
                std::thread::spawn(move || store.write(|conn| heads_write(conn, &tenant, &name)))
            }).collect();
            assert!(leader.join().map_or(true, |outcome| outcome.is_err()), "the first write fails or panics");
            for member in members {
                assert!(member.join().expect("a member").is_ok(), "the members after it commit");
            }
        }
        let kept: BTreeSet<String> = ["a0", "a1", "b0", "b1"].map(String::from).into();
        assert_eq!(probes(&app.store), kept);
        assert!(matches!(verify(&app), Verification::Intact { .. }), "{:?}", verify(&app));
        let events = app.store.read(|conn| outbox::after(conn, &tenant, outbox_before, 100)).expect("outbox");
        let users: BTreeSet<String> = events.iter().filter_map(|e| e.user_id.clone()).collect();
        assert_eq!(users, kept, "one event per committed write, none of the failed ones");
        let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (outbox_before + 1..=outbox_before + 4).collect::<Vec<_>>(), "numbered without gaps");
    }

    async fn a_failed_commit_fails_every_member_of_its_batch(app) {
        create_probe(&app);
        // A foreign key checked at the commit: a dangling reference fails the COMMIT itself,
        // after every member's work has succeeded.
        tamper(&app, "CREATE TABLE fuse_parent (id INTEGER PRIMARY KEY)");
        tamper(&app, "CREATE TABLE fuse (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES fuse_parent (id) DEFERRABLE INITIALLY DEFERRED)");
        let tenant = app.tenant_id.clone();
        let before = records(&app).len();
        let hooked: Hooked = Arc::default();
        let (started, leader_started) = std::sync::mpsc::channel();
        let leader = {
            let (store, tenant, hooked) = (app.store.clone(), tenant.clone(), hooked.clone());
            std::thread::spawn(move || {
                store.write(|conn| {
                    probe_write(conn, &tenant, "leader")?;
                    diesel::sql_query("INSERT INTO fuse (id, parent) VALUES (1, 999)").execute(&mut **conn)?;
                    hook_on_commit(conn, &store, "leader", &hooked);
                    let _ = started.send(());
                    wait_for_batch(&store, 4);
                    Ok::<_, StoreError>(())
                })
            })
        };
        leader_started.recv().expect("the leader started");
        let members: Vec<_> = (0..3)
            .map(|i| {
                let (store, tenant, hooked) = (app.store.clone(), tenant.clone(), hooked.clone());
                std::thread::spawn(move || {
                    let name = format!("member{i}");
                    store.write(|conn| {
                        probe_write(conn, &tenant, &name)?;
                        hook_on_commit(conn, &store, &name, &hooked);
                        Ok::<_, StoreError>(())
                    })
                })
            })
            .collect();
        for member in members {
            let outcome = member.join().expect("a member");
            assert!(matches!(outcome, Err(StoreError::Unavailable(_))), "{outcome:?}");
        }
        let outcome = leader.join().expect("the leader");
        assert!(matches!(outcome, Err(StoreError::Unavailable(_))), "{outcome:?}");

        assert!(probes(&app.store).is_empty(), "nothing of the batch was written");
        assert_eq!(records(&app).len(), before, "no audit record either");
        assert!(hooked.lock().expect("hooked").is_empty(), "no hook ran");
        assert!(matches!(verify(&app), Verification::Intact { .. }));
        app.store.write(|conn| probe_write(conn, &tenant, "after")).expect("a later write");
        assert_eq!(probes(&app.store), BTreeSet::from(["after".to_string()]));
    }

    async fn concurrent_writes_on_a_pool_of_one_connection_all_commit(app) {
        create_probe(&app);
        let url = DatabaseUrl::parse(app.database_url()).expect("URL");
        let settings = PoolSettings { max_connections: 1, ..PoolSettings::default() };
        let store = Store::open(&url, &settings).expect("a store of one connection");
        let writers: Vec<_> = (0..16)
            .map(|i| {
                let (store, tenant) = (store.clone(), app.tenant_id.clone());
                std::thread::spawn(move || store.write(|conn| probe_write(conn, &tenant, &format!("w{i}"))))
            })
            .collect();
        for writer in writers {
            writer.join().expect("a writer").expect("commits");
        }
        assert_eq!(probes(&store).len(), 16);
        assert_eq!(recorded(&app).len(), 16);
        assert!(matches!(verify(&app), Verification::Intact { .. }));
    }

    async fn concurrent_creates_and_deactivations_with_failures_each_stand_alone(app) {
        for i in 0..4 {
            app.create_user(&format!("taken{i}")).await;
        }
        let mut victims = Vec::new();
        for i in 0..8 {
            victims.push(id_of(&app.create_user(&format!("victim{i}")).await));
        }
        let tenant = app.tenant_id.clone();
        let outbox_base = app.store.read(|conn| outbox::head(conn, &tenant)).expect("outbox head");
        let audit_base = records(&app).len();
        let deactivate = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": false}]});
        // 32 at once: 8 duplicates (409), 4 invalid (400), 4 of an unknown user (404),
        // 8 deactivations (200, each with an outbox event) and 8 creates (201).
        let requests = (0..32).map(|i| {
            let (app, victims, deactivate) = (&app, &victims, &deactivate);
            async move {
                let response = match i % 8 {
                    0 | 1 => app.post("/Users", &json!({"userName": format!("TAKEN{}", i % 4)})).await,
                    2 => app.post("/Users", &json!({"userName": ""})).await,
                    3 => app.patch("/Users/00000000-0000-0000-0000-000000000000", deactivate).await,
                    4 | 5 => app.patch(&format!("/Users/{}", victims[i / 8 * 2 + i % 8 - 4]), deactivate).await,
                    _ => app.post("/Users", &json!({"userName": format!("new{i}")})).await,
                };
                let status = response.status();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                (i, status, body)
            }
        });
        let answers = futures_util::future::join_all(requests).await;
        let mut created = BTreeSet::new();
        for (i, status, body) in &answers {
            let expected = match i % 8 {
                0 | 1 => StatusCode::CONFLICT,
                2 => StatusCode::BAD_REQUEST,
                3 => StatusCode::NOT_FOUND,
                4 | 5 => StatusCode::OK,
                _ => StatusCode::CREATED,
            };
            assert_eq!(*status, expected, "request {i}: {body}");
            if *status == StatusCode::CREATED {
                created.insert(id_of(body));
            }
        }
        assert_eq!(created.len(), 8);

        let written: Vec<_> = records(&app).into_iter().skip(audit_base).collect();
        let successes = |action: &str| -> BTreeSet<String> {
            written.iter().filter(|r| r.action == action && r.outcome == "success")
                .filter_map(|r| r.resource_id.clone()).collect()
        };
        assert_eq!(successes("user.create"), created, "one record per create, none for a refused one");
        assert_eq!(written.iter().filter(|r| r.action == "user.create" && r.outcome == "success").count(), 8);
        assert_eq!(successes("user.patch"), victims.iter().cloned().collect::<BTreeSet<_>>());
        assert_eq!(written.iter().filter(|r| r.action == "user.patch" && r.outcome == "success").count(), 8);
        assert_eq!(written.iter().filter(|r| r.outcome == "failure").count(), 16, "one failure record per refused write");
        assert!(matches!(verify(&app), Verification::Intact { .. }), "{:?}", verify(&app));

        let events = app.store.read(|conn| outbox::after(conn, &tenant, outbox_base, 1000)).expect("outbox");
        let disabled: BTreeSet<String> = events.iter().filter(|e| e.kind == "user.disabled").filter_map(|e| e.user_id.clone()).collect();
        assert_eq!(disabled, victims.iter().cloned().collect::<BTreeSet<_>>());
        assert_eq!(events.len(), 8, "one event per deactivation, none for anything else: {events:?}");
        let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (outbox_base + 1..=outbox_base + 8).collect::<Vec<_>>(), "numbered without gaps");

        let users = expect_status(app.request(Method::GET, "/Users").query(&[("count", "0")]).send().await.expect("GET"), StatusCode::OK).await;
        assert_eq!(users["totalResults"], json!(20), "4 taken, 8 victims, 8 new: nothing of a refused write");
        crate::tenancy::assert_kept_counts_match(&app).await;
    }

    async fn batches_of_two_tenants_run_at_once_on_postgres_and_share_one_on_sqlite(app) {
        create_probe(&app);
        let second = scimitar::tenancy::create(&app.store, "second", chrono::Utc::now()).expect("a tenant");
        let postgres = app.database_url().starts_with("postgres");
        let (started, leader_started) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let leader = {
            let (store, tenant) = (app.store.clone(), app.tenant_id.clone());
            std::thread::spawn(move || {
                store.write_in(&tenant, |conn| {
                    probe_write(conn, &tenant, "first")?;
                    let _ = started.send(());
                    let _ = released.recv_timeout(Duration::from_secs(30));
                    Ok::<_, StoreError>(())
                })
            })
        };
        leader_started.recv().expect("the first tenant's batch began");
        let other = {
            let (store, tenant) = (app.store.clone(), second.id.clone());
            std::thread::spawn(move || store.write_in(&tenant, |conn| probe_write(conn, &tenant, "second")))
        };
        if postgres {
            // The second tenant's batch begins, writes and commits while the first's is open.
            let deadline = Instant::now() + Duration::from_secs(20);
            while !other.is_finished() {
                assert!(Instant::now() < deadline, "the second tenant waited for the first's batch");
                std::thread::sleep(Duration::from_millis(5));
            }
            assert_eq!(probes(&app.store), ["second".to_string()].into(), "committed alone, before the first");
        } else {
            // One lane: the second tenant's write joins the open batch and waits for its commit.
            wait_for_batch(&app.store, 2);
            std::thread::sleep(Duration::from_millis(50));
            assert!(!other.is_finished(), "answered only after the shared commit");
            assert!(probes(&app.store).is_empty());
        }
        release.send(()).expect("release the first batch");
        assert!(leader.join().expect("the first").is_ok());
        assert!(other.join().expect("the second").is_ok());
        assert_eq!(probes(&app.store), ["first".to_string(), "second".to_string()].into());
        for name in ["default", "second"] {
            assert!(matches!(audit::verify(&app.store, name).expect("verify"), Verification::Intact { .. }));
        }
    }

    async fn a_batch_takes_and_writes_each_tenants_chain_heads_once(app) {
        create_probe(&app);
        count_head_writes(&app);
        let second = scimitar::tenancy::create(&app.store, "second", chrono::Utc::now()).expect("a tenant");
        let tenants = [app.tenant_id.clone(), second.id.clone()];
        let outbox_before: Vec<i64> = tenants.iter()
            .map(|t| app.store.read(|conn| outbox::head(conn, t)).expect("outbox head")).collect();
        let (started, leader_started) = std::sync::mpsc::channel();
        let leader = {
            let (store, tenant) = (app.store.clone(), tenants[0].clone());
            std::thread::spawn(move || {
                store.write(|conn| {
                    heads_write(conn, &tenant, "leader")?;
                    let _ = started.send(());
                    wait_for_batch(&store, 7);
                    Ok::<_, StoreError>(())
                })
            })
        };
        leader_started.recv().expect("the leader started");
        // Members of both tenants; the failing ones appended records and events before failing,
        // so the members after them must chain from the heads as they were before them.
        let names = ["a1", "b1", "a-fails", "b-fails", "a2", "b2"];
        let members: Vec<_> = names.into_iter().map(|name| {
            let (store, tenant) = (app.store.clone(), tenants[usize::from(name.starts_with('b'))].clone());
            std::thread::spawn(move || store.write(|conn| {
                heads_write(conn, &tenant, name)?;
                match name.ends_with("fails") {
                    true => Err(StoreError::NotFound),
                    false => Ok(()),
                }
            }))
        }).collect();
        let outcomes: Vec<bool> = members.into_iter().map(|m| m.join().expect("a member").is_ok()).collect();
        assert!(leader.join().expect("the leader").is_ok());
        assert_eq!(outcomes, [true, true, false, false, true, true]);

        assert_eq!(head_writes(&app), 4, "one audit and one outbox head write per tenant for the batch");
        for ((tenant, name), before) in tenants.iter().zip(["default", "second"]).zip(outbox_before) {
            assert!(matches!(audit::verify(&app.store, name).expect("verify"), Verification::Intact { .. }),
                "{name}: {:?}", audit::verify(&app.store, name));
            let events = app.store.read(|conn| outbox::after(conn, tenant, before, 100)).expect("outbox");
            let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
            let kept = if name == "second" { 2 } else { 3 };
            assert_eq!(seqs, (before + 1..=before + kept).collect::<Vec<_>>(), "{tenant}: numbered without gaps");
            let head = app.store.read(|conn| outbox::head(conn, tenant)).expect("outbox head");
            assert_eq!(head, before + kept, "{tenant}: the stored head is the last event");
        }

        // A write of its own: two appends of each chain, one head write each, at its commit.
        let writes = head_writes(&app);
        let tenant = tenants[0].clone();
        app.store.write(|conn| { heads_write(conn, &tenant, "alone1")?; heads_write(conn, &tenant, "alone2") })
            .expect("a write alone");
        assert_eq!(head_writes(&app) - writes, 2);
        assert!(matches!(verify(&app), Verification::Intact { .. }));
    }

    async fn a_head_write_that_fails_at_the_commit_fails_the_write_whole(app) {
        create_probe(&app);
        let before = records(&app).len();
        let statements: &[&str] = if app.database_url().starts_with("postgres") {
            &[
                "CREATE FUNCTION refuse_head() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected head failure'; END $$ LANGUAGE plpgsql",
                "CREATE TRIGGER refuse_head BEFORE UPDATE ON audit_heads FOR EACH ROW EXECUTE FUNCTION refuse_head()",
            ]
        } else {
            &["CREATE TRIGGER refuse_head BEFORE UPDATE ON audit_heads BEGIN SELECT RAISE(ABORT, 'injected head failure'); END"]
        };
        for statement in statements {
            tamper(&app, statement);
        }
        let writers: Vec<_> = (0..6).map(|i| {
            let (store, tenant) = (app.store.clone(), app.tenant_id.clone());
            std::thread::spawn(move || store.write(|conn| probe_write(conn, &tenant, &format!("w{i}"))))
        }).collect();
        for writer in writers {
            assert!(writer.join().expect("a writer").is_err(), "no write commits without its head");
        }
        let response = app.post("/Users", &json!({"userName": "never"})).await;
        assert!(response.status().is_server_error());
        assert!(probes(&app.store).is_empty(), "nothing of any write is stored");
        assert_eq!(records(&app).len(), before);
        assert!(matches!(verify(&app), Verification::Intact { .. }));
    }
}

/// One write's appends to both chains: an audit record and an outbox event.
pub(crate) fn heads_write(conn: &mut Write, tenant: &str, name: &str) -> Result<(), StoreError> {
    probe_write(conn, tenant, name)?;
    let effect = scimitar::outbox::Effect::UserDisabled {
        user_id: name.to_string(),
        reason: "test",
    };
    scimitar::outbox::publish(conn, tenant, vec![effect], None, chrono::Utc::now())
}

/// Counts the writes of the chain head rows in a table of the test's own.
pub(crate) fn count_head_writes(app: &TestApp) {
    tamper(app, "CREATE TABLE head_writes (n INTEGER NOT NULL)");
    tamper(app, "INSERT INTO head_writes (n) VALUES (0)");
    let postgres = app.database_url().starts_with("postgres");
    if postgres {
        tamper(
            app,
            "CREATE FUNCTION count_head_write() RETURNS trigger AS $$ BEGIN UPDATE head_writes SET n = n + 1; RETURN NEW; END $$ LANGUAGE plpgsql",
        );
    }
    for table in ["audit_heads", "outbox_heads"] {
        tamper(
            app,
            &if postgres {
                format!(
                    "CREATE TRIGGER {table}_written AFTER UPDATE ON {table} FOR EACH ROW EXECUTE FUNCTION count_head_write()"
                )
            } else {
                format!(
                    "CREATE TRIGGER {table}_written AFTER UPDATE ON {table} BEGIN UPDATE head_writes SET n = n + 1; END"
                )
            },
        );
    }
}

pub(crate) fn head_writes(app: &TestApp) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    app.store
        .read(|conn| {
            diesel::sql_query("SELECT CAST(n AS BIGINT) AS n FROM head_writes")
                .get_result::<Count>(&mut **conn)
                .map_err(StoreError::from)
        })
        .expect("head writes")
        .n
}
