//! A walk by `startIndex` continues where the previous page ended (`scim::page_memo`) while
//! the tenant's audit chain has not moved, and answers exactly what `OFFSET` would: whatever
//! is written between its pages, every page and total equal those of a fresh read.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::audit::tamper;
use crate::helpers::{TestApp, expect_status, id_of};
use crate::on_both_backends;

/// The ids and totalResults of `GET /Users?startIndex=…&count=…` plus `query`.
async fn page(app: &TestApp, start: usize, count: usize, query: &str) -> (Vec<String>, i64) {
    let path = format!("/Users?startIndex={start}&count={count}{query}");
    let body = expect_status(app.get(&path).await, StatusCode::OK).await;
    assert_eq!(body["startIndex"], json!(start));
    let ids = body["Resources"]
        .as_array()
        .map(|resources| resources.iter().map(id_of).collect())
        .unwrap_or_default();
    (ids, body["totalResults"].as_i64().unwrap_or(-1))
}

/// The page a fresh read by offset gives: a slice of the whole list read in one page.
async fn expected(app: &TestApp, start: usize, count: usize, query: &str) -> (Vec<String>, i64) {
    let (all, total) = page(app, 1, 1000, query).await;
    let slice = all.iter().skip(start - 1).take(count).cloned().collect();
    (slice, total)
}

async fn users(app: &TestApp, names: &[&str]) -> Vec<Value> {
    let mut created = Vec::new();
    for name in names {
        created.push(app.create_user(name).await);
    }
    created
}

on_both_backends! {
    async fn pages_by_start_index_are_what_offsets_give_whatever_is_written_between_them(app) {
        let names: Vec<String> = (0..12).map(|i| format!("user{i:02}")).collect();
        users(&app, &names.iter().map(String::as_str).collect::<Vec<_>>()).await;
        for query in ["", "&sortBy=userName&sortOrder=descending", "&filter=userName%20co%20%22e%22&sortBy=userName"] {
            // Undisturbed: the second and third pages continue the first.
            for start in [1, 5, 9, 13] {
                assert_eq!(page(&app, start, 4, query).await, expected(&app, start, 4, query).await, "{query} {start}");
            }
            // A user created, deleted or deactivated between pages shifts what follows.
            let first = page(&app, 1, 4, query).await.0;
            app.create_user(&format!("aaa-new-{}", query.len())).await;
            assert_eq!(page(&app, 5, 4, query).await, expected(&app, 5, 4, query).await, "{query}: after a create");
            page(&app, 1, 4, query).await;
            expect_status(app.delete(&format!("/Users/{}", first[0])).await, StatusCode::NO_CONTENT).await;
            assert_eq!(page(&app, 5, 4, query).await, expected(&app, 5, 4, query).await, "{query}: after a delete");
            let first = page(&app, 1, 4, query).await.0;
            let deactivate = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "active", "value": false}]});
            expect_status(app.patch(&format!("/Users/{}", first[1]), &deactivate).await, StatusCode::OK).await;
            assert_eq!(page(&app, 5, 4, query).await, expected(&app, 5, 4, query).await, "{query}: after a deactivation");
            // A page asked for again, and one of another size from the same index.
            assert_eq!(page(&app, 5, 3, query).await, expected(&app, 5, 3, query).await, "{query}: again, 3");
        }
    }

    async fn an_unmoved_chain_lets_the_next_page_continue_the_last_without_offset_or_count(app) {
        let created = users(&app, &["a", "b", "c", "d", "e", "f", "g", "h"]).await;
        let (all, total) = page(&app, 1, 100, "").await;
        assert_eq!(total, 8);
        let (first, _) = page(&app, 1, 3, "").await;
        assert_eq!(first, all[..3]);
        // Written behind the application's back, so no audit record moves the chain: what
        // follows is served from where the first page ended, with the total as it was.
        let gone = all[0].clone();
        assert!(created.iter().any(|user| id_of(user) == gone));
        tamper(&app, &format!("DELETE FROM match_values WHERE user_id = '{gone}'"));
        tamper(&app, &format!("DELETE FROM users WHERE id = '{gone}'"));
        assert_eq!(page(&app, 4, 3, "").await, (all[3..6].to_vec(), 8), "continued, not offset");
        // An index no page ended at is read by offset and counted.
        assert_eq!(page(&app, 5, 3, "").await, (all[5..8].to_vec(), 7));
        // A recorded write moves the chain: the next page is read by offset again.
        app.create_user("zzz").await;
        assert_eq!(page(&app, 7, 3, "").await, expected(&app, 7, 3, "").await);
    }
}

/// The ids, totalResults and nextCursor of a cursor page.
async fn cursor_page(app: &TestApp, cursor: &str) -> (Vec<String>, i64, String) {
    let body = expect_status(
        app.get(&format!("/Users?count=3&cursor={cursor}")).await,
        StatusCode::OK,
    )
    .await;
    let ids = body["Resources"]
        .as_array()
        .map(|r| r.iter().map(id_of).collect())
        .unwrap_or_default();
    let next = body["nextCursor"].as_str().unwrap_or_default().to_string();
    (ids, body["totalResults"].as_i64().unwrap_or(-1), next)
}

on_both_backends! {
    async fn a_cursor_walk_counts_once_while_the_chain_stands_still(app) {
        users(&app, &["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]).await;
        let (all, _) = page(&app, 1, 100, "").await;
        let (first, total, next) = cursor_page(&app, "").await;
        assert_eq!((first, total), (all[..3].to_vec(), 10));
        let (second, total, next) = cursor_page(&app, &next).await;
        assert_eq!((second, total), (all[3..6].to_vec(), 10));
        // Behind the application's back: the total counted for this chain still stands.
        tamper(&app, &format!("DELETE FROM match_values WHERE user_id = '{}'", all[9]));
        tamper(&app, &format!("DELETE FROM users WHERE id = '{}'", all[9]));
        let (third, total, _) = cursor_page(&app, &next).await;
        assert_eq!((third, total), (all[6..9].to_vec(), 10), "the remembered total");
        // A recorded write moves the chain: the next page counts afresh.
        app.create_user("k").await;
        let (_, total, _) = cursor_page(&app, &next).await;
        assert_eq!(total, 10, "9 left of the 10, and one created");
        expect_status(app.delete(&format!("/Users/{}", all[0])).await, StatusCode::NO_CONTENT).await;
        let (_, total, _) = cursor_page(&app, &next).await;
        assert_eq!(total, 9);
    }
}
