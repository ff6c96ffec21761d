//! The admission webhook: AdmissionReview in, AdmissionReview out, every
//! decision recorded in the audit trail before it is returned.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use gavel_core::{AdmissionReview, Composed, Decision, Outcome, Subject};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::audit::AuditLog;
use crate::metrics::Metrics;
use crate::state::{Active, PolicyState};

/// Kubernetes truncates warnings longer than this.
pub const MAX_WARNING_CHARS: usize = 256;
/// Most warnings returned; the rest are summarised in one line.
pub const MAX_WARNINGS: usize = 32;
/// Most plugin metrics copied into `auditAnnotations`.
pub const MAX_AUDIT_ANNOTATIONS: usize = 32;

/// An error answered at the HTTP edge, before or instead of a decision.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not an AdmissionReview gavel can answer (400).
    #[error("{0}")]
    BadRequest(String),
    /// The body is over the size limit (413).
    #[error("request body is larger than {0} bytes")]
    TooLarge(usize),
    /// No valid policy set is loaded (503).
    #[error("no valid policy set is loaded: {0}")]
    NotReady(String),
    /// The decision could not be recorded (500): no decision is returned
    /// without its audit record; the API server's failurePolicy applies.
    #[error("the decision could not be written to the audit trail: {0}")]
    Audit(String),
}

impl ApiError {
    /// The HTTP status for this error.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) => 400,
            ApiError::TooLarge(_) => 413,
            ApiError::NotReady(_) => 503,
            ApiError::Audit(_) => 500,
        }
    }
}

/// What to answer when the evaluation does not finish in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeoutPolicy {
    /// Deny (the safe default for governance).
    #[default]
    FailClosed,
    /// Admit with a warning.
    FailOpen,
}

/// The admission service: policy state, audit trail, metrics, and the bounds
/// that keep a slow plugin from making the API server time out.
pub struct Webhook {
    /// The policy set being served.
    pub policy: Arc<PolicyState>,
    /// Where decisions are recorded.
    pub audit: Option<Arc<AuditLog>>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Deadline for a whole review, below the webhook's `timeoutSeconds`.
    pub eval_timeout: Duration,
    /// What to answer past the deadline.
    pub timeout_policy: TimeoutPolicy,
    /// Bounds concurrent evaluations.
    pub permits: Arc<Semaphore>,
    /// When one review's plugins run on several threads.
    pub fan_out: FanOut,
}

/// Evaluating one review's plugins on several threads lowers its latency
/// when cores are idle, and costs throughput (a thread hand-off per part)
/// when they are not. So a review is split only over cores no evaluation
/// is using; under load each review runs its plugins one after the other
/// on one thread. Counting threads, not reviews, keeps the instances alive
/// at once below `--max-concurrency` plus the core count.
#[derive(Debug, Clone)]
pub struct FanOut {
    /// Cores to spread over; 1 never fans out.
    pub cores: usize,
    /// Evaluation threads running now.
    pub busy: Arc<std::sync::atomic::AtomicUsize>,
}

impl FanOut {
    /// Spread over the cores this process may run on.
    pub fn for_this_machine() -> FanOut {
        FanOut {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            busy: Arc::default(),
        }
    }

    /// How many parts to split a review with `plugins` subscribed plugins
    /// into, counting their threads as busy until the guard drops.
    fn enter(&self, plugins: usize) -> (usize, BusyGuard) {
        use std::sync::atomic::Ordering;
        let parts = |busy: usize| self.cores.saturating_sub(busy).min(plugins).max(1);
        let before = self
            .busy
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| Some(b + parts(b)))
            .unwrap_or_else(|b| b);
        let parts = parts(before);
        (parts, BusyGuard(self.busy.clone(), parts))
    }
}

/// Counts a review's threads as busy while alive.
struct BusyGuard(Arc<std::sync::atomic::AtomicUsize>, usize);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0
            .fetch_sub(self.1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Projecting an object larger than this is done on the blocking pool, not
/// on the tokio worker that received the review.
const PREPARE_INLINE_BYTES: usize = 256 << 10;

/// One plugin's part in an audit record.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PluginRecord<'a> {
    #[serde(flatten)]
    report: &'a gavel_core::PluginReport,
    module: Option<String>,
    module_sha256: Option<&'a str>,
}

impl Webhook {
    /// Answer one AdmissionReview body.
    pub async fn review(&self, body: &[u8]) -> Result<Value, ApiError> {
        let start = Instant::now();
        let review =
            AdmissionReview::from_json(body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let active = self.policy.active().ok_or_else(|| {
            ApiError::NotReady(
                self.policy
                    .last_error()
                    .unwrap_or_else(|| "still loading".into()),
            )
        })?;
        let api_version = review.api_version.clone();
        let uid = review.request.uid.clone();
        let dry_run = review.request.dry_run;
        let subject = Arc::new(Subject::Admission(review.request));
        let composed = self.evaluate(&active, subject.clone()).await;
        self.record(&active, &subject, &composed, "admission")
            .await?;
        self.metrics.plugins(&composed, |p, m| {
            self.metrics
                .plugin_metric(&p.name, &m.name, &m.labels, m.value)
        });
        self.metrics
            .admission(composed.decision.as_str(), start.elapsed());
        tracing::debug!(uid, decision = %composed.decision, dry_run, "admission review answered");
        Ok(review_response(
            &api_version,
            &uid,
            &composed,
            active.version(),
        ))
    }

    /// Evaluate under the global deadline and the concurrency bound.
    async fn evaluate(&self, active: &Arc<Active>, subject: Arc<Subject>) -> Composed {
        let deadline = tokio::time::Instant::now() + self.eval_timeout;
        let work = async {
            let permit = self.permits.clone().acquire_owned().await;
            let prepared = if subject.approximate_size() <= PREPARE_INLINE_BYTES {
                Arc::new(active.set.prepare(&subject))
            } else {
                let (active, subject) = (active.clone(), subject.clone());
                match tokio::task::spawn_blocking(move || active.set.prepare(&subject)).await {
                    Ok(prepared) => Arc::new(prepared),
                    Err(join) => return Err(join),
                }
            };
            let set = &active.set;
            let subscribed: Arc<[usize]> = set.subscribed(&prepared).into();
            let (parts, busy) = self.fan_out.enter(subscribed.len());
            // Held by every task, so that work still running past the
            // deadline keeps counting against the concurrency bound.
            let held = Arc::new((permit, busy));
            // The subscribed plugins in contiguous runs, one blocking task
            // each; the others are skipped. Reports are composed in
            // policy-set order.
            let per_part = subscribed.len().div_ceil(parts).max(1);
            let tasks: Vec<(std::ops::Range<usize>, _)> = (0..subscribed.len())
                .step_by(per_part)
                .map(|start| {
                    let part = start..(start + per_part).min(subscribed.len());
                    let (active, prepared, subject, held, subscribed, mine) = (
                        active.clone(),
                        prepared.clone(),
                        subject.clone(),
                        held.clone(),
                        subscribed.clone(),
                        part.clone(),
                    );
                    let task = tokio::task::spawn_blocking(move || {
                        let _held = held;
                        subscribed[mine]
                            .iter()
                            .map(|&i| active.set.evaluate_plugin(i, &prepared, &subject))
                            .collect::<Vec<_>>()
                    });
                    (part, task)
                })
                .collect();
            let mut reports: Vec<Option<gavel_core::PluginReport>> =
                (0..set.plugins().len()).map(|_| None).collect();
            for (part, task) in tasks {
                let chunk = &subscribed[part];
                match task.await {
                    Ok(done) => {
                        for (i, report) in chunk.iter().zip(done) {
                            reports[*i] = Some(report);
                        }
                    }
                    // A part that died (a panic in the host) fails its own
                    // plugins, each under its failure policy; the other
                    // parts' verdicts still count.
                    Err(join) => {
                        tracing::error!("an evaluation task failed: {join}");
                        for &i in chunk {
                            let failure = gavel_core::Failure::new(
                                gavel_core::FailureKind::Trap,
                                format!("the host's evaluation task failed: {join}"),
                            );
                            reports[i] = Some(set.failed_report(i, &prepared, failure));
                        }
                    }
                }
            }
            let reports = reports
                .into_iter()
                .enumerate()
                .map(|(i, r)| r.unwrap_or_else(|| set.evaluate_plugin(i, &prepared, &subject)));
            Ok::<_, tokio::task::JoinError>(gavel_core::compose(reports))
        };
        match tokio::time::timeout_at(deadline, work).await {
            Ok(Ok(composed)) => composed,
            Ok(Err(join)) => self.synthetic(format!("evaluation task failed: {join}")),
            Err(_) => self.synthetic(format!(
                "evaluation did not finish within {} ms",
                self.eval_timeout.as_millis()
            )),
        }
    }

    /// A decision gavel makes itself when the plugins could not.
    fn synthetic(&self, why: String) -> Composed {
        tracing::warn!("{why}");
        let (decision, line) = match self.timeout_policy {
            TimeoutPolicy::FailClosed => (
                Decision::Deny,
                format!("gavel: {why}; denied (fail-closed)"),
            ),
            TimeoutPolicy::FailOpen => (
                Decision::Warn,
                format!("gavel: {why}; admitted (fail-open)"),
            ),
        };
        let mut c = gavel_core::compose(std::iter::empty());
        c.decision = decision;
        match decision {
            Decision::Deny => c.denials.push(line),
            _ => c.warnings.push(line),
        }
        c
    }

    /// Write the audit record (blocking IO on the blocking pool).
    pub(crate) async fn record(
        &self,
        active: &Active,
        subject: &Subject,
        composed: &Composed,
        source: &str,
    ) -> Result<(), ApiError> {
        let Some(audit) = &self.audit else {
            return Ok(());
        };
        let body = audit_body(active, subject, composed, source);
        let durability = active.set.policy_set().audit.durability;
        let result = append_audit(audit, &self.metrics, body, durability).await;
        if let Err(e) = &result {
            tracing::error!("the decision could not be written to the audit trail: {e}");
        }
        result.map(|_| ()).map_err(ApiError::Audit)
    }
}

/// Append `body` to the audit trail on the blocking pool and count the
/// outcome; returns the new head, or why the record was not written.
pub(crate) async fn append_audit(
    audit: &Arc<AuditLog>,
    metrics: &Metrics,
    body: Value,
    durability: gavel_core::policy::Durability,
) -> Result<crate::audit::Head, String> {
    let audit = audit.clone();
    let result = tokio::task::spawn_blocking(move || audit.append(&body, durability))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
    metrics.audit(result.is_ok());
    result
}

/// The audit record of one decision (before `seq`, `prevHash` and `hash`).
pub fn audit_body(active: &Active, subject: &Subject, composed: &Composed, source: &str) -> Value {
    let set = &active.set;
    let plugins: Vec<PluginRecord<'_>> = composed
        .plugins
        .iter()
        .map(|report| {
            let loaded = set.plugins().iter().find(|p| p.entry.name == report.name);
            PluginRecord {
                report,
                module: loaded.map(|p| p.entry.module.to_string()),
                module_sha256: loaded.map(|p| p.plugin.sha256()),
            }
        })
        .collect();
    let canonical = serde_json::to_vec(subject).unwrap_or_default();
    let mut subject_record = json!({
        "kind": subject.kind(),
        "digest": gavel_core::digest::sha256_hex(&canonical),
        "source": source,
    });
    if let Subject::Admission(r) = subject {
        subject_record["uid"] = json!(r.uid);
        subject_record["operation"] = json!(r.operation);
        subject_record["dryRun"] = json!(r.dry_run);
        subject_record["resource"] = json!(format!(
            "{}/{}/{}",
            r.resource.group, r.resource.version, r.resource.resource
        ));
        subject_record["namespace"] = json!(r.namespace);
        subject_record["name"] = json!(r.name);
    }
    let audit_policy = &set.policy_set().audit;
    if audit_policy.keep_input {
        subject_record["input"] = kept_input(subject, &audit_policy.redact);
    }
    json!({
        "time": humantime::format_rfc3339_nanos(SystemTime::now()).to_string(),
        "config": {
            "version": active.version(),
            "digest": set.version(),
            "name": set.policy_set().name,
        },
        "subject": subject_record,
        "plugins": plugins,
        "decision": composed.decision,
        "denials": composed.denials,
        "warnings": composed.warnings,
    })
}

/// The subject as kept for replay, with objects parsed (so they can be
/// redacted) and the configured pointers redacted.
fn kept_input(subject: &Subject, redact: &[String]) -> Value {
    if let Subject::Traces(spans) = subject {
        return serde_json::to_value(Subject::Traces(
            spans.iter().map(without_message_content).collect(),
        ))
        .unwrap_or(Value::Null);
    }
    let mut value = serde_json::to_value(subject).unwrap_or(Value::Null);
    let objects: &[&str] = match subject {
        Subject::Admission(_) => &["object", "oldObject"],
        Subject::Manifest(_) => &["document"],
        Subject::Traces(_) => &[],
    };
    for key in objects {
        if let Some(slot) = value.get_mut("value").and_then(|v| v.get_mut(*key))
            && let Some(text) = slot.as_str()
        {
            let mut parsed: Value = serde_json::from_str(text).unwrap_or(Value::Null);
            gavel_core::redact::redact(&mut parsed, redact);
            *slot = parsed;
        }
    }
    value
}

/// Span attributes that hold prompts, completions and system instructions
/// (GenAI semantic conventions, current and old, and event attributes
/// flattened under their event's name).
fn is_message_content(key: &str) -> bool {
    const KEYS: [&str; 5] = [
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.prompt",
        "gen_ai.completion",
    ];
    KEYS.iter().any(|k| {
        key == *k
            || key.ends_with(&format!(".{k}"))
            || key
                .strip_prefix(k)
                .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// A span as the audit trail keeps it: message content is personal data
/// far more often than not, so its values are replaced by `[REDACTED]`
/// whatever the policy set's `redact` says. Replaying such a window
/// reproduces every verdict except those about message content.
fn without_message_content(span: &gavel_core::InferenceSpan) -> gavel_core::InferenceSpan {
    let mut span = span.clone();
    for a in &mut span.attributes {
        if is_message_content(&a.key) {
            a.value = gavel_core::AttributeValue::Str("[REDACTED]".into());
        }
    }
    span
}

/// Rebuild a subject kept in an audit record's `subject.input` (objects back to JSON text).
pub fn subject_from_kept(kept: &Value) -> Result<Subject, String> {
    let mut value = kept.clone();
    for key in ["object", "oldObject", "document"] {
        if let Some(slot) = value.get_mut("value").and_then(|v| v.get_mut(key))
            && !slot.is_null()
            && !slot.is_string()
        {
            *slot = Value::String(slot.to_string());
        }
    }
    serde_json::from_value(value).map_err(|e| format!("kept input is not a subject: {e}"))
}

/// Build the AdmissionReview response for a composed decision.
pub fn review_response(
    api_version: &str,
    uid: &str,
    composed: &Composed,
    config_version: &str,
) -> Value {
    let allowed = composed.decision != Decision::Deny;
    let mut response = json!({
        "uid": uid,
        "allowed": allowed,
    });
    if !allowed {
        response["status"] = json!({
            "code": 403,
            "reason": "Forbidden",
            "message": printable(&format!("gavel denied the request: {}", composed.denials.join("; "))),
        });
    }
    let warnings = warnings(&composed.warnings);
    if !warnings.is_empty() {
        response["warnings"] = json!(warnings);
    }
    let mut annotations = serde_json::Map::new();
    annotations.insert("decision".into(), json!(composed.decision));
    annotations.insert("config-version".into(), json!(config_version));
    let metrics = composed.plugins.iter().flat_map(|p| match &p.outcome {
        Outcome::Verdict(v) => v
            .metrics
            .iter()
            .map(|m| (p.name.as_str(), m))
            .collect::<Vec<_>>(),
        _ => Vec::new(),
    });
    for (plugin, m) in metrics.take(MAX_AUDIT_ANNOTATIONS) {
        let key = annotation_key(plugin, &m.name);
        // gavel's own keys win; of several series of one metric, the first.
        if !m.name.is_empty() && !annotations.contains_key(&key) {
            annotations.insert(key, json!(m.value.to_string()));
        }
    }
    response["auditAnnotations"] = Value::Object(annotations);
    json!({
        "apiVersion": api_version,
        "kind": "AdmissionReview",
        "response": response,
    })
}

/// Warnings within Kubernetes' limits: each at most [`MAX_WARNING_CHARS`],
/// at most [`MAX_WARNINGS`] of them.
fn warnings(all: &[String]) -> Vec<String> {
    let mut out: Vec<String> = all
        .iter()
        .take(MAX_WARNINGS)
        .map(|w| {
            // Warnings must be printable: no control characters.
            let clean: String = w
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            if clean.chars().count() > MAX_WARNING_CHARS {
                let cut: String = clean.chars().take(MAX_WARNING_CHARS - 1).collect();
                format!("{cut}…")
            } else {
                clean
            }
        })
        .collect();
    if all.len() > MAX_WARNINGS {
        out.pop();
        out.push(format!(
            "… and {} more warnings (see the audit trail)",
            all.len() - MAX_WARNINGS + 1
        ));
    }
    out
}

/// Plugin text shown to users, without control characters (a plugin could
/// otherwise inject terminal escapes into `kubectl` output).
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// An audit annotation key: a qualified-name part (≤ 63 chars of
/// `[A-Za-z0-9._-]`); the API server prefixes it with the webhook name.
fn annotation_key(plugin: &str, metric: &str) -> String {
    let raw = format!("{plugin}.{metric}");
    let clean: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(63)
        .collect();
    clean
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use gavel_core::compose::{Effect, PluginReport};
    use gavel_core::{Metric, Verdict};

    fn composed(decision: Decision, denials: &[&str], warnings: Vec<String>) -> Composed {
        Composed {
            decision,
            plugins: vec![PluginReport {
                name: "cost".into(),
                grant: Effect::default(),
                outcome: Outcome::Verdict(Verdict {
                    decision,
                    findings: vec![],
                    metrics: vec![Metric {
                        name: "hourly cost/usd".into(),
                        value: 3.5,
                        labels: vec![],
                    }],
                    actions: vec![],
                }),
                effect: Some(decision),
                duration: Duration::from_micros(10),
            }],
            denials: denials.iter().map(|s| s.to_string()).collect(),
            warnings,
        }
    }

    #[test]
    fn reviews_fan_out_only_onto_idle_cores() {
        use std::sync::atomic::Ordering;
        let fan_out = FanOut {
            cores: 4,
            busy: Arc::default(),
        };
        let (parts, first) = fan_out.enter(3);
        assert_eq!(parts, 3, "idle machine: a part per plugin, up to the cores");
        let (parts, second) = fan_out.enter(3);
        assert_eq!(parts, 1, "one core left");
        let (parts, third) = fan_out.enter(3);
        assert_eq!(parts, 1, "overloaded: never zero parts");
        assert_eq!(
            fan_out.busy.load(Ordering::Acquire),
            5,
            "threads, not reviews"
        );
        drop(first);
        assert_eq!(fan_out.busy.load(Ordering::Acquire), 2);
        drop((second, third));
        assert_eq!(fan_out.busy.load(Ordering::Acquire), 0);
        assert_eq!(fan_out.enter(1).0, 1, "no more parts than plugins");
        assert_eq!(fan_out.enter(0).0, 1);
        let single = FanOut {
            cores: 1,
            busy: Arc::default(),
        };
        assert_eq!(single.enter(4).0, 1);
    }

    #[test]
    fn deny_has_status_403_naming_plugin_and_finding() {
        let r = review_response(
            "admission.k8s.io/v1",
            "u-1",
            &composed(Decision::Deny, &["cost: cost.budget: over"], vec![]),
            "abc",
        );
        assert_eq!(r["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(r["kind"], "AdmissionReview");
        assert_eq!(r["response"]["uid"], "u-1");
        assert_eq!(r["response"]["allowed"], false);
        assert_eq!(r["response"]["status"]["code"], 403);
        assert_eq!(
            r["response"]["status"]["message"],
            "gavel denied the request: cost: cost.budget: over"
        );
        assert_eq!(r["response"]["auditAnnotations"]["decision"], "deny");
        assert_eq!(r["response"]["auditAnnotations"]["config-version"], "abc");
        assert_eq!(
            r["response"]["auditAnnotations"]["cost.hourly_cost_usd"],
            "3.5"
        );
        assert!(r["response"].get("warnings").is_none());
    }

    #[test]
    fn allow_and_warn_have_no_status() {
        let r = review_response(
            "admission.k8s.io/v1beta1",
            "u",
            &composed(Decision::Warn, &[], vec!["w1".into()]),
            "v",
        );
        assert_eq!(r["apiVersion"], "admission.k8s.io/v1beta1");
        assert_eq!(r["response"]["allowed"], true);
        assert!(r["response"].get("status").is_none());
        assert_eq!(r["response"]["warnings"], json!(["w1"]));
    }

    #[test]
    fn warnings_are_bounded() {
        let long = "x".repeat(1000);
        let many: Vec<String> = (0..100).map(|i| format!("w{i}\n")).collect();
        assert_eq!(warnings(&[long])[0].chars().count(), MAX_WARNING_CHARS);
        let w = warnings(&many);
        assert_eq!(w.len(), MAX_WARNINGS);
        assert_eq!(w[0], "w0 ");
        assert_eq!(
            w[MAX_WARNINGS - 1],
            "… and 69 more warnings (see the audit trail)"
        );
    }

    #[test]
    fn plugins_cannot_overwrite_gavels_annotations_or_inject_control_characters() {
        let mut c = composed(Decision::Deny, &["p: x: evil\u{1b}[2J"], vec![]);
        c.plugins[0].name = "decision".into();
        if let Outcome::Verdict(v) = &mut c.plugins[0].outcome {
            v.metrics[0].name = String::new();
        }
        let r = review_response("admission.k8s.io/v1", "u", &c, "v");
        assert_eq!(r["response"]["auditAnnotations"]["decision"], "deny");
        let message = r["response"]["status"]["message"].as_str().unwrap();
        assert!(!message.chars().any(char::is_control), "{message:?}");
    }

    #[test]
    fn annotation_keys_are_qualified_names() {
        assert_eq!(
            annotation_key("bias", "demographic_parity_ratio"),
            "bias.demographic_parity_ratio"
        );
        assert_eq!(annotation_key("a", "b c/d"), "a.b_c_d");
        assert_eq!(annotation_key("p", &"m".repeat(100)).len(), 63);
    }

    #[test]
    fn kept_input_round_trips_and_redacts() {
        let subject = Subject::Manifest(gavel_core::Manifest {
            path: "a.yaml#0".into(),
            document: r#"{"kind":"Pod","spec":{"token":"s3cret"}}"#.into(),
        });
        let kept = kept_input(&subject, &["/spec/token".into()]);
        assert_eq!(kept["value"]["document"]["spec"]["token"], "[REDACTED]");
        let back = subject_from_kept(&kept).unwrap();
        let Subject::Manifest(m) = back else { panic!() };
        assert_eq!(
            m.document,
            r#"{"kind":"Pod","spec":{"token":"[REDACTED]"}}"#
        );
        let plain = kept_input(&subject, &[]);
        assert_eq!(subject_from_kept(&plain).unwrap(), subject);
    }
}
