//! Where a workload keeps its pod specs and containers.
//!
//! gavel-sdk knows the built-in kinds (Pod, the pod-template workloads,
//! CronJob). A KServe InferenceService (`serving.kserve.io`) carries pod-spec
//! fields in each component instead (`spec.predictor`, `spec.transformer`,
//! `spec.explainer`): `nodeSelector` and `affinity` there, `containers` lists,
//! and one container per framework or model field (`spec.predictor.sklearn`,
//! `spec.predictor.model`, ...). This module answers both alike.

use gavel_sdk::k8s::KSERVE_FRAMEWORKS;
use gavel_sdk::k8s::Object;
use serde_json::Value;

/// The components of an InferenceService, in the order findings list them.
pub const COMPONENTS: [&str; 3] = ["predictor", "transformer", "explainer"];

/// A pod spec and where it is.
#[derive(Debug, Clone, Copy)]
pub struct PodSpec<'a> {
    /// JSON pointer to the spec: `/spec/template/spec`, `/spec/predictor`.
    pub pointer: &'a str,
    /// The spec.
    pub spec: &'a Value,
    /// The labels its pods get from a template (`/spec/template/metadata/labels`),
    /// when they differ from the object's own.
    pub template_labels: Option<&'a Value>,
}

/// A container and where it is.
#[derive(Debug, Clone)]
pub struct Container<'a> {
    /// JSON pointer to the container.
    pub pointer: String,
    /// The container.
    pub spec: &'a Value,
}

impl Container<'_> {
    /// How a finding names the container: its name, or its pointer.
    pub fn label(&self) -> String {
        match self.spec.get("name").and_then(Value::as_str) {
            Some(name) => format!("container `{name}`"),
            None => format!("the container at {}", self.pointer),
        }
    }
}

/// Whether the object is a KServe InferenceService.
pub fn is_inference_service(object: &Object) -> bool {
    object.kind() == Some("InferenceService")
        && object
            .api_version()
            .is_some_and(|v| v.starts_with("serving.kserve.io/"))
}

/// The pod specs of a workload; empty for objects that run no pods.
pub fn pod_specs(object: &Object) -> Vec<PodSpec<'_>> {
    if let Some((pointer, spec)) = object.pod_spec() {
        // The template's metadata sits beside its spec; a Pod has none.
        let template_labels = pointer
            .strip_suffix("/spec")
            .filter(|template| !template.is_empty())
            .and_then(|template| {
                object
                    .value()
                    .pointer(&format!("{template}/metadata/labels"))
            });
        return vec![PodSpec {
            pointer,
            spec,
            template_labels,
        }];
    }
    if !is_inference_service(object) {
        return Vec::new();
    }
    COMPONENTS
        .iter()
        .zip(["/spec/predictor", "/spec/transformer", "/spec/explainer"])
        .filter_map(|(name, pointer)| {
            let spec = object.value().get("spec")?.get(name)?;
            spec.is_object().then_some(PodSpec {
                pointer,
                spec,
                template_labels: None,
            })
        })
        .collect()
}

/// Every container of a workload: the SDK's for built-in kinds, and for an
/// InferenceService each component's container lists and framework fields.
pub fn containers(object: &Object) -> Vec<Container<'_>> {
    let builtin = object.containers();
    if !builtin.is_empty() || !is_inference_service(object) {
        return builtin
            .into_iter()
            .map(|c| Container {
                pointer: c.pointer,
                spec: c.spec,
            })
            .collect();
    }
    let mut containers = Vec::new();
    for pod in pod_specs(object) {
        for list in ["initContainers", "containers"] {
            let Some(items) = pod.spec.get(list).and_then(Value::as_array) else {
                continue;
            };
            containers.extend(items.iter().enumerate().map(|(i, spec)| Container {
                pointer: format!("{}/{list}/{i}", pod.pointer),
                spec,
            }));
        }
        for field in KSERVE_FRAMEWORKS {
            if let Some(spec) = pod.spec.get(field).filter(|v| v.is_object()) {
                containers.push(Container {
                    pointer: format!("{}/{field}", pod.pointer),
                    spec,
                });
            }
        }
    }
    containers
}

/// Escape a key for a JSON pointer (RFC 6901): `~` as `~0`, `/` as `~1`.
pub fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(json: &str) -> Object {
        Object::from_json(json).unwrap()
    }

    #[test]
    fn pod_specs_and_template_labels() {
        let deployment = object(
            r#"{"apiVersion":"apps/v1","kind":"Deployment","spec":{"template":{"metadata":{"labels":{"a":"1"}},"spec":{}}}}"#,
        );
        let specs = pod_specs(&deployment);
        assert_eq!(specs.len(), 1);
        assert_eq!(specs[0].pointer, "/spec/template/spec");
        assert_eq!(specs[0].template_labels.unwrap()["a"], "1");

        let pod = object(r#"{"apiVersion":"v1","kind":"Pod","spec":{}}"#);
        assert!(pod_specs(&pod)[0].template_labels.is_none());

        let isvc = object(
            r#"{"apiVersion":"serving.kserve.io/v1beta1","kind":"InferenceService",
                "spec":{"predictor":{"sklearn":{}},"explainer":{"containers":[]}}}"#,
        );
        let pointers: Vec<&str> = pod_specs(&isvc).iter().map(|p| p.pointer).collect();
        assert_eq!(pointers, ["/spec/predictor", "/spec/explainer"]);

        let config = object(r#"{"apiVersion":"v1","kind":"ConfigMap","data":{}}"#);
        assert!(pod_specs(&config).is_empty());
    }

    #[test]
    fn inference_service_containers() {
        let isvc = object(
            r#"{"apiVersion":"serving.kserve.io/v1beta1","kind":"InferenceService","spec":{
                "predictor":{"model":{"modelFormat":{"name":"sklearn"}},"containers":[{"name":"a"}]},
                "transformer":{"containers":[{"name":"t"}]}}}"#,
        );
        let pointers: Vec<String> = containers(&isvc).into_iter().map(|c| c.pointer).collect();
        assert_eq!(
            pointers,
            [
                "/spec/predictor/containers/0",
                "/spec/predictor/model",
                "/spec/transformer/containers/0"
            ]
        );
        let other = object(
            r#"{"apiVersion":"example.com/v1","kind":"InferenceService","spec":{"predictor":{"model":{}}}}"#,
        );
        assert!(containers(&other).is_empty());
    }

    #[test]
    fn container_labels_and_escaping() {
        let named = serde_json::json!({"name": "app"});
        let unnamed = serde_json::json!({});
        let c = |spec| Container {
            pointer: "/spec/containers/0".into(),
            spec,
        };
        assert_eq!(c(&named).label(), "container `app`");
        assert_eq!(c(&unnamed).label(), "the container at /spec/containers/0");
        assert_eq!(
            escape("topology.kubernetes.io/region"),
            "topology.kubernetes.io~1region"
        );
        assert_eq!(escape("a~b"), "a~0b");
    }
}
