//! Wildcard patterns for names in settings: `*` matches any run of
//! characters (including none and including dots), everything else matches
//! itself. `*.svc.cluster.local`, `*_TOKEN` and `gen_ai.prompt.*` are the
//! shapes operators write; full globbing or regular expressions would only
//! add ways to get them wrong.

/// Whether `name` matches `pattern`, optionally ignoring ASCII case.
pub fn matches(pattern: &str, name: &str, ignore_case: bool) -> bool {
    let eq = |a: &str, b: &str| {
        if ignore_case {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    };
    let mut parts = pattern.split('*');
    // `split` always yields at least one part.
    let first = parts.next().unwrap_or_default();
    if !name.is_char_boundary(first.len().min(name.len()))
        || name.len() < first.len()
        || !eq(&name[..first.len()], first)
    {
        return false;
    }
    let mut rest = &name[first.len()..];
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        // No `*`: the whole name must have been the first part.
        return rest.is_empty();
    };
    for part in middle {
        match find(rest, part, ignore_case) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len()
        && rest.is_char_boundary(rest.len() - last.len())
        && eq(&rest[rest.len() - last.len()..], last)
}

fn find(haystack: &str, needle: &str, ignore_case: bool) -> Option<usize> {
    if !ignore_case {
        return haystack.find(needle);
    }
    (0..=haystack.len().checked_sub(needle.len())?)
        .filter(|&i| haystack.is_char_boundary(i) && haystack.is_char_boundary(i + needle.len()))
        .find(|&i| haystack[i..i + needle.len()].eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn patterns() {
        for (pattern, name, ignore_case, want) in [
            ("gen_ai.prompt", "gen_ai.prompt", false, true),
            ("gen_ai.prompt", "gen_ai.prompt.0.content", false, false),
            ("gen_ai.prompt.*", "gen_ai.prompt.0.content", false, true),
            ("gen_ai.prompt.*", "gen_ai.prompt", false, false),
            ("*.svc", "logger.default.svc", true, true),
            ("*.svc", "svc", true, false),
            (
                "*.svc.cluster.local",
                "Logger.NS.SVC.cluster.local",
                true,
                true,
            ),
            ("*.svc.cluster.local", "evil.com", true, false),
            ("*_TOKEN", "hf_token", true, true),
            ("*_TOKEN", "hf_token", false, false),
            ("*_TOKEN", "TOKEN_URL", true, false),
            ("*", "", false, true),
            ("a*b*c", "a-x-b-y-c", false, true),
            ("a*b*c", "a-x-c-y-b", false, false),
            ("*é*", "café au lait", true, true),
            ("ab*ba", "aba", false, false),
        ] {
            assert_eq!(
                matches(pattern, name, ignore_case),
                want,
                "{pattern:?} ~ {name:?}"
            );
        }
    }
}
