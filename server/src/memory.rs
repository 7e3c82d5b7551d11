//! Giving freed memory back to the system: the allocator is the `duet` binary's choice, so the binary installs how; the server says when.

use std::sync::OnceLock;

/// How the allocator gives memory back.
#[derive(Debug, Clone, Copy)]
pub struct Release {
    /// Gives back what the calling thread holds free, and asks every other thread to do
    /// the same when it is next idle.
    pub now: fn(),
    /// Gives back what the calling thread holds free if that was asked since it last did
    /// (cheap otherwise): for threads to call as they go idle.
    pub if_asked: fn(),
    /// Gives back what the calling thread holds free, asking no other thread.
    pub here: fn(),
}

static RELEASE: OnceLock<Release> = OnceLock::new();

/// Installs the allocator's release (once, at start; later calls are ignored).
pub fn install(release: Release) {
    let _ = RELEASE.set(release);
}

/// A lot of memory was just freed, by several threads (a document unloaded): give it back.
pub fn release() {
    if let Some(r) = RELEASE.get() {
        (r.now)();
    }
}

/// This thread just freed a lot of memory that only it held (a password hash): give it
/// back.
pub fn release_here() {
    if let Some(r) = RELEASE.get() {
        (r.here)();
    }
}

/// This thread is going idle: give back what it holds free, if that was asked.
pub fn release_if_asked() {
    if let Some(r) = RELEASE.get() {
        (r.if_asked)();
    }
}
