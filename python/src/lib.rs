//! `parsum._native`: the thin pyo3 layer of the Python package, over parsum's public API only.
//! The package (`python/parsum/`) holds the API people call; this holds what must be native:
//! reading a `range` exactly, running a sum with the GIL released and Ctrl-C watched, and one set
//! of backends per process (rebuilt in a forked child, whose threads and devices the parent kept).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use parsum::{
    AdapterChoice, Auto, AutoOptions, Backend, BackendKind, Error, Gpu, GpuOptions, Scalar, Simd,
    SumRange, SumReport, SumRequest,
};
use pyo3::exceptions::{PyKeyboardInterrupt, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyRange};

/// Sums of at least this many elements run on a thread of their own while the caller watches for
/// Ctrl-C; shorter ones (a few milliseconds at most) run on the calling thread.
const WATCHED_FROM: u128 = 1 << 24;
/// How often the watching thread looks for a signal.
const SIGNAL_POLL: Duration = Duration::from_millis(20);

/// The executor runs the package has stopped ([`stop_run`]): a long sum of one of them stops, and
/// one not begun yet does not start. Signals reach only the main thread: this is how the chunks
/// summing on an executor's threads in this process learn that their run is over.
static STOPPED: Mutex<BTreeSet<u64>> = Mutex::new(BTreeSet::new());

/// Whether run `id` was stopped. `try_lock`: a forked child may hold a copy of the lock taken;
/// a check that cannot look now looks again at the next poll.
fn stopped(id: Option<u64>) -> bool {
    id.is_some_and(|id| STOPPED.try_lock().is_ok_and(|s| s.contains(&id)))
}

/// The backends of this process, made when first asked for.
struct Backends {
    auto: Result<Auto, Error>,
    scalar: OnceLock<Scalar>,
    simd: OnceLock<Simd>,
    gpu: OnceLock<Result<Gpu, Error>>,
    /// The GPUs opened for `adapter=`, each once (by index, or by its name as matched: trimmed,
    /// lower case). What failed to open is not kept: a later call tries again.
    chosen: Mutex<Vec<(Adapter, Arc<Gpu>)>>,
}

/// `adapter=` as the package passes it: an index in `backends()`, or a name.
#[derive(Clone, PartialEq, FromPyObject)]
enum Adapter {
    Index(usize),
    Name(String),
}

/// The GPU on `adapter`, opened on first use (the lock held meanwhile: one device an adapter).
fn gpu_on(all: &Backends, adapter: &Adapter) -> Result<Arc<Gpu>, Error> {
    let key = match adapter {
        Adapter::Name(n) => Adapter::Name(n.trim().to_lowercase()),
        index => index.clone(),
    };
    let mut chosen = all.chosen.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, gpu)) = chosen.iter().find(|(a, _)| *a == key) {
        return Ok(Arc::clone(gpu));
    }
    let choice = match adapter {
        Adapter::Index(i) => AdapterChoice::Index(*i),
        Adapter::Name(n) => AdapterChoice::Name(n.clone()),
    };
    let gpu = Arc::new(Gpu::with_options(GpuOptions::default().adapter(choice))?);
    chosen.push((key, Arc::clone(&gpu)));
    Ok(gpu)
}

/// This process's backends, with the pid they were made in. Taken only with the GIL held: no
/// thread holds this lock while the process forks.
static NOW: Mutex<Option<(u32, Arc<Backends>)>> = Mutex::new(None);

/// This process's backends: a forked child (another pid) makes its own, leaving the parent's
/// alone — never dropped, since its threads and its device do not exist here.
fn backends(_py: Python<'_>) -> Arc<Backends> {
    let pid = std::process::id();
    let mut now = NOW.lock().unwrap_or_else(|e| e.into_inner());
    match &*now {
        Some((p, b)) if *p == pid => Arc::clone(b),
        _ => {
            let made = Arc::new(Backends {
                auto: Auto::new(),
                scalar: OnceLock::new(),
                simd: OnceLock::new(),
                gpu: OnceLock::new(),
                chosen: Mutex::default(),
            });
            if let Some(parent) = now.replace((pid, Arc::clone(&made))) {
                std::mem::forget(parent);
            }
            made
        }
    }
}

/// This process's backends if it made them (a parent's, inherited by fork, are not).
fn made_here(_py: Python<'_>) -> Option<Arc<Backends>> {
    let now = NOW.lock().unwrap_or_else(|e| e.into_inner());
    now.as_ref()
        .filter(|(p, _)| *p == std::process::id())
        .map(|(_, b)| Arc::clone(b))
}

/// A Python exception class of the package (`parsum.<name>`).
fn exception(py: Python<'_>, name: &str, message: String) -> PyErr {
    let class = py
        .import("parsum")
        .and_then(|m| m.getattr(name))
        .and_then(|c| c.cast_into::<pyo3::types::PyType>().map_err(Into::into));
    match class {
        Ok(class) => PyErr::from_type(class, message),
        Err(e) => e,
    }
}

fn to_py(py: Python<'_>, e: Error) -> PyErr {
    let name = match &e {
        Error::InvalidRange { .. } => "InvalidRangeError",
        Error::Mismatch { .. }
        | Error::TotalMismatch { .. }
        | Error::DuplicateChunk { .. }
        | Error::MissingChunks { .. } => "VerificationError",
        Error::ZeroChunks | Error::Config(_) | Error::Threads(_) => "ConfigError",
        Error::Cancelled => return PyKeyboardInterrupt::new_err("cancelled"),
        Error::Unavailable(_)
        | Error::GpuUnavailable(_)
        | Error::NotCompiled { .. }
        | Error::KernelUnavailable { .. }
        | Error::Gpu(_)
        | Error::DeviceLost(_) => "BackendUnavailableError",
        _ => "ParsumError",
    };
    exception(py, name, e.to_string())
}

/// `r` as a checked range: a `range` of step 1 with `0 <= start <= stop <= 2**64`.
fn range_of(py: Python<'_>, r: &Bound<'_, PyAny>) -> PyResult<SumRange> {
    if !r.is_instance_of::<PyRange>() {
        let kind = r.get_type().name()?;
        return Err(PyTypeError::new_err(format!(
            "expected a range, got {kind}"
        )));
    }
    let bad = |what: String| exception(py, "InvalidRangeError", what);
    let step: i128 = r.getattr("step")?.extract().unwrap_or(0);
    if step != 1 {
        return Err(bad(format!("{}: the step must be 1", r.repr()?)));
    }
    // Python ints of any size: read as i128 where they fit, refused where they do not.
    let bound = |name| -> PyResult<i128> {
        r.getattr(name)?.extract::<i128>().map_err(|_| {
            bad(format!(
                "{}: {name} is far outside 0..=2**64",
                r.repr().map_or(String::new(), |s| s.to_string())
            ))
        })
    };
    let (start, stop) = (bound("start")?, bound("stop")?);
    if start < 0 || stop < 0 {
        return Err(bad(format!("{}: bounds must not be negative", r.repr()?)));
    }
    SumRange::from_bounds(start as u128, stop as u128).map_err(|e| to_py(py, e))
}

/// Runs `work` with the GIL released; a long one on a thread of its own, while this thread looks
/// for Ctrl-C (and whether `run`, its executor run, was stopped) every [`SIGNAL_POLL`] and, on
/// one, cancels the sum and raises `KeyboardInterrupt`.
fn watched<T: Send>(
    py: Python<'_>,
    elements: u128,
    run: Option<u64>,
    work: impl FnOnce(&AtomicBool) -> Result<T, Error> + Send,
) -> PyResult<T> {
    let run_over = || PyKeyboardInterrupt::new_err("cancelled: its run was stopped");
    if stopped(run) {
        return Err(run_over());
    }
    let cancel = AtomicBool::new(false);
    if elements < WATCHED_FROM {
        return py.detach(|| work(&cancel)).map_err(|e| to_py(py, e));
    }
    let done = (Mutex::new(false), Condvar::new());
    std::thread::scope(|s| {
        let worker = s.spawn(|| {
            let result = work(&cancel);
            *done.0.lock().unwrap_or_else(|e| e.into_inner()) = true;
            done.1.notify_all();
            result
        });
        let mut interrupted = None;
        while !worker.is_finished() {
            py.detach(|| {
                let finished = done.0.lock().unwrap_or_else(|e| e.into_inner());
                let _ = done.1.wait_timeout_while(finished, SIGNAL_POLL, |f| !*f);
            });
            let signal = (py.check_signals().err()).or_else(|| stopped(run).then(run_over));
            if let Some(e) = signal {
                cancel.store(true, Ordering::Relaxed);
                interrupted = Some(e);
                break;
            }
        }
        let result = py.detach(|| worker.join());
        match (interrupted, result) {
            (Some(e), _) => Err(e),
            (None, Ok(r)) => r.map_err(|e| to_py(py, e)),
            (None, Err(_)) => Err(exception(py, "ParsumError", "the sum panicked".into())),
        }
    })
}

/// A report's fields for the package's `Report`: sum, expected, verified, elements, chunks,
/// backend, kernel, device, chosen_by, seconds.
type Fields = (
    u128,
    u128,
    bool,
    u128,
    u64,
    String,
    String,
    String,
    String,
    f64,
);

fn fields(r: &SumReport, chosen_by: &str) -> Fields {
    let b = &r.backend;
    let seconds = r.elapsed.as_secs_f64();
    (
        r.sum,
        r.expected,
        r.verified,
        r.range.len(),
        r.chunks,
        b.kind.to_string(),
        b.kernel.to_string(),
        b.device.to_string(),
        chosen_by.into(),
        seconds,
    )
}

/// Auto's own member of `kind` where it has one (sharing its threads and device; a GPU it could
/// not open is its error), else one made for explicit requests (Auto forced to another kind by
/// `PARSUM_BACKEND`). Auto fails to be made only for a bad environment variable, which refuses
/// every backend, as in the CLI.
fn backend_of(all: &Backends, kind: BackendKind) -> Result<&dyn Backend, Error> {
    match all.auto.as_ref().map_err(Clone::clone)?.backend(kind) {
        Ok(b) => return Ok(b),
        Err(e) if !matches!(e, Error::Unavailable(_)) => return Err(e),
        Err(_) => {}
    }
    Ok(match kind {
        BackendKind::Scalar => all.scalar.get_or_init(Scalar::new),
        BackendKind::Simd => all.simd.get_or_init(Simd::new),
        _ => all
            .gpu
            .get_or_init(Gpu::new)
            .as_ref()
            .map_err(Clone::clone)?,
    })
}

/// Runs `request` on the backend named `backend`: Auto's own member of that kind where it has
/// one (sharing its threads and device), else one made for explicit requests — on `adapter`'s
/// GPU where the package passed one (with `backend="gpu"` only).
fn run_on(
    all: &Backends,
    backend: &str,
    adapter: Option<&Adapter>,
    request: &SumRequest<'_>,
) -> Result<Fields, Error> {
    if let Some(adapter) = adapter {
        // A bad environment (PARSUM_BACKEND, ...) refuses every call that sums, this one too.
        all.auto.as_ref().map_err(Clone::clone)?;
        if backend != "gpu" {
            return Err(Error::Config(format!(
                "adapter= applies to backend='gpu' only, not '{backend}'"
            )));
        }
        return Ok(fields(&request.run(&*gpu_on(all, adapter)?)?, "explicit"));
    }
    let kind = match backend {
        "auto" => {
            let auto = all.auto.as_ref().map_err(Clone::clone)?;
            let r = request.run(auto)?;
            return Ok(fields(&r.report, r.chosen_by.as_str()));
        }
        "scalar" => BackendKind::Scalar,
        "simd" => BackendKind::Simd,
        "gpu" => BackendKind::Gpu,
        other => {
            return Err(Error::Config(format!(
                "unknown backend {other:?}: expected auto, scalar, simd or gpu"
            )));
        }
    };
    let b = backend_of(all, kind)?;
    Ok(fields(&request.run(b)?, "explicit"))
}

/// Stops executor run `id` in this process (see [`STOPPED`]); the package calls it when the run
/// ends in an exception — Ctrl-C, a failed check — while chunks may still be summing.
#[pyfunction]
fn stop_run(id: u64) {
    STOPPED.lock().unwrap_or_else(|e| e.into_inner()).insert(id);
}

/// Sums `r` (a `range`); see `parsum.run`.
#[pyfunction]
#[pyo3(signature = (r, backend, chunks, verify, run_id=None, adapter=None))]
fn run(
    py: Python<'_>,
    r: &Bound<'_, PyAny>,
    backend: &str,
    chunks: Option<u64>,
    verify: bool,
    run_id: Option<u64>,
    adapter: Option<Adapter>,
) -> PyResult<Fields> {
    let range = range_of(py, r)?;
    let all = backends(py);
    watched(py, range.len(), run_id, |cancel| {
        let mut request = SumRequest::from_range(range)
            .verify(verify)
            .cancel_on(cancel);
        if let Some(c) = chunks {
            request = request.chunks(c);
        }
        run_on(&all, backend, adapter.as_ref(), &request)
    })
}

/// Sums `r` on the default path (the process's `Auto`): only the sum, as fast as it comes.
#[pyfunction]
fn sum(py: Python<'_>, r: &Bound<'_, PyAny>) -> PyResult<u128> {
    let range = range_of(py, r)?;
    let all = backends(py);
    watched(py, range.len(), None, |cancel| {
        let auto = all.auto.as_ref().map_err(Clone::clone)?;
        auto.sum(&SumRequest::from_range(range).cancel_on(cancel))
    })
}

/// Every backend usable here, as dicts: backend, kernel, device, threads (and the GPU adapters,
/// with the one `backend="gpu"` opens marked `default`).
#[pyfunction]
fn backends_here(py: Python<'_>) -> PyResult<Vec<Bound<'_, PyDict>>> {
    let all = backends(py);
    let mut out = Vec::new();
    for kind in [BackendKind::Scalar, BackendKind::Simd] {
        let b = backend_of(&all, kind).map_err(|e| to_py(py, e))?;
        let d = PyDict::new(py);
        let i = b.info();
        d.set_item("backend", i.kind.as_str())?;
        d.set_item("kernel", &*i.kernel)?;
        d.set_item("device", &*i.device)?;
        d.set_item("threads", i.threads)?;
        out.push(d);
    }
    let adapters = py.detach(Gpu::adapters).map_err(|e| to_py(py, e))?;
    // The adapter backend="gpu" opens; none where the environment names none (or several).
    let default = py.detach(|| Gpu::default_adapter().ok().map(|a| a.index));
    for a in adapters {
        let d = PyDict::new(py);
        d.set_item("backend", BackendKind::Gpu.as_str())?;
        d.set_item(
            "device",
            format!("{} ({}, {})", a.name, a.api, a.device_type),
        )?;
        d.set_item("adapter", a.index)?;
        d.set_item("driver", &a.driver)?;
        d.set_item("default", default == Some(a.index))?;
        out.push(d);
    }
    Ok(out)
}

/// What `Auto` would run `elements` elements in `chunks` chunks on, and why.
#[pyfunction]
#[pyo3(signature = (elements, chunks=None))]
fn explain(py: Python<'_>, elements: u128, chunks: Option<u64>) -> PyResult<String> {
    if elements > 1 << 64 || chunks == Some(0) {
        return Err(PyValueError::new_err(
            "elements must be at most 2**64, chunks at least 1",
        ));
    }
    let all = backends(py);
    let auto = all.auto.as_ref().map_err(|e| to_py(py, e.clone()))?;
    Ok(match chunks {
        Some(c) => auto.explain_for(elements, c),
        None => auto.explain(elements),
    }
    .to_string())
}

/// A bad environment variable as the error every sum raises, read as a child process made now
/// reads it — without making this process's backends (a pool's parent starts no threads).
#[pyfunction]
fn check_environment(py: Python<'_>) -> PyResult<()> {
    AutoOptions::from_env().map(drop).map_err(|e| to_py(py, e))
}

/// Raises what a sum of `r` would for a range it does not take (executor runs cut `r` in Python).
#[pyfunction]
fn check_range(py: Python<'_>, r: &Bound<'_, PyAny>) -> PyResult<()> {
    range_of(py, r).map(drop)
}

/// Writes what `Auto` learnt to its cache (at exit; saving is also done as it goes).
#[pyfunction]
fn save(py: Python<'_>) {
    if let Some(Ok(auto)) = made_here(py).as_deref().map(|b| &b.auto) {
        let _ = py.detach(|| auto.save());
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(sum, m)?)?;
    m.add_function(wrap_pyfunction!(backends_here, m)?)?;
    m.add_function(wrap_pyfunction!(explain, m)?)?;
    m.add_function(wrap_pyfunction!(save, m)?)?;
    m.add_function(wrap_pyfunction!(check_environment, m)?)?;
    m.add_function(wrap_pyfunction!(check_range, m)?)?;
    m.add_function(wrap_pyfunction!(stop_run, m)?)?;
    Ok(())
}
