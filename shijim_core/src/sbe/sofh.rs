//! Simple Open Framing Header: 4-byte big-endian message length (header included), then the
//! 2-byte big-endian encoding type, 0x5BE0 for SBE 1.0 little-endian. Used for streams/files.

use super::message::Message;
use super::wire::{decode, encode, SbeError, SbeErrorKind};

pub const SOFH_LEN: usize = 6;
/// SOFH encoding type of SBE version 1.0, little-endian.
pub const SBE_LE_ENCODING_TYPE: u16 = 0x5BE0;

/// Writes one framed message at the start of `buf`; returns the bytes written.
pub fn encode_frame(msg: &Message, buf: &mut [u8]) -> Result<usize, SbeError> {
    // Too small for the header or for the message: either way, the whole frame is reported.
    let available = buf.len();
    let too_small = move || SbeError::buffer_too_small(SOFH_LEN + msg.encoded_len(), available);
    let body = buf.get_mut(SOFH_LEN..).ok_or_else(too_small)?;
    let n = encode(msg, body).map_err(|e| match e.kind {
        SbeErrorKind::BufferTooSmall { .. } => too_small(),
        _ => e.shifted(SOFH_LEN),
    })?;
    let total = SOFH_LEN + n;
    buf[..4].copy_from_slice(&(total as u32).to_be_bytes());
    buf[4..6].copy_from_slice(&SBE_LE_ENCODING_TYPE.to_be_bytes());
    Ok(total)
}

/// Reads the SOFH at the start of `buf`: the frame length, after checking that the frame is
/// complete and carries SBE 1.0 little-endian. Errors are offset from the start of `buf`.
pub fn frame_len(buf: &[u8]) -> Result<usize, SbeError> {
    if buf.len() < SOFH_LEN {
        return Err(SbeError::truncated(SOFH_LEN, buf.len()));
    }
    let total = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    let encoding = u16::from_be_bytes([buf[4], buf[5]]);
    if encoding != SBE_LE_ENCODING_TYPE {
        return Err(SbeError::new(
            4,
            SbeErrorKind::BadFrame {
                detail: format!(
                    "encoding type 0x{encoding:04X} is not SBE 1.0 little-endian (0x5BE0)"
                ),
            },
        ));
    }
    if total < SOFH_LEN {
        return Err(SbeError::new(
            0,
            SbeErrorKind::BadFrame {
                detail: format!("length {total} is shorter than the frame header"),
            },
        ));
    }
    if buf.len() < total {
        return Err(SbeError::truncated(total, buf.len()));
    }
    Ok(total)
}

/// Decodes the framed message at the start of `buf`: (message, frame length). The message
/// must fill its frame exactly.
pub fn decode_frame(buf: &[u8]) -> Result<(Message, usize), SbeError> {
    let total = frame_len(buf)?;
    let body = &buf[SOFH_LEN..total];
    let (msg, used) = decode(body).map_err(|e| e.shifted(SOFH_LEN))?;
    if used != body.len() {
        return Err(SbeError::new(
            0,
            SbeErrorKind::BadFrame {
                detail: format!(
                    "frame length {total} but the message is {} bytes",
                    SOFH_LEN + used
                ),
            },
        ));
    }
    Ok((msg, total))
}

/// Iterates over the framed messages of a stream. Each item is the frame's offset and the
/// decoded message or the error (offsets relative to the whole stream). After an error in the
/// frame header itself the stream cannot be resynchronised and iteration stops; an error inside
/// a well-framed message skips just that frame.
pub struct FrameIter<'a> {
    buf: &'a [u8],
    pos: usize,
    stopped: bool,
}

impl<'a> FrameIter<'a> {
    pub fn new(buf: &'a [u8]) -> FrameIter<'a> {
        FrameIter {
            buf,
            pos: 0,
            stopped: false,
        }
    }
}

impl Iterator for FrameIter<'_> {
    type Item = (usize, Result<Message, SbeError>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.stopped || self.pos >= self.buf.len() {
            return None;
        }
        let at = self.pos;
        let rest = &self.buf[at..];
        match frame_len(rest) {
            Err(e) => {
                self.stopped = true;
                Some((at, Err(e.shifted(at))))
            }
            Ok(total) => {
                self.pos += total;
                Some((
                    at,
                    decode_frame(rest)
                        .map(|(m, _)| m)
                        .map_err(|e| e.shifted(at)),
                ))
            }
        }
    }
}
