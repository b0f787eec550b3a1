//! Thin PyO3 bindings of `crate::ring` with the typed SBE layer: Python values -> `sbe::Message`
//! -> encoded straight into a ring slot; slots -> numpy structured arrays built in Rust (one
//! array per message type per batch, no Python object per message). Layout, ordering and loss
//! accounting live in the plain Rust ring.

use std::mem::{offset_of, size_of};
use std::sync::Arc;

use numpy::{Element, PyArray1, PyArrayDescr, PyArrayMethods};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList};

use super::sbe::{message_to_record, record_to_message};
use crate::publish::{MessageWriter, Published};
use crate::ring::{
    self, Next, PublishError, RingError as CoreError, RingReader as CoreReader,
    RingWriter as CoreWriter, Start, WriterState, MAX_PAYLOAD,
};
use crate::sbe::{
    self, BidAsk, Code, EventKind, Message, Price, Reason, SbeError, SessionState, SystemEvent,
    Tick, TickType, TradingState, LEVELS, PRICE_SCALE, SBE_LE_ENCODING_TYPE, SOFH_LEN,
};

create_exception!(
    _shijim_core,
    RingError,
    PyException,
    "A ring could not be opened or used; the message names the ring file and the field."
);
create_exception!(
    _shijim_core,
    RingWriterExistsError,
    RingError,
    "Another live process already writes this ring (one writer per ring)."
);

fn ring_err(e: CoreError) -> PyErr {
    match e {
        CoreError::WriterExists { .. } => RingWriterExistsError::new_err(e.to_string()),
        CoreError::BadName { .. } | CoreError::BadSlotCount { .. } => {
            PyValueError::new_err(e.to_string())
        }
        other => RingError::new_err(other.to_string()),
    }
}

fn publish_err(e: PublishError<SbeError>) -> PyErr {
    match e {
        PublishError::Ring(r) => ring_err(r),
        PublishError::Encode(s) => PyValueError::new_err(format!("cannot encode message: {s}")),
    }
}

// ---------------------------------------------------------------------------------------------
// numpy rows. `#[repr(C)]` structs whose dtypes are built from `offset_of!`, so the two can
// never disagree. Booleans are `u8` in Rust: a numpy bool byte other than 0/1 must not be UB.

#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct TickRow {
    pub seq: u64,
    pub exch_ts: i64,
    pub local_ts: i64,
    pub code: [u8; 16],
    pub price: f64,
    pub volume: i64,
    pub total_volume: i64,
    pub tick_type: u8,
    pub simtrade: u8,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct BidAskRow {
    pub seq: u64,
    pub exch_ts: i64,
    pub local_ts: i64,
    pub code: [u8; 16],
    pub bid_px: [f64; LEVELS],
    pub bid_qty: [i64; LEVELS],
    pub ask_px: [f64; LEVELS],
    pub ask_qty: [i64; LEVELS],
    pub simtrade: u8,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct SnapshotRow {
    pub seq: u64,
    pub exch_ts: i64,
    pub local_ts: i64,
    pub code: [u8; 16],
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: i64,
    pub total_volume: i64,
    pub bid_px: f64,
    pub bid_qty: i64,
    pub ask_px: f64,
    pub ask_qty: i64,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct EventRow {
    pub seq: u64,
    pub exch_ts: i64,
    pub local_ts: i64,
    pub code: [u8; 16],
    pub count: i64,
    pub event: u8,
    pub session_state: u8,
    pub trading_state: u8,
    pub reason: [u8; 32],
}

/// (field name, numpy format, byte offset) lists, one per row type.
type Fields = &'static [(&'static str, &'static str, usize)];

const COMMON: [(&str, &str, usize); 4] = [
    ("seq", "<u8", offset_of!(TickRow, seq)),
    ("exch_ts", "<i8", offset_of!(TickRow, exch_ts)),
    ("local_ts", "<i8", offset_of!(TickRow, local_ts)),
    ("code", "S16", offset_of!(TickRow, code)),
];

const TICK_FIELDS: Fields = &[
    COMMON[0],
    COMMON[1],
    COMMON[2],
    COMMON[3],
    ("price", "<f8", offset_of!(TickRow, price)),
    ("volume", "<i8", offset_of!(TickRow, volume)),
    ("total_volume", "<i8", offset_of!(TickRow, total_volume)),
    ("tick_type", "u1", offset_of!(TickRow, tick_type)),
    ("simtrade", "?", offset_of!(TickRow, simtrade)),
];

const BIDASK_FIELDS: Fields = &[
    COMMON[0],
    COMMON[1],
    COMMON[2],
    COMMON[3],
    ("bid_px", "(5,)<f8", offset_of!(BidAskRow, bid_px)),
    ("bid_qty", "(5,)<i8", offset_of!(BidAskRow, bid_qty)),
    ("ask_px", "(5,)<f8", offset_of!(BidAskRow, ask_px)),
    ("ask_qty", "(5,)<i8", offset_of!(BidAskRow, ask_qty)),
    ("simtrade", "?", offset_of!(BidAskRow, simtrade)),
];

const SNAPSHOT_FIELDS: Fields = &[
    COMMON[0],
    COMMON[1],
    COMMON[2],
    COMMON[3],
    ("open", "<f8", offset_of!(SnapshotRow, open)),
    ("high", "<f8", offset_of!(SnapshotRow, high)),
    ("low", "<f8", offset_of!(SnapshotRow, low)),
    ("close", "<f8", offset_of!(SnapshotRow, close)),
    ("volume", "<i8", offset_of!(SnapshotRow, volume)),
    ("total_volume", "<i8", offset_of!(SnapshotRow, total_volume)),
    ("bid_px", "<f8", offset_of!(SnapshotRow, bid_px)),
    ("bid_qty", "<i8", offset_of!(SnapshotRow, bid_qty)),
    ("ask_px", "<f8", offset_of!(SnapshotRow, ask_px)),
    ("ask_qty", "<i8", offset_of!(SnapshotRow, ask_qty)),
];

const EVENT_FIELDS: Fields = &[
    COMMON[0],
    COMMON[1],
    COMMON[2],
    COMMON[3],
    ("count", "<i8", offset_of!(EventRow, count)),
    ("event", "u1", offset_of!(EventRow, event)),
    ("session_state", "u1", offset_of!(EventRow, session_state)),
    ("trading_state", "u1", offset_of!(EventRow, trading_state)),
    ("reason", "S32", offset_of!(EventRow, reason)),
];

// Every SBE message fits a ring slot.
const _: () = assert!(sbe::MAX_MESSAGE_LEN <= MAX_PAYLOAD);

// The common prefix is shared by all row types (same offsets).
const _: () = assert!(offset_of!(BidAskRow, code) == offset_of!(TickRow, code));
const _: () = assert!(offset_of!(SnapshotRow, code) == offset_of!(TickRow, code));
const _: () = assert!(offset_of!(EventRow, code) == offset_of!(TickRow, code));

static TICK_DTYPE: PyOnceLock<Py<PyArrayDescr>> = PyOnceLock::new();
static BIDASK_DTYPE: PyOnceLock<Py<PyArrayDescr>> = PyOnceLock::new();
static SNAPSHOT_DTYPE: PyOnceLock<Py<PyArrayDescr>> = PyOnceLock::new();
static EVENT_DTYPE: PyOnceLock<Py<PyArrayDescr>> = PyOnceLock::new();

fn build_dtype<'py>(
    py: Python<'py>,
    fields: Fields,
    itemsize: usize,
) -> PyResult<Bound<'py, PyArrayDescr>> {
    let spec = PyDict::new(py);
    spec.set_item("names", PyList::new(py, fields.iter().map(|f| f.0))?)?;
    spec.set_item("formats", PyList::new(py, fields.iter().map(|f| f.1))?)?;
    spec.set_item("offsets", PyList::new(py, fields.iter().map(|f| f.2))?)?;
    spec.set_item("itemsize", itemsize)?;
    let dtype = py.import("numpy")?.getattr("dtype")?.call1((spec,))?;
    Ok(dtype.cast_into::<PyArrayDescr>()?)
}

fn cached_dtype<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyArrayDescr>>,
    fields: Fields,
    itemsize: usize,
) -> PyResult<Bound<'py, PyArrayDescr>> {
    cell.get_or_try_init(py, || build_dtype(py, fields, itemsize).map(Bound::unbind))
        .map(|d| d.bind(py).clone())
}

macro_rules! row_element {
    ($row:ty, $cell:ident, $fields:ident) => {
        // SAFETY: the dtype is built from the struct's own `offset_of!`/`size_of` and only names
        // plain integer, float, bool(u8) and byte-array fields: every bit pattern numpy can hold
        // in them is a valid value of the Rust field. No Python objects inside: IS_COPY.
        unsafe impl Element for $row {
            const IS_COPY: bool = true;
            fn get_dtype(py: Python<'_>) -> Bound<'_, PyArrayDescr> {
                // `register` built the dtype at import; should numpy fail later, an opaque
                // void dtype of the same size makes every dtype check fail cleanly (no panic).
                cached_dtype(py, &$cell, $fields, size_of::<$row>()).unwrap_or_else(|_| {
                    PyArrayDescr::new(py, format!("V{}", size_of::<$row>()).as_str())
                        .unwrap_or_else(|_| PyArrayDescr::object(py))
                })
            }
            fn clone_ref(&self, _py: Python<'_>) -> Self {
                *self
            }
        }
    };
}

row_element!(TickRow, TICK_DTYPE, TICK_FIELDS);
row_element!(BidAskRow, BIDASK_DTYPE, BIDASK_FIELDS);
row_element!(SnapshotRow, SNAPSHOT_DTYPE, SNAPSHOT_FIELDS);
row_element!(EventRow, EVENT_DTYPE, EVENT_FIELDS);

// ---------------------------------------------------------------------------------------------
// Values -> messages

/// Exact fixed-point from a float price (`Price::from_f64`), the fault in words.
fn price_from_f64(v: f64) -> Result<Price, String> {
    Price::from_f64(v).map_err(|fault| fault.describe(v))
}

fn code_from_str(code: &str) -> Result<Code, String> {
    Code::new(code).map_err(|e| format!("{code:?}: {e}"))
}

fn field_err(call: &str, field: &str, detail: String) -> PyErr {
    PyValueError::new_err(format!("{call}: field {field:?}: {detail}"))
}

fn row_err(call: &str, row: usize, field: &str, detail: String) -> PyErr {
    PyValueError::new_err(format!("{call}: row {row} field {field:?}: {detail}"))
}

/// A price given as float, int, Decimal or decimal str (Shioaji hands out Decimals).
/// Floats take the fast path; anything else goes through its exact decimal text.
pub(super) fn price_any(v: &Bound<'_, PyAny>) -> Result<Price, String> {
    if let Ok(f) = v.cast::<PyFloat>() {
        return price_from_f64(f.value());
    }
    if v.is_instance_of::<PyBool>() {
        return Err("a bool is not a price".to_string());
    }
    if let Ok(i) = v.cast::<PyInt>() {
        let i: i64 = i.extract().map_err(|_| format!("{i} is out of range"))?;
        return i
            .checked_mul(PRICE_SCALE)
            .map(Price)
            .ok_or_else(|| format!("{i} is out of range for the fixed-point price"));
    }
    let text = v.str().map_err(|e| e.to_string())?;
    let text = text.to_cow().map_err(|e| e.to_string())?;
    Price::parse_decimal(&text).map_err(|e| e.to_string())
}

fn qty_any(v: &Bound<'_, PyAny>) -> Result<i64, String> {
    if v.is_instance_of::<PyBool>() {
        return Err("a bool is not a quantity".to_string());
    }
    v.extract::<i64>()
        .map_err(|_| format!("{v} is not an int64 quantity"))
}

fn too_many_levels(call: &str, field: &str, n: usize) -> PyErr {
    field_err(call, field, format!("{n} levels, at most {LEVELS}"))
}

/// Up to five prices from a float64 numpy array (fast path) or any iterable of prices.
fn levels_px(call: &str, field: &str, v: &Bound<'_, PyAny>) -> PyResult<[Price; LEVELS]> {
    let mut out = [Price::ZERO; LEVELS];
    // Lists (what ingestion passes) first: a type-flag check, then borrowed items.
    if let Ok(list) = v.cast::<PyList>() {
        if list.len() > LEVELS {
            return Err(too_many_levels(call, field, list.len()));
        }
        for (n, item) in list.iter().enumerate() {
            out[n] = price_any(&item).map_err(|e| field_err(call, &format!("{field}[{n}]"), e))?;
        }
        return Ok(out);
    }
    if let Ok(arr) = v.cast::<PyArray1<f64>>() {
        let ro = arr.readonly();
        if let Ok(slice) = ro.as_slice() {
            if slice.len() > LEVELS {
                return Err(too_many_levels(call, field, slice.len()));
            }
            for (i, &p) in slice.iter().enumerate() {
                out[i] =
                    price_from_f64(p).map_err(|e| field_err(call, &format!("{field}[{i}]"), e))?;
            }
            return Ok(out);
        }
    }
    let items = v
        .try_iter()
        .map_err(|_| field_err(call, field, "expected a sequence of prices".to_string()))?;
    for (n, item) in items.enumerate() {
        if n == LEVELS {
            return Err(too_many_levels(call, field, v.len().unwrap_or(n + 1)));
        }
        out[n] = price_any(&item?).map_err(|e| field_err(call, &format!("{field}[{n}]"), e))?;
    }
    Ok(out)
}

/// Up to five quantities from an int64 numpy array (fast path) or any iterable of ints.
fn levels_qty(call: &str, field: &str, v: &Bound<'_, PyAny>) -> PyResult<[i64; LEVELS]> {
    let mut out = [0i64; LEVELS];
    if let Ok(list) = v.cast::<PyList>() {
        if list.len() > LEVELS {
            return Err(too_many_levels(call, field, list.len()));
        }
        for (n, item) in list.iter().enumerate() {
            out[n] = qty_any(&item).map_err(|e| field_err(call, &format!("{field}[{n}]"), e))?;
        }
        return Ok(out);
    }
    if let Ok(arr) = v.cast::<PyArray1<i64>>() {
        let ro = arr.readonly();
        if let Ok(slice) = ro.as_slice() {
            if slice.len() > LEVELS {
                return Err(too_many_levels(call, field, slice.len()));
            }
            out[..slice.len()].copy_from_slice(slice);
            return Ok(out);
        }
    }
    let items = v
        .try_iter()
        .map_err(|_| field_err(call, field, "expected a sequence of integers".to_string()))?;
    for (n, item) in items.enumerate() {
        if n == LEVELS {
            return Err(too_many_levels(call, field, v.len().unwrap_or(n + 1)));
        }
        out[n] = qty_any(&item?).map_err(|e| field_err(call, &format!("{field}[{n}]"), e))?;
    }
    Ok(out)
}

fn tick_type(raw: u8) -> Result<TickType, String> {
    TickType::from_u8(raw).ok_or_else(|| format!("{raw} is not 0 (unknown), 1 (buy) or 2 (sell)"))
}

fn tick_from_row(r: &TickRow) -> Result<Message, (&'static str, String)> {
    Ok(Message::Tick(Tick {
        seq: 0,
        exch_ts: r.exch_ts,
        local_ts: r.local_ts,
        code: Code::from_wire(r.code).map_err(|e| ("code", e.to_string()))?,
        price: price_from_f64(r.price).map_err(|e| ("price", e))?,
        volume: r.volume,
        total_volume: r.total_volume,
        tick_type: tick_type(r.tick_type).map_err(|e| ("tick_type", e))?,
        simtrade: r.simtrade != 0,
    }))
}

fn bidask_from_row(r: &BidAskRow) -> Result<Message, (&'static str, String)> {
    let px = |v: &[f64; LEVELS],
              name: &'static str|
     -> Result<[Price; LEVELS], (&'static str, String)> {
        let mut out = [Price::ZERO; LEVELS];
        for (i, &p) in v.iter().enumerate() {
            out[i] = price_from_f64(p).map_err(|e| (name, format!("level {i}: {e}")))?;
        }
        Ok(out)
    };
    Ok(Message::BidAsk(BidAsk {
        seq: 0,
        exch_ts: r.exch_ts,
        local_ts: r.local_ts,
        code: Code::from_wire(r.code).map_err(|e| ("code", e.to_string()))?,
        bid_price: px(&r.bid_px, "bid_px")?,
        bid_volume: r.bid_qty,
        ask_price: px(&r.ask_px, "ask_px")?,
        ask_volume: r.ask_qty,
        simtrade: r.simtrade != 0,
    }))
}

// ---------------------------------------------------------------------------------------------
// Messages -> rows

impl TickRow {
    /// The row of trade `m` with the ring's `seq` (also the JSONL fast path's, seq 0).
    #[inline(always)]
    pub(super) fn new(seq: u64, m: &Tick) -> TickRow {
        TickRow {
            seq,
            exch_ts: m.exch_ts,
            local_ts: m.local_ts,
            code: *m.code.as_bytes(),
            price: m.price.to_f64(),
            volume: m.volume,
            total_volume: m.total_volume,
            tick_type: m.tick_type as u8,
            simtrade: m.simtrade as u8,
        }
    }
}

impl BidAskRow {
    /// The row of book `m` with the ring's `seq` (also the JSONL fast path's, seq 0).
    #[inline(always)]
    pub(super) fn new(seq: u64, m: &BidAsk) -> BidAskRow {
        let px = |ps: &[Price; LEVELS]| ps.map(Price::to_f64);
        BidAskRow {
            seq,
            exch_ts: m.exch_ts,
            local_ts: m.local_ts,
            code: *m.code.as_bytes(),
            bid_px: px(&m.bid_price),
            bid_qty: m.bid_volume,
            ask_px: px(&m.ask_price),
            ask_qty: m.ask_volume,
            simtrade: m.simtrade as u8,
        }
    }
}

/// Rows of one batch, by message type.
#[derive(Default)]
struct Rows {
    ticks: Vec<TickRow>,
    bidasks: Vec<BidAskRow>,
    snapshots: Vec<SnapshotRow>,
    events: Vec<EventRow>,
}

impl Rows {
    fn push(&mut self, seq: u64, msg: &Message) {
        match msg {
            Message::Tick(m) => self.ticks.push(TickRow::new(seq, m)),
            Message::BidAsk(m) => self.bidasks.push(BidAskRow::new(seq, m)),
            Message::Snapshot(m) => self.snapshots.push(SnapshotRow {
                seq,
                exch_ts: m.exch_ts,
                local_ts: m.local_ts,
                code: *m.code.as_bytes(),
                open: m.open.to_f64(),
                high: m.high.to_f64(),
                low: m.low.to_f64(),
                close: m.close.to_f64(),
                volume: m.volume,
                total_volume: m.total_volume,
                bid_px: m.bid_price.to_f64(),
                bid_qty: m.bid_volume,
                ask_px: m.ask_price.to_f64(),
                ask_qty: m.ask_volume,
            }),
            Message::SystemEvent(m) => self.events.push(EventRow {
                seq,
                exch_ts: m.exch_ts,
                local_ts: m.local_ts,
                code: *m.code.as_bytes(),
                count: m.count,
                event: m.kind as u8,
                session_state: m.session_state as u8,
                trading_state: m.trading_state as u8,
                reason: *m.reason.as_bytes(),
            }),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Python classes

/// The single writer of a ring: `RingWriter(name, slots=65536, create=True)`.
#[pyclass(module = "shijim_core._shijim_core")]
pub struct RingWriter {
    inner: Option<CoreWriter>,
    /// Every message published through this writer, by type; shared with the `Publications`
    /// handles other threads read it through (it outlives a close).
    published: Arc<Published>,
    name: String,
    /// Converted rows of the batch being published.
    scratch: Vec<Message>,
}

impl RingWriter {
    /// The plain ring (raw payloads, its seq and geometry).
    fn ring(&mut self) -> PyResult<&mut CoreWriter> {
        let name = &self.name;
        self.inner.as_mut().ok_or_else(|| closed_writer(name))
    }

    /// The ring with its tally: every SBE message is published through this (admission's in
    /// `python::admission` too), so each is counted once.
    pub(super) fn messages(&mut self) -> PyResult<MessageWriter<'_>> {
        let name = &self.name;
        let ring = self.inner.as_mut().ok_or_else(|| closed_writer(name))?;
        Ok(MessageWriter::new(ring, &self.published))
    }

    #[inline]
    fn publish_msg(&mut self, mut msg: Message) -> PyResult<u64> {
        self.messages()?.publish(&mut msg).map_err(publish_err)
    }

    /// `publish_ticks` / `publish_bidasks`: a 1-D `dtype_name` array, rows turned into messages
    /// by `to_msg`; `call` names the method in errors.
    fn publish_array<T: Element>(
        &mut self,
        arr: &Bound<'_, PyAny>,
        call: &str,
        dtype_name: &str,
        to_msg: fn(&T) -> Result<Message, (&'static str, String)>,
    ) -> PyResult<Option<u64>> {
        let rows = as_rows::<T>(arr, call, dtype_name)?;
        let rows = rows.readonly();
        let slice = contiguous(&rows, call)?;
        let mut scratch = std::mem::take(&mut self.scratch);
        let res = publish_rows(&mut self.messages()?, &mut scratch, slice, call, to_msg);
        self.scratch = scratch;
        res
    }
}

fn closed_writer(name: &str) -> PyErr {
    RingError::new_err(format!("ring {name:?}: writer is closed"))
}

#[pymethods]
impl RingWriter {
    #[new]
    #[pyo3(signature = (name, slots = 65536, create = true))]
    fn new(name: &str, slots: u64, create: bool) -> PyResult<Self> {
        let inner = CoreWriter::open(name, slots, create).map_err(ring_err)?;
        Ok(RingWriter {
            inner: Some(inner),
            published: Arc::default(),
            name: name.to_string(),
            scratch: Vec::new(),
        })
    }

    /// Publish one trade; returns its seq.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (code, exch_ts, local_ts, price, volume, total_volume, tick_type = 0, simtrade = false))]
    fn publish_tick(
        &mut self,
        code: &str,
        exch_ts: i64,
        local_ts: i64,
        price: &Bound<'_, PyAny>,
        volume: i64,
        total_volume: i64,
        tick_type: u8,
        simtrade: bool,
    ) -> PyResult<u64> {
        const CALL: &str = "publish_tick";
        let msg = Message::Tick(Tick {
            seq: 0,
            exch_ts,
            local_ts,
            code: code_from_str(code).map_err(|e| field_err(CALL, "code", e))?,
            price: price_any(price).map_err(|e| field_err(CALL, "price", e))?,
            volume,
            total_volume,
            tick_type: self::tick_type(tick_type).map_err(|e| field_err(CALL, "tick_type", e))?,
            simtrade,
        });
        self.publish_msg(msg)
    }

    /// Publish one five-level quote (fewer levels are padded with price 0, qty 0); returns seq.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (code, exch_ts, local_ts, bid_px, bid_qty, ask_px, ask_qty, simtrade = false))]
    fn publish_bidask(
        &mut self,
        code: &str,
        exch_ts: i64,
        local_ts: i64,
        bid_px: &Bound<'_, PyAny>,
        bid_qty: &Bound<'_, PyAny>,
        ask_px: &Bound<'_, PyAny>,
        ask_qty: &Bound<'_, PyAny>,
        simtrade: bool,
    ) -> PyResult<u64> {
        const CALL: &str = "publish_bidask";
        let msg = Message::BidAsk(BidAsk {
            seq: 0,
            exch_ts,
            local_ts,
            code: code_from_str(code).map_err(|e| field_err(CALL, "code", e))?,
            bid_price: levels_px(CALL, "bid_px", bid_px)?,
            bid_volume: levels_qty(CALL, "bid_qty", bid_qty)?,
            ask_price: levels_px(CALL, "ask_px", ask_px)?,
            ask_volume: levels_qty(CALL, "ask_qty", ask_qty)?,
            simtrade,
        });
        self.publish_msg(msg)
    }

    /// Publish a system event. `event`: session_state | trading_state | feed_gap | reconnect;
    /// `session_state`: PRE_OPEN | OPEN | CLOSED; `trading_state`: ACTIVE | REDUCING | HALTED.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (event, exch_ts, local_ts, code = "", count = 0, session_state = None, trading_state = None, reason = ""))]
    fn publish_event(
        &mut self,
        event: &str,
        exch_ts: i64,
        local_ts: i64,
        code: &str,
        count: i64,
        session_state: Option<&str>,
        trading_state: Option<&str>,
        reason: &str,
    ) -> PyResult<u64> {
        const CALL: &str = "publish_event";
        let kind = EventKind::from_record_name(event).ok_or_else(|| {
            field_err(
                CALL,
                "event",
                format!("{event:?} is not session_state, trading_state, feed_gap or reconnect"),
            )
        })?;
        let session =
            SessionState::from_record_name(session_state.unwrap_or("")).ok_or_else(|| {
                field_err(
                    CALL,
                    "session_state",
                    format!("{session_state:?} is not PRE_OPEN, OPEN or CLOSED"),
                )
            })?;
        let trading =
            TradingState::from_record_name(trading_state.unwrap_or("")).ok_or_else(|| {
                field_err(
                    CALL,
                    "trading_state",
                    format!("{trading_state:?} is not ACTIVE, REDUCING or HALTED"),
                )
            })?;
        let msg = Message::SystemEvent(SystemEvent {
            seq: 0,
            exch_ts,
            local_ts,
            code: code_from_str(code).map_err(|e| field_err(CALL, "code", e))?,
            count,
            kind,
            session_state: session,
            trading_state: trading,
            reason: Reason::new(reason)
                .map_err(|e| field_err(CALL, "reason", format!("{reason:?}: {e}")))?,
        });
        self.publish_msg(msg)
    }

    /// Publish a canonical JSONL record dict (docs/formats.md; validated by the SBE codec's
    /// record mapping). Its `seq`, if any, is replaced by the writer's.
    fn publish_record(&mut self, py: Python<'_>, record: &Bound<'_, PyAny>) -> PyResult<u64> {
        let rec = record
            .cast::<PyDict>()
            .map_err(|_| PyTypeError::new_err("publish_record: expected a dict record"))?;
        let msg = if rec.contains("seq")? {
            record_to_message(rec)
        } else {
            let rec = rec.copy()?;
            rec.set_item("seq", 0)?;
            record_to_message(&rec)
        }
        .map_err(|e| e.into_py(py, None))?;
        self.publish_msg(msg)
    }

    /// Publish a TICK_DTYPE array (seq column ignored); all rows are checked before any is
    /// published. Returns the last seq (None for an empty array).
    fn publish_ticks(&mut self, arr: &Bound<'_, PyAny>) -> PyResult<Option<u64>> {
        self.publish_array(arr, "publish_ticks", "TICK_DTYPE", tick_from_row)
    }

    /// Publish a BIDASK_DTYPE array; same rules as `publish_ticks`.
    fn publish_bidasks(&mut self, arr: &Bound<'_, PyAny>) -> PyResult<Option<u64>> {
        self.publish_array(arr, "publish_bidasks", "BIDASK_DTYPE", bidask_from_row)
    }

    /// Publish raw payload bytes (tools and tests; readers expect one SBE message per slot and
    /// count anything else as bad).
    fn publish_bytes(&mut self, payload: &[u8]) -> PyResult<u64> {
        self.ring()?.publish(payload).map_err(ring_err)
    }

    /// Release the ring (the writer lock goes with it); readers see `writer_closed`.
    fn close(&mut self) {
        self.inner = None;
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &mut self,
        _t: &Bound<'_, PyAny>,
        _v: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> bool {
        self.close();
        false
    }

    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_none()
    }

    /// What this writer has published, as a handle another thread may read at any time (the
    /// shard's metrics and health probes do) without touching the writer.
    #[getter]
    fn publications(&self) -> Publications {
        Publications {
            inner: Arc::clone(&self.published),
        }
    }

    /// The seq the next publish gets.
    #[getter]
    fn next_seq(&mut self) -> PyResult<u64> {
        Ok(self.ring()?.next_seq())
    }

    /// This writer's generation: 1 for the creator, +1 per takeover of the ring.
    #[getter]
    fn epoch(&mut self) -> PyResult<u64> {
        Ok(self.ring()?.epoch())
    }

    #[getter]
    fn slots(&mut self) -> PyResult<u64> {
        Ok(self.ring()?.slots())
    }

    #[getter]
    fn path(&mut self) -> PyResult<String> {
        Ok(self.ring()?.path().display().to_string())
    }

    fn __repr__(&self) -> String {
        match &self.inner {
            Some(w) => format!(
                "RingWriter({:?}, slots={}, epoch={}, next_seq={})",
                self.name,
                w.slots(),
                w.epoch(),
                w.next_seq()
            ),
            None => format!("RingWriter({:?}, closed)", self.name),
        }
    }
}

/// What a `RingWriter` has published (`RingWriter.publications`): read-only, readable from any
/// thread while the writer publishes (atomics; no borrow of the writer).
#[pyclass(module = "shijim_core._shijim_core", frozen)]
pub struct Publications {
    inner: Arc<Published>,
}

#[pymethods]
impl Publications {
    /// Messages published so far by record type (`tick`, `bidask`, `snapshot`, `event`; the
    /// types published at least once): what shijim.metrics exports as shijim_md_events_total.
    #[getter]
    fn by_type<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (name, n) in self.inner.counts() {
            d.set_item(name, n)?;
        }
        Ok(d)
    }

    /// The local receive time (ns) of the newest message published; 0: none yet.
    #[getter]
    fn last_local_ts(&self) -> i64 {
        self.inner.last_local_ts()
    }
}

fn as_rows<'py, T: Element>(
    arr: &Bound<'py, PyAny>,
    call: &str,
    dtype_name: &str,
) -> PyResult<Bound<'py, PyArray1<T>>> {
    arr.cast::<PyArray1<T>>().cloned().map_err(|_| {
        let got = arr
            .getattr("dtype")
            .and_then(|d| d.str().map(|s| s.to_string()))
            .unwrap_or_else(|_| arr.get_type().to_string());
        let ndim = arr
            .getattr("ndim")
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "?".into());
        PyTypeError::new_err(format!(
            "{call}: expected a 1-D numpy array of {dtype_name}, got ndim={ndim} dtype {got}"
        ))
    })
}

fn contiguous<'a, T: Element>(
    rows: &'a numpy::PyReadonlyArray1<'_, T>,
    call: &str,
) -> PyResult<&'a [T]> {
    rows.as_slice().map_err(|_| {
        PyValueError::new_err(format!(
            "{call}: array is not contiguous; pass numpy.ascontiguousarray(arr)"
        ))
    })
}

fn publish_rows<T>(
    w: &mut MessageWriter<'_>,
    scratch: &mut Vec<Message>,
    rows: &[T],
    call: &str,
    to_msg: fn(&T) -> Result<Message, (&'static str, String)>,
) -> PyResult<Option<u64>> {
    // Convert (and so validate) everything first: a bad row must not leave half a batch
    // published. The scratch buffer is reused across batches.
    scratch.clear();
    for (i, r) in rows.iter().enumerate() {
        scratch.push(to_msg(r).map_err(|(field, e)| row_err(call, i, field, e))?);
    }
    let mut last = None;
    for msg in scratch.iter_mut() {
        last = Some(w.publish(msg).map_err(publish_err)?);
    }
    // Keep the memory of large batches bounded.
    if scratch.capacity() > 1 << 16 {
        *scratch = Vec::new();
    }
    Ok(last)
}

/// One read of a ring: numpy arrays per message type plus loss and restart reporting.
#[pyclass(module = "shijim_core._shijim_core", get_all)]
pub struct RingBatch {
    /// TICK_DTYPE rows.
    ticks: Py<PyAny>,
    /// BIDASK_DTYPE rows.
    bidasks: Py<PyAny>,
    /// SNAPSHOT_DTYPE rows.
    snapshots: Py<PyAny>,
    /// EVENT_DTYPE rows.
    events: Py<PyAny>,
    /// Messages lost (overwritten before being read, or left by a replaced writer) just before
    /// the messages of this batch.
    lost: u64,
    /// A new writer took the ring over before the messages of this batch.
    restarted: bool,
    /// The writer generation of every message in this batch.
    epoch: u64,
    /// Slots skipped because they did not hold a valid SBE message (or a corrupted slot word).
    bad: u64,
}

#[pymethods]
impl RingBatch {
    /// Number of messages in the batch.
    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        let mut n = 0;
        for a in [&self.ticks, &self.bidasks, &self.snapshots, &self.events] {
            n += a.bind(py).len()?;
        }
        Ok(n)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "RingBatch(ticks={}, bidasks={}, snapshots={}, events={}, lost={}, restarted={}, epoch={}, bad={})",
            self.ticks.bind(py).len()?,
            self.bidasks.bind(py).len()?,
            self.snapshots.bind(py).len()?,
            self.events.bind(py).len()?,
            self.lost,
            if self.restarted { "True" } else { "False" },
            self.epoch,
            self.bad
        ))
    }
}

/// A reader of a ring: `RingReader(name, start="latest", wait=0.0)`; start="oldest" begins
/// with the oldest message of the current writer still in the ring; `wait` seconds are spent
/// waiting for a ring that does not exist or is not initialised yet (a writer starting).
#[pyclass(module = "shijim_core._shijim_core")]
pub struct RingReader {
    inner: CoreReader,
    name: String,
    buf: [u8; MAX_PAYLOAD],
    bad_total: u64,
    /// What the last skipped slot held, naming the ring file, the slot and the seq.
    last_bad: Option<String>,
    /// Loss/restart seen while finishing the previous batch, reported with the next one.
    pending_lost: u64,
    pending_restart: bool,
    /// Zero-length arrays shared by every batch without messages of a type: an idle poll then
    /// costs no numpy allocation (nothing can be written into a zero-length array).
    empty: Option<[Py<PyAny>; 4]>,
}

fn not_there_yet(e: &CoreError) -> bool {
    match e {
        CoreError::NotInitialised { .. } => true,
        CoreError::Io { source, .. } => source.kind() == std::io::ErrorKind::NotFound,
        _ => false,
    }
}

/// `rows` as a numpy array, or the shared empty one.
fn rows_array<T: Element>(py: Python<'_>, rows: Vec<T>, empty: &Py<PyAny>) -> Py<PyAny> {
    if rows.is_empty() {
        empty.clone_ref(py)
    } else {
        PyArray1::from_vec(py, rows).into_any().unbind()
    }
}

/// What one step of the reader produced.
// Lives on the stack for one loop turn; boxing the message would allocate per message.
#[allow(clippy::large_enum_variant)]
enum Step {
    /// seq, length of the SBE message at the start of `buf`, decoded message.
    Msg(u64, usize, Message),
    Empty,
    Lost(u64),
    Restart(u64),
    Bad,
}

impl RingReader {
    /// The plain reader, for the engine (`python::engine`) to read through.
    pub(super) fn core_mut(&mut self) -> &mut CoreReader {
        &mut self.inner
    }

    fn step(&mut self) -> Step {
        match self.inner.try_next(&mut self.buf) {
            Next::Message { seq, len } => match sbe::decode(&self.buf[..len]) {
                Ok((msg, used)) => Step::Msg(seq, used, msg),
                Err(e) => {
                    self.bad_total += 1;
                    self.last_bad = Some(format!(
                        "ring {}: slot {} (seq {seq}): {len}-byte payload is not an SBE message: \
                         {e}; skipped",
                        self.inner.path().display(),
                        seq & (self.inner.slots() - 1),
                    ));
                    Step::Bad
                }
            },
            Next::Empty => Step::Empty,
            Next::Lapped { lost } => Step::Lost(lost),
            Next::Restarted { lost, .. } => Step::Restart(lost),
            Next::Corrupt { .. } => {
                self.last_bad = self.inner.last_corrupt().map(|e| e.to_string());
                Step::Bad
            }
        }
    }

    /// Steps that deliver no message allowed in one call: a ring's worth. The core reader never
    /// moves past the write cursor on garbage, so this is never reached in practice; it bounds
    /// a call holding the GIL even on a file something keeps scribbling on. The rest waits for
    /// the next call.
    fn skip_budget(&self) -> u64 {
        self.inner.slots()
    }

    /// Starts one batch of `read` / `read_frames`: a restart seen after the previous batch's
    /// last message belongs to this one.
    fn begin_pass(&mut self, max_messages: usize) -> Pass {
        Pass {
            n: 0,
            max_messages,
            skips_left: self.skip_budget(),
            lost: std::mem::take(&mut self.pending_lost),
            restarted: std::mem::take(&mut self.pending_restart),
            epoch: 0,
            bad_before: self.bad_total + self.inner.corrupt_total(),
        }
    }

    /// The next message of the batch, `None` when it ends: `max_messages` taken, the ring
    /// empty, the skip budget spent, or a writer restart after messages were taken (held back
    /// for the next batch). Losses, a restart before the first message and bad slots are
    /// accounted in `p`.
    fn next_in_pass(&mut self, p: &mut Pass) -> Option<(u64, usize, Message)> {
        while p.n < p.max_messages && p.skips_left > 0 {
            match self.step() {
                Step::Msg(seq, used, msg) => {
                    if p.n == 0 {
                        p.epoch = self.inner.epoch();
                    }
                    p.n += 1;
                    return Some((seq, used, msg));
                }
                Step::Empty => return None,
                Step::Lost(k) => p.lost += k,
                Step::Restart(k) if p.n > 0 => {
                    self.pending_lost = k;
                    self.pending_restart = true;
                    return None;
                }
                Step::Restart(k) => {
                    p.lost += k;
                    p.restarted = true;
                }
                Step::Bad => {}
            }
            p.skips_left -= 1;
        }
        None
    }

    /// The batch's epoch (of its first message, else the current one) and its bad slots.
    fn end_pass(&self, p: &Pass) -> (u64, u64) {
        let epoch = if p.n == 0 {
            self.inner.epoch()
        } else {
            p.epoch
        };
        (
            epoch,
            self.bad_total + self.inner.corrupt_total() - p.bad_before,
        )
    }
}

/// One batch's accounting, shared by `read` and `read_frames`.
struct Pass {
    n: usize,
    max_messages: usize,
    skips_left: u64,
    lost: u64,
    restarted: bool,
    epoch: u64,
    bad_before: u64,
}

#[pymethods]
impl RingReader {
    #[new]
    #[pyo3(signature = (name, start = "latest", wait = 0.0))]
    fn new(py: Python<'_>, name: &str, start: &str, wait: f64) -> PyResult<Self> {
        let start = match start {
            "latest" => Start::Latest,
            "oldest" => Start::Oldest,
            other => {
                return Err(PyValueError::new_err(format!(
                    "RingReader: start={other:?}: expected \"latest\" or \"oldest\""
                )))
            }
        };
        if !(0.0..=86_400.0).contains(&wait) {
            return Err(PyValueError::new_err(format!(
                "RingReader: wait={wait}: expected seconds in [0, 86400]"
            )));
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs_f64(wait);
        let inner = loop {
            match CoreReader::open(name, start) {
                Ok(r) => break r,
                // A ring whose writer has not created it, or not finished its header, yet.
                Err(e) if not_there_yet(&e) && std::time::Instant::now() < deadline => {
                    py.detach(|| std::thread::sleep(std::time::Duration::from_millis(5)));
                    py.check_signals()?;
                }
                Err(e) => return Err(ring_err(e)),
            }
        };
        Ok(RingReader {
            inner,
            name: name.to_string(),
            buf: [0; MAX_PAYLOAD],
            bad_total: 0,
            last_bad: None,
            pending_lost: 0,
            pending_restart: false,
            empty: None,
        })
    }

    /// Read up to `max_messages` messages without blocking. A batch never spans a writer
    /// restart: messages of a new writer come in the next batch, flagged `restarted`.
    #[pyo3(signature = (max_messages = 4096))]
    fn read(&mut self, py: Python<'_>, max_messages: usize) -> PyResult<RingBatch> {
        let mut rows = Rows::default();
        let mut p = self.begin_pass(max_messages);
        while let Some((seq, _, msg)) = self.next_in_pass(&mut p) {
            rows.push(seq, &msg);
        }
        let (epoch, bad) = self.end_pass(&p);
        let empty = self.empty.get_or_insert_with(|| {
            [
                PyArray1::<TickRow>::from_vec(py, Vec::new())
                    .into_any()
                    .unbind(),
                PyArray1::<BidAskRow>::from_vec(py, Vec::new())
                    .into_any()
                    .unbind(),
                PyArray1::<SnapshotRow>::from_vec(py, Vec::new())
                    .into_any()
                    .unbind(),
                PyArray1::<EventRow>::from_vec(py, Vec::new())
                    .into_any()
                    .unbind(),
            ]
        });
        Ok(RingBatch {
            ticks: rows_array(py, rows.ticks, &empty[0]),
            bidasks: rows_array(py, rows.bidasks, &empty[1]),
            snapshots: rows_array(py, rows.snapshots, &empty[2]),
            events: rows_array(py, rows.events, &empty[3]),
            lost: p.lost,
            restarted: p.restarted,
            epoch,
            bad,
        })
    }

    /// Up to `max_messages` messages as the SOFH-framed SBE stream of `.sbe` files (each
    /// message exactly as the writer encoded it, with the ring's seq), for readers that keep
    /// the messages rather than act on them (the recorder turns the frames into canonical
    /// JSONL and rows with the `sbe_decode_jsonl` / `JsonlRecords.read_frames` codecs):
    /// `(frames, messages, lost, restarted, epoch, bad)`, with the meaning of `RingBatch`'s
    /// fields. With `by_code`, the frames are ordered by instrument code, each code's in ring
    /// order (a stable sort), so the messages of one code are one run of bytes. Payloads that
    /// do not decode are skipped and counted in `bad`, as by `read`.
    #[pyo3(signature = (max_messages = 4096, by_code = false))]
    fn read_frames<'py>(
        &mut self,
        py: Python<'py>,
        max_messages: usize,
        by_code: bool,
    ) -> PyResult<(Bound<'py, PyBytes>, usize, u64, bool, u64, u64)> {
        let mut out: Vec<u8> = Vec::new();
        // (code, start, end) of each frame in `out`, for `by_code`.
        let mut spans: Vec<(Code, usize, usize)> = Vec::new();
        let mut p = self.begin_pass(max_messages);
        while let Some((seq, used, msg)) = self.next_in_pass(&mut p) {
            let start = out.len();
            out.extend_from_slice(&((SOFH_LEN + used) as u32).to_be_bytes());
            out.extend_from_slice(&SBE_LE_ENCODING_TYPE.to_be_bytes());
            let body = out.len() + sbe::HEADER_LEN;
            out.extend_from_slice(&self.buf[..used]);
            // Every message body starts with its seq: the ring's (the writer sets it too; a
            // raw `publish_bytes` payload may carry another).
            out[body..body + 8].copy_from_slice(&seq.to_le_bytes());
            if by_code {
                spans.push((*msg.code(), start, out.len()));
            }
        }
        if by_code && spans.windows(2).any(|w| w[0].0 != w[1].0) {
            spans.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes())); // stable
            let mut sorted = Vec::with_capacity(out.len());
            for (_, start, end) in &spans {
                sorted.extend_from_slice(&out[*start..*end]);
            }
            out = sorted;
        }
        let (epoch, bad) = self.end_pass(&p);
        Ok((PyBytes::new(py, &out), p.n, p.lost, p.restarted, epoch, bad))
    }

    /// Debugging API: up to `max_messages` messages as record dicts (docs/formats.md), each
    /// with the ring's seq. Loss and restarts are counted in `lost_total` / `restarts`.
    #[pyo3(signature = (max_messages = 4096))]
    fn read_records<'py>(
        &mut self,
        py: Python<'py>,
        max_messages: usize,
    ) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        let mut n = 0;
        let mut skips_left = self.skip_budget();
        while n < max_messages && skips_left > 0 {
            match self.step() {
                Step::Msg(seq, _, msg) => {
                    let rec = message_to_record(py, &msg)?;
                    rec.set_item("seq", seq)?;
                    out.append(rec)?;
                    n += 1;
                }
                Step::Restart(_) if n > 0 => break,
                Step::Empty => break,
                Step::Lost(_) | Step::Restart(_) | Step::Bad => skips_left -= 1,
            }
        }
        self.pending_lost = 0;
        self.pending_restart = false;
        Ok(out)
    }

    /// Waits, with the interpreter lock released, until a message past this reader's position
    /// is published (or the writer restarted) or `timeout_ns` (at most 1 s) passed; True if
    /// something is there to read. A pinned trading thread's idle wait: it spins on its core
    /// (no sleep to wake from), and meanwhile every other Python thread (the broker's
    /// callbacks, the admin and metrics listeners) can take the lock at once, instead of
    /// waiting for the interpreter's switch interval to force it off a thread that polls.
    fn wait(&self, py: Python<'_>, timeout_ns: u64) -> bool {
        let watch = self.inner.publish_watch();
        let timeout = std::time::Duration::from_nanos(timeout_ns);
        py.detach(|| watch.wait(timeout))
    }

    /// Messages published but not yet read.
    #[getter]
    fn lag(&self) -> u64 {
        self.inner.lag()
    }

    /// Messages this reader lost since attaching (lapped, or left by a replaced writer).
    #[getter]
    fn lost_total(&self) -> u64 {
        self.inner.lost_total()
    }

    /// Writer takeovers seen since attaching.
    #[getter]
    fn restarts(&self) -> u64 {
        self.inner.restarts()
    }

    /// The writer generation this reader follows.
    #[getter]
    fn epoch(&self) -> u64 {
        self.inner.epoch()
    }

    /// Slots skipped as not valid SBE messages or with a corrupted slot word.
    #[getter]
    fn bad_total(&self) -> u64 {
        self.bad_total + self.inner.corrupt_total()
    }

    /// The seq this reader reads next.
    #[getter]
    fn position(&self) -> u64 {
        self.inner.position()
    }

    #[getter]
    fn slots(&self) -> u64 {
        self.inner.slots()
    }

    /// True once the writer closed the ring cleanly (a crashed writer leaves it False).
    #[getter]
    fn writer_closed(&self) -> bool {
        self.inner.writer_closed()
    }

    /// "alive" (a process holds the writer lock, even if it publishes nothing), "closed" (the
    /// last writer closed the ring) or "gone" (it died without closing). One syscall that only
    /// tests the writer's lock; a killed writer shows "gone" as soon as the kernel has closed
    /// its files. Poll it when idle (docs/ring.md, "Writer liveness").
    fn writer_state(&self) -> PyResult<&'static str> {
        Ok(match self.inner.writer_state().map_err(ring_err)? {
            WriterState::Alive => "alive",
            WriterState::Closed => "closed",
            WriterState::Gone => "gone",
        })
    }

    /// The last slot skipped as bad (`bad_total`), naming the ring file, the slot, the seq and
    /// why; None if none was.
    #[getter]
    fn last_bad(&self) -> Option<String> {
        self.last_bad.clone()
    }

    #[getter]
    fn writer_pid(&self) -> u32 {
        self.inner.writer_pid()
    }

    /// True if the ring's name no longer refers to the mapped file (removed or re-created):
    /// attach a new reader. A syscall: poll it when idle.
    #[getter]
    fn file_replaced(&self) -> bool {
        self.inner.file_replaced()
    }

    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    #[getter]
    fn path(&self) -> String {
        self.inner.path().display().to_string()
    }

    fn __repr__(&self) -> String {
        format!(
            "RingReader({:?}, epoch={}, position={}, lag={}, lost_total={})",
            self.name,
            self.inner.epoch(),
            self.inner.position(),
            self.inner.lag(),
            self.inner.lost_total()
        )
    }
}

/// The file path of ring `name` (under $SHIJIM_RING_DIR, default /dev/shm).
#[pyfunction]
fn ring_path(name: &str) -> PyResult<String> {
    ring::ring_path(name)
        .map(|p| p.display().to_string())
        .map_err(ring_err)
}

/// Remove ring `name`'s file; True if it existed. Attached readers keep their mapping.
#[pyfunction]
fn ring_unlink(name: &str) -> PyResult<bool> {
    ring::unlink_ring(name).map_err(ring_err)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("RingError", py.get_type::<RingError>())?;
    m.add(
        "RingWriterExistsError",
        py.get_type::<RingWriterExistsError>(),
    )?;
    m.add_class::<RingWriter>()?;
    m.add_class::<Publications>()?;
    m.add_class::<RingReader>()?;
    m.add_class::<RingBatch>()?;
    m.add_function(wrap_pyfunction!(ring_path, m)?)?;
    m.add_function(wrap_pyfunction!(ring_unlink, m)?)?;
    m.add("RING_MAX_PAYLOAD", MAX_PAYLOAD)?;
    m.add(
        "TICK_DTYPE",
        cached_dtype(py, &TICK_DTYPE, TICK_FIELDS, size_of::<TickRow>())?,
    )?;
    m.add(
        "BIDASK_DTYPE",
        cached_dtype(py, &BIDASK_DTYPE, BIDASK_FIELDS, size_of::<BidAskRow>())?,
    )?;
    m.add(
        "SNAPSHOT_DTYPE",
        cached_dtype(
            py,
            &SNAPSHOT_DTYPE,
            SNAPSHOT_FIELDS,
            size_of::<SnapshotRow>(),
        )?,
    )?;
    m.add(
        "EVENT_DTYPE",
        cached_dtype(py, &EVENT_DTYPE, EVENT_FIELDS, size_of::<EventRow>())?,
    )?;
    Ok(())
}
