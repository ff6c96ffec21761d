//! E-mail addresses: `local@domain`, found from each `@`.
//!
//! The local part takes the characters addresses use in practice (letters,
//! digits and `._%+-`); the domain needs at least two dot-separated labels of
//! letters, digits and inner hyphens, ending in an alphabetic top-level
//! domain or an IDNA one (`xn--p1ai`). So `user@host`, `info@presidio.` and
//! `@mentions` are not addresses.

/// The byte ranges of e-mail addresses in `bytes`.
pub fn find(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut found: Vec<(usize, usize)> = Vec::new();
    for at in memchr_all(b'@', bytes) {
        if found.last().is_some_and(|&(_, end)| at < end) {
            continue;
        }
        let Some(start) = local_start(bytes, at) else {
            continue;
        };
        let Some(end) = domain_end(bytes, at + 1) else {
            continue;
        };
        // `git@github.com:org/repo.git` is an scp-style remote, not a mailbox.
        if bytes.get(end) == Some(&b':')
            && bytes.get(end + 1).is_some_and(|b| !b.is_ascii_whitespace())
        {
            continue;
        }
        found.push((start, end));
    }
    found
}

fn memchr_all(needle: u8, bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    bytes
        .iter()
        .enumerate()
        .filter(move |(_, b)| **b == needle)
        .map(|(i, _)| i)
}

fn is_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

/// Where the local part before the `@` at `at` starts.
fn local_start(bytes: &[u8], at: usize) -> Option<usize> {
    let mut start = at;
    while start > 0 && is_local(bytes[start - 1]) {
        start -= 1;
    }
    // Leading dots are punctuation of the sentence, not of the address.
    while start < at && bytes[start] == b'.' {
        start += 1;
    }
    let local = &bytes[start..at];
    let valid = !local.is_empty()
        && local.len() <= 64
        && bytes[at - 1] != b'.'
        && !local.windows(2).any(|w| w == b"..");
    valid.then_some(start)
}

/// Where the domain starting at `start` ends.
fn domain_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut end = start;
    while end < bytes.len()
        && (bytes[end].is_ascii_alphanumeric() || matches!(bytes[end], b'.' | b'-'))
    {
        end += 1;
    }
    // A trailing dot or hyphen ends the sentence, not the domain.
    while end > start && matches!(bytes[end - 1], b'.' | b'-') {
        end -= 1;
    }
    let domain = &bytes[start..end];
    let labels: Vec<&[u8]> = domain.split(|&b| b == b'.').collect();
    let label_ok =
        |l: &&[u8]| !l.is_empty() && l.len() <= 63 && l[0] != b'-' && l[l.len() - 1] != b'-';
    let tld = labels.last()?;
    let tld_ok = (tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic))
        || (tld.len() > 4 && tld[..4].eq_ignore_ascii_case(b"xn--"));
    (labels.len() >= 2 && labels.iter().all(label_ok) && tld_ok && domain.len() <= 253)
        .then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, want: &[&str]) {
        let got: Vec<&str> = find(text.as_bytes())
            .into_iter()
            .map(|(s, e)| &text[s..e])
            .collect();
        assert_eq!(got, want, "{text:?}");
    }

    #[test]
    fn addresses() {
        check(
            "jane.doe+ai@mail.example.co.uk",
            &["jane.doe+ai@mail.example.co.uk"],
        );
        check("write to <ops@example.org>.", &["ops@example.org"]);
        check("a@b.io, c@d.io", &["a@b.io", "c@d.io"]);
        check("user@xn--80ak6aa92e.com", &["user@xn--80ak6aa92e.com"]);
        check("a@xn--d1acufc.xn--p1ai", &["a@xn--d1acufc.xn--p1ai"]);
        check("...jane@example.org", &["jane@example.org"]);
        check("mail: jane@example.org: thanks", &["jane@example.org"]);
    }

    #[test]
    fn not_addresses() {
        for text in [
            "info@presidio.",
            "user@localhost",
            "@mention",
            "jane@",
            "jane.@example.org",
            "ja..ne@example.org",
            "jane@-example.org",
            "jane@example.123",
            "user@2001:db8::1",
            "git@github",
            "git@github.com:gavel-policy/gavel.git",
        ] {
            check(text, &[]);
        }
    }
}
