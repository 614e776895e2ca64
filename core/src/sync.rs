//! Locking the small in-memory tables of the pipeline (rate-limit buckets, activity, the
//! writer's recent stores, the breaker) with one rule for a poisoned mutex.
//!
//! A mutex is poisoned when a thread panicked while holding it. Every table guarded this way is
//! updated by short, self-contained steps, so its content stays usable; going on with it beats
//! the alternatives the code had drifted into (failing open forever, as the rate limiter did,
//! or forgetting a store that happened, which would write an event to RAE twice).

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, taking the guard over even when a panic poisoned it.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_poisoned_mutex_still_locks_with_its_content() {
        let shared = Arc::new(Mutex::new(vec![1]));
        let poisoner = Arc::clone(&shared);
        let _ = std::thread::spawn(move || {
            let mut guard = poisoner.lock().unwrap();
            guard.push(2);
            panic!("poison the mutex");
        })
        .join();
        assert!(shared.is_poisoned());
        assert_eq!(*lock(&shared), [1, 2]);
    }
}
