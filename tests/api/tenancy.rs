use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{expect_scim_error, expect_status, id_of};
use crate::on_both_backends;

on_both_backends! {
    async fn a_credential_sees_only_its_own_tenant(app) {
        let other_token = app.token_for_new_tenant("acme");
        let user = app.create_user("shared-name").await;
        let other = app.request_as(&other_token, Method::GET, &format!("/Users/{}", id_of(&user))).send().await.expect("GET");
        expect_scim_error(other, StatusCode::NOT_FOUND, None).await;
        let list = app.request_as(&other_token, Method::GET, "/Users").send().await.expect("GET");
        assert_eq!(expect_status(list, StatusCode::OK).await["totalResults"], json!(0));
        let delete = app.request_as(&other_token, Method::DELETE, &format!("/Users/{}", id_of(&user))).send().await.expect("DELETE");
        expect_scim_error(delete, StatusCode::NOT_FOUND, None).await;
        expect_status(app.get(&format!("/Users/{}", id_of(&user))).await, StatusCode::OK).await;
    }

    async fn the_same_user_name_may_exist_in_two_tenants(app) {
        let other_token = app.token_for_new_tenant("acme");
        app.create_user("dup@example.com").await;
        let response = app.request_as(&other_token, Method::POST, "/Users")
            .header("content-type", "application/scim+json")
            .body(json!({"userName": "DUP@example.com"}).to_string()).send().await.expect("POST");
        expect_status(response, StatusCode::CREATED).await;
    }

    async fn a_group_cannot_take_members_from_another_tenant(app) {
        let other_token = app.token_for_new_tenant("acme");
        let stranger = app.create_user("stranger").await;
        let response = app.request_as(&other_token, Method::POST, "/Groups")
            .header("content-type", "application/scim+json")
            .body(json!({"displayName": "G", "members": [{"value": id_of(&stranger)}]}).to_string()).send().await.expect("POST");
        expect_scim_error(response, StatusCode::BAD_REQUEST, Some("invalidValue")).await;
    }
}

/// The counts kept by triggers (`tenant_counts`, `group_member_counts`) against the
/// counts a SCIM list reports by scanning (`totalResults` of a filter the kept counts do not
/// answer).
pub(crate) async fn assert_kept_counts_match(app: &crate::helpers::TestApp) {
    let scanned = |filter: &'static str, path: &'static str| async move {
        let response = app
            .request(Method::GET, path)
            .query(&[("filter", filter), ("count", "0")])
            .send()
            .await
            .expect("GET");
        expect_status(response, StatusCode::OK).await["totalResults"]
            .as_i64()
            .unwrap_or(-1)
    };
    // A user written without `active` is active, so active = all - explicitly inactive.
    let inactive = scanned("active eq false", "/Users").await;
    let active = scanned("userName pr", "/Users").await - inactive;
    let groups = scanned("displayName pr", "/Groups").await;
    let tenant = app.tenant_id.clone();
    let kept = app
        .store
        .read(|conn| {
            let users = scimitar::store::tenant_summary::users_by_active(conn, &tenant)?;
            let groups = scimitar::store::tenants::groups_per_tenant(conn)?;
            Ok::<_, scimitar::store::StoreError>((users, groups))
        })
        .expect("kept counts");
    let kept_groups = kept
        .1
        .iter()
        .find(|(t, _)| *t == tenant)
        .map_or(0, |(_, n)| *n);
    assert_eq!(
        (kept.0, kept_groups),
        ((active, inactive), groups),
        "kept (active, inactive), groups"
    );
}

on_both_backends! {
    async fn the_kept_user_and_group_counts_follow_every_write(app) {
        assert_kept_counts_match(&app).await;
        let ann = id_of(&app.create_user("ann").await);
        let bob = id_of(&app.create_user("bob").await);
        let inactive = json!({"userName": "cyd", "active": false});
        expect_status(app.post("/Users", &inactive).await, StatusCode::CREATED).await;
        let group = id_of(&app.create_group("Engineering", &[&ann, &bob]).await);
        app.create_group("Ops", &[]).await;
        assert_kept_counts_match(&app).await;

        let deactivate = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "active", "value": false}]});
        expect_status(app.patch(&format!("/Users/{ann}"), &deactivate).await, StatusCode::OK).await;
        // Writing the same value again changes no count.
        expect_status(app.patch(&format!("/Users/{ann}"), &deactivate).await, StatusCode::OK).await;
        assert_kept_counts_match(&app).await;
        let reactivate = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "active", "value": true}]});
        expect_status(app.patch(&format!("/Users/{ann}"), &reactivate).await, StatusCode::OK).await;
        assert_kept_counts_match(&app).await;

        // Another tenant's writes are counted for that tenant only.
        let other_token = app.token_for_new_tenant("acme");
        let response = app.request_as(&other_token, Method::POST, "/Users")
            .header("content-type", "application/scim+json")
            .body(json!({"userName": "ann"}).to_string()).send().await.expect("POST");
        expect_status(response, StatusCode::CREATED).await;
        assert_kept_counts_match(&app).await;

        assert_eq!(app.delete(&format!("/Users/{bob}")).await.status(), StatusCode::NO_CONTENT);
        assert_eq!(app.delete(&format!("/Groups/{group}")).await.status(), StatusCode::NO_CONTENT);
        assert_kept_counts_match(&app).await;
        let metrics = app.client.get(format!("{}/metrics", app.root)).send().await.expect("GET").text().await.expect("text");
        let tenant = &app.tenant_id;
        assert!(metrics.contains(&format!("scimitar_users{{tenant=\"{tenant}\"}} 2")), "{metrics}");
        assert!(metrics.contains(&format!("scimitar_groups{{tenant=\"{tenant}\"}} 1")), "{metrics}");
    }
}

on_both_backends! {
    async fn the_kept_counts_stay_exact_under_concurrent_writes(app) {
        let creates = (0..24).map(|i| {
            let app = &app;
            async move {
                let body = json!({"userName": format!("racer{i}"), "active": i % 3 != 0});
                expect_status(app.post("/Users", &body).await, StatusCode::CREATED).await;
            }
        });
        let groups = (0..8).map(|i| {
            let app = &app;
            async move { app.create_group(&format!("Team {i}"), &[]).await; }
        });
        futures_util::future::join(futures_util::future::join_all(creates), futures_util::future::join_all(groups)).await;
        assert_kept_counts_match(&app).await;
    }
}
