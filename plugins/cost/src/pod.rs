//! What one pod reserves: its containers' requests combined the way the
//! Kubernetes scheduler combines them, with the problems found on the way
//! (invalid quantities, fractional GPUs, GPU requests that differ from limits).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::pricing::{GPU, MIG_PREFIX};
use crate::quantity::Quantity;
use crate::settings::Settings;

/// Finding code: a quantity or count Kubernetes would reject.
pub const INVALID_QUANTITY: &str = "cost.invalid-quantity";
/// Finding code: a GPU resource that is not a whole number.
pub const GPU_FRACTIONAL: &str = "cost.gpu-fractional";
/// Finding code: GPU requests without equal limits.
pub const GPU_REQUEST_LIMIT: &str = "cost.gpu-request-limit-mismatch";

/// Something wrong at a place in the object.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Finding code.
    pub code: &'static str,
    /// JSON pointer into the object.
    pub pointer: String,
    /// What to change.
    pub message: String,
}

/// What one pod reserves and what is wrong with it.
#[derive(Debug, Default)]
pub struct Pod {
    /// Resource name → amount in base units (cores, bytes, devices).
    pub requests: BTreeMap<String, f64>,
    /// GPU products the pod may be scheduled on (empty: any).
    pub products: Vec<String>,
    /// Problems, in document order.
    pub problems: Vec<Problem>,
    /// Pointers of app containers that request neither CPU nor memory.
    pub unrequested: Vec<String>,
}

/// One container to read: where it is and its JSON.
pub struct ContainerRef<'a> {
    /// JSON pointer to the container.
    pub pointer: String,
    /// The container.
    pub spec: &'a Value,
}

/// Whether `resource` is a GPU (whole, MIG slice or time-sliced) and must
/// therefore be a whole number with requests equal to limits.
pub fn is_gpu(resource: &str, settings: &Settings) -> bool {
    resource == GPU
        || resource.starts_with("nvidia.com/gpu.")
        || resource.starts_with(MIG_PREFIX)
        || settings.time_sliced_resources.contains_key(resource)
}

/// Read the pod spec at `pointer`, plus `extra` containers that live outside
/// the pod spec's lists (KServe's `model:`/`sklearn:` framework containers).
pub fn read(spec: &Value, pointer: &str, extra: Vec<ContainerRef<'_>>, settings: &Settings) -> Pod {
    let mut pod = Pod::default();
    let list = |field: &str| -> Vec<ContainerRef<'_>> {
        spec.get(field)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(i, c)| ContainerRef {
                pointer: format!("{pointer}/{field}/{i}"),
                spec: c,
            })
            .collect()
    };

    // Kubernetes' PodRequests (k8s.io/component-helpers/resource): app
    // containers add up; restartable init containers (sidecars) add up and
    // run beside the later init containers; the pod reserves the larger of
    // the running sum and the peak of any init container.
    let mut total = Amounts::new();
    for c in list("containers").into_iter().chain(extra) {
        let amounts = container(&c, settings, &mut pod);
        if !amounts.contains_key("cpu") && !amounts.contains_key("memory") {
            pod.unrequested.push(c.pointer.clone());
        }
        add(&mut total, &amounts);
    }
    let mut sidecars = Amounts::new();
    let mut init_peak = Amounts::new();
    for c in list("initContainers") {
        let amounts = container(&c, settings, &mut pod);
        let restartable = c.spec.get("restartPolicy").and_then(Value::as_str) == Some("Always");
        let running = if restartable {
            add(&mut total, &amounts);
            add(&mut sidecars, &amounts);
            sidecars.clone()
        } else {
            let mut running = amounts;
            add(&mut running, &sidecars);
            running
        };
        max(&mut init_peak, &running);
    }
    max(&mut total, &init_peak);

    // Pod-level resources (KEP-2837) replace the containers' CPU and memory.
    if let Some(resources) = spec.get("resources").filter(|r| !r.is_null()) {
        let level = requirements(
            resources,
            &format!("{pointer}/resources"),
            settings,
            &mut pod,
        );
        for name in ["cpu", "memory"] {
            if let Some(v) = level.get(name) {
                total.insert(name.to_owned(), *v);
            }
        }
    }
    // RuntimeClass overhead is reserved on top.
    if let Some(overhead) = spec.get("overhead").filter(|o| !o.is_null()) {
        let amounts = quantities(overhead, &format!("{pointer}/overhead"), &mut pod.problems);
        add(
            &mut total,
            &amounts
                .into_iter()
                .map(|(k, (_, v))| (k, v.to_f64()))
                .collect(),
        );
    }

    pod.requests = total;
    pod.products = products(spec, settings);
    pod
}

type Amounts = BTreeMap<String, f64>;

fn add(into: &mut Amounts, from: &Amounts) {
    for (k, v) in from {
        *into.entry(k.clone()).or_default() += v;
    }
}

fn max(into: &mut Amounts, from: &Amounts) {
    for (k, v) in from {
        let slot = into.entry(k.clone()).or_default();
        *slot = slot.max(*v);
    }
}

/// The effective requests of one container.
fn container(c: &ContainerRef<'_>, settings: &Settings, pod: &mut Pod) -> Amounts {
    match c.spec.get("resources").filter(|r| !r.is_null()) {
        Some(resources) => requirements(
            resources,
            &format!("{}/resources", c.pointer),
            settings,
            pod,
        ),
        None => Amounts::new(),
    }
}

/// Read `resources` (requests and limits) at `pointer`: the effective
/// requests, where a request Kubernetes leaves out defaults to the limit.
fn requirements(resources: &Value, pointer: &str, settings: &Settings, pod: &mut Pod) -> Amounts {
    if !resources.is_object() {
        pod.problems.push(Problem {
            code: INVALID_QUANTITY,
            pointer: pointer.to_owned(),
            message: "resources must be a mapping with requests and limits".into(),
        });
        return Amounts::new();
    }
    let empty = Value::Null;
    let requests = quantities(
        resources.get("requests").unwrap_or(&empty),
        &format!("{pointer}/requests"),
        &mut pod.problems,
    );
    let limits = quantities(
        resources.get("limits").unwrap_or(&empty),
        &format!("{pointer}/limits"),
        &mut pod.problems,
    );
    gpu_checks(&requests, &limits, settings, &mut pod.problems);
    let mut effective: Amounts = requests
        .iter()
        .map(|(k, (_, q))| (k.clone(), q.to_f64()))
        .collect();
    for (name, (_, q)) in &limits {
        effective.entry(name.clone()).or_insert_with(|| q.to_f64());
    }
    effective
}

/// A resource list (`{cpu: 100m, memory: 1Gi}`) at `pointer`: name →
/// (JSON pointer of the value, quantity). Unparseable entries become problems.
fn quantities(
    list: &Value,
    pointer: &str,
    problems: &mut Vec<Problem>,
) -> BTreeMap<String, (String, Quantity)> {
    let mut out = BTreeMap::new();
    let map = match list {
        Value::Null => return out,
        Value::Object(map) => map,
        _ => {
            problems.push(Problem {
                code: INVALID_QUANTITY,
                pointer: pointer.to_owned(),
                message: "a resource list must map resource names to quantities".into(),
            });
            return out;
        }
    };
    for (name, value) in map {
        let at = format!("{pointer}/{}", escape(name));
        match Quantity::from_json(value) {
            Ok(q) => {
                out.insert(name.clone(), (at, q));
            }
            Err(e) => problems.push(Problem {
                code: INVALID_QUANTITY,
                message: format!(
                    "the quantity of {name} is not valid because {e}: write a number with an optional suffix, such as 500m, 2, 4Gi or 20G"
                ),
                pointer: at,
            }),
        }
    }
    out
}

/// GPUs are devices: Kubernetes requires extended resources to be whole
/// numbers and, because they cannot be overcommitted, requests to equal limits.
fn gpu_checks(
    requests: &BTreeMap<String, (String, Quantity)>,
    limits: &BTreeMap<String, (String, Quantity)>,
    settings: &Settings,
    problems: &mut Vec<Problem>,
) {
    let sharing = || {
        let shared: Vec<&str> = settings
            .time_sliced_resources
            .keys()
            .map(String::as_str)
            .collect();
        if shared.is_empty() {
            "a MIG slice such as nvidia.com/mig-1g.5gb, or a time-sliced GPU resource (configure timeSlicedResources)".to_owned()
        } else {
            format!(
                "a MIG slice such as nvidia.com/mig-1g.5gb, or the time-sliced resource {}",
                shared.join(" or ")
            )
        }
    };
    for (name, (at, q)) in requests.iter().chain(limits) {
        if is_gpu(name, settings) && !q.is_integer() {
            problems.push(Problem {
                code: GPU_FRACTIONAL,
                pointer: at.clone(),
                message: format!(
                    "{name} is {q}, but GPUs are allocated whole: request a whole number, or share a GPU through {}",
                    sharing()
                ),
            });
        }
    }
    for (name, (at, request)) in requests {
        if !is_gpu(name, settings) {
            continue;
        }
        match limits.get(name) {
            None => problems.push(Problem {
                code: GPU_REQUEST_LIMIT,
                pointer: at.clone(),
                message: format!(
                    "{name} is requested without a limit: set resources.limits.{name} to {request}, since GPUs cannot be overcommitted"
                ),
            }),
            Some((_, limit)) if limit != request => problems.push(Problem {
                code: GPU_REQUEST_LIMIT,
                pointer: at.clone(),
                message: format!(
                    "{name} requests {request} but limits {limit}: make them equal (or set only the limit), since GPUs cannot be overcommitted"
                ),
            }),
            Some(_) => {}
        }
    }
}

/// GPU products a pod spec may land on: the `nodeSelector` value of the first
/// product label it sets, else the `In` values of required node affinity
/// (terms are alternatives, so their values are pooled).
fn products(spec: &Value, settings: &Settings) -> Vec<String> {
    let labels = &settings.gpu_product_labels;
    if let Some(selector) = spec.get("nodeSelector").and_then(Value::as_object) {
        for label in labels {
            if let Some(product) = selector.get(label).and_then(Value::as_str) {
                return vec![product.to_owned()];
            }
        }
    }
    let terms = spec
        .pointer("/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms")
        .and_then(Value::as_array);
    let mut products = Vec::new();
    for term in terms.into_iter().flatten() {
        let expressions = term.get("matchExpressions").and_then(Value::as_array);
        for e in expressions
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
        {
            if is_product_in(e, labels) {
                let values = e.get("values").and_then(Value::as_array);
                for v in values.into_iter().flatten().filter_map(Value::as_str) {
                    if !products.iter().any(|p| p == v) {
                        products.push(v.to_owned());
                    }
                }
            }
        }
    }
    products
}

fn is_product_in(expression: &Map<String, Value>, labels: &[String]) -> bool {
    let key = expression.get("key").and_then(Value::as_str);
    let operator = expression.get("operator").and_then(Value::as_str);
    operator == Some("In") && key.is_some_and(|k| labels.iter().any(|l| l == k))
}

/// Escape a JSON pointer token (RFC 6901): `nvidia.com/gpu` → `nvidia.com~1gpu`.
pub fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(spec: Value) -> Pod {
        read(&spec, "/spec", Vec::new(), &Settings::default())
    }

    fn amount(p: &Pod, resource: &str) -> f64 {
        p.requests.get(resource).copied().unwrap_or(0.0)
    }

    #[test]
    fn requests_default_to_limits_per_resource() {
        let p = pod(json!({"containers": [{"resources": {
            "requests": {"cpu": "500m"},
            "limits": {"cpu": "2", "memory": "1Gi", "nvidia.com/gpu": "1"}}}]}));
        assert_eq!(amount(&p, "cpu"), 0.5);
        assert_eq!(amount(&p, "memory"), 1024.0 * 1024.0 * 1024.0);
        assert_eq!(amount(&p, GPU), 1.0);
        assert!(p.problems.is_empty(), "{:?}", p.problems);
    }

    #[test]
    fn init_containers_and_sidecars() {
        // App: 1 cpu. Sidecar: 0.5 (runs all along). A plain init container
        // of 3 cpu runs beside the sidecar started before it: 3.5 at peak.
        let p = pod(json!({
            "initContainers": [
                {"restartPolicy": "Always", "resources": {"requests": {"cpu": "500m"}}},
                {"resources": {"requests": {"cpu": "3"}}}
            ],
            "containers": [{"resources": {"requests": {"cpu": "1"}}}]
        }));
        assert_eq!(amount(&p, "cpu"), 3.5);
        let p = pod(json!({
            "initContainers": [{"resources": {"requests": {"cpu": "100m"}}}],
            "containers": [{"resources": {"requests": {"cpu": "1"}}}, {"resources": {"requests": {"cpu": "1"}}}]
        }));
        assert_eq!(amount(&p, "cpu"), 2.0);
    }

    #[test]
    fn pod_level_resources_and_overhead() {
        let p = pod(json!({
            "resources": {"requests": {"cpu": "4"}, "limits": {"memory": "8Gi"}},
            "overhead": {"cpu": "250m"},
            "containers": [{"resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]
        }));
        assert_eq!(amount(&p, "cpu"), 4.25);
        assert_eq!(amount(&p, "memory"), 8.0 * 1024.0 * 1024.0 * 1024.0);
    }

    #[test]
    fn gpu_problems() {
        let p = pod(json!({"containers": [{"resources": {
            "requests": {"nvidia.com/gpu": 0.5},
            "limits": {"nvidia.com/gpu": "1"}}}]}));
        let codes: Vec<_> = p
            .problems
            .iter()
            .map(|p| (p.code, p.pointer.as_str()))
            .collect();
        assert_eq!(
            codes,
            [
                (
                    GPU_FRACTIONAL,
                    "/spec/containers/0/resources/requests/nvidia.com~1gpu"
                ),
                (
                    GPU_REQUEST_LIMIT,
                    "/spec/containers/0/resources/requests/nvidia.com~1gpu"
                ),
            ]
        );
        let p = pod(
            json!({"containers": [{"resources": {"requests": {"nvidia.com/mig-1g.5gb": "2"}}}]}),
        );
        assert_eq!(p.problems[0].code, GPU_REQUEST_LIMIT);
        assert!(
            p.problems[0].message.contains("without a limit"),
            "{}",
            p.problems[0].message
        );
        let p = pod(json!({"containers": [{"resources": {
            "requests": {"nvidia.com/gpu": "1000m"}, "limits": {"nvidia.com/gpu": 1}}}]}));
        assert!(p.problems.is_empty(), "{:?}", p.problems);
    }

    #[test]
    fn invalid_quantities() {
        let p = pod(json!({"containers": [
            {"resources": {"limits": {"<nvidia.com/mig-1g.5gb": "1>", "cpu": "1"}}},
            {"resources": "lots"},
            {"resources": {"requests": ["cpu"]}}
        ]}));
        let got: Vec<_> = p
            .problems
            .iter()
            .map(|p| (p.code, p.pointer.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    INVALID_QUANTITY,
                    "/spec/containers/0/resources/limits/<nvidia.com~1mig-1g.5gb"
                ),
                (INVALID_QUANTITY, "/spec/containers/1/resources"),
                (INVALID_QUANTITY, "/spec/containers/2/resources/requests"),
            ]
        );
        assert_eq!(amount(&p, "cpu"), 1.0);
    }

    #[test]
    fn unrequested_containers() {
        let p = pod(
            json!({"containers": [{"name": "a"}, {"resources": {"limits": {"memory": "1Gi"}}}]}),
        );
        assert_eq!(p.unrequested, ["/spec/containers/0"]);
    }

    #[test]
    fn gpu_products() {
        let products = |spec: Value| pod(spec).products;
        assert!(products(json!({})).is_empty());
        assert_eq!(
            products(json!({"nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-L4"}})),
            ["NVIDIA-L4"]
        );
        assert_eq!(
            products(
                json!({"nodeSelector": {"cloud.google.com/gke-accelerator": "nvidia-tesla-t4"}})
            ),
            ["nvidia-tesla-t4"]
        );
        let affinity = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [
            {"matchExpressions": [{"key": "nvidia.com/gpu.product", "operator": "In", "values": ["A", "B"]}]},
            {"matchExpressions": [
                {"key": "nvidia.com/gpu.product", "operator": "In", "values": ["B", "C"]},
                {"key": "nvidia.com/gpu.product", "operator": "NotIn", "values": ["D"]},
                {"key": "zone", "operator": "In", "values": ["z"]}
            ]}
        ]}}}});
        assert_eq!(products(affinity), ["A", "B", "C"]);
    }
}
