//! Positions, PnL marks, fees and adverse-selection markouts, fed by fills (paper or live).
//!
//! - **Position** per code: net lots, average open price, realised PnL. The open cost and the
//!   realised PnL are kept in exact integer units (price mantissa x lots, `i128`): adding to a
//!   position is exact; closing part of a position opened at several prices removes
//!   `cost * closed / net` (integer division), off by under one mantissa unit (10^-6 of a
//!   point) per partial close; a flat position has cost exactly 0. TWD = units / 10^6 x
//!   multiplier.
//! - **Unrealised** = `(mid * net - cost) * multiplier` at the last mid ([`Account::on_mid`]);
//!   0 before the code's first mid. **Net PnL** = realised + unrealised - fees.
//! - **Markouts** (adverse selection): for every fill and each horizon h in 1 s, 5 s, 30 s of
//!   event time, `markout = sign * (mid(t_fill + h) - fill_price) * qty * multiplier` TWD,
//!   sign +1 for a buy and -1 for a sell: negative means the market moved against the fill.
//!   `mid(t)` is the code's last mid at or before `t`: a fill is completed by the first
//!   [`Account::on_mid`]/[`Account::advance`] call with a time after `t_fill + h`. Kept per
//!   horizon: fills completed, lots, sum (TWD), mean per lot (price units); fills whose horizon
//!   was not reached yet are `pending`. Memory is bounded: each horizon holds at most
//!   [`MARKOUT_CAP`] pending fills; beyond that the oldest pending fill is dropped (counted).
//!   That markout includes the spread a passive fill earns (a bid filled below the mid starts
//!   positive). The **mid move** isolates adverse selection:
//!   `sign * (mid(t_fill + h) - mid(t_fill)) * qty * multiplier`, where `mid(t_fill)` is the
//!   code's mid just before the execution time, looked up in a short history of its last
//!   [`MID_HISTORY`] mids (a fill older than that history uses its oldest mid, counted as
//!   `stale_mid`); both are kept per horizon.
//! - **One path for fills**: the account is fed by its owner (the risk gateway through
//!   `Engine::apply_fill`), paper and live fills alike; the engine driver never books the
//!   venue's fills itself, so a fill can never be counted twice or by two different routes.
//! - **Reconciliation** ([`Account::set_position`]) overwrites a code's net and average price
//!   with the broker's figures; realised PnL, fees and markouts stay.
//! - **New trading day** ([`Account::reset_day`]): the day's realised PnL and fees restart at
//!   0 (the daily loss limit is about today's money: today's costs count, yesterday's do not);
//!   open positions carry over at their average price, so unrealised PnL is still measured
//!   from the entry price; markouts are a measure of the run and stay.

use std::collections::VecDeque;
use std::fmt;

use super::types::{CodeId, Nanos, Price, Side, PRICE_SCALE};

/// Mids kept per code to find the mid at a fill's execution time (fills are booked after the
/// ack leg, some marks later).
pub const MID_HISTORY: usize = 64;

/// Markout horizons: 1 s, 5 s, 30 s.
pub const HORIZONS: [Nanos; 3] = [1_000_000_000, 5_000_000_000, 30_000_000_000];
/// Pending fills kept per horizon (32 bytes each: 2 MB per horizon at most).
pub const MARKOUT_CAP: usize = 65_536;
/// Codes are dense indexes below this (as in the venue).
pub const MAX_CODES: usize = 65_536;

/// A fill or mark the account refused (counted, nothing changed).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AccountError {
    UnknownCode { code: CodeId },
    BadQty { qty: i64 },
    BadPrice { price: Price },
    BadFee { fee: f64 },
    BadMid { mid: f64 },
    BadMultiplier { multiplier: f64 },
    TooManyCodes { code: CodeId },
    BadAvgPrice { price: Price },
}

impl fmt::Display for AccountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AccountError::UnknownCode { code } => {
                write!(
                    f,
                    "fill.code = {code}: no instrument with this code id was added"
                )
            }
            AccountError::BadQty { qty } => write!(f, "fill.qty = {qty}: must be > 0"),
            AccountError::BadPrice { price } => write!(f, "fill.price = {price}: must be > 0"),
            AccountError::BadFee { fee } => write!(f, "fill.fee = {fee}: must be finite"),
            AccountError::BadMid { mid } => write!(f, "mid = {mid}: must be finite and > 0"),
            AccountError::BadMultiplier { multiplier } => {
                write!(f, "multiplier = {multiplier}: must be finite and > 0")
            }
            AccountError::TooManyCodes { code } => {
                write!(f, "instrument code id {code}: must be < {MAX_CODES}")
            }
            AccountError::BadAvgPrice { price } => {
                write!(f, "position.avg_price = {price}: must be > 0 when net != 0")
            }
        }
    }
}

impl std::error::Error for AccountError {}

/// One code's position, in TWD except `net` (lots) and the prices.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PositionView {
    pub net: i64,
    /// Average open price (0 when flat).
    pub avg_price: f64,
    pub realised: f64,
    pub unrealised: f64,
    pub fees: f64,
    /// The last mid (NaN before the first).
    pub mark: f64,
    /// `realised` exactly, before the multiplier: price mantissa (10^-6) x lots.
    pub realised_units: i128,
}

/// The whole account in TWD.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Totals {
    pub realised: f64,
    pub unrealised: f64,
    pub fees: f64,
    /// realised + unrealised - fees.
    pub net_pnl: f64,
    /// Sum of |net| over codes (lots, all instruments added as counts).
    pub gross: i64,
}

/// Markouts at one horizon. Negative `sum_twd` / `mean_price`: adverse selection.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct HorizonMarkout {
    pub horizon: Nanos,
    /// Fills whose horizon was reached and that had a mid.
    pub count: u64,
    pub lots: i64,
    pub sum_twd: f64,
    /// Mean per lot, in price units (points for futures).
    pub mean_price: f64,
    /// The mid move against the fills (adverse selection, without the spread earned): fills
    /// that had a mid at execution, their sum (TWD) and mean per lot (price units).
    pub mid_move_count: u64,
    pub mid_move_twd: f64,
    pub mid_move_mean: f64,
    /// Fills whose horizon has not been reached yet.
    pub pending: usize,
    /// Fills whose code had no mid yet when the horizon was reached.
    pub unmarked: u64,
    /// Pending fills dropped because [`MARKOUT_CAP`] were already pending.
    pub dropped: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MarkoutSummary {
    pub horizons: [HorizonMarkout; 3],
}

/// Bad input seen (counted, nothing changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AccountStats {
    pub rejected_fills: u64,
    pub rejected_mids: u64,
    /// Marks earlier than the account's clock, or fills earlier than the previous fill (run
    /// at that time instead).
    pub stale_time: u64,
    /// Fills executed before the oldest mid kept for their code (measured from that mid).
    pub stale_mid: u64,
}

#[derive(Debug, Clone, Copy)]
struct Pos {
    multiplier: f64,
    net: i64,
    /// Sum of price mantissa x signed lots of the open position.
    cost: i128,
    /// Realised PnL in price mantissa x lots.
    realised: i128,
    fees: f64,
    mark: f64,
    /// The last MID_HISTORY (time, mid) marks, a ring: `mids[head]` is the newest.
    mids: [(Nanos, f64); MID_HISTORY],
    head: usize,
    len: usize,
}

impl Pos {
    /// The mid just before `t` (NaN with no mid yet); true if `t` predates the history.
    /// Strictly before: the event that filled a resting order (a trade through it, a quote
    /// through it) is marked at the fill's own time, and its mid already carries that move.
    fn mid_at(&self, t: Nanos) -> (f64, bool) {
        let mut i = self.head;
        let mut oldest = f64::NAN;
        for _ in 0..self.len {
            let (at, mid) = self.mids[i];
            if at < t {
                return (mid, false);
            }
            oldest = mid;
            i = (i + MID_HISTORY - 1) % MID_HISTORY;
        }
        (oldest, self.len > 0)
    }
}

#[derive(Debug, Clone, Copy)]
struct PendingFill {
    code: CodeId,
    sign: i8,
    qty: i64,
    price: f64,
    mid: f64, // the mid at execution (NaN: none yet)
    at: Nanos,
}

#[derive(Debug, Clone)]
struct Horizon {
    h: Nanos,
    pending: VecDeque<PendingFill>,
    count: u64,
    lots: i64,
    sum_twd: f64,
    sum_px_lots: f64,
    moved: u64,
    moved_lots: i64,
    moved_twd: f64,
    moved_px_lots: f64,
    unmarked: u64,
    dropped: u64,
}

/// Positions, marks and markouts. See the module docs.
#[derive(Debug, Clone)]
pub struct Account {
    pos: Vec<Option<Pos>>,
    horizons: [Horizon; 3],
    now: Nanos,
    last_fill_at: Nanos,
    stats: AccountStats,
}

impl Default for Account {
    fn default() -> Self {
        Account::new()
    }
}

const SCALE: f64 = PRICE_SCALE as f64;

impl Account {
    pub fn new() -> Account {
        let h = |h| Horizon {
            h,
            pending: VecDeque::new(),
            count: 0,
            lots: 0,
            sum_twd: 0.0,
            sum_px_lots: 0.0,
            moved: 0,
            moved_lots: 0,
            moved_twd: 0.0,
            moved_px_lots: 0.0,
            unmarked: 0,
            dropped: 0,
        };
        Account {
            pos: Vec::new(),
            horizons: HORIZONS.map(h),
            now: Nanos::MIN,
            last_fill_at: Nanos::MIN,
            stats: AccountStats::default(),
        }
    }

    /// Adds an instrument (or changes its multiplier; the position stays).
    pub fn add_instrument(&mut self, code: CodeId, multiplier: f64) -> Result<(), AccountError> {
        let i = code as usize;
        if i >= MAX_CODES {
            return Err(AccountError::TooManyCodes { code });
        }
        if !(multiplier.is_finite() && multiplier > 0.0) {
            return Err(AccountError::BadMultiplier { multiplier });
        }
        if self.pos.len() <= i {
            self.pos.resize_with(i + 1, || None);
        }
        match &mut self.pos[i] {
            Some(p) => p.multiplier = multiplier,
            slot => {
                *slot = Some(Pos {
                    multiplier,
                    net: 0,
                    cost: 0,
                    realised: 0,
                    fees: 0.0,
                    mark: f64::NAN,
                    mids: [(Nanos::MIN, f64::NAN); MID_HISTORY],
                    head: 0,
                    len: 0,
                })
            }
        }
        Ok(())
    }

    pub fn stats(&self) -> AccountStats {
        self.stats
    }

    fn clock(&mut self, now: Nanos) -> Nanos {
        if now < self.now {
            self.stats.stale_time += 1;
        } else {
            self.now = now;
        }
        self.now
    }

    /// Books one fill: position, realised PnL, fees, and a pending markout per horizon
    /// starting at `at`, the fill's time at the venue (`VenueEvent::Filled::exec_at`; it may
    /// be earlier than the latest mark).
    pub fn apply_fill(
        &mut self,
        code: CodeId,
        side: Side,
        price: Price,
        qty: i64,
        fee: f64,
        at: Nanos,
    ) -> Result<(), AccountError> {
        let err = if qty <= 0 {
            Some(AccountError::BadQty { qty })
        } else if price.0 <= 0 {
            Some(AccountError::BadPrice { price })
        } else if !fee.is_finite() {
            Some(AccountError::BadFee { fee })
        } else {
            None
        };
        let Some(p) = self.pos.get_mut(code as usize).and_then(Option::as_mut) else {
            self.stats.rejected_fills += 1;
            return Err(AccountError::UnknownCode { code });
        };
        if let Some(e) = err {
            self.stats.rejected_fills += 1;
            return Err(e);
        }
        let s = side.sign();
        let px = price.0 as i128;
        let mut left = qty;
        if p.net != 0 && p.net.signum() != s {
            // Closing (part of) the position at the average open cost.
            let open = p.net.unsigned_abs() as i128;
            let close = left.min(p.net.abs());
            let closed_cost = p.cost * close as i128 / open;
            p.realised += p.net.signum() as i128 * px * close as i128 - closed_cost;
            p.cost -= closed_cost;
            p.net += s * close;
            left -= close;
        }
        if left > 0 {
            p.net += s * left;
            p.cost += px * (s * left) as i128;
        }
        if p.net == 0 {
            p.cost = 0;
        }
        p.fees += fee;
        // Fills may be booked after later marks (the venue reports them after the ack leg):
        // the markout starts at the fill's own time. Only the pending queue must stay in time
        // order, so a fill older than the previous one is booked at that one's time.
        if at < self.last_fill_at {
            self.stats.stale_time += 1;
        }
        let (mid, stale) = p.mid_at(at);
        if stale {
            self.stats.stale_mid += 1;
        }
        let at = at.max(self.last_fill_at);
        self.last_fill_at = at;
        let pf = PendingFill {
            code,
            sign: s as i8,
            qty,
            price: price.to_f64(),
            mid,
            at,
        };
        for h in self.horizons.iter_mut() {
            if h.pending.len() >= MARKOUT_CAP {
                h.pending.pop_front();
                h.dropped += 1;
            }
            h.pending.push_back(pf);
        }
        Ok(())
    }

    /// Completes the markouts whose horizon ended before `now` (with each code's mid then).
    pub fn advance(&mut self, now: Nanos) {
        let now = self.clock(now);
        let pos = &self.pos;
        for h in self.horizons.iter_mut() {
            while let Some(f) = h.pending.front().copied() {
                if f.at.saturating_add(h.h) >= now {
                    break;
                }
                h.pending.pop_front();
                let Some(p) = pos.get(f.code as usize).and_then(Option::as_ref) else {
                    h.unmarked += 1;
                    continue;
                };
                if !p.mark.is_finite() {
                    h.unmarked += 1;
                    continue;
                }
                let per_lot = f.sign as f64 * (p.mark - f.price);
                h.count += 1;
                h.lots += f.qty;
                h.sum_px_lots += per_lot * f.qty as f64;
                h.sum_twd += per_lot * f.qty as f64 * p.multiplier;
                if f.mid.is_finite() {
                    let moved = f.sign as f64 * (p.mark - f.mid);
                    h.moved += 1;
                    h.moved_lots += f.qty;
                    h.moved_px_lots += moved * f.qty as f64;
                    h.moved_twd += moved * f.qty as f64 * p.multiplier;
                }
            }
        }
    }

    /// A new mid for `code` at `now`: first completes the markouts due before `now` (with the
    /// mids as they were), then marks the position.
    pub fn on_mid(&mut self, code: CodeId, mid: f64, now: Nanos) -> Result<(), AccountError> {
        self.advance(now);
        let Some(p) = self.pos.get_mut(code as usize).and_then(Option::as_mut) else {
            self.stats.rejected_mids += 1;
            return Err(AccountError::UnknownCode { code });
        };
        if !(mid.is_finite() && mid > 0.0) {
            self.stats.rejected_mids += 1;
            return Err(AccountError::BadMid { mid });
        }
        p.mark = mid;
        p.head = (p.head + 1) % MID_HISTORY;
        p.mids[p.head] = (self.now, mid);
        p.len = (p.len + 1).min(MID_HISTORY);
        Ok(())
    }

    /// Reconciliation: `code`'s position becomes `net` lots at `avg_price` (the broker's
    /// figures). Realised PnL, fees and pending markouts are left as they are.
    pub fn set_position(
        &mut self,
        code: CodeId,
        net: i64,
        avg_price: Price,
    ) -> Result<(), AccountError> {
        let Some(p) = self.pos.get_mut(code as usize).and_then(Option::as_mut) else {
            self.stats.rejected_fills += 1;
            return Err(AccountError::UnknownCode { code });
        };
        if net != 0 && avg_price.0 <= 0 {
            self.stats.rejected_fills += 1;
            return Err(AccountError::BadAvgPrice { price: avg_price });
        }
        p.net = net;
        p.cost = if net == 0 {
            0
        } else {
            avg_price.0 as i128 * net as i128
        };
        Ok(())
    }

    /// New trading day: realised PnL and fees restart at 0 on every code; positions (net,
    /// average price), marks and markouts carry over.
    pub fn reset_day(&mut self) {
        for p in self.pos.iter_mut().flatten() {
            p.realised = 0;
            p.fees = 0.0;
        }
    }

    pub fn position(&self, code: CodeId) -> Option<PositionView> {
        let p = self.pos.get(code as usize).and_then(Option::as_ref)?;
        Some(view(p))
    }

    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for v in self.pos.iter().flatten().map(view) {
            t.realised += v.realised;
            t.unrealised += v.unrealised;
            t.fees += v.fees;
            t.gross += v.net.abs();
        }
        t.net_pnl = t.realised + t.unrealised - t.fees;
        t
    }

    pub fn markouts(&self) -> MarkoutSummary {
        MarkoutSummary {
            horizons: self.horizons.each_ref().map(|h| HorizonMarkout {
                horizon: h.h,
                count: h.count,
                lots: h.lots,
                sum_twd: h.sum_twd,
                mean_price: per_lot(h.sum_px_lots, h.lots),
                mid_move_count: h.moved,
                mid_move_twd: h.moved_twd,
                mid_move_mean: per_lot(h.moved_px_lots, h.moved_lots),
                pending: h.pending.len(),
                unmarked: h.unmarked,
                dropped: h.dropped,
            }),
        }
    }
}

fn view(p: &Pos) -> PositionView {
    let cost = p.cost as f64 / SCALE;
    let unrealised = if p.net != 0 && p.mark.is_finite() {
        (p.mark * p.net as f64 - cost) * p.multiplier
    } else {
        0.0
    };
    PositionView {
        net: p.net,
        avg_price: if p.net != 0 { cost / p.net as f64 } else { 0.0 },
        realised: p.realised as f64 / SCALE * p.multiplier,
        unrealised,
        fees: p.fees,
        mark: p.mark,
        realised_units: p.realised,
    }
}

/// A per-lot mean: `sum / lots`, 0 with no lots.
fn per_lot(sum: f64, lots: i64) -> f64 {
    if lots > 0 {
        sum / lots as f64
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::test_books::px;

    const S: Nanos = 1_000_000_000;

    fn acct() -> Account {
        let mut a = Account::new();
        a.add_instrument(0, 200.0).unwrap();
        a.add_instrument(1, 50.0).unwrap();
        a
    }

    #[test]
    fn position_average_realised_and_flip() {
        let mut a = acct();
        a.apply_fill(0, Side::Buy, px(100), 1, 10.0, 0).unwrap();
        a.apply_fill(0, Side::Buy, px(103), 2, 20.0, 1).unwrap();
        let p = a.position(0).unwrap();
        assert_eq!(p.net, 3);
        assert!((p.avg_price - 102.0).abs() < 1e-12);
        // Sell 4 at 105: closes 3 (realised (105 - 102) * 3 * 200 = 1800), opens 1 short.
        a.apply_fill(0, Side::Sell, px(105), 4, 40.0, 2).unwrap();
        let p = a.position(0).unwrap();
        assert_eq!(p.net, -1);
        assert!((p.realised - 1800.0).abs() < 1e-9, "{}", p.realised);
        assert!((p.avg_price - 105.0).abs() < 1e-12);
        assert_eq!(p.fees, 70.0);
        // Mid 104: short 1 from 105 is +1 point = +200 TWD.
        a.on_mid(0, 104.0, 3).unwrap();
        let t = a.totals();
        assert!((t.unrealised - 200.0).abs() < 1e-9);
        assert!((t.net_pnl - (1800.0 + 200.0 - 70.0)).abs() < 1e-9);
        // Buy back at 101: realised +4 points.
        a.apply_fill(0, Side::Buy, px(101), 1, 0.0, 4).unwrap();
        let p = a.position(0).unwrap();
        assert_eq!((p.net, p.avg_price, p.unrealised), (0, 0.0, 0.0));
        assert!((p.realised - (1800.0 + 800.0)).abs() < 1e-9);
    }

    #[test]
    fn realised_is_exact_in_fixed_point() {
        // 0.1 + 0.2 style prices: exact in mantissa units, not in binary floats.
        let mut a = acct();
        let p1 = Price::parse_decimal("0.1").unwrap();
        let p2 = Price::parse_decimal("0.3").unwrap();
        for _ in 0..1000 {
            a.apply_fill(1, Side::Buy, p1, 3, 0.0, 0).unwrap();
            a.apply_fill(1, Side::Sell, p2, 3, 0.0, 0).unwrap();
        }
        // 1000 x 3 lots x 0.2 x 50 = 30000 exactly.
        assert_eq!(a.position(1).unwrap().realised, 30_000.0);
    }

    #[test]
    fn markouts_at_each_horizon_signed_against_the_fill() {
        let mut a = acct();
        a.on_mid(0, 100.5, 0).unwrap();
        a.apply_fill(0, Side::Buy, px(101), 2, 0.0, 0).unwrap(); // bought above mid
        a.apply_fill(1, Side::Sell, px(100), 1, 0.0, 0).unwrap(); // code 1 never marked
        a.on_mid(0, 100.0, S / 2).unwrap();
        // The mid at +1 s is 100.0 (set at 0.5 s); the call at 1.2 s completes the 1 s horizon.
        a.on_mid(0, 103.0, S + S / 5).unwrap();
        let m = a.markouts().horizons;
        assert_eq!((m[0].count, m[0].lots, m[0].unmarked), (1, 2, 1));
        assert!((m[0].sum_twd + 400.0).abs() < 1e-9); // -1 point x 2 lots x 200
        assert!((m[0].mean_price + 1.0).abs() < 1e-12);
        assert_eq!((m[1].count, m[1].pending), (0, 2));
        // At +5 s the mid is 103: +2 points per lot for the buy.
        a.advance(6 * S);
        let m = a.markouts().horizons;
        assert!((m[1].sum_twd - 800.0).abs() < 1e-9);
        assert_eq!(m[2].pending, 2); // 30 s not reached: pending at the end
        assert_eq!(m[2].horizon, 30 * S);
    }

    #[test]
    fn the_mid_move_leaves_out_the_spread_the_fill_earned() {
        let mut a = acct();
        a.on_mid(0, 100.5, 0).unwrap();
        a.on_mid(0, 100.5, S / 10).unwrap();
        // A passive buy at the bid, 0.5 below the mid; learnt later, after the mid fell to 100.
        a.on_mid(0, 100.0, S / 5).unwrap();
        a.apply_fill(0, Side::Buy, px(100), 1, 0.0, S / 10).unwrap();
        a.on_mid(0, 100.25, S + S / 2).unwrap(); // the mid at +1 s (1.1 s) is still 100.0
        let m = a.markouts().horizons[0];
        // Against the fill price: 0 (100.0 - 100). The mid moved 100.5 -> 100.0: -0.5 point.
        assert_eq!((m.count, m.mid_move_count), (1, 1));
        assert!(m.sum_twd.abs() < 1e-9, "{}", m.sum_twd);
        assert!((m.mid_move_twd + 100.0).abs() < 1e-9, "{}", m.mid_move_twd); // x 1 lot x 200
        assert!((m.mid_move_mean + 0.5).abs() < 1e-12);
        assert_eq!(a.stats().stale_mid, 0);
        // A fill executed before every mid kept: measured from the oldest, and counted.
        for k in 0..MID_HISTORY as i64 {
            a.on_mid(0, 101.0, 2 * S + k).unwrap();
        }
        a.apply_fill(0, Side::Sell, px(101), 1, 0.0, S + S / 2)
            .unwrap();
        assert_eq!(a.stats().stale_mid, 1);
        // No mid yet for a code: the mid move of its fills is not counted (NaN reference).
        a.apply_fill(1, Side::Sell, px(100), 1, 0.0, 3 * S).unwrap();
        a.on_mid(1, 100.0, 3 * S + 1).unwrap();
        a.advance(10 * S);
        let m = a.markouts().horizons[0];
        assert_eq!((m.count, m.mid_move_count), (3, 2));
    }

    #[test]
    fn a_fill_booked_after_later_marks_is_measured_from_its_own_time() {
        let mut a = acct();
        a.on_mid(0, 100.0, 0).unwrap();
        a.on_mid(0, 102.0, S / 2).unwrap();
        // Executed at 0, learnt at 0.5 s (ack leg): +1 s is at 1 s, mid 102 then.
        a.apply_fill(0, Side::Sell, px(100), 1, 0.0, 0).unwrap();
        a.on_mid(0, 90.0, S + 1).unwrap();
        let m = a.markouts().horizons[0];
        assert_eq!(m.count, 1);
        assert!((m.sum_twd + 400.0).abs() < 1e-9, "{}", m.sum_twd);
        assert_eq!(a.stats().stale_time, 0);
    }

    #[test]
    fn a_day_of_round_trips_realises_exactly_what_the_prices_say() {
        // Partial closes of a position opened at two prices round by under one mantissa unit
        // each, but every cycle ends flat, and flat realises exactly: proceeds - cost.
        let mut a = acct();
        let d = |s: &str| Price::parse_decimal(s).unwrap();
        for _ in 0..1000 {
            a.apply_fill(1, Side::Buy, d("27.15"), 3, 0.0, 0).unwrap();
            a.apply_fill(1, Side::Buy, d("27.2"), 2, 0.0, 0).unwrap();
            a.apply_fill(1, Side::Sell, d("27.25"), 4, 0.0, 0).unwrap();
            a.apply_fill(1, Side::Sell, d("27.1"), 1, 0.0, 0).unwrap();
        }
        // Per cycle: proceeds 136.1 - cost 135.85 = 0.25 points.
        let p = a.position(1).unwrap();
        assert_eq!(p.realised_units, 1000 * 250_000);
        assert_eq!((p.net, p.avg_price), (0, 0.0));
        assert_eq!(p.realised, 250.0 * 50.0);
    }

    #[test]
    fn set_position_overwrites_net_and_cost_and_keeps_realised() {
        let mut a = acct();
        a.apply_fill(0, Side::Buy, px(100), 1, 5.0, 0).unwrap();
        a.apply_fill(0, Side::Sell, px(102), 1, 5.0, 0).unwrap(); // +2 points realised
        a.set_position(0, -2, Price::parse_decimal("20000.5").unwrap())
            .unwrap();
        a.on_mid(0, 19990.5, 1).unwrap();
        let p = a.position(0).unwrap();
        assert_eq!((p.net, p.avg_price), (-2, 20000.5));
        assert!((p.unrealised - 10.0 * 2.0 * 200.0).abs() < 1e-9);
        assert_eq!((p.realised, p.fees), (400.0, 10.0));
        // Closing the reconciled position realises against the broker's average.
        a.apply_fill(0, Side::Buy, px(20000), 2, 0.0, 2).unwrap();
        assert_eq!(a.position(0).unwrap().realised, 400.0 + 0.5 * 2.0 * 200.0);
        a.set_position(0, 0, Price(0)).unwrap();
        assert_eq!(a.position(0).unwrap().net, 0);
        assert_eq!(
            a.set_position(0, 1, Price(0)),
            Err(AccountError::BadAvgPrice { price: Price(0) })
        );
        assert_eq!(
            a.set_position(5, 1, px(1)),
            Err(AccountError::UnknownCode { code: 5 })
        );
        assert_eq!(a.totals().gross, 0);
    }

    #[test]
    fn reset_day_restarts_realised_and_fees_and_carries_positions() {
        let mut a = acct();
        a.apply_fill(0, Side::Buy, px(100), 2, 10.0, 0).unwrap();
        a.apply_fill(0, Side::Sell, px(101), 1, 10.0, 0).unwrap();
        a.apply_fill(1, Side::Sell, px(50), 3, 7.0, 0).unwrap();
        a.on_mid(0, 103.0, S).unwrap();
        a.reset_day();
        let t = a.totals();
        assert_eq!((t.realised, t.fees, t.gross), (0.0, 0.0, 4));
        // The open lot is still measured from its entry at 100.
        assert_eq!(t.unrealised, 3.0 * 200.0);
        assert_eq!(t.net_pnl, 600.0);
        let p = a.position(0).unwrap();
        assert_eq!((p.net, p.avg_price, p.realised_units), (1, 100.0, 0));
        // Markouts of yesterday's fills are still pending (a run measure).
        assert_eq!(a.markouts().horizons[2].pending, 3);
    }

    #[test]
    fn markout_ring_is_bounded() {
        let mut a = acct();
        for i in 0..(MARKOUT_CAP as i64 + 10) {
            a.apply_fill(0, Side::Buy, px(100), 1, 0.0, i).unwrap();
        }
        let m = a.markouts().horizons;
        assert_eq!(m[0].pending, MARKOUT_CAP);
        assert_eq!(m[0].dropped, 10);
    }

    #[test]
    fn bad_input_is_refused_and_counted() {
        let mut a = acct();
        assert_eq!(
            a.apply_fill(9, Side::Buy, px(1), 1, 0.0, 0),
            Err(AccountError::UnknownCode { code: 9 })
        );
        assert_eq!(
            a.apply_fill(0, Side::Buy, px(1), -1, 0.0, 0),
            Err(AccountError::BadQty { qty: -1 })
        );
        assert!(a.apply_fill(0, Side::Buy, px(0), 1, 0.0, 0).is_err());
        assert!(a.apply_fill(0, Side::Buy, px(1), 1, f64::NAN, 0).is_err());
        assert!(a.on_mid(0, f64::NAN, 0).is_err());
        assert!(a.on_mid(0, -1.0, 0).is_err());
        assert!(a.on_mid(7, 1.0, 0).is_err());
        assert!(a.add_instrument(2, 0.0).is_err());
        assert!(a.add_instrument(u32::MAX, 1.0).is_err());
        let s = a.stats();
        assert_eq!((s.rejected_fills, s.rejected_mids), (4, 3));
        let p = a.position(0).unwrap();
        assert_eq!((p.net, p.fees, p.realised), (0, 0.0, 0.0));
        assert!(p.mark.is_nan());
        // Time going backwards is clamped and counted.
        a.on_mid(0, 100.0, 10).unwrap();
        a.on_mid(0, 100.0, 5).unwrap();
        assert_eq!(a.stats().stale_time, 1);
    }
}
