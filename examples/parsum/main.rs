//! `parsum`: sum a u64 range on a chosen backend (or the fastest, by default), verify it, time it;
//! or compare every backend with `--bench`.
//!
//! Exit codes: 0 the sum is right, 1 verification failed, 2 usage error (a bad flag, number or
//! environment variable), 3 the backend is unavailable or failed (no GPU, device lost, a kernel
//! this CPU lacks), 4 output could not be written (a full disk, an unwritable plot), 130
//! interrupted by Ctrl-C.

mod bench;
mod bench_plot;
mod interrupt;
mod number;
mod out;
mod output;
mod progress;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser, ValueEnum};
use parsum::{
    AdapterChoice, Auto, AutoOptions, AutoReport, Backend, BackendKind, Error, Gpu, GpuKernel,
    GpuOptions, Scalar, Simd, SumRange, SumReport, SumRequest,
};

/// Most timed runs `--repeat` takes (each one's time is kept for the median).
const MAX_REPEAT: u128 = 1_000_000;

/// Sum a range of u64 values exactly — on one core, on every core with SIMD, on a GPU, or on
/// whichever is fastest for the size — and check the result against the closed form n·(a+b)/2.
#[derive(Parser, Debug)]
#[command(name = "parsum", version)]
struct Args {
    /// Backend that sums; auto picks the fastest for the request (PARSUM_BACKEND overrides
    /// auto's choice).
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    backend: BackendArg,
    /// First element (1000000000, 1_000_000_000, 1e9, 2^32 all work).
    #[arg(long, allow_hyphen_values = true, default_value = "0", value_parser = number::parse)]
    start: u128,
    /// One past the last element, at most 2^64 (so 2^64 includes u64::MAX).
    #[arg(long, allow_hyphen_values = true, default_value = "1e9", value_parser = number::parse)]
    end: u128,
    /// Number of chunks, 1 to 2^64 − 1 (default: 100, fewer for short ranges).
    #[arg(long, allow_hyphen_values = true, value_parser = chunks_arg)]
    chunks: Option<u64>,
    /// Threads for the simd backend, 1 to 1024 (default: every core).
    #[arg(long, allow_hyphen_values = true, value_parser = threads_arg)]
    threads: Option<usize>,
    /// One warm-up run, then N timed runs (1 to 10^6); reports min, median and max.
    #[arg(long, allow_hyphen_values = true, value_name = "N", value_parser = repeat_arg)]
    repeat: Option<u32>,
    /// Skip the closed-form check of every chunk.
    #[arg(long)]
    no_verify: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// GPU adapter: its index in --list, or its name (default: WGPU_ADAPTER_NAME, else the
    /// high-performance one).
    #[arg(long, allow_hyphen_values = true, value_name = "INDEX|NAME", value_parser = adapter_arg)]
    adapter: Option<String>,
    /// GPU kernel (default: native-u64 where the device has 64-bit integers, else u32-pairs).
    #[arg(long, value_enum)]
    gpu_kernel: Option<GpuKernelArg>,
    /// Print what auto measured and why it picks the backend it picks for this request.
    #[arg(long)]
    explain: bool,
    /// Say on standard error what is about to run, once everything is set up (and, after it, if
    /// auto's history could not be saved)
    #[arg(short, long)]
    verbose: bool,
    /// List every backend and GPU adapter (with the index --adapter takes), then exit.
    #[arg(long, conflicts_with_all = ["bench", "start", "end", "chunks", "repeat", "no_verify", "explain", "threads", "adapter", "gpu_kernel", "backend"])]
    list: bool,
    /// Run every backend over sizes from 10^3 up and over chunk counts, and compare them.
    #[arg(long, conflicts_with_all = ["start", "end", "chunks", "repeat", "no_verify", "explain", "threads", "adapter", "gpu_kernel", "backend"])]
    bench: bool,
    /// With --bench: the largest size measured, at least 1000 (default 1e12).
    #[arg(long, allow_hyphen_values = true, value_name = "N", value_parser = bench_max_arg, requires = "bench")]
    bench_max: Option<u128>,
    /// With --bench: also write a log-log plot of throughput against size to this SVG file.
    #[arg(long, value_name = "FILE.svg", requires = "bench")]
    plot: Option<PathBuf>,
}

fn chunks_arg(s: &str) -> Result<u64, String> {
    number::count(s, "--chunks", u64::MAX as u128).map(|n| n as u64)
}

fn threads_arg(s: &str) -> Result<usize, String> {
    number::count(s, "--threads", Simd::MAX_THREADS as u128).map(|n| n as usize)
}

fn adapter_arg(s: &str) -> Result<String, String> {
    // Taken with a leading `-`, as the number flags are, so that `-1` gets this message, not
    // clap's "unexpected argument".
    if let Some(rest) = s.trim().strip_prefix('-') {
        return Err(if rest.starts_with(|c: char| c.is_ascii_digit()) {
            format!("'{s}' has a minus sign: adapter indices start at 0 (see --list)")
        } else {
            format!("'{s}' is not an adapter: was a value left out?")
        });
    }
    if s.trim().is_empty() {
        return Err(
            "an empty adapter name would match every adapter: give a name or an index".into(),
        );
    }
    Ok(s.to_string())
}

/// `--adapter`'s value as an index, where it is one: ASCII digits only (as Python's `adapter=`
/// takes a str), so `+1` or `1e0` is a name.
fn adapter_index(s: &str) -> Option<Result<usize, std::num::ParseIntError>> {
    let s = s.trim();
    s.bytes().all(|b| b.is_ascii_digit()).then(|| s.parse())
}

fn repeat_arg(s: &str) -> Result<u32, String> {
    number::count(s, "--repeat", MAX_REPEAT).map(|n| n as u32)
}

fn bench_max_arg(s: &str) -> Result<u128, String> {
    match number::parse(s)? {
        n if n < 1000 => Err(format!(
            "'{s}' is below 1000, the smallest size --bench measures"
        )),
        n => Ok(n),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum BackendArg {
    Auto,
    Scalar,
    Simd,
    Gpu,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum GpuKernelArg {
    U32Pairs,
    NativeU64,
}

/// What went wrong, sorted by the exit code it earns.
pub enum Failure {
    Usage(String),
    Verification(Error),
    Backend(Error),
    Output(String),
    /// The reader of standard output went away.
    Closed,
    Interrupted,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        match e {
            Error::Mismatch { .. }
            | Error::TotalMismatch { .. }
            | Error::MissingChunks { .. }
            | Error::DuplicateChunk { .. } => Failure::Verification(e),
            Error::InvalidRange { .. }
            | Error::ZeroChunks
            | Error::Threads(_)
            | Error::Config(_) => Failure::Usage(e.to_string()),
            Error::Cancelled => Failure::Interrupted,
            other => Failure::Backend(other),
        }
    }
}

impl From<out::OutError> for Failure {
    fn from(e: out::OutError) -> Self {
        match e {
            out::OutError::Closed => Failure::Closed,
            out::OutError::Failed(why) => Failure::Output(why),
        }
    }
}

fn main() -> ExitCode {
    interrupt::install();
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => return ExitCode::from(clap_exit(&e)),
    };
    let code = match run(&args) {
        Ok(()) | Err(Failure::Closed) => 0,
        Err(Failure::Verification(e)) => {
            out::note(&format!("error: {e}"));
            1
        }
        Err(Failure::Usage(msg)) => {
            out::note(&format!("error: {msg}"));
            2
        }
        Err(Failure::Backend(e)) => {
            out::note(&format!("error: {e}"));
            3
        }
        Err(Failure::Output(msg)) => {
            out::note(&format!("error: {msg}"));
            4
        }
        Err(Failure::Interrupted) => {
            interrupt::note();
            interrupt::EXIT
        }
    };
    ExitCode::from(code as u8)
}

/// The command line. clap reports a stray argument before a bad value, so `--chunks --end 10`
/// would say only "unexpected argument '10'": where a flag's value is itself a flag, the
/// arguments up to it are parsed alone, for that value's own error.
fn parse_args() -> Result<Args, clap::Error> {
    let all: Vec<std::ffi::OsString> = std::env::args_os().collect();
    Args::try_parse_from(&all).map_err(|e| {
        let command = Args::command();
        let takes_value = |flag: &std::ffi::OsString| {
            let name = flag.to_str().and_then(|f| f.strip_prefix("--"));
            (command.get_arguments())
                .any(|a| name.is_some() && a.get_long() == name && a.get_action().takes_values())
        };
        let is_flag = |v: &std::ffi::OsString| v.to_str().is_some_and(|v| v.starts_with("--"));
        let at = (e.kind() == clap::error::ErrorKind::UnknownArgument)
            .then(|| {
                all.windows(2)
                    .position(|w| takes_value(&w[0]) && is_flag(&w[1]))
            })
            .flatten();
        at.and_then(|i| Args::try_parse_from(&all[..i + 2]).err())
            .unwrap_or(e)
    })
}

/// `--help` and `--version` go to standard output like every result (exit 4 when it cannot be
/// written, 0 for a closed pipe); a usage error is exit 2 with clap's message.
fn clap_exit(e: &clap::Error) -> u8 {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            // clap styles it as it styles its errors (a terminal, NO_COLOR, CLICOLOR_FORCE).
            let printed = e.print().and_then(|()| std::io::stdout().flush());
            match printed.map_err(|e| out::OutError::of(e, "to standard output")) {
                Ok(()) | Err(out::OutError::Closed) => 0,
                Err(out::OutError::Failed(why)) => {
                    out::note(&format!("error: {why}"));
                    4
                }
            }
        }
        _ => {
            let _ = e.print();
            2
        }
    }
}

/// Whether to stop here: Ctrl-C was pressed, and nothing more is printed.
fn interrupted() -> Result<(), Failure> {
    match interrupt::requested() {
        true => Err(Failure::Interrupted),
        false => Ok(()),
    }
}

fn run(args: &Args) -> Result<(), Failure> {
    // clap's `requires = "bench"` is bypassed when another flag conflicts with --bench.
    if !args.bench && (args.plot.is_some() || args.bench_max.is_some()) {
        return Err(Failure::Usage(
            "--plot and --bench-max go with --bench only".into(),
        ));
    }
    // Every environment variable parsum reads, checked before any work.
    let forced = AutoOptions::from_env()?.force;
    if args.list {
        let text = output::list(args.json)?;
        interrupted()?;
        return Ok(out::print(&text)?);
    }
    if args.bench {
        let auto = Auto::new()?;
        // Noted even when the plot failed: the results were printed before it.
        let result = bench::run(&auto, args.bench_max, args.json, args.plot.as_deref());
        return result.and(note_unsaved(&auto, args.verbose));
    }
    let range = SumRange::from_bounds(args.start, args.end)?;
    let mut request = SumRequest::from_range(range)
        .verify(!args.no_verify)
        .cancel_on(&interrupt::STOP);
    if let Some(chunks) = args.chunks {
        request = request.chunks(chunks);
    }
    let plan = request.plan()?;
    if args.explain && args.backend != BackendArg::Auto {
        // Refused before a backend is built: opening a GPU for nothing takes a while.
        return Err(Failure::Usage("--explain goes with --backend auto".into()));
    }
    let backend = make_backend(args)?;
    if let Some(chunks) = args.chunks.filter(|&c| c > plan.len() && !plan.is_empty()) {
        out::note(&format!(
            "note: --chunks {chunks} is more than the {} elements: one element a chunk",
            range.len()
        ));
    }
    // --explain was refused above for any backend but auto.
    let explanation = match (&backend, args.explain) {
        (Chosen::Auto(auto), true) => Some(auto.explain_for(range.len(), plan.len())),
        _ => None,
    };
    interrupted()?;
    if let (Some(e), false) = (&explanation, args.json) {
        out::print(&format!("{e}\n\n"))?;
    }
    if args.verbose {
        out::tell(&format!(
            "running: {} elements in {} chunks on {}{}",
            range.len(),
            plan.len(),
            backend.kernel(),
            match (&backend, forced) {
                (Chosen::Auto(_), Some(kind)) => format!(" ({kind}, forced by PARSUM_BACKEND)"),
                _ => String::new(),
            }
        ))?;
        if let Chosen::Auto(auto) = &backend {
            out::tell(&format!("history: {}", auto.history()))?;
        }
    }
    let bar = progress::Bar::new(args.json, args.repeat.map_or(1, |n| n.saturating_add(1)));
    let observer = |p| bar.update(p);
    let request = request.observe(&observer);
    let next = || bar.next_run();
    let runs = timed_runs(&request, &backend, args.repeat, &next);
    bar.finish();
    // Ctrl-C after the sum's last check still means no result.
    interrupted()?;
    let runs = runs?;
    if let Some(why) = runs.choice.as_ref().and_then(|c| c.fallback.as_ref()) {
        out::note(&format!("warning: {why}"));
    }
    let kernel = match &backend {
        Chosen::Gpu(gpu) => gpu.last_kernel_time(),
        _ => None,
    };
    let text = if args.json {
        let explain = explanation.map(|e| e.to_string());
        format!("{}\n", output::json(&runs, kernel, explain))
    } else {
        output::human(&runs, kernel)
    };
    out::print(&text)?;
    match &backend {
        Chosen::Auto(auto) => note_unsaved(auto, args.verbose),
        _ => Ok(()),
    }
}

/// The history is saved as auto goes and when it is dropped; `-v` says when it could not be.
fn note_unsaved(auto: &Auto, verbose: bool) -> Result<(), Failure> {
    // Saved here only under `-v`: without it, the drop's save is the one try.
    if verbose && let Some(Err(e)) = auto.save() {
        out::tell(&format!("note: auto's history was not saved: {e}"))?;
    }
    Ok(())
}

/// The backend asked for, kept by its type so that GPU kernel times and auto's explanations can
/// be read.
enum Chosen {
    Cpu(Box<dyn Backend>),
    Gpu(Box<Gpu>),
    Auto(Box<Auto>),
}

impl Chosen {
    /// One run, and how auto chose (`None` for a backend named by flag).
    fn run(&self, request: &SumRequest<'_>) -> Result<(SumReport, Option<AutoReport>), Error> {
        Ok(match self {
            Chosen::Cpu(b) => (request.run(b.as_ref())?, None),
            Chosen::Gpu(g) => (request.run(g.as_ref())?, None),
            Chosen::Auto(a) => {
                let r = request.run(a.as_ref())?;
                (r.report.clone(), Some(r))
            }
        })
    }

    fn kernel(&self) -> String {
        match self {
            Chosen::Cpu(b) => b.info().kernel.to_string(),
            Chosen::Gpu(g) => g.info().kernel.to_string(),
            Chosen::Auto(_) => "auto's choice".into(),
        }
    }
}

fn make_backend(args: &Args) -> Result<Chosen, Failure> {
    if args.threads.is_some() && args.backend != BackendArg::Simd {
        return Err(Failure::Usage(
            "--threads applies to --backend simd only".into(),
        ));
    }
    if (args.adapter.is_some() || args.gpu_kernel.is_some()) && args.backend != BackendArg::Gpu {
        return Err(Failure::Usage(
            "--adapter and --gpu-kernel apply to --backend gpu only".into(),
        ));
    }
    Ok(match args.backend {
        BackendArg::Auto => Chosen::Auto(Box::new(Auto::new()?)),
        BackendArg::Scalar => Chosen::Cpu(Box::new(Scalar::new())),
        BackendArg::Simd => Chosen::Cpu(match args.threads {
            Some(n) => Box::new(Simd::with_threads(n)?),
            None => Box::new(Simd::new()),
        }),
        BackendArg::Gpu => {
            let mut options = GpuOptions::default();
            if let Some(a) = &args.adapter {
                options = options.adapter(match adapter_index(a) {
                    Some(Ok(index)) => AdapterChoice::Index(index),
                    // Past usize, as any index past the last: no GPU there (exit 3).
                    Some(Err(_)) => {
                        let why = format!("no adapter at index {} (see --list)", a.trim());
                        return Err(Failure::Backend(parsum::Error::GpuUnavailable(why)));
                    }
                    None => AdapterChoice::Name(a.clone()),
                });
            }
            if let Some(k) = args.gpu_kernel {
                options = options.kernel(match k {
                    GpuKernelArg::U32Pairs => GpuKernel::U32Pairs,
                    GpuKernelArg::NativeU64 => GpuKernel::NativeU64,
                });
            }
            Chosen::Gpu(Box::new(Gpu::with_options(options)?))
        }
    })
}

/// What the runs of one invocation gave.
pub struct Runs {
    /// The last run's report.
    pub report: SumReport,
    /// How auto chose (`None` for a backend named by flag).
    pub choice: Option<AutoReport>,
    /// Every timed run's duration (one run without `--repeat`).
    pub times: Vec<Duration>,
    /// The warm-up's duration, with `--repeat`.
    pub warm_up: Option<Duration>,
    /// Timed runs per backend, in the order each first ran: auto may explore or re-check another
    /// backend in some of them, and the times include those.
    pub ran_on: Vec<(BackendKind, u32)>,
}

/// One run, or a warm-up plus `repeat` timed runs. Ctrl-C is seen between runs as well as inside
/// them.
fn timed_runs(
    request: &SumRequest<'_>,
    chosen: &Chosen,
    repeat: Option<u32>,
    next_run: &dyn Fn(),
) -> Result<Runs, Failure> {
    let (mut report, mut choice) = chosen.run(request)?;
    let Some(n) = repeat else {
        let (times, ran_on) = (vec![report.elapsed], vec![(report.backend.kind, 1)]);
        return Ok(Runs {
            report,
            choice,
            times,
            warm_up: None,
            ran_on,
        });
    };
    let warm_up = Some(report.elapsed);
    let mut times = Vec::with_capacity(n as usize);
    let mut ran_on: Vec<(BackendKind, u32)> = Vec::new();
    for _ in 0..n {
        if interrupt::requested() {
            return Err(Failure::Interrupted);
        }
        next_run();
        // A fallback in any run (the warm-up's, most often: the GPU is opened there) is reported.
        let earlier = choice.as_mut().and_then(|c| c.fallback.take());
        (report, choice) = chosen.run(request)?;
        if let Some(c) = choice.as_mut() {
            c.fallback = c.fallback.take().or(earlier);
        }
        times.push(report.elapsed);
        match ran_on.iter_mut().find(|(k, _)| *k == report.backend.kind) {
            Some((_, count)) => *count += 1,
            None => ran_on.push((report.backend.kind, 1)),
        }
    }
    Ok(Runs {
        report,
        choice,
        times,
        warm_up,
        ran_on,
    })
}
