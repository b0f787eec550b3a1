//! Thin PyO3 bindings of `crate::sbe`: record dicts (docs/formats.md) <-> SBE bytes.
//! All layout and validation lives in the plain Rust codec; this file only maps Python values.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Mutex;

use pyo3::buffer::PyBuffer;
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};
use pyo3::IntoPyObjectExt;

use numpy::PyArray1;

use super::ring::{BidAskRow, TickRow};
use crate::sbe::jsonl;
use crate::sbe::{
    decode, decode_frame, encode, encode_frame, BidAsk, Code, EventKind, FrameIter, Message, Price,
    Reason, SbeError as CoreError, SessionState, Snapshot, SystemEvent, Tick, TickType,
    TradingState, CODE_LEN, LEVELS, MAX_MESSAGE_LEN, PRICE_EXPONENT, REASON_LEN, SCHEMA_ID,
    SCHEMA_VERSION, SOFH_LEN,
};

create_exception!(
    _shijim_core,
    SbeError,
    PyValueError,
    "Bad SBE bytes or a record that cannot be encoded; the message names the offset or field."
);

static DECIMAL: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// An SbeError carrying `offset` (int or None) and `reason` (str) attributes.
fn sbe_err(py: Python<'_>, message: String, offset: Option<usize>, reason: String) -> PyErr {
    let err = SbeError::new_err(message);
    let value = err.value(py);
    // Attributes are a convenience; the message alone already says everything.
    let _ = value.setattr("offset", offset);
    let _ = value.setattr("reason", reason);
    err
}

fn from_core(py: Python<'_>, e: &CoreError) -> PyErr {
    sbe_err(py, e.to_string(), Some(e.offset), e.kind.to_string())
}

/// A record field that could not be turned into a message.
pub(super) struct FieldError {
    pub(super) field: String,
    pub(super) detail: String,
}

impl FieldError {
    fn new(field: impl Into<String>, detail: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            detail: detail.into(),
        }
    }

    pub(super) fn into_py(self, py: Python<'_>, record_index: Option<usize>) -> PyErr {
        let reason = format!("field {:?}: {}", self.field, self.detail);
        let message = match record_index {
            Some(i) => format!("cannot encode record {i}: {reason}"),
            None => format!("cannot encode record: {reason}"),
        };
        sbe_err(py, message, None, reason)
    }
}

type FieldResult<T> = Result<T, FieldError>;

fn get<'py>(rec: &Bound<'py, PyDict>, key: &str) -> FieldResult<Bound<'py, PyAny>> {
    match rec.get_item(key) {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(FieldError::new(key, "missing")),
        Err(e) => Err(FieldError::new(key, e.to_string())),
    }
}

fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

fn as_int<T: for<'a, 'py> FromPyObject<'a, 'py>>(
    v: &Bound<'_, PyAny>,
    field: &str,
) -> FieldResult<T> {
    // bool is an int subclass in Python; True as a volume is a bug, not a number.
    if v.is_instance_of::<PyBool>() || !v.is_instance_of::<PyInt>() {
        return Err(FieldError::new(
            field,
            format!("expected an integer, got {}", type_name(v)),
        ));
    }
    v.extract::<T>()
        .map_err(|_| FieldError::new(field, format!("integer {v} is out of range")))
}

fn int_field<T: for<'a, 'py> FromPyObject<'a, 'py>>(
    rec: &Bound<'_, PyDict>,
    key: &str,
) -> FieldResult<T> {
    as_int(&get(rec, key)?, key)
}

/// Decimal, int, str or float (via its shortest repr) -> exact fixed-point, or an error.
fn as_price(v: &Bound<'_, PyAny>, field: &str) -> FieldResult<Price> {
    let py = v.py();
    let is_decimal = DECIMAL
        .import(py, "decimal", "Decimal")
        .and_then(|d| v.is_instance(d))
        .unwrap_or(false);
    let ok = is_decimal
        || (v.is_instance_of::<PyInt>() && !v.is_instance_of::<PyBool>())
        || v.is_instance_of::<PyString>()
        || v.is_instance_of::<PyFloat>();
    if !ok {
        return Err(FieldError::new(
            field,
            format!("expected a decimal price, got {}", type_name(v)),
        ));
    }
    let text = v.str().map_err(|e| FieldError::new(field, e.to_string()))?;
    let text = text
        .to_cow()
        .map_err(|e| FieldError::new(field, e.to_string()))?;
    Price::parse_decimal(&text).map_err(|e| FieldError::new(field, e.to_string()))
}

fn price_field(rec: &Bound<'_, PyDict>, key: &str) -> FieldResult<Price> {
    as_price(&get(rec, key)?, key)
}

fn bool_field(rec: &Bound<'_, PyDict>, key: &str) -> FieldResult<bool> {
    let v = get(rec, key)?;
    if v.is_instance_of::<PyBool>() {
        return Ok(v.is_truthy().unwrap_or(false));
    }
    match as_int::<i64>(&v, key) {
        Ok(0) => Ok(false),
        Ok(1) => Ok(true),
        _ => Err(FieldError::new(
            key,
            format!("expected true/false (or 0/1), got {v}"),
        )),
    }
}

fn str_field(rec: &Bound<'_, PyDict>, key: &str) -> FieldResult<String> {
    let v = get(rec, key)?;
    if !v.is_instance_of::<PyString>() {
        return Err(FieldError::new(
            key,
            format!("expected a string, got {}", type_name(&v)),
        ));
    }
    v.extract::<String>()
        .map_err(|e| FieldError::new(key, e.to_string()))
}

fn optional_name(rec: &Bound<'_, PyDict>, key: &str) -> FieldResult<String> {
    let v = get(rec, key)?;
    if v.is_none() {
        return Ok(String::new());
    }
    str_field(rec, key)
}

fn code_field(rec: &Bound<'_, PyDict>) -> FieldResult<Code> {
    let s = str_field(rec, "code")?;
    Code::new(&s).map_err(|e| FieldError::new("code", format!("{s:?}: {e}")))
}

fn levels<T>(
    rec: &Bound<'_, PyDict>,
    key: &str,
    item: impl Fn(&Bound<'_, PyAny>, &str) -> FieldResult<T>,
) -> FieldResult<[T; LEVELS]>
where
    T: Copy + Default,
{
    let v = get(rec, key)?;
    let list = v.cast::<PyList>().map_err(|_| {
        FieldError::new(
            key,
            format!("expected a list of {LEVELS}, got {}", type_name(&v)),
        )
    })?;
    if list.len() != LEVELS {
        return Err(FieldError::new(
            key,
            format!("expected {LEVELS} levels, got {}", list.len()),
        ));
    }
    let mut out = [T::default(); LEVELS];
    for (i, x) in list.iter().enumerate() {
        out[i] = item(&x, &format!("{key}[{i}]"))?;
    }
    Ok(out)
}

pub(super) fn record_to_message(rec: &Bound<'_, PyAny>) -> FieldResult<Message> {
    let rec = rec.cast::<PyDict>().map_err(|_| {
        FieldError::new(
            "(record)",
            format!("expected a dict, got {}", type_name(rec)),
        )
    })?;
    let kind = str_field(rec, "type")?;
    let code = code_field(rec)?;
    let seq: u64 = int_field(rec, "seq")?;
    let exch_ts: i64 = int_field(rec, "exch_ts")?;
    let local_ts: i64 = int_field(rec, "local_ts")?;
    Ok(match kind.as_str() {
        "tick" => {
            let raw: u8 = int_field(rec, "tick_type")?;
            let tick_type = TickType::from_u8(raw)
                .ok_or_else(|| FieldError::new("tick_type", format!("{raw} is not 0, 1 or 2")))?;
            Message::Tick(Tick {
                seq,
                exch_ts,
                local_ts,
                code,
                price: price_field(rec, "price")?,
                volume: int_field(rec, "volume")?,
                total_volume: int_field(rec, "total_volume")?,
                tick_type,
                simtrade: bool_field(rec, "simtrade")?,
            })
        }
        "bidask" => Message::BidAsk(BidAsk {
            seq,
            exch_ts,
            local_ts,
            code,
            bid_price: levels(rec, "bid_price", as_price)?,
            bid_volume: levels(rec, "bid_volume", as_int::<i64>)?,
            ask_price: levels(rec, "ask_price", as_price)?,
            ask_volume: levels(rec, "ask_volume", as_int::<i64>)?,
            simtrade: bool_field(rec, "simtrade")?,
        }),
        "snapshot" => Message::Snapshot(Snapshot {
            seq,
            exch_ts,
            local_ts,
            code,
            open: price_field(rec, "open")?,
            high: price_field(rec, "high")?,
            low: price_field(rec, "low")?,
            close: price_field(rec, "close")?,
            volume: int_field(rec, "volume")?,
            total_volume: int_field(rec, "total_volume")?,
            bid_price: price_field(rec, "bid_price")?,
            bid_volume: int_field(rec, "bid_volume")?,
            ask_price: price_field(rec, "ask_price")?,
            ask_volume: int_field(rec, "ask_volume")?,
        }),
        "event" => {
            let name = str_field(rec, "event")?;
            let kind = EventKind::from_record_name(&name)
                .ok_or_else(|| FieldError::new("event", format!("unknown event {name:?}")))?;
            let name = optional_name(rec, "session_state")?;
            let session_state = SessionState::from_record_name(&name).ok_or_else(|| {
                FieldError::new("session_state", format!("unknown state {name:?}"))
            })?;
            let name = optional_name(rec, "trading_state")?;
            let trading_state = TradingState::from_record_name(&name).ok_or_else(|| {
                FieldError::new("trading_state", format!("unknown state {name:?}"))
            })?;
            let reason = str_field(rec, "reason")?;
            let reason = Reason::new(&reason)
                .map_err(|e| FieldError::new("reason", format!("{reason:?}: {e}")))?;
            Message::SystemEvent(SystemEvent {
                seq,
                exch_ts,
                local_ts,
                code,
                count: int_field(rec, "count")?,
                kind,
                session_state,
                trading_state,
                reason,
            })
        }
        other => {
            return Err(FieldError::new(
                "type",
                format!("{other:?} is not tick, bidask, snapshot or event"),
            ))
        }
    })
}

fn price_obj<'py>(py: Python<'py>, p: Price) -> PyResult<Bound<'py, PyAny>> {
    DECIMAL
        .import(py, "decimal", "Decimal")?
        .call1((p.to_decimal_string(),))
}

fn name_obj<'py>(py: Python<'py>, name: &'static str) -> Bound<'py, PyAny> {
    if name.is_empty() {
        py.None().into_bound(py)
    } else {
        PyString::new(py, name).into_any()
    }
}

pub(super) fn message_to_record<'py>(
    py: Python<'py>,
    msg: &Message,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let (kind, seq, exch_ts, local_ts, code) = match msg {
        Message::Tick(m) => ("tick", m.seq, m.exch_ts, m.local_ts, m.code),
        Message::BidAsk(m) => ("bidask", m.seq, m.exch_ts, m.local_ts, m.code),
        Message::Snapshot(m) => ("snapshot", m.seq, m.exch_ts, m.local_ts, m.code),
        Message::SystemEvent(m) => ("event", m.seq, m.exch_ts, m.local_ts, m.code),
    };
    d.set_item("type", kind)?;
    d.set_item("code", code.as_str())?;
    d.set_item("exch_ts", exch_ts)?;
    d.set_item("local_ts", local_ts)?;
    d.set_item("seq", seq)?;
    match msg {
        Message::Tick(m) => {
            d.set_item("price", price_obj(py, m.price)?)?;
            d.set_item("volume", m.volume)?;
            d.set_item("total_volume", m.total_volume)?;
            d.set_item("tick_type", m.tick_type as u8)?;
            d.set_item("simtrade", m.simtrade)?;
        }
        Message::BidAsk(m) => {
            let prices = |ps: &[Price; LEVELS]| -> PyResult<Bound<'py, PyList>> {
                let items = ps
                    .iter()
                    .map(|&p| price_obj(py, p))
                    .collect::<PyResult<Vec<_>>>()?;
                PyList::new(py, items)
            };
            d.set_item("bid_price", prices(&m.bid_price)?)?;
            d.set_item("bid_volume", PyList::new(py, m.bid_volume)?)?;
            d.set_item("ask_price", prices(&m.ask_price)?)?;
            d.set_item("ask_volume", PyList::new(py, m.ask_volume)?)?;
            d.set_item("simtrade", m.simtrade)?;
        }
        Message::Snapshot(m) => {
            d.set_item("open", price_obj(py, m.open)?)?;
            d.set_item("high", price_obj(py, m.high)?)?;
            d.set_item("low", price_obj(py, m.low)?)?;
            d.set_item("close", price_obj(py, m.close)?)?;
            d.set_item("volume", m.volume)?;
            d.set_item("total_volume", m.total_volume)?;
            d.set_item("bid_price", price_obj(py, m.bid_price)?)?;
            d.set_item("bid_volume", m.bid_volume)?;
            d.set_item("ask_price", price_obj(py, m.ask_price)?)?;
            d.set_item("ask_volume", m.ask_volume)?;
        }
        Message::SystemEvent(m) => {
            d.set_item("event", m.kind.record_name())?;
            d.set_item("session_state", name_obj(py, m.session_state.record_name()))?;
            d.set_item("trading_state", name_obj(py, m.trading_state.record_name()))?;
            d.set_item("count", m.count)?;
            d.set_item("reason", m.reason.as_str())?;
        }
    }
    Ok(d)
}

/// The bytes of `bytes` (zero-copy) or of any other buffer (bytearray, memoryview, mmap: copied).
fn input_bytes<'a>(buf: &'a Bound<'_, PyAny>) -> PyResult<Cow<'a, [u8]>> {
    if let Ok(b) = buf.cast::<PyBytes>() {
        return Ok(Cow::Borrowed(b.as_bytes()));
    }
    Ok(Cow::Owned(PyBuffer::<u8>::get(buf)?.to_vec(buf.py())?))
}

/// Encodes one record dict to SBE bytes (message header + body, no framing).
#[pyfunction]
fn sbe_encode<'py>(py: Python<'py>, record: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let msg = record_to_message(record).map_err(|e| e.into_py(py, None))?;
    let mut buf = [0u8; MAX_MESSAGE_LEN];
    let n = encode(&msg, &mut buf).map_err(|e| from_core(py, &e))?;
    Ok(PyBytes::new(py, &buf[..n]))
}

/// Decodes the message at `offset` in `buf`: (record dict, bytes consumed).
#[pyfunction]
#[pyo3(signature = (buf, offset = 0))]
fn sbe_decode<'py>(
    py: Python<'py>,
    buf: &Bound<'py, PyAny>,
    offset: usize,
) -> PyResult<(Bound<'py, PyDict>, usize)> {
    let buf = input_bytes(buf)?;
    let rest = buf.get(offset..).ok_or_else(|| {
        sbe_err(
            py,
            format!(
                "SBE error at offset {offset}: offset is past the end ({} bytes)",
                buf.len()
            ),
            Some(offset),
            "offset past the end".into(),
        )
    })?;
    let (msg, used) = decode(rest).map_err(|e| from_core(py, &e.shifted(offset)))?;
    Ok((message_to_record(py, &msg)?, used))
}

/// Encodes records as one SOFH-framed stream (the `.sbe` file format).
#[pyfunction]
fn sbe_encode_stream<'py>(
    py: Python<'py>,
    records: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut out = Vec::new();
    let mut frame = [0u8; SOFH_LEN + MAX_MESSAGE_LEN];
    for (i, rec) in records.try_iter()?.enumerate() {
        let msg = record_to_message(&rec?).map_err(|e| e.into_py(py, Some(i)))?;
        let n = encode_frame(&msg, &mut frame).map_err(|e| from_core(py, &e))?;
        out.extend_from_slice(&frame[..n]);
    }
    Ok(PyBytes::new(py, &out))
}

/// Decodes a SOFH-framed stream. Without `errors` the first bad frame raises SbeError; with a
/// list, each bad frame's SbeError is appended to it and decoding goes on at the next frame
/// (a broken frame header ends the stream: it cannot be resynchronised).
#[pyfunction]
#[pyo3(signature = (buf, errors = None))]
fn sbe_decode_stream<'py>(
    py: Python<'py>,
    buf: &Bound<'py, PyAny>,
    errors: Option<&Bound<'py, PyList>>,
) -> PyResult<Bound<'py, PyList>> {
    let buf = input_bytes(buf)?;
    let out = PyList::empty(py);
    for (_, item) in FrameIter::new(&buf) {
        match item {
            Ok(msg) => out.append(message_to_record(py, &msg)?)?,
            Err(e) => {
                let err = from_core(py, &e);
                match errors {
                    Some(list) => list.append(err.value(py))?,
                    None => return Err(err),
                }
            }
        }
    }
    Ok(out)
}

/// Decodes the one SOFH frame at `offset`: (record dict, frame length).
#[pyfunction]
#[pyo3(signature = (buf, offset = 0))]
fn sbe_decode_frame<'py>(
    py: Python<'py>,
    buf: &Bound<'py, PyAny>,
    offset: usize,
) -> PyResult<(Bound<'py, PyDict>, usize)> {
    let buf = input_bytes(buf)?;
    let rest = buf.get(offset..).unwrap_or(&[]);
    let (msg, used) = decode_frame(rest).map_err(|e| from_core(py, &e.shifted(offset)))?;
    Ok((message_to_record(py, &msg)?, used))
}

/// Builds the `shijim.events` record objects of fast-path JSONL lines (`crate::sbe::jsonl`).
/// Holds the record classes and enum members it was given, so this crate does not import the
/// Python package; lines outside the fast path come back as "not handled" for the Python reader.
#[pyclass(module = "shijim_core._shijim_core", frozen)]
struct JsonlRecords {
    tick: Py<PyAny>,
    bidask: Py<PyAny>,
    snapshot: Py<PyAny>,
    event: Py<PyAny>,
    /// TickType members by value (0, 1, 2).
    tick_types: Py<PyTuple>,
    /// Enum members (EventKind, SessionState, TradingStateName) by their JSONL value.
    names: Py<PyDict>,
    /// Decimal prices and code strings already built: market data repeats a few price levels
    /// and codes, and both are immutable in Python, so records may share them.
    cache: Mutex<Shared>,
}

/// Entries kept per map before it is emptied (bounds memory on adversarial input).
const CACHE_MAX: usize = 1 << 16;

#[derive(Default)]
struct Shared {
    prices: HashMap<i64, Py<PyAny>>,
    codes: HashMap<Code, Py<PyAny>>,
}

impl Shared {
    fn price<'py>(&mut self, py: Python<'py>, p: Price) -> PyResult<Bound<'py, PyAny>> {
        if let Some(d) = self.prices.get(&p.mantissa()) {
            return Ok(d.bind(py).clone());
        }
        let d = price_obj(py, p)?;
        if self.prices.len() >= CACHE_MAX {
            self.prices.clear();
        }
        self.prices.insert(p.mantissa(), d.clone().unbind());
        Ok(d)
    }

    fn prices<'py>(
        &mut self,
        py: Python<'py>,
        ps: &[Price; LEVELS],
    ) -> PyResult<Bound<'py, PyTuple>> {
        let items = ps
            .iter()
            .map(|&p| self.price(py, p))
            .collect::<PyResult<Vec<_>>>()?;
        PyTuple::new(py, items)
    }

    fn code<'py>(&mut self, py: Python<'py>, code: Code) -> Bound<'py, PyAny> {
        if let Some(s) = self.codes.get(&code) {
            return s.bind(py).clone();
        }
        let s = PyString::new(py, code.as_str()).into_any();
        if self.codes.len() >= CACHE_MAX {
            self.codes.clear();
        }
        self.codes.insert(code, s.clone().unbind());
        s
    }
}

impl JsonlRecords {
    fn name<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        if name.is_empty() {
            return Ok(py.None().into_bound(py));
        }
        self.names
            .bind(py)
            .get_item(name)?
            .ok_or_else(|| PyValueError::new_err(format!("JsonlRecords: no member {name:?}")))
    }

    fn record<'py>(&self, py: Python<'py>, msg: &Message) -> PyResult<Bound<'py, PyAny>> {
        // try_lock, never lock: building a record runs Python code (the class), so another
        // thread may run this while we hold the cache; blocking it while it holds the GIL
        // would deadlock. A thread that finds the cache busy builds its values uncached.
        let mut guard = self.cache.try_lock();
        let mut uncached = Shared::default();
        let cache = match guard.as_mut() {
            Ok(g) => &mut **g,
            Err(_) => &mut uncached,
        };
        match msg {
            Message::Tick(m) => {
                let tick_type = self.tick_types.bind(py).get_item(m.tick_type as usize)?;
                let args = (
                    cache.code(py, m.code),
                    m.exch_ts,
                    m.local_ts,
                    m.seq,
                    cache.price(py, m.price)?,
                    m.volume,
                    m.total_volume,
                    tick_type,
                    m.simtrade,
                );
                self.tick.bind(py).call1(args)
            }
            Message::BidAsk(m) => {
                let args = (
                    cache.code(py, m.code),
                    m.exch_ts,
                    m.local_ts,
                    m.seq,
                    cache.prices(py, &m.bid_price)?,
                    PyTuple::new(py, m.bid_volume)?,
                    cache.prices(py, &m.ask_price)?,
                    PyTuple::new(py, m.ask_volume)?,
                    m.simtrade,
                );
                self.bidask.bind(py).call1(args)
            }
            Message::Snapshot(m) => {
                let args = PyTuple::new(
                    py,
                    [
                        cache.code(py, m.code),
                        m.exch_ts.into_bound_py_any(py)?,
                        m.local_ts.into_bound_py_any(py)?,
                        m.seq.into_bound_py_any(py)?,
                        cache.price(py, m.open)?,
                        cache.price(py, m.high)?,
                        cache.price(py, m.low)?,
                        cache.price(py, m.close)?,
                        m.volume.into_bound_py_any(py)?,
                        m.total_volume.into_bound_py_any(py)?,
                        cache.price(py, m.bid_price)?,
                        m.bid_volume.into_bound_py_any(py)?,
                        cache.price(py, m.ask_price)?,
                        m.ask_volume.into_bound_py_any(py)?,
                    ],
                )?;
                self.snapshot.bind(py).call1(args)
            }
            Message::SystemEvent(m) => {
                let args = (
                    cache.code(py, m.code),
                    m.exch_ts,
                    m.local_ts,
                    m.seq,
                    self.name(py, m.kind.record_name())?,
                    self.name(py, m.session_state.record_name())?,
                    self.name(py, m.trading_state.record_name())?,
                    m.count,
                    m.reason.as_str(),
                );
                self.event.bind(py).call1(args)
            }
        }
    }
}

/// The complete lines at the start of `data` (each with its '\n'); with `last`, a final line
/// without '\n' too.
fn next_line(data: &[u8], pos: usize, last: bool) -> Option<usize> {
    let rest = data.get(pos..)?;
    match rest.iter().position(|&b| b == b'\n') {
        Some(i) => Some(pos + i + 1),
        None if last && !rest.is_empty() => Some(data.len()),
        None => None,
    }
}

/// The messages of the JSONL lines of `data` from `pos` on, blank lines skipped; ends at the
/// unread rest or before the first line outside the fast path (left unread for the reference
/// reader). `pos` is then where reading stopped, `lines` the lines consumed (blank included).
struct FastLines<'a> {
    data: &'a [u8],
    last: bool,
    pos: usize,
    lines: usize,
}

impl<'a> FastLines<'a> {
    fn new(data: &'a [u8], pos: usize, last: bool) -> FastLines<'a> {
        FastLines {
            data,
            last,
            pos,
            lines: 0,
        }
    }
}

impl Iterator for FastLines<'_> {
    type Item = Message;

    #[inline]
    fn next(&mut self) -> Option<Message> {
        loop {
            let end = next_line(self.data, self.pos, self.last)?;
            let line = &self.data[self.pos..end];
            if jsonl::is_blank(line) {
                self.pos = end;
                self.lines += 1;
                continue;
            }
            // A line outside the fast path stays unread, for the reference reader.
            let msg = jsonl::parse_line(line)?;
            self.pos = end;
            self.lines += 1;
            return Some(msg);
        }
    }
}

#[pymethods]
impl JsonlRecords {
    #[new]
    fn new(
        tick: Py<PyAny>,
        bidask: Py<PyAny>,
        snapshot: Py<PyAny>,
        event: Py<PyAny>,
        tick_types: Py<PyTuple>,
        names: Py<PyDict>,
    ) -> JsonlRecords {
        JsonlRecords {
            tick,
            bidask,
            snapshot,
            event,
            tick_types,
            names,
            cache: Mutex::default(),
        }
    }

    /// The record of one line, or None when the line is outside the fast path (the caller's
    /// reference reader then accepts it or names the bad field).
    fn parse_line<'py>(&self, py: Python<'py>, line: &[u8]) -> PyResult<Option<Bound<'py, PyAny>>> {
        match jsonl::parse_line(line) {
            Some(msg) => self.record(py, &msg).map(Some),
            None => Ok(None),
        }
    }

    /// Records of the lines of `data` from `pos` on, up to the first line outside the fast
    /// path: (records, position of that line or of the unread rest, lines consumed, blank
    /// lines included). `last`: `data` ends the input, so a final line needs no '\n'.
    #[pyo3(signature = (data, pos = 0, last = false))]
    fn read_lines<'py>(
        &self,
        py: Python<'py>,
        data: &[u8],
        pos: usize,
        last: bool,
    ) -> PyResult<(Bound<'py, PyList>, usize, usize)> {
        let out = PyList::empty(py);
        let mut it = FastLines::new(data, pos, last);
        for msg in it.by_ref() {
            out.append(self.record(py, &msg)?)?;
        }
        Ok((out, it.pos, it.lines))
    }

    /// The lines of `data` from `pos` on as ring rows, up to the first line outside the fast
    /// path or `limit` entries: (ticks TICK_DTYPE, books BIDASK_DTYPE, kinds u8 (1 tick, 2
    /// book, 3 other record; rows keep the recorded `seq`), line of each entry (int64, 1 = the
    /// first line read here),
    /// exch_ts of each entry (int64), other records (snapshots and events, as records), position
    /// of the first line not read, lines consumed (blank ones included)). Prices become the
    /// nearest float of the exact decimal, as `float(Decimal)` does; `local_ts` is 0 unless
    /// `keep_local_ts` (then the recorded one). No Python object per tick or book line.
    #[pyo3(signature = (data, pos = 0, last = false, limit = 4096, keep_local_ts = false))]
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn read_rows<'py>(
        &self,
        py: Python<'py>,
        data: &[u8],
        pos: usize,
        last: bool,
        limit: usize,
        keep_local_ts: bool,
    ) -> PyResult<(
        Bound<'py, PyArray1<TickRow>>,
        Bound<'py, PyArray1<BidAskRow>>,
        Bound<'py, PyArray1<u8>>,
        Bound<'py, PyArray1<i64>>,
        Bound<'py, PyArray1<i64>>,
        Bound<'py, PyList>,
        usize,
        usize,
    )> {
        let mut it = FastLines::new(data, pos, last);
        let rows = {
            // 1-based: `it.lines` already counts the line just read.
            let mut lines = std::iter::from_fn(|| {
                let msg = it.next()?;
                Some((msg, i64::try_from(it.lines).unwrap_or(i64::MAX)))
            });
            self.rows(py, &mut lines, limit, keep_local_ts)?
        };
        let (ticks, books, kinds, at, ts, others) = rows;
        Ok((ticks, books, kinds, at, ts, others, it.pos, it.lines))
    }

    /// The SOFH frames of `data` from `pos` on as ring rows, as `read_rows` gives lines, up to
    /// the first frame that is incomplete, bad or not a valid record (e.g. a tick with an empty
    /// code), or `limit` entries: (ticks, books, kinds, offset of each entry's frame in `data`
    /// (int64), exch_ts of each entry, other records, position of the first frame not read).
    /// The caller's reference decoder judges the frame it stops at, as `sbe_decode_jsonl`'s.
    #[pyo3(signature = (data, pos = 0, limit = 4096, keep_local_ts = false))]
    #[allow(clippy::type_complexity)]
    fn read_frames<'py>(
        &self,
        py: Python<'py>,
        data: &[u8],
        pos: usize,
        limit: usize,
        keep_local_ts: bool,
    ) -> PyResult<(
        Bound<'py, PyArray1<TickRow>>,
        Bound<'py, PyArray1<BidAskRow>>,
        Bound<'py, PyArray1<u8>>,
        Bound<'py, PyArray1<i64>>,
        Bound<'py, PyArray1<i64>>,
        Bound<'py, PyList>,
        usize,
    )> {
        let mut pos = pos;
        let rows = {
            let mut frames = std::iter::from_fn(|| {
                let (msg, used) = decode_frame(data.get(pos..)?).ok()?;
                if !jsonl::is_record(&msg) {
                    return None;
                }
                let at = i64::try_from(pos).unwrap_or(i64::MAX);
                pos += used;
                Some((msg, at))
            });
            self.rows(py, &mut frames, limit, keep_local_ts)?
        };
        let (ticks, books, kinds, at, ts, others) = rows;
        Ok((ticks, books, kinds, at, ts, others, pos))
    }
}

type Rows<'py> = (
    Bound<'py, PyArray1<TickRow>>,
    Bound<'py, PyArray1<BidAskRow>>,
    Bound<'py, PyArray1<u8>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyList>,
);

impl JsonlRecords {
    /// Up to `limit` messages (each with its place: line or byte offset) as ring rows: ticks,
    /// books, the kind, place and exch_ts of each entry, and snapshots/events as records. The
    /// one row builder of `read_rows` (JSONL) and `read_frames` (SBE), so both give the same
    /// rows for the same records.
    fn rows<'py>(
        &self,
        py: Python<'py>,
        msgs: &mut impl Iterator<Item = (Message, i64)>,
        limit: usize,
        keep_local_ts: bool,
    ) -> PyResult<Rows<'py>> {
        let (mut ticks, mut books) = (Vec::new(), Vec::new());
        let (mut kinds, mut place_of, mut ts_of) = (Vec::new(), Vec::new(), Vec::new());
        let others = PyList::empty(py);
        let lts = |recorded: i64| if keep_local_ts { recorded } else { 0 };
        while kinds.len() < limit {
            let Some((msg, place)) = msgs.next() else {
                break;
            };
            let (kind, exch_ts) = match &msg {
                Message::Tick(m) => {
                    // The recorded seq (the ring assigns its own at publish): for the
                    // duplicate check.
                    ticks.push(TickRow {
                        local_ts: lts(m.local_ts),
                        ..TickRow::new(m.seq, m)
                    });
                    (ROW_TICK, m.exch_ts)
                }
                Message::BidAsk(m) => {
                    books.push(BidAskRow {
                        local_ts: lts(m.local_ts),
                        ..BidAskRow::new(m.seq, m)
                    });
                    (ROW_BIDASK, m.exch_ts)
                }
                Message::Snapshot(m) => {
                    others.append(self.record(py, &msg)?)?;
                    (ROW_RECORD, m.exch_ts)
                }
                Message::SystemEvent(m) => {
                    others.append(self.record(py, &msg)?)?;
                    (ROW_RECORD, m.exch_ts)
                }
            };
            kinds.push(kind);
            place_of.push(place);
            ts_of.push(exch_ts);
        }
        Ok((
            PyArray1::from_vec(py, ticks),
            PyArray1::from_vec(py, books),
            PyArray1::from_vec(py, kinds),
            PyArray1::from_vec(py, place_of),
            PyArray1::from_vec(py, ts_of),
            others,
        ))
    }
}

/// Kinds of `JsonlRecords.read_rows` entries, in line order.
const ROW_TICK: u8 = 1;
const ROW_BIDASK: u8 = 2;
const ROW_RECORD: u8 = 3;

/// JSONL -> SOFH-framed SBE for the lines of `data` from `pos` on, up to the first line
/// outside the JSONL fast path: (frames, position of that line or of the unread rest, lines
/// consumed (blank ones included), records encoded).
#[pyfunction]
#[pyo3(signature = (data, pos = 0, last = false))]
fn sbe_encode_jsonl<'py>(
    py: Python<'py>,
    data: &[u8],
    pos: usize,
    last: bool,
) -> PyResult<(Bound<'py, PyBytes>, usize, usize, usize)> {
    let mut out = Vec::with_capacity(data.len() / 2);
    let mut frame = [0u8; SOFH_LEN + MAX_MESSAGE_LEN];
    let mut records = 0;
    let mut it = FastLines::new(data, pos, last);
    for msg in it.by_ref() {
        let n = encode_frame(&msg, &mut frame).map_err(|e| from_core(py, &e))?;
        out.extend_from_slice(&frame[..n]);
        records += 1;
    }
    Ok((PyBytes::new(py, &out), it.pos, it.lines, records))
}

/// SOFH-framed SBE -> canonical JSONL lines for the frames of `data` from `pos` on, up to the
/// first frame that is incomplete, bad, or not a valid record: (JSONL bytes, position of that
/// frame, records). The caller's reference decoder judges that frame.
#[pyfunction]
#[pyo3(signature = (data, pos = 0))]
fn sbe_decode_jsonl<'py>(
    py: Python<'py>,
    data: &[u8],
    pos: usize,
) -> PyResult<(Bound<'py, PyBytes>, usize, usize)> {
    let mut out = Vec::with_capacity(data.len() * 2);
    let (mut pos, mut records) = (pos, 0);
    while let Some(rest) = data.get(pos..) {
        let Ok((msg, used)) = decode_frame(rest) else {
            break;
        };
        if !jsonl::is_record(&msg) {
            break;
        }
        jsonl::write_line(&msg, &mut out);
        out.push(b'\n');
        pos += used;
        records += 1;
    }
    Ok((PyBytes::new(py, &out), pos, records))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("SbeError", py.get_type::<SbeError>())?;
    m.add("PRICE_EXPONENT", PRICE_EXPONENT)?;
    m.add("MAX_MESSAGE_LEN", MAX_MESSAGE_LEN)?;
    m.add("SBE_SCHEMA_ID", SCHEMA_ID)?;
    m.add("SBE_SCHEMA_VERSION", SCHEMA_VERSION)?;
    m.add("CODE_LEN", CODE_LEN)?;
    m.add("REASON_LEN", REASON_LEN)?;
    m.add_function(wrap_pyfunction!(sbe_encode, m)?)?;
    m.add_function(wrap_pyfunction!(sbe_decode, m)?)?;
    m.add_function(wrap_pyfunction!(sbe_encode_stream, m)?)?;
    m.add_function(wrap_pyfunction!(sbe_decode_stream, m)?)?;
    m.add_function(wrap_pyfunction!(sbe_decode_frame, m)?)?;
    m.add_function(wrap_pyfunction!(sbe_encode_jsonl, m)?)?;
    m.add_function(wrap_pyfunction!(sbe_decode_jsonl, m)?)?;
    m.add_class::<JsonlRecords>()?;
    Ok(())
}
