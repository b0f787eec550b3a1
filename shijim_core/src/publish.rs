//! Typed publication: SBE messages into the ring, each given the ring's next seq and counted.
//!
//! The ring itself carries opaque payloads ([`crate::ring`]); every market-data message a shard
//! publishes (admitted trades and books, hold changes, system events, tools' batches) goes
//! through [`MessageWriter::publish`], which keeps [`Published`]: how many of each type, and
//! the newest one's local receive time. The shard's metrics and health probes read that tally
//! (`shijim.metrics`), so ingestion keeps no second count of its own on every event's path.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::ring::{PublishError, RingWriter};
use crate::sbe::{encode, Message, SbeError};

/// The message types by their record names, in template-id order (1: tick .. 4: event), the
/// order [`Published`] counts them in.
pub const TYPE_NAMES: [&str; 4] = ["tick", "bidask", "snapshot", "event"];

/// What a writer has published: counts by message type and the newest local receive time.
///
/// Atomics, so that another thread (the metrics' scrape, the health probes) reads them while
/// the writer publishes, without a lock and without borrowing the writer. One writer updates
/// them (the ring has exactly one), so a plain load and store is an exact count; a reader may
/// see a value one publication old, never a torn one.
#[derive(Debug, Default)]
pub struct Published {
    by_type: [AtomicU64; 4],
    last_local_ts: AtomicI64,
}

impl Published {
    fn count(&self, msg: &Message) {
        let n = &self.by_type[usize::from(msg.template_id() - 1)];
        n.store(n.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        self.last_local_ts.store(msg.local_ts(), Ordering::Relaxed);
    }

    /// Counts indexed as [`TYPE_NAMES`].
    pub fn by_type(&self) -> [u64; 4] {
        std::array::from_fn(|i| self.by_type[i].load(Ordering::Relaxed))
    }

    /// (record name, count) of each type published at least once.
    pub fn counts(&self) -> impl Iterator<Item = (&'static str, u64)> {
        TYPE_NAMES
            .into_iter()
            .zip(self.by_type())
            .filter(|(_, n)| *n > 0)
    }

    /// `local_ts` of the newest message published (0: none yet).
    pub fn last_local_ts(&self) -> i64 {
        self.last_local_ts.load(Ordering::Relaxed)
    }
}

/// A ring writer and its tally, borrowed together for the length of one publication path.
pub struct MessageWriter<'a> {
    ring: &'a mut RingWriter,
    published: &'a Published,
}

impl<'a> MessageWriter<'a> {
    pub fn new(ring: &'a mut RingWriter, published: &'a Published) -> Self {
        MessageWriter { ring, published }
    }

    /// Publish `msg` with the ring's next seq (written into `msg`); returns that seq. Counted
    /// only once it is in the ring: a message that fails to encode is not published.
    #[inline]
    pub fn publish(&mut self, msg: &mut Message) -> Result<u64, PublishError<SbeError>> {
        msg.set_seq(self.ring.next_seq());
        let m = &*msg;
        let seq = self.ring.publish_with(|slot| encode(m, slot))?;
        self.published.count(m);
        Ok(seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::test_ring::TestRing;
    use crate::ring::Start;
    use crate::sbe::{
        BidAsk, Code, EventKind, Price, Reason, SessionState, SystemEvent, Tick, TickType,
        TradingState, LEVELS,
    };

    fn code() -> Code {
        Code::new("TXFL6").unwrap()
    }

    fn tick(local_ts: i64) -> Message {
        Message::Tick(Tick {
            seq: 99,
            exch_ts: 1,
            local_ts,
            code: code(),
            price: Price::from_mantissa(20_000_000_000),
            volume: 1,
            total_volume: 1,
            tick_type: TickType::Buy,
            simtrade: false,
        })
    }

    fn book(local_ts: i64) -> Message {
        Message::BidAsk(BidAsk {
            seq: 0,
            exch_ts: 1,
            local_ts,
            code: code(),
            bid_price: [Price::from_mantissa(0); LEVELS],
            bid_volume: [0; LEVELS],
            ask_price: [Price::from_mantissa(0); LEVELS],
            ask_volume: [0; LEVELS],
            simtrade: false,
        })
    }

    #[test]
    fn each_message_is_counted_by_type_with_the_newest_receive_time() {
        let ring = TestRing::new("publish-count");
        let mut w = ring.writer(64);
        let published = Published::default();
        let mut mw = MessageWriter::new(&mut w, &published);
        let mut t = tick(10);
        assert_eq!(mw.publish(&mut t).unwrap(), 0);
        assert_eq!(t.seq(), 0, "the ring's seq replaces the message's own");
        assert_eq!(mw.publish(&mut book(30)).unwrap(), 1);
        assert_eq!(mw.publish(&mut tick(20)).unwrap(), 2);
        let mut ev = Message::SystemEvent(SystemEvent {
            seq: 0,
            exch_ts: 1,
            local_ts: 40,
            code: code(),
            count: 0,
            kind: EventKind::SessionState,
            session_state: SessionState::Open,
            trading_state: TradingState::None,
            reason: Reason::new("").unwrap(),
        });
        mw.publish(&mut ev).unwrap();
        assert_eq!(published.by_type(), [2, 1, 0, 1]);
        assert_eq!(
            published.last_local_ts(),
            40,
            "the newest published, not the largest"
        );
        let names: Vec<_> = published.counts().collect();
        assert_eq!(names, vec![("tick", 2), ("bidask", 1), ("event", 1)]);
        // What the ring holds is what was counted.
        let mut r = ring.reader(Start::Oldest);
        let mut buf = [0u8; crate::ring::MAX_PAYLOAD];
        let mut n = 0;
        while let crate::ring::Next::Message { .. } = r.try_next(&mut buf) {
            n += 1;
        }
        assert_eq!(n, 4);
    }

    #[test]
    fn another_thread_reads_the_counts_while_the_writer_publishes() {
        let ring = TestRing::new("publish-threads");
        let mut w = ring.writer(1024);
        let published = std::sync::Arc::new(Published::default());
        let reader = std::sync::Arc::clone(&published);
        let seen = std::thread::spawn(move || {
            let mut last = 0;
            while last < 500 {
                let n = reader.by_type()[0];
                assert!(n >= last, "a count never goes back: {n} after {last}");
                last = n;
                std::hint::spin_loop();
            }
            last
        });
        let mut mw = MessageWriter::new(&mut w, &published);
        for i in 0..500 {
            mw.publish(&mut tick(i + 1)).unwrap();
        }
        assert_eq!(seen.join().unwrap(), 500);
        assert_eq!(published.last_local_ts(), 500);
    }

    #[test]
    fn nothing_is_counted_before_a_publication() {
        let p = Published::default();
        assert_eq!(p.counts().count(), 0);
        assert_eq!(p.last_local_ts(), 0);
    }
}
