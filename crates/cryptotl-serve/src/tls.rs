//! TLS for the server: rustls with the *ring* provider, from PEM files.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsPaths;
use crate::error::ServeError as Error;

/// A rustls server configuration (TLS 1.2 and 1.3, HTTP/1.1 by ALPN) from a
/// certificate chain and a private key in PEM files.
///
/// # Errors
/// Unreadable files, no certificate, no key, or a key that does not match.
pub(crate) fn server_config(paths: &TlsPaths) -> Result<Arc<rustls::ServerConfig>, Error> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&paths.cert_chain)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|source| Error::Pem {
            what: "TLS certificate chain",
            path: paths.cert_chain.clone(),
            source,
        })?;
    if certs.is_empty() {
        return Err(Error::NoCertificate(paths.cert_chain.clone()));
    }
    // The error never carries key bytes; only the path is reported.
    let key = PrivateKeyDer::from_pem_file(&paths.private_key).map_err(|source| Error::Pem {
        what: "TLS private key",
        path: paths.private_key.clone(),
        source,
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(Error::Tls)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(Error::Tls)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
