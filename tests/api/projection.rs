//! `attributes`, `excludedAttributes` and `POST /.search`.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{expect_scim_error, expect_status, id_of};
use crate::on_both_backends;

on_both_backends! {
    async fn attributes_limits_a_read_to_the_listed_attributes_plus_id_and_schemas(app) {
        let created = expect_status(app.post("/Users", &json!({"userName": "p", "title": "T", "name": {"givenName": "G", "familyName": "F"}})).await, StatusCode::CREATED).await;
        let path = format!("/Users/{}?attributes=userName,name.givenName", id_of(&created));
        let user = expect_status(app.get(&path).await, StatusCode::OK).await;
        assert_eq!(user, json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": id_of(&created),
            "userName": "p", "name": {"givenName": "G"},
        }));
    }

    async fn excluded_members_are_left_out_of_group_reads_and_lists(app) {
        let a = id_of(&app.create_user("a").await);
        let group = app.create_group("Big", &[&a]).await;
        let one = expect_status(app.get(&format!("/Groups/{}?excludedAttributes=members", id_of(&group))).await, StatusCode::OK).await;
        assert!(one.get("members").is_none() && one["displayName"] == "Big", "{one}");
        let list = expect_status(app.get("/Groups?excludedAttributes=members").await, StatusCode::OK).await;
        assert!(list["Resources"][0].get("members").is_none());
        assert_eq!(list["Resources"][0]["meta"]["version"], group["meta"]["version"]);
    }

    async fn write_responses_honour_the_projection_too(app) {
        let response = app.request(Method::POST, "/Users?attributes=id")
            .header("content-type", "application/scim+json").body(json!({"userName": "w", "title": "x"}).to_string())
            .send().await.expect("POST");
        let created = expect_status(response, StatusCode::CREATED).await;
        assert_eq!(created.as_object().map(|o| o.len()), Some(2), "{created}");
    }

    async fn attributes_and_excluded_attributes_together_are_refused(app) {
        let response = app.get("/Users?attributes=userName&excludedAttributes=title").await;
        expect_scim_error(response, StatusCode::BAD_REQUEST, Some("invalidSyntax")).await;
    }

    async fn search_by_post_takes_the_list_parameters_in_the_body(app) {
        for name in ["s1", "s2", "t1"] {
            app.create_user(name).await;
        }
        let response = app.request(Method::POST, "/Users/.search")
            .header("content-type", "application/scim+json")
            .body(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                "filter": "userName sw \"s\"", "startIndex": 1, "count": 1, "attributes": ["userName"],
            }).to_string())
            .send().await.expect("POST");
        let list = expect_status(response, StatusCode::OK).await;
        assert_eq!(list["totalResults"], json!(2));
        assert_eq!(list["itemsPerPage"], json!(1));
        let first = &list["Resources"][0];
        assert_eq!(first["userName"], "s1");
        assert!(first.get("meta").is_none(), "{first}");
    }
}
