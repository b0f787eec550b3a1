//! Admission: every market-data input is checked once, here, before it enters the shard's ring.
//!
//! One rule set for every path (docs/feeds.md, "Bad input"): the content of a trade or book
//! (`rules`), its wire form (a price the fixed-point wire cannot carry exactly), then its
//! stream (kind, code): the code is in the universe, the exchange time is within the feed's
//! clock bounds of its receive time, not older than the stream's last admitted input (the
//! watermark), and not an exact repeat of it (same recorded seq, or same content). A dropped
//! input never moves the watermark, so an outlier drops itself only. A stream that drops
//! `hold_after` inputs in a row holds its code: a per-code `trading_state` HALTED event goes
//! into the ring at that place, and ACTIVE when the stream admits again.

mod rules;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};

pub use rules::{
    book_fault, book_message, tick_fault, tick_message, BookIn, Cause, Fault, Field, Head, Kind,
    Side, TickIn, Why, CAUSES,
};

use crate::publish::MessageWriter;
use crate::ring::{PublishError, RingError};
use crate::sbe::{
    self, Code, CodeHashBuilder, EventKind, Message, Reason, SbeError, SessionState, SystemEvent,
    TradingState,
};

/// How far an exchange time may be from its receive time; `None`: no bound. The feed knows
/// its clocks: Shioaji and replay bound the future tightly (and Shioaji the past), the
/// simulator's exchange clock is simulated (no bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockBound {
    pub max_ahead_ns: Option<i64>,
    pub max_behind_ns: Option<i64>,
}

impl ClockBound {
    pub const NONE: ClockBound = ClockBound {
        max_ahead_ns: None,
        max_behind_ns: None,
    };
}

impl Default for ClockBound {
    fn default() -> Self {
        ClockBound {
            max_ahead_ns: Some(2_000_000_000),
            max_behind_ns: None,
        }
    }
}

/// Times are clamped to +-2^62 ns (years 1824..2116) before subtracting.
const CLAMP: i64 = 1 << 62;

/// The input to admit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Input {
    Tick(TickIn),
    Book(BookIn),
    /// A snapshot record: stream rules only (its fields were checked by the record parser).
    Snapshot(Head, sbe::Snapshot),
}

impl Input {
    pub fn kind(&self) -> Kind {
        match self {
            Input::Tick(_) => Kind::Tick,
            Input::Book(_) => Kind::BidAsk,
            Input::Snapshot(..) => Kind::Snapshot,
        }
    }

    pub fn head(&self) -> &Head {
        match self {
            Input::Tick(t) => &t.head,
            Input::Book(b) => &b.head,
            Input::Snapshot(h, _) => h,
        }
    }
}

/// A change of a code's data hold, published into the ring as a `trading_state` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldChange {
    pub code: Code,
    pub held: bool,
    /// At most 32 characters (the SBE reason field).
    pub reason: String,
}

/// What `Admission::admit` did with one input.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Published with this ring seq.
    Published(u64),
    Dropped(Fault),
}

/// The last admitted input of one (kind, code) stream: its exchange time is the watermark, its
/// seq and content (the message without seq and local_ts) catch an exact duplicate.
#[derive(Debug, Clone, Copy)]
struct Mark {
    seq: u64,
    content: Message,
}

/// Per-stream runs of drops and the codes held because of them.
#[derive(Debug, Default)]
struct Holds {
    after: u32,
    /// Drops in a row per stream, only for streams with at least one (empty when all is well).
    runs: HashMap<(Kind, Code), u32, CodeHashBuilder>,
    held: HashMap<Code, String, CodeHashBuilder>,
}

impl Holds {
    fn dropped(&mut self, kind: Kind, code: Code, cause: Cause) -> Option<HoldChange> {
        if !cause.is_data_loss() || code.is_empty() {
            return None;
        }
        let run = self.runs.entry((kind, code)).or_insert(0);
        *run = run.saturating_add(1);
        if *run < self.after || self.held.contains_key(&code) {
            return None;
        }
        let mut reason = format!("data: {}", cause.name());
        reason.truncate(32);
        self.held.insert(code, reason.clone());
        Some(HoldChange {
            code,
            held: true,
            reason,
        })
    }

    fn admitted(&mut self, kind: Kind, code: Code) -> Option<HoldChange> {
        if self.runs.is_empty()
            || self.runs.remove(&(kind, code)).is_none()
            || !self.held.contains_key(&code)
        {
            return None;
        }
        let after = self.after;
        if self
            .runs
            .iter()
            .any(|((_, c), &n)| *c == code && n >= after)
        {
            return None; // another stream of the code is still failing
        }
        self.held.remove(&code);
        Some(HoldChange {
            code,
            held: false,
            reason: "data: good again".into(),
        })
    }
}

/// Why `Admission::new` refused its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadHoldAfter(pub u32);

impl std::fmt::Display for BadHoldAfter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "hold_after: expected >= 1, got {}", self.0)
    }
}

/// The admission state of one shard: universe, clock bounds, watermarks and data holds.
#[derive(Debug)]
pub struct Admission {
    universe: Option<HashSet<Code, CodeHashBuilder>>,
    clock: ClockBound,
    // Keyed by code on every row: the code hash, not SipHash (codes are few and checked).
    marks: HashMap<(Kind, Code), Mark, CodeHashBuilder>,
    holds: Holds,
}

fn ring_only(e: PublishError<SbeError>) -> RingError {
    match e {
        PublishError::Ring(r) => r,
        // Every message admission builds is valid: encoding cannot fail. Say so if it ever does.
        PublishError::Encode(s) => RingError::Foreign {
            path: Default::default(),
            reason: format!("admission built a message the codec refused: {s}"),
        },
    }
}

impl Admission {
    /// `universe`: the shard's codes (None: any code); `hold_after`: drops in a row that hold
    /// a code (>= 1).
    pub fn new(
        universe: Option<Vec<Code>>,
        clock: ClockBound,
        hold_after: u32,
    ) -> Result<Admission, BadHoldAfter> {
        if hold_after < 1 {
            return Err(BadHoldAfter(hold_after));
        }
        Ok(Admission {
            universe: universe.map(|u| u.into_iter().collect()),
            clock,
            marks: HashMap::default(),
            holds: Holds {
                after: hold_after,
                ..Holds::default()
            },
        })
    }

    pub fn set_clock(&mut self, clock: ClockBound) {
        self.clock = clock;
    }

    pub fn clock(&self) -> ClockBound {
        self.clock
    }

    /// Codes held now, with their reasons.
    pub fn held(&self) -> impl Iterator<Item = (&Code, &str)> {
        self.holds.held.iter().map(|(c, r)| (c, r.as_str()))
    }

    pub fn hold_after(&self) -> u32 {
        self.holds.after
    }

    /// Forget every watermark (a new session replayed from the start, e.g. a bench loop).
    pub fn forget_watermarks(&mut self) {
        self.marks.clear();
    }

    /// The universe and clock rules of one input against `now` (its receive time is its own
    /// unless it has none, 0, or claims one after now: nothing is received in the future).
    fn clock_fault(&self, head: &Head, now: i64) -> Option<Fault> {
        if let Some(u) = &self.universe {
            if !u.contains(&head.code) {
                return Some(Fault::new(
                    Cause::UnknownCode,
                    Field::Code,
                    Why::NotInUniverse,
                ));
            }
        }
        let c = self.clock;
        if c.max_ahead_ns.is_none() && c.max_behind_ns.is_none() {
            return None;
        }
        let received = if 0 < head.received && head.received <= now {
            head.received
        } else {
            now
        };
        let ahead =
            head.exch_ts.clamp(-CLAMP, CLAMP) as i128 - received.clamp(-CLAMP, CLAMP) as i128;
        if let Some(limit) = c.max_ahead_ns {
            if ahead > limit as i128 {
                return Some(Fault::new(
                    Cause::FutureTimestamp,
                    Field::ExchTs,
                    Why::Ahead {
                        received,
                        ahead,
                        limit,
                    },
                ));
            }
        }
        if let Some(limit) = c.max_behind_ns {
            if -ahead > limit as i128 {
                return Some(Fault::new(
                    Cause::BadTimestamp,
                    Field::ExchTs,
                    Why::Behind {
                        received,
                        ahead,
                        limit,
                    },
                ));
            }
        }
        None
    }

    /// Against the stream's last admitted input: older (time_backwards), then the same seq
    /// (non-zero: a recorded seq) or the same content back to back (duplicate).
    fn stream_fault(&self, kind: Kind, head: &Head, content: &Message) -> Option<Fault> {
        let last = self.marks.get(&(kind, head.code))?;
        let last_ts = last.content.exch_ts();
        if head.exch_ts < last_ts {
            return Some(Fault::new(
                Cause::TimeBackwards,
                Field::ExchTs,
                Why::Backwards { last: last_ts },
            ));
        }
        if head.seq != 0 && head.seq == last.seq {
            return Some(Fault::new(
                Cause::Duplicate,
                Field::Seq,
                Why::SameSeq(head.seq),
            ));
        }
        if *content == last.content {
            return Some(Fault::new(
                Cause::Duplicate,
                Field::Content,
                Why::SameContent,
            ));
        }
        None
    }

    /// Every rule for one input, changing nothing: its message (seq and local_ts 0) or the
    /// first fault, in the rules' precedence (content, wire form, universe, clock, watermark,
    /// duplicate).
    pub fn check(&self, input: &Input, now: i64) -> Result<Message, Fault> {
        let msg = match input {
            Input::Tick(t) => match tick_fault(t) {
                Some(f) => return Err(f),
                None => tick_message(t)?,
            },
            Input::Book(b) => match book_fault(b) {
                Some(f) => return Err(f),
                None => book_message(b)?,
            },
            Input::Snapshot(_, s) => Message::Snapshot(sbe::Snapshot {
                seq: 0,
                local_ts: 0,
                ..*s
            }),
        };
        let head = input.head();
        if let Some(f) = self.clock_fault(head, now) {
            return Err(f);
        }
        if let Some(f) = self.stream_fault(input.kind(), head, &msg) {
            return Err(f);
        }
        Ok(msg)
    }

    /// Check `input` and publish it with `local_ts` (the stamp the ring carries), or drop it.
    /// A hold change goes into the ring at its place (a release before the input that
    /// releases, a hold after the drop that holds) and is pushed onto `changes`. `now` stamps
    /// hold events and bounds receive times. Errors are the ring's own (closed, exhausted).
    pub fn admit(
        &mut self,
        w: &mut MessageWriter<'_>,
        input: &Input,
        local_ts: i64,
        now: i64,
        changes: &mut Vec<HoldChange>,
    ) -> Result<Verdict, RingError> {
        let kind = input.kind();
        let head = *input.head();
        match self.check(input, now) {
            Ok(mut msg) => {
                if let Some(change) = self.holds.admitted(kind, head.code) {
                    publish_hold(w, &change, now)?;
                    changes.push(change);
                }
                let content = msg;
                set_local_ts(&mut msg, local_ts);
                let seq = w.publish(&mut msg).map_err(ring_only)?;
                self.marks.insert(
                    (kind, head.code),
                    Mark {
                        seq: head.seq,
                        content,
                    },
                );
                Ok(Verdict::Published(seq))
            }
            Err(fault) => {
                self.reject(w, kind, head.code, fault.cause, now, changes)?;
                Ok(Verdict::Dropped(fault))
            }
        }
    }

    /// Count a drop found before admission (an input whose fields could not even be read) in
    /// its stream's run of drops, as `admit` does for its own.
    pub fn reject(
        &mut self,
        w: &mut MessageWriter<'_>,
        kind: Kind,
        code: Code,
        cause: Cause,
        now: i64,
        changes: &mut Vec<HoldChange>,
    ) -> Result<(), RingError> {
        if let Some(change) = self.holds.dropped(kind, code, cause) {
            publish_hold(w, &change, now)?;
            changes.push(change);
        }
        Ok(())
    }
}

fn set_local_ts(m: &mut Message, local_ts: i64) {
    match m {
        Message::Tick(t) => t.local_ts = local_ts,
        Message::BidAsk(b) => b.local_ts = local_ts,
        Message::Snapshot(s) => s.local_ts = local_ts,
        Message::SystemEvent(e) => e.local_ts = local_ts,
    }
}

fn publish_hold(
    w: &mut MessageWriter<'_>,
    change: &HoldChange,
    now: i64,
) -> Result<u64, RingError> {
    let mut msg = Message::SystemEvent(SystemEvent {
        seq: 0,
        exch_ts: now,
        local_ts: now,
        code: change.code,
        count: 0,
        kind: EventKind::TradingState,
        session_state: SessionState::None,
        trading_state: if change.held {
            TradingState::Halted
        } else {
            TradingState::Active
        },
        // Cause names are printable ASCII and the reason is cut to 32 bytes.
        reason: Reason::new(&change.reason).unwrap_or_default(),
    });
    w.publish(&mut msg).map_err(ring_only)
}

/// Drops of a batch per (kind, cause): how many, and the first one (row index in its kind's
/// array, the fault, and the input's code and exchange time for the message).
#[derive(Debug, Default)]
pub struct Tally {
    entries: Vec<TallyEntry>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TallyEntry {
    pub kind: Kind,
    pub count: u64,
    pub row: usize,
    pub fault: Fault,
    pub code: Code,
    pub exch_ts: i64,
}

impl Tally {
    pub fn add(&mut self, kind: Kind, row: usize, fault: Fault, head: &Head) {
        // A handful of (kind, cause) pairs at most: a linear scan beats a map.
        if let Some(e) = self
            .entries
            .iter_mut()
            .find(|e| e.kind == kind && e.fault.cause == fault.cause)
        {
            e.count += 1;
            return;
        }
        self.entries.push(TallyEntry {
            kind,
            count: 1,
            row,
            fault,
            code: head.code,
            exch_ts: head.exch_ts,
        });
    }

    pub fn entries(&self) -> &[TallyEntry] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
