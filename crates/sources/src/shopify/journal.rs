//! A small append-only journal of JSON lines: the durable state of this source.
//!
//! ## Durability contract
//!
//! [`Journal::append`] with `sync` returns only after the line is written and the file
//! fdatasync'ed; a caller that acknowledges a delivery after it can rely on the line
//! surviving a crash. Lines appended without `sync` are hints that may be lost with the
//! last moments before a crash (the caller must be correct without them). On open, the
//! file is read line by line; a torn last line (a crash during a write) is cut off, so the
//! next append starts on a line of its own. Compaction writes the live state to a new
//! file, fsyncs it, renames it over the journal and fsyncs the directory: a crash at any
//! point leaves either the old journal or the new one, both complete.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::SourceError;

pub struct Journal {
    path: PathBuf,
    file: File,
    bytes: u64,
    /// Lines written since the last fdatasync: a `sync` without them has nothing to do.
    unsynced: bool,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Journal")
            .field("path", &self.path)
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl Journal {
    /// Opens (or creates) the journal at `path` and hands every complete line to `apply`,
    /// in order. Lines that do not parse as `T` are skipped with a warning.
    pub fn open<T: DeserializeOwned>(
        path: &Path,
        mut apply: impl FnMut(T),
    ) -> Result<Journal, SourceError> {
        let open_error = |source| SourceError::JournalOpen {
            path: path.to_owned(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(open_error)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(open_error)?;
        let mut complete_bytes = 0u64;
        let mut reader = BufReader::new(&file);
        let mut line = Vec::new();
        loop {
            line.clear();
            let read = reader.read_until(b'\n', &mut line).map_err(open_error)?;
            if read == 0 || line.last() != Some(&b'\n') {
                break;
            }
            complete_bytes += read as u64;
            match serde_json::from_slice::<T>(&line) {
                Ok(entry) => apply(entry),
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "skipping an unreadable journal line")
                }
            }
        }
        drop(reader);
        let length = file.metadata().map_err(open_error)?.len();
        if length > complete_bytes {
            tracing::warn!(path = %path.display(), torn_bytes = length - complete_bytes, "cutting a torn last line off the journal");
            file.set_len(complete_bytes).map_err(open_error)?;
            file.sync_data().map_err(open_error)?;
        }
        file.seek(SeekFrom::End(0)).map_err(open_error)?;
        Ok(Journal {
            path: path.to_owned(),
            file,
            bytes: complete_bytes,
            unsynced: false,
        })
    }

    /// Appends one entry as a line; with `sync`, durable before it returns.
    pub fn append<T: Serialize>(&mut self, entry: &T, sync: bool) -> Result<(), SourceError> {
        let mut line = serde_json::to_vec(entry).expect("journal entries are plain data");
        line.push(b'\n');
        let write_error = |source| SourceError::JournalWrite {
            path: self.path.clone(),
            source,
        };
        self.file.write_all(&line).map_err(write_error)?;
        self.unsynced = true;
        self.bytes += line.len() as u64;
        if sync {
            self.sync()?;
        }
        Ok(())
    }

    /// Makes every line appended so far durable.
    pub fn sync(&mut self) -> Result<(), SourceError> {
        if !self.unsynced {
            return Ok(());
        }
        self.file
            .sync_data()
            .map_err(|source| SourceError::JournalWrite {
                path: self.path.clone(),
                source,
            })?;
        self.unsynced = false;
        Ok(())
    }

    /// Rewrites the journal as the live entries when the `lines` read at open are mostly
    /// superseded (more than 1,024, and over twice the `live_count` entries), so it stays
    /// near the size of the state rather than of its history. `live` is only called then.
    pub fn compact_if_stale<T: Serialize>(
        &mut self,
        lines: usize,
        live_count: usize,
        live: impl FnOnce() -> Vec<T>,
    ) -> Result<(), SourceError> {
        if lines > 1024 && lines > 2 * live_count {
            self.compact(&live())?;
        }
        Ok(())
    }

    /// Replaces the journal with `entries` (the live state), atomically.
    pub fn compact<T: Serialize>(&mut self, entries: &[T]) -> Result<(), SourceError> {
        let write_error = |source| SourceError::JournalWrite {
            path: self.path.clone(),
            source,
        };
        let temporary = self.path.with_extension("compacting");
        let mut output = std::io::BufWriter::new(File::create(&temporary).map_err(write_error)?);
        let mut bytes = 0u64;
        for entry in entries {
            let mut line = serde_json::to_vec(entry).expect("journal entries are plain data");
            line.push(b'\n');
            output.write_all(&line).map_err(write_error)?;
            bytes += line.len() as u64;
        }
        let file = output
            .into_inner()
            .map_err(|error| write_error(error.into_error()))?;
        file.sync_all().map_err(write_error)?;
        drop(file);
        std::fs::rename(&temporary, &self.path).map_err(write_error)?;
        if let Some(parent) = self.path.parent() {
            File::open(parent)
                .and_then(|directory| directory.sync_all())
                .map_err(write_error)?;
        }
        self.file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(write_error)?;
        self.bytes = bytes;
        // Every line of the new file was synced before the rename.
        self.unsynced = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_mostly_superseded_journal_is_compacted() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.journal");
        let mut journal = Journal::open::<u32>(&path, |_| {}).expect("opens");
        for value in 0..1100u32 {
            journal.append(&(value % 2), false).expect("append");
        }
        let size = |path: &Path| std::fs::metadata(path).expect("metadata").len();
        let before = size(&path);
        journal
            .compact_if_stale(1000, 2, || vec![0u32, 1])
            .expect("not compacted");
        assert_eq!(size(&path), before, "1,000 lines are few enough to keep");
        journal
            .compact_if_stale(1100, 2, || vec![0u32, 1])
            .expect("compacts");
        let mut seen = Vec::new();
        drop(journal);
        Journal::open::<u32>(&path, |entry| seen.push(entry)).expect("reopens");
        assert_eq!(seen, vec![0, 1]);
    }

    #[test]
    fn lines_survive_reopen_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.journal");
        let mut journal = Journal::open::<u32>(&path, |_| {}).expect("opens");
        journal.append(&1u32, true).expect("append");
        journal.append(&2u32, false).expect("append");
        drop(journal);
        // A crash in the middle of writing the third line.
        let mut file = OpenOptions::new().append(true).open(&path).expect("open");
        file.write_all(b"3").expect("write");
        drop(file);
        let mut seen = Vec::new();
        let mut journal = Journal::open::<u32>(&path, |entry| seen.push(entry)).expect("reopens");
        assert_eq!(seen, vec![1, 2]);
        journal.append(&4u32, true).expect("append after the cut");
        drop(journal);
        let mut seen = Vec::new();
        let mut journal = Journal::open::<u32>(&path, |entry| seen.push(entry)).expect("reopens");
        assert_eq!(
            seen,
            vec![1, 2, 4],
            "the torn '3' did not glue onto the next line"
        );
        journal.compact(&[9u32]).expect("compacts");
        journal
            .append(&10u32, true)
            .expect("append after compaction");
        drop(journal);
        let mut seen = Vec::new();
        Journal::open::<u32>(&path, |entry| seen.push(entry)).expect("reopens");
        assert_eq!(seen, vec![9, 10]);
    }
}
