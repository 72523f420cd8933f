//! One STOMP connection of the load generator, speaking straight to the
//! codec so that it works with any broker: the CONNECT `host` header is
//! configurable (RabbitMQ takes it as the virtual host), and both STOMP 1.2
//! (`ack` header) and 1.1 (`message-id` + `subscription`) acknowledgements
//! are produced.

use super::BenchError;
use crate::stomp::codec::StompCodec;
use crate::stomp::frame::{Command, Frame, Limits, Parsed, Version};
use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub addr: String,
    pub host: String,
    pub login: Option<String>,
    pub passcode: Option<String>,
}

/// An open STOMP connection.
pub struct Conn {
    framed: Framed<TcpStream, StompCodec>,
    next_receipt: u64,
}

/// The text of an ERROR frame, for the error message.
fn refused(f: &Frame) -> BenchError {
    let body = String::from_utf8_lossy(&f.body);
    let text = format!("{} {}", f.header("message").unwrap_or(""), body.trim());
    BenchError::Refused(text.trim().to_string())
}

impl Conn {
    /// TCP connect (no Nagle), CONNECT, wait for CONNECTED.
    pub async fn open(opts: &ConnectOptions) -> Result<Conn, BenchError> {
        let connect_err = |source| BenchError::Connect {
            addr: opts.addr.clone(),
            source,
        };
        let socket = TcpStream::connect(&opts.addr).await.map_err(connect_err)?;
        socket.set_nodelay(true).map_err(connect_err)?;
        let mut framed = Framed::new(socket, StompCodec::new(Limits::default()));
        let mut connect = Frame::new(Command::Connect)
            .with_header("accept-version", "1.1,1.2")
            .with_header("host", opts.host.as_str())
            .with_header("heart-beat", "0,0");
        if let Some(l) = &opts.login {
            connect.push_header("login", l.as_str());
        }
        if let Some(p) = &opts.passcode {
            connect.push_header("passcode", p.as_str());
        }
        framed.send(connect).await?;
        let mut conn = Conn {
            framed,
            next_receipt: 0,
        };
        let reply = conn.recv().await?;
        match reply.command {
            Command::Connected => {
                conn.framed.codec_mut().version = reply
                    .header("version")
                    .and_then(Version::parse)
                    .unwrap_or(Version::V1_0);
                Ok(conn)
            }
            Command::Error => Err(refused(&reply)),
            other => Err(BenchError::Unexpected(other.as_str().into())),
        }
    }

    /// The negotiated protocol version.
    pub fn version(&self) -> Version {
        self.framed.codec().version
    }

    /// Writes and flushes one frame.
    pub async fn send(&mut self, frame: Frame) -> Result<(), BenchError> {
        Ok(self.framed.send(frame).await?)
    }

    /// The next frame (heart-beats skipped); an ERROR frame is an error.
    pub async fn recv(&mut self) -> Result<Frame, BenchError> {
        loop {
            match self.framed.next().await {
                None => return Err(BenchError::Closed),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(Parsed::Heartbeat(_))) => continue,
                Some(Ok(Parsed::Frame(f, _))) if f.command == Command::Error => {
                    return Err(refused(&f))
                }
                Some(Ok(Parsed::Frame(f, _))) => return Ok(f),
            }
        }
    }

    /// A fresh receipt id for this connection.
    pub fn receipt_id(&mut self) -> String {
        self.next_receipt += 1;
        format!("r-{}", self.next_receipt)
    }

    /// Waits for the RECEIPT `id`; any other frame is an error (the caller
    /// does not expect messages on this connection).
    pub async fn wait_receipt(&mut self, id: &str) -> Result<(), BenchError> {
        let f = self.recv().await?;
        match f.command {
            Command::Receipt if f.header("receipt-id") == Some(id) => Ok(()),
            other => Err(BenchError::Unexpected(other.as_str().into())),
        }
    }

    /// Sends `frame` with a fresh receipt and waits for it.
    pub async fn request(&mut self, frame: Frame) -> Result<(), BenchError> {
        let id = self.receipt_id();
        self.send(frame.with_header("receipt", id.clone())).await?;
        self.wait_receipt(&id).await
    }

    /// DISCONNECT with a receipt: once it arrives the broker has handled
    /// every frame sent before it.
    pub async fn disconnect(mut self) -> Result<(), BenchError> {
        self.request(Frame::new(Command::Disconnect)).await
    }

    /// The ACK frame for `message` in the negotiated version.
    pub fn ack_frame(&self, message: &Frame) -> Frame {
        let mut ack = Frame::new(Command::Ack);
        match message.header("ack") {
            Some(id) if self.version() == Version::V1_2 => ack.push_header("id", id),
            _ => {
                ack.push_header("message-id", message.header("message-id").unwrap_or(""));
                ack.push_header("subscription", message.header("subscription").unwrap_or(""));
            }
        }
        ack
    }
}
