//! Keeps freed memory mapped (glibc's malloc on Linux), once per process, when data first
//! goes to the flex backend or a fast path first runs.
//!
//! A convnet's training step allocates and frees tens of megabytes (patch matrices, matrix
//! products, gradients). glibc's defaults hand large freed blocks back to the kernel (blocks
//! over its dynamic `mmap` threshold are unmapped, the heap's top is trimmed), so the next
//! step's buffers are fresh pages, each first touched through a page fault: measured on the
//! MNIST convnet, a third of the step (`perf`: `exc_page_fault` under the allocations of
//! burn-flex's matrix products), 29.5 s/epoch against 19.3 s/epoch with memory kept.
//! `M_MMAP_THRESHOLD` at glibc's largest (32 MiB) keeps blocks up to that size in the heap,
//! `M_TRIM_THRESHOLD` at its largest stops trimming: the process keeps its peak footprint
//! (the peak resident size is unchanged), as PyTorch's and XLA's allocators do.
//!
//! `KILN_KEEP_FREED_MEMORY=0` leaves glibc's defaults. Other allocators and platforms are left
//! alone.

/// Sets glibc's thresholds once (no effect on other platforms or with
/// `KILN_KEEP_FREED_MEMORY=0`).
pub(crate) fn keep_freed_memory() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var("KILN_KEEP_FREED_MEMORY").is_ok_and(|v| v == "0") {
            return;
        }
        glibc::configure();
    });
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
mod glibc {
    /// glibc's largest `mmap` threshold on 64-bit (`DEFAULT_MMAP_THRESHOLD_MAX`).
    const MMAP_THRESHOLD: libc::c_int = 32 << 20;

    pub(super) fn configure() {
        // SAFETY: `mallopt` only sets parameters of glibc's allocator, under glibc's own locks;
        // both parameters and values are ones glibc documents (it rejects others, returning 0,
        // which leaves its defaults: nothing to handle).
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
            libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod glibc {
    pub(super) fn configure() {}
}
