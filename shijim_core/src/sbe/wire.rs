//! Header + body encoding of every message at the offsets `schema/shijim.xml` implies.

use std::fmt;

use super::message::{
    BidAsk, EventKind, Message, SessionState, Snapshot, SystemEvent, Tick, TickType, TradingState,
    BIDASK_BLOCK, BIDASK_TEMPLATE, EVENT_BLOCK, EVENT_TEMPLATE, LEVELS, SNAPSHOT_BLOCK,
    SNAPSHOT_TEMPLATE, TICK_BLOCK, TICK_TEMPLATE,
};
use super::price::Price;
use super::text::{Code, FixedText, Reason, CODE_LEN, REASON_LEN};

/// `messageHeader`: blockLength, templateId, schemaId, version (uint16 each).
pub const HEADER_LEN: usize = 8;
/// `id` of the `messageSchema` in `schema/shijim.xml` ("SJ").
pub const SCHEMA_ID: u16 = 0x534A;
/// `version` of the `messageSchema`.
pub const SCHEMA_VERSION: u16 = 1;

/// Why bytes could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SbeErrorKind {
    /// The input ends before the message or frame does.
    Truncated {
        needed: usize,
        available: usize,
    },
    /// The output buffer is smaller than the message.
    BufferTooSmall {
        needed: usize,
        available: usize,
    },
    UnknownTemplate {
        template_id: u16,
    },
    WrongSchemaId {
        found: u16,
    },
    WrongVersion {
        found: u16,
    },
    BlockLengthMismatch {
        template_id: u16,
        found: u16,
        expected: u16,
    },
    /// A field holds a value the schema does not allow (enum, text, combination).
    InvalidField {
        field: &'static str,
        detail: String,
    },
    /// A SOFH frame header is malformed.
    BadFrame {
        detail: String,
    },
}

/// An encode/decode error: where (byte offset in the given input) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SbeError {
    pub offset: usize,
    pub kind: SbeErrorKind,
}

impl SbeError {
    pub(crate) fn new(offset: usize, kind: SbeErrorKind) -> SbeError {
        SbeError { offset, kind }
    }

    /// The same error seen from an input that starts `base` bytes earlier.
    pub fn shifted(self, base: usize) -> SbeError {
        SbeError {
            offset: self.offset + base,
            kind: self.kind,
        }
    }

    /// The input ends after `available` bytes, `needed` were required; the offset is where
    /// it ends.
    #[inline]
    pub(crate) fn truncated(needed: usize, available: usize) -> SbeError {
        SbeError::new(available, SbeErrorKind::Truncated { needed, available })
    }

    /// The output buffer has `available` bytes, the message needs `needed`.
    #[inline]
    pub(crate) fn buffer_too_small(needed: usize, available: usize) -> SbeError {
        SbeError::new(0, SbeErrorKind::BufferTooSmall { needed, available })
    }

    fn field(offset: usize, field: &'static str, detail: impl Into<String>) -> SbeError {
        SbeError::new(
            offset,
            SbeErrorKind::InvalidField {
                field,
                detail: detail.into(),
            },
        )
    }
}

impl fmt::Display for SbeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SbeErrorKind::Truncated { needed, available } => {
                write!(
                    f,
                    "truncated: needs {needed} bytes, only {available} available"
                )
            }
            SbeErrorKind::BufferTooSmall { needed, available } => {
                write!(
                    f,
                    "output buffer too small: needs {needed} bytes, has {available}"
                )
            }
            SbeErrorKind::UnknownTemplate { template_id } => {
                write!(f, "unknown templateId {template_id}")
            }
            SbeErrorKind::WrongSchemaId { found } => {
                write!(f, "wrong schemaId {found} (expected {SCHEMA_ID})")
            }
            SbeErrorKind::WrongVersion { found } => {
                write!(
                    f,
                    "unsupported schema version {found} (expected {SCHEMA_VERSION})"
                )
            }
            SbeErrorKind::BlockLengthMismatch {
                template_id,
                found,
                expected,
            } => write!(
                f,
                "blockLength {found} does not match templateId {template_id} (expected {expected})"
            ),
            SbeErrorKind::InvalidField { field, detail } => {
                write!(f, "invalid field {field}: {detail}")
            }
            SbeErrorKind::BadFrame { detail } => write!(f, "bad SOFH frame: {detail}"),
        }
    }
}

impl fmt::Display for SbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SBE error at offset {}: {}", self.offset, self.kind)
    }
}

impl std::error::Error for SbeError {}

// ---- primitive writes/reads on a fixed-size block (bounds are checked once, up front) ----

#[inline(always)]
fn put_u64<const N: usize>(b: &mut [u8; N], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}
#[inline(always)]
fn put_i64<const N: usize>(b: &mut [u8; N], at: usize, v: i64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}
#[inline(always)]
fn put_u16<const N: usize>(b: &mut [u8; N], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}
#[inline(always)]
fn get_u64<const N: usize>(b: &[u8; N], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}
#[inline(always)]
fn get_i64<const N: usize>(b: &[u8; N], at: usize) -> i64 {
    get_u64(b, at) as i64
}
#[inline(always)]
fn get_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

#[inline(always)]
fn put_header<const N: usize>(b: &mut [u8; N], block: usize, template: u16) {
    put_u16(b, 0, block as u16);
    put_u16(b, 2, template);
    put_u16(b, 4, SCHEMA_ID);
    put_u16(b, 6, SCHEMA_VERSION);
}

// Body offsets (after the 8-byte header) shared by every message: seq, exchTs, localTs, code.
const SEQ: usize = HEADER_LEN;
const EXCH_TS: usize = SEQ + 8;
const LOCAL_TS: usize = EXCH_TS + 8;
const CODE: usize = LOCAL_TS + 8;
const PAYLOAD: usize = CODE + CODE_LEN;

#[inline(always)]
fn put_common<const N: usize>(b: &mut [u8; N], seq: u64, exch_ts: i64, local_ts: i64, code: &Code) {
    put_u64(b, SEQ, seq);
    put_i64(b, EXCH_TS, exch_ts);
    put_i64(b, LOCAL_TS, local_ts);
    b[CODE..PAYLOAD].copy_from_slice(code.as_bytes());
}

#[inline(always)]
fn get_text<const N: usize, const M: usize>(
    b: &[u8; M],
    at: usize,
    field: &'static str,
) -> Result<FixedText<N>, SbeError> {
    let mut raw = [0u8; N];
    raw.copy_from_slice(&b[at..at + N]);
    FixedText::<N>::from_wire(raw).map_err(|e| SbeError::field(at, field, e.to_string()))
}

/// A uint8 enum field: its value, or an error naming the field and the enum type.
#[inline(always)]
fn get_enum<T, const N: usize>(
    b: &[u8; N],
    at: usize,
    field: &'static str,
    type_name: &str,
    from_u8: impl Fn(u8) -> Option<T>,
) -> Result<T, SbeError> {
    from_u8(b[at])
        .ok_or_else(|| SbeError::field(at, field, format!("value {} is not in {type_name}", b[at])))
}

#[inline(always)]
fn get_bool<const N: usize>(b: &[u8; N], at: usize, field: &'static str) -> Result<bool, SbeError> {
    match b[at] {
        0 => Ok(false),
        1 => Ok(true),
        v => Err(SbeError::field(
            at,
            field,
            format!("BooleanType value {v} is not 0 or 1"),
        )),
    }
}

fn block<const N: usize>(buf: &mut [u8]) -> Result<&mut [u8; N], SbeError> {
    let available = buf.len();
    buf.get_mut(..N)
        .and_then(|s| <&mut [u8; N]>::try_from(s).ok())
        .ok_or(SbeError::buffer_too_small(N, available))
}

const TICK_LEN: usize = HEADER_LEN + TICK_BLOCK;
const BIDASK_LEN: usize = HEADER_LEN + BIDASK_BLOCK;
const SNAPSHOT_LEN: usize = HEADER_LEN + SNAPSHOT_BLOCK;
const EVENT_LEN: usize = HEADER_LEN + EVENT_BLOCK;

// Payload offsets per template (absolute, header included).
const TICK_PRICE: usize = PAYLOAD;
const TICK_VOLUME: usize = PAYLOAD + 8;
const TICK_TOTAL_VOLUME: usize = PAYLOAD + 16;
const TICK_TYPE: usize = PAYLOAD + 24;
const TICK_SIMTRADE: usize = PAYLOAD + 25;

const BA_BID_PRICE: usize = PAYLOAD;
const BA_BID_VOLUME: usize = BA_BID_PRICE + 8 * LEVELS;
const BA_ASK_PRICE: usize = BA_BID_VOLUME + 8 * LEVELS;
const BA_ASK_VOLUME: usize = BA_ASK_PRICE + 8 * LEVELS;
const BA_SIMTRADE: usize = BA_ASK_VOLUME + 8 * LEVELS;

const EV_COUNT: usize = PAYLOAD;
const EV_KIND: usize = PAYLOAD + 8;
const EV_SESSION: usize = PAYLOAD + 9;
const EV_TRADING: usize = PAYLOAD + 10;
const EV_REASON: usize = PAYLOAD + 11;

fn check_event(m: &SystemEvent) -> Result<(), SbeError> {
    match m.kind {
        EventKind::SessionState if m.session_state == SessionState::None => Err(SbeError::field(
            EV_SESSION,
            "sessionState",
            "a SessionState event needs a session state",
        )),
        EventKind::TradingState if m.trading_state == TradingState::None => Err(SbeError::field(
            EV_TRADING,
            "tradingState",
            "a TradingState event needs a trading state",
        )),
        _ => Ok(()),
    }
}

/// Encodes `msg` (header + body) at the start of `buf`; returns the number of bytes written.
/// Nothing is written when the buffer is too small or the message is inconsistent.
pub fn encode(msg: &Message, buf: &mut [u8]) -> Result<usize, SbeError> {
    match msg {
        Message::Tick(m) => encode_tick(m, block::<TICK_LEN>(buf)?),
        Message::BidAsk(m) => encode_bidask(m, block::<BIDASK_LEN>(buf)?),
        Message::Snapshot(m) => encode_snapshot(m, block::<SNAPSHOT_LEN>(buf)?),
        Message::SystemEvent(m) => {
            check_event(m)?;
            encode_event(m, block::<EVENT_LEN>(buf)?)
        }
    }
}

#[inline]
fn encode_tick(m: &Tick, b: &mut [u8; TICK_LEN]) -> Result<usize, SbeError> {
    put_header(b, TICK_BLOCK, TICK_TEMPLATE);
    put_common(b, m.seq, m.exch_ts, m.local_ts, &m.code);
    put_i64(b, TICK_PRICE, m.price.0);
    put_i64(b, TICK_VOLUME, m.volume);
    put_i64(b, TICK_TOTAL_VOLUME, m.total_volume);
    b[TICK_TYPE] = m.tick_type as u8;
    b[TICK_SIMTRADE] = u8::from(m.simtrade);
    Ok(TICK_LEN)
}

#[inline]
fn encode_bidask(m: &BidAsk, b: &mut [u8; BIDASK_LEN]) -> Result<usize, SbeError> {
    put_header(b, BIDASK_BLOCK, BIDASK_TEMPLATE);
    put_common(b, m.seq, m.exch_ts, m.local_ts, &m.code);
    for i in 0..LEVELS {
        put_i64(b, BA_BID_PRICE + 8 * i, m.bid_price[i].0);
        put_i64(b, BA_BID_VOLUME + 8 * i, m.bid_volume[i]);
        put_i64(b, BA_ASK_PRICE + 8 * i, m.ask_price[i].0);
        put_i64(b, BA_ASK_VOLUME + 8 * i, m.ask_volume[i]);
    }
    b[BA_SIMTRADE] = u8::from(m.simtrade);
    Ok(BIDASK_LEN)
}

#[inline]
fn encode_snapshot(m: &Snapshot, b: &mut [u8; SNAPSHOT_LEN]) -> Result<usize, SbeError> {
    put_header(b, SNAPSHOT_BLOCK, SNAPSHOT_TEMPLATE);
    put_common(b, m.seq, m.exch_ts, m.local_ts, &m.code);
    let fields = [
        m.open.0,
        m.high.0,
        m.low.0,
        m.close.0,
        m.volume,
        m.total_volume,
        m.bid_price.0,
        m.bid_volume,
        m.ask_price.0,
        m.ask_volume,
    ];
    for (i, v) in fields.into_iter().enumerate() {
        put_i64(b, PAYLOAD + 8 * i, v);
    }
    Ok(SNAPSHOT_LEN)
}

#[inline]
fn encode_event(m: &SystemEvent, b: &mut [u8; EVENT_LEN]) -> Result<usize, SbeError> {
    put_header(b, EVENT_BLOCK, EVENT_TEMPLATE);
    put_common(b, m.seq, m.exch_ts, m.local_ts, &m.code);
    put_i64(b, EV_COUNT, m.count);
    b[EV_KIND] = m.kind as u8;
    b[EV_SESSION] = m.session_state as u8;
    b[EV_TRADING] = m.trading_state as u8;
    b[EV_REASON..EV_REASON + REASON_LEN].copy_from_slice(m.reason.as_bytes());
    Ok(EVENT_LEN)
}

#[inline(always)]
fn fixed<const N: usize>(buf: &[u8]) -> Result<&[u8; N], SbeError> {
    buf.get(..N)
        .and_then(|s| <&[u8; N]>::try_from(s).ok())
        .ok_or(SbeError::truncated(N, buf.len()))
}

/// Decodes one message from the start of `buf`; returns it and the bytes it occupied.
/// Refuses (with the offset) anything this schema version did not write.
pub fn decode(buf: &[u8]) -> Result<(Message, usize), SbeError> {
    let header = fixed::<HEADER_LEN>(buf)?;
    let block_length = get_u16(header, 0);
    let template_id = get_u16(header, 2);
    let schema_id = get_u16(header, 4);
    let version = get_u16(header, 6);
    if schema_id != SCHEMA_ID {
        return Err(SbeError::new(
            4,
            SbeErrorKind::WrongSchemaId { found: schema_id },
        ));
    }
    if version != SCHEMA_VERSION {
        return Err(SbeError::new(
            6,
            SbeErrorKind::WrongVersion { found: version },
        ));
    }
    let expected = match template_id {
        TICK_TEMPLATE => TICK_BLOCK,
        BIDASK_TEMPLATE => BIDASK_BLOCK,
        SNAPSHOT_TEMPLATE => SNAPSHOT_BLOCK,
        EVENT_TEMPLATE => EVENT_BLOCK,
        _ => {
            return Err(SbeError::new(
                2,
                SbeErrorKind::UnknownTemplate { template_id },
            ))
        }
    };
    if usize::from(block_length) != expected {
        return Err(SbeError::new(
            0,
            SbeErrorKind::BlockLengthMismatch {
                template_id,
                found: block_length,
                expected: expected as u16,
            },
        ));
    }
    let msg = match template_id {
        TICK_TEMPLATE => Message::Tick(decode_tick(fixed::<TICK_LEN>(buf)?)?),
        BIDASK_TEMPLATE => Message::BidAsk(decode_bidask(fixed::<BIDASK_LEN>(buf)?)?),
        SNAPSHOT_TEMPLATE => Message::Snapshot(decode_snapshot(fixed::<SNAPSHOT_LEN>(buf)?)?),
        _ => Message::SystemEvent(decode_event(fixed::<EVENT_LEN>(buf)?)?),
    };
    Ok((msg, HEADER_LEN + expected))
}

#[inline(always)]
fn common<const N: usize>(b: &[u8; N]) -> Result<(u64, i64, i64, Code), SbeError> {
    Ok((
        get_u64(b, SEQ),
        get_i64(b, EXCH_TS),
        get_i64(b, LOCAL_TS),
        get_text(b, CODE, "code")?,
    ))
}

#[inline]
fn decode_tick(b: &[u8; TICK_LEN]) -> Result<Tick, SbeError> {
    let (seq, exch_ts, local_ts, code) = common(b)?;
    Ok(Tick {
        seq,
        exch_ts,
        local_ts,
        code,
        price: Price(get_i64(b, TICK_PRICE)),
        volume: get_i64(b, TICK_VOLUME),
        total_volume: get_i64(b, TICK_TOTAL_VOLUME),
        tick_type: get_enum(b, TICK_TYPE, "tickType", "TickType", TickType::from_u8)?,
        simtrade: get_bool(b, TICK_SIMTRADE, "simtrade")?,
    })
}

#[inline(always)]
fn decode_bidask(b: &[u8; BIDASK_LEN]) -> Result<BidAsk, SbeError> {
    let (seq, exch_ts, local_ts, code) = common(b)?;
    Ok(BidAsk {
        seq,
        exch_ts,
        local_ts,
        code,
        bid_price: std::array::from_fn(|i| Price(get_i64(b, BA_BID_PRICE + 8 * i))),
        bid_volume: std::array::from_fn(|i| get_i64(b, BA_BID_VOLUME + 8 * i)),
        ask_price: std::array::from_fn(|i| Price(get_i64(b, BA_ASK_PRICE + 8 * i))),
        ask_volume: std::array::from_fn(|i| get_i64(b, BA_ASK_VOLUME + 8 * i)),
        simtrade: get_bool(b, BA_SIMTRADE, "simtrade")?,
    })
}

#[inline]
fn decode_snapshot(b: &[u8; SNAPSHOT_LEN]) -> Result<Snapshot, SbeError> {
    let (seq, exch_ts, local_ts, code) = common(b)?;
    let f = |i: usize| get_i64(b, PAYLOAD + 8 * i);
    Ok(Snapshot {
        seq,
        exch_ts,
        local_ts,
        code,
        open: Price(f(0)),
        high: Price(f(1)),
        low: Price(f(2)),
        close: Price(f(3)),
        volume: f(4),
        total_volume: f(5),
        bid_price: Price(f(6)),
        bid_volume: f(7),
        ask_price: Price(f(8)),
        ask_volume: f(9),
    })
}

fn decode_event(b: &[u8; EVENT_LEN]) -> Result<SystemEvent, SbeError> {
    let (seq, exch_ts, local_ts, code) = common(b)?;
    let kind = get_enum(b, EV_KIND, "kind", "EventKind", EventKind::from_u8)?;
    let session_state = get_enum(
        b,
        EV_SESSION,
        "sessionState",
        "SessionState",
        SessionState::from_u8,
    )?;
    let trading_state = get_enum(
        b,
        EV_TRADING,
        "tradingState",
        "TradingState",
        TradingState::from_u8,
    )?;
    let reason: Reason = get_text(b, EV_REASON, "reason")?;
    let m = SystemEvent {
        seq,
        exch_ts,
        local_ts,
        code,
        count: get_i64(b, EV_COUNT),
        kind,
        session_state,
        trading_state,
        reason,
    };
    check_event(&m)?;
    Ok(m)
}
