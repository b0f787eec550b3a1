//! Thin PyO3 bindings of `crate::algo` (the algo toolkit, docs/signals.md). Only conversion
//! lives here: constructors call `new_checked`, batches take numpy arrays (float64, int64 for
//! times, sides and kinds; any strides) and run the Rust batch function with the GIL released
//! for long inputs, and every `AlgoError` becomes a `ValueError` naming the input, field and
//! position. The typed Python API is `shijim.algo`.

use std::borrow::Cow;

use numpy::ndarray::Dimension;
use numpy::prelude::*;
use numpy::{Element, PyArray, PyArray1, PyReadonlyArray};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use super::logical;
use crate::algo::features::{self, FeatureConfig, FeatureRow, N_FEATURES};
use crate::algo::flow::{self, FlowRow, N_FLOW};
use crate::algo::kalman::{self, HedgeRatioConfig, LocalLevelConfig};
use crate::algo::leadlag::{self, LeadLagResult};
use crate::algo::piq::{self, PiqConfig, QueueEvents, QueueRule, QueueState};
use crate::algo::AlgoError;
use crate::engine::types::{Price, Side};

/// Batches of at least this many rows run with the GIL released.
const DETACH_MIN_ROWS: usize = 1 << 14;

fn value_error(e: AlgoError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

fn array<'py, T: Element, D: Dimension>(
    obj: &Bound<'py, PyAny>,
    name: &str,
    what: &str,
) -> PyResult<PyReadonlyArray<'py, T, D>> {
    let a = obj.cast::<PyArray<T, D>>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{name}: expected a numpy array of {what} (shijim.algo converts for you)"
        ))
    })?;
    a.try_readonly()
        .map_err(|e| PyValueError::new_err(format!("{name}: {e}")))
}

fn f64_1d<'py>(
    obj: &Bound<'py, PyAny>,
    name: &str,
) -> PyResult<PyReadonlyArray<'py, f64, numpy::Ix1>> {
    array(obj, name, "float64, 1-D")
}

fn i64_1d<'py>(
    obj: &Bound<'py, PyAny>,
    name: &str,
) -> PyResult<PyReadonlyArray<'py, i64, numpy::Ix1>> {
    array(obj, name, "int64, 1-D")
}

fn f64_2d<'py>(
    obj: &Bound<'py, PyAny>,
    name: &str,
) -> PyResult<PyReadonlyArray<'py, f64, numpy::Ix2>> {
    array(obj, name, "float64, 2-D (N, L)")
}

/// The four (N, L) book arrays of a batch, checked to have one shape.
fn books_2d<'py>(
    bid_px: &Bound<'py, PyAny>,
    bid_qty: &Bound<'py, PyAny>,
    ask_px: &Bound<'py, PyAny>,
    ask_qty: &Bound<'py, PyAny>,
) -> PyResult<[PyReadonlyArray<'py, f64, numpy::Ix2>; 4]> {
    let arrays = [
        f64_2d(bid_px, "bid_px")?,
        f64_2d(bid_qty, "bid_qty")?,
        f64_2d(ask_px, "ask_px")?,
        f64_2d(ask_qty, "ask_qty")?,
    ];
    let shape = arrays[0].shape().to_vec();
    for (a, name) in arrays
        .iter()
        .zip(["bid_px", "bid_qty", "ask_px", "ask_qty"])
    {
        if a.shape() != shape.as_slice() {
            return Err(PyValueError::new_err(format!(
                "{name} has shape {:?}, bid_px has {shape:?}: the four arrays must be (N, L) alike",
                a.shape()
            )));
        }
    }
    Ok(arrays)
}

/// Runs `f` with the GIL released when the batch is long.
fn run<R: Send>(py: Python<'_>, rows: usize, f: impl FnOnce() -> R + Send) -> R {
    if rows >= DETACH_MIN_ROWS {
        py.detach(f)
    } else {
        f()
    }
}

/// `(out (N, k), ok (N,), first refusal or None)` of a batch.
fn batch_result<'py>(
    py: Python<'py>,
    out: Vec<f64>,
    ok: Vec<bool>,
    k: usize,
    first: Option<AlgoError>,
) -> PyResult<Bound<'py, PyTuple>> {
    let n = ok.len();
    let out = PyArray1::from_vec(py, out).reshape([n, k])?;
    let first = first.map(|e| e.to_string());
    PyTuple::new(
        py,
        [
            out.into_any(),
            PyArray1::from_vec(py, ok).into_any(),
            first.into_pyobject(py)?.into_any(),
        ],
    )
}

fn side_from_code(side: i64) -> PyResult<Side> {
    Side::from_u8(u8::try_from(side).unwrap_or(0)).ok_or_else(|| {
        PyValueError::new_err(format!(
            "side: {side}: expected SIDE_BUY (1) or SIDE_SELL (2)"
        ))
    })
}

fn price(name: &'static str, v: f64) -> PyResult<Price> {
    Price::from_f64(v).map_err(|f| value_error(AlgoError::input(name, f.describe(v))))
}

/// One book from four 1-D float64 arrays of up to 5 levels.
fn book_from(
    bid_px: &Bound<'_, PyAny>,
    bid_qty: &Bound<'_, PyAny>,
    ask_px: &Bound<'_, PyAny>,
    ask_qty: &Bound<'_, PyAny>,
) -> PyResult<crate::engine::types::L5> {
    let (bp, bq) = (f64_1d(bid_px, "bid_px")?, f64_1d(bid_qty, "bid_qty")?);
    let (ap, aq) = (f64_1d(ask_px, "ask_px")?, f64_1d(ask_qty, "ask_qty")?);
    let (bp, bq) = (logical(bp.as_array()), logical(bq.as_array()));
    let (ap, aq) = (logical(ap.as_array()), logical(aq.as_array()));
    features::l5_from_f64(&bp, &bq, &ap, &aq).map_err(value_error)
}

// ---- L5 features ---------------------------------------------------------------------------

/// l5_features(bid_px, bid_qty, ask_px, ask_qty, levels=5, rv_halflife=100.0)
///     -> (features (N, 25) float64, ok (N,) bool, first refusal str | None)
///
/// Every L5 feature of N books through one stream (`L5_FEATURE_NAMES`); arrays (N, L) float64
/// with L <= 5. A refused book (crossed, empty side, NaN or bad quantity at the best level)
/// gives a NaN row and ok False; the next book is compared with the last good one.
#[pyfunction]
#[pyo3(signature = (bid_px, bid_qty, ask_px, ask_qty, levels=5, rv_halflife=100.0))]
fn l5_features<'py>(
    py: Python<'py>,
    bid_px: &Bound<'py, PyAny>,
    bid_qty: &Bound<'py, PyAny>,
    ask_px: &Bound<'py, PyAny>,
    ask_qty: &Bound<'py, PyAny>,
    levels: usize,
    rv_halflife: f64,
) -> PyResult<Bound<'py, PyTuple>> {
    let cfg = FeatureConfig::new_checked(levels, rv_halflife).map_err(value_error)?;
    let arrays = books_2d(bid_px, bid_qty, ask_px, ask_qty)?;
    let (n, width) = (arrays[0].shape()[0], arrays[0].shape()[1]);
    let s: Vec<Cow<'_, [f64]>> = arrays.iter().map(|a| logical(a.as_array())).collect();
    let mut out = vec![0.0; n * N_FEATURES];
    let mut ok = vec![false; n];
    let (_, first) = run(py, n, || {
        features::features_batch(cfg, &s[0], &s[1], &s[2], &s[3], width, &mut out, &mut ok)
    })
    .map_err(value_error)?;
    batch_result(py, out, ok, N_FEATURES, first)
}

/// L5Features(levels=5, rv_halflife=100.0): the same features one book at a time.
/// `update(bid_px, bid_qty, ask_px, ask_qty)` (1-D float64, up to 5 levels) returns the (25,)
/// row; a refused book raises ValueError and leaves the stream as it was. `reset()` forgets
/// the previous book.
#[pyclass(name = "L5Features", module = "shijim_core._shijim_core")]
struct PyL5Features {
    inner: features::L5Features,
}

#[pymethods]
impl PyL5Features {
    #[new]
    #[pyo3(signature = (levels=5, rv_halflife=100.0))]
    fn new(levels: usize, rv_halflife: f64) -> PyResult<Self> {
        let cfg = FeatureConfig::new_checked(levels, rv_halflife).map_err(value_error)?;
        Ok(PyL5Features {
            inner: features::L5Features::new_checked(cfg).map_err(value_error)?,
        })
    }

    #[getter]
    fn levels(&self) -> usize {
        self.inner.config().levels
    }

    #[getter]
    fn rv_halflife(&self) -> f64 {
        self.inner.config().rv_halflife
    }

    fn update<'py>(
        &mut self,
        py: Python<'py>,
        bid_px: &Bound<'py, PyAny>,
        bid_qty: &Bound<'py, PyAny>,
        ask_px: &Bound<'py, PyAny>,
        ask_qty: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let book = book_from(bid_px, bid_qty, ask_px, ask_qty)?;
        let mut row: FeatureRow = [0.0; N_FEATURES];
        self.inner.update(&book, &mut row).map_err(value_error)?;
        Ok(PyArray1::from_slice(py, &row))
    }

    fn reset(&mut self) {
        self.inner.reset();
    }
}

// ---- trade flow ----------------------------------------------------------------------------

/// trade_flow(price, qty, side, mid, halflife=50.0) -> (out (N, 7), ok (N,), first refusal)
///
/// Trade signs (reported aggressor, else Lee–Ready) and event-time EW buy/sell volumes
/// (`TRADE_FLOW_NAMES`). `side` int64: 0 unknown, 1 buyer-, 2 seller-initiated; `mid` the
/// prevailing mid (NaN: none).
#[pyfunction]
#[pyo3(signature = (price, qty, side, mid, halflife=50.0))]
fn trade_flow<'py>(
    py: Python<'py>,
    price: &Bound<'py, PyAny>,
    qty: &Bound<'py, PyAny>,
    side: &Bound<'py, PyAny>,
    mid: &Bound<'py, PyAny>,
    halflife: f64,
) -> PyResult<Bound<'py, PyTuple>> {
    let (p, q) = (f64_1d(price, "price")?, f64_1d(qty, "qty")?);
    let (s, m) = (i64_1d(side, "side")?, f64_1d(mid, "mid")?);
    let (p, q, s, m) = (
        logical(p.as_array()),
        logical(q.as_array()),
        logical(s.as_array()),
        logical(m.as_array()),
    );
    let n = p.len();
    let mut out = vec![0.0; n * N_FLOW];
    let mut ok = vec![false; n];
    let (_, first) = run(py, n, || {
        flow::flow_batch(halflife, &p, &q, &s, &m, &mut out, &mut ok)
    })
    .map_err(value_error)?;
    batch_result(py, out, ok, N_FLOW, first)
}

/// TradeFlow(halflife=50.0): `update(price, qty, side=0, mid=nan)` -> 7-tuple
/// (`TRADE_FLOW_NAMES`); a refused trade raises ValueError and changes nothing.
#[pyclass(name = "TradeFlow", module = "shijim_core._shijim_core")]
struct PyTradeFlow {
    inner: flow::TradeFlow,
}

#[pymethods]
impl PyTradeFlow {
    #[new]
    #[pyo3(signature = (halflife=50.0))]
    fn new(halflife: f64) -> PyResult<Self> {
        Ok(PyTradeFlow {
            inner: flow::TradeFlow::new_checked(halflife).map_err(value_error)?,
        })
    }

    #[pyo3(signature = (price, qty, side=0, mid=f64::NAN))]
    fn update(&mut self, price: f64, qty: f64, side: i64, mid: f64) -> PyResult<FlowRow> {
        let (p, q) = flow::trade_from_f64(price, qty).map_err(value_error)?;
        let a = flow::aggressor_from_code(side).map_err(value_error)?;
        let mut row = [0.0; N_FLOW];
        self.inner
            .update(p, q, a, mid, &mut row)
            .map_err(value_error)?;
        Ok(row)
    }

    fn reset(&mut self) {
        self.inner.reset();
    }

    #[getter]
    fn halflife(&self) -> f64 {
        self.inner.halflife()
    }
}

// ---- Kalman --------------------------------------------------------------------------------

fn level_cfg(q_per_s: f64, q_per_obs: f64, x0: f64, p0: f64) -> LocalLevelConfig {
    LocalLevelConfig {
        q_per_s,
        q_per_obs,
        x0,
        p0,
    }
}

/// local_level_filter(t_ns, y, r, q_per_s, q_per_obs=0.0, x0=nan, p0=0.0)
///     -> (out (N, 6), ok (N,), first refusal)
///
/// The local-level (fair price) filter over N observations (`LOCAL_LEVEL_NAMES`): `t_ns`
/// int64, `y` float64 (NaN: missing), `r` float64 observation variances.
#[pyfunction]
#[pyo3(signature = (t_ns, y, r, q_per_s, q_per_obs=0.0, x0=f64::NAN, p0=0.0))]
#[allow(clippy::too_many_arguments)]
fn local_level_filter<'py>(
    py: Python<'py>,
    t_ns: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    r: &Bound<'py, PyAny>,
    q_per_s: f64,
    q_per_obs: f64,
    x0: f64,
    p0: f64,
) -> PyResult<Bound<'py, PyTuple>> {
    let cfg = level_cfg(q_per_s, q_per_obs, x0, p0);
    kalman::LocalLevel::new_checked(cfg).map_err(value_error)?;
    let (t, yy, rr) = (i64_1d(t_ns, "t_ns")?, f64_1d(y, "y")?, f64_1d(r, "r")?);
    let (t, yy, rr) = (
        logical(t.as_array()),
        logical(yy.as_array()),
        logical(rr.as_array()),
    );
    let n = t.len();
    let mut out = vec![0.0; n * 6];
    let mut ok = vec![false; n];
    let (_, first) = run(py, n, || {
        kalman::local_level_batch(cfg, &t, &yy, &rr, &mut out, &mut ok)
    })
    .map_err(value_error)?;
    batch_result(py, out, ok, 6, first)
}

/// LocalLevelFilter(q_per_s, q_per_obs=0.0, x0=nan, p0=0.0): `step(t_ns, y, r)` -> 6-tuple
/// (`LOCAL_LEVEL_NAMES`); NaN y predicts only; a refused step raises ValueError.
#[pyclass(name = "LocalLevelFilter", module = "shijim_core._shijim_core")]
struct PyLocalLevel {
    inner: kalman::LocalLevel,
}

#[pymethods]
impl PyLocalLevel {
    #[new]
    #[pyo3(signature = (q_per_s, q_per_obs=0.0, x0=f64::NAN, p0=0.0))]
    fn new(q_per_s: f64, q_per_obs: f64, x0: f64, p0: f64) -> PyResult<Self> {
        Ok(PyLocalLevel {
            inner: kalman::LocalLevel::new_checked(level_cfg(q_per_s, q_per_obs, x0, p0))
                .map_err(value_error)?,
        })
    }

    fn step(&mut self, t_ns: i64, y: f64, r: f64) -> PyResult<kalman::LevelRow> {
        let mut row = [0.0; 6];
        self.inner.step(t_ns, y, r, &mut row).map_err(value_error)?;
        Ok(row)
    }

    #[getter]
    fn x(&self) -> f64 {
        self.inner.x()
    }

    #[getter]
    fn p(&self) -> f64 {
        self.inner.p()
    }

    #[getter]
    fn stale_time(&self) -> u64 {
        self.inner.stale_time()
    }
}

#[allow(clippy::too_many_arguments)]
fn hedge_cfg(
    q_alpha: f64,
    q_beta: f64,
    r: f64,
    alpha0: f64,
    beta0: f64,
    p0_alpha: f64,
    p0_beta: f64,
) -> HedgeRatioConfig {
    HedgeRatioConfig {
        q_alpha,
        q_beta,
        r,
        alpha0,
        beta0,
        p0_alpha,
        p0_beta,
    }
}

/// hedge_ratio_filter(x, y, q_alpha, q_beta, r, alpha0=0.0, beta0=0.0, p0_alpha=1.0,
///     p0_beta=1.0) -> (out (N, 9), ok (N,), first refusal)
///
/// The dynamic hedge ratio y = alpha + beta x (`HEDGE_RATIO_NAMES`); NaN in x or y: missing.
#[pyfunction]
#[pyo3(signature = (x, y, q_alpha, q_beta, r, alpha0=0.0, beta0=0.0, p0_alpha=1.0, p0_beta=1.0))]
#[allow(clippy::too_many_arguments)]
fn hedge_ratio_filter<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    q_alpha: f64,
    q_beta: f64,
    r: f64,
    alpha0: f64,
    beta0: f64,
    p0_alpha: f64,
    p0_beta: f64,
) -> PyResult<Bound<'py, PyTuple>> {
    let cfg = hedge_cfg(q_alpha, q_beta, r, alpha0, beta0, p0_alpha, p0_beta);
    kalman::HedgeRatio::new_checked(cfg).map_err(value_error)?;
    let (xx, yy) = (f64_1d(x, "x")?, f64_1d(y, "y")?);
    let (xx, yy) = (logical(xx.as_array()), logical(yy.as_array()));
    let n = xx.len();
    let mut out = vec![0.0; n * 9];
    let mut ok = vec![false; n];
    let (_, first) = run(py, n, || {
        kalman::hedge_ratio_batch(cfg, &xx, &yy, &mut out, &mut ok)
    })
    .map_err(value_error)?;
    batch_result(py, out, ok, 9, first)
}

/// HedgeRatioFilter(q_alpha, q_beta, r, alpha0=0.0, beta0=0.0, p0_alpha=1.0, p0_beta=1.0):
/// `step(x, y)` -> 9-tuple (`HEDGE_RATIO_NAMES`).
#[pyclass(name = "HedgeRatioFilter", module = "shijim_core._shijim_core")]
struct PyHedgeRatio {
    inner: kalman::HedgeRatio,
}

#[pymethods]
impl PyHedgeRatio {
    #[new]
    #[pyo3(signature = (q_alpha, q_beta, r, alpha0=0.0, beta0=0.0, p0_alpha=1.0, p0_beta=1.0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        q_alpha: f64,
        q_beta: f64,
        r: f64,
        alpha0: f64,
        beta0: f64,
        p0_alpha: f64,
        p0_beta: f64,
    ) -> PyResult<Self> {
        let cfg = hedge_cfg(q_alpha, q_beta, r, alpha0, beta0, p0_alpha, p0_beta);
        Ok(PyHedgeRatio {
            inner: kalman::HedgeRatio::new_checked(cfg).map_err(value_error)?,
        })
    }

    fn step(&mut self, x: f64, y: f64) -> PyResult<kalman::HedgeRow> {
        let mut row = [0.0; 9];
        self.inner.step(x, y, &mut row).map_err(value_error)?;
        Ok(row)
    }

    #[getter]
    fn alpha(&self) -> f64 {
        self.inner.state().0
    }

    #[getter]
    fn beta(&self) -> f64 {
        self.inner.state().1
    }
}

// ---- PIQ -----------------------------------------------------------------------------------

fn piq_cfg(
    rule: &str,
    power: f64,
    own_in_book: bool,
    rate_halflife_ns: i64,
) -> PyResult<PiqConfig> {
    let rule = match rule {
        "risk_averse" => QueueRule::RiskAverse,
        "power" => QueueRule::Power(power),
        "log" => QueueRule::Log,
        "pro_rata" => QueueRule::ProRata,
        other => {
            return Err(PyValueError::new_err(format!(
                "rule: {other:?}: expected \"risk_averse\", \"power\", \"log\" or \"pro_rata\""
            )))
        }
    };
    PiqConfig::new_checked(rule, own_in_book, rate_halflife_ns).map_err(value_error)
}

/// QueueEstimator(side, price, qty, rule="power", power=2.0, own_in_book=False,
///     rate_halflife_ns=1_000_000_000, t_ns=0, book=None)
///
/// The queue position of one resting order (docs/signals.md, "Position in queue"). `side`
/// SIDE_BUY/SIDE_SELL; `book`: the book in force when the order reached the venue, a tuple
/// (bid_px, bid_qty, ask_px, ask_qty) of 1-D float64 arrays, or None. `on_book`, `on_trade`,
/// `on_own_fill` and `state` return the 9-tuple of `QUEUE_STATE_NAMES`; `p_fill(t_ns,
/// horizon_ns, lots=1)` the probability of a fill within the horizon.
#[pyclass(name = "QueueEstimator", module = "shijim_core._shijim_core")]
struct PyQueueEstimator {
    inner: piq::QueueEstimator,
}

#[pymethods]
impl PyQueueEstimator {
    #[new]
    #[pyo3(signature = (side, price, qty, rule="power", power=2.0, own_in_book=false,
        rate_halflife_ns=1_000_000_000, t_ns=0, book=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        side: i64,
        price: f64,
        qty: i64,
        rule: &str,
        power: f64,
        own_in_book: bool,
        rate_halflife_ns: i64,
        t_ns: i64,
        book: Option<&Bound<'_, PyTuple>>,
    ) -> PyResult<Self> {
        let cfg = piq_cfg(rule, power, own_in_book, rate_halflife_ns)?;
        let side = side_from_code(side)?;
        let p = self::price("price", price)?;
        let b = match book {
            None => None,
            Some(t) if t.len() == 4 => Some(book_from(
                &t.get_item(0)?,
                &t.get_item(1)?,
                &t.get_item(2)?,
                &t.get_item(3)?,
            )?),
            Some(t) => {
                return Err(PyValueError::new_err(format!(
                    "book: a tuple (bid_px, bid_qty, ask_px, ask_qty), got {} items",
                    t.len()
                )))
            }
        };
        let inner = piq::QueueEstimator::new_checked(cfg, side, p, qty, t_ns, b.as_ref())
            .map_err(value_error)?;
        Ok(PyQueueEstimator { inner })
    }

    fn on_book(
        &mut self,
        t_ns: i64,
        bid_px: &Bound<'_, PyAny>,
        bid_qty: &Bound<'_, PyAny>,
        ask_px: &Bound<'_, PyAny>,
        ask_qty: &Bound<'_, PyAny>,
    ) -> PyResult<[f64; 9]> {
        let b = book_from(bid_px, bid_qty, ask_px, ask_qty)?;
        let s = self.inner.on_book(t_ns, &b).map_err(value_error)?;
        Ok(s.to_row())
    }

    #[pyo3(signature = (t_ns, price, qty, side=0))]
    fn on_trade(&mut self, t_ns: i64, price: f64, qty: f64, side: i64) -> PyResult<[f64; 9]> {
        let (p, q) = flow::trade_from_f64(price, qty).map_err(value_error)?;
        let a = flow::aggressor_from_code(side).map_err(value_error)?;
        let s = self.inner.on_trade(t_ns, p, q, a).map_err(value_error)?;
        Ok(s.to_row())
    }

    fn on_own_fill(&mut self, t_ns: i64, qty: i64) -> PyResult<[f64; 9]> {
        let s: QueueState = self.inner.on_own_fill(t_ns, qty).map_err(value_error)?;
        Ok(s.to_row())
    }

    #[pyo3(signature = (t_ns=None))]
    fn state(&self, t_ns: Option<i64>) -> [f64; 9] {
        match t_ns {
            Some(t) => self.inner.state_at(t).to_row(),
            None => self.inner.state().to_row(),
        }
    }

    #[pyo3(signature = (t_ns, horizon_ns, lots=1))]
    fn p_fill(&self, t_ns: i64, horizon_ns: i64, lots: i64) -> f64 {
        self.inner.p_fill(t_ns, horizon_ns, lots)
    }
}

/// queue_estimates(side, price, qty, placed_ns, t_ns, kind, bid_px, bid_qty, ask_px, ask_qty,
///     trade_px, trade_qty, trade_side, rule="power", power=2.0, own_in_book=False,
///     rate_halflife_ns=1_000_000_000) -> (out (N, 9), ok (N,), first refusal)
///
/// One order's queue over an event table (`kind` int64: 0 book, 1 trade, 2 own fill; book
/// columns (N, L) float64; trade columns (N,)). Rows before `placed_ns` only provide the book
/// in force at placement (`known` 0, NaN).
#[pyfunction]
#[pyo3(signature = (side, price, qty, placed_ns, t_ns, kind, bid_px, bid_qty, ask_px, ask_qty,
    trade_px, trade_qty, trade_side, rule="power", power=2.0, own_in_book=false,
    rate_halflife_ns=1_000_000_000))]
#[allow(clippy::too_many_arguments)]
fn queue_estimates<'py>(
    py: Python<'py>,
    side: i64,
    price: f64,
    qty: i64,
    placed_ns: i64,
    t_ns: &Bound<'py, PyAny>,
    kind: &Bound<'py, PyAny>,
    bid_px: &Bound<'py, PyAny>,
    bid_qty: &Bound<'py, PyAny>,
    ask_px: &Bound<'py, PyAny>,
    ask_qty: &Bound<'py, PyAny>,
    trade_px: &Bound<'py, PyAny>,
    trade_qty: &Bound<'py, PyAny>,
    trade_side: &Bound<'py, PyAny>,
    rule: &str,
    power: f64,
    own_in_book: bool,
    rate_halflife_ns: i64,
) -> PyResult<Bound<'py, PyTuple>> {
    let cfg = piq_cfg(rule, power, own_in_book, rate_halflife_ns)?;
    let side = side_from_code(side)?;
    let p = self::price("price", price)?;
    let t = i64_1d(t_ns, "t_ns")?;
    let kd = i64_1d(kind, "kind")?;
    let books = books_2d(bid_px, bid_qty, ask_px, ask_qty)?;
    let width = books[0].shape()[1];
    let (tp, tq, ts) = (
        f64_1d(trade_px, "trade_px")?,
        f64_1d(trade_qty, "trade_qty")?,
        i64_1d(trade_side, "trade_side")?,
    );
    let t = logical(t.as_array());
    // Kinds outside 0..=255 become 255: refused per row by the kernel, named there.
    let kinds: Vec<u8> = kd
        .as_array()
        .iter()
        .map(|&k| u8::try_from(k).unwrap_or(u8::MAX))
        .collect();
    let b: Vec<Cow<'_, [f64]>> = books.iter().map(|a| logical(a.as_array())).collect();
    let (tp, tq, ts) = (
        logical(tp.as_array()),
        logical(tq.as_array()),
        logical(ts.as_array()),
    );
    let n = t.len();
    let ev = QueueEvents {
        t_ns: &t,
        kind: &kinds,
        bid_px: &b[0],
        bid_qty: &b[1],
        ask_px: &b[2],
        ask_qty: &b[3],
        width,
        trade_px: &tp,
        trade_qty: &tq,
        trade_side: &ts,
    };
    let mut out = vec![0.0; n * 9];
    let mut ok = vec![false; n];
    let (_, first) = run(py, n, || {
        piq::queue_batch(cfg, side, p, qty, placed_ns, &ev, &mut out, &mut ok)
    })
    .map_err(value_error)?;
    batch_result(py, out, ok, 9, first)
}

// ---- lead-lag ------------------------------------------------------------------------------

fn lead_lag_dict<'py>(py: Python<'py>, r: LeadLagResult) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("lags", PyArray1::from_vec(py, r.lags))?;
    d.set_item("cov", PyArray1::from_vec(py, r.cov))?;
    d.set_item("corr", PyArray1::from_vec(py, r.corr))?;
    d.set_item("best_lag", r.best_lag)?;
    d.set_item("best_corr", r.best_corr)?;
    d.set_item("lead_lag_ratio", r.lead_lag_ratio)?;
    d.set_item("rv_x", r.rv_x)?;
    d.set_item("rv_y", r.rv_y)?;
    for (name, c) in [("x", r.x), ("y", r.y)] {
        d.set_item(format!("{name}_used"), c.used)?;
        d.set_item(format!("{name}_dropped"), c.dropped)?;
        d.set_item(format!("{name}_merged"), c.merged)?;
    }
    Ok(d)
}

/// hayashi_yoshida(t_x, x, t_y, y, lags, log_prices=True) -> dict
///
/// The shifted Hayashi–Yoshida covariance and correlation of two asynchronous series over
/// `lags` (int64 ns, strictly increasing; positive = X leads), the best lag and the lead-lag
/// ratio. Times int64 ns (each series sorted), prices float64. Runs without the GIL.
#[pyfunction]
#[pyo3(signature = (t_x, x, t_y, y, lags, log_prices=true))]
fn hayashi_yoshida<'py>(
    py: Python<'py>,
    t_x: &Bound<'py, PyAny>,
    x: &Bound<'py, PyAny>,
    t_y: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    lags: &Bound<'py, PyAny>,
    log_prices: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let (tx, xx) = (i64_1d(t_x, "t_x")?, f64_1d(x, "x")?);
    let (ty, yy) = (i64_1d(t_y, "t_y")?, f64_1d(y, "y")?);
    let lg = i64_1d(lags, "lags")?;
    let (tx, xx, ty, yy, lg) = (
        logical(tx.as_array()),
        logical(xx.as_array()),
        logical(ty.as_array()),
        logical(yy.as_array()),
        logical(lg.as_array()),
    );
    let r = py
        .detach(|| leadlag::hayashi_yoshida(&lg, log_prices, &tx, &xx, &ty, &yy))
        .map_err(value_error)?;
    lead_lag_dict(py, r)
}

/// LeadLag(lags, log_prices=True): the same estimator fed one observation at a time
/// (`push_x(t_ns, price)`, `push_y(t_ns, price)`; a refused observation raises ValueError and
/// is counted). `result()` is the estimate as if the stream ended now; `finish()` ends it.
#[pyclass(name = "LeadLag", module = "shijim_core._shijim_core")]
struct PyLeadLag {
    inner: leadlag::LeadLag,
}

#[pymethods]
impl PyLeadLag {
    #[new]
    #[pyo3(signature = (lags, log_prices=true))]
    fn new(lags: &Bound<'_, PyAny>, log_prices: bool) -> PyResult<Self> {
        let lg = i64_1d(lags, "lags")?;
        let lg = logical(lg.as_array());
        Ok(PyLeadLag {
            inner: leadlag::LeadLag::new_checked(&lg, log_prices).map_err(value_error)?,
        })
    }

    fn push_x(&mut self, t_ns: i64, price: f64) -> PyResult<()> {
        self.inner.push_x(t_ns, price).map_err(value_error)
    }

    fn push_y(&mut self, t_ns: i64, price: f64) -> PyResult<()> {
        self.inner.push_y(t_ns, price).map_err(value_error)
    }

    fn result<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        lead_lag_dict(py, self.inner.result())
    }

    fn finish<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        lead_lag_dict(py, self.inner.finish())
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("L5_FEATURE_NAMES", features::FEATURE_NAMES)?;
    m.add("TRADE_FLOW_NAMES", flow::FLOW_NAMES)?;
    m.add("LOCAL_LEVEL_NAMES", kalman::LEVEL_NAMES)?;
    m.add("HEDGE_RATIO_NAMES", kalman::HEDGE_NAMES)?;
    m.add("QUEUE_STATE_NAMES", piq::STATE_NAMES)?;
    m.add("QUEUE_EVENT_BOOK", piq::EVENT_BOOK)?;
    m.add("QUEUE_EVENT_TRADE", piq::EVENT_TRADE)?;
    m.add("QUEUE_EVENT_OWN_FILL", piq::EVENT_OWN_FILL)?;
    m.add_function(wrap_pyfunction!(l5_features, m)?)?;
    m.add_function(wrap_pyfunction!(trade_flow, m)?)?;
    m.add_function(wrap_pyfunction!(local_level_filter, m)?)?;
    m.add_function(wrap_pyfunction!(hedge_ratio_filter, m)?)?;
    m.add_function(wrap_pyfunction!(queue_estimates, m)?)?;
    m.add_function(wrap_pyfunction!(hayashi_yoshida, m)?)?;
    m.add_class::<PyL5Features>()?;
    m.add_class::<PyTradeFlow>()?;
    m.add_class::<PyLocalLevel>()?;
    m.add_class::<PyHedgeRatio>()?;
    m.add_class::<PyQueueEstimator>()?;
    m.add_class::<PyLeadLag>()?;
    Ok(())
}
