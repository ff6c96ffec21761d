//! A one-shot bump allocator for plugin instances (cargo feature `arena`).
//!
//! Each evaluation runs in a fresh instance that is dropped afterwards, so
//! freed memory is never worth reusing. Rust's default wasm allocator
//! (dlmalloc) grows memory on its first allocation even when the initial
//! memory has room; this allocator first hands out the free tail of the
//! initial memory, from the linker's `__heap_base` to the current
//! `memory.size`, and grows memory only when that is exhausted.
//!
//! Freeing or resizing the most recent allocation happens in place, which
//! covers the common patterns (a `String` or `Vec` being built, a temporary
//! freed right after use). Other frees are no-ops.
//!
//! **Architecture Invariant**: compiled as the global allocator only for
//! `wasm32-unknown-unknown` without the `atomics` target feature, where there
//! is a single thread and no C library: this allocator is then the only code
//! that grows memory 0 and the only user of the region above `__heap_base`.
//! (On `wasm32-wasip2`, wasi-libc's `malloc` also starts at `__heap_base`.)
//! It still copes with memory growing behind its back, by never handing out
//! the pages it did not grow itself.

/// A wasm page.
const PAGE: usize = 64 * 1024;

/// Grow by at least this many pages (1 MiB), so that a growing `Vec` does not
/// call `memory.grow` on each doubling.
const MIN_GROW_PAGES: usize = 16;

/// The linear memory the bump logic runs on: wasm's memory 0, or a fake in tests.
trait Memory {
    /// Current size in pages.
    fn size(&self) -> usize;
    /// Grow by `delta` pages; the previous size in pages, or `None` on failure.
    fn grow(&mut self, delta: usize) -> Option<usize>;
}

/// The allocator's state: addresses, not pointers, so that the logic can be
/// tested natively against a fake memory.
#[derive(Debug)]
struct Bump {
    /// The next free address; 0 until the first allocation.
    next: usize,
    /// One past the last address owned by the arena.
    end: usize,
}

impl Bump {
    const fn new() -> Self {
        Self { next: 0, end: 0 }
    }

    fn init(&mut self, heap_base: usize, memory: &impl Memory) {
        if self.next == 0 {
            self.next = heap_base;
            self.end = pages_to_bytes(memory.size());
        }
    }

    /// Allocate `size` bytes aligned to `align` (a power of two).
    fn alloc(&mut self, size: usize, align: usize, memory: &mut impl Memory) -> Option<usize> {
        // Growth is contiguous unless memory grew behind our back, in which
        // case `grow` moves `next` past the foreign pages and we try again.
        for _ in 0..3 {
            let start = self.next.checked_next_multiple_of(align)?;
            let end = start.checked_add(size)?;
            if end <= self.end {
                self.next = end;
                return Some(start);
            }
            self.grow(end, memory)?;
        }
        None
    }

    /// Give back `[addr, addr + size)`: only the most recent allocation is
    /// reclaimed.
    fn dealloc(&mut self, addr: usize, size: usize) {
        if addr + size == self.next {
            self.next = addr;
        }
    }

    /// Resize the allocation at `addr` without moving it, if possible: always
    /// when shrinking, and when growing the most recent allocation.
    fn resize_in_place(
        &mut self,
        addr: usize,
        old_size: usize,
        new_size: usize,
        memory: &mut impl Memory,
    ) -> bool {
        let is_last = addr + old_size == self.next;
        if !is_last {
            return new_size <= old_size;
        }
        let Some(end) = addr.checked_add(new_size) else {
            return false;
        };
        if end > self.end {
            let next = self.next;
            match self.grow(end, memory) {
                Some(()) if self.next == next => debug_assert!(end <= self.end),
                // Out of memory, or memory grew behind our back so the block
                // cannot extend into the new pages.
                _ => return false,
            }
        }
        self.next = end;
        true
    }

    /// Grow memory so that the arena owns addresses up to `end`.
    fn grow(&mut self, end: usize, memory: &mut impl Memory) -> Option<()> {
        let needed = (end - self.end).div_ceil(PAGE);
        let previous = memory
            .grow(needed.max(MIN_GROW_PAGES))
            .map(|previous| (previous, needed.max(MIN_GROW_PAGES)))
            .or_else(|| memory.grow(needed).map(|previous| (previous, needed)));
        let (previous, delta) = previous?;
        let old_end = pages_to_bytes(previous);
        if old_end != self.end {
            // Someone else grew memory: their pages are theirs; ours start at
            // the old end. The allocation in progress must restart there.
            self.next = old_end;
        }
        self.end = pages_to_bytes(previous + delta);
        Some(())
    }
}

/// Pages to bytes; 65536 pages (4 GiB) saturate one byte short on wasm32,
/// and that byte is never handed out.
fn pages_to_bytes(pages: usize) -> usize {
    pages.saturating_mul(PAGE)
}

#[cfg(all(
    target_arch = "wasm32",
    target_os = "unknown",
    feature = "arena",
    not(target_feature = "atomics")
))]
mod global {
    use core::alloc::{GlobalAlloc, Layout};
    use core::arch::wasm32;
    use core::cell::UnsafeCell;
    use core::ptr;

    use super::{Bump, Memory};

    struct Memory0;

    impl Memory for Memory0 {
        fn size(&self) -> usize {
            wasm32::memory_size::<0>()
        }

        fn grow(&mut self, delta: usize) -> Option<usize> {
            // `usize::MAX` is how `memory.grow` reports failure (-1).
            Some(wasm32::memory_grow::<0>(delta)).filter(|&previous| previous != usize::MAX)
        }
    }

    unsafe extern "C" {
        /// Set by wasm-ld: the first address above the stack and static data.
        static __heap_base: u8;
    }

    /// The global allocator; see the module documentation.
    struct Arena(UnsafeCell<Bump>);

    // SAFETY: this module is compiled only for wasm32 without the `atomics`
    // target feature, so there is exactly one thread and no concurrent access.
    unsafe impl Sync for Arena {}

    impl Arena {
        /// # Safety
        ///
        /// No other reference to the state may be alive while the returned one
        /// is: true as long as each allocator call takes it once and drops it
        /// before calling another allocator function, since there is one thread.
        #[expect(
            clippy::mut_from_ref,
            reason = "single-threaded interior mutability, see `Sync` above"
        )]
        unsafe fn state(&self) -> &mut Bump {
            // SAFETY: per this function's contract.
            let bump = unsafe { &mut *self.0.get() };
            bump.init(ptr::addr_of!(__heap_base).addr(), &Memory0);
            bump
        }
    }

    unsafe impl GlobalAlloc for Arena {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: one call, one reference.
            let bump = unsafe { self.state() };
            match bump.alloc(layout.size(), layout.align(), &mut Memory0) {
                // Null makes `handle_alloc_error` abort, which traps: the host
                // reports the plugin hit its memory limit.
                None => ptr::null_mut(),
                Some(addr) => ptr::with_exposed_provenance_mut(addr),
            }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: one call, one reference.
            let bump = unsafe { self.state() };
            bump.dealloc(ptr.expose_provenance(), layout.size());
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let moved = {
                // SAFETY: one call, one reference; dropped before `alloc` below.
                let bump = unsafe { self.state() };
                if bump.resize_in_place(
                    ptr.expose_provenance(),
                    layout.size(),
                    new_size,
                    &mut Memory0,
                ) {
                    return ptr;
                }
                // SAFETY: `GlobalAlloc::realloc` guarantees a valid layout for `new_size`.
                unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) }
            };
            // SAFETY: `moved` has a non-zero size (`new_size` > 0 per `GlobalAlloc::realloc`).
            let new = unsafe { self.alloc(moved) };
            if !new.is_null() {
                // SAFETY: both regions are valid for the smaller size and do
                // not overlap: `new` was just bumped past the old block.
                unsafe { ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
            }
            new
        }
    }

    #[global_allocator]
    static ARENA: Arena = Arena(UnsafeCell::new(Bump::new()));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A memory of `pages` that can grow up to `max` pages; `foreign` pages
    /// are grown by "someone else" before our next growth.
    struct Fake {
        pages: usize,
        max: usize,
        foreign: usize,
    }

    impl Memory for Fake {
        fn size(&self) -> usize {
            self.pages
        }

        fn grow(&mut self, delta: usize) -> Option<usize> {
            self.pages += std::mem::take(&mut self.foreign);
            let previous = self.pages;
            (previous + delta <= self.max).then(|| {
                self.pages += delta;
                previous
            })
        }
    }

    const BASE: usize = 17 * PAGE + 100;

    fn arena(pages: usize, max: usize) -> (Bump, Fake) {
        let memory = Fake {
            pages,
            max,
            foreign: 0,
        };
        let mut bump = Bump::new();
        bump.init(BASE, &memory);
        (bump, memory)
    }

    #[test]
    fn bumps_with_alignment_within_initial_memory() {
        let (mut b, mut m) = arena(18, 18);
        assert_eq!(b.alloc(3, 1, &mut m), Some(BASE));
        assert_eq!(b.alloc(8, 8, &mut m), Some((BASE + 3).next_multiple_of(8)));
        assert_eq!(
            b.alloc(1, 4096, &mut m),
            Some((BASE + 11).next_multiple_of(4096))
        );
        assert_eq!(m.pages, 18, "no growth needed");
        // Initialising twice does not reset the arena.
        let next = b.next;
        b.init(BASE, &m);
        assert_eq!(b.next, next);
    }

    #[test]
    fn grows_by_at_least_a_mebibyte_then_exactly_then_fails() {
        let (mut b, mut m) = arena(18, 18 + 16 + 3);
        let a = b.alloc(PAGE, 1, &mut m).unwrap();
        assert_eq!(
            a, BASE,
            "the tail of the initial memory is used first, then contiguous growth"
        );
        assert_eq!(m.pages, 18 + 16);
        // Only 3 pages left: the 16-page attempt fails, the exact one succeeds.
        let rest = 18 * PAGE - BASE + 16 * PAGE - PAGE;
        let big = b.alloc(rest + 3 * PAGE, 1, &mut m).unwrap();
        assert_eq!(m.pages, 18 + 16 + 3);
        assert_eq!(b.alloc(2 * PAGE, 1, &mut m), None, "out of memory");
        b.dealloc(big, rest + 3 * PAGE);
        assert_eq!(
            b.alloc(10, 1, &mut m),
            Some(big),
            "a failed allocation leaves the arena usable"
        );
    }

    #[test]
    fn frees_and_resizes_the_last_allocation_in_place() {
        let (mut b, mut m) = arena(18, 100);
        let a = b.alloc(100, 8, &mut m).unwrap();
        let c = b.alloc(100, 8, &mut m).unwrap();
        assert!(
            !b.resize_in_place(a, 100, 200, &mut m),
            "not the last: must move"
        );
        assert!(
            b.resize_in_place(a, 100, 50, &mut m),
            "shrinking never moves"
        );
        assert!(
            b.resize_in_place(c, 100, 3 * PAGE, &mut m),
            "the last grows in place, memory too"
        );
        assert_eq!(b.next, c + 3 * PAGE);
        assert!(b.resize_in_place(c, 3 * PAGE, 10, &mut m));
        assert_eq!(b.next, c + 10);
        b.dealloc(a, 100);
        assert_eq!(b.next, c + 10, "freeing an older allocation is a no-op");
        b.dealloc(c, 10);
        assert_eq!(b.next, c, "freeing the last allocation reclaims it");
        assert_eq!(b.alloc(10, 8, &mut m), Some(c));
        assert!(
            !b.resize_in_place(c, 10, usize::MAX - 4, &mut m),
            "overflow"
        );
        assert!(
            !b.resize_in_place(c, 10, 1000 * PAGE, &mut m),
            "memory exhausted"
        );
        assert_eq!(b.next, c + 10);
    }

    #[test]
    fn skips_pages_grown_by_someone_else() {
        let (mut b, mut m) = arena(18, 100);
        let a = b.alloc(18 * PAGE - BASE, 1, &mut m).unwrap();
        assert_eq!(b.next, 18 * PAGE);
        m.foreign = 2;
        let c = b.alloc(10, 1, &mut m).unwrap();
        assert_eq!(c, 20 * PAGE, "pages 18 and 19 belong to someone else");
        // The last allocation cannot grow in place across foreign pages.
        m.foreign = 1;
        assert!(!b.resize_in_place(c, 10, 17 * PAGE, &mut m));
        assert!(b.alloc(17 * PAGE, 1, &mut m).unwrap() >= 20 * PAGE + 16 * PAGE + PAGE);
        let _ = a;
    }

    #[test]
    fn impossible_requests_fail() {
        let (mut b, mut m) = arena(18, 100);
        assert_eq!(b.alloc(usize::MAX - 10, 1, &mut m), None);
        assert_eq!(b.alloc(8, 1 << (usize::BITS - 1), &mut m), None);
    }
}
