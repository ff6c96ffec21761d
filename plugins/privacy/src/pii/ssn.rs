//! US social security numbers, AAA-GG-SSSS.
//!
//! The three groups must be separated, by the same character twice (dash,
//! space or dot): a bare nine-digit run is far more often an id than an SSN,
//! which is why Presidio scores those at most 0.4. Numbers the Social Security
//! Administration never issues are refused: area 000, 666 and 900–999, group
//! 00, serial 0000. So are the well-known specimens Presidio refuses (all one
//! digit, 123-45-6789, and 078-05-1120 from the 1938 Woolworth wallet insert).

use super::text::{number_ends, number_starts};

/// The byte ranges of SSNs in `bytes`.
pub fn find(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut i = 0;
    while i + 11 <= bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
        } else if let Some(end) = candidate(bytes, i) {
            found.push((i, end));
            i = end;
        } else {
            i += 1;
        }
    }
    found
}

fn candidate(bytes: &[u8], start: usize) -> Option<usize> {
    let text = &bytes[start..start + 11];
    let separator = text[3];
    let shape = text.iter().enumerate().all(|(i, &b)| match i {
        3 | 6 => b == separator,
        _ => b.is_ascii_digit(),
    });
    if !shape || !matches!(separator, b'-' | b' ' | b'.') || !number_starts(bytes, start) {
        return None;
    }
    let end = start + 11;
    // `12 345 67 8901 23` is a longer number, not an SSN inside it.
    let glued = |b: Option<&u8>, beyond: Option<&u8>| {
        b == Some(&separator) && beyond.is_some_and(u8::is_ascii_digit)
    };
    if !number_ends(bytes, end)
        || glued(bytes.get(end), bytes.get(end + 1))
        || (start >= 2 && glued(bytes.get(start - 1), bytes.get(start - 2)))
    {
        return None;
    }
    let digits: Vec<u8> = text
        .iter()
        .filter(|b| b.is_ascii_digit())
        .map(|b| b - b'0')
        .collect();
    issued(&digits).then_some(end)
}

/// Whether nine digits could be an issued SSN.
fn issued(digits: &[u8]) -> bool {
    let number = |range: std::ops::Range<usize>| {
        digits[range]
            .iter()
            .fold(0u32, |acc, &d| acc * 10 + u32::from(d))
    };
    let (area, group, serial) = (number(0..3), number(3..5), number(5..9));
    let all_same = digits.iter().all(|&d| d == digits[0]);
    let specimen = matches!(number(0..9), 123_456_789 | 78_051_120);
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0 && !all_same && !specimen
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
    fn ssns() {
        check("SSN 536-22-1234", &["536-22-1234"]);
        check(
            "536 22 1234 and 536.22.1235",
            &["536 22 1234", "536.22.1235"],
        );
        check("(536-22-1234)", &["536-22-1234"]);
    }

    #[test]
    fn not_ssns() {
        for text in [
            // Never issued.
            "000-22-1234",
            "666-22-1234",
            "900-22-1234",
            "999-22-1234",
            "536-00-1234",
            "536-22-0000",
            // Specimens.
            "123-45-6789",
            "078-05-1120",
            "555-55-5555",
            // Unseparated, mixed separators, other groupings.
            "536221234",
            "536-22.1234",
            "5362-2-1234",
            // Inside longer numbers or words.
            "1536-22-1234",
            "536-22-12345",
            "ssn536-22-1234",
            "12 536 22 1234",
            "536 22 1234 99",
            "4536-22-1234-1",
        ] {
            check(text, &[]);
        }
    }
}
