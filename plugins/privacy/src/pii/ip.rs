//! IPv4 and IPv6 addresses, with an optional zone (`%eth0`) and prefix length
//! (`/24`).
//!
//! Candidates are cut from the text by shape (four dotted decimal groups, or
//! a run of hex digits, colons and dots with at least two colons) and then
//! parsed with the standard library, which refuses octets over 255, leading
//! zeros, and malformed compression (`2001::db8::1`). Not reported: the
//! unspecified address `::` (it identifies nobody, and `::` is common in code),
//! a dotted quad followed by more dotted digits (`1.3.6.1.4.1` is an OID, not an
//! address), and anything glued to a word (`IP192.168.1.1text`).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::text::{digits_end, is_word};

/// The byte ranges of IP addresses in `text`.
pub fn find(text: &str) -> Vec<(usize, usize)> {
    let mut found = ipv6(text);
    found.extend(ipv4(text));
    found.sort_unstable();
    found
}

fn ipv4(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let starts = bytes[i].is_ascii_digit()
            && (i == 0 || !(is_word(bytes[i - 1]) || bytes[i - 1] == b'.'));
        match starts.then(|| dotted_quad(bytes, i)).flatten() {
            Some(end) if text[i..end].parse::<Ipv4Addr>().is_ok() => {
                let end = with_prefix(bytes, end, 32);
                if !bytes.get(end).is_some_and(|&b| is_word(b)) {
                    found.push((i, end));
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    found
}

/// The end of `d.d.d.d` (one to three digits each) at `start`, when nothing
/// but punctuation follows it.
fn dotted_quad(bytes: &[u8], start: usize) -> Option<usize> {
    let mut end = start;
    for octet in 0..4 {
        if octet > 0 {
            if bytes.get(end) != Some(&b'.') {
                return None;
            }
            end += 1;
        }
        let digits = digits_end(bytes, end);
        if !(1..=3).contains(&(digits - end)) {
            return None;
        }
        end = digits;
    }
    let more_dotted =
        bytes.get(end) == Some(&b'.') && bytes.get(end + 1).is_some_and(u8::is_ascii_digit);
    (!more_dotted).then_some(end)
}

/// Extend an address ending at `end` over a `/prefix` of at most `max`.
fn with_prefix(bytes: &[u8], end: usize, max: u32) -> usize {
    if bytes.get(end) != Some(&b'/') {
        return end;
    }
    let digits = digits_end(bytes, end + 1);
    let prefix = std::str::from_utf8(&bytes[end + 1..digits])
        .ok()
        .and_then(|s| s.parse::<u32>().ok());
    match prefix {
        Some(p) if digits - end - 1 <= 3 && p <= max => digits,
        _ => end,
    }
}

fn is_v6(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':' || b == b'.'
}

fn ipv6(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    // Every address has a colon: start from the colons and widen to the run
    // of address characters around each, so prose without colons costs one
    // pass of byte comparisons.
    let mut i = 0;
    while let Some(offset) = bytes[i..].iter().position(|&b| b == b':') {
        let colon = i + offset;
        let mut start = colon;
        while start > 0 && is_v6(bytes[start - 1]) {
            start -= 1;
        }
        let mut end = colon;
        while end < bytes.len() && is_v6(bytes[end]) {
            end += 1;
        }
        if let Some(range) = ipv6_run(text, start, end) {
            found.push(range);
        }
        i = end;
    }
    found
}

/// The address in the run `start..end` of address characters, if it is one.
fn ipv6_run(text: &str, start: usize, run_end: usize) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    if start > 0 && is_word(bytes[start - 1]) {
        return None;
    }
    // A sentence may end right after the address.
    let mut end = run_end;
    while end > start && bytes[end - 1] == b'.' {
        end -= 1;
    }
    let candidate = &text[start..end];
    let colons = candidate.bytes().filter(|&b| b == b':').count();
    if colons < 2 || !candidate.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    let address = candidate.parse::<Ipv6Addr>().ok()?;
    if address.is_unspecified() {
        return None;
    }
    // The address characters ran on only as sentence punctuation: anything
    // else glued after them (`fe80::1text`) makes the run not an address.
    if end == run_end && bytes.get(end).is_some_and(|&b| is_word(b) && b != b'%') {
        return None;
    }
    if bytes.get(end) == Some(&b'%') {
        let zone_end = bytes[end + 1..]
            .iter()
            .position(|&b| !(b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
            .map_or(bytes.len(), |p| end + 1 + p);
        if zone_end > end + 1 {
            end = zone_end;
        }
    }
    let end = with_prefix(bytes, end, 128);
    if bytes.get(end).is_some_and(|&b| is_word(b)) {
        return None;
    }
    Some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, want: &[&str]) {
        let got: Vec<&str> = find(text).into_iter().map(|(s, e)| &text[s..e]).collect();
        assert_eq!(got, want, "{text:?}");
    }

    #[test]
    fn addresses() {
        check(
            "from 203.0.113.9, to 198.51.100.200.",
            &["203.0.113.9", "198.51.100.200"],
        );
        check("(10.0.0.1)", &["10.0.0.1"]);
        check("10.0.0.0/8 and 10.0.0.0/123", &["10.0.0.0/8", "10.0.0.0"]);
        check("host 192.0.2.1@eth0", &["192.0.2.1"]);
        check("2001:db8::1", &["2001:db8::1"]);
        check("[2001:db8::1]:8080", &["2001:db8::1"]);
        check("fe80::1%eth0/64 up", &["fe80::1%eth0/64"]);
        check("::ffff:192.0.2.1", &["::ffff:192.0.2.1", "192.0.2.1"]);
        check(
            "2001:DB8:0:0:8:800:200C:417A.",
            &["2001:DB8:0:0:8:800:200C:417A"],
        );
        check("loopback ::1", &["::1"]);
    }

    #[test]
    fn not_addresses() {
        for text in [
            "256.1.1.1",
            "192.168.1",
            "192.168.01.1",
            "1.3.6.1.4.1",
            "IP192.168.1.1text",
            "text192.168.1.1",
            "v1.2.3.4",
            "::",
            "::/0",
            "std::cout",
            "a::b",
            "12:34:56",
            "aa:bb:cc:dd:ee:ff",
            "2001::db8::1",
            "12345:db8::1",
            "fe80::1text",
            "text2001:db8::1",
        ] {
            check(text, &[]);
        }
    }
}
