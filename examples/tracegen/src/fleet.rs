//! The simulated cluster: namespaces, model-serving Deployments, their pods
//! and the GPU (or MIG slice) each pod holds.

use rand::RngExt;
use rand::rngs::StdRng;

use crate::scenario::{Anomalies, Scenario};

const NAMESPACES: &[&str] = &["ml-prod", "genai", "risk-scoring", "ml-staging"];
const SERVICES: &[&str] = &[
    "support-chat",
    "loan-advisor",
    "doc-summarizer",
    "claims-triage",
    "code-assistant",
    "hr-screening",
    "search-rerank",
    "translation",
];
/// Serving stacks. `gen_ai.provider.name` has no well-known value for
/// self-hosted inference servers, and the conventions allow a custom value.
const PROVIDERS: &[&str] = &["vllm", "sglang", "vllm", "tgi"];

/// A served model and its time per output token on its GPU, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Model {
    pub(crate) name: &'static str,
    pub(crate) tpot_ms: f64,
}

const MODELS: &[Model] = &[
    Model {
        name: "llama-3.1-8b-instruct",
        tpot_ms: 14.0,
    },
    Model {
        name: "mistral-7b-instruct-v0.3",
        tpot_ms: 13.0,
    },
    Model {
        name: "qwen2.5-14b-instruct",
        tpot_ms: 24.0,
    },
    Model {
        name: "gemma-2-9b-it",
        tpot_ms: 16.0,
    },
    Model {
        name: "llama-3.1-70b-instruct",
        tpot_ms: 38.0,
    },
    Model {
        name: "phi-3.5-mini-instruct",
        tpot_ms: 9.0,
    },
];

/// A GPU product as the GPU operator's `nvidia.com/gpu.product` node label
/// writes it (`DCGM_FI_DEV_NAME` with dashes for spaces, the form the cost
/// plugin's `prices.gpuProducts` keys use), its framebuffer in MiB and its
/// idle and maximum board power in watts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Product {
    pub(crate) name: &'static str,
    pub(crate) mig_profile: Option<&'static str>,
    pub(crate) framebuffer_mib: f64,
    pub(crate) idle_watts: f64,
    pub(crate) max_watts: f64,
}

const PRODUCTS: &[Product] = &[
    Product {
        name: "NVIDIA-H100-80GB-HBM3",
        mig_profile: None,
        framebuffer_mib: 81559.0,
        idle_watts: 70.0,
        max_watts: 700.0,
    },
    Product {
        name: "NVIDIA-A100-SXM4-80GB",
        mig_profile: None,
        framebuffer_mib: 81920.0,
        idle_watts: 55.0,
        max_watts: 400.0,
    },
    // A MIG slice: DCGM reports the framebuffer of the slice but the power of
    // the whole board.
    Product {
        name: "NVIDIA-A100-SXM4-80GB",
        mig_profile: Some("3g.40gb"),
        framebuffer_mib: 40192.0,
        idle_watts: 55.0,
        max_watts: 400.0,
    },
    Product {
        name: "NVIDIA-L4",
        mig_profile: None,
        framebuffer_mib: 23034.0,
        idle_watts: 16.0,
        max_watts: 72.0,
    },
];

/// One GPU or MIG slice.
#[derive(Debug, Clone)]
pub(crate) struct Device {
    /// `GPU-<uuid>` or `MIG-<uuid>`, as `nvidia-smi -L` prints it.
    pub(crate) id: String,
    /// Seeds this device's samples.
    pub(crate) key: u64,
    pub(crate) product: Product,
}

/// One pod of a Deployment; it holds one device.
#[derive(Debug, Clone)]
pub(crate) struct Pod {
    pub(crate) name: String,
    pub(crate) device: Device,
}

/// A model-serving Deployment (the service) and its pods.
#[derive(Debug, Clone)]
pub(crate) struct Service {
    pub(crate) name: String,
    pub(crate) namespace: String,
    pub(crate) provider: &'static str,
    pub(crate) models: Vec<Model>,
    pub(crate) pods: Vec<Pod>,
    pub(crate) anomalies: Anomalies,
    /// Share of the traffic, relative to the other services.
    pub(crate) weight: f64,
}

/// The `index`-th name of `pool`, numbered once the pool runs out.
fn nth_name(pool: &[&str], index: usize) -> String {
    let base = pool[index % pool.len()];
    match index / pool.len() {
        0 => base.to_owned(),
        round => format!("{base}-{}", round + 1),
    }
}

/// Random characters from the alphabet Kubernetes uses for generated names.
fn k8s_suffix(rng: &mut StdRng, len: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

fn uuid(rng: &mut StdRng) -> String {
    let b: [u8; 16] = rng.random();
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Builds the fleet. Consumes `rng` in a fixed order, so it is deterministic.
pub(crate) fn build(
    rng: &mut StdRng,
    scenario: Scenario,
    services: usize,
    namespaces: usize,
    models_per_service: usize,
    replicas: usize,
) -> Vec<Service> {
    let mut device_key = 0;
    (0..services)
        .map(|s| {
            let name = nth_name(SERVICES, s);
            let product = PRODUCTS[s % PRODUCTS.len()];
            let template_hash = k8s_suffix(rng, 10);
            let pods = (0..replicas)
                .map(|_| {
                    device_key += 1;
                    let prefix = if product.mig_profile.is_some() {
                        "MIG"
                    } else {
                        "GPU"
                    };
                    Pod {
                        name: format!("{name}-{template_hash}-{}", k8s_suffix(rng, 5)),
                        device: Device {
                            id: format!("{prefix}-{}", uuid(rng)),
                            key: device_key,
                            product,
                        },
                    }
                })
                .collect();
            let anomalies = scenario.anomalies(s, services);
            Service {
                namespace: nth_name(NAMESPACES, s % namespaces),
                provider: PROVIDERS[s % PROVIDERS.len()],
                models: (0..models_per_service)
                    .map(|m| MODELS[(s + m) % MODELS.len()])
                    .collect(),
                pods,
                // An idle fleet is an over-provisioned one: little traffic
                // for the GPUs it holds.
                weight: if anomalies.idle_gpu { 0.5 } else { 1.0 },
                anomalies,
                name,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_numbered_past_the_pool() {
        assert_eq!(nth_name(NAMESPACES, 0), "ml-prod");
        assert_eq!(nth_name(NAMESPACES, 4), "ml-prod-2");
    }
}
