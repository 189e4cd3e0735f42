//! On SQLite a batch's leader lets the writes already on their way join before it begins
//! (`store::group_commit`, `GroupCommit::gather`): writes whose threads are ready to run on one busy core
//! share a commit instead of each running to a commit of its own.

use std::sync::{Arc, Barrier};

use crate::group_commit::{count_head_writes, create_probe, head_writes, heads_write, probes};
use crate::helpers::{Backend, TestApp};

const WRITES: usize = 16;
const ROUNDS: usize = 3;

/// Keeps the calling thread on one core, the first it may run on, as a server pinned to a
/// core (or sharing one with its load) runs.
fn run_on_one_core() {
    // SAFETY: `cpu_set_t` is plain data; both calls only read and write the set passed.
    unsafe {
        let mut allowed: libc::cpu_set_t = std::mem::zeroed();
        let size = std::mem::size_of::<libc::cpu_set_t>();
        assert_eq!(libc::sched_getaffinity(0, size, &mut allowed), 0);
        let first = (0..libc::CPU_SETSIZE as usize)
            .find(|&cpu| libc::CPU_ISSET(cpu, &allowed))
            .expect("a core this thread may run on");
        let mut one: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(first, &mut one);
        assert_eq!(libc::sched_setaffinity(0, size, &one), 0);
    }
}

/// Commits taken by `WRITES` writes whose threads wait at one barrier on one core and start
/// together. The last to arrive leads; the others are then ready to run but have not reached
/// the store. Each write runs to its end without blocking, so a leader that began at once
/// would commit alone, and so might the next ones.
fn commits_of_writes_ready_at_once(app: &TestApp, round: usize) -> i64 {
    let before = head_writes(app);
    let ready = Arc::new(Barrier::new(WRITES));
    let writers: Vec<_> = (0..WRITES)
        .map(|i| {
            let (store, tenant, ready) = (app.store.clone(), app.tenant_id.clone(), ready.clone());
            std::thread::spawn(move || {
                run_on_one_core();
                ready.wait();
                store.write(|conn| heads_write(conn, &tenant, &format!("r{round}w{i}")))
            })
        })
        .collect();
    for writer in writers {
        writer.join().expect("a writer").expect("the write commits");
    }
    // One audit and one outbox head written per commit.
    (head_writes(app) - before) / 2
}

#[tokio::test]
async fn writes_ready_on_one_core_share_a_commit() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("a SQLite app");
    create_probe(&app);
    count_head_writes(&app);
    // Without the gathering a round took from 2 to 16 commits; with it 1, now and then 2.
    let commits: Vec<i64> = (0..ROUNDS)
        .map(|round| commits_of_writes_ready_at_once(&app, round))
        .collect();
    assert_eq!(
        probes(&app.store).len(),
        ROUNDS * WRITES,
        "every write is stored"
    );
    assert!(
        commits.iter().sum::<i64>() <= 5,
        "rounds of {WRITES} writes ready at once took {commits:?} commits: they did not gather"
    );
}
