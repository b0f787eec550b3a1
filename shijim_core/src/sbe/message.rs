//! The message types of `schema/shijim.xml` as plain Rust values.

use super::price::Price;
use super::text::{Code, Reason};
use super::wire::HEADER_LEN;

/// Price levels per side in a `BidAsk` (Shioaji's five-level book).
pub const LEVELS: usize = 5;

/// Aggressor side of a trade (`TickType` enum, uint8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum TickType {
    /// The broker did not say (Shioaji tick_type 0).
    #[default]
    Unknown = 0,
    /// Trade at the ask: buyer-initiated (Shioaji 1, 外盤).
    Buy = 1,
    /// Trade at the bid: seller-initiated (Shioaji 2, 內盤).
    Sell = 2,
}

impl TickType {
    pub fn from_u8(v: u8) -> Option<TickType> {
        match v {
            0 => Some(TickType::Unknown),
            1 => Some(TickType::Buy),
            2 => Some(TickType::Sell),
            _ => None,
        }
    }
}

/// What a `SystemEvent` reports (`EventKind` enum, uint8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EventKind {
    /// The exchange session changed (`session_state` says to what).
    SessionState = 1,
    /// The shard's trading state changed, e.g. the kill switch (`trading_state` says to what).
    TradingState = 2,
    /// Market data was lost: `count` messages are missing before this event's `seq`.
    FeedGap = 3,
    /// The broker session reconnected: `count` is the attempt number.
    Reconnect = 4,
}

impl EventKind {
    pub fn from_u8(v: u8) -> Option<EventKind> {
        match v {
            1 => Some(EventKind::SessionState),
            2 => Some(EventKind::TradingState),
            3 => Some(EventKind::FeedGap),
            4 => Some(EventKind::Reconnect),
            _ => None,
        }
    }
}

/// Exchange session state (`SessionState` enum, uint8; 0 = not given).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum SessionState {
    #[default]
    None = 0,
    PreOpen = 1,
    Open = 2,
    Closed = 3,
}

impl SessionState {
    pub fn from_u8(v: u8) -> Option<SessionState> {
        match v {
            0 => Some(SessionState::None),
            1 => Some(SessionState::PreOpen),
            2 => Some(SessionState::Open),
            3 => Some(SessionState::Closed),
            _ => None,
        }
    }
}

/// The shard's trading state (`TradingState` enum, uint8; 0 = not given). Wire values are
/// the runtime's `TradingState` + 1 so that 0 can mean "not given".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum TradingState {
    #[default]
    None = 0,
    Active = 1,
    Reducing = 2,
    Halted = 3,
}

impl TradingState {
    pub fn from_u8(v: u8) -> Option<TradingState> {
        match v {
            0 => Some(TradingState::None),
            1 => Some(TradingState::Active),
            2 => Some(TradingState::Reducing),
            3 => Some(TradingState::Halted),
            _ => None,
        }
    }
}

/// Names used in the JSONL record (docs/formats.md) for the event enums.
macro_rules! record_names {
    ($t:ty { $($v:ident => $n:literal),* $(,)? }) => {
        impl $t {
            pub fn record_name(self) -> &'static str {
                match self { $(<$t>::$v => $n),* }
            }
            pub fn from_record_name(name: &str) -> Option<$t> {
                match name { $($n => Some(<$t>::$v),)* _ => None }
            }
        }
    };
}

record_names!(EventKind {
    SessionState => "session_state",
    TradingState => "trading_state",
    FeedGap => "feed_gap",
    Reconnect => "reconnect",
});
record_names!(SessionState { None => "", PreOpen => "PRE_OPEN", Open => "OPEN", Closed => "CLOSED" });
record_names!(TradingState { None => "", Active => "ACTIVE", Reducing => "REDUCING", Halted => "HALTED" });

/// A trade (template 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tick {
    pub seq: u64,
    /// Exchange time, ns since the Unix epoch, UTC.
    pub exch_ts: i64,
    /// Local receive time, ns since the Unix epoch, UTC.
    pub local_ts: i64,
    pub code: Code,
    pub price: Price,
    pub volume: i64,
    pub total_volume: i64,
    pub tick_type: TickType,
    /// Trial-match (試撮) quote rather than a real trade.
    pub simtrade: bool,
}

/// Five best price levels per side (template 2). An empty level is price 0, volume 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BidAsk {
    pub seq: u64,
    pub exch_ts: i64,
    pub local_ts: i64,
    pub code: Code,
    pub bid_price: [Price; LEVELS],
    pub bid_volume: [i64; LEVELS],
    pub ask_price: [Price; LEVELS],
    pub ask_volume: [i64; LEVELS],
    pub simtrade: bool,
}

/// A point-in-time summary of one instrument (template 3), e.g. Shioaji's snapshots at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Snapshot {
    pub seq: u64,
    pub exch_ts: i64,
    pub local_ts: i64,
    pub code: Code,
    pub open: Price,
    pub high: Price,
    pub low: Price,
    pub close: Price,
    pub volume: i64,
    pub total_volume: i64,
    pub bid_price: Price,
    pub bid_volume: i64,
    pub ask_price: Price,
    pub ask_volume: i64,
}

/// Session state, trading-state change (kill switch), feed gap or reconnect (template 4).
/// `code` is empty for shard-wide events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SystemEvent {
    pub seq: u64,
    pub exch_ts: i64,
    pub local_ts: i64,
    pub code: Code,
    pub count: i64,
    pub kind: EventKind,
    pub session_state: SessionState,
    pub trading_state: TradingState,
    pub reason: Reason,
}

/// Any message of the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    Tick(Tick),
    BidAsk(BidAsk),
    Snapshot(Snapshot),
    SystemEvent(SystemEvent),
}

// Template ids and block lengths: must equal schema/shijim.xml (checked by the XML test).
pub(crate) const TICK_TEMPLATE: u16 = 1;
pub(crate) const BIDASK_TEMPLATE: u16 = 2;
pub(crate) const SNAPSHOT_TEMPLATE: u16 = 3;
pub(crate) const EVENT_TEMPLATE: u16 = 4;

/// seq, exchTs, localTs (8 each) + code (16).
pub(crate) const COMMON_LEN: usize = 40;
pub(crate) const TICK_BLOCK: usize = COMMON_LEN + 8 * 3 + 2;
pub(crate) const BIDASK_BLOCK: usize = COMMON_LEN + 8 * 4 * LEVELS + 1;
pub(crate) const SNAPSHOT_BLOCK: usize = COMMON_LEN + 8 * 10;
pub(crate) const EVENT_BLOCK: usize = COMMON_LEN + 8 + 3 + super::text::REASON_LEN;

pub(crate) const fn max_message_len() -> usize {
    let mut m = TICK_BLOCK;
    if BIDASK_BLOCK > m {
        m = BIDASK_BLOCK;
    }
    if SNAPSHOT_BLOCK > m {
        m = SNAPSHOT_BLOCK;
    }
    if EVENT_BLOCK > m {
        m = EVENT_BLOCK;
    }
    HEADER_LEN + m
}

impl Message {
    pub fn template_id(&self) -> u16 {
        match self {
            Message::Tick(_) => TICK_TEMPLATE,
            Message::BidAsk(_) => BIDASK_TEMPLATE,
            Message::Snapshot(_) => SNAPSHOT_TEMPLATE,
            Message::SystemEvent(_) => EVENT_TEMPLATE,
        }
    }

    /// Header + body length of this message on the wire.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN
            + match self {
                Message::Tick(_) => TICK_BLOCK,
                Message::BidAsk(_) => BIDASK_BLOCK,
                Message::Snapshot(_) => SNAPSHOT_BLOCK,
                Message::SystemEvent(_) => EVENT_BLOCK,
            }
    }

    pub fn seq(&self) -> u64 {
        match self {
            Message::Tick(m) => m.seq,
            Message::BidAsk(m) => m.seq,
            Message::Snapshot(m) => m.seq,
            Message::SystemEvent(m) => m.seq,
        }
    }

    pub fn exch_ts(&self) -> i64 {
        match self {
            Message::Tick(m) => m.exch_ts,
            Message::BidAsk(m) => m.exch_ts,
            Message::Snapshot(m) => m.exch_ts,
            Message::SystemEvent(m) => m.exch_ts,
        }
    }

    pub fn local_ts(&self) -> i64 {
        match self {
            Message::Tick(m) => m.local_ts,
            Message::BidAsk(m) => m.local_ts,
            Message::Snapshot(m) => m.local_ts,
            Message::SystemEvent(m) => m.local_ts,
        }
    }

    /// The ring writer assigns the per-shard sequence number just before encoding.
    pub fn set_seq(&mut self, seq: u64) {
        match self {
            Message::Tick(m) => m.seq = seq,
            Message::BidAsk(m) => m.seq = seq,
            Message::Snapshot(m) => m.seq = seq,
            Message::SystemEvent(m) => m.seq = seq,
        }
    }

    pub fn code(&self) -> &Code {
        match self {
            Message::Tick(m) => &m.code,
            Message::BidAsk(m) => &m.code,
            Message::Snapshot(m) => &m.code,
            Message::SystemEvent(m) => &m.code,
        }
    }
}
