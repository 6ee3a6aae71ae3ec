//! Auto's observations on disk: one JSON file (`auto-observations.json`) in the cache directory,
//! one entry per backend identity (kind, kernel, device, threads — for a GPU its adapter, never
//! the kernel a race picked), so any set of backends finds what earlier processes measured.
//!
//! Saving merges: the file is read again, this process's new runs are pooled into each entry,
//! and the result is written atomically ([`crate::store`]). Two processes saving at the same
//! moment lose one's new runs, never the file. Whatever a file holds — truncated, random bytes,
//! NaN, 1e300, negative counts, another version — is ignored or repaired, never trusted: a file
//! that is not a parsum cache of this version is ignored (and replaced at the next save), a
//! malformed entry is dropped alone, and only statistics that pass [`Stats::is_sane`] are read.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::history::{CHUNK_CLASSES, CLASSES, Saved, Stats};
use crate::store::{self, CacheSetting};

/// The file's name in the cache directory. Debug builds time their own (unoptimised) code and
/// keep it apart.
pub const FILE: &str = if cfg!(debug_assertions) {
    "auto-observations-debug.json"
} else {
    "auto-observations.json"
};
/// Format of the file; another one is ignored.
const FORMAT: u32 = 2;
/// Most backends one file remembers (the least recently saved go first).
const MAX_ENTRIES: usize = 32;
/// Longest identity kept.
const MAX_IDENTITY: usize = 1000;

#[derive(Serialize)]
struct Contents {
    format: u32,
    parsum: String,
    backends: Vec<Entry>,
}

/// [`Contents`] as read: each entry parsed on its own, so one malformed entry costs only itself.
#[derive(Deserialize)]
struct RawContents {
    format: u32,
    parsum: String,
    backends: Vec<serde_json::Value>,
}

#[derive(Serialize, Deserialize, Clone)]
struct Entry {
    identity: String,
    updated: u64,
    saved: Saved,
}

/// The file a cache setting points at.
pub fn path(setting: &CacheSetting) -> Option<PathBuf> {
    setting.dir().map(|d| d.join(FILE))
}

fn repaired_list(list: Vec<(usize, Stats)>) -> Vec<(usize, Stats)> {
    let mut seen = [false; CLASSES];
    list.into_iter()
        .filter(|(c, s)| *c < CLASSES && s.is_sane() && !std::mem::replace(&mut seen[*c], true))
        .collect()
}

/// Keeps what is plausible of one entry: buckets in range with sane statistics, once each.
fn repaired(saved: Saved) -> Saved {
    let mut seen = std::collections::HashSet::new();
    Saved {
        buckets: repaired_list(saved.buckets),
        chunks: repaired_list(saved.chunks),
        mixed: saved
            .mixed
            .into_iter()
            .filter(|((c, k), s)| {
                *c < CLASSES && *k < CHUNK_CLASSES && s.is_sane() && seen.insert((*c, *k))
            })
            .collect(),
    }
}

fn read_entries(path: &Path) -> Result<Vec<Entry>, String> {
    let bytes = match store::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{} ignored: {e}", path.display())),
    };
    let contents: RawContents = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{} ignored: not a parsum cache ({e})", path.display()))?;
    if contents.format != FORMAT || contents.parsum != env!("CARGO_PKG_VERSION") {
        return Err(format!(
            "{} ignored: written by parsum {} (format {})",
            path.display(),
            contents.parsum.chars().take(40).collect::<String>(),
            contents.format
        ));
    }
    let mut seen = std::collections::HashSet::new();
    Ok(contents
        .backends
        .into_iter()
        .filter_map(|v| serde_json::from_value::<Entry>(v).ok())
        .filter(|e| e.identity.len() <= MAX_IDENTITY && seen.insert(e.identity.clone()))
        .take(MAX_ENTRIES)
        .map(|e| Entry {
            saved: repaired(e.saved),
            ..e
        })
        .collect())
}

/// What the file holds per identity; `Err` says why the file was ignored (a missing file is
/// simply empty).
pub fn load(path: &Path) -> Result<HashMap<String, Saved>, String> {
    Ok(read_entries(path)?
        .into_iter()
        .map(|e| (e.identity, e.saved))
        .collect())
}

fn pooled_list(a: &[(usize, Stats)], b: &[(usize, Stats)]) -> Vec<(usize, Stats)> {
    let mut out = a.to_vec();
    for &(c, s) in b {
        match out.iter_mut().find(|(k, _)| *k == c) {
            Some((_, t)) => *t = t.merge(&s),
            None => out.push((c, s)),
        }
    }
    out.sort_by_key(|&(c, _)| c);
    out
}

fn pooled(a: &Saved, b: &Saved) -> Saved {
    let mut mixed = a.mixed.clone();
    for &(key, s) in &b.mixed {
        match mixed.iter_mut().find(|(k, _)| *k == key) {
            Some((_, t)) => *t = t.merge(&s),
            None => mixed.push((key, s)),
        }
    }
    mixed.sort_by_key(|&(k, _)| k);
    Saved {
        buckets: pooled_list(&a.buckets, &b.buckets),
        chunks: pooled_list(&a.chunks, &b.chunks),
        mixed,
    }
}

/// Pools `fresh` (new runs per identity) into the file and writes it; returns every identity's
/// pooled history. A file that could not be read is replaced.
pub fn save(path: &Path, fresh: &[(String, Saved)]) -> std::io::Result<HashMap<String, Saved>> {
    let mut entries = read_entries(path).unwrap_or_default();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // An identity too long to be read back is not written.
    for (identity, new) in fresh.iter().filter(|(i, _)| i.len() <= MAX_IDENTITY) {
        match entries.iter_mut().find(|e| &e.identity == identity) {
            Some(e) => {
                e.saved = pooled(&e.saved, new);
                e.updated = now;
            }
            None => entries.push(Entry {
                identity: identity.clone(),
                updated: now,
                saved: new.clone(),
            }),
        }
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.updated));
    entries.truncate(MAX_ENTRIES);
    let contents = Contents {
        format: FORMAT,
        parsum: env!("CARGO_PKG_VERSION").into(),
        backends: entries,
    };
    let bytes = serde_json::to_vec(&contents).map_err(std::io::Error::other)?;
    store::write(path, &bytes)?;
    Ok(contents
        .backends
        .into_iter()
        .map(|e| (e.identity, e.saved))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(t: f64, runs: usize) -> Stats {
        let mut s = Stats::default();
        for _ in 0..runs {
            s.add(t, 1e6);
        }
        s
    }

    #[test]
    fn save_merges_and_load_repairs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        let a = Saved {
            buckets: vec![(40, stats(1e-3, 3))],
            chunks: vec![(20, stats(1e-8, 2))],
            mixed: vec![((40, 3), stats(1.2, 2))],
        };
        save(&path, &[("simd".into(), a.clone())]).unwrap();
        let merged = save(&path, &[("simd".into(), a)]).unwrap();
        assert_eq!(merged["simd"].buckets[0].1.weight, 6.0);
        assert_eq!(load(&path).unwrap()["simd"].buckets[0].1.weight, 6.0);

        // A hand-edited file: NaN is not JSON, 1e300 and negative counts are not sane.
        let text = std::fs::read_to_string(&path).unwrap().replacen(
            "\"weight\":6.0",
            "\"weight\":-6.0",
            1,
        );
        std::fs::write(&path, text).unwrap();
        assert!(load(&path).unwrap()["simd"].buckets.is_empty());
        for garbage in ["", "{", "\u{0}\u{1}\u{2}", "[1e300]", "{\"format\":2}"] {
            std::fs::write(&path, garbage).unwrap();
            assert!(load(&path).is_err(), "{garbage:?}");
            // And saving over it works.
            save(&path, &[]).unwrap();
            assert!(load(&path).unwrap().is_empty());
        }
    }

    #[test]
    fn one_malformed_entry_costs_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        let a = Saved {
            buckets: vec![(40, stats(1e-3, 3))],
            chunks: vec![],
            mixed: vec![],
        };
        save(&path, &[("simd".into(), a.clone()), ("gpu".into(), a)]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let broken = text.replacen("\"identity\":\"gpu\"", "\"identity\":7", 1);
        assert_ne!(text, broken);
        std::fs::write(&path, broken).unwrap();
        let read = load(&path).unwrap();
        assert!(read.contains_key("simd") && !read.contains_key("gpu"));
        // Saving keeps the good entry.
        save(&path, &[]).unwrap();
        assert_eq!(load(&path).unwrap()["simd"].buckets[0].1.weight, 3.0);
        // An identity too long to be read back is not written either.
        let long = "x".repeat(MAX_IDENTITY + 1);
        save(&path, &[(long.clone(), Saved::default())]).unwrap();
        assert!(!load(&path).unwrap().contains_key(&long));
    }
}
