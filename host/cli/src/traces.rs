//! `gavel eval --traces` on an OTLP export: the daemon's trace pipeline,
//! offline. Spans are mapped as `/v1/traces` maps them and grouped into the
//! policy set's windows (all spans "arrive" at once, so windows close by
//! count, and the rest at the end of the input); each window is judged and
//! printed with the actions the action sink would receive.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use gavel_core::{Decision, Subject};
use gavel_otlp::proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use gavel_otlp::{Encoding, Windows};
use gavel_server::traces::{WindowMeta, action_records};

use crate::policy;

/// The requests in an OTLP file: one OTLP/JSON request, JSON Lines of them,
/// or one binary protobuf request.
fn requests(path: &Path, bytes: &[u8]) -> anyhow::Result<Vec<ExportTraceServiceRequest>> {
    let max = gavel_server::traces::MAX_OTLP_DECODED_BYTES;
    let name = path.display();
    if !bytes.trim_ascii_start().starts_with(b"{") {
        return gavel_otlp::decode(bytes, Encoding::Protobuf, false, max)
            .map(|r| vec![r])
            .with_context(|| format!("`{name}` is neither OTLP/JSON nor OTLP protobuf"));
    }
    match gavel_otlp::decode(bytes, Encoding::Json, false, max) {
        Ok(r) => Ok(vec![r]),
        Err(whole) => {
            let lines: Vec<&[u8]> = bytes
                .split(|b| *b == b'\n')
                .filter(|l| !l.trim_ascii().is_empty())
                .collect();
            if lines.len() < 2 {
                bail!("`{name}`: {whole}");
            }
            lines
                .iter()
                .enumerate()
                .map(|(i, line)| {
                    gavel_otlp::decode(line, Encoding::Json, false, max)
                        .with_context(|| format!("`{name}` line {}", i + 1))
                })
                .collect()
        }
    }
}

pub(crate) fn run(
    path: &Path,
    bytes: &[u8],
    policy_set: Option<&Path>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let requests = requests(path, bytes)?;
    let runtime = policy::runtime()?;
    let set = policy::load(&runtime, policy_set)?;
    let mut windows = Windows::new(set.policy_set().traces);
    let now = Instant::now();
    let mut closed = Vec::new();
    let (mut accepted, mut ignored, mut rejected) = (0, 0, 0);
    let mut rejections = Vec::new();
    for request in &requests {
        let mapped = gavel_otlp::map_request(request);
        accepted += mapped.spans.len();
        ignored += mapped.ignored;
        rejected += mapped.rejected;
        rejections.extend(mapped.first_rejection.clone());
        windows.insert_all(mapped.spans, now, &mut closed);
    }
    closed.extend(windows.drain(now));
    let mut worst = Decision::Allow;
    let mut out = Vec::new();
    if !json {
        println!(
            "{accepted} inference spans in {} windows ({ignored} other spans ignored, {rejected} rejected)",
            closed.len()
        );
        for r in &rejections {
            println!("  rejected: {r}");
        }
    }
    for window in closed {
        let mut meta = WindowMeta::of(&window);
        if meta.reason == "shutdown" {
            meta.reason = "end-of-input";
        }
        let subject = Subject::Traces(window.spans);
        let composed = set.evaluate(&subject);
        worst = worst.max(composed.decision);
        let actions = action_records(&meta, &composed, None);
        if json {
            out.push(serde_json::json!({
                "window": meta.to_json(),
                "composed": composed,
                "actions": actions.iter().map(|a| &a["action"]).collect::<Vec<_>>(),
            }));
            continue;
        }
        println!(
            "\nwindow {}/{}/{} ({} spans, closed by {})",
            meta.namespace.as_deref().unwrap_or("-"),
            meta.service,
            meta.model,
            meta.spans,
            meta.reason
        );
        policy::print(&composed);
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "spans": {"accepted": accepted, "ignored": ignored, "rejected": rejected},
                "windows": out,
            }))?
        );
    }
    Ok(policy::exit_code(worst))
}
