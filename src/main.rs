fn main() -> std::process::ExitCode {
    bound_malloc_arenas();
    owner_only_files();
    scimitar::cli::main()
}

/// Every file this process creates (the database and its WAL, backups, key files, exports)
/// is the owner's alone, whatever the shell's umask.
fn owner_only_files() {
    #[cfg(unix)]
    // SAFETY: umask only sets this process's file-creation mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
}

/// glibc gives each thread that meets a locked allocator an arena of its own (up to 8 per
/// core) and keeps freed memory in each; the blocking pool's threads would hold about 10 MiB
/// that way (decision 57). Two arenas cost nothing measurable. `MALLOC_ARENA_MAX` in the
/// environment still decides when set; other C libraries are left alone.
fn bound_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: called first in `main`, before any thread exists; mallopt only sets a limit.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}
