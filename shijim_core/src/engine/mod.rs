//! The per-event engine: per-code L5 books and their incremental signals, the paper venue's
//! matching with its latency model and fees, and position/PnL marks. One path per event: ring
//! rows in (already validated once at ingestion), due decisions out (an explicit decision
//! policy); Python keeps the decisions (strategies, risk) and calls this through thin bindings.

pub mod account;
pub mod book;
pub mod codes;
pub mod driver;
pub mod fees;
pub mod latency;
pub mod policy;
pub mod queue;
pub mod signals;
pub mod standby;
#[cfg(test)]
pub(crate) mod test_books;
pub mod types;
pub mod venue;
