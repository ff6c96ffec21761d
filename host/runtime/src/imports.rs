//! What a plugin may import: `gavel:policy/log`, and WASI p2, which gavel
//! links locked down for toolchains that cannot avoid it.

use wasmtime::Engine;
use wasmtime::component::Component;

use crate::error::LoadError;

/// What the gavel world imports: `log`, and `types`, an instance of type
/// definitions only that wit-component emits because the exports use them.
const GAVEL_IMPORTS: [&str; 2] = ["gavel:policy/log@0.1.0", "gavel:policy/types@0.1.0"];

/// WASI p2 packages gavel links (denying at run time what they would reach).
const WASI_PACKAGES: [&str; 6] = [
    "wasi:io/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:cli/",
    "wasi:filesystem/",
    "wasi:sockets/",
];

/// Check `component`'s imports; `Ok(true)` when it needs the WASI linker.
pub(crate) fn check(
    engine: &Engine,
    component: &Component,
    origin: &str,
) -> Result<bool, LoadError> {
    let mut uses_wasi = false;
    for (name, _) in component.component_type().imports(engine) {
        if GAVEL_IMPORTS.contains(&name) {
            continue;
        }
        let is_wasi_p2 = WASI_PACKAGES.iter().any(|p| name.starts_with(p))
            && name
                .rsplit_once('@')
                .is_some_and(|(_, v)| v.starts_with("0.2."));
        if !is_wasi_p2 {
            return Err(LoadError::ForbiddenImport {
                origin: origin.to_owned(),
                import: name.to_owned(),
            });
        }
        uses_wasi = true;
    }
    Ok(uses_wasi)
}
