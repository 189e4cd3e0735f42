//! `sortBy` and `sortOrder`, answered by the database on both backends.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, expect_scim_error, expect_status};
use crate::on_both_backends;

async fn user_names(app: &TestApp, params: &[(&str, &str)]) -> Vec<String> {
    let response = app
        .request(Method::GET, "/Users")
        .query(params)
        .send()
        .await
        .expect("GET");
    let list = expect_status(response, StatusCode::OK).await;
    list["Resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| u["userName"].as_str().map(String::from))
        .collect()
}

async fn seed(app: &TestApp) {
    for (name, external_id) in [
        ("bravo", Some("2")),
        ("Alpha", None),
        ("charlie", Some("1")),
    ] {
        let mut body = json!({"userName": name});
        if let Some(external_id) = external_id {
            body["externalId"] = Value::String(external_id.into());
        }
        expect_status(app.post("/Users", &body).await, StatusCode::CREATED).await;
    }
}

on_both_backends! {
    async fn user_names_sort_case_insensitively_in_either_order(app) {
        seed(&app).await;
        assert_eq!(user_names(&app, &[("sortBy", "userName")]).await, vec!["Alpha", "bravo", "charlie"]);
        assert_eq!(user_names(&app, &[("sortBy", "USERNAME"), ("sortOrder", "descending")]).await, vec!["charlie", "bravo", "Alpha"]);
    }

    async fn absent_values_sort_last_when_ascending_and_first_when_descending(app) {
        seed(&app).await;
        assert_eq!(user_names(&app, &[("sortBy", "externalId")]).await, vec!["charlie", "bravo", "Alpha"]);
        assert_eq!(user_names(&app, &[("sortBy", "externalId"), ("sortOrder", "descending")]).await, vec!["Alpha", "bravo", "charlie"]);
    }

    async fn sorting_combines_with_filters_and_paging(app) {
        seed(&app).await;
        let params = [("sortBy", "userName"), ("sortOrder", "descending"), ("filter", "externalId pr"), ("startIndex", "2"), ("count", "1")];
        assert_eq!(user_names(&app, &params).await, vec!["bravo"]);
        assert_eq!(user_names(&app, &[("sortBy", "meta.created")]).await, vec!["bravo", "Alpha", "charlie"]);
    }

    async fn an_attribute_that_cannot_be_sorted_by_is_an_invalid_value(app) {
        for params in [[("sortBy", "nickName"), ("sortOrder", "ascending")], [("sortBy", "userName"), ("sortOrder", "sideways")]] {
            let response = app.request(Method::GET, "/Users").query(&params).send().await.expect("GET");
            expect_scim_error(response, StatusCode::BAD_REQUEST, Some("invalidValue")).await;
        }
    }
}

async fn cursor_page(app: &TestApp, params: &[(&str, &str)]) -> Value {
    let response = app
        .request(Method::GET, "/Users")
        .query(params)
        .send()
        .await
        .expect("GET");
    expect_status(response, StatusCode::OK).await
}

fn names_of(page: &Value) -> Vec<String> {
    page["Resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| u["userName"].as_str().map(String::from))
        .collect()
}

/// Walks a list by cursor (RFC 9865) with `params` and returns every page's user names.
async fn walk(app: &TestApp, params: &[(&str, &str)]) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut cursor = String::new();
    loop {
        let mut query: Vec<(&str, &str)> = params.to_vec();
        query.push(("cursor", cursor.as_str()));
        let page = cursor_page(app, &query).await;
        assert!(
            page.get("startIndex").is_none(),
            "cursor pages have no startIndex"
        );
        pages.push(names_of(&page));
        match page["nextCursor"].as_str() {
            Some(next) => {
                assert!(
                    next.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)),
                    "unreserved characters only"
                );
                cursor = next.to_string();
            }
            None => break,
        }
        assert!(pages.len() < 20, "the walk ends");
    }
    pages
}

on_both_backends! {
    async fn a_cursor_walk_visits_every_user_once_in_order(app) {
        for name in ["e", "B", "a", "d", "C"] {
            app.create_user(name).await;
        }
        let pages = walk(&app, &[("count", "2")]).await;
        assert_eq!(pages, vec![vec!["e", "B"], vec!["a", "d"], vec!["C"]], "creation order, two per page");
        let sorted = walk(&app, &[("count", "2"), ("sortBy", "userName")]).await;
        assert_eq!(sorted.concat(), vec!["a", "B", "C", "d", "e"]);
        let descending = walk(&app, &[("count", "3"), ("sortBy", "userName"), ("sortOrder", "descending")]).await;
        assert_eq!(descending.concat(), vec!["e", "d", "C", "B", "a"]);
        let filtered = walk(&app, &[("count", "1"), ("filter", "userName lt \"c\"")]).await;
        assert_eq!(filtered, vec![vec!["B"], vec!["a"]]);
    }

    async fn cursors_from_another_query_or_forged_are_invalid(app) {
        for name in ["a", "b", "c"] {
            app.create_user(name).await;
        }
        let first = cursor_page(&app, &[("count", "1"), ("cursor", "")]).await;
        let next = first["nextCursor"].as_str().unwrap_or_default().to_string();
        assert_eq!(first["totalResults"], json!(3));
        for params in [
            vec![("count", "1"), ("cursor", next.as_str()), ("sortBy", "userName")],
            vec![("count", "1"), ("cursor", "Zm9yZ2Vk")],
        ] {
            let response = app.request(Method::GET, "/Users").query(&params).send().await.expect("GET");
            expect_scim_error(response, StatusCode::BAD_REQUEST, Some("invalidCursor")).await;
        }
    }

    async fn the_service_provider_config_advertises_both_pagination_methods(app) {
        let config = expect_status(app.get("/ServiceProviderConfig").await, StatusCode::OK).await;
        assert_eq!(config["pagination"], json!({
            "cursor": true, "index": true, "defaultPaginationMethod": "index", "defaultPageSize": 100, "maxPageSize": 1000,
        }));
    }
}
