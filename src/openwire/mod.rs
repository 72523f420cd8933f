//! The OpenWire protocol codec (the ActiveMQ Java client's protocol),
//! following `../shared/OPENWIRE.md`: loose encoding with a size prefix,
//! v10–v12, no marshal cache, no tight encoding, no stack traces.
//!
//! Pure and synchronous, no I/O: [`frame::parse`] and [`frame::encode`]
//! turn bytes into a typed [`Command`] and back; [`codec::OpenWireCodec`]
//! wraps them for `tokio_util::codec::Framed`.
//!
//! * [`frame`]: framing, limits, oversized frames.
//! * [`command`]: the commands and [`Command`].
//! * [`message`]: messages and their bodies.
//! * [`types`]: ids, destinations, transaction ids, Throwables.
//! * [`map`]: the primitive map (properties, MapMessage bodies).
//! * [`wireformat`]: WireFormatInfo and its negotiation.
//! * `wire`: the encoding of each field type.
//!
//! Security (OPENWIRE.md §6): nothing received is used as a class name or
//! deserialized; exception classes sent come from
//! [`types::ExceptionClass`]; every type code not needed is rejected, nested
//! ones too.

pub mod codec;
pub mod command;
pub mod error;
pub mod frame;
pub mod handler;
pub mod map;
pub mod message;
pub mod session;
pub mod translate;
pub mod types;
mod wire;
pub mod wireformat;

pub use command::{Command, Role};
pub use error::{BodyError, EncodeError, FrameError};
pub use frame::{encode, parse, Limits, Options, Oversized, Parsed};
pub use message::{Message, MessageKind};

#[cfg(test)]
mod tests;
