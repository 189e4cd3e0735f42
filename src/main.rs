fn main() -> std::process::ExitCode {
    bound_malloc_arenas();
    scimitar::cli::main()
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
