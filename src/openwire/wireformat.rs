//! WireFormatInfo (type 1), Baton's own, and the negotiation between two
//! of them (OPENWIRE.md §1.2, §1.3).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::error::{EncodeError, FrameError};
use super::map::{read_map, PrimitiveMap, Value};
use super::wire::{put_len, Reader, Wire};

/// The 8 bytes every WireFormatInfo starts with.
pub const MAGIC: [u8; 8] = *b"ActiveMQ";
/// The OpenWire version Baton speaks (v10–v12 share the loose layouts).
pub const VERSION: i32 = 12;
/// The oldest peer version accepted (older layouts were not verified).
pub const MIN_VERSION: i32 = 10;
/// A WireFormatInfo with more properties than this is invalid (Java allows
/// 4096; a real one has 13).
pub const MAX_PROPERTIES: usize = 64;
/// Baton's `MaxInactivityDuration`: the peer is dropped after this long
/// without traffic; keep-alives go out every third of it.
pub const MAX_INACTIVITY_MS: i64 = 30_000;
/// Baton's `MaxInactivityDurationInitalDelay`.
pub const INITIAL_DELAY_MS: i64 = 10_000;
/// Baton's default `MaxFrameSize`: 100 MiB, as ActiveMQ's shipped config.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 104_857_600;

/// Property keys, spelled exactly as on the wire ("Inital" sic).
pub mod key {
    pub const TIGHT_ENCODING_ENABLED: &str = "TightEncodingEnabled";
    pub const CACHE_ENABLED: &str = "CacheEnabled";
    pub const SIZE_PREFIX_DISABLED: &str = "SizePrefixDisabled";
    pub const STACK_TRACE_ENABLED: &str = "StackTraceEnabled";
    pub const TCP_NO_DELAY_ENABLED: &str = "TcpNoDelayEnabled";
    pub const CACHE_SIZE: &str = "CacheSize";
    pub const MAX_INACTIVITY_DURATION: &str = "MaxInactivityDuration";
    pub const MAX_INACTIVITY_DURATION_INITIAL_DELAY: &str = "MaxInactivityDurationInitalDelay";
    pub const MAX_FRAME_SIZE: &str = "MaxFrameSize";
    pub const MAX_FRAME_SIZE_ENABLED: &str = "MaxFrameSizeEnabled";
    pub const PROVIDER_NAME: &str = "ProviderName";
    pub const PROVIDER_VERSION: &str = "ProviderVersion";
    pub const PLATFORM_DETAILS: &str = "PlatformDetails";
}

/// The first command in each direction. It has no commandId.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WireFormatInfo {
    pub version: i32,
    /// The options, in wire order, with the exact value types of §1.2.
    pub properties: PrimitiveMap,
}

impl WireFormatInfo {
    pub const TYPE: u8 = 1;

    /// What Baton advertises (OPENWIRE.md §0 item 1): version 12, loose
    /// encoding, no cache, no stack traces, size prefix on, 30 s inactivity
    /// with a 10 s initial delay, and `max_frame_size`.
    pub fn baton(max_frame_size: usize) -> Self {
        let max = i64::try_from(max_frame_size).unwrap_or(i64::MAX);
        let props = [
            (key::TIGHT_ENCODING_ENABLED, Value::Boolean(false)),
            (key::CACHE_ENABLED, Value::Boolean(false)),
            (key::SIZE_PREFIX_DISABLED, Value::Boolean(false)),
            (key::STACK_TRACE_ENABLED, Value::Boolean(false)),
            (key::TCP_NO_DELAY_ENABLED, Value::Boolean(true)),
            (key::CACHE_SIZE, Value::Int(0)),
            (key::MAX_INACTIVITY_DURATION, Value::Long(MAX_INACTIVITY_MS)),
            (
                key::MAX_INACTIVITY_DURATION_INITIAL_DELAY,
                Value::Long(INITIAL_DELAY_MS),
            ),
            (key::MAX_FRAME_SIZE, Value::Long(max)),
            (key::MAX_FRAME_SIZE_ENABLED, Value::Boolean(true)),
            (key::PROVIDER_NAME, Value::String("Baton".into())),
            (
                key::PROVIDER_VERSION,
                Value::String(env!("CARGO_PKG_VERSION").into()),
            ),
            (key::PLATFORM_DETAILS, Value::String("Rust".into())),
        ];
        WireFormatInfo {
            version: VERSION,
            properties: PrimitiveMap(props.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()),
        }
    }

    /// What a client of Baton's own (the load generator) advertises: as
    /// [`WireFormatInfo::baton`], but `MaxInactivityDuration` 0, so that
    /// the negotiated inactivity monitoring is off on both ends (the client
    /// then never has to send KeepAliveInfos to stay connected).
    pub fn client(max_frame_size: usize) -> Self {
        let mut wfi = Self::baton(max_frame_size);
        wfi.properties
            .insert(key::MAX_INACTIVITY_DURATION, Value::Long(0));
        wfi.properties
            .insert(key::MAX_INACTIVITY_DURATION_INITIAL_DELAY, Value::Long(0));
        wfi.properties.insert(
            key::PLATFORM_DETAILS,
            Value::String("Rust (baton bench)".into()),
        );
        wfi
    }

    /// A boolean option; missing reads as false (the Java getters).
    pub fn bool_option(&self, key: &'static str) -> Result<bool, NegotiationError> {
        match self.properties.get(key) {
            None => Ok(false),
            Some(Value::Boolean(b)) => Ok(*b),
            Some(_) => Err(NegotiationError::PropertyType {
                key,
                expected: "boolean",
            }),
        }
    }

    /// A long option; missing reads as 0. An Integer where Java expects a
    /// Long is an error, as Java's cast would be.
    pub fn long_option(&self, key: &'static str) -> Result<i64, NegotiationError> {
        match self.properties.get(key) {
            None => Ok(0),
            Some(Value::Long(v)) => Ok(*v),
            Some(_) => Err(NegotiationError::PropertyType {
                key,
                expected: "long",
            }),
        }
    }

    pub(crate) fn read_fields(r: &mut Reader<'_>) -> Result<Self, FrameError> {
        let mut magic = [0u8; 8];
        magic.copy_from_slice(r.raw(8, "WireFormatInfo.magic")?);
        if magic != MAGIC {
            return Err(FrameError::BadMagic(magic));
        }
        let version = r.i32("WireFormatInfo.version")?;
        const FIELD: &str = "WireFormatInfo.properties";
        let properties = match Option::<Bytes>::read(r, FIELD)? {
            None => PrimitiveMap::default(),
            Some(bytes) => {
                let mut inner = Reader::new(&bytes, false);
                let map = read_map(&mut inner, MAX_PROPERTIES, 0, FIELD)?;
                if inner.remaining() > 0 {
                    return Err(FrameError::TrailingBytes {
                        code: Self::TYPE,
                        consumed: inner.position(),
                        size: bytes.len(),
                    });
                }
                map.unwrap_or_default()
            }
        };
        Ok(WireFormatInfo {
            version,
            properties,
        })
    }

    pub(crate) fn write_fields(&self, dst: &mut BytesMut) -> Result<(), EncodeError> {
        dst.put_slice(&MAGIC);
        dst.put_i32(self.version);
        let map = self.properties.to_bytes()?;
        dst.put_u8(1);
        put_len(dst, map.remaining(), "WireFormatInfo.properties")?;
        dst.put_slice(&map);
        Ok(())
    }
}

/// Why a peer's WireFormatInfo cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NegotiationError {
    #[error("WireFormatInfo property {key} must be a {expected}")]
    PropertyType {
        key: &'static str,
        expected: &'static str,
    },
    #[error("OpenWire version {0} is not supported (Baton speaks 10 to 12)")]
    UnsupportedVersion(i32),
    #[error("the negotiated wire format would enable {0}, which Baton does not implement")]
    Unsupported(&'static str),
}

/// The wire format both sides use after the exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    pub version: i32,
    pub max_frame_size: i64,
    pub stack_trace_enabled: bool,
    pub tcp_no_delay_enabled: bool,
    /// Read check period in ms (the peer is dropped after this long without
    /// traffic); 0 turns inactivity monitoring off.
    pub max_inactivity_duration: i64,
    /// Delay before the first inactivity check, ms.
    pub initial_delay: i64,
}

impl Negotiated {
    /// How often to send a KeepAliveInfo when nothing else was written
    /// (`writeCheckTime = readCheckTime / 3`), or `None` when monitoring is
    /// off.
    pub fn keep_alive_interval_ms(&self) -> Option<i64> {
        (self.max_inactivity_duration > 0).then_some(self.max_inactivity_duration / 3)
    }
}

/// `OpenWireFormat.min`: the smaller of two values, where a value ≤ 0 means
/// "no preference".
fn java_min(a: i64, b: i64) -> i64 {
    if (a < b && a > 0) || b <= 0 {
        a
    } else {
        b
    }
}

/// Negotiates `ours` with the peer's WireFormatInfo the way
/// `OpenWireFormat.renegotiateWireFormat` and the InactivityMonitor do: the
/// booleans are ANDed, version and frame size take `java_min`, the
/// inactivity durations `Math.min` (so 0 from either side turns monitoring
/// off). Fails on a peer older than v10, on option values of the wrong
/// type, and if the result would need tight encoding, the marshal cache or
/// frames without a size prefix.
pub fn negotiate(
    ours: &WireFormatInfo,
    theirs: &WireFormatInfo,
) -> Result<Negotiated, NegotiationError> {
    if theirs.version < MIN_VERSION {
        return Err(NegotiationError::UnsupportedVersion(theirs.version));
    }
    let both = |k: &'static str| -> Result<bool, NegotiationError> {
        Ok(ours.bool_option(k)? && theirs.bool_option(k)?)
    };
    for (k, what) in [
        (key::TIGHT_ENCODING_ENABLED, "tight encoding"),
        (key::CACHE_ENABLED, "the marshal cache"),
        (key::SIZE_PREFIX_DISABLED, "frames without a size prefix"),
    ] {
        if both(k)? {
            return Err(NegotiationError::Unsupported(what));
        }
    }
    let min_long = |k: &'static str| -> Result<i64, NegotiationError> {
        Ok(ours.long_option(k)?.min(theirs.long_option(k)?))
    };
    Ok(Negotiated {
        version: java_min(i64::from(ours.version), i64::from(theirs.version)) as i32,
        max_frame_size: java_min(
            ours.long_option(key::MAX_FRAME_SIZE)?,
            theirs.long_option(key::MAX_FRAME_SIZE)?,
        ),
        stack_trace_enabled: both(key::STACK_TRACE_ENABLED)?,
        tcp_no_delay_enabled: both(key::TCP_NO_DELAY_ENABLED)?,
        max_inactivity_duration: min_long(key::MAX_INACTIVITY_DURATION)?,
        initial_delay: min_long(key::MAX_INACTIVITY_DURATION_INITIAL_DELAY)?,
    })
}
