//! Payment card numbers (ISO/IEC 7812 PANs).
//!
//! A candidate is 13–19 digits, either in one run or grouped the way cards are
//! printed (4-4-4-4 with an optional short last group, 4-6-5 for American
//! Express, 4-6-4 for Diners Club) with one kind of separator, space or dash.
//! It counts only when the Luhn check passes and its issuer prefix is one
//! card networks use with that length, because most 13–19 digit runs in text
//! (timestamps, order ids) are neither.

use super::text::{continues_code, digits_end, number_ends, number_starts};

/// The byte ranges of card numbers in `bytes`.
pub fn find(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() || !number_starts(bytes, i) || continues_code(bytes, i) {
            i += 1;
            continue;
        }
        let chain = chain(bytes, i);
        if let Some((end, digits)) = &chain.candidate
            && number_ends(bytes, *end)
            && is_card(digits)
        {
            found.push((i, *end));
        }
        // A rejected chain is rejected whole: its tail is not a card either.
        i = chain.skip_to.max(i + 1);
    }
    found
}

/// What [`chain`] read.
struct Chain {
    /// The end and digits of the card-shaped number at the start, if any.
    candidate: Option<(usize, Vec<u8>)>,
    /// Where scanning goes on.
    skip_to: usize,
}

/// The digit groups at `start` joined by one separator kind (space or dash).
/// A long first group is a compact candidate on its own (what follows is the
/// next token); otherwise the whole chain must have the shape of a printed
/// card.
fn chain(bytes: &[u8], start: usize) -> Chain {
    let first_end = digits_end(bytes, start);
    let digits = |groups: &[(usize, usize)]| -> Vec<u8> {
        groups
            .iter()
            .flat_map(|&(s, e)| bytes[s..e].iter().map(|b| b - b'0'))
            .collect()
    };
    if first_end - start >= 13 {
        let candidate = Some((first_end, digits(&[(start, first_end)])));
        return Chain {
            candidate,
            skip_to: first_end,
        };
    }
    let mut groups = vec![(start, first_end)];
    if let Some(&separator @ (b' ' | b'-')) = bytes.get(first_end) {
        let mut end = first_end;
        while bytes.get(end) == Some(&separator)
            && bytes.get(end + 1).is_some_and(u8::is_ascii_digit)
        {
            let group_end = digits_end(bytes, end + 1);
            groups.push((end + 1, group_end));
            end = group_end;
        }
    }
    let lengths: Vec<usize> = groups.iter().map(|(s, e)| e - s).collect();
    let printed = matches!(
        lengths.as_slice(),
        [4, 4, 4, 1..=4] | [4, 4, 4, 4, 1..=3] | [4, 6, 4] | [4, 6, 5]
    );
    let end = groups.last().map_or(first_end, |g| g.1);
    let candidate = printed.then(|| (end, digits(&groups)));
    // A run of blocks of four that is no card is skipped whole; a short
    // number before a space (`visa-13 4222…`) is only itself.
    let skip_to = if printed || lengths[0] == 4 {
        end
    } else {
        first_end
    };
    Chain { candidate, skip_to }
}

/// Whether `digits` (values 0–9) are a card number.
fn is_card(digits: &[u8]) -> bool {
    (13..=19).contains(&digits.len()) && issued_length(digits) && luhn(digits)
}

/// Whether a card network issues numbers with this prefix and length.
fn issued_length(digits: &[u8]) -> bool {
    let len = digits.len();
    let prefix = |n: usize| {
        digits[..n]
            .iter()
            .fold(0u32, |acc, &d| acc * 10 + u32::from(d))
    };
    match digits[0] {
        // UATP.
        1 => len == 15,
        // Mir (2200–2204), JCB's 15-digit 2131, Mastercard's 2-series (2221–2720).
        2 => match prefix(4) {
            2200..=2204 => (16..=19).contains(&len),
            2131 => len == 15,
            2221..=2720 => len == 16,
            _ => false,
        },
        3 => match prefix(2) {
            // American Express.
            34 | 37 => len == 15,
            // JCB issues 3528–3589; the rest of 35 is unassigned but taken
            // too, as generated test data (and so some tokenised cards) uses it.
            35 => (16..=19).contains(&len),
            // Diners Club.
            30 | 36 | 38 | 39 => (14..=19).contains(&len),
            _ => false,
        },
        // Visa.
        4 => matches!(len, 13 | 16 | 19),
        // Mastercard (51–55) and Maestro (50, 56–59).
        5 => match prefix(2) {
            51..=55 => len == 16,
            _ => len >= 13,
        },
        // Discover, UnionPay, Maestro, RuPay and other 6-series networks.
        6 => len >= 13,
        // RuPay (81, 82).
        8 => matches!(prefix(2), 81 | 82) && len == 16,
        _ => false,
    }
}

/// The Luhn (mod 10) check of ISO/IEC 7812-1.
pub fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
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
    fn cards() {
        // Test numbers the networks publish.
        check("4111111111111111", &["4111111111111111"]);
        check(
            "pay with 5555-5555-5555-4444 today",
            &["5555-5555-5555-4444"],
        );
        check("amex 3782 822463 10005.", &["3782 822463 10005"]);
        check("diners 3056 930902 5904", &["3056 930902 5904"]);
        check("uatp 122000000000003", &["122000000000003"]);
        check(
            "jcb 213100000000001 and 3530111333300000",
            &["213100000000001", "3530111333300000"],
        );
        check("visa-13 4222222222222", &["4222222222222"]);
        check(
            "two: 4012888888881881 4012 8888 8888 1881",
            &["4012888888881881", "4012 8888 8888 1881"],
        );
    }

    #[test]
    fn not_cards() {
        // Fails Luhn by one digit.
        check("4111111111111112", &[]);
        check("4012-8888-8888-1882", &[]);
        // Luhn-valid, but no network issues 16 digits starting with 1 or 9.
        check("1000000000000008 9000000000000001", &[]);
        // A millisecond timestamp and a nanosecond one.
        check("1748503543012 1704067200000000000", &[]);
        // Mixed separators, a decimal, glued to a word, part of a longer run.
        check("4111 1111-1111 1111", &[]);
        check("4111111111111111.5", &[]);
        check("id4111111111111111", &[]);
        check("41111111111111110000", &[]);
        // The tail of an IBAN printed in blocks of four.
        check("DE44 5001 0517 5407 3249 31", &[]);
        // An odd grouping is not how a card is printed, nor is any part of it.
        check("41 1111 1111 1111 11", &[]);
        check("0499 4111 1111 1111 1111", &[]);
    }

    #[test]
    fn luhn_check() {
        let digits = |s: &str| s.bytes().map(|b| b - b'0').collect::<Vec<_>>();
        assert!(luhn(&digits("79927398713")));
        assert!(!luhn(&digits("79927398710")));
        assert!(luhn(&digits("0")));
    }
}
