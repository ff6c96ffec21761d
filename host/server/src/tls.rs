//! TLS with certificates re-read when their files change (cert-manager
//! rotates them in place), so a rotation needs no restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// A certificate/key pair that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    #[error("cannot read {what} from `{path}`: {reason}")]
    Pem {
        /// Certificate or key.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The key is not usable with the certificate.
    #[error("unusable TLS key `{path}`: {reason}")]
    Key {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Serves the most recently loaded certificate.
#[derive(Debug)]
pub struct ReloadingCert {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: ArcSwap<CertifiedKey>,
    stamp: std::sync::Mutex<Option<(SystemTime, SystemTime)>>,
}

fn load(cert_path: &Path, key_path: &Path) -> Result<CertifiedKey, TlsError> {
    let pem = |what, path: &Path, reason: String| TlsError::Pem {
        what,
        path: path.to_owned(),
        reason,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .map_err(|e| pem("certificates", cert_path, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| pem("certificates", cert_path, e.to_string()))?;
    if certs.is_empty() {
        return Err(pem(
            "certificates",
            cert_path,
            "no CERTIFICATE block found".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key_path)
        .map_err(|e| pem("a private key", key_path, e.to_string()))?;
    let signing =
        rustls::crypto::ring::sign::any_supported_type(&key).map_err(|e| TlsError::Key {
            path: key_path.to_owned(),
            reason: e.to_string(),
        })?;
    let pair = CertifiedKey::new(certs, signing);
    // A key that does not match the certificate would fail every handshake.
    pair.keys_match().map_err(|e| TlsError::Key {
        path: key_path.to_owned(),
        reason: format!(
            "it does not belong to the certificate in `{}`: {e}",
            cert_path.display()
        ),
    })?;
    Ok(pair)
}

fn mtimes(cert: &Path, key: &Path) -> Option<(SystemTime, SystemTime)> {
    Some((
        std::fs::metadata(cert).ok()?.modified().ok()?,
        std::fs::metadata(key).ok()?.modified().ok()?,
    ))
}

impl ReloadingCert {
    /// Load the pair now; fails if it is unusable.
    pub fn new(
        cert_path: impl Into<PathBuf>,
        key_path: impl Into<PathBuf>,
    ) -> Result<Arc<Self>, TlsError> {
        let (cert_path, key_path) = (cert_path.into(), key_path.into());
        let key = load(&cert_path, &key_path)?;
        Ok(Arc::new(ReloadingCert {
            stamp: std::sync::Mutex::new(mtimes(&cert_path, &key_path)),
            cert_path,
            key_path,
            current: ArcSwap::from_pointee(key),
        }))
    }

    /// Re-read the pair if either file changed. A broken new pair is logged
    /// and the old one keeps serving. Returns true when a new pair was loaded.
    pub fn refresh(&self) -> bool {
        let now = mtimes(&self.cert_path, &self.key_path);
        let mut stamp = self.stamp.lock().unwrap_or_else(|p| p.into_inner());
        if now.is_none() || *stamp == now {
            return false;
        }
        match load(&self.cert_path, &self.key_path) {
            Ok(key) => {
                self.current.store(Arc::new(key));
                *stamp = now;
                tracing::info!(cert = %self.cert_path.display(), "TLS certificate reloaded");
                true
            }
            Err(e) => {
                // Do not record the stamp: a half-written pair is retried.
                tracing::error!("keeping the previous TLS certificate: {e}");
                false
            }
        }
    }

    /// A rustls server configuration serving this certificate (HTTP/2 and HTTP/1.1).
    pub fn server_config(self: &Arc<Self>) -> Result<rustls::ServerConfig, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }

    /// Check for rotated files every `interval`, forever.
    pub async fn watch(self: Arc<Self>, interval: Duration) {
        let mut ticker = tokio::time::interval(interval);
        loop {
            ticker.tick().await;
            let me = self.clone();
            let _ = tokio::task::spawn_blocking(move || me.refresh()).await;
        }
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}
