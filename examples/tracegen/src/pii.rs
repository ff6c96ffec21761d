//! Synthetic personal data and the chat text that carries it.
//!
//! Everything here is generated, never copied from a corpus: card numbers are
//! random digits behind a real issuer prefix with a computed Luhn digit, IBANs
//! are random BBANs with computed ISO 13616 check digits, e-mail addresses use
//! the reserved `example.*` domains (RFC 2606), phone numbers come from ranges
//! reserved for fiction (US 555-0100..0199, UK 07700 900xxx). They have the
//! shape and checksums a recogniser looks for, so the privacy plugin must find
//! them, but they belong to nobody.

use rand::RngExt;
use rand::rngs::StdRng;

/// One kind of synthetic personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entity {
    Email,
    Phone,
    Card,
    Iban,
    Ssn,
}

const FIRST: &[&str] = &[
    "alex", "maria", "jonas", "priya", "li", "sofia", "omar", "emma", "lukas", "ana", "noah",
    "yuki",
];
const LAST: &[&str] = &[
    "moreau", "schmidt", "okafor", "silva", "nguyen", "kowalski", "jensen", "rossi", "garcia",
    "tanaka", "haddad", "murphy",
];
const DOMAINS: &[&str] = &[
    "example.com",
    "example.org",
    "example.net",
    "mail.example.com",
];

fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

fn digits(rng: &mut StdRng, n: usize) -> Vec<u8> {
    (0..n).map(|_| rng.random_range(0..10u8)).collect()
}

fn text(digits: &[u8]) -> String {
    digits.iter().map(|d| char::from(b'0' + d)).collect()
}

/// A display name for templates: `Maria Silva`.
pub(crate) fn name(rng: &mut StdRng) -> String {
    let cap = |s: &str| {
        let mut c = s.chars();
        c.next()
            .map(|f| f.to_uppercase().chain(c).collect())
            .unwrap_or_default()
    };
    let first: String = cap(pick(rng, FIRST));
    let last: String = cap(pick(rng, LAST));
    format!("{first} {last}")
}

/// `maria.silva42@example.org`.
pub(crate) fn email(rng: &mut StdRng) -> String {
    let n: u16 = rng.random_range(1..100);
    format!(
        "{}.{}{n}@{}",
        pick(rng, FIRST),
        pick(rng, LAST),
        pick(rng, DOMAINS)
    )
}

/// A phone number from a range reserved for fiction, in one of three
/// notations the privacy plugin recognises: North American `(415) 555-0123`,
/// E.164 `+14155550123`, or a UK mobile in E.164 `+447700900123`.
pub(crate) fn phone(rng: &mut StdRng) -> String {
    const AREAS: &[&str] = &["212", "415", "617", "312", "206"];
    let line: u16 = rng.random_range(100..200);
    match rng.random_range(0..3u8) {
        0 => format!("({}) 555-0{line}", pick(rng, AREAS)),
        1 => format!("+1{}5550{line}", pick(rng, AREAS)),
        _ => format!("+447700900{:03}", rng.random_range(0..1000u16)),
    }
}

/// The Luhn check digit for `payload` (the number without its last digit).
pub(crate) fn luhn_check_digit(payload: &[u8]) -> u8 {
    let sum: u32 = payload
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 0 {
                let twice = d * 2;
                if twice > 9 { twice - 9 } else { twice }
            } else {
                d
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

/// Whether `number` (digits, separators ignored) passes the Luhn check.
#[cfg(test)]
pub(crate) fn luhn_valid(number: &str) -> bool {
    let d: Vec<u8> = number
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect();
    match d.split_last() {
        Some((&check, payload)) => luhn_check_digit(payload) == check,
        None => false,
    }
}

/// A payment card number with an issuer prefix issued at its length (Visa 16,
/// Mastercard 16, Amex 15, Discover 16) and a valid Luhn digit, printed compact
/// or grouped the way the issuer prints it.
pub(crate) fn card(rng: &mut StdRng) -> String {
    let (prefix, len): (&[u8], usize) = match rng.random_range(0..4u8) {
        0 => (&[4], 16),
        1 => (&[5, rng.random_range(1..6)], 16),
        2 => (
            if rng.random_bool(0.5) {
                &[3, 4]
            } else {
                &[3, 7]
            },
            15,
        ),
        _ => (&[6, 0, 1, 1], 16),
    };
    let mut number = prefix.to_vec();
    number.extend(digits(rng, len - 1 - prefix.len()));
    number.push(luhn_check_digit(&number));
    let number = text(&number);
    let groups: &[usize] = if len == 15 { &[4, 6, 5] } else { &[4, 4, 4, 4] };
    match rng.random_range(0..3u8) {
        0 => number,
        style => {
            let sep = if style == 1 { " " } else { "-" };
            let mut parts = Vec::new();
            let mut at = 0;
            for g in groups {
                parts.push(&number[at..at + g]);
                at += g;
            }
            parts.join(sep)
        }
    }
}

/// ISO 13616 mod-97 of an IBAN's rearranged form (BBAN, country, check digits).
pub(crate) fn iban_mod97(country: &str, check: &str, bban: &str) -> u32 {
    let mut rem: u32 = 0;
    for c in bban.chars().chain(country.chars()).chain(check.chars()) {
        let v = c.to_digit(36).expect("IBAN characters are alphanumeric");
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem
}

/// An IBAN of Germany, the Netherlands, the United Kingdom or Belgium with a
/// random account and computed check digits (Belgium's national mod-97 key as
/// well), printed in groups of four as it is written on paper.
pub(crate) fn iban(rng: &mut StdRng) -> String {
    let (country, bban) = match rng.random_range(0..4u8) {
        0 => ("DE", text(&digits(rng, 18))),
        1 => {
            let bank = pick(rng, &["ABNA", "INGB", "RABO", "TRIO"]);
            ("NL", format!("{bank}{}", text(&digits(rng, 10))))
        }
        2 => {
            let bank = pick(rng, &["NWBK", "BARC", "HBUK", "LOYD"]);
            ("GB", format!("{bank}{}", text(&digits(rng, 14))))
        }
        _ => {
            let account = text(&digits(rng, 10));
            let key = account.parse::<u64>().expect("ten digits") % 97;
            let key = if key == 0 { 97 } else { key };
            ("BE", format!("{account}{key:02}"))
        }
    };
    let check = 98 - iban_mod97(country, "00", &bban);
    let compact = format!("{country}{check:02}{bban}");
    compact
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).expect("ASCII"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A US social security number outside the never-issued areas (000, 666,
/// 900–999), group 00 and serial 0000, and not one of the published specimens.
pub(crate) fn ssn(rng: &mut StdRng) -> String {
    loop {
        let area: u16 = rng.random_range(1..900);
        let group: u8 = rng.random_range(1..100);
        let serial: u16 = rng.random_range(1..10000);
        let s = format!("{area:03}-{group:02}-{serial:04}");
        if area != 666 && s != "123-45-6789" && s != "078-05-1120" {
            return s;
        }
    }
}

/// Generates the value of `entity`.
pub(crate) fn value(rng: &mut StdRng, entity: Entity) -> String {
    match entity {
        Entity::Email => email(rng),
        Entity::Phone => phone(rng),
        Entity::Card => card(rng),
        Entity::Iban => iban(rng),
        Entity::Ssn => ssn(rng),
    }
}

/// Prompts without personal data. They contain no digits, `@` or `:`, so no
/// recogniser can mistake part of them for an entity.
const CLEAN_PROMPTS: &[&str] = &[
    "Summarise the attached quarterly report in three bullet points.",
    "What documents do I need to open a business account?",
    "Explain the difference between a fixed and a variable interest rate.",
    "Draft a polite reminder about the overdue invoice.",
    "Translate the following paragraph into German, keeping the formal tone.",
    "Which of our plans includes international roaming?",
    "Classify this support ticket as billing, technical or other.",
    "Rewrite the product description so it is shorter and friendlier.",
    "List the risks mentioned in the contract and rate each one.",
    "How do I reset the password of the mobile app?",
    "Suggest a subject line for the newsletter about the spring sale.",
    "Is this loan application complete enough to be assessed?",
];

const CLEAN_ANSWERS: &[&str] = &[
    "Here is a short summary of the main points.",
    "You will need proof of identity, proof of address and the company registration.",
    "Sure, I have drafted the text below.",
    "This ticket is about billing.",
    "The application is missing the proof of income; everything else is complete.",
    "Open the app, choose Settings, then Security, and follow the reset link.",
];

/// Prompt templates with personal data: `{}` placeholders are filled with the
/// listed entities in order. Entities never touch punctuation, so their
/// boundaries are unambiguous.
const PII_PROMPTS: &[(&str, &[Entity])] = &[
    (
        "Hi, I was charged twice on my card {} and would like a refund. Please send the receipt to {} thanks",
        &[Entity::Card, Entity::Email],
    ),
    (
        "Please change my payout account to {} and call me on {} if anything is missing",
        &[Entity::Iban, Entity::Phone],
    ),
    (
        "My social security number is {} so can you tell me why my application was declined?",
        &[Entity::Ssn],
    ),
    (
        "Draft a reply to {} confirming that the transfer to {} went through",
        &[Entity::Email, Entity::Iban],
    ),
    (
        "Customer NAME with phone {} and e-mail {} asks about a late payment on card {} please summarise",
        &[Entity::Phone, Entity::Email, Entity::Card],
    ),
    (
        "Can you check if the direct debit from {} is set up correctly?",
        &[Entity::Iban],
    ),
    (
        "Reach me at {} or {} about my claim",
        &[Entity::Email, Entity::Phone],
    ),
];

/// A user prompt and the assistant's answer.
pub(crate) struct Exchange {
    pub(crate) prompt: String,
    pub(crate) answer: String,
}

/// A prompt and answer without personal data.
pub(crate) fn clean_exchange(rng: &mut StdRng) -> Exchange {
    Exchange {
        prompt: pick(rng, CLEAN_PROMPTS).to_owned(),
        answer: pick(rng, CLEAN_ANSWERS).to_owned(),
    }
}

/// A prompt with synthetic personal data; a quarter of the answers repeat an
/// e-mail address back, as assistants do.
pub(crate) fn pii_exchange(rng: &mut StdRng) -> Exchange {
    let (template, entities) = PII_PROMPTS[rng.random_range(0..PII_PROMPTS.len())];
    let mut prompt = String::with_capacity(template.len() + 64);
    let mut rest = template;
    for &entity in entities {
        let at = rest.find("{}").expect("one placeholder per entity");
        prompt.push_str(&rest[..at]);
        prompt.push_str(&value(rng, entity));
        rest = &rest[at + 2..];
    }
    prompt.push_str(rest);
    let prompt = prompt.replace("NAME", &name(rng));
    let answer = if rng.random_bool(0.25) {
        format!(
            "I have noted your request and sent a confirmation to {} just now",
            email(rng)
        )
    } else {
        pick(rng, CLEAN_ANSWERS).to_owned()
    };
    Exchange { prompt, answer }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn rng() -> StdRng {
        StdRng::seed_from_u64(7)
    }

    #[test]
    fn luhn_digit_matches_known_numbers() {
        // Issuers' published test numbers.
        for n in ["4111111111111111", "5555555555554444", "378282246310005"] {
            assert!(luhn_valid(n), "{n}");
        }
        assert!(!luhn_valid("4111111111111112"));
    }

    #[test]
    fn cards_pass_luhn_and_have_issued_lengths() {
        let mut rng = rng();
        for _ in 0..500 {
            let c = card(&mut rng);
            let digits: String = c.chars().filter(char::is_ascii_digit).collect();
            assert!(luhn_valid(&c), "{c}");
            let ok = match digits.as_bytes()[0] {
                b'4' | b'5' | b'6' => digits.len() == 16,
                b'3' => digits.len() == 15 && matches!(&digits[..2], "34" | "37"),
                _ => false,
            };
            assert!(ok, "{c}");
        }
    }

    #[test]
    fn ibans_have_valid_check_digits() {
        // ISO 13616's own example.
        assert_eq!(iban_mod97("GB", "82", "WEST12345698765432"), 1);
        let mut rng = rng();
        for _ in 0..500 {
            let i = iban(&mut rng).replace(' ', "");
            let len = match &i[..2] {
                "DE" | "GB" => 22,
                "NL" => 18,
                "BE" => 16,
                other => panic!("unexpected country {other}"),
            };
            assert_eq!(i.len(), len, "{i}");
            assert_eq!(iban_mod97(&i[..2], &i[2..4], &i[4..]), 1, "{i}");
        }
    }

    #[test]
    fn ssns_avoid_unissued_ranges() {
        let mut rng = rng();
        for _ in 0..500 {
            let s = ssn(&mut rng);
            let area: u16 = s[..3].parse().unwrap();
            assert!(area != 0 && area != 666 && area < 900, "{s}");
            assert_ne!(&s[4..6], "00");
            assert_ne!(&s[7..], "0000");
        }
    }

    #[test]
    fn clean_text_has_nothing_entity_shaped() {
        for t in CLEAN_PROMPTS.iter().chain(CLEAN_ANSWERS) {
            assert!(
                !t.contains(|c: char| c.is_ascii_digit() || c == '@' || c == ':'),
                "{t}"
            );
        }
    }

    #[test]
    fn pii_prompts_fill_every_placeholder() {
        let mut rng = rng();
        for _ in 0..100 {
            let e = pii_exchange(&mut rng);
            assert!(!e.prompt.contains("{}") && !e.prompt.contains("NAME"));
            assert!(e.prompt.contains(|c: char| c.is_ascii_digit() || c == '@'));
        }
    }
}
