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

on_both_backends! {
    async fn a_root_search_pages_through_users_then_groups(app) {
        for name in ["u1", "u2"] {
            app.create_user(name).await;
        }
        for name in ["g1", "g2"] {
            app.create_group(name, &[]).await;
        }
        let search = |body: serde_json::Value| {
            app.request(Method::POST, "/.search").header("content-type", "application/scim+json").body(body.to_string()).send()
        };
        let everything = expect_status(search(json!({"startIndex": 2, "count": 2})).await.expect("POST"), StatusCode::OK).await;
        assert_eq!(everything["totalResults"], json!(4));
        let types: Vec<&str> = everything["Resources"].as_array().into_iter().flatten().filter_map(|r| r["meta"]["resourceType"].as_str()).collect();
        assert_eq!(types, vec!["User", "Group"], "the page straddles users and groups");
        let users_only = expect_status(search(json!({"filter": "userName sw \"u\""})).await.expect("POST"), StatusCode::OK).await;
        assert_eq!(users_only["totalResults"], json!(2), "groups have no userName: they match nothing");
        let bad = search(json!({"filter": "userName eq"})).await.expect("POST");
        expect_scim_error(bad, StatusCode::BAD_REQUEST, Some("invalidFilter")).await;
    }

    async fn discovery_endpoints_answer_other_methods_with_405(app) {
        for path in ["/ServiceProviderConfig", "/Schemas", "/ResourceTypes"] {
            let response = app.request(Method::POST, path).header("content-type", "application/scim+json").body("{}").send().await.expect("POST");
            expect_scim_error(response, StatusCode::METHOD_NOT_ALLOWED, None).await;
        }
    }
}
