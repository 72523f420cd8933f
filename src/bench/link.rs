//! One load-generator connection in either protocol: what producers and
//! consumers do, independent of STOMP ([`super::conn`]) or OpenWire
//! ([`super::openwire`]).

use super::conn::{Conn, ConnectOptions};
use super::openwire::{self as ow, Delivery, OwConn};
use super::{AckMode, BenchError, Protocol, ID_HEADER, SENT_AT_HEADER};
use crate::stomp::frame::{Command, Frame};
use bytes::Bytes;

/// An open connection.
pub enum Link {
    Stomp(Box<Conn>),
    OpenWire(Box<OwConn>),
}

/// A message a consumer received.
pub enum Received {
    Stomp(Frame),
    OpenWire(Box<Delivery>),
}

impl Received {
    /// The producer's send time (µs since its run's epoch).
    pub fn sent_at_us(&self) -> Option<u64> {
        match self {
            Received::Stomp(f) => f.header(SENT_AT_HEADER).and_then(|v| v.parse().ok()),
            Received::OpenWire(d) => d.sent_at_us(),
        }
    }

    /// The message's run-wide number.
    pub fn bench_id(&self) -> Option<u64> {
        match self {
            Received::Stomp(f) => f.header(ID_HEADER).and_then(|v| v.parse().ok()),
            Received::OpenWire(d) => d.bench_id(),
        }
    }
}

impl Link {
    async fn open(protocol: Protocol, opts: &ConnectOptions) -> Result<Link, BenchError> {
        Ok(match protocol {
            Protocol::Stomp => Link::Stomp(Box::new(Conn::open(opts).await?)),
            Protocol::Openwire => Link::OpenWire(Box::new(
                OwConn::open(&opts.addr, opts.login.as_deref(), opts.passcode.as_deref()).await?,
            )),
        })
    }

    /// A producer's connection: OpenWire registers its producer on
    /// `destination` here.
    pub async fn producer(
        protocol: Protocol,
        opts: &ConnectOptions,
        destination: &str,
    ) -> Result<Link, BenchError> {
        let mut link = Link::open(protocol, opts).await?;
        if let Link::OpenWire(c) = &mut link {
            c.open_producer(ow::destination(destination)).await?;
        }
        Ok(link)
    }

    /// A consumer's connection, subscribed (and confirmed by the broker)
    /// before it is returned, so that no message sent afterwards is missed
    /// (a topic delivers only to existing subscriptions).
    pub async fn consumer(
        protocol: Protocol,
        opts: &ConnectOptions,
        destination: &str,
        id: &str,
        ack: AckMode,
        prefetch: Option<u32>,
    ) -> Result<Link, BenchError> {
        let mut link = Link::open(protocol, opts).await?;
        match &mut link {
            Link::Stomp(c) => {
                let mut f = Frame::new(Command::Subscribe)
                    .with_header("destination", destination)
                    .with_header("id", id)
                    .with_header("ack", ack.as_str());
                if let Some(n) = prefetch {
                    // ActiveMQ and Baton read the first, RabbitMQ the second.
                    f.push_header("activemq.prefetchSize", n.to_string());
                    f.push_header("prefetch-count", n.to_string());
                }
                c.request(f).await?;
            }
            Link::OpenWire(c) => {
                c.open_consumer(ow::destination(destination), prefetch)
                    .await?
            }
        }
        Ok(link)
    }

    /// Sends one message; with `confirm` waits for the broker's RECEIPT
    /// (STOMP) or Response (OpenWire).
    pub async fn send(
        &mut self,
        destination: &str,
        body: &Bytes,
        persistent: bool,
        confirm: bool,
        sent_at_us: u64,
        bench_id: u64,
    ) -> Result<(), BenchError> {
        match self {
            Link::Stomp(c) => {
                let mut f = Frame::new(Command::Send)
                    .with_header("destination", destination)
                    .with_header("content-length", body.len().to_string())
                    .with_header(SENT_AT_HEADER, sent_at_us.to_string())
                    .with_header(ID_HEADER, bench_id.to_string());
                if persistent {
                    f.push_header("persistent", "true");
                }
                let f = f.with_body(body.clone());
                if confirm {
                    c.request(f).await
                } else {
                    c.send(f).await
                }
            }
            Link::OpenWire(c) => {
                c.send_message(body, persistent, confirm, sent_at_us, bench_id)
                    .await
            }
        }
    }

    /// The next message.
    pub async fn recv(&mut self) -> Result<Received, BenchError> {
        match self {
            Link::Stomp(c) => {
                let f = c.recv().await?;
                if f.command != Command::Message {
                    return Err(BenchError::Unexpected(f.command.as_str().into()));
                }
                Ok(Received::Stomp(f))
            }
            Link::OpenWire(c) => Ok(Received::OpenWire(Box::new(c.recv().await?))),
        }
    }

    /// Acknowledges `r` as `ack` requires: STOMP sends nothing in auto
    /// mode; OpenWire always acknowledges (the broker has no auto mode),
    /// with an INDIVIDUAL ack for client-individual and a STANDARD ack
    /// otherwise.
    pub async fn ack(&mut self, r: &Received, ack: AckMode) -> Result<(), BenchError> {
        match (self, r) {
            (Link::Stomp(c), Received::Stomp(f)) => {
                if ack != AckMode::Auto {
                    let a = c.ack_frame(f);
                    c.send(a).await?;
                }
                Ok(())
            }
            (Link::OpenWire(c), Received::OpenWire(d)) => {
                c.ack(d, ack == AckMode::ClientIndividual).await
            }
            _ => Err(BenchError::Unexpected(
                "a message of the other protocol".into(),
            )),
        }
    }

    /// Ends the connection once the broker has handled everything sent on
    /// it (DISCONNECT receipt, or the Response to the connection's
    /// RemoveInfo).
    pub async fn disconnect(self) -> Result<(), BenchError> {
        match self {
            Link::Stomp(c) => c.disconnect().await,
            Link::OpenWire(c) => c.disconnect().await,
        }
    }
}
