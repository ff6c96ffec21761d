//! A policy set loaded for evaluation: every plugin compiled, pinned,
//! granted and with its settings validated, before it serves a request.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use gavel_core::compose::{Effect, PluginReport};
use gavel_core::{
    Composed, ModuleRef, Omit, Outcome, PluginEntry, PolicySet, Subject, SubjectKind, compose,
};

use crate::error::LoadError;
use crate::plugin::{Evaluation, Plugin};
use crate::runtime::Runtime;

/// The file a policy-set directory must contain.
pub const POLICY_SET_FILE: &str = "policy-set.yaml";

/// Largest plugin file read from a policy-set directory. Python and
/// JavaScript components are 2–20 MB; this leaves room and stops a stray
/// multi-gigabyte file from being read into memory.
pub const MAX_MODULE_BYTES: u64 = 256 << 20;

/// Plugins embedded in the program, addressed from a policy set as `builtin:<name>`.
#[derive(Debug, Clone, Default)]
pub struct Builtins {
    modules: BTreeMap<String, Cow<'static, [u8]>>,
}

impl Builtins {
    /// Add (or replace) the builtin `name`.
    pub fn insert(
        &mut self,
        name: impl Into<String>,
        bytes: impl Into<Cow<'static, [u8]>>,
    ) -> &mut Self {
        self.modules.insert(name.into(), bytes.into());
        self
    }

    /// The names available.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.modules.keys().map(String::as_str)
    }

    fn get(&self, name: &str) -> Option<&[u8]> {
        self.modules.get(name).map(|c| &**c)
    }
}

/// One plugin of a loaded policy set.
#[derive(Debug, Clone)]
pub struct LoadedPlugin {
    /// Its entry in the policy set.
    pub entry: PluginEntry,
    /// The compiled plugin.
    pub plugin: Arc<Plugin>,
    /// Its settings as the JSON text it receives.
    pub settings: String,
    /// The subject kinds it receives.
    pub subjects: Vec<SubjectKind>,
    /// The object members it is not shown (its `input.omit`).
    pub omit: Omit,
}

impl LoadedPlugin {
    /// Evaluate this plugin alone on `subject`, as its grant shows it the
    /// subject, with its settings and limits.
    pub fn evaluate(&self, subject: &Subject) -> Evaluation {
        match subject.project(&self.omit) {
            Some(shown) => self.evaluate_shown(&shown),
            None => self.evaluate_shown(subject),
        }
    }

    /// Evaluate on a subject already projected by [`Self::omit`].
    fn evaluate_shown(&self, shown: &Subject) -> Evaluation {
        self.plugin
            .evaluate(shown, &self.settings, &self.entry.limits)
    }

    fn grant(&self) -> Effect {
        Effect {
            mode: self.entry.mode,
            authority: self.entry.authority,
            failure_policy: self.entry.failure_policy,
        }
    }
}

/// A subject made ready for each plugin of a policy set
/// ([`PolicySetRuntime::prepare`]).
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The subject as each distinct input grant shows it; `None` where the
    /// grant leaves it as it is.
    shown: Vec<Option<Subject>>,
    /// Per plugin: the index in `shown` of its view, `None` when it is not
    /// subscribed to the subject's kind.
    group: Vec<Option<usize>>,
}

impl Prepared {
    /// The index in `shown` of plugin `index`'s view; `None` when the
    /// plugin is not subscribed to the subject's kind.
    fn view(&self, index: usize) -> Option<usize> {
        self.group.get(index).copied().flatten()
    }
}

/// A policy set ready to evaluate subjects. `Send + Sync`; evaluate from as
/// many threads as you like.
#[derive(Debug, Clone)]
pub struct PolicySetRuntime {
    set: PolicySet,
    plugins: Vec<LoadedPlugin>,
    version: String,
}

impl PolicySetRuntime {
    /// Evaluate `subject` with every plugin subscribed to its kind, one
    /// after the other, and compose their outcomes.
    pub fn evaluate(&self, subject: &Subject) -> Composed {
        let prepared = self.prepare(subject);
        compose((0..self.plugins.len()).map(|i| self.evaluate_plugin(i, &prepared, subject)))
    }

    /// Get `subject` ready for [`Self::evaluate_plugin`]: which plugins it
    /// is for, and the subject as each distinct input grant shows it (made
    /// once, not once per plugin: plugins usually share the default grant).
    /// To evaluate plugins on several threads, prepare once and hand each
    /// thread the preparation, then [`compose()`] the reports in plugin order.
    pub fn prepare(&self, subject: &Subject) -> Prepared {
        let kind = subject.kind();
        let mut grants: Vec<&Omit> = Vec::new();
        let mut shown = Vec::new();
        let group = self
            .plugins
            .iter()
            .map(|p| {
                if !p.subjects.contains(&kind) {
                    return None;
                }
                Some(match grants.iter().position(|omit| **omit == p.omit) {
                    Some(at) => at,
                    None => {
                        grants.push(&p.omit);
                        shown.push(subject.project(&p.omit));
                        shown.len() - 1
                    }
                })
            })
            .collect();
        Prepared { shown, group }
    }

    /// Evaluate plugin `index` (policy-set order) on `subject`, prepared by
    /// [`Self::prepare`] from the same subject. A plugin not subscribed to
    /// the subject's kind reports [`Outcome::Skipped`].
    pub fn evaluate_plugin(
        &self,
        index: usize,
        prepared: &Prepared,
        subject: &Subject,
    ) -> PluginReport {
        match prepared.view(index) {
            Some(g) => {
                let shown = prepared.shown[g].as_ref().unwrap_or(subject);
                let e = self.plugins[index].evaluate_shown(shown);
                self.report(index, e.outcome, e.duration)
            }
            None => self.report(index, Outcome::Skipped, Duration::ZERO),
        }
    }

    /// The plugins (policy-set indexes) [`Self::prepare`] found subscribed
    /// to the subject's kind, in order.
    pub fn subscribed(&self, prepared: &Prepared) -> Vec<usize> {
        (0..self.plugins.len())
            .filter(|&i| prepared.view(i).is_some())
            .collect()
    }

    /// The report of plugin `index` when its evaluation could not run to an
    /// outcome (the task running it failed): `failure` under the plugin's
    /// own failure policy, or [`Outcome::Skipped`] if it was not subscribed.
    pub fn failed_report(
        &self,
        index: usize,
        prepared: &Prepared,
        failure: gavel_core::Failure,
    ) -> PluginReport {
        let outcome = match prepared.view(index) {
            Some(_) => Outcome::Failed(failure),
            None => Outcome::Skipped,
        };
        self.report(index, outcome, Duration::ZERO)
    }

    /// Plugin `index`'s report of `outcome`, its effect left to [`compose()`].
    fn report(&self, index: usize, outcome: Outcome, duration: Duration) -> PluginReport {
        let p = &self.plugins[index];
        PluginReport {
            name: p.entry.name.clone(),
            grant: p.grant(),
            outcome,
            effect: None,
            duration,
        }
    }

    /// The policy set as written.
    pub fn policy_set(&self) -> &PolicySet {
        &self.set
    }

    /// The loaded plugins, in policy-set order.
    pub fn plugins(&self) -> &[LoadedPlugin] {
        &self.plugins
    }

    /// A content hash of the policy set and every module it loads: the
    /// configuration version recorded with each decision.
    pub fn version(&self) -> &str {
        &self.version
    }
}

/// Where loading a policy set is: about to load plugin `index` of `total`.
#[derive(Debug, Clone, Copy)]
pub struct LoadProgress<'a> {
    /// 0-based position of the plugin in the policy set.
    pub index: usize,
    /// How many plugins the policy set has.
    pub total: usize,
    /// The plugin's name in the policy set.
    pub plugin: &'a str,
}

impl Runtime {
    /// Load the policy set in `dir` (its [`POLICY_SET_FILE`], with module
    /// paths relative to `dir`; nothing outside `dir` can be read).
    pub fn load_policy_set_dir(
        &self,
        dir: impl AsRef<Path>,
        builtins: &Builtins,
    ) -> Result<PolicySetRuntime, LoadError> {
        self.load_policy_set_dir_observed(dir, builtins, &mut |_| {})
    }

    /// [`Runtime::load_policy_set_dir`], calling `progress` before each
    /// plugin is loaded (compiling can take seconds: a CLI shows it).
    pub fn load_policy_set_dir_observed(
        &self,
        dir: impl AsRef<Path>,
        builtins: &Builtins,
        progress: &mut dyn FnMut(LoadProgress<'_>),
    ) -> Result<PolicySetRuntime, LoadError> {
        let path = dir.as_ref();
        let io = |p: &str, source| LoadError::Io {
            path: p.to_owned(),
            cause: source,
        };
        let dir = Dir::open_ambient_dir(path, ambient_authority())
            .map_err(|e| io(&path.display().to_string(), e))?;
        let file_name = path.join(POLICY_SET_FILE).display().to_string();
        let size = dir
            .metadata(POLICY_SET_FILE)
            .map_err(|e| io(&file_name, e))?
            .len();
        if size > gavel_core::policy::MAX_POLICY_SET_BYTES as u64 {
            return Err(gavel_core::PolicyError::TooLarge {
                size: usize::try_from(size).unwrap_or(usize::MAX),
                max: gavel_core::policy::MAX_POLICY_SET_BYTES,
            }
            .into());
        }
        let text = dir
            .read_to_string(POLICY_SET_FILE)
            .map_err(|e| io(&file_name, e))?;
        let set = PolicySet::from_yaml(&text)?;
        self.load_policy_set_observed(set, Some(&dir), builtins, progress)
    }

    /// Load a parsed policy set. Path modules are read from `dir`.
    pub fn load_policy_set(
        &self,
        set: PolicySet,
        dir: Option<&Dir>,
        builtins: &Builtins,
    ) -> Result<PolicySetRuntime, LoadError> {
        self.load_policy_set_observed(set, dir, builtins, &mut |_| {})
    }

    /// [`Runtime::load_policy_set`], calling `progress` before each plugin
    /// is loaded.
    pub fn load_policy_set_observed(
        &self,
        set: PolicySet,
        dir: Option<&Dir>,
        builtins: &Builtins,
        progress: &mut dyn FnMut(LoadProgress<'_>),
    ) -> Result<PolicySetRuntime, LoadError> {
        set.validate()?;
        let mut version = serde_json::to_vec(&set).unwrap_or_default();
        let mut plugins = Vec::with_capacity(set.plugins.len());
        let total = set.plugins.len();
        for (index, entry) in set.plugins.iter().enumerate() {
            progress(LoadProgress {
                index,
                total,
                plugin: &entry.name,
            });
            let loaded = self.load_entry(entry, dir, builtins)?;
            version.extend_from_slice(loaded.plugin.sha256().as_bytes());
            plugins.push(loaded);
        }
        Ok(PolicySetRuntime {
            version: gavel_core::digest::sha256_hex(&version),
            set,
            plugins,
        })
    }

    fn load_entry(
        &self,
        entry: &PluginEntry,
        dir: Option<&Dir>,
        builtins: &Builtins,
    ) -> Result<LoadedPlugin, LoadError> {
        let name = &entry.name;
        let origin = entry.module.to_string();
        let bytes: Cow<'_, [u8]> = match &entry.module {
            ModuleRef::Builtin(b) => {
                Cow::Borrowed(builtins.get(b).ok_or_else(|| LoadError::UnknownBuiltin {
                    plugin: name.clone(),
                    name: b.clone(),
                    available: builtins.names().collect::<Vec<_>>().join(", "),
                })?)
            }
            ModuleRef::Path(p) => {
                let dir = dir.ok_or_else(|| LoadError::NoDirectory {
                    plugin: name.clone(),
                    path: p.clone(),
                })?;
                let io = |source| LoadError::Io {
                    path: p.clone(),
                    cause: source,
                };
                let size = dir.metadata(p).map_err(io)?.len();
                if size > MAX_MODULE_BYTES {
                    return Err(LoadError::Grant {
                        plugin: name.clone(),
                        reason: format!(
                            "`{p}` is {size} bytes, larger than the {MAX_MODULE_BYTES}-byte limit for a plugin"
                        ),
                    });
                }
                Cow::Owned(dir.read(p).map_err(io)?)
            }
        };
        if let Some(expected) = &entry.sha256 {
            let actual = gavel_core::digest::sha256_hex(&bytes);
            if !actual.eq_ignore_ascii_case(expected) {
                return Err(LoadError::DigestMismatch {
                    plugin: name.clone(),
                    expected: expected.clone(),
                    actual,
                });
            }
        }
        if entry.limits.memory_mib > self.max_memory_mib() {
            return Err(LoadError::Grant {
                plugin: name.clone(),
                reason: format!(
                    "limits.memoryMiB is {}, but this runtime grants at most {} MiB",
                    entry.limits.memory_mib,
                    self.max_memory_mib()
                ),
            });
        }
        let plugin = self.load_plugin(&origin, &bytes)?;
        let handles = &plugin.metadata().subjects;
        let subjects = entry.subjects.clone().unwrap_or_else(|| handles.clone());
        if subjects.is_empty() {
            return Err(LoadError::Subjects {
                plugin: name.clone(),
                subject: "nothing".into(),
                handles: "nothing (its metadata lists no subjects, so it would never run)".into(),
            });
        }
        if let Some(s) = subjects.iter().find(|s| !handles.contains(s)) {
            return Err(LoadError::Subjects {
                plugin: name.clone(),
                subject: s.to_string(),
                handles: handles
                    .iter()
                    .map(|h| h.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        let settings = serde_json::to_string(&entry.settings).unwrap_or_else(|_| "{}".into());
        plugin
            .validate_settings(&settings, &entry.limits)
            .map_err(|f| LoadError::Settings {
                plugin: name.clone(),
                reason: f.message,
            })?;
        let plugin = self.preinitialize(&plugin, &bytes, &settings, &entry.limits);
        let omit = Omit::new(&entry.input.omit).map_err(|reason| LoadError::Grant {
            plugin: name.clone(),
            reason: format!("input.omit: {reason}"),
        })?;
        Ok(LoadedPlugin {
            entry: entry.clone(),
            plugin,
            settings,
            subjects,
            omit,
        })
    }
}
