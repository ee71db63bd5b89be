//! The log abstraction the rest of Sightline programs against, so that Redis Streams or
//! Kafka can replace the embedded log later. The embedded `SegmentLog` / `LogHandle` /
//! `LogReader` implement it with exactly one partition, partition 0.
//!
//! # Contract every backend must keep
//!
//! * **Durability.** `LogWriter::sync` returns `Ok` only when every record appended before
//!   the call survives a crash of this process *and* of the machine, to the backend's own
//!   standard: fdatasync of the segment file for the embedded log, `acks=all` with
//!   `min.insync.replicas >= 2` for Kafka, `WAIT`/`appendfsync always` for Redis. Callers
//!   acknowledge events to clients only after `sync` covers them.
//! * **No pretending after failure.** If a durability step fails, the writer must not
//!   report later syncs as successful unless it can prove the earlier records are durable;
//!   the embedded log refuses all further writes until restarted.
//! * **Readers see only durable data**, in append order within a partition, each record
//!   exactly as appended.
//! * **Offsets.** Within a partition offsets increase with append order. The embedded log
//!   makes them dense (0, 1, 2, ...; record `n` is at offset `n`); other backends only
//!   promise monotonic offsets (Kafka offsets can skip after transactions/compaction, Redis
//!   stream IDs are mapped to a monotonic u64). A reader's `position` is always a valid
//!   `from` for a new reader and for `commit_position`.
//! * **Positions.** `commit_position(consumer, partition, offset)` means "the consumer has
//!   processed everything below `offset`"; it is durable when it returns.

use std::time::Duration;

use crate::error::LogError;
use crate::handle::LogHandle;
use crate::log::SegmentLog;
use crate::reader::LogReader;
use crate::record::{Offset, Record, StoredRecord};

/// Appends records and makes them durable.
pub trait LogWriter: Send {
    /// Queues `record`. It is not durable, and readers do not see it, until a later `sync`
    /// returns a value above the returned sequence number.
    ///
    /// The returned number is dense per writer, so it can be compared with `sync`'s result.
    /// For the embedded log it is also the record's offset; other backends learn the offset
    /// only from the server and return a writer-local sequence here.
    fn append(&mut self, record: &Record<'_>) -> Result<Offset, LogError>;

    /// The durability point: returns once everything appended before is durable (see the
    /// module docs), with the sequence number one past the last durable record.
    fn sync(&mut self) -> Result<Offset, LogError>;
}

/// Read side of a log: readers, durable ends and consumer positions.
pub trait LogSource: Send + Sync {
    fn partitions(&self) -> u32;

    /// A reader positioned at `from`. Errors with `LogError::OffsetTruncated` if retention
    /// removed `from` already.
    fn reader(&self, partition: u32, from: Offset) -> Result<Box<dyn LogRead>, LogError>;

    /// Offset one past the last durable record of `partition`. A `Result` because remote
    /// backends have to ask a server.
    fn durable_end(&self, partition: u32) -> Result<Offset, LogError>;

    /// Blocks until the durable end of `partition` exceeds `offset` or `timeout` passes;
    /// returns the durable end. Lets consumers tail the log without polling.
    fn wait_for_durable_beyond(
        &self,
        partition: u32,
        offset: Offset,
        timeout: Duration,
    ) -> Result<Offset, LogError>;

    fn commit_position(
        &self,
        consumer: &str,
        partition: u32,
        offset: Offset,
    ) -> Result<(), LogError>;

    fn committed_position(
        &self,
        consumer: &str,
        partition: u32,
    ) -> Result<Option<Offset>, LogError>;
}

/// Sequential reader over one partition.
pub trait LogRead: Send {
    /// Appends up to `max` durable records to `out`; returns how many (0 = nothing durable
    /// beyond the position yet).
    fn read_batch(&mut self, max: usize, out: &mut Vec<StoredRecord>) -> Result<usize, LogError>;

    /// Offset of the next record `read_batch` returns.
    fn position(&self) -> Offset;
}

const EMBEDDED_PARTITIONS: u32 = 1;

fn check_partition(partition: u32) -> Result<(), LogError> {
    if partition >= EMBEDDED_PARTITIONS {
        return Err(LogError::UnknownPartition {
            partition,
            partitions: EMBEDDED_PARTITIONS,
        });
    }
    Ok(())
}

impl LogWriter for SegmentLog {
    fn append(&mut self, record: &Record<'_>) -> Result<Offset, LogError> {
        SegmentLog::append(self, record)
    }

    fn sync(&mut self) -> Result<Offset, LogError> {
        SegmentLog::sync(self)
    }
}

impl LogSource for LogHandle {
    fn partitions(&self) -> u32 {
        EMBEDDED_PARTITIONS
    }

    fn reader(&self, partition: u32, from: Offset) -> Result<Box<dyn LogRead>, LogError> {
        check_partition(partition)?;
        Ok(Box::new(LogHandle::reader(self, from)?))
    }

    fn durable_end(&self, partition: u32) -> Result<Offset, LogError> {
        check_partition(partition)?;
        Ok(LogHandle::durable_end(self))
    }

    fn wait_for_durable_beyond(
        &self,
        partition: u32,
        offset: Offset,
        timeout: Duration,
    ) -> Result<Offset, LogError> {
        check_partition(partition)?;
        Ok(LogHandle::wait_for_durable_beyond(self, offset, timeout))
    }

    fn commit_position(
        &self,
        consumer: &str,
        partition: u32,
        offset: Offset,
    ) -> Result<(), LogError> {
        check_partition(partition)?;
        LogHandle::commit_position(self, consumer, offset)
    }

    fn committed_position(
        &self,
        consumer: &str,
        partition: u32,
    ) -> Result<Option<Offset>, LogError> {
        check_partition(partition)?;
        LogHandle::committed_position(self, consumer)
    }
}

impl LogRead for LogReader {
    fn read_batch(&mut self, max: usize, out: &mut Vec<StoredRecord>) -> Result<usize, LogError> {
        LogReader::read_batch(self, max, out)
    }

    fn position(&self) -> Offset {
        LogReader::position(self)
    }
}
