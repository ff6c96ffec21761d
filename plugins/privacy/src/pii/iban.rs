//! International Bank Account Numbers (ISO 13616).
//!
//! A candidate starts with a country code from the SWIFT IBAN registry and two
//! check digits, then the country's BBAN, either compact or in groups of four
//! separated by single spaces or dashes. It counts only when its length and
//! character classes match the registry entry for that country and the mod-97
//! check gives 1. Letters must be upper case, as IBANs are written: like
//! Presidio, `gb42nawi…` is not taken for an IBAN, since lower-case runs of
//! letters and digits are mostly identifiers.

use super::text::is_word;

/// The byte ranges of IBANs in `bytes`.
pub fn find(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut i = 0;
    while i + 4 <= bytes.len() {
        let starts = bytes[i].is_ascii_uppercase() && (i == 0 || !is_word(bytes[i - 1]));
        if let Some(end) = starts.then(|| candidate(bytes, i)).flatten() {
            found.push((i, end));
            i = end;
        } else {
            i += 1;
        }
    }
    found
}

/// The end of an IBAN starting at `start`, if one does.
fn candidate(bytes: &[u8], start: usize) -> Option<usize> {
    let format = format(&bytes[start..start + 2])?;
    let length = 4 + format_length(format);
    // Collect the IBAN's characters, allowing one separator kind between
    // groups of four.
    let mut compact = Vec::with_capacity(length);
    let mut separator = None;
    let mut i = start;
    while compact.len() < length {
        let b = *bytes.get(i)?;
        let group_boundary = compact.len() % 4 == 0 && compact.len() > 4;
        if b.is_ascii_uppercase() || b.is_ascii_digit() {
            // Once grouped, grouped throughout.
            if group_boundary && separator.is_some() && bytes[i - 1].is_ascii_alphanumeric() {
                return None;
            }
            compact.push(b);
            i += 1;
        } else if matches!(b, b' ' | b'-')
            && bytes[i - 1].is_ascii_alphanumeric()
            && compact.len() % 4 == 0
            && separator.is_none_or(|s| s == b)
            && (separator.is_some() || compact.len() == 4)
        {
            separator = Some(b);
            i += 1;
        } else {
            return None;
        }
    }
    if bytes.get(i).is_some_and(|&b| is_word(b) || b == b'_') {
        return None;
    }
    (compact[2..4].iter().all(u8::is_ascii_digit)
        && bban_matches(&compact[4..], format)
        && mod97(&compact) == 1)
        .then_some(i)
}

/// The remainder of the IBAN's number (letters as 10–35, the first four
/// characters moved to the end) modulo 97.
pub fn mod97(iban: &[u8]) -> u32 {
    let (head, tail) = iban.split_at(4);
    tail.iter().chain(head).fold(0u32, |acc, &b| {
        if b.is_ascii_digit() {
            (acc * 10 + u32::from(b - b'0')) % 97
        } else {
            (acc * 100 + u32::from(b - b'A' + 10)) % 97
        }
    })
}

/// Whether a BBAN matches a registry format such as `4!n4!n12!c` (written
/// here without the `!`: `4n4n12c`): `n` digits, `a` upper-case letters, `c`
/// either.
fn bban_matches(bban: &[u8], format: &str) -> bool {
    let mut rest = bban;
    for (count, class) in parts(format) {
        if rest.len() < count {
            return false;
        }
        let (part, tail) = rest.split_at(count);
        let ok = part.iter().all(|b| match class {
            b'n' => b.is_ascii_digit(),
            b'a' => b.is_ascii_uppercase(),
            _ => b.is_ascii_digit() || b.is_ascii_uppercase(),
        });
        if !ok {
            return false;
        }
        rest = tail;
    }
    rest.is_empty()
}

/// The (count, class) parts of a BBAN format.
fn parts(format: &str) -> impl Iterator<Item = (usize, u8)> + '_ {
    let mut count = 0;
    format.bytes().filter_map(move |b| {
        if b.is_ascii_digit() {
            count = count * 10 + usize::from(b - b'0');
            None
        } else {
            let part = (count, b);
            count = 0;
            Some(part)
        }
    })
}

fn format_length(format: &str) -> usize {
    parts(format).map(|(count, _)| count).sum()
}

/// The BBAN format of a country, from the SWIFT IBAN registry (release 101).
fn format(country: &[u8]) -> Option<&'static str> {
    let i = REGISTRY
        .binary_search_by(|(c, _)| c.as_bytes().cmp(country))
        .ok()?;
    Some(REGISTRY[i].1)
}

/// Country code and BBAN format, sorted by country code.
const REGISTRY: &[(&str, &str)] = &[
    ("AD", "4n4n12c"),
    ("AE", "3n16n"),
    ("AL", "8n16c"),
    ("AT", "5n11n"),
    ("AZ", "4a20c"),
    ("BA", "3n3n8n2n"),
    ("BE", "3n7n2n"),
    ("BG", "4a4n2n8c"),
    ("BH", "4a14c"),
    ("BI", "5n5n11n2n"),
    ("BR", "8n5n10n1a1c"),
    ("BY", "4c4n16c"),
    ("CH", "5n12c"),
    ("CR", "4n14n"),
    ("CY", "3n5n16c"),
    ("CZ", "4n16n"),
    ("DE", "8n10n"),
    ("DJ", "5n5n11n2n"),
    ("DK", "4n9n1n"),
    ("DO", "4c20n"),
    ("EE", "2n14n"),
    ("EG", "4n4n17n"),
    ("ES", "4n4n1n1n10n"),
    ("FI", "3n11n"),
    ("FK", "2a12n"),
    ("FO", "4n9n1n"),
    ("FR", "5n5n11c2n"),
    ("GB", "4a6n8n"),
    ("GE", "2a16n"),
    ("GI", "4a15c"),
    ("GL", "4n9n1n"),
    ("GR", "3n4n16c"),
    ("GT", "4c20c"),
    ("HN", "4a20n"),
    ("HR", "7n10n"),
    ("HU", "3n4n1n15n1n"),
    ("IE", "4a6n8n"),
    ("IL", "3n3n13n"),
    ("IQ", "4a3n12n"),
    ("IS", "4n2n6n10n"),
    ("IT", "1a5n5n12c"),
    ("JO", "4a4n18c"),
    ("KW", "4a22c"),
    ("KZ", "3n13c"),
    ("LB", "4n20c"),
    ("LC", "4a24c"),
    ("LI", "5n12c"),
    ("LT", "5n11n"),
    ("LU", "3n13c"),
    ("LV", "4a13c"),
    ("LY", "3n3n15n"),
    ("MC", "5n5n11c2n"),
    ("MD", "2c18c"),
    ("ME", "3n13n2n"),
    ("MK", "3n10c2n"),
    ("MN", "4n12n"),
    ("MR", "5n5n11n2n"),
    ("MT", "4a5n18c"),
    ("MU", "4a2n2n12n3n3a"),
    ("NI", "4a20n"),
    ("NL", "4a10n"),
    ("NO", "4n6n1n"),
    ("OM", "3n16c"),
    ("PK", "4a16c"),
    ("PL", "8n16n"),
    ("PS", "4a21c"),
    ("PT", "4n4n11n2n"),
    ("QA", "4a21c"),
    ("RO", "4a16c"),
    ("RS", "3n13n2n"),
    ("RU", "9n5n15c"),
    ("SA", "2n18c"),
    ("SC", "4a2n2n16n3a"),
    ("SD", "2n12n"),
    ("SE", "3n16n1n"),
    ("SI", "5n8n2n"),
    ("SK", "4n6n10n"),
    ("SM", "1a5n5n12c"),
    ("SO", "4n3n12n"),
    ("ST", "4n4n11n2n"),
    ("SV", "4a20n"),
    ("TL", "3n14n2n"),
    ("TN", "2n3n13n2n"),
    ("TR", "5n1n16c"),
    ("UA", "6n19c"),
    ("VA", "3n15n"),
    ("VG", "4a16n"),
    ("XK", "4n10n2n"),
    ("YE", "4a4n18c"),
];

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
    fn ibans() {
        check("GB82WEST12345698765432", &["GB82WEST12345698765432"]);
        check(
            "to GB82 WEST 1234 5698 7654 32.",
            &["GB82 WEST 1234 5698 7654 32"],
        );
        check("NL91-ABNA-0417-1643-00", &["NL91-ABNA-0417-1643-00"]);
        check(
            "NO9386011117947 (Norway, the shortest)",
            &["NO9386011117947"],
        );
        check(
            "(FR1420041010050500013M02606)",
            &["FR1420041010050500013M02606"],
        );
    }

    #[test]
    fn not_ibans() {
        // Check digits off by one, a letter where the BBAN has digits, lower
        // case, an unknown country, too short, too long, glued to a word,
        // mixed or misplaced separators.
        for text in [
            "GB83WEST12345698765432",
            "GB82WEST1234569876543A",
            "gb82west12345698765432",
            "GB82 west 1234 5698 7654 32",
            "ZZ82WEST12345698765432",
            "GB82WEST1234569876543",
            "GB82WEST123456987654321",
            "xGB82WEST12345698765432",
            "GB82 WEST-1234 5698 7654 32",
            "GB82 WEST12345698765432",
            "GB82  WEST 1234 5698 7654 32",
            "GB8 2WEST 1234 5698 7654 32",
            "GB82/WEST/1234/5698/7654/32",
        ] {
            check(text, &[]);
        }
    }

    #[test]
    fn registry_is_sorted_and_well_formed() {
        assert!(REGISTRY.windows(2).all(|w| w[0].0 < w[1].0));
        for (country, format) in REGISTRY {
            let length = 4 + format_length(format);
            assert!((15..=34).contains(&length), "{country}: {length}");
            assert!(
                format
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b"nac".contains(&b)),
                "{country}"
            );
        }
        assert_eq!(format_length(format(b"DE").unwrap()) + 4, 22);
    }
}
