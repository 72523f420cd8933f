//! Loose-encoding primitives (OPENWIRE.md §2.1): a bounds-checked [`Reader`]
//! over one frame, the `put_*` writers, and the [`Wire`] trait that maps
//! each Rust field type to its encoding, so the command structs of
//! [`super::command`] are plain field lists.
//!
//! Every length and count is checked against the bytes left in the frame
//! before anything is allocated; nothing here panics on any input.

use bytes::{BufMut, Bytes, BytesMut};

use super::error::{EncodeError, FrameError};

/// Nested objects deeper than this are invalid (OPENWIRE.md §6.2).
pub const MAX_DEPTH: usize = 8;
/// Throwable cause chains longer than this are invalid (only possible with
/// stack traces negotiated on, which Baton never does).
pub const MAX_CAUSES: usize = 4;

/// Reads the body of one complete frame. Byte arrays are slices of the
/// frame's [`Bytes`], not copies.
pub struct Reader<'a> {
    buf: &'a Bytes,
    pos: usize,
    depth: usize,
    /// Whether Throwables carry stack frames and a cause (the negotiated
    /// `StackTraceEnabled`).
    pub(crate) stack_traces: bool,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a Bytes, stack_traces: bool) -> Self {
        Reader {
            buf,
            pos: 0,
            depth: 0,
            stack_traces,
        }
    }

    /// Bytes read so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// The next `n` bytes, or `Truncated` naming `field`.
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], FrameError> {
        let remaining = self.remaining();
        if n > remaining {
            return Err(FrameError::Truncated {
                field,
                needed: n,
                remaining,
            });
        }
        let start = self.pos;
        self.pos += n;
        let buf: &'a [u8] = self.buf;
        Ok(buf.get(start..start + n).unwrap_or_default())
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], FrameError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    pub fn u8(&mut self, field: &'static str) -> Result<u8, FrameError> {
        Ok(self.array::<1>(field)?[0])
    }

    /// Java `readBoolean`: any non-zero byte is true.
    pub fn bool(&mut self, field: &'static str) -> Result<bool, FrameError> {
        Ok(self.u8(field)? != 0)
    }

    pub fn i16(&mut self, field: &'static str) -> Result<i16, FrameError> {
        Ok(i16::from_be_bytes(self.array(field)?))
    }

    pub fn u16(&mut self, field: &'static str) -> Result<u16, FrameError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    pub fn i32(&mut self, field: &'static str) -> Result<i32, FrameError> {
        Ok(i32::from_be_bytes(self.array(field)?))
    }

    pub fn i64(&mut self, field: &'static str) -> Result<i64, FrameError> {
        Ok(i64::from_be_bytes(self.array(field)?))
    }

    pub fn f32(&mut self, field: &'static str) -> Result<f32, FrameError> {
        Ok(f32::from_be_bytes(self.array(field)?))
    }

    pub fn f64(&mut self, field: &'static str) -> Result<f64, FrameError> {
        Ok(f64::from_be_bytes(self.array(field)?))
    }

    /// `n` raw bytes (a const byte array such as the WireFormatInfo magic).
    pub fn raw(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], FrameError> {
        self.take(n, field)
    }

    /// `len` bytes as a zero-copy slice of the frame.
    pub fn slice(&mut self, len: usize, field: &'static str) -> Result<Bytes, FrameError> {
        let start = self.pos;
        self.take(len, field)?;
        Ok(self.buf.slice(start..start + len))
    }

    /// A length or count read as `len`, checked: not negative, and at most
    /// `remaining / min_size` (each element takes at least `min_size` bytes).
    pub fn count(
        &mut self,
        len: i64,
        min_size: usize,
        field: &'static str,
    ) -> Result<usize, FrameError> {
        let n = usize::try_from(len).map_err(|_| FrameError::NegativeLength { field, len })?;
        let needed = n.saturating_mul(min_size.max(1));
        let remaining = self.remaining();
        if needed > remaining {
            return Err(FrameError::Truncated {
                field,
                needed,
                remaining,
            });
        }
        Ok(n)
    }

    /// u16 length + modified UTF-8, without the presence flag (Java
    /// `readUTF`).
    pub fn utf(&mut self, field: &'static str) -> Result<String, FrameError> {
        let len = usize::from(self.u16(field)?);
        let bytes = self.take(len, field)?;
        decode_modified_utf8(bytes, field)
    }

    /// Enters a nested object: fails past [`MAX_DEPTH`].
    pub fn enter(&mut self, field: &'static str) -> Result<(), FrameError> {
        if self.depth >= MAX_DEPTH {
            return Err(FrameError::TooDeep {
                field,
                limit: MAX_DEPTH,
            });
        }
        self.depth += 1;
        Ok(())
    }

    pub fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }
}

/// Java modified UTF-8 (CESU-8 with NUL as `C0 80`) to a Rust string. A
/// Java string may hold a lone UTF-16 surrogate, which no Rust string can:
/// it becomes U+FFFD, as Java's own `getBytes(UTF_8)` makes it `?`, rather
/// than failing the frame (and with it the connection, which a failover
/// client would replay forever).
pub fn decode_modified_utf8(bytes: &[u8], field: &'static str) -> Result<String, FrameError> {
    match cesu8::from_java_cesu8(bytes) {
        Ok(s) => Ok(s.into_owned()),
        Err(_) => cesu8::from_java_cesu8(&replace_lone_surrogates(bytes))
            .map(|s| s.into_owned())
            .map_err(|_| FrameError::InvalidString { field }),
    }
}

/// `bytes` with each encoded surrogate (`ED A0..BF xx`) that is not a
/// high one followed by a low one replaced by U+FFFD (`EF BF BD`).
fn replace_lone_surrogates(bytes: &[u8]) -> Vec<u8> {
    let is_surrogate = |at: usize| {
        bytes.get(at) == Some(&0xED)
            && bytes.get(at + 1).is_some_and(|b| (0xA0..=0xBF).contains(b))
            && bytes.get(at + 2).is_some_and(|b| (0x80..=0xBF).contains(b))
    };
    let is_high = |at: usize| is_surrogate(at) && bytes[at + 1] < 0xB0;
    let is_low = |at: usize| is_surrogate(at) && bytes[at + 1] >= 0xB0;
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if is_high(i) && is_low(i + 3) {
            out.extend_from_slice(&bytes[i..(i + 6).min(bytes.len())]);
            i += 6;
        } else if is_surrogate(i) {
            out.extend_from_slice("\u{FFFD}".as_bytes());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// u16 length + modified UTF-8, without the presence flag (Java
/// `writeUTF`).
pub fn put_utf(dst: &mut BytesMut, s: &str, field: &'static str) -> Result<(), EncodeError> {
    let bytes = cesu8::to_java_cesu8(s);
    let len = u16::try_from(bytes.len()).map_err(|_| EncodeError::StringTooLong {
        field,
        len: bytes.len(),
    })?;
    dst.put_u16(len);
    dst.put_slice(&bytes);
    Ok(())
}

/// An i32 length prefix for `len` bytes or elements.
pub fn put_len(dst: &mut BytesMut, len: usize, field: &'static str) -> Result<(), EncodeError> {
    let n = i32::try_from(len).map_err(|_| EncodeError::TooLong { field, len })?;
    dst.put_i32(n);
    Ok(())
}

/// How a field type is read and written (OPENWIRE.md §2.1). `field` names
/// the field in errors, e.g. `"ConsumerInfo.selector"`.
pub trait Wire: Sized {
    fn read(r: &mut Reader<'_>, field: &'static str) -> Result<Self, FrameError>;
    fn write(&self, dst: &mut BytesMut, field: &'static str) -> Result<(), EncodeError>;
}

/// A data structure or command that can appear as a nested object: one or
/// more type codes, each followed by its loose body.
pub trait DataStructure: Sized {
    /// Decodes the body of a nested object whose type byte was `code`;
    /// `UnexpectedType` if this type does not use that code.
    fn read_body(code: u8, r: &mut Reader<'_>, field: &'static str) -> Result<Self, FrameError>;
    /// The type byte written before the body.
    fn type_code(&self) -> u8;
    fn write_body(&self, dst: &mut BytesMut) -> Result<(), EncodeError>;
}

impl<T: DataStructure> DataStructure for Box<T> {
    fn read_body(code: u8, r: &mut Reader<'_>, field: &'static str) -> Result<Self, FrameError> {
        T::read_body(code, r, field).map(Box::new)
    }
    fn type_code(&self) -> u8 {
        (**self).type_code()
    }
    fn write_body(&self, dst: &mut BytesMut) -> Result<(), EncodeError> {
        (**self).write_body(dst)
    }
}

impl Wire for bool {
    fn read(r: &mut Reader<'_>, field: &'static str) -> Result<Self, FrameError> {
        r.bool(field)
    }
    fn write(&self, dst: &mut BytesMut, _: &'static str) -> Result<(), EncodeError> {
        dst.put_u8(u8::from(*self));
        Ok(())
    }
}

impl Wire for i8 {
    fn read(r: &mut Reader<'_>, field: &'static str) -> Result<Self, FrameError> {
        Ok(i8::from_be_bytes([r.u8(field)?]))
    }
    fn write(&self, dst: &mut BytesMut, _: &'static str) -> Result<(), EncodeError> {
        dst.put_i8(*self);
        Ok(())
    }
}

impl Wire for i32 {
    fn read(r: &mut Reader<'_>, field: &'static str) -> Result<Self, FrameError> {
        r.i32(field)
    }
    fn write(&self, dst: &mut BytesMut, _: &'static str) -> Result<(), EncodeError> {
        dst.put_i32(*self);
        Ok(())
    }
}

impl Wire for i64 {
    fn read(r: &mut Reader<'_>, field: &'static str) -> Result<Self, FrameError> {
        r.i64(field)
    }
    fn write(&self, dst: &mut BytesMut, _: &'static str) -> Result<(), EncodeError> {
        dst.put_i64(*self);
        Ok(())
    }
}

/// string: bool present, u16 length, modified UTF-8.
impl Wire for Option<String> {
    fn read(r: &mut Reader<'_>, field: &'static str) -> Result<Self, FrameError> {
        if !r.bool(field)? {
            return Ok(None);
        }
        r.utf(field).map(Some)
    }
    fn write(&self, dst: &mut BytesMut, field: &'static str) -> Result<(), EncodeError> {
        match self {
            None => dst.put_u8(0),
            Some(s) => {
                dst.put_u8(1);
                put_utf(dst, s, field)?;
            }
        }
        Ok(())
    }
}

/// byte array / ByteSequence: bool present, i32 length, bytes.
impl Wire for Option<Bytes> {
    fn read(r: &mut Reader<'_>, field: &'static str) -> Result<Self, FrameError> {
        if !r.bool(field)? {
            return Ok(None);
        }
        let len = r.i32(field)?;
        let len = r.count(i64::from(len), 1, field)?;
        r.slice(len, field).map(Some)
    }
    fn write(&self, dst: &mut BytesMut, field: &'static str) -> Result<(), EncodeError> {
        match self {
            None => dst.put_u8(0),
            Some(b) => {
                dst.put_u8(1);
                put_len(dst, b.len(), field)?;
                dst.put_slice(b);
            }
        }
        Ok(())
    }
}

/// nested / cached object (the same bytes without the marshal cache): bool
/// present, u8 type, body.
impl<T: DataStructure> Wire for Option<T> {
    fn read(r: &mut Reader<'_>, field: &'static str) -> Result<Self, FrameError> {
        if !r.bool(field)? {
            return Ok(None);
        }
        let code = r.u8(field)?;
        r.enter(field)?;
        let value = T::read_body(code, r, field)?;
        r.leave();
        Ok(Some(value))
    }
    fn write(&self, dst: &mut BytesMut, _: &'static str) -> Result<(), EncodeError> {
        match self {
            None => dst.put_u8(0),
            Some(v) => {
                dst.put_u8(1);
                dst.put_u8(v.type_code());
                v.write_body(dst)?;
            }
        }
        Ok(())
    }
}

/// object array: bool present, i16 count, count × nested object.
impl<T: DataStructure> Wire for Option<Vec<T>> {
    fn read(r: &mut Reader<'_>, field: &'static str) -> Result<Self, FrameError> {
        if !r.bool(field)? {
            return Ok(None);
        }
        let count = r.i16(field)?;
        // Each element is at least its presence flag.
        let count = r.count(i64::from(count), 1, field)?;
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            // Java writes every element with looseMarshalNestedObject; a
            // null element is not meaningful in any array Baton accepts.
            match Option::<T>::read(r, field)? {
                Some(item) => items.push(item),
                None => return Err(FrameError::Null { field }),
            }
        }
        Ok(Some(items))
    }
    fn write(&self, dst: &mut BytesMut, field: &'static str) -> Result<(), EncodeError> {
        match self {
            None => dst.put_u8(0),
            Some(items) => {
                dst.put_u8(1);
                let n = i16::try_from(items.len()).map_err(|_| EncodeError::TooLong {
                    field,
                    len: items.len(),
                })?;
                dst.put_i16(n);
                for item in items {
                    dst.put_u8(1);
                    dst.put_u8(item.type_code());
                    item.write_body(dst)?;
                }
            }
        }
        Ok(())
    }
}

/// A type that is never present: fields the format has but no client fills
/// in (`ConsumerInfo.additionalPredicate`). Any object there is rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Absent {}

impl DataStructure for Absent {
    fn read_body(code: u8, _: &mut Reader<'_>, field: &'static str) -> Result<Self, FrameError> {
        Err(FrameError::UnexpectedType { code, field })
    }
    fn type_code(&self) -> u8 {
        match *self {}
    }
    fn write_body(&self, _: &mut BytesMut) -> Result<(), EncodeError> {
        match *self {}
    }
}

/// string that must be present (ids, destination names): null is an error.
impl Wire for String {
    fn read(r: &mut Reader<'_>, field: &'static str) -> Result<Self, FrameError> {
        Option::<String>::read(r, field)?.ok_or(FrameError::Null { field })
    }
    fn write(&self, dst: &mut BytesMut, field: &'static str) -> Result<(), EncodeError> {
        dst.put_u8(1);
        put_utf(dst, self, field)
    }
}

/// nested object that must be present: null is an error.
impl<T: DataStructure> Wire for T {
    fn read(r: &mut Reader<'_>, field: &'static str) -> Result<Self, FrameError> {
        Option::<T>::read(r, field)?.ok_or(FrameError::Null { field })
    }
    fn write(&self, dst: &mut BytesMut, _: &'static str) -> Result<(), EncodeError> {
        dst.put_u8(1);
        dst.put_u8(self.type_code());
        self.write_body(dst)
    }
}

/// Declares a struct whose loose encoding is its fields in order, each
/// read and written by its type's [`Wire`] impl, and makes it a
/// [`DataStructure`] with one type code. Errors name the field as
/// `Struct.field`.
macro_rules! wire_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident = $code:expr;
        {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $name {
            /// This structure's type code.
            pub const TYPE: u8 = $code;

            #[allow(unused_variables)]
            pub(crate) fn read_fields(
                r: &mut $crate::openwire::wire::Reader<'_>,
            ) -> Result<Self, $crate::openwire::error::FrameError> {
                Ok($name {
                    $( $field: $crate::openwire::wire::Wire::read(
                        r,
                        concat!(stringify!($name), ".", stringify!($field)),
                    )?, )*
                })
            }

            #[allow(unused_variables)]
            pub(crate) fn write_fields(
                &self,
                dst: &mut ::bytes::BytesMut,
            ) -> Result<(), $crate::openwire::error::EncodeError> {
                $( $crate::openwire::wire::Wire::write(
                    &self.$field,
                    dst,
                    concat!(stringify!($name), ".", stringify!($field)),
                )?; )*
                Ok(())
            }
        }

        impl $crate::openwire::wire::DataStructure for $name {
            fn read_body(
                code: u8,
                r: &mut $crate::openwire::wire::Reader<'_>,
                field: &'static str,
            ) -> Result<Self, $crate::openwire::error::FrameError> {
                if code != Self::TYPE {
                    return Err($crate::openwire::error::FrameError::UnexpectedType { code, field });
                }
                Self::read_fields(r)
            }
            fn type_code(&self) -> u8 {
                Self::TYPE
            }
            fn write_body(
                &self,
                dst: &mut ::bytes::BytesMut,
            ) -> Result<(), $crate::openwire::error::EncodeError> {
                self.write_fields(dst)
            }
        }
    };
}
pub(crate) use wire_struct;
