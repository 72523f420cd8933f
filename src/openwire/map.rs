//! The primitive map (OPENWIRE.md §4.1): message properties, MapMessage
//! bodies and WireFormatInfo properties.
//!
//! ```text
//! map   := i32 count (-1 = null) , count × ( u16 len + modified UTF-8 key , value )
//! value := u8 tag , payload
//! ```

use bytes::{BufMut, Bytes, BytesMut};

use super::error::{EncodeError, FrameError};
use super::wire::{put_len, put_utf, Reader, MAX_DEPTH};

/// Value tags (`MarshallingSupport`).
pub mod tag {
    pub const NULL: u8 = 0;
    pub const BOOLEAN: u8 = 1;
    pub const BYTE: u8 = 2;
    pub const CHAR: u8 = 3;
    pub const SHORT: u8 = 4;
    pub const INTEGER: u8 = 5;
    pub const LONG: u8 = 6;
    pub const DOUBLE: u8 = 7;
    pub const FLOAT: u8 = 8;
    pub const STRING: u8 = 9;
    pub const BYTE_ARRAY: u8 = 10;
    pub const MAP: u8 = 11;
    pub const LIST: u8 = 12;
    pub const BIG_STRING: u8 = 13;
}

/// Java writes a string with tag STRING when it has fewer than this many
/// UTF-16 units, else with BIG_STRING (`marshalString`: `Short.MAX_VALUE / 4`).
const BIG_STRING_UNITS: usize = 8191;

/// One value of a primitive map or list.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Boolean(bool),
    Byte(i8),
    /// A UTF-16 code unit (Java `char`).
    Char(u16),
    Short(i16),
    Int(i32),
    Long(i64),
    Float(f32),
    Double(f64),
    /// Written as STRING (9) or BIG_STRING (13) by Java's rule; both decode
    /// to this.
    String(String),
    Bytes(Bytes),
    /// Only in MapMessage bodies.
    Map(PrimitiveMap),
    /// Only in MapMessage and StreamMessage bodies.
    List(Vec<Value>),
}

/// A primitive map, in wire order. Java's maps are hash maps, so the order
/// carries no meaning, but keeping it makes re-encoding byte-exact.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PrimitiveMap(pub Vec<(String, Value)>);

impl PrimitiveMap {
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of `key` (the last one if the key is repeated, as Java's
    /// `HashMap.put` would keep).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Replaces the value of `key`, or appends it.
    pub fn insert(&mut self, key: impl Into<String>, value: Value) {
        let key = key.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v = value,
            None => self.0.push((key, value)),
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Decodes a whole buffer holding one map; a null map (count −1) is
    /// empty. Every byte must be used.
    pub fn decode(bytes: &Bytes) -> Result<PrimitiveMap, FrameError> {
        let mut r = Reader::new(bytes, false);
        let map = read_map(&mut r, usize::MAX, 0, "map")?;
        if r.remaining() > 0 {
            return Err(FrameError::TrailingBytes {
                code: tag::MAP,
                consumed: r.position(),
                size: bytes.len(),
            });
        }
        Ok(map.unwrap_or_default())
    }

    /// Encodes the map (count, then entries in order).
    pub fn encode(&self, dst: &mut BytesMut) -> Result<(), EncodeError> {
        write_map(self, dst)
    }

    /// The map's encoding as one buffer.
    pub fn to_bytes(&self) -> Result<Bytes, EncodeError> {
        let mut buf = BytesMut::new();
        self.encode(&mut buf)?;
        Ok(buf.freeze())
    }
}

/// Reads a map of at most `max_entries` entries; `None` for count −1.
pub(crate) fn read_map(
    r: &mut Reader<'_>,
    max_entries: usize,
    depth: usize,
    field: &'static str,
) -> Result<Option<PrimitiveMap>, FrameError> {
    let count = r.i32(field)?;
    if count < 0 {
        // Java: a negative size is a null map.
        return Ok(None);
    }
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    if count > max_entries {
        return Err(FrameError::TooManyEntries {
            field,
            count,
            limit: max_entries,
        });
    }
    // An entry is at least an empty key (2 bytes) and a tag.
    let count = r.count(count as i64, 3, field)?;
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        let key = r.utf(field)?;
        let value = read_value(r, depth, field)?;
        entries.push((key, value));
    }
    Ok(Some(PrimitiveMap(entries)))
}

fn read_value(r: &mut Reader<'_>, depth: usize, field: &'static str) -> Result<Value, FrameError> {
    let t = r.u8(field)?;
    Ok(match t {
        tag::NULL => Value::Null,
        tag::BOOLEAN => Value::Boolean(r.bool(field)?),
        tag::BYTE => Value::Byte(i8::from_be_bytes([r.u8(field)?])),
        tag::CHAR => Value::Char(r.u16(field)?),
        tag::SHORT => Value::Short(r.i16(field)?),
        tag::INTEGER => Value::Int(r.i32(field)?),
        tag::LONG => Value::Long(r.i64(field)?),
        tag::DOUBLE => Value::Double(r.f64(field)?),
        tag::FLOAT => Value::Float(r.f32(field)?),
        tag::STRING => Value::String(r.utf(field)?),
        tag::BIG_STRING => {
            let len = r.i32(field)?;
            let len = r.count(i64::from(len), 1, field)?;
            let bytes = r.raw(len, field)?;
            Value::String(super::wire::decode_modified_utf8(bytes, field)?)
        }
        tag::BYTE_ARRAY => {
            let len = r.i32(field)?;
            let len = r.count(i64::from(len), 1, field)?;
            Value::Bytes(r.slice(len, field)?)
        }
        tag::MAP | tag::LIST if depth + 1 >= MAX_DEPTH => {
            return Err(FrameError::TooDeep {
                field,
                limit: MAX_DEPTH,
            })
        }
        tag::MAP => Value::Map(read_map(r, usize::MAX, depth + 1, field)?.unwrap_or_default()),
        tag::LIST => {
            let count = r.i32(field)?;
            // Java reads a negative count as an empty list.
            let count = r.count(i64::from(count.max(0)), 1, field)?;
            let mut items = Vec::with_capacity(count);
            for _ in 0..count {
                items.push(read_value(r, depth + 1, field)?);
            }
            Value::List(items)
        }
        tag => return Err(FrameError::UnknownTag { field, tag }),
    })
}

fn write_map(map: &PrimitiveMap, dst: &mut BytesMut) -> Result<(), EncodeError> {
    put_len(dst, map.0.len(), "map")?;
    for (key, value) in &map.0 {
        put_utf(dst, key, "map key")?;
        write_value(value, dst)?;
    }
    Ok(())
}

/// Writes one tagged value (`MarshallingSupport.marshalPrimitive`).
pub fn write_value(value: &Value, dst: &mut BytesMut) -> Result<(), EncodeError> {
    match value {
        Value::Null => dst.put_u8(tag::NULL),
        Value::Boolean(b) => {
            dst.put_u8(tag::BOOLEAN);
            dst.put_u8(u8::from(*b));
        }
        Value::Byte(b) => {
            dst.put_u8(tag::BYTE);
            dst.put_i8(*b);
        }
        Value::Char(c) => {
            dst.put_u8(tag::CHAR);
            dst.put_u16(*c);
        }
        Value::Short(v) => {
            dst.put_u8(tag::SHORT);
            dst.put_i16(*v);
        }
        Value::Int(v) => {
            dst.put_u8(tag::INTEGER);
            dst.put_i32(*v);
        }
        Value::Long(v) => {
            dst.put_u8(tag::LONG);
            dst.put_i64(*v);
        }
        Value::Double(v) => {
            dst.put_u8(tag::DOUBLE);
            dst.put_f64(*v);
        }
        Value::Float(v) => {
            dst.put_u8(tag::FLOAT);
            dst.put_f32(*v);
        }
        Value::String(s) if s.encode_utf16().count() < BIG_STRING_UNITS => {
            dst.put_u8(tag::STRING);
            put_utf(dst, s, "map string")?;
        }
        Value::String(s) => {
            dst.put_u8(tag::BIG_STRING);
            let bytes = cesu8::to_java_cesu8(s);
            put_len(dst, bytes.len(), "map string")?;
            dst.put_slice(&bytes);
        }
        Value::Bytes(b) => {
            dst.put_u8(tag::BYTE_ARRAY);
            put_len(dst, b.len(), "map byte array")?;
            dst.put_slice(b);
        }
        Value::Map(m) => {
            dst.put_u8(tag::MAP);
            write_map(m, dst)?;
        }
        Value::List(items) => {
            dst.put_u8(tag::LIST);
            put_len(dst, items.len(), "map list")?;
            for item in items {
                write_value(item, dst)?;
            }
        }
    }
    Ok(())
}
