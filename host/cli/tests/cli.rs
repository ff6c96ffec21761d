//! The `gavel` binary end to end: serve, audit verify, audit replay, and a
//! writer killed mid-record.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const GAVEL: &str = env!("CARGO_BIN_EXE_gavel");

fn review() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/admission/gpu-pod-create.json"
    ))
    .unwrap()
}

fn temp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("gavel-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

struct Serve {
    child: Child,
    addr: SocketAddr,
    /// What gavel printed before its address line.
    startup: Vec<String>,
    stderr: mpsc::Receiver<String>,
}

impl Serve {
    fn start(args: &[&str]) -> Serve {
        let mut child = Command::new(GAVEL)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut startup = Vec::new();
        let addr = loop {
            let line = rx
                .recv_timeout(Duration::from_secs(120))
                .expect("gavel serve printed its address");
            if let Some(rest) = line.split(" on http://").nth(1) {
                break rest.trim_end_matches("/validate").parse().unwrap();
            }
            startup.push(line);
        };
        Serve {
            child,
            addr,
            startup,
            stderr: rx,
        }
    }

    fn post(&self, body: &[u8]) -> String {
        let mut s = TcpStream::connect(self.addr).unwrap();
        write!(
            s,
            "POST /validate HTTP/1.1\r\nHost: gavel\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .unwrap();
        s.write_all(body).unwrap();
        let mut response = String::new();
        s.read_to_string(&mut response).unwrap();
        response
    }

    /// SIGTERM, as Kubernetes stops a pod; waits for a clean exit.
    fn terminate(mut self) -> Vec<String> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "gavel serve exited with {status}");
        // The reader thread ends with the pipe; collect everything it read.
        let mut lines = self.startup;
        lines.extend(self.stderr.iter());
        lines
    }
}

fn gavel(args: &[&str]) -> Output {
    Command::new(GAVEL).args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn serve_denies_then_the_audit_trail_verifies_and_replays() {
    let log = temp("audit.jsonl");
    let serve = Serve::start(&["--audit-log", log.to_str().unwrap()]);
    let response = serve.post(&review());
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#""allowed":false"#), "{response}");
    assert!(
        response.contains("cost: cost.missing-allocation-labels"),
        "{response}"
    );
    serve.post(&review());
    let bad = serve.post(b"{}");
    assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");
    serve.terminate();

    let ok = gavel(&["audit", "verify", log.to_str().unwrap()]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    assert!(
        text(&ok).starts_with("ok: 2 records verified"),
        "{}",
        text(&ok)
    );

    let replay = gavel(&["audit", "replay", log.to_str().unwrap(), "--record", "2"]);
    assert_eq!(replay.status.code(), Some(0), "{}", text(&replay));
    assert!(text(&replay).contains("identical"), "{}", text(&replay));

    let missing = gavel(&["audit", "replay", log.to_str().unwrap(), "--record", "9"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing).contains("no record with seq 9"),
        "{}",
        text(&missing)
    );

    // Edit the first decision: verify fails at line 1, replay refuses.
    let content = std::fs::read_to_string(&log).unwrap();
    std::fs::write(
        &log,
        content.replacen(r#""decision":"deny""#, r#""decision":"allow""#, 1),
    )
    .unwrap();
    let broken = gavel(&["audit", "verify", log.to_str().unwrap()]);
    assert_eq!(broken.status.code(), Some(1), "{}", text(&broken));
    assert!(
        text(&broken).contains("BROKEN at line 1: hash does not match"),
        "{}",
        text(&broken)
    );
    let json = gavel(&["audit", "verify", "--json", log.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["broken"]["line"], 1);
    let refused = gavel(&["audit", "replay", log.to_str().unwrap(), "--record", "2"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        text(&refused).contains("the audit chain is broken at line 1"),
        "{}",
        text(&refused)
    );
    std::fs::remove_file(&log).unwrap();
}

#[test]
fn a_writer_killed_mid_record_leaves_a_chain_that_continues() {
    let log = temp("killed.jsonl");
    let serve = Serve::start(&["--audit-log", log.to_str().unwrap()]);
    let addr = serve.addr;
    // Load from several threads, then SIGKILL while requests are in flight.
    let load: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                for _ in 0..200 {
                    let Ok(mut s) = TcpStream::connect(addr) else { return };
                    let body = review();
                    let _ = write!(
                        s,
                        "POST /validate HTTP/1.1\r\nHost: g\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = s.write_all(&body);
                    let _ = s.read_to_end(&mut Vec::new());
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut child = serve.child;
    child.kill().unwrap();
    child.wait().unwrap();
    for t in load {
        t.join().unwrap();
    }
    // Whatever the kill left, make sure the file ends in a torn record too.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(br#"{"config":{"version":"x"},"decision":"de"#)
        .unwrap();
    let before = gavel(&["audit", "verify", log.to_str().unwrap()]);
    assert_eq!(before.status.code(), Some(1), "{}", text(&before));
    assert!(
        text(&before).contains("last line is incomplete"),
        "{}",
        text(&before)
    );

    let serve = Serve::start(&["--audit-log", log.to_str().unwrap()]);
    assert!(serve.post(&review()).contains(r#""allowed":false"#));
    let logs = serve.terminate().join("\n");
    assert!(logs.contains("torn record"), "{logs}");
    let after = gavel(&["audit", "verify", log.to_str().unwrap()]);
    assert_eq!(after.status.code(), Some(0), "{}", text(&after));
    let aside = PathBuf::from(format!("{}.torn-1", log.display()));
    assert!(
        std::fs::read(&aside)
            .unwrap()
            .ends_with(br#""decision":"de"#)
    );
    std::fs::remove_file(&log).unwrap();
    std::fs::remove_file(&aside).unwrap();
}

#[test]
fn user_errors_say_what_to_do() {
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["serve", "--listen", "0.0.0.0:0"],
            2,
            "refusing plain HTTP on 0.0.0.0:0",
        ),
        (&["serve", "--tls-cert", "/nonexistent.crt"], 2, "--tls-key"),
        (
            &[
                "serve",
                "--tls-cert",
                "/nonexistent.crt",
                "--tls-key",
                "/nonexistent.key",
            ],
            2,
            "cannot read certificates from `/nonexistent.crt`",
        ),
        (
            &["audit", "verify", "/nonexistent.jsonl"],
            2,
            "audit log `/nonexistent.jsonl`",
        ),
        (&["bogus"], 2, "unrecognized subcommand"),
    ];
    for (args, code, expect) in cases {
        let o = gavel(args);
        assert_eq!(o.status.code(), Some(*code), "{args:?}: {}", text(&o));
        assert!(
            text(&o).contains(expect),
            "{args:?}: `{}` lacks `{expect}`",
            text(&o)
        );
    }
}

#[test]
fn a_policy_set_directory_is_served() {
    let dir = std::env::temp_dir().join(format!("gavel-cli-{}-policy", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("policy-set.yaml"),
        "apiVersion: gavel.dev/v1alpha1\nkind: PolicySet\nname: team-only\nplugins:\n  - name: labels\n    module: builtin:required-labels\n    settings: { labels: [team] }\n",
    )
    .unwrap();
    let serve = Serve::start(&["--policy-set", dir.to_str().unwrap()]);
    // The example Pod has `team`: allowed under this policy set.
    assert!(serve.post(&review()).contains(r#""allowed":true"#));
    serve.terminate();
    std::fs::remove_dir_all(Path::new(&dir)).unwrap();
}

#[test]
fn gavel_test_runs_suites_and_shows_what_differs() {
    let dir = std::env::temp_dir().join(format!("gavel-cli-{}-suite", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/admission/gpu-pod-create.json"
        ),
        dir.join("pod.json"),
    )
    .unwrap();
    let suite = |expect: &str| {
        format!(
            "apiVersion: gavel.dev/v1alpha1\nkind: TestSuite\nplugin: required-labels\nsettings: {{ labels: [team, cost-center] }}\ncases:\n  - name: the example pod\n    admission: pod.json\n    expect: {expect}\n"
        )
    };
    std::fs::write(
        dir.join("good.suite.yaml"),
        suite("{ decision: deny, findings: [labels.missing] }"),
    )
    .unwrap();
    let ok = gavel(&["test", dir.join("good.suite.yaml").to_str().unwrap()]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    assert!(text(&ok).contains("✓ the example pod"), "{}", text(&ok));
    assert!(text(&ok).contains("1 passed, 0 failed"), "{}", text(&ok));

    std::fs::write(
        dir.join("bad.suite.yaml"),
        suite("{ decision: allow, findings: [] }"),
    )
    .unwrap();
    let junit = dir.join("junit.xml");
    let bad = gavel(&[
        "test",
        dir.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    let out = text(&bad);
    assert!(out.contains("✗ the example pod"), "{out}");
    assert!(out.contains("decision: expected allow, got deny"), "{out}");
    assert!(
        out.contains(r#"findings: expected [], got ["labels.missing"]"#),
        "{out}"
    );
    assert!(out.contains("1 passed, 1 failed"), "{out}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<failure message=\"decision: expected allow, got deny\">"),
        "{xml}"
    );
    assert!(xml.contains("tests=\"1\" failures=\"1\""), "{xml}");

    std::fs::write(dir.join("bad.suite.yaml"), suite("{ decision: maybe }")).unwrap();
    let invalid = gavel(&["test", dir.join("bad.suite.yaml").to_str().unwrap()]);
    assert_eq!(invalid.status.code(), Some(2), "{}", text(&invalid));
    assert!(
        text(&invalid).contains("invalid test suite at line 8"),
        "{}",
        text(&invalid)
    );

    std::fs::write(
        dir.join("bad.suite.yaml"),
        suite("{ decision: deny }").replace("required-labels", "nope"),
    )
    .unwrap();
    let unknown = gavel(&["test", dir.join("bad.suite.yaml").to_str().unwrap()]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        text(&unknown).contains("unknown plugin `nope`"),
        "{}",
        text(&unknown)
    );

    let empty = std::env::temp_dir().join(format!("gavel-cli-{}-empty", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let none = gavel(&["test", empty.to_str().unwrap()]);
    assert_eq!(none.status.code(), Some(2));
    assert!(
        text(&none).contains("no test suites found"),
        "{}",
        text(&none)
    );
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&empty).unwrap();
}

#[test]
fn eval_scan_and_inspect() {
    let review = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/admission/gpu-pod-create.json"
    );
    let denied = gavel(&["eval", "--admission", review]);
    assert_eq!(denied.status.code(), Some(1), "{}", text(&denied));
    assert!(
        text(&denied).contains("decision: deny"),
        "{}",
        text(&denied)
    );
    assert!(
        text(&denied).contains("cost.missing-allocation-labels [Medium] at /metadata/labels"),
        "{}",
        text(&denied)
    );
    let json = gavel(&["eval", "--json", "--admission", review]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["decision"], "deny");
    let none = gavel(&["eval"]);
    assert_eq!(none.status.code(), Some(2), "{}", text(&none));

    let dir = std::env::temp_dir().join(format!("gavel-cli-{}-scan", std::process::id()));
    std::fs::create_dir_all(dir.join("apps")).unwrap();
    std::fs::write(
        dir.join("apps/ok.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels: {team: x, cost-center: y}\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: b\n  labels: {team: x}\n",
    )
    .unwrap();
    let scan = gavel(&["scan", dir.to_str().unwrap()]);
    assert_eq!(scan.status.code(), Some(1), "{}", text(&scan));
    let out = text(&scan);
    assert!(out.contains("apps/ok.yaml:7"), "{out}");
    assert!(out.contains("Pod/b"), "{out}");
    assert!(
        out.contains("2 documents: 1 allowed, 0 warned, 1 denied"),
        "{out}"
    );
    std::fs::write(
        dir.join("broken.yaml"),
        "apiVersion: v1\nkind: Pod\n---\nmetadata:\n  name: [x\n",
    )
    .unwrap();
    let broken = gavel(&["scan", dir.to_str().unwrap()]);
    assert_eq!(broken.status.code(), Some(2), "{}", text(&broken));
    assert!(
        text(&broken).contains("broken.yaml:6:"),
        "{}",
        text(&broken)
    );

    let not_wasm = dir.join("x.wasm");
    std::fs::write(&not_wasm, b"(component)").unwrap();
    let inspect = gavel(&["inspect", not_wasm.to_str().unwrap()]);
    assert_eq!(inspect.status.code(), Some(1), "{}", text(&inspect));
    assert!(
        text(&inspect).contains("NOT A VALID GAVEL PLUGIN"),
        "{}",
        text(&inspect)
    );
    let plugin = gavel(&["inspect", gavel_artifacts::REQUIRED_LABELS]);
    assert_eq!(plugin.status.code(), Some(0), "{}", text(&plugin));
    for line in [
        "world:   gavel:policy/plugin@0.1.0",
        "name:    required-labels",
        "exports: metadata, validate-settings, evaluate",
    ] {
        assert!(text(&plugin).contains(line), "{}", text(&plugin));
    }
    let missing = gavel(&["inspect", "/nonexistent.wasm"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing).contains("cannot read `/nonexistent.wasm`"),
        "{}",
        text(&missing)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bench_reports_rate_and_percentiles() {
    let review = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/admission/gpu-pod-create.json"
    );
    let o = gavel(&[
        "bench",
        "required-labels",
        "--admission",
        review,
        "--seconds",
        "0.2",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["evaluations"].as_u64().unwrap() > 0, "{v}");
    let l = &v["latencyMicros"];
    assert!(
        l["p50"].as_f64() <= l["p99"].as_f64() && l["p99"].as_f64() <= l["max"].as_f64(),
        "{v}"
    );
    let missing = gavel(&["bench", "nope.wasm", "--admission", review]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing).contains("cannot read `nope.wasm` (and it is not a bundled plugin)"),
        "{}",
        text(&missing)
    );
}
