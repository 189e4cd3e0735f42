//! A group rename in the identity provider must not become a mass revocation, nor a silent
//! grant: a mapping given by display name binds to the group's id as soon as a group matches
//! it, so a rename (Okta sends a PUT with the new name and the same members) keeps every
//! member's roles and sessions, and another group renamed to the mapped name gains nothing.
//! Matching by name on every change stays available (`follow_name`), shown as such, and a
//! rename that moves anyone's roles raises a flag with the counts.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{AppClient, TestApp, expect_status, id_of};
use crate::on_both_backends;

/// Okta's group push rename: a PUT with the new name and the same members.
async fn okta_rename(app: &TestApp, group: &str, name: &str, members: &[&str]) {
    let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": group, "displayName": name, "members": members});
    expect_status(
        app.put(&format!("/Groups/{group}"), &body).await,
        StatusCode::OK,
    )
    .await;
}

async fn access_token(app: &TestApp, client: &AppClient, user: &str) -> String {
    app.tokens_for(client, user).await["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn roles_of(app: &TestApp, client: &AppClient, token: &str) -> Value {
    app.introspect(client, token).await["roles"].clone()
}

async fn admin_get(app: &TestApp, admin: &str, path: &str) -> Value {
    let response = app
        .admin(admin, Method::GET, path)
        .send()
        .await
        .expect("GET");
    expect_status(response, StatusCode::OK).await
}

async fn open_rename_flags(app: &TestApp, admin: &str) -> Vec<Value> {
    admin_get(app, admin, "/flags").await["flags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["kind"] == "group_rename_moved_roles")
        .cloned()
        .collect()
}

on_both_backends! {
    async fn a_rename_keeps_the_role_of_a_mapping_given_by_name_and_another_group_gains_nothing(app) {
        let admin = app.admin_token();
        let client = app.app_client(true);
        let a = id_of(&app.create_user("a").await);
        let b = id_of(&app.create_user("b").await);
        let c = id_of(&app.create_user("c").await);
        // A rule made before its group exists binds when the group is first pushed.
        let mapping = app.map_role(&admin, "Eng", &["engineer"]).await;
        assert_eq!(mapping["mappings"][0]["matching"], "bound");
        assert_eq!(mapping["mappings"][0]["bound_group_id"], Value::Null, "waiting for a group");
        let eng = id_of(&app.create_group("Eng", &[&a, &b]).await);
        let sales = id_of(&app.create_group("Sales", &[&c]).await);
        let listed = admin_get(&app, &admin, "/role-mappings").await;
        assert_eq!(listed["mappings"][0]["bound_group_id"], json!(eng), "{listed}");
        let (a_token, b_token) = (access_token(&app, &client, &a).await, access_token(&app, &client, &b).await);
        assert_eq!(roles_of(&app, &client, &a_token).await, json!(["engineer"]));

        // The IdP fixes a typo: every member keeps the role and the session.
        okta_rename(&app, &eng, "Engineering", &[&a, &b]).await;
        assert!(app.is_active(&client, &a_token).await && app.is_active(&client, &b_token).await);
        let renewed = access_token(&app, &client, &a).await;
        assert_eq!(roles_of(&app, &client, &renewed).await, json!(["engineer"]));

        // Another group renamed to the mapped name gains nothing.
        okta_rename(&app, &sales, "Eng", &[&c]).await;
        let c_token = access_token(&app, &client, &c).await;
        assert_eq!(roles_of(&app, &client, &c_token).await, json!([]));
        assert!(open_rename_flags(&app, &admin).await.is_empty(), "no roles moved");

        // The explanation says how the rule matches.
        let explained = admin_get(&app, &admin, &format!("/users/{a}/access")).await;
        assert_eq!(explained["roles"][0]["granted_by"][0]["matching"], "bound", "{explained}");
    }

    async fn a_rule_made_after_its_group_binds_at_once_and_the_bind_is_audited(app) {
        let admin = app.admin_token();
        let client = app.app_client(true);
        let a = id_of(&app.create_user("a").await);
        let ops = id_of(&app.create_group("Ops", &[&a]).await);
        let mapping = app.map_role(&admin, "displayName:ops", &["operator"]).await;
        assert_eq!(mapping["mappings"][0]["bound_group_id"], json!(ops));
        let token = access_token(&app, &client, &a).await;
        okta_rename(&app, &ops, "Operations", &[&a]).await;
        assert_eq!(roles_of(&app, &client, &token).await, json!(["operator"]));

        // A rule waiting for its group records the bind, caused by the group's push.
        app.map_role(&admin, "Later", &["later"]).await;
        let later = id_of(&app.create_group("Later", &[&a]).await);
        let records = admin_get(&app, &admin, "/audit?action=role_mapping.bind").await;
        let bind = records["records"][0].clone();
        assert_eq!(bind["details"]["bound_group_id"], json!(later), "{records}");
        assert!(bind["cause"].is_string(), "caused by the group's creation");
    }

    async fn a_rule_that_follows_names_moves_with_a_rename_and_raises_a_flag_with_the_counts(app) {
        let admin = app.admin_token();
        let client = app.app_client(true);
        let a = id_of(&app.create_user("a").await);
        let b = id_of(&app.create_user("b").await);
        let eng = id_of(&app.create_group("Eng", &[&a, &b]).await);
        let body = json!({"group": "Eng", "roles": ["engineer"], "follow_name": true});
        let response = app.admin(&admin, Method::POST, "/role-mappings")
            .header("content-type", "application/json").body(body.to_string()).send().await.expect("map");
        let mapping = expect_status(response, StatusCode::CREATED).await;
        assert_eq!(mapping["mappings"][0]["matching"], "name");
        let (a_token, b_token) = (access_token(&app, &client, &a).await, access_token(&app, &client, &b).await);
        let explained = admin_get(&app, &admin, &format!("/users/{a}/access")).await;
        assert_eq!(explained["roles"][0]["granted_by"][0]["matching"], "name", "shown as such");

        okta_rename(&app, &eng, "Engineering", &[&a, &b]).await;
        assert!(!app.is_active(&client, &a_token).await && !app.is_active(&client, &b_token).await);
        let flags = open_rename_flags(&app, &admin).await;
        assert_eq!(flags.len(), 1, "{flags:?}");
        assert_eq!(flags[0]["details"]["users_losing_roles"], 2);
        assert_eq!(flags[0]["details"]["sessions_ended"], 2);
        assert_eq!(flags[0]["subject"], json!(eng));
    }

    async fn a_name_matching_several_groups_is_refused_unless_following_names(app) {
        let admin = app.admin_token();
        let tenant = app.tenant_id.clone();
        scimitar::tenancy::set_unique_group_names(&app.store, &tenant, false).expect("allow duplicates");
        app.create_group("Dup", &[]).await;
        app.create_group("Dup", &[]).await;
        let body = json!({"group": "Dup", "roles": ["x"]});
        let response = app.admin(&admin, Method::POST, "/role-mappings")
            .header("content-type", "application/json").body(body.to_string()).send().await.expect("map");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body = json!({"group": "Dup", "roles": ["x"], "follow_name": true});
        let response = app.admin(&admin, Method::POST, "/role-mappings")
            .header("content-type", "application/json").body(body.to_string()).send().await.expect("map");
        expect_status(response, StatusCode::CREATED).await;
    }
}
