//! The one place that generates host bindings for `gavel:policy`, and the
//! conversions between them and gavel-core's types.

use gavel_core as core;
use wasmtime::component::{HasSelf, Linker};

use crate::store::{LogLevel, StoreState};

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "plugin",
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

pub(crate) fn subject(s: &core::Subject) -> wit::Subject {
    match s {
        core::Subject::Admission(r) => wit::Subject::Admission(admission(r)),
        core::Subject::Manifest(m) => wit::Subject::Manifest(wit::Manifest {
            path: m.path.clone(),
            document: m.document.clone(),
        }),
        core::Subject::Traces(spans) => wit::Subject::Traces(spans.iter().map(span).collect()),
    }
}

fn admission(r: &core::AdmissionRequest) -> wit::AdmissionRequest {
    wit::AdmissionRequest {
        uid: r.uid.clone(),
        kind: wit::GroupVersionKind {
            group: r.kind.group.clone(),
            version: r.kind.version.clone(),
            kind: r.kind.kind.clone(),
        },
        resource: wit::GroupVersionResource {
            group: r.resource.group.clone(),
            version: r.resource.version.clone(),
            resource: r.resource.resource.clone(),
        },
        sub_resource: r.sub_resource.clone(),
        namespace: r.namespace.clone(),
        name: r.name.clone(),
        operation: match r.operation {
            core::Operation::Create => wit::Operation::Create,
            core::Operation::Update => wit::Operation::Update,
            core::Operation::Delete => wit::Operation::Delete,
            core::Operation::Connect => wit::Operation::Connect,
        },
        user_info: wit::UserInfo {
            username: r.user_info.username.clone(),
            uid: r.user_info.uid.clone(),
            groups: r.user_info.groups.clone(),
            extra: r.user_info.extra.clone(),
        },
        dry_run: r.dry_run,
        object: r.object.clone(),
        old_object: r.old_object.clone(),
    }
}

fn span(s: &core::InferenceSpan) -> wit::InferenceSpan {
    wit::InferenceSpan {
        trace_id: s.trace_id.clone(),
        span_id: s.span_id.clone(),
        parent_span_id: s.parent_span_id.clone(),
        service: s.service.clone(),
        namespace: s.namespace.clone(),
        model: s.model.clone(),
        operation: s.operation.clone(),
        start_unix_nano: s.start_unix_nano,
        end_unix_nano: s.end_unix_nano,
        input_tokens: s.input_tokens,
        output_tokens: s.output_tokens,
        status: match s.status {
            core::SpanStatus::Unset => wit::SpanStatus::Unset,
            core::SpanStatus::Ok => wit::SpanStatus::Ok,
            core::SpanStatus::Error => wit::SpanStatus::Error,
        },
        gpu_samples: s
            .gpu_samples
            .iter()
            .map(|g| wit::GpuSample {
                time_unix_nano: g.time_unix_nano,
                gpu: g.gpu.clone(),
                model: g.model.clone(),
                mig_profile: g.mig_profile.clone(),
                utilization_percent: g.utilization_percent,
                memory_used_bytes: g.memory_used_bytes,
                power_watts: g.power_watts,
            })
            .collect(),
        attributes: s
            .attributes
            .iter()
            .map(|a| wit::Attribute {
                key: a.key.clone(),
                value: match &a.value {
                    core::AttributeValue::Str(v) => wit::AttributeValue::Str(v.clone()),
                    core::AttributeValue::Int(v) => wit::AttributeValue::Int(*v),
                    core::AttributeValue::Float(v) => wit::AttributeValue::Float(*v),
                    core::AttributeValue::Boolean(v) => wit::AttributeValue::Boolean(*v),
                    core::AttributeValue::StrArray(v) => wit::AttributeValue::StrArray(v.clone()),
                    core::AttributeValue::IntArray(v) => wit::AttributeValue::IntArray(v.clone()),
                    core::AttributeValue::FloatArray(v) => {
                        wit::AttributeValue::FloatArray(v.clone())
                    }
                    core::AttributeValue::Json(v) => wit::AttributeValue::Json(v.clone()),
                },
            })
            .collect(),
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
