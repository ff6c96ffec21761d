//! The AdmissionReview bodies every engine judges (`benches/fixtures/`).
//!
//! The files are pretty-printed so that a reviewer can read them; the API
//! server sends compact JSON, so each is re-serialised compactly once, at
//! load, and the engines see those bytes.

use anyhow::Context;

/// The fixture files, smallest first.
pub const FILES: [&str; 3] = [
    "pod-small.json",
    "deployment-multi.json",
    "inferenceservice-large.json",
];

/// One request body.
#[derive(Debug, Clone)]
pub struct Input {
    /// The file name without `.json`.
    pub name: String,
    /// Compact JSON, as an API server would send it.
    pub body: Vec<u8>,
}

/// The directory holding the fixtures.
pub fn dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Read and compact every fixture.
pub fn load() -> anyhow::Result<Vec<Input>> {
    FILES
        .iter()
        .map(|file| {
            let path = dir().join(file);
            let text =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let value: serde_json::Value = serde_json::from_slice(&text)
                .with_context(|| format!("{} is not JSON", path.display()))?;
            Ok(Input {
                name: file.trim_end_matches(".json").to_owned(),
                body: serde_json::to_vec(&value)?,
            })
        })
        .collect()
}
