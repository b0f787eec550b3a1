//! PyO3 bindings: thin wrappers over the plain Rust types. Errors become Python exceptions;
//! no panic may cross into Python (input-dependent paths return `Result`).

use pyo3::prelude::*;

mod admission;
mod engine;
mod ofi;
mod ring;
mod sbe;

#[pymodule]
fn _shijim_core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    sbe::register(m)?;
    ring::register(m)?;
    ofi::register(m)?;
    engine::register(m)?;
    admission::register(m)?;
    Ok(())
}
