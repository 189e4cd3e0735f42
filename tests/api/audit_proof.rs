//! The audit proof is whole: a signed checkpoint vouches for every record from the chain's
//! trust anchor to its head, and personal data is erasable but tamper-evident.

use std::process::Command;

use reqwest::StatusCode;
use scimitar::audit::checkpoint::{self, CheckpointCheck};
use scimitar::audit::{self, Verification};
use serde_json::json;

use crate::audit::{checkpoint_key, default_tenant, records, tamper, verify};
use crate::helpers::{TestApp, expect_status, id_of};
use crate::on_both_backends;

fn check(app: &TestApp, signed: &checkpoint::Checkpoint) -> CheckpointCheck {
    checkpoint::check(&app.store, signed, &checkpoint_key().verifying_key()).expect("check")
}

fn fails_with(check: CheckpointCheck, words: &str) -> bool {
    matches!(check, CheckpointCheck::Fails(ref reason) if reason.contains(words))
}

async fn users(app: &TestApp, names: &[&str]) {
    for name in names {
        app.create_user(name).await;
    }
}

on_both_backends! {
    async fn a_checkpoint_check_fails_on_an_edited_record_anywhere_in_the_chain(app) {
        users(&app, &["a", "b", "c"]).await;
        let signed = checkpoint::create(&app.store, "default", &checkpoint_key(), chrono::Utc::now()).expect("checkpoint");
        users(&app, &["d"]).await;
        assert_eq!(check(&app, &signed), CheckpointCheck::Holds);
        // Below the checkpoint: the checkpoint's own record is untouched.
        tamper(&app, "UPDATE audit_records SET details = '{\"edited\":true}' WHERE seq = 2");
        assert!(fails_with(check(&app, &signed), "broken at record 2"), "{:?}", check(&app, &signed));
    }

    async fn a_checkpoint_check_fails_on_an_edit_after_the_checkpoint(app) {
        users(&app, &["a", "b"]).await;
        let signed = checkpoint::create(&app.store, "default", &checkpoint_key(), chrono::Utc::now()).expect("checkpoint");
        users(&app, &["c"]).await;
        let last = records(&app).len();
        tamper(&app, &format!("UPDATE audit_records SET action = 'user.delete' WHERE seq = {last}"));
        assert!(fails_with(check(&app, &signed), &format!("broken at record {last}")));
    }

    async fn a_tail_cut_below_the_checkpoint_with_the_head_rewound_fails_the_check(app) {
        users(&app, &["a", "b", "c"]).await;
        let signed = checkpoint::create(&app.store, "default", &checkpoint_key(), chrono::Utc::now()).expect("checkpoint");
        let all = records(&app);
        let keep = &all[1];
        tamper(&app, &format!("DELETE FROM audit_records WHERE seq > {}", keep.seq));
        let tenant = default_tenant(&app);
        tamper(&app, &format!("UPDATE audit_heads SET seq = {}, hash = '{}' WHERE tenant_id = '{tenant}'", keep.seq, keep.hash));
        assert!(matches!(verify(&app), Verification::Intact { .. }), "the cut chain is self-consistent");
        let verdict = check(&app, &signed);
        assert!(fails_with(verdict.clone(), "cut from the end"), "{verdict:?}");
    }

    async fn records_removed_below_a_checkpoint_without_a_pruning_are_caught(app) {
        users(&app, &["a", "b"]).await;
        let signed = checkpoint::create(&app.store, "default", &checkpoint_key(), chrono::Utc::now()).expect("checkpoint");
        users(&app, &["c"]).await;
        // What a pruning does, but without its record.
        tamper(&app, &format!("DELETE FROM audit_records WHERE seq <= {}", signed.seq));
        assert!(matches!(verify(&app), Verification::Broken { ref reason, .. } if reason.contains("without a recorded pruning")));
        assert!(fails_with(check(&app, &signed), "without a recorded pruning"));
    }

    async fn a_forged_anchor_for_pruned_records_fails_the_check(app) {
        users(&app, &["a", "b"]).await;
        let signed = checkpoint::create(&app.store, "default", &checkpoint_key(), chrono::Utc::now()).expect("checkpoint");
        users(&app, &["after"]).await;
        let cutoff = chrono::Utc::now() + chrono::Duration::seconds(1);
        checkpoint::prune(&app.store, "default", cutoff, chrono::Utc::now()).expect("prune");
        assert_eq!(check(&app, &signed), CheckpointCheck::Holds, "a recorded pruning under a signed checkpoint");
        let later = checkpoint::create(&app.store, "default", &checkpoint_key(), chrono::Utc::now()).expect("checkpoint");
        assert_eq!(check(&app, &later), CheckpointCheck::Holds);
        tamper(&app, &format!("UPDATE audit_checkpoints SET signature = 'AAAA' WHERE seq = {}", signed.seq));
        assert!(fails_with(check(&app, &later), "not signed by the trusted key"));
    }

    async fn personal_data_is_erasable_by_a_recorded_act_and_an_edit_of_it_is_caught(app) {
        let alice = app.create_user("alice@example.com").await;
        let bob = app.create_user("bob@example.com").await;
        let put = json!({"userName": "alice@example.com", "displayName": "Alice Liddell"});
        expect_status(app.put(&format!("/Users/{}", id_of(&alice)), &put).await, StatusCode::OK).await;
        let seqs = audit::erase(&app.store, "default", &id_of(&alice), None, chrono::Utc::now()).expect("erase");
        assert_eq!(seqs.len(), 2, "the create and the replace");
        let about_alice: Vec<_> = records(&app).into_iter().filter(|r| r.resource_id.as_deref() == Some(&id_of(&alice))).collect();
        assert!(about_alice.iter().filter(|r| r.action != "audit.erase").all(|r| r.personal.is_none() && r.personal_salt.is_none()));
        assert!(!format!("{about_alice:?}").contains("Liddell"), "nothing of the data is left");
        assert!(matches!(verify(&app), Verification::Intact { erased: 2, .. }), "{:?}", verify(&app));

        let bobs = records(&app).into_iter().find(|r| r.resource_id.as_deref() == Some(&id_of(&bob))).expect("bob's record");
        let forged = bobs.personal.clone().unwrap_or_default().replace("bob@", "mallory@");
        tamper(&app, &format!("UPDATE audit_records SET personal = '{forged}' WHERE id = '{}'", bobs.id));
        assert!(matches!(verify(&app), Verification::Broken { seq, ref reason } if seq == bobs.seq && reason.contains("personal data was edited")));
    }

    async fn the_cli_fails_a_checkpoint_whose_chain_was_edited_and_reports_erasures(app) {
        users(&app, &["a", "b", "c"]).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let run = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_scimitar"))
            .args(args)
            .args(["--database", app.database_url()])
            .current_dir(dir.path())
            .env_remove("SCIMITAR_DATABASE_URL")
            .output()
            .expect("run scimitar");
        let made = run(&["audit", "checkpoint"]);
        assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
        let file = dir.path().join("checkpoint.json");
        std::fs::write(&file, &made.stdout).expect("write checkpoint");
        let file = file.to_string_lossy().to_string();
        let holds = run(&["audit", "verify", "--checkpoint", &file]);
        assert!(holds.status.success(), "{}", String::from_utf8_lossy(&holds.stderr));

        let user = records(&app).into_iter().find(|r| r.action == "user.create").expect("a user record");
        let resource = user.resource_id.clone().unwrap_or_default();
        let erased = run(&["audit", "erase", "--resource", &resource]);
        assert!(erased.status.success(), "{}", String::from_utf8_lossy(&erased.stderr));
        let verified = run(&["audit", "verify", "--tenant", "default"]);
        assert!(String::from_utf8_lossy(&verified.stdout).contains("personal data of 1 records erased (recorded)"));

        tamper(&app, "UPDATE audit_records SET details = '{}' WHERE seq = 2");
        let fails = run(&["audit", "verify", "--checkpoint", &file]);
        assert!(!fails.status.success(), "an edited record below the checkpoint fails it");
        assert!(String::from_utf8_lossy(&fails.stderr).contains("broken at record 2"), "{}", String::from_utf8_lossy(&fails.stderr));
    }

    async fn an_export_into_a_reader_that_stops_early_ends_quietly(app) {
        let tenant = default_tenant(&app);
        app.store.write(|conn| {
            let events = (0..5000).map(|i| audit::Event::new("test.filler", json!({"i": i}))).collect();
            audit::record_all(conn, &tenant, chrono::Utc::now(), events)
        }).expect("records");
        let mut child = Command::new(env!("CARGO_BIN_EXE_scimitar"))
            .args(["audit", "export", "--database", app.database_url()])
            .env_remove("SCIMITAR_DATABASE_URL")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn export");
        let mut first = String::new();
        {
            use std::io::BufRead;
            let stdout = child.stdout.take().expect("stdout");
            std::io::BufReader::new(stdout).read_line(&mut first).expect("one line");
        } // `| head -1`: the reader goes away.
        let output = child.wait_with_output().expect("export ends");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(first.contains("\"seq\""), "{first}");
        assert!(output.status.success(), "a closed pipe is not an error: {stderr}");
        assert!(!stderr.contains("panicked") && !stderr.contains("error"), "{stderr}");
        let export = records(&app).into_iter().rfind(|r| r.action == "audit.export").expect("the export is recorded");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&export.details).expect("details")["reader_closed_early"], true);
    }
}
