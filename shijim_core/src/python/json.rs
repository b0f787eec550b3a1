//! `json_dumps(value) -> bytes`: a Python value as strict JSON text, in one pass and without
//! building intermediate lists (the admin listener's snapshot document, docs/dashboard.md). The
//! listener's thread holds the interpreter lock while it encodes, so every microsecond here is
//! one a broker callback or the trading thread may wait.
//!
//! What each value becomes: None `null`; bool `true`/`false`; int an integer; float the
//! shortest text that reads back as the same double, `null` if not finite; str a string; a
//! tuple (NamedTuple rows included) or list an array; a dict with str keys an object; an enum
//! member its value if that is a str, else its name (`Side.BUY` -> `"BUY"`,
//! `OrderStatus.SUBMITTED` -> `"submitted"`). Anything else, a non-str key or nesting deeper
//! than `MAX_DEPTH` is a TypeError/ValueError naming where it is (`[2][5]`, `.books`).

use std::fmt::Write;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};

use crate::json_text::{write_f64, write_str};

const MAX_DEPTH: usize = 32;

static ENUM_TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// Why a value could not be written, and where (the innermost step first).
struct Failure {
    path: Vec<String>,
    error: PyErr,
}

impl Failure {
    fn new(error: PyErr) -> Failure {
        Failure {
            path: Vec::new(),
            error,
        }
    }

    fn at(mut self, step: String) -> Failure {
        self.path.push(step);
        self
    }

    fn into_err(self, py: Python<'_>) -> PyErr {
        let path: String = self.path.iter().rev().map(String::as_str).collect();
        let where_ = if path.is_empty() { "the value" } else { &path };
        let msg = format!("json_dumps: {where_}: {}", self.error.value(py));
        if self.error.is_instance_of::<PyTypeError>(py) {
            PyTypeError::new_err(msg)
        } else {
            PyValueError::new_err(msg)
        }
    }
}

impl From<PyErr> for Failure {
    fn from(e: PyErr) -> Failure {
        Failure::new(e)
    }
}

/// A str as JSON; one that is not valid UTF-8 (a lone surrogate, e.g. from bytes decoded with
/// `surrogateescape`) is written with U+FFFD in its place rather than failing the document: a
/// broker's odd reject reason must not stop the dashboard.
fn write_py_str(out: &mut String, s: &Bound<'_, PyString>) {
    match s.to_str() {
        Ok(text) => write_str(out, text),
        Err(_) => write_str(out, &s.to_string_lossy()),
    }
}

/// `v` as JSON if it is a float, an int or a str (`exact`: of exactly that type; else a
/// subclass too, after enums: an IntEnum is an int); false if it is none of them.
fn write_scalar(out: &mut String, v: &Bound<'_, PyAny>, exact: bool) -> PyResult<bool> {
    let float = if exact {
        v.cast_exact::<PyFloat>().ok()
    } else {
        v.cast::<PyFloat>().ok()
    };
    if let Some(f) = float {
        write_f64(out, f.value());
        return Ok(true);
    }
    if exact && v.is_exact_instance_of::<PyInt>() || !exact && v.is_instance_of::<PyInt>() {
        write_int(out, v)?;
        return Ok(true);
    }
    let text = if exact {
        v.cast_exact::<PyString>().ok()
    } else {
        v.cast::<PyString>().ok()
    };
    if let Some(s) = text {
        write_py_str(out, s);
        return Ok(true);
    }
    Ok(false)
}

fn write_int(out: &mut String, v: &Bound<'_, PyAny>) -> PyResult<()> {
    if let Ok(i) = v.extract::<i64>() {
        // Writing into a String cannot fail.
        let _ = write!(out, "{i}");
    } else {
        // Beyond 64 bits: Python's own decimal digits (int.__repr__, whatever the subclass).
        let digits = py_int_str(v)?;
        out.push_str(&digits);
    }
    Ok(())
}

fn py_int_str(v: &Bound<'_, PyAny>) -> PyResult<String> {
    let py = v.py();
    py.get_type::<PyInt>()
        .getattr("__repr__")?
        .call1((v,))?
        .extract::<String>()
}

/// The writer of one `json_dumps` call: the text so far, and each enum member's text once
/// (members are singletons; a row of orders holds the same few hundreds of times, and reading
/// `_value_`/`_name_` is two attribute lookups).
struct Writer<'py> {
    out: String,
    enum_type: Bound<'py, PyType>,
    members: Vec<(Bound<'py, PyAny>, Bound<'py, PyString>)>,
}

impl<'py> Writer<'py> {
    fn member_text(&mut self, v: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyString>> {
        if let Some((_, text)) = self.members.iter().find(|(m, _)| m.is(v)) {
            return Ok(text.clone());
        }
        let value = v.getattr("_value_")?;
        let text = match value.cast_into::<PyString>() {
            Ok(s) => s,
            Err(_) => v.getattr("_name_")?.cast_into::<PyString>()?,
        };
        self.members.push((v.clone(), text.clone()));
        Ok(text)
    }

    /// A tuple's or a list's items as a JSON array.
    fn array(
        &mut self,
        items: impl Iterator<Item = Bound<'py, PyAny>>,
        depth: usize,
    ) -> Result<(), Failure> {
        self.out.push('[');
        for (i, item) in items.enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.value(&item, depth + 1)
                .map_err(|f| f.at(format!("[{i}]")))?;
        }
        self.out.push(']');
        Ok(())
    }

    fn value(&mut self, v: &Bound<'py, PyAny>, depth: usize) -> Result<(), Failure> {
        if depth > MAX_DEPTH {
            return Err(Failure::new(PyValueError::new_err(format!(
                "nested deeper than {MAX_DEPTH}"
            ))));
        }
        let out = &mut self.out;
        // Exact types first (almost every value), then containers, enums and subclasses.
        if v.is_none() {
            out.push_str("null");
        } else if write_scalar(out, v, true)? {
            // written: a float, int or str of exactly that type
        } else if let Ok(b) = v.cast_exact::<PyBool>() {
            out.push_str(if b.is_true() { "true" } else { "false" });
        } else if let Ok(t) = v.cast::<PyTuple>() {
            self.array(t.iter(), depth)?;
        } else if let Ok(l) = v.cast::<PyList>() {
            self.array(l.iter(), depth)?;
        } else if let Ok(d) = v.cast::<PyDict>() {
            out.push('{');
            for (i, (k, item)) in d.iter().enumerate() {
                let Ok(key) = k.cast::<PyString>() else {
                    return Err(Failure::new(PyTypeError::new_err(format!(
                        "key {}: not a str",
                        k.repr()?
                    ))));
                };
                if i > 0 {
                    self.out.push(',');
                }
                write_py_str(&mut self.out, key);
                self.out.push(':');
                self.value(&item, depth + 1)
                    .map_err(|f| f.at(format!(".{}", key.to_string_lossy())))?;
            }
            self.out.push('}');
        } else if v.is_instance(&self.enum_type)? {
            let text = self.member_text(v)?;
            write_py_str(&mut self.out, &text);
        } else if write_scalar(out, v, false)? {
            // written: a subclass of float, int or str that is not an enum
        } else {
            return Err(Failure::new(PyTypeError::new_err(format!(
                "{} is not JSON (None, bool, int, float, str, tuple, list, dict with str keys, \
                 enum)",
                v.get_type().name()?
            ))));
        }
        Ok(())
    }
}

/// `value` as strict JSON text (UTF-8 bytes, no spaces): see the module's documentation.
#[pyfunction]
fn json_dumps<'py>(value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let py = value.py();
    let enum_type = ENUM_TYPE
        .get_or_try_init(py, || -> PyResult<Py<PyType>> {
            Ok(py
                .import("enum")?
                .getattr("Enum")?
                .cast_into::<PyType>()?
                .unbind())
        })?
        .bind(py);
    let mut w = Writer {
        out: String::with_capacity(4096),
        enum_type: enum_type.clone(),
        members: Vec::new(),
    };
    w.value(value, 0).map_err(|f| f.into_err(py))?;
    Ok(PyBytes::new(py, w.out.as_bytes()))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(json_dumps, m)?)
}
