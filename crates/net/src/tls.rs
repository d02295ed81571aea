//! TLS configuration: load a PEM certificate chain and key, or generate and
//! keep a self-signed ECDSA P-256 certificate in the data directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("bad PEM in {path}: {message}")]
    Pem { path: PathBuf, message: String },
    #[error("certificate generation failed: {0}")]
    Generate(String),
    #[error("TLS configuration rejected: {0}")]
    Config(#[from] rustls::Error),
}

/// Where a certificate came from, for the startup message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertSource {
    Configured,
    /// Generated now (`true`) or earlier (`false`) and kept at this path.
    SelfSigned {
        path: PathBuf,
        generated: bool,
    },
}

/// Loads a PEM certificate chain and private key.
pub fn load_pem(
    cert_path: &Path,
    key_path: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let cert_pem = std::fs::read(cert_path).map_err(|source| TlsError::Read {
        path: cert_path.to_owned(),
        source,
    })?;
    let key_pem = std::fs::read(key_path).map_err(|source| TlsError::Read {
        path: key_path.to_owned(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            path: cert_path.to_owned(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            path: cert_path.to_owned(),
            message: "no certificate found".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::Pem {
        path: key_path.to_owned(),
        message: e.to_string(),
    })?;
    Ok((certs, key))
}

/// Returns the paths of a self-signed certificate for `hostname` kept in
/// `dir`, generating it (ECDSA P-256) if absent.
pub fn ensure_self_signed(
    dir: &Path,
    hostname: &str,
) -> Result<(PathBuf, PathBuf, bool), TlsError> {
    let cert_path = dir.join("self-signed-cert.pem");
    let key_path = dir.join("self-signed-key.pem");
    if cert_path.exists() && key_path.exists() {
        return Ok((cert_path, key_path, false));
    }
    let (cert_pem, key_pem) = generate_self_signed(hostname)?;
    std::fs::create_dir_all(dir).map_err(|source| TlsError::Write {
        path: dir.to_owned(),
        source,
    })?;
    write_private(&key_path, key_pem.as_bytes())?;
    std::fs::write(&cert_path, cert_pem).map_err(|source| TlsError::Write {
        path: cert_path.clone(),
        source,
    })?;
    Ok((cert_path, key_path, true))
}

fn write_private(path: &Path, data: &[u8]) -> Result<(), TlsError> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts.open(path).map_err(|source| TlsError::Write {
        path: path.to_owned(),
        source,
    })?;
    f.write_all(data)
        .and_then(|_| f.sync_all())
        .map_err(|source| TlsError::Write {
            path: path.to_owned(),
            source,
        })
}

/// Generates a self-signed ECDSA P-256 certificate; returns (cert PEM, key PEM).
pub fn generate_self_signed(hostname: &str) -> Result<(String, String), TlsError> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    let mut names = vec![hostname.to_string()];
    if hostname != "localhost" {
        names.push("localhost".into());
    }
    let mut params =
        rcgen::CertificateParams::new(names).map_err(|e| TlsError::Generate(e.to_string()))?;
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress(std::net::IpAddr::V4(
            std::net::Ipv4Addr::LOCALHOST,
        )));
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, hostname);
    let cert = params
        .self_signed(&key)
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Builds the server TLS configuration: TLS 1.3 and 1.2, ring provider,
/// rustls' default cipher suites (AEAD only, forward secret).
pub fn server_config(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(Arc::new(config))
}

/// RFC 9266 §2: the label of the `tls-exporter` channel binding.
const CHANNEL_BINDING_LABEL: &[u8] = b"EXPORTER-Channel-Binding";

/// The channel bindings of an established connection: `tls-exporter`
/// (RFC 9266: 32 octets, label `EXPORTER-Channel-Binding`, empty context)
/// on TLS 1.3 only; on TLS 1.2 RFC 9266 §2 requires the extended master
/// secret, which rustls does not report, so no binding is offered there.
pub fn channel_bindings(conn: &rustls::ServerConnection) -> pillarbox_session::ChannelBindings {
    let tls_exporter = if conn.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3) {
        let mut out = [0u8; 32];
        // RFC 9266 §2: "the context value is zero-length", which TLS 1.3
        // exporters treat the same as no context (RFC 8446 §7.5).
        conn.export_keying_material(&mut out, CHANNEL_BINDING_LABEL, Some(&[]))
            .ok()
            .map(|o| o.to_vec())
    } else {
        None
    };
    pillarbox_session::ChannelBindings { tls_exporter }
}

/// Loads the configured certificate, or the self-signed one in `dir`.
pub fn acceptor(
    configured: Option<(&Path, &Path)>,
    self_signed_dir: &Path,
    hostname: &str,
) -> Result<(TlsAcceptor, CertSource), TlsError> {
    let (cert, key, source) = match configured {
        Some((c, k)) => (c.to_owned(), k.to_owned(), CertSource::Configured),
        None => {
            let (c, k, generated) = ensure_self_signed(self_signed_dir, hostname)?;
            let source = CertSource::SelfSigned {
                path: c.clone(),
                generated,
            };
            (c, k, source)
        }
    };
    let (certs, key) = load_pem(&cert, &key)?;
    Ok((TlsAcceptor::from(server_config(certs, key)?), source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_is_generated_once_and_loads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (c1, _, g1) = ensure_self_signed(dir.path(), "mail.test").expect("gen");
        let (c2, _, g2) = ensure_self_signed(dir.path(), "mail.test").expect("reuse");
        assert!(g1);
        assert!(!g2);
        assert_eq!(c1, c2);
        let (_, source) = acceptor(None, dir.path(), "mail.test").expect("acceptor");
        assert!(matches!(
            source,
            CertSource::SelfSigned {
                generated: false,
                ..
            }
        ));
    }
}
