//! A ring of slots that signal handlers fill and one main flow drains, with lock-free atomics
//! only: the store behind [`super::recorder::Recorder`] and [`super::per_thread::ThreadRecorder`].

use std::sync::atomic::{AtomicUsize, Ordering};

/// A ring of `N` slots that signal handlers fill and one main flow drains, in the order the
/// handlers took them. Tickets count up for ever: the handler that takes ticket `t` fills slot
/// `t % N` and publishes it by storing `t + 1` in that slot's `seq`; the main flow takes tickets
/// in order from `tail`, and advances it once it has copied the slot out, which gives the slot
/// back. So the ring never fills while the main flow keeps up, however many signals come in a
/// lifetime. A handler that finds `N` tickets not yet taken (a burst faster than the main flow
/// drains) counts the signal as lost and stores nothing.
///
/// Only lock-free atomics are used, which are async-signal-safe: a handler may interrupt the
/// main flow, or another handler (nested, or in another thread), at any point. The payload lives
/// in arrays beside the ring, indexed by [`Ring::slot`].
pub(crate) struct Ring<const N: usize> {
    /// Tickets handed out.
    head: AtomicUsize,
    /// Tickets taken by the main flow (its slots free again).
    tail: AtomicUsize,
    /// For each slot, the ticket stored there, plus one, once it is filled.
    seq: [AtomicUsize; N],
    /// Signals that found the ring full.
    lost: AtomicUsize,
}

impl<const N: usize> Ring<N> {
    pub(crate) const fn new() -> Ring<N> {
        Ring {
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
            seq: [const { AtomicUsize::new(0) }; N],
            lost: AtomicUsize::new(0),
        }
    }

    /// The slot of ticket `t`.
    pub(crate) fn slot(t: usize) -> usize {
        t % N
    }

    /// In a handler: take the next ticket, or count a loss when all `N` slots hold tickets the
    /// main flow has not taken. A slot is reused only once the main flow has taken the ticket
    /// before it there, so a handler never writes to a slot being read.
    pub(crate) fn reserve(&self) -> Option<usize> {
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            let tail = self.tail.load(Ordering::Acquire);
            if head.wrapping_sub(tail) >= N {
                self.lost.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            match self.head.compare_exchange_weak(
                head,
                head.wrapping_add(1),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(head),
                Err(now) => head = now,
            }
        }
    }

    /// In a handler: ticket `t`'s slot is filled.
    pub(crate) fn publish(&self, t: usize) {
        self.seq[Self::slot(t)].store(t.wrapping_add(1), Ordering::Release);
    }

    /// In the main flow: the next ticket, once its handler has filled its slot.
    pub(crate) fn ready(&self) -> Option<usize> {
        let t = self.tail.load(Ordering::Relaxed);
        (self.seq[Self::slot(t)].load(Ordering::Acquire) == t.wrapping_add(1)).then_some(t)
    }

    /// In the main flow: ticket `t` (from [`Ring::ready`]) is copied out; its slot is free.
    pub(crate) fn taken(&self, t: usize) {
        self.tail.store(t.wrapping_add(1), Ordering::Release);
    }

    /// Signals that found the ring full, so far (the recorders count their own).
    #[cfg(test)]
    fn lost(&self) -> usize {
        self.lost.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_reuses_slots_once_taken_and_counts_what_finds_it_full() {
        let ring: Ring<4> = Ring::new();
        assert_eq!(ring.ready(), None);
        // Filled in order, in any order of publishing; the fifth finds it full.
        let tickets: Vec<usize> = (0..4).map(|_| ring.reserve().unwrap()).collect();
        assert_eq!(tickets, [0, 1, 2, 3]);
        ring.publish(1);
        assert_eq!(ring.ready(), None, "ticket 0 first, once it is filled");
        ring.publish(0);
        assert_eq!((ring.reserve(), ring.lost()), (None, 1));
        assert_eq!(ring.ready(), Some(0));
        ring.taken(0);
        // Slot 0 is free again: ticket 4 goes there.
        assert_eq!(ring.reserve(), Some(4));
        assert_eq!((ring.reserve(), ring.lost()), (None, 2));
        for t in [2, 3, 4] {
            ring.publish(t);
        }
        for t in 1..=4 {
            assert_eq!(ring.ready(), Some(t));
            ring.taken(t);
        }
        assert_eq!(ring.ready(), None);
        // A long life, never more than 3 waiting: nothing more is lost.
        for round in 0..10_000 {
            let got: Vec<usize> = (0..3).map(|_| ring.reserve().unwrap()).collect();
            for &t in &got {
                ring.publish(t);
            }
            for &t in &got {
                assert_eq!(ring.ready(), Some(t), "round {round}");
                ring.taken(t);
            }
        }
        assert_eq!(ring.lost(), 2);
    }
}
