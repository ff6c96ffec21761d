//! Tumbling windows of inference spans, with bounded memory.
//!
//! Spans are grouped by [`WindowKey`] (namespace, service, model). A window
//! opens with its first span and closes, handing its spans to the trace
//! plugins as one batch, at the first of:
//!
//! - **count**: it holds `maxSpans` spans ([`Windows::insert`] returns it);
//! - **age**: `maxAgeMs` have passed since it opened ([`Windows::close_due`];
//!   [`Windows::next_deadline`] says when to call it). A span that arrives for
//!   a window already past its age closes that window and opens a new one,
//!   even if `close_due` was not called in time;
//! - **eviction**: a span for a new key arrives while `maxOpenWindows` windows
//!   are open: the oldest window closes early to make room;
//! - **reconfiguration**: a reloaded policy's `maxSpans` is at or below a
//!   window's size, or its `maxOpenWindows` below the number open (oldest
//!   first). A shorter `maxAgeMs` applies at once: the next `close_due` closes
//!   windows now past it;
//! - **shutdown**: [`Windows::drain`].
//!
//! Back-pressure is all-or-nothing per request: [`Windows::admit`] is asked
//! before anything is inserted, counting the spans of closed windows still
//! waiting for evaluation, so `maxBufferedSpans` is never exceeded and a
//! refused request loses nothing (the exporter retries after 429).
//!
//! There is no clock inside: every call takes `now`. Times before the latest
//! one seen are treated as the latest, so deadlines never move backwards.
//!
//! Cost: `insert` is O(1) amortised and allocates only when a window opens
//! (its key and span vector); the key is looked up by building it in a
//! reused buffer, never cloned per span. Windows are kept in opening order,
//! which is also deadline order (one `maxAgeMs` for all), in a queue whose
//! entries for windows that closed early are skipped lazily and compacted
//! when they outnumber the open windows.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use gavel_core::{InferenceSpan, TracePolicy};

/// What spans are grouped by.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WindowKey {
    /// `k8s.namespace.name`, when known.
    pub namespace: Option<String>,
    /// `service.name`.
    pub service: String,
    /// The model.
    pub model: String,
}

impl WindowKey {
    /// The key of the window a span belongs to.
    pub fn of(span: &InferenceSpan) -> WindowKey {
        WindowKey {
            namespace: span.namespace.clone(),
            service: span.service.clone(),
            model: span.model.clone(),
        }
    }
}

/// Why a window closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// It reached `maxSpans`.
    Count,
    /// It reached `maxAgeMs`.
    Age,
    /// It was the oldest when `maxOpenWindows` was reached.
    Evicted,
    /// The daemon is shutting down.
    Shutdown,
    /// A reloaded policy made it full or over the window cap.
    Reconfigured,
}

impl CloseReason {
    /// A lower-case name, for metric labels and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::Count => "count",
            CloseReason::Age => "age",
            CloseReason::Evicted => "evicted",
            CloseReason::Shutdown => "shutdown",
            CloseReason::Reconfigured => "reconfigured",
        }
    }
}

/// A closed window: one batch for the trace plugins.
#[derive(Clone, Debug, PartialEq)]
pub struct ClosedWindow {
    /// The group.
    pub key: WindowKey,
    /// The spans, in arrival order; never empty.
    pub spans: Vec<InferenceSpan>,
    /// When the first span arrived.
    pub opened_at: Instant,
    /// When it closed.
    pub closed_at: Instant,
    /// Why it closed.
    pub reason: CloseReason,
}

/// The answer to [`Windows::admit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Insert the request's spans.
    Accept,
    /// Too many spans buffered now: refuse with 429 and `Retry-After`.
    Busy,
    /// The request alone holds more spans than `maxBufferedSpans`: retrying
    /// cannot help, refuse with 413 (send smaller batches).
    TooLarge,
}

/// Counters for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Windows open now.
    pub open_windows: usize,
    /// Spans in open windows now.
    pub buffered_spans: usize,
    /// Spans inserted, ever.
    pub inserted_spans: u64,
    /// Windows closed at `maxSpans`.
    pub closed_by_count: u64,
    /// Windows closed at `maxAgeMs`.
    pub closed_by_age: u64,
    /// Windows closed early at `maxOpenWindows`.
    pub evicted: u64,
    /// Windows closed by [`Windows::drain`].
    pub closed_by_shutdown: u64,
    /// Windows closed by [`Windows::reconfigure`].
    pub closed_by_reconfigure: u64,
}

struct Open {
    generation: u64,
    /// The key as looked up in the index (see [`Windows::lookup_key`]).
    index_key: Box<str>,
    key: WindowKey,
    opened_at: Instant,
    spans: Vec<InferenceSpan>,
}

/// The open windows. See the module docs.
pub struct Windows {
    policy: TracePolicy,
    /// Lookup key → slot.
    index: HashMap<Box<str>, usize>,
    slots: Vec<Option<Open>>,
    free: Vec<usize>,
    /// (generation, slot) in opening order. An entry whose slot no longer
    /// holds that generation is stale; the front is never stale.
    order: VecDeque<(u64, usize)>,
    stale: usize,
    next_generation: u64,
    scratch: String,
    latest: Option<Instant>,
    stats: Stats,
}

impl std::fmt::Debug for Windows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Windows")
            .field("policy", &self.policy)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Windows {
    /// No windows yet, under `policy`.
    pub fn new(policy: TracePolicy) -> Windows {
        Windows {
            policy,
            index: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            order: VecDeque::new(),
            stale: 0,
            next_generation: 0,
            scratch: String::new(),
            latest: None,
            stats: Stats::default(),
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> &TracePolicy {
        &self.policy
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Spans in open windows.
    pub fn buffered_spans(&self) -> usize {
        self.stats.buffered_spans
    }

    /// Windows open.
    pub fn open_windows(&self) -> usize {
        self.stats.open_windows
    }

    /// Whether a request of `spans` inference spans may be inserted, with
    /// `in_flight` spans of closed windows not yet evaluated. Ask before
    /// inserting any of them: all or nothing.
    pub fn admit(&self, spans: usize, in_flight: usize) -> Admission {
        let cap = self.policy.max_buffered_spans as usize;
        if spans > cap {
            Admission::TooLarge
        } else if self
            .stats
            .buffered_spans
            .saturating_add(in_flight)
            .saturating_add(spans)
            > cap
        {
            Admission::Busy
        } else {
            Admission::Accept
        }
    }

    /// Adds a span to its window. Returns the window this closed, if any: the
    /// span's own window when it reached `maxSpans` or was already past its
    /// age, or the oldest window when a new one had to make room. At most one
    /// window closes per call.
    pub fn insert(&mut self, span: InferenceSpan, now: Instant) -> Option<ClosedWindow> {
        let now = self.observe(now);
        self.stats.inserted_spans += 1;
        let max_spans = (self.policy.max_spans as usize).max(1);
        Self::lookup_key(&mut self.scratch, &span);
        if let Some(slot) = self.index.get(self.scratch.as_str()).copied() {
            if self.slot(slot).is_some_and(|w| self.is_due(w, now)) {
                // Past its age and `close_due` not called yet: the span starts
                // the next window, which takes the slot the old one frees.
                let closed = self.close(slot, now, CloseReason::Age);
                self.open(span, now);
                return closed;
            }
            if let Some(window) = self.slots.get_mut(slot).and_then(Option::as_mut) {
                window.spans.push(span);
                self.stats.buffered_spans += 1;
                if window.spans.len() >= max_spans {
                    return self.close(slot, now, CloseReason::Count);
                }
                return None;
            }
        }
        if max_spans == 1 {
            // The window would close on its first span: no slot, no eviction.
            self.stats.closed_by_count += 1;
            return Some(ClosedWindow {
                key: WindowKey::of(&span),
                spans: vec![span],
                opened_at: now,
                closed_at: now,
                reason: CloseReason::Count,
            });
        }
        let mut closed = None;
        if self.stats.open_windows >= (self.policy.max_open_windows as usize).max(1)
            && let Some(&(_, oldest)) = self.order.front()
        {
            let reason = match self.slot(oldest) {
                Some(w) if self.is_due(w, now) => CloseReason::Age,
                _ => CloseReason::Evicted,
            };
            closed = self.close(oldest, now, reason);
        }
        self.open(span, now);
        closed
    }

    /// Inserts many spans (one admitted request), collecting closed windows
    /// into `closed`.
    pub fn insert_all(
        &mut self,
        spans: impl IntoIterator<Item = InferenceSpan>,
        now: Instant,
        closed: &mut Vec<ClosedWindow>,
    ) {
        for span in spans {
            closed.extend(self.insert(span, now));
        }
    }

    /// Closes the windows that reached `maxAgeMs` by `now`, oldest first.
    pub fn close_due(&mut self, now: Instant) -> Vec<ClosedWindow> {
        let now = self.observe(now);
        let mut closed = Vec::new();
        while let Some(&(_, slot)) = self.order.front() {
            if !self.slot(slot).is_some_and(|w| self.is_due(w, now)) {
                break;
            }
            closed.extend(self.close(slot, now, CloseReason::Age));
        }
        closed
    }

    /// When the oldest open window reaches `maxAgeMs`; `None` when no window
    /// is open (or the deadline is too far to represent).
    pub fn next_deadline(&self) -> Option<Instant> {
        let &(_, slot) = self.order.front()?;
        self.deadline(self.slot(slot)?)
    }

    /// Closes every window, oldest first (shutdown).
    pub fn drain(&mut self, now: Instant) -> Vec<ClosedWindow> {
        let now = self.observe(now);
        let mut closed = Vec::with_capacity(self.stats.open_windows);
        while let Some(&(_, slot)) = self.order.front() {
            closed.extend(self.close(slot, now, CloseReason::Shutdown));
        }
        closed
    }

    /// Applies a reloaded policy. Windows holding `maxSpans` or more spans
    /// under it close, then the oldest windows past `maxOpenWindows`; both
    /// are returned, oldest first. The new `maxAgeMs` and `maxBufferedSpans`
    /// apply from the next call.
    pub fn reconfigure(&mut self, policy: TracePolicy, now: Instant) -> Vec<ClosedWindow> {
        let now = self.observe(now);
        self.policy = policy;
        let max_spans = (policy.max_spans as usize).max(1);
        let full: Vec<usize> = self
            .order
            .iter()
            .filter(|&&(g, s)| self.live(g, s))
            .map(|&(_, s)| s)
            .filter(|&s| self.slot(s).is_some_and(|w| w.spans.len() >= max_spans))
            .collect();
        let mut closed = Vec::new();
        for slot in full {
            closed.extend(self.close(slot, now, CloseReason::Reconfigured));
        }
        while self.stats.open_windows > (policy.max_open_windows as usize).max(1) {
            let Some(&(_, slot)) = self.order.front() else {
                break;
            };
            closed.extend(self.close(slot, now, CloseReason::Reconfigured));
        }
        closed.sort_by_key(|w| w.opened_at);
        closed
    }

    /// Writes the lookup key of `span`'s window into `buf`: each part behind
    /// its length, so no content can make two keys collide.
    fn lookup_key(buf: &mut String, span: &InferenceSpan) {
        use std::fmt::Write;
        buf.clear();
        // Writing into a String cannot fail.
        let _ = match &span.namespace {
            Some(ns) => write!(buf, "{}:{ns}", ns.len()),
            None => write!(buf, "-"),
        };
        let _ = write!(buf, "{}:{}{}", span.service.len(), span.service, span.model);
    }

    fn observe(&mut self, now: Instant) -> Instant {
        let now = match self.latest {
            Some(latest) if now < latest => latest,
            _ => now,
        };
        self.latest = Some(now);
        now
    }

    fn slot(&self, slot: usize) -> Option<&Open> {
        self.slots.get(slot)?.as_ref()
    }

    fn live(&self, generation: u64, slot: usize) -> bool {
        self.slot(slot).is_some_and(|w| w.generation == generation)
    }

    fn deadline(&self, w: &Open) -> Option<Instant> {
        w.opened_at
            .checked_add(Duration::from_millis(self.policy.max_age_ms))
    }

    fn is_due(&self, w: &Open, now: Instant) -> bool {
        self.deadline(w).is_some_and(|d| d <= now)
    }

    /// Opens a window with its first span; `self.scratch` holds the span's
    /// lookup key (as `insert` left it).
    fn open(&mut self, span: InferenceSpan, now: Instant) {
        let generation = self.next_generation;
        self.next_generation += 1;
        let index_key: Box<str> = self.scratch.as_str().into();
        let mut spans = Vec::with_capacity((self.policy.max_spans as usize).clamp(1, 64));
        let key = WindowKey::of(&span);
        spans.push(span);
        let window = Some(Open {
            generation,
            index_key: index_key.clone(),
            key,
            opened_at: now,
            spans,
        });
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = window;
                slot
            }
            None => {
                self.slots.push(window);
                self.slots.len() - 1
            }
        };
        self.index.insert(index_key, slot);
        self.order.push_back((generation, slot));
        self.stats.open_windows += 1;
        self.stats.buffered_spans += 1;
    }

    fn close(&mut self, slot: usize, now: Instant, reason: CloseReason) -> Option<ClosedWindow> {
        let closed = self
            .slots
            .get_mut(slot)
            .and_then(Option::take)
            .map(|window| {
                self.free.push(slot);
                self.index.remove(&window.index_key);
                self.stats.open_windows -= 1;
                self.stats.buffered_spans -= window.spans.len();
                match reason {
                    CloseReason::Count => self.stats.closed_by_count += 1,
                    CloseReason::Age => self.stats.closed_by_age += 1,
                    CloseReason::Evicted => self.stats.evicted += 1,
                    CloseReason::Shutdown => self.stats.closed_by_shutdown += 1,
                    CloseReason::Reconfigured => self.stats.closed_by_reconfigure += 1,
                }
                // Its queue entry is now stale.
                self.stale += 1;
                ClosedWindow {
                    key: window.key,
                    spans: window.spans,
                    opened_at: window.opened_at,
                    closed_at: now,
                    reason,
                }
            });
        self.tidy_order();
        closed
    }

    /// Keeps the front of `order` live, and compacts `order` when stale
    /// entries outnumber open windows (many windows closing by count while
    /// an old one stays open would otherwise grow it without bound).
    fn tidy_order(&mut self) {
        while let Some(&(g, s)) = self.order.front() {
            if self.live(g, s) {
                break;
            }
            self.order.pop_front();
            self.stale = self.stale.saturating_sub(1);
        }
        if self.stale > 64 && self.stale > self.stats.open_windows {
            let slots = &self.slots;
            self.order.retain(|&(g, s)| {
                slots
                    .get(s)
                    .and_then(Option::as_ref)
                    .is_some_and(|w| w.generation == g)
            });
            self.stale = 0;
        }
    }
}

#[cfg(test)]
mod tests;
