//! Book rows as the recorder's ClickHouse `bidasks` columns (sent through Arrow).
//!
//! A block of books lies row by row (the ring's layout: 208 bytes a book), and the table
//! wants one column per side and level: 10 prices (`Decimal(18, 6)`) and 10 volumes. A column
//! view of the rows (numpy's `books["bid_px"][:, 2]`) reads every row's cache line for one value,
//! so 20 columns read a block larger than the cache 20 times, plus the temporaries of the
//! price conversion. [`level_columns`] reads each row once and writes every column in the same
//! pass, converting prices with the ring's own rule ([`decimal128_words`]'s).
//!
//! [`decimal128_words`]: crate::sbe::decimal128_words

use crate::sbe::{F64PriceFault, Price, LEVELS};

/// The levels of one book: bid prices, bid volumes, ask prices, ask volumes (best first).
pub type BookLevels<'a> = (
    &'a [f64; LEVELS],
    &'a [i64; LEVELS],
    &'a [f64; LEVELS],
    &'a [i64; LEVELS],
);

/// The 20 level columns of `n` books, in two buffers:
/// - `price_words`: 10 columns of `2 n` words (Arrow `decimal128`: the mantissa, then its sign
///   extension), in the order bid 1..5, ask 1..5;
/// - `volumes`: 10 columns of `n` values, in the same order.
#[derive(Debug, PartialEq, Eq)]
pub struct LevelColumns {
    pub rows: usize,
    pub price_words: Vec<i64>,
    pub volumes: Vec<i64>,
}

/// A price that is no price (`Price::from_f64`'s fault): the row, the table's column name
/// (`bid_price1` .. `ask_price5`) and the value.
#[derive(Debug, Clone, PartialEq)]
pub struct LevelPriceFault {
    pub row: usize,
    pub column: String,
    pub value: f64,
    pub fault: F64PriceFault,
}

impl LevelPriceFault {
    pub fn describe(&self) -> String {
        format!(
            "{}: row {}: {}",
            self.column,
            self.row,
            self.fault.describe(self.value)
        )
    }
}

/// The level columns of `books` in one pass over them (see the module's notes).
pub fn level_columns<'a>(
    books: impl ExactSizeIterator<Item = BookLevels<'a>>,
) -> Result<LevelColumns, LevelPriceFault> {
    let n = books.len();
    let mut price_words = vec![0i64; 2 * LEVELS * 2 * n];
    let mut volumes = vec![0i64; 2 * LEVELS * n];
    if n == 0 {
        return Ok(LevelColumns {
            rows: 0,
            price_words,
            volumes,
        });
    }
    // One mutable slice per column: the writes of a row go to 20 sequential streams.
    let mut px: Vec<&mut [i64]> = price_words.chunks_exact_mut(2 * n).collect();
    let mut qty: Vec<&mut [i64]> = volumes.chunks_exact_mut(n).collect();
    for (i, (bid_px, bid_qty, ask_px, ask_qty)) in books.enumerate() {
        for (side, (prices, vols)) in [(bid_px, bid_qty), (ask_px, ask_qty)]
            .into_iter()
            .enumerate()
        {
            for level in 0..LEVELS {
                let col = side * LEVELS + level;
                let v = prices[level];
                let price = Price::from_f64(v).map_err(|fault| LevelPriceFault {
                    row: i,
                    column: format!(
                        "{}_price{}",
                        if side == 0 { "bid" } else { "ask" },
                        level + 1
                    ),
                    value: v,
                    fault,
                })?;
                px[col][2 * i..2 * i + 2].copy_from_slice(&price.decimal128_words());
                qty[col][i] = vols[level];
            }
        }
    }
    Ok(LevelColumns {
        rows: n,
        price_words,
        volumes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sbe::decimal128_words;

    type Book = ([f64; 5], [i64; 5], [f64; 5], [i64; 5]);

    fn book(mid: f64, k: i64) -> Book {
        (
            [mid - 1.0, mid - 2.0, mid - 3.0, mid - 4.0, mid - 5.0],
            [k, k + 1, k + 2, k + 3, k + 4],
            [mid + 1.0, mid + 2.0, mid + 3.0, mid + 4.0, mid + 5.0],
            [10 * k, 10 * k + 1, 10 * k + 2, 10 * k + 3, 10 * k + 4],
        )
    }

    fn columns(books: &[Book]) -> Result<LevelColumns, LevelPriceFault> {
        level_columns(books.iter().map(|(a, b, c, d)| (a, b, c, d)))
    }

    #[test]
    fn every_column_is_its_level_in_row_order() {
        let books = [book(23000.5, 1), book(0.75, 7), book(1000.0, 3)];
        let c = columns(&books).unwrap();
        let n = books.len();
        assert_eq!(
            (c.rows, c.price_words.len(), c.volumes.len()),
            (3, 10 * 2 * n, 10 * n)
        );
        for side in 0..2 {
            for level in 0..5 {
                let col = side * 5 + level;
                let prices: Vec<f64> = books
                    .iter()
                    .map(|b| if side == 0 { b.0[level] } else { b.2[level] })
                    .collect();
                // The same words as the column conversion, so ticks and books agree.
                let expected = decimal128_words(prices.into_iter()).unwrap();
                assert_eq!(
                    &c.price_words[col * 2 * n..(col + 1) * 2 * n],
                    &expected[..]
                );
                let vols: Vec<i64> = books
                    .iter()
                    .map(|b| if side == 0 { b.1[level] } else { b.3[level] })
                    .collect();
                assert_eq!(&c.volumes[col * n..(col + 1) * n], &vols[..]);
            }
        }
        // A negative price's high word is its sign extension (0.75 - 5 = -4.25 on the bid).
        let bid5 = &c.price_words[4 * 2 * n..5 * 2 * n];
        assert_eq!((bid5[2], bid5[3]), (-4_250_000, -1));
    }

    #[test]
    fn no_books_no_rows() {
        let c = columns(&[]).unwrap();
        assert_eq!(
            c,
            LevelColumns {
                rows: 0,
                price_words: vec![],
                volumes: vec![]
            }
        );
    }

    #[test]
    fn a_price_that_is_no_price_names_its_row_and_column() {
        let mut bad = book(100.0, 1);
        bad.2[3] = f64::INFINITY;
        let err = columns(&[book(100.0, 1), bad, book(100.0, 1)]).unwrap_err();
        assert_eq!((err.row, err.column.as_str()), (1, "ask_price4"));
        assert_eq!(err.fault, F64PriceFault::NotFinite);
        assert_eq!(
            err.describe(),
            "ask_price4: row 1: inf is not a finite price"
        );
        let mut fine = book(100.0, 1);
        fine.0[0] = 100.1234567;
        let err = columns(&[fine]).unwrap_err();
        assert_eq!((err.row, err.column.as_str()), (0, "bid_price1"));
        assert_eq!(err.fault, F64PriceFault::TooManyDecimals);
    }
}
