//! Precision and recall of the recognisers on a labelled corpus, when one is
//! given: `PRIVACY_PII_CORPUS=<dir> cargo test -p privacy corpus -- --nocapture`
//! reads every `*.json` file in `<dir>` (an array of `{"text", "entities":
//! [{"type", "value"}]}` with Presidio's entity type names), prints a table per
//! file and per entity type, and checks nothing: the numbers are for people
//! tuning the recognisers. Without the variable the test does nothing, since
//! the repository ships no third-party corpus.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::pii::{self, Entity};

#[derive(Deserialize)]
struct Case {
    text: String,
    entities: Vec<Labelled>,
}

#[derive(Deserialize)]
struct Labelled {
    #[serde(rename = "type")]
    kind: String,
    value: String,
}

fn entity(presidio: &str) -> Option<Entity> {
    Some(match presidio {
        "EMAIL_ADDRESS" => Entity::Email,
        "PHONE_NUMBER" => Entity::Phone,
        "CREDIT_CARD" => Entity::CreditCard,
        "IBAN_CODE" => Entity::Iban,
        "US_SSN" => Entity::UsSsn,
        "IP_ADDRESS" => Entity::IpAddress,
        _ => return None,
    })
}

#[derive(Default)]
struct Tally {
    true_positives: usize,
    false_positives: usize,
    false_negatives: usize,
}

/// Score one case: a found entity is a true positive when a labelled one of
/// the same type has the same text (each labelled one counts once).
fn score(case: &Case, tallies: &mut BTreeMap<Entity, Tally>, verbose: bool) {
    let mut expected: Vec<(Entity, &str)> = case
        .entities
        .iter()
        .filter_map(|l| Some((entity(&l.kind)?, l.value.as_str())))
        .collect();
    for m in pii::scan(&case.text, &Entity::ALL) {
        let text = &case.text[m.start..m.start + m.len];
        let tally = tallies.entry(m.entity).or_default();
        match expected
            .iter()
            .position(|&(e, v)| e == m.entity && v == text)
        {
            Some(i) => {
                expected.swap_remove(i);
                tally.true_positives += 1;
            }
            None => {
                tally.false_positives += 1;
                if verbose {
                    println!(
                        "  false positive {}: {text:?} in {:?}",
                        m.entity.name(),
                        case.text
                    );
                }
            }
        }
    }
    for (e, v) in expected {
        tallies.entry(e).or_default().false_negatives += 1;
        if verbose {
            println!("  missed {}: {v:?} in {:?}", e.name(), case.text);
        }
    }
}

#[test]
fn corpus() {
    let Some(dir) = std::env::var_os("PRIVACY_PII_CORPUS") else {
        return;
    };
    let verbose = std::env::var_os("PRIVACY_PII_CORPUS_VERBOSE").is_some();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("PRIVACY_PII_CORPUS must name a directory")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    for path in files {
        let cases: Vec<Case> = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        println!("{} ({} cases)", path.display(), cases.len());
        let mut tallies = BTreeMap::new();
        for case in &cases {
            score(case, &mut tallies, verbose);
        }
        println!(
            "  {:<12} {:>4} {:>4} {:>4} {:>9} {:>9}",
            "entity", "tp", "fp", "fn", "precision", "recall"
        );
        for (entity, t) in &tallies {
            let ratio = |a: usize, b: usize| {
                if a + b == 0 {
                    f64::NAN
                } else {
                    a as f64 / (a + b) as f64
                }
            };
            println!(
                "  {:<12} {:>4} {:>4} {:>4} {:>9.3} {:>9.3}",
                entity.name(),
                t.true_positives,
                t.false_positives,
                t.false_negatives,
                ratio(t.true_positives, t.false_positives),
                ratio(t.true_positives, t.false_negatives)
            );
        }
    }
}
