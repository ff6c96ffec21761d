//! Personal data in free text: e-mail addresses, phone numbers, payment card
//! numbers, IBANs, US social security numbers and IP addresses.
//!
//! Each recogniser is a hand-written scanner over the text's bytes (every
//! pattern is ASCII), not a regular expression: the plugin runs in a fresh
//! instance per evaluation, so compiling a regex set would be paid on every
//! call. Where a number carries a checksum it is verified (Luhn for cards,
//! ISO 13616 mod-97 for IBANs), and where a format reserves values they are
//! refused (SSN areas 000, 666, 900–999), because a pattern alone would flag
//! every long id.
//!
//! [`scan`] returns where the entities are (byte offset and length) and never
//! copies them: callers report types, counts and positions only.

mod card;
mod email;
mod iban;
mod ip;
mod phone;
mod ssn;
mod text;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A kind of personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Entity {
    /// An e-mail address.
    Email,
    /// A phone number: E.164 (`+` and 8–15 digits) or a grouped national number.
    Phone,
    /// A payment card number that passes the Luhn check and has a known prefix.
    CreditCard,
    /// An IBAN that passes the ISO 13616 mod-97 check, in upper case.
    Iban,
    /// A US social security number, AAA-GG-SSSS.
    UsSsn,
    /// An IPv4 or IPv6 address.
    IpAddress,
}

impl Entity {
    /// Every entity type, in the order findings list them.
    pub const ALL: [Entity; 6] = [
        Entity::Email,
        Entity::Phone,
        Entity::CreditCard,
        Entity::Iban,
        Entity::UsSsn,
        Entity::IpAddress,
    ];

    /// The name used in settings and in the `entity` metric label.
    pub fn name(self) -> &'static str {
        match self {
            Entity::Email => "email",
            Entity::Phone => "phone",
            Entity::CreditCard => "credit-card",
            Entity::Iban => "iban",
            Entity::UsSsn => "us-ssn",
            Entity::IpAddress => "ip-address",
        }
    }

    /// What a finding calls one (`2 e-mail addresses`).
    pub fn noun(self, count: usize) -> &'static str {
        match (self, count == 1) {
            (Entity::Email, true) => "e-mail address",
            (Entity::Email, false) => "e-mail addresses",
            (Entity::Phone, true) => "phone number",
            (Entity::Phone, false) => "phone numbers",
            (Entity::CreditCard, true) => "payment card number",
            (Entity::CreditCard, false) => "payment card numbers",
            (Entity::Iban, true) => "IBAN",
            (Entity::Iban, false) => "IBANs",
            (Entity::UsSsn, true) => "US social security number",
            (Entity::UsSsn, false) => "US social security numbers",
            (Entity::IpAddress, true) => "IP address",
            (Entity::IpAddress, false) => "IP addresses",
        }
    }

    /// When two recognisers claim overlapping text, the lower rank wins: the
    /// more specific format (an e-mail address holding digits, an IBAN holding
    /// a card-like run) over the looser one (a phone number).
    fn rank(self) -> u8 {
        match self {
            Entity::Email => 0,
            Entity::Iban => 1,
            Entity::CreditCard => 2,
            Entity::UsSsn => 3,
            Entity::IpAddress => 4,
            Entity::Phone => 5,
        }
    }
}

/// Where one entity is: a byte range of the scanned text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    /// What it is.
    pub entity: Entity,
    /// Byte offset of its first byte.
    pub start: usize,
    /// Length in bytes.
    pub len: usize,
}

impl Match {
    fn end(&self) -> usize {
        self.start + self.len
    }

    fn overlaps(&self, other: &Match) -> bool {
        self.start < other.end() && other.start < self.end()
    }
}

/// Find the entities of the given types in `text`, in text order, with no two
/// overlapping.
pub fn scan(text: &str, entities: &[Entity]) -> Vec<Match> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    for &entity in entities {
        let ranges = match entity {
            Entity::Email => email::find(bytes),
            Entity::Phone => phone::find(bytes),
            Entity::CreditCard => card::find(bytes),
            Entity::Iban => iban::find(bytes),
            Entity::UsSsn => ssn::find(bytes),
            Entity::IpAddress => ip::find(text),
        };
        found.extend(ranges.into_iter().map(|(start, end)| Match {
            entity,
            start,
            len: end - start,
        }));
    }
    // Listing settings twice must not count twice.
    found.sort_by_key(|m| (m.entity.rank(), m.start, std::cmp::Reverse(m.len)));
    found.dedup();
    // Kept matches by start; they never overlap, so only the neighbours of a
    // new match can overlap it. A map keeps this O(n log n) on texts with
    // many matches.
    let mut kept: BTreeMap<usize, Match> = BTreeMap::new();
    for m in found {
        let before = kept.range(..=m.start).next_back().map(|(_, k)| k);
        let after = kept.range(m.start..).next().map(|(_, k)| k);
        if !before.into_iter().chain(after).any(|k| k.overlaps(&m)) {
            kept.insert(m.start, m);
        }
    }
    kept.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The entities found in `text`, as (type, matched text).
    fn found(text: &str) -> Vec<(Entity, &str)> {
        scan(text, &Entity::ALL)
            .into_iter()
            .map(|m| (m.entity, &text[m.start..m.end()]))
            .collect()
    }

    #[test]
    fn mixed_text() {
        use Entity::*;
        for (text, want) in [
            ("", vec![]),
            ("no personal data here, version 1.2.3", vec![]),
            (
                "mail jane.doe@example.org or call +44 20 7946 0958",
                vec![(Email, "jane.doe@example.org"), (Phone, "+44 20 7946 0958")],
            ),
            (
                "card 4111 1111 1111 1111, SSN 219-09-9999, from 198.51.100.7",
                vec![
                    (CreditCard, "4111 1111 1111 1111"),
                    (UsSsn, "219-09-9999"),
                    (IpAddress, "198.51.100.7"),
                ],
            ),
            (
                "IBAN DE44 5001 0517 5407 3249 31 please",
                vec![(Iban, "DE44 5001 0517 5407 3249 31")],
            ),
            // The digits of an e-mail address are not a phone number.
            (
                "4155550132@example.com",
                vec![(Email, "4155550132@example.com")],
            ),
            ("über: 2001:db8::7 – ok", vec![(IpAddress, "2001:db8::7")]),
        ] {
            assert_eq!(found(text), want, "{text:?}");
        }
    }

    #[test]
    fn only_the_requested_types() {
        let text = "jane@example.org 198.51.100.7";
        let got = scan(text, &[Entity::IpAddress, Entity::IpAddress]);
        assert_eq!(
            got,
            [Match {
                entity: Entity::IpAddress,
                start: 17,
                len: 12
            }]
        );
    }

    #[test]
    fn names_round_trip_through_serde() {
        for entity in Entity::ALL {
            let json = serde_json::to_string(&entity).unwrap();
            assert_eq!(json, format!("\"{}\"", entity.name()));
        }
    }
}
