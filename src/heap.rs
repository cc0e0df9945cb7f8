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

/// mimalloc's `mi_option_purge_delay` (the same index in its v2 and v3 headers;
/// libmimalloc-sys names no constant for it).
const MI_OPTION_PURGE_DELAY: std::os::raw::c_int = 15;

/// Makes mimalloc hand freed pages back to the operating system as soon as they empty,
/// instead of after its default delay (1 s in the bundled v3). A delayed purge is only done
/// when the thread that freed the pages allocates again, so after a burst the store's writer
/// and sled's I/O threads went idle holding what they had freed (loadgen: RSS after its load
/// phases 100–112 MB with the delay, 76–81 MB without; no throughput change beyond the
/// machine's noise). A purge delay set in the environment (`MIMALLOC_PURGE_DELAY`, or the
/// older `MIMALLOC_RESET_DELAY`, in any case as mimalloc reads them) still wins.
pub fn purge_promptly() {
    let set_in_environment = std::env::vars_os().any(|(name, _)| {
        let name = name.to_string_lossy().to_ascii_uppercase();
        name == "MIMALLOC_PURGE_DELAY" || name == "MIMALLOC_RESET_DELAY"
    });
    if set_in_environment {
        return;
    }
    // With a delay of 0 mimalloc no longer runs the purges it scheduled earlier (not even a
    // forced collect does), so what is pending is purged first.
    release_freed();
    // SAFETY: setting an option only changes when mimalloc purges free memory later; any
    // thread may do it at any time.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
    }
}

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
