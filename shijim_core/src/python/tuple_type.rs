//! Instances of a Python tuple subclass (a `NamedTuple` such as the strategy's `MarketView`)
//! built from Rust: what `tuple.__new__(tp, items)` does, without the intermediate tuple or a
//! call through Python. The engine fills the caller's view types this way on every decision
//! (docs/engine.md#views).

use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyTuple, PyType};

/// An instance of `tp`, which must be `tuple` or a subclass of it, holding `items` in order.
/// The type's own `__new__` is not called: for a `NamedTuple` it only builds the tuple; the
/// field getters of a type with more fields than `items` raise IndexError, as on any short
/// tuple, so a mismatched type is an error in Python, never a bad read.
pub(crate) fn tuple_instance<'py, const N: usize>(
    call: &str,
    tp: &Bound<'py, PyType>,
    items: [Bound<'py, PyAny>; N],
) -> PyResult<Bound<'py, PyAny>> {
    let py = tp.py();
    if !tp.is_subclass_of::<PyTuple>()? {
        return Err(PyTypeError::new_err(format!(
            "{call}: {}: not a tuple type (a NamedTuple class is expected)",
            tp.name()?
        )));
    }
    // SAFETY: `tp` is a live type object that subclasses tuple, so its `tp_alloc` slot (the
    // one tuple.__new__ uses for subclasses) returns a new tuple-layout object with N item
    // slots, all NULL, and a reference count of 1, or NULL with an exception set.
    // PyTuple_SetItem steals each item's reference and requires exactly that fresh object
    // (refcount 1, a tuple subclass). Every item exists before the allocation, so no Python
    // code (no GC pass) runs while slots are still NULL; tuple's traverse and dealloc skip NULL
    // items in any case.
    unsafe {
        let slot = ffi::PyType_GetSlot(tp.as_type_ptr(), ffi::Py_tp_alloc);
        if slot.is_null() {
            return Err(PyTypeError::new_err(format!(
                "{call}: {}: a type without an allocator",
                tp.name()?
            )));
        }
        let alloc: ffi::allocfunc = std::mem::transmute(slot);
        let obj = alloc(tp.as_type_ptr(), N as ffi::Py_ssize_t);
        if obj.is_null() {
            return Err(PyErr::fetch(py));
        }
        let obj = Bound::from_owned_ptr(py, obj);
        for (i, item) in items.into_iter().enumerate() {
            if ffi::PyTuple_SetItem(obj.as_ptr(), i as ffi::Py_ssize_t, item.into_ptr()) != 0 {
                return Err(PyErr::fetch(py));
            }
        }
        Ok(obj)
    }
}
