//! Calibrations kept on disk, like FFTW's wisdom: one small text file per machine and backend set,
//! in the user's cache directory. A file that is missing, corrupt, for another parsum version or
//! another set of backends and devices is ignored (and rewritten); failing to write is not an error.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::model::CostModel;

const HEADER: &str = "parsum-calibration v1";

/// Where calibration files live: `PARSUM_CACHE_DIR`, else the platform's user cache directory
/// (`$XDG_CACHE_HOME` or `~/.cache` on Linux, `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on
/// Windows) joined with `parsum`. `None` when none of these is set.
pub fn default_dir() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = env("PARSUM_CACHE_DIR") {
        return Some(dir);
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

/// The key a calibration is valid for: parsum's version and every backend's identity (kind,
/// kernel, device, threads), in order.
pub fn key(ids: &[String]) -> String {
    format!("parsum {}; {}", env!("CARGO_PKG_VERSION"), ids.join(" | "))
}

/// The file for `key` in `dir`: named by a stable hash of the key (FNV-1a), so backend sets coexist.
pub fn file(dir: &Path, key: &str) -> PathBuf {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    dir.join(format!("calibration-{h:016x}.txt"))
}

fn clean(s: &str) -> String {
    s.replace(['\t', '\n', '\r'], " ")
}

/// The models stored for `key` and `ids` (one per id, in order), or `None` if the file does not
/// hold exactly that.
pub fn read(path: &Path, key: &str, ids: &[String]) -> Option<Vec<CostModel>> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut lines = text.lines();
    if lines.next()? != HEADER || lines.next()?.strip_prefix("key\t")? != clean(key) {
        return None;
    }
    let mut models = Vec::with_capacity(ids.len());
    for id in ids {
        let rest = lines.next()?.strip_prefix("model\t")?;
        let (line_id, points) = rest.split_once('\t')?;
        if line_id != clean(id) {
            return None;
        }
        let points = points
            .split(' ')
            .map(|p| {
                let (n, t) = p.split_once(':')?;
                Some((n.parse().ok()?, t.parse().ok()?))
            })
            .collect::<Option<Vec<(u128, f64)>>>()?;
        models.push(CostModel::from_points(points)?);
    }
    lines.next().is_none().then_some(models)
}

/// Writes the models (through a temporary file and a rename, so readers never see half a file).
pub fn write(path: &Path, key: &str, ids: &[String], models: &[CostModel]) -> std::io::Result<()> {
    let mut text = format!("{HEADER}\nkey\t{}\n", clean(key));
    for (id, model) in ids.iter().zip(models) {
        let points: Vec<String> = model
            .points()
            .iter()
            .map(|(n, t)| format!("{n}:{t:e}"))
            .collect();
        let _ = writeln!(text, "model\t{}\t{}", clean(id), points.join(" "));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let dir = std::env::temp_dir().join(format!("parsum-cache-unit-{}", std::process::id()));
        let ids = vec![
            "scalar/x on cpu x1".to_string(),
            "simd/y on cpu x2".to_string(),
        ];
        let k = key(&ids);
        let path = file(&dir, &k);
        let models = vec![
            CostModel::from_points(vec![(1000, 1e-6), (4000, 3.5e-6)]).unwrap(),
            CostModel::from_points(vec![(1000, 2e-6)]).unwrap(),
        ];
        write(&path, &k, &ids, &models).unwrap();
        assert_eq!(read(&path, &k, &ids), Some(models));
        let other = vec![ids[0].clone()];
        assert_eq!(read(&path, &key(&other), &other), None);
        std::fs::write(&path, "parsum-calibration v1\nkey\tgarbage").unwrap();
        assert_eq!(read(&path, &k, &ids), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
