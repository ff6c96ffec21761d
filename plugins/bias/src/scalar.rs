//! Outcome and group values: span attributes and settings reduced to the
//! text they are compared by.
//!
//! Telemetry pipelines do not agree on types: one SDK records an approval as
//! `true`, another as `1`, a collector may turn either into `"1"`. Outcomes
//! are therefore compared as text, with booleans read as `1` and `0`, so a
//! `positiveValue` of `1` or `true` matches all three. Strings are compared
//! exactly (case-sensitive), as OpenTelemetry attribute values are.

use std::borrow::Cow;
use std::fmt;

use gavel_sdk::types::AttributeValue;
use serde::de::{self, Deserializer, Visitor};

/// A string, integer or boolean from the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scalar {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
}

impl Scalar {
    /// The text an outcome is compared by (see the module documentation).
    pub(crate) fn outcome_key(&self) -> Cow<'_, str> {
        match self {
            Scalar::Str(s) => Cow::Borrowed(s),
            Scalar::Int(i) => Cow::Owned(i.to_string()),
            Scalar::Bool(b) => Cow::Borrowed(bool_digit(*b)),
        }
    }

    /// The name of the group this value selects, as [`group_name`] names
    /// the group of a span.
    pub(crate) fn group_name(&self) -> Cow<'_, str> {
        match self {
            Scalar::Str(s) => Cow::Borrowed(s),
            Scalar::Int(i) => Cow::Owned(i.to_string()),
            Scalar::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        }
    }
}

fn bool_digit(b: bool) -> &'static str {
    if b { "1" } else { "0" }
}

/// The text of an outcome attribute, or `None` for a type that is not an
/// outcome. Floats are refused on purpose: a score such as `0.73` is not a
/// decision, and thresholding it is the model owner's call, not ours.
pub(crate) fn outcome_key(value: &AttributeValue) -> Option<Cow<'_, str>> {
    match value {
        AttributeValue::Str(s) => Some(Cow::Borrowed(s)),
        AttributeValue::Int(i) => Some(Cow::Owned(i.to_string())),
        AttributeValue::Boolean(b) => Some(Cow::Borrowed(bool_digit(*b))),
        _ => None,
    }
}

/// Longest group name accepted. Group names become metric labels and appear
/// in messages; a long value is more likely free text (or an identifier)
/// than a category, and it would bloat every series.
pub(crate) const MAX_GROUP_NAME_BYTES: usize = 64;

/// The group a span belongs to, or `None` when the value is not a string,
/// integer or boolean, or is empty or longer than [`MAX_GROUP_NAME_BYTES`].
/// Booleans name groups `true` and `false`, which reads better in a label
/// than `1` and `0`.
pub(crate) fn group_name(value: &AttributeValue) -> Option<Cow<'_, str>> {
    let name = match value {
        AttributeValue::Str(s) => Cow::Borrowed(s.as_str()),
        AttributeValue::Int(i) => Cow::Owned(i.to_string()),
        AttributeValue::Boolean(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        _ => return None,
    };
    (!name.is_empty() && name.len() <= MAX_GROUP_NAME_BYTES).then_some(name)
}

impl<'de> serde::Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

/// Written by hand because `#[serde(untagged)]` reports only "did not match
/// any variant", which does not say what to write instead.
struct ScalarVisitor;

impl Visitor<'_> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, an integer or a boolean")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Str(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
        Ok(Scalar::Str(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
        i64::try_from(v)
            .map(Scalar::Int)
            .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &"a 64-bit signed integer"))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
        Ok(Scalar::Bool(v))
    }
}
