//! Raising this test process's open-file limit for tests that hold thousands of sockets.

/// Raises the soft `RLIMIT_NOFILE` to at least `want` (up to the hard limit), or fails saying
/// how many the machine allows.
pub fn raise_fd_limit(want: u64) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    if soft < want {
        setrlimit(Resource::RLIMIT_NOFILE, want.min(hard), hard).unwrap();
    }
    let (soft, _) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    assert!(soft >= want, "need {want} descriptors, the hard limit allows {soft}");
}
