//! PyO3 bindings: thin wrappers over the plain Rust types. Errors become Python exceptions;
//! no panic may cross into Python (input-dependent paths return `Result`).

use std::borrow::Cow;

use numpy::ndarray::{ArrayView, Dimension};
use pyo3::prelude::*;

mod admission;
mod algo;
mod columns;
mod engine;
mod hftconv;
mod json;
mod ofi;
mod ring;
mod sbe;
mod tuple_type;

/// The elements of a view in logical order: borrowed when C-contiguous, else copied (so a
/// transposed, sliced or negatively strided array never yields the wrong rows).
pub(super) fn logical<'a, T: Copy, D: Dimension>(view: ArrayView<'a, T, D>) -> Cow<'a, [T]> {
    match view.to_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(view.iter().copied().collect()),
    }
}

#[pymodule]
fn _shijim_core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    sbe::register(m)?;
    ring::register(m)?;
    ofi::register(m)?;
    engine::register(m)?;
    admission::register(m)?;
    algo::register(m)?;
    hftconv::register(m)?;
    json::register(m)?;
    columns::register(m)?;
    Ok(())
}
