//! STOMP over WebSocket from the tests: tungstenite as the WebSocket
//! client, frames written as text and read back with baton's parser.

use baton::stomp::frame::{parse, Frame, Limits, Parsed, Version};
use futures::{SinkExt, StreamExt};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Response;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error, Message};
use tokio_tungstenite::WebSocketStream;

const GUARD: Duration = Duration::from_secs(10);

/// A WebSocket connection and the upgrade's response.
pub struct Ws<S> {
    pub ws: WebSocketStream<S>,
    pub response: Response,
}

/// Opens `ws://addr{path}` over `stream` with extra request headers
/// (`Origin`, `Sec-WebSocket-Protocol`, ...).
pub async fn open_over<S>(
    stream: S,
    url: &str,
    headers: &[(&'static str, &str)],
) -> Result<Ws<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut request = url.into_client_request()?;
    for (name, value) in headers {
        request
            .headers_mut()
            .insert(*name, HeaderValue::from_str(value).expect("header value"));
    }
    let (ws, response) = tokio_tungstenite::client_async(request, stream).await?;
    Ok(Ws { ws, response })
}

/// Opens `ws://addr{path}` over TCP.
pub async fn open(
    addr: &str,
    path: &str,
    headers: &[(&'static str, &str)],
) -> Result<Ws<tokio::net::TcpStream>, Error> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    open_over(tcp, &format!("ws://{addr}{path}"), headers).await
}

/// A frame as text: `COMMAND`, headers, blank line, body, NUL.
pub fn frame_text(command: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut t = format!("{command}\n");
    for (k, v) in headers {
        t.push_str(&format!("{k}:{v}\n"));
    }
    t.push('\n');
    t.push_str(body);
    t.push('\0');
    t
}

/// What the next message brought.
#[derive(Debug)]
pub enum Received {
    Frame(Frame),
    Heartbeat,
    /// The server closed (Close message, or the connection ended).
    Closed,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Ws<S> {
    pub async fn send(&mut self, command: &str, headers: &[(&str, &str)], body: &str) {
        self.send_message(Message::text(frame_text(command, headers, body)))
            .await;
    }

    pub async fn send_message(&mut self, m: Message) {
        tokio::time::timeout(GUARD, self.ws.send(m))
            .await
            .expect("send in time")
            .expect("send");
    }

    /// The next message (within the guard), parsed.
    pub async fn receive(&mut self) -> Received {
        loop {
            let next = tokio::time::timeout(GUARD, self.ws.next())
                .await
                .expect("a message in time");
            let data = match next {
                Some(Ok(Message::Text(t))) => t.as_bytes().to_vec(),
                Some(Ok(Message::Binary(b))) => b.to_vec(),
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                // A reset after the server's last frame ends it too.
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return Received::Closed,
            };
            if data.iter().all(|b| *b == b'\n' || *b == b'\r') {
                return Received::Heartbeat;
            }
            return match parse(&data, Version::V1_2, &Limits::default()) {
                Ok(Some(Parsed::Frame(f, n))) => {
                    assert!(
                        data[n..].iter().all(|b| *b == b'\n' || *b == b'\r'),
                        "one frame per message: {data:?}"
                    );
                    Received::Frame(f)
                }
                other => panic!("not one STOMP frame ({other:?}): {data:?}"),
            };
        }
    }

    /// The next frame, skipping heart-beats.
    pub async fn frame(&mut self) -> Frame {
        loop {
            match self.receive().await {
                Received::Frame(f) => return f,
                Received::Heartbeat => continue,
                Received::Closed => panic!("closed while waiting for a frame"),
            }
        }
    }

    /// After an ERROR: the server closes (heart-beats may come first).
    pub async fn closed(&mut self) -> bool {
        loop {
            match self.receive().await {
                Received::Closed => return true,
                Received::Heartbeat => continue,
                Received::Frame(_) => return false,
            }
        }
    }
}
