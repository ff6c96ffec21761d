use std::time::{Duration, Instant};

use gavel_core::{InferenceSpan, SpanStatus, TracePolicy};

use super::*;

fn policy(
    max_spans: u32,
    max_age_ms: u64,
    max_open_windows: u32,
    max_buffered_spans: u32,
) -> TracePolicy {
    TracePolicy {
        max_spans,
        max_age_ms,
        max_open_windows,
        max_buffered_spans,
    }
}

/// A span of window (namespace, service, model), identified by `id`.
fn span(namespace: Option<&str>, service: &str, model: &str, id: u64) -> InferenceSpan {
    InferenceSpan {
        trace_id: format!("{id:032x}"),
        span_id: format!("{id:016x}"),
        parent_span_id: None,
        service: service.into(),
        namespace: namespace.map(Into::into),
        model: model.into(),
        operation: "chat".into(),
        start_unix_nano: 1,
        end_unix_nano: 2,
        input_tokens: None,
        output_tokens: None,
        status: SpanStatus::Unset,
        gpu_samples: Vec::new(),
        attributes: Vec::new(),
    }
}

fn m(model: &str, id: u64) -> InferenceSpan {
    span(Some("ns"), "svc", model, id)
}

fn ids(w: &ClosedWindow) -> Vec<u64> {
    w.spans
        .iter()
        .map(|s| u64::from_str_radix(&s.span_id, 16).unwrap())
        .collect()
}

fn ms(t0: Instant, ms: u64) -> Instant {
    t0 + Duration::from_millis(ms)
}

#[test]
fn closes_by_count() {
    let t0 = Instant::now();
    let mut w = Windows::new(policy(3, 1000, 10, 100));
    assert!(w.insert(m("a", 1), t0).is_none());
    assert!(w.insert(m("b", 2), ms(t0, 1)).is_none());
    assert!(w.insert(m("a", 3), ms(t0, 2)).is_none());
    let closed = w.insert(m("a", 4), ms(t0, 3)).unwrap();
    assert_eq!(closed.reason, CloseReason::Count);
    assert_eq!(ids(&closed), [1, 3, 4]);
    assert_eq!(closed.key, WindowKey::of(&m("a", 0)));
    assert_eq!((closed.opened_at, closed.closed_at), (t0, ms(t0, 3)));
    assert_eq!((w.open_windows(), w.buffered_spans()), (1, 1));
    // The key opens a fresh window.
    assert!(w.insert(m("a", 5), ms(t0, 4)).is_none());
    assert_eq!((w.open_windows(), w.buffered_spans()), (2, 2));
    assert_eq!(w.stats().closed_by_count, 1);
}

#[test]
fn closes_by_age() {
    let t0 = Instant::now();
    let mut w = Windows::new(policy(100, 1000, 10, 1000));
    assert_eq!(w.next_deadline(), None);
    w.insert(m("a", 1), t0);
    w.insert(m("b", 2), ms(t0, 400));
    w.insert(m("a", 3), ms(t0, 500));
    assert_eq!(w.next_deadline(), Some(ms(t0, 1000)));
    assert!(w.close_due(ms(t0, 999)).is_empty());
    let closed = w.close_due(ms(t0, 1000));
    assert_eq!(closed.len(), 1);
    assert_eq!(
        (closed[0].reason, ids(&closed[0])),
        (CloseReason::Age, vec![1, 3])
    );
    assert_eq!(closed[0].closed_at, ms(t0, 1000));
    assert_eq!(w.next_deadline(), Some(ms(t0, 1400)));
    let closed = w.close_due(ms(t0, 5000));
    assert_eq!(ids(&closed[0]), [2]);
    assert_eq!(w.next_deadline(), None);
    assert_eq!((w.open_windows(), w.buffered_spans()), (0, 0));
    assert_eq!(w.stats().closed_by_age, 2);
}

#[test]
fn several_windows_due_at_once_close_oldest_first() {
    let t0 = Instant::now();
    let mut w = Windows::new(policy(100, 10, 10, 1000));
    for (i, model) in ["c", "a", "b"].iter().enumerate() {
        w.insert(m(model, i as u64), ms(t0, i as u64));
    }
    let closed = w.close_due(ms(t0, 100));
    let models: Vec<&str> = closed.iter().map(|c| c.key.model.as_str()).collect();
    assert_eq!(models, ["c", "a", "b"]);
}

#[test]
fn a_span_for_an_expired_window_starts_the_next_one() {
    let t0 = Instant::now();
    let mut w = Windows::new(policy(100, 1000, 10, 1000));
    w.insert(m("a", 1), t0);
    let closed = w.insert(m("a", 2), ms(t0, 1500)).unwrap();
    assert_eq!((closed.reason, ids(&closed)), (CloseReason::Age, vec![1]));
    assert_eq!(w.next_deadline(), Some(ms(t0, 2500)));
    assert_eq!(ids(&w.drain(ms(t0, 1600))[0]), [2]);
}

#[test]
fn the_oldest_window_is_evicted_at_the_cap() {
    let t0 = Instant::now();
    let mut w = Windows::new(policy(100, 1000, 2, 1000));
    w.insert(m("a", 1), t0);
    w.insert(m("b", 2), ms(t0, 1));
    w.insert(m("a", 3), ms(t0, 2));
    let closed = w.insert(m("c", 4), ms(t0, 3)).unwrap();
    assert_eq!(
        (closed.reason, closed.key.model.as_str()),
        (CloseReason::Evicted, "a")
    );
    assert_eq!(ids(&closed), [1, 3]);
    assert_eq!(w.open_windows(), 2);
    // An existing key never evicts.
    assert!(w.insert(m("b", 5), ms(t0, 4)).is_none());
    let closed = w.insert(m("d", 6), ms(t0, 5)).unwrap();
    assert_eq!(closed.key.model, "b");
    assert_eq!(w.stats().evicted, 2);
    // An oldest window already past its age closes as aged, not evicted.
    let closed = w.insert(m("e", 7), ms(t0, 5000)).unwrap();
    assert_eq!(
        (closed.reason, closed.key.model.as_str()),
        (CloseReason::Age, "c")
    );
}

#[test]
fn drain_closes_everything_oldest_first() {
    let t0 = Instant::now();
    let mut w = Windows::new(policy(100, 1000, 10, 1000));
    w.insert(m("b", 1), t0);
    w.insert(m("a", 2), ms(t0, 1));
    w.insert(m("b", 3), ms(t0, 2));
    let closed = w.drain(ms(t0, 10));
    let got: Vec<(&str, Vec<u64>, CloseReason)> = closed
        .iter()
        .map(|c| (c.key.model.as_str(), ids(c), c.reason))
        .collect();
    assert_eq!(
        got,
        [
            ("b", vec![1, 3], CloseReason::Shutdown),
            ("a", vec![2], CloseReason::Shutdown)
        ]
    );
    assert_eq!(
        (w.open_windows(), w.buffered_spans(), w.next_deadline()),
        (0, 0, None)
    );
    assert!(w.drain(ms(t0, 11)).is_empty());
    assert_eq!(w.stats().closed_by_shutdown, 2);
}

#[test]
fn reconfigure_closes_full_windows_and_windows_past_the_cap() {
    let t0 = Instant::now();
    let mut w = Windows::new(policy(10, 1000, 10, 1000));
    for (i, (model, n)) in [("a", 1), ("b", 5), ("c", 2), ("d", 6)]
        .into_iter()
        .enumerate()
    {
        for j in 0..n {
            w.insert(m(model, (i * 10 + j) as u64), ms(t0, i as u64));
        }
    }
    // maxSpans 5 fills b and d; maxOpenWindows 1 then closes a, the oldest.
    let closed = w.reconfigure(policy(5, 1000, 1, 1000), ms(t0, 10));
    let got: Vec<(&str, usize)> = closed
        .iter()
        .map(|c| (c.key.model.as_str(), c.spans.len()))
        .collect();
    assert_eq!(got, [("a", 1), ("b", 5), ("d", 6)]);
    assert!(closed.iter().all(|c| c.reason == CloseReason::Reconfigured));
    assert_eq!((w.open_windows(), w.buffered_spans()), (1, 2));
    assert_eq!(w.stats().closed_by_reconfigure, 3);
    assert_eq!(w.policy().max_spans, 5);
    // The new maxAgeMs applies to the window left open.
    let closed = w.reconfigure(policy(5, 5, 1, 1000), ms(t0, 10));
    assert!(closed.is_empty());
    assert_eq!(w.next_deadline(), Some(ms(t0, 2 + 5)));
    assert_eq!(w.close_due(ms(t0, 10))[0].key.model, "c");
}

#[test]
fn admit_at_the_cap() {
    let t0 = Instant::now();
    let mut w = Windows::new(policy(100, 1000, 10, 10));
    for i in 0..6 {
        w.insert(m("a", i), t0);
    }
    assert_eq!(w.admit(4, 0), Admission::Accept);
    assert_eq!(w.admit(5, 0), Admission::Busy);
    assert_eq!(w.admit(2, 2), Admission::Accept);
    assert_eq!(w.admit(2, 3), Admission::Busy);
    assert_eq!(w.admit(0, 4), Admission::Accept);
    assert_eq!(w.admit(10, 0), Admission::Busy);
    assert_eq!(w.admit(11, 0), Admission::TooLarge);
    assert_eq!(w.admit(usize::MAX, usize::MAX), Admission::TooLarge);
    assert_eq!(w.admit(1, usize::MAX), Admission::Busy);
    w.drain(t0);
    assert_eq!(w.admit(10, 0), Admission::Accept);
}

#[test]
fn one_span_windows() {
    let t0 = Instant::now();
    let mut w = Windows::new(policy(1, 1000, 1, 10));
    for i in 0..3 {
        let closed = w.insert(m("a", i), t0).unwrap();
        assert_eq!((closed.reason, ids(&closed)), (CloseReason::Count, vec![i]));
    }
    assert_eq!((w.open_windows(), w.stats().closed_by_count), (0, 3));
}

#[test]
fn keys_do_not_collide() {
    let t0 = Instant::now();
    let mut w = Windows::new(policy(100, 1000, 100, 1000));
    let spans = [
        span(None, "svc", "m", 1),
        span(Some(""), "svc", "m", 2),
        span(Some("-"), "svc", "m", 3),
        span(Some("a"), "b\0c", "d", 4),
        span(Some("a"), "b", "c\0d", 5),
        span(Some("a"), "1:b", "c", 6),
        span(Some("a1:"), "b", "c", 7),
        span(Some("a"), "", "1:bc", 8),
    ];
    for s in spans {
        w.insert(s, t0);
    }
    let closed = w.drain(t0);
    assert_eq!(closed.len(), 8);
    for c in closed {
        assert_eq!(c.spans.len(), 1);
        assert_eq!(WindowKey::of(&c.spans[0]), c.key);
    }
}

#[test]
fn time_never_goes_backwards() {
    let t0 = Instant::now();
    let mut w = Windows::new(policy(100, 1000, 10, 1000));
    w.insert(m("a", 1), ms(t0, 500));
    // An earlier `now` counts as the latest seen.
    w.insert(m("b", 2), t0);
    assert_eq!(w.next_deadline(), Some(ms(t0, 1500)));
    let closed = w.close_due(ms(t0, 1500));
    assert_eq!(closed.len(), 2);
    assert_eq!(closed[1].opened_at, ms(t0, 500));
}

#[test]
fn the_order_queue_stays_bounded() {
    // One window stays open while thousands open and close by count: their
    // stale queue entries must not pile up behind it.
    let t0 = Instant::now();
    let mut w = Windows::new(policy(2, 3_600_000, 10, 1000));
    w.insert(m("long-lived", 0), t0);
    for i in 0..10_000u64 {
        let model = format!("m{i}");
        w.insert(m(&model, 2 * i), t0);
        assert!(w.insert(m(&model, 2 * i + 1), t0).is_some());
    }
    assert_eq!(w.open_windows(), 1);
    assert!(w.order.len() <= 66, "{}", w.order.len());
    assert_eq!(w.drain(t0)[0].key.model, "long-lived");
}

#[test]
fn insert_all_collects_closed_windows() {
    let t0 = Instant::now();
    let mut w = Windows::new(policy(2, 1000, 10, 1000));
    let mut closed = Vec::new();
    w.insert_all((0..5).map(|i| m("a", i)), t0, &mut closed);
    assert_eq!(closed.len(), 2);
    assert_eq!(w.buffered_spans(), 1);
    assert_eq!(w.stats().inserted_spans, 5);
}

// ---- against a model ---------------------------------------------------

/// The semantics, written the slow and obvious way.
struct Model {
    policy: TracePolicy,
    latest: Instant,
    /// In opening order.
    open: Vec<(WindowKey, Instant, Vec<u64>)>,
}

impl Model {
    fn now(&mut self, now: Instant) -> Instant {
        self.latest = self.latest.max(now);
        self.latest
    }
    fn due(&self, opened: Instant, now: Instant) -> bool {
        opened + Duration::from_millis(self.policy.max_age_ms) <= now
    }
    fn close(&mut self, i: usize, reason: CloseReason) -> (WindowKey, Vec<u64>, CloseReason) {
        let (k, _, spans) = self.open.remove(i);
        (k, spans, reason)
    }
    fn insert(
        &mut self,
        key: WindowKey,
        id: u64,
        now: Instant,
    ) -> Option<(WindowKey, Vec<u64>, CloseReason)> {
        let now = self.now(now);
        let max_spans = self.policy.max_spans as usize;
        if let Some(i) = self.open.iter().position(|(k, _, _)| *k == key) {
            if self.due(self.open[i].1, now) {
                let closed = self.close(i, CloseReason::Age);
                self.open.push((key, now, vec![id]));
                return Some(closed);
            }
            self.open[i].2.push(id);
            if self.open[i].2.len() >= max_spans {
                return Some(self.close(i, CloseReason::Count));
            }
            return None;
        }
        if max_spans == 1 {
            return Some((key, vec![id], CloseReason::Count));
        }
        let mut closed = None;
        if self.open.len() >= self.policy.max_open_windows as usize {
            let reason = if self.due(self.open[0].1, now) {
                CloseReason::Age
            } else {
                CloseReason::Evicted
            };
            closed = Some(self.close(0, reason));
        }
        self.open.push((key, now, vec![id]));
        closed
    }
    fn close_due(&mut self, now: Instant) -> Vec<(WindowKey, Vec<u64>, CloseReason)> {
        let now = self.now(now);
        let mut closed = Vec::new();
        while !self.open.is_empty() && self.due(self.open[0].1, now) {
            closed.push(self.close(0, CloseReason::Age));
        }
        closed
    }
    fn reconfigure(
        &mut self,
        policy: TracePolicy,
        now: Instant,
    ) -> Vec<(WindowKey, Vec<u64>, CloseReason)> {
        self.now(now);
        self.policy = policy;
        let mut closed = Vec::new();
        let mut i = 0;
        while i < self.open.len() {
            if self.open[i].2.len() >= policy.max_spans as usize {
                closed.push((self.open[i].1, self.close(i, CloseReason::Reconfigured)));
            } else {
                i += 1;
            }
        }
        while self.open.len() > policy.max_open_windows as usize {
            closed.push((self.open[0].1, self.close(0, CloseReason::Reconfigured)));
        }
        closed.sort_by_key(|(opened, _)| *opened);
        closed.into_iter().map(|(_, c)| c).collect()
    }
}

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn random_policy(rng: &mut Rng) -> TracePolicy {
    policy(
        1 + rng.below(6) as u32,
        1 + rng.below(50),
        1 + rng.below(5) as u32,
        1_000_000,
    )
}

#[test]
fn behaves_like_the_obvious_model() {
    let t0 = Instant::now();
    for seed in 1..=300u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let p = random_policy(&mut rng);
        let mut w = Windows::new(p);
        let mut model = Model {
            policy: p,
            latest: t0,
            open: Vec::new(),
        };
        let mut t = 0u64;
        let flat = |c: ClosedWindow| (c.key.clone(), ids(&c), c.reason);
        for id in 0..400u64 {
            // Mostly forward, sometimes backwards in time.
            t = (t + rng.below(8)).saturating_sub(if rng.below(10) == 0 { 20 } else { 0 });
            let now = ms(t0, t);
            match rng.below(20) {
                0..=15 => {
                    let key = span(
                        [None, Some("x")][rng.below(2) as usize],
                        "svc",
                        ["a", "b", "c", "d", "e", "f"][rng.below(6) as usize],
                        id,
                    );
                    let want = model.insert(WindowKey::of(&key), id, now);
                    let got = w.insert(key, now).map(flat);
                    assert_eq!(got, want, "seed {seed}, op {id}");
                }
                16..=18 => {
                    let got: Vec<_> = w.close_due(now).into_iter().map(flat).collect();
                    assert_eq!(got, model.close_due(now), "seed {seed}, op {id}");
                }
                _ => {
                    let p = random_policy(&mut rng);
                    let got: Vec<_> = w.reconfigure(p, now).into_iter().map(flat).collect();
                    assert_eq!(got, model.reconfigure(p, now), "seed {seed}, op {id}");
                }
            }
            let buffered: usize = model.open.iter().map(|(_, _, s)| s.len()).sum();
            assert_eq!(
                (w.open_windows(), w.buffered_spans()),
                (model.open.len(), buffered),
                "seed {seed}"
            );
            let deadline = model
                .open
                .first()
                .map(|(_, opened, _)| *opened + Duration::from_millis(model.policy.max_age_ms));
            assert_eq!(w.next_deadline(), deadline, "seed {seed}, op {id}");
        }
        let got: Vec<_> = w.drain(ms(t0, t)).into_iter().map(flat).collect();
        let want: Vec<_> = model
            .open
            .drain(..)
            .map(|(k, _, s)| (k, s, CloseReason::Shutdown))
            .collect();
        assert_eq!(got, want, "seed {seed}");
    }
}
