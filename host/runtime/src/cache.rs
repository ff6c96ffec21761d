//! On-disk cache of precompiled plugins, keyed by the component's sha256 and
//! the engine configuration.
//!
//! Precompiled artifacts are native code: wasmtime only checks that they
//! match the engine, not who wrote them. So this cache reads only files it
//! wrote itself, into a directory the operator keeps private to gavel; a
//! corrupt or foreign-engine entry is recompiled and overwritten.

use std::hash::{Hash, Hasher};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

pub(crate) struct CompileCache {
    dir: PathBuf,
    /// Identifies the engine's wasmtime version and configuration.
    engine_key: String,
}

impl CompileCache {
    pub(crate) fn new(dir: PathBuf, engine: &Engine) -> Self {
        let mut hasher = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        CompileCache {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{}.cwasm", self.engine_key))
    }

    /// True when the directory exists, belongs to the user gavel runs as,
    /// and no one else can write to it: only then is what it holds gavel's
    /// own output.
    fn is_private(&self) -> bool {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        // `/proc/self` belongs to the process's effective user.
        let me = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
        match std::fs::metadata(&self.dir) {
            Ok(m) if !m.is_dir() => false,
            Ok(m) if me.is_some_and(|uid| uid != m.uid()) => {
                tracing::warn!(
                    dir = %self.dir.display(),
                    "compile cache directory belongs to another user: not loading from it (give gavel a directory of its own)"
                );
                false
            }
            Ok(m) if m.permissions().mode() & 0o022 == 0 => true,
            Ok(_) => {
                tracing::warn!(
                    dir = %self.dir.display(),
                    "compile cache directory is writable by other users: not loading from it (chmod 700 it)"
                );
                false
            }
            Err(_) => false,
        }
    }

    /// Load a cached artifact, if there is a usable one.
    pub(crate) fn load(&self, engine: &Engine, sha256: &str) -> Option<Component> {
        let path = self.entry(sha256);
        if !path.is_file() || !self.is_private() {
            return None;
        }
        // SAFETY: the file is in gavel's private cache directory and was
        // written by `store` below from `Engine::precompile_component`; its
        // name carries the engine's compatibility hash, and wasmtime checks
        // the header against the engine again.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), "ignoring unusable compile-cache entry: {e:#}");
                None
            }
        }
    }

    /// Store an artifact. Failures only cost a recompile later, so they are logged, not returned.
    pub(crate) fn store(&self, sha256: &str, artifact: &[u8]) {
        let path = self.entry(sha256);
        let tmp = self
            .dir
            .join(format!(".{sha256}.{}.tmp", std::process::id()));
        let result = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .and_then(|()| std::fs::write(&tmp, artifact))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            tracing::warn!(dir = %self.dir.display(), "cannot write the compile cache: {e}");
        }
    }
}
