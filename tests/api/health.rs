use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::expect_status;
use crate::on_both_backends;

on_both_backends! {
    async fn liveness_and_readiness_answer_without_credentials(app) {
        let live = app.client.get(format!("{}/health/live", app.root)).send().await.expect("GET");
        assert_eq!(expect_status(live, StatusCode::OK).await, json!({"status": "ok"}));
        let ready = app.client.get(format!("{}/health/ready", app.root)).send().await.expect("GET");
        assert_eq!(expect_status(ready, StatusCode::OK).await, json!({"status": "ready"}));
    }
}
