use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{expect_scim_error, expect_status, id_of, member_ids, sorted};
use crate::on_both_backends;

on_both_backends! {
    async fn creating_a_group_with_members_lists_them_with_references(app) {
        let alice = id_of(&app.create_user("alice").await);
        let group = app.create_group("Engineering", &[&alice]).await;
        assert_eq!(group["schemas"], json!(["urn:ietf:params:scim:schemas:core:2.0:Group"]));
        assert_eq!(group["displayName"], "Engineering");
        assert_eq!(group["members"], json!([{
            "value": alice, "$ref": format!("{}/Users/{alice}", app.base), "type": "User",
        }]));
        assert_eq!(group["meta"]["resourceType"], "Group");
        let read = expect_status(app.get(&format!("/Groups/{}", id_of(&group))).await, StatusCode::OK).await;
        assert_eq!(read, group);
    }

    async fn okta_group_push_creates_an_empty_group_then_puts_the_full_member_list(app) {
        let group = expect_status(app.post("/Groups", &json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Sales", "members": [],
        })).await, StatusCode::CREATED).await;
        assert!(group.get("members").is_none(), "an empty member list is omitted: {group}");
        let a = id_of(&app.create_user("a").await);
        let b = id_of(&app.create_user("b").await);
        let path = format!("/Groups/{}", id_of(&group));
        let body = json!({"displayName": "Sales", "members": [{"value": a}, {"value": b}]});
        let replaced = expect_status(app.put(&path, &body).await, StatusCode::OK).await;
        assert_eq!(member_ids(&replaced), sorted(&[&a, &b]));
    }

    async fn replacing_a_group_adds_and_removes_exactly_the_differing_members(app) {
        let a = id_of(&app.create_user("a").await);
        let b = id_of(&app.create_user("b").await);
        let c = id_of(&app.create_user("c").await);
        let group = app.create_group("Ops", &[&a, &b]).await;
        let path = format!("/Groups/{}", id_of(&group));
        let replaced = expect_status(app.put(&path, &json!({"displayName": "Ops", "members": [{"value": b}, {"value": c}]})).await, StatusCode::OK).await;
        assert_eq!(member_ids(&replaced), sorted(&[&b, &c]));
        assert_ne!(replaced["meta"]["version"], group["meta"]["version"]);
        let a_user = expect_status(app.get(&format!("/Users/{a}")).await, StatusCode::OK).await;
        assert!(a_user.get("groups").is_none(), "a left the group: {a_user}");
    }

    async fn a_put_without_members_empties_the_group(app) {
        let a = id_of(&app.create_user("a").await);
        let group = app.create_group("Temp", &[&a]).await;
        let replaced = expect_status(app.put(&format!("/Groups/{}", id_of(&group)), &json!({"displayName": "Temp"})).await, StatusCode::OK).await;
        assert!(member_ids(&replaced).is_empty());
    }

    async fn a_user_shows_the_groups_it_belongs_to(app) {
        let user = id_of(&app.create_user("dana").await);
        let group = app.create_group("Admins", &[&user]).await;
        let read = expect_status(app.get(&format!("/Users/{user}")).await, StatusCode::OK).await;
        assert_eq!(read["groups"], json!([{
            "value": id_of(&group), "$ref": format!("{}/Groups/{}", app.base, id_of(&group)),
            "display": "Admins", "type": "direct",
        }]));
        let list = expect_status(app.get("/Users").await, StatusCode::OK).await;
        assert_eq!(list["Resources"][0]["groups"], read["groups"]);
    }

    async fn put_user_with_empty_groups_never_drops_memberships(app) {
        let user = id_of(&app.create_user("eve").await);
        let group = app.create_group("Finance", &[&user]).await;
        expect_status(app.put(&format!("/Users/{user}"), &json!({"userName": "eve", "groups": []})).await, StatusCode::OK).await;
        let read = expect_status(app.get(&format!("/Groups/{}", id_of(&group))).await, StatusCode::OK).await;
        assert_eq!(member_ids(&read), vec![user]);
    }

    async fn deleting_a_user_removes_it_from_its_groups_and_changes_their_version(app) {
        let a = id_of(&app.create_user("a").await);
        let b = id_of(&app.create_user("b").await);
        let group = app.create_group("Team", &[&a, &b]).await;
        assert_eq!(app.delete(&format!("/Users/{a}")).await.status(), StatusCode::NO_CONTENT);
        let read = expect_status(app.get(&format!("/Groups/{}", id_of(&group))).await, StatusCode::OK).await;
        assert_eq!(member_ids(&read), vec![b]);
        assert_ne!(read["meta"]["version"], group["meta"]["version"]);
    }

    async fn deleting_a_group_keeps_its_members(app) {
        let a = id_of(&app.create_user("a").await);
        let group = app.create_group("Gone", &[&a]).await;
        let path = format!("/Groups/{}", id_of(&group));
        assert_eq!(app.delete(&path).await.status(), StatusCode::NO_CONTENT);
        expect_scim_error(app.get(&path).await, StatusCode::NOT_FOUND, None).await;
        let user = expect_status(app.get(&format!("/Users/{a}")).await, StatusCode::OK).await;
        assert!(user.get("groups").is_none());
    }

    async fn a_member_that_is_not_a_user_of_the_tenant_is_an_invalid_value(app) {
        let response = app.post("/Groups", &json!({"displayName": "X", "members": [{"value": "no-such-user"}]})).await;
        expect_scim_error(response, StatusCode::BAD_REQUEST, Some("invalidValue")).await;
        let list = expect_status(app.get("/Groups").await, StatusCode::OK).await;
        assert_eq!(list["totalResults"], json!(0), "nothing is written when a member is rejected");
    }

    async fn nested_groups_are_refused_clearly(app) {
        let inner = app.create_group("Inner", &[]).await;
        let response = app.post("/Groups", &json!({"displayName": "Outer", "members": [{"value": id_of(&inner), "type": "Group"}]})).await;
        expect_scim_error(response, StatusCode::BAD_REQUEST, Some("invalidValue")).await;
    }

    async fn a_group_needs_a_display_name(app) {
        expect_scim_error(app.post("/Groups", &json!({"members": []})).await, StatusCode::BAD_REQUEST, Some("invalidValue")).await;
    }

    async fn the_microsoft_group_schema_uri_is_tolerated(app) {
        let response = app.post("/Groups", &json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
            "displayName": "Entra Group", "externalId": "8aa1a0c0",
        })).await;
        let group = expect_status(response, StatusCode::CREATED).await;
        assert_eq!(group["externalId"], "8aa1a0c0");
    }

    async fn listing_groups_includes_each_groups_own_members(app) {
        let a = id_of(&app.create_user("a").await);
        let b = id_of(&app.create_user("b").await);
        app.create_group("One", &[&a]).await;
        app.create_group("Two", &[&a, &b]).await;
        let list = expect_status(app.get("/Groups").await, StatusCode::OK).await;
        assert_eq!(list["totalResults"], json!(2));
        assert_eq!(member_ids(&list["Resources"][0]), vec![a.clone()]);
        assert_eq!(member_ids(&list["Resources"][1]), sorted(&[&a, &b]));
    }

    async fn duplicate_members_in_one_request_are_stored_once(app) {
        let a = id_of(&app.create_user("a").await);
        let group = app.create_group("Dup", &[&a, &a]).await;
        assert_eq!(member_ids(&group), vec![a]);
    }
}

on_both_backends! {
    async fn a_group_name_is_unique_in_its_tenant_whatever_its_case(app) {
        let sales = app.create_group("Sales", &[]).await;
        let duplicate = app.post("/Groups", &json!({"displayName": "SALES"})).await;
        expect_scim_error(duplicate, StatusCode::CONFLICT, Some("uniqueness")).await;

        let other = app.create_group("Support", &[]).await;
        let path = format!("/Groups/{}", id_of(&other));
        let put = app.put(&path, &json!({"displayName": "sales"})).await;
        expect_scim_error(put, StatusCode::CONFLICT, Some("uniqueness")).await;
        let rename = json!({"Operations": [{"op": "replace", "path": "displayName", "value": "Ｓａｌｅｓ"}]});
        expect_scim_error(app.patch(&path, &rename).await, StatusCode::CONFLICT, Some("uniqueness")).await;

        // A group may change the case of its own name, and a freed name can be taken.
        let own = format!("/Groups/{}", id_of(&sales));
        let recased = expect_status(app.put(&own, &json!({"displayName": "SALES"})).await, StatusCode::OK).await;
        assert_eq!(recased["displayName"], "SALES");
        expect_status(app.put(&own, &json!({"displayName": "Field Sales"})).await, StatusCode::OK).await;
        let taken = expect_status(app.put(&path, &json!({"displayName": "Sales"})).await, StatusCode::OK).await;
        assert_eq!(taken["displayName"], "Sales");
    }

    async fn a_tenant_may_allow_duplicate_group_names_and_enforce_them_again(app) {
        scimitar::tenancy::set_unique_group_names(&app.store, "default", false).expect("setting");
        let a = id_of(&app.create_user("a").await);
        let first = app.create_group("Eng", &[]).await;
        let second = app.create_group("ENG", &[]).await;
        let found = expect_status(app.request(reqwest::Method::GET, "/Groups").query(&[("filter", "displayName eq \"eng\"")]).send().await.expect("GET"), StatusCode::OK).await;
        assert_eq!(found["totalResults"], json!(2));

        // On again: the oldest group holds the name; the duplicate keeps working until renamed.
        scimitar::tenancy::set_unique_group_names(&app.store, "default", true).expect("setting");
        let add = json!({"Operations": [{"op": "add", "path": "members", "value": [{"value": a}]}]});
        let second_path = format!("/Groups/{}", id_of(&second));
        let patched = expect_status(app.patch(&second_path, &add).await, StatusCode::OK).await;
        assert_eq!(member_ids(&patched), vec![a.clone()]);
        expect_scim_error(app.post("/Groups", &json!({"displayName": "eng"})).await, StatusCode::CONFLICT, Some("uniqueness")).await;
        let recased = app.put(&second_path, &json!({"displayName": "eNG", "members": [{"value": a}]})).await;
        expect_status(recased, StatusCode::OK).await;
        let first_path = format!("/Groups/{}", id_of(&first));
        expect_status(app.put(&first_path, &json!({"displayName": "Platform"})).await, StatusCode::OK).await;
        // The name is free now; the duplicate takes it on its next rename, and holds it.
        expect_status(app.put(&second_path, &json!({"displayName": "Eng"})).await, StatusCode::OK).await;
        expect_scim_error(app.put(&first_path, &json!({"displayName": "eng"})).await, StatusCode::CONFLICT, Some("uniqueness")).await;
    }
}
