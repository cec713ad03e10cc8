//! Latest frame wins: a one-slot mailbox between a producer that must never wait (a camera, a
//! decoder playing in real time) and a slower consumer (the stylizer, the window).
//!
//! Putting an item replaces the one not yet taken, which is dropped on the spot: memory stays at
//! one item in the slot however far the consumer falls behind, and the consumer always gets the
//! newest item there is.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// A one-slot mailbox; share it with an `Arc`.
pub struct Mailbox<T> {
    slot: Mutex<Slot<T>>,
    ready: Condvar,
}

struct Slot<T> {
    item: Option<T>,
    closed: bool,
    replaced: u64,
}

impl<T> Default for Mailbox<T> {
    fn default() -> Self {
        Mailbox {
            slot: Mutex::new(Slot {
                item: None,
                closed: false,
                replaced: 0,
            }),
            ready: Condvar::new(),
        }
    }
}

impl<T> Mailbox<T> {
    /// An empty, open mailbox.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Slot<T>> {
        // A holder that panicked left the slot in a usable state: an Option and two flags.
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts `item` in the slot, dropping the one not yet taken; never waits. Returns `false`
    /// (and drops `item`) once the mailbox is closed.
    pub fn put(&self, item: T) -> bool {
        let stale = {
            let mut slot = self.lock();
            if slot.closed {
                return false;
            }
            let stale = slot.item.replace(item);
            if stale.is_some() {
                slot.replaced += 1;
            }
            stale
        };
        self.ready.notify_one();
        drop(stale); // outside the lock
        true
    }

    /// Waits for an item and takes it; `None` once the mailbox is closed and empty.
    pub fn take(&self) -> Option<T> {
        let mut slot = self.lock();
        loop {
            if let Some(item) = slot.item.take() {
                return Some(item);
            }
            if slot.closed {
                return None;
            }
            slot = self.ready.wait(slot).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Takes the item if there is one, waiting at most `wait` for it.
    pub fn take_within(&self, wait: Duration) -> Option<T> {
        let slot = self.lock();
        let (mut slot, _) = self
            .ready
            .wait_timeout_while(slot, wait, |s| s.item.is_none() && !s.closed)
            .unwrap_or_else(|e| e.into_inner());
        slot.item.take()
    }

    /// Closes the mailbox: later puts fail; an item still in the slot can be taken, then
    /// [`Mailbox::take`] returns `None`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    /// Whether the mailbox is closed and empty: nothing more will come.
    pub fn is_finished(&self) -> bool {
        let slot = self.lock();
        slot.closed && slot.item.is_none()
    }

    /// How many items were dropped because a newer one replaced them.
    pub fn replaced(&self) -> u64 {
        self.lock().replaced
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
    use std::sync::Arc;
    use std::thread;
    use std::time::Duration;

    /// A frame-sized item that counts how many of its kind are alive.
    struct Item {
        seq: u64,
        _pixels: Vec<u8>,
        alive: Arc<AtomicI64>,
    }

    impl Drop for Item {
        fn drop(&mut self) {
            self.alive.fetch_sub(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn fast_producer_slow_consumer_bounded_memory_newest_frame() {
        const FRAMES: u64 = 20_000;
        let mailbox = Arc::new(Mailbox::<Item>::new());
        let alive = Arc::new(AtomicI64::new(0));
        let max_alive = Arc::new(AtomicI64::new(0));
        let latest_put = Arc::new(AtomicU64::new(0));

        let producer = {
            let (mailbox, alive, max_alive, latest_put) = (
                mailbox.clone(),
                alive.clone(),
                max_alive.clone(),
                latest_put.clone(),
            );
            thread::spawn(move || {
                for seq in 1..=FRAMES {
                    let now = alive.fetch_add(1, Ordering::SeqCst) + 1;
                    max_alive.fetch_max(now, Ordering::SeqCst);
                    let item = Item {
                        seq,
                        _pixels: vec![0; 320 * 240 * 3],
                        alive: alive.clone(),
                    };
                    assert!(mailbox.put(item));
                    latest_put.store(seq, Ordering::SeqCst);
                }
                mailbox.close();
            })
        };

        let mut taken = Vec::new();
        loop {
            let newest_before = latest_put.load(Ordering::SeqCst);
            let Some(item) = mailbox.take() else { break };
            // Nothing put before the take began is newer than what it got.
            assert!(item.seq >= newest_before, "{} < {newest_before}", item.seq);
            assert!(taken.last().is_none_or(|&last| item.seq > last));
            taken.push(item.seq);
            thread::sleep(Duration::from_micros(500)); // the slow stylizer
        }
        producer.join().unwrap();

        // The producer made a frame, the slot held one, the consumer held one: never more.
        assert!(
            max_alive.load(Ordering::SeqCst) <= 3,
            "{max_alive:?} alive at once"
        );
        assert_eq!(alive.load(Ordering::SeqCst), 0);
        assert_eq!(taken.last(), Some(&FRAMES), "the last frame is delivered");
        assert!(
            taken.len() < FRAMES as usize / 2,
            "stale frames were queued"
        );
        assert_eq!(mailbox.replaced() + taken.len() as u64, FRAMES);
        assert!(!mailbox.put(Item {
            seq: 0,
            _pixels: Vec::new(),
            alive: {
                alive.fetch_add(1, Ordering::SeqCst);
                alive.clone()
            },
        }));
        assert!(mailbox.is_finished());
    }

    #[test]
    fn close_wakes_a_waiting_consumer() {
        let mailbox = Arc::new(Mailbox::<u32>::new());
        assert_eq!(mailbox.take_within(Duration::ZERO), None);
        let waiter = {
            let mailbox = mailbox.clone();
            thread::spawn(move || mailbox.take())
        };
        thread::sleep(Duration::from_millis(20));
        mailbox.close();
        assert_eq!(waiter.join().unwrap(), None);
        assert_eq!(mailbox.take_within(Duration::ZERO), None);
    }
}
