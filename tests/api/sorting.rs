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
