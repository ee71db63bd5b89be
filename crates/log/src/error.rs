//! Errors of the event log.
//!
//! Every variant names the file or directory involved and, where there is one, what the
//! operator can do about it: these messages end up in server logs read at 3 a.m.

use std::io;
use std::path::{Path, PathBuf};

use crate::record::Offset;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("I/O error while trying to {action} `{}`: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error(
        "another sightline process seems to use the log directory `{}` (it holds the lock on `{}`); \
         stop that process or configure a different log directory",
        dir.display(),
        lock_path.display()
    )]
    Locked { dir: PathBuf, lock_path: PathBuf },

    #[error("invalid log options: {reason}")]
    InvalidOptions { reason: String },

    #[error(
        "record payload of {payload_len} bytes exceeds max_record_bytes ({max_record_bytes}); \
         split the event or raise the log's max_record_bytes option"
    )]
    RecordTooLarge {
        payload_len: usize,
        max_record_bytes: u32,
    },

    #[error(
        "offset {requested} is no longer in the log: retention removed it and the first retained \
         offset is {first}; restart the consumer from {first} or keep data longer"
    )]
    OffsetTruncated { requested: Offset, first: Offset },

    #[error(
        "offset {requested} is beyond the durable end of the log ({durable_end}); \
         a consumer position cannot point past data that was never made durable"
    )]
    OffsetBeyondEnd {
        requested: Offset,
        durable_end: Offset,
    },

    #[error(
        "corrupt data in `{}` at byte {position}: {reason}; this data was made durable earlier, \
         so the storage returned different bytes than were written: move the file aside and \
         restore the log directory from a replica or backup",
        path.display()
    )]
    Corrupt {
        path: PathBuf,
        position: u64,
        reason: String,
    },

    #[error(
        "`{}` holds a valid record of {body_len} bytes at byte {position}, more than the \
         configured max_record_bytes allows ({max_body_len} bytes including the record header); \
         raise max_record_bytes to at least {body_len} and reopen the log",
        path.display()
    )]
    OversizedRecord {
        path: PathBuf,
        position: u64,
        body_len: u64,
        max_body_len: u64,
    },

    #[error(
        "`{}` holds a record at byte {position} in an unsupported format ({detail}); \
         it was probably written by a newer sightline version: run that version instead",
        path.display()
    )]
    UnsupportedFormat {
        path: PathBuf,
        position: u64,
        detail: String,
    },

    #[error(
        "the log in `{}` stopped accepting writes after an earlier I/O failure ({reason}); \
         the on-disk state after that failure is unknown, so restart the process to recover \
         from what is durable",
        dir.display()
    )]
    Failed { dir: PathBuf, reason: String },

    #[error("invalid consumer name {name:?}: use 1 to 128 characters from a-z, 0-9, '_' and '-'")]
    InvalidConsumerName { name: String },

    #[error("partition {partition} does not exist: this log has {partitions} partition(s)")]
    UnknownPartition { partition: u32, partitions: u32 },
}

impl LogError {
    /// Builds a `map_err` adapter that attaches the action and path to an I/O error.
    pub(crate) fn io(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> LogError {
        let path = path.to_path_buf();
        move |source| LogError::Io {
            action,
            path,
            source,
        }
    }

    pub(crate) fn corrupt(path: &Path, position: u64, reason: impl Into<String>) -> LogError {
        LogError::Corrupt {
            path: path.to_path_buf(),
            position,
            reason: reason.into(),
        }
    }
}
