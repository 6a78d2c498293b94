//! TLS towards external backends (`https://` targets of a route): the Mozilla root store
//! (webpki-roots) plus any CA files the router was configured with, SNI with the URL's host,
//! and certificate verification always on.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// Builds the client configuration; a CA file that cannot be read or holds no certificate is
/// an error naming the file.
pub(crate) fn client_config(
    extra_ca_files: &[PathBuf],
) -> std::io::Result<Arc<rustls::ClientConfig>> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for file in extra_ca_files {
        let invalid = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(file)
            .map_err(|e| invalid(format!("CA file {}: {e}", file.display())))?
            .collect::<Result<_, _>>()
            .map_err(|e| invalid(format!("CA file {}: {e}", file.display())))?;
        if certs.is_empty() {
            return Err(invalid(format!(
                "CA file {}: no PEM certificate in it",
                file.display()
            )));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| invalid(format!("CA file {}: {e}", file.display())))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| std::io::Error::other(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
