//! The future-event list: events ordered by (time, sequence).
//!
//! The sequence number breaks ties in scheduling order, so events at the same
//! instant run first-in first-out and a run is reproducible bit for bit. Since
//! every (time, sequence) key is unique, any correct priority queue pops events
//! in exactly the same order; this one uses `MinHeap`s (see `heap.rs`)
//! plus the lanes described at `EventQueue`. Every lane keeps its
//! capacity, so a steady-state run schedules without allocating.

use std::collections::VecDeque;

use super::heap::MinHeap;
use super::time::SimTime;

#[derive(Clone, Copy)]
struct Entry<E> {
    time: SimTime,
    sequence: u64,
    event: E,
}

impl<E> Entry<E> {
    /// (time, sequence) as one number, so that comparing entries is one comparison.
    #[inline(always)]
    fn key(&self) -> u128 {
        (self.time.0 as u128) << 64 | self.sequence as u128
    }
}

/// Entries compare by (time, sequence) only: earlier time first, then the one scheduled
/// earlier. The sequence is unique, so no two entries are equal.
impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
    #[inline(always)]
    fn lt(&self, other: &Self) -> bool {
        self.key() < other.key()
    }
    #[inline(always)]
    fn ge(&self, other: &Self) -> bool {
        self.key() >= other.key()
    }
}
impl<E> Ord for Entry<E> {
    #[inline(always)]
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

/// Where an event waits until its time. Every lane holds (time, sequence) keys from
/// the same counter and `pop` takes the earliest head, so the lanes change how much
/// each event costs, never the order in which events run.
enum Lane {
    Soon,
    Later,
    ConstantDelay,
    Replaceable,
}

/// A priority queue of events of type `E`, earliest first, FIFO among equal times.
///
/// Besides the main heap it has two lanes that keep that heap small: `schedule_later`
/// for timers far ahead (connection retirements, housekeeping, deadlines), which would
/// otherwise sit at the bottom of the main heap and lengthen every sift; and
/// `schedule_after_constant_delay` for events scheduled a fixed delay after `now`
/// (a database round trip), whose times never decrease, so a FIFO keeps them in order
/// at O(1) per event. A third, `schedule_replacing`, holds the one pending wake-up that
/// each new one makes obsolete (the database's next completion), so the obsolete ones
/// never enter the heap.
pub struct EventQueue<E> {
    soon: MinHeap<Entry<E>>,
    later: MinHeap<Entry<E>>,
    constant_delay: VecDeque<Entry<E>>,
    replaceable: Option<Entry<E>>,
    next_sequence: u64,
}

impl<E: Copy> EventQueue<E> {
    pub fn with_capacity(capacity: usize) -> Self {
        EventQueue {
            soon: MinHeap::with_capacity(capacity),
            later: MinHeap::with_capacity(capacity),
            constant_delay: VecDeque::with_capacity(capacity),
            replaceable: None,
            next_sequence: 0,
        }
    }

    #[inline(always)]
    fn entry(&mut self, time: SimTime, event: E) -> Entry<E> {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        Entry {
            time,
            sequence,
            event,
        }
    }

    /// Schedules `event` at `time`.
    #[inline]
    pub fn schedule(&mut self, time: SimTime, event: E) {
        let entry = self.entry(time, event);
        self.soon.push(entry);
    }

    /// Schedules a timer that is usually far ahead of most other events.
    #[inline]
    pub fn schedule_later(&mut self, time: SimTime, event: E) {
        let entry = self.entry(time, event);
        self.later.push(entry);
    }

    /// Schedules an event a fixed delay after now. Should the delay shrink (a hot change),
    /// an event earlier than the FIFO's last one goes to the main heap instead.
    #[inline]
    pub fn schedule_after_constant_delay(&mut self, time: SimTime, event: E) {
        let entry = self.entry(time, event);
        match self.constant_delay.back() {
            Some(last) if time < last.time => self.soon.push(entry),
            _ => self.constant_delay.push_back(entry),
        }
    }

    /// Schedules `event` at `time` in place of the event last scheduled this way, which is
    /// dropped unrun if still pending: for a wake-up that the caller would otherwise have
    /// to recognise as stale and ignore when it came due.
    #[inline]
    pub fn schedule_replacing(&mut self, time: SimTime, event: E) {
        self.replaceable = Some(self.entry(time, event));
    }

    #[inline]
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        let mut lane = None;
        let mut earliest: Option<&Entry<E>> = None;
        for (candidate, head) in [
            (Lane::Soon, self.soon.peek()),
            (Lane::Later, self.later.peek()),
            (Lane::ConstantDelay, self.constant_delay.front()),
            (Lane::Replaceable, self.replaceable.as_ref()),
        ] {
            if let Some(head) = head {
                if earliest.is_none_or(|e| head < e) {
                    earliest = Some(head);
                    lane = Some(candidate);
                }
            }
        }
        let entry = match lane? {
            Lane::Soon => self.soon.pop(),
            Lane::Later => self.later.pop(),
            Lane::ConstantDelay => self.constant_delay.pop_front(),
            Lane::Replaceable => self.replaceable.take(),
        }?;
        Some((entry.time, entry.event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    #[test]
    fn earliest_first_and_fifo_among_ties() {
        let mut queue = EventQueue::with_capacity(8);
        queue.schedule(SimTime(5), "late");
        queue.schedule(SimTime(1), "first at 1");
        queue.schedule(SimTime(1), "second at 1");
        queue.schedule(SimTime(3), "middle");
        queue.schedule(SimTime(1), "third at 1");
        let order: Vec<&str> = std::iter::from_fn(|| queue.pop().map(|(_, e)| e)).collect();
        assert_eq!(
            order,
            ["first at 1", "second at 1", "third at 1", "middle", "late"]
        );
    }

    #[test]
    fn pops_in_the_order_of_a_sorted_list_under_interleaved_use() {
        // A reference: every scheduled (time, sequence) sorted, popped from the front.
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
        let mut queue = EventQueue::with_capacity(4);
        let mut reference: Vec<(u64, u64)> = Vec::new();
        let mut sequence = 0;
        let mut now = 0;
        let mut delay = 3;
        let mut replaceable: Option<(u64, u64)> = None;
        for _ in 0..20_000 {
            if rng.gen_bool(0.55) || reference.is_empty() {
                // Few distinct times, so ties are common; every lane in use, and the
                // constant delay sometimes shrinks (a hot change).
                let lane = rng.gen_range(0..4);
                if lane == 2 && rng.gen_bool(0.01) {
                    delay = rng.gen_range(0..6);
                }
                let time = match lane {
                    0 => now + rng.gen_range(0..8),
                    1 | 3 => now + rng.gen_range(0..40),
                    _ => now + delay,
                };
                match lane {
                    0 => queue.schedule(SimTime(time), sequence),
                    1 => queue.schedule_later(SimTime(time), sequence),
                    2 => queue.schedule_after_constant_delay(SimTime(time), sequence),
                    _ => {
                        // The replaced wake-up, if still pending, never runs.
                        if let Some(previous) = replaceable.replace((time, sequence)) {
                            reference.retain(|&entry| entry != previous);
                        }
                        queue.schedule_replacing(SimTime(time), sequence);
                    }
                }
                reference.push((time, sequence));
                sequence += 1;
            } else {
                reference.sort_unstable();
                let expected = reference.remove(0);
                let (time, got) = queue.pop().expect("not empty");
                assert_eq!((time.0, got), expected);
                if replaceable == Some(expected) {
                    replaceable = None;
                }
                now = time.0;
            }
        }
        reference.sort_unstable();
        for expected in reference {
            let (time, got) = queue.pop().expect("not empty");
            assert_eq!((time.0, got), expected);
        }
        assert!(queue.pop().is_none());
    }
}
