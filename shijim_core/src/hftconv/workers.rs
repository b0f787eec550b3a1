//! Independent jobs (one per code) over a few threads, results in the jobs' order.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::thread;

/// `f` of every item, up to `threads` at a time (the caller's thread included), each result in
/// its item's place. `None` for an item whose `f` panicked (none should): the caller reports
/// it rather than the panic crossing into Python.
pub(super) fn map_each<T: Send, R: Send>(
    items: Vec<T>,
    threads: usize,
    f: impl Fn(T) -> R + Sync,
) -> Vec<Option<R>> {
    let run = |t: T| panic::catch_unwind(AssertUnwindSafe(|| f(t))).ok();
    if threads <= 1 || items.len() <= 1 {
        return items.into_iter().map(run).collect();
    }
    let n = items.len();
    let todo: Vec<Mutex<Option<T>>> = items.into_iter().map(|t| Mutex::new(Some(t))).collect();
    let done: Vec<Mutex<Option<R>>> = (0..n).map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let (Some(slot), Some(out)) = (todo.get(i), done.get(i)) else {
            break;
        };
        let item = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(r) = item.and_then(run) {
            *out.lock().unwrap_or_else(PoisonError::into_inner) = Some(r);
        }
    };
    thread::scope(|s| {
        for _ in 1..threads.min(n) {
            // A thread the OS refuses is one helper fewer, nothing else.
            let _ = thread::Builder::new().spawn_scoped(s, work);
        }
        work();
    });
    done.into_iter()
        .map(|m| m.into_inner().unwrap_or_else(PoisonError::into_inner))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_their_places_and_a_panic_is_none() {
        for threads in [1, 2, 5] {
            let out = map_each((0..20).collect(), threads, |x: u64| {
                if x == 7 {
                    panic!("seven");
                }
                x * x
            });
            let want: Vec<Option<u64>> = (0..20).map(|x| (x != 7).then_some(x * x)).collect();
            assert_eq!(out, want, "{threads}");
        }
    }
}
