//! The policy set being served, and GitOps reload: watch the directory,
//! validate a new version completely, swap atomically, keep the last good
//! version when the new one is broken.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use gavel_core::PolicySet;
use gavel_host::{Builtins, LoadError, PolicySetRuntime, Runtime};
use sha2::{Digest, Sha256};

/// Where the policy set comes from.
#[derive(Debug, Clone)]
pub enum PolicySource {
    /// A directory with a `policy-set.yaml` (a Git checkout or a mounted ConfigMap), watched for changes.
    Dir(PathBuf),
    /// A policy set compiled into the program (its modules are `builtin:`).
    Embedded(String),
}

/// A loaded, validated policy set and the version it is recorded under.
#[derive(Debug)]
pub struct Active {
    /// The compiled policy set.
    pub set: PolicySetRuntime,
    /// The Git commit of the checkout the directory belongs to, if any.
    pub git_commit: Option<String>,
    /// When it started serving.
    pub since: SystemTime,
}

impl Active {
    /// The version recorded with each decision: the Git commit when the
    /// directory is a Git checkout, else the content hash.
    pub fn version(&self) -> &str {
        self.git_commit.as_deref().unwrap_or(self.set.version())
    }
}

/// The served policy set, swapped atomically on reload. In-flight
/// evaluations hold an `Arc<Active>` and finish on the version they started with.
pub struct PolicyState {
    runtime: Runtime,
    builtins: Builtins,
    source: PolicySource,
    active: ArcSwapOption<Active>,
    last_error: Mutex<Option<String>>,
    fingerprint: Mutex<Option<String>>,
}

/// The result of one reload attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// Nothing changed on disk.
    Unchanged,
    /// A new version is serving.
    Swapped {
        /// Its version.
        version: String,
    },
    /// The new version is broken; the previous one (if any) keeps serving.
    Rejected {
        /// Why.
        error: String,
    },
}

impl PolicyState {
    /// A state with nothing loaded yet.
    pub fn new(runtime: Runtime, builtins: Builtins, source: PolicySource) -> PolicyState {
        PolicyState {
            runtime,
            builtins,
            source,
            active: ArcSwapOption::empty(),
            last_error: Mutex::new(None),
            fingerprint: Mutex::new(None),
        }
    }

    /// The version serving now, if any.
    pub fn active(&self) -> Option<Arc<Active>> {
        self.active.load_full()
    }

    /// Why the last load failed, if it did.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The runtime plugins are compiled with.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The builtin plugins available to `builtin:` modules.
    pub fn builtins(&self) -> &Builtins {
        &self.builtins
    }

    /// Load the source if it changed since the last attempt. Blocking:
    /// compiling plugins takes from milliseconds (cached) to seconds.
    pub fn reload(&self) -> Reload {
        let fingerprint = match fingerprint(&self.source) {
            Ok(f) => f,
            Err(e) => return self.reject(format!("cannot read the policy set: {e}"), None),
        };
        {
            let last = self.fingerprint.lock().unwrap_or_else(|p| p.into_inner());
            if last.as_deref() == Some(fingerprint.as_str()) {
                return Reload::Unchanged;
            }
        }
        let loaded = match &self.source {
            PolicySource::Dir(dir) => self.runtime.load_policy_set_dir(dir, &self.builtins),
            PolicySource::Embedded(yaml) => PolicySet::from_yaml(yaml)
                .map_err(LoadError::from)
                .and_then(|set| self.runtime.load_policy_set(set, None, &self.builtins)),
        };
        match loaded {
            Err(e) => self.reject(e.to_string(), Some(fingerprint)),
            Ok(set) => {
                let git_commit = match &self.source {
                    PolicySource::Dir(dir) => git_head(dir),
                    PolicySource::Embedded(_) => None,
                };
                let active = Active {
                    set,
                    git_commit,
                    since: SystemTime::now(),
                };
                let version = active.version().to_owned();
                tracing::info!(version, name = %active.set.policy_set().name, "policy set loaded");
                self.active.store(Some(Arc::new(active)));
                *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
                *self.fingerprint.lock().unwrap_or_else(|p| p.into_inner()) = Some(fingerprint);
                Reload::Swapped { version }
            }
        }
    }

    fn reject(&self, error: String, fingerprint: Option<String>) -> Reload {
        let serving = self.active().map(|a| a.version().to_owned());
        tracing::error!(
            serving = serving.as_deref().unwrap_or("nothing"),
            "policy set rejected: {error}"
        );
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(error.clone());
        // Remember a broken version's fingerprint so it is not retried every
        // poll; an unreadable directory is retried.
        if let Some(f) = fingerprint {
            *self.fingerprint.lock().unwrap_or_else(|p| p.into_inner()) = Some(f);
        }
        Reload::Rejected { error }
    }
}

/// A cheap digest of what a reload would read: the policy-set file's bytes
/// and the size and modification time of every other file in the directory
/// (plugins can be tens of megabytes; hashing them every poll is waste).
fn fingerprint(source: &PolicySource) -> std::io::Result<String> {
    let mut h = Sha256::new();
    match source {
        PolicySource::Embedded(yaml) => h.update(yaml.as_bytes()),
        PolicySource::Dir(dir) => {
            h.update(std::fs::read(dir.join(gavel_host::POLICY_SET_FILE))?);
            let mut stack = vec![dir.clone()];
            let mut entries = Vec::new();
            while let Some(d) = stack.pop() {
                for entry in std::fs::read_dir(&d)? {
                    let entry = entry?;
                    let name = entry.file_name();
                    // `.git` changes on every fetch; `..data` and `..<timestamp>`
                    // are kubelet's ConfigMap machinery, reached through the
                    // file symlinks beside them.
                    if name == ".git" || name.to_string_lossy().starts_with("..") {
                        continue;
                    }
                    let path = entry.path();
                    // Symlinked directories are not followed (no loops);
                    // symlinked files are, so a swapped target is noticed.
                    if entry.file_type()?.is_dir() {
                        stack.push(path);
                        continue;
                    }
                    let Ok(meta) = std::fs::metadata(&path) else {
                        // A dangling link, or a file removed mid-walk.
                        entries.push(format!("{}:missing", path.display()));
                        continue;
                    };
                    if meta.is_file() {
                        let mtime = meta
                            .modified()
                            .ok()
                            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok());
                        entries.push(format!("{}:{}:{:?}", path.display(), meta.len(), mtime));
                    }
                }
            }
            entries.sort();
            for e in entries {
                h.update(e.as_bytes());
            }
        }
    }
    Ok(hex::encode(h.finalize()))
}

/// The commit checked out in the Git repository containing `dir`, read from
/// `.git` without running git (not installed in the container image).
pub fn git_head(dir: &Path) -> Option<String> {
    let dir = dir.canonicalize().ok()?;
    let git_dir = dir.ancestors().find_map(|d| {
        let dot_git = d.join(".git");
        if dot_git.is_dir() {
            Some(dot_git)
        } else if dot_git.is_file() {
            // A worktree or submodule: `gitdir: <path>`.
            let text = std::fs::read_to_string(&dot_git).ok()?;
            let target = text.strip_prefix("gitdir:")?.trim();
            Some(d.join(target))
        } else {
            None
        }
    })?;
    let head = std::fs::read_to_string(git_dir.join("HEAD")).ok()?;
    let head = head.trim();
    let Some(reference) = head.strip_prefix("ref:").map(str::trim) else {
        return is_sha(head).then(|| head.to_owned());
    };
    // Worktrees keep refs in the common directory.
    let common = std::fs::read_to_string(git_dir.join("commondir"))
        .ok()
        .map(|c| git_dir.join(c.trim()))
        .unwrap_or_else(|| git_dir.clone());
    for base in [&git_dir, &common] {
        if let Ok(sha) = std::fs::read_to_string(base.join(reference)) {
            let sha = sha.trim();
            if is_sha(sha) {
                return Some(sha.to_owned());
            }
        }
    }
    let packed = std::fs::read_to_string(common.join("packed-refs")).ok()?;
    packed.lines().find_map(|line| {
        let (sha, name) = line.split_once(' ')?;
        (name == reference && is_sha(sha)).then(|| sha.to_owned())
    })
}

fn is_sha(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Reload every `interval` until `shutdown` resolves. Runs the blocking load
/// on the blocking pool so request handling is never stalled by compilation.
pub async fn watch(
    state: Arc<PolicyState>,
    interval: Duration,
    metrics: Arc<crate::metrics::Metrics>,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let s = state.clone();
        match tokio::task::spawn_blocking(move || s.reload()).await {
            Ok(Reload::Unchanged) => {}
            Ok(Reload::Swapped { .. }) => metrics.reloaded(true),
            Ok(Reload::Rejected { .. }) => metrics.reloaded(false),
            Err(e) => tracing::error!("policy reload task failed: {e}"),
        }
        if let Some(active) = state.active() {
            metrics.set_config(active.version(), &active.set.policy_set().name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

    fn repo(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("gavel-git-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join(".git/refs/heads")).unwrap();
        std::fs::create_dir_all(dir.join("policies/prod")).unwrap();
        dir
    }

    #[test]
    fn git_head_reads_loose_packed_and_detached_refs() {
        let dir = repo("loose");
        std::fs::write(dir.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
        std::fs::write(dir.join(".git/refs/heads/main"), format!("{SHA}\n")).unwrap();
        assert_eq!(
            git_head(&dir.join("policies/prod")).as_deref(),
            Some(SHA),
            "from a subdirectory"
        );

        std::fs::remove_file(dir.join(".git/refs/heads/main")).unwrap();
        std::fs::write(
            dir.join(".git/packed-refs"),
            format!("# pack-refs with: peeled\n{SHA} refs/heads/main\n"),
        )
        .unwrap();
        assert_eq!(git_head(&dir).as_deref(), Some(SHA), "packed");

        std::fs::write(dir.join(".git/HEAD"), format!("{SHA}\n")).unwrap();
        assert_eq!(
            git_head(&dir).as_deref(),
            Some(SHA),
            "detached (Argo CD, Flux)"
        );

        std::fs::write(dir.join(".git/HEAD"), "ref: refs/heads/gone\n").unwrap();
        assert_eq!(git_head(&dir), None, "a dangling ref is no version");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn git_head_follows_a_gitdir_file() {
        let dir = repo("worktree");
        let real = dir.join("real.git");
        std::fs::create_dir_all(&real).unwrap();
        std::fs::remove_dir_all(dir.join(".git")).unwrap();
        std::fs::write(dir.join(".git"), "gitdir: real.git\n").unwrap();
        std::fs::write(real.join("HEAD"), format!("{SHA}\n")).unwrap();
        assert_eq!(git_head(&dir).as_deref(), Some(SHA));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn outside_a_repository_there_is_no_commit() {
        let dir = std::env::temp_dir().join(format!("gavel-nogit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // /tmp is not inside a Git checkout on any sane machine.
        assert_eq!(git_head(&dir), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
