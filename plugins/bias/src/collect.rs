//! Reading a batch of inference spans into per-group counts: the confusion
//! matrix of each sensitive group, which is all the fairness metrics need.

use std::collections::BTreeMap;

use gavel_sdk::types::{AttributeValue, InferenceSpan};

use crate::scalar::{self, Scalar};
use crate::settings::Settings;

/// What one group's spans add up to. "Favourable" means equal to the
/// positive value; every other value is unfavourable, as in Fairlearn's
/// `selection_rate(pos_label=...)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Spans with a usable prediction.
    pub spans: u64,
    /// Of those, predicted favourable.
    pub selected: u64,
    /// Spans that also carry a usable label.
    pub labelled: u64,
    /// Labelled spans whose label is favourable.
    pub positives: u64,
    /// Positives predicted favourable.
    pub true_positives: u64,
    /// Negatives (labelled, label unfavourable) predicted favourable.
    pub false_positives: u64,
}

impl Counts {
    /// Labelled spans whose label is unfavourable.
    pub(crate) fn negatives(&self) -> u64 {
        self.labelled - self.positives
    }
}

/// A batch read for fairness.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Batch {
    /// Counts per group, by group name (sorted, so output is stable).
    pub groups: BTreeMap<String, Counts>,
    /// Spans with the group attribute but no usable group or prediction.
    pub skipped: u64,
    /// Counted spans whose label has a type that is not an outcome; they
    /// count as unlabelled.
    pub invalid_labels: u64,
    /// Counted spans per model (`gen_ai.request.model`), for the rollback target.
    pub models: BTreeMap<String, u64>,
}

impl Batch {
    /// Whether any span carried the group attribute: a batch without one is
    /// not fairness traffic, and the plugin has nothing to say about it.
    pub(crate) fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.skipped == 0
    }
}

/// Read `spans` as `settings` say.
pub(crate) fn collect(spans: &[InferenceSpan], settings: &Settings) -> Batch {
    let positive = settings.positive_value.outcome_key();
    let label_positive = settings
        .label_positive_value
        .as_ref()
        .map_or_else(|| positive.clone(), Scalar::outcome_key);
    let mut batch = Batch::default();
    for span in spans {
        let Some(group) = attribute(span, &settings.group_attribute) else {
            continue;
        };
        let group = scalar::group_name(group);
        let prediction =
            attribute(span, &settings.prediction_attribute).and_then(scalar::outcome_key);
        let (Some(group), Some(prediction)) = (group, prediction) else {
            batch.skipped += 1;
            continue;
        };
        let label = match attribute(span, &settings.label_attribute) {
            None => None,
            Some(value) => {
                let key = scalar::outcome_key(value);
                batch.invalid_labels += u64::from(key.is_none());
                key
            }
        };
        let selected = prediction == positive;
        let counts = entry(&mut batch.groups, &group);
        counts.spans += 1;
        counts.selected += u64::from(selected);
        if let Some(label) = label {
            let positive_label = label == label_positive;
            counts.labelled += 1;
            counts.positives += u64::from(positive_label);
            counts.true_positives += u64::from(positive_label && selected);
            counts.false_positives += u64::from(!positive_label && selected);
        }
        *entry(&mut batch.models, &span.model) += 1;
    }
    batch
}

/// The first attribute called `key` (OpenTelemetry keys are unique per span).
/// An empty key names no attribute, which is how `labelAttribute: ""` reads
/// no labels.
fn attribute<'a>(span: &'a InferenceSpan, key: &str) -> Option<&'a AttributeValue> {
    if key.is_empty() {
        return None;
    }
    span.attributes
        .iter()
        .find(|a| a.key == key)
        .map(|a| &a.value)
}

/// `map[key]`, inserted as default first; allocates only for a new key, not
/// once per span.
fn entry<'m, V: Default>(map: &'m mut BTreeMap<String, V>, key: &str) -> &'m mut V {
    if !map.contains_key(key) {
        map.insert(key.to_owned(), V::default());
    }
    map.get_mut(key).expect("inserted above")
}
