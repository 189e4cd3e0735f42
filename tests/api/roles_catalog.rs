//! Roles the identity provider can see and grant: `/Roles` and `/Entitlements` (read-only,
//! filtered, paged, projected), a user's `roles` as a second source of roles beside group
//! mappings (only published, assignable roles; Okta's PUT and `value`-filtered PATCH, Entra's
//! JSON-string values), the cascade when a directly assigned role is lost, one explanation of
//! access with every source, and the preview of a removal.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, expect_status, id_of};
use crate::on_both_backends;

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

async fn describe(app: &TestApp, admin: &str, value: &str, body: Value) -> Value {
    let response = app
        .admin(admin, Method::PUT, &format!("/roles/{value}"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("PUT role");
    expect_status(response, StatusCode::OK).await
}

fn roles_claim(token: &str) -> Vec<String> {
    let payload = token.split('.').nth(1).unwrap_or_default();
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
        .unwrap_or_default();
    let claims: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    claims["roles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_str().map(String::from))
        .collect()
}

fn patch(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

async fn audit(app: &TestApp, admin: &str, query: &str) -> Vec<Value> {
    let page = expect_status(
        app.admin(admin, Method::GET, &format!("/audit?{query}"))
            .send()
            .await
            .expect("audit"),
        StatusCode::OK,
    )
    .await;
    page["records"].as_array().cloned().unwrap_or_default()
}

on_both_backends! {
    async fn roles_and_entitlements_are_published_read_only_with_filters_paging_and_projections(app) {
        let admin = app.admin_token();
        describe(&app, &admin, "approver", json!({"display_name": "Approver", "description": "Approves expenses", "assignable": true, "entitlements": ["expenses.approve", "reports.read"]})).await;
        describe(&app, &admin, "auditor", json!({"display_name": "Auditor", "entitlements": ["reports.read"]})).await;
        let group = id_of(&app.create_group("Engineering", &[]).await);
        app.map_role(&admin, &format!("id:{group}"), &["developer"]).await;

        let types = expect_status(app.get("/ResourceTypes").await, StatusCode::OK).await;
        let names: Vec<&str> = types["Resources"].as_array().into_iter().flatten().filter_map(|t| t["name"].as_str()).collect();
        assert_eq!(names, vec!["User", "Group", "Role", "Entitlement"]);
        let schema = expect_status(app.get("/Schemas/urn:okta:scim:schemas:core:1.0:Role").await, StatusCode::OK).await;
        assert_eq!(schema["name"], "Role");

        let all = expect_status(app.get("/Roles").await, StatusCode::OK).await;
        assert_eq!(all["totalResults"], 3);
        let approver = all["Resources"].as_array().into_iter().flatten().find(|r| r["id"] == "approver").cloned().unwrap_or_default();
        assert_eq!((approver["value"].clone(), approver["displayName"].clone(), approver["assignable"].clone()), (json!("approver"), json!("Approver"), json!(true)));
        assert_eq!(approver["schemas"], json!(["urn:okta:scim:schemas:core:1.0:Role"]));
        let developer = all["Resources"].as_array().into_iter().flatten().find(|r| r["id"] == "developer").cloned().unwrap_or_default();
        assert_eq!(developer["assignable"], false, "a mapped role is granted through groups only");
        assert!(developer.get("description").is_none(), "unassigned attributes are left out");

        let filtered = expect_status(app.get("/Roles?filter=displayName%20eq%20%22approver%22").await, StatusCode::OK).await;
        assert_eq!(filtered["totalResults"], 1, "displayName compares case-insensitively");
        let by_value = expect_status(app.get("/Roles?filter=value%20sw%20%22aud%22&attributes=displayName").await, StatusCode::OK).await;
        assert_eq!(by_value["Resources"], json!([{"schemas": ["urn:okta:scim:schemas:core:1.0:Role"], "id": "auditor", "displayName": "Auditor"}]));
        let paged = expect_status(app.get("/Roles?startIndex=2&count=1").await, StatusCode::OK).await;
        assert_eq!((paged["totalResults"].clone(), paged["itemsPerPage"].clone(), paged["startIndex"].clone()), (json!(3), json!(1), json!(2)));
        let one = expect_status(app.get("/Roles/approver?excludedAttributes=entitlements").await, StatusCode::OK).await;
        assert!(one.get("entitlements").is_none() && one["displayName"] == "Approver");
        assert_eq!(app.get("/Roles/nobody").await.status(), StatusCode::NOT_FOUND);

        let entitlements = expect_status(app.get("/Entitlements").await, StatusCode::OK).await;
        let read = entitlements["Resources"].as_array().into_iter().flatten().find(|e| e["id"] == "reports.read").cloned().unwrap_or_default();
        assert_eq!(read["containedBy"], json!(["approver", "auditor"]));

        // Read-only, for the identity provider's credential only.
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            let path = if method == Method::POST { "/Roles" } else { "/Roles/approver" };
            let response = app.request(method.clone(), path).header("content-type", "application/scim+json").body("{}").send().await.expect("write");
            assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{method}");
        }
        let anonymous = app.client.get(format!("{}/Roles", app.base)).send().await.expect("GET");
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
        let as_admin = app.client.get(format!("{}/Roles", app.base)).bearer_auth(&admin).send().await.expect("GET");
        assert_eq!(as_admin.status(), StatusCode::FORBIDDEN, "an admin credential is not a SCIM credential");
    }

    async fn an_identity_provider_assigns_a_role_and_its_removal_ends_the_sessions_that_carried_it(app) {
        let (admin, client) = (app.admin_token(), app.app_client(true));
        describe(&app, &admin, "approver", json!({"assignable": true})).await;
        let alice = id_of(&app.create_user("alice").await);

        // Okta reads /Roles, then assigns by PATCH (or PUT, below).
        let listed = expect_status(app.get("/Roles").await, StatusCode::OK).await;
        assert_eq!(listed["Resources"][0]["id"], "approver");
        let add = patch(json!([{"op": "add", "path": "roles", "value": [{"value": "approver", "display": "Approver"}]}]));
        let user = expect_status(app.patch(&format!("/Users/{alice}"), &add).await, StatusCode::OK).await;
        assert_eq!(user["roles"][0]["value"], "approver", "read back for reconciliation");
        let tokens = app.tokens_for(&client, &alice).await;
        let access = tokens["access_token"].as_str().unwrap_or_default().to_string();
        assert_eq!(roles_claim(&access), vec!["approver"]);
        let assigned = audit(&app, &admin, "action=role.assign").await;
        assert_eq!(assigned.len(), 1);
        let cause = assigned[0]["cause"].as_str().unwrap_or_default().to_string();
        let patch_record = expect_status(app.admin(&admin, Method::GET, &format!("/audit/{cause}")).send().await.expect("audit"), StatusCode::OK).await;
        assert_eq!(patch_record["action"], "user.patch");

        let explained = expect_status(app.admin(&admin, Method::GET, &format!("/users/{alice}/access")).send().await.expect("access"), StatusCode::OK).await;
        assert_eq!(explained["roles"][0]["role"], "approver");
        assert!(explained["roles"][0]["direct"]["assigned_at"].is_string(), "{explained}");
        assert_eq!(explained["roles"][0]["granted_by"], json!([]));

        // The removal, previewed: which sessions would end; nothing changes.
        let remove = patch(json!([{"op": "remove", "path": "roles[value eq \"approver\"]"}]));
        let preview = app.request(Method::PATCH, &format!("/Users/{alice}")).header("content-type", "application/scim+json")
            .header("scimitar-preview", "true").body(remove.to_string()).send().await.expect("preview");
        let preview = expect_status(preview, StatusCode::OK).await;
        assert_eq!(preview["sessionsRevoked"].as_array().map(Vec::len), Some(1), "{preview}");
        assert_eq!(preview["roles"][0]["lost"], json!(["approver"]));
        assert_eq!(app.introspect(&client, &access).await["active"], true, "a preview changes nothing");

        // The removal itself: the session that carried the role ends, caused by the request.
        expect_status(app.patch(&format!("/Users/{alice}"), &remove).await, StatusCode::OK).await;
        assert_eq!(app.introspect(&client, &access).await["active"], false);
        let ended = audit(&app, &admin, "action=session.revoke").await;
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0]["details"]["reason"], "role_lost");
        let unassigned = audit(&app, &admin, "action=role.unassign").await;
        assert_eq!(unassigned.len(), 1);
        assert_eq!(ended[0]["cause"], unassigned[0]["cause"], "both caused by the PATCH");
        let again = app.tokens_for(&client, &alice).await;
        assert!(roles_claim(again["access_token"].as_str().unwrap_or_default()).is_empty());
    }

    async fn a_role_held_through_a_group_and_directly_survives_the_loss_of_either(app) {
        let (admin, client) = (app.admin_token(), app.app_client(true));
        describe(&app, &admin, "approver", json!({"assignable": true})).await;
        let alice = id_of(&app.create_user("alice").await);
        let group = id_of(&app.create_group("Approvers", &[&alice]).await);
        app.map_role(&admin, &format!("id:{group}"), &["approver"]).await;
        let add = patch(json!([{"op": "add", "path": "roles", "value": [{"value": "approver"}]}]));
        expect_status(app.patch(&format!("/Users/{alice}"), &add).await, StatusCode::OK).await;
        let explained = expect_status(app.admin(&admin, Method::GET, &format!("/users/{alice}/access")).send().await.expect("access"), StatusCode::OK).await;
        assert_eq!(explained["roles"].as_array().map(Vec::len), Some(1), "one role, two sources: {explained}");
        assert!(explained["roles"][0]["direct"].is_object() && explained["roles"][0]["granted_by"].as_array().is_some_and(|g| g.len() == 1));

        let access = app.tokens_for(&client, &alice).await["access_token"].as_str().unwrap_or_default().to_string();
        // Losing the direct assignment: still held through the group.
        let remove = patch(json!([{"op": "remove", "path": "roles[value eq \"approver\"]"}]));
        expect_status(app.patch(&format!("/Users/{alice}"), &remove).await, StatusCode::OK).await;
        assert_eq!(app.introspect(&client, &access).await["active"], true);
        // Assigned again, then the group goes: still held directly.
        expect_status(app.patch(&format!("/Users/{alice}"), &add).await, StatusCode::OK).await;
        let leave = patch(json!([{"op": "remove", "path": format!("members[value eq \"{alice}\"]")}]));
        expect_status(app.patch(&format!("/Groups/{group}"), &leave).await, StatusCode::OK).await;
        assert_eq!(app.introspect(&client, &access).await["active"], true);
        // Okta's PUT without the role: now it is gone from both sources.
        let put = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "alice"});
        expect_status(app.put(&format!("/Users/{alice}"), &put).await, StatusCode::OK).await;
        assert_eq!(app.introspect(&client, &access).await["active"], false);
    }

    async fn unpublished_or_unassignable_roles_are_refused_and_nothing_is_stored(app) {
        let admin = app.admin_token();
        describe(&app, &admin, "approver", json!({"assignable": true})).await;
        describe(&app, &admin, "reviewer", json!({"assignable": true})).await;
        let group = id_of(&app.create_group("Engineering", &[]).await);
        app.map_role(&admin, &format!("id:{group}"), &["developer"]).await;
        let alice = id_of(&app.create_user("alice").await);
        for role in ["superuser", "developer"] {
            let add = patch(json!([{"op": "add", "path": "roles", "value": [{"value": "approver"}, {"value": role}]}]));
            let refused = expect_status(app.patch(&format!("/Users/{alice}"), &add).await, StatusCode::BAD_REQUEST).await;
            assert_eq!(refused["scimType"], "invalidValue");
            assert!(refused["detail"].as_str().is_some_and(|d| d.contains(role) && !d.contains("`approver`")), "{refused}");
        }
        let user = expect_status(app.get(&format!("/Users/{alice}")).await, StatusCode::OK).await;
        assert!(user.get("roles").is_none(), "nothing stored: {user}");
        assert_eq!(user["meta"]["version"], "W/\"1\"");
        assert!(audit(&app, &admin, "action=role.assign").await.is_empty());
        // On create too.
        let created = app.post("/Users", &json!({"userName": "bob", "roles": [{"value": "superuser"}]})).await;
        assert_eq!(created.status(), StatusCode::BAD_REQUEST);
        let found = expect_status(app.get("/Users?filter=userName%20eq%20%22bob%22").await, StatusCode::OK).await;
        assert_eq!(found["totalResults"], 0);
        // A role that stops being assignable stays with those who hold it, and can be removed.
        let add = patch(json!([{"op": "add", "path": "roles", "value": [{"value": "approver"}]}]));
        expect_status(app.patch(&format!("/Users/{alice}"), &add).await, StatusCode::OK).await;
        describe(&app, &admin, "approver", json!({"assignable": false})).await;
        let title = patch(json!([{"op": "replace", "path": "title", "value": "Lead"}]));
        expect_status(app.patch(&format!("/Users/{alice}"), &title).await, StatusCode::OK).await;
        let remove = patch(json!([{"op": "remove", "path": "roles[value eq \"approver\"]"}]));
        expect_status(app.patch(&format!("/Users/{alice}"), &remove).await, StatusCode::OK).await;
        assert_eq!(audit(&app, &admin, "action=role.unassign").await.len(), 1);
        // Not assignable any more: assigning it anew is refused.
        expect_status(app.patch(&format!("/Users/{alice}"), &add).await, StatusCode::BAD_REQUEST).await;
    }

    async fn entra_json_string_roles_are_read_and_tenants_without_assignable_roles_keep_roles_as_attributes(app) {
        let (admin, client) = (app.admin_token(), app.app_client(true));
        // No assignable role published: `roles` are plain attributes, as before.
        let bob = id_of(&expect_status(app.post("/Users", &json!({"userName": "bob", "roles": [{"value": "Whatever", "primary": true}]})).await, StatusCode::CREATED).await);
        let tokens = app.tokens_for(&client, &bob).await;
        assert!(roles_claim(tokens["access_token"].as_str().unwrap_or_default()).is_empty(), "grants nothing");
        // Entra's AppRoleAssignmentsComplex PATCH: the role inside a JSON string.
        describe(&app, &admin, "Admin", json!({"assignable": true})).await;
        let carol = id_of(&app.create_user("carol").await);
        let entra = patch(json!([{"op": "Add", "path": "roles", "value": [{"value": "{\"id\":\"06b07648-ecfe-589f-9d2f-6325724a46ee\",\"value\":\"Admin\",\"displayName\":\"Admin\"}"}]}]));
        expect_status(app.patch(&format!("/Users/{carol}"), &entra).await, StatusCode::OK).await;
        let tokens = app.tokens_for(&client, &carol).await;
        assert_eq!(roles_claim(tokens["access_token"].as_str().unwrap_or_default()), vec!["Admin"]);
        // Bob's stored value stays inert, even now that the tenant takes roles: another write
        // to him is not refused for it, and it grants nothing.
        let title = patch(json!([{"op": "replace", "path": "title", "value": "x"}]));
        expect_status(app.patch(&format!("/Users/{bob}"), &title).await, StatusCode::OK).await;
        let holders = expect_status(app.admin(&admin, Method::GET, "/roles/Admin/holders").send().await.expect("holders"), StatusCode::OK).await;
        assert_eq!((holders["total"].clone(), holders["holders"][0]["user_id"].clone()), (json!(1), json!(carol)));
        let roles = expect_status(app.admin(&admin, Method::GET, "/roles").send().await.expect("roles"), StatusCode::OK).await;
        assert_eq!(roles["roles"][0]["direct_holders"], 1);
        // Deleting the user takes their direct roles along.
        assert_eq!(app.delete(&format!("/Users/{carol}")).await.status(), StatusCode::NO_CONTENT);
        let holders = expect_status(app.admin(&admin, Method::GET, "/roles/Admin/holders").send().await.expect("holders"), StatusCode::OK).await;
        assert_eq!(holders["total"], 0);
        let forgotten = app.admin(&admin, Method::DELETE, "/roles/Admin").send().await.expect("DELETE");
        assert_eq!(forgotten.status(), StatusCode::NO_CONTENT);
    }

    async fn a_value_stored_before_it_was_assignable_is_assigned_when_the_idp_writes_roles_again(app) {
        let (admin, client) = (app.admin_token(), app.app_client(true));
        let body = json!({"userName": "dana", "roles": [{"value": "approver"}, {"value": "legacy"}]});
        let dana = id_of(&expect_status(app.post("/Users", &body).await, StatusCode::CREATED).await);
        describe(&app, &admin, "approver", json!({"assignable": true})).await;
        // A write that does not name `roles` grants nothing by it.
        let title = patch(json!([{"op": "replace", "path": "title", "value": "x"}]));
        expect_status(app.patch(&format!("/Users/{dana}"), &title).await, StatusCode::OK).await;
        let tokens = app.tokens_for(&client, &dana).await;
        assert!(roles_claim(tokens["access_token"].as_str().unwrap_or_default()).is_empty());
        // Okta confirms an approval with a PUT of the same value: assigned now; the legacy,
        // unpublished value stays inert and is not refused (a deactivating PUT must pass).
        let put = json!({"userName": "dana", "roles": [{"value": "approver"}, {"value": "legacy"}]});
        expect_status(app.put(&format!("/Users/{dana}"), &put).await, StatusCode::OK).await;
        let tokens = app.tokens_for(&client, &dana).await;
        assert_eq!(roles_claim(tokens["access_token"].as_str().unwrap_or_default()), vec!["approver"]);
        let off = json!({"userName": "dana", "active": false, "roles": [{"value": "approver"}, {"value": "legacy"}]});
        expect_status(app.put(&format!("/Users/{dana}"), &off).await, StatusCode::OK).await;
        let assigned = audit(&app, &admin, "action=role.assign").await;
        assert_eq!(assigned.len(), 1, "{assigned:?}");
    }

    async fn a_deactivation_is_never_refused_for_the_roles_it_carries(app) {
        let (admin, client) = (app.admin_token(), app.app_client(true));
        describe(&app, &admin, "approver", json!({"assignable": true})).await;
        let body = json!({"userName": "erin", "roles": [{"value": "approver"}]});
        let erin = id_of(&expect_status(app.post("/Users", &body).await, StatusCode::CREATED).await);
        let token = app.tokens_for(&client, &erin).await["access_token"].as_str().unwrap_or_default().to_string();
        // Active, an unpublished value is refused and nothing changes...
        let put = json!({"userName": "erin", "roles": [{"value": "approver"}, {"value": "Employee"}]});
        assert_eq!(app.put(&format!("/Users/{erin}"), &put).await.status(), StatusCode::BAD_REQUEST);
        assert!(app.is_active(&client, &token).await);
        // ...but a deactivation carrying it goes through: PUT, and PATCH.
        let off = json!({"userName": "erin", "active": false, "roles": [{"value": "approver"}, {"value": "Employee"}]});
        expect_status(app.put(&format!("/Users/{erin}"), &off).await, StatusCode::OK).await;
        assert!(!app.is_active(&client, &token).await, "offboarded at once");
        let frank = id_of(&expect_status(app.post("/Users", &json!({"userName": "frank"})).await, StatusCode::CREATED).await);
        let frank_token = app.tokens_for(&client, &frank).await["access_token"].as_str().unwrap_or_default().to_string();
        let patch_off = patch(json!([{"op": "replace", "path": "active", "value": false}, {"op": "add", "path": "roles", "value": [{"value": "Unpublished"}]}]));
        expect_status(app.patch(&format!("/Users/{frank}"), &patch_off).await, StatusCode::OK).await;
        assert!(!app.is_active(&client, &frank_token).await);
        let assigned: Vec<Value> = audit(&app, &admin, "action=role.assign").await;
        assert!(assigned.iter().all(|r| !r.to_string().contains("Employee") && !r.to_string().contains("Unpublished")), "{assigned:?}");
    }

    async fn the_role_doors_admit_only_their_credential_and_only_its_tenant(app) {
        let admin = app.admin_token();
        describe(&app, &admin, "approver", json!({"assignable": true, "entitlements": ["expenses.approve"]})).await;
        let alice = id_of(&expect_status(app.post("/Users", &json!({"userName": "alice", "roles": [{"value": "approver"}]})).await, StatusCode::CREATED).await);
        let client = app.app_client(true);
        // Another tenant's admin and SCIM credentials.
        let other_scim = app.token_for_new_tenant("other");
        let other_admin = scimitar::access::credentials::create(&app.store, Some("other"), "other-admin",
            scimitar::access::credentials::CredentialKind::Admin, chrono::Utc::now()).expect("admin").secret.expose().to_string();
        let url = |path: &str| format!("{}/admin/v1{path}", app.root);
        let admin_doors = [(Method::GET, "/roles"), (Method::PUT, "/roles/approver"), (Method::DELETE, "/roles/approver"), (Method::GET, "/roles/approver/holders")];
        for (method, path) in &admin_doors {
            let body = json!({"assignable": false}).to_string();
            let anonymous = app.client.request(method.clone(), url(path)).body(body.clone()).send().await.expect("anonymous");
            assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
            for (who, request) in [
                ("a SCIM credential", app.client.request(method.clone(), url(path)).bearer_auth(&app.token)),
                ("an app client", app.client.request(method.clone(), url(path)).basic_auth(&client.id, Some(&client.secret))),
            ] {
                let refused = request.header("content-type", "application/json").body(body.clone()).send().await.expect("request");
                assert!(matches!(refused.status(), StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN), "{who}: {method} {path}: {}", refused.status());
            }
        }
        // Another tenant's admin sees none of this tenant's roles or holders, and its own
        // description of the same name is its own.
        let theirs = expect_status(app.admin(&other_admin, Method::GET, "/roles").send().await.expect("GET"), StatusCode::OK).await;
        assert_eq!(theirs["roles"], json!([]), "{theirs}");
        let holders = expect_status(app.admin(&other_admin, Method::GET, "/roles/approver/holders").send().await.expect("GET"), StatusCode::OK).await;
        assert_eq!(holders["total"], 0, "{holders}");
        let forgotten = app.admin(&other_admin, Method::DELETE, "/roles/approver").send().await.expect("DELETE");
        assert!(forgotten.status().is_client_error(), "{}", forgotten.status());
        let ours = expect_status(app.admin(&admin, Method::GET, "/roles/approver/holders").send().await.expect("GET"), StatusCode::OK).await;
        assert_eq!((ours["total"].clone(), ours["holders"][0]["user_id"].clone()), (json!(1), json!(alice)));
        // /Roles and /Entitlements: the SCIM credential of the tenant only.
        for path in ["/Roles", "/Entitlements", "/Roles/approver"] {
            let by_app = app.client.get(format!("{}{path}", app.base)).basic_auth(&client.id, Some(&client.secret)).send().await.expect("GET");
            assert!(matches!(by_app.status(), StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN), "{path}: {}", by_app.status());
        }
        let listed = expect_status(app.request_as(&other_scim, Method::GET, "/Roles").send().await.expect("GET"), StatusCode::OK).await;
        assert_eq!(listed["totalResults"], 0, "{listed}");
        let entitlements = expect_status(app.request_as(&other_scim, Method::GET, "/Entitlements").send().await.expect("GET"), StatusCode::OK).await;
        assert_eq!(entitlements["totalResults"], 0, "{entitlements}");
        let one = app.request_as(&other_scim, Method::GET, "/Roles/approver").send().await.expect("GET");
        assert_eq!(one.status(), StatusCode::NOT_FOUND);
    }

    async fn the_console_shows_direct_roles_and_published_roles_with_their_holders(app) {
        let admin = app.admin_token();
        describe(&app, &admin, "approver", json!({"display_name": "Approver", "assignable": true, "entitlements": ["expenses.approve"]})).await;
        let alice = id_of(&app.create_user("alice").await);
        let add = patch(json!([{"op": "add", "path": "roles", "value": [{"value": "approver"}]}]));
        expect_status(app.patch(&format!("/Users/{alice}"), &add).await, StatusCode::OK).await;
        let (mut browser, _) = crate::console::Browser::signed_in(&app).await;
        let (_, person) = browser.get(&format!("/console/people/{alice}")).await;
        assert!(person.contains("Assigned directly by the identity provider"), "{person}");
        let (_, groups) = browser.get("/console/groups").await;
        assert!(groups.contains("id=\"published-roles\"") && groups.contains(&format!("/console/people/{alice}\">alice<")) && groups.contains("expenses.approve"), "{groups}");
    }
}
