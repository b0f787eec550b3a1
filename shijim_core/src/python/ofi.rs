//! Python bindings for `crate::ofi`: `mlofi(...)` over (N, L) arrays and `MlofiStream`.
//! Only conversion lives here: arrays of any layout are read in logical (row, level) order,
//! other numeric dtypes are cast once, and every `OfiError` becomes a `ValueError`.

use std::mem::MaybeUninit;

use numpy::ndarray::Dimension;
use numpy::prelude::*;
use numpy::{dtype, PyArray, PyArray1, PyArray2, PyArrayDescr, PyUntypedArray};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

use super::logical;
use crate::ofi::{self, Books, OfiError};

/// Below this many output entries the batch runs with the GIL held: releasing and taking it
/// back costs more than the work.
const DETACH_MIN_ENTRIES: usize = 1 << 14;

/// A shape as Python prints it: `(3, 5)`, `(5,)`.
fn shape_str(shape: &[usize]) -> String {
    let parts: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    match parts.len() {
        1 => format!("({},)", parts[0]),
        _ => format!("({})", parts.join(", ")),
    }
}

fn value_error(e: OfiError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// Element type a column is read as.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    F64,
    I64,
}

/// `obj` as an ndarray of `ndim` dimensions with a dtype we read natively (`Kind`): casts other
/// real dtypes (ints and float32 prices, unsigned or narrow quantities) once; refuses the rest.
fn as_array<'py>(
    obj: &Bound<'py, PyAny>,
    name: &str,
    ndim: usize,
    price: bool,
) -> PyResult<(Bound<'py, PyUntypedArray>, Kind)> {
    let py = obj.py();
    let arr = match obj.cast::<PyUntypedArray>() {
        Ok(a) => a.clone(),
        Err(_) => PyModule::import(py, "numpy")?
            .getattr("asarray")?
            .call1((obj,))
            .map_err(|e| PyTypeError::new_err(format!("{name}: not array-like: {e}")))?
            .cast_into::<PyUntypedArray>()
            .map_err(|_| PyTypeError::new_err(format!("{name}: not array-like")))?,
    };
    if arr.ndim() != ndim {
        let want = if ndim == 2 { "(N, L)" } else { "(L,)" };
        return Err(PyValueError::new_err(format!(
            "{name} must be {ndim}-D {want}, got ndim {} (shape {})",
            arr.ndim(),
            shape_str(arr.shape())
        )));
    }
    let dt: Bound<'py, PyArrayDescr> = arr.dtype();
    if dt.is_equiv_to(&dtype::<f64>(py)) {
        return Ok((arr, Kind::F64));
    }
    if !price && dt.is_equiv_to(&dtype::<i64>(py)) {
        return Ok((arr, Kind::I64));
    }
    // Signed ints become int64 quantities exactly; everything else real becomes float64
    // (unsigned values too large for a book fail validation rather than wrap).
    let target = match (dt.kind(), price) {
        (b'i', false) => "int64",
        (b'i' | b'u' | b'f', _) => "float64",
        _ => {
            let what = if price { "prices" } else { "quantities" };
            return Err(PyTypeError::new_err(format!(
                "{name}: {what} must be a real numeric dtype, got {}",
                dt.str()?
            )));
        }
    };
    let cast = arr
        .call_method1("astype", (target,))?
        .cast_into::<PyUntypedArray>()
        .map_err(|_| PyTypeError::new_err(format!("{name}: astype({target}) failed")))?;
    let kind = if target == "int64" {
        Kind::I64
    } else {
        Kind::F64
    };
    Ok((cast, kind))
}

/// A quantity column, typed.
enum Qty<'py, D: Dimension> {
    I(numpy::PyReadonlyArray<'py, i64, D>),
    F(numpy::PyReadonlyArray<'py, f64, D>),
}

fn readonly<'py, T: numpy::Element, D: Dimension>(
    arr: &Bound<'py, PyUntypedArray>,
    name: &str,
) -> PyResult<numpy::PyReadonlyArray<'py, T, D>> {
    let typed = arr
        .cast::<PyArray<T, D>>()
        .map_err(|_| PyTypeError::new_err(format!("{name}: unexpected dtype or ndim")))?;
    typed
        .try_readonly()
        .map_err(|e| PyValueError::new_err(format!("{name}: {e}")))
}

fn qty<'py, D: Dimension>(
    arr: &Bound<'py, PyUntypedArray>,
    kind: Kind,
    name: &str,
) -> PyResult<Qty<'py, D>> {
    Ok(match kind {
        Kind::I64 => Qty::I(readonly::<i64, D>(arr, name)?),
        Kind::F64 => Qty::F(readonly::<f64, D>(arr, name)?),
    })
}

/// A batch whose shapes passed, typed by its quantity dtype.
enum AnyBooks<'a> {
    I(Books<'a, i64>),
    F(Books<'a, f64>),
}

/// MLOFI of `books` into `out`, with the GIL released for large batches.
fn run_batch<Q: ofi::Quantity>(
    py: Python<'_>,
    books: &Books<'_, Q>,
    out: &mut [MaybeUninit<f64>],
) -> PyResult<()> {
    let r = if books.rows() * books.levels() >= DETACH_MIN_ENTRIES {
        py.detach(|| ofi::mlofi_into_uninit(books, out))
    } else {
        ofi::mlofi_into_uninit(books, out)
    };
    r.map_err(value_error)
}

/// Parses the four (N, L) arguments and `levels`, then calls `f` with the batch (borrowed
/// from the arrays where they are C-contiguous, else from one copy in logical order).
fn with_books<'py, R>(
    bid_px: &Bound<'py, PyAny>,
    bid_qty: &Bound<'py, PyAny>,
    ask_px: &Bound<'py, PyAny>,
    ask_qty: &Bound<'py, PyAny>,
    levels: Option<i64>,
    f: impl FnOnce(AnyBooks<'_>) -> PyResult<R>,
) -> PyResult<R> {
    let (bp, _) = as_array(bid_px, "bid_px", 2, true)?;
    let (bq, bq_kind) = as_array(bid_qty, "bid_qty", 2, false)?;
    let (ap, _) = as_array(ask_px, "ask_px", 2, true)?;
    let (aq, aq_kind) = as_array(ask_qty, "ask_qty", 2, false)?;
    let shape = bp.shape().to_vec();
    for (name, a) in [("bid_qty", &bq), ("ask_px", &ap), ("ask_qty", &aq)] {
        if a.shape() != shape.as_slice() {
            return Err(PyValueError::new_err(format!(
                "{name} has shape {}, bid_px has {}: all four arrays must be (N, L) alike",
                shape_str(a.shape()),
                shape_str(&shape)
            )));
        }
    }
    let width = shape[1];
    let levels = match levels {
        None => width,
        Some(l) if l >= 1 && (l as u64) <= width as u64 => l as usize,
        Some(l) => {
            return Err(PyValueError::new_err(format!(
                "levels={l} must be between 1 and the arrays' depth ({width})"
            )))
        }
    };
    if width == 0 {
        return Err(PyValueError::new_err(
            "bid_px has 0 levels (shape (N, 0)): at least one level is needed",
        ));
    }
    let bp = readonly::<f64, numpy::Ix2>(&bp, "bid_px")?;
    let ap = readonly::<f64, numpy::Ix2>(&ap, "ask_px")?;
    let (bp_s, ap_s) = (logical(bp.as_array()), logical(ap.as_array()));
    // Int and float quantity columns together: read both as float64 (exact below 2^50).
    let (bq, aq) = if bq_kind == aq_kind {
        (
            qty::<numpy::Ix2>(&bq, bq_kind, "bid_qty")?,
            qty::<numpy::Ix2>(&aq, aq_kind, "ask_qty")?,
        )
    } else {
        let f = |a: &Bound<'py, PyUntypedArray>, name: &str| -> PyResult<Qty<'py, numpy::Ix2>> {
            let c = a
                .call_method1("astype", ("float64",))?
                .cast_into::<PyUntypedArray>()
                .map_err(|_| PyTypeError::new_err(format!("{name}: astype(float64) failed")))?;
            qty(&c, Kind::F64, name)
        };
        (f(&bq, "bid_qty")?, f(&aq, "ask_qty")?)
    };
    match (&bq, &aq) {
        (Qty::I(b), Qty::I(a)) => {
            let (b, a) = (logical(b.as_array()), logical(a.as_array()));
            let books = Books::new(&bp_s, &b, &ap_s, &a, width, levels).map_err(value_error)?;
            f(AnyBooks::I(books))
        }
        (Qty::F(b), Qty::F(a)) => {
            let (b, a) = (logical(b.as_array()), logical(a.as_array()));
            let books = Books::new(&bp_s, &b, &ap_s, &a, width, levels).map_err(value_error)?;
            f(AnyBooks::F(books))
        }
        _ => Err(PyTypeError::new_err("bid_qty and ask_qty: mixed dtypes")),
    }
}

/// mlofi(bid_px, bid_qty, ask_px, ask_qty, levels=None) -> ndarray (N, levels) float64
///
/// Multi-level order-flow imbalance (Xu, Gould & Howison 2019) of N consecutive books: entry
/// [n, m] is the flow at level m between book n-1 and book n; row 0 is zeros; column 0 is
/// Cont-Kukanov-Stoikov OFI. Prices float64 (N, L); quantities int64 or float64 (N, L); any
/// strides. `levels` reads only the first `levels` columns (pass the populated depth: empty
/// levels, price 0, are an error). Bad books raise ValueError naming the array, row and level.
#[pyfunction]
#[pyo3(signature = (bid_px, bid_qty, ask_px, ask_qty, levels=None))]
fn mlofi<'py>(
    py: Python<'py>,
    bid_px: &Bound<'py, PyAny>,
    bid_qty: &Bound<'py, PyAny>,
    ask_px: &Bound<'py, PyAny>,
    ask_qty: &Bound<'py, PyAny>,
    levels: Option<i64>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    with_books(bid_px, bid_qty, ask_px, ask_qty, levels, |books| {
        let (rows, levels) = match &books {
            AnyBooks::I(b) => (b.rows(), b.levels()),
            AnyBooks::F(b) => (b.rows(), b.levels()),
        };
        // numpy allocates the result (large arrays get huge pages there: far fewer page faults
        // than a fresh Vec) without zeroing it, and the kernel writes every entry into it.
        // SAFETY: the array is only returned after `mlofi_into_uninit` succeeded, which writes
        // every entry; on error it is dropped unread (numpy never reads it either).
        let result = unsafe { PyArray2::<f64>::new(py, [rows, levels], false) };
        let len = rows * levels;
        if len > 0 {
            // SAFETY: a fresh C-contiguous array of `len` f64s, not yet visible to Python or to
            // any other Rust reference; this slice is its only handle until we return, and
            // MaybeUninit makes no claim about the (uninitialised) contents.
            let out = unsafe {
                std::slice::from_raw_parts_mut(result.data().cast::<MaybeUninit<f64>>(), len)
            };
            match &books {
                AnyBooks::I(b) => run_batch(py, b, out)?,
                AnyBooks::F(b) => run_batch(py, b, out)?,
            }
        }
        Ok(result)
    })
}

/// mlofi_valid(bid_px, bid_qty, ask_px, ask_qty, levels=None) -> ndarray (N,) bool
///
/// Which books `mlofi` (and `MlofiStream.update`) would accept, by the same checks: filter a
/// batch with it (`mlofi(*(x[ok] for x in arrays))`) instead of catching an error for the
/// whole batch. Shape, ndim, dtype and `levels` errors raise as in `mlofi`.
#[pyfunction]
#[pyo3(signature = (bid_px, bid_qty, ask_px, ask_qty, levels=None))]
fn mlofi_valid<'py>(
    py: Python<'py>,
    bid_px: &Bound<'py, PyAny>,
    bid_qty: &Bound<'py, PyAny>,
    ask_px: &Bound<'py, PyAny>,
    ask_qty: &Bound<'py, PyAny>,
    levels: Option<i64>,
) -> PyResult<Bound<'py, PyArray1<bool>>> {
    with_books(bid_px, bid_qty, ask_px, ask_qty, levels, |books| {
        let ok = match &books {
            AnyBooks::I(b) => ofi::valid_books(b),
            AnyBooks::F(b) => ofi::valid_books(b),
        };
        Ok(PyArray1::from_vec(py, ok))
    })
}

/// MlofiStream(levels): MLOFI one book at a time, the same numbers as `mlofi` over the same
/// sequence. `update(bid_px, bid_qty, ask_px, ask_qty)` takes 1-D arrays (or sequences) of at
/// least `levels` entries (only the first `levels` are read) and returns the (levels,) flows
/// against the previous accepted book; zeros for the first. A bad book raises ValueError and
/// leaves the stream as it was. `reset()` forgets the previous book (e.g. after a feed gap).
#[pyclass(name = "MlofiStream", module = "shijim_core")]
struct PyMlofiStream {
    inner: ofi::MlofiStream,
}

#[pymethods]
impl PyMlofiStream {
    #[new]
    fn new(levels: i64) -> PyResult<Self> {
        if levels < 1 {
            return Err(PyValueError::new_err(format!(
                "levels={levels} must be at least 1"
            )));
        }
        let inner = ofi::MlofiStream::new(levels as usize).map_err(value_error)?;
        Ok(PyMlofiStream { inner })
    }

    #[getter]
    fn levels(&self) -> usize {
        self.inner.levels()
    }

    fn reset(&mut self) {
        self.inner.reset();
    }

    fn update<'py>(
        &mut self,
        py: Python<'py>,
        bid_px: &Bound<'py, PyAny>,
        bid_qty: &Bound<'py, PyAny>,
        ask_px: &Bound<'py, PyAny>,
        ask_qty: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let (bp, _) = as_array(bid_px, "bid_px", 1, true)?;
        let (bq, bq_kind) = as_array(bid_qty, "bid_qty", 1, false)?;
        let (ap, _) = as_array(ask_px, "ask_px", 1, true)?;
        let (aq, aq_kind) = as_array(ask_qty, "ask_qty", 1, false)?;
        let bp = readonly::<f64, numpy::Ix1>(&bp, "bid_px")?;
        let ap = readonly::<f64, numpy::Ix1>(&ap, "ask_px")?;
        let (bp, ap) = (logical(bp.as_array()), logical(ap.as_array()));
        let mut out = vec![0.0; self.inner.levels()];
        let bq = qty::<numpy::Ix1>(&bq, bq_kind, "bid_qty")?;
        let aq = qty::<numpy::Ix1>(&aq, aq_kind, "ask_qty")?;
        let r = match (&bq, &aq) {
            (Qty::I(b), Qty::I(a)) => {
                let (b, a) = (logical(b.as_array()), logical(a.as_array()));
                self.inner.update_into(&bp, &b, &ap, &a, &mut out)
            }
            (Qty::F(b), Qty::F(a)) => {
                let (b, a) = (logical(b.as_array()), logical(a.as_array()));
                self.inner.update_into(&bp, &b, &ap, &a, &mut out)
            }
            // Mixed int/float sides: both as float64 (exact below 2^50).
            (b, a) => {
                let as_f = |q: &Qty<'py, numpy::Ix1>| -> Vec<f64> {
                    match q {
                        Qty::I(x) => x.as_array().iter().map(|&v| v as f64).collect(),
                        Qty::F(x) => x.as_array().iter().copied().collect(),
                    }
                };
                let (b, a) = (as_f(b), as_f(a));
                self.inner.update_into(&bp, &b, &ap, &a, &mut out)
            }
        };
        r.map_err(value_error)?;
        Ok(PyArray1::from_vec(py, out))
    }

    fn __repr__(&self) -> String {
        format!("MlofiStream(levels={})", self.inner.levels())
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(mlofi, m)?)?;
    m.add_function(wrap_pyfunction!(mlofi_valid, m)?)?;
    m.add_class::<PyMlofiStream>()?;
    Ok(())
}
