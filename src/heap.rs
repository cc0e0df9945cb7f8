//! Handing freed heap memory back to the operating system.
//!
//! Opening a large store makes sled read its snapshot and page table through short-lived
//! buffers (about 50 MB for a million stored events, heaptrack), and bursts of webhooks leave
//! freed memory spread over glibc's per-thread arenas. glibc returns only the top of its main
//! arena on its own, so that memory would stay in the process's RSS for good. `malloc_trim`
//! returns every free page of every arena; it is run once the store is open and then once a
//! minute, where it takes well under a millisecond to a few milliseconds.
//! Elsewhere (musl, macOS) this is a no-op.

use std::time::Duration;

/// How often a running server gives freed memory back.
pub const TRIM_EVERY: Duration = Duration::from_secs(60);

/// Returns freed heap pages to the operating system, where the allocator supports it.
pub fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only releases memory glibc itself holds as free; it touches no
    // live allocation and may be called from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Runs [`release_freed`] every [`TRIM_EVERY`] until `stop` turns true.
pub async fn trim_loop(mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut every = tokio::time::interval(TRIM_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {
                let _ = tokio::task::spawn_blocking(release_freed).await;
            }
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    return;
                }
            }
        }
    }
}
