//! Consumer positions: `<dir>/positions/<consumer>` holds the offset below which the
//! consumer has processed everything, as decimal text (operators can read it with `cat`).
//!
//! Each commit replaces the file atomically (temp file, fdatasync, rename, fsync dir), so a
//! crash leaves either the previous or the new position, never a mix.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::LogError;
use crate::fsio::{sync_dir, write_file_atomically};
use crate::record::Offset;

const POSITIONS_DIR: &str = "positions";
const MAX_CONSUMER_NAME_LEN: usize = 128;

/// Consumer names become file names, so they are restricted to `[a-z0-9_-]{1,128}`: no
/// separators, no dots (temp files use a `.tmp` suffix), nothing case-folding file systems
/// could merge.
pub(crate) fn validate_consumer_name(name: &str) -> Result<(), LogError> {
    let valid_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if name.is_empty() || name.len() > MAX_CONSUMER_NAME_LEN || !valid_chars {
        return Err(LogError::InvalidConsumerName {
            name: name.to_string(),
        });
    }
    Ok(())
}

fn position_path(dir: &Path, consumer: &str) -> PathBuf {
    dir.join(POSITIONS_DIR).join(consumer)
}

/// Callers serialize commits (the temp file name is per consumer, not per call).
pub(crate) fn commit(dir: &Path, consumer: &str, offset: Offset) -> Result<(), LogError> {
    validate_consumer_name(consumer)?;
    let positions_dir = dir.join(POSITIONS_DIR);
    if !positions_dir.is_dir() {
        fs::create_dir_all(&positions_dir)
            .map_err(LogError::io("create positions directory", &positions_dir))?;
        // The new directory entry lives in the log directory.
        sync_dir(dir)?;
    }
    let path = position_path(dir, consumer);
    let temp_path = positions_dir.join(format!("{consumer}.tmp"));
    write_file_atomically(
        &positions_dir,
        &path,
        &temp_path,
        format!("{offset}\n").as_bytes(),
    )
}

pub(crate) fn load(dir: &Path, consumer: &str) -> Result<Option<Offset>, LogError> {
    validate_consumer_name(consumer)?;
    let path = position_path(dir, consumer);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(LogError::io("read consumer position", &path)(error)),
    };
    match text.trim_end().parse::<Offset>() {
        Ok(offset) => Ok(Some(offset)),
        Err(_) => Err(LogError::corrupt(
            &path,
            0,
            format!("expected a decimal offset, found {text:?}"),
        )),
    }
}

/// Removes temp files left by commits interrupted by a crash.
pub(crate) fn remove_stale_temp_files(dir: &Path) -> Result<(), LogError> {
    let positions_dir = dir.join(POSITIONS_DIR);
    let entries = match fs::read_dir(&positions_dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(LogError::io("list", &positions_dir)(error)),
    };
    for entry in entries {
        let entry = entry.map_err(LogError::io("list", &positions_dir))?;
        let path = entry.path();
        if path.extension().is_some_and(|extension| extension == "tmp") {
            fs::remove_file(&path).map_err(LogError::io("remove stale temp file", &path))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumer_names_are_restricted() {
        for valid in ["engine", "a", "x_1-2", &"z".repeat(128)] {
            assert!(validate_consumer_name(valid).is_ok(), "{valid}");
        }
        for invalid in [
            "",
            "Engine",
            "a/b",
            "..",
            "a.tmp",
            "é",
            " a",
            &"z".repeat(129),
        ] {
            assert!(
                matches!(
                    validate_consumer_name(invalid),
                    Err(LogError::InvalidConsumerName { .. })
                ),
                "{invalid}"
            );
        }
    }

    #[test]
    fn commit_replaces_and_load_reads_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(load(dir.path(), "engine").expect("load"), None);
        commit(dir.path(), "engine", 17).expect("commit");
        commit(dir.path(), "engine", 4242).expect("commit");
        assert_eq!(load(dir.path(), "engine").expect("load"), Some(4242));
        assert_eq!(load(dir.path(), "other").expect("load"), None);
        let leftovers: Vec<_> = fs::read_dir(dir.path().join(POSITIONS_DIR))
            .expect("list")
            .map(|entry| entry.expect("entry").file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("engine")]);
    }

    #[test]
    fn garbage_position_file_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(dir.path().join(POSITIONS_DIR)).expect("mkdir");
        fs::write(position_path(dir.path(), "engine"), "twelve").expect("write");
        let error = load(dir.path(), "engine").expect_err("garbage must not parse");
        assert!(error.to_string().contains("positions/engine"), "{error}");
    }
}
