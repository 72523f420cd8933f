//! `[websocket]`: STOMP over WebSocket for browser applications. The port
//! is bound while the node is master, like `stomp.listen`, and speaks TLS
//! (`wss://`) with the `stomp.tls_*` files when they are set.

use super::{invalid, ConfigError};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::net::SocketAddr;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebSocketConfig {
    /// The WebSocket address; `None` (an empty string) turns it off.
    #[serde(
        serialize_with = "listen_to_text",
        deserialize_with = "listen_from_text"
    )]
    pub listen: Option<SocketAddr>,
    /// Origins (`https://app.example.com`) whose pages may connect besides
    /// pages from the broker's own host name; `*` allows any.
    pub allowed_origins: Vec<String>,
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        WebSocketConfig {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 61614))),
            allowed_origins: Vec::new(),
        }
    }
}

fn listen_to_text<S: Serializer>(listen: &Option<SocketAddr>, s: S) -> Result<S::Ok, S::Error> {
    match listen {
        Some(addr) => s.collect_str(addr),
        None => s.serialize_str(""),
    }
}

fn listen_from_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let text = String::deserialize(d)?;
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| {
        serde::de::Error::custom(format!(
            "'{text}' is not an address such as 127.0.0.1:61614 (or empty, to turn WebSocket off)"
        ))
    })
}

impl WebSocketConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        for (i, origin) in self.allowed_origins.iter().enumerate() {
            if origin == "*" {
                continue;
            }
            let well_formed = url::Url::parse(origin).ok().is_some_and(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host_str().is_some()
                    && u.path() == "/"
                    && u.query().is_none()
                    && u.fragment().is_none()
                    && u.username().is_empty()
            });
            if !well_formed {
                return Err(invalid(
                    &format!("websocket.allowed_origins[{i}]"),
                    format!("'{origin}' is not an origin such as https://app.example.com or http://app.example.com:8080 (or * for any)"),
                ));
            }
        }
        Ok(())
    }
}
