//! The engine driver: one path per event, from an admitted ring row (or an SBE file frame) to
//! a due decision. For each message, in this order ([`Engine::on_message`]):
//!
//! 1. the engine clock moves to the message's time (`local_ts`, or `exch_ts` under
//!    [`ClockSource::Exchange`]; never backwards) and the venue processes every order arrival
//!    and acknowledgement due by then (`Venue::advance_to`);
//! 2. the code's book and signals are updated ([`super::book`]), or the row is dropped with a
//!    counted cause;
//! 3. the venue sees the applied book or trade (queue positions, trade-through, matching);
//! 4. the account marks the code at the new mid (positions, markouts);
//! 5. the decision policy ([`super::policy`]) says whether the strategy must decide now.
//!
//! **One clock.** Engine time is the running maximum of the messages' `local_ts` (the local
//! receive stamp, [`ClockSource::Local`], the default): the recorded receive time in replay,
//! this host's in live. [`ClockSource::Exchange`] runs it on `exch_ts` instead: the simulator
//! uses it so that a seed fully determines decisions, orders and fills at any pace, while
//! `local_ts` stays the wall-clock receive stamp that tick-to-order is measured from. The
//! venue's latency legs, the policy's intervals and the account's markout horizons all run on
//! it; a stamp below the clock does not move it back (counted: `clock_backwards`). Orders
//! submitted after a due event enter the venue at that engine time.
//!
//! **Gaps.** A lapped reader or a writer restart makes every book forget (the next book starts
//! a fresh MLOFI sequence: OFI never compares across a gap); a session open/close, feed gap or
//! reconnect event does the same for its code (all codes when it has none). Every system event
//! is returned as due (`DueKind::System`), whatever the policy: session closes and trading-state
//! changes are the runner's to act on.
//!
//! **Execution events.** Every venue event is kept for the owner ([`Engine::drain_events`]).
//! The driver does not book fills: the risk gateway applies every fill, paper (from these
//! events) and live (from the broker) alike, through [`Engine::apply_fill`], so there is one
//! path for fills into the account. A venue event reaches the strategy at its own time (`at`,
//! after the ack leg), before any market event stamped later or at the same nanosecond: when
//! a message read from the feed is not before the venue's next activity, the clock first steps
//! to that activity, and if it produced events they are returned as `DueKind::Execution` with
//! the message held back, applied by the next read ([`Engine::next_due`]). So the strategy
//! never decides on a market event without the fills and acks that reached it earlier, and
//! whatever it does on them (a re-quote after a fill) is sent at the event's time, not the
//! next message's. Between messages, [`Engine::release_venue_events`] does the same for a
//! clock the feed vouches for (the simulator's published time): a live loop hears of its fills
//! while the market is quiet instead of at the next market event. The engine returns
//! `DueKind::Execution` too when a message produced venue events but no market decision.

use std::fmt;
use std::path::Path;

use super::account::{Account, AccountError};
use super::book::{BookTable, CodeBook, DropCause, DropCounts, Flags};
use super::codes::{CodeError, CodeRegistry};
use super::fees::InstrumentSpec;
use super::policy::{DecisionPolicy, DueClock};
use super::signals::{SignalConfig, Signals};
use super::standby::Standby;
use super::types::{CodeId, Nanos, OrderId, Price};
use super::venue::{OrderRequest, Venue, VenueConfig, VenueError, VenueEvent};
use crate::ring::{Next, RingReader, MAX_PAYLOAD};
use crate::sbe::{
    self, decode_frame, frame_len, EventKind, Message, SbeError, SessionState, SystemEvent,
};

/// Why a decision is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum DueKind {
    /// A book of the code was applied and the policy says decide.
    Book = 1,
    /// A real trade of the code was applied and the policy says decide.
    Trade = 2,
    /// A system event (session state, trading state, feed gap, reconnect): always due.
    System = 3,
    /// Venue events (accepts, fills, cancels) became available and nothing else was due.
    Execution = 4,
}

/// A decision the strategy must take now, stamped with the triggering event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// The event's instrument; `None` for shard-wide system events and execution dues.
    pub code: Option<CodeId>,
    pub kind: DueKind,
    /// What the event changed (book/touch/trade bits; empty for system and execution).
    pub flags: Flags,
    pub seq: u64,
    pub exch_ts: Nanos,
    /// The event's local receive stamp: tick-to-order starts here.
    pub local_ts: Nanos,
    /// The event itself for `DueKind::System`.
    pub system: Option<SystemEvent>,
}

/// What one [`Engine::next_due`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NextDue {
    /// The due decision that ended the call, if any.
    pub due: Option<Due>,
    /// Messages decoded and processed (including dropped rows).
    pub messages: usize,
    /// Messages lost before or among these (lapped reader, replaced writer).
    pub lost: u64,
    /// Writer restarts seen.
    pub restarts: u64,
    /// Slots or frames that did not hold a decodable message (corrupt slot, bad SBE).
    pub bad: u64,
    /// True when the call ended because no more data was available (ring empty, frames
    /// exhausted); false with no `due` means the `max_messages` bound was reached.
    pub idle: bool,
}

/// Everything the engine counted since it was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EngineCounters {
    pub messages: u64,
    pub books: u64,
    pub trades: u64,
    pub snapshots: u64,
    pub system_events: u64,
    pub dropped: DropCounts,
    pub lost: u64,
    pub restarts: u64,
    /// Undecodable ring slots or file frames.
    pub bad: u64,
    /// Times every book was reset (gaps, restarts, shard-wide feed events).
    pub resets: u64,
    /// Messages whose local_ts was below the engine clock.
    pub clock_backwards: u64,
    /// Decisions returned, by kind (index `DueKind as usize - 1`).
    pub due: [u64; 4],
    /// Decisions the policy made due that a strategy's standby answered ("no action") in the
    /// engine instead of a call ([`super::standby`]): decisions taken = `due` book/trade + this.
    pub standby: u64,
}

/// A bad engine setting or instrument, naming it.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineError {
    Code(CodeError),
    /// An instrument setting out of range.
    Instrument {
        code: String,
        detail: String,
    },
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::Code(e) => write!(f, "{e}"),
            EngineError::Instrument { code, detail } => write!(f, "instrument {code:?}: {detail}"),
        }
    }
}

impl std::error::Error for EngineError {}

impl From<CodeError> for EngineError {
    fn from(e: CodeError) -> Self {
        EngineError::Code(e)
    }
}

/// Which stamp of a message drives engine time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClockSource {
    /// `local_ts`, the local receive stamp (replay, live).
    #[default]
    Local,
    /// `exch_ts`, the exchange stamp (the simulator: decisions and fills independent of pace).
    Exchange,
}

impl ClockSource {
    pub fn parse(text: &str) -> Result<ClockSource, String> {
        match text {
            "local" => Ok(ClockSource::Local),
            "exchange" => Ok(ClockSource::Exchange),
            other => Err(format!("{other:?}: expected \"local\" or \"exchange\"")),
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            ClockSource::Local => "local",
            ClockSource::Exchange => "exchange",
        }
    }
}

/// The engine's settings besides its instruments.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub signals: SignalConfig,
    pub policy: DecisionPolicy,
    pub venue: VenueConfig,
    pub clock: ClockSource,
}

/// SOFH-framed SBE messages (the `shijim.tools.sbe` file format) read as a source of events
/// for [`Engine::next_due_from_frames`], resumable across calls.
#[derive(Debug, Clone, Default)]
pub struct FrameSource {
    data: Vec<u8>,
    pos: usize,
    /// A broken frame header: the stream cannot be resynchronised (no trustworthy length).
    error: Option<SbeError>,
}

impl FrameSource {
    pub fn new(data: Vec<u8>) -> FrameSource {
        FrameSource {
            data,
            pos: 0,
            error: None,
        }
    }

    pub fn open(path: &Path) -> std::io::Result<FrameSource> {
        std::fs::read(path).map(FrameSource::new)
    }

    /// Byte offset of the next frame.
    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Nothing more will come: the end, or a broken frame header.
    pub fn done(&self) -> bool {
        self.error.is_some() || self.pos >= self.data.len()
    }

    /// The frame-header error that stopped the source (offset from the start of the data).
    pub fn error(&self) -> Option<&SbeError> {
        self.error.as_ref()
    }

    /// The next frame: `None` when done, `Some(Err)` for a frame that does not decode (skipped;
    /// after a header error the source stops).
    fn next_message(&mut self) -> Option<Result<Message, SbeError>> {
        if self.done() {
            return None;
        }
        let at = self.pos;
        let rest = self.data.get(at..).unwrap_or_default();
        match frame_len(rest) {
            Err(e) => {
                let e = e.shifted(at);
                self.error = Some(e.clone());
                Some(Err(e))
            }
            Ok(total) => {
                self.pos = at + total;
                Some(
                    decode_frame(rest)
                        .map(|(m, _)| m)
                        .map_err(|e| e.shifted(at)),
                )
            }
        }
    }
}

/// The per-event engine of one shard: books and signals per code, the decision policy, the
/// paper venue and the account.
pub struct Engine {
    codes: CodeRegistry,
    books: BookTable,
    clocks: Vec<DueClock>,
    /// Per code: the strategy's standby, if any ([`super::standby`]).
    standby: Vec<Option<Standby>>,
    policy: DecisionPolicy,
    clock: ClockSource,
    venue: Venue,
    account: Account,
    now: Nanos,
    counters: EngineCounters,
    buf: [u8; MAX_PAYLOAD],
    /// Drained from the venue, not yet taken by the strategy.
    pending: Vec<VenueEvent>,
    scratch: Vec<VenueEvent>,
    /// A message read but not yet applied: venue events due before it went out first.
    held: Option<Message>,
}

impl Engine {
    /// An engine for `instruments` (code text and venue spec; ids in this order).
    pub fn new(
        cfg: EngineConfig,
        instruments: &[(&str, InstrumentSpec)],
    ) -> Result<Engine, EngineError> {
        let mut codes = CodeRegistry::new();
        let mut venue = Venue::new(cfg.venue);
        let mut account = Account::new();
        for &(code, spec) in instruments {
            register(&mut codes, &mut venue, &mut account, code, spec)?;
        }
        let n = codes.len();
        Ok(Engine {
            codes,
            books: BookTable::new(n, cfg.signals),
            clocks: vec![DueClock::default(); n],
            standby: vec![None; n],
            policy: cfg.policy,
            clock: cfg.clock,
            venue,
            account,
            now: Nanos::MIN,
            counters: EngineCounters::default(),
            buf: [0; MAX_PAYLOAD],
            pending: Vec::new(),
            scratch: Vec::new(),
            held: None,
        })
    }

    pub fn codes(&self) -> &CodeRegistry {
        &self.codes
    }

    pub fn policy(&self) -> DecisionPolicy {
        self.policy
    }

    pub fn clock_source(&self) -> ClockSource {
        self.clock
    }

    /// Adds a code after start (a fill or a broker position in a code the shard was not
    /// configured with: real money is tracked, never dropped). The venue and the account know
    /// it from now on; it has no book (market data of a code outside the shard's instruments
    /// stays `unknown_code`), so its position is not marked. An existing code keeps its id and
    /// its spec.
    pub fn adopt_code(&mut self, code: &str, spec: InstrumentSpec) -> Result<CodeId, EngineError> {
        if let Some(id) = self.codes.id_of_str(code) {
            return Ok(id);
        }
        register(
            &mut self.codes,
            &mut self.venue,
            &mut self.account,
            code,
            spec,
        )
    }

    /// The code's reference price for risk checks: the mid when it has a book, else the last
    /// real trade; `None` when neither is known.
    pub fn reference(&self, id: CodeId) -> Option<f64> {
        let b = self.books.get(id)?;
        b.mid()
            .or_else(|| b.signals().last_trade.map(|t| t.price.to_f64()))
    }

    /// Engine time: the newest `local_ts` (or `exch_ts`, see [`ClockSource`]) seen
    /// (`Nanos::MIN` before the first message).
    pub fn now(&self) -> Nanos {
        self.now
    }

    pub fn counters(&self) -> &EngineCounters {
        &self.counters
    }

    pub fn book(&self, id: CodeId) -> Option<&CodeBook> {
        self.books.get(id)
    }

    /// The code's book with its signals; the since-last-decision flows then restart from zero.
    pub fn take_signals(&mut self, id: CodeId) -> Option<(&CodeBook, Signals)> {
        let b = self.books.get_mut(id)?;
        let s = b.take_signals();
        Some((&*b, s))
    }

    pub fn venue(&self) -> &Venue {
        &self.venue
    }

    pub fn account(&self) -> &Account {
        &self.account
    }

    /// Books one fill (paper, from a `Filled` venue event, or live, from the broker) in the
    /// account: the one path for fills. `at` is when it executed (markouts start there).
    pub fn apply_fill(
        &mut self,
        code: CodeId,
        side: super::types::Side,
        price: Price,
        qty: i64,
        fee: f64,
        at: Nanos,
    ) -> Result<(), AccountError> {
        self.wake_all(); // a position changed: no standby still knows it
        self.account.apply_fill(code, side, price, qty, fee, at)
    }

    /// Reconciliation from a broker: the code's position becomes `net` at `avg_price`.
    pub fn set_position(
        &mut self,
        code: CodeId,
        net: i64,
        avg_price: Price,
    ) -> Result<(), AccountError> {
        self.wake_all();
        self.account.set_position(code, net, avg_price)
    }

    /// Moves engine time forward to `ts` without a market event (never backwards) and lets the
    /// venue process what is due by then: at shutdown, when the feed has stopped, in-flight
    /// cancels still arrive after their latency instead of waiting for a next event forever.
    /// Returns the engine time and whether venue events became pending.
    pub fn advance_clock(&mut self, ts: Nanos) -> (Nanos, bool) {
        if ts > self.now {
            self.now = ts;
        }
        self.venue.advance_to(self.now);
        let news = self.collect_venue_events();
        (self.now, news)
    }

    /// Steps engine time to the venue's next activity (an order arriving, an event reaching
    /// the strategy) while it is at or before `until`, one time at a time, and stops at the
    /// first that produced venue events: true, with the clock at their time. False when nothing
    /// is due by `until` (the clock then stays where the last activity left it). Each step
    /// takes one request off the venue's way in or one event off its way out, so the loop is
    /// bounded by what is in flight.
    pub fn release_venue_events(&mut self, until: Nanos) -> bool {
        while let Some(next) = self.venue.next_due() {
            if next > until {
                break;
            }
            let to = next.max(self.now);
            self.now = to;
            self.venue.advance_to(to);
            if self.collect_venue_events() {
                return true;
            }
        }
        false
    }

    /// The strategy stands by on `id` (see [`super::standby`]) until an event ends it. Refused
    /// (false) for an unknown code and while venue events wait to be taken: the strategy has
    /// not seen them, so its "no action" cannot account for them.
    pub fn stand_by(&mut self, id: CodeId, standby: Standby) -> bool {
        if !self.pending.is_empty() {
            return false;
        }
        match self.standby.get_mut(id as usize) {
            Some(slot) => {
                *slot = Some(standby);
                true
            }
            None => false,
        }
    }

    /// Ends every standby: the next due event of each code reaches the strategy.
    pub fn wake_all(&mut self) {
        for s in &mut self.standby {
            *s = None;
        }
    }

    /// The code's standby, if one holds.
    pub fn standby(&self, id: CodeId) -> Option<Standby> {
        self.standby.get(id as usize).copied().flatten()
    }

    /// Is a due decision of `id` at `exch_ts` answered by its standby? Ends the standby when not.
    #[inline]
    fn answered_by_standby(&mut self, id: CodeId, exch_ts: Nanos) -> bool {
        let Some(slot) = self.standby.get_mut(id as usize) else {
            return false;
        };
        let Some(s) = slot else {
            return false;
        };
        let (bid, ask, micro) = match self.books.get(id) {
            Some(b) => match b.touch() {
                Some((bid, ask)) => (bid.to_f64(), ask.to_f64(), b.signals().microprice),
                None => (f64::NAN, f64::NAN, f64::NAN),
            },
            None => (f64::NAN, f64::NAN, f64::NAN),
        };
        if s.holds(exch_ts, bid, ask, micro) {
            self.counters.standby += 1;
            true
        } else {
            *slot = None;
            false
        }
    }

    /// New trading day: realised PnL and fees restart; positions carry over.
    pub fn reset_day(&mut self) {
        self.account.reset_day();
    }

    #[inline]
    fn advance(&mut self, ts: Nanos) -> Nanos {
        if ts > self.now {
            self.now = ts;
        } else if ts < self.now {
            self.counters.clock_backwards += 1;
        }
        self.venue.advance_to(self.now);
        self.now
    }

    /// Moves venue events into `pending`; true if any arrived. Fills are not booked here: the
    /// owner books them through [`Engine::apply_fill`] (one path for paper and live fills).
    #[inline]
    fn collect_venue_events(&mut self) -> bool {
        self.venue.drain_events(&mut self.scratch);
        if self.scratch.is_empty() {
            return false;
        }
        self.pending.append(&mut self.scratch);
        // Positions or working orders changed: no standby can still be known to hold.
        self.wake_all();
        true
    }

    #[inline]
    fn count_due(&mut self, due: Due) -> Option<Due> {
        self.counters.due[due.kind as usize - 1] += 1;
        Some(due)
    }

    /// The execution due when the venue produced events and nothing else is due.
    #[inline]
    fn execution_due(&mut self, new_events: bool, msg: &Message) -> Option<Due> {
        if !new_events {
            return None;
        }
        let (seq, exch_ts, local_ts) = common(msg);
        self.count_due(Due {
            code: None,
            kind: DueKind::Execution,
            flags: Flags::NONE,
            seq,
            exch_ts,
            local_ts,
            system: None,
        })
    }

    /// The message's time on the engine clock.
    #[inline]
    fn time_of(&self, msg: &Message) -> Nanos {
        let (_, exch_ts, local_ts) = common(msg);
        match self.clock {
            ClockSource::Local => local_ts,
            ClockSource::Exchange => exch_ts,
        }
    }

    /// A message read from the feed: the venue's events due by its time go out first (the
    /// message is held and applied at the next read, [`Engine::resume`]); otherwise it is
    /// applied ([`Engine::on_message`]).
    #[inline]
    fn offer(&mut self, msg: Message) -> Option<Due> {
        if self.release_venue_events(self.time_of(&msg)) {
            self.held = Some(msg);
            return self.execution_due(true, &msg);
        }
        self.on_message(&msg)
    }

    /// The held message, if any, offered again (more venue events may be due before it).
    #[inline]
    fn resume(&mut self) -> Option<Due> {
        let msg = self.held.take()?;
        self.offer(msg)
    }

    /// Applies one admitted message (see the module docs for the order of the steps) and says
    /// whether a decision is due.
    pub fn on_message(&mut self, msg: &Message) -> Option<Due> {
        self.counters.messages += 1;
        let (seq, exch_ts, local_ts) = common(msg);
        let now = self.advance(self.time_of(msg));
        let market = match msg {
            Message::BidAsk(m) => {
                self.counters.books += 1;
                match self.codes.id(&m.code) {
                    None => Err(DropCause::UnknownCode),
                    Some(id) => match self.books.apply_bidask(id, m) {
                        Some(Ok(flags)) => {
                            if let Some(b) = self.books.get(id) {
                                if let (Some(book), Some(mid)) = (b.book(), b.mid()) {
                                    self.venue.on_book(now, id, book);
                                    // A refused mark is counted by the account.
                                    let _ = self.account.on_mid(id, mid, now);
                                }
                            }
                            Ok((id, flags, DueKind::Book))
                        }
                        Some(Err(cause)) => Err(cause),
                        None => Err(DropCause::UnknownCode),
                    },
                }
            }
            Message::Tick(m) => {
                self.counters.trades += 1;
                match self.codes.id(&m.code) {
                    None => Err(DropCause::UnknownCode),
                    Some(id) => match self.books.get_mut(id).map(|b| b.apply_tick(m)) {
                        Some(Ok((flags, aggressor))) => {
                            self.venue.on_trade(now, id, m.price, m.volume, aggressor);
                            Ok((id, flags, DueKind::Trade))
                        }
                        Some(Err(cause)) => Err(cause),
                        None => Err(DropCause::UnknownCode),
                    },
                }
            }
            Message::Snapshot(_) => {
                // Informational (start-of-day summaries): not a book the engine can use.
                self.counters.snapshots += 1;
                let new = self.collect_venue_events();
                return self.execution_due(new, msg);
            }
            Message::SystemEvent(ev) => {
                self.counters.system_events += 1;
                let new = self.collect_venue_events();
                return self.on_system(ev, new);
            }
        };
        let new_events = self.collect_venue_events();
        match market {
            Ok((id, flags, kind)) => {
                let has_book = self.books.get(id).is_some_and(CodeBook::has_book);
                let due = has_book
                    && self
                        .clocks
                        .get_mut(id as usize)
                        .is_some_and(|c| self.policy.due(c, flags, now));
                if due && !self.answered_by_standby(id, exch_ts) {
                    return self.count_due(Due {
                        code: Some(id),
                        kind,
                        flags,
                        seq,
                        exch_ts,
                        local_ts,
                        system: None,
                    });
                }
                self.execution_due(new_events, msg)
            }
            Err(cause) => {
                self.counters.dropped.add(cause);
                self.execution_due(new_events, msg)
            }
        }
    }

    fn on_system(&mut self, ev: &SystemEvent, new_events: bool) -> Option<Due> {
        // The runner acts on every system event (holds, closes): decide afresh afterwards.
        self.wake_all();
        let code = if ev.code.is_empty() {
            None
        } else {
            match self.codes.id(&ev.code) {
                Some(id) => Some(id),
                None => {
                    self.counters.dropped.add(DropCause::UnknownCode);
                    let msg = Message::SystemEvent(*ev);
                    return self.execution_due(new_events, &msg);
                }
            }
        };
        let breaks_continuity = match ev.kind {
            EventKind::SessionState => {
                matches!(ev.session_state, SessionState::Open | SessionState::Closed)
            }
            EventKind::FeedGap | EventKind::Reconnect => true,
            EventKind::TradingState => false,
        };
        if breaks_continuity {
            match code.and_then(|id| self.books.get_mut(id)) {
                Some(b) => b.forget(),
                None => {
                    self.books.forget_all();
                    self.counters.resets += 1;
                }
            }
        }
        self.count_due(Due {
            code,
            kind: DueKind::System,
            flags: Flags::NONE,
            seq: ev.seq,
            exch_ts: ev.exch_ts,
            local_ts: ev.local_ts,
            system: Some(*ev),
        })
    }

    /// Continuity broke for the whole feed (lapped reader, writer restart).
    fn gap(&mut self) {
        self.wake_all();
        self.books.forget_all();
        self.counters.resets += 1;
    }

    /// Reads and applies ring messages until one makes a decision due, no more are available,
    /// or `max_messages` reader steps were taken (each message, loss, restart or bad slot is a
    /// step). Never blocks.
    pub fn next_due(&mut self, reader: &mut RingReader, max_messages: usize) -> NextDue {
        let mut out = NextDue::default();
        if let Some(d) = self.resume() {
            out.due = Some(d);
            return out;
        }
        let mut steps = 0;
        while steps < max_messages {
            steps += 1;
            match reader.try_next(&mut self.buf) {
                Next::Message { len, .. } => {
                    let decoded = match self.buf.get(..len) {
                        Some(bytes) => sbe::decode(bytes).map(|(m, _)| m).ok(),
                        None => None,
                    };
                    match decoded {
                        Some(msg) => {
                            out.messages += 1;
                            if let Some(d) = self.offer(msg) {
                                out.due = Some(d);
                                return out;
                            }
                        }
                        None => {
                            out.bad += 1;
                            self.counters.bad += 1;
                        }
                    }
                }
                Next::Empty => {
                    out.idle = true;
                    return out;
                }
                Next::Lapped { lost } => {
                    out.lost += lost;
                    self.counters.lost += lost;
                    self.gap();
                }
                Next::Restarted { lost, .. } => {
                    out.lost += lost;
                    out.restarts += 1;
                    self.counters.lost += lost;
                    self.counters.restarts += 1;
                    self.gap();
                }
                Next::Corrupt { .. } => {
                    out.bad += 1;
                    self.counters.bad += 1;
                }
            }
        }
        out
    }

    /// [`Engine::next_due`] over SBE file frames: the same `on_message` per event. A frame that
    /// does not decode is skipped and counted; a broken frame header ends the source
    /// ([`FrameSource::error`]).
    pub fn next_due_from_frames(&mut self, src: &mut FrameSource, max_messages: usize) -> NextDue {
        let mut out = NextDue::default();
        if let Some(d) = self.resume() {
            out.due = Some(d);
            return out;
        }
        let mut steps = 0;
        while steps < max_messages {
            steps += 1;
            match src.next_message() {
                None => {
                    out.idle = true;
                    return out;
                }
                Some(Ok(msg)) => {
                    out.messages += 1;
                    if let Some(d) = self.offer(msg) {
                        out.due = Some(d);
                        return out;
                    }
                }
                Some(Err(_)) => {
                    out.bad += 1;
                    self.counters.bad += 1;
                }
            }
        }
        out
    }

    // -- orders (forwarded to the venue at engine time) ----------------------------------------

    /// Submits an order at engine time; arrivals due by now (zero latency) happen at once.
    pub fn submit(&mut self, req: OrderRequest) -> Result<OrderId, VenueError> {
        let id = self.venue.submit(self.now, req)?;
        self.venue.advance_to(self.now);
        self.collect_venue_events();
        Ok(id)
    }

    pub fn cancel(&mut self, id: OrderId) -> Result<(), VenueError> {
        self.venue.cancel(self.now, id)?;
        self.venue.advance_to(self.now);
        self.collect_venue_events();
        Ok(())
    }

    pub fn amend(
        &mut self,
        id: OrderId,
        price: Option<Price>,
        qty: Option<i64>,
    ) -> Result<(), VenueError> {
        self.venue.amend(self.now, id, price, qty)?;
        self.venue.advance_to(self.now);
        self.collect_venue_events();
        Ok(())
    }

    /// Venue events (accepts, rejects, fills, cancels) not yet taken, in order, into `out`.
    pub fn drain_events(&mut self, out: &mut Vec<VenueEvent>) {
        out.append(&mut self.pending);
    }

    pub fn pending_events(&self) -> usize {
        self.pending.len()
    }
}

/// Adds one instrument to the registry, the venue and the account.
fn register(
    codes: &mut CodeRegistry,
    venue: &mut Venue,
    account: &mut Account,
    code: &str,
    spec: InstrumentSpec,
) -> Result<CodeId, EngineError> {
    let bad = |detail: String| EngineError::Instrument {
        code: code.to_string(),
        detail,
    };
    if !(spec.multiplier.is_finite() && spec.multiplier > 0.0) {
        return Err(bad(format!(
            "multiplier must be finite and > 0, got {}",
            spec.multiplier
        )));
    }
    // Checked before the registry takes the code, so that a refusal leaves nothing half-added.
    if codes.len() >= super::venue::MAX_CODES {
        return Err(bad(format!(
            "at most {} instruments",
            super::venue::MAX_CODES
        )));
    }
    let id = codes.add_str(code)?;
    venue
        .add_instrument(id, spec)
        .map_err(|e| bad(e.to_string()))?;
    account
        .add_instrument(id, spec.multiplier)
        .map_err(|e| bad(e.to_string()))?;
    Ok(id)
}

#[inline]
fn common(msg: &Message) -> (u64, Nanos, Nanos) {
    match msg {
        Message::Tick(m) => (m.seq, m.exch_ts, m.local_ts),
        Message::BidAsk(m) => (m.seq, m.exch_ts, m.local_ts),
        Message::Snapshot(m) => (m.seq, m.exch_ts, m.local_ts),
        Message::SystemEvent(m) => (m.seq, m.exch_ts, m.local_ts),
    }
}

#[cfg(test)]
#[path = "driver_tests.rs"]
mod tests;
