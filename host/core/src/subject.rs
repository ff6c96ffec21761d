//! Subjects: what a plugin is asked to judge. These mirror the WIT `subject`
//! variant of `gavel:policy@0.1.0` field for field.

use serde::{Deserialize, Serialize};

use crate::metadata::SubjectKind;

/// What a plugin is asked to judge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "kebab-case")]
#[allow(
    clippy::large_enum_variant,
    reason = "a subject is built once per request and passed by reference; boxing would add an allocation to every admission"
)]
pub enum Subject {
    /// A Kubernetes admission request.
    Admission(AdmissionRequest),
    /// One manifest document from a GitOps repository.
    Manifest(Manifest),
    /// A batch (window) of inference spans.
    Traces(Vec<InferenceSpan>),
}

impl Subject {
    /// The kind of this subject, as plugins subscribe to it.
    pub fn kind(&self) -> SubjectKind {
        match self {
            Subject::Admission(_) => SubjectKind::Admission,
            Subject::Manifest(_) => SubjectKind::Manifest,
            Subject::Traces(_) => SubjectKind::Traces,
        }
    }

    /// The subject as a plugin granted `omit` sees it: the admission
    /// objects or the manifest document without the omitted members.
    /// `None` when nothing is omitted, so the caller keeps using `self`.
    pub fn project(&self, omit: &crate::Omit) -> Option<Subject> {
        use std::borrow::Cow;
        if omit.is_empty() {
            return None;
        }
        let shown = |text: &Option<String>| match text.as_deref().map(|t| omit.apply(t)) {
            Some(Cow::Owned(t)) => Some(Some(t)),
            _ => None,
        };
        match self {
            Subject::Admission(r) => {
                let (object, old_object) = (shown(&r.object), shown(&r.old_object));
                if object.is_none() && old_object.is_none() {
                    return None;
                }
                Some(Subject::Admission(AdmissionRequest {
                    object: object.unwrap_or_else(|| r.object.clone()),
                    old_object: old_object.unwrap_or_else(|| r.old_object.clone()),
                    ..r.clone_envelope()
                }))
            }
            Subject::Manifest(m) => match omit.apply(&m.document) {
                Cow::Borrowed(_) => None,
                Cow::Owned(document) => Some(Subject::Manifest(Manifest {
                    path: m.path.clone(),
                    document,
                })),
            },
            Subject::Traces(_) => None,
        }
    }

    /// An upper bound of the bytes this subject occupies when handed to a
    /// plugin: the sum of its strings plus fixed sizes. Used to enforce a
    /// plugin's `maxInputBytes` before any copy into the sandbox.
    pub fn approximate_size(&self) -> usize {
        match self {
            Subject::Admission(r) => r.approximate_size(),
            Subject::Manifest(m) => m.path.len() + m.document.len(),
            Subject::Traces(spans) => spans.iter().map(InferenceSpan::approximate_size).sum(),
        }
    }
}

/// The operation of an admission request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Operation {
    /// A resource is being created.
    Create,
    /// A resource is being updated.
    Update,
    /// A resource is being deleted.
    Delete,
    /// A connect request (`exec`, `attach`, `port-forward`, ...).
    Connect,
}

/// A Kubernetes group/version/kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GroupVersionKind {
    /// API group (`""` for the core group).
    #[serde(default)]
    pub group: String,
    /// API version.
    #[serde(default)]
    pub version: String,
    /// Kind.
    #[serde(default)]
    pub kind: String,
}

/// A Kubernetes group/version/resource.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GroupVersionResource {
    /// API group (`""` for the core group).
    #[serde(default)]
    pub group: String,
    /// API version.
    #[serde(default)]
    pub version: String,
    /// Resource (plural, lower case).
    #[serde(default)]
    pub resource: String,
}

/// The user who made an admission request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// User name.
    #[serde(default)]
    pub username: String,
    /// User UID.
    #[serde(default)]
    pub uid: String,
    /// Groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Extra attributes, sorted by key.
    #[serde(default)]
    pub extra: Vec<(String, Vec<String>)>,
}

/// An admission request with its envelope typed and its objects as JSON text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionRequest {
    /// Request UID.
    pub uid: String,
    /// Kind of the object.
    pub kind: GroupVersionKind,
    /// Resource requested.
    pub resource: GroupVersionResource,
    /// Sub-resource, when there is one.
    pub sub_resource: Option<String>,
    /// Namespace, absent for cluster-scoped objects.
    pub namespace: Option<String>,
    /// Name, may be absent on CREATE with `generateName`.
    pub name: Option<String>,
    /// Operation.
    pub operation: Operation,
    /// Who asked.
    pub user_info: UserInfo,
    /// True when the request will not be persisted.
    pub dry_run: bool,
    /// The object as JSON text.
    pub object: Option<String>,
    /// The previous object as JSON text.
    pub old_object: Option<String>,
}

impl AdmissionRequest {
    /// A copy of everything but the objects, which stay `None`.
    fn clone_envelope(&self) -> AdmissionRequest {
        AdmissionRequest {
            uid: self.uid.clone(),
            kind: self.kind.clone(),
            resource: self.resource.clone(),
            sub_resource: self.sub_resource.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            operation: self.operation,
            user_info: self.user_info.clone(),
            dry_run: self.dry_run,
            object: None,
            old_object: None,
        }
    }

    fn approximate_size(&self) -> usize {
        let strings = [
            &self.uid,
            &self.kind.group,
            &self.kind.version,
            &self.kind.kind,
            &self.resource.group,
            &self.resource.version,
            &self.resource.resource,
            &self.user_info.username,
            &self.user_info.uid,
        ];
        let options = [
            &self.sub_resource,
            &self.namespace,
            &self.name,
            &self.object,
            &self.old_object,
        ];
        strings.iter().map(|s| s.len()).sum::<usize>()
            + options
                .iter()
                .flat_map(|s| s.as_deref())
                .map(str::len)
                .sum::<usize>()
            + self.user_info.groups.iter().map(String::len).sum::<usize>()
            + self
                .user_info
                .extra
                .iter()
                .map(|(k, v)| k.len() + v.iter().map(String::len).sum::<usize>())
                .sum::<usize>()
    }
}

/// One manifest document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Where the document came from (for example `apps/deploy.yaml#2`).
    pub path: String,
    /// The document as JSON text.
    pub document: String,
}

/// The value of a span attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "kebab-case")]
pub enum AttributeValue {
    /// A string.
    Str(String),
    /// A signed integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A boolean.
    Boolean(bool),
    /// An array of strings.
    StrArray(Vec<String>),
    /// An array of integers.
    IntArray(Vec<i64>),
    /// An array of floating-point numbers.
    FloatArray(Vec<f64>),
    /// Anything else, as JSON text.
    Json(String),
}

impl AttributeValue {
    fn approximate_size(&self) -> usize {
        match self {
            AttributeValue::Str(s) | AttributeValue::Json(s) => s.len(),
            AttributeValue::Int(_) | AttributeValue::Float(_) => 8,
            AttributeValue::Boolean(_) => 1,
            AttributeValue::StrArray(v) => v.iter().map(String::len).sum(),
            AttributeValue::IntArray(v) => v.len() * 8,
            AttributeValue::FloatArray(v) => v.len() * 8,
        }
    }
}

/// A span or resource attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribute {
    /// Key.
    pub key: String,
    /// Value.
    pub value: AttributeValue,
}

/// One GPU telemetry sample (DCGM field meanings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GpuSample {
    /// Sample time, Unix epoch nanoseconds.
    pub time_unix_nano: u64,
    /// GPU identifier on its node.
    pub gpu: String,
    /// GPU product name.
    pub model: String,
    /// MIG profile, when on a MIG slice.
    pub mig_profile: Option<String>,
    /// Utilisation, percent 0–100.
    pub utilization_percent: f64,
    /// Framebuffer memory used, bytes.
    pub memory_used_bytes: u64,
    /// Power draw, watts.
    pub power_watts: f64,
}

/// OpenTelemetry span status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SpanStatus {
    /// Not set.
    Unset,
    /// Succeeded.
    Ok,
    /// Failed.
    Error,
}

/// One GPU inference span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InferenceSpan {
    /// Trace id, lower-case hex.
    pub trace_id: String,
    /// Span id, lower-case hex.
    pub span_id: String,
    /// Parent span id.
    pub parent_span_id: Option<String>,
    /// `service.name`.
    pub service: String,
    /// `k8s.namespace.name`.
    pub namespace: Option<String>,
    /// `gen_ai.request.model`.
    pub model: String,
    /// `gen_ai.operation.name`.
    pub operation: String,
    /// Start, Unix epoch nanoseconds.
    pub start_unix_nano: u64,
    /// End, Unix epoch nanoseconds.
    pub end_unix_nano: u64,
    /// Input tokens.
    pub input_tokens: Option<u64>,
    /// Output tokens.
    pub output_tokens: Option<u64>,
    /// Status.
    pub status: SpanStatus,
    /// GPU samples.
    pub gpu_samples: Vec<GpuSample>,
    /// Other attributes.
    pub attributes: Vec<Attribute>,
}

impl InferenceSpan {
    fn approximate_size(&self) -> usize {
        const FIXED: usize = 64;
        FIXED
            + self.trace_id.len()
            + self.span_id.len()
            + self.parent_span_id.as_deref().map_or(0, str::len)
            + self.service.len()
            + self.namespace.as_deref().map_or(0, str::len)
            + self.model.len()
            + self.operation.len()
            + self
                .gpu_samples
                .iter()
                .map(|g| {
                    40 + g.gpu.len() + g.model.len() + g.mig_profile.as_deref().map_or(0, str::len)
                })
                .sum::<usize>()
            + self
                .attributes
                .iter()
                .map(|a| a.key.len() + a.value.approximate_size())
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Omit;

    fn request(object: Option<&str>, old_object: Option<&str>) -> Subject {
        Subject::Admission(AdmissionRequest {
            uid: "u".into(),
            kind: GroupVersionKind::default(),
            resource: GroupVersionResource::default(),
            sub_resource: None,
            namespace: Some("ns".into()),
            name: None,
            operation: Operation::Update,
            user_info: UserInfo::default(),
            dry_run: true,
            object: object.map(String::from),
            old_object: old_object.map(String::from),
        })
    }

    #[test]
    fn projection_applies_to_both_objects_and_keeps_the_envelope() {
        let omit = Omit::default_set();
        let full = r#"{"metadata":{"name":"a","managedFields":[{"manager":"m"}]}}"#;
        let bare = r#"{"metadata":{"name":"a"}}"#;
        assert_eq!(
            request(Some(full), Some(full)).project(&omit),
            Some(request(Some(bare), Some(bare)))
        );
        assert_eq!(
            request(Some(bare), Some(full)).project(&omit),
            Some(request(Some(bare), Some(bare)))
        );
        assert_eq!(request(Some(bare), None).project(&omit), None);
        assert_eq!(request(None, None).project(&omit), None);
        assert_eq!(request(Some(full), None).project(&Omit::default()), None);
        let manifest = Subject::Manifest(Manifest {
            path: "a.yaml#1".into(),
            document: full.into(),
        });
        assert_eq!(
            manifest.project(&omit),
            Some(Subject::Manifest(Manifest {
                path: "a.yaml#1".into(),
                document: bare.into(),
            }))
        );
        assert_eq!(Subject::Traces(Vec::new()).project(&omit), None);
    }
}
