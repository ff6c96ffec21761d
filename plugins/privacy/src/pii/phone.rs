//! Phone numbers.
//!
//! A candidate is a chain of digit groups, optionally led by `+`, where groups
//! are joined by one space, dash, dot or slash, or follow a parenthesised
//! group (`(415)555-0132`). A chain is judged whole; it is a phone number when
//! it is one of:
//!
//! - **international** (E.164): `+` then 8–15 digits, grouped or not;
//! - **North American**: `[1 ]NXX NXX XXXX` with an area code and exchange
//!   that start with 2–9 (`(415) 555-0132`, `415.555.0132`);
//! - **national with a trunk prefix**: 9–12 digits in two to five groups of
//!   at least two digits, the first starting with `0` (`090-1234-5678`,
//!   `(08) 8747 6301`, `0487 98 11 92`);
//! - **parenthesised area code**: a first group of two to four digits in
//!   parentheses, then 9–12 digits in all (`(71) 4233-6306`).
//!
//! Ungrouped digit runs without `+` are never phone numbers here: they are
//! as likely to be card numbers, order ids or timestamps. So local numbers
//! without an area code (`467 3395`) and numbers whose country code is written
//! without `+` (`91-415-555-0132`) are missed by design.

use super::text::{continues_code, digits_end, is_word};

/// The byte ranges of phone numbers in `bytes`.
pub fn find(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let may_start = (b.is_ascii_digit() || b == b'+' || b == b'(') && starts(bytes, i);
        match may_start.then(|| Chain::read(bytes, i)).flatten() {
            Some(chain) => {
                let glued = bytes
                    .get(chain.end)
                    .is_some_and(|&b| is_word(b) || b == b'_');
                if !glued && chain.is_phone() {
                    found.push((i, chain.end));
                }
                i = chain.end.max(i + 1);
            }
            None => i += 1,
        }
    }
    found
}

/// Whether a chain may start at `i`: not inside a word or a longer number.
fn starts(bytes: &[u8], i: usize) -> bool {
    if continues_code(bytes, i) {
        return false;
    }
    match i.checked_sub(1).map(|j| bytes[j]) {
        None => true,
        Some(b) => !(is_word(b) || matches!(b, b'_' | b'+' | b'-' | b'.' | b'/' | b')' | b'@')),
    }
}

/// One group of a chain.
#[derive(Debug, Clone, Copy)]
struct Group {
    digits: usize,
    first: u8,
    parenthesised: bool,
}

/// A chain of digit groups.
#[derive(Debug)]
struct Chain {
    plus: bool,
    groups: Vec<Group>,
    separators: Vec<u8>,
    end: usize,
}

impl Chain {
    fn read(bytes: &[u8], start: usize) -> Option<Chain> {
        let mut chain = Chain {
            plus: bytes[start] == b'+',
            groups: Vec::new(),
            separators: Vec::new(),
            end: start + usize::from(bytes[start] == b'+'),
        };
        loop {
            let i = chain.end;
            let group = if bytes.get(i) == Some(&b'(') {
                let close = digits_end(bytes, i + 1);
                if close == i + 1 || close - i - 1 > 5 || bytes.get(close) != Some(&b')') {
                    break;
                }
                chain.end = close + 1;
                Group {
                    digits: close - i - 1,
                    first: bytes[i + 1],
                    parenthesised: true,
                }
            } else if bytes.get(i).is_some_and(u8::is_ascii_digit) {
                chain.end = digits_end(bytes, i);
                Group {
                    digits: chain.end - i,
                    first: bytes[i],
                    parenthesised: false,
                }
            } else {
                break;
            };
            chain.groups.push(group);
            let next = |k: usize| bytes.get(chain.end + k).copied();
            let continues = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_digit() || b == b'(');
            match next(0) {
                Some(s @ (b' ' | b'-' | b'.' | b'/')) if continues(next(1)) => {
                    chain.separators.push(s);
                    chain.end += 1;
                }
                // `+44 (0)20 …`, `(020)(7123)`: a parenthesised group needs no separator.
                Some(b'(') => chain.separators.push(b'('),
                Some(b) if b.is_ascii_digit() && group.parenthesised => chain.separators.push(b')'),
                _ => break,
            }
        }
        // A separator with nothing after it was not consumed, so the chain
        // ends on a group; `+` alone or `(` alone is no chain.
        if chain.groups.is_empty() {
            return None;
        }
        Some(chain)
    }

    fn digits(&self) -> usize {
        self.groups.iter().map(|g| g.digits).sum()
    }

    fn is_phone(&self) -> bool {
        let digits = self.digits();
        let dots = self.separators.iter().filter(|&&s| s == b'.').count();
        // Dots only as the one separator kind, and between short groups:
        // `3.14 15`, `1.5-2` and `00.123456789` are not numbers to call.
        if dots != 0 && (dots != self.separators.len() || self.groups.iter().any(|g| g.digits > 4))
        {
            return false;
        }
        if self.plus {
            return (8..=15).contains(&digits) && self.groups[0].first != b'0';
        }
        let lengths: Vec<usize> = self.groups.iter().map(|g| g.digits).collect();
        // The SSN shape is left to the SSN recogniser, which knows which are issued.
        if lengths == [3, 2, 4] && !self.groups[0].parenthesised {
            return false;
        }
        self.north_american() || self.trunk_prefixed() || self.area_code_in_parentheses()
    }

    fn north_american(&self) -> bool {
        let groups = match self.groups.as_slice() {
            [one, rest @ ..] if one.digits == 1 && one.first == b'1' && !one.parenthesised => rest,
            all => all,
        };
        let nxx = |g: &Group| g.digits == 3 && (b'2'..=b'9').contains(&g.first);
        matches!(groups, [area, exchange, line] if nxx(area) && nxx(exchange) && line.digits == 4 && !line.parenthesised && !exchange.parenthesised)
    }

    fn trunk_prefixed(&self) -> bool {
        let first = self.groups[0];
        // Three or more blocks of four are how account and card numbers are
        // printed; no national plan writes phone numbers that way.
        let blocks_of_four = self.groups.len() >= 3 && self.groups.iter().all(|g| g.digits == 4);
        !blocks_of_four
            && (9..=12).contains(&self.digits())
            && (2..=5).contains(&self.groups.len())
            && first.first == b'0'
            && first.digits <= 5
            && self.groups.iter().all(|g| g.digits >= 2)
    }

    fn area_code_in_parentheses(&self) -> bool {
        let first = self.groups[0];
        first.parenthesised
            && (2..=4).contains(&first.digits)
            && self.groups.len() >= 2
            && (9..=12).contains(&self.digits())
    }
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
    fn phones() {
        for (text, want) in [
            ("call (415) 555-0132 now", "(415) 555-0132"),
            ("(415)555-0132", "(415)555-0132"),
            ("415-555-0132", "415-555-0132"),
            ("415.555.0132", "415.555.0132"),
            ("06.12.34.56.78", "06.12.34.56.78"),
            ("1 415 555 0132", "1 415 555 0132"),
            ("+1 415 555 0132", "+1 415 555 0132"),
            ("+14155550132", "+14155550132"),
            ("+44 (20) 7123 4567", "+44 (20) 7123 4567"),
            ("+33 1 42 68 53 00.", "+33 1 42 68 53 00"),
            ("+49 30 1234567", "+49 30 1234567"),
            ("090-1234-5678", "090-1234-5678"),
            ("09-7625400", "09-7625400"),
            ("(08) 8747 6301", "(08) 8747 6301"),
            ("0487 98 11 92", "0487 98 11 92"),
            ("(71) 4233-6306", "(71) 4233-6306"),
            ("tel:+41446681800", "+41446681800"),
            ("(+1 415 555 0132)", "+1 415 555 0132"),
            ("+44(0)20 7123 4567", "+44(0)20 7123 4567"),
        ] {
            check(text, &[want]);
        }
    }

    #[test]
    fn not_phones() {
        for text in [
            // Ungrouped runs: ids, cards, timestamps.
            "4155550132",
            "13812345678",
            "1704067200000",
            // Area codes and exchanges cannot start with 0 or 1.
            "115-555-0132",
            "415-155-0132",
            // Dates, versions, decimals, ratios.
            "2024-01-15",
            "1.2.3",
            "3.14 15",
            "12/31/2024",
            // Local numbers without an area code, and unknown groupings.
            "467 3395",
            "60-56-85-91",
            // The SSN shape, even with a leading zero.
            "078-05-0000",
            // Inside a word or a longer number.
            "is415-555-0132",
            "x+14155550132",
            "415-555-0132x",
            "T11:38:00.123456789Z",
            "0901 3274 5498",
            // Too many digits for E.164.
            "+1234567890123456",
            "+0 415 555 0132",
            // The tail of an account number printed in blocks of four.
            "BE71 0961 2345 6760",
        ] {
            check(text, &[]);
        }
    }
}
