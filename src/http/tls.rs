//! HTTPS without a proxy: rustls with TLS 1.3 and 1.2 and their modern AEAD suites only,
//! HTTP/2 and HTTP/1.1 by ALPN. The certificate is reloaded when its files change (as
//! certbot and other renewers replace them): new handshakes get the new certificate, open
//! connections keep theirs, nothing is dropped. A bad new file is logged and the old
//! certificate stays in use.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::ring::default_provider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// Where the certificate chain and its private key are, both PEM.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The server's TLS configuration, with a certificate that follows its files: checked every
/// `reload_every` by a background thread.
pub fn server_config(
    files: TlsFiles,
    reload_every: Duration,
) -> Result<rustls::ServerConfig, TlsError> {
    let provider = Arc::new(default_provider());
    let certified = load(&files, &provider)?;
    let resolver = Arc::new(FollowingResolver {
        current: RwLock::new(Arc::new(certified)),
    });
    let config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(resolver.clone());
    let follower = resolver;
    std::thread::Builder::new()
        .name("tls-reload".into())
        .spawn(move || follow(files, provider, follower, reload_every))
        .map_err(|e| TlsError::Config(e.to_string()))?;
    Ok(config)
}

/// The certificate in use, swapped when the files change.
#[derive(Debug)]
struct FollowingResolver {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for FollowingResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|current| current.clone())
    }
}

/// When either file was last changed, and its size: a renewal changes at least one.
fn stamp(files: &TlsFiles) -> Option<[(SystemTime, u64); 2]> {
    let of = |path: &Path| {
        std::fs::metadata(path)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())))
    };
    Some([of(&files.cert)?, of(&files.key)?])
}

fn follow(
    files: TlsFiles,
    provider: Arc<rustls::crypto::CryptoProvider>,
    resolver: Arc<FollowingResolver>,
    every: Duration,
) {
    let mut seen = stamp(&files);
    loop {
        std::thread::sleep(every);
        let now = stamp(&files);
        if now.is_none() || now == seen {
            continue;
        }
        match load(&files, &provider) {
            Ok(certified) => {
                if let Ok(mut current) = resolver.current.write() {
                    *current = Arc::new(certified);
                    seen = now;
                    tracing::info!(cert = %files.cert.display(), "TLS certificate reloaded");
                }
            }
            // Often the renewer has written one file and not yet the other: try again.
            Err(error) => {
                tracing::warn!(%error, "TLS certificate not reloaded; keeping the current one")
            }
        }
    }
}

fn load(
    files: &TlsFiles,
    provider: &rustls::crypto::CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let failed = |path: &Path, reason: String| TlsError::File {
        path: path.display().to_string(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| failed(&files.cert, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| failed(&files.cert, e.to_string()))?;
    if chain.is_empty() {
        return Err(failed(&files.cert, "no certificate in the file".into()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| failed(&files.key, format!("no private key: {e}")))?;
    let certified = CertifiedKey::from_der(chain, key, provider)
        .map_err(|e| failed(&files.key, format!("does not match the certificate: {e}")))?;
    Ok(certified)
}
