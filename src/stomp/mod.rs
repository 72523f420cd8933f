//! The STOMP 1.0/1.1/1.2 protocol adapter: frame parser and codec, one
//! session task per connection over TCP/TLS or WebSocket, and the listener.

pub mod codec;
pub mod delivery;
pub mod error;
pub mod frame;
pub mod handler;
pub mod limits;
pub mod server;
pub mod session;
pub mod transport;
pub mod websocket;

pub use handler::SessionConfig;
