//! Hand-built queue scenarios, the paper venue as a cross-check of the pro-rata rule, stream
//! against batch, bad input and the fill probability.

use super::*;
use crate::engine::fees::{FeeSchedule, InstrumentSpec};
use crate::engine::latency::LatencyModel;
use crate::engine::test_books::{book, px};

use crate::engine::venue::{OrderRequest, Tif, Venue, VenueConfig};

/// Bids 100 (qty q), 99, 98; asks 101, 102.
fn bid_book(q: i64) -> L5 {
    book(&[(100, q), (99, 5), (98, 5)], &[(101, 5), (102, 5)])
}

fn cfg(rule: QueueRule) -> PiqConfig {
    PiqConfig::new_checked(rule, false, 1_000_000_000).unwrap()
}

fn buy_at_100(rule: QueueRule, q0: i64) -> QueueEstimator {
    QueueEstimator::new_checked(cfg(rule), Side::Buy, px(100), 2, 0, Some(&bid_book(q0))).unwrap()
}

#[test]
fn each_rule_splits_cancels_as_documented() {
    // Join behind 20; 10 join behind us (level 30); 6 cancel (level 24): back = 10.
    let log_p = 11f64.ln() / (11f64.ln() + 21f64.ln());
    for (rule, want) in [
        (QueueRule::RiskAverse, 20.0),
        (QueueRule::Power(1.0), 20.0 - (2.0 / 3.0) * 6.0),
        (QueueRule::Power(2.0), 20.0 - 0.8 * 6.0),
        (QueueRule::Log, 20.0 - (1.0 - log_p) * 6.0),
        (QueueRule::ProRata, 16.0), // ceil(6 * 20 / 30) = 4
    ] {
        let mut q = buy_at_100(rule, 20);
        assert_eq!(q.state().ahead, 20.0);
        q.on_book(10, &bid_book(30)).unwrap();
        assert_eq!(q.state().ahead, 20.0, "{rule:?}: joiners go behind");
        let s = q.on_book(20, &bid_book(24)).unwrap();
        assert!(
            (s.ahead - want).abs() < 1e-12,
            "{rule:?}: {} != {want}",
            s.ahead
        );
        assert_eq!((s.ahead_lo, s.ahead_hi), (14.0, 20.0));
        assert!((s.confidence - 0.7).abs() < 1e-12);
        assert!(s.ahead_lo <= s.ahead && s.ahead <= s.ahead_hi);
        // A seller takes 18 lots at our price: 2 - (20 - ahead) beyond the estimate.
        let s = q.on_trade(30, px(100), 18, Some(Side::Sell)).unwrap();
        let front = want - 18.0;
        assert_eq!(s.ahead, front.max(0.0));
        assert_eq!(s.filled_est, (-front).max(0.0).round().min(2.0) as i64);
        assert_eq!((s.ahead_lo, s.ahead_hi), (0.0, 2.0));
    }
}

#[test]
fn a_large_cancel_can_only_empty_the_front() {
    // Front 2 of level 10 (back 8); 9 lots cancel: p = 0.8 under power 1, and the share beyond
    // the back is taken from the front: 2 - 0.2 * 9 + min(8 - 7.2, 0) = 0.2.
    let mut q = buy_at_100(QueueRule::Power(1.0), 2);
    q.on_book(1, &bid_book(10)).unwrap();
    let s = q.on_book(2, &bid_book(1)).unwrap();
    assert!((s.ahead - 0.2).abs() < 1e-12, "{}", s.ahead);
    // Everything gone: nobody ahead.
    let s = q.on_book(3, &book(&[(99, 5)], &[(101, 5)])).unwrap();
    assert_eq!((s.ahead, s.level, s.ahead_hi), (0.0, 0.0, 0.0));
    assert_eq!(s.confidence, 1.0);
}

#[test]
fn trades_on_our_side_and_elsewhere_do_not_move_us() {
    let mut q = buy_at_100(QueueRule::Power(2.0), 10);
    // A buyer lifting the ask at our price cannot have traded our bids.
    let s = q.on_trade(1, px(100), 4, Some(Side::Buy)).unwrap();
    assert_eq!(s.ahead, 10.0);
    let s = q.on_trade(2, px(101), 4, None).unwrap();
    assert_eq!(s.ahead, 10.0);
    // Unknown aggressor at our price: it counts.
    let s = q.on_trade(3, px(100), 4, None).unwrap();
    assert_eq!(s.ahead, 6.0);
    // The snapshot shows the 4 traded: nothing unexplained.
    let s = q.on_book(4, &bid_book(6)).unwrap();
    assert_eq!((s.ahead, s.ahead_lo, s.ahead_hi), (6.0, 6.0, 6.0));
}

#[test]
fn trade_through_and_book_through_fill_everything() {
    let mut q = buy_at_100(QueueRule::Log, 10);
    let s = q.on_trade(1, px(99), 1, Some(Side::Sell)).unwrap();
    assert_eq!((s.filled_est, s.ahead, s.confidence), (2, 0.0, 1.0));
    assert_eq!(q.p_fill(2, 1, 1), 1.0);
    let mut q = buy_at_100(QueueRule::Log, 10);
    // An ask at our price is a touch, not a fill; below it is.
    let s = q.on_book(1, &book(&[(99, 5)], &[(100, 5)])).unwrap();
    assert_eq!(s.filled_est, 0);
    let s = q.on_book(2, &book(&[(98, 5)], &[(99, 5)])).unwrap();
    assert_eq!(s.filled_est, 2);
    // Filled stays filled.
    let s = q.on_book(3, &bid_book(40)).unwrap();
    assert_eq!(s.filled_est, 2);
}

#[test]
fn a_price_beyond_the_book_is_unknown_until_it_shows() {
    let b = book(&[(100, 5), (99, 5), (98, 5), (97, 5), (96, 5)], &[(101, 5)]);
    let mut q = QueueEstimator::new_checked(cfg(QueueRule::Log), Side::Buy, px(90), 1, 0, Some(&b))
        .unwrap();
    let s = q.state();
    assert!(!s.known && s.ahead.is_nan() && s.confidence == 0.0);
    assert!(q.p_fill(1, 1_000_000_000, 1).is_nan());
    // Trades while unknown teach nothing.
    q.on_trade(1, px(90), 3, None).unwrap();
    let s = q
        .on_book(2, &book(&[(92, 5), (91, 5), (90, 7)], &[(93, 5)]))
        .unwrap();
    assert!(s.known);
    assert_eq!((s.ahead, s.level), (7.0, 7.0));
    // A price inside the displayed range with nobody on it: nobody ahead.
    let s = q
        .on_book(3, &book(&[(92, 5), (91, 5), (89, 7)], &[(93, 5)]))
        .unwrap();
    assert_eq!(s.ahead, 0.0);
    // No book at placement: known at the first snapshot showing the price.
    let mut q =
        QueueEstimator::new_checked(cfg(QueueRule::Log), Side::Sell, px(101), 1, 0, None).unwrap();
    assert!(!q.state().known);
    assert_eq!(q.on_book(1, &bid_book(3)).unwrap().ahead, 5.0);
}

#[test]
fn own_order_in_the_displayed_quantity() {
    let c = PiqConfig::new_checked(QueueRule::RiskAverse, true, 1_000_000_000).unwrap();
    let mut q =
        QueueEstimator::new_checked(c, Side::Buy, px(100), 3, 0, Some(&bid_book(10))).unwrap();
    // The live feed now shows 10 others + our 3.
    let s = q.on_book(1, &bid_book(13)).unwrap();
    assert_eq!((s.ahead, s.level, s.confidence), (10.0, 10.0, 1.0));
    // 4 cancel (behind or ahead: unknown).
    let s = q.on_book(2, &bid_book(9)).unwrap();
    assert_eq!((s.ahead, s.ahead_lo, s.ahead_hi), (6.0, 6.0, 6.0));
    // Our confirmed fill of 1 leaves 2 of ours in the displayed 8.
    q.on_own_fill(3, 1).unwrap();
    let s = q.on_book(4, &bid_book(8)).unwrap();
    assert_eq!((s.remaining, s.level, s.ahead), (2, 6.0, 6.0));
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let mut q = buy_at_100(QueueRule::Power(2.0), 10);
    let before = q.state();
    let crossed = book(&[(101, 5)], &[(101, 5)]);
    assert!(q
        .on_book(1, &crossed)
        .unwrap_err()
        .to_string()
        .contains("crossed"));
    let mut neg = bid_book(3);
    neg.bid.qty[1] = -1;
    assert!(q
        .on_book(1, &neg)
        .unwrap_err()
        .to_string()
        .starts_with("bid_qty[1]"));
    assert!(q
        .on_trade(1, px(100), 0, None)
        .unwrap_err()
        .to_string()
        .contains("zero volume"));
    assert!(q.on_trade(1, Price(0), 1, None).is_err());
    assert!(q.on_own_fill(1, 0).is_err());
    let bits = |s: QueueState| s.to_row().map(f64::to_bits);
    assert_eq!(bits(q.state()), bits(before));
    // An empty book (all zeros) is not an error: nothing is displayed, nothing learnt.
    let s = q.on_book(1, &L5::default()).unwrap();
    assert_eq!(s.ahead, 10.0);
    for (rule, field) in [
        (QueueRule::Power(0.0), "power"),
        (QueueRule::Power(f64::NAN), "power"),
    ] {
        let e = PiqConfig::new_checked(rule, false, 1).unwrap_err();
        assert!(e.to_string().starts_with(field));
    }
    assert!(PiqConfig::new_checked(QueueRule::Log, false, 0).is_err());
    let c = cfg(QueueRule::Log);
    assert!(QueueEstimator::new_checked(c, Side::Buy, px(100), 0, 0, None).is_err());
    assert!(QueueEstimator::new_checked(c, Side::Buy, Price(0), 1, 0, None).is_err());
    assert!(QueueEstimator::new_checked(c, Side::Buy, px(100), 1, 0, Some(&crossed)).is_err());
}

#[test]
fn prob_behind_edges() {
    assert_eq!(QueueRule::RiskAverse.prob_behind(5.0, 5.0), 1.0);
    assert_eq!(QueueRule::Power(2.0).prob_behind(0.0, 0.0), 1.0); // 0/0: conservative
    assert_eq!(QueueRule::Power(2.0).prob_behind(0.0, 3.0), 1.0);
    assert_eq!(QueueRule::Power(2.0).prob_behind(3.0, 0.0), 0.0);
    assert_eq!(QueueRule::Power(1e6).prob_behind(3.0, 4.0), 1.0); // inf/inf: conservative
    assert_eq!(QueueRule::Log.prob_behind(-3.0, 1.0), 1.0); // negative front counts as 0
    assert_eq!(pro_rata_cancels_ahead(1, 1, 3), 1);
    assert_eq!(pro_rata_cancels_ahead(6, 20, 30), 4);
    assert_eq!(pro_rata_cancels_ahead(0, 20, 30), 0);
    assert_eq!(pro_rata_cancels_ahead(i64::MAX, i64::MAX, 1), i64::MAX);
}

/// Direct summation of the Poisson pmf, independent of the incomplete gamma.
fn tail_by_sum(k: u32, m: f64) -> f64 {
    let mut pmf = (-m).exp();
    let mut below = 0.0;
    for j in 0..k {
        below += pmf;
        pmf *= m / f64::from(j + 1);
    }
    1.0 - below
}

#[test]
fn poisson_tail_matches_direct_summation() {
    for k in [1u32, 2, 5, 10, 30, 80] {
        for m in [0.01, 0.5, 1.0, 4.0, 9.5, 10.0, 11.0, 29.0, 60.0] {
            let (a, b) = (poisson_tail(f64::from(k), m), tail_by_sum(k, m));
            assert!((a - b).abs() < 1e-11, "k {k} m {m}: {a} vs {b}");
        }
    }
    assert_eq!(poisson_tail(0.0, 3.0), 1.0);
    assert_eq!(poisson_tail(3.0, 0.0), 0.0);
    assert!(poisson_tail(3.0, f64::NAN).is_nan());
    assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-13);
    assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-13);
}

#[test]
fn fill_probability_from_observed_depletion() {
    let s = 1_000_000_000i64;
    let c = PiqConfig::new_checked(QueueRule::RiskAverse, false, 10 * s).unwrap();
    let mut q =
        QueueEstimator::new_checked(c, Side::Buy, px(100), 1, 0, Some(&bid_book(6))).unwrap();
    assert_eq!(q.p_fill(0, s, 1), 0.0); // nothing observed
                                        // Sellers take 2 lots at t = 1 s and 2 s: front 2.
    q.on_trade(s, px(100), 2, Some(Side::Sell)).unwrap();
    q.on_trade(2 * s, px(100), 2, Some(Side::Sell)).unwrap();
    // Independent: weights 0.5^(dt/10 s), exposure = integral of the weight since placement.
    let t = 3 * s;
    let w = |dt: f64| 0.5f64.powf(dt / 10.0);
    let events = w(2.0) + w(1.0);
    let exposure = 10.0 / std::f64::consts::LN_2 * (1.0 - w(3.0));
    let rate = events / exposure;
    let st = q.state_at(t);
    assert!((st.depletion_rate - 2.0 * rate).abs() < 1e-12);
    // Need front 2 + 1 lot = 3 lots at 2 lots per event: 2 events within 5 s.
    let p = q.p_fill(t, 5 * s, 1);
    assert!((p - tail_by_sum(2, rate * 5.0)).abs() < 1e-12, "{p}");
    assert!(q.p_fill(t, 50 * s, 1) > p);
    assert_eq!(q.p_fill(t, 0, 1), 0.0);
    // Filled already: 1.
    q.on_trade(4 * s, px(100), 3, Some(Side::Sell)).unwrap();
    assert_eq!(q.p_fill(4 * s, s, 1), 1.0);
}

/// The paper venue and the pro-rata rule agree lot for lot on a random stream.
#[test]
fn pro_rata_rule_matches_the_paper_venue() {
    for seed in [1u64, 2, 3, 4, 5] {
        let mut v = Venue::new(VenueConfig {
            latency: LatencyModel::Zero,
            seed: 1,
        });
        v.add_instrument(
            0,
            InstrumentSpec {
                multiplier: 1.0,
                fees: FeeSchedule::none(),
            },
        )
        .unwrap();
        let mut s = seed;
        let mut rnd = move |n: u64| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s % n
        };
        let first = bid_book(20 + rnd(20) as i64);
        let mut t = 1_000;
        v.on_book(t, 0, &first);
        let id = v
            .submit(
                t,
                OrderRequest {
                    code: 0,
                    side: Side::Buy,
                    price: px(100),
                    qty: 500, // partly filled along the way, never completely
                    tif: Tif::Day,
                },
            )
            .unwrap();
        let mut q = QueueEstimator::new_checked(
            cfg(QueueRule::ProRata),
            Side::Buy,
            px(100),
            500,
            t,
            Some(&first),
        )
        .unwrap();
        let mut compared = 0;
        for _ in 0..400 {
            t += 1_000;
            let state = if rnd(4) == 0 {
                let qty = 1 + rnd(4) as i64;
                let aggressor = [None, Some(Side::Sell), Some(Side::Buy)][rnd(3) as usize];
                v.on_trade(t, 0, px(100), qty, aggressor);
                q.on_trade(t, px(100), qty, aggressor).unwrap()
            } else {
                let b = match rnd(10) {
                    0 => book(&[(99, 5), (98, 5)], &[(101, 5)]), // our price emptied
                    _ => bid_book(rnd(60) as i64),
                };
                v.on_book(t, 0, &b);
                q.on_book(t, &b).unwrap()
            };
            let Some(ahead) = v.queue_ahead(id) else {
                break; // filled at the venue
            };
            assert_eq!(state.ahead, ahead as f64, "seed {seed} at {t}");
            compared += 1;
        }
        assert_eq!(compared, 400, "seed {seed}: the order ended early");
    }
}

#[test]
fn stream_equals_batch_and_placement_uses_the_book_before() {
    let n = 200;
    let mut t = vec![];
    let mut kind = vec![];
    let (mut bp, mut bq, mut ap, mut aq) = (vec![], vec![], vec![], vec![]);
    let (mut tp, mut tq, mut ts) = (vec![], vec![], vec![]);
    let mut s = 11u64;
    for i in 0..n {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        t.push(i as i64 * 100);
        let k = match (s >> 60) % 8 {
            0..=4 => EVENT_BOOK,
            5 | 6 => EVENT_TRADE,
            _ => EVENT_OWN_FILL,
        };
        kind.push(match i {
            77 => 9,
            50 => EVENT_BOOK,
            _ => k,
        });
        let level = ((s >> 20) % 40) as f64;
        let crossed = i == 50;
        for (m, p) in [100.0, 99.0, 98.0].iter().enumerate() {
            bp.push(*p);
            bq.push(if m == 0 { level } else { 5.0 });
        }
        for p in [101.0, 102.0, 103.0] {
            ap.push(if crossed { 99.5 } else { p });
            aq.push(5.0);
        }
        tp.push(if (s >> 33) % 5 == 0 { 101.0 } else { 100.0 });
        tq.push(1.0 + ((s >> 40) % 4) as f64);
        ts.push(((s >> 44) % 3) as i64);
    }
    let ev = QueueEvents {
        t_ns: &t,
        kind: &kind,
        bid_px: &bp,
        bid_qty: &bq,
        ask_px: &ap,
        ask_qty: &aq,
        width: 3,
        trade_px: &tp,
        trade_qty: &tq,
        trade_side: &ts,
    };
    let c = cfg(QueueRule::Power(2.0));
    let placed = 2_050; // between rows 20 and 21
    let mut out = vec![0.0; n * 9];
    let mut ok = vec![false; n];
    let (bad, first) =
        queue_batch(c, Side::Buy, px(100), 50, placed, &ev, &mut out, &mut ok).unwrap();
    assert_eq!(bad, 2);
    assert!(first
        .unwrap()
        .to_string()
        .starts_with("book[50] (row 50): crossed"));
    assert!(!ok[77]);
    assert!(out[0] == 0.0 && out[1].is_nan() && ok[0]);
    // The same by hand.
    let before = (0..21)
        .rev()
        .find(|&r| kind[r] == EVENT_BOOK)
        .map(|r| super::super::features::book_row(&bp, &bq, &ap, &aq, 3, r).unwrap());
    let mut q =
        QueueEstimator::new_checked(c, Side::Buy, px(100), 50, placed, before.as_ref()).unwrap();
    for r in 21..n {
        let res = match kind[r] {
            EVENT_BOOK => super::super::features::book_row(&bp, &bq, &ap, &aq, 3, r)
                .and_then(|b| q.on_book(t[r], &b)),
            EVENT_TRADE => q.on_trade(
                t[r],
                Price::from_f64(tp[r]).unwrap(),
                tq[r] as i64,
                super::super::flow::aggressor_from_code(ts[r]).unwrap(),
            ),
            EVENT_OWN_FILL => q.on_own_fill(t[r], tq[r] as i64),
            _ => Err(AlgoError::input("kind", "bad")),
        };
        assert_eq!(res.is_ok(), ok[r], "row {r}");
        if let Ok(st) = res {
            let want = &out[r * 9..r * 9 + 9];
            let got = st.to_row();
            assert!(
                got.iter()
                    .zip(want)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "row {r}: {got:?} vs {want:?}"
            );
        }
    }
    assert!(!ok[50], "the crossed book is refused");
}

#[test]
fn cancels_bring_us_to_the_front_but_never_fill_us() {
    // Front 14 of 37 (back 23); the level drops to 4: the log rule's estimate would be
    // 14 - (1 - p) 33 + min(23 - 33 p, 0) < 0. Cancels cannot trade us: the front is 0.
    for rule in [QueueRule::Log, QueueRule::Power(0.5)] {
        let mut q = buy_at_100(rule, 14);
        q.on_book(1, &bid_book(37)).unwrap();
        let s = q.on_book(2, &bid_book(4)).unwrap();
        assert_eq!(
            (s.ahead, s.filled_est, s.ahead_lo),
            (0.0, 0, 0.0),
            "{rule:?}"
        );
        // Later decreases keep us there (hftbacktest's log rule would take ln of a negative
        // front here and send the order to the back of the level).
        q.on_book(3, &bid_book(30)).unwrap();
        let s = q.on_book(4, &bid_book(5)).unwrap();
        assert_eq!((s.ahead, s.filled_est), (0.0, 0), "{rule:?}");
        // The first lot traded at our price is ours; half a lot rounds to one, as hftbacktest.
        let s = q.on_trade(5, px(100), 1, Some(Side::Sell)).unwrap();
        assert_eq!(s.filled_est, 1, "{rule:?}");
    }
    let mut q = buy_at_100(QueueRule::Power(1.0), 2);
    q.on_book(1, &bid_book(4)).unwrap(); // front 2, back 2
    let s = q.on_trade(2, px(100), 2, Some(Side::Sell)).unwrap();
    assert_eq!((s.ahead, s.filled_est), (0.0, 0));
    q.on_book(3, &bid_book(3)).unwrap(); // 4 - 3 - 2 traded: 1 lot appeared, nothing moves
    let mut half = buy_at_100(QueueRule::Power(1.0), 1);
    half.on_book(1, &bid_book(2)).unwrap(); // front 1, back 1
    half.on_book(2, &bid_book(1)).unwrap(); // 1 cancel, half of it ahead: front 0.5
    let s = half.on_trade(3, px(100), 1, Some(Side::Sell)).unwrap(); // front -0.5
    assert_eq!(s.filled_est, 1);
}

#[test]
fn extreme_times_do_not_overflow() {
    let mut q = QueueEstimator::new_checked(
        cfg(QueueRule::Power(2.0)),
        Side::Buy,
        px(100),
        1,
        i64::MIN,
        Some(&bid_book(5)),
    )
    .unwrap();
    q.on_trade(i64::MAX, px(100), 1, None).unwrap();
    let s = q.state_at(i64::MAX);
    assert!(s.depletion_rate.is_finite());
    assert!((0.0..=1.0).contains(&q.p_fill(i64::MAX, i64::MAX, 1)));
}
