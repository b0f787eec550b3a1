//! Fixed-length ASCII character arrays (`char` with `length` in the schema): the instrument
//! code (16) and the event reason (32). Shorter values are padded with NUL bytes, as SBE
//! decoders expect; anything else (non-printable bytes, text after a NUL) is refused.

use std::fmt;
use std::hash::Hasher;

/// Length of the instrument code on the wire. TAIFEX option codes such as `TXO17500L4` or
/// `TX220000L4` are 10 characters, futures `TXFL4`/`MXFR1` 5, TWSE stock/ETF/warrant codes at
/// most 6: 16 leaves room for exchange prefixes and future code formats.
pub const CODE_LEN: usize = 16;

/// Length of the free-text reason of a `SystemEvent`.
pub const REASON_LEN: usize = 32;

/// Why a text does not fit a fixed-length ASCII field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextError {
    TooLong {
        len: usize,
        max: usize,
    },
    /// A byte outside printable ASCII (0x20..=0x7E) at this index.
    NotPrintableAscii {
        index: usize,
    },
    /// Non-NUL bytes after the first NUL (padding must be all NUL).
    BadPadding {
        index: usize,
    },
}

impl fmt::Display for TextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TextError::TooLong { len, max } => write!(f, "{len} bytes, longer than {max}"),
            TextError::NotPrintableAscii { index } => {
                write!(f, "byte {index} is not printable ASCII")
            }
            TextError::BadPadding { index } => {
                write!(f, "byte {index} follows a NUL but is not NUL padding")
            }
        }
    }
}

impl std::error::Error for TextError {}

/// A NUL-padded printable-ASCII text of exactly `N` bytes on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FixedText<const N: usize>([u8; N]);

/// The instrument code (`Code` type in the schema).
pub type Code = FixedText<CODE_LEN>;
/// The reason text of a system event (`Reason` type in the schema).
pub type Reason = FixedText<REASON_LEN>;

impl<const N: usize> Default for FixedText<N> {
    fn default() -> Self {
        FixedText([0; N])
    }
}

impl<const N: usize> FixedText<N> {
    pub fn new(text: &str) -> Result<Self, TextError> {
        let bytes = text.as_bytes();
        if bytes.len() > N {
            return Err(TextError::TooLong {
                len: bytes.len(),
                max: N,
            });
        }
        if let Some(index) = bytes.iter().position(|b| !(0x20..=0x7E).contains(b)) {
            return Err(TextError::NotPrintableAscii { index });
        }
        let mut out = [0u8; N];
        out[..bytes.len()].copy_from_slice(bytes);
        Ok(FixedText(out))
    }

    /// Validates wire bytes: printable ASCII, then only NUL padding.
    #[inline]
    pub fn from_wire(raw: [u8; N]) -> Result<Self, TextError> {
        // Fast path (hot in the ring reader): branch-free checks the compiler vectorises.
        let chars_ok = raw
            .iter()
            .fold(true, |ok, &b| ok & ((0x20..=0x7E).contains(&b) | (b == 0)));
        let padding_ok = raw
            .windows(2)
            .fold(true, |ok, w| ok & ((w[0] != 0) | (w[1] == 0)));
        if chars_ok && padding_ok {
            return Ok(FixedText(raw));
        }
        Self::explain(raw)
    }

    #[cold]
    fn explain(raw: [u8; N]) -> Result<Self, TextError> {
        let end = raw.iter().position(|&b| b == 0).unwrap_or(N);
        if let Some(index) = raw[..end].iter().position(|b| !(0x20..=0x7E).contains(b)) {
            return Err(TextError::NotPrintableAscii { index });
        }
        if let Some(i) = raw[end..].iter().position(|&b| b != 0) {
            return Err(TextError::BadPadding { index: end + i });
        }
        Ok(FixedText(raw))
    }

    pub fn as_bytes(&self) -> &[u8; N] {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(N);
        // Only printable ASCII is ever stored (checked in new/from_wire), so this never fails.
        std::str::from_utf8(&self.0[..end]).unwrap_or("")
    }

    pub fn is_empty(&self) -> bool {
        self.0[0] == 0
    }
}

impl<const N: usize> fmt::Debug for FixedText<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl<const N: usize> fmt::Display for FixedText<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_fit_and_are_checked() {
        let c = Code::new("TXO17500L4").unwrap();
        assert_eq!(c.as_str(), "TXO17500L4");
        assert_eq!(
            Code::new("0123456789ABCDEF").unwrap().as_str(),
            "0123456789ABCDEF"
        );
        assert_eq!(
            Code::new("0123456789ABCDEFG"),
            Err(TextError::TooLong { len: 17, max: 16 })
        );
        assert_eq!(
            Code::new("台積電"),
            Err(TextError::NotPrintableAscii { index: 0 })
        );
        assert_eq!(
            Code::new("23\u{7}0"),
            Err(TextError::NotPrintableAscii { index: 2 })
        );
        assert!(Code::default().is_empty());
        let mut raw = [0u8; 16];
        raw[..4].copy_from_slice(b"2330");
        raw[6] = b'X';
        assert_eq!(
            Code::from_wire(raw),
            Err(TextError::BadPadding { index: 6 })
        );
        raw[6] = 0;
        raw[1] = 0xFF;
        assert_eq!(
            Code::from_wire(raw),
            Err(TextError::NotPrintableAscii { index: 1 })
        );
    }
}

/// Hash of a 16-byte code: the two little-endian words mixed by one multiply each. For maps
/// keyed by codes on the hot path (the engine's registry, admission's per-stream state): the
/// codes are few and checked printable ASCII, so no DoS-resistant hash is needed; ~2 ns
/// instead of SipHash's ~20.
#[derive(Default, Clone, Copy)]
pub struct CodeHasher(u64);

impl Hasher for CodeHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        // `[u8; 16]` hashes as a length prefix (write_usize) then one write of the bytes.
        let mut h = self.0;
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
        self.0 = h;
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.0 ^= n as u64;
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }
}

/// The `BuildHasher` of maps keyed by codes (or tuples holding one).
pub type CodeHashBuilder = std::hash::BuildHasherDefault<CodeHasher>;
