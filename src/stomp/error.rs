//! Everything that ends a STOMP session, and the one place it becomes an
//! ERROR frame.

use super::codec::CodecError;
use super::frame::{Command, Frame, FrameError};
use crate::auth::{Forbidden, LoginError};
use crate::broker::BrokerError;

/// What CONNECT may ask for, as the `version` header of an ERROR lists it.
pub const SUPPORTED_VERSIONS: &str = "1.0,1.1,1.2";

/// Why a session is closed with an ERROR frame.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("malformed frame: {0}")]
    Frame(#[from] FrameError),
    #[error("{0}")]
    Protocol(String),
    #[error("none of the requested protocol versions '{0}' is supported; this broker speaks {SUPPORTED_VERSIONS}")]
    UnsupportedVersion(String),
    #[error("{0}")]
    Broker(#[from] BrokerError),
    #[error("no heart-beat or frame received for {0} ms")]
    HeartbeatTimeout(u64),
    #[error("the broker is shutting down")]
    ShuttingDown,
    #[error("this node is no longer the master; reconnect to the new master")]
    Demoted,
    #[error("{0}")]
    SlowConsumer(String),
    /// Wrong user name or passcode; which of the two is not said.
    #[error("authentication failed")]
    AuthenticationFailed,
    #[error("authentication failed: this broker requires login and passcode")]
    LoginRequired,
    #[error("user '{user}' lacks {access} permission on {destination}")]
    Forbidden {
        user: String,
        access: &'static str,
        destination: String,
    },
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
}

impl From<LoginError> for SessionError {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::AuthenticationFailed => SessionError::AuthenticationFailed,
            LoginError::LoginRequired => SessionError::LoginRequired,
        }
    }
}

impl From<Forbidden> for SessionError {
    fn from(f: Forbidden) -> Self {
        SessionError::Forbidden {
            user: f.user,
            access: f.access,
            destination: f.destination,
        }
    }
}

impl From<CodecError> for SessionError {
    fn from(e: CodecError) -> Self {
        match e {
            CodecError::Frame(f) => SessionError::Frame(f),
            CodecError::Io(io) => SessionError::Io(io),
            CodecError::WebSocket(e) => SessionError::Protocol(e),
        }
    }
}

/// Shorthand for a protocol error.
pub fn protocol(msg: impl Into<String>) -> SessionError {
    SessionError::Protocol(msg.into())
}

/// Set to `true` on ERROR frames caused by the broker's situation rather
/// than by the request (shutdown, lost mastership, database trouble): the
/// same request may succeed after reconnecting, possibly to another node.
pub const RETRYABLE: &str = "baton-retryable";

impl SessionError {
    /// Whether the same request may succeed after a reconnect.
    pub fn is_transient(&self) -> bool {
        match self {
            SessionError::Broker(BrokerError::Store(_) | BrokerError::ShuttingDown) => true,
            SessionError::HeartbeatTimeout(_)
            | SessionError::ShuttingDown
            | SessionError::Demoted
            | SessionError::SlowConsumer(_)
            | SessionError::Io(_) => true,
            SessionError::Frame(_)
            | SessionError::Protocol(_)
            | SessionError::UnsupportedVersion(_)
            | SessionError::AuthenticationFailed
            | SessionError::LoginRequired
            | SessionError::Forbidden { .. }
            | SessionError::Broker(_) => false,
        }
    }

    /// The ERROR frame sent before closing; `receipt` is the `receipt`
    /// header of the frame that failed, if any.
    pub fn to_frame(&self, receipt: Option<&str>) -> Frame {
        let message = match self {
            SessionError::Frame(_) => "malformed frame",
            SessionError::Protocol(_) | SessionError::UnsupportedVersion(_) => "protocol error",
            SessionError::Broker(_) => "request refused",
            SessionError::HeartbeatTimeout(_) => "heart-beat timeout",
            SessionError::ShuttingDown => "broker shutting down",
            SessionError::Demoted => "master lost",
            SessionError::SlowConsumer(_) => "slow consumer",
            SessionError::AuthenticationFailed | SessionError::LoginRequired => {
                "authentication failed"
            }
            SessionError::Forbidden { .. } => "not authorized",
            SessionError::Io(_) => "connection error",
        };
        let text = self.to_string();
        // Some texts already start with the summary ("malformed frame: ...").
        let summary = if text.starts_with(message) {
            text.clone()
        } else {
            format!("{message}: {text}")
        };
        let detail = format!("{text}\n");
        let mut f = Frame::new(Command::Error)
            .with_header("message", summary.replace(['\r', '\n'], " "))
            .with_header("content-type", "text/plain")
            .with_header("content-length", detail.len().to_string());
        if let Some(r) = receipt {
            f.push_header("receipt-id", r);
        }
        if self.is_transient() {
            f.push_header(RETRYABLE, "true");
        }
        if let SessionError::UnsupportedVersion(_) = self {
            f.push_header("version", SUPPORTED_VERSIONS);
        }
        f.with_body(detail)
    }
}
