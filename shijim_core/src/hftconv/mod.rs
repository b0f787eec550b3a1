//! Shioaji raw records (trades and five-level books) to hftbacktest event rows
//! (`hftbacktest.types.event_dtype`), the kernel of `python -m shijim.tools.hft_converter`.
//!
//! Input is read by the crate's own codecs (`sbe::jsonl::parse_line` for JSONL lines,
//! `sbe::decode_frame` for SBE files); a line or frame they leave alone is judged by the Python
//! reference reader, which hands valid records back through `Converter::push`. Records of any
//! number of files and codes are collected first, then each code is converted in exchange-time
//! order (docs/backtest.md, "Converter", states every rule):
//!
//! - the first book with a level becomes, per side, a `DEPTH_CLEAR` down to its farthest level
//!   and one `DEPTH_SNAPSHOT` row per level; every later book becomes the per-level changes from
//!   the book before (`book::SideBook`): qty 0 for a level gone inside the visible window, the
//!   new quantity for a level new or changed; levels beyond the window keep their last quantity;
//! - trades become `TRADE` rows, BUY for tick_type 1, SELL for 2, no side flag for 0 (unknown:
//!   hftbacktest's exchange fills nothing on them, the strategy still sees the trade);
//! - at equal exchange time the trade comes before the depth change;
//! - trial-match records, malformed books, crossed books, non-positive trades, duplicates and
//!   records with a local clock far behind the exchange's are dropped and counted by cause;
//! - `local_ts` is shifted (one amount for all) so that every row has `local_ts > exch_ts`, as
//!   hftbacktest's `correct_local_timestamp` does, and raised where needed to keep local order.
//!
//! No input-dependent path panics: bad records are counted, broken invariants are `Err`.

mod book;
mod convert;
mod lines;
mod row;
mod workers;

pub use book::{Level, SideBook, SideChange};
pub use convert::{
    Cause, CodeOutput, ConvertError, Converter, Dropped, LinesRead, Options, Output, Place,
    Skipped, Stats,
};
pub use row::{
    check_rows, HftRow, BUY_EVENT, DEPTH_CLEAR_EVENT, DEPTH_EVENT, DEPTH_SNAPSHOT_EVENT,
    EXCH_EVENT, LOCAL_EVENT, SELL_EVENT, TRADE_EVENT,
};

#[cfg(test)]
mod tests;
