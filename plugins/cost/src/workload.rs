//! Which pods an object runs and how many: the pod templates of Kubernetes
//! workloads, KServe InferenceServices and LLMInferenceServices, and KubeRay
//! clusters, each with its replica count.

use gavel_sdk::k8s::KSERVE_FRAMEWORKS;
use serde_json::Value;

use crate::pod::{ContainerRef, INVALID_QUANTITY, Problem};

/// Hours in a month, as OpenCost counts them (365 × 24 / 12).
pub const HOURS_PER_MONTH: f64 = 730.0;

/// A set of identical pods.
pub struct PodGroup<'a> {
    /// JSON pointer to the pod spec.
    pub pointer: String,
    /// The pod spec.
    pub spec: &'a Value,
    /// Containers outside the pod spec's lists (KServe framework fields).
    pub extra: Vec<ContainerRef<'a>>,
    /// Labels of the pods, when the object has a pod template.
    pub labels: Option<&'a Value>,
    /// How many such pods run.
    pub replicas: u64,
}

/// The pods an object runs.
pub struct Workload<'a> {
    /// Groups of identical pods.
    pub groups: Vec<PodGroup<'a>>,
    /// Hours a month the pods run at most: [`HOURS_PER_MONTH`], less for a
    /// Job whose `activeDeadlineSeconds` ends it sooner.
    pub hours_per_month: f64,
    /// Replica counts that are not non-negative integers.
    pub problems: Vec<Problem>,
}

impl<'a> Workload<'a> {
    fn new() -> Self {
        Workload {
            groups: Vec::new(),
            hours_per_month: HOURS_PER_MONTH,
            problems: Vec::new(),
        }
    }

    /// A group from a pod template (`{metadata, spec}`) at `pointer`.
    fn template(&mut self, object: &'a Value, pointer: &str, replicas: u64) {
        let spec_pointer = format!("{pointer}/spec");
        if let Some(spec) = object.pointer(&spec_pointer) {
            self.groups.push(PodGroup {
                pointer: spec_pointer,
                spec,
                extra: Vec::new(),
                labels: object.pointer(&format!("{pointer}/metadata/labels")),
                replicas,
            });
        }
    }

    /// A group from a bare pod spec at `pointer`.
    fn spec(
        &mut self,
        object: &'a Value,
        pointer: &str,
        replicas: u64,
        extra: Vec<ContainerRef<'a>>,
    ) {
        if let Some(spec) = object.pointer(pointer) {
            self.groups.push(PodGroup {
                pointer: pointer.to_owned(),
                spec,
                extra,
                labels: None,
                replicas,
            });
        }
    }

    /// The count at `pointer`, `default` when absent. A count that is not a
    /// non-negative integer is a problem and counts as `default`.
    fn count(&mut self, object: &Value, pointer: &str, default: u64) -> u64 {
        match object.pointer(pointer) {
            None | Some(Value::Null) => default,
            Some(v) => v.as_u64().unwrap_or_else(|| {
                self.problems.push(Problem {
                    code: INVALID_QUANTITY,
                    pointer: pointer.to_owned(),
                    message: format!("{v} is not a replica count: write a non-negative integer"),
                });
                default
            }),
        }
    }
}

/// An object's API group and kind: from the object, or else from `fallback`
/// (an admission request's `kind`, since some clients send objects without
/// `apiVersion` and `kind`).
pub fn group_kind<'a>(
    object: &'a Value,
    fallback: Option<(&'a str, &'a str)>,
) -> Option<(&'a str, &'a str)> {
    match object.get("kind").and_then(Value::as_str) {
        Some(kind) => {
            let group = object
                .get("apiVersion")
                .and_then(Value::as_str)
                .and_then(|v| v.split_once('/'))
                .map_or("", |(group, _)| group);
            Some((group, kind))
        }
        None => fallback.filter(|(_, kind)| !kind.is_empty()),
    }
}

/// The pods `object` runs; `None` for kinds that run none (or that gavel
/// does not know how to price). `fallback` is as for [`group_kind`].
pub fn pods<'a>(object: &'a Value, fallback: Option<(&'a str, &'a str)>) -> Option<Workload<'a>> {
    let (group, kind) = group_kind(object, fallback)?;
    let mut w = Workload::new();
    match (group, kind) {
        ("", "Pod") => w.spec(object, "/spec", 1, Vec::new()),
        ("apps", "Deployment" | "StatefulSet" | "ReplicaSet") | ("", "ReplicationController") => {
            let replicas = w.count(object, "/spec/replicas", 1);
            w.template(object, "/spec/template", replicas);
        }
        // One pod per node; the node count is not in the object.
        ("apps", "DaemonSet") => w.template(object, "/spec/template", 1),
        ("batch", "Job") => {
            let replicas = job(&mut w, object, "/spec");
            w.template(object, "/spec/template", replicas);
            if let Some(deadline) = object
                .pointer("/spec/activeDeadlineSeconds")
                .and_then(Value::as_f64)
            {
                w.hours_per_month = (deadline / 3600.0).min(HOURS_PER_MONTH);
            }
        }
        ("batch", "CronJob") => {
            let suspended = object.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true);
            let replicas = job(&mut w, object, "/spec/jobTemplate/spec");
            w.template(
                object,
                "/spec/jobTemplate/spec/template",
                if suspended { 0 } else { replicas },
            );
        }
        ("serving.kserve.io", "InferenceService") => {
            for component in ["predictor", "transformer", "explainer"] {
                let pointer = format!("/spec/{component}");
                let Some(spec) = object.pointer(&pointer).filter(|c| c.is_object()) else {
                    continue;
                };
                let replicas = w.count(object, &format!("{pointer}/minReplicas"), 1);
                let extra = KSERVE_FRAMEWORKS
                    .iter()
                    .filter_map(|f| {
                        let c = spec.get(*f).filter(|c| c.is_object())?;
                        Some(ContainerRef {
                            pointer: format!("{pointer}/{f}"),
                            spec: c,
                        })
                    })
                    .collect();
                w.spec(object, &pointer, replicas, extra);
            }
        }
        ("serving.kserve.io", "LLMInferenceService") => {
            let replicas = w.count(object, "/spec/replicas", 1);
            w.spec(object, "/spec/template", replicas, Vec::new());
            let prefill = w.count(object, "/spec/prefill/replicas", 1);
            w.spec(object, "/spec/prefill/template", prefill, Vec::new());
        }
        ("ray.io", "RayCluster") => ray(&mut w, object, "/spec"),
        ("ray.io", "RayService") => ray(&mut w, object, "/spec/rayClusterConfig"),
        ("ray.io", "RayJob") => ray(&mut w, object, "/spec/rayClusterSpec"),
        _ => return None,
    }
    Some(w)
}

/// Pods a Job runs at once: `parallelism` (default 1), at most `completions`,
/// none while suspended.
fn job(w: &mut Workload<'_>, object: &Value, spec: &str) -> u64 {
    let parallelism = w.count(object, &format!("{spec}/parallelism"), 1);
    let completions = w.count(object, &format!("{spec}/completions"), u64::MAX);
    let suspended = object
        .pointer(&format!("{spec}/suspend"))
        .and_then(Value::as_bool)
        == Some(true);
    if suspended {
        0
    } else {
        parallelism.min(completions)
    }
}

/// A KubeRay cluster: one head pod, and per worker group `replicas`
/// (defaulting to `minReplicas`, then 0 as KubeRay does) × `numOfHosts`.
fn ray<'a>(w: &mut Workload<'a>, object: &'a Value, cluster: &str) {
    w.template(object, &format!("{cluster}/headGroupSpec/template"), 1);
    let groups = object
        .pointer(&format!("{cluster}/workerGroupSpecs"))
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    for i in 0..groups {
        let group = format!("{cluster}/workerGroupSpecs/{i}");
        let min = w.count(object, &format!("{group}/minReplicas"), 0);
        let replicas = w.count(object, &format!("{group}/replicas"), min);
        let hosts = w.count(object, &format!("{group}/numOfHosts"), 1);
        w.template(
            object,
            &format!("{group}/template"),
            replicas.saturating_mul(hosts),
        );
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// (pod spec pointer, replicas) of each group.
    fn groups(object: Value) -> Vec<(String, u64)> {
        let w = pods(&object, None).expect("a workload");
        w.groups
            .iter()
            .map(|g| (g.pointer.clone(), g.replicas))
            .collect()
    }

    fn template() -> Value {
        json!({"metadata": {"labels": {"team": "a"}}, "spec": {"containers": []}})
    }

    #[test]
    fn kubernetes_kinds() {
        let t = template();
        assert_eq!(
            groups(json!({"apiVersion": "v1", "kind": "Pod", "spec": {}})),
            [("/spec".into(), 1)]
        );
        for kind in ["Deployment", "StatefulSet", "ReplicaSet"] {
            let o = json!({"apiVersion": "apps/v1", "kind": kind, "spec": {"replicas": 3, "template": t}});
            assert_eq!(groups(o), [("/spec/template/spec".into(), 3)], "{kind}");
        }
        let o = json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": t}});
        assert_eq!(groups(o), [("/spec/template/spec".into(), 1)]);
        let o = json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 0, "template": t}});
        assert_eq!(groups(o), [("/spec/template/spec".into(), 0)]);
        let o = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "spec": {"template": t}});
        assert_eq!(groups(o), [("/spec/template/spec".into(), 1)]);
        assert!(pods(&json!({"apiVersion": "v1", "kind": "ConfigMap"}), None).is_none());
        assert!(
            pods(
                &json!({"apiVersion": "example.com/v1", "kind": "Deployment"}),
                None
            )
            .is_none()
        );
        assert!(pods(&json!({"kind": 3}), None).is_none());
        // Without a kind in the object, the admission request's kind decides.
        let bare = json!({"spec": {"jobTemplate": {"spec": {"template": t}}}});
        assert!(pods(&bare, None).is_none());
        assert!(pods(&bare, Some(("", ""))).is_none());
        let w = pods(&bare, Some(("batch", "CronJob"))).unwrap();
        assert_eq!(w.groups[0].pointer, "/spec/jobTemplate/spec/template/spec");
    }

    #[test]
    fn jobs() {
        let t = template();
        let job = |spec: Value| json!({"apiVersion": "batch/v1", "kind": "Job", "spec": spec});
        assert_eq!(groups(job(json!({"template": t})))[0].1, 1);
        assert_eq!(
            groups(job(json!({"template": t, "parallelism": 4})))[0].1,
            4
        );
        assert_eq!(
            groups(job(
                json!({"template": t, "parallelism": 4, "completions": 2})
            ))[0]
                .1,
            2
        );
        assert_eq!(
            groups(job(
                json!({"template": t, "parallelism": 4, "suspend": true})
            ))[0]
                .1,
            0
        );
        let w = job(json!({"template": t, "activeDeadlineSeconds": 7200}));
        assert_eq!(pods(&w, None).unwrap().hours_per_month, 2.0);
        let cron = json!({"apiVersion": "batch/v1", "kind": "CronJob", "spec": {"jobTemplate": {"spec": {"parallelism": 2, "template": t}}}});
        assert_eq!(
            groups(cron),
            [("/spec/jobTemplate/spec/template/spec".into(), 2)]
        );
        let cron = json!({"apiVersion": "batch/v1", "kind": "CronJob", "spec": {"suspend": true, "jobTemplate": {"spec": {"template": t}}}});
        assert_eq!(groups(cron)[0].1, 0);
    }

    #[test]
    fn kserve() {
        let isvc = json!({"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "spec": {
            "predictor": {"minReplicas": 2, "model": {"resources": {}}, "containers": [{"name": "side"}]},
            "transformer": {"containers": [{"name": "t"}]},
            "explainer": {"minReplicas": 0, "alibi": {"type": "AnchorImages"}}
        }});
        assert_eq!(
            groups(isvc.clone()),
            [
                ("/spec/predictor".into(), 2),
                ("/spec/transformer".into(), 1),
                ("/spec/explainer".into(), 0)
            ]
        );
        let w = pods(&isvc, None).unwrap();
        let extra: Vec<_> = w.groups[0]
            .extra
            .iter()
            .map(|c| c.pointer.as_str())
            .collect();
        assert_eq!(extra, ["/spec/predictor/model"]);
        assert_eq!(w.groups[2].extra[0].pointer, "/spec/explainer/alibi");

        let llm = json!({"apiVersion": "serving.kserve.io/v1alpha2", "kind": "LLMInferenceService", "spec": {
            "replicas": 3, "template": {"containers": []}, "prefill": {"template": {"containers": []}}}});
        assert_eq!(
            groups(llm),
            [
                ("/spec/template".into(), 3),
                ("/spec/prefill/template".into(), 1)
            ]
        );
    }

    #[test]
    fn kuberay() {
        let t = template();
        let cluster = json!({"headGroupSpec": {"template": t}, "workerGroupSpecs": [
            {"replicas": 2, "numOfHosts": 2, "template": t},
            {"minReplicas": 3, "template": t},
            {"template": t}
        ]});
        let want: Vec<(String, u64)> = vec![
            (
                "/spec/rayClusterConfig/headGroupSpec/template/spec".into(),
                1,
            ),
            (
                "/spec/rayClusterConfig/workerGroupSpecs/0/template/spec".into(),
                4,
            ),
            (
                "/spec/rayClusterConfig/workerGroupSpecs/1/template/spec".into(),
                3,
            ),
            (
                "/spec/rayClusterConfig/workerGroupSpecs/2/template/spec".into(),
                0,
            ),
        ];
        let service = json!({"apiVersion": "ray.io/v1", "kind": "RayService", "spec": {"rayClusterConfig": cluster}});
        assert_eq!(groups(service), want);
        let raw = json!({"apiVersion": "ray.io/v1", "kind": "RayCluster", "spec": cluster});
        assert_eq!(groups(raw).len(), 4);
        let job = json!({"apiVersion": "ray.io/v1", "kind": "RayJob", "spec": {"rayClusterSpec": cluster}});
        assert_eq!(groups(job)[1].1, 4);
    }

    #[test]
    fn invalid_counts() {
        let o = json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": "3", "template": template()}});
        let w = pods(&o, None).unwrap();
        assert_eq!(w.groups[0].replicas, 1);
        assert_eq!(w.problems[0].pointer, "/spec/replicas");
        assert_eq!(w.problems[0].code, INVALID_QUANTITY);
        let o = json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": -1, "template": template()}});
        assert_eq!(pods(&o, None).unwrap().problems.len(), 1);
    }
}
