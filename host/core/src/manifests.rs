//! Splitting YAML files into Kubernetes documents for `gavel scan`, with the
//! line each document starts on so errors point at the right place.
//!
//! Documents are split on `---` lines here rather than with the YAML
//! parser's multi-document iterator, which after a syntax error yields the
//! same error forever; each document is then parsed on its own, bounded in
//! size and depth like policy sets.

use crate::subject::Manifest;

/// Largest single document accepted.
pub const MAX_DOCUMENT_BYTES: usize = 4 << 20;

/// One document that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentError {
    /// 1-based line in the file.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for DocumentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// A document found in a file.
#[derive(Debug, Clone, PartialEq)]
pub enum Document {
    /// A Kubernetes-style object (it has `apiVersion` and `kind`).
    Object {
        /// The manifest subject (`path` is `<file>#<index>`).
        manifest: Manifest,
        /// 1-based line it starts on.
        line: usize,
        /// `kind`.
        kind: String,
        /// `metadata.name`, when present.
        name: Option<String>,
    },
    /// Something else (no `apiVersion`/`kind`, or a list of values): not judged.
    Other {
        /// 1-based line it starts on.
        line: usize,
    },
}

/// Split `text` (the content of `file`) into documents. Empty documents are
/// skipped; the first invalid one ends the file with its error.
pub fn documents(text: &str, file: &str) -> Result<Vec<Document>, DocumentError> {
    let mut out = Vec::new();
    let mut start = 1;
    let mut chunk = String::new();
    let mut index = 0;
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let separator = line.starts_with("---") && line[3..].trim().is_empty()
            || line.trim_end() == "..."
            || line.starts_with("--- ");
        if separator {
            flush(&chunk, start, file, &mut index, &mut out)?;
            chunk.clear();
            start = i + 2;
            // `--- {a: 1}` carries content on the separator line.
            if let Some(rest) = line.strip_prefix("--- ") {
                chunk.push_str(rest);
                chunk.push('\n');
                start = i + 1;
            }
        } else {
            chunk.push_str(line);
            chunk.push('\n');
        }
    }
    flush(&chunk, start, file, &mut index, &mut out)?;
    Ok(out)
}

fn flush(
    chunk: &str,
    line: usize,
    file: &str,
    index: &mut usize,
    out: &mut Vec<Document>,
) -> Result<(), DocumentError> {
    let meaningful = chunk.lines().any(|l| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#')
    });
    if !meaningful {
        return Ok(());
    }
    if chunk.len() > MAX_DOCUMENT_BYTES {
        return Err(DocumentError {
            line,
            message: format!("document is larger than {MAX_DOCUMENT_BYTES} bytes"),
        });
    }
    if let Err(e) = crate::policy::check_depth_public(chunk) {
        return Err(DocumentError {
            line: line + e.saturating_sub(1),
            message: "document nests too deeply".into(),
        });
    }
    let value: serde_json::Value = serde_yaml_ng::from_str(chunk).map_err(|e| DocumentError {
        line: line + e.location().map_or(0, |l| l.line().saturating_sub(1)),
        message: e.to_string(),
    })?;
    let doc_index = *index;
    *index += 1;
    let kind = value.get("kind").and_then(|k| k.as_str());
    let api_version = value.get("apiVersion").and_then(|k| k.as_str());
    out.push(match (kind, api_version) {
        (Some(kind), Some(_)) => Document::Object {
            kind: kind.to_owned(),
            name: value
                .pointer("/metadata/name")
                .and_then(|n| n.as_str())
                .map(str::to_owned),
            manifest: Manifest {
                path: format!("{file}#{doc_index}"),
                document: value.to_string(),
            },
            line,
        },
        _ => Document::Other { line },
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(docs: &[Document]) -> Vec<(usize, String)> {
        docs.iter()
            .map(|d| match d {
                Document::Object { line, kind, .. } => (*line, kind.clone()),
                Document::Other { line } => (*line, "-".into()),
            })
            .collect()
    }

    #[test]
    fn splits_with_lines() {
        let text = "# leading comment\napiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\n---\n# empty\n---\napiVersion: apps/v1\nkind: Deployment\n...\n--- {apiVersion: v1, kind: Service}\n---\nnot: kubernetes\n";
        let docs = documents(text, "f.yaml").unwrap();
        assert_eq!(
            lines(&docs),
            [
                (1, "Pod".into()),
                (9, "Deployment".into()),
                (12, "Service".into()),
                (14, "-".into())
            ]
        );
        let Document::Object { manifest, name, .. } = &docs[0] else {
            panic!()
        };
        assert_eq!(manifest.path, "f.yaml#0");
        assert_eq!(name.as_deref(), Some("a"));
        let Document::Object { manifest, .. } = &docs[2] else {
            panic!()
        };
        assert_eq!(manifest.path, "f.yaml#2");
    }

    #[test]
    fn errors_name_the_line_in_the_file() {
        let text = "apiVersion: v1\nkind: Pod\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: [unclosed\n";
        let err = documents(text, "f.yaml").unwrap_err();
        assert!(err.line >= 7, "{err}");
        let err = documents("a: b\n  c: d\n", "f.yaml").unwrap_err();
        assert_eq!(err.line, 2, "{err}");
    }

    #[test]
    fn non_objects_are_other() {
        let docs = documents("- 1\n- 2\n", "f.yaml").unwrap();
        assert_eq!(lines(&docs), [(1, "-".into())]);
        assert!(documents("", "f.yaml").unwrap().is_empty());
    }
}
