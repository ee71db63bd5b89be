//! Frame buffers handed back by the writer after a commit, for the next batch to fill.
//!
//! A batch's buffer is as large as its input (megabytes for an import chunk). Fresh
//! memory costs a page fault and the zeroing of every page on first touch, which on a
//! virtual machine can cost more than validating the events; a reused buffer costs
//! neither. The pool is small and its buffers bounded, so it never holds much memory.

use std::sync::Mutex;

use sightline_log::FrameBuffer;

/// Buffers kept: enough for the batches in flight at once (import keeps 16 commits
/// waiting, HTTP handlers one each).
const BUFFERS_KEPT: usize = 24;
/// A buffer larger than this (one huge request) is freed rather than kept.
const LARGEST_KEPT_BYTES: usize = 16 << 20;

#[derive(Debug, Default)]
pub(crate) struct FramePool {
    buffers: Mutex<Vec<FrameBuffer>>,
}

impl FramePool {
    pub(crate) fn take(&self) -> FrameBuffer {
        self.lock().pop().unwrap_or_default()
    }

    pub(crate) fn give_back(&self, buffer: FrameBuffer) {
        if buffer.capacity_bytes() > LARGEST_KEPT_BYTES {
            return;
        }
        let mut buffers = self.lock();
        if buffers.len() < BUFFERS_KEPT {
            buffers.push(buffer);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<FrameBuffer>> {
        self.buffers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_log::Record;

    fn filled(payload_bytes: usize) -> FrameBuffer {
        let mut buffer = FrameBuffer::default();
        buffer.push(&Record {
            key: 7,
            event_time_us: 1,
            append_time_us: 2,
            payload: &vec![b'x'; payload_bytes],
        });
        buffer
    }

    #[test]
    fn a_returned_buffer_comes_back_empty_with_its_memory() {
        let pool = FramePool::default();
        pool.give_back(filled(1000));
        let mut reused = pool.take();
        assert!(reused.capacity_bytes() >= 1000);
        reused.reset(1, 10);
        assert!(reused.is_empty());
        assert!(reused.capacity_bytes() >= 1000, "reset keeps the memory");
        assert_eq!(pool.take().capacity_bytes(), 0, "the pool had only one");
    }

    #[test]
    fn huge_buffers_and_buffers_beyond_the_count_are_freed() {
        let pool = FramePool::default();
        pool.give_back(filled(LARGEST_KEPT_BYTES + 1));
        assert_eq!(pool.take().capacity_bytes(), 0);
        for _ in 0..BUFFERS_KEPT + 5 {
            pool.give_back(filled(10));
        }
        assert_eq!(pool.lock().len(), BUFFERS_KEPT);
    }
}
