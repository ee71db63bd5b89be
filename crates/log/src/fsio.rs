//! Small file-system helpers shared by the components.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::error::LogError;

/// Makes the entries of `dir` (creations, renames, deletions) durable.
///
/// Without this a freshly created segment or a renamed index file can vanish in a machine
/// crash even though its contents were fdatasync'ed.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), LogError> {
    let handle = File::open(dir).map_err(LogError::io("open directory", dir))?;
    handle
        .sync_all()
        .map_err(LogError::io("fsync directory", dir))
}

/// Replaces `path` with `bytes` so that a crash leaves either the old or the new content:
/// write a temp file, fdatasync it, rename it over `path`, fsync the directory.
///
/// If the fdatasync fails the temp file is removed and never renamed: a failed fsync means
/// the page cache may hold data the disk does not, and trusting it would be the fsyncgate bug.
pub(crate) fn write_file_atomically(
    dir: &Path,
    path: &Path,
    temp_path: &Path,
    bytes: &[u8],
) -> Result<(), LogError> {
    let result = write_and_sync(temp_path, bytes);
    if let Err(error) = result {
        let _ = fs::remove_file(temp_path);
        return Err(error);
    }
    fs::rename(temp_path, path).map_err(LogError::io("rename temp file over", path))?;
    sync_dir(dir)
}

fn write_and_sync(path: &Path, bytes: &[u8]) -> Result<(), LogError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(LogError::io("create", path))?;
    file.write_all(bytes).map_err(LogError::io("write", path))?;
    file.sync_data().map_err(LogError::io("fdatasync", path))
}

/// Locks a mutex, ignoring poisoning.
///
/// Every critical section in this crate only assigns plain values, so a panic inside one
/// cannot leave the protected data half-updated in a way later readers would misinterpret.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
