//! Thin PyO3 binding of `crate::hftconv` (Shioaji records -> hftbacktest event rows) for
//! `shijim.tools.hft_converter`. Reading and converting run with the GIL released: they touch
//! only the bytes given (immutable `bytes`) and the converter's own Rust state.

use std::mem::offset_of;

use numpy::{Element, PyArray1, PyArrayDescr};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyTuple};

use crate::hftconv::{Cause, Converter, HftRow, Options, Place};
use crate::sbe::{jsonl, Code};

static HFT_EVENT_DTYPE: PyOnceLock<Py<PyArrayDescr>> = PyOnceLock::new();

/// `hftbacktest.types.event_dtype`, built from the Rust row's own offsets.
const FIELDS: [(&str, &str, usize); 8] = [
    ("ev", "<u8", offset_of!(HftRow, ev)),
    ("exch_ts", "<i8", offset_of!(HftRow, exch_ts)),
    ("local_ts", "<i8", offset_of!(HftRow, local_ts)),
    ("px", "<f8", offset_of!(HftRow, px)),
    ("qty", "<f8", offset_of!(HftRow, qty)),
    ("order_id", "<u8", offset_of!(HftRow, order_id)),
    ("ival", "<i8", offset_of!(HftRow, ival)),
    ("fval", "<f8", offset_of!(HftRow, fval)),
];

fn dtype(py: Python<'_>) -> PyResult<Bound<'_, PyArrayDescr>> {
    HFT_EVENT_DTYPE
        .get_or_try_init(py, || {
            let spec = PyDict::new(py);
            spec.set_item("names", PyList::new(py, FIELDS.iter().map(|f| f.0))?)?;
            spec.set_item("formats", PyList::new(py, FIELDS.iter().map(|f| f.1))?)?;
            spec.set_item("offsets", PyList::new(py, FIELDS.iter().map(|f| f.2))?)?;
            spec.set_item("itemsize", size_of::<HftRow>())?;
            spec.set_item("aligned", true)?;
            let d = py.import("numpy")?.getattr("dtype")?.call1((spec,))?;
            Ok::<_, PyErr>(d.cast_into::<PyArrayDescr>()?.unbind())
        })
        .map(|d| d.bind(py).clone())
}

// SAFETY: the dtype is built from the struct's own `offset_of!`/`size_of` and names only plain
// integer and float fields: every bit pattern numpy can hold there is a valid Rust value. No
// Python objects inside: IS_COPY.
unsafe impl Element for HftRow {
    const IS_COPY: bool = true;

    fn get_dtype(py: Python<'_>) -> Bound<'_, PyArrayDescr> {
        // Built at import (`register`); should numpy fail later, an opaque void dtype of the
        // same size makes every dtype check fail cleanly (no panic).
        dtype(py).unwrap_or_else(|_| {
            PyArrayDescr::new(py, format!("V{}", size_of::<HftRow>()).as_str())
                .unwrap_or_else(|_| PyArrayDescr::object(py))
        })
    }

    fn clone_ref(&self, _py: Python<'_>) -> Self {
        *self
    }
}

/// Collects raw records (JSONL runs, SBE frame runs, single records), then `finish()` gives
/// the rows of each code. One conversion per object.
#[pyclass(module = "shijim_core._shijim_core", name = "HftConverter")]
struct PyHftConverter {
    inner: Option<Converter>,
}

impl PyHftConverter {
    fn converter(&mut self) -> PyResult<&mut Converter> {
        self.inner
            .as_mut()
            .ok_or_else(|| PyRuntimeError::new_err("HftConverter: already finished"))
    }
}

#[pymethods]
impl PyHftConverter {
    #[new]
    #[pyo3(signature = (base_latency_ns = 1, max_clock_skew_ns = 1_000_000_000, examples = 5, codes = None, threads = 1))]
    fn new(
        base_latency_ns: i64,
        max_clock_skew_ns: i64,
        examples: usize,
        codes: Option<Vec<String>>,
        threads: usize,
    ) -> PyResult<Self> {
        let options = Options {
            base_latency_ns,
            max_clock_skew_ns,
            examples,
            threads,
        };
        let mut conv = Converter::new(options).map_err(|e| PyValueError::new_err(e.to_string()))?;
        if let Some(codes) = codes {
            let codes = codes
                .iter()
                .map(|c| {
                    Code::new(c).map_err(|e| PyValueError::new_err(format!("code {c:?}: {e}")))
                })
                .collect::<PyResult<Vec<Code>>>()?;
            conv.only(codes);
        }
        Ok(PyHftConverter { inner: Some(conv) })
    }

    /// Reads JSONL lines of `data` from `pos` on up to the first line outside the core's fast
    /// path (or the unfinished last line unless `last`): (position of that line, lines
    /// consumed, blank ones included). `first_line` numbers the first line read here.
    #[pyo3(signature = (data, pos, last, file, first_line))]
    fn read_jsonl(
        &mut self,
        py: Python<'_>,
        data: &[u8],
        pos: usize,
        last: bool,
        file: u32,
        first_line: u64,
    ) -> PyResult<(usize, u64)> {
        let conv = self.converter()?;
        let read = py.detach(|| conv.read_jsonl(data, pos, last, file, first_line));
        Ok((read.pos, read.lines))
    }

    /// Reads SOFH frames of `data` from `pos` on up to the first frame that is incomplete,
    /// bad or not a valid record; `base` is the file offset of `data[0]`. Returns where it
    /// stopped.
    fn read_frames(
        &mut self,
        py: Python<'_>,
        data: &[u8],
        pos: usize,
        file: u32,
        base: u64,
    ) -> PyResult<usize> {
        let conv = self.converter()?;
        Ok(py.detach(|| conv.read_frames(data, pos, file, base)))
    }

    /// One record the reference reader accepted, as a record dict
    /// (`shijim.events.record_to_dict`), at line or byte `at` of `file`.
    fn push_record(&mut self, record: &Bound<'_, PyAny>, file: u32, at: u64) -> PyResult<()> {
        let py = record.py();
        let msg = super::sbe::record_to_message(record).map_err(|e| e.into_py(py, None))?;
        if !jsonl::is_record(&msg) {
            return Err(PyValueError::new_err(
                "HftConverter.push_record: not a valid record",
            ));
        }
        self.converter()?.push(&msg, Place { file, at });
        Ok(())
    }

    /// Converts: {"codes": [{"code", "rows" (event_dtype array), "stats" (dict of counts),
    /// "dropped" ([(cause, file, at, detail)], the first few per cause)}], "skipped" (dict),
    /// "local_ts_shift_ns", "min_feed_latency_ns" (None without records)}.
    fn finish<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let conv = self
            .inner
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("HftConverter: already finished"))?;
        let out = py
            .detach(|| conv.finish())
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        let codes = PyList::empty(py);
        for c in out.codes {
            let d = PyDict::new(py);
            d.set_item("code", c.code.as_str())?;
            let stats = PyDict::new(py);
            for (name, n) in c.stats.counts() {
                stats.set_item(name, n)?;
            }
            stats.set_item("first_exch_ts", c.stats.first_exch_ts)?;
            stats.set_item("last_exch_ts", c.stats.last_exch_ts)?;
            d.set_item("stats", stats)?;
            let dropped = PyList::empty(py);
            for x in &c.dropped {
                dropped.append((x.cause.name(), x.place.file, x.place.at, x.detail.as_str()))?;
            }
            d.set_item("dropped", dropped)?;
            d.set_item("rows", PyArray1::from_vec(py, c.rows))?;
            codes.append(d)?;
        }
        let skipped = PyDict::new(py);
        let s = &out.skipped;
        skipped.set_item("snapshot_records", s.snapshot_records)?;
        skipped.set_item("events", s.events)?;
        skipped.set_item("feed_gaps", s.feed_gaps)?;
        skipped.set_item("messages_lost", s.messages_lost)?;
        skipped.set_item("other_codes", s.other_codes)?;
        let res = PyDict::new(py);
        res.set_item("codes", codes)?;
        res.set_item("skipped", skipped)?;
        res.set_item("local_ts_shift_ns", out.local_ts_shift_ns)?;
        res.set_item("min_feed_latency_ns", out.min_feed_latency_ns)?;
        Ok(res)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("HFT_EVENT_DTYPE", dtype(py)?)?;
    m.add(
        "HFT_DROP_CAUSES",
        PyTuple::new(py, Cause::ALL.iter().map(|c| c.name()))?,
    )?;
    m.add_class::<PyHftConverter>()?;
    Ok(())
}
