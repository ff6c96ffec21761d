//! Kubernetes objects in admission requests and manifests.
//!
//! The host passes objects as JSON text, untouched. [`Object`] parses one and
//! answers the questions most policies ask: kind, name, namespace, labels,
//! annotations, and the containers of anything that runs pods, each with the
//! JSON pointer a [`Finding`](crate::types::Finding) should carry.
//!
//! ```
//! use gavel_sdk::k8s::Object;
//!
//! let deployment = Object::from_json(r#"{
//!     "apiVersion": "apps/v1", "kind": "Deployment",
//!     "metadata": {"name": "web", "labels": {"team": "search"}},
//!     "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}}
//! }"#)?;
//! assert_eq!(deployment.label("team"), Some("search"));
//! let containers = deployment.containers();
//! assert_eq!(containers[0].pointer, "/spec/template/spec/containers/0");
//! assert_eq!(containers[0].image(), Some("nginx:1.27"));
//! # Ok::<(), gavel_sdk::types::Error>(())
//! ```

use serde_json::Value;

use crate::types::{AdmissionRequest, Error, Manifest, Operation, Subject};

/// A parsed Kubernetes object (or any JSON document).
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    value: Value,
}

impl Object {
    /// Parse JSON text. Fails with [`Error::InvalidSubject`].
    pub fn from_json(json: &str) -> Result<Self, Error> {
        serde_json::from_str(json)
            .map(Self::from_value)
            .map_err(|e| Error::InvalidSubject(format!("object is not valid JSON: {e}")))
    }

    /// Wrap an already parsed value.
    pub fn from_value(value: Value) -> Self {
        Self { value }
    }

    /// The whole document, for anything the helpers do not cover
    /// (`object.value().pointer("/spec/replicas")`).
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The whole document, by value.
    pub fn into_value(self) -> Value {
        self.value
    }

    /// `apiVersion`, for example `apps/v1`.
    pub fn api_version(&self) -> Option<&str> {
        self.value.get("apiVersion")?.as_str()
    }

    /// `kind`, for example `Deployment`.
    pub fn kind(&self) -> Option<&str> {
        self.value.get("kind")?.as_str()
    }

    /// `metadata.name`.
    pub fn name(&self) -> Option<&str> {
        self.metadata("name")?.as_str()
    }

    /// `metadata.namespace`.
    pub fn namespace(&self) -> Option<&str> {
        self.metadata("namespace")?.as_str()
    }

    /// The value of label `key`.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.metadata("labels")?.get(key)?.as_str()
    }

    /// All labels, in key order. Values that are not strings (invalid in
    /// Kubernetes) are skipped.
    pub fn labels(&self) -> impl Iterator<Item = (&str, &str)> {
        string_map(self.metadata("labels"))
    }

    /// The value of annotation `key`.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.metadata("annotations")?.get(key)?.as_str()
    }

    /// All annotations, in key order; non-string values are skipped.
    pub fn annotations(&self) -> impl Iterator<Item = (&str, &str)> {
        string_map(self.metadata("annotations"))
    }

    /// The pod spec of a workload and its JSON pointer: `/spec` for a Pod,
    /// `/spec/template/spec` for a Deployment, StatefulSet, DaemonSet,
    /// ReplicaSet, ReplicationController or Job, `/template/spec` for a
    /// PodTemplate, `/spec/jobTemplate/spec/template/spec` for a CronJob.
    /// `None` for other kinds or when the spec is absent.
    pub fn pod_spec(&self) -> Option<(&'static str, &Value)> {
        let pointer = pod_spec_pointer(self.kind()?)?;
        Some((pointer, self.value.pointer(pointer)?))
    }

    /// The containers of the pod spec (see [`Object::pod_spec`]): init
    /// containers, then containers, then ephemeral containers, each in order.
    /// Empty when the object runs no pods.
    pub fn containers(&self) -> Vec<Container<'_>> {
        let Some((spec_pointer, spec)) = self.pod_spec() else {
            return Vec::new();
        };
        let mut containers = Vec::new();
        for kind in [
            ContainerKind::Init,
            ContainerKind::App,
            ContainerKind::Ephemeral,
        ] {
            let field = kind.field();
            let Some(list) = spec.get(field).and_then(Value::as_array) else {
                continue;
            };
            containers.extend(list.iter().enumerate().map(|(i, spec)| Container {
                pointer: format!("{spec_pointer}/{field}/{i}"),
                kind,
                spec,
            }));
        }
        containers
    }

    fn metadata(&self, field: &str) -> Option<&Value> {
        self.value.get("metadata")?.get(field)
    }
}

impl From<Value> for Object {
    fn from(value: Value) -> Self {
        Self::from_value(value)
    }
}

/// The fields of a KServe InferenceService component (`predictor`,
/// `transformer`, `explainer` of `serving.kserve.io/v1beta1`) that each hold
/// one model-server container: the model formats and the explainers.
pub const KSERVE_FRAMEWORKS: [&str; 13] = [
    "model",
    "sklearn",
    "xgboost",
    "tensorflow",
    "pytorch",
    "triton",
    "onnx",
    "huggingface",
    "pmml",
    "lightgbm",
    "paddle",
    "alibi",
    "art",
];

/// Where the pod spec of an object of `kind` lives, as a JSON pointer.
/// See [`Object::pod_spec`].
pub fn pod_spec_pointer(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "Pod" => "/spec",
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "ReplicationController"
        | "Job" => "/spec/template/spec",
        "PodTemplate" => "/template/spec",
        "CronJob" => "/spec/jobTemplate/spec/template/spec",
        _ => return None,
    })
}

/// Which list of a pod spec a container is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContainerKind {
    /// `initContainers`.
    Init,
    /// `containers`.
    App,
    /// `ephemeralContainers`.
    Ephemeral,
}

impl ContainerKind {
    /// The pod spec field holding this kind of container.
    pub fn field(self) -> &'static str {
        match self {
            ContainerKind::Init => "initContainers",
            ContainerKind::App => "containers",
            ContainerKind::Ephemeral => "ephemeralContainers",
        }
    }
}

/// One container of a pod spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Container<'a> {
    /// JSON pointer to the container, for example
    /// `/spec/template/spec/containers/0`; append `/image` to point at its image.
    pub pointer: String,
    /// Which list the container is in.
    pub kind: ContainerKind,
    /// The container as JSON.
    pub spec: &'a Value,
}

impl<'a> Container<'a> {
    /// `name`.
    pub fn name(&self) -> Option<&'a str> {
        self.spec.get("name")?.as_str()
    }

    /// `image`.
    pub fn image(&self) -> Option<&'a str> {
        self.spec.get("image")?.as_str()
    }
}

impl AdmissionRequest {
    /// Parse `object`, the object being admitted. `None` when absent (DELETE,
    /// some CONNECTs).
    pub fn parse_object(&self) -> Result<Option<Object>, Error> {
        self.object.as_deref().map(Object::from_json).transpose()
    }

    /// Parse `old-object`, the previous state on UPDATE (and DELETE).
    pub fn parse_old_object(&self) -> Result<Option<Object>, Error> {
        self.old_object
            .as_deref()
            .map(Object::from_json)
            .transpose()
    }
}

impl Manifest {
    /// Parse the document.
    pub fn parse_document(&self) -> Result<Object, Error> {
        Object::from_json(&self.document)
    }
}

impl Subject {
    /// The Kubernetes resource a subject is about: the object of an admission
    /// request, or a manifest's document.
    ///
    /// `None` for traces, for admission requests without an object (DELETE),
    /// for CONNECT, whose object is the connect options (`PodExecOptions`,
    /// `PodPortForwardOptions`, ...) rather than a resource, and for
    /// sub-resources (`status`, `scale`, `eviction`, ...), whose object is not
    /// the resource a workload policy judges; read those with
    /// [`AdmissionRequest::parse_object`].
    pub fn parse_object(&self) -> Result<Option<Object>, Error> {
        self.object_text().map(Object::from_json).transpose()
    }

    /// The JSON text [`Subject::parse_object`] parses, for a plugin that
    /// reads it its own way (for example into typed structs that skip what
    /// the policy does not read); `None` where `parse_object` gives `None`.
    pub fn object_text(&self) -> Option<&str> {
        match self {
            Subject::Admission(request)
                if request.operation == Operation::Connect || request.sub_resource.is_some() =>
            {
                None
            }
            Subject::Admission(request) => request.object.as_deref(),
            Subject::Manifest(manifest) => Some(&manifest.document),
            Subject::Traces(_) => None,
        }
    }
}

fn string_map(map: Option<&Value>) -> impl Iterator<Item = (&str, &str)> {
    map.and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    fn containers(json: &str) -> Vec<(String, Option<String>)> {
        Object::from_json(json)
            .unwrap()
            .containers()
            .iter()
            .map(|c| (c.pointer.clone(), c.name().map(str::to_owned)))
            .collect()
    }

    fn check(json: &str, expect: &[(&str, &str)]) {
        let want: Vec<_> = expect
            .iter()
            .map(|(p, n)| (p.to_string(), Some(n.to_string())))
            .collect();
        assert_eq!(containers(json), want, "containers of {json}");
    }

    const PODSPEC: &str = r#"{"initContainers": [{"name": "i"}], "containers": [{"name": "a"}, {"name": "b"}], "ephemeralContainers": [{"name": "e"}]}"#;

    #[test]
    fn containers_by_kind() {
        let workload = |kind: &str, wrap: &dyn Fn(&str) -> String| {
            format!(r#"{{"kind": "{kind}", {}}}"#, wrap(PODSPEC))
        };
        let template = |s: &str| format!(r#""spec": {{"template": {{"spec": {s}}}}}"#);
        check(
            &workload("Pod", &|s| format!(r#""spec": {s}"#)),
            &[
                ("/spec/initContainers/0", "i"),
                ("/spec/containers/0", "a"),
                ("/spec/containers/1", "b"),
                ("/spec/ephemeralContainers/0", "e"),
            ],
        );
        for kind in [
            "Deployment",
            "StatefulSet",
            "DaemonSet",
            "ReplicaSet",
            "ReplicationController",
            "Job",
        ] {
            check(
                &workload(kind, &template),
                &[
                    ("/spec/template/spec/initContainers/0", "i"),
                    ("/spec/template/spec/containers/0", "a"),
                    ("/spec/template/spec/containers/1", "b"),
                    ("/spec/template/spec/ephemeralContainers/0", "e"),
                ],
            );
        }
        let cron = |s: &str| {
            format!(r#""spec": {{"jobTemplate": {{"spec": {{"template": {{"spec": {s}}}}}}}}}"#)
        };
        let got = containers(&workload("CronJob", &cron));
        assert_eq!(
            got[1].0,
            "/spec/jobTemplate/spec/template/spec/containers/0"
        );
        let pod_template = |s: &str| format!(r#""template": {{"spec": {s}}}"#);
        assert_eq!(
            containers(&workload("PodTemplate", &pod_template))[2].0,
            "/template/spec/containers/1"
        );
    }

    #[test]
    fn no_containers() {
        check(r#"{"kind": "ConfigMap", "data": {}}"#, &[]);
        check(r#"{"kind": "Deployment", "spec": {}}"#, &[]);
        check(r#"{"kind": "Pod", "spec": {"containers": "nope"}}"#, &[]);
        check(r#"{"spec": {"containers": [{"name": "a"}]}}"#, &[]);
        check("[]", &[]);
    }

    #[test]
    fn metadata() {
        let o = Object::from_json(
            r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns",
               "labels": {"b": "2", "a": "1", "bad": 3}, "annotations": {"note": "x"}}}"#,
        )
        .unwrap();
        assert_eq!(
            (o.api_version(), o.kind(), o.name(), o.namespace()),
            (Some("v1"), Some("Pod"), Some("p"), Some("ns"))
        );
        assert_eq!(o.labels().collect::<Vec<_>>(), [("a", "1"), ("b", "2")]);
        assert_eq!(
            (o.label("a"), o.label("bad"), o.label("zzz")),
            (Some("1"), None, None)
        );
        assert_eq!(o.annotations().collect::<Vec<_>>(), [("note", "x")]);
        assert_eq!(o.annotation("note"), Some("x"));

        let bare = Object::from_value(serde_json::json!({"kind": "Namespace"}));
        assert_eq!(
            (bare.name(), bare.labels().count(), bare.annotation("x")),
            (None, 0, None)
        );
    }

    #[test]
    fn subjects() {
        let pod = r#"{"kind": "Pod", "metadata": {"name": "p"}}"#;
        let name = |s: Subject| {
            s.parse_object()
                .unwrap()
                .map(|o| o.name().unwrap().to_owned())
        };
        assert_eq!(
            name(testing::admission(Operation::Create, pod)),
            Some("p".into())
        );
        assert_eq!(name(testing::admission(Operation::Delete, pod)), None);
        let exec = r#"{"kind": "PodExecOptions", "command": ["/bin/sh"]}"#;
        let connect = testing::admission(Operation::Connect, exec);
        assert_eq!(
            name(connect.clone()),
            None,
            "connect options are not a resource"
        );
        let Subject::Admission(request) = connect else {
            unreachable!()
        };
        assert_eq!(
            request.parse_object().unwrap().unwrap().kind(),
            Some("PodExecOptions")
        );
        assert_eq!(name(testing::manifest("a.yaml", pod)), Some("p".into()));
        assert_eq!(name(testing::traces([])), None);
        let Subject::Admission(mut status) = testing::admission(Operation::Update, pod) else {
            unreachable!()
        };
        status.sub_resource = Some("status".into());
        assert_eq!(
            name(Subject::Admission(status)),
            None,
            "sub-resources are not judged"
        );

        let Subject::Admission(request) =
            testing::admission_update(pod, r#"{"kind": "Pod", "metadata": {"name": "q"}}"#)
        else {
            unreachable!()
        };
        assert_eq!(
            request.parse_old_object().unwrap().unwrap().name(),
            Some("p")
        );

        let err = testing::manifest("a.yaml", "{nope")
            .parse_object()
            .unwrap_err();
        assert!(
            matches!(&err, Error::InvalidSubject(m) if m.starts_with("object is not valid JSON: key must be a string at line 1 column 2")),
            "{err:?}"
        );
    }
}
