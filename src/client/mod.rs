//! A small async STOMP 1.2 client on tokio, used by `baton bench`, the CLI
//! and the tests. It speaks the same codec as the broker.

pub mod failover;
pub mod url;

pub use failover::{ClientOptions, FailoverClient, Received};

use crate::stomp::codec::{CodecError, StompCodec};
use crate::stomp::frame::{Command, Frame, Limits, Parsed, Version};
use futures::{SinkExt, StreamExt};
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

/// A byte stream to a broker: plain TCP or TLS over TCP.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error("broker sent ERROR: {0}")]
    Refused(String),
    #[error("connection closed by the broker")]
    Closed,
    #[error("unexpected {0} frame")]
    Unexpected(String),
    #[error(transparent)]
    Url(#[from] url::UrlError),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("TLS handshake with {addr} failed: {source} (does the broker's certificate match the host name, and is its CA the one given with --tls-ca?)")]
    Handshake {
        addr: String,
        source: std::io::Error,
    },
    #[error("{0} answered with a TLS alert: it speaks TLS; use stomp+ssl://{0}")]
    TlsExpected(String),
    #[error("'{0}' is not a valid TLS server name")]
    ServerName(String),
    #[error("gave up reconnecting: {0}")]
    GaveUp(String),
    #[error("not confirmed within the URL's timeout of {0} ms")]
    Timeout(u64),
    #[error("refused by the broker: {0}")]
    Rejected(String),
    #[error("no heart-beat or frame from the broker for {0} ms")]
    HeartbeatTimeout(u64),
    #[error("the client is closed")]
    Stopped,
}

/// One STOMP connection.
pub struct Client {
    framed: Framed<Box<dyn Io>, StompCodec>,
    next_receipt: u64,
    /// MESSAGE frames that arrived while waiting for a receipt.
    buffered: VecDeque<Frame>,
    /// The CONNECTED frame.
    pub connected: Frame,
}

/// The `message` header and body of an ERROR frame, as one line of text.
fn error_text(f: &Frame) -> String {
    let body = String::from_utf8_lossy(&f.body);
    format!("{} {}", f.header("message").unwrap_or(""), body.trim())
        .trim()
        .to_string()
}

fn refused(f: &Frame) -> ClientError {
    ClientError::Refused(error_text(f))
}

impl Client {
    /// Connects with STOMP 1.2 and no heart-beats.
    pub async fn connect(addr: &str) -> Result<Client, ClientError> {
        Client::connect_with(addr, &[]).await
    }

    /// Connects with extra CONNECT headers (login, passcode, heart-beat...).
    pub async fn connect_with(addr: &str, headers: &[(&str, &str)]) -> Result<Client, ClientError> {
        let socket = Client::tcp(addr).await?;
        Client::login(Box::new(socket), headers)
            .await
            .map_err(|e| match e {
                // A TLS alert record (content type 21, version 3.x) where a
                // STOMP frame was expected.
                ClientError::Codec(c) if c.to_string().contains(r"\u{15}\u{3}") => {
                    ClientError::TlsExpected(addr.to_string())
                }
                e => e,
            })
    }

    /// Connects over TLS to `addr`, checking the broker's certificate
    /// against `host` (a DNS name or an IP address).
    pub async fn connect_tls(
        addr: &str,
        host: &str,
        config: Arc<rustls::ClientConfig>,
        headers: &[(&str, &str)],
    ) -> Result<Client, ClientError> {
        let name = rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(|_| ClientError::ServerName(host.to_string()))?;
        let socket = Client::tcp(addr).await?;
        let stream = tokio_rustls::TlsConnector::from(config)
            .connect(name, socket)
            .await
            .map_err(|source| ClientError::Handshake {
                addr: addr.to_string(),
                source,
            })?;
        Client::login(Box::new(stream), headers).await
    }

    async fn tcp(addr: &str) -> Result<TcpStream, ClientError> {
        let socket = TcpStream::connect(addr)
            .await
            .map_err(|source| ClientError::Connect {
                addr: addr.to_string(),
                source,
            })?;
        socket
            .set_nodelay(true)
            .map_err(|source| ClientError::Connect {
                addr: addr.to_string(),
                source,
            })?;
        Ok(socket)
    }

    /// The CONNECT / CONNECTED exchange on an open stream.
    async fn login(socket: Box<dyn Io>, headers: &[(&str, &str)]) -> Result<Client, ClientError> {
        let mut framed = Framed::new(socket, StompCodec::new(Limits::default()));
        let mut connect = Frame::new(Command::Connect)
            .with_header("accept-version", "1.2")
            .with_header("host", "localhost");
        for (k, v) in headers {
            connect.push_header(*k, *v);
        }
        framed.send(connect).await?;
        let mut client = Client {
            framed,
            next_receipt: 0,
            buffered: VecDeque::new(),
            connected: Frame::new(Command::Connected),
        };
        let reply = client.recv().await?;
        match reply.command {
            Command::Connected => {
                client.framed.codec_mut().version = reply
                    .header("version")
                    .and_then(Version::parse)
                    .unwrap_or(Version::V1_2);
                client.connected = reply;
                Ok(client)
            }
            Command::Error => Err(refused(&reply)),
            other => Err(ClientError::Unexpected(other.as_str().into())),
        }
    }

    /// Sends one frame as is.
    pub async fn send_frame(&mut self, frame: Frame) -> Result<(), ClientError> {
        Ok(self.framed.send(frame).await?)
    }

    /// The next frame from the broker (heart-beats skipped).
    pub async fn recv(&mut self) -> Result<Frame, ClientError> {
        loop {
            match self.framed.next().await {
                None => return Err(ClientError::Closed),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(Parsed::Heartbeat(_))) => continue,
                Some(Ok(Parsed::Frame(f, _))) => return Ok(f),
            }
        }
    }

    /// Sends `frame` with a fresh `receipt` header and waits for that
    /// RECEIPT; MESSAGE frames arriving meanwhile are kept for
    /// [`Client::next_message`].
    pub async fn request(&mut self, frame: Frame) -> Result<Frame, ClientError> {
        self.next_receipt += 1;
        let id = format!("r-{}", self.next_receipt);
        self.send_frame(frame.with_header("receipt", id.clone()))
            .await?;
        loop {
            let f = self.recv().await?;
            match f.command {
                Command::Receipt if f.header("receipt-id") == Some(id.as_str()) => return Ok(f),
                Command::Message => self.buffered.push_back(f),
                Command::Error => return Err(refused(&f)),
                other => return Err(ClientError::Unexpected(other.as_str().into())),
            }
        }
    }

    /// SEND with a receipt: returns once the broker confirmed it.
    pub async fn send(
        &mut self,
        destination: &str,
        body: impl Into<bytes::Bytes>,
        headers: &[(&str, &str)],
    ) -> Result<(), ClientError> {
        let body = body.into();
        let mut f = Frame::new(Command::Send)
            .with_header("destination", destination)
            .with_header("content-length", body.len().to_string());
        for (k, v) in headers {
            f.push_header(*k, *v);
        }
        self.request(f.with_body(body)).await.map(|_| ())
    }

    /// SUBSCRIBE with a receipt. `ack` is auto, client or client-individual.
    pub async fn subscribe(
        &mut self,
        destination: &str,
        id: &str,
        ack: &str,
        headers: &[(&str, &str)],
    ) -> Result<(), ClientError> {
        let mut f = Frame::new(Command::Subscribe)
            .with_header("destination", destination)
            .with_header("id", id)
            .with_header("ack", ack);
        for (k, v) in headers {
            f.push_header(*k, *v);
        }
        self.request(f).await.map(|_| ())
    }

    /// The next MESSAGE (an ERROR becomes `Refused`).
    pub async fn next_message(&mut self) -> Result<Frame, ClientError> {
        if let Some(f) = self.buffered.pop_front() {
            return Ok(f);
        }
        let f = self.recv().await?;
        match f.command {
            Command::Message => Ok(f),
            Command::Error => Err(refused(&f)),
            other => Err(ClientError::Unexpected(other.as_str().into())),
        }
    }

    /// ACK (or NACK) a received MESSAGE, without waiting.
    pub async fn ack(&mut self, message: &Frame, nack: bool) -> Result<(), ClientError> {
        let id = message.header("ack").unwrap_or_default().to_string();
        let cmd = if nack { Command::Nack } else { Command::Ack };
        self.send_frame(Frame::new(cmd).with_header("id", id)).await
    }

    /// DISCONNECT with a receipt, then close.
    pub async fn disconnect(mut self) -> Result<(), ClientError> {
        self.request(Frame::new(Command::Disconnect))
            .await
            .map(|_| ())
    }
}
