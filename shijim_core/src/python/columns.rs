//! Bindings of `crate::columns` and `sbe::decimal128_words`: the recorder's Arrow columns.

use numpy::ndarray::Array2;
use numpy::{PyArray1, PyArray2, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::admission::rows;
use super::ring::BidAskRow;
use crate::columns::level_columns;
use crate::sbe::{decimal128_words as core_decimal128_words, LEVELS};

/// `decimal128_words(prices, column)`: a 1-D float64 array (any strides: a column of a
/// structured array is read in place) as Arrow `decimal128(18, 6)` data, an int64 array of two
/// words per price. A value that is no price is a ValueError naming `column`, the row and the
/// fault. The loop is bounded by the array's length.
#[pyfunction]
fn decimal128_words<'py>(
    py: Python<'py>,
    prices: PyReadonlyArray1<'py, f64>,
    column: &str,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let view = prices.as_array();
    let words = core_decimal128_words(view.iter().copied()).map_err(|(row, v, fault)| {
        PyValueError::new_err(format!(
            "decimal128_words: {column}: row {row}: {}",
            fault.describe(v)
        ))
    })?;
    Ok(PyArray1::from_vec(py, words))
}

/// `bidask_level_columns(books)`: a BIDASK_DTYPE array's 20 level columns in one pass:
/// `(price_words, volumes)`, int64 arrays of shape (10, 2 n) (Arrow `decimal128` words) and
/// (10, n), rows bid 1..5 then ask 1..5. A price that is no price is a ValueError naming the
/// column and the row. Bounded by the array's length.
#[pyfunction]
#[allow(clippy::type_complexity)]
fn bidask_level_columns<'py>(
    py: Python<'py>,
    books: &Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyArray2<i64>>, Bound<'py, PyArray2<i64>>)> {
    let call = "bidask_level_columns";
    let rows = rows::<BidAskRow>(books, call, "books", "BIDASK_DTYPE")?;
    let c = level_columns(
        rows.iter()
            .map(|r| (&r.bid_px, &r.bid_qty, &r.ask_px, &r.ask_qty)),
    )
    .map_err(|e| PyValueError::new_err(format!("{call}: {}", e.describe())))?;
    let shape = |width: usize, data: Vec<i64>| {
        Array2::from_shape_vec((2 * LEVELS, width), data)
            .map_err(|e| PyValueError::new_err(format!("{call}: {e}")))
    };
    let words = shape(2 * c.rows, c.price_words)?;
    let volumes = shape(c.rows, c.volumes)?;
    Ok((
        PyArray2::from_owned_array(py, words),
        PyArray2::from_owned_array(py, volumes),
    ))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(decimal128_words, m)?)?;
    m.add_function(wrap_pyfunction!(bidask_level_columns, m)?)?;
    Ok(())
}
