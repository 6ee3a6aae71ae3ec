//! Auto's history on disk: one JSON file in the cache directory holding entries — (backend
//! identity, footprint) → count, centre, spread, errors, when saved — and nothing else.
//!
//! Two files merge entry by entry: the newer entry wins, and one this process changed is newer
//! than any on disk. Whatever a file holds — truncated, random bytes, NaN, 1e300, negative
//! counts, another version — is ignored or repaired, never trusted: a file that is not a parsum
//! history of this version is ignored (and replaced at the next save), a malformed or implausible
//! entry is dropped alone.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::history::{CHUNKS, Entry, Footprint, SIZES};
use crate::files;

/// The file's name in the cache directory. Debug builds time their own (unoptimised) code and
/// keep it apart.
pub(crate) const FILE: &str = if cfg!(debug_assertions) {
    "auto-history-debug.json"
} else {
    "auto-history.json"
};
/// Format of the file; another one is ignored.
const FORMAT: u32 = 3;
/// Most entries one file keeps (the least recently saved go first): well under
/// [`files::MAX_FILE`].
const MAX_ENTRIES: usize = 8192;
/// Longest identity kept.
const MAX_IDENTITY: usize = 1000;

/// Every backend's entries, by identity.
pub(crate) type Store = BTreeMap<String, BTreeMap<Footprint, Entry>>;

#[derive(Serialize, Deserialize)]
struct Contents<T> {
    format: u32,
    parsum: String,
    backends: Vec<T>,
}

#[derive(Serialize, Deserialize)]
struct Backend<T> {
    identity: String,
    entries: Vec<T>,
}

/// cold, size class, chunk class, count, mean, m2, errors, updated.
#[derive(Serialize, Deserialize)]
struct Row(bool, usize, usize, f64, f64, f64, f64, u64);

/// Says that the file at `path`, read, is not a history this version takes, and that the next save
/// (which cannot merge with it) replaces it.
fn ignored(path: &Path, why: &str) -> String {
    format!(
        "{} ignored, and replaced at the next save: {why}",
        files::shown(path)
    )
}

/// What the file holds; `Err` says why it was ignored (a missing file is simply empty).
pub(crate) fn load(path: &Path) -> Result<Store, String> {
    let bytes = match files::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Store::new()),
        // Too big, a link or a pipe: the save's rename puts a file in its place (a link's target
        // untouched). A directory there, or no access, may fail the save too: no promise.
        Err(e)
            if e.kind() == std::io::ErrorKind::FileTooLarge
                || std::fs::symlink_metadata(path).is_ok_and(|m| !m.is_dir() && !m.is_file()) =>
        {
            return Err(ignored(path, &e.to_string()));
        }
        Err(e) => return Err(format!("{} not read: {e}", files::shown(path))),
    };
    let contents: Contents<serde_json::Value> = serde_json::from_slice(&bytes)
        .map_err(|e| ignored(path, &format!("not a parsum history ({e})")))?;
    if contents.format != FORMAT || contents.parsum != env!("CARGO_PKG_VERSION") {
        let by = files::escaped(&contents.parsum.chars().take(40).collect::<String>());
        let why = format!("written by parsum {by} (format {})", contents.format);
        return Err(ignored(path, &why));
    }
    let mut store = Store::new();
    for value in contents.backends {
        let Ok(b) = serde_json::from_value::<Backend<serde_json::Value>>(value) else {
            continue;
        };
        if b.identity.len() > MAX_IDENTITY || store.contains_key(&b.identity) {
            continue;
        }
        let entries = store.entry(b.identity).or_default();
        for row in b.entries {
            let Ok(Row(cold, size, chunks, count, mean, m2, errors, updated)) =
                serde_json::from_value(row)
            else {
                continue;
            };
            let entry = Entry {
                count,
                mean,
                m2,
                errors,
                updated,
                ..Entry::default()
            };
            if size < SIZES && chunks < CHUNKS && entry.is_sane() {
                entries
                    .entry(Footprint { cold, chunks, size })
                    .or_insert(entry);
            }
        }
    }
    Ok(store)
}

/// Merges `ours` into what `path` holds now and writes the result; returns it. Of two entries
/// for one backend and footprint the newer wins, and one changed here is the newest. Another
/// process's save is waited for at most `wait`.
pub(crate) fn save(path: &Path, ours: &Store, now: u64, wait: Duration) -> std::io::Result<Store> {
    // Each error names the file it is about (the history, its lock or its directory).
    files::locked(path, wait, || merge_and_write(path, ours, now))
}

/// [`save`]'s work, done under the file's lock.
fn merge_and_write(path: &Path, ours: &Store, now: u64) -> std::io::Result<Store> {
    let mut merged = load(path).unwrap_or_default();
    for (identity, entries) in ours.iter().filter(|(i, _)| i.len() <= MAX_IDENTITY) {
        let disk = merged.entry(identity.clone()).or_default();
        for (&f, &e) in entries {
            if disk
                .get(&f)
                .is_none_or(|d| e.touched || e.updated >= d.updated)
            {
                let updated = if e.touched { now } else { e.updated };
                disk.insert(
                    f,
                    Entry {
                        updated,
                        touched: false,
                        ..e
                    },
                );
            }
        }
    }
    // A stamp from the future (a clock set back, a hostile file) counts as now: else it would
    // outrank every entry saved from here on, and prune them.
    for e in merged.values_mut().flat_map(|s| s.values_mut()) {
        e.updated = e.updated.min(now);
    }
    // The newest entries, at most MAX_ENTRIES of them.
    let mut stamps: Vec<u64> = merged
        .values()
        .flat_map(|s| s.values().map(|e| e.updated))
        .collect();
    if stamps.len() > MAX_ENTRIES {
        stamps.sort_unstable_by(|a, b| b.cmp(a));
        let oldest_kept = stamps[MAX_ENTRIES - 1];
        merged
            .values_mut()
            .for_each(|s| s.retain(|_, e| e.updated >= oldest_kept));
    }
    let row = |(f, e): (&Footprint, &Entry)| {
        Row(
            f.cold, f.size, f.chunks, e.count, e.mean, e.m2, e.errors, e.updated,
        )
    };
    let backends = merged
        .iter()
        .map(|(identity, s)| Backend {
            identity: identity.clone(),
            entries: s.iter().map(row).collect(),
        })
        .collect();
    let contents = Contents {
        format: FORMAT,
        parsum: env!("CARGO_PKG_VERSION").into(),
        backends,
    };
    files::write(
        path,
        &serde_json::to_vec(&contents).map_err(std::io::Error::other)?,
    )?;
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A save that waits as long as Auto's first does.
    fn put(path: &Path, ours: &Store, now: u64) -> std::io::Result<Store> {
        save(path, ours, now, files::LOCK_WAIT)
    }

    fn entry(mean: f64, count: f64, updated: u64, touched: bool) -> Entry {
        Entry {
            count,
            mean,
            updated,
            touched,
            ..Entry::default()
        }
    }

    fn store(identity: &str, f: Footprint, e: Entry) -> Store {
        Store::from([(identity.to_string(), BTreeMap::from([(f, e)]))])
    }

    const F: Footprint = Footprint {
        cold: false,
        chunks: 0,
        size: 40,
    };
    const G: Footprint = Footprint {
        cold: true,
        chunks: 2,
        size: 60,
    };

    #[test]
    fn two_files_merge_entry_by_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        put(&path, &store("simd", F, entry(1.0, 5.0, 0, true)), 100).unwrap();
        // Another process: a new entry at G, and an older, untouched one at F that loses.
        let mut other = store("simd", G, entry(2.0, 3.0, 0, true));
        other
            .get_mut("simd")
            .unwrap()
            .insert(F, entry(9.0, 9.0, 50, false));
        let merged = put(&path, &other, 200).unwrap();
        let simd = &merged["simd"];
        assert_eq!((simd[&F].mean, simd[&F].updated), (1.0, 100));
        assert_eq!((simd[&G].mean, simd[&G].updated), (2.0, 200));
        assert_eq!(load(&path).unwrap(), merged);
        // An entry changed here beats any on disk.
        let merged = put(&path, &store("simd", F, entry(3.0, 1.0, 0, true)), 150).unwrap();
        assert_eq!(merged["simd"][&F].mean, 3.0);
    }

    #[test]
    fn saves_at_once_lose_nothing_and_a_held_lock_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        std::thread::scope(|s| {
            for t in 0..4 {
                let path = &path;
                s.spawn(move || {
                    for k in 0..5 {
                        let ours = store(&format!("b{t}-{k}"), F, entry(1.0, 1.0, 0, true));
                        // A save that waited its whole second (a busy machine) is tried again:
                        // what is checked is that no save loses another's entries.
                        while let Err(e) = put(path, &ours, 1) {
                            assert!(e.to_string().contains("held by another"), "{e}");
                        }
                    }
                });
            }
        });
        assert_eq!(load(&path).unwrap().len(), 20);
        // Another process holding the lock for good: the save gives up, and the file stays.
        let lock = std::fs::File::create(dir.path().join(format!("{FILE}.lock"))).unwrap();
        lock.lock().unwrap();
        let err = put(&path, &store("late", F, entry(1.0, 1.0, 0, true)), 2).unwrap_err();
        assert!(
            err.to_string()
                .contains("held by another process (waited 1 s)"),
            "{err}"
        );
        // The lock file is named, once.
        let lock_path = format!("{}.lock", path.display());
        assert!(err.to_string().starts_with(&lock_path), "{err}");
        assert_eq!(err.to_string().matches(&lock_path).count(), 1, "{err}");
        assert_eq!(load(&path).unwrap().len(), 20);
    }

    #[test]
    fn bad_files_are_ignored_and_bad_entries_dropped_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        put(&path, &store("simd", F, entry(1.0, 5.0, 0, true)), 100).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let row = "[false,40,0,5.0,1.0,0.0,0.0,100]";
        assert!(text.contains(row), "{text}");
        for bad in [
            "[false,40,0,-5.0,1.0,0.0,0.0,100]",
            "[false,40,0,5.0,1e300,0.0,0.0,100]",
            "[false,999,0,5,1,0,0,1]",
            "\"x\"",
        ] {
            let broken = text.replace(row, &format!("{bad},[true,60,2,1.0,2.0,0.0,0.0,100]"));
            std::fs::write(&path, broken).unwrap();
            let read = load(&path).unwrap();
            assert_eq!(read["simd"].len(), 1, "{bad}");
            assert!(read["simd"].contains_key(&G), "{bad}");
        }
        for garbage in [
            "",
            "{",
            "\u{0}\u{1}",
            "[1e300]",
            "{\"format\":3}",
            "{\"format\":2,\"parsum\":\"0.1.0\",\"backends\":[]}",
        ] {
            std::fs::write(&path, garbage).unwrap();
            assert!(load(&path).is_err(), "{garbage:?}");
            put(&path, &Store::new(), 1).unwrap();
            assert!(load(&path).unwrap().is_empty());
        }
        // An identity too long to be read back is not written.
        let long = "x".repeat(MAX_IDENTITY + 1);
        put(&path, &store(&long, F, entry(1.0, 1.0, 0, true)), 1).unwrap();
        assert!(load(&path).unwrap().is_empty());
        // Entries stamped in the future (written by a clock far ahead) count as stamped now:
        // they do not prune an entry saved after them.
        let future: Store = (0..MAX_ENTRIES)
            .flat_map(|i| store(&format!("h{i}"), F, entry(1.0, 1.0, 0, true)))
            .collect();
        put(&path, &future, u64::MAX).unwrap();
        let merged = put(&path, &store("simd", F, entry(1.0, 1.0, 0, true)), 300).unwrap();
        assert_eq!(merged["simd"][&F].updated, 300);
        assert!(merged.values().all(|s| s[&F].updated == 300));
        assert_eq!(load(&path).unwrap(), merged);
    }
}
