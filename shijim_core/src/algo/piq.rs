//! Position in queue (PIQ) of one resting limit order, estimated from L5 snapshots and trades
//! ([`QueueEstimator`]), one event at a time or over an event table ([`queue_batch`], the same
//! updates row by row). docs/signals.md ("Position in queue") states the model; in short:
//!
//! - **Joining.** The order joins the back of its level: others ahead = the displayed quantity
//!   at its price in the book in force when it reached the venue. A price not inside the
//!   displayed book is unknown until it first shows (then the back of the level).
//! - **Trades** at our price whose aggressor is not on our side eat the queue from the front:
//!   `front -= qty` (a negative front is volume that traded beyond us: estimated fills). A trade
//!   strictly through our price, or an opposite best strictly through it, fills us completely.
//! - **Snapshots.** The decrease of the displayed quantity at our price that the trades since
//!   the last snapshot do not explain, `chg = level_prev - level_now - traded`, is cancels. The
//!   rule says which share of it was ahead of us:
//!   - risk-averse (hftbacktest `RiskAdverseQueueModel`): none;
//!   - power / log (hftbacktest `ProbQueueModel` with `PowerProbQueueFunc(n)` /
//!     `LogProbQueueFunc`): with `back = level_prev - front` and `p = f(back) / (f(back) +
//!     f(front))`, `f(x) = x^n` or `ln(1 + x)`, the probability that a cancel was behind us:
//!     `front -= (1 - p) chg - min(back - p chg, 0)`;
//!   - pro rata (the paper venue's rule, `engine::venue`): `front -= ceil(chg front / level_prev)`
//!     in whole lots, never below 0 — hftbacktest's power rule with n = 1, rounded.
//!
//!   Then `front = min(front, level_now)` (nobody can be ahead of us who is not displayed). An
//!   increase never moves us (joiners go to the back). Cancels can bring us to the front but
//!   never beyond it: a snapshot never takes `front` below `min(front, 0)` (hftbacktest lets
//!   the estimate go negative there; with its log rule the next decrease then takes the log of
//!   a negative number and its estimate jumps to the back of the level).
//! - **Estimated fills** (`filled_est`): the trade volume beyond the queue ahead, `-front`,
//!   rounded as hftbacktest 2.4 rounds it (half a lot counts as one), at most our open
//!   quantity.
//! - **Bounds and confidence.** Beside the rule's estimate the estimator carries the two
//!   extremes on the same events: `ahead_hi` (no cancel was ahead: the risk-averse rule) and
//!   `ahead_lo` (every unexplained decrease was ahead). The estimate always lies between them;
//!   `confidence = 1 - (hi - lo) / hi` (1 when hi = 0, i.e. we are at the front for sure; 0 while
//!   the queue is unknown).
//! - **P(fill within a horizon).** Depletion events (trades at our price against our side, and
//!   the estimated cancels ahead) are counted with an exponential time decay (half-life
//!   `rate_halflife_ns`) since the order was placed: rate `lambda` (events/s) and mean size
//!   `s` (lots). Modelling depletion as a compound Poisson process with that rate and constant
//!   size, the first `lots` of our order fill within `h` seconds with probability
//!   `P(N(h) >= ceil((front + lots) / s))`, `N(h) ~ Poisson(lambda h)`. Trade-throughs are not
//!   in it (the estimate is conservative). No depletion observed yet: 0.
//! - **Our own order in the book** (`own_in_book`): live feeds include our order in the
//!   displayed quantity (others = displayed - our remaining quantity); the paper venue's and the
//!   backtest's market data do not (others = displayed).
//!
//! Bad input: a crossed book, a negative price or quantity in the book, a trade with price or
//! quantity <= 0, an own fill <= 0: an [`AlgoError`], the estimator unchanged.

use super::AlgoError;
pub use crate::engine::queue::{first_live, level_qty, pro_rata_cancels_ahead};
use crate::engine::types::{Nanos, Price, Side, L5, LEVELS};

/// How cancels at our level are split between ahead of us and behind us.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QueueRule {
    /// Cancels are always behind us: only trades advance the order.
    RiskAverse,
    /// hftbacktest's power probability, `f(x) = x^n`.
    Power(f64),
    /// hftbacktest's log probability, `f(x) = ln(1 + x)`.
    Log,
    /// The paper venue's pro-rata rule (whole lots, rounded up).
    ProRata,
}

impl QueueRule {
    /// Probability that a decrease was behind us (hftbacktest's `prob(front, back)`); a value
    /// that is not finite (0/0, overflow) counts as 1: the conservative reading.
    pub fn prob_behind(self, front: f64, back: f64) -> f64 {
        let (front, back) = (front.max(0.0), back.max(0.0));
        let (fb, ff) = match self {
            QueueRule::RiskAverse => return 1.0,
            QueueRule::ProRata => (back, front),
            QueueRule::Power(n) => (back.powf(n), front.powf(n)),
            QueueRule::Log => (back.ln_1p(), front.ln_1p()),
        };
        let p = fb / (fb + ff);
        if p.is_finite() {
            p
        } else {
            1.0
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            QueueRule::RiskAverse => "risk_averse",
            QueueRule::Power(_) => "power",
            QueueRule::Log => "log",
            QueueRule::ProRata => "pro_rata",
        }
    }
}

/// How the estimator reads the market.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PiqConfig {
    pub rule: QueueRule,
    /// The displayed quantity includes our own order (live feeds), or not (paper, backtest).
    pub own_in_book: bool,
    /// Half-life of the depletion-rate estimate, ns.
    pub rate_halflife_ns: i64,
}

impl PiqConfig {
    pub fn new_checked(
        rule: QueueRule,
        own_in_book: bool,
        rate_halflife_ns: i64,
    ) -> Result<PiqConfig, AlgoError> {
        if let QueueRule::Power(n) = rule {
            if !(n.is_finite() && n > 0.0) {
                return Err(AlgoError::config(
                    "power",
                    format!("the power rule's exponent must be finite and > 0, got {n}"),
                ));
            }
        }
        if rate_halflife_ns <= 0 {
            return Err(AlgoError::config(
                "rate_halflife_ns",
                format!("must be > 0, got {rate_halflife_ns}"),
            ));
        }
        Ok(PiqConfig {
            rule,
            own_in_book,
            rate_halflife_ns,
        })
    }
}

/// What the estimator knows after an event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueState {
    /// The queue ahead is known (our price has shown inside the displayed book).
    pub known: bool,
    /// Others' lots ahead of us, the rule's estimate (>= 0; NaN while unknown).
    pub ahead: f64,
    pub ahead_lo: f64,
    pub ahead_hi: f64,
    /// In [0, 1]: 1 - (hi - lo) / hi; 0 while unknown.
    pub confidence: f64,
    /// Lots of ours the estimate says have traded (trades beyond the queue ahead, or a
    /// trade-through), at most what remains.
    pub filled_est: i64,
    /// Our open quantity: ordered minus confirmed fills ([`QueueEstimator::on_own_fill`]).
    pub remaining: i64,
    /// Others' displayed lots at our price at the last snapshot (NaN while unknown).
    pub level: f64,
    /// Depletion rate, lots per second (NaN before any time has passed).
    pub depletion_rate: f64,
}

/// Columns of a queue-state row (`QUEUE_STATE_NAMES` in Python).
pub const STATE_NAMES: [&str; 9] = [
    "known",
    "ahead",
    "ahead_lo",
    "ahead_hi",
    "confidence",
    "filled_est",
    "remaining",
    "level",
    "depletion_rate",
];

impl QueueState {
    pub fn to_row(&self) -> [f64; 9] {
        [
            f64::from(u8::from(self.known)),
            self.ahead,
            self.ahead_lo,
            self.ahead_hi,
            self.confidence,
            self.filled_est as f64,
            self.remaining as f64,
            self.level,
            self.depletion_rate,
        ]
    }
}

/// The queue-position estimator of one resting order.
#[derive(Debug, Clone)]
pub struct QueueEstimator {
    cfg: PiqConfig,
    side: Side,
    price: Price,
    qty: i64,
    own_filled: i64,
    known: bool,
    /// Others ahead: the rule's estimate and the two extremes (negative: traded beyond us).
    front: f64,
    lo: f64,
    hi: f64,
    /// Others displayed at our price at the last snapshot.
    level: f64,
    /// Trade volume at our price against our side since the last snapshot.
    traded: f64,
    through: bool,
    placed_at: Nanos,
    last_at: Nanos,
    ew_events: f64,
    ew_lots: f64,
}

/// Refuses books a queue cannot be read from: negative prices or quantities, crossed.
fn check_book(book: &L5) -> Result<(), AlgoError> {
    for (side, pf, qf) in [
        (&book.bid, "bid_px", "bid_qty"),
        (&book.ask, "ask_px", "ask_qty"),
    ] {
        for m in 0..LEVELS {
            if side.price[m].0 < 0 {
                return Err(AlgoError::at_level(pf, m, "negative price"));
            }
            if side.qty[m] < 0 {
                return Err(AlgoError::at_level(qf, m, "negative quantity"));
            }
        }
    }
    if let (Some(b), Some(a)) = (first_live(&book.bid), first_live(&book.ask)) {
        if b >= a {
            return Err(AlgoError::input(
                "book",
                format!("crossed or locked: best bid {b} >= best ask {a}"),
            ));
        }
    }
    Ok(())
}

impl QueueEstimator {
    /// An order of `qty` lots at `price` reaching the venue at `at`; `book`: the book in force
    /// then (the last snapshot before it), None if none (the queue is learnt when the price
    /// first shows).
    pub fn new_checked(
        cfg: PiqConfig,
        side: Side,
        price: Price,
        qty: i64,
        at: Nanos,
        book: Option<&L5>,
    ) -> Result<QueueEstimator, AlgoError> {
        let cfg = PiqConfig::new_checked(cfg.rule, cfg.own_in_book, cfg.rate_halflife_ns)?;
        if price.0 <= 0 {
            return Err(AlgoError::config("price", format!("{price}: must be > 0")));
        }
        if qty <= 0 {
            return Err(AlgoError::config("qty", format!("{qty}: must be > 0")));
        }
        let mut q = QueueEstimator {
            cfg,
            side,
            price,
            qty,
            own_filled: 0,
            known: false,
            front: f64::NAN,
            lo: f64::NAN,
            hi: f64::NAN,
            level: f64::NAN,
            traded: 0.0,
            through: false,
            placed_at: at,
            last_at: at,
            ew_events: 0.0,
            ew_lots: 0.0,
        };
        if let Some(b) = book {
            check_book(b)?;
            // The book before our order showed: its quantity is others only, whatever the feed.
            let own = match side {
                Side::Buy => &b.bid,
                Side::Sell => &b.ask,
            };
            if let Some(s) = level_qty(own, price, side) {
                q.join(s as f64);
            }
        }
        Ok(q)
    }

    pub fn side(&self) -> Side {
        self.side
    }

    pub fn price(&self) -> Price {
        self.price
    }

    fn remaining(&self) -> i64 {
        (self.qty - self.own_filled).max(0)
    }

    fn join(&mut self, others: f64) {
        self.known = true;
        self.front = others;
        self.lo = others;
        self.hi = others;
        self.level = others;
        self.traded = 0.0;
    }

    /// Others displayed at our price, from a displayed quantity.
    fn others(&self, shown: i64) -> f64 {
        let s = shown as f64;
        if self.cfg.own_in_book {
            (s - self.remaining() as f64).max(0.0)
        } else {
            s
        }
    }

    /// Ages the depletion counters to `t` (never backwards) and adds one event of `lots`.
    fn deplete(&mut self, t: Nanos, lots: f64) {
        let t = t.max(self.last_at);
        let w = self.decay(t.saturating_sub(self.last_at));
        self.ew_events *= w;
        self.ew_lots *= w;
        self.last_at = t;
        if lots > 0.0 {
            self.ew_events += 1.0;
            self.ew_lots += lots;
        }
    }

    fn decay(&self, dt: Nanos) -> f64 {
        0.5f64.powf(dt as f64 / self.cfg.rate_halflife_ns as f64)
    }

    fn fill_all(&mut self) {
        self.through = true;
        let r = -(self.remaining() as f64);
        self.front = r;
        self.lo = r;
        self.hi = r;
        self.known = true;
    }

    /// A snapshot at `t`.
    pub fn on_book(&mut self, t: Nanos, book: &L5) -> Result<QueueState, AlgoError> {
        check_book(book)?;
        self.deplete(t, 0.0);
        if self.through {
            return Ok(self.state_at(t));
        }
        let (opp, own) = match self.side {
            Side::Buy => (&book.ask, &book.bid),
            Side::Sell => (&book.bid, &book.ask),
        };
        let through = |p: Price| match self.side {
            Side::Buy => p < self.price,
            Side::Sell => p > self.price,
        };
        if first_live(opp).is_some_and(through) {
            self.fill_all();
            return Ok(self.state_at(t));
        }
        let Some(shown) = level_qty(own, self.price, self.side) else {
            self.traded = 0.0; // beyond the displayed levels: nothing to learn
            return Ok(self.state_at(t));
        };
        let now = self.others(shown);
        if !self.known {
            self.join(now);
            return Ok(self.state_at(t));
        }
        let chg = self.level - now - self.traded;
        if chg > 0.0 {
            let before = self.front;
            let prev = self.level;
            match self.cfg.rule {
                QueueRule::RiskAverse => {}
                QueueRule::ProRata => {
                    if self.front > 0.0 {
                        let gone =
                            pro_rata_cancels_ahead(chg as i64, self.front as i64, prev as i64);
                        self.front = (self.front - gone as f64).max(0.0);
                    }
                }
                rule => {
                    let front = self.front.max(0.0);
                    let back = (prev - front).max(0.0);
                    let p = rule.prob_behind(front, back);
                    let est = self.front - (1.0 - p) * chg + (back - p * chg).min(0.0);
                    // Cancels never fill us: they can bring us to the front, not beyond it.
                    self.front = est.max(self.front.min(0.0));
                }
            }
            self.lo = (self.lo - chg).max(self.lo.min(0.0));
            let cancelled_ahead = before - self.front;
            self.deplete(t, cancelled_ahead);
        }
        self.front = self.front.min(now);
        self.lo = self.lo.min(now);
        self.hi = self.hi.min(now);
        self.level = now;
        self.traded = 0.0;
        Ok(self.state_at(t))
    }

    /// A trade print at `t`; `aggressor` None when unknown.
    pub fn on_trade(
        &mut self,
        t: Nanos,
        price: Price,
        qty: i64,
        aggressor: Option<Side>,
    ) -> Result<QueueState, AlgoError> {
        if price.0 <= 0 {
            return Err(AlgoError::input(
                "price",
                format!("{price}: a trade price must be > 0"),
            ));
        }
        if qty <= 0 {
            return Err(AlgoError::input(
                "qty",
                format!("{qty}: a trade needs a volume > 0 (zero volume?)"),
            ));
        }
        self.deplete(t, 0.0);
        if self.through {
            return Ok(self.state_at(t));
        }
        let through = match self.side {
            Side::Buy => price < self.price,
            Side::Sell => price > self.price,
        };
        if through {
            self.fill_all();
            return Ok(self.state_at(t));
        }
        if price == self.price && aggressor != Some(self.side) {
            let q = qty as f64;
            self.traded += q;
            if self.known {
                self.front -= q;
                self.lo -= q;
                self.hi -= q;
                self.deplete(t, q);
            }
        }
        Ok(self.state_at(t))
    }

    /// A fill of ours confirmed by the venue (the broker): the open quantity shrinks.
    pub fn on_own_fill(&mut self, t: Nanos, qty: i64) -> Result<QueueState, AlgoError> {
        if qty <= 0 {
            return Err(AlgoError::input(
                "qty",
                format!("{qty}: an own fill must be > 0"),
            ));
        }
        self.own_filled = self.own_filled.saturating_add(qty).min(self.qty);
        self.deplete(t, 0.0);
        Ok(self.state_at(t))
    }

    /// The state as of the last event.
    pub fn state(&self) -> QueueState {
        self.state_at(self.last_at)
    }

    /// The state with the depletion rate evaluated at `t`.
    pub fn state_at(&self, t: Nanos) -> QueueState {
        let remaining = self.remaining();
        if !self.known {
            return QueueState {
                known: false,
                ahead: f64::NAN,
                ahead_lo: f64::NAN,
                ahead_hi: f64::NAN,
                confidence: 0.0,
                filled_est: 0,
                remaining,
                level: f64::NAN,
                depletion_rate: self.rates(t).1,
            };
        }
        let (lo, hi) = (self.lo.max(0.0), self.hi.max(0.0));
        // Lots beyond the queue, rounded as hftbacktest rounds them (half a lot counts as one).
        let filled = (-self.front).max(0.0).round().min(remaining as f64) as i64;
        QueueState {
            known: true,
            ahead: self.front.max(0.0),
            ahead_lo: lo,
            ahead_hi: hi,
            confidence: if hi > 0.0 { 1.0 - (hi - lo) / hi } else { 1.0 },
            filled_est: filled,
            remaining,
            level: self.level,
            depletion_rate: self.rates(t).1,
        }
    }

    /// (events/s, lots/s) of depletion as seen at `t` (NaN when no time has passed).
    fn rates(&self, t: Nanos) -> (f64, f64) {
        let t = t.max(self.last_at);
        let h = self.cfg.rate_halflife_ns as f64;
        // Exposure: the integral of the decay weight from placement to t, in seconds.
        let exposure = h / std::f64::consts::LN_2
            * (1.0 - self.decay(t.saturating_sub(self.placed_at)))
            * 1e-9;
        if exposure <= 0.0 {
            return (f64::NAN, f64::NAN);
        }
        let w = self.decay(t.saturating_sub(self.last_at));
        (self.ew_events * w / exposure, self.ew_lots * w / exposure)
    }

    /// Probability that the first `lots` of ours fill within `horizon_ns` after `t` from queue
    /// depletion (module docs): 1 if the estimate already has them filled, NaN while the queue
    /// is unknown, 0 with no depletion observed or a horizon <= 0.
    pub fn p_fill(&self, t: Nanos, horizon_ns: i64, lots: i64) -> f64 {
        let st = self.state_at(t);
        if !st.known {
            return f64::NAN;
        }
        let lots = lots.clamp(1, st.remaining.max(1));
        if st.filled_est >= lots || self.through {
            return 1.0;
        }
        let (events, lots_rate) = self.rates(t);
        if horizon_ns <= 0 || events.is_nan() || events <= 0.0 {
            return 0.0;
        }
        let size = lots_rate / events;
        let need = self.front + lots as f64; // lots of depletion before `lots` of ours trade
        let k = (need / size).ceil().max(1.0);
        poisson_tail(k, events * horizon_ns as f64 * 1e-9)
    }
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms: ~15 significant digits).
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection keeps the approximation in its accurate range.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// P(N >= k) for N ~ Poisson(m): the regularised lower incomplete gamma P(k, m) (series below
/// k + 1, Lentz's continued fraction above; Numerical Recipes 6.2).
pub fn poisson_tail(k: f64, m: f64) -> f64 {
    if !(k.is_finite() && m.is_finite()) || m < 0.0 {
        return f64::NAN;
    }
    if k <= 0.0 {
        return 1.0;
    }
    if m == 0.0 {
        return 0.0;
    }
    let lead = (-m + k * m.ln() - ln_gamma(k)).exp();
    if m < k + 1.0 {
        let (mut ap, mut del) = (k, 1.0 / k);
        let mut sum = del;
        for _ in 0..10_000 {
            ap += 1.0;
            del *= m / ap;
            sum += del;
            if del.abs() < sum.abs() * 1e-16 {
                break;
            }
        }
        (sum * lead).clamp(0.0, 1.0)
    } else {
        let tiny = 1e-300;
        let mut b = m + 1.0 - k;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..10_000 {
            let an = -(i as f64) * (i as f64 - k);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < 1e-16 {
                break;
            }
        }
        (1.0 - lead * h).clamp(0.0, 1.0)
    }
}

/// An event of a queue batch.
pub const EVENT_BOOK: u8 = 0;
pub const EVENT_TRADE: u8 = 1;
pub const EVENT_OWN_FILL: u8 = 2;

/// The market events of a queue batch, one row each: `kind` [`EVENT_BOOK`] reads the book
/// columns (row-major (N, width)), [`EVENT_TRADE`] `trade_px`/`trade_qty`/`trade_side`
/// (0 unknown, 1 buyer-, 2 seller-initiated), [`EVENT_OWN_FILL`] `trade_qty`. Times must not
/// decrease (a smaller one counts as the previous).
#[derive(Debug, Clone, Copy)]
pub struct QueueEvents<'a> {
    pub t_ns: &'a [i64],
    pub kind: &'a [u8],
    pub bid_px: &'a [f64],
    pub bid_qty: &'a [f64],
    pub ask_px: &'a [f64],
    pub ask_qty: &'a [f64],
    pub width: usize,
    pub trade_px: &'a [f64],
    pub trade_qty: &'a [f64],
    pub trade_side: &'a [i64],
}

/// One order's queue over an event table: the order reaches the venue at `placed_at` and sees
/// the last book before it (earlier rows only provide that book: their output rows are NaN
/// with `known` 0). `out` is (N, 9) row-major ([`STATE_NAMES`]), `ok[r]` false for a refused
/// row (NaN; the estimator goes on). Returns the number refused and the first refusal.
#[allow(clippy::too_many_arguments)]
pub fn queue_batch(
    cfg: PiqConfig,
    side: Side,
    price: Price,
    qty: i64,
    placed_at: Nanos,
    ev: &QueueEvents<'_>,
    out: &mut [f64],
    ok: &mut [bool],
) -> Result<(usize, Option<AlgoError>), AlgoError> {
    let n = ev.t_ns.len();
    super::same_len(
        n,
        &[
            ("kind", ev.kind.len()),
            ("trade_px", ev.trade_px.len()),
            ("trade_qty", ev.trade_qty.len()),
            ("trade_side", ev.trade_side.len()),
            ("ok", ok.len()),
        ],
    )?;
    let rows = super::features::batch_rows(ev.bid_px, ev.bid_qty, ev.ask_px, ev.ask_qty, ev.width)?;
    super::same_len(n, &[("bid_px rows", rows)])?;
    super::same_len(n * 9, &[("out", out.len())])?;
    let book_at = |r: usize| {
        super::features::book_row(ev.bid_px, ev.bid_qty, ev.ask_px, ev.ask_qty, ev.width, r)
    };
    // The book in force at placement: the last good book strictly before it.
    let start = ev.t_ns.partition_point(|&t| t < placed_at);
    let mut before = None;
    for r in (0..start).rev() {
        if ev.kind[r] == EVENT_BOOK {
            if let Ok(b) = book_at(r).and_then(|b| check_book(&b).map(|_| b)) {
                before = Some(b);
                break;
            }
        }
    }
    let mut est = QueueEstimator::new_checked(cfg, side, price, qty, placed_at, before.as_ref())?;
    Ok(super::each_row(out, ok, |r, row: &mut [f64; 9]| {
        if r < start {
            row.fill(f64::NAN);
            row[0] = 0.0;
            return Ok(());
        }
        let t = ev.t_ns[r];
        let s = match ev.kind[r] {
            EVENT_BOOK => book_at(r).and_then(|b| est.on_book(t, &b)),
            EVENT_TRADE => {
                super::flow::trade_from_f64(ev.trade_px[r], ev.trade_qty[r]).and_then(|(p, q)| {
                    let a = super::flow::aggressor_from_code(ev.trade_side[r])?;
                    est.on_trade(t, p, q, a)
                })
            }
            EVENT_OWN_FILL => {
                let q = ev.trade_qty[r];
                if q > 0.0 && q.fract() == 0.0 && q < 9.0e15 {
                    est.on_own_fill(t, q as i64)
                } else {
                    Err(AlgoError::input(
                        "trade_qty",
                        format!("{q}: an own fill must be a whole number > 0"),
                    ))
                }
            }
            k => Err(AlgoError::input(
                "kind",
                format!("{k}: expected 0 (book), 1 (trade) or 2 (own fill)"),
            )),
        }?;
        row.copy_from_slice(&s.to_row());
        Ok(())
    }))
}

#[cfg(test)]
#[path = "piq_tests.rs"]
mod tests;
