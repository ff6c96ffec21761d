//! Policy sets: the GitOps file that says which plugins run, on what, under
//! which limits, and what their verdicts may do.
//!
//! The format is documented in `docs/policy-set.md`. In short:
//!
//! ```yaml
//! apiVersion: gavel.dev/v1alpha1
//! kind: PolicySet
//! name: production
//! plugins:
//!   - name: required-labels
//!     module: plugins/required-labels.wasm   # inside the policy-set directory
//!     sha256: 3f2a…                          # optional pin
//!     subjects: [admission, manifest]        # default: what the plugin handles
//!     mode: enforce                          # enforce | warn | audit
//!     authority: deny                        # deny | advisory
//!     failurePolicy: fail-closed             # fail-closed | fail-open
//!     limits: { fuel: 200000000, timeoutMs: 200, memoryMiB: 64 }
//!     settings: { labels: [team, cost-center] }
//! ```

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::metadata::SubjectKind;

/// The `apiVersion` a policy set must declare.
pub const API_VERSION: &str = "gavel.dev/v1alpha1";
/// The `kind` a policy set must declare.
pub const KIND: &str = "PolicySet";
/// Policy-set files larger than this are refused before parsing.
pub const MAX_POLICY_SET_BYTES: usize = 1 << 20;
/// Deepest YAML nesting accepted, checked before parsing.
pub const MAX_YAML_DEPTH: usize = 64;

/// A policy set: plugins with their grants and settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicySet {
    /// Must be [`API_VERSION`].
    pub api_version: String,
    /// Must be [`KIND`].
    pub kind: String,
    /// A name for humans and logs.
    pub name: String,
    /// The plugins, evaluated for every subject they subscribe to.
    #[serde(default)]
    pub plugins: Vec<PluginEntry>,
    /// What the audit trail keeps, and how durably.
    #[serde(default)]
    pub audit: AuditPolicy,
    /// How inference spans are grouped into windows before plugins see them.
    #[serde(default)]
    pub traces: TracePolicy,
}

/// How spans received on `/v1/traces` become batches for trace plugins.
///
/// Spans are grouped by (namespace, service, model) into tumbling windows; a
/// window closes when it holds `maxSpans` spans or `maxAgeMs` after its first
/// span arrived, whichever comes first. Memory is bounded by
/// `maxOpenWindows` and `maxBufferedSpans`; see docs/traces.md for what
/// happens at each cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct TracePolicy {
    /// A window closes when it holds this many spans.
    pub max_spans: u32,
    /// A window closes this many milliseconds after its first span arrived.
    pub max_age_ms: u64,
    /// At most this many windows are open at once; a span for a new group
    /// past the cap closes the oldest window early.
    pub max_open_windows: u32,
    /// At most this many spans are held (open windows plus closed windows
    /// waiting for evaluation); a request that would exceed it is refused
    /// with 429 and `Retry-After`, never dropped silently.
    pub max_buffered_spans: u32,
}

impl TracePolicy {
    /// The largest `maxSpans` accepted.
    pub const MAX_SPANS: u32 = 100_000;
    /// The longest `maxAgeMs` accepted: one hour.
    pub const MAX_AGE_MS: u64 = 3_600_000;
}

impl Default for TracePolicy {
    fn default() -> Self {
        TracePolicy {
            max_spans: 1_000,
            max_age_ms: 10_000,
            max_open_windows: 1_024,
            max_buffered_spans: 200_000,
        }
    }
}

/// When an audit record is flushed to stable storage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Durability {
    /// `fsync` each record before the decision is returned.
    #[default]
    Fsync,
    /// Write each record before the decision is returned; the OS flushes it later.
    Write,
}

/// What the audit trail records about each decision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct AuditPolicy {
    /// Keep the subject itself (redacted), so the decision can be replayed.
    /// Off by default: only the subject's digest is recorded.
    pub keep_input: bool,
    /// JSON pointers into the object (`*` matches any key or index) whose
    /// values are replaced by `"[REDACTED]"` before the input is kept, for
    /// example `/spec/containers/*/env`.
    pub redact: Vec<String>,
    /// When records reach stable storage.
    pub durability: Durability,
}

/// Where a plugin's component comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ModuleRef {
    /// A file inside the policy-set directory (no absolute paths, no `..`).
    Path(String),
    /// A plugin embedded in the gavel binary, written `builtin:<name>`.
    Builtin(String),
}

impl ModuleRef {
    fn parse(s: &str) -> Result<ModuleRef, String> {
        if let Some(name) = s.strip_prefix("builtin:") {
            if name.is_empty() {
                return Err("`builtin:` needs a plugin name, for example `builtin:cost`".into());
            }
            return Ok(ModuleRef::Builtin(name.to_owned()));
        }
        if s.is_empty() {
            return Err(
                "module is empty: give a path inside the policy-set directory or `builtin:<name>`"
                    .into(),
            );
        }
        if s.starts_with('/') || s.contains('\\') || s.split('/').any(|c| c == "..") {
            return Err(format!(
                "module `{s}` must be a relative path inside the policy-set directory, without `..`"
            ));
        }
        Ok(ModuleRef::Path(s.to_owned()))
    }
}

impl std::fmt::Display for ModuleRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModuleRef::Path(p) => f.write_str(p),
            ModuleRef::Builtin(n) => write!(f, "builtin:{n}"),
        }
    }
}

impl Serialize for ModuleRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ModuleRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ModuleRef::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// What a plugin's verdict does to the composed decision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// The verdict counts (within the plugin's authority).
    #[default]
    Enforce,
    /// A deny becomes a warning.
    Warn,
    /// Evaluated and recorded in the audit trail only; no effect on the decision.
    Audit,
}

/// What a plugin may decide.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Authority {
    /// The plugin may deny.
    #[default]
    Deny,
    /// Advisory only: the plugin's denials (and failures) become warnings.
    Advisory,
}

/// What a plugin failure does to the composed decision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailurePolicy {
    /// A failure denies (as Kubernetes' `failurePolicy: Fail`).
    #[default]
    FailClosed,
    /// A failure admits with a warning (as `failurePolicy: Ignore`, but visible).
    FailOpen,
}

/// The resources a plugin is granted for one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Limits {
    /// Fuel (roughly, wasm instructions) per evaluation.
    pub fuel: u64,
    /// Wall-clock deadline per evaluation, milliseconds.
    pub timeout_ms: u64,
    /// Linear-memory ceiling, MiB.
    #[serde(rename = "memoryMiB")]
    pub memory_mib: u64,
    /// Largest subject handed to the plugin, bytes.
    pub max_input_bytes: u64,
    /// Most findings a verdict may carry.
    pub max_findings: u32,
    /// Most text bytes a verdict may carry.
    pub max_output_bytes: u64,
    /// Most bytes of log output (WIT `log` plus captured stdout/stderr) kept per evaluation.
    pub max_log_bytes: u64,
}

impl Limits {
    /// Highest accepted `timeoutMs`: the Kubernetes webhook maximum.
    pub const MAX_TIMEOUT_MS: u64 = 30_000;
    /// Highest accepted `memoryMiB`.
    pub const MAX_MEMORY_MIB: u64 = 4096;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: 500_000_000,
            timeout_ms: 250,
            memory_mib: 64,
            max_input_bytes: 4 << 20,
            max_findings: 256,
            max_output_bytes: 256 << 10,
            max_log_bytes: 16 << 10,
        }
    }
}

/// What of each subject a plugin is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct InputGrant {
    /// JSON pointers (`*` for any member or element) of the object members
    /// left out of admission objects and manifests before the plugin sees
    /// them. Default: [`DEFAULT_OMIT`](crate::project::DEFAULT_OMIT),
    /// `metadata.managedFields` and the
    /// `kubectl.kubernetes.io/last-applied-configuration` annotation; `[]`
    /// shows the whole object.
    pub omit: Vec<String>,
}

impl Default for InputGrant {
    fn default() -> Self {
        InputGrant {
            omit: crate::project::DEFAULT_OMIT.map(String::from).to_vec(),
        }
    }
}

/// One plugin in a policy set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginEntry {
    /// Unique name within the set, used in messages, metrics and the audit trail.
    pub name: String,
    /// The component.
    pub module: ModuleRef,
    /// Expected sha256 of the component bytes, lower-case hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Subject kinds to send; `None` means everything the plugin declares.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subjects: Option<Vec<SubjectKind>>,
    /// Effect of its verdicts.
    #[serde(default)]
    pub mode: Mode,
    /// What it may decide.
    #[serde(default)]
    pub authority: Authority,
    /// Effect of its failures.
    #[serde(default)]
    pub failure_policy: FailurePolicy,
    /// Resources granted per evaluation.
    #[serde(default)]
    pub limits: Limits,
    /// What of each subject the plugin is shown.
    #[serde(default)]
    pub input: InputGrant,
    /// Plugin settings, handed to the plugin as JSON.
    #[serde(default = "empty_settings")]
    pub settings: serde_json::Value,
}

fn empty_settings() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

/// A policy set that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file is too large.
    #[error(
        "policy set is {size} bytes, more than the {max}-byte limit: split it or remove unused settings"
    )]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The YAML nests too deeply.
    #[error("policy set nests deeper than {max} levels at line {line}: flatten it")]
    TooDeep {
        /// The limit.
        max: usize,
        /// Where the limit was crossed.
        line: usize,
    },
    /// The YAML does not parse or does not match the format.
    #[error("invalid policy set{}: {message}", line.map(|l| format!(" at line {l}")).unwrap_or_default())]
    Syntax {
        /// Line, when known.
        line: Option<usize>,
        /// What the parser said.
        message: String,
    },
    /// The content is well-formed but wrong.
    #[error("invalid policy set: {0}")]
    Invalid(String),
}

impl PolicySet {
    /// Parse and validate a policy set from YAML (JSON is YAML too).
    pub fn from_yaml(text: &str) -> Result<PolicySet, PolicyError> {
        if text.len() > MAX_POLICY_SET_BYTES {
            return Err(PolicyError::TooLarge {
                size: text.len(),
                max: MAX_POLICY_SET_BYTES,
            });
        }
        check_depth(text, MAX_YAML_DEPTH)?;
        let set: PolicySet = serde_yaml_ng::from_str(text).map_err(|e| PolicyError::Syntax {
            line: e.location().map(|l| l.line()),
            message: e.to_string(),
        })?;
        set.validate()?;
        Ok(set)
    }

    /// Check what the YAML schema cannot: versions, unique names, sane limits.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let invalid = |m: String| Err(PolicyError::Invalid(m));
        if self.api_version != API_VERSION {
            return invalid(format!(
                "apiVersion is `{}`, expected `{API_VERSION}`",
                self.api_version
            ));
        }
        if self.kind != KIND {
            return invalid(format!("kind is `{}`, expected `{KIND}`", self.kind));
        }
        let mut names = BTreeSet::new();
        for p in &self.plugins {
            let ctx = |m: String| PolicyError::Invalid(format!("plugin `{}`: {m}", p.name));
            if p.name.is_empty()
                || !p
                    .name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
            {
                return invalid(format!(
                    "plugin name `{}` must be non-empty lower-case letters, digits, `-` or `_`",
                    p.name
                ));
            }
            if !names.insert(p.name.as_str()) {
                return invalid(format!(
                    "plugin name `{}` is used twice: names must be unique",
                    p.name
                ));
            }
            if let Err(m) = crate::project::Omit::new(&p.input.omit) {
                return Err(ctx(format!("input.omit: {m}")));
            }
            if let Some(pin) = &p.sha256
                && (pin.len() != 64 || !pin.bytes().all(|b| b.is_ascii_hexdigit()))
            {
                return Err(ctx(format!("sha256 `{pin}` is not 64 hex digits")));
            }
            if p.subjects.as_ref().is_some_and(Vec::is_empty) {
                return Err(ctx("subjects is empty: list at least one of admission, manifest, traces, or remove the key".into()));
            }
            let l = &p.limits;
            let checks = [
                (l.fuel == 0, "limits.fuel must be greater than 0".to_owned()),
                (
                    l.timeout_ms == 0 || l.timeout_ms > Limits::MAX_TIMEOUT_MS,
                    format!(
                        "limits.timeoutMs must be between 1 and {}",
                        Limits::MAX_TIMEOUT_MS
                    ),
                ),
                (
                    l.memory_mib == 0 || l.memory_mib > Limits::MAX_MEMORY_MIB,
                    format!(
                        "limits.memoryMiB must be between 1 and {}",
                        Limits::MAX_MEMORY_MIB
                    ),
                ),
                (
                    l.max_input_bytes == 0,
                    "limits.maxInputBytes must be greater than 0".into(),
                ),
                (
                    l.max_output_bytes == 0,
                    "limits.maxOutputBytes must be greater than 0".into(),
                ),
            ];
            if let Some((_, m)) = checks.into_iter().find(|(bad, _)| *bad) {
                return Err(ctx(m));
            }
        }
        let t = &self.traces;
        if t.max_spans == 0 || t.max_spans > TracePolicy::MAX_SPANS {
            return invalid(format!(
                "traces.maxSpans must be between 1 and {}",
                TracePolicy::MAX_SPANS
            ));
        }
        if t.max_age_ms == 0 || t.max_age_ms > TracePolicy::MAX_AGE_MS {
            return invalid(format!(
                "traces.maxAgeMs must be between 1 and {} (one hour)",
                TracePolicy::MAX_AGE_MS
            ));
        }
        if t.max_open_windows == 0 {
            return invalid("traces.maxOpenWindows must be greater than 0".into());
        }
        if t.max_buffered_spans < t.max_spans {
            return invalid(format!(
                "traces.maxBufferedSpans ({}) must be at least traces.maxSpans ({}), or no window could ever fill",
                t.max_buffered_spans, t.max_spans
            ));
        }
        if let Some(bad) = self.audit.redact.iter().find(|p| !p.starts_with('/')) {
            return invalid(format!(
                "audit.redact entry `{bad}` is not a JSON pointer: start it with `/`, for example `/spec/containers/*/env`"
            ));
        }
        Ok(())
    }
}

/// Check YAML nesting against [`MAX_YAML_DEPTH`] before parsing; `Err`
/// holds the 1-based line where the limit is crossed.
pub fn check_depth_public(text: &str) -> Result<(), usize> {
    check_depth(text, MAX_YAML_DEPTH).map_err(|e| match e {
        PolicyError::TooDeep { line, .. } => line,
        _ => 1,
    })
}

/// Reject YAML nested deeper than `max` before handing it to the parser,
/// which would otherwise spend minutes on a hostile file. Counts flow
/// brackets outside quotes and block indentation (two spaces a level is the
/// common style; one space a level is counted generously as a level each).
fn check_depth(text: &str, max: usize) -> Result<(), PolicyError> {
    let mut flow = 0usize;
    for (i, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches([' ', '-']).len();
        let mut quote: Option<char> = None;
        for c in line.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '#') => break,
                (None, '[' | '{') => flow += 1,
                (None, ']' | '}') => flow = flow.saturating_sub(1),
                _ => {}
            }
        }
        if flow + indent / 2 > max {
            return Err(PolicyError::TooDeep { max, line: i + 1 });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "apiVersion: gavel.dev/v1alpha1\nkind: PolicySet\nname: t\nplugins:\n  - name: a\n    module: a.wasm\n";

    #[test]
    fn defaults_apply() {
        let set = PolicySet::from_yaml(MINIMAL).unwrap();
        let p = &set.plugins[0];
        assert_eq!(p.module, ModuleRef::Path("a.wasm".into()));
        assert_eq!(
            (p.mode, p.authority, p.failure_policy),
            (Mode::Enforce, Authority::Deny, FailurePolicy::FailClosed)
        );
        assert_eq!(p.limits, Limits::default());
        assert_eq!(p.input.omit, crate::project::DEFAULT_OMIT);
        assert_eq!(p.settings, serde_json::json!({}));
        let all = PolicySet::from_yaml(&format!("{MINIMAL}    input: {{ omit: [] }}\n")).unwrap();
        assert!(all.plugins[0].input.omit.is_empty());
    }

    #[test]
    fn full_entry_parses() {
        let yaml = r#"
apiVersion: gavel.dev/v1alpha1
kind: PolicySet
name: prod
plugins:
  - name: cost
    module: builtin:cost
    sha256: 0000000000000000000000000000000000000000000000000000000000000000
    subjects: [admission, traces]
    mode: warn
    authority: advisory
    failurePolicy: fail-open
    limits: { fuel: 10, timeoutMs: 5, memoryMiB: 8, maxInputBytes: 100, maxFindings: 3, maxOutputBytes: 1000, maxLogBytes: 10 }
    settings:
      budgets: { ml: 1000 }
"#;
        let set = PolicySet::from_yaml(yaml).unwrap();
        let p = &set.plugins[0];
        assert_eq!(p.module, ModuleRef::Builtin("cost".into()));
        assert_eq!(
            p.subjects,
            Some(vec![SubjectKind::Admission, SubjectKind::Traces])
        );
        assert_eq!(
            (p.mode, p.authority, p.failure_policy),
            (Mode::Warn, Authority::Advisory, FailurePolicy::FailOpen)
        );
        assert_eq!(p.limits.memory_mib, 8);
        assert_eq!(p.settings["budgets"]["ml"], 1000);
    }

    #[track_caller]
    fn check_err(yaml: &str, expect: &str) {
        let err = PolicySet::from_yaml(yaml).unwrap_err().to_string();
        assert!(
            err.contains(expect),
            "error `{err}` does not contain `{expect}`"
        );
    }

    #[test]
    fn errors_say_what_is_wrong() {
        check_err(
            "apiVersion: v9\nkind: PolicySet\nname: t\n",
            "apiVersion is `v9`, expected `gavel.dev/v1alpha1`",
        );
        check_err(
            "apiVersion: gavel.dev/v1alpha1\nkind: Pod\nname: t\n",
            "kind is `Pod`",
        );
        check_err(
            &format!("{MINIMAL}  - name: a\n    module: b.wasm\n"),
            "`a` is used twice",
        );
        check_err(&format!("{MINIMAL}    mode: loud\n"), "line 7");
        check_err(
            &format!("{MINIMAL}    mode: loud\n"),
            "unknown variant `loud`",
        );
        check_err(&format!("{MINIMAL}    sha256: abc\n"), "not 64 hex digits");
        check_err(
            &format!("{MINIMAL}    limits: {{ timeoutMs: 0 }}\n"),
            "timeoutMs must be between 1 and 30000",
        );
        check_err(
            &format!("{MINIMAL}    limits: {{ memoryMiB: 99999 }}\n"),
            "memoryMiB must be between 1 and 4096",
        );
        check_err(
            &format!("{MINIMAL}    limits: {{ fuel: 0 }}\n"),
            "fuel must be greater than 0",
        );
        check_err(
            &format!("{MINIMAL}    limits: {{ cpu: 1 }}\n"),
            "unknown field `cpu`",
        );
        check_err(&format!("{MINIMAL}    subjects: []\n"), "subjects is empty");
        check_err(
            &format!("{MINIMAL}    input: {{ omit: [metadata] }}\n"),
            "plugin `a`: input.omit: `metadata` is not a JSON pointer: start it with `/`",
        );
        check_err(
            &format!("{MINIMAL}    input: {{ hide: [] }}\n"),
            "unknown field `hide`",
        );
        check_err(
            &format!("{MINIMAL}    subjects: [logs]\n"),
            "unknown variant `logs`",
        );
        check_err(
            &format!("{MINIMAL}    colour: red\n"),
            "unknown field `colour`",
        );
        check_err(&MINIMAL.replace("a.wasm", "../etc/passwd"), "without `..`");
        check_err(&MINIMAL.replace("a.wasm", "/abs.wasm"), "relative path");
        check_err(
            &MINIMAL.replace("a.wasm", "\"builtin:\""),
            "needs a plugin name",
        );
        check_err(
            &MINIMAL.replace("name: a", "name: Bad Name"),
            "lower-case letters",
        );
        check_err("plugins: [", "invalid policy set");
        check_err(&"[".repeat(10_000), "nests deeper than 64 levels at line 1");
        check_err(
            &format!("{}x", " ".repeat(MAX_POLICY_SET_BYTES)),
            "more than the 1048576-byte limit",
        );
    }

    #[test]
    fn quoted_brackets_do_not_count_as_nesting() {
        let yaml = format!(
            "{MINIMAL}    settings: {{ pattern: \"{}\" }}\n",
            "[".repeat(200)
        );
        PolicySet::from_yaml(&yaml).unwrap();
    }
}
