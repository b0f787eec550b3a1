//! The algo toolkit (issue 12): per-event research and trading kernels over the engine's own
//! types ([`L5`](crate::engine::types::L5), [`Price`](crate::engine::types::Price),
//! [`Side`](crate::engine::types::Side)), so that one call serves live, replay and backtests.
//!
//! - [`features`]: L5 book features (spread, mid, microprice, weighted mid, imbalance per level
//!   and cumulative, book slope, book pressure, OFI/MLOFI through [`crate::ofi`], log return and
//!   realised variance).
//! - [`flow`]: trade imbalance and signed volume (aggressor as reported, else Lee–Ready).
//! - [`piq`]: position in queue of a resting order (risk-averse, power and log probabilistic
//!   rules as hftbacktest defines them, and the paper venue's pro-rata rule), with bounds, a
//!   confidence and the probability of a fill within a horizon.
//! - [`kalman`]: a local-level filter (fair price from mids and trades) and a dynamic hedge
//!   ratio for pairs.
//! - [`leadlag`]: the Hayashi–Yoshida cross-covariance over a lag grid (Hoffmann, Rosenbaum &
//!   Yoshida 2013), lead-lag ratio and best lag.
//!
//! Every kernel is a plain type built by `new_checked` (settings checked, errors name the
//! field) with an O(1) streaming update; each batch function runs the same update over its
//! rows, so streaming and batch give bit-identical numbers. Bad input (NaN, crossed or empty
//! books, zero volumes) is an [`AlgoError`] naming the field and, in batches, the row: the
//! stream keeps its state (the bad event is dropped, never half-applied) and a batch marks the
//! row as not ok (NaN outputs) and goes on. Nothing here panics on input. Formulas, papers and
//! sign conventions: docs/signals.md.

use std::fmt;

pub mod features;
pub mod flow;
pub mod kalman;
pub mod leadlag;
pub mod piq;

/// A setting out of range, or an input the kernel refuses.
#[derive(Debug, Clone, PartialEq)]
pub enum AlgoError {
    /// A constructor argument (`new_checked`).
    Config { field: &'static str, detail: String },
    /// An event the kernel cannot use: `field` names the input array or argument, `row` the
    /// position in a batch (None in a stream), `level` the book level where one applies.
    Input {
        field: &'static str,
        row: Option<usize>,
        level: Option<usize>,
        detail: String,
    },
    /// Arrays of a batch that do not fit together.
    Shape { field: &'static str, detail: String },
}

impl AlgoError {
    pub(crate) fn config(field: &'static str, detail: impl Into<String>) -> AlgoError {
        AlgoError::Config {
            field,
            detail: detail.into(),
        }
    }

    pub(crate) fn input(field: &'static str, detail: impl Into<String>) -> AlgoError {
        AlgoError::Input {
            field,
            row: None,
            level: None,
            detail: detail.into(),
        }
    }

    pub(crate) fn at_level(field: &'static str, level: usize, detail: impl Into<String>) -> Self {
        AlgoError::Input {
            field,
            row: None,
            level: Some(level),
            detail: detail.into(),
        }
    }

    pub(crate) fn shape(field: &'static str, detail: impl Into<String>) -> AlgoError {
        AlgoError::Shape {
            field,
            detail: detail.into(),
        }
    }

    /// The same error placed at batch row `r`.
    pub fn with_row(self, r: usize) -> AlgoError {
        match self {
            AlgoError::Input {
                field,
                level,
                detail,
                ..
            } => AlgoError::Input {
                field,
                row: Some(r),
                level,
                detail,
            },
            other => other,
        }
    }
}

impl fmt::Display for AlgoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AlgoError::Config { field, detail } => write!(f, "{field}: {detail}"),
            AlgoError::Shape { field, detail } => write!(f, "{field}: {detail}"),
            AlgoError::Input {
                field,
                row,
                level,
                detail,
            } => match (row, level) {
                (Some(r), Some(l)) => write!(f, "{field}[{r}, {l}] (row {r}, level {l}): {detail}"),
                (Some(r), None) => write!(f, "{field}[{r}] (row {r}): {detail}"),
                (None, Some(l)) => write!(f, "{field}[{l}] (level {l}): {detail}"),
                (None, None) => write!(f, "{field}: {detail}"),
            },
        }
    }
}

impl std::error::Error for AlgoError {}

/// Checks that every batch column has `n` entries.
pub(crate) fn same_len(n: usize, cols: &[(&'static str, usize)]) -> Result<(), AlgoError> {
    for &(field, len) in cols {
        if len != n {
            return Err(AlgoError::shape(
                field,
                format!("{len} entries, expected {n} (one per row)"),
            ));
        }
    }
    Ok(())
}

/// The batch kernels' row loop: `step(r, row)` fills row `r` of `out` (rows of `W`, row-major,
/// one per `ok` entry). A refusal leaves the row NaN and `ok[r]` false, and the stream goes on
/// with the next row. Returns the number refused and the first refusal, placed at its row.
pub(crate) fn each_row<const W: usize>(
    out: &mut [f64],
    ok: &mut [bool],
    mut step: impl FnMut(usize, &mut [f64; W]) -> Result<(), AlgoError>,
) -> (usize, Option<AlgoError>) {
    let mut bad = 0;
    let mut first = None;
    for (r, (row, flag)) in out.chunks_exact_mut(W).zip(ok.iter_mut()).enumerate() {
        let Ok(row) = <&mut [f64; W]>::try_from(row) else {
            continue; // chunks_exact gives whole rows
        };
        let res = step(r, row).map_err(|e| e.with_row(r));
        *flag = res.is_ok();
        if let Err(e) = res {
            row.fill(f64::NAN);
            bad += 1;
            first.get_or_insert(e);
        }
    }
    (bad, first)
}

/// Per-event decay factor of an exponentially weighted sum with half-life `h` events:
/// `0.5^(1/h)`. `h = inf` keeps everything (a plain running sum).
pub(crate) fn halflife_decay(field: &'static str, h: f64) -> Result<f64, AlgoError> {
    if h.is_nan() || h <= 0.0 {
        return Err(AlgoError::config(
            field,
            format!("half-life must be > 0 (events; inf = no decay), got {h}"),
        ));
    }
    Ok(if h.is_infinite() {
        1.0
    } else {
        0.5f64.powf(1.0 / h)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_field_row_and_level() {
        let e = AlgoError::at_level("bid_px", 2, "price is NaN").with_row(7);
        assert_eq!(e.to_string(), "bid_px[7, 2] (row 7, level 2): price is NaN");
        let e = AlgoError::input("qty", "must be > 0, got 0").with_row(3);
        assert_eq!(e.to_string(), "qty[3] (row 3): must be > 0, got 0");
        assert_eq!(
            AlgoError::config("levels", "must be in [1, 5], got 0").to_string(),
            "levels: must be in [1, 5], got 0"
        );
        assert!(same_len(3, &[("a", 3), ("b", 2)])
            .unwrap_err()
            .to_string()
            .starts_with("b: 2 entries"));
    }

    #[test]
    fn halflife_is_checked() {
        assert!(halflife_decay("h", 0.0).is_err());
        assert!(halflife_decay("h", f64::NAN).is_err());
        assert_eq!(halflife_decay("h", f64::INFINITY).unwrap(), 1.0);
        assert_eq!(halflife_decay("h", 1.0).unwrap(), 0.5);
    }
}
