//! The tamper-evident audit trail: append-only JSON Lines, one record per
//! decision, each chained to the one before by SHA-256.
//!
//! A record's `hash` is `sha256(prevHash ‖ canonical)`, where `canonical` is
//! the record without its `hash` field, serialised as JSON with sorted keys
//! (serde_json's default map). Editing, deleting or reordering a record
//! breaks the chain at that record; a torn last line (a crash mid-write) is
//! detected when the log is reopened, moved aside, and the chain goes on from
//! the last whole record. Dropping whole records from the *end* leaves a
//! valid shorter chain: compare the head (`seq`, `hash`), which gavel logs
//! when it opens the log and `gavel audit verify` prints, with an external
//! copy to detect that.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub use gavel_core::Durability;

/// The `prevHash` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Errors of the audit trail.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The log file could not be opened, read or written.
    #[error("audit log `{path}`: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The IO error (in the message, so not also a `source`).
        cause: std::io::Error,
    },
    /// A record could not be serialised.
    #[error("cannot serialise an audit record: {0}")]
    Serialise(String),
}

/// The head of a chain: the last record's sequence number and hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Head {
    /// Sequence number of the last record (records start at 1; 0 means empty).
    pub seq: u64,
    /// Hash of the last record ([`GENESIS`] when empty).
    pub hash: String,
}

/// An append-only, hash-chained audit log. `Send + Sync`: appends are serialised.
pub struct AuditLog {
    path: PathBuf,
    state: Mutex<Writer>,
}

struct Writer {
    file: File,
    head: Head,
}

/// What [`AuditLog::open`] found and repaired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Where a torn last line was moved, if there was one.
    pub torn_tail: Option<PathBuf>,
    /// The head the chain continues from.
    pub head: Head,
}

fn canonical_hash(prev: &str, record: &Value) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    // A Value serialises maps with sorted keys: the canonical form.
    h.update(serde_json::to_vec(record).unwrap_or_default());
    hex::encode(h.finalize())
}

impl AuditLog {
    /// Open (or create) the log at `path`, checking its last line. A torn or
    /// unparsable last line is moved to `<path>.torn-<n>` and cut off.
    pub fn open(path: impl Into<PathBuf>) -> Result<(AuditLog, Recovery), AuditError> {
        let path = path.into();
        let io = |source| AuditError::Io {
            path: path.clone(),
            cause: source,
        };
        // Private to gavel: with keepInput the records hold objects and userInfo.
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&path)
            .map_err(io)?;
        let (head, good_len, torn) = scan_tail(&mut file).map_err(io)?;
        let mut torn_tail = None;
        if let Some(bytes) = torn {
            let aside = next_free(&path);
            std::fs::write(&aside, &bytes).map_err(io)?;
            file.set_len(good_len).map_err(io)?;
            file.sync_all().map_err(io)?;
            tracing::warn!(
                path = %path.display(),
                aside = %aside.display(),
                "audit log ended in a torn record (crash mid-write): moved it aside, the chain continues from record {}",
                head.seq
            );
            torn_tail = Some(aside);
        }
        file.seek(SeekFrom::End(0)).map_err(io)?;
        let recovery = Recovery {
            torn_tail,
            head: head.clone(),
        };
        Ok((
            AuditLog {
                path,
                state: Mutex::new(Writer { file, head }),
            },
            recovery,
        ))
    }

    /// The file this log writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current head of the chain.
    pub fn head(&self) -> Head {
        self.lock().head.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Writer> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Append `body` (a JSON object: the decision) as the next record, and
    /// return its head. `seq`, `prevHash` and `hash` are added here. With
    /// [`Durability::Fsync`] the record is on stable storage when this returns.
    pub fn append(
        &self,
        body: &impl Serialize,
        durability: Durability,
    ) -> Result<Head, AuditError> {
        let mut record =
            serde_json::to_value(body).map_err(|e| AuditError::Serialise(e.to_string()))?;
        let Value::Object(map) = &mut record else {
            return Err(AuditError::Serialise(
                "an audit record must be a JSON object".into(),
            ));
        };
        let mut w = self.lock();
        let seq = w.head.seq + 1;
        map.insert("seq".into(), seq.into());
        map.insert("prevHash".into(), w.head.hash.clone().into());
        map.remove("hash");
        let hash = canonical_hash(&w.head.hash, &record);
        if let Value::Object(map) = &mut record {
            map.insert("hash".into(), hash.clone().into());
        }
        let mut line =
            serde_json::to_vec(&record).map_err(|e| AuditError::Serialise(e.to_string()))?;
        line.push(b'\n');
        let io = |source| AuditError::Io {
            path: self.path.clone(),
            cause: source,
        };
        // One write of the whole line: a crash leaves at most a torn tail,
        // which `open` detects. A failed write or fsync (disk full, IO error)
        // is undone, so the next record does not land after a fragment or
        // repeat this record's sequence number.
        let before = w.file.metadata().map_err(io)?.len();
        let written = w.file.write_all(&line).and_then(|()| match durability {
            Durability::Fsync => w.file.sync_data(),
            Durability::Write => Ok(()),
        });
        if let Err(e) = written {
            if let Err(undo) = w.file.set_len(before) {
                tracing::error!(path = %self.path.display(), "cannot undo a failed audit write ({undo}): the log needs repair before the next start");
            }
            return Err(io(e));
        }
        w.head = Head { seq, hash };
        Ok(w.head.clone())
    }
}

/// Find the last whole, parsable line. Returns its head, the length of the
/// good prefix, and the torn tail's bytes if there is one.
fn scan_tail(file: &mut File) -> std::io::Result<(Head, u64, Option<Vec<u8>>)> {
    let len = file.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok((genesis(), 0, None));
    }
    let ends_whole = read_range(file, len - 1, len)? == b"\n";
    let last_start = line_start(file, if ends_whole { len - 1 } else { len })?;
    if ends_whole {
        let line = read_range(file, last_start, len - 1)?;
        if let Some(head) = head_of(&line) {
            return Ok((head, len, None));
        }
    }
    // The last line is torn (no newline) or unparsable: set it aside, and
    // continue from the line before it.
    let torn = read_range(file, last_start, len)?;
    let head = if last_start == 0 {
        genesis()
    } else {
        let prev_start = line_start(file, last_start - 1)?;
        head_of(&read_range(file, prev_start, last_start - 1)?).unwrap_or_else(genesis)
    };
    Ok((head, last_start, Some(torn)))
}

/// The offset where the line containing the byte before `end` starts.
fn line_start(file: &mut File, end: u64) -> std::io::Result<u64> {
    const CHUNK: u64 = 64 * 1024;
    let mut pos = end;
    while pos > 0 {
        let start = pos.saturating_sub(CHUNK);
        let buf = read_range(file, start, pos)?;
        if let Some(i) = buf.iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        pos = start;
    }
    Ok(0)
}

fn read_range(file: &mut File, start: u64, end: u64) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0; usize::try_from(end - start).unwrap_or(0)];
    file.seek(SeekFrom::Start(start))?;
    std::io::Read::read_exact(file, &mut buf)?;
    Ok(buf)
}

fn genesis() -> Head {
    Head {
        seq: 0,
        hash: GENESIS.into(),
    }
}

fn head_of(line: &[u8]) -> Option<Head> {
    #[derive(Deserialize)]
    struct H {
        seq: u64,
        hash: String,
    }
    serde_json::from_slice::<H>(line).ok().map(|h| Head {
        seq: h.seq,
        hash: h.hash,
    })
}

fn next_free(path: &Path) -> PathBuf {
    (1..)
        .map(|n| {
            let mut p = path.as_os_str().to_owned();
            p.push(format!(".torn-{n}"));
            PathBuf::from(p)
        })
        .find(|p| !p.exists())
        .unwrap_or_else(|| path.with_extension("torn"))
}

/// The first problem [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Broken {
    /// 1-based line number in the file.
    pub line: u64,
    /// What is wrong, in words.
    pub reason: String,
}

/// The result of verifying a log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// Records that verified, in order, before the first problem.
    pub verified: u64,
    /// The head of the verified prefix.
    pub head: Head,
    /// The first problem, if any.
    pub broken: Option<Broken>,
}

/// Verify the chain of the log at `path`, stopping at the first bad record.
pub fn verify(path: &Path) -> Result<Verification, AuditError> {
    let io = |source| AuditError::Io {
        path: path.to_owned(),
        cause: source,
    };
    let bytes = std::fs::read(path).map_err(io)?;
    Ok(verify_bytes(&bytes))
}

/// Verify a log held in memory.
pub fn verify_bytes(bytes: &[u8]) -> Verification {
    let mut head = genesis();
    let mut verified = 0;
    let broken = |line: u64, reason: String| Some(Broken { line, reason });
    for (i, raw) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
        let n = i as u64 + 1;
        let done = |b| Verification {
            verified,
            head: head.clone(),
            broken: b,
        };
        let Some(line) = raw.strip_suffix(b"\n") else {
            return done(broken(
                n,
                "last line is incomplete (truncated or torn write)".into(),
            ));
        };
        let mut record: Value = match serde_json::from_slice(line) {
            Ok(v) => v,
            Err(e) => return done(broken(n, format!("not a JSON record: {e}"))),
        };
        let Some(map) = record.as_object_mut() else {
            return done(broken(n, "not a JSON object".into()));
        };
        let Some(Value::String(hash)) = map.remove("hash") else {
            return done(broken(n, "record has no hash".into()));
        };
        let seq = map.get("seq").and_then(Value::as_u64);
        if seq != Some(head.seq + 1) {
            let got = seq.map_or("none".into(), |s| s.to_string());
            return done(broken(
                n,
                format!(
                    "sequence number is {got}, expected {}: a record was deleted or reordered",
                    head.seq + 1
                ),
            ));
        }
        if map.get("prevHash").and_then(Value::as_str) != Some(head.hash.as_str()) {
            return done(broken(
                n,
                "prevHash does not match the previous record's hash: a record was deleted, reordered or edited".into(),
            ));
        }
        if canonical_hash(&head.hash, &record) != hash {
            return done(broken(
                n,
                "hash does not match the record's content: the record was edited".into(),
            ));
        }
        head = Head {
            seq: head.seq + 1,
            hash,
        };
        verified += 1;
    }
    Verification {
        verified,
        head,
        broken: None,
    }
}

/// Read record number `seq` (1-based) from the log at `path`.
pub fn read_record(path: &Path, seq: u64) -> Result<Option<Value>, AuditError> {
    let io = |source| AuditError::Io {
        path: path.to_owned(),
        cause: source,
    };
    let file = File::open(path).map_err(io)?;
    for line in BufReader::new(file).lines() {
        let line = line.map_err(io)?;
        if let Ok(v) = serde_json::from_str::<Value>(&line)
            && v.get("seq").and_then(Value::as_u64) == Some(seq)
        {
            return Ok(Some(v));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct TempLog(PathBuf);

    impl TempLog {
        fn new(name: &str) -> TempLog {
            let p = std::env::temp_dir()
                .join(format!("gavel-audit-{}-{name}.jsonl", std::process::id()));
            let _ = std::fs::remove_file(&p);
            TempLog(p)
        }
    }

    impl Drop for TempLog {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
            for n in 1..4 {
                let mut p = self.0.as_os_str().to_owned();
                p.push(format!(".torn-{n}"));
                let _ = std::fs::remove_file(PathBuf::from(p));
            }
        }
    }

    fn write(log: &TempLog, n: u64) -> Vec<String> {
        let (audit, _) = AuditLog::open(&log.0).unwrap();
        for i in 0..n {
            audit
                .append(
                    &json!({"decision": "allow", "i": i, "f": 0.1 + i as f64}),
                    Durability::Write,
                )
                .unwrap();
        }
        std::fs::read_to_string(&log.0)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn verify_lines(lines: &[String]) -> Verification {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        verify_bytes(text.as_bytes())
    }

    #[test]
    fn a_clean_chain_verifies() {
        let log = TempLog::new("clean");
        let lines = write(&log, 5);
        let v = verify(&log.0).unwrap();
        assert_eq!((v.verified, v.broken), (5, None));
        assert_eq!(v.head.seq, 5);
        assert_eq!(lines.len(), 5);
        let first: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(first["prevHash"], GENESIS);
        assert_eq!(first["seq"], 1);
    }

    #[track_caller]
    fn check_broken(lines: &[String], line: u64, reason: &str) {
        let v = verify_lines(lines);
        let b = v.broken.expect("tampering must be detected");
        assert_eq!(b.line, line, "{b:?}");
        assert!(b.reason.contains(reason), "{b:?}");
        assert_eq!(v.verified, line - 1);
    }

    #[test]
    fn every_kind_of_tampering_is_detected() {
        let log = TempLog::new("tamper");
        let lines = write(&log, 5);

        let mut edited = lines.clone();
        edited[2] = edited[2].replace("\"allow\"", "\"deny\"");
        check_broken(&edited, 3, "the record was edited");

        let mut edited_float = lines.clone();
        edited_float[1] = edited_float[1].replace("1.1", "1.2");
        check_broken(&edited_float, 2, "the record was edited");

        let mut deleted = lines.clone();
        deleted.remove(1);
        check_broken(&deleted, 2, "expected 2");

        let mut reordered = lines.clone();
        reordered.swap(1, 3);
        check_broken(&reordered, 2, "deleted or reordered");

        // Renumbered after a deletion: the chain still breaks.
        let mut renumbered = lines.clone();
        renumbered.remove(1);
        let mut v: Value = serde_json::from_str(&renumbered[1]).unwrap();
        v["seq"] = json!(2);
        renumbered[1] = v.to_string();
        check_broken(&renumbered, 2, "prevHash does not match");

        // Rehashing one record is not enough: the next one points at the old hash.
        let mut forged = lines.clone();
        let mut v: Value = serde_json::from_str(&forged[2]).unwrap();
        v["decision"] = json!("deny");
        let prev = v["prevHash"].as_str().unwrap().to_owned();
        v.as_object_mut().unwrap().remove("hash");
        let h = canonical_hash(&prev, &v);
        v["hash"] = json!(h);
        forged[2] = v.to_string();
        check_broken(&forged, 4, "prevHash does not match");

        let mut garbage = lines.clone();
        garbage[0] = "{not json".into();
        check_broken(&garbage, 1, "not a JSON record");

        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let truncated = &text.as_bytes()[..text.len() - 10];
        let v = verify_bytes(truncated);
        assert_eq!(
            v.broken.unwrap().reason,
            "last line is incomplete (truncated or torn write)"
        );
        assert_eq!(v.verified, 4);
    }

    #[test]
    fn a_torn_last_record_is_set_aside_and_the_chain_goes_on() {
        let log = TempLog::new("torn");
        write(&log, 3);
        // Simulate a crash mid-write: half a record, no newline.
        let mut f = OpenOptions::new().append(true).open(&log.0).unwrap();
        f.write_all(br#"{"decision":"deny","seq":4,"prevHa"#)
            .unwrap();
        drop(f);
        let (audit, recovery) = AuditLog::open(&log.0).unwrap();
        assert_eq!(recovery.head.seq, 3);
        let aside = recovery.torn_tail.expect("torn tail moved aside");
        assert_eq!(
            std::fs::read(&aside).unwrap(),
            br#"{"decision":"deny","seq":4,"prevHa"#
        );
        audit
            .append(&json!({"decision": "allow"}), Durability::Fsync)
            .unwrap();
        let v = verify(&log.0).unwrap();
        assert_eq!((v.verified, v.broken), (4, None));
    }

    #[test]
    fn the_log_is_private_to_gavel() {
        use std::os::unix::fs::PermissionsExt;
        let log = TempLog::new("mode");
        write(&log, 1);
        let mode = std::fs::metadata(&log.0).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "mode {mode:o}");
    }

    #[test]
    fn floats_survive_the_round_trip_the_chain_depends_on() {
        let log = TempLog::new("floats");
        let (audit, _) = AuditLog::open(&log.0).unwrap();
        for v in [
            0.1 + 0.2,
            1.0 / 3.0,
            2.225_073_858_507_201e-308,
            9_007_199_254_740_993.0,
            0.123_456_789_012_345_68,
        ] {
            audit
                .append(&json!({"ratio": v}), Durability::Write)
                .unwrap();
        }
        assert_eq!(verify(&log.0).unwrap().broken, None);
    }

    #[test]
    fn reopening_continues_the_chain() {
        let log = TempLog::new("reopen");
        write(&log, 2);
        let (audit, recovery) = AuditLog::open(&log.0).unwrap();
        assert_eq!((recovery.head.seq, recovery.torn_tail), (2, None));
        assert_eq!(
            audit
                .append(&json!({"x": 1}), Durability::Write)
                .unwrap()
                .seq,
            3
        );
        assert_eq!(verify(&log.0).unwrap().verified, 3);
        assert_eq!(read_record(&log.0, 3).unwrap().unwrap()["x"], 1);
        assert_eq!(read_record(&log.0, 9).unwrap(), None);
    }

    #[test]
    fn a_torn_line_after_a_long_record_finds_its_head() {
        let log = TempLog::new("long");
        let (audit, _) = AuditLog::open(&log.0).unwrap();
        audit
            .append(&json!({"big": "y".repeat(200_000)}), Durability::Write)
            .unwrap();
        let head = audit
            .append(&json!({"big": "z".repeat(100_000)}), Durability::Write)
            .unwrap();
        drop(audit);
        let mut f = OpenOptions::new().append(true).open(&log.0).unwrap();
        f.write_all(b"{\"partial\":").unwrap();
        drop(f);
        let (_, recovery) = AuditLog::open(&log.0).unwrap();
        assert_eq!(recovery.head, head);
    }
}
