//! Allocator tuning: one `mallopt` call at start-up, and `malloc_trim` after a load has passed.
//! Owns nothing else; must not allocate.
//!
//! glibc gives each thread that allocates its own arena (up to 8 × cores). File bytes are read
//! on the blocking pool's many threads, so megabyte buffers land in a dozen arenas and freed
//! space in one cannot serve another: serving 2 GB of distinct segments through a 256 MiB cache
//! measured 416–437 MB RSS with the default, 309–313 MB with a single arena (and no loss of
//! throughput: evicted buffers are reused for the next fill of the same size).
//!
//! This module needs `unsafe` for that one FFI call: `mallopt` has no safe wrapper in `libc`
//! or `nix`. It is called once, before any other thread exists.
#![allow(unsafe_code)]

/// Limits glibc malloc to one arena. A no-op on other C libraries.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only sets a tunable of the allocator; called from `main` before any
        // thread is spawned, so no allocation is concurrent with the change.
        let ok = unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
        if ok != 1 {
            eprintln!("warning: mallopt(M_ARENA_MAX) failed; memory use may exceed the cache budget");
        }
    }
}

/// Returns freed heap memory to the system (`malloc_trim(0)`): after thousands of connections
/// closed, their buffers are free but glibc keeps the pages mapped, so RSS would stay at its
/// peak. A no-op on other C libraries. Takes milliseconds on a large heap: call it from the
/// blocking pool, and only when a load has passed.
pub fn return_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only releases free pages of the allocator's own arenas; it is
        // thread-safe (it takes each arena's lock) and has no preconditions.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}
