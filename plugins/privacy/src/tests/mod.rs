//! Plugin-level tests through gavel-sdk's native harness (the same settings
//! handling a component runs), and the corpus report.

mod corpus;
mod objects;
mod settings;
mod traces;
