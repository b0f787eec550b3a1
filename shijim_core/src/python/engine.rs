//! Thin PyO3 bindings of `crate::engine`: the per-event engine (books, signals, decision policy,
//! paper venue, account) as `Engine`, its due events and read-only views as small frozen
//! classes, and the engine's wire codes as module constants (Python never hand-copies them).
//! Conversion only: every rule lives in the plain Rust engine.

use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyInt, PyString, PyTuple, PyType};

use super::tuple_type::tuple_instance;

use super::ring::{price_any, RingReader};
use crate::engine::account::PositionView as CorePosition;
use crate::engine::book::{CodeBook, DropCause, Flags};
use crate::engine::driver::{
    ClockSource, Due, DueKind, Engine as CoreEngine, EngineConfig, FrameSource, NextDue,
};
use crate::engine::fees::{FeeSchedule, InstrumentSpec};
use crate::engine::latency::LatencyModel;
use crate::engine::policy::DecisionPolicy;
use crate::engine::signals::{SignalConfig, Signals};
use crate::engine::standby::Standby;
use crate::engine::types::{CodeId, Price, Side, L5, LEVELS, PRICE_SCALE};
use crate::engine::venue::{OrderRequest, Tif, VenueConfig, VenueEvent, VenueReject};
use crate::sbe::{EventKind, SessionState, TickType, TradingState};

fn value_err(call: &str, field: &str, detail: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(format!("{call}: {field}: {detail}"))
}

// ---------------------------------------------------------------------------------------------
// Wire codes

const TIF_DAY: u8 = 0;
const TIF_IOC: u8 = 1;
const TIF_FOK: u8 = 2;

fn tif_of(v: u8) -> Option<Tif> {
    match v {
        TIF_DAY => Some(Tif::Day),
        TIF_IOC => Some(Tif::Ioc),
        TIF_FOK => Some(Tif::Fok),
        _ => None,
    }
}

/// Kinds of venue events (`VenueEventView.kind`).
const EV_ACCEPTED: u8 = 1;
const EV_REJECTED: u8 = 2;
const EV_FILLED: u8 = 3;
const EV_AMENDED: u8 = 4;
const EV_AMEND_REJECTED: u8 = 5;
const EV_CANCELLED: u8 = 6;
const EV_CANCEL_REJECTED: u8 = 7;

// ---------------------------------------------------------------------------------------------
// Views

/// A decision that is due: `kind` (DUE_BOOK, DUE_TRADE, DUE_SYSTEM, DUE_EXECUTION), the code
/// (None for shard-wide system events and execution dues), what changed (`flags`: FLAG_*), and
/// the triggering event's seq and times (`local_ts`: tick-to-order starts there). System dues
/// also carry the event (`event`, `session_state`, `trading_state`, `count`, `reason`).
#[pyclass(module = "shijim_core._shijim_core", frozen, name = "Due")]
pub struct PyDue {
    inner: Due,
    code: Option<Py<PyString>>,
}

#[pymethods]
impl PyDue {
    #[getter]
    fn kind(&self) -> u8 {
        self.inner.kind as u8
    }
    #[getter]
    fn code_id(&self) -> Option<CodeId> {
        self.inner.code
    }
    #[getter]
    fn code<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyString>> {
        self.code.as_ref().map(|c| c.bind(py).clone())
    }
    #[getter]
    fn flags(&self) -> u8 {
        self.inner.flags.0
    }
    #[getter]
    fn seq(&self) -> u64 {
        self.inner.seq
    }
    #[getter]
    fn exch_ts(&self) -> i64 {
        self.inner.exch_ts
    }
    #[getter]
    fn local_ts(&self) -> i64 {
        self.inner.local_ts
    }
    #[getter]
    fn event(&self) -> Option<u8> {
        self.inner.system.map(|e| e.kind as u8)
    }
    #[getter]
    fn session_state(&self) -> Option<u8> {
        self.inner.system.map(|e| e.session_state as u8)
    }
    #[getter]
    fn trading_state(&self) -> Option<u8> {
        self.inner.system.map(|e| e.trading_state as u8)
    }
    #[getter]
    fn count(&self) -> Option<i64> {
        self.inner.system.map(|e| e.count)
    }
    #[getter]
    fn reason(&self) -> Option<String> {
        self.inner.system.map(|e| e.reason.as_str().to_string())
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let code = match &self.code {
            Some(c) => c.bind(py).to_string(),
            None => String::new(),
        };
        format!(
            "Due(kind={}, code={:?}, flags={}, seq={}, exch_ts={}, local_ts={})",
            self.inner.kind as u8,
            code,
            self.inner.flags.0,
            self.inner.seq,
            self.inner.exch_ts,
            self.inner.local_ts
        )
    }
}

/// One code's book and signals at one moment (read-only; a copy, so it never changes under
/// the strategy). Flows (`ofi`, `ofi_best`, `mlofi`, `trade_flow`, `books`, `trades`) are those
/// accumulated since the strategy last took the signals; `*_total` since the engine started.
/// Sign conventions: docs/signals.md (positive OFI = buying pressure; trade flow + for
/// buyer-initiated volume).
#[pyclass(module = "shijim_core._shijim_core", frozen, name = "BookView")]
pub struct BookView {
    code_id: CodeId,
    code: String,
    book: L5,
    depth: usize,
    seq: u64,
    exch_ts: i64,
    local_ts: i64,
    s: Signals,
}

#[pymethods]
impl BookView {
    #[getter]
    fn code_id(&self) -> CodeId {
        self.code_id
    }
    #[getter]
    fn code(&self) -> &str {
        &self.code
    }
    #[getter]
    fn seq(&self) -> u64 {
        self.seq
    }
    #[getter]
    fn exch_ts(&self) -> i64 {
        self.exch_ts
    }
    #[getter]
    fn local_ts(&self) -> i64 {
        self.local_ts
    }
    #[getter]
    fn best_bid(&self) -> f64 {
        self.s.best_bid
    }
    #[getter]
    fn best_ask(&self) -> f64 {
        self.s.best_ask
    }
    #[getter]
    fn bid_qty(&self) -> i64 {
        self.s.bid_qty
    }
    #[getter]
    fn ask_qty(&self) -> i64 {
        self.s.ask_qty
    }
    #[getter]
    fn mid(&self) -> f64 {
        self.s.mid
    }
    #[getter]
    fn spread(&self) -> f64 {
        self.s.spread.to_f64()
    }
    #[getter]
    fn microprice(&self) -> f64 {
        self.s.microprice
    }
    #[getter]
    fn imbalance(&self) -> f64 {
        self.s.imbalance
    }
    #[getter]
    fn imbalance_l1(&self) -> f64 {
        self.s.imbalance_l1
    }
    /// Levels populated on both sides.
    #[getter]
    fn depth(&self) -> usize {
        self.depth
    }
    #[getter]
    fn ofi(&self) -> f64 {
        self.s.since.ofi
    }
    #[getter]
    fn ofi_best(&self) -> f64 {
        self.s.since.ofi_best
    }
    #[getter]
    fn mlofi<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.s.since.mlofi)
    }
    #[getter]
    fn trade_flow(&self) -> f64 {
        self.s.since.trade_flow as f64
    }
    #[getter]
    fn books(&self) -> u64 {
        self.s.since.books
    }
    #[getter]
    fn trades(&self) -> u64 {
        self.s.since.trades
    }
    #[getter]
    fn ofi_total(&self) -> f64 {
        self.s.total.ofi
    }
    #[getter]
    fn ofi_best_total(&self) -> f64 {
        self.s.total.ofi_best
    }
    #[getter]
    fn mlofi_total<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.s.total.mlofi)
    }
    #[getter]
    fn trade_flow_total(&self) -> f64 {
        self.s.total.trade_flow as f64
    }
    /// Price of the last real trade, NaN before the first.
    #[getter]
    fn last_trade(&self) -> f64 {
        self.s.last_trade_price()
    }
    #[getter]
    fn last_trade_qty(&self) -> i64 {
        self.s.last_trade.map_or(0, |t| t.qty)
    }
    /// SIDE_BUY / SIDE_SELL of the last trade's aggressor, 0 if unknown or no trade yet.
    #[getter]
    fn last_trade_side(&self) -> u8 {
        self.s
            .last_trade
            .and_then(|t| t.aggressor)
            .map_or(0, |s| s as u8)
    }
    #[getter]
    fn bid_px(&self) -> Vec<f64> {
        self.book.bid.price.map(Price::to_f64).to_vec()
    }
    #[getter]
    fn bid_qtys(&self) -> Vec<i64> {
        self.book.bid.qty.to_vec()
    }
    #[getter]
    fn ask_px(&self) -> Vec<f64> {
        self.book.ask.price.map(Price::to_f64).to_vec()
    }
    #[getter]
    fn ask_qtys(&self) -> Vec<i64> {
        self.book.ask.qty.to_vec()
    }

    fn __repr__(&self) -> String {
        format!(
            "BookView(code={:?}, bid={} x {}, ask={} x {}, ofi={}, trade_flow={})",
            self.code,
            self.s.best_bid,
            self.s.bid_qty,
            self.s.best_ask,
            self.s.ask_qty,
            self.s.since.ofi,
            self.s.since.trade_flow
        )
    }
}

/// An execution event of the paper venue: `kind` (VENUE_*), the order id and `at` (when the
/// strategy learns it); fills add code, side, price, qty, remaining, fee, maker, exec_at.
#[pyclass(
    module = "shijim_core._shijim_core",
    frozen,
    get_all,
    name = "VenueEventView"
)]
pub struct VenueEventView {
    kind: u8,
    order_id: u64,
    at: i64,
    code_id: Option<CodeId>,
    side: Option<u8>,
    price: Option<f64>,
    qty: Option<i64>,
    remaining: Option<i64>,
    fee: Option<f64>,
    maker: Option<bool>,
    exec_at: Option<i64>,
    reason: Option<&'static str>,
}

impl VenueEventView {
    fn new(e: &VenueEvent) -> VenueEventView {
        let mut v = VenueEventView {
            kind: 0,
            order_id: e.id(),
            at: e.at(),
            code_id: None,
            side: None,
            price: None,
            qty: None,
            remaining: None,
            fee: None,
            maker: None,
            exec_at: None,
            reason: None,
        };
        match *e {
            VenueEvent::Accepted { .. } => v.kind = EV_ACCEPTED,
            VenueEvent::Rejected { reason, .. } => {
                v.kind = EV_REJECTED;
                v.reason = Some(match reason {
                    VenueReject::TooManyWorking => "too_many_working",
                });
            }
            VenueEvent::Filled {
                code,
                side,
                price,
                qty,
                remaining,
                fee,
                maker,
                exec_at,
                ..
            } => {
                v.kind = EV_FILLED;
                v.code_id = Some(code);
                v.side = Some(side as u8);
                v.price = Some(price.to_f64());
                v.qty = Some(qty);
                v.remaining = Some(remaining);
                v.fee = Some(fee);
                v.maker = Some(maker);
                v.exec_at = Some(exec_at);
            }
            VenueEvent::Amended {
                price, remaining, ..
            } => {
                v.kind = EV_AMENDED;
                v.price = Some(price.to_f64());
                v.remaining = Some(remaining);
            }
            VenueEvent::AmendRejected { .. } => v.kind = EV_AMEND_REJECTED,
            VenueEvent::Cancelled { qty, .. } => {
                v.kind = EV_CANCELLED;
                v.qty = Some(qty);
            }
            VenueEvent::CancelRejected { .. } => v.kind = EV_CANCEL_REJECTED,
        }
        v
    }
}

#[pymethods]
impl VenueEventView {
    fn __repr__(&self) -> String {
        format!(
            "VenueEventView(kind={}, order_id={}, at={}, qty={:?}, price={:?})",
            self.kind, self.order_id, self.at, self.qty, self.price
        )
    }
}

/// One code's position (`Engine.position`): net lots, average open price, TWD realised
/// (before fees), unrealised (at `mark`, the last mid), fees; `realised_units` is the realised
/// PnL exactly, before the multiplier, in price mantissa (10^-6) x lots.
#[pyclass(
    module = "shijim_core._shijim_core",
    frozen,
    get_all,
    name = "PositionView"
)]
pub struct PositionView {
    code_id: CodeId,
    net: i64,
    avg_price: f64,
    realised: f64,
    unrealised: f64,
    fees: f64,
    mark: f64,
    realised_units: i128,
}

impl PositionView {
    fn new(code_id: CodeId, p: &CorePosition) -> PositionView {
        PositionView {
            code_id,
            net: p.net,
            avg_price: p.avg_price,
            realised: p.realised,
            unrealised: p.unrealised,
            fees: p.fees,
            mark: p.mark,
            realised_units: p.realised_units,
        }
    }
}

#[pymethods]
impl PositionView {
    fn __repr__(&self) -> String {
        format!(
            "PositionView(code_id={}, net={}, avg_price={}, realised={}, unrealised={}, fees={})",
            self.code_id, self.net, self.avg_price, self.realised, self.unrealised, self.fees
        )
    }
}

/// SOFH-framed SBE messages (the `shijim.tools.sbe` file format) as an event source for
/// `Engine.next_due_frames`: `SbeFrames(data)` over bytes, `SbeFrames.open(path)` a file.
#[pyclass(module = "shijim_core._shijim_core", name = "SbeFrames")]
pub struct SbeFrames {
    inner: FrameSource,
}

#[pymethods]
impl SbeFrames {
    #[new]
    fn new(data: Vec<u8>) -> SbeFrames {
        SbeFrames {
            inner: FrameSource::new(data),
        }
    }

    #[staticmethod]
    fn open(path: std::path::PathBuf) -> PyResult<SbeFrames> {
        FrameSource::open(&path)
            .map(|inner| SbeFrames { inner })
            .map_err(|e| {
                pyo3::exceptions::PyOSError::new_err(format!(
                    "SbeFrames.open: {}: {e}",
                    path.display()
                ))
            })
    }

    /// Byte offset of the next frame.
    #[getter]
    fn position(&self) -> usize {
        self.inner.position()
    }

    /// True at the end, or after a broken frame header (see `error`).
    #[getter]
    fn done(&self) -> bool {
        self.inner.done()
    }

    /// The frame-header error that stopped the source, naming the byte offset.
    #[getter]
    fn error(&self) -> Option<String> {
        self.inner.error().map(|e| e.to_string())
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }
}

// ---------------------------------------------------------------------------------------------
// Engine

fn latency_from(call: &str, v: Option<&Bound<'_, PyAny>>) -> PyResult<LatencyModel> {
    let Some(v) = v else {
        return Ok(LatencyModel::shioaji_default());
    };
    if let Ok(s) = v.extract::<String>() {
        return match s.as_str() {
            "zero" => Ok(LatencyModel::Zero),
            "shioaji" | "default" => Ok(LatencyModel::shioaji_default()),
            other => Err(value_err(
                call,
                "latency",
                format!("{other:?}: expected \"zero\", \"shioaji\" or a dict"),
            )),
        };
    }
    let d = v
        .cast::<PyDict>()
        .map_err(|_| value_err(call, "latency", "expected a str or a dict"))?;
    let ns = |key: &str| -> PyResult<i64> {
        let x = d
            .get_item(key)?
            .ok_or_else(|| value_err(call, &format!("latency[{key:?}]"), "missing"))?;
        let n: i64 = x.extract().map_err(|_| {
            value_err(
                call,
                &format!("latency[{key:?}]"),
                format!("{x} is not an int of ns"),
            )
        })?;
        if n < 0 {
            return Err(value_err(
                call,
                &format!("latency[{key:?}]"),
                format!("{n} < 0"),
            ));
        }
        Ok(n)
    };
    let kind: String = d
        .get_item("kind")?
        .ok_or_else(|| value_err(call, "latency[\"kind\"]", "missing"))?
        .extract()
        .map_err(|_| value_err(call, "latency[\"kind\"]", "expected a str"))?;
    match kind.as_str() {
        "constant" => Ok(LatencyModel::Constant {
            entry: ns("entry_ns")?,
            ack: ns("ack_ns")?,
            cancel: ns("cancel_ns")?,
        }),
        "lognormal" => {
            let sigma: f64 = d
                .get_item("sigma")?
                .ok_or_else(|| value_err(call, "latency[\"sigma\"]", "missing"))?
                .extract()
                .map_err(|_| value_err(call, "latency[\"sigma\"]", "expected a float"))?;
            if !(sigma.is_finite() && sigma >= 0.0) {
                return Err(value_err(
                    call,
                    "latency[\"sigma\"]",
                    format!("{sigma}: must be finite and >= 0"),
                ));
            }
            Ok(LatencyModel::LogNormal {
                median_entry: ns("median_entry_ns")?,
                median_ack: ns("median_ack_ns")?,
                median_cancel: ns("median_cancel_ns")?,
                sigma,
                floor: ns("floor_ns")?,
            })
        }
        other => Err(value_err(
            call,
            "latency[\"kind\"]",
            format!("{other:?}: expected \"constant\" or \"lognormal\""),
        )),
    }
}

fn spec_from(call: &str, code: &str, v: &Bound<'_, PyAny>) -> PyResult<InstrumentSpec> {
    let d = v
        .cast::<PyDict>()
        .map_err(|_| value_err(call, &format!("instruments[{code:?}]"), "expected a dict"))?;
    let mut spec = InstrumentSpec::for_code(code);
    let mut fees: FeeSchedule = spec.fees;
    for (k, x) in d.iter() {
        let key: String = k.extract()?;
        let field = format!("instruments[{code:?}][{key:?}]");
        let f: f64 = x
            .extract()
            .map_err(|_| value_err(call, &field, format!("{x} is not a number")))?;
        if !(f.is_finite() && f >= 0.0) {
            return Err(value_err(
                call,
                &field,
                format!("{f}: must be finite and >= 0"),
            ));
        }
        match key.as_str() {
            "multiplier" => spec.multiplier = f,
            "per_lot" => fees.per_lot = f,
            "rate" => fees.rate = f,
            "sell_tax_rate" => fees.sell_tax_rate = f,
            _ => {
                return Err(value_err(
                    call,
                    &field,
                    "unknown key (multiplier, per_lot, rate, sell_tax_rate)",
                ))
            }
        }
    }
    spec.fees = fees;
    Ok(spec)
}

/// The per-event engine of one shard (docs/engine.md):
/// `Engine(codes, policy="every_event", *, levels=5, level_decay=0.5, latency="shioaji",
/// seed=0, instruments=None, clock="local")`; `clock`: "local" (engine time runs on local_ts)
/// or "exchange" (on exch_ts: the simulator, decisions independent of pace). `codes`: the shard's instruments (code ids 0, 1, ... in this
/// order); `policy`: "every_event", "on_touch_change" or "interval_ms:N"; `latency`: "zero",
/// "shioaji" (the default model) or {"kind": "constant", "entry_ns", "ack_ns", "cancel_ns"} /
/// {"kind": "lognormal", "median_entry_ns", "median_ack_ns", "median_cancel_ns", "sigma",
/// "floor_ns"}; `instruments`: per code overrides of {"multiplier", "per_lot", "rate",
/// "sell_tax_rate"} (defaults by code: TXF/MXF/TMF futures, TWSE stocks; fees on).
#[pyclass(module = "shijim_core._shijim_core", name = "Engine")]
pub struct PyEngine {
    inner: CoreEngine,
    last: NextDue,
    events: Vec<VenueEvent>,
    /// Each code as a Python str, made once (index = code id): the views' `code`.
    code_names: Vec<Py<PyString>>,
    /// code -> id, every code including those adopted later: the one lookup Python's per-order
    /// paths read (`code_ids`), a dict hit instead of a call and, for an unknown code, a raise.
    code_ids: Py<PyDict>,
}

impl PyEngine {
    fn code_str(&self, id: Option<CodeId>) -> Option<String> {
        id.and_then(|i| self.inner.codes().code(i))
            .map(|c| c.as_str().to_string())
    }

    fn due_out(&mut self, py: Python<'_>, out: NextDue) -> Option<PyDue> {
        self.last = out;
        let d = out.due?;
        Some(PyDue {
            code: d.code.map(|id| self.code_name(py, id).unbind()),
            inner: d,
        })
    }

    /// The code's Python str, made on first use (codes adopted later are appended). The id
    /// was checked by the caller.
    fn code_name<'py>(&mut self, py: Python<'py>, code_id: CodeId) -> Bound<'py, PyString> {
        let id = code_id as usize;
        while self.code_names.len() <= id {
            let next = self.code_names.len() as CodeId;
            let name = self.code_str(Some(next)).unwrap_or_default();
            self.code_names.push(PyString::new(py, &name).unbind());
        }
        self.code_names[id].bind(py).clone()
    }

    fn net_of(&self, call: &str, code_id: CodeId) -> PyResult<i64> {
        self.checked_id(call, code_id)?;
        self.inner
            .account()
            .position(code_id)
            .map(|p| p.net)
            .ok_or_else(|| {
                PyKeyError::new_err(format!("{call}: code_id {code_id}: not in the account"))
            })
    }

    /// `take_view` (`take`: the flows restart) or `peek_view` of `code_id`.
    fn strategy_view<'py>(
        &mut self,
        py: Python<'py>,
        call: &str,
        code_id: CodeId,
        take: bool,
        view_type: &Bound<'py, PyType>,
        signals_type: &Bound<'py, PyType>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.checked_id(call, code_id)?;
        // The code goes in as the cached str: the view's own String stays empty.
        let v = if take {
            let taken = self.inner.take_signals(code_id);
            taken.and_then(|(b, s)| view(code_id, String::new(), b, s))
        } else {
            let book = self.inner.book(code_id);
            book.and_then(|b| view(code_id, String::new(), b, *b.signals()))
        };
        let Some(v) = v else {
            return Ok(None);
        };
        let code = self.code_name(py, code_id);
        view_instance(call, code, &v, view_type, signals_type).map(Some)
    }

    fn checked_id(&self, call: &str, code_id: CodeId) -> PyResult<()> {
        if (code_id as usize) < self.inner.codes().len() {
            Ok(())
        } else {
            Err(PyKeyError::new_err(format!(
                "{call}: code_id {code_id}: no such instrument (the engine has {})",
                self.inner.codes().len()
            )))
        }
    }
}

/// The view of a code's book with the signals `s` (None without a book).
fn view(id: CodeId, code: String, b: &CodeBook, s: Signals) -> Option<BookView> {
    let book = *b.book()?;
    Some(BookView {
        code_id: id,
        code,
        book,
        depth: b.depth(),
        seq: b.seq,
        exch_ts: b.exch_ts,
        local_ts: b.local_ts,
        s,
    })
}

/// The strategy's view of a code (`Engine.take_view`): an instance of `view_type` holding
/// (code, exch_ts, local_ts, best_bid, best_ask, bid_qty, ask_qty, signals), `signals` an
/// instance of `signals_type` holding (ofi, microprice, mid, spread, imbalance, last_trade,
/// trade_flow): the BookView getters' values, in that order.
fn view_instance<'py>(
    call: &str,
    code: Bound<'py, PyString>,
    v: &BookView,
    view_type: &Bound<'py, PyType>,
    signals_type: &Bound<'py, PyType>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = code.py();
    let f = |x: f64| PyFloat::new(py, x).into_any();
    let i = |x: i64| PyInt::new(py, x).into_any();
    let signals = tuple_instance(
        call,
        signals_type,
        [
            f(v.ofi()),
            f(v.microprice()),
            f(v.mid()),
            f(v.spread()),
            f(v.imbalance()),
            f(v.last_trade()),
            f(v.trade_flow()),
        ],
    )?;
    let s = &v.s;
    tuple_instance(
        call,
        view_type,
        [
            code.into_any(),
            i(v.exch_ts),
            i(v.local_ts),
            f(s.best_bid),
            f(s.best_ask),
            i(s.bid_qty),
            i(s.ask_qty),
            signals,
        ],
    )
}

fn price_arg(call: &str, v: &Bound<'_, PyAny>) -> PyResult<Price> {
    price_any(v).map_err(|e| value_err(call, "price", e))
}

/// A price that may carry more than 6 decimals (a broker's average price): rounded to the
/// nearest 10^-6.
fn price_rounded(call: &str, field: &str, v: f64) -> PyResult<Price> {
    let scaled = (v * PRICE_SCALE as f64).round();
    if !(scaled.is_finite() && scaled.abs() < 9.2e18) {
        return Err(value_err(call, field, format!("{v} is not a finite price")));
    }
    Ok(Price(scaled as i64))
}

fn side_arg(call: &str, side: u8) -> PyResult<Side> {
    Side::from_u8(side).ok_or_else(|| {
        value_err(
            call,
            "side",
            format!("{side}: expected SIDE_BUY (1) or SIDE_SELL (2)"),
        )
    })
}

#[pymethods]
impl PyEngine {
    #[new]
    #[pyo3(signature = (codes, policy = "every_event", *, levels = LEVELS, level_decay = 0.5, latency = None, seed = 0, instruments = None, clock = "local"))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        codes: Vec<String>,
        policy: &str,
        levels: usize,
        level_decay: f64,
        latency: Option<&Bound<'_, PyAny>>,
        seed: u64,
        instruments: Option<&Bound<'_, PyDict>>,
        clock: &str,
    ) -> PyResult<Self> {
        let call = "Engine";
        let policy = DecisionPolicy::parse(policy).map_err(|e| value_err(call, "policy", e))?;
        let clock = ClockSource::parse(clock).map_err(|e| value_err(call, "clock", e))?;
        let signals = SignalConfig::new(levels, level_decay)
            .map_err(|e| value_err(call, e.field, e.detail))?;
        let latency = latency_from(call, latency)?;
        let mut specs = Vec::with_capacity(codes.len());
        for c in &codes {
            let spec = match instruments.map(|d| d.get_item(c)).transpose()?.flatten() {
                Some(v) => spec_from(call, c, &v)?,
                None => InstrumentSpec::for_code(c),
            };
            specs.push((c.as_str(), spec));
        }
        if let Some(d) = instruments {
            for k in d.keys() {
                let k: String = k.extract()?;
                if !codes.contains(&k) {
                    return Err(value_err(
                        call,
                        &format!("instruments[{k:?}]"),
                        "not one of codes",
                    ));
                }
            }
        }
        let cfg = EngineConfig {
            signals,
            policy,
            venue: VenueConfig { latency, seed },
            clock,
        };
        let inner = CoreEngine::new(cfg, &specs).map_err(|e| value_err(call, "codes", e))?;
        let code_ids = PyDict::new(py);
        for (id, code) in inner.codes().iter() {
            code_ids.set_item(code.as_str(), id)?;
        }
        Ok(PyEngine {
            inner,
            last: NextDue::default(),
            events: Vec::new(),
            code_names: Vec::new(),
            code_ids: code_ids.unbind(),
        })
    }

    /// Reads and applies ring messages until a decision is due (returned), no more are
    /// available or `max_messages` reader steps were taken (None; `idle` says which). Bounded:
    /// never blocks, never loops beyond `max_messages`. Use one reader per engine, and only
    /// through the engine (its `read` would take messages away from the books).
    #[pyo3(signature = (reader, max_messages = 4096))]
    fn next_due(
        &mut self,
        py: Python<'_>,
        mut reader: PyRefMut<'_, RingReader>,
        max_messages: usize,
    ) -> Option<PyDue> {
        let out = self.inner.next_due(reader.core_mut(), max_messages);
        self.due_out(py, out)
    }

    /// `next_due` over SBE file frames (`SbeFrames`).
    #[pyo3(signature = (frames, max_messages = 4096))]
    fn next_due_frames(
        &mut self,
        py: Python<'_>,
        mut frames: PyRefMut<'_, SbeFrames>,
        max_messages: usize,
    ) -> Option<PyDue> {
        let out = self
            .inner
            .next_due_from_frames(&mut frames.inner, max_messages);
        self.due_out(py, out)
    }

    /// True if the last `next_due*` call stopped because no more data was available.
    #[getter]
    fn idle(&self) -> bool {
        self.last.idle
    }

    /// (messages, lost, restarts, bad) of the last `next_due*` call.
    #[getter]
    fn last_read(&self) -> (usize, u64, u64, u64) {
        (
            self.last.messages,
            self.last.lost,
            self.last.restarts,
            self.last.bad,
        )
    }

    /// The strategy stands by on `code_id`: its decision is "no action" for every due event of
    /// the code before exchange time `until_exch_ts` while the best bid stays in the open band
    /// (bid_floor, bid_cap), the best ask in (ask_floor, ask_cap) and the microprice in
    /// (micro_floor, micro_cap). The engine answers those
    /// events itself (counted as decisions, `counters()["standby"]`); any venue event, system
    /// event, book reset or `wake_all()` ends it. Returns False (not taken) while venue events
    /// wait to be drained. docs/engine.md#standby.
    #[pyo3(signature = (
        code_id,
        until_exch_ts,
        bid_floor = f64::NEG_INFINITY,
        bid_cap = f64::INFINITY,
        ask_floor = f64::NEG_INFINITY,
        ask_cap = f64::INFINITY,
        micro_floor = f64::NEG_INFINITY,
        micro_cap = f64::INFINITY
    ))]
    #[allow(clippy::too_many_arguments)]
    fn stand_by(
        &mut self,
        code_id: CodeId,
        until_exch_ts: i64,
        bid_floor: f64,
        bid_cap: f64,
        ask_floor: f64,
        ask_cap: f64,
        micro_floor: f64,
        micro_cap: f64,
    ) -> PyResult<bool> {
        self.checked_id("stand_by", code_id)?;
        let bands = [
            (bid_floor, bid_cap),
            (ask_floor, ask_cap),
            (micro_floor, micro_cap),
        ];
        let s = Standby::new_checked(until_exch_ts, bands)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(self.inner.stand_by(code_id, s))
    }

    /// Ends every standby: each code's next due event reaches the strategy.
    fn wake_all(&mut self) {
        self.inner.wake_all();
    }

    /// Moves engine time forward to `ts_ns` with no market event (never backwards); the venue
    /// processes what is due by then (in-flight cancels at shutdown). Returns the engine time.
    fn advance_clock(&mut self, ts_ns: i64) -> i64 {
        self.inner.advance_clock(ts_ns).0
    }

    /// Steps engine time to the paper venue's next activity while it is at or before
    /// `until_ns` (a time the feed has published through) and stops at the first that produced
    /// venue events: True, the clock at their time, the events pending (the runner delivers
    /// them, then calls again). False when nothing is due by then.
    fn release_venue_events(&mut self, until_ns: i64) -> bool {
        self.inner.release_venue_events(until_ns)
    }

    /// Engine time (ns): the newest local_ts seen.
    #[getter]
    fn now(&self) -> i64 {
        self.inner.now()
    }

    #[getter]
    fn policy(&self) -> String {
        self.inner.policy().text()
    }

    /// "local" (engine time = local_ts) or "exchange" (= exch_ts).
    #[getter]
    fn clock(&self) -> &'static str {
        self.inner.clock_source().text()
    }

    /// Registers a code after start (a fill or a broker position in a code the engine was not
    /// built with: real money is tracked, never dropped); returns its id (an existing code's
    /// id, unchanged, if it is known). `instrument`: overrides as in `instruments`. The code
    /// gets no book: it is not marked.
    #[pyo3(signature = (code, instrument = None))]
    fn adopt(
        &mut self,
        py: Python<'_>,
        code: &str,
        instrument: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<CodeId> {
        let call = "adopt";
        let spec = match instrument {
            Some(v) => spec_from(call, code, v)?,
            None => InstrumentSpec::for_code(code),
        };
        let id = self
            .inner
            .adopt_code(code, spec)
            .map_err(|e| value_err(call, "code", e))?;
        self.code_ids.bind(py).set_item(code, id)?;
        Ok(id)
    }

    /// The code's reference price for risk checks: the mid of its book, else its last real
    /// trade, else NaN.
    fn reference(&self, code_id: CodeId) -> f64 {
        self.inner.reference(code_id).unwrap_or(f64::NAN)
    }

    /// What pre-trade risk reads of the engine for one order of `code_id`, in one call:
    /// (`reference(code_id)`, `net(code_id)`, `gross`, `net_pnl`).
    fn risk_inputs(&self, code_id: CodeId) -> PyResult<(f64, i64, i64, f64)> {
        let net = self.net_of("risk_inputs", code_id)?;
        let t = self.inner.account().totals();
        Ok((self.reference(code_id), net, t.gross, t.net_pnl))
    }

    #[getter]
    fn codes(&self) -> Vec<String> {
        self.inner
            .codes()
            .iter()
            .map(|(_, c)| c.as_str().to_string())
            .collect()
    }

    /// code -> id of every code, adopted ones included, as a read-only mapping that follows the
    /// engine (`types.MappingProxyType`): read it once and keep it.
    #[getter]
    fn code_ids<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        py.import("types")?
            .getattr("MappingProxyType")?
            .call1((self.code_ids.bind(py),))
    }

    fn code_id(&self, code: &str) -> PyResult<CodeId> {
        self.inner.codes().id_of_str(code).ok_or_else(|| {
            PyKeyError::new_err(format!("code {code:?}: not one of the engine's codes"))
        })
    }

    /// The code's book and signals (None before its first book or after a reset); the
    /// since-last-decision flows are left as they are.
    fn book(&self, code_id: CodeId) -> PyResult<Option<BookView>> {
        self.checked_id("book", code_id)?;
        let code = self.code_str(Some(code_id)).unwrap_or_default();
        Ok(self
            .inner
            .book(code_id)
            .and_then(|b| view(code_id, code, b, *b.signals())))
    }

    /// As `book`, then the since-last-decision flows restart from zero (the strategy saw them).
    fn take_signals(&mut self, code_id: CodeId) -> PyResult<Option<BookView>> {
        self.checked_id("take_signals", code_id)?;
        let code = self.code_str(Some(code_id)).unwrap_or_default();
        Ok(self
            .inner
            .take_signals(code_id)
            .and_then(|(b, s)| view(code_id, code, b, s)))
    }

    /// `take_signals` as the strategy's view: an instance of `view_type` (the runner's
    /// `MarketView`) holding code, exch_ts, local_ts, best_bid, best_ask, bid_qty, ask_qty and
    /// an instance of `signals_type` (`SignalSnapshot`) holding ofi, microprice, mid, spread,
    /// imbalance, last_trade, trade_flow; None as `take_signals`. Both types must subclass
    /// tuple (NamedTuples: the engine fills them without calling their `__new__`). One call
    /// and two allocations per decision, instead of fourteen attribute reads or nested tuples
    /// rebuilt in Python.
    fn take_view<'py>(
        &mut self,
        py: Python<'py>,
        code_id: CodeId,
        view_type: &Bound<'py, PyType>,
        signals_type: &Bound<'py, PyType>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.strategy_view(py, "take_view", code_id, true, view_type, signals_type)
    }

    /// `take_view` with the since-last-decision flows left as they are: the runner's rehearsal
    /// of a decision in an idle turn (docs/runtime.md#rehearsal) must not change the next one.
    fn peek_view<'py>(
        &mut self,
        py: Python<'py>,
        code_id: CodeId,
        view_type: &Bound<'py, PyType>,
        signals_type: &Bound<'py, PyType>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.strategy_view(py, "peek_view", code_id, false, view_type, signals_type)
    }

    /// Every code with a book, in code-id order, as an instance of `top_type` (a tuple type:
    /// the dashboard snapshot's `BookTop`) holding code, best_bid, bid_qty, best_ask, ask_qty,
    /// microprice, imbalance, last_trade, exch_ts, ofi_total, ofi_best_total: the BookView
    /// getters' values. One call for the whole table of a snapshot, built on the trading
    /// thread (docs/dashboard.md), instead of a view and eleven reads per code.
    fn book_tops<'py>(
        &mut self,
        py: Python<'py>,
        top_type: &Bound<'py, PyType>,
    ) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let f = |x: f64| PyFloat::new(py, x).into_any();
        let i = |x: i64| PyInt::new(py, x).into_any();
        let mut out = Vec::new();
        for id in 0..self.inner.codes().len() as CodeId {
            let Some((s, exch_ts)) = self
                .inner
                .book(id)
                .filter(|b| b.has_book())
                .map(|b| (*b.signals(), b.exch_ts))
            else {
                continue;
            };
            let code = self.code_name(py, id).into_any();
            out.push(tuple_instance(
                "book_tops",
                top_type,
                [
                    code,
                    f(s.best_bid),
                    i(s.bid_qty),
                    f(s.best_ask),
                    i(s.ask_qty),
                    f(s.microprice),
                    f(s.imbalance),
                    f(s.last_trade_price()),
                    i(exch_ts),
                    f(s.total.ofi),
                    f(s.total.ofi_best),
                ],
            )?);
        }
        Ok(out)
    }

    /// The account's net position of `code_id` (lots), `position(code_id).net` without
    /// building a view (risk reads it for every decision).
    fn net(&self, code_id: CodeId) -> PyResult<i64> {
        self.net_of("net", code_id)
    }

    /// Sends an order at engine time; returns its id. `side`: SIDE_BUY/SIDE_SELL; `tif`:
    /// TIF_DAY (ROD), TIF_IOC, TIF_FOK; `price` a float, int, Decimal or decimal str.
    #[pyo3(signature = (code_id, side, price, qty, tif = TIF_DAY))]
    fn submit(
        &mut self,
        code_id: CodeId,
        side: u8,
        price: &Bound<'_, PyAny>,
        qty: i64,
        tif: u8,
    ) -> PyResult<u64> {
        let call = "submit";
        self.checked_id(call, code_id)?;
        let side = side_arg(call, side)?;
        let tif = tif_of(tif).ok_or_else(|| {
            value_err(
                call,
                "tif",
                format!("{tif}: expected TIF_DAY (0), TIF_IOC (1) or TIF_FOK (2)"),
            )
        })?;
        let price = price_arg(call, price)?;
        self.inner
            .submit(OrderRequest {
                code: code_id,
                side,
                price,
                qty,
                tif,
            })
            .map_err(|e| value_err(call, "order", e))
    }

    fn cancel(&mut self, order_id: u64) -> PyResult<()> {
        self.inner
            .cancel(order_id)
            .map_err(|e| value_err("cancel", "order_id", e))
    }

    /// New price and/or open quantity (a reduction keeps queue priority).
    #[pyo3(signature = (order_id, price = None, qty = None))]
    fn amend(
        &mut self,
        order_id: u64,
        price: Option<&Bound<'_, PyAny>>,
        qty: Option<i64>,
    ) -> PyResult<()> {
        let price = price.map(|p| price_arg("amend", p)).transpose()?;
        self.inner
            .amend(order_id, price, qty)
            .map_err(|e| value_err("amend", "order", e))
    }

    /// Venue events not yet taken, in order. Fills are not booked by the engine: the owner
    /// books each one with `apply_fill` (one path for paper and live fills).
    fn drain_events(&mut self) -> Vec<VenueEventView> {
        self.inner.drain_events(&mut self.events);
        let out = self.events.iter().map(VenueEventView::new).collect();
        self.events.clear();
        out
    }

    #[getter]
    fn pending_events(&self) -> usize {
        self.inner.pending_events()
    }

    /// Orders not yet ended (resting or on their way to the venue).
    #[getter]
    fn working_count(&self) -> usize {
        self.inner.venue().working_count()
    }

    /// The fee of one fill (TWD) by the code's fee schedule, the one the paper venue charges
    /// (docs/execution.md): for a venue that matches outside the engine (hftbacktest), so its
    /// fills pay exactly the paper venue's fees.
    fn fee(&self, code_id: CodeId, side: u8, price: &Bound<'_, PyAny>, qty: i64) -> PyResult<f64> {
        let call = "fee";
        self.checked_id(call, code_id)?;
        let side = side_arg(call, side)?;
        let price = price_arg(call, price)?;
        let spec = self.inner.venue().spec(code_id).ok_or_else(|| {
            PyKeyError::new_err(format!("fee: code_id {code_id}: not in the venue"))
        })?;
        Ok(spec.fees.fee(side, price, qty, spec.multiplier))
    }

    /// Books one fill in the account (paper: from a VENUE_FILLED event; live: from the broker)
    /// and returns the code's net position after it (what the fill path reports next, in the
    /// same call). `price` is rounded to the nearest 10^-6: a broker's float may carry binary
    /// noise beyond the wire's 6 decimals, and a deal that happened is booked, not refused.
    /// `at_ns`: when it executed (markouts start there; default engine time). `fee` in TWD.
    #[pyo3(signature = (code_id, side, price, qty, fee = 0.0, at_ns = None))]
    fn apply_fill(
        &mut self,
        code_id: CodeId,
        side: u8,
        price: f64,
        qty: i64,
        fee: f64,
        at_ns: Option<i64>,
    ) -> PyResult<i64> {
        let call = "apply_fill";
        self.checked_id(call, code_id)?;
        let side = side_arg(call, side)?;
        let price = price_rounded(call, "price", price)?;
        let at = at_ns.unwrap_or_else(|| self.inner.now());
        self.inner
            .apply_fill(code_id, side, price, qty, fee, at)
            .map_err(|e| value_err(call, "fill", e))?;
        self.net_of(call, code_id)
    }

    /// Reconciliation: the code's position becomes `net` lots at `avg_price` (a broker's
    /// average, rounded to 10^-6). Realised PnL and fees stay.
    fn set_position(&mut self, code_id: CodeId, net: i64, avg_price: f64) -> PyResult<()> {
        let call = "set_position";
        self.checked_id(call, code_id)?;
        let avg = price_rounded(call, "avg_price", avg_price)?;
        self.inner
            .set_position(code_id, net, avg)
            .map_err(|e| value_err(call, "position", e))
    }

    /// New trading day: realised PnL and fees restart at 0; positions carry over.
    fn reset_day(&mut self) {
        self.inner.reset_day();
    }

    /// The code's position in the engine's account.
    fn position(&self, code_id: CodeId) -> PyResult<PositionView> {
        self.checked_id("position", code_id)?;
        self.inner
            .account()
            .position(code_id)
            .map(|p| PositionView::new(code_id, &p))
            .ok_or_else(|| {
                PyKeyError::new_err(format!("position: code_id {code_id}: not in the account"))
            })
    }

    /// The account's net PnL in TWD (realised + unrealised - fees): `totals()["net_pnl"]`
    /// without building a dict (the risk gateway reads it after every event).
    #[getter]
    fn net_pnl(&self) -> f64 {
        self.inner.account().totals().net_pnl
    }

    /// Sum of |net| lots over codes: `totals()["gross"]` without a dict.
    #[getter]
    fn gross(&self) -> i64 {
        self.inner.account().totals().gross
    }

    /// The account: {"realised", "unrealised", "fees", "net_pnl"} in TWD (net = realised +
    /// unrealised - fees) and "gross" (sum of |net| lots).
    fn totals<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let t = self.inner.account().totals();
        let d = PyDict::new(py);
        d.set_item("realised", t.realised)?;
        d.set_item("unrealised", t.unrealised)?;
        d.set_item("fees", t.fees)?;
        d.set_item("net_pnl", t.net_pnl)?;
        d.set_item("gross", t.gross)?;
        Ok(d)
    }

    /// Markouts per horizon (1 s, 5 s, 30 s of event time): a list of {"horizon_ns", "count",
    /// "lots", "sum_twd", "mean_price" (against the fill price: includes the spread earned),
    /// "mid_move_count", "mid_move_twd", "mid_move_mean" (the mid's move since just before the
    /// fill: adverse selection), "pending", "unmarked", "dropped"}; negative = against us.
    fn markouts<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        self.inner
            .account()
            .markouts()
            .horizons
            .iter()
            .map(|h| {
                let d = PyDict::new(py);
                d.set_item("horizon_ns", h.horizon)?;
                d.set_item("count", h.count)?;
                d.set_item("lots", h.lots)?;
                d.set_item("sum_twd", h.sum_twd)?;
                d.set_item("mean_price", h.mean_price)?;
                d.set_item("mid_move_count", h.mid_move_count)?;
                d.set_item("mid_move_twd", h.mid_move_twd)?;
                d.set_item("mid_move_mean", h.mid_move_mean)?;
                d.set_item("pending", h.pending)?;
                d.set_item("unmarked", h.unmarked)?;
                d.set_item("dropped", h.dropped)?;
                Ok(d)
            })
            .collect()
    }

    /// Everything counted: messages by type, dropped rows by cause, ring losses, restarts,
    /// bad slots/frames, book resets, due decisions by kind.
    fn counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = self.inner.counters();
        let d = PyDict::new(py);
        d.set_item("messages", c.messages)?;
        d.set_item("books", c.books)?;
        d.set_item("trades", c.trades)?;
        d.set_item("snapshots", c.snapshots)?;
        d.set_item("system_events", c.system_events)?;
        for cause in DropCause::ALL {
            d.set_item(cause.name(), c.dropped.get(cause))?;
        }
        d.set_item("lost", c.lost)?;
        d.set_item("restarts", c.restarts)?;
        d.set_item("bad", c.bad)?;
        d.set_item("resets", c.resets)?;
        d.set_item("clock_backwards", c.clock_backwards)?;
        for (name, k) in [
            ("due_book", DueKind::Book),
            ("due_trade", DueKind::Trade),
            ("due_system", DueKind::System),
            ("due_execution", DueKind::Execution),
        ] {
            d.set_item(name, c.due[k as usize - 1])?;
        }
        d.set_item("standby", c.standby)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "Engine(codes={}, policy={:?}, now={})",
            self.inner.codes().len(),
            self.inner.policy().text(),
            self.inner.now()
        )
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<PositionView>()?;
    m.add_class::<PyEngine>()?;
    m.add_class::<PyDue>()?;
    m.add_class::<BookView>()?;
    m.add_class::<VenueEventView>()?;
    m.add_class::<SbeFrames>()?;
    for (name, v) in [
        ("SIDE_BUY", Side::Buy as u8),
        ("SIDE_SELL", Side::Sell as u8),
        ("TIF_DAY", TIF_DAY),
        ("TIF_IOC", TIF_IOC),
        ("TIF_FOK", TIF_FOK),
        ("DUE_BOOK", DueKind::Book as u8),
        ("DUE_TRADE", DueKind::Trade as u8),
        ("DUE_SYSTEM", DueKind::System as u8),
        ("DUE_EXECUTION", DueKind::Execution as u8),
        ("FLAG_BOOK", Flags::BOOK.0),
        ("FLAG_TOUCH_PRICE", Flags::TOUCH_PRICE.0),
        ("FLAG_TOUCH_QTY", Flags::TOUCH_QTY.0),
        ("FLAG_TOUCH", Flags::TOUCH.0),
        ("FLAG_TRADE", Flags::TRADE.0),
        ("VENUE_ACCEPTED", EV_ACCEPTED),
        ("VENUE_REJECTED", EV_REJECTED),
        ("VENUE_FILLED", EV_FILLED),
        ("VENUE_AMENDED", EV_AMENDED),
        ("VENUE_AMEND_REJECTED", EV_AMEND_REJECTED),
        ("VENUE_CANCELLED", EV_CANCELLED),
        ("VENUE_CANCEL_REJECTED", EV_CANCEL_REJECTED),
    ] {
        m.add(name, v)?;
    }
    // The SBE enums' numeric codes and their record names (docs/formats.md), built from the
    // Rust enums so that no Python copy can drift.
    let names = |pairs: Vec<(u8, &'static str)>| -> PyResult<Bound<'_, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in pairs {
            d.set_item(k, v)?;
        }
        Ok(d)
    };
    m.add(
        "TICK_TYPE_NAMES",
        names(vec![
            (TickType::Unknown as u8, "unknown"),
            (TickType::Buy as u8, "buy"),
            (TickType::Sell as u8, "sell"),
        ])?,
    )?;
    m.add(
        "EVENT_NAMES",
        names(
            [
                EventKind::SessionState,
                EventKind::TradingState,
                EventKind::FeedGap,
                EventKind::Reconnect,
            ]
            .iter()
            .map(|k| (*k as u8, k.record_name()))
            .collect(),
        )?,
    )?;
    m.add(
        "SESSION_STATE_NAMES",
        names(
            [
                SessionState::None,
                SessionState::PreOpen,
                SessionState::Open,
                SessionState::Closed,
            ]
            .iter()
            .map(|k| (*k as u8, k.record_name()))
            .collect(),
        )?,
    )?;
    m.add(
        "TRADING_STATE_NAMES",
        names(
            [
                TradingState::None,
                TradingState::Active,
                TradingState::Reducing,
                TradingState::Halted,
            ]
            .iter()
            .map(|k| (*k as u8, k.record_name()))
            .collect(),
        )?,
    )?;
    let causes = PyTuple::new(py, DropCause::ALL.iter().map(|c| c.name()))?;
    m.add("ENGINE_DROP_CAUSES", causes)?;
    Ok(())
}
