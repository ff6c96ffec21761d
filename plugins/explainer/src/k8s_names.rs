//! Kubernetes name syntax, for annotation values that name objects and for
//! label keys in settings. gavel-sdk has no validators yet.

/// An RFC 1123 label (`[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63
/// characters): the syntax of namespace names.
pub fn is_dns_label(name: &str) -> bool {
    name.len() <= 63 && is_dns_label_chars(name)
}

/// An RFC 1123 subdomain (labels joined by `.`, at most 253 characters): the
/// syntax of most object names, including custom resources.
pub fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(is_dns_label_chars)
}

fn is_dns_label_chars(label: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    label.starts_with(alnum)
        && label.ends_with(alnum)
        && label.chars().all(|c| alnum(c) || c == '-')
}

/// A qualified name, the syntax of label and annotation keys: an optional
/// DNS-subdomain prefix and `/`, then a name of at most 63 characters that
/// starts and ends with a letter or digit and may contain `-`, `_` and `.`.
pub fn is_qualified_name(key: &str) -> bool {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let alnum = |c: char| c.is_ascii_alphanumeric();
    prefix.is_none_or(is_dns_subdomain)
        && name.len() <= 63
        && name.starts_with(alnum)
        && name.ends_with(alnum)
        && name
            .chars()
            .all(|c| alnum(c) || matches!(c, '-' | '_' | '.'))
}

/// A reference to an object by `name` or `namespace/name`.
pub fn is_object_reference(reference: &str) -> bool {
    match reference.split_once('/') {
        Some((namespace, name)) => is_dns_label(namespace) && is_dns_subdomain(name),
        None => is_dns_subdomain(reference),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for (key, ok) in [
            ("gavel.dev/eu-ai-act-risk", true),
            ("version", true),
            ("app.kubernetes.io/version", true),
            ("A_b.C", true),
            ("", false),
            ("/x", false),
            ("x/", false),
            ("-x", false),
            ("a b", false),
            ("Gavel.dev/x", false),
            (&"x".repeat(64), false),
        ] {
            assert_eq!(is_qualified_name(key), ok, "{key:?}");
        }
        for (reference, ok) in [
            ("image-classifier-shap-explainer", true),
            ("ai-prod/image-classifier-shap-explainer", true),
            ("explainers.v3", true),
            ("", false),
            ("Upper", false),
            ("a/b/c", false),
            ("ns./name", false),
            ("name-", false),
            ("a..b", false),
            (&format!("{}/x", "n".repeat(64)), false),
        ] {
            assert_eq!(is_object_reference(reference), ok, "{reference:?}");
        }
    }
}
