//! The access cascade end to end: tokens issued to apps, and what provisioning does to them.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use scimitar::clock::Clock;

use crate::helpers::{AppClient, TestApp, expect_status};
use crate::on_both_backends;

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn patch_op(operations: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": operations})
}

async fn user(app: &TestApp, name: &str) -> String {
    app.create_user(name).await["id"]
        .as_str()
        .expect("id")
        .to_string()
}

async fn group(app: &TestApp, name: &str, members: &[&str]) -> String {
    app.create_group(name, members).await["id"]
        .as_str()
        .expect("id")
        .to_string()
}

fn text(value: &Value, key: &str) -> String {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("no `{key}` in {value}"))
        .to_string()
}

async fn add_member(app: &TestApp, group: &str, user: &str) {
    let body = patch_op(json!([{"op": "add", "path": "members", "value": [{"value": user}]}]));
    expect_status(
        app.patch(&format!("/Groups/{group}"), &body).await,
        StatusCode::OK,
    )
    .await;
}

/// Entra's form: `remove` on `members` with the member in `value`.
async fn remove_member(app: &TestApp, group: &str, user: &str) {
    let body = patch_op(json!([{"op": "Remove", "path": "members", "value": [{"value": user}]}]));
    expect_status(
        app.patch(&format!("/Groups/{group}"), &body).await,
        StatusCode::OK,
    )
    .await;
}

/// Access token and refresh token of a new session for `user`.
async fn session(app: &TestApp, client: &AppClient, user: &str) -> (String, String) {
    let tokens = app.tokens_for(client, user).await;
    (
        text(&tokens, "access_token"),
        text(&tokens, "refresh_token"),
    )
}

async fn roles_in(app: &TestApp, client: &AppClient, token: &str) -> Vec<String> {
    let answer = app.introspect(client, token).await;
    serde_json::from_value(answer["roles"].clone()).unwrap_or_default()
}

on_both_backends! {
    async fn okta_style_deactivation_ends_every_token_of_the_user_and_no_other(app) {
        let client = app.app_client(true);
        let alice = user(&app, "alice").await;
        let bob = user(&app, "bob").await;
        let (a1, r1) = session(&app, &client, &alice).await;
        let (a2, _) = session(&app, &client, "alice").await;
        let (b1, _) = session(&app, &client, &bob).await;
        assert!(app.is_active(&client, &a1).await && app.is_active(&client, &a2).await);
        let body = patch_op(json!([{"op": "replace", "value": {"active": false}}]));
        expect_status(app.patch(&format!("/Users/{alice}"), &body).await, StatusCode::OK).await;
        assert!(!app.is_active(&client, &a1).await);
        assert!(!app.is_active(&client, &a2).await);
        assert!(!app.is_active(&client, &r1).await, "the refresh token is dead too");
        assert_eq!(app.refresh(&client, &r1).await.status(), StatusCode::BAD_REQUEST);
        assert!(app.is_active(&client, &b1).await, "another user's token stays active");
    }

    async fn entra_style_deactivation_with_a_string_value_ends_every_token(app) {
        let client = app.app_client(true);
        let alice = user(&app, "alice").await;
        let (access, _) = session(&app, &client, &alice).await;
        let body = patch_op(json!([{"op": "Replace", "path": "active", "value": "False"}]));
        expect_status(app.patch(&format!("/Users/{alice}"), &body).await, StatusCode::OK).await;
        assert_eq!(app.introspect(&client, &access).await, json!({"active": false}));
    }

    async fn deactivation_by_put_and_deletion_end_every_token(app) {
        let client = app.app_client(true);
        let alice = user(&app, "alice").await;
        let bob = user(&app, "bob").await;
        let (a, _) = session(&app, &client, &alice).await;
        let (b, _) = session(&app, &client, &bob).await;
        let put = json!({"userName": "alice", "active": false});
        expect_status(app.put(&format!("/Users/{alice}"), &put).await, StatusCode::OK).await;
        expect_status(app.delete(&format!("/Users/{bob}")).await, StatusCode::NO_CONTENT).await;
        assert!(!app.is_active(&client, &a).await);
        assert!(!app.is_active(&client, &b).await);
    }

    async fn reactivation_never_revives_old_tokens_and_no_token_is_issued_while_inactive(app) {
        let client = app.app_client(true);
        let alice = user(&app, "alice").await;
        let (old, _) = session(&app, &client, &alice).await;
        let off = patch_op(json!([{"op": "replace", "path": "active", "value": false}]));
        expect_status(app.patch(&format!("/Users/{alice}"), &off).await, StatusCode::OK).await;
        let form = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
            ("subject_token", alice.as_str()),
            ("subject_token_type", "urn:scimitar:params:oauth:token-type:scim-user"),
        ];
        let refused = expect_status(app.oauth(&client, "token", &form).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(refused["error"], "invalid_grant");
        let on = patch_op(json!([{"op": "replace", "path": "active", "value": true}]));
        expect_status(app.patch(&format!("/Users/{alice}"), &on).await, StatusCode::OK).await;
        assert!(!app.is_active(&client, &old).await, "the old token stays dead");
        let (new, _) = session(&app, &client, &alice).await;
        assert!(app.is_active(&client, &new).await);
    }

    async fn leaving_one_of_two_role_granting_groups_revokes_only_tokens_carrying_the_lost_role(app) {
        let admin = app.admin_token();
        let client = app.app_client(true);
        let alice = user(&app, "alice").await;
        group(&app, "Readers", &[&alice]).await;
        let writers = group(&app, "Writers", &[]).await;
        app.map_role(&admin, "displayName:Readers", &["reader"]).await;
        app.map_role(&admin, &format!("id:{writers}"), &["writer"]).await;
        let (reader_only, _) = session(&app, &client, &alice).await;
        assert_eq!(roles_in(&app, &client, &reader_only).await, vec!["reader"]);
        add_member(&app, &writers, &alice).await;
        let (both, _) = session(&app, &client, &alice).await;
        assert_eq!(roles_in(&app, &client, &both).await, vec!["reader", "writer"]);
        remove_member(&app, &writers, &alice).await;
        assert!(!app.is_active(&client, &both).await, "it carried `writer`");
        assert!(app.is_active(&client, &reader_only).await, "all its roles are still held");
    }

    async fn a_role_still_granted_by_another_group_is_not_lost(app) {
        let admin = app.admin_token();
        let client = app.app_client(true);
        let alice = user(&app, "alice").await;
        let first = group(&app, "Eng", &[&alice]).await;
        group(&app, "Eng Leads", &[&alice]).await;
        app.map_role(&admin, "Eng", &["developer"]).await;
        app.map_role(&admin, "Eng Leads", &["developer"]).await;
        let (access, _) = session(&app, &client, &alice).await;
        remove_member(&app, &first, &alice).await;
        assert!(app.is_active(&client, &access).await);
    }

    async fn replacing_members_by_patch_or_put_cascades(app) {
        let admin = app.admin_token();
        let client = app.app_client(true);
        let alice = user(&app, "alice").await;
        let bob = user(&app, "bob").await;
        let ops = group(&app, "Ops", &[&alice, &bob]).await;
        app.map_role(&admin, "Ops", &["operator"]).await;
        let (a, _) = session(&app, &client, &alice).await;
        let (b, _) = session(&app, &client, &bob).await;
        let replace = patch_op(json!([{"op": "replace", "path": "members", "value": [{"value": bob}]}]));
        expect_status(app.patch(&format!("/Groups/{ops}"), &replace).await, StatusCode::OK).await;
        assert!(!app.is_active(&client, &a).await);
        assert!(app.is_active(&client, &b).await);
        let put = json!({"displayName": "Ops", "members": []});
        expect_status(app.put(&format!("/Groups/{ops}"), &put).await, StatusCode::OK).await;
        assert!(!app.is_active(&client, &b).await);
    }

    async fn deleting_a_group_or_removing_a_mapping_cascades(app) {
        let admin = app.admin_token();
        let client = app.app_client(true);
        let alice = user(&app, "alice").await;
        let bob = user(&app, "bob").await;
        let sales = group(&app, "Sales", &[&alice]).await;
        group(&app, "Support", &[&bob]).await;
        app.map_role(&admin, "Sales", &["crm"]).await;
        let mapping = app.map_role(&admin, "Support", &["tickets"]).await;
        let (a, _) = session(&app, &client, &alice).await;
        let (b, _) = session(&app, &client, &bob).await;
        expect_status(app.delete(&format!("/Groups/{sales}")).await, StatusCode::NO_CONTENT).await;
        assert!(!app.is_active(&client, &a).await);
        assert!(app.is_active(&client, &b).await);
        let id = text(&mapping["mappings"][0], "id");
        let response = app.admin(&admin, Method::DELETE, &format!("/role-mappings/{id}")).send().await.expect("unmap");
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert!(!app.is_active(&client, &b).await);
    }

    async fn a_gained_role_arrives_with_the_next_token(app) {
        let admin = app.admin_token();
        let client = app.app_client(true);
        let alice = user(&app, "alice").await;
        let (access, refresh) = session(&app, &client, &alice).await;
        assert!(roles_in(&app, &client, &access).await.is_empty());
        group(&app, "Finance", &[&alice]).await;
        app.map_role(&admin, "externalId:none", &["unused"]).await;
        app.map_role(&admin, "Finance", &["finance"]).await;
        assert!(app.is_active(&client, &access).await, "gaining a role revokes nothing");
        let refreshed = expect_status(app.refresh(&client, &refresh).await, StatusCode::OK).await;
        assert_eq!(refreshed["roles"], json!(["finance"]));
        assert_eq!(roles_in(&app, &client, &text(&refreshed, "access_token")).await, vec!["finance"]);
    }

    async fn a_session_unused_for_the_idle_timeout_is_dead_and_introspection_counts_as_use(app) {
        let client = app.app_client(true);
        let alice = user(&app, "alice").await;
        let (_, refresh) = session(&app, &client, &alice).await;
        let stored_before = stored_last_used(&app, &alice);
        // Default idle timeout: 12 hours.
        app.clock.advance(chrono::Duration::hours(11));
        assert!(app.is_active(&client, &refresh).await);
        assert_eq!(stored_last_used(&app, &alice), stored_before, "introspection wrote nothing");
        // 22 hours after the start, 11 after the introspection: still alive.
        app.clock.advance(chrono::Duration::hours(11));
        let refreshed = expect_status(app.refresh(&client, &refresh).await, StatusCode::OK).await;
        let next = text(&refreshed, "refresh_token");
        app.clock.advance(chrono::Duration::hours(12) + chrono::Duration::seconds(1));
        assert!(!app.is_active(&client, &next).await);
        let refused = expect_status(app.refresh(&client, &next).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(refused["error"], "invalid_grant");
    }

    async fn an_access_token_expires_and_a_session_ends_at_its_absolute_lifetime(app) {
        let client = app.app_client(true);
        let alice = user(&app, "alice").await;
        let tokens = app.tokens_for(&client, &alice).await;
        assert_eq!(tokens["expires_in"], 300);
        let access = text(&tokens, "access_token");
        app.clock.advance(chrono::Duration::minutes(5));
        assert!(!app.is_active(&client, &access).await, "access tokens live five minutes");
        let mut refresh = text(&tokens, "refresh_token");
        // Refreshing every ten hours keeps the session from idling out, not past seven days.
        for _ in 0..16 {
            app.clock.advance(chrono::Duration::hours(10));
            let refreshed = expect_status(app.refresh(&client, &refresh).await, StatusCode::OK).await;
            refresh = text(&refreshed, "refresh_token");
        }
        app.clock.advance(chrono::Duration::hours(10));
        assert_eq!(app.refresh(&client, &refresh).await.status(), StatusCode::BAD_REQUEST);
    }

    async fn reusing_a_refresh_token_revokes_its_whole_family(app) {
        let client = app.app_client(true);
        let alice = user(&app, "alice").await;
        let (_, first) = session(&app, &client, &alice).await;
        let second = expect_status(app.refresh(&client, &first).await, StatusCode::OK).await;
        let (access, next) = (text(&second, "access_token"), text(&second, "refresh_token"));
        app.clock.advance(chrono::Duration::seconds(11));
        let reused = expect_status(app.refresh(&client, &first).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(reused["error"], "invalid_grant");
        assert!(!app.is_active(&client, &access).await);
        assert_eq!(app.refresh(&client, &next).await.status(), StatusCode::BAD_REQUEST);
    }

    async fn a_retry_within_the_window_gets_a_fresh_successor_and_kills_the_lost_one(app) {
        let client = app.app_client(true);
        let alice = user(&app, "alice").await;
        let (_, first) = session(&app, &client, &alice).await;
        let lost = expect_status(app.refresh(&client, &first).await, StatusCode::OK).await;
        app.clock.advance(chrono::Duration::seconds(3));
        let retried = expect_status(app.refresh(&client, &first).await, StatusCode::OK).await;
        assert_eq!(app.refresh(&client, &text(&lost, "refresh_token")).await.status(), StatusCode::BAD_REQUEST);
        // The lost successor's reuse ended the family; the retry's tokens die with it.
        assert!(!app.is_active(&client, &text(&retried, "access_token")).await);
    }

    async fn a_retry_whose_successor_was_used_is_reuse(app) {
        let client = app.app_client(true);
        let alice = user(&app, "alice").await;
        let (_, first) = session(&app, &client, &alice).await;
        let second = expect_status(app.refresh(&client, &first).await, StatusCode::OK).await;
        let third = expect_status(app.refresh(&client, &text(&second, "refresh_token")).await, StatusCode::OK).await;
        assert_eq!(app.refresh(&client, &first).await.status(), StatusCode::BAD_REQUEST);
        assert!(!app.is_active(&client, &text(&third, "access_token")).await);
    }

    async fn concurrent_deactivation_and_refresh_never_leave_a_live_token_for_an_inactive_user(app) {
        let client = app.app_client(true);
        for round in 0..3 {
            let name = format!("racer{round}");
            let id = user(&app, &name).await;
            let mut refresh_tokens = Vec::new();
            for _ in 0..4 {
                refresh_tokens.push(session(&app, &client, &id).await.1);
            }
            let refreshes = refresh_tokens.iter().map(|r| app.refresh(&client, r));
            let off = patch_op(json!([{"op": "replace", "path": "active", "value": false}]));
            let path = format!("/Users/{id}");
            let deactivate = app.patch(&path, &off);
            let (responses, deactivated) = tokio::join!(futures_util::future::join_all(refreshes), deactivate);
            assert_eq!(deactivated.status(), StatusCode::OK);
            for response in responses {
                if response.status() == StatusCode::OK {
                    let issued: Value = response.json().await.expect("json");
                    assert!(!app.is_active(&client, &text(&issued, "access_token")).await, "round {round}");
                    assert!(!app.is_active(&client, &text(&issued, "refresh_token")).await, "round {round}");
                }
            }
        }
    }

    async fn a_failure_in_the_revocation_step_rolls_the_scim_write_back(app) {
        let client = app.app_client(true);
        let alice = user(&app, "alice").await;
        let (access, _) = session(&app, &client, &alice).await;
        refuse_session_updates(&app);
        let off = patch_op(json!([{"op": "replace", "path": "active", "value": false}]));
        let response = app.patch(&format!("/Users/{alice}"), &off).await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let current = expect_status(app.get(&format!("/Users/{alice}")).await, StatusCode::OK).await;
        assert_eq!(current["active"], Value::Null, "the user was not deactivated");
        assert_eq!(current["meta"]["version"], "W/\"1\"");
        assert!(app.is_active(&client, &access).await);
    }

    async fn a_preview_reports_the_cascade_and_changes_nothing(app) {
        let admin = app.admin_token();
        let client = app.app_client(true);
        let alice = user(&app, "alice").await;
        let team = group(&app, "Team", &[&alice]).await;
        app.map_role(&admin, "Team", &["member"]).await;
        let (access, _) = session(&app, &client, &alice).await;
        let head = audit_head(&app);
        let removal = patch_op(json!([{"op": "remove", "path": format!("members[value eq \"{alice}\"]")}]));
        let response = app
            .request(Method::PATCH, &format!("/Groups/{team}"))
            .header("scimitar-preview", "true")
            .header("content-type", "application/scim+json")
            .body(removal.to_string())
            .send()
            .await
            .expect("preview");
        let report = expect_status(response, StatusCode::OK).await;
        assert_eq!(report["preview"], true);
        assert_eq!(report["status"], 200);
        assert_eq!(report["roles"], json!([{"user": alice, "gained": [], "lost": ["member"]}]));
        assert_eq!(report["sessionsRevoked"].as_array().map(Vec::len), Some(1));
        assert_eq!(report["changes"][0]["details"]["members_removed"], json!([alice]));
        assert_eq!(audit_head(&app), head, "not even the audit chain moved");
        assert!(app.is_active(&client, &access).await);
        let members = expect_status(app.get(&format!("/Groups/{team}")).await, StatusCode::OK).await;
        assert_eq!(members["members"].as_array().map(Vec::len), Some(1));
    }

    async fn revoking_an_access_token_or_a_refresh_token_through_rfc7009(app) {
        let client = app.app_client(true);
        let alice = user(&app, "alice").await;
        let (a1, r1) = session(&app, &client, &alice).await;
        let (a2, r2) = session(&app, &client, &alice).await;
        let revoked = app.oauth(&client, "revoke", &[("token", &a1), ("token_type_hint", "access_token")]).await;
        assert_eq!(revoked.status(), StatusCode::OK);
        assert!(!app.is_active(&client, &a1).await);
        assert!(!app.is_active(&client, &r1).await, "revoking an access token ends its session");
        assert_eq!(app.oauth(&client, "revoke", &[("token", &r2)]).await.status(), StatusCode::OK);
        assert!(!app.is_active(&client, &a2).await, "the session's access tokens die with it");
        let unknown = app.oauth(&client, "revoke", &[("token", "no-such-token")]).await;
        assert_eq!(unknown.status(), StatusCode::OK);
        let other = app.app_client(false);
        let refused = expect_status(app.oauth(&other, "revoke", &[("token", &r1)]).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(refused["error"], "unauthorized_client");
    }

    async fn a_revocation_the_store_cannot_record_is_503_never_200(app) {
        let client = app.app_client(true);
        let alice = user(&app, "alice").await;
        let (access, _) = session(&app, &client, &alice).await;
        refuse_token_revocations(&app);
        let response = app.oauth(&client, "revoke", &[("token", &access)]).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key("retry-after"));
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"], "temporarily_unavailable");
    }

    async fn only_trusted_clients_may_name_users_and_clients_must_authenticate(app) {
        let untrusted = app.app_client(false);
        user(&app, "alice").await;
        let form = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
            ("subject_token", "alice"),
            ("subject_token_type", "urn:scimitar:params:oauth:token-type:scim-user"),
        ];
        let refused = expect_status(app.oauth(&untrusted, "token", &form).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(refused["error"], "unauthorized_client");
        let impostor = crate::helpers::AppClient { id: untrusted.id.clone(), secret: "scimitar_wrong".into() };
        let response = app.oauth(&impostor, "token", &form).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"], "invalid_client");
        let scim = crate::helpers::AppClient { id: "x".into(), secret: app.token.clone() };
        assert_eq!(app.oauth(&scim, "introspect", &[("token", "t")]).await.status(), StatusCode::UNAUTHORIZED);
    }

    async fn another_tenants_app_sees_the_token_as_inactive(app) {
        let client = app.app_client(true);
        let alice = user(&app, "alice").await;
        let (access, refresh) = session(&app, &client, &alice).await;
        app.token_for_new_tenant("other");
        let created = scimitar::access::credentials::create_with(
            &app.store, Some("other"), "other-app", scimitar::access::credentials::CredentialKind::App, true, chrono::Utc::now(),
        ).expect("app client");
        let stranger = AppClient { id: created.client_id, secret: created.secret.expose().to_string() };
        assert_eq!(app.introspect(&stranger, &access).await, json!({"active": false}));
        assert_eq!(app.introspect(&stranger, &refresh).await, json!({"active": false}));
        assert_eq!(app.refresh(&stranger, &refresh).await.status(), StatusCode::BAD_REQUEST);
    }

    async fn the_admin_api_explains_a_users_roles_and_has_a_kill_switch(app) {
        let admin = app.admin_token();
        let client = app.app_client(true);
        let alice = user(&app, "alice").await;
        let eng = group(&app, "Eng", &[&alice]).await;
        app.map_role(&admin, "Eng", &["developer", "deployer"]).await;
        let (access, _) = session(&app, &client, &alice).await;
        let response = app.admin(&admin, Method::GET, &format!("/users/{alice}/access")).send().await.expect("access");
        let explained = expect_status(response, StatusCode::OK).await;
        let roles: Vec<&str> = explained["roles"].as_array().expect("roles").iter().filter_map(|r| r["role"].as_str()).collect();
        assert_eq!(roles, vec!["deployer", "developer"]);
        assert_eq!(explained["roles"][0]["granted_by"][0]["group_id"], json!(eng));
        assert_eq!(explained["live_sessions"].as_array().map(Vec::len), Some(1));
        let response = app.admin(&admin, Method::POST, &format!("/users/{alice}/revoke")).send().await.expect("revoke");
        let revoked = expect_status(response, StatusCode::OK).await;
        assert_eq!(revoked["sessions_revoked"].as_array().map(Vec::len), Some(1));
        assert!(!app.is_active(&client, &access).await);
        let scim_token = app.admin(&app.token, Method::POST, &format!("/users/{alice}/revoke")).send().await.expect("revoke");
        assert_eq!(scim_token.status(), StatusCode::FORBIDDEN);
    }

    async fn each_revocation_is_an_audit_record_caused_by_the_scim_change(app) {
        let admin = app.admin_token();
        let client = app.app_client(true);
        let alice = user(&app, "alice").await;
        session(&app, &client, &alice).await;
        session(&app, &client, &alice).await;
        let off = patch_op(json!([{"op": "replace", "path": "active", "value": false}]));
        expect_status(app.patch(&format!("/Users/{alice}"), &off).await, StatusCode::OK).await;
        let response = app.admin(&admin, Method::GET, "/audit?action=session.revoke").send().await.expect("audit");
        let records = expect_status(response, StatusCode::OK).await;
        let records = records["records"].as_array().expect("records").clone();
        assert_eq!(records.len(), 2);
        let cause = records[0]["cause"].as_str().expect("a cause").to_string();
        assert!(records.iter().all(|r| r["cause"] == json!(cause) && r["details"]["reason"] == "user_deactivated"));
        let response = app.admin(&admin, Method::GET, &format!("/audit/{cause}")).send().await.expect("cause");
        let cause_record = expect_status(response, StatusCode::OK).await;
        let text = cause_record.to_string();
        assert!(text.contains("user.patch"), "{text}");
    }

    async fn the_sweeper_marks_expired_sessions_and_purges_old_ones(app) {
        let client = app.app_client(true);
        let alice = user(&app, "alice").await;
        let bob = user(&app, "bob").await;
        session(&app, &client, &alice).await;
        let (_, kept) = session(&app, &client, &bob).await;
        app.clock.advance(chrono::Duration::hours(6));
        assert!(app.is_active(&client, &kept).await);
        app.clock.advance(chrono::Duration::hours(6) + chrono::Duration::minutes(3));
        let sweep = scimitar::access::sweeper::sweep(&app.access).expect("sweep");
        assert_eq!(sweep.expired_idle, 1, "{sweep:?}");
        assert_eq!(sweep.uses_flushed, 1);
        app.clock.advance(chrono::Duration::days(31));
        let sweep = scimitar::access::sweeper::sweep(&app.access).expect("sweep");
        // Bob's session is past both limits by now; the absolute one is reported.
        assert_eq!((sweep.expired_absolute, sweep.sessions_purged), (1, 1), "{sweep:?}");
        assert_eq!(sweep.outbox_events_purged, 1, "the first expiry's event is past its week");
        let sweep = scimitar::access::sweeper::sweep(&app.access).expect("sweep");
        assert_eq!(sweep.sessions_purged, 0);
        let metrics = app.client.get(format!("{}/metrics", app.root)).send().await.expect("metrics").text().await.expect("text");
        for reason in ["expired_idle", "expired_absolute"] {
            let line = format!("scimitar_sessions_ended_total{{tenant=\"{}\",reason=\"{reason}\"}} 1", app.tenant_id);
            assert!(metrics.contains(&line), "missing {line}");
        }
    }
}

/// `last_used` of the user's live session, as stored.
fn stored_last_used(app: &TestApp, user_id: &str) -> chrono::NaiveDateTime {
    use scimitar::store::sessions;
    let live = app
        .store
        .read(|conn| sessions::live_of_users(conn, &app.tenant_id, &[user_id.to_string()]))
        .expect("read sessions");
    app.store
        .read(|conn| sessions::get(conn, &live[0].id))
        .expect("read")
        .expect("session")
        .last_used
}

/// The chain head of the default tenant.
fn audit_head(app: &TestApp) -> Option<(i64, String)> {
    app.store
        .read(|conn| scimitar::store::audit::head(conn, &app.tenant_id))
        .expect("head")
        .map(|h| (h.seq, h.hash))
}

/// Makes any update of `sessions` fail, as a broken revocation step would.
fn refuse_session_updates(app: &TestApp) {
    refuse(app, "sessions", "UPDATE");
}

fn refuse_token_revocations(app: &TestApp) {
    refuse(app, "revoked_tokens", "INSERT");
}

fn refuse(app: &TestApp, table: &str, operation: &str) {
    use diesel::connection::SimpleConnection;
    use scimitar::store::AnyConnection;
    app.store
        .read(|conn| {
            let sql = match &**conn {
                AnyConnection::Sqlite(_) => format!(
                    "CREATE TRIGGER refuse_{table} BEFORE {operation} ON {table} BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"
                ),
                AnyConnection::Postgres(_) => format!(
                    "CREATE FUNCTION refuse_{table}() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql;
                     CREATE TRIGGER refuse_{table} BEFORE {operation} ON {table} FOR EACH ROW EXECUTE FUNCTION refuse_{table}();"
                ),
            };
            conn.batch_execute(&sql).map_err(scimitar::store::StoreError::from)
        })
        .expect("install the trigger");
}

/// A stand-in for the upstream IdP: an Ed25519 key, its JWKS, and ID tokens it signs.
pub(crate) struct TestIdp {
    pub(crate) seed: [u8; 32],
}

pub(crate) const IDP_ISSUER: &str = "https://idp.example.test";
pub(crate) const IDP_AUDIENCE: &str = "scimitar-at-idp";

impl TestIdp {
    pub(crate) fn new() -> Self {
        Self { seed: [7u8; 32] }
    }

    fn jwks(&self) -> jsonwebtoken::jwk::JwkSet {
        use base64::Engine;
        let public = ed25519_dalek::SigningKey::from_bytes(&self.seed)
            .verifying_key()
            .to_bytes();
        let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(public);
        serde_json::from_value(json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "idp-1", "alg": "EdDSA"}]})).expect("jwks")
    }

    pub(crate) fn id_token(&self, claims: Value) -> String {
        let mut der = vec![
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ];
        der.extend_from_slice(&self.seed);
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some("idp-1".into());
        jsonwebtoken::encode(
            &header,
            &claims,
            &jsonwebtoken::EncodingKey::from_ed_der(&der),
        )
        .expect("sign")
    }
}

pub(crate) async fn app_trusting_the_idp(backend: crate::helpers::Backend) -> Option<TestApp> {
    use scimitar::access::upstream::{TrustedIssuer, UserAttribute};
    let keys = TestIdp::new().jwks();
    let configure: crate::helpers::ConfigureAccess =
        std::sync::Arc::new(move |settings, tenant_id| {
            settings.trusted_issuers.insert(
                tenant_id.to_string(),
                TrustedIssuer {
                    issuer: IDP_ISSUER.into(),
                    audiences: vec![IDP_AUDIENCE.into()],
                    keys: keys.clone(),
                    user_claim: "sub".into(),
                    user_attribute: UserAttribute::ExternalId,
                },
            );
            let admin = scimitar::access::policy::PolicyOverride {
                access_token: Some(chrono::Duration::minutes(2)),
                idle: Some(chrono::Duration::minutes(30)),
                ..Default::default()
            };
            let mut tenant = scimitar::access::policy::TenantPolicy::default();
            tenant.roles.insert("admin".into(), admin);
            settings
                .policies
                .tenants
                .insert(tenant_id.to_string(), tenant);
        });
    let options = crate::helpers::Options {
        access: Some(configure),
        ..Default::default()
    };
    TestApp::spawn_with(backend, options).await
}

async fn exchange_id_token(app: &TestApp, client: &AppClient, token: &str) -> reqwest::Response {
    let form = [
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        ("subject_token", token),
        (
            "subject_token_type",
            "urn:ietf:params:oauth:token-type:id_token",
        ),
    ];
    app.oauth(client, "token", &form).await
}

macro_rules! with_trusted_idp {
    ($( async fn $name:ident($app:ident) $body:block )*) => {
        $(
            mod $name {
                use super::*;
                async fn run($app: TestApp) $body

                #[tokio::test]
                async fn sqlite() {
                    if let Some(app) = app_trusting_the_idp(crate::helpers::Backend::Sqlite).await { run(app).await }
                }

                #[tokio::test]
                async fn postgres() {
                    if let Some(app) = app_trusting_the_idp(crate::helpers::Backend::Postgres).await { run(app).await }
                }
            }
        )*
    };
}

with_trusted_idp! {
    async fn an_id_token_from_the_trusted_issuer_is_exchanged_for_the_provisioned_user(app) {
        let client = app.app_client(false);
        let body = json!({"userName": "alice@example.com", "externalId": "00u-alice"});
        let alice = expect_status(app.post("/Users", &body).await, StatusCode::CREATED).await;
        let now = app.clock.now().timestamp();
        let idp = TestIdp::new();
        let good = json!({"iss": IDP_ISSUER, "aud": IDP_AUDIENCE, "sub": "00u-alice", "exp": now + 300, "iat": now});
        let issued = expect_status(exchange_id_token(&app, &client, &idp.id_token(good.clone())).await, StatusCode::OK).await;
        assert_eq!(issued["issued_token_type"], "urn:ietf:params:oauth:token-type:access_token");
        let answer = app.introspect(&client, &text(&issued, "access_token")).await;
        assert_eq!(answer["sub"], alice["id"]);
        assert_eq!(answer["aud"], json!(client.id));
        for (why, claims) in [
            ("wrong audience", json!({"iss": IDP_ISSUER, "aud": "someone-else", "sub": "00u-alice", "exp": now + 300})),
            ("wrong issuer", json!({"iss": "https://evil.test", "aud": IDP_AUDIENCE, "sub": "00u-alice", "exp": now + 300})),
            ("expired", json!({"iss": IDP_ISSUER, "aud": IDP_AUDIENCE, "sub": "00u-alice", "exp": now - 120})),
            ("exp as a string", json!({"iss": IDP_ISSUER, "aud": IDP_AUDIENCE, "sub": "00u-alice", "exp": (now + 300).to_string()})),
            ("unknown user", json!({"iss": IDP_ISSUER, "aud": IDP_AUDIENCE, "sub": "00u-nobody", "exp": now + 300})),
        ] {
            let refused = expect_status(exchange_id_token(&app, &client, &idp.id_token(claims)).await, StatusCode::BAD_REQUEST).await;
            assert_eq!(refused["error"], "invalid_grant", "{why}");
        }
        // nbf and exp at the ends of time are judged, not overflowed into a 500.
        let far = json!({"iss": IDP_ISSUER, "aud": IDP_AUDIENCE, "sub": "00u-alice", "exp": i64::MAX, "nbf": i64::MAX});
        let refused = expect_status(exchange_id_token(&app, &client, &idp.id_token(far)).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(refused["error"], "invalid_grant", "not yet valid");
        let forged = TestIdp { seed: [8u8; 32] }.id_token(good.clone());
        let refused = expect_status(exchange_id_token(&app, &client, &forged).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(refused["error"], "invalid_grant", "signed by another key");
        // Algorithm confusion: no signature at all, HMAC keyed with the published public key,
        // and a key id the issuer never published.
        use base64::Engine;
        let b64 = |value: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string());
        let payload = b64(&good);
        let unsigned = format!("{}.{payload}.", b64(&json!({"alg": "none", "typ": "JWT", "kid": "idp-1"})));
        let public = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]).verifying_key().to_bytes();
        let mut hmac = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        hmac.kid = Some("idp-1".into());
        let keyed_with_public = jsonwebtoken::encode(&hmac, &good, &jsonwebtoken::EncodingKey::from_secret(&public).expect("key")).expect("sign");
        let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(public);
        let keyed_with_x = jsonwebtoken::encode(&hmac, &good, &jsonwebtoken::EncodingKey::from_secret(x.as_bytes()).expect("key")).expect("sign");
        let mut odd_kid = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        odd_kid.kid = Some("../../idp-1".into());
        let token = TestIdp::new().id_token(good.clone());
        let resigned = format!("{}.{}", b64(&serde_json::to_value(&odd_kid).expect("header")), token.split_once('.').map(|(_, rest)| rest).unwrap_or_default());
        for (why, token) in [("alg none", unsigned), ("HS256 keyed with the public key", keyed_with_public), ("HS256 keyed with x", keyed_with_x), ("unpublished kid", resigned)] {
            let refused = expect_status(exchange_id_token(&app, &client, &token).await, StatusCode::BAD_REQUEST).await;
            assert_eq!(refused["error"], "invalid_grant", "{why}");
        }
    }

    async fn access_tokens_are_rfc9068_jwts_that_verify_with_the_published_jwks(app) {
        let client = app.app_client(true);
        let alice = user(&app, "alice").await;
        let (access, _) = session(&app, &client, &alice).await;
        let metadata: Value = app.client.get(format!("{}/.well-known/oauth-authorization-server", app.root)).send().await.expect("metadata").json().await.expect("json");
        assert_eq!(metadata["issuer"], json!(app.root));
        assert_eq!(metadata["jwks_uri"], json!(format!("{}/.well-known/jwks.json", app.root)));
        let jwks: jsonwebtoken::jwk::JwkSet = app.client.get(text(&metadata, "jwks_uri")).send().await.expect("jwks").json().await.expect("json");
        let header = jsonwebtoken::decode_header(&access).expect("header");
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
        let jwk = jwks.find(header.kid.as_deref().expect("kid")).expect("the signing key is published");
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
        validation.set_audience(&[&client.id]);
        validation.set_issuer(&[&app.root]);
        validation.validate_exp = false;
        let claims = jsonwebtoken::decode::<Value>(&access, &jsonwebtoken::DecodingKey::from_jwk(jwk).expect("key"), &validation).expect("verifies").claims;
        for claim in ["iss", "sub", "aud", "exp", "iat", "jti", "client_id", "roles", "sid", "tid"] {
            assert!(claims.get(claim).is_some(), "claim {claim} missing: {claims}");
        }
        assert_eq!(claims["sub"], json!(alice));
        let mut tampered = access.clone();
        tampered.replace_range(tampered.len() - 4.., "AAAA");
        assert!(!app.is_active(&client, &tampered).await);
    }

    async fn the_strictest_policy_of_the_users_roles_applies(app) {
        let admin = app.admin_token();
        let client = app.app_client(true);
        let alice = user(&app, "alice").await;
        group(&app, "Admins", &[&alice]).await;
        app.map_role(&admin, "Admins", &["admin"]).await;
        let tokens = app.tokens_for(&client, &alice).await;
        assert_eq!(tokens["expires_in"], 120, "the admin role's two-minute tokens");
        app.clock.advance(chrono::Duration::minutes(31));
        let refused = expect_status(app.refresh(&client, &text(&tokens, "refresh_token")).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(refused["error"], "invalid_grant", "idle for longer than the admin role allows");
    }
}

on_both_backends! {
    async fn role_mappings_from_the_configuration_are_reconciled_at_start(app) {
        use scimitar::config::{Config, RoleMappingConfig, TenantConfig};
        let client = app.app_client(true);
        let alice = user(&app, "alice").await;
        group(&app, "Eng", &[&alice]).await;
        let mut config = Config::default();
        let tenant = TenantConfig {
            role_mappings: vec![RoleMappingConfig { group: "Eng".into(), roles: vec!["developer".into(), "viewer".into()], follow_name: false }],
            ..TenantConfig::default()
        };
        config.tenants.insert("default".into(), tenant);
        scimitar::access::setup::sync_role_mappings(&config, &app.store, app.clock.now()).expect("sync");
        scimitar::access::setup::sync_role_mappings(&config, &app.store, app.clock.now()).expect("sync is idempotent");
        let (access, _) = session(&app, &client, &alice).await;
        assert_eq!(roles_in(&app, &client, &access).await, vec!["developer", "viewer"]);
        if let Some(tenant) = config.tenants.get_mut("default") {
            tenant.role_mappings[0].roles = vec!["viewer".into()];
        }
        scimitar::access::setup::sync_role_mappings(&config, &app.store, app.clock.now()).expect("sync");
        assert!(!app.is_active(&client, &access).await, "the removed mapping cascaded");
        let rows = app.store.read(|conn| scimitar::store::roles::list(conn, &app.tenant_id)).expect("list");
        assert_eq!(rows.iter().map(|r| (r.role.as_str(), r.source.as_str())).collect::<Vec<_>>(), vec![("viewer", "config")]);
    }
}
