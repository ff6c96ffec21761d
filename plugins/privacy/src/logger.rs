//! KServe payload loggers that send inference traffic out of the cluster.
//!
//! An InferenceService component with a `logger` (`mode: all`, `request` or
//! `response`) has KServe's agent post a copy of every request and/or response
//! (prompts, features, predictions: often personal data) to `logger.url` as
//! CloudEvents. Sending them to a host outside the allow-list is a disclosure
//! to a new recipient (GDPR Art. 4(9), 28) and may be a transfer abroad
//! (Art. 44). A logger without a `url` uses the cluster's default sink and is
//! not judged.

use gavel_sdk::k8s::Object;
use gavel_sdk::prelude::*;
use serde_json::Value;

use crate::glob;
use crate::report::Report;
use crate::settings::LoggerSettings;
use crate::workload::{COMPONENTS, is_inference_service};

/// A payload logger whose destination is not allowed.
pub const LOGGER_EXTERNAL: &str = "privacy.logger-external";

/// Check the loggers of an InferenceService; add findings to `report`.
pub fn check(object: &Object, settings: &LoggerSettings, report: &mut Report) {
    if !is_inference_service(object) {
        return;
    }
    for component in COMPONENTS {
        let Some(logger) = object.value().pointer(&format!("/spec/{component}/logger")) else {
            continue;
        };
        let Some(url) = logger
            .get("url")
            .and_then(Value::as_str)
            .filter(|u| !u.trim().is_empty())
        else {
            continue;
        };
        // KServe defaults the mode to `all`.
        let mode = logger.get("mode").and_then(Value::as_str).unwrap_or("all");
        let payloads = match mode {
            "request" => "inference requests",
            "response" => "inference responses",
            _ => "inference requests and responses",
        };
        let allowed = settings.allowed_hosts.join(", ");
        let message = match host(url) {
            Some(host)
                if settings
                    .allowed_hosts
                    .iter()
                    .any(|p| glob::matches(p, &host, true)) =>
            {
                continue;
            }
            Some(host) => format!(
                "the {component}'s payload logger (mode {mode}) sends {payloads} to `{host}`, outside logger.allowedHosts ({allowed}): send them to an in-cluster service by its full name (SERVICE.NAMESPACE.svc.cluster.local), or add the host to logger.allowedHosts once it is approved to receive personal data"
            ),
            None => format!(
                "the {component}'s payload logger (mode {mode}) sends {payloads} to a URL with no host that can be checked: give logger.url as http(s)://host/path with an in-cluster host ({allowed})"
            ),
        };
        let found = finding(LOGGER_EXTERNAL, message)
            .severity(Severity::High)
            .path(format!("/spec/{component}/logger/url"));
        report.add(settings.decision.into(), found);
    }
}

/// The host of a URL, lower case, without userinfo, port or a trailing dot;
/// `None` when there is none.
fn host(url: &str) -> Option<String> {
    let url = url.trim();
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = if let Some(bracketed) = authority.strip_prefix('[') {
        bracketed.split_once(']')?.0
    } else {
        authority.split(':').next()?
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::host;

    #[test]
    fn hosts() {
        for (url, want) in [
            (
                "http://message-dumper.default.svc.cluster.local/",
                Some("message-dumper.default.svc.cluster.local"),
            ),
            (
                "https://Logs.Example.COM:8443/ingest?x=1",
                Some("logs.example.com"),
            ),
            (
                "http://user:pw@collector.obs.svc:8080",
                Some("collector.obs.svc"),
            ),
            ("http://[2001:db8::1]:8080/", Some("2001:db8::1")),
            ("collector.obs.svc/path", Some("collector.obs.svc")),
            (
                "http://sink.ns.svc.cluster.local./",
                Some("sink.ns.svc.cluster.local"),
            ),
            ("http:///nohost", None),
            ("", None),
        ] {
            assert_eq!(host(url).as_deref(), want, "{url}");
        }
    }
}
