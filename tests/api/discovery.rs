use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{expect_scim_error, expect_status};
use crate::on_both_backends;

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

on_both_backends! {
    async fn the_service_provider_config_advertises_what_is_really_supported(app) {
        let config = expect_status(app.get("/ServiceProviderConfig").await, StatusCode::OK).await;
        assert_eq!(config["schemas"], json!(["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"]));
        assert_eq!(config["etag"]["supported"], json!(true));
        assert_eq!(config["patch"]["supported"], json!(true));
        assert_eq!(config["bulk"], json!({"supported": true, "maxOperations": 1000, "maxPayloadSize": 2097152}));
        assert_eq!(config["sort"]["supported"], json!(true));
        assert_eq!(config["filter"], json!({"supported": true, "maxResults": 1000}));
        assert_eq!(config["authenticationSchemes"][0]["type"], "oauthbearertoken");
        assert_eq!(config["meta"]["location"], json!(format!("{}/ServiceProviderConfig", app.base)));
    }

    async fn schemas_are_listed_and_served_by_id_with_absolute_locations(app) {
        let list = expect_status(app.get("/Schemas").await, StatusCode::OK).await;
        assert_eq!(list["totalResults"], json!(5));
        let ids: Vec<&str> = list["Resources"].as_array().into_iter().flatten().filter_map(|s| s["id"].as_str()).collect();
        assert_eq!(ids, vec!["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE, "urn:ietf:params:scim:schemas:core:2.0:Group",
            "urn:okta:scim:schemas:core:1.0:Role", "urn:okta:scim:schemas:core:1.0:Entitlement"]);
        let user = expect_status(app.get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User").await, StatusCode::OK).await;
        assert_eq!(user["meta"]["location"], json!(format!("{}/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", app.base)));
        let user_name = user["attributes"].as_array().into_iter().flatten().find(|a| a["name"] == "userName").cloned().unwrap_or(Value::Null);
        assert_eq!(user_name["uniqueness"], "server");
        assert_eq!(user_name["caseExact"], json!(false));
        expect_scim_error(app.get("/Schemas/urn:nope").await, StatusCode::NOT_FOUND, None).await;
    }

    async fn resource_types_describe_users_with_the_enterprise_extension_and_groups(app) {
        let list = expect_status(app.get("/ResourceTypes").await, StatusCode::OK).await;
        assert_eq!(list["totalResults"], json!(4));
        let user = expect_status(app.get("/ResourceTypes/User").await, StatusCode::OK).await;
        assert_eq!(user["endpoint"], "/Users");
        assert_eq!(user["schemaExtensions"][0]["schema"], ENTERPRISE);
        assert_eq!(user["meta"]["location"], json!(format!("{}/ResourceTypes/User", app.base)));
        let group = expect_status(app.get("/ResourceTypes/Group").await, StatusCode::OK).await;
        assert_eq!(group["endpoint"], "/Groups");
        // Okta Identity Governance finds roles and entitlements by its own schema URNs.
        let role = expect_status(app.get("/ResourceTypes/Role").await, StatusCode::OK).await;
        assert_eq!((role["endpoint"].clone(), role["schema"].clone()), (json!("/Roles"), json!("urn:okta:scim:schemas:core:1.0:Role")));
        let entitlement = expect_status(app.get("/ResourceTypes/Entitlement").await, StatusCode::OK).await;
        assert_eq!(entitlement["endpoint"], "/Entitlements");
        expect_scim_error(app.get("/ResourceTypes/Device").await, StatusCode::NOT_FOUND, None).await;
    }
}
