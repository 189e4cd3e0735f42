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
