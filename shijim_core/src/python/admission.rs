//! Thin PyO3 bindings of `crate::admission`: Python values and ring rows (numpy, the ring's own
//! dtypes) in, ring publications and drop reports out. The rules and the state are the plain
//! Rust `Admission`'s; this file only reads Python values and shapes the answers.

use std::borrow::Cow;

use numpy::{PyArray1, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyTuple};

use super::logical;
use super::ring::{BidAskRow, RingWriter, TickRow};
use super::sbe::record_to_message;
use crate::admission::{
    Admission as Core, BookIn, Cause, ClockBound, Fault, Head, HoldChange, Input, Kind, Tally,
    TickIn, Verdict,
};
use crate::ring::RingError as CoreRingError;
use crate::sbe::{Code, Message, LEVELS};

fn ring_err(e: CoreRingError) -> PyErr {
    super::ring::RingError::new_err(e.to_string())
}

/// A drop found while reading Python values: (cause, field, detail).
type Bad = (Cause, String, String);

fn malformed(field: impl Into<String>, detail: String) -> Bad {
    (Cause::Malformed, field.into(), detail)
}

fn short_repr(v: &Bound<'_, PyAny>, n: usize) -> String {
    v.repr()
        .map(|r| r.to_string().chars().take(n).collect())
        .unwrap_or_else(|_| "<unprintable>".into())
}

/// A price as a float: float, int, Decimal (anything with `__float__`); not text, not bool.
fn number(v: &Bound<'_, PyAny>, field: &str) -> Result<f64, Bad> {
    if let Ok(f) = v.cast::<PyFloat>() {
        return Ok(f.value());
    }
    if v.is_instance_of::<PyBool>() {
        return Err(malformed(
            field,
            format!("{} is not a number", short_repr(v, 40)),
        ));
    }
    v.extract::<f64>().map_err(|e| {
        malformed(
            field,
            format!("{} is not a number ({e})", short_repr(v, 40)),
        )
    })
}

/// An integer, wide (a value beyond int64 is named by the rules, not wrapped; beyond i128 it
/// saturates, which the rules name as beyond int64 too).
fn integer(v: &Bound<'_, PyAny>, field: &str) -> Result<i128, Bad> {
    if let Ok(i) = v.extract::<i128>() {
        return Ok(i);
    }
    let py = v.py();
    let as_int = py.get_type::<PyInt>().call1((v,)).map_err(|e| {
        malformed(
            field,
            format!("{} is not an integer ({e})", short_repr(v, 40)),
        )
    })?;
    if let Ok(i) = as_int.extract::<i128>() {
        return Ok(i);
    }
    let positive = as_int.gt(0).unwrap_or(false);
    Ok(if positive { i128::MAX } else { i128::MIN })
}

/// Up to five levels (and how many were given, counted to 64) of a book side.
fn levels<T: Copy + Default>(
    v: &Bound<'_, PyAny>,
    field: &str,
    read: fn(&Bound<'_, PyAny>, &str) -> Result<T, Bad>,
) -> Result<([T; LEVELS], usize), Bad> {
    let mut out = [T::default(); LEVELS];
    let not_list = || {
        malformed(
            field,
            format!("{} is not a list of levels", short_repr(v, 60)),
        )
    };
    let mut n = 0;
    let mut take = |item: &Bound<'_, PyAny>, n: usize| -> Result<(), Bad> {
        let x = read(item, &format!("{field}[{n}]"))?;
        if n < LEVELS {
            out[n] = x;
        }
        Ok(())
    };
    if let Ok(list) = v.cast::<PyList>() {
        for item in list.iter().take(64) {
            take(&item, n)?;
            n += 1;
        }
    } else if let Ok(t) = v.cast::<PyTuple>() {
        for item in t.iter().take(64) {
            take(&item, n)?;
            n += 1;
        }
    } else {
        for item in v.try_iter().map_err(|_| not_list())?.take(64) {
            take(&item.map_err(|_| not_list())?, n)?;
            n += 1;
        }
    }
    Ok((out, n))
}

fn code_of(code: &str) -> Result<Code, Bad> {
    Code::new(code).map_err(|e| malformed("code", format!("{code:?}: {e}")))
}

fn exch_ts_of(v: &Bound<'_, PyAny>) -> Result<i64, Bad> {
    match integer(v, "exch_ts")? {
        t if t >= i64::MIN as i128 && t <= i64::MAX as i128 => Ok(t as i64),
        t => Err((
            Cause::BadTimestamp,
            "exch_ts".into(),
            format!("{t} is beyond int64"),
        )),
    }
}

#[allow(clippy::too_many_arguments)]
fn tick_in(
    code: &str,
    exch_ts: &Bound<'_, PyAny>,
    received: i64,
    price: &Bound<'_, PyAny>,
    volume: &Bound<'_, PyAny>,
    total_volume: &Bound<'_, PyAny>,
    tick_type: &Bound<'_, PyAny>,
    simtrade: bool,
    seq: u64,
) -> Result<TickIn, Bad> {
    let price = number(price, "price")?;
    let volume = integer(volume, "volume")?;
    let total_volume = integer(total_volume, "total_volume")?;
    let tick_type = integer(tick_type, "tick_type")?;
    Ok(TickIn {
        head: Head {
            seq,
            exch_ts: exch_ts_of(exch_ts)?,
            received,
            code: code_of(code)?,
        },
        price,
        volume,
        total_volume,
        tick_type,
        simtrade,
    })
}

#[allow(clippy::too_many_arguments)]
fn book_in(
    code: &str,
    exch_ts: &Bound<'_, PyAny>,
    received: i64,
    bid_px: &Bound<'_, PyAny>,
    bid_qty: &Bound<'_, PyAny>,
    ask_px: &Bound<'_, PyAny>,
    ask_qty: &Bound<'_, PyAny>,
    simtrade: bool,
    seq: u64,
) -> Result<BookIn, Bad> {
    let (bp, nbp) = levels(bid_px, "bid_price", number)?;
    let (bq, nbq) = levels(bid_qty, "bid_volume", integer)?;
    let (ap, nap) = levels(ask_px, "ask_price", number)?;
    let (aq, naq) = levels(ask_qty, "ask_volume", integer)?;
    for (name, n) in [
        ("bid_price", nbp),
        ("bid_volume", nbq),
        ("ask_price", nap),
        ("ask_volume", naq),
    ] {
        if n != LEVELS {
            return Err((
                Cause::MissingField,
                name.into(),
                format!("expected {LEVELS} levels, got {n}"),
            ));
        }
    }
    Ok(BookIn {
        head: Head {
            seq,
            exch_ts: exch_ts_of(exch_ts)?,
            received,
            code: code_of(code)?,
        },
        bid_px: bp,
        bid_qty: bq,
        ask_px: ap,
        ask_qty: aq,
        simtrade,
    })
}

fn tick_of_row(r: &TickRow) -> Result<Input, Fault> {
    Ok(Input::Tick(TickIn {
        head: head_of_row(r.seq, r.exch_ts, r.local_ts, r.code)?,
        price: r.price,
        volume: r.volume.into(),
        total_volume: r.total_volume.into(),
        tick_type: r.tick_type.into(),
        simtrade: r.simtrade != 0,
    }))
}

fn book_of_row(r: &BidAskRow) -> Result<Input, Fault> {
    Ok(Input::Book(BookIn {
        head: head_of_row(r.seq, r.exch_ts, r.local_ts, r.code)?,
        bid_px: r.bid_px,
        bid_qty: r.bid_qty.map(i128::from),
        ask_px: r.ask_px,
        ask_qty: r.ask_qty.map(i128::from),
        simtrade: r.simtrade != 0,
    }))
}

fn head_of_row(seq: u64, exch_ts: i64, local_ts: i64, code: [u8; 16]) -> Result<Head, Fault> {
    let code = Code::from_wire(code).map_err(|_| Fault {
        cause: Cause::Malformed,
        field: crate::admission::Field::Code,
        why: crate::admission::Why::BadCode,
    })?;
    Ok(Head {
        seq,
        exch_ts,
        received: local_ts,
        code,
    })
}

fn problem<'py>(py: Python<'py>, f: &Fault, kind: Kind, head: &Head) -> Bound<'py, PyTuple> {
    let detail = f.detail(kind, &head.code, head.exch_ts);
    PyTuple::new(py, [f.cause.name(), &f.field.name(), &detail])
        .unwrap_or_else(|_| PyTuple::empty(py))
}

fn holds_list<'py>(py: Python<'py>, changes: &[HoldChange]) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    for c in changes {
        let state = if c.held { "HALTED" } else { "ACTIVE" };
        out.append((c.code.as_str(), state, c.reason.as_str()))?;
    }
    Ok(out)
}

/// The admission state of one shard (`shijim.bus.Ingestor` wraps it):
/// `Admission(universe=None, hold_after=5)`; clock bounds via `set_clock`.
#[pyclass(module = "shijim_core._shijim_core")]
pub struct Admission {
    core: Core,
    changes: Vec<HoldChange>,
}

impl Admission {
    /// One input through the core with the writer; the Python answer: the seq alone (the
    /// usual case, nothing built) or `(seq | None, (cause, field, detail) | None, holds)`.
    fn admit_one(
        &mut self,
        py: Python<'_>,
        writer: &Bound<'_, RingWriter>,
        input: Result<Input, (Kind, Option<Code>, Bad)>,
        local_ts: i64,
        now: i64,
    ) -> PyResult<Py<PyAny>> {
        let mut w = writer.try_borrow_mut()?;
        let mut w = w.messages()?;
        self.changes.clear();
        let (seq, prob) = match input {
            Ok(input) => match self
                .core
                .admit(&mut w, &input, local_ts, now, &mut self.changes)
                .map_err(ring_err)?
            {
                Verdict::Published(seq) if self.changes.is_empty() => {
                    return Ok(seq.into_pyobject(py)?.into_any().unbind())
                }
                Verdict::Published(seq) => (Some(seq), None),
                Verdict::Dropped(f) => (None, Some(problem(py, &f, input.kind(), input.head()))),
            },
            Err((kind, code, (cause, field, detail))) => {
                if let Some(code) = code {
                    self.core
                        .reject(&mut w, kind, code, cause, now, &mut self.changes)
                        .map_err(ring_err)?;
                }
                let p = PyTuple::new(py, [cause.name(), &field, &detail])?;
                (None, Some(p))
            }
        };
        let holds = holds_list(py, &self.changes)?;
        Ok((seq, prob, holds).into_pyobject(py)?.into_any().unbind())
    }

    fn check_one(
        &self,
        py: Python<'_>,
        input: Result<Input, Bad>,
        now: i64,
    ) -> PyResult<Option<Py<PyTuple>>> {
        Ok(match input {
            Ok(input) => match self.core.check(&input, now) {
                Ok(_) => None,
                Err(f) => Some(problem(py, &f, input.kind(), input.head()).unbind()),
            },
            Err((cause, field, detail)) => {
                Some(PyTuple::new(py, [cause.name(), &field, &detail])?.unbind())
            }
        })
    }
}

fn bad_code(code: &str) -> Option<Code> {
    Code::new(code).ok()
}

/// The rows of `arr`, a 1-D array of `T` (`dtype` its Python name), read in place when
/// contiguous (a slice of a bigger batch is), else copied once. A wrong array is a TypeError
/// naming the call, the argument, what it expects and what it got.
pub(super) fn rows<'a, T: numpy::Element + Copy>(
    arr: &'a Bound<'_, PyAny>,
    call: &str,
    what: &str,
    dtype: &str,
) -> PyResult<Cow<'a, [T]>> {
    let a = arr.cast::<PyArray1<T>>().map_err(|_| {
        let got = match arr.cast::<PyUntypedArray>() {
            Ok(u) => format!("a {}-D array of dtype {}", u.ndim(), u.dtype()),
            Err(_) => match arr.get_type().name() {
                Ok(name) => format!("a {name}"),
                Err(_) => "something else".to_string(),
            },
        };
        PyTypeError::new_err(format!(
            "{call}: {what}: expected a 1-D {dtype} array, got {got}"
        ))
    })?;
    // SAFETY: the view lives only inside one call that holds the interpreter lock throughout,
    // so no Python code can resize or free the array meanwhile. rust-numpy's `readonly()`
    // would add a lookup in its table of borrowed arrays per array and call (~0.3 us of a
    // one-row publication on the trading path); that table only guards against a writable
    // rust-numpy borrow of the same array, and no such borrow exists while this call runs.
    Ok(logical(unsafe { a.as_array() }))
}

fn snapshot_input(record: &Bound<'_, PyAny>, received: i64) -> Result<Input, Bad> {
    match record_to_message(record) {
        Ok(Message::Snapshot(s)) => Ok(Input::Snapshot(
            Head {
                seq: s.seq,
                exch_ts: s.exch_ts,
                received,
                code: s.code,
            },
            s,
        )),
        Ok(_) => Err(malformed("type", "not a snapshot record".into())),
        Err(e) => Err(malformed(e.field, e.detail)),
    }
}

#[pymethods]
impl Admission {
    #[new]
    #[pyo3(signature = (universe = None, hold_after = 5))]
    fn new(universe: Option<Vec<String>>, hold_after: i64) -> PyResult<Self> {
        let universe = match universe {
            None => None,
            Some(codes) => Some(
                codes
                    .iter()
                    .map(|c| {
                        Code::new(c).map_err(|e| {
                            PyValueError::new_err(format!("universe: code {c:?}: {e}"))
                        })
                    })
                    .collect::<PyResult<Vec<Code>>>()?,
            ),
        };
        let hold_after = u32::try_from(hold_after).unwrap_or(0);
        let core = Core::new(universe, ClockBound::default(), hold_after)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(Admission {
            core,
            changes: Vec::new(),
        })
    }

    /// The feed's clock bounds (ns; None: no bound).
    #[pyo3(signature = (max_ahead_ns, max_behind_ns))]
    fn set_clock(&mut self, max_ahead_ns: Option<i64>, max_behind_ns: Option<i64>) {
        self.core.set_clock(ClockBound {
            max_ahead_ns,
            max_behind_ns,
        });
    }

    /// Codes held for bad data now: {code: reason}.
    fn held<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (code, reason) in self.core.held() {
            d.set_item(code.as_str(), reason)?;
        }
        Ok(d)
    }

    #[getter]
    fn hold_after(&self) -> u32 {
        self.core.hold_after()
    }

    /// Forget every stream's watermark (benches replaying the same data again).
    fn forget_watermarks(&mut self) {
        self.core.forget_watermarks();
    }

    /// Admit and publish one trade with `local_ts`; `received`: its receive time for the clock
    /// rule. Returns its ring seq, or `(seq | None, (cause, field, detail) | None, holds)` when
    /// it was dropped or changed a data hold (`holds`: `[(code, state, reason)]`).
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (writer, code, exch_ts, local_ts, received, price, volume, total_volume, tick_type, simtrade, seq, now))]
    fn admit_tick(
        &mut self,
        py: Python<'_>,
        writer: &Bound<'_, RingWriter>,
        code: &str,
        exch_ts: &Bound<'_, PyAny>,
        local_ts: i64,
        received: i64,
        price: &Bound<'_, PyAny>,
        volume: &Bound<'_, PyAny>,
        total_volume: &Bound<'_, PyAny>,
        tick_type: &Bound<'_, PyAny>,
        simtrade: bool,
        seq: u64,
        now: i64,
    ) -> PyResult<Py<PyAny>> {
        let input = tick_in(
            code,
            exch_ts,
            received,
            price,
            volume,
            total_volume,
            tick_type,
            simtrade,
            seq,
        )
        .map(Input::Tick)
        .map_err(|b| (Kind::Tick, bad_code(code), b));
        self.admit_one(py, writer, input, local_ts, now)
    }

    /// Admit and publish one five-level book (answers as `admit_tick`).
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (writer, code, exch_ts, local_ts, received, bid_px, bid_qty, ask_px, ask_qty, simtrade, seq, now))]
    fn admit_bidask(
        &mut self,
        py: Python<'_>,
        writer: &Bound<'_, RingWriter>,
        code: &str,
        exch_ts: &Bound<'_, PyAny>,
        local_ts: i64,
        received: i64,
        bid_px: &Bound<'_, PyAny>,
        bid_qty: &Bound<'_, PyAny>,
        ask_px: &Bound<'_, PyAny>,
        ask_qty: &Bound<'_, PyAny>,
        simtrade: bool,
        seq: u64,
        now: i64,
    ) -> PyResult<Py<PyAny>> {
        let input = book_in(
            code, exch_ts, received, bid_px, bid_qty, ask_px, ask_qty, simtrade, seq,
        )
        .map(Input::Book)
        .map_err(|b| (Kind::BidAsk, bad_code(code), b));
        self.admit_one(py, writer, input, local_ts, now)
    }

    /// Admit and publish one snapshot record dict (stream rules; answers as `admit_tick`).
    fn admit_snapshot(
        &mut self,
        py: Python<'_>,
        writer: &Bound<'_, RingWriter>,
        record: &Bound<'_, PyAny>,
        local_ts: i64,
        received: i64,
        now: i64,
    ) -> PyResult<Py<PyAny>> {
        let input = snapshot_input(record, received).map_err(|b| (Kind::Snapshot, None, b));
        self.admit_one(py, writer, input, local_ts, now)
    }

    /// What `admit_tick` would drop this trade for now, changing nothing: None or
    /// `(cause, field, detail)`.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (code, exch_ts, received, price, volume, total_volume, tick_type, simtrade, seq, now))]
    fn check_tick(
        &self,
        py: Python<'_>,
        code: &str,
        exch_ts: &Bound<'_, PyAny>,
        received: i64,
        price: &Bound<'_, PyAny>,
        volume: &Bound<'_, PyAny>,
        total_volume: &Bound<'_, PyAny>,
        tick_type: &Bound<'_, PyAny>,
        simtrade: bool,
        seq: u64,
        now: i64,
    ) -> PyResult<Option<Py<PyTuple>>> {
        let input = tick_in(
            code,
            exch_ts,
            received,
            price,
            volume,
            total_volume,
            tick_type,
            simtrade,
            seq,
        );
        self.check_one(py, input.map(Input::Tick), now)
    }

    /// What `admit_bidask` would drop this book for now, as `check_tick`.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (code, exch_ts, received, bid_px, bid_qty, ask_px, ask_qty, simtrade, seq, now))]
    fn check_bidask(
        &self,
        py: Python<'_>,
        code: &str,
        exch_ts: &Bound<'_, PyAny>,
        received: i64,
        bid_px: &Bound<'_, PyAny>,
        bid_qty: &Bound<'_, PyAny>,
        ask_px: &Bound<'_, PyAny>,
        ask_qty: &Bound<'_, PyAny>,
        simtrade: bool,
        seq: u64,
        now: i64,
    ) -> PyResult<Option<Py<PyTuple>>> {
        let input = book_in(
            code, exch_ts, received, bid_px, bid_qty, ask_px, ask_qty, simtrade, seq,
        );
        self.check_one(py, input.map(Input::Book), now)
    }

    /// What `admit_snapshot` would drop this record for now, as `check_tick`.
    fn check_snapshot(
        &self,
        py: Python<'_>,
        record: &Bound<'_, PyAny>,
        received: i64,
        now: i64,
    ) -> PyResult<Option<Py<PyTuple>>> {
        self.check_one(py, snapshot_input(record, received), now)
    }

    /// What `admit_rows` would drop row `i` of a TICK_DTYPE (`kind` "tick") or BIDASK_DTYPE
    /// ("bidask") array for now, as `check_tick`.
    fn check_row(
        &self,
        py: Python<'_>,
        kind: &str,
        arr: &Bound<'_, PyAny>,
        i: usize,
        now: i64,
    ) -> PyResult<Option<Py<PyTuple>>> {
        let (input, k) = match kind {
            "tick" => {
                let a = rows::<TickRow>(arr, "check_row", "arr", "TICK_DTYPE")?;
                let r = a
                    .get(i)
                    .ok_or_else(|| PyValueError::new_err("check_row: no such row"))?;
                (tick_of_row(r), Kind::Tick)
            }
            "bidask" => {
                let a = rows::<BidAskRow>(arr, "check_row", "arr", "BIDASK_DTYPE")?;
                let r = a
                    .get(i)
                    .ok_or_else(|| PyValueError::new_err("check_row: no such row"))?;
                (book_of_row(r), Kind::BidAsk)
            }
            other => {
                return Err(PyValueError::new_err(format!(
                    "check_row: kind {other:?}: expected \"tick\" or \"bidask\""
                )))
            }
        };
        match input {
            Ok(input) => self.check_one(py, Ok(input), now),
            Err(f) => Ok(Some(problem(py, &f, k, &Head::default()).unbind())),
        }
    }

    /// Admit and publish a batch in one given order: `kinds[i]` (uint8, as the core's readers
    /// give them) is 1 (next row of `ticks`) or 2 (next row of `bidasks`). Each row's `local_ts` is its receive time for the clock rule;
    /// published rows carry it, or `now` when it is 0 and `stamp_local_ts`, or always with
    /// `restamp`. Returns `(ticks published, books published, drops, holds)` (the writer counts
    /// what it published: `RingWriter.publications`): `drops` one `(kind, cause, count, first
    /// row, field, detail)` per kind and cause, `holds` `[(code, state, reason)]` in order (each
    /// also in the ring at its place).
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (writer, ticks, bidasks, kinds, now, stamp_local_ts = true, restamp = false))]
    fn admit_rows<'py>(
        &mut self,
        py: Python<'py>,
        writer: &Bound<'py, RingWriter>,
        ticks: &Bound<'py, PyAny>,
        bidasks: &Bound<'py, PyAny>,
        kinds: &Bound<'py, PyAny>,
        now: i64,
        stamp_local_ts: bool,
        restamp: bool,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let t = rows::<TickRow>(ticks, "admit_rows", "ticks", "TICK_DTYPE")?;
        let b = rows::<BidAskRow>(bidasks, "admit_rows", "bidasks", "BIDASK_DTYPE")?;
        let kinds = rows::<u8>(kinds, "admit_rows", "kinds", "uint8")?;
        let (t, b, kinds) = (&*t, &*b, &*kinds);
        // The order must account for every row exactly: refuse before publishing anything.
        let nt = kinds.iter().filter(|&&k| k == 1).count();
        if nt != t.len() || kinds.len() - nt != b.len() || kinds.iter().any(|&k| k != 1 && k != 2) {
            return Err(PyValueError::new_err(format!(
                "admit_rows: kinds must hold 1 ({} ticks) and 2 ({} books) only, got {} entries \
                 with {nt} ones",
                t.len(),
                b.len(),
                kinds.len()
            )));
        }
        let mut w = writer.try_borrow_mut()?;
        let mut w = w.messages()?;
        self.changes.clear();
        let mut tally = Tally::default();
        let (mut ti, mut bi) = (0usize, 0usize);
        let (mut pub_t, mut pub_b) = (0u64, 0u64);
        for &k in kinds {
            let (kind, row, input, raw_lts) = if k == 1 {
                let r = &t[ti];
                ti += 1;
                (Kind::Tick, ti - 1, tick_of_row(r), r.local_ts)
            } else {
                let r = &b[bi];
                bi += 1;
                (Kind::BidAsk, bi - 1, book_of_row(r), r.local_ts)
            };
            let input = match input {
                Ok(i) => i,
                Err(f) => {
                    tally.add(kind, row, f, &Head::default());
                    continue;
                }
            };
            let lts = if restamp || (stamp_local_ts && raw_lts == 0) {
                now
            } else {
                raw_lts
            };
            match self
                .core
                .admit(&mut w, &input, lts, now, &mut self.changes)
                .map_err(ring_err)?
            {
                Verdict::Published(_) if kind == Kind::Tick => pub_t += 1,
                Verdict::Published(_) => pub_b += 1,
                Verdict::Dropped(f) => tally.add(kind, row, f, input.head()),
            }
        }
        let drops = PyList::empty(py);
        for e in tally.entries() {
            let detail = e.fault.detail(e.kind, &e.code, e.exch_ts);
            drops.append((
                e.kind.name(),
                e.fault.cause.name(),
                e.count,
                e.row,
                e.fault.field.name(),
                detail,
            ))?;
        }
        let holds = holds_list(py, &self.changes)?;
        (pub_t, pub_b, drops, holds).into_pyobject(py)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Admission>()?;
    let names: Vec<&str> = crate::admission::CAUSES.iter().map(|c| c.name()).collect();
    m.add("ADMISSION_CAUSES", PyTuple::new(m.py(), names)?)?;
    Ok(())
}
