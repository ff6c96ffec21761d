//! # gpu-limits: GPU containers must be limited and capped, objects labelled
//!
//! Every container that requests `nvidia.com/gpu` must also set it in
//! `resources.limits`, no container may ask for more than
//! `maxGpusPerContainer` GPUs, and the object must carry every label in
//! `labels` (default `team` and `cost-center`). Containers are found in pods,
//! in the pod templates of workloads (see `gavel_sdk::k8s::pod_spec_pointer`)
//! and in KServe InferenceService components.
//!
//! It is the "simple" policy of gavel's benchmark against native Rust, Rego
//! and CEL (`benches/`); the README lists what it checks. `judge` is the
//! whole policy. Most of this file is how it reads its input fast (below):
//! for a plugin that reads objects the simple way, through
//! `Subject::parse_object`, see `plugins/required-labels`.
//!
//! ## Reading only what the policy needs
//!
//! Rather than parse the whole object into a `serde_json::Value`
//! ([`Subject::parse_object`]), `evaluate` deserializes the object's text
//! ([`Subject::object_text`]) into a few structs (`Input` and below) that hold only the fields the policy
//! reads: serde skips the rest without building it, and strings are borrowed
//! from the text unless they have escapes. Every such field accepts any JSON
//! value and reads one of an unexpected type as absent, as `Value::get` and
//! `Value::as_str` would, so verdicts are those of the SDK's [`Object`]; text
//! the structs refuse (invalid JSON, a repeated key) goes through [`Object`],
//! for its error or its reading. One difference remains: in the fields it
//! skips, serde_json does not enforce the limits of its full parse (a lone
//! surrogate `\u` escape, a number beyond `f64`, nesting deeper than 128), so
//! such an object is judged where [`Object`] refuses it.
//!
//! Measured with `compare --policy gpu-limits` (docs/performance.md): 26–30%
//! less time per evaluation than the `Value` version, and on the 4 KB Pod
//! gavel's overhead over native Rust fell from 18 to 6 µs.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use gavel_sdk::k8s::{KSERVE_FRAMEWORKS, pod_spec_pointer};
use gavel_sdk::prelude::*;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The GPU resource name the policy is about.
pub const GPU: &str = "nvidia.com/gpu";
/// Finding code: a container requests GPUs without a GPU limit.
pub const LIMIT_MISSING: &str = "gpu.limit-missing";
/// Finding code: a container asks for more GPUs than allowed.
pub const TOO_MANY: &str = "gpu.too-many";
/// Finding code: a GPU count that is not a whole number.
pub const INVALID_QUANTITY: &str = "gpu.invalid-quantity";
/// Finding code: a required label is missing.
pub const LABELS_MISSING: &str = "labels.missing";

/// The plugin's settings.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Settings {
    /// Most GPUs one container may request or be limited to.
    pub max_gpus_per_container: u64,
    /// Labels every object must carry.
    pub labels: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_gpus_per_container: 4,
            labels: vec!["team".into(), "cost-center".into()],
        }
    }
}

/// The plugin.
pub struct GpuLimits;

impl Plugin for GpuLimits {
    type Settings = Settings;

    fn metadata() -> PluginMetadata {
        plugin_metadata!()
            .category(Category::Cost)
            .subjects(SubjectKind::OBJECTS)
            .build()
    }

    fn validate(settings: &Settings) -> Result<(), String> {
        if settings.labels.iter().any(|l| l.trim().is_empty()) {
            return Err("labels: an entry is empty, remove it or name a label".into());
        }
        Ok(())
    }

    fn evaluate(subject: Subject, settings: &Settings) -> Result<Verdict, Error> {
        let Some(text) = subject.object_text() else {
            return Ok(allow());
        };
        match serde_json::from_str::<Obj<Input<'_>>>(text) {
            Ok(input) => Ok(judge(&input.0.unwrap_or_default(), settings)),
            // Not valid JSON, or a key given twice, which the derived structs
            // refuse while `Value` keeps the last value: parse it the SDK's
            // way, for the same error message or the same reading.
            Err(_) => Ok(check(&Object::from_json(text)?, settings)),
        }
    }
}

export_plugin!(GpuLimits);

/// Judge an object the SDK has parsed, for callers that hold an [`Object`]:
/// the same policy as [`GpuLimits`], which reads the subject's text instead.
pub fn check(object: &Object, settings: &Settings) -> Verdict {
    let input = Obj::<Input<'_>>::deserialize(object.value())
        .expect("every field of Input takes any JSON value");
    judge(&input.0.unwrap_or_default(), settings)
}

/// Judge one object: the whole policy.
fn judge(input: &Input<'_>, settings: &Settings) -> Verdict {
    let mut verdict = VerdictBuilder::new();
    for (pointer, container) in input.containers() {
        let [request, limit] = container.gpus();
        if request != Quantity::Absent && limit == Quantity::Absent {
            verdict.deny(
                finding(
                    LIMIT_MISSING,
                    format!("{GPU} is requested without a limit: set resources.limits.{GPU} to the same count"),
                )
                .severity(Severity::High)
                .path(format!("{pointer}/resources/limits")),
            );
        }
        let mut most = 0;
        for (field, quantity) in [("requests", request), ("limits", limit)] {
            match quantity {
                Quantity::Absent => {}
                Quantity::Count(n) => most = most.max(n),
                Quantity::Invalid => {
                    verdict.deny(
                        finding(
                            INVALID_QUANTITY,
                            format!("{GPU} must be a whole number of GPUs, such as 1 or \"2\""),
                        )
                        .severity(Severity::High)
                        .path(format!("{pointer}/resources/{field}/nvidia.com~1gpu")),
                    );
                }
            }
        }
        if most > settings.max_gpus_per_container {
            verdict.deny(
                finding(
                    TOO_MANY,
                    format!(
                        "this container asks for {most} GPUs, at most {} are allowed per container: split the work or lower the count",
                        settings.max_gpus_per_container
                    ),
                )
                .severity(Severity::High)
                .path(pointer),
            );
        }
    }
    let labels = input.metadata.get().map(|m| &m.labels);
    let missing: Vec<&str> = settings
        .labels
        .iter()
        .map(String::as_str)
        .filter(|l| !labels.is_some_and(|labels| labels.has(l)))
        .collect();
    if !missing.is_empty() {
        verdict.deny(
            finding(
                LABELS_MISSING,
                format!("add labels: {}", missing.join(", ")),
            )
            .path("/metadata/labels"),
        );
    }
    verdict.build()
}

// ------------------------------------------------------- what the policy reads

/// The parts of a Kubernetes object the policy reads.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct Input<'a> {
    #[serde(borrow)]
    kind: Text<'a>,
    #[serde(borrow)]
    metadata: Obj<Metadata<'a>>,
    /// `spec`: a Pod's pod spec, a workload's or an InferenceService's spec.
    spec: Obj<Spec>,
    /// A PodTemplate's `template`.
    template: Obj<Template>,
}

impl Input<'_> {
    /// Every container with its JSON pointer: the init, app and ephemeral
    /// containers of the pod spec, and for a KServe InferenceService each
    /// component's containers and model-server containers.
    fn containers(&self) -> Vec<(String, &Container)> {
        let mut found = Vec::new();
        let kind = self.kind.as_str();
        if let Some((pointer, spec)) = kind.and_then(|kind| self.pod_spec(kind)) {
            for (field, list) in [
                ("initContainers", &spec.init_containers),
                ("containers", &spec.containers),
                ("ephemeralContainers", &spec.ephemeral_containers),
            ] {
                for (i, c) in list.0.iter().enumerate() {
                    if let Some(c) = c.get() {
                        found.push((format!("{pointer}/{field}/{i}"), c));
                    }
                }
            }
        }
        let Some(spec) = self.spec.get().filter(|_| kind == Some("InferenceService")) else {
            return found;
        };
        for (name, component) in [
            ("predictor", &spec.predictor),
            ("transformer", &spec.transformer),
            ("explainer", &spec.explainer),
        ] {
            for (i, c) in component.containers.0.iter().enumerate() {
                if let Some(c) = c.get() {
                    found.push((format!("/spec/{name}/containers/{i}"), c));
                }
            }
            for (framework, c) in KSERVE_FRAMEWORKS.iter().zip(&component.frameworks) {
                if let Some(c) = c.get() {
                    found.push((format!("/spec/{name}/{framework}"), c));
                }
            }
        }
        found
    }

    /// The pod spec of an object of `kind` and its JSON pointer, from where
    /// `pod_spec_pointer` says that kind keeps it.
    fn pod_spec(&self, kind: &str) -> Option<(&'static str, &Spec)> {
        let pointer = pod_spec_pointer(kind)?;
        let spec = self.spec.get();
        let pod_spec = match pointer {
            "/spec" => spec,
            "/spec/template/spec" => spec?.template.spec(),
            "/template/spec" => self.template.spec(),
            "/spec/jobTemplate/spec/template/spec" => spec?.job_template.spec()?.template.spec(),
            _ => None,
        };
        Some((pointer, pod_spec?))
    }
}

/// `metadata`.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct Metadata<'a> {
    #[serde(borrow)]
    labels: Labels<'a>,
}

/// A `spec` of any kind the policy reads: a pod spec (a Pod's, or a pod
/// template's), a workload's spec or an InferenceService's spec. Which
/// fields count depends on the kind (see `Input::pod_spec`).
#[derive(Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Spec {
    /// Pod spec: `initContainers`.
    init_containers: List<Obj<Container>>,
    /// Pod spec: `containers`.
    containers: List<Obj<Container>>,
    /// Pod spec: `ephemeralContainers`.
    ephemeral_containers: List<Obj<Container>>,
    /// Workloads: the pod `template`.
    template: Obj<Template>,
    /// CronJob: `jobTemplate`, whose spec holds the pod template.
    job_template: Obj<Template>,
    /// InferenceService: `predictor`.
    predictor: Component,
    /// InferenceService: `transformer`.
    transformer: Component,
    /// InferenceService: `explainer`.
    explainer: Component,
}

/// A pod template, or a CronJob's job template.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct Template {
    spec: Obj<Box<Spec>>,
}

impl Obj<Template> {
    /// The template's `spec`.
    fn spec(&self) -> Option<&Spec> {
        self.get()?.spec.get().map(Box::as_ref)
    }
}

/// A KServe InferenceService component.
#[derive(Default)]
struct Component {
    containers: List<Obj<Container>>,
    /// The model-server container under each of `KSERVE_FRAMEWORKS`, in order.
    frameworks: [Obj<Container>; KSERVE_FRAMEWORKS.len()],
}

/// A container; only its GPU resources matter.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct Container {
    resources: Obj<Resources>,
}

impl Container {
    /// The GPU quantities in `resources.requests` and `resources.limits`.
    fn gpus(&self) -> [Quantity; 2] {
        let Some(resources) = self.resources.get() else {
            return [Quantity::Absent; 2];
        };
        [&resources.requests, &resources.limits]
            .map(|list| list.get().map_or(Quantity::Absent, |list| list.gpu))
    }
}

/// `resources`.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct Resources {
    requests: Obj<ResourceList>,
    limits: Obj<ResourceList>,
}

/// `requests` or `limits`.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct ResourceList {
    #[serde(rename = "nvidia.com/gpu")]
    gpu: Quantity,
}

/// A GPU count in `requests` or `limits`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Quantity {
    /// Not given.
    #[default]
    Absent,
    /// A JSON integer, or a string of decimal digits (`"2"`), as Kubernetes
    /// writes whole extended resources.
    Count(u64),
    /// Anything else: `"0.5"`, `"1k"`, `-1`, `1.0`, `true`, `null`, ...
    Invalid,
}

/// `labels`: each key and whether its value is a string (only those count),
/// in order, so that the last of a repeated key wins as in `Value`.
#[derive(Default)]
struct Labels<'a>(Vec<(Cow<'a, str>, bool)>);

impl Labels<'_> {
    /// Whether label `key` is there, with a string value.
    fn has(&self, key: &str) -> bool {
        let last = self.0.iter().rev().find(|(k, _)| k == key);
        last.is_some_and(|&(_, string)| string)
    }
}

/// An object's fields, when the value is a JSON object; `None` for any other.
struct Obj<T>(Option<T>);

impl<T> Obj<T> {
    /// The fields, when the value was an object.
    fn get(&self) -> Option<&T> {
        self.0.as_ref()
    }
}

impl<T> Default for Obj<T> {
    fn default() -> Self {
        Obj(None)
    }
}

/// The elements of a JSON array; empty for any other value.
struct List<T>(Vec<T>);

impl<T> Default for List<T> {
    fn default() -> Self {
        List(Vec::new())
    }
}

/// A JSON string, borrowed from the text unless it has escapes; `None` for
/// any other value.
#[derive(Default)]
struct Text<'a>(Option<Cow<'a, str>>);

impl Text<'_> {
    /// The string.
    fn as_str(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

// ------------------------------------------------ reading any JSON value

/// A type that reads any JSON value: it says what it makes of each JSON type,
/// and anything it does not override reads as [`Loose::other`].
trait Loose<'de>: Default {
    /// `null`, a boolean, a float or a negative integer.
    fn other() -> Self {
        Self::default()
    }

    /// An integer of at least zero.
    fn unsigned(_n: u64) -> Self {
        Self::other()
    }

    /// A string.
    fn string(_s: Cow<'de, str>) -> Self {
        Self::other()
    }

    /// An array, skipped.
    fn array<A: SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Self::other())
    }

    /// An object, skipped.
    fn object<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Self::other())
    }
}

impl<'de, T: Deserialize<'de>> Loose<'de> for Obj<T> {
    fn object<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(|t| Obj(Some(t)))
    }
}

impl<'de, T: Deserialize<'de>> Loose<'de> for List<T> {
    fn array<A: SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        let mut list = Vec::new();
        while let Some(element) = seq.next_element()? {
            list.push(element);
        }
        Ok(List(list))
    }
}

impl<'de: 'a, 'a> Loose<'de> for Text<'a> {
    fn string(s: Cow<'de, str>) -> Self {
        Text(Some(s))
    }
}

impl<'de: 'a, 'a> Loose<'de> for Labels<'a> {
    fn object<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut labels = Vec::new();
        while let Some((key, value)) = map.next_entry::<Text<'de>, Text<'de>>()? {
            labels.push((key.0.unwrap_or_default(), value.0.is_some()));
        }
        Ok(Labels(labels))
    }
}

impl<'de> Loose<'de> for Component {
    fn object<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut component = Component::default();
        // A repeated key overwrites: the last one wins, as in `Value`.
        while let Some(key) = map.next_key::<Text<'de>>()? {
            let key = key.as_str().unwrap_or_default();
            if key == "containers" {
                component.containers = map.next_value()?;
            } else if let Some(i) = KSERVE_FRAMEWORKS.iter().position(|f| *f == key) {
                component.frameworks[i] = map.next_value()?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(component)
    }
}

impl<'de> Loose<'de> for Quantity {
    fn other() -> Self {
        Quantity::Invalid
    }

    fn unsigned(n: u64) -> Self {
        Quantity::Count(n)
    }

    fn string(s: Cow<'de, str>) -> Self {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Quantity::Invalid;
        }
        s.parse().map_or(Quantity::Invalid, Quantity::Count)
    }
}

/// Deserializes a [`Loose`] type from any JSON value.
struct LooseVisitor<T>(PhantomData<T>);

impl<'de, T: Loose<'de>> Visitor<'de> for LooseVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        Ok(T::other())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<T, E> {
        Ok(T::other())
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<T, E> {
        Ok(T::unsigned(n))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<T, E> {
        // `Value` keeps an integer of at least zero as a u64 however it came.
        Ok(u64::try_from(n).map_or_else(|_| T::other(), T::unsigned))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<T, E> {
        Ok(T::other())
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<T, E> {
        Ok(T::string(Cow::Borrowed(s)))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<T, E> {
        Ok(T::string(Cow::Owned(s.to_owned())))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<T, A::Error> {
        T::array(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::object(map)
    }
}

/// Implement `Deserialize` for [`Loose`] types, through [`LooseVisitor`].
macro_rules! deserialize_loosely {
    ($([$($generics:tt)*] $ty:ty),* $(,)?) => {$(
        impl<$($generics)*> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_any(LooseVisitor(PhantomData))
            }
        }
    )*};
}

deserialize_loosely!(
    ['de, T: Deserialize<'de>] Obj<T>,
    ['de, T: Deserialize<'de>] List<T>,
    ['de: 'a, 'a] Text<'a>,
    ['de: 'a, 'a] Labels<'a>,
    ['de] Component,
    ['de] Quantity,
);

#[cfg(test)]
mod tests;
