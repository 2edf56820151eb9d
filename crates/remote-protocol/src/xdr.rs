//! A small hand-written XDR (RFC 4506) codec.
//!
//! Why not serde: libvirt's wire format has quirks that a generic serde data
//! model hides or gets wrong — `char`/`short` take four bytes, union
//! discriminants are explicit values (not variant indices), every variable
//! length item carries a protocol maximum that must be checked while decoding,
//! and optional pointers (`T *`) are a 0/1 word followed by the value. A
//! [`Writer`]/[`Reader`] pair plus two traits ([`Encode`], [`Decode`]) keeps
//! every one of those rules visible in ~300 lines, with no dependency.
//!
//! Allocation safety: every length or count read from the wire is checked
//! against the protocol maximum **and** against the bytes actually left in
//! the (already size-limited) input before anything is allocated, so a
//! hostile 4 GiB length costs nothing.

/// Errors from decoding XDR data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XdrError {
    /// The input ended before the value did.
    #[error("XDR data truncated: {needed} bytes needed at offset {offset}, {available} left")]
    Truncated {
        /// Offset where the read started.
        offset: usize,
        /// Bytes the value needed.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// A length or element count is above the protocol maximum.
    #[error("XDR {what} length {len} exceeds the maximum of {max}")]
    TooLong {
        /// Which kind of item (string, opaque, array).
        what: &'static str,
        /// Length found on the wire.
        len: u64,
        /// Protocol maximum.
        max: u64,
    },
    /// A string was not valid UTF-8.
    #[error("XDR string is not valid UTF-8")]
    InvalidUtf8,
    /// An enum or union discriminant has no known arm.
    #[error("unknown discriminant {value} for {what}")]
    BadDiscriminant {
        /// Type being decoded.
        what: &'static str,
        /// Discriminant found.
        value: i32,
    },
    /// A narrow integer (`char`, `short`) carried an out-of-range value.
    #[error("value {value} out of range for {what}")]
    OutOfRange {
        /// Type being decoded.
        what: &'static str,
        /// Value found (as a 32-bit word).
        value: i64,
    },
    /// Bytes were left over after the complete value.
    #[error("{0} trailing bytes after the XDR value")]
    TrailingBytes(usize),
}

/// Values that can be written as XDR.
pub trait Encode {
    /// Append the XDR form of `self` to `w`.
    fn encode(&self, w: &mut Writer);
}

/// Values that can be read from XDR with their default limits.
pub trait Decode: Sized {
    /// Read one value from `r`.
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError>;
}

/// Values whose wire form has a caller-chosen maximum (`T<N>`, `string<N>`).
pub trait DecodeLimited: Sized {
    /// Read one value of at most `max` elements/bytes.
    fn decode_limited(r: &mut Reader<'_>, max: u32) -> Result<Self, XdrError>;
}

/// Encode a value into a fresh buffer.
pub fn to_bytes<T: Encode + ?Sized>(value: &T) -> Vec<u8> {
    let mut w = Writer::new();
    value.encode(&mut w);
    w.into_bytes()
}

/// Decode a value that must use all of `bytes`.
pub fn from_bytes<T: Decode>(bytes: &[u8]) -> Result<T, XdrError> {
    let mut r = Reader::new(bytes);
    let v = T::decode(&mut r)?;
    r.finish()?;
    Ok(v)
}

fn pad_len(len: usize) -> usize {
    (4 - (len % 4)) % 4
}

/// Growable XDR output buffer.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The encoded bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// `int` (also `enum`, `char`, `short`: all take four bytes).
    pub fn put_i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// `unsigned int`.
    pub fn put_u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// `hyper`.
    pub fn put_i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// `unsigned hyper`.
    pub fn put_u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// `bool`: one word, 0 or 1.
    pub fn put_bool(&mut self, v: bool) {
        self.put_u32(u32::from(v));
    }

    /// `double` (IEEE 754, big-endian).
    pub fn put_f64(&mut self, v: f64) {
        self.put_u64(v.to_bits());
    }

    fn put_padded(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        self.buf
            .extend_from_slice(&[0u8; 3][..pad_len(bytes.len())]);
    }

    /// `opaque[N]`: the bytes and padding, no length word.
    pub fn put_opaque_fixed(&mut self, bytes: &[u8]) {
        self.put_padded(bytes);
    }

    /// `opaque<N>`: length word, bytes, padding.
    ///
    /// # Panics
    /// If `bytes` is longer than `u32::MAX` (cannot happen for packets that
    /// fit in libvirt's 32 MiB limit).
    pub fn put_opaque_var(&mut self, bytes: &[u8]) {
        let len = u32::try_from(bytes.len()).expect("XDR opaque longer than u32::MAX");
        self.put_u32(len);
        self.put_padded(bytes);
    }

    /// `string<N>`: like `opaque<N>`, no NUL terminator.
    pub fn put_string(&mut self, s: &str) {
        self.put_opaque_var(s.as_bytes());
    }

    /// `T<N>`: count word, then each element.
    ///
    /// # Panics
    /// If there are more than `u32::MAX` items.
    pub fn put_array<T: Encode>(&mut self, items: &[T]) {
        let n = u32::try_from(items.len()).expect("XDR array longer than u32::MAX");
        self.put_u32(n);
        for it in items {
            it.encode(self);
        }
    }

    /// `T *`: 0, or 1 followed by the value.
    pub fn put_option<T: Encode>(&mut self, v: Option<&T>) {
        match v {
            None => self.put_u32(0),
            Some(v) => {
                self.put_u32(1);
                v.encode(self);
            }
        }
    }

    /// A union: the discriminant, then the selected arm.
    pub fn put_union<T: Encode + ?Sized>(&mut self, discriminant: i32, arm: &T) {
        self.put_i32(discriminant);
        arm.encode(self);
    }
}

/// Cursor over XDR input.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Start reading at the beginning of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Current offset.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Fail unless every byte was consumed.
    pub fn finish(&self) -> Result<(), XdrError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(XdrError::TrailingBytes(n)),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], XdrError> {
        if n > self.remaining() {
            return Err(XdrError::Truncated {
                offset: self.pos,
                needed: n,
                available: self.remaining(),
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], XdrError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// `int`.
    pub fn get_i32(&mut self) -> Result<i32, XdrError> {
        Ok(i32::from_be_bytes(self.take_array()?))
    }

    /// `unsigned int`.
    pub fn get_u32(&mut self) -> Result<u32, XdrError> {
        Ok(u32::from_be_bytes(self.take_array()?))
    }

    /// `hyper`.
    pub fn get_i64(&mut self) -> Result<i64, XdrError> {
        Ok(i64::from_be_bytes(self.take_array()?))
    }

    /// `unsigned hyper`.
    pub fn get_u64(&mut self) -> Result<u64, XdrError> {
        Ok(u64::from_be_bytes(self.take_array()?))
    }

    /// `double`.
    pub fn get_f64(&mut self) -> Result<f64, XdrError> {
        Ok(f64::from_bits(self.get_u64()?))
    }

    /// `bool` (also an optional-pointer marker): 0 is false, any other word true,
    /// as glibc's `xdr_bool` (libvirt's) reads it; go-libvirt, for one, sends other
    /// nonzero words. What we send is always 0 or 1.
    pub fn get_bool(&mut self) -> Result<bool, XdrError> {
        Ok(self.get_u32()? != 0)
    }

    fn skip_padding(&mut self, len: usize) -> Result<(), XdrError> {
        self.take(pad_len(len)).map(|_| ())
    }

    /// `opaque[N]`.
    pub fn get_opaque_fixed<const N: usize>(&mut self) -> Result<[u8; N], XdrError> {
        let a = self.take_array::<N>()?;
        self.skip_padding(N)?;
        Ok(a)
    }

    /// Reads a length word and checks it against `max` and the input left,
    /// before anything is allocated.
    fn get_len(&mut self, what: &'static str, max: u32, unit: usize) -> Result<usize, XdrError> {
        let len = self.get_u32()?;
        if len > max {
            return Err(XdrError::TooLong {
                what,
                len: u64::from(len),
                max: u64::from(max),
            });
        }
        let len = len as usize;
        let needed = len.saturating_mul(unit);
        if needed > self.remaining() {
            return Err(XdrError::Truncated {
                offset: self.pos,
                needed,
                available: self.remaining(),
            });
        }
        Ok(len)
    }

    /// `opaque<max>` as a borrowed slice.
    pub fn get_opaque_var_ref(&mut self, max: u32) -> Result<&'a [u8], XdrError> {
        let len = self.get_len("opaque", max, 1)?;
        let s = self.take(len)?;
        self.skip_padding(len)?;
        Ok(s)
    }

    /// `opaque<max>`.
    pub fn get_opaque_var(&mut self, max: u32) -> Result<Vec<u8>, XdrError> {
        self.get_opaque_var_ref(max).map(<[u8]>::to_vec)
    }

    /// `string<max>` (must be UTF-8).
    pub fn get_string(&mut self, max: u32) -> Result<String, XdrError> {
        let len = self.get_len("string", max, 1)?;
        let s = self.take(len)?;
        self.skip_padding(len)?;
        String::from_utf8(s.to_vec()).map_err(|_| XdrError::InvalidUtf8)
    }

    /// `T<max>`. Every XDR item is at least four bytes, which bounds the count
    /// by the input left before the vector is allocated.
    pub fn get_array<T: Decode>(&mut self, max: u32) -> Result<Vec<T>, XdrError> {
        let n = self.get_len("array", max, 4)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(T::decode(self)?);
        }
        Ok(v)
    }

    /// `T *`.
    pub fn get_option<T: Decode>(&mut self) -> Result<Option<T>, XdrError> {
        if self.get_bool()? {
            Ok(Some(T::decode(self)?))
        } else {
            Ok(None)
        }
    }
}

/// `REMOTE_STRING_MAX`: default maximum for `remote_nonnull_string`.
pub const STRING_MAX: u32 = 4_194_304;

impl Encode for i32 {
    fn encode(&self, w: &mut Writer) {
        w.put_i32(*self);
    }
}
impl Decode for i32 {
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        r.get_i32()
    }
}
impl Encode for u32 {
    fn encode(&self, w: &mut Writer) {
        w.put_u32(*self);
    }
}
impl Decode for u32 {
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        r.get_u32()
    }
}
impl Encode for i64 {
    fn encode(&self, w: &mut Writer) {
        w.put_i64(*self);
    }
}
impl Decode for i64 {
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        r.get_i64()
    }
}
impl Encode for u64 {
    fn encode(&self, w: &mut Writer) {
        w.put_u64(*self);
    }
}
impl Decode for u64 {
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        r.get_u64()
    }
}
impl Encode for f64 {
    fn encode(&self, w: &mut Writer) {
        w.put_f64(*self);
    }
}
impl Decode for f64 {
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        r.get_f64()
    }
}
impl Encode for bool {
    fn encode(&self, w: &mut Writer) {
        w.put_bool(*self);
    }
}
impl Decode for bool {
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        r.get_bool()
    }
}
/// `unsigned char`: four bytes on the wire.
impl Encode for u8 {
    fn encode(&self, w: &mut Writer) {
        w.put_u32(u32::from(*self));
    }
}
impl Decode for u8 {
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        let v = r.get_u32()?;
        u8::try_from(v).map_err(|_| XdrError::OutOfRange {
            what: "unsigned char",
            value: i64::from(v),
        })
    }
}
/// `unsigned short`: four bytes on the wire.
impl Encode for u16 {
    fn encode(&self, w: &mut Writer) {
        w.put_u32(u32::from(*self));
    }
}
impl Decode for u16 {
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        let v = r.get_u32()?;
        u16::try_from(v).map_err(|_| XdrError::OutOfRange {
            what: "unsigned short",
            value: i64::from(v),
        })
    }
}
/// `remote_nonnull_string` (`string<REMOTE_STRING_MAX>`).
impl Encode for String {
    fn encode(&self, w: &mut Writer) {
        w.put_string(self);
    }
}
impl Encode for str {
    fn encode(&self, w: &mut Writer) {
        w.put_string(self);
    }
}
impl Decode for String {
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        r.get_string(STRING_MAX)
    }
}
impl DecodeLimited for String {
    fn decode_limited(r: &mut Reader<'_>, max: u32) -> Result<Self, XdrError> {
        r.get_string(max)
    }
}
/// `opaque[N]`.
impl<const N: usize> Encode for [u8; N] {
    fn encode(&self, w: &mut Writer) {
        w.put_opaque_fixed(self);
    }
}
impl<const N: usize> Decode for [u8; N] {
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        r.get_opaque_fixed::<N>()
    }
}
/// Optional data `T *`.
impl<T: Encode> Encode for Option<T> {
    fn encode(&self, w: &mut Writer) {
        w.put_option(self.as_ref());
    }
}
impl<T: Decode> Decode for Option<T> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        r.get_option()
    }
}
/// Variable-length array `T<N>`.
impl<T: Encode> Encode for Vec<T> {
    fn encode(&self, w: &mut Writer) {
        w.put_array(self);
    }
}
impl<T: Decode> DecodeLimited for Vec<T> {
    fn decode_limited(r: &mut Reader<'_>, max: u32) -> Result<Self, XdrError> {
        r.get_array(max)
    }
}
/// `void`.
impl Encode for () {
    fn encode(&self, _w: &mut Writer) {}
}
impl Decode for () {
    fn decode(_r: &mut Reader<'_>) -> Result<Self, XdrError> {
        Ok(())
    }
}

/// `opaque<N>` as an owned byte vector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Opaque(pub Vec<u8>);

impl Encode for Opaque {
    fn encode(&self, w: &mut Writer) {
        w.put_opaque_var(&self.0);
    }
}
impl DecodeLimited for Opaque {
    fn decode_limited(r: &mut Reader<'_>, max: u32) -> Result<Self, XdrError> {
        r.get_opaque_var(max).map(Opaque)
    }
}

/// `char x[N]`: each char is a four-byte int (rpcgen uses `xdr_char`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedChars<const N: usize>(pub [u8; N]);

impl<const N: usize> FixedChars<N> {
    /// Copy `s` (truncated to `N - 1` bytes, NUL-padded) into a C char array.
    pub fn from_str_lossy(s: &str) -> Self {
        let mut a = [0u8; N];
        let n = s.len().min(N.saturating_sub(1));
        a[..n].copy_from_slice(&s.as_bytes()[..n]);
        Self(a)
    }

    /// The text up to the first NUL.
    pub fn to_string_lossy(&self) -> String {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(N);
        String::from_utf8_lossy(&self.0[..end]).into_owned()
    }
}

impl<const N: usize> Encode for FixedChars<N> {
    fn encode(&self, w: &mut Writer) {
        for &b in &self.0 {
            // C `char` is signed on x86: sign-extend like xdr_char does.
            w.put_i32(i32::from(b as i8));
        }
    }
}
impl<const N: usize> Decode for FixedChars<N> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        let mut a = [0u8; N];
        for b in &mut a {
            *b = decode_char(r)?;
        }
        Ok(Self(a))
    }
}

fn decode_char(r: &mut Reader<'_>) -> Result<u8, XdrError> {
    let v = r.get_i32()?;
    match v {
        -128..=255 => Ok(v as u8),
        _ => Err(XdrError::OutOfRange {
            what: "char",
            value: i64::from(v),
        }),
    }
}

/// `char x<N>`: a count word, then four bytes per char. Not a string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CharVec(pub Vec<u8>);

impl Encode for CharVec {
    fn encode(&self, w: &mut Writer) {
        let n = u32::try_from(self.0.len()).expect("char array longer than u32::MAX");
        w.put_u32(n);
        for &b in &self.0 {
            w.put_i32(i32::from(b as i8));
        }
    }
}
impl DecodeLimited for CharVec {
    fn decode_limited(r: &mut Reader<'_>, max: u32) -> Result<Self, XdrError> {
        let n = r.get_len("char array", max, 4)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(decode_char(r)?);
        }
        Ok(Self(v))
    }
}

/// Define a struct whose XDR form is its fields in order.
///
/// A field written `name: Type => max N` uses [`DecodeLimited`] with that
/// maximum (for `T<N>`, `string<N>`); other fields use [`Decode`].
#[macro_export]
macro_rules! xdr_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                pub $field:ident : $ty:ty $(=> max $max:expr)?
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $(
                $(#[$fmeta])*
                pub $field: $ty,
            )*
        }

        impl $crate::xdr::Encode for $name {
            #[allow(unused_variables)]
            fn encode(&self, w: &mut $crate::xdr::Writer) {
                $( $crate::xdr::Encode::encode(&self.$field, w); )*
            }
        }

        impl $crate::xdr::Decode for $name {
            #[allow(unused_variables)]
            fn decode(r: &mut $crate::xdr::Reader<'_>) -> Result<Self, $crate::xdr::XdrError> {
                Ok(Self {
                    $( $field: $crate::xdr_struct!(@field r, $ty $(, $max)?), )*
                })
            }
        }
    };
    (@field $r:ident, $ty:ty) => {
        <$ty as $crate::xdr::Decode>::decode($r)?
    };
    (@field $r:ident, $ty:ty, $max:expr) => {
        <$ty as $crate::xdr::DecodeLimited>::decode_limited($r, $max)?
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_round_trip_and_layout() {
        let mut w = Writer::new();
        w.put_i32(-2);
        w.put_u32(7);
        w.put_i64(-3);
        w.put_u64(u64::MAX);
        w.put_bool(true);
        w.put_f64(1.5);
        let b = w.into_bytes();
        assert_eq!(b.len(), 4 + 4 + 8 + 8 + 4 + 8);
        assert_eq!(&b[..4], &[0xff, 0xff, 0xff, 0xfe]);
        let mut r = Reader::new(&b);
        assert_eq!(r.get_i32().unwrap(), -2);
        assert_eq!(r.get_u32().unwrap(), 7);
        assert_eq!(r.get_i64().unwrap(), -3);
        assert_eq!(r.get_u64().unwrap(), u64::MAX);
        assert!(r.get_bool().unwrap());
        assert_eq!(r.get_f64().unwrap(), 1.5);
        r.finish().unwrap();
    }

    #[test]
    fn string_is_length_bytes_padding() {
        let b = to_bytes("qemu:///system");
        assert_eq!(b.len(), 4 + 16);
        assert_eq!(&b[..4], &[0, 0, 0, 14]);
        assert_eq!(&b[18..], &[0, 0]);
        assert_eq!(from_bytes::<String>(&b).unwrap(), "qemu:///system");
        // Exactly aligned: no padding.
        assert_eq!(to_bytes("abcd").len(), 8);
        assert_eq!(to_bytes("").len(), 4);
    }

    #[test]
    fn optional_and_fixed_opaque() {
        let some: Option<String> = Some("x".into());
        let b = to_bytes(&some);
        assert_eq!(b, vec![0, 0, 0, 1, 0, 0, 0, 1, b'x', 0, 0, 0]);
        assert_eq!(from_bytes::<Option<String>>(&b).unwrap(), some);
        assert_eq!(to_bytes(&None::<String>), vec![0, 0, 0, 0]);
        let uuid = [7u8; 16];
        assert_eq!(to_bytes(&uuid).len(), 16);
        assert_eq!(from_bytes::<[u8; 16]>(&to_bytes(&uuid)).unwrap(), uuid);
        // Odd fixed opaque is padded.
        assert_eq!(to_bytes(&[1u8; 5]).len(), 8);
    }

    #[test]
    fn narrow_ints_take_four_bytes() {
        assert_eq!(to_bytes(&5u8), vec![0, 0, 0, 5]);
        assert_eq!(to_bytes(&300u16), vec![0, 0, 1, 44]);
        assert!(matches!(
            from_bytes::<u8>(&[0, 0, 1, 0]),
            Err(XdrError::OutOfRange { .. })
        ));
        let c = FixedChars::<32>::from_str_lossy("x86_64");
        let b = to_bytes(&c);
        assert_eq!(b.len(), 128);
        assert_eq!(
            from_bytes::<FixedChars<32>>(&b).unwrap().to_string_lossy(),
            "x86_64"
        );
        let v = CharVec(b"none".to_vec());
        let b = to_bytes(&v);
        assert_eq!(b.len(), 4 + 16);
        let mut r = Reader::new(&b);
        assert_eq!(CharVec::decode_limited(&mut r, 256).unwrap(), v);
    }

    #[test]
    fn huge_lengths_are_refused_before_allocation() {
        // 4 GiB - 1 string length with nothing behind it.
        let b = [0xff, 0xff, 0xff, 0xff];
        let mut r = Reader::new(&b);
        assert!(matches!(
            r.get_string(u32::MAX),
            Err(XdrError::Truncated { .. })
        ));
        let mut r = Reader::new(&b);
        assert!(matches!(
            r.get_string(STRING_MAX),
            Err(XdrError::TooLong { .. })
        ));
        // An array count that fits the max but not the input.
        let b = [0, 0, 0x40, 0, 0, 0, 0, 1];
        let mut r = Reader::new(&b);
        assert!(matches!(
            r.get_array::<i32>(16384),
            Err(XdrError::Truncated { .. })
        ));
        let mut r = Reader::new(&b);
        assert!(matches!(
            r.get_array::<i32>(10),
            Err(XdrError::TooLong { .. })
        ));
    }

    #[test]
    fn bad_markers_and_trailing_bytes() {
        // Lenient where glibc is: any nonzero bool or optional marker is true.
        assert_eq!(from_bytes::<bool>(&[0, 0, 0, 2]), Ok(true));
        assert_eq!(from_bytes::<bool>(&[1, 0, 0, 0]), Ok(true));
        assert_eq!(
            from_bytes::<Option<i32>>(&[1, 0, 0, 0, 0, 0, 0, 7]),
            Ok(Some(7))
        );
        // Strict in what we send.
        assert_eq!(to_bytes(&true), [0, 0, 0, 1]);
        assert_eq!(
            from_bytes::<i32>(&[0, 0, 0, 1, 0]),
            Err(XdrError::TrailingBytes(1))
        );
        assert!(matches!(
            from_bytes::<String>(&[0, 0, 0, 2, 0xff, 0xfe, 0, 0]),
            Err(XdrError::InvalidUtf8)
        ));
    }

    crate::xdr_struct! {
        #[derive(Debug, Clone, PartialEq)]
        pub struct Sample {
            pub a: i32,
            pub b: Option<String>,
            pub c: Vec<u32> => max 4,
            pub d: String => max 8,
            pub e: [u8; 16],
            pub f: u64,
        }
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn struct_round_trip(
                a in any::<i32>(),
                b in proptest::option::of(".{0,20}"),
                c in proptest::collection::vec(any::<u32>(), 0..=4),
                d in "[a-z]{0,8}",
                e in any::<[u8; 16]>(),
                f in any::<u64>(),
            ) {
                let s = Sample { a, b, c, d, e, f };
                let bytes = to_bytes(&s);
                prop_assert_eq!(bytes.len() % 4, 0);
                prop_assert_eq!(from_bytes::<Sample>(&bytes).unwrap(), s);
            }

            #[test]
            fn decoding_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
                let _ = from_bytes::<Sample>(&bytes);
            }
        }
    }
}
