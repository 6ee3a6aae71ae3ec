//! The small file parsum keeps between processes (Auto's history), read and written so that no
//! file can hurt: reads take regular files of at most [`MAX_FILE`] bytes, never a link or a pipe;
//! writes go through a new, randomly named temporary file renamed into place, so a planted link
//! is never followed and readers never see half a file.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Largest file parsum reads back; the files it writes are far smaller.
pub(crate) const MAX_FILE: u64 = 1 << 20;

/// `PARSUM_CACHE_DIR` (from the current directory if relative; unset if empty or blank, like
/// every variable parsum reads), else the user cache directory joined with `parsum`:
/// `$XDG_CACHE_HOME` or `~/.cache`, `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on Windows,
/// from variables that count only when absolute (as XDG says).
pub(crate) fn default_dir() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    if let Some(dir) =
        std::env::var_os("PARSUM_CACHE_DIR").filter(|d| !d.to_string_lossy().trim().is_empty())
    {
        let dir = PathBuf::from(dir);
        if dir.is_absolute() {
            return Some(dir);
        }
        // Without a current directory the place asked for is unknown: no cache rather than
        // another one.
        return std::env::current_dir().ok().map(|here| here.join(dir));
    }
    let base = if cfg!(windows) {
        env("LOCALAPPDATA")
    } else if cfg!(target_os = "macos") {
        env("HOME").map(|h| h.join("Library/Caches"))
    } else {
        env("XDG_CACHE_HOME").or_else(|| env("HOME").map(|h| h.join(".cache")))
    };
    base.map(|b| b.join("parsum"))
}

/// `path` as a message shows it, through [`escaped`]: the path may come from the environment.
/// Bytes that are not UTF-8 are shown as `\xNN`, not as U+FFFD, which hides which they were.
pub(crate) fn shown(path: &Path) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let chunks = path.as_os_str().as_bytes().utf8_chunks();
        chunks
            .map(|c| {
                let bad = c.invalid().iter().map(|b| format!("\\x{b:02x}"));
                escaped(c.valid()) + &bad.collect::<String>()
            })
            .collect()
    }
    #[cfg(not(unix))]
    escaped(&path.display().to_string())
}

/// `text` with control characters, line and paragraph separators and bidirectional overrides
/// escaped (a newline as `\n`): text from the environment or a file, raw, could forge or reorder
/// a line of output.
pub(crate) fn escaped(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}') {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The bytes of `path` if it is a regular file (not a link) of at most [`MAX_FILE`] bytes.
pub(crate) fn read(path: &Path) -> io::Result<Vec<u8>> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // No following a planted link, and no blocking on a FIFO before we can look at it.
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    #[cfg(not(unix))]
    if std::fs::symlink_metadata(path)?.file_type().is_symlink() {
        return Err(io::Error::other("a symbolic link, not a regular file"));
    }
    let file = options.open(path).map_err(|e| {
        // O_NOFOLLOW's refusal of a link reads "Too many levels of symbolic links".
        #[cfg(unix)]
        if e.raw_os_error() == Some(libc::ELOOP)
            && std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
        {
            return io::Error::other("a symbolic link, not a regular file");
        }
        not_a_directory(path).unwrap_or(e)
    })?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    if meta.len() > MAX_FILE {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!(
                "{} bytes, more than the {MAX_FILE} parsum reads",
                meta.len()
            ),
        ));
    }
    let mut bytes = Vec::new();
    // The file may grow after the check: never read past the bound.
    file.take(MAX_FILE + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE {
        let why = "grew past the size parsum reads";
        return Err(io::Error::new(io::ErrorKind::FileTooLarge, why));
    }
    Ok(bytes)
}

/// An error naming the first directory on the way to `path` that is not one: a file, or a link
/// that leads nowhere (the OS says only "File exists", or "No such file" — which would read as
/// no file yet); of kind `NotADirectory`.
fn not_a_directory(path: &Path) -> Option<io::Error> {
    let dirs: Vec<&Path> = path.parent()?.ancestors().collect();
    dirs.into_iter().rev().find_map(|dir| {
        let why = if dir.exists() {
            (!dir.is_dir()).then_some("is not a directory")
        } else {
            let link = dir.symlink_metadata().is_ok_and(|m| m.is_symlink());
            link.then_some("is a link to nothing (a loop, or its target is missing)")
        }?;
        let text = format!("{} {why}", shown(dir));
        Some(io::Error::new(io::ErrorKind::NotADirectory, text))
    })
}

/// `error`, prefixed with the file it is about: the OS's words alone ("File exists") do not say
/// which. Its kind is kept, and the OS's error is its source.
fn about(path: &Path, error: io::Error) -> io::Error {
    let path = path.to_path_buf();
    io::Error::new(error.kind(), Named { path, error })
}

#[derive(Debug, thiserror::Error)]
#[error("{}: {error}", shown(path))]
struct Named {
    path: PathBuf,
    #[source]
    error: io::Error,
}

/// Runs `update` (a read, merge and write of `path`) while holding `path`'s lock file, so that
/// two processes saving at once do not lose each other's writes. A lock held elsewhere for
/// longer than `wait` is an error of kind `WouldBlock`, never a hang; where files cannot be
/// locked, `update` runs unlocked.
pub(crate) fn locked<T>(
    path: &Path,
    wait: std::time::Duration,
    update: impl FnOnce() -> io::Result<T>,
) -> io::Result<T> {
    make_dir(path)?;
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .mode(0o600);
    }
    let lock_path = PathBuf::from(lock_path);
    let named = |e| about(&lock_path, e);
    let open = || options.open(&lock_path).map_err(named);
    let file = match open() {
        Ok(file) if file.metadata().map_err(named)?.is_file() => file,
        // A link, pipe or device planted as the lock file would fail every save: parsum's own
        // lock file is made again (never its target followed; a directory is not removed, and
        // the save fails naming it). Two processes replacing it at once may each lock a file
        // of its own: that save is then unlocked, as where files cannot be locked, and the
        // atomic write still keeps the file whole.
        _ if std::fs::symlink_metadata(&lock_path).is_ok_and(|m| !m.is_file()) => {
            std::fs::remove_file(&lock_path).map_err(named)?;
            open()?
        }
        opened => opened?,
    };
    let deadline = std::time::Instant::now() + wait;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let why = format!("held by another process (waited {} s)", wait.as_secs_f64());
                return Err(named(io::Error::new(io::ErrorKind::WouldBlock, why)));
            }
            // Where files cannot be locked (no flock here, or a network file system without
            // it), saves go on unlocked, as the atomic write alone keeps the file whole.
            Err(std::fs::TryLockError::Error(e)) if cannot_lock(&e) => break,
            Err(std::fs::TryLockError::Error(e)) => return Err(named(e)),
        }
    }
    // The lock goes with the file, when it is dropped after the update.
    update()
}

/// Whether `e` says files cannot be locked here at all.
fn cannot_lock(e: &io::Error) -> bool {
    #[cfg(unix)]
    if matches!(e.raw_os_error(), Some(libc::ENOLCK | libc::EOPNOTSUPP)) {
        return true;
    }
    e.kind() == io::ErrorKind::Unsupported
}

/// How long a save first waits for another process's (each takes about a millisecond).
pub(crate) const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Creates the directory of `path`, private to the user; returns it.
fn make_dir(path: &Path) -> io::Result<&Path> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .ok_or_else(|| io::Error::other("no directory"))?;
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| not_a_directory(path).unwrap_or_else(|| about(dir, e)))?;
    Ok(dir)
}

/// Replaces `path` with `bytes` atomically (creating its directory, private to the user).
pub(crate) fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = make_dir(path)?;
    remove_stale_temporaries(dir);
    let mut tmp = tempfile::Builder::new()
        .prefix(".parsum-")
        .suffix(".tmp")
        .tempfile_in(dir)?; // Its error names the file it tried.
    // No fsync: readers never see half a file (the rename is atomic), and a file lost to a crash
    // is only history to learn again.
    // The file itself, as tempfile's own writer names the path already.
    (tmp.as_file_mut().write_all(bytes)).map_err(|e| about(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| about(path, e.error))?;
    Ok(())
}

/// Temporary files older than this were left by a process that was killed while saving.
const STALE: std::time::Duration = std::time::Duration::from_secs(600);

/// Removes what killed processes left behind: `.parsum-*.tmp` regular files (never a link)
/// untouched for [`STALE`]. Best effort; a failure only leaves them there.
fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten().take(10_000) {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !(name.starts_with(".parsum-") && name.ends_with(".tmp")) {
            continue;
        }
        let stale = entry.metadata().is_ok_and(|m| {
            m.file_type().is_file()
                && m.modified()
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age >= STALE)
        });
        if stale {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn bytes_that_are_not_utf8_are_shown_escaped() {
        use std::os::unix::ffi::OsStrExt;
        let path = Path::new(std::ffi::OsStr::from_bytes(b"/tmp/a\xffb\xc3/\xc3\xa9\n"));
        assert_eq!(shown(path), "/tmp/a\\xffb\\xc3/\u{e9}\\n");
    }

    #[test]
    fn round_trip_and_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/file.json");
        write(&path, b"hello").unwrap();
        assert_eq!(read(&path).unwrap(), b"hello");
        write(&path, b"again").unwrap();
        assert_eq!(read(&path).unwrap(), b"again");
        // Only our file is left in the directory: no temporary files behind.
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");

        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; MAX_FILE as usize + 1]).unwrap();
        assert!(read(&big).is_err());
        assert!(read(dir.path()).is_err(), "a directory is not a file");
        #[cfg(unix)]
        {
            let link = dir.path().join("link");
            std::os::unix::fs::symlink(&path, &link).unwrap();
            assert!(read(&link).is_err(), "links are not followed");
            let zero = dir.path().join("zero");
            std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
            assert!(read(&zero).is_err());
            // Writing over a planted link replaces the link, never its target.
            write(&link, b"mine").unwrap();
            assert_eq!(read(&path).unwrap(), b"again");
            assert_eq!(std::fs::read(&link).unwrap(), b"mine");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_named_pipe_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo failed");
        assert!(read(&fifo).is_err());
    }

    /// A pipe or a link planted as the lock file is replaced by a lock file, the link's target
    /// left alone.
    #[cfg(unix)]
    #[test]
    fn a_planted_lock_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file.json");
        let lock = dir.path().join("file.json.lock");
        let target = dir.path().join("target");
        std::fs::write(&target, "keep").unwrap();
        let fifo = std::process::Command::new("mkfifo").arg(&lock).status();
        assert!(fifo.is_ok_and(|s| s.success()), "mkfifo failed");
        assert_eq!(locked(&path, LOCK_WAIT, || Ok(7)).unwrap(), 7);
        assert!(std::fs::symlink_metadata(&lock).unwrap().is_file());
        std::fs::remove_file(&lock).unwrap();
        std::os::unix::fs::symlink(&target, &lock).unwrap();
        assert_eq!(locked(&path, LOCK_WAIT, || Ok(8)).unwrap(), 8);
        assert!(std::fs::symlink_metadata(&lock).unwrap().is_file());
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
        // A directory is not removed: the save fails, naming the lock file, not the file saved.
        std::fs::remove_file(&lock).unwrap();
        std::fs::create_dir(&lock).unwrap();
        let err = locked(&path, LOCK_WAIT, || Ok(9)).unwrap_err();
        assert!(err.to_string().starts_with(lock.to_str().unwrap()), "{err}");
        assert!(
            std::error::Error::source(err.get_ref().unwrap()).is_some(),
            "{err}"
        );
        assert!(lock.is_dir());
    }

    /// A file or a dangling link higher up the cache path is the one named.
    #[cfg(unix)]
    #[test]
    fn the_directory_in_the_way_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let nowhere = dir.path().join("nowhere");
        std::os::unix::fs::symlink(dir.path().join("missing"), &nowhere).unwrap();
        for (top, why) in [
            (&file, "is not a directory"),
            (&nowhere, "is a link to nothing"),
        ] {
            let path = top.join("a").join("b").join("file.json");
            let err = write(&path, b"{}").unwrap_err();
            assert!(
                err.to_string()
                    .starts_with(&format!("{} {why}", top.display())),
                "{err}"
            );
            // Not "not found": a history behind a dangling link is not one not made yet.
            let err = read(&path).unwrap_err();
            assert!(err.to_string().starts_with(&top.display().to_string()));
            assert_eq!(err.kind(), io::ErrorKind::NotADirectory, "{err}");
        }
    }
}
