//! Validation of the TLS keys of a listener (`stomp.tls_*`, `admin.tls_*`):
//! certificate and key both or neither, a client CA only with them, and
//! every file present and parseable, with errors naming the key.

use super::{invalid, Config, ConfigError};
use crate::tls::{self, ServerFiles};
use std::path::PathBuf;

/// The TLS keys of one listener, by section name (`stomp` or `admin`).
pub(super) struct ListenerTls<'a> {
    pub section: &'static str,
    pub cert: &'a Option<PathBuf>,
    pub key: &'a Option<PathBuf>,
    pub client_ca: &'a Option<PathBuf>,
}

impl ListenerTls<'_> {
    fn key_name(&self, field: &str) -> String {
        format!("{}.{field}", self.section)
    }

    /// The listener's TLS files when TLS is on, checked to load.
    pub fn check(&self) -> Result<Option<ServerFiles>, ConfigError> {
        let files = match (self.cert, self.key) {
            (None, None) => {
                if self.client_ca.is_some() {
                    return Err(invalid(
                        &self.key_name("tls_client_ca"),
                        format!(
                            "needs {0} and {1} (client certificates are checked only on a TLS listener)",
                            self.key_name("tls_cert"),
                            self.key_name("tls_key")
                        ),
                    ));
                }
                return Ok(None);
            }
            (Some(_), None) => {
                return Err(invalid(
                    &self.key_name("tls_key"),
                    format!("must be set together with {}", self.key_name("tls_cert")),
                ))
            }
            (None, Some(_)) => {
                return Err(invalid(
                    &self.key_name("tls_cert"),
                    format!("must be set together with {}", self.key_name("tls_key")),
                ))
            }
            (Some(cert), Some(key)) => ServerFiles {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: self.client_ca.clone(),
            },
        };
        tls::load_certs(&files.cert)
            .map_err(|e| invalid(&self.key_name("tls_cert"), e.to_string()))?;
        tls::load_key(&files.key).map_err(|e| invalid(&self.key_name("tls_key"), e.to_string()))?;
        if let Some(ca) = &files.client_ca {
            tls::load_roots(ca)
                .map_err(|e| invalid(&self.key_name("tls_client_ca"), e.to_string()))?;
        }
        tls::server_config(&files, &[]).map_err(|e| {
            invalid(
                &self.key_name("tls_key"),
                format!("{e} (is it the key of {}?)", self.key_name("tls_cert")),
            )
        })?;
        Ok(Some(files))
    }
}

impl Config {
    /// The STOMP listener's TLS files, when `stomp.tls_cert` and
    /// `stomp.tls_key` are set; an error names the key at fault.
    pub fn stomp_tls(&self) -> Result<Option<ServerFiles>, ConfigError> {
        ListenerTls {
            section: "stomp",
            cert: &self.stomp.tls_cert,
            key: &self.stomp.tls_key,
            client_ca: &self.stomp.tls_client_ca,
        }
        .check()
    }

    /// The admin server's TLS files, as [`Config::stomp_tls`].
    pub fn admin_tls(&self) -> Result<Option<ServerFiles>, ConfigError> {
        ListenerTls {
            section: "admin",
            cert: &self.admin.tls_cert,
            key: &self.admin.tls_key,
            client_ca: &self.admin.tls_client_ca,
        }
        .check()
    }
}
