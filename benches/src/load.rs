//! The webhook load generator: closed loop (fixed requests, fixed
//! concurrency, as fast as the server answers) and open loop (a fixed
//! arrival rate, latency measured from each request's scheduled send time).
//!
//! # Coordinated omission
//!
//! In the open loop a dispatcher thread releases request `k` at
//! `start + k / rate`, whatever the server is doing; any idle connection
//! takes it. A request that waits for a free connection (the server is
//! slow) is late, and its latency, counted from the scheduled time, says
//! so. Without that, a stalled server would also stall the generator and
//! hide the stall from the percentiles (Gil Tene's "coordinated
//! omission"; wrk2 measures the same way). How late requests were sent is
//! reported separately ([`Sample::lag`]), so a generator that could not
//! keep up is visible too.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::{Mutex, mpsc};

use crate::admission::{Review, check_response, uid};
use crate::client::Conn;
use crate::daemon::{Cpus, pin_current_thread};
use crate::measure::Latencies;

/// One answered request.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Index of its input in the mix.
    pub input: usize,
    /// From send (closed loop) or scheduled send (open loop) to the last
    /// byte of the answer.
    pub latency: Duration,
    /// How late it was sent after its scheduled time (open loop; zero in
    /// the closed loop).
    pub lag: Duration,
}

/// What a run measured.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// Requests answered with a valid AdmissionReview for their uid.
    pub samples: Vec<Sample>,
    /// Requests that failed: a status other than 200, an invalid answer, a
    /// broken connection.
    pub errors: u64,
    /// The first few distinct error messages.
    pub error_examples: Vec<String>,
    /// Valid answers with `allowed: true`.
    pub allowed: u64,
    /// Valid answers with `allowed: false`.
    pub denied: u64,
    /// From the first send to the last answer.
    pub elapsed: Duration,
}

impl Run {
    /// Valid answers per second.
    pub fn throughput(&self) -> f64 {
        self.samples.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The latency distribution of every valid answer.
    pub fn latencies(&self) -> Option<Latencies> {
        Latencies::from_samples(self.samples.iter().map(|s| s.latency).collect())
    }

    /// The latency distribution of input `input`'s answers.
    pub fn latencies_of(&self, input: usize) -> Option<Latencies> {
        Latencies::from_samples(
            self.samples
                .iter()
                .filter(|s| s.input == input)
                .map(|s| s.latency)
                .collect(),
        )
    }

    /// The distribution of send lags (open loop).
    pub fn lags(&self) -> Option<Latencies> {
        Latencies::from_samples(self.samples.iter().map(|s| s.lag).collect())
    }

    fn merge(&mut self, other: Run) {
        self.samples.extend(other.samples);
        self.errors += other.errors;
        self.allowed += other.allowed;
        self.denied += other.denied;
        for e in other.error_examples {
            self.note(e);
        }
    }

    fn note(&mut self, message: String) {
        if self.error_examples.len() < 5 && !self.error_examples.contains(&message) {
            self.error_examples.push(message);
        }
    }
}

/// A tokio runtime for the load generator with `threads` workers, each
/// pinned to `cpus` when given.
pub fn client_runtime(
    threads: usize,
    cpus: Option<Cpus>,
) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(threads.max(1)).enable_all();
    if let Some(cpus) = cpus {
        builder.on_thread_start(move || {
            if let Err(e) = pin_current_thread(&cpus) {
                eprintln!("warning: cannot pin a load-generator thread to CPUs {cpus}: {e}");
            }
        });
    }
    builder
        .build()
        .context("cannot start the load generator's runtime")
}

/// Send request `seq` (input `seq % mix`) on `conn`, reconnecting it after
/// a transport error; record the outcome in `run`. `since` is when the
/// latency starts (the send, or the scheduled send).
async fn one(
    addr: SocketAddr,
    conn: &mut Conn,
    reviews: &[Review],
    stream: u32,
    seq: u64,
    since: Option<Instant>,
    run: &mut Run,
) {
    let input = (seq % reviews.len() as u64) as usize;
    let id = uid(stream, seq);
    let body = reviews[input].body_with_uid(&id);
    let sent = Instant::now();
    let answer = conn.post("/validate", "application/json", body).await;
    let done = Instant::now();
    let start = since.unwrap_or(sent);
    match answer {
        Ok(a) => match check_response(a.status, &a.body, &id) {
            Ok(allowed) => {
                if allowed {
                    run.allowed += 1;
                } else {
                    run.denied += 1;
                }
                run.samples.push(Sample {
                    input,
                    latency: done - start,
                    lag: sent.saturating_duration_since(start),
                });
            }
            Err(e) => {
                run.errors += 1;
                run.note(format!("{}: {e}", reviews[input].name));
            }
        },
        Err(e) => {
            run.errors += 1;
            run.note(format!("{}: {e:#}", reviews[input].name));
            if let Err(e) = conn.reconnect(addr).await {
                run.note(format!("reconnecting: {e:#}"));
            }
        }
    }
}

/// Closed loop: `requests` requests over `concurrency` keep-alive
/// connections, each sending its next request as soon as the previous one
/// is answered. Requests cycle through `reviews` in order.
pub async fn closed_loop(
    addr: SocketAddr,
    reviews: Arc<Vec<Review>>,
    requests: u64,
    concurrency: usize,
    stream: u32,
) -> anyhow::Result<Run> {
    let conns = Conn::connect_many(addr, concurrency.max(1)).await?;
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for mut conn in conns {
        let (next, reviews) = (next.clone(), reviews.clone());
        tasks.spawn(async move {
            let mut run = Run::default();
            loop {
                let seq = next.fetch_add(1, Ordering::Relaxed);
                if seq >= requests {
                    break;
                }
                one(addr, &mut conn, &reviews, stream, seq, None, &mut run).await;
            }
            run
        });
    }
    let mut run = Run::default();
    while let Some(part) = tasks.join_next().await {
        run.merge(part.context("a load-generator task failed")?);
    }
    run.elapsed = start.elapsed();
    Ok(run)
}

/// Open loop: `rate` requests per second for `duration`, over up to
/// `connections` keep-alive connections, latency counted from each
/// request's scheduled send time. The dispatcher thread is pinned to
/// `cpus` when given.
pub async fn open_loop(
    addr: SocketAddr,
    reviews: Arc<Vec<Review>>,
    rate: f64,
    duration: Duration,
    connections: usize,
    stream: u32,
    cpus: Option<Cpus>,
) -> anyhow::Result<Run> {
    let total = (rate * duration.as_secs_f64()).round().max(1.0) as u64;
    let conns = Conn::connect_many(addr, connections.max(1)).await?;
    let (tx, rx) = mpsc::unbounded_channel::<(u64, Instant)>();
    let rx = Arc::new(Mutex::new(rx));
    let start = Instant::now() + Duration::from_millis(5);
    let dispatcher = std::thread::Builder::new()
        .name("open-loop".into())
        .spawn(move || {
            if let Some(cpus) = &cpus {
                let _ = pin_current_thread(cpus);
            }
            // Wake within microseconds of the deadline, not the default 50.
            let slack_ns: libc::c_ulong = 1;
            // SAFETY: prctl(PR_SET_TIMERSLACK) only changes this thread's slack.
            unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, slack_ns) };
            for seq in 0..total {
                let at = start + Duration::from_secs_f64(seq as f64 / rate);
                let now = Instant::now();
                if at > now {
                    std::thread::sleep(at - now);
                }
                if tx.send((seq, at)).is_err() {
                    break;
                }
            }
        })
        .context("cannot start the open-loop dispatcher")?;
    let mut tasks = tokio::task::JoinSet::new();
    for mut conn in conns {
        let (rx, reviews) = (rx.clone(), reviews.clone());
        tasks.spawn(async move {
            let mut run = Run::default();
            loop {
                let job = rx.lock().await.recv().await;
                let Some((seq, at)) = job else {
                    break;
                };
                one(addr, &mut conn, &reviews, stream, seq, Some(at), &mut run).await;
            }
            run
        });
    }
    let mut run = Run::default();
    while let Some(part) = tasks.join_next().await {
        run.merge(part.context("a load-generator task failed")?);
    }
    run.elapsed = start.elapsed();
    let _ = dispatcher.join();
    Ok(run)
}
