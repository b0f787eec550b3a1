//! Lead-lag between two asynchronously observed prices: the Hayashi–Yoshida (2005)
//! cross-covariance shifted over a lag grid, as in Hoffmann, Rosenbaum & Yoshida (2013),
//! "Estimation of the lead-lag parameter from non-synchronous data" (Bernoulli 19(2)).
//!
//! With X observed at t_0 < t_1 < ... and Y at s_0 < s_1 < ..., increments over
//! I_i = (t_{i-1}, t_i] and J_j = (s_{j-1}, s_j] (of ln prices by default), the shifted
//! estimator is
//!
//! ```text
//! U(theta) = sum_{i,j} dX_i dY_j 1{ I_i ∩ (J_j - theta) != ∅ }
//!          = sum_i dX_i ( Y_next(t_i + theta) - Y_prev(t_{i-1} + theta) )
//! ```
//!
//! where `Y_next(tau)` is Y at its first observation at or after tau (the last one if none)
//! and `Y_prev(tau)` Y at its last observation at or before tau (the first one if none): the
//! overlapping J_j form one contiguous run, so their increments telescope. That makes each lag
//! a two-pointer sweep, O(n + m), instead of the O(n m) double sum. The correlation is
//! `U(theta) / sqrt(sum dX^2 sum dY^2)`.
//!
//! **Sign.** A positive theta pairs X's moves with Y's moves theta later: if
//! `Y_t = X_{t - theta0}`, U peaks at theta = theta0 > 0, and **X leads Y**. The best lag
//! maximises |U| (ties: the smallest |theta|). The lead-lag ratio (Huth & Abergel 2014,
//! "High frequency lead/lag relationships — empirical facts") is
//! `LLR = sum_{theta > 0} U^2 / sum_{theta < 0} U^2`: above 1, X leads.
//!
//! **Streaming.** [`LeadLag::push_x`] / [`LeadLag::push_y`] take observations in time order; an
//! X interval's term for lag theta is added once Y has an observation at or after
//! t_i + theta, so each observation costs O(1) amortised per lag and memory stays within the
//! lag window. Several observations of a series with the same time stamp: the last one counts
//! (an observation is committed when a later one arrives or at [`LeadLag::finish`]). The batch
//! ([`hayashi_yoshida`]) admits the observations through the same code and runs the same sweep
//! once per lag at the end: each lag's terms are added in the same order, so both give
//! bit-identical sums (and neither the interleaving of X and Y nor a delay of one series
//! behind the other changes them).
//!
//! **Bad input** (counted, dropped, never a panic): a price that is not finite or <= 0 (with
//! `log_prices`), a time earlier than the series' previous observation.

use super::AlgoError;

/// Most lags in a grid.
pub const MAX_LAGS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Interval {
    t_prev: i64,
    t: i64,
    dx: f64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Lag {
    /// Absolute index of the next X interval to add for this lag.
    next_x: usize,
    /// Absolute index of the last Y observation at or before the last `t_prev + theta` used.
    cur: usize,
    sum: f64,
}

/// Observations refused or merged, per series.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeriesCounts {
    /// Observations used (after merging equal time stamps).
    pub used: u64,
    /// Not finite, <= 0 (log prices) or earlier than the previous observation.
    pub dropped: u64,
    /// Replaced by a later observation with the same time stamp.
    pub merged: u64,
}

/// What the estimator found.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadLagResult {
    pub lags: Vec<i64>,
    /// U(theta) per lag.
    pub cov: Vec<f64>,
    /// U(theta) / sqrt(RV_x RV_y) per lag (NaN without variation).
    pub corr: Vec<f64>,
    /// The lag of max |U| (None without any covariation).
    pub best_lag: Option<i64>,
    pub best_corr: f64,
    /// sum_{theta>0} U^2 / sum_{theta<0} U^2 (NaN when both are 0).
    pub lead_lag_ratio: f64,
    pub rv_x: f64,
    pub rv_y: f64,
    pub x: SeriesCounts,
    pub y: SeriesCounts,
}

/// Adds the term of X interval `iv` for one lag: `dx (Y_next(t + theta) - Y_prev(t_prev +
/// theta))`, against the Y observations (`ys_t`, `ys_v`, non-empty; absolute index of the
/// first: `y_base`), moving the lag's cursor. The one kernel of the stream and of the batch.
#[inline(always)]
fn add_term(st: &mut Lag, theta: i64, iv: &Interval, ys_t: &[i64], ys_v: &[f64], y_base: usize) {
    let ny = ys_t.len();
    let mut c = st.cur - y_base;
    let tau_prev = iv.t_prev.saturating_add(theta);
    let tau_next = iv.t.saturating_add(theta);
    while c + 1 < ny && ys_t[c + 1] <= tau_prev {
        c += 1;
    }
    // The first observation at or after tau_next, from c: usually 0-2 steps away. Counting
    // four sorted comparisons at a time (a prefix of them is true) avoids a mispredicted
    // branch per step.
    let below = |k: usize| usize::from(ys_t.get(k).is_some_and(|&s| s < tau_next));
    let mut j = c;
    loop {
        let k = below(j) + below(j + 1) + below(j + 2) + below(j + 3);
        j += k;
        if k < 4 {
            break;
        }
    }
    st.sum += iv.dx * (ys_v[j.min(ny - 1)] - ys_v[c]);
    st.next_x += 1;
    // X intervals are consecutive: the next one's `t_prev + theta` is this `tau_next`, whose
    // last observation at or before it is found from `j` without scanning again.
    let exact = j < ny && ys_t[j] == tau_next;
    st.cur = if exact { j } else { j.saturating_sub(1).max(c) } + y_base;
}

/// Adds, for one lag, the terms of X intervals `xs` (absolute index of `xs[0]`: `x_base`) from
/// `st.next_x` on, while Y has an observation at or after `t_i + theta` (`y_last`), or all of
/// them when `y_last` is None (the end: Y's last value stands beyond it). A lag's terms are
/// always added in interval order.
#[inline]
#[allow(clippy::too_many_arguments)]
fn sweep(
    st: &mut Lag,
    theta: i64,
    xs: &[Interval],
    x_base: usize,
    ys_t: &[i64],
    ys_v: &[f64],
    y_base: usize,
    y_last: Option<i64>,
) {
    if ys_t.is_empty() {
        return;
    }
    while let Some(iv) = xs.get(st.next_x - x_base) {
        if y_last.is_some_and(|s| s < iv.t.saturating_add(theta)) {
            break;
        }
        add_term(st, theta, iv, ys_t, ys_v, y_base);
    }
}

/// The streaming lead-lag estimator.
#[derive(Debug, Clone)]
pub struct LeadLag {
    lags: Vec<i64>,
    state: Vec<Lag>,
    log_prices: bool,
    /// Add terms only at [`LeadLag::finish`] (the batch: one sweep per lag).
    deferred: bool,
    /// X intervals from `xs[x_head]` (absolute index `x_base`) are still needed.
    xs: Vec<Interval>,
    x_head: usize,
    x_base: usize,
    ys_t: Vec<i64>,
    ys_v: Vec<f64>,
    y_head: usize,
    y_base: usize,
    x_tent: Option<(i64, f64)>,
    x_last: Option<(i64, f64)>,
    y_tent: Option<(i64, f64)>,
    rv_x: f64,
    rv_y: f64,
    cx: SeriesCounts,
    cy: SeriesCounts,
    commits: u64,
    finished: bool,
}

impl LeadLag {
    /// `lags`: ns, strictly increasing, at most [`MAX_LAGS`]; `log_prices`: use ln(price)
    /// (prices must be > 0) rather than the values themselves.
    pub fn new_checked(lags: &[i64], log_prices: bool) -> Result<LeadLag, AlgoError> {
        if lags.is_empty() || lags.len() > MAX_LAGS {
            return Err(AlgoError::config(
                "lags",
                format!("{} lags given, expected 1 to {MAX_LAGS}", lags.len()),
            ));
        }
        if let Some(i) = lags.windows(2).position(|w| w[1] <= w[0]) {
            return Err(AlgoError::config(
                "lags",
                format!(
                    "must be strictly increasing: lags[{}] = {} after {}",
                    i + 1,
                    lags[i + 1],
                    lags[i]
                ),
            ));
        }
        const BOUND: i64 = 1 << 62;
        if let Some(&l) = lags.iter().find(|l| l.abs() >= BOUND) {
            return Err(AlgoError::config("lags", format!("{l} ns: beyond +-2^62")));
        }
        Ok(LeadLag {
            lags: lags.to_vec(),
            state: vec![Lag::default(); lags.len()],
            log_prices,
            deferred: false,
            xs: Vec::new(),
            x_head: 0,
            x_base: 0,
            ys_t: Vec::new(),
            ys_v: Vec::new(),
            y_head: 0,
            y_base: 0,
            x_tent: None,
            x_last: None,
            y_tent: None,
            rv_x: 0.0,
            rv_y: 0.0,
            cx: SeriesCounts::default(),
            cy: SeriesCounts::default(),
            commits: 0,
            finished: false,
        })
    }

    pub fn lags(&self) -> &[i64] {
        &self.lags
    }

    fn value(&self, field: &'static str, v: f64) -> Result<f64, AlgoError> {
        if self.log_prices {
            if v.is_finite() && v > 0.0 {
                Ok(v.ln())
            } else {
                Err(AlgoError::input(
                    field,
                    format!("{v}: a price must be finite and > 0"),
                ))
            }
        } else if v.is_finite() {
            Ok(v)
        } else {
            Err(AlgoError::input(field, format!("{v}: not finite")))
        }
    }

    /// Checks an observation against the series' tentative one; `Ok(true)`: a new time stamp.
    fn admit(
        field: &'static str,
        tent: &mut Option<(i64, f64)>,
        counts: &mut SeriesCounts,
        t: i64,
        v: f64,
    ) -> Result<bool, AlgoError> {
        match *tent {
            Some((tt, _)) if t < tt => {
                counts.dropped += 1;
                Err(AlgoError::input(
                    field,
                    format!("time {t} is earlier than the previous observation's {tt}"),
                ))
            }
            Some((tt, _)) if t == tt => {
                counts.merged += 1;
                *tent = Some((t, v));
                Ok(false)
            }
            _ => Ok(true),
        }
    }

    /// One observation of X (the candidate leader for positive lags).
    pub fn push_x(&mut self, t: i64, price: f64) -> Result<(), AlgoError> {
        self.check_open()?;
        let v = self
            .value("x", price)
            .inspect_err(|_| self.cx.dropped += 1)?;
        if !Self::admit("t_x", &mut self.x_tent, &mut self.cx, t, v)? {
            return Ok(());
        }
        if let Some(tent) = self.x_tent.replace((t, v)) {
            self.commit_x(tent);
            self.resolve(false);
        }
        Ok(())
    }

    /// One observation of Y.
    pub fn push_y(&mut self, t: i64, price: f64) -> Result<(), AlgoError> {
        self.check_open()?;
        let v = self
            .value("y", price)
            .inspect_err(|_| self.cy.dropped += 1)?;
        if !Self::admit("t_y", &mut self.y_tent, &mut self.cy, t, v)? {
            return Ok(());
        }
        if let Some(tent) = self.y_tent.replace((t, v)) {
            self.commit_y(tent);
            self.resolve(false);
        }
        Ok(())
    }

    fn check_open(&self) -> Result<(), AlgoError> {
        if self.finished {
            Err(AlgoError::input(
                "push",
                "the stream is finished (finish() was called)",
            ))
        } else {
            Ok(())
        }
    }

    fn commit_x(&mut self, (t, v): (i64, f64)) {
        if let Some((tl, vl)) = self.x_last {
            let dx = v - vl;
            self.rv_x += dx * dx;
            self.xs.push(Interval { t_prev: tl, t, dx });
        }
        self.x_last = Some((t, v));
        self.cx.used += 1;
    }

    fn commit_y(&mut self, (s, v): (i64, f64)) {
        if let Some(&vl) = self.ys_v.last() {
            let dy = v - vl;
            self.rv_y += dy * dy;
        }
        self.ys_t.push(s);
        self.ys_v.push(v);
        self.cy.used += 1;
    }

    /// Adds every X interval whose Y values are known, per lag; at the end (`last`) the rest.
    fn resolve(&mut self, last: bool) {
        if self.deferred && !last {
            return;
        }
        let y_last = if last {
            None
        } else {
            match self.ys_t.last() {
                Some(&s) => Some(s),
                None => return, // nothing can be added before Y shows
            }
        };
        let xs = &self.xs[self.x_head..];
        let (ys_t, ys_v) = (&self.ys_t[self.y_head..], &self.ys_v[self.y_head..]);
        let all_pending = self.state.iter().all(|st| st.next_x == self.x_base);
        if y_last.is_none() && all_pending && !ys_t.is_empty() {
            // The batch's single pass: each interval once, every lag's term for it in turn
            // (the lags' cursors stay in cache; each lag still adds its terms in order).
            for iv in xs {
                for (st, &theta) in self.state.iter_mut().zip(&self.lags) {
                    add_term(st, theta, iv, ys_t, ys_v, self.y_base);
                }
            }
        } else {
            for (st, &theta) in self.state.iter_mut().zip(&self.lags) {
                sweep(st, theta, xs, self.x_base, ys_t, ys_v, self.y_base, y_last);
            }
        }
        self.commits += 1;
        if self.commits % 256 == 0 {
            self.trim();
        }
    }

    /// Forgets X intervals every lag has added and Y observations no lag can need again.
    fn trim(&mut self) {
        let min_x = self.state.iter().map(|s| s.next_x).min().unwrap_or(0);
        let min_y = self.state.iter().map(|s| s.cur).min().unwrap_or(0);
        self.x_head += min_x - self.x_base;
        self.x_base = min_x;
        self.y_head += min_y - self.y_base;
        self.y_base = min_y;
        // Compact once the dead prefix is the larger part: amortised O(1) per observation.
        if self.x_head > 1024 && self.x_head * 2 > self.xs.len() {
            self.xs.drain(..self.x_head);
            self.x_head = 0;
        }
        if self.y_head > 1024 && self.y_head * 2 > self.ys_t.len() {
            self.ys_t.drain(..self.y_head);
            self.ys_v.drain(..self.y_head);
            self.y_head = 0;
        }
    }

    /// Ends the stream: commits the last observations and adds every remaining term.
    pub fn finish(&mut self) -> LeadLagResult {
        if !self.finished {
            if let Some(tent) = self.x_tent.take() {
                self.commit_x(tent);
            }
            if let Some(tent) = self.y_tent.take() {
                self.commit_y(tent);
            }
            self.resolve(true);
            self.finished = true;
        }
        self.summary()
    }

    /// The result as if the stream ended now (the stream itself goes on).
    pub fn result(&self) -> LeadLagResult {
        self.clone().finish()
    }

    /// X intervals and Y observations held (memory is bounded by the lag window).
    pub fn buffered(&self) -> (usize, usize) {
        (self.xs.len() - self.x_head, self.ys_t.len() - self.y_head)
    }

    fn summary(&self) -> LeadLagResult {
        let cov: Vec<f64> = self.state.iter().map(|s| s.sum).collect();
        let norm = (self.rv_x * self.rv_y).sqrt();
        let corr = cov
            .iter()
            .map(|c| if norm > 0.0 { c / norm } else { f64::NAN })
            .collect::<Vec<_>>();
        let mut best: Option<usize> = None;
        for (g, c) in cov.iter().enumerate() {
            let a = c.abs();
            if a.is_nan() || a == 0.0 {
                continue;
            }
            let better = match best {
                None => true,
                Some(b) => {
                    let ab = cov[b].abs();
                    a > ab || (a == ab && self.lags[g].abs() < self.lags[b].abs())
                }
            };
            if better {
                best = Some(g);
            }
        }
        let (mut pos, mut neg) = (0.0, 0.0);
        for (c, &l) in cov.iter().zip(&self.lags) {
            if l > 0 {
                pos += c * c;
            } else if l < 0 {
                neg += c * c;
            }
        }
        LeadLagResult {
            lags: self.lags.clone(),
            best_lag: best.map(|g| self.lags[g]),
            best_corr: best.map_or(f64::NAN, |g| corr[g]),
            cov,
            corr,
            lead_lag_ratio: pos / neg,
            rv_x: self.rv_x,
            rv_y: self.rv_y,
            x: self.cx,
            y: self.cy,
        }
    }
}

/// The lead-lag of two series (times in ns, each sorted) over `lags`, through one
/// [`LeadLag`] stream: observations are fed in time order (X first at equal times, which does
/// not change the result); refused ones are counted in the result.
pub fn hayashi_yoshida(
    lags: &[i64],
    log_prices: bool,
    t_x: &[i64],
    x: &[f64],
    t_y: &[i64],
    y: &[f64],
) -> Result<LeadLagResult, AlgoError> {
    super::same_len(t_x.len(), &[("x", x.len())])?;
    super::same_len(t_y.len(), &[("y", y.len())])?;
    let mut ll = LeadLag::new_checked(lags, log_prices)?;
    // The same admission as the stream, and the same sweep once per lag at the end.
    ll.deferred = true;
    let (mut i, mut j) = (0, 0);
    while i < t_x.len() || j < t_y.len() {
        if j == t_y.len() || (i < t_x.len() && t_x[i] <= t_y[j]) {
            let _ = ll.push_x(t_x[i], x[i]); // refusals are counted in the stream
            i += 1;
        } else {
            let _ = ll.push_y(t_y[j], y[j]);
            j += 1;
        }
    }
    Ok(ll.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The double sum over overlapping intervals, straight from the definition.
    fn brute(lags: &[i64], tx: &[i64], x: &[f64], ty: &[i64], y: &[f64]) -> Vec<f64> {
        lags.iter()
            .map(|&th| {
                let mut u = 0.0;
                for i in 1..tx.len() {
                    for j in 1..ty.len() {
                        let (a, b) = (tx[i - 1], tx[i]);
                        let (c, d) = (ty[j - 1] - th, ty[j] - th);
                        if a < d && c < b {
                            u += (x[i].ln() - x[i - 1].ln()) * (y[j].ln() - y[j - 1].ln());
                        }
                    }
                }
                u
            })
            .collect()
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn unit(&mut self) -> f64 {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    fn series(rng: &mut Rng, n: usize, gap: u64) -> (Vec<i64>, Vec<f64>) {
        let mut t = 0i64;
        let mut p = 100.0;
        let (mut ts, mut ps) = (vec![], vec![]);
        for _ in 0..n {
            t += 1 + (rng.next() % gap) as i64;
            p *= 1.0 + (rng.unit() - 0.5) * 0.01;
            ts.push(t);
            ps.push(p);
        }
        (ts, ps)
    }

    #[test]
    fn equals_the_double_sum() {
        let mut rng = Rng(17);
        let lags: Vec<i64> = (-12..=12).map(|k| k * 7).collect();
        for _ in 0..5 {
            let (tx, x) = series(&mut rng, 120, 20);
            let (ty, y) = series(&mut rng, 90, 30);
            let r = hayashi_yoshida(&lags, true, &tx, &x, &ty, &y).unwrap();
            let want = brute(&lags, &tx, &x, &ty, &y);
            for (g, (a, b)) in r.cov.iter().zip(&want).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-14 + 1e-11 * b.abs(),
                    "lag {}: {a} vs {b}",
                    lags[g]
                );
            }
            assert_eq!(r.x.used, 120);
            // Zero lag: the plain Hayashi-Yoshida covariance.
        }
    }

    #[test]
    fn recovers_a_known_lag() {
        // Y copies X 30 us later, observed at its own random times.
        let mut rng = Rng(5);
        let lag = 30_000;
        let mut path_t = vec![];
        let mut path_p = vec![];
        let (mut t, mut p) = (0i64, 1000.0f64);
        for _ in 0..20_000 {
            t += 1 + (rng.next() % 4_000) as i64;
            p *= 1.0 + (rng.unit() - 0.5) * 1e-3;
            path_t.push(t);
            path_p.push(p);
        }
        let at = |tt: i64| -> f64 {
            let k = path_t.partition_point(|&x| x <= tt);
            if k == 0 {
                path_p[0]
            } else {
                path_p[k - 1]
            }
        };
        let (mut tx, mut x, mut ty, mut y) = (vec![], vec![], vec![], vec![]);
        let mut s = 0i64;
        while s < t {
            s += 1 + (rng.next() % 6_000) as i64;
            tx.push(s);
            x.push(at(s));
        }
        s = 0;
        while s < t {
            s += 1 + (rng.next() % 6_000) as i64;
            ty.push(s);
            y.push(at(s - lag));
        }
        let lags: Vec<i64> = (-20..=20).map(|k| k * 5_000).collect();
        let r = hayashi_yoshida(&lags, true, &tx, &x, &ty, &y).unwrap();
        assert_eq!(r.best_lag, Some(lag));
        assert!(r.lead_lag_ratio > 1.0);
        // Swapped: Y leads X.
        let r = hayashi_yoshida(&lags, true, &ty, &y, &tx, &x).unwrap();
        assert_eq!(r.best_lag, Some(-lag));
        assert!(r.lead_lag_ratio < 1.0);
    }

    #[test]
    fn stream_in_any_interleaving_equals_batch() {
        let mut rng = Rng(99);
        let (tx, x) = series(&mut rng, 3000, 50);
        let (ty, y) = series(&mut rng, 2000, 80);
        let lags: Vec<i64> = (-30..=30).map(|k| k * 11).collect();
        let batch = hayashi_yoshida(&lags, true, &tx, &x, &ty, &y).unwrap();
        let mut ll = LeadLag::new_checked(&lags, true).unwrap();
        let (mut i, mut j) = (0, 0);
        let mut mid = None;
        while i < tx.len() || j < ty.len() {
            // Each series in its own order, the two interleaved at random (Y far ahead of X
            // or behind it): the same sums.
            let take_y = j < ty.len() && (i == tx.len() || rng.next() % 2 == 0);
            if take_y {
                ll.push_y(ty[j], y[j]).unwrap();
                j += 1;
            } else {
                ll.push_x(tx[i], x[i]).unwrap();
                i += 1;
            }
            if i == 1500 && mid.is_none() {
                mid = Some(ll.result());
            }
        }
        let r = ll.finish();
        assert_eq!(
            r.cov.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            batch.cov.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        assert_eq!(r, batch);
        assert!(mid.is_some_and(|m| m.x.used < r.x.used));
        assert!(ll.push_x(i64::MAX, 1.0).is_err());
    }

    #[test]
    fn bad_observations_are_counted_and_dropped() {
        let lags = [-1, 0, 1];
        let tx = [1, 2, 2, 1, 3, 4];
        let x = [100.0, 101.0, 102.0, 103.0, f64::NAN, 0.0];
        let ty = [1, 3];
        let y = [50.0, 51.0];
        let r = hayashi_yoshida(&lags, true, &tx, &x, &ty, &y).unwrap();
        assert_eq!(
            r.x,
            SeriesCounts {
                used: 2,
                dropped: 3,
                merged: 1
            }
        );
        // X: 100 at 1, 102 at 2 (merged); Y: 50 at 1, 51 at 3.
        let want = brute(&lags, &[1, 2], &[100.0, 102.0], &ty, &y);
        assert_eq!(r.cov, want);
        // No Y at all: zero covariance, no best lag, NaN correlation.
        let r = hayashi_yoshida(&lags, true, &tx, &x, &[], &[]).unwrap();
        assert_eq!((r.cov, r.best_lag), (vec![0.0; 3], None));
        assert!(r.corr[0].is_nan() && r.lead_lag_ratio.is_nan());
        // Values as they are (not log): negative values allowed, inf refused.
        let r = hayashi_yoshida(&lags, false, &[1, 2], &[-1.0, f64::INFINITY], &ty, &y).unwrap();
        assert_eq!(r.x.dropped, 1);
        for bad in [&[][..], &[1, 1][..], &[2, 1][..], &[1 << 62][..]] {
            assert!(LeadLag::new_checked(bad, true).is_err(), "{bad:?}");
        }
        assert!(hayashi_yoshida(&lags, true, &tx, &x[1..], &ty, &y).is_err());
    }

    #[test]
    fn memory_stays_within_the_lag_window() {
        let lags: Vec<i64> = (-10..=10).map(|k| k * 100).collect();
        let mut ll = LeadLag::new_checked(&lags, true).unwrap();
        for k in 0..100_000i64 {
            ll.push_x(k * 10, 100.0 + (k % 7) as f64).unwrap();
            ll.push_y(k * 10 + 3, 100.0 + (k % 5) as f64).unwrap();
        }
        let (nx, ny) = ll.buffered();
        assert!(nx < 600 && ny < 600, "{nx} {ny}");
        assert!(ll.xs.len() < 4000, "compaction: {}", ll.xs.len());
    }
}
