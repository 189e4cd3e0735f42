use chrono::Utc;
use reqwest::{Method, StatusCode};
use scimitar::access::credentials::{self, CredentialKind};
use scimitar::clock::Clock;

use crate::helpers::{expect_scim_error, expect_status};
use crate::on_both_backends;

on_both_backends! {
    async fn a_request_without_a_token_gets_401_with_a_scim_body_and_a_challenge(app) {
        let response = app.client.get(format!("{}/Users", app.base)).send().await.expect("GET");
        let challenge = response.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).map(String::from);
        expect_scim_error(response, StatusCode::UNAUTHORIZED, None).await;
        assert_eq!(challenge.as_deref(), Some("Bearer realm=\"scimitar\""));
    }

    async fn malformed_or_unknown_credentials_get_401(app) {
        let headers = ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer scimitar_not-a-real-token", "token"];
        for header in headers {
            let response = app.client.get(format!("{}/Users", app.base)).header("authorization", header).send().await.expect("GET");
            expect_scim_error(response, StatusCode::UNAUTHORIZED, None).await;
        }
        let wrong_case_scheme = app.client.get(format!("{}/Users", app.base)).header("authorization", format!("bearer {}", app.token)).send().await.expect("GET");
        expect_status(wrong_case_scheme, StatusCode::OK).await;
    }

    async fn a_revoked_credential_stops_working_at_once(app) {
        expect_status(app.get("/Users").await, StatusCode::OK).await;
        let listed = credentials::list(&app.store).expect("list");
        let client_id = listed.iter().find(|c| c.name == "test-idp").map(|c| c.client_id.clone()).expect("the test credential");
        credentials::revoke(&app.store, &client_id, Utc::now()).expect("revoke");
        expect_scim_error(app.get("/Users").await, StatusCode::UNAUTHORIZED, None).await;
    }

    async fn a_credential_revoked_by_another_process_stops_working_once_the_epoch_is_read(app) {
        expect_status(app.get("/Users").await, StatusCode::OK).await;
        expect_status(app.get("/Users").await, StatusCode::OK).await;
        // Straight to the database, as the CLI on the same file or another replica would: this
        // process's own after-commit invalidation does not run; the trigger moves the epoch.
        crate::audit::tamper(&app, "UPDATE credentials SET revoked = created WHERE name = 'test-idp'");
        app.clock.advance(chrono::Duration::milliseconds(60));
        expect_scim_error(app.get("/Users").await, StatusCode::UNAUTHORIZED, None).await;
    }

    async fn a_credential_used_again_within_the_minute_is_not_written_again_and_after_it_is(app) {
        expect_status(app.get("/Users").await, StatusCode::OK).await;
        let first = credentials::list(&app.store).expect("list")[0].last_used;
        app.clock.advance(chrono::Duration::seconds(30));
        expect_status(app.get("/Users").await, StatusCode::OK).await;
        assert_eq!(credentials::list(&app.store).expect("list")[0].last_used, first);
        app.clock.advance(chrono::Duration::seconds(31));
        expect_status(app.get("/Users").await, StatusCode::OK).await;
        let later = credentials::list(&app.store).expect("list")[0].last_used;
        assert_eq!(later, Some(scimitar::store::from_stored(scimitar::store::to_stored(app.clock.now()))));
    }

    async fn an_admin_credential_cannot_use_the_scim_api(app) {
        let admin = credentials::create(&app.store, None, "ops", CredentialKind::Admin, Utc::now()).expect("create");
        let response = app.request_as(admin.secret.expose(), Method::GET, "/Users").send().await.expect("GET");
        expect_scim_error(response, StatusCode::FORBIDDEN, None).await;
    }

    async fn the_time_a_credential_was_last_used_is_recorded(app) {
        let before = credentials::list(&app.store).expect("list");
        assert!(before.iter().all(|c| c.last_used.is_none()));
        expect_status(app.get("/Users").await, StatusCode::OK).await;
        let after = credentials::list(&app.store).expect("list");
        assert_eq!(after[0].last_used, Some(scimitar::store::from_stored(scimitar::store::to_stored(app.clock.now()))));
    }

    async fn discovery_endpoints_require_a_credential_too(app) {
        for path in ["/ServiceProviderConfig", "/Schemas", "/ResourceTypes"] {
            let response = app.client.get(format!("{}{path}", app.base)).send().await.expect("GET");
            expect_scim_error(response, StatusCode::UNAUTHORIZED, None).await;
        }
    }
}
