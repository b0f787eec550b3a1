//! One row of hftbacktest's event array (`hftbacktest.types.event_dtype`, version 2.4.4) and
//! its flags. Plain data: the binding gives numpy the same layout.

/// A depth change: `qty` is the new total at `px` (0 removes the level).
pub const DEPTH_EVENT: u64 = 1;
/// A trade: `px`, `qty`; the side flag is the aggressor (BUY = buyer-initiated).
pub const TRADE_EVENT: u64 = 2;
/// Clears one side from its best level down to `px` (with a side flag), or both sides.
pub const DEPTH_CLEAR_EVENT: u64 = 3;
/// A level of a full snapshot (applied like a depth change).
pub const DEPTH_SNAPSHOT_EVENT: u64 = 4;
/// Processed by hftbacktest's exchange side (fills, queue positions) at `exch_ts`.
pub const EXCH_EVENT: u64 = 1 << 31;
/// Processed by the strategy's side (its view of the book) at `local_ts`.
pub const LOCAL_EVENT: u64 = 1 << 30;
/// Bid side of a depth row; buyer-initiated trade.
pub const BUY_EVENT: u64 = 1 << 29;
/// Ask side of a depth row; seller-initiated trade.
pub const SELL_EVENT: u64 = 1 << 28;

/// `event_dtype`: `ev u8, exch_ts i8, local_ts i8, px f8, qty f8, order_id u8, ival i8,
/// fval f8`, 64 bytes, aligned.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct HftRow {
    pub ev: u64,
    pub exch_ts: i64,
    pub local_ts: i64,
    pub px: f64,
    pub qty: f64,
    pub order_id: u64,
    pub ival: i64,
    pub fval: f64,
}

const _: () = assert!(std::mem::size_of::<HftRow>() == 64);

impl HftRow {
    /// A market-data row seen by both sides (EXCH and LOCAL).
    pub fn market(ev: u64, exch_ts: i64, local_ts: i64, px: f64, qty: f64) -> HftRow {
        HftRow {
            ev: ev | EXCH_EVENT | LOCAL_EVENT,
            exch_ts,
            local_ts,
            px,
            qty,
            ..HftRow::default()
        }
    }

    /// The event kind without flags (DEPTH_EVENT ... DEPTH_SNAPSHOT_EVENT).
    pub fn kind(&self) -> u64 {
        self.ev & 0xFF
    }

    pub fn is_bid(&self) -> bool {
        self.ev & BUY_EVENT != 0
    }

    pub fn is_ask(&self) -> bool {
        self.ev & SELL_EVENT != 0
    }
}

/// What hftbacktest's own `validate_event_order` checks, plus what it does not check but every
/// row of ours must hold: both flags, and the feed latency `local_ts - exch_ts` positive.
/// `Err` names the first row that breaks a rule.
pub fn check_rows(rows: &[HftRow]) -> Result<(), String> {
    let mut prev: Option<&HftRow> = None;
    for (i, r) in rows.iter().enumerate() {
        if r.ev & (EXCH_EVENT | LOCAL_EVENT) != EXCH_EVENT | LOCAL_EVENT {
            return Err(format!(
                "row {i}: not flagged for both the exchange and local side"
            ));
        }
        if r.local_ts <= r.exch_ts {
            return Err(format!(
                "row {i}: local_ts {} is not after exch_ts {}",
                r.local_ts, r.exch_ts
            ));
        }
        if let Some(p) = prev {
            if r.exch_ts < p.exch_ts {
                return Err(format!(
                    "row {i}: exch_ts goes back ({} < {})",
                    r.exch_ts, p.exch_ts
                ));
            }
            if r.local_ts < p.local_ts {
                return Err(format!(
                    "row {i}: local_ts goes back ({} < {})",
                    r.local_ts, p.local_ts
                ));
            }
        }
        prev = Some(r);
    }
    Ok(())
}
