//! Judging a Kubernetes object (admission request or manifest): price it,
//! check it against its namespace's and team's budgets, and require the
//! labels cost allocation needs.

use std::collections::BTreeMap;

use crate::pod::{self, Pod};
use crate::pricing::{self, GPU, MIG_PREFIX};
use crate::settings::{Enforcement, Settings};
use crate::workload::{self, PodGroup};
use gavel_sdk::prelude::*;

/// Finding code: the workload's monthly cost exceeds a budget.
pub const BUDGET_EXCEEDED: &str = "cost.budget-exceeded";
/// Finding code: a cost-allocation label is missing.
pub const MISSING_LABELS: &str = "cost.missing-allocation-labels";
/// Finding code: a container requests neither CPU nor memory.
pub const MISSING_REQUESTS: &str = "cost.missing-requests";

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// The label value used when a GPU's product is not pinned by the pod spec.
const UNSPECIFIED: &str = "unspecified";

/// What an admission request says about its object, used when the object
/// itself does not.
#[derive(Default, Clone, Copy)]
pub struct Context<'a> {
    /// The request's namespace.
    pub namespace: Option<&'a str>,
    /// The request's API group and kind.
    pub group_kind: Option<(&'a str, &'a str)>,
}

/// Judge `object`.
pub fn evaluate(
    object: &Object,
    context: Context<'_>,
    settings: &Settings,
) -> Result<Verdict, Error> {
    let mut verdict = VerdictBuilder::new();
    let Some(workload) = workload::pods(object.value(), context.group_kind) else {
        return Ok(verdict.build());
    };
    for problem in &workload.problems {
        verdict.deny(invalid(problem));
    }

    let mut breakdown = Breakdown::new();
    let mut pod_labels = Vec::new();
    let mut hourly = 0.0;
    for group in workload.groups {
        let PodGroup {
            pointer,
            spec,
            extra,
            labels,
            replicas,
        } = group;
        pod_labels.extend(labels);
        let pod = pod::read(spec, &pointer, extra, settings);
        for problem in &pod.problems {
            verdict.deny(invalid(problem));
        }
        for container in &pod.unrequested {
            verdict.finding(
                finding(
                    MISSING_REQUESTS,
                    "this container requests neither cpu nor memory, so it is priced at 0 and runs BestEffort: set resources.requests.cpu and resources.requests.memory",
                )
                .severity(Severity::Low)
                .path(container.clone()),
            );
        }
        hourly += price_pod(&pod, replicas as f64, settings, &mut breakdown);
    }
    let monthly = hourly * workload.hours_per_month;
    if !monthly.is_finite() {
        return Err(Error::InvalidSubject(
            "the workload's cost is not a finite number: lower its replicas or requests".into(),
        ));
    }

    let label = |key: &str| -> Option<&str> {
        object
            .label(key)
            .or_else(|| pod_labels.iter().find_map(|l| l.get(key)?.as_str()))
    };
    let namespace = object.namespace().or(context.namespace).unwrap_or("");
    let team = label(&settings.team_label).unwrap_or("");

    let missing: Vec<&str> = settings
        .required_labels
        .iter()
        .map(String::as_str)
        .filter(|l| label(l).is_none())
        .collect();
    if !missing.is_empty() {
        let found = finding(
            MISSING_LABELS,
            format!(
                "add the cost-allocation labels {} to metadata.labels and to the pod template, which OpenCost allocates costs by",
                missing.join(", ")
            ),
        )
        .severity(Severity::Medium)
        .path("/metadata/labels");
        enforce(&mut verdict, settings.on_missing_labels, found);
    }

    let budgets = [
        (
            "namespace",
            namespace,
            settings.budgets.namespaces.get(namespace),
        ),
        ("team", team, settings.budgets.teams.get(team)),
    ];
    for (what, name, budget) in budgets {
        let Some(budget) = budget.filter(|_| !name.is_empty()) else {
            continue;
        };
        if monthly > *budget {
            let found = finding(
                BUDGET_EXCEEDED,
                format!(
                    "this workload costs {monthly:.2} USD a month, over the {budget:.2} USD monthly budget of {what} {name}: lower its replicas or resource requests, or raise budgets.{}.{name}",
                    if what == "team" { "teams" } else { "namespaces" }
                ),
            )
            .severity(Severity::High);
            enforce(&mut verdict, settings.on_budget_exceeded, found);
        }
    }

    let kind =
        workload::group_kind(object.value(), context.group_kind).map_or("", |(_, kind)| kind);
    let name = object.name().unwrap_or("");
    let labels = [
        ("kind", kind),
        ("name", name),
        ("namespace", namespace),
        ("team", team),
    ];
    verdict
        .metric_with_labels("hourly_cost_usd", hourly, labels)
        .metric_with_labels("monthly_cost_usd", monthly, labels);
    breakdown.emit(&mut verdict);
    Ok(verdict.build())
}

fn invalid(problem: &pod::Problem) -> FindingBuilder {
    finding(problem.code, problem.message.clone())
        .severity(Severity::High)
        .path(problem.pointer.clone())
}

fn enforce(verdict: &mut VerdictBuilder, enforcement: Enforcement, found: FindingBuilder) {
    match enforcement {
        Enforcement::Deny => verdict.deny(found),
        Enforcement::Warn => verdict.warn(found),
    };
}

/// Requested quantities and hourly costs by (resource, GPU product).
struct Breakdown {
    rows: BTreeMap<(String, Option<String>), (f64, f64)>,
}

impl Breakdown {
    fn new() -> Self {
        Breakdown {
            rows: BTreeMap::new(),
        }
    }

    fn add(&mut self, resource: &str, product: Option<&str>, quantity: f64, hourly: f64) {
        let row = self
            .rows
            .entry((resource.to_owned(), product.map(str::to_owned)))
            .or_default();
        row.0 += quantity;
        row.1 += hourly;
    }

    /// `resource_hourly_cost_usd` per row, and the requested quantities in
    /// their units: `requested_cpu_cores`, `requested_memory_gib`, `requested_gpus`.
    fn emit(&self, verdict: &mut VerdictBuilder) {
        for ((resource, product), (quantity, hourly)) in &self.rows {
            let mut labels = vec![("resource", resource.as_str())];
            if let Some(product) = product {
                labels.push(("product", product));
            }
            verdict.metric_with_labels("resource_hourly_cost_usd", *hourly, labels.clone());
            match resource.as_str() {
                "cpu" => verdict.metric("requested_cpu_cores", *quantity),
                "memory" => verdict.metric("requested_memory_gib", quantity / GIB),
                _ => verdict.metric_with_labels("requested_gpus", *quantity, labels),
            };
        }
    }
}

/// The hourly cost of `replicas` copies of `pod`, recorded in `breakdown`.
/// Resources gavel has no price for (ephemeral storage, hugepages, extended
/// resources other than GPUs) cost nothing here, as in OpenCost's allocation
/// model.
fn price_pod(pod: &Pod, replicas: f64, settings: &Settings, breakdown: &mut Breakdown) -> f64 {
    let prices = &settings.prices;
    let (gpu_price, product) = pricing::dearest(prices, &pod.products);
    let product_label = product.unwrap_or(UNSPECIFIED);
    let mut total = 0.0;
    for (resource, amount) in &pod.requests {
        let quantity = amount * replicas;
        let (unit_price, product) = if resource == "cpu" {
            (prices.cpu_core_hour, None)
        } else if resource == "memory" {
            (prices.ram_gib_hour / GIB, None)
        } else if resource == GPU {
            (gpu_price, Some(product_label))
        } else if let Some(profile) = resource.strip_prefix(MIG_PREFIX) {
            (
                mig_price(settings, profile, &pod.products),
                Some(product_label),
            )
        } else if let Some(slots) = settings.time_sliced_resources.get(resource) {
            (gpu_price / f64::from(*slots), Some(product_label))
        } else if pod::is_gpu(resource, settings) {
            // A shared GPU (`nvidia.com/gpu.shared`) whose slot count is not
            // configured: priced as a whole GPU, so that it is never free.
            (gpu_price, Some(product_label))
        } else {
            continue;
        };
        let hourly = quantity * unit_price;
        breakdown.add(resource, product, quantity, hourly);
        total += hourly;
    }
    total
}

/// A MIG slice's price on the dearest of the GPU products a pod may land on.
fn mig_price(settings: &Settings, profile: &str, products: &[String]) -> f64 {
    let prices = &settings.prices;
    products
        .iter()
        .map(|p| pricing::mig_slice_hour(prices, profile, Some(p)))
        .fold(None, |best: Option<f64>, p| {
            Some(best.map_or(p, |b| b.max(p)))
        })
        .unwrap_or_else(|| pricing::mig_slice_hour(prices, profile, None))
}
