//! The one place that generates host bindings for `gavel:policy`, and the
//! conversions between them and gavel-core's types.

use gavel_core as core;
use wasmtime::component::{HasSelf, Linker};

use crate::store::{LogLevel, StoreState};

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "plugin",
    // Parameters borrow: the subject is lowered into the guest straight
    // from gavel-core's strings, without an intermediate owned copy.
    ownership: Borrowing {
        duplicate_if_necessary: true
    },
});

pub(crate) use self::{Plugin as PluginBindings, PluginPre as PluginBindingsPre};
use gavel::policy::types as wit;

/// Add the `gavel:policy/log` import to `linker`.
pub(crate) fn add_log_to_linker(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    gavel::policy::log::add_to_linker::<StoreState, HasSelf<StoreState>>(linker, |s| s)
}

impl gavel::policy::log::Host for StoreState {
    fn log(&mut self, level: gavel::policy::log::Level, message: String) {
        use gavel::policy::log::Level;
        let level = match level {
            Level::Trace => LogLevel::Trace,
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        };
        self.log(level, message);
    }
}

impl gavel::policy::types::Host for StoreState {}

// ------------------------------------------------------------------ subjects

/// Call `f` with `s` as the borrowed WIT subject. The strings are gavel-core's
/// own; only the lists of records the WIT types need are built here (they
/// live on this stack frame).
pub(crate) fn with_subject<R>(s: &core::Subject, f: impl FnOnce(wit::Subject<'_>) -> R) -> R {
    match s {
        core::Subject::Admission(r) => {
            let groups: Vec<&str> = r.user_info.groups.iter().map(String::as_str).collect();
            let values: Vec<Vec<&str>> = r
                .user_info
                .extra
                .iter()
                .map(|(_, v)| v.iter().map(String::as_str).collect())
                .collect();
            let extra: Vec<(&str, &[&str])> = r
                .user_info
                .extra
                .iter()
                .zip(&values)
                .map(|((k, _), v)| (k.as_str(), v.as_slice()))
                .collect();
            f(wit::Subject::Admission(admission(r, &groups, &extra)))
        }
        core::Subject::Manifest(m) => f(wit::Subject::Manifest(wit::Manifest {
            path: &m.path,
            document: &m.document,
        })),
        core::Subject::Traces(spans) => {
            // Three levels of borrowed lists: string arrays inside
            // attributes inside spans, each built before what points at it.
            let str_arrays: Vec<Vec<&str>> = spans
                .iter()
                .flat_map(|s| &s.attributes)
                .filter_map(|a| match &a.value {
                    core::AttributeValue::StrArray(v) => {
                        Some(v.iter().map(String::as_str).collect())
                    }
                    _ => None,
                })
                .collect();
            let mut next_array = str_arrays.iter();
            let attributes: Vec<Vec<wit::Attribute<'_>>> = spans
                .iter()
                .map(|s| {
                    s.attributes
                        .iter()
                        .map(|a| wit::Attribute {
                            key: &a.key,
                            value: attribute_value(&a.value, &mut next_array),
                        })
                        .collect()
                })
                .collect();
            debug_assert!(next_array.next().is_none(), "string arrays left over");
            let samples: Vec<Vec<wit::GpuSample<'_>>> = spans
                .iter()
                .map(|s| s.gpu_samples.iter().map(gpu_sample).collect())
                .collect();
            let spans: Vec<wit::InferenceSpan<'_>> = spans
                .iter()
                .zip(&attributes)
                .zip(&samples)
                .map(|((s, attributes), samples)| span(s, attributes, samples))
                .collect();
            f(wit::Subject::Traces(&spans))
        }
    }
}

fn admission<'a>(
    r: &'a core::AdmissionRequest,
    groups: &'a [&'a str],
    extra: &'a [(&'a str, &'a [&'a str])],
) -> wit::AdmissionRequest<'a> {
    wit::AdmissionRequest {
        uid: &r.uid,
        kind: wit::GroupVersionKind {
            group: &r.kind.group,
            version: &r.kind.version,
            kind: &r.kind.kind,
        },
        resource: wit::GroupVersionResource {
            group: &r.resource.group,
            version: &r.resource.version,
            resource: &r.resource.resource,
        },
        sub_resource: r.sub_resource.as_deref(),
        namespace: r.namespace.as_deref(),
        name: r.name.as_deref(),
        operation: match r.operation {
            core::Operation::Create => wit::Operation::Create,
            core::Operation::Update => wit::Operation::Update,
            core::Operation::Delete => wit::Operation::Delete,
            core::Operation::Connect => wit::Operation::Connect,
        },
        user_info: wit::UserInfo {
            username: &r.user_info.username,
            uid: &r.user_info.uid,
            groups,
            extra,
        },
        dry_run: r.dry_run,
        object: r.object.as_deref(),
        old_object: r.old_object.as_deref(),
    }
}

fn attribute_value<'a>(
    v: &'a core::AttributeValue,
    str_arrays: &mut std::slice::Iter<'a, Vec<&'a str>>,
) -> wit::AttributeValue<'a> {
    match v {
        core::AttributeValue::Str(v) => wit::AttributeValue::Str(v),
        core::AttributeValue::Int(v) => wit::AttributeValue::Int(*v),
        core::AttributeValue::Float(v) => wit::AttributeValue::Float(*v),
        core::AttributeValue::Boolean(v) => wit::AttributeValue::Boolean(*v),
        core::AttributeValue::StrArray(_) => {
            // Architecture Invariant: `with_subject` collected one array per
            // StrArray attribute, in the same order as this walk.
            let array = str_arrays
                .next()
                .expect("one string array per StrArray attribute");
            wit::AttributeValue::StrArray(array)
        }
        core::AttributeValue::IntArray(v) => wit::AttributeValue::IntArray(v),
        core::AttributeValue::FloatArray(v) => wit::AttributeValue::FloatArray(v),
        core::AttributeValue::Json(v) => wit::AttributeValue::Json(v),
    }
}

fn gpu_sample(g: &core::GpuSample) -> wit::GpuSample<'_> {
    wit::GpuSample {
        time_unix_nano: g.time_unix_nano,
        gpu: &g.gpu,
        model: &g.model,
        mig_profile: g.mig_profile.as_deref(),
        utilization_percent: g.utilization_percent,
        memory_used_bytes: g.memory_used_bytes,
        power_watts: g.power_watts,
    }
}

fn span<'a>(
    s: &'a core::InferenceSpan,
    attributes: &'a [wit::Attribute<'a>],
    gpu_samples: &'a [wit::GpuSample<'a>],
) -> wit::InferenceSpan<'a> {
    wit::InferenceSpan {
        trace_id: &s.trace_id,
        span_id: &s.span_id,
        parent_span_id: s.parent_span_id.as_deref(),
        service: &s.service,
        namespace: s.namespace.as_deref(),
        model: &s.model,
        operation: &s.operation,
        start_unix_nano: s.start_unix_nano,
        end_unix_nano: s.end_unix_nano,
        input_tokens: s.input_tokens,
        output_tokens: s.output_tokens,
        status: match s.status {
            core::SpanStatus::Unset => wit::SpanStatus::Unset,
            core::SpanStatus::Ok => wit::SpanStatus::Ok,
            core::SpanStatus::Error => wit::SpanStatus::Error,
        },
        gpu_samples,
        attributes,
    }
}

// ------------------------------------------------------------------ verdicts

fn severity(s: wit::Severity) -> core::Severity {
    match s {
        wit::Severity::Info => core::Severity::Info,
        wit::Severity::Low => core::Severity::Low,
        wit::Severity::Medium => core::Severity::Medium,
        wit::Severity::High => core::Severity::High,
        wit::Severity::Critical => core::Severity::Critical,
    }
}

pub(crate) fn verdict(v: wit::Verdict) -> core::Verdict {
    core::Verdict {
        decision: match v.decision {
            wit::Decision::Allow => core::Decision::Allow,
            wit::Decision::Warn => core::Decision::Warn,
            wit::Decision::Deny => core::Decision::Deny,
        },
        findings: v
            .findings
            .into_iter()
            .map(|f| core::Finding {
                code: f.code,
                message: f.message,
                severity: severity(f.severity),
                path: f.path,
            })
            .collect(),
        metrics: v
            .metrics
            .into_iter()
            .map(|m| core::Metric {
                name: m.name,
                value: m.value,
                labels: m.labels,
            })
            .collect(),
        actions: v
            .actions
            .into_iter()
            .map(|a| match a {
                wit::Action::Alert(a) => core::Action::Alert {
                    severity: severity(a.severity),
                    message: a.message,
                },
                wit::Action::ScaleDown(s) => core::Action::ScaleDown {
                    target: s.target,
                    replicas: s.replicas,
                    reason: s.reason,
                },
                wit::Action::RollbackToVersion(r) => core::Action::RollbackToVersion {
                    target: r.target,
                    version: r.version,
                    reason: r.reason,
                },
            })
            .collect(),
    }
}

pub(crate) fn plugin_error(e: wit::Error) -> core::Failure {
    match e {
        wit::Error::InvalidSettings(m) => {
            core::Failure::new(core::FailureKind::SettingsRejected, m)
        }
        wit::Error::InvalidSubject(m) => core::Failure::new(
            core::FailureKind::PluginError,
            format!("invalid subject: {m}"),
        ),
        wit::Error::Internal(m) => core::Failure::new(core::FailureKind::PluginError, m),
    }
}

pub(crate) fn metadata(m: wit::PluginMetadata) -> core::PluginMetadata {
    core::PluginMetadata {
        name: m.name,
        version: m.version,
        description: m.description,
        category: match m.category {
            wit::Category::Bias => core::Category::Bias,
            wit::Category::Privacy => core::Category::Privacy,
            wit::Category::Cost => core::Category::Cost,
            wit::Category::Explainer => core::Category::Explainer,
            wit::Category::Other => core::Category::Other,
        },
        subjects: m
            .subjects
            .into_iter()
            .map(|s| match s {
                wit::SubjectKind::Admission => core::SubjectKind::Admission,
                wit::SubjectKind::Manifest => core::SubjectKind::Manifest,
                wit::SubjectKind::Traces => core::SubjectKind::Traces,
            })
            .collect(),
        settings_schema: m.settings_schema,
    }
}
