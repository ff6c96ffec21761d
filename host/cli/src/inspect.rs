//! `gavel inspect`: what a component is, and whether it is a gavel plugin.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::policy;

#[derive(Args)]
pub(crate) struct InspectArgs {
    /// The component (.wasm).
    file: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: InspectArgs) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(&args.file)
        .with_context(|| format!("cannot read `{}`", args.file.display()))?;
    let origin = args.file.display().to_string();
    let runtime = policy::runtime()?;
    let sha256 = gavel_core::digest::sha256_hex(&bytes);
    let shape = match runtime.shape(&origin, &bytes) {
        Ok(shape) => shape,
        Err(e) => {
            if args.json {
                let json = serde_json::json!({
                    "file": origin, "size": bytes.len(), "sha256": sha256, "plugin": null, "error": e.to_string(),
                });
                println!("{}", serde_json::to_string_pretty(&json)?);
            } else {
                println!(
                    "file:    {origin}\nsize:    {} bytes\nsha256:  {sha256}",
                    bytes.len()
                );
                println!("NOT A VALID GAVEL PLUGIN: {e}");
            }
            return Ok(ExitCode::from(1));
        }
    };
    let plugin = runtime.load_plugin(&origin, &bytes);
    if args.json {
        let json = serde_json::json!({
            "file": origin,
            "size": bytes.len(),
            "sha256": sha256,
            "imports": shape.imports,
            "exports": shape.exports,
            "plugin": plugin.as_ref().ok().map(|p| serde_json::json!({
                "world": "gavel:policy/plugin@0.1.0",
                "usesWasi": p.uses_wasi(),
                "metadata": p.metadata(),
            })),
            "error": plugin.as_ref().err().map(ToString::to_string),
        });
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        println!(
            "file:    {origin}\nsize:    {} bytes\nsha256:  {sha256}",
            bytes.len()
        );
        println!(
            "imports: {}",
            if shape.imports.is_empty() {
                "(none)".into()
            } else {
                shape.imports.join(", ")
            }
        );
        println!("exports: {}", shape.exports.join(", "));
        match &plugin {
            Ok(p) => {
                let m = p.metadata();
                println!(
                    "world:   gavel:policy/plugin@0.1.0{}",
                    if p.uses_wasi() {
                        " (imports WASI: runs locked down)"
                    } else {
                        ""
                    }
                );
                println!(
                    "name:    {} {}\ncategory: {}\nsubjects: {}",
                    m.name,
                    m.version,
                    m.category,
                    m.subjects
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                println!(
                    "about:   {}\nsettings schema: {}",
                    m.description, m.settings_schema
                );
            }
            Err(e) => println!("NOT A VALID GAVEL PLUGIN: {e}"),
        }
    }
    Ok(if plugin.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
