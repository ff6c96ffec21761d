//! Running a server under test: the release `gavel serve` (or the `load`
//! bench's own floor server) as a child process on a free loopback port,
//! pinned to chosen cores, waited for on `/readyz`, watched through
//! `/proc/PID/status`, and stopped with SIGTERM.
//!
//! Pinning uses `taskset -c LIST` when it is on `PATH`, and otherwise sets
//! the same affinity with `sched_setaffinity` between fork and exec. Either
//! way the mask is inherited by every thread the server starts, and tokio
//! sizes its worker pool from it (`std::thread::available_parallelism`
//! reads the affinity mask on Linux), so a daemon pinned to one core runs
//! one worker thread. [`ProcStatus::cpus_allowed`] shows the mask the
//! kernel applied. Servers get `PR_SET_PDEATHSIG`: a bench killed half-way
//! does not leave them running.

use std::ffi::OsString;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// The `gavel` binary to benchmark: `flag` when given, else `gavel` next to
/// the running bench binary (both live in `target/release/`).
pub fn gavel_path(flag: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let path = match flag {
        Some(p) => p,
        None => std::env::current_exe()
            .context("cannot find the running executable to locate `gavel` beside it")?
            .with_file_name("gavel"),
    };
    if !path.is_file() {
        bail!(
            "no gavel binary at {}: run `cargo build --release -p gavel` first, or pass --gavel PATH",
            path.display()
        );
    }
    Ok(path)
}

/// A port on the loopback interface that was free a moment ago. The server
/// binds it next; a race with another process is possible but rare, and
/// shows up as a server that exits at once.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .context("cannot bind a loopback port to find a free one")?;
    Ok(listener.local_addr()?.port())
}

/// A fresh, empty directory under the system's temporary directory, for
/// compile caches, logs and policy sets of one bench run.
pub fn scratch_dir(label: &str) -> anyhow::Result<PathBuf> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("gavel-bench-{label}-{}-{n}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// A set of CPU numbers, written like `taskset -c`: `0`, `0,1`, `0-3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cpus(Vec<usize>);

impl Cpus {
    /// CPUs `0..n`.
    pub fn first(n: usize) -> Cpus {
        Cpus((0..n).collect())
    }

    /// These CPUs.
    pub fn new(mut cpus: Vec<usize>) -> Cpus {
        cpus.sort_unstable();
        cpus.dedup();
        Cpus(cpus)
    }

    /// The CPU numbers, ascending.
    pub fn list(&self) -> &[usize] {
        &self.0
    }

    /// How many CPUs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Fail unless every CPU is one this process may run on.
    pub fn check_available(&self) -> anyhow::Result<()> {
        let available = allowed_cpus().context("cannot read this process's CPU affinity")?;
        if let Some(cpu) = self.0.iter().find(|c| !available.0.contains(c)) {
            bail!("CPU {cpu} is not available to this process (allowed: {available})");
        }
        Ok(())
    }

    fn cpu_set(&self) -> libc::cpu_set_t {
        // SAFETY: cpu_set_t is a plain bit array; all zeroes is the empty set.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        for &cpu in &self.0 {
            // SAFETY: CPU_SET ignores numbers past the set's capacity.
            unsafe { libc::CPU_SET(cpu, &mut set) };
        }
        set
    }
}

impl fmt::Display for Cpus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list: Vec<String> = self.0.iter().map(usize::to_string).collect();
        f.write_str(&list.join(","))
    }
}

impl FromStr for Cpus {
    type Err = String;

    fn from_str(s: &str) -> Result<Cpus, String> {
        let bad = || format!("`{s}` is not a CPU list: write it like `0`, `0,1` or `0-3`");
        let mut cpus = Vec::new();
        for part in s.split(',').map(str::trim) {
            match part.split_once('-') {
                Some((a, b)) => {
                    let a: usize = a.trim().parse().map_err(|_| bad())?;
                    let b: usize = b.trim().parse().map_err(|_| bad())?;
                    if a > b {
                        return Err(bad());
                    }
                    cpus.extend(a..=b);
                }
                None => cpus.push(part.parse().map_err(|_| bad())?),
            }
        }
        Ok(Cpus::new(cpus))
    }
}

/// The CPUs this process may run on.
pub fn allowed_cpus() -> std::io::Result<Cpus> {
    // SAFETY: all zeroes is the empty set; the kernel fills it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid cpu_set_t of the size passed.
    let rc = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let cpus = (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below the set's capacity.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect();
    Ok(Cpus(cpus))
}

/// Pin the calling thread to `cpus` (the load generator's threads call this
/// as they start).
pub fn pin_current_thread(cpus: &Cpus) -> std::io::Result<()> {
    let set = cpus.cpu_set();
    // SAFETY: `set` is a valid cpu_set_t of the size passed; pid 0 is this thread.
    let rc = unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Where `name` is on `PATH`, if it is.
fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A server process under test.
pub struct Daemon {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// When `spawn` was called.
    pub spawned_at: Instant,
    /// How it was pinned, for the output: `taskset -c 0`, `sched_setaffinity 0`
    /// or `not pinned`.
    pub pinning: String,
    log: PathBuf,
}

impl Daemon {
    /// Start `program args…` with its stdout and stderr in `log`, pinned to
    /// `cpus` when given. `port` is where it will listen (it is one of the
    /// args; the caller puts it there).
    pub fn spawn(
        program: &Path,
        args: &[OsString],
        port: u16,
        cpus: Option<&Cpus>,
        log: &Path,
    ) -> anyhow::Result<Daemon> {
        let out = std::fs::File::create(log)
            .with_context(|| format!("cannot create the server log {}", log.display()))?;
        let err = out.try_clone()?;
        let (mut command, pinning, set) = match cpus {
            None => (Command::new(program), "not pinned".to_owned(), None),
            Some(cpus) => match which("taskset") {
                Some(taskset) => {
                    let mut c = Command::new(taskset);
                    c.arg("-c").arg(cpus.to_string()).arg(program);
                    (c, format!("taskset -c {cpus}"), None)
                }
                None => (
                    Command::new(program),
                    format!("sched_setaffinity {cpus} (no taskset on PATH)"),
                    Some(cpus.cpu_set()),
                ),
            },
        };
        // SAFETY: between fork and exec only async-signal-safe syscalls run
        // (prctl, sched_setaffinity), on values built before the fork.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
                // A bench killed half-way (Ctrl-C, timeout) takes its
                // servers with it instead of leaving them running.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
                if let Some(set) = &set
                    && libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), set) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        // The server's configuration is its arguments: GAVEL_* variables
        // (GAVEL_POLICY_SET, GAVEL_MAX_CONCURRENCY, ...) and tokio's
        // TOKIO_WORKER_THREADS from the caller's shell would change it.
        for (key, _) in std::env::vars_os() {
            let k = key.to_string_lossy();
            if (k.starts_with("GAVEL_") && k != "GAVEL_LOG") || k == "TOKIO_WORKER_THREADS" {
                command.env_remove(&key);
            }
        }
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let spawned_at = Instant::now();
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        Ok(Daemon {
            child,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            spawned_at,
            pinning,
            log: log.to_owned(),
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Poll `GET /readyz` every `every` until it answers 200; returns when
    /// it did. Fails if the process exits or `timeout` passes first.
    pub fn wait_ready(&mut self, every: Duration, timeout: Duration) -> anyhow::Result<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok((200, _)) = crate::client::get(self.addr, "/readyz", Duration::from_secs(5)) {
                return Ok(Instant::now());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "the server exited ({status}) before it was ready; its log ({}) ends with:\n{}",
                    self.log.display(),
                    self.log_tail(20)
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "the server was not ready after {} s; its log ({}) ends with:\n{}",
                    timeout.as_secs(),
                    self.log.display(),
                    self.log_tail(20)
                );
            }
            std::thread::sleep(every);
        }
    }

    /// Its memory and affinity now.
    pub fn status(&self) -> anyhow::Result<ProcStatus> {
        proc_status(self.pid())
    }

    /// The last `lines` lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// SIGTERM, then wait (at most `grace`) for a graceful exit; SIGKILL
    /// after that. Returns how it exited.
    pub fn stop(mut self, grace: Duration) -> anyhow::Result<ExitStatus> {
        if let Some(status) = self.child.try_wait()? {
            return Ok(status);
        }
        let pid = libc::pid_t::try_from(self.child.id()).context("pid out of range")?;
        // SAFETY: kill(2) on our own child, which has not been reaped yet.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.child.kill()?;
        Ok(self.child.wait()?)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // A bench that fails half-way must not leave servers behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What `/proc/PID/status` says about a process's memory and CPUs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcStatus {
    /// Resident set size now, KiB (`VmRSS`).
    pub rss_kib: u64,
    /// Peak resident set size since start, KiB (`VmHWM`).
    pub hwm_kib: u64,
    /// Threads now.
    pub threads: u64,
    /// The affinity mask the kernel applies (`Cpus_allowed_list`), e.g. `0`.
    pub cpus_allowed: String,
}

/// Read `/proc/PID/status`.
pub fn proc_status(pid: u32) -> anyhow::Result<ProcStatus> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    Ok(parse_proc_status(&text))
}

/// Parse the text of `/proc/PID/status`; missing fields are zero or empty.
pub fn parse_proc_status(text: &str) -> ProcStatus {
    let mut s = ProcStatus::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        let kib = || {
            value
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .unwrap_or(0)
        };
        match key {
            "VmRSS" => s.rss_kib = kib(),
            "VmHWM" => s.hwm_kib = kib(),
            "Threads" => s.threads = value.parse().unwrap_or(0),
            "Cpus_allowed_list" => s.cpus_allowed = value.to_owned(),
            _ => {}
        }
    }
    s
}

/// KiB as MiB, for tables.
pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Samples a process's `VmRSS` on a thread of its own until stopped.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<RssSamples>,
}

/// What an [`RssSampler`] saw.
#[derive(Debug, Clone, Copy, Default)]
pub struct RssSamples {
    /// Samples taken.
    pub count: u64,
    /// Largest `VmRSS`, KiB.
    pub max_kib: u64,
    /// Last `VmRSS`, KiB.
    pub last_kib: u64,
}

impl RssSampler {
    /// Sample `pid` every `every`.
    pub fn start(pid: u32, every: Duration) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut seen = RssSamples::default();
            while !flag.load(Ordering::Acquire) {
                if let Ok(s) = proc_status(pid) {
                    seen.count += 1;
                    seen.max_kib = seen.max_kib.max(s.rss_kib);
                    seen.last_kib = s.rss_kib;
                }
                std::thread::sleep(every);
            }
            seen
        });
        RssSampler { stop, thread }
    }

    /// Stop and return what was seen.
    pub fn finish(self) -> RssSamples {
        self.stop.store(true, Ordering::Release);
        self.thread.join().unwrap_or_default()
    }
}

/// Total size of the files under `dir`, bytes (the compile cache).
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(_) => e.metadata().map(|m| m.len()).unwrap_or(0),
            Err(_) => 0,
        })
        .sum()
}

/// One line describing the machine and the build, for every bench's header.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into());
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into());
    format!(
        "machine: {cores} cores available ({cpu}), Linux {kernel}, load average {load}; bench build: {}",
        if cfg!(debug_assertions) {
            "UNOPTIMISED (debug): run with --release"
        } else {
            "optimised (release)"
        }
    )
}

/// `gavel --version`, for the header (and a check that the binary runs).
pub fn gavel_version(gavel: &Path) -> anyhow::Result<String> {
    let out = Command::new(gavel)
        .arg("--version")
        .output()
        .with_context(|| format!("cannot run {}", gavel.display()))?;
    if !out.status.success() {
        bail!("`{} --version` failed ({})", gavel.display(), out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        let cases = [
            ("0", vec![0]),
            ("0,1", vec![0, 1]),
            ("1,0,1", vec![0, 1]),
            ("0-3", vec![0, 1, 2, 3]),
            ("0, 2-3", vec![0, 2, 3]),
        ];
        for (text, want) in cases {
            let cpus: Cpus = text.parse().unwrap();
            assert_eq!(cpus.list(), want.as_slice(), "{text}");
        }
        for bad in ["", "a", "3-1", "0,,1"] {
            assert!(bad.parse::<Cpus>().is_err(), "{bad}");
        }
        assert_eq!(Cpus::first(2).to_string(), "0,1");
    }

    #[test]
    fn proc_status_fields() {
        let text = "Name:\tgavel\nVmPeak:\t 2233 kB\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\n\
                    Threads:\t7\nCpus_allowed:\t1\nCpus_allowed_list:\t0\n";
        let s = parse_proc_status(text);
        assert_eq!(
            s,
            ProcStatus {
                rss_kib: 40960,
                hwm_kib: 51200,
                threads: 7,
                cpus_allowed: "0".into()
            }
        );
        assert_eq!(mib(s.hwm_kib), 50.0);
    }

    #[test]
    fn this_process_status_is_readable() {
        let s = proc_status(std::process::id()).unwrap();
        assert!(s.rss_kib > 0 && s.hwm_kib >= s.rss_kib && s.threads >= 1);
        assert!(!allowed_cpus().unwrap().is_empty());
    }
}
