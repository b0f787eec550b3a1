//! The paper venue: deterministic matching of our orders against the market data the strategy
//! sees, with order latency, fees, queue position and liquidity that our own orders consume.
//! docs/execution.md ("The engine's paper venue") has the rules with worked examples; in short:
//!
//! - **Latency** ([`LatencyModel`]): an order goes live at `submit time + entry latency` and sees
//!   the book as of then; cancels and amends arrive after the cancel leg, so an order can still
//!   fill while its cancel is in flight. Every event reaches the strategy after the ack leg
//!   (`VenueEvent::at`). Messages keep their order on the way in and on the way out (one
//!   session each way, like one TCP connection): an arrival or delivery time is never earlier
//!   than the previous one.
//! - **Taker**: an order marketable on arrival (buy limit >= best ask, sell limit <= best bid)
//!   walks the displayed levels up to its limit, each level filling at its own price up to its
//!   displayed quantity. What we take stays taken across our own orders and across snapshots
//!   while the real level still shows at least that much (the market data never sees our paper
//!   orders: without this a later snapshot would show the same lots again and "fill" us twice).
//!   Day orders rest the remainder, IOC cancels it, FOK fills completely against the visible
//!   liquidity or is cancelled without fills.
//! - **Queue**: a resting order joins the back of its level: others ahead = the displayed
//!   quantity at its price on arrival, and our own earlier orders at that price stay ahead of
//!   it. A trade at our price (unless its aggressor is on our side: then it hit the other side)
//!   eats the queue from the front: others ahead, our earlier orders, us (a partial fill capped
//!   by what is left of the trade's volume). A snapshot where the displayed quantity at our
//!   price fell by more than the trades there since the last snapshot: the unexplained drop is
//!   cancels, attributed pro rata to the share of the level ahead of us
//!   (`ahead -= ceil(drop * ahead / level)`); others ahead never exceed the displayed quantity,
//!   and a price inside the displayed range but no longer quoted on our side has nobody ahead.
//!   A price beyond the five displayed levels teaches nothing; an order that arrives there (or
//!   with no book) learns its queue when its price first shows: the back of the level then.
//! - **Trade-through**: a trade strictly through our price, or the opposite best quote strictly
//!   through it, fills our whole remaining quantity at our price. A touch (the opposite best
//!   exactly at our price) is not a fill.
//! - **Fees** per fill from the instrument's [`FeeSchedule`](super::fees::FeeSchedule).
//!
//! Bad input never panics: unknown codes, negative or orphan book quantities (emptied), crossed
//! books (ignored), non-positive trades (ignored) and times earlier than the venue's clock
//! (clamped) are counted in [`VenueStats`]; bad requests are an `Err` naming the field.
//!
//! Bounds: at most [`MAX_LIVE`] resting orders (more are `Rejected` on arrival), at most
//! [`MAX_IN_FLIGHT`] requests on the way in (more are `Err(Backlog)`), codes below [`MAX_CODES`].

use std::collections::VecDeque;
use std::fmt;

use super::fees::InstrumentSpec;
use super::latency::{LatencyModel, LatencySampler, Leg};
use super::queue::{first_live, level_qty, pro_rata_cancels_ahead};
use super::types::{CodeId, Levels, Nanos, OrderId, Price, Side, L5, LEVELS};

/// Highest number of resting orders at once (all codes).
pub const MAX_LIVE: usize = 1024;
/// Highest number of requests on their way to the venue.
pub const MAX_IN_FLIGHT: usize = 4096;
/// Codes are dense indexes below this.
pub const MAX_CODES: usize = 65_536;

/// Time in force. `Day` is Shioaji's ROD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tif {
    Day,
    Ioc,
    Fok,
}

/// A limit order as the strategy asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderRequest {
    pub code: CodeId,
    pub side: Side,
    pub price: Price,
    pub qty: i64,
    pub tif: Tif,
}

/// How the venue behaves. `Default`: the Shioaji latency default, seed 0.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct VenueConfig {
    pub latency: LatencyModel,
    pub seed: u64,
}

/// Why the venue refused an order that reached it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VenueReject {
    /// [`MAX_LIVE`] orders already rest.
    TooManyWorking,
}

/// What the strategy learns, at `at` (after the ack leg). `Filled::exec_at` is when the fill
/// happened at the venue (markouts start there).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum VenueEvent {
    Accepted {
        id: OrderId,
        at: Nanos,
    },
    Rejected {
        id: OrderId,
        at: Nanos,
        reason: VenueReject,
    },
    Filled {
        id: OrderId,
        code: CodeId,
        side: Side,
        price: Price,
        qty: i64,
        remaining: i64,
        fee: f64,
        maker: bool,
        exec_at: Nanos,
        at: Nanos,
    },
    /// An amend took effect: the order's price and open quantity now.
    Amended {
        id: OrderId,
        price: Price,
        remaining: i64,
        at: Nanos,
    },
    /// The amend arrived after the order had ended.
    AmendRejected {
        id: OrderId,
        at: Nanos,
    },
    /// The order ended with `qty` unfilled (a cancel, or the rest of an IOC/FOK).
    Cancelled {
        id: OrderId,
        qty: i64,
        at: Nanos,
    },
    /// The cancel arrived after the order had ended (filled or already cancelled).
    CancelRejected {
        id: OrderId,
        at: Nanos,
    },
}

impl VenueEvent {
    pub fn at(&self) -> Nanos {
        match *self {
            VenueEvent::Accepted { at, .. }
            | VenueEvent::Rejected { at, .. }
            | VenueEvent::Filled { at, .. }
            | VenueEvent::Amended { at, .. }
            | VenueEvent::AmendRejected { at, .. }
            | VenueEvent::Cancelled { at, .. }
            | VenueEvent::CancelRejected { at, .. } => at,
        }
    }

    pub fn id(&self) -> OrderId {
        match *self {
            VenueEvent::Accepted { id, .. }
            | VenueEvent::Rejected { id, .. }
            | VenueEvent::Filled { id, .. }
            | VenueEvent::Amended { id, .. }
            | VenueEvent::AmendRejected { id, .. }
            | VenueEvent::Cancelled { id, .. }
            | VenueEvent::CancelRejected { id, .. } => id,
        }
    }
}

/// A request the venue refuses at once (nothing is sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VenueError {
    UnknownCode { code: CodeId },
    BadQty { qty: i64 },
    BadPrice { price: Price },
    UnknownOrder { id: OrderId },
    EmptyAmend { id: OrderId },
    Backlog { in_flight: usize },
    TooManyCodes { code: CodeId },
}

impl fmt::Display for VenueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            VenueError::UnknownCode { code } => {
                write!(
                    f,
                    "order.code = {code}: no instrument with this code id was added"
                )
            }
            VenueError::BadQty { qty } => write!(f, "order.qty = {qty}: must be > 0"),
            VenueError::BadPrice { price } => write!(f, "order.price = {price}: must be > 0"),
            VenueError::UnknownOrder { id } => {
                write!(f, "order id {id}: never issued by this venue")
            }
            VenueError::EmptyAmend { id } => {
                write!(f, "amend of order {id}: neither price nor qty given")
            }
            VenueError::Backlog { in_flight } => write!(
                f,
                "{in_flight} requests already in flight (limit {MAX_IN_FLIGHT})"
            ),
            VenueError::TooManyCodes { code } => {
                write!(f, "instrument code id {code}: must be < {MAX_CODES}")
            }
        }
    }
}

impl std::error::Error for VenueError {}

/// Bad input seen and handled (counted, never a panic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VenueStats {
    /// Calls whose `now` was earlier than the venue's clock: run at the venue's time instead.
    pub stale_time: u64,
    /// Market events for a code never added: ignored.
    pub unknown_code: u64,
    /// Book levels with a negative quantity or price, or a quantity without a price: emptied.
    pub bad_levels: u64,
    /// Snapshots with best bid >= best ask: ignored (the previous book stays).
    pub crossed_books: u64,
    /// Trades with qty <= 0 or price <= 0: ignored.
    pub bad_trades: u64,
    /// submit/cancel/amend calls answered with an `Err`.
    pub rejected_requests: u64,
}

const BID: usize = 0;
const ASK: usize = 1;

struct CodeState {
    spec: InstrumentSpec,
    /// The venue's copy of the book: the last snapshot minus what our orders took.
    book: L5,
    has_book: bool,
    /// Lots our orders took per price, per side [bid, ask] (qty 0 = free slot).
    taken: [[(Price, i64); LEVELS]; 2],
}

#[derive(Debug, Clone, Copy)]
struct LiveOrder {
    id: OrderId,
    code: CodeId,
    side: Side,
    price: Price,
    remaining: i64,
    /// Others' displayed lots ahead of us (our own earlier orders are ahead by priority).
    ahead: i64,
    /// Displayed quantity at our price at the last snapshot.
    level: i64,
    /// Volume traded at our price (against our side) since the last snapshot.
    traded: i64,
    /// False until our price has been inside the displayed book once.
    queue_known: bool,
}

#[derive(Debug, Clone, Copy)]
enum MsgKind {
    New(OrderRequest),
    Cancel,
    Amend {
        price: Option<Price>,
        qty: Option<i64>,
    },
}

#[derive(Debug, Clone, Copy)]
struct Msg {
    at: Nanos,
    id: OrderId,
    kind: MsgKind,
}

/// The way back to the strategy: ack latency, in order.
struct Wire {
    latency: LatencySampler,
    out: VecDeque<VenueEvent>,
    last_out: Nanos,
}

impl Wire {
    fn stamp(&mut self, exec_at: Nanos) -> Nanos {
        let at = exec_at
            .saturating_add(self.latency.draw(Leg::Ack))
            .max(self.last_out);
        self.last_out = at;
        at
    }

    fn fill(
        &mut self,
        spec: &InstrumentSpec,
        o: &LiveOrder,
        qty: i64,
        price: Price,
        maker: bool,
        t: Nanos,
    ) {
        let fee = spec.fees.fee(o.side, price, qty, spec.multiplier);
        let at = self.stamp(t);
        self.out.push_back(VenueEvent::Filled {
            id: o.id,
            code: o.code,
            side: o.side,
            price,
            qty,
            remaining: o.remaining,
            fee,
            maker,
            exec_at: t,
            at,
        });
    }

    fn cancelled(&mut self, id: OrderId, qty: i64, t: Nanos) {
        let at = self.stamp(t);
        self.out.push_back(VenueEvent::Cancelled { id, qty, at });
    }
}

/// The paper venue. See the module docs for the rules.
pub struct Venue {
    codes: Vec<Option<CodeState>>,
    /// Resting orders in time priority (a price amend moves an order to the back).
    live: Vec<LiveOrder>,
    inbox: VecDeque<Msg>,
    last_in: Nanos,
    in_flight_new: usize,
    wire: Wire,
    now: Nanos,
    next_id: OrderId,
    stats: VenueStats,
}

/// The buy side crosses a level at or below its limit, the sell side one at or above.
fn crosses(side: Side, limit: Price, level: Price) -> bool {
    match side {
        Side::Buy => level <= limit,
        Side::Sell => level >= limit,
    }
}

/// A price strictly better for the other side than our limit (a trade-through).
fn through(side: Side, limit: Price, p: Price) -> bool {
    match side {
        Side::Buy => p < limit,
        Side::Sell => p > limit,
    }
}

/// Empties unusable levels; returns how many were bad (an all-zero level is padding).
fn sanitize(l: &mut Levels) -> u64 {
    let mut bad = 0;
    for i in 0..LEVELS {
        let (p, q) = (l.price[i].0, l.qty[i]);
        if p > 0 && q > 0 {
            continue;
        }
        if q < 0 || p < 0 || (p == 0 && q > 0) {
            bad += 1;
        }
        l.qty[i] = 0;
    }
    bad
}

/// Re-applies what we took to a fresh snapshot side: lots taken at a price stay taken while
/// the level still shows (at most what it shows now); a level gone forgets them.
fn apply_taken(taken: &mut [(Price, i64); LEVELS], l: &mut Levels) {
    for slot in taken.iter_mut() {
        if slot.1 <= 0 {
            continue;
        }
        match (0..LEVELS).find(|&i| l.qty[i] > 0 && l.price[i] == slot.0) {
            Some(i) => {
                slot.1 = slot.1.min(l.qty[i]);
                l.qty[i] -= slot.1;
            }
            None => slot.1 = 0,
        }
    }
}

fn note_taken(taken: &mut [(Price, i64); LEVELS], price: Price, qty: i64) {
    if let Some(s) = taken.iter_mut().find(|s| s.1 > 0 && s.0 == price) {
        s.1 += qty;
    } else if let Some(s) = taken.iter_mut().find(|s| s.1 <= 0) {
        *s = (price, qty);
    }
    // No free slot cannot happen (at most LEVELS prices show at once); if it did, the lots
    // would only be forgotten at the next snapshot.
}

impl Venue {
    pub fn new(cfg: VenueConfig) -> Venue {
        Venue {
            codes: Vec::new(),
            live: Vec::with_capacity(64),
            inbox: VecDeque::with_capacity(256),
            last_in: Nanos::MIN,
            in_flight_new: 0,
            wire: Wire {
                latency: LatencySampler::new(cfg.latency, cfg.seed),
                out: VecDeque::with_capacity(1024),
                last_out: Nanos::MIN,
            },
            now: Nanos::MIN,
            next_id: 1,
            stats: VenueStats::default(),
        }
    }

    /// Adds (or replaces the spec of) an instrument. Its book starts empty.
    pub fn add_instrument(&mut self, code: CodeId, spec: InstrumentSpec) -> Result<(), VenueError> {
        let i = code as usize;
        if i >= MAX_CODES {
            self.stats.rejected_requests += 1;
            return Err(VenueError::TooManyCodes { code });
        }
        if self.codes.len() <= i {
            self.codes.resize_with(i + 1, || None);
        }
        match &mut self.codes[i] {
            Some(cs) => cs.spec = spec,
            slot => {
                *slot = Some(CodeState {
                    spec,
                    book: L5::default(),
                    has_book: false,
                    taken: [[(Price(0), 0); LEVELS]; 2],
                })
            }
        }
        Ok(())
    }

    pub fn spec(&self, code: CodeId) -> Option<&InstrumentSpec> {
        self.codes
            .get(code as usize)
            .and_then(Option::as_ref)
            .map(|c| &c.spec)
    }

    /// The venue's copy of a book: the last snapshot minus the lots our orders took.
    pub fn book(&self, code: CodeId) -> Option<&L5> {
        self.codes
            .get(code as usize)
            .and_then(Option::as_ref)
            .filter(|c| c.has_book)
            .map(|c| &c.book)
    }

    pub fn stats(&self) -> VenueStats {
        self.stats
    }

    /// The venue's clock (the latest time it was given).
    pub fn now(&self) -> Nanos {
        self.now
    }

    /// Orders not yet ended: resting at the venue or on their way there.
    pub fn working_count(&self) -> usize {
        self.live.len() + self.in_flight_new
    }

    /// Others' lots ahead of a resting order, `None` if it does not rest or its queue is not
    /// known yet (its price has not been inside the displayed book).
    pub fn queue_ahead(&self, id: OrderId) -> Option<i64> {
        self.live
            .iter()
            .find(|o| o.id == id)
            .filter(|o| o.queue_known)
            .map(|o| o.ahead)
    }

    /// The earliest time something is due: a request arriving or an event reaching the
    /// strategy (a live loop sleeps until then at most).
    pub fn next_due(&self) -> Option<Nanos> {
        let a = self.inbox.front().map(|m| m.at);
        let b = self.wire.out.front().map(VenueEvent::at);
        match (a, b) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        }
    }

    fn clock(&mut self, now: Nanos) -> Nanos {
        if now < self.now {
            self.stats.stale_time += 1;
        } else {
            self.now = now;
        }
        self.now
    }

    fn refuse<T>(&mut self, e: VenueError) -> Result<T, VenueError> {
        self.stats.rejected_requests += 1;
        Err(e)
    }

    fn send(&mut self, now: Nanos, leg: Leg, id: OrderId, kind: MsgKind) {
        let at = now
            .saturating_add(self.wire.latency.draw(leg))
            .max(self.last_in);
        self.last_in = at;
        self.inbox.push_back(Msg { at, id, kind });
        // With no latency the request takes effect now.
        self.process_due(now);
    }

    /// Sends a new order (it arrives after the entry leg). Refused at once: unknown code,
    /// qty <= 0, price <= 0, too many requests in flight.
    pub fn submit(&mut self, now: Nanos, req: OrderRequest) -> Result<OrderId, VenueError> {
        let now = self.clock(now);
        self.process_due(now);
        if self.spec(req.code).is_none() {
            return self.refuse(VenueError::UnknownCode { code: req.code });
        }
        if req.qty <= 0 {
            return self.refuse(VenueError::BadQty { qty: req.qty });
        }
        if req.price.0 <= 0 {
            return self.refuse(VenueError::BadPrice { price: req.price });
        }
        if self.inbox.len() >= MAX_IN_FLIGHT {
            let in_flight = self.inbox.len();
            return self.refuse(VenueError::Backlog { in_flight });
        }
        let id = self.next_id;
        self.next_id += 1;
        self.in_flight_new += 1;
        self.send(now, Leg::Entry, id, MsgKind::New(req));
        Ok(id)
    }

    /// Sends a cancel (it arrives after the cancel leg; the order can fill until then). Any
    /// id this venue issued is accepted, since the strategy may not know yet that the order
    /// ended: the answer is then `CancelRejected`.
    pub fn cancel(&mut self, now: Nanos, id: OrderId) -> Result<(), VenueError> {
        let now = self.clock(now);
        self.process_due(now);
        if id == 0 || id >= self.next_id {
            return self.refuse(VenueError::UnknownOrder { id });
        }
        if self.inbox.len() >= MAX_IN_FLIGHT {
            let in_flight = self.inbox.len();
            return self.refuse(VenueError::Backlog { in_flight });
        }
        self.send(now, Leg::Cancel, id, MsgKind::Cancel);
        Ok(())
    }

    /// Sends an amend (the cancel leg): `qty` is the new open quantity (a reduction keeps
    /// queue priority; at or above the open quantity on arrival it changes nothing), a new
    /// `price` is a cancel/replace: matched again, then the back of the new level.
    pub fn amend(
        &mut self,
        now: Nanos,
        id: OrderId,
        price: Option<Price>,
        qty: Option<i64>,
    ) -> Result<(), VenueError> {
        let now = self.clock(now);
        self.process_due(now);
        if id == 0 || id >= self.next_id {
            return self.refuse(VenueError::UnknownOrder { id });
        }
        if price.is_none() && qty.is_none() {
            return self.refuse(VenueError::EmptyAmend { id });
        }
        if let Some(q) = qty.filter(|&q| q <= 0) {
            return self.refuse(VenueError::BadQty { qty: q });
        }
        if let Some(p) = price.filter(|p| p.0 <= 0) {
            return self.refuse(VenueError::BadPrice { price: p });
        }
        if self.inbox.len() >= MAX_IN_FLIGHT {
            let in_flight = self.inbox.len();
            return self.refuse(VenueError::Backlog { in_flight });
        }
        self.send(now, Leg::Cancel, id, MsgKind::Amend { price, qty });
        Ok(())
    }

    /// Sends a cancel for every order not yet ended (resting or in flight); returns how many.
    pub fn cancel_all(&mut self, now: Nanos) -> usize {
        let mut ids: Vec<OrderId> = self.live.iter().map(|o| o.id).collect();
        ids.extend(self.inbox.iter().filter_map(|m| match m.kind {
            MsgKind::New(_) => Some(m.id),
            _ => None,
        }));
        ids.into_iter()
            .filter(|&id| self.cancel(now, id).is_ok())
            .count()
    }

    /// Moves the venue's clock to `now`, processing every arrival due at or before it in
    /// time order. Call before each market event (with its time) and before draining events.
    pub fn advance_to(&mut self, now: Nanos) {
        let now = self.clock(now);
        self.process_due(now);
    }

    /// Events whose `at` is at or before the venue's clock, in order.
    pub fn drain_events(&mut self, out: &mut Vec<VenueEvent>) {
        while let Some(e) = self.wire.out.front() {
            if e.at() > self.now {
                break;
            }
            if let Some(e) = self.wire.out.pop_front() {
                out.push(e);
            }
        }
    }

    fn process_due(&mut self, now: Nanos) {
        while self.inbox.front().is_some_and(|m| m.at <= now) {
            if let Some(m) = self.inbox.pop_front() {
                self.arrive(m);
            }
        }
    }

    fn live_index(&self, id: OrderId) -> Option<usize> {
        self.live.iter().position(|o| o.id == id)
    }

    fn arrive(&mut self, m: Msg) {
        let t = m.at;
        match m.kind {
            MsgKind::New(req) => {
                self.in_flight_new = self.in_flight_new.saturating_sub(1);
                if self.live.len() >= MAX_LIVE {
                    let at = self.wire.stamp(t);
                    self.wire.out.push_back(VenueEvent::Rejected {
                        id: m.id,
                        at,
                        reason: VenueReject::TooManyWorking,
                    });
                    return;
                }
                let at = self.wire.stamp(t);
                self.wire
                    .out
                    .push_back(VenueEvent::Accepted { id: m.id, at });
                let o = LiveOrder {
                    id: m.id,
                    code: req.code,
                    side: req.side,
                    price: req.price,
                    remaining: req.qty,
                    ahead: 0,
                    level: 0,
                    traded: 0,
                    queue_known: false,
                };
                self.enter(o, req.tif, t);
            }
            MsgKind::Cancel => match self.live_index(m.id) {
                Some(i) => {
                    let o = self.live.remove(i);
                    self.wire.cancelled(o.id, o.remaining, t);
                }
                None => {
                    let at = self.wire.stamp(t);
                    self.wire
                        .out
                        .push_back(VenueEvent::CancelRejected { id: m.id, at });
                }
            },
            MsgKind::Amend { price, qty } => {
                let Some(i) = self.live_index(m.id) else {
                    let at = self.wire.stamp(t);
                    self.wire
                        .out
                        .push_back(VenueEvent::AmendRejected { id: m.id, at });
                    return;
                };
                if let Some(q) = qty {
                    self.live[i].remaining = self.live[i].remaining.min(q);
                }
                let o = self.live[i];
                let reprice = price.filter(|&p| p != o.price);
                let at = self.wire.stamp(t);
                self.wire.out.push_back(VenueEvent::Amended {
                    id: o.id,
                    price: reprice.unwrap_or(o.price),
                    remaining: o.remaining,
                    at,
                });
                if let Some(p) = reprice {
                    // Cancel/replace at the exchange: priority is lost.
                    let mut o = self.live.remove(i);
                    o.price = p;
                    o.queue_known = false;
                    o.ahead = 0;
                    o.level = 0;
                    o.traded = 0;
                    self.enter(o, Tif::Day, t);
                }
            }
        }
    }

    /// Matches an arriving (or re-priced) order against the venue's book, then rests or
    /// cancels the rest.
    fn enter(&mut self, mut o: LiveOrder, tif: Tif, t: Nanos) {
        let Some(cs) = self.codes.get_mut(o.code as usize).and_then(Option::as_mut) else {
            // Codes are checked at submit and never removed; kept total anyway.
            self.wire.cancelled(o.id, o.remaining, t);
            return;
        };
        if cs.has_book {
            let (levels, taken) = match o.side {
                Side::Buy => (&mut cs.book.ask, &mut cs.taken[ASK]),
                Side::Sell => (&mut cs.book.bid, &mut cs.taken[BID]),
            };
            if tif == Tif::Fok {
                let mut avail = 0i64;
                for i in 0..LEVELS {
                    if levels.qty[i] <= 0 {
                        continue;
                    }
                    if !crosses(o.side, o.price, levels.price[i]) {
                        break;
                    }
                    avail = avail.saturating_add(levels.qty[i]);
                }
                if avail < o.remaining {
                    self.wire.cancelled(o.id, o.remaining, t);
                    return;
                }
            }
            for i in 0..LEVELS {
                let q = levels.qty[i];
                if q <= 0 {
                    continue; // taken earlier, or padding
                }
                let p = levels.price[i];
                if !crosses(o.side, o.price, p) {
                    break; // levels are best first: nothing deeper crosses either
                }
                let take = o.remaining.min(q);
                levels.qty[i] = q - take;
                note_taken(taken, p, take);
                o.remaining -= take;
                self.wire.fill(&cs.spec, &o, take, p, false, t);
                if o.remaining == 0 {
                    return;
                }
            }
        } else if tif == Tif::Fok {
            self.wire.cancelled(o.id, o.remaining, t);
            return;
        }
        if tif != Tif::Day {
            self.wire.cancelled(o.id, o.remaining, t);
            return;
        }
        let own = match o.side {
            Side::Buy => &cs.book.bid,
            Side::Sell => &cs.book.ask,
        };
        let shown = if cs.has_book {
            level_qty(own, o.price, o.side)
        } else {
            None
        };
        if let Some(s) = shown {
            o.ahead = s;
            o.level = s;
            o.queue_known = true;
        }
        o.traded = 0;
        self.live.push(o);
    }

    /// A book snapshot for `code` (best level first; empty levels have qty 0).
    pub fn on_book(&mut self, now: Nanos, code: CodeId, book: &L5) {
        let now = self.clock(now);
        self.process_due(now);
        let Some(cs) = self.codes.get_mut(code as usize).and_then(Option::as_mut) else {
            self.stats.unknown_code += 1;
            return;
        };
        let mut b = *book;
        self.stats.bad_levels += sanitize(&mut b.bid) + sanitize(&mut b.ask);
        if let (Some(bb), Some(ba)) = (first_live(&b.bid), first_live(&b.ask)) {
            if bb >= ba {
                self.stats.crossed_books += 1;
                return;
            }
        }
        apply_taken(&mut cs.taken[BID], &mut b.bid);
        apply_taken(&mut cs.taken[ASK], &mut b.ask);
        cs.book = b;
        cs.has_book = true;
        if self.live.is_empty() {
            return;
        }
        let mut ended = false;
        for o in self.live.iter_mut() {
            if o.code != code {
                continue;
            }
            requeue(o, &cs.book, &cs.spec, &mut self.wire, now);
            ended |= o.remaining == 0;
        }
        if ended {
            self.live.retain(|o| o.remaining > 0);
        }
    }

    /// A trade print for `code`. `aggressor`: the side that initiated it, if known (a
    /// buyer-initiated trade lifted the asks, so it cannot have filled resting bids).
    pub fn on_trade(
        &mut self,
        now: Nanos,
        code: CodeId,
        price: Price,
        qty: i64,
        aggressor: Option<Side>,
    ) {
        let now = self.clock(now);
        self.process_due(now);
        let Some(cs) = self.codes.get(code as usize).and_then(Option::as_ref) else {
            self.stats.unknown_code += 1;
            return;
        };
        if qty <= 0 || price.0 <= 0 {
            self.stats.bad_trades += 1;
            return;
        }
        if self.live.is_empty() {
            return;
        }
        let spec = cs.spec;
        let mut ended = false;
        // Through our price: the whole level at our price traded, so all of us did.
        for o in self.live.iter_mut() {
            if o.code == code && o.remaining > 0 && through(o.side, o.price, price) {
                let q = o.remaining;
                o.remaining = 0;
                self.wire.fill(&spec, o, q, o.price, true, now);
                ended = true;
            }
        }
        // At our price: the volume eats each queue from the front.
        for side in [Side::Buy, Side::Sell] {
            if aggressor == Some(side) {
                continue;
            }
            let mut left = qty;
            let mut eaten = 0i64; // others' lots eaten so far, from the front
            let mut prev_ahead = 0i64;
            for o in self.live.iter_mut() {
                if o.code != code || o.side != side || o.price != price || o.remaining == 0 {
                    continue;
                }
                o.traded = o.traded.saturating_add(qty);
                if !o.queue_known {
                    continue;
                }
                // Later orders never have fewer others ahead than earlier ones.
                let ahead = o.ahead.max(prev_ahead);
                prev_ahead = ahead;
                let eat = left.min(ahead - eaten);
                left -= eat;
                eaten += eat;
                o.ahead = ahead - eaten;
                let f = left.min(o.remaining);
                if f > 0 {
                    left -= f;
                    o.remaining -= f;
                    self.wire.fill(&spec, o, f, price, true, now);
                    ended |= o.remaining == 0;
                }
            }
        }
        if ended {
            self.live.retain(|o| o.remaining > 0);
        }
    }
}

/// A resting order against a new snapshot: trade-through by the opposite best, then what the
/// own side teaches about the queue ahead.
fn requeue(o: &mut LiveOrder, book: &L5, spec: &InstrumentSpec, wire: &mut Wire, now: Nanos) {
    let (opp, own) = match o.side {
        Side::Buy => (&book.ask, &book.bid),
        Side::Sell => (&book.bid, &book.ask),
    };
    if first_live(opp).is_some_and(|p| through(o.side, o.price, p)) {
        let q = o.remaining;
        o.remaining = 0;
        wire.fill(spec, o, q, o.price, true, now);
        return;
    }
    let Some(shown) = level_qty(own, o.price, o.side) else {
        o.traded = 0; // beyond the displayed levels: nothing to learn
        return;
    };
    if !o.queue_known {
        // First sight of our price: the back of the level.
        o.ahead = shown;
        o.queue_known = true;
    } else {
        let dropped = o.level - shown - o.traded;
        // Cancels ahead of us, pro rata.
        let gone = pro_rata_cancels_ahead(dropped, o.ahead, o.level);
        o.ahead = (o.ahead - gone).max(0);
        o.ahead = o.ahead.min(shown);
    }
    o.level = shown;
    o.traded = 0;
}

#[cfg(test)]
#[path = "venue_tests.rs"]
mod tests;
