//! JSON pointers (RFC 6901) for finding paths. gavel-sdk computes pointers
//! for containers only; annotation keys contain `/` and need escaping.

/// `base` extended by one reference token, escaped (`~` → `~0`, `/` → `~1`):
/// `child("/metadata/annotations", "gavel.dev/explainer")` is
/// `/metadata/annotations/gavel.dev~1explainer`.
pub fn child(base: &str, token: &str) -> String {
    format!("{base}/{}", token.replace('~', "~0").replace('/', "~1"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes() {
        assert_eq!(
            super::child("/metadata/annotations", "gavel.dev/explainer"),
            "/metadata/annotations/gavel.dev~1explainer"
        );
        assert_eq!(super::child("", "a~/b"), "/a~0~1b");
    }
}
