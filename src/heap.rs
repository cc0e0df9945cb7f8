//! The process's allocator, and handing freed heap memory back to the operating system.
//!
//! The allocator is mimalloc. Under load the server allocates and frees short-lived buffers
//! from many threads (hyper, the store's writer, sled's own I/O threads); with glibc's
//! allocator that was about a fifth of the server's CPU per webhook (perf: `_int_malloc`,
//! `_int_free`, `malloc_consolidate`), and its per-thread arenas kept freed memory in RSS for
//! good. mimalloc returns freed pages itself shortly after they empty. Opening a large store
//! makes sled read its snapshot and page table through short-lived buffers (about 50 MB for a
//! million stored events, heaptrack); the thread that opened the store hands those back at
//! once ([`release_freed`] frees the calling thread's empty pages and purges the freed
//! memory of the whole process's arenas), and a server task repeats it once a minute on a
//! blocking thread.
//! Fuzz builds keep the system allocator, so the sanitizer sees every allocation.

#[cfg(not(fuzzing))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Duration;

/// How often a running server gives freed memory back.
pub const TRIM_EVERY: Duration = Duration::from_secs(60);

/// Returns the calling thread's empty heap pages, and the freed memory of the whole
/// process's arenas, to the operating system now instead of after mimalloc's delay.
pub fn release_freed() {
    // SAFETY: `mi_collect` only releases memory mimalloc itself holds as free; it touches no
    // live allocation and may be called from any thread at any time.
    unsafe {
        libmimalloc_sys::mi_collect(true);
    }
}

/// Runs [`release_freed`] every [`TRIM_EVERY`] until `stop` turns true.
pub async fn trim_loop(mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut every = tokio::time::interval(TRIM_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {
                // A forced collect also purges the whole process's arenas, which can take a
                // few milliseconds: not on a runtime thread that is serving requests.
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
