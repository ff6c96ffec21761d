//! Byte-level helpers the recognisers share.
//!
//! Word boundaries are ASCII: a byte of a multi-byte UTF-8 character counts as
//! a boundary, so a number glued to CJK text (`电话13812345678`) is still seen,
//! while one glued to Latin letters (`IP192.168.1.1text`) is not.

/// Whether `b` is an ASCII letter or digit.
pub fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// The byte before `i`, if any.
pub fn before(bytes: &[u8], i: usize) -> Option<u8> {
    i.checked_sub(1).map(|j| bytes[j])
}

/// The byte at `i`, if any.
pub fn at(bytes: &[u8], i: usize) -> Option<u8> {
    bytes.get(i).copied()
}

/// The end of the run of ASCII digits starting at `i`.
pub fn digits_end(bytes: &[u8], i: usize) -> usize {
    let mut j = i;
    while j < bytes.len() && bytes[j].is_ascii_digit() {
        j += 1;
    }
    j
}

/// Whether a number may start at `i`: not inside a word, and not the tail of
/// a longer number (`3.14`, `12-34`), whose digits belong to something else.
pub fn number_starts(bytes: &[u8], i: usize) -> bool {
    match before(bytes, i) {
        None => true,
        Some(b) if is_word(b) || b == b'_' => false,
        Some(b'.' | b'-' | b',' | b'/' | b'+') => {
            !before(bytes, i - 1).is_some_and(|b| b.is_ascii_digit())
        }
        Some(_) => true,
    }
}

/// Whether a number that ended at `end` ends there: not glued to a word, and
/// not followed by a separator and more digits (`1.5`, `12-34`).
pub fn number_ends(bytes: &[u8], end: usize) -> bool {
    match at(bytes, end) {
        None => true,
        Some(b) if is_word(b) || b == b'_' => false,
        Some(b'.' | b'-' | b',' | b'/') => !at(bytes, end + 1).is_some_and(|b| b.is_ascii_digit()),
        Some(_) => true,
    }
}

/// Whether the text before `start` is the head of an IBAN-like code printed in
/// blocks of four (`BE71 0961 2345 6760`, `NL91 ABNA 0417 1643 00`): one
/// separator, then blocks of four upper-case letters or digits going back to
/// one that opens with a country code and two digits. The digits that follow
/// such a head are the rest of an account number (valid or not), never a
/// phone or card number of their own.
pub fn continues_code(bytes: &[u8], start: usize) -> bool {
    let mut end = start;
    // An IBAN has at most 34 characters, so its head is at most eight blocks
    // back; the bound also keeps the walk linear on hostile input.
    for _ in 0..8 {
        // One separator, then a block of exactly four.
        let Some(block_end) = end
            .checked_sub(1)
            .filter(|&i| matches!(bytes[i], b' ' | b'-'))
        else {
            return false;
        };
        let Some(block_start) = block_end.checked_sub(4) else {
            return false;
        };
        let block = &bytes[block_start..block_end];
        if !block
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            || before(bytes, block_start).is_some_and(is_word)
        {
            return false;
        }
        if block[..2].iter().all(u8::is_ascii_uppercase)
            && block[2..].iter().all(u8::is_ascii_digit)
        {
            return true;
        }
        end = block_start;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::continues_code;

    #[test]
    fn iban_heads() {
        for (text, want) in [
            ("BE71 0961", true),
            ("NL91 ABNA 0417", true),
            ("RO49 0AAA 1B31 0075", true),
            ("IL15-0120", true),
            ("call 0961", false),
            ("CALL 0961", false),
            ("xBE71 0961", false),
            ("BE71  0961", false),
            ("0961", false),
        ] {
            let start = text.rfind([' ', '-']).map_or(0, |i| i + 1);
            assert_eq!(continues_code(text.as_bytes(), start), want, "{text:?}");
        }
    }
}
