//! AdmissionReview v1 parsing: the envelope is typed, the objects stay JSON
//! text (borrowed as raw JSON, copied once, never re-serialised).

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::subject::{
    AdmissionRequest, GroupVersionKind, GroupVersionResource, Operation, UserInfo,
};

/// `apiVersion`s gavel answers. v1beta1 has the same shape and is still sent
/// by clusters whose webhook configuration lists it first.
pub const API_VERSIONS: [&str; 2] = ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"];

/// A parsed AdmissionReview request.
#[derive(Debug, Clone, PartialEq)]
pub struct AdmissionReview {
    /// The `apiVersion` the request used; the response must use the same.
    pub api_version: String,
    /// The request.
    pub request: AdmissionRequest,
}

/// Why a body is not an AdmissionReview gavel can answer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AdmissionReviewError {
    /// Not JSON, or JSON of the wrong shape.
    #[error("malformed AdmissionReview: {0}")]
    Malformed(String),
    /// Wrong `apiVersion`.
    #[error(
        "unsupported AdmissionReview apiVersion `{0}`: send admission.k8s.io/v1 (set admissionReviewVersions: [\"v1\"] in the webhook configuration)"
    )]
    ApiVersion(String),
    /// Wrong `kind`.
    #[error("kind is `{0}`, expected AdmissionReview")]
    Kind(String),
    /// No `request`.
    #[error("AdmissionReview has no request: the API server sends one with every review")]
    MissingRequest,
    /// No or empty `request.uid`.
    #[error("AdmissionReview request has no uid: the response must echo it, so it is required")]
    MissingUid,
    /// Unknown `request.operation`.
    #[error("unknown operation `{0}`: expected CREATE, UPDATE, DELETE or CONNECT")]
    Operation(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire<'a> {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(borrow, default)]
    request: Option<WireRequest<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireRequest<'a> {
    #[serde(default)]
    uid: String,
    #[serde(default)]
    kind: GroupVersionKind,
    #[serde(default)]
    resource: GroupVersionResource,
    #[serde(default)]
    sub_resource: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    operation: String,
    #[serde(default)]
    user_info: WireUserInfo,
    #[serde(borrow, default)]
    object: Option<&'a RawValue>,
    #[serde(borrow, default)]
    old_object: Option<&'a RawValue>,
    #[serde(default)]
    dry_run: Option<bool>,
}

#[derive(Deserialize, Default)]
struct WireUserInfo {
    #[serde(default)]
    username: String,
    #[serde(default)]
    uid: String,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    extra: std::collections::BTreeMap<String, Vec<String>>,
}

fn raw_object(raw: Option<&RawValue>) -> Option<String> {
    // `"object": null` arrives as Some(raw "null") with serde_json's RawValue.
    raw.map(RawValue::get)
        .filter(|text| text.trim() != "null")
        .map(str::to_owned)
}

impl AdmissionReview {
    /// Parse an AdmissionReview request body.
    pub fn from_json(body: &[u8]) -> Result<AdmissionReview, AdmissionReviewError> {
        let wire: Wire<'_> = serde_json::from_slice(body)
            .map_err(|e| AdmissionReviewError::Malformed(e.to_string()))?;
        if !API_VERSIONS.contains(&wire.api_version.as_str()) {
            return Err(AdmissionReviewError::ApiVersion(wire.api_version));
        }
        if wire.kind != "AdmissionReview" {
            return Err(AdmissionReviewError::Kind(wire.kind));
        }
        let r = wire.request.ok_or(AdmissionReviewError::MissingRequest)?;
        if r.uid.is_empty() {
            return Err(AdmissionReviewError::MissingUid);
        }
        let operation = match r.operation.as_str() {
            "CREATE" => Operation::Create,
            "UPDATE" => Operation::Update,
            "DELETE" => Operation::Delete,
            "CONNECT" => Operation::Connect,
            other => return Err(AdmissionReviewError::Operation(other.to_owned())),
        };
        Ok(AdmissionReview {
            api_version: wire.api_version,
            request: AdmissionRequest {
                uid: r.uid,
                kind: r.kind,
                resource: r.resource,
                sub_resource: r.sub_resource.filter(|s| !s.is_empty()),
                namespace: r.namespace.filter(|s| !s.is_empty()),
                name: r.name.filter(|s| !s.is_empty()),
                operation,
                user_info: UserInfo {
                    username: r.user_info.username,
                    uid: r.user_info.uid,
                    groups: r.user_info.groups,
                    extra: r.user_info.extra.into_iter().collect(),
                },
                dry_run: r.dry_run.unwrap_or(false),
                object: raw_object(r.object),
                old_object: raw_object(r.old_object),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review(request: &str) -> String {
        format!(
            r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{request}}}"#
        )
    }

    #[test]
    fn parses_pod_create() {
        let body = review(
            r#"{"uid":"705ab4f5","kind":{"group":"","version":"v1","kind":"Pod"},
            "resource":{"group":"","version":"v1","resource":"pods"},"namespace":"ml","operation":"CREATE",
            "userInfo":{"username":"alice","groups":["dev"],"extra":{"b":["2"],"a":["1"]}},
            "object":{"metadata":{"name":"p"}},"oldObject":null,"dryRun":true}"#,
        );
        let r = AdmissionReview::from_json(body.as_bytes()).unwrap().request;
        assert_eq!(r.uid, "705ab4f5");
        assert_eq!(r.kind.kind, "Pod");
        assert_eq!(r.resource.resource, "pods");
        assert_eq!(r.namespace.as_deref(), Some("ml"));
        assert_eq!(r.name, None);
        assert_eq!(r.operation, Operation::Create);
        assert!(r.dry_run);
        assert_eq!(r.object.as_deref(), Some(r#"{"metadata":{"name":"p"}}"#));
        assert_eq!(r.old_object, None);
        assert_eq!(
            r.user_info.extra,
            [
                ("a".into(), vec!["1".into()]),
                ("b".into(), vec!["2".into()])
            ]
        );
    }

    #[test]
    fn delete_without_object_key_or_with_null_object() {
        for object in ["", r#","object":null"#] {
            let body = review(&format!(r#"{{"uid":"u","operation":"DELETE"{object}}}"#));
            let r = AdmissionReview::from_json(body.as_bytes()).unwrap().request;
            assert_eq!((r.operation, r.object), (Operation::Delete, None));
        }
    }

    #[track_caller]
    fn check_err(body: &str, expect: AdmissionReviewError) {
        assert_eq!(
            AdmissionReview::from_json(body.as_bytes()).unwrap_err(),
            expect
        );
    }

    #[test]
    fn errors() {
        check_err(
            r#"{"apiVersion":"v1","kind":"AdmissionReview"}"#,
            AdmissionReviewError::ApiVersion("v1".into()),
        );
        check_err(
            r#"{"apiVersion":"admission.k8s.io/v1","kind":"Pod"}"#,
            AdmissionReviewError::Kind("Pod".into()),
        );
        check_err(
            r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#,
            AdmissionReviewError::MissingRequest,
        );
        check_err(
            &review(r#"{"operation":"CREATE"}"#),
            AdmissionReviewError::MissingUid,
        );
        check_err(
            &review(r#"{"uid":"u","operation":"PATCH"}"#),
            AdmissionReviewError::Operation("PATCH".into()),
        );
        assert!(matches!(
            AdmissionReview::from_json(b"{not json"),
            Err(AdmissionReviewError::Malformed(_))
        ));
    }
}
