//! The audit log: one record per change, in the change's transaction, in a verifiable chain.

use std::process::Command;

use diesel::RunQueryDsl;
use reqwest::{Method, StatusCode};
use scimitar::audit::{self, Verification};
use scimitar::store::audit::{AuditRow, chain};
use scimitar::store::tenants;
use serde_json::{Value, json};

use crate::helpers::{TestApp, expect_status, id_of};
use crate::on_both_backends;

pub(crate) fn default_tenant(app: &TestApp) -> String {
    app.store
        .read(|conn| tenants::find(conn, "default"))
        .ok()
        .flatten()
        .map(|t| t.id)
        .expect("default tenant")
}

pub(crate) fn records(app: &TestApp) -> Vec<AuditRow> {
    let tenant = default_tenant(app);
    app.store
        .read(|conn| chain(conn, &tenant, 0, 10_000))
        .expect("audit records")
}

/// The records written after the first `skip`, as (action, resource id, details).
fn new_records(app: &TestApp, skip: usize) -> Vec<AuditRow> {
    records(app).into_iter().skip(skip).collect()
}

fn details(row: &AuditRow) -> Value {
    serde_json::from_str(&row.details).expect("details are JSON")
}

pub(crate) fn verify(app: &TestApp) -> Verification {
    audit::verify(&app.store, "default").expect("verify")
}

/// Runs SQL against the test database directly, as someone tampering with it would.
pub(crate) fn tamper(app: &TestApp, sql: &str) {
    app.store
        .read(|conn| {
            diesel::sql_query(sql)
                .execute(&mut **conn)
                .map_err(scimitar::store::StoreError::from)
        })
        .expect("tamper");
}

async fn warm_up(app: &TestApp) -> usize {
    // The first request records the credential's first use; start counting after it.
    expect_status(app.get("/Users").await, StatusCode::OK).await;
    records(app).len()
}

async fn patch(app: &TestApp, path: &str, operations: Value) -> Value {
    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations});
    let response = app
        .request(Method::PATCH, path)
        .header("content-type", "application/scim+json")
        .body(body.to_string())
        .send()
        .await
        .expect("PATCH");
    expect_status(response, StatusCode::OK).await
}

on_both_backends! {
    async fn each_user_write_leaves_one_record_naming_actor_request_and_resource(app) {
        let skip = warm_up(&app).await;
        let user = app.create_user("audited").await;
        let id = id_of(&user);
        expect_status(app.put(&format!("/Users/{id}"), &json!({"userName": "audited", "title": "Eng"})).await, StatusCode::OK).await;
        patch(&app, &format!("/Users/{id}"), json!([{"op": "replace", "value": {"active": false}}])).await;
        assert_eq!(app.delete(&format!("/Users/{id}")).await.status(), StatusCode::NO_CONTENT);

        let written = new_records(&app, skip);
        let actions: Vec<&str> = written.iter().map(|r| r.action.as_str()).collect();
        assert_eq!(actions, vec!["user.create", "user.replace", "user.patch", "user.delete"]);
        for (row, method) in written.iter().zip(["POST", "PUT", "PATCH", "DELETE"]) {
            assert_eq!(row.actor_name.as_deref(), Some("test-idp"));
            assert!(row.actor_id.is_some());
            assert!(row.request_id.as_deref().is_some_and(|r| !r.is_empty()));
            assert_eq!(row.method.as_deref(), Some(method));
            assert_eq!(row.resource_type.as_deref(), Some("User"));
            assert_eq!(row.resource_id.as_deref(), Some(id.as_str()));
            assert_eq!(row.outcome, "success");
        }
        assert_eq!(details(&written[1])["changed"], json!(["title"]));
        assert_eq!(details(&written[2])["active"], json!({"from": true, "to": false}), "deactivation is explicit");
        assert!(matches!(verify(&app), Verification::Intact { .. }));
    }

    async fn group_records_name_exactly_the_members_added_and_removed(app) {
        let a = id_of(&app.create_user("a").await);
        let b = id_of(&app.create_user("b").await);
        let c = id_of(&app.create_user("c").await);
        let skip = records(&app).len();
        let group = app.create_group("G", &[&a, &b]).await;
        let path = format!("/Groups/{}", id_of(&group));
        patch(&app, &path, json!([
            {"op": "remove", "path": format!("members[value eq \"{a}\"]")},
            {"op": "remove", "path": format!("members[value eq \"{c}\"]")},
            {"op": "add", "path": "members", "value": [{"value": c}, {"value": b}]},
        ])).await;
        expect_status(app.put(&path, &json!({"displayName": "G2", "members": [{"value": a}]})).await, StatusCode::OK).await;
        assert_eq!(app.delete(&path).await.status(), StatusCode::NO_CONTENT);

        let written = new_records(&app, skip);
        let actions: Vec<&str> = written.iter().map(|r| r.action.as_str()).collect();
        assert_eq!(actions, vec!["group.create", "group.patch", "group.replace", "group.delete"]);
        let mut created = details(&written[0])["members_added"].as_array().cloned().unwrap_or_default();
        created.sort_by_key(|v| v.to_string());
        let mut expected = vec![json!(a), json!(b)];
        expected.sort_by_key(|v| v.to_string());
        assert_eq!(created, expected);
        assert_eq!(details(&written[1])["members_added"], json!([c]), "b was already a member");
        assert_eq!(details(&written[1])["members_removed"], json!([a]), "c was not a member yet");
        assert_eq!(details(&written[2])["changed"], json!(["displayName"]));
        assert_eq!(details(&written[2])["members_added"], json!([a]));
        assert_eq!(details(&written[3])["members_removed"], json!([a]));
    }

    async fn a_rejected_write_changes_nothing_and_leaves_one_failure_record(app) {
        app.create_user("dup").await;
        let before = records(&app).len();
        let response = app.post("/Users", &json!({"userName": "DUP"})).await;
        assert_eq!(response.status(), StatusCode::CONFLICT);
        let response = app.post("/Groups", &json!({"displayName": "x", "members": [{"value": "ghost"}]})).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let written = new_records(&app, before);
        let summary: Vec<(String, String, Value)> =
            written.iter().map(|r| (r.action.clone(), r.outcome.clone(), details(r)["status"].clone())).collect();
        assert_eq!(summary, vec![
            ("user.create".to_string(), "failure".to_string(), json!(409)),
            ("group.create".to_string(), "failure".to_string(), json!(400)),
        ]);
        assert_eq!(details(&written[0])["scimType"], "uniqueness");
        assert!(!written[0].details.contains("DUP"), "the refused value is personal data, kept outside the hash");
        assert_eq!(expect_status(app.get("/Users").await, StatusCode::OK).await["totalResults"], json!(1));
        assert_eq!(expect_status(app.get("/Groups").await, StatusCode::OK).await["totalResults"], json!(0));
    }

    async fn the_entra_member_removal_form_records_exactly_the_member_removed(app) {
        let a = id_of(&app.create_user("a").await);
        let b = id_of(&app.create_user("b").await);
        let group = app.create_group("G", &[&a, &b]).await;
        let before = records(&app).len();
        patch(&app, &format!("/Groups/{}", id_of(&group)), json!([{"op": "Remove", "path": "members", "value": [{"value": b}]}])).await;
        let written = new_records(&app, before);
        assert_eq!(written.len(), 1);
        assert_eq!(details(&written[0])["members_removed"], json!([b]));
        assert_eq!(details(&written[0])["members_added"], json!([]));
    }

    async fn passwords_are_noted_never_logged_and_personal_data_stays_outside_the_hash(app) {
        let skip = warm_up(&app).await;
        expect_status(app.post("/Users", &json!({"userName": "pii@example.com", "password": "Hunter2-secret"})).await, StatusCode::CREATED).await;
        let row = new_records(&app, skip).remove(0);
        assert_eq!(details(&row)["password_set"], json!(true));
        let everything = format!("{row:?}");
        assert!(!everything.contains("Hunter2-secret"));
        assert!(!row.details.contains("pii@example.com"), "the hashed part carries no personal data");
        assert!(row.personal.as_deref().is_some_and(|p| p.contains("pii@example.com")));
        tamper(&app, &format!("UPDATE audit_records SET personal = NULL WHERE id = '{}'", row.id));
        assert!(
            matches!(verify(&app), Verification::Broken { ref reason, .. } if reason.contains("without a recorded erasure")),
            "personal data removed behind the log's back is reported"
        );
    }

    async fn an_edited_record_is_pinpointed(app) {
        for name in ["a", "b", "c"] {
            app.create_user(name).await;
        }
        let Verification::Intact { records: total, .. } = verify(&app) else { panic!("intact before tampering") };
        assert_eq!(total as usize, records(&app).len());
        tamper(&app, "UPDATE audit_records SET details = '{}' WHERE seq = 3");
        assert!(matches!(verify(&app), Verification::Broken { seq: 3, ref reason } if reason.contains("edited")));
    }

    async fn a_deleted_record_is_pinpointed(app) {
        for name in ["a", "b", "c"] {
            app.create_user(name).await;
        }
        tamper(&app, "DELETE FROM audit_records WHERE seq = 2");
        assert!(matches!(verify(&app), Verification::Broken { seq: 3, ref reason } if reason.contains("missing")));
    }

    async fn a_deleted_tail_is_caught_by_the_head(app) {
        for name in ["a", "b"] {
            app.create_user(name).await;
        }
        let last = records(&app).len();
        tamper(&app, &format!("DELETE FROM audit_records WHERE seq = {last}"));
        assert!(matches!(verify(&app), Verification::Broken { ref reason, .. } if reason.contains("head")));
    }

    async fn swapped_records_are_pinpointed(app) {
        for name in ["a", "b", "c"] {
            app.create_user(name).await;
        }
        tamper(&app, "UPDATE audit_records SET seq = -2 WHERE seq = 2");
        tamper(&app, "UPDATE audit_records SET seq = 2 WHERE seq = 3");
        tamper(&app, "UPDATE audit_records SET seq = 3 WHERE seq = -2");
        assert!(matches!(verify(&app), Verification::Broken { seq: 2, .. }));
    }

    async fn concurrent_writes_keep_the_chain_gapless(app) {
        let writes = (0..12).map(|i| {
            let app = &app;
            async move { app.post("/Users", &json!({"userName": format!("c{i}")})).await.status() }
        });
        let statuses = futures_util::future::join_all(writes).await;
        assert!(statuses.iter().all(|s| *s == StatusCode::CREATED), "{statuses:?}");
        let all = records(&app);
        let seqs: Vec<i64> = all.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, (1..=all.len() as i64).collect::<Vec<_>>());
        assert_eq!(all.iter().filter(|r| r.action == "user.create").count(), 12);
        assert!(matches!(verify(&app), Verification::Intact { .. }));
    }

    async fn credential_events_are_recorded(app) {
        expect_status(app.get("/Users").await, StatusCode::OK).await;
        expect_status(app.get("/Users").await, StatusCode::OK).await;
        let actions: Vec<String> = records(&app).into_iter().map(|r| r.action).collect();
        assert_eq!(actions, vec!["credential.create", "credential.first_use"], "first use is recorded once");
        let listed = scimitar::access::credentials::list(&app.store).expect("list");
        scimitar::access::credentials::revoke(&app.store, &listed[0].client_id, chrono::Utc::now()).expect("revoke");
        assert_eq!(records(&app).last().map(|r| r.action.clone()).as_deref(), Some("credential.revoke"));
    }

    async fn the_cli_verifies_the_chain_and_fails_when_it_is_broken(app) {
        app.create_user("cli").await;
        let run = || Command::new(env!("CARGO_BIN_EXE_scimitar"))
            .args(["audit", "verify", "--tenant", "default", "--database", app.database_url()])
            .env_remove("SCIMITAR_DATABASE_URL")
            .output()
            .expect("run scimitar");
        let intact = run();
        assert!(intact.status.success());
        assert!(String::from_utf8_lossy(&intact.stdout).contains("default: intact, 3 records, head "));
        tamper(&app, "UPDATE audit_records SET action = 'user.delete' WHERE seq = 3");
        let broken = run();
        assert!(!broken.status.success());
        assert!(String::from_utf8_lossy(&broken.stdout).contains("BROKEN at record 3"));
    }
}

fn admin_token(app: &TestApp) -> String {
    scimitar::access::credentials::create(
        &app.store,
        None,
        "ops",
        scimitar::access::credentials::CredentialKind::Admin,
        chrono::Utc::now(),
    )
    .expect("admin credential")
    .secret
    .expose()
    .to_string()
}

async fn admin_get(app: &TestApp, token: &str, path_and_query: &str) -> reqwest::Response {
    app.client
        .get(format!("{}/admin/v1{path_and_query}", app.root))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET")
}

on_both_backends! {
    async fn the_admin_api_pages_through_filtered_records_newest_first(app) {
        let admin = admin_token(&app);
        let ids: Vec<String> = futures_util::future::join_all(["a", "b", "c"].map(|n| app.create_user(n))).await.iter().map(id_of).collect();
        patch(&app, &format!("/Users/{}", ids[1]), json!([{"op": "replace", "path": "title", "value": "x"}])).await;

        let first = expect_status(admin_get(&app, &admin, "/audit?action=user.*&limit=2").await, StatusCode::OK).await;
        let actions: Vec<&str> = first["records"].as_array().into_iter().flatten().filter_map(|r| r["action"].as_str()).collect();
        assert_eq!(actions, vec!["user.patch", "user.create"], "newest first");
        let cursor = first["next_cursor"].as_str().expect("a next cursor").to_string();
        let rest = expect_status(admin_get(&app, &admin, &format!("/audit?action=user.*&limit=2&cursor={cursor}")).await, StatusCode::OK).await;
        assert_eq!(rest["records"].as_array().map(Vec::len), Some(2));
        assert!(rest["next_cursor"].is_null());

        let about_b = expect_status(admin_get(&app, &admin, &format!("/audit?resource={}&order=oldest", ids[1])).await, StatusCode::OK).await;
        let actions: Vec<&str> = about_b["records"].as_array().into_iter().flatten().filter_map(|r| r["action"].as_str()).collect();
        assert_eq!(actions, vec!["user.create", "user.patch"]);
        let record = &about_b["records"][1];
        assert_eq!(record["actor"]["name"], "test-idp");
        assert_eq!(record["request"]["method"], "PATCH");
        assert_eq!(record["details"]["changed"], json!(["title"]));
        expect_status(admin_get(&app, &admin, "/audit?order=sideways").await, StatusCode::BAD_REQUEST).await;
    }

    async fn the_admin_api_needs_an_admin_credential(app) {
        let scim = admin_get(&app, &app.token, "/audit").await;
        crate::helpers::expect_scim_error(scim, StatusCode::FORBIDDEN, None).await;
        let anonymous = app.client.get(format!("{}/admin/v1/audit", app.root)).send().await.expect("GET");
        crate::helpers::expect_scim_error(anonymous, StatusCode::UNAUTHORIZED, None).await;
    }

    async fn a_record_comes_with_the_chain_of_records_that_caused_it(app) {
        let admin = admin_token(&app);
        let tenant = default_tenant(&app);
        let (root, child) = app.store.write(|conn| {
            let root = audit::record(conn, &tenant, chrono::Utc::now(), audit::Event::new("user.delete", json!({})))?;
            let event = audit::Event { cause: Some(root.clone()), ..audit::Event::new("token.revoke", json!({})) };
            let child = audit::record(conn, &tenant, chrono::Utc::now(), event)?;
            Ok::<_, scimitar::store::StoreError>((root, child))
        }).expect("records");
        let record = expect_status(admin_get(&app, &admin, &format!("/audit/{child}")).await, StatusCode::OK).await;
        assert_eq!(record["cause"], json!(root));
        let chain: Vec<&str> = record["cause_chain"].as_array().into_iter().flatten().filter_map(|r| r["id"].as_str()).collect();
        assert_eq!(chain, vec![root.as_str()]);
        let by_cause = expect_status(admin_get(&app, &admin, &format!("/audit?cause={root}")).await, StatusCode::OK).await;
        assert_eq!(by_cause["records"][0]["id"], json!(child));
        crate::helpers::expect_scim_error(admin_get(&app, &admin, "/audit/nope").await, StatusCode::NOT_FOUND, None).await;
    }

    async fn the_cli_exports_json_lines_and_ocsf_and_records_the_export(app) {
        app.create_user("exported").await;
        let before = records(&app).len();
        let export = |format: &str| Command::new(env!("CARGO_BIN_EXE_scimitar"))
            .args(["audit", "export", "--format", format, "--database", app.database_url()])
            .env_remove("SCIMITAR_DATABASE_URL")
            .output()
            .expect("run scimitar");
        let jsonl = export("jsonl");
        assert!(jsonl.status.success(), "{}", String::from_utf8_lossy(&jsonl.stderr));
        let lines: Vec<Value> = String::from_utf8_lossy(&jsonl.stdout).lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
        assert_eq!(lines.len(), before);
        assert!(lines.iter().any(|l| l["action"] == "user.create" && l["hash"].is_string()));
        let ocsf = export("ocsf");
        let events: Vec<Value> = String::from_utf8_lossy(&ocsf.stdout).lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
        let create = events.iter().find(|e| e["api"]["operation"] == "user.create").expect("the create");
        assert_eq!((create["class_uid"].clone(), create["activity_id"].clone()), (json!(3001), json!(1)));
        let exports = records(&app).into_iter().filter(|r| r.action == "audit.export").count();
        assert_eq!(exports, 2, "each export is itself recorded");
        assert!(matches!(verify(&app), Verification::Intact { .. }));
    }
}

/// Makes every audit append fail inside the database, as a full disk or a bug would.
fn break_audit_writes(app: &TestApp) {
    let statements: &[&str] = if app.database_url().starts_with("postgres") {
        &[
            "CREATE FUNCTION refuse_audit() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected audit failure'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_records FOR EACH ROW EXECUTE FUNCTION refuse_audit()",
        ]
    } else {
        &[
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_records BEGIN SELECT RAISE(ABORT, 'injected audit failure'); END",
        ]
    };
    for statement in statements {
        tamper(app, statement);
    }
}

on_both_backends! {
    async fn when_the_audit_write_fails_the_change_fails_and_nothing_is_stored(app) {
        let user = app.create_user("kept").await;
        let path = format!("/Users/{}", id_of(&user));
        let group = app.create_group("G", &[&id_of(&user)]).await;
        break_audit_writes(&app);

        let create = app.post("/Users", &json!({"userName": "never"})).await;
        crate::helpers::expect_scim_error(create, StatusCode::INTERNAL_SERVER_ERROR, None).await;
        let replace = app.put(&path, &json!({"userName": "kept", "title": "changed"})).await;
        crate::helpers::expect_scim_error(replace, StatusCode::INTERNAL_SERVER_ERROR, None).await;
        let remove = app.request(Method::PATCH, &format!("/Groups/{}", id_of(&group)))
            .header("content-type", "application/scim+json")
            .body(json!({"Operations": [{"op": "remove", "path": "members"}]}).to_string())
            .send().await.expect("PATCH");
        crate::helpers::expect_scim_error(remove, StatusCode::INTERNAL_SERVER_ERROR, None).await;
        crate::helpers::expect_scim_error(app.delete(&path).await, StatusCode::INTERNAL_SERVER_ERROR, None).await;

        let users = expect_status(app.get("/Users").await, StatusCode::OK).await;
        assert_eq!(users["totalResults"], json!(1), "no user was created or deleted");
        assert_eq!(users["Resources"][0], expect_status(app.get(&path).await, StatusCode::OK).await);
        assert!(users["Resources"][0].get("title").is_none(), "the replace did not land");
        let kept = expect_status(app.get(&format!("/Groups/{}", id_of(&group))).await, StatusCode::OK).await;
        assert_eq!(kept["members"].as_array().map(Vec::len), Some(1), "the members are all still there");
        assert!(matches!(verify(&app), Verification::Intact { .. }));
    }
}

on_both_backends! {
    async fn failed_authentications_are_recorded_once_a_minute_with_a_count(app) {
        let bad = |token: &'static str| app.client.get(format!("{}/Users", app.base)).bearer_auth(token).send();
        for _ in 0..5 {
            assert_eq!(bad("scimitar_not-a-token").await.expect("GET").status(), StatusCode::UNAUTHORIZED);
        }
        let failures = |app: &TestApp| records(app).into_iter().filter(|r| r.action == "auth.failure").map(|r| details(&r)).collect::<Vec<_>>();
        assert_eq!(failures(&app).len(), 1, "a flood leaves one record per minute");
        assert_eq!(failures(&app)[0]["reason"], "unknown_token");

        app.clock.advance(chrono::Duration::seconds(61));
        assert_eq!(bad("scimitar_still-not-a-token").await.expect("GET").status(), StatusCode::UNAUTHORIZED);
        let recorded = failures(&app);
        assert_eq!(recorded.len(), 3);
        assert_eq!(recorded[1]["count"], json!(4), "the rest of the first minute, summed");
        assert_eq!(recorded[2]["count"], json!(1));

        let listed = scimitar::access::credentials::list(&app.store).expect("list");
        scimitar::access::credentials::revoke(&app.store, &listed[0].client_id, chrono::Utc::now()).expect("revoke");
        assert_eq!(app.get("/Users").await.status(), StatusCode::UNAUTHORIZED);
        let last = failures(&app).pop().unwrap_or_default();
        assert_eq!((last["reason"].clone(), last["client_id"].clone()), (json!("revoked_credential"), json!(listed[0].client_id)));
        assert!(matches!(verify(&app), Verification::Intact { .. }));
    }
}

pub(crate) fn checkpoint_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[7u8; 32])
}

/// What someone with write access to the database can do: change a record and recompute every
/// hash after it, so that the chain on its own still verifies.
fn rewrite_history(app: &TestApp, seq: i64) {
    let tenant = default_tenant(app);
    let mut rows = records(app);
    let mut previous = None;
    for row in rows.iter_mut().filter(|r| r.seq >= seq) {
        if row.seq == seq {
            row.details = "{\"rewritten\":true}".into();
        }
        if let Some(previous) = previous {
            row.prev_hash = previous;
        }
        row.hash = audit::hash(row);
        previous = Some(row.hash.clone());
        let (details, prev, hash, id) = (
            row.details.clone(),
            row.prev_hash.clone(),
            row.hash.clone(),
            row.id.clone(),
        );
        tamper(
            app,
            &format!(
                "UPDATE audit_records SET details = '{details}', prev_hash = '{prev}', hash = '{hash}' WHERE id = '{id}'"
            ),
        );
    }
    let last = rows.last().map(|r| r.hash.clone()).unwrap_or_default();
    tamper(
        app,
        &format!("UPDATE audit_heads SET hash = '{last}' WHERE tenant_id = '{tenant}'"),
    );
}

on_both_backends! {
    async fn a_signed_checkpoint_catches_history_rewritten_wholesale(app) {
        for name in ["a", "b", "c"] {
            app.create_user(name).await;
        }
        let key = checkpoint_key();
        let checkpoint = audit::checkpoint::create(&app.store, "default", &key, chrono::Utc::now()).expect("checkpoint");
        assert_eq!(checkpoint.seq as usize, records(&app).len());
        let check = |c: &audit::checkpoint::Checkpoint| audit::checkpoint::check(&app.store, c, &key.verifying_key()).expect("check");
        assert_eq!(check(&checkpoint), audit::checkpoint::CheckpointCheck::Holds);

        let forged = audit::checkpoint::Checkpoint { hash: "f".repeat(64), ..checkpoint.clone() };
        assert!(matches!(check(&forged), audit::checkpoint::CheckpointCheck::Fails(r) if r.contains("signature")));

        rewrite_history(&app, 2);
        assert!(matches!(verify(&app), Verification::Intact { .. }), "the rewritten chain is self-consistent");
        assert!(matches!(check(&checkpoint), audit::checkpoint::CheckpointCheck::Fails(r) if r.contains("rewritten")));
    }

    async fn records_behind_a_checkpoint_can_be_pruned_and_the_chain_still_verifies(app) {
        for name in ["a", "b"] {
            app.create_user(name).await;
        }
        let cutoff = chrono::Utc::now() + chrono::Duration::seconds(1);
        let too_early = audit::checkpoint::prune(&app.store, "default", cutoff, chrono::Utc::now());
        assert!(matches!(too_early, Err(audit::AuditError::NoCheckpoint)), "no pruning without a checkpoint");

        let key = checkpoint_key();
        let checkpoint = audit::checkpoint::create(&app.store, "default", &key, chrono::Utc::now()).expect("checkpoint");
        app.create_user("after").await;
        let removed = audit::checkpoint::prune(&app.store, "default", cutoff, chrono::Utc::now()).expect("prune");
        assert_eq!(removed as i64, checkpoint.seq);
        let left: Vec<String> = records(&app).into_iter().map(|r| r.action).collect();
        assert_eq!(left, vec!["user.create", "audit.prune"], "only records after the checkpoint are left");
        assert!(matches!(verify(&app), Verification::Intact { .. }), "verification starts from the checkpoint");
        assert_eq!(audit::checkpoint::check(&app.store, &checkpoint, &key.verifying_key()).expect("check"), audit::checkpoint::CheckpointCheck::Holds);
    }
}
