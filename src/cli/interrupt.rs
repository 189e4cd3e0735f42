//! `scimitar demo` leaves nothing behind, however it ends. Its server and helper commands
//! are children that die with it (Linux's parent-death signal, so even `kill -9` of the demo
//! takes its server down), and Ctrl-C, `kill` or a closed terminal (SIGINT, SIGTERM, SIGHUP)
//! is caught by a thread of its own, which stops the server and removes the demo's directory
//! before exiting. What `kill -9` leaves behind, the next demo removes (`remove_orphans`).

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};

/// What must be cleaned up if the demo is interrupted now.
#[derive(Debug, Default)]
pub(super) struct Leftovers {
    /// The demo server's process id, once started (0 before).
    server: AtomicI32,
    /// The directory to remove (none with `--keep`).
    directory: Mutex<Option<PathBuf>>,
}

impl Leftovers {
    pub(super) fn server_started(&self, pid: u32) {
        self.server
            .store(i32::try_from(pid).unwrap_or(0), Ordering::SeqCst);
    }

    /// The demo stops its server itself: nothing for the signal thread to kill any more.
    pub(super) fn server_stopped(&self) {
        self.server.store(0, Ordering::SeqCst);
    }

    pub(super) fn remove_on_interrupt(&self, directory: PathBuf) {
        *self.directory.lock().unwrap_or_else(|e| e.into_inner()) = Some(directory);
    }

    fn clean_up(&self) {
        let pid = self.server.swap(0, Ordering::SeqCst);
        if pid > 0 {
            // SAFETY: plain system calls on a child process id this process started.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
        }
        let directory = self
            .directory
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(directory) = directory {
            let _ = std::fs::remove_dir_all(directory);
        }
    }
}

/// The file in a demo's directory naming the process that owns it.
const OWNER_FILE: &str = "demo.pid";

/// Marks `directory` as this process's.
pub(super) fn claim(directory: &std::path::Path) {
    let _ = std::fs::write(directory.join(OWNER_FILE), std::process::id().to_string());
}

/// Removes the directories (`scimitar-demo-*` under `parent`) of demos whose process is gone
/// (killed outright, so they could not clean up).
pub(super) fn remove_orphans(parent: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let ours = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("scimitar-demo-"));
        let owner = std::fs::read_to_string(path.join(OWNER_FILE))
            .ok()
            .and_then(|pid| pid.trim().parse::<i32>().ok());
        if ours && owner.is_some_and(|pid| !alive(pid)) {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

fn alive(pid: i32) -> bool {
    #[cfg(unix)]
    {
        // SAFETY: signal 0 only asks whether the process exists.
        let answer = unsafe { libc::kill(pid, 0) };
        answer == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// Catches SIGINT, SIGTERM and SIGHUP from now on: called first, while this is the process's only
/// thread, so that every thread started later inherits the blocked signals and only the
/// waiting thread receives them.
pub(super) fn catch_interrupts() -> Arc<Leftovers> {
    let leftovers = Arc::new(Leftovers::default());
    #[cfg(unix)]
    {
        let signals = interrupt_signals();
        // SAFETY: blocks two signals in the calling thread; the set is initialised above.
        unsafe {
            libc::pthread_sigmask(libc::SIG_BLOCK, &signals, std::ptr::null_mut());
        }
        let waiting = leftovers.clone();
        std::thread::spawn(move || {
            let mut received: libc::c_int = 0;
            // SAFETY: waits for one of the blocked signals of the initialised set.
            unsafe {
                libc::sigwait(&signals, &mut received);
            }
            eprintln!("\ndemo interrupted: stopping its server and removing its files");
            waiting.clean_up();
            std::process::exit(128 + received);
        });
    }
    leftovers
}

#[cfg(unix)]
fn interrupt_signals() -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the set before sigaddset reads it.
    unsafe {
        let mut signals: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut signals);
        libc::sigaddset(&mut signals, libc::SIGINT);
        libc::sigaddset(&mut signals, libc::SIGTERM);
        libc::sigaddset(&mut signals, libc::SIGHUP);
        signals
    }
}

/// Makes a child command of the demo receive signals again (the mask is inherited) and die
/// with the demo, on Linux even when the demo is killed outright.
pub(super) fn dies_with_the_demo(command: &mut Command) {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(|| {
                let signals = interrupt_signals();
                libc::pthread_sigmask(libc::SIG_UNBLOCK, &signals, std::ptr::null_mut());
                #[cfg(target_os = "linux")]
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
    }
}
