//! The content rules of one trade or one five-level book, and the faults they name. Pure
//! functions over plain values; the hot path builds no string (a `Fault` is words only when
//! asked, `Fault::field` / `Fault::detail`).

use std::fmt::Write as _;

use crate::sbe::{BidAsk, Code, F64PriceFault, Message, Price, Tick, TickType, LEVELS};

/// Why a market-data input was dropped: the `shijim_md_bad_input_total{cause}` label values
/// (docs/feeds.md), in the order of `shijim.bus.validation.BadInputCause`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Cause {
    Malformed = 1,
    BadJson,
    MissingField,
    NanPrice,
    NonpositivePrice,
    BadVolume,
    UnorderedBook,
    CrossedBook,
    TimeBackwards,
    BadTimestamp,
    FutureTimestamp,
    Duplicate,
    UnknownCode,
    SubscriptionLimit,
}

pub const CAUSES: [Cause; 14] = [
    Cause::Malformed,
    Cause::BadJson,
    Cause::MissingField,
    Cause::NanPrice,
    Cause::NonpositivePrice,
    Cause::BadVolume,
    Cause::UnorderedBook,
    Cause::CrossedBook,
    Cause::TimeBackwards,
    Cause::BadTimestamp,
    Cause::FutureTimestamp,
    Cause::Duplicate,
    Cause::UnknownCode,
    Cause::SubscriptionLimit,
];

impl Cause {
    pub fn name(self) -> &'static str {
        match self {
            Cause::Malformed => "malformed",
            Cause::BadJson => "bad_json",
            Cause::MissingField => "missing_field",
            Cause::NanPrice => "nan_price",
            Cause::NonpositivePrice => "nonpositive_price",
            Cause::BadVolume => "bad_volume",
            Cause::UnorderedBook => "unordered_book",
            Cause::CrossedBook => "crossed_book",
            Cause::TimeBackwards => "time_backwards",
            Cause::BadTimestamp => "bad_timestamp",
            Cause::FutureTimestamp => "future_timestamp",
            Cause::Duplicate => "duplicate",
            Cause::UnknownCode => "unknown_code",
            Cause::SubscriptionLimit => "subscription_limit",
        }
    }

    pub fn from_name(name: &str) -> Option<Cause> {
        CAUSES.into_iter().find(|c| c.name() == name)
    }

    /// Drops that say nothing about a code's data (no data hold): not our code, not
    /// subscribed, or the same input again (the book it carries was already admitted).
    pub fn is_data_loss(self) -> bool {
        !matches!(
            self,
            Cause::UnknownCode | Cause::SubscriptionLimit | Cause::Duplicate
        )
    }
}

/// Which stream an input belongs to: ticks and books travel on separate broker channels and
/// may interleave, so each (kind, code) has its own watermark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Tick,
    BidAsk,
    Snapshot,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Tick => "tick",
            Kind::BidAsk => "bidask",
            Kind::Snapshot => "snapshot",
        }
    }
}

/// A book side, for field names ("bid_price[2]").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Bid,
    Ask,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Bid => "bid",
            Side::Ask => "ask",
        }
    }
}

/// The field at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Price,
    Volume,
    TotalVolume,
    TickType,
    Code,
    ExchTs,
    Seq,
    Content,
    /// `<side>_price[i]`
    LevelPrice(Side, u8),
    /// `<side>_volume[i]`
    LevelVolume(Side, u8),
}

impl Field {
    pub fn name(self) -> String {
        match self {
            Field::Price => "price".into(),
            Field::Volume => "volume".into(),
            Field::TotalVolume => "total_volume".into(),
            Field::TickType => "tick_type".into(),
            Field::Code => "code".into(),
            Field::ExchTs => "exch_ts".into(),
            Field::Seq => "seq".into(),
            Field::Content => "(content)".into(),
            Field::LevelPrice(s, i) => format!("{}_price[{i}]", s.name()),
            Field::LevelVolume(s, i) => format!("{}_volume[{i}]", s.name()),
        }
    }
}

/// The reason, with the values that make it (formatted only when logged).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Why {
    PriceNan,
    PriceNotPositive(f64),
    VolumeNegative(i128),
    VolumeBeyondInt64(i128),
    BadTickType(i128),
    Unrepresentable(F64PriceFault, f64),
    BadCode,
    AfterEmptyLevel(f64),
    NotOrdered {
        prev: f64,
        price: f64,
    },
    Crossed {
        bid: f64,
        ask: f64,
    },
    NotInUniverse,
    Ahead {
        received: i64,
        ahead: i128,
        limit: i64,
    },
    Behind {
        received: i64,
        ahead: i128,
        limit: i64,
    },
    Backwards {
        last: i64,
    },
    SameSeq(u64),
    SameContent,
}

/// One dropped input: its cause, the field at fault and why.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fault {
    pub cause: Cause,
    pub field: Field,
    pub why: Why,
}

impl Fault {
    pub(crate) fn new(cause: Cause, field: Field, why: Why) -> Fault {
        Fault { cause, field, why }
    }

    /// The reason in words, naming the input (`code`, `kind`, `exch_ts`) where it helps.
    pub fn detail(&self, kind: Kind, code: &Code, exch_ts: i64) -> String {
        let k = kind.name();
        let mut s = String::new();
        // Writing into a String cannot fail.
        let _ = match self.why {
            Why::PriceNan => write!(s, "price is NaN"),
            Why::PriceNotPositive(p) => write!(s, "price {p:?} is not > 0"),
            Why::VolumeNegative(q) => write!(s, "volume {q} < 0"),
            Why::VolumeBeyondInt64(q) => write!(s, "volume {q} is beyond int64"),
            Why::BadTickType(t) => write!(s, "{t} is not 0, 1 or 2"),
            Why::Unrepresentable(f, v) => write!(s, "{}", f.describe(v)),
            Why::BadCode => write!(s, "{:?} is not a printable ASCII code", code.as_bytes()),
            Why::AfterEmptyLevel(p) => write!(s, "price {p:?} after an empty level"),
            Why::NotOrdered { prev, price } => {
                let (side, order) = match self.field {
                    Field::LevelPrice(Side::Ask, _) => ("ask", "ascending"),
                    _ => ("bid", "descending"),
                };
                write!(s, "{side} prices not {order} ({prev:?}, {price:?})")
            }
            Why::Crossed { bid, ask } => write!(s, "bid {bid:?} >= ask {ask:?}"),
            Why::NotInUniverse => write!(s, "'{code}' is not in this shard's universe"),
            Why::Ahead {
                received,
                ahead,
                limit,
            } => write!(
                s,
                "{code} {k} exch_ts {exch_ts} is {:.3} s ahead of its receive time {received} \
                 (limit {} s)",
                ahead as f64 / 1e9,
                limit as f64 / 1e9
            ),
            Why::Behind {
                received,
                ahead,
                limit,
            } => write!(
                s,
                "{code} {k} exch_ts {exch_ts} is {:.0} s behind its receive time {received} \
                 (limit {} s)",
                -(ahead as f64) / 1e9,
                limit as f64 / 1e9
            ),
            Why::Backwards { last } => {
                write!(s, "{code} {k} exch_ts {exch_ts} < last admitted {last}")
            }
            Why::SameSeq(seq) => write!(s, "{code} {k} seq {seq} again"),
            Why::SameContent => write!(s, "{code} {k} same as the last one at {exch_ts}"),
        };
        s
    }
}

/// The common part of every input: the recorded `seq` (0: none; replay), the exchange time,
/// the receive time the exchange time is checked against (0: unknown) and the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Head {
    pub seq: u64,
    pub exch_ts: i64,
    pub received: i64,
    pub code: Code,
}

/// One trade as it arrived (volumes as wide integers: a broker or a file may give more than
/// int64, which is named, not wrapped).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TickIn {
    pub head: Head,
    pub price: f64,
    pub volume: i128,
    pub total_volume: i128,
    pub tick_type: i128,
    pub simtrade: bool,
}

/// One five-level book as it arrived. An empty level is price 0, volume 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BookIn {
    pub head: Head,
    pub bid_px: [f64; LEVELS],
    pub bid_qty: [i128; LEVELS],
    pub ask_px: [f64; LEVELS],
    pub ask_qty: [i128; LEVELS],
    pub simtrade: bool,
}

const I64_MAX: i128 = i64::MAX as i128;

fn volume_fault(q: i128, field: Field) -> Option<Fault> {
    if q < 0 {
        Some(Fault::new(Cause::BadVolume, field, Why::VolumeNegative(q)))
    } else if q > I64_MAX {
        Some(Fault::new(
            Cause::BadVolume,
            field,
            Why::VolumeBeyondInt64(q),
        ))
    } else {
        None
    }
}

/// The rules for one trade, in this precedence: NaN, non-positive price, volume, total volume,
/// tick type.
pub fn tick_fault(t: &TickIn) -> Option<Fault> {
    let p = t.price;
    if p.is_nan() {
        return Some(Fault::new(Cause::NanPrice, Field::Price, Why::PriceNan));
    }
    if !(p > 0.0 && p < f64::INFINITY) {
        return Some(Fault::new(
            Cause::NonpositivePrice,
            Field::Price,
            Why::PriceNotPositive(p),
        ));
    }
    if let Some(f) = volume_fault(t.volume, Field::Volume) {
        return Some(f);
    }
    if let Some(f) = volume_fault(t.total_volume, Field::TotalVolume) {
        return Some(f);
    }
    if !(0..=2).contains(&t.tick_type) {
        return Some(Fault::new(
            Cause::Malformed,
            Field::TickType,
            Why::BadTickType(t.tick_type),
        ));
    }
    None
}

fn empty(p: f64, q: i128) -> bool {
    p == 0.0 && q == 0
}

/// Levels must be strictly ordered best first; empty levels may only trail (a level after an
/// empty one means the book has a hole: which price is the second best?).
fn unordered(side: Side, px: &[f64; LEVELS], qty: &[i128; LEVELS]) -> Option<Fault> {
    let mut prev_empty = empty(px[0], qty[0]);
    let mut prev = px[0];
    for j in 1..LEVELS {
        let p = px[j];
        let e = empty(p, qty[j]);
        if !e {
            let field = Field::LevelPrice(side, j as u8);
            if prev_empty {
                return Some(Fault::new(
                    Cause::UnorderedBook,
                    field,
                    Why::AfterEmptyLevel(p),
                ));
            }
            let bad = match side {
                Side::Bid => p >= prev,
                Side::Ask => p <= prev,
            };
            if bad {
                return Some(Fault::new(
                    Cause::UnorderedBook,
                    field,
                    Why::NotOrdered { prev, price: p },
                ));
            }
        }
        prev_empty = e;
        prev = p;
    }
    None
}

/// The first level (bids then asks, best first) for which `check` finds a fault.
fn level_fault(b: &BookIn, check: impl Fn(Side, u8, f64, i128) -> Option<Fault>) -> Option<Fault> {
    for (side, px, qty) in [
        (Side::Bid, &b.bid_px, &b.bid_qty),
        (Side::Ask, &b.ask_px, &b.ask_qty),
    ] {
        for i in 0..LEVELS {
            if let Some(f) = check(side, i as u8, px[i], qty[i]) {
                return Some(f);
            }
        }
    }
    None
}

/// The rules for one five-level book, in this precedence: NaN, volume, non-positive price,
/// unordered (or a hole; bids first), crossed (not for simtrade: trial matching before the
/// open may legitimately cross).
pub fn book_fault(b: &BookIn) -> Option<Fault> {
    let (bp, ap) = (&b.bid_px, &b.ask_px);
    // The usual book: 5 strictly ordered, finite, positive levels a side (NaN fails every
    // comparison), volumes in range, not crossed: accepted without the detailed walk.
    let qty_ok = |q: &[i128; LEVELS]| q.iter().all(|&v| (0..=I64_MAX).contains(&v));
    if f64::INFINITY > bp[0]
        && bp[0] > bp[1]
        && bp[1] > bp[2]
        && bp[2] > bp[3]
        && bp[3] > bp[4]
        && bp[4] > 0.0
        && 0.0 < ap[0]
        && ap[0] < ap[1]
        && ap[1] < ap[2]
        && ap[2] < ap[3]
        && ap[3] < ap[4]
        && ap[4] < f64::INFINITY
        && (bp[0] < ap[0] || b.simtrade)
        && qty_ok(&b.bid_qty)
        && qty_ok(&b.ask_qty)
    {
        return None;
    }
    let found = level_fault(b, |side, i, p, _| {
        p.is_nan()
            .then(|| Fault::new(Cause::NanPrice, Field::LevelPrice(side, i), Why::PriceNan))
    })
    .or_else(|| {
        level_fault(b, |side, i, _, q| {
            volume_fault(q, Field::LevelVolume(side, i))
        })
    })
    .or_else(|| {
        level_fault(b, |side, i, p, q| {
            (!(empty(p, q) || (p > 0.0 && p < f64::INFINITY))).then(|| {
                Fault::new(
                    Cause::NonpositivePrice,
                    Field::LevelPrice(side, i),
                    Why::PriceNotPositive(p),
                )
            })
        })
    })
    .or_else(|| unordered(Side::Bid, bp, &b.bid_qty))
    .or_else(|| unordered(Side::Ask, ap, &b.ask_qty));
    if found.is_some() {
        return found;
    }
    if !b.simtrade && bp[0] > 0.0 && ap[0] > 0.0 && bp[0] >= ap[0] {
        return Some(Fault::new(
            Cause::CrossedBook,
            Field::LevelPrice(Side::Bid, 0),
            Why::Crossed {
                bid: bp[0],
                ask: ap[0],
            },
        ));
    }
    None
}

fn price(v: f64, field: Field) -> Result<Price, Fault> {
    Price::from_f64(v).map_err(|f| Fault::new(Cause::Malformed, field, Why::Unrepresentable(f, v)))
}

/// The wire message of a trade that passed `tick_fault` (seq and local_ts 0): a price the
/// fixed-point wire cannot carry exactly is `malformed` (it would be rounded).
pub fn tick_message(t: &TickIn) -> Result<Message, Fault> {
    let bad_type = || {
        Fault::new(
            Cause::Malformed,
            Field::TickType,
            Why::BadTickType(t.tick_type),
        )
    };
    let tick_type = u8::try_from(t.tick_type)
        .ok()
        .and_then(TickType::from_u8)
        .ok_or_else(bad_type)?;
    let vol = |q: i128, field| {
        i64::try_from(q).map_err(|_| Fault::new(Cause::BadVolume, field, Why::VolumeBeyondInt64(q)))
    };
    Ok(Message::Tick(Tick {
        seq: 0,
        exch_ts: t.head.exch_ts,
        local_ts: 0,
        code: t.head.code,
        price: price(t.price, Field::Price)?,
        volume: vol(t.volume, Field::Volume)?,
        total_volume: vol(t.total_volume, Field::TotalVolume)?,
        tick_type,
        simtrade: t.simtrade,
    }))
}

/// The wire message of a book that passed `book_fault`, as `tick_message`.
pub fn book_message(b: &BookIn) -> Result<Message, Fault> {
    let mut m = BidAsk {
        exch_ts: b.head.exch_ts,
        code: b.head.code,
        simtrade: b.simtrade,
        ..BidAsk::default()
    };
    for (side, px, qty, out_px, out_qty) in [
        (
            Side::Bid,
            &b.bid_px,
            &b.bid_qty,
            &mut m.bid_price,
            &mut m.bid_volume,
        ),
        (
            Side::Ask,
            &b.ask_px,
            &b.ask_qty,
            &mut m.ask_price,
            &mut m.ask_volume,
        ),
    ] {
        for i in 0..LEVELS {
            out_px[i] = price(px[i], Field::LevelPrice(side, i as u8))?;
            out_qty[i] = i64::try_from(qty[i]).map_err(|_| {
                Fault::new(
                    Cause::BadVolume,
                    Field::LevelVolume(side, i as u8),
                    Why::VolumeBeyondInt64(qty[i]),
                )
            })?;
        }
    }
    Ok(Message::BidAsk(m))
}
