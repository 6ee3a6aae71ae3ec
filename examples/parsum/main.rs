//! `parsum`: sum a u64 range on a chosen backend (or the fastest, by default), verify it, time it;
//! or compare every backend with `--bench`.
//!
//! Exit codes: 0 the sum is right, 1 verification failed, 2 usage error, 3 the backend failed
//! (no GPU, device lost), 130 interrupted by Ctrl-C.

mod bench;
mod bench_plot;
mod number;
mod output;
mod progress;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::{Parser, ValueEnum};
use parsum::{
    Auto, Backend, Error, Gpu, GpuKernel, GpuOptions, Scalar, Simd, SumRange, SumReport, SumRequest,
};

/// Sum a range of u64 values exactly — on one core, on every core with SIMD, on a GPU, or on
/// whichever is fastest for the size — and check the result against the closed form n·(a+b)/2.
#[derive(Parser, Debug)]
#[command(name = "parsum", version)]
struct Args {
    /// Backend that sums; auto picks the fastest for the range's size (PARSUM_BACKEND overrides
    /// auto's choice).
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    backend: BackendArg,
    /// First element (1000000000, 1_000_000_000, 1e9, 2^32 all work).
    #[arg(long, default_value = "0", value_parser = number::parse)]
    start: u128,
    /// One past the last element, at most 2^64 (so 2^64 includes u64::MAX).
    #[arg(long, default_value = "1e9", value_parser = number::parse)]
    end: u128,
    /// Number of chunks (default: 100, fewer for short ranges).
    #[arg(long, value_parser = number::parse)]
    chunks: Option<u128>,
    /// Worker threads for the simd backend (default: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// One warm-up run, then N timed runs; reports min, median and max.
    #[arg(long, value_name = "N")]
    repeat: Option<u32>,
    /// Skip the closed-form check of every chunk.
    #[arg(long)]
    no_verify: bool,
    /// Print one JSON object per run instead of text.
    #[arg(long)]
    json: bool,
    /// GPU adapter to use: part of its name (see --list); default: WGPU_ADAPTER_NAME, else the
    /// high-performance one.
    #[arg(long, value_name = "NAME")]
    adapter: Option<String>,
    /// GPU kernel: auto times both where the device has 64-bit integers and keeps the faster.
    #[arg(long, value_enum, default_value_t = GpuKernelArg::Auto)]
    gpu_kernel: GpuKernelArg,
    /// Print what auto measured and why it picks the backend it picks for this range.
    #[arg(long)]
    explain: bool,
    /// List every backend and GPU adapter, then exit.
    #[arg(long)]
    list: bool,
    /// Run every backend over sizes from 10^3 up (about a minute at most) and compare them.
    #[arg(long)]
    bench: bool,
    /// With --bench: the largest size measured.
    #[arg(long, value_name = "N", default_value = "1e12", value_parser = number::parse, requires = "bench")]
    bench_max: u128,
    /// With --bench: write a log-log plot of throughput against size to this SVG file.
    #[arg(long, value_name = "FILE.svg", requires = "bench")]
    plot: Option<PathBuf>,
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
    Auto,
    U32Pairs,
    NativeU64,
}

/// What went wrong, sorted by the exit code it earns.
enum Failure {
    Usage(String),
    Verification(Error),
    Backend(Error),
    Interrupted,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        match e {
            Error::Mismatch { .. } | Error::TotalMismatch { .. } | Error::MissingChunks { .. } => {
                Failure::Verification(e)
            }
            Error::InvalidRange { .. }
            | Error::ZeroChunks
            | Error::Threads(_)
            | Error::Config(_)
            | Error::NotCompiled { .. } => Failure::Usage(e.to_string()),
            Error::Cancelled => Failure::Interrupted,
            other => Failure::Backend(other),
        }
    }
}

/// Set by Ctrl-C; sums stop between pieces of work when it is.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

fn main() -> ExitCode {
    let args = Args::parse();
    // Without the handler Ctrl-C still ends the process, only less politely.
    let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::Relaxed));
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Verification(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
        Err(Failure::Backend(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(3)
        }
        Err(Failure::Interrupted) => {
            eprintln!("interrupted: no result");
            ExitCode::from(130)
        }
    }
}

fn run(args: &Args) -> Result<(), Failure> {
    if args.list {
        print!("{}", output::list(args.json));
        return Ok(());
    }
    let range = SumRange::from_bounds(args.start, args.end)?;
    if args.repeat == Some(0) {
        return Err(Failure::Usage("--repeat must be at least 1".into()));
    }
    let mut request = SumRequest::from_range(range)
        .verify(!args.no_verify)
        .cancel_on(&INTERRUPTED);
    if let Some(chunks) = args.chunks {
        let chunks = u64::try_from(chunks)
            .map_err(|_| Failure::Usage("--chunks must be below 2^64".into()))?;
        request = request.chunks(chunks);
    }
    request.plan()?;
    let backend = make_backend(args)?;
    if args.bench {
        let auto = match &backend {
            Chosen::Auto(auto) => auto,
            _ => {
                return Err(Failure::Usage(
                    "--bench compares every backend: leave out --backend".into(),
                ));
            }
        };
        return bench::run(
            auto,
            args.bench_max,
            args.json,
            args.plot.as_deref(),
            &INTERRUPTED,
        );
    }
    let explanation = match (&backend, args.explain) {
        (Chosen::Auto(auto), true) => Some(auto.explain(range.len())),
        (_, true) => return Err(Failure::Usage("--explain goes with --backend auto".into())),
        _ => None,
    };
    if let (Some(e), false) = (&explanation, args.json) {
        println!("{e}\n");
    }
    let bar = progress::Bar::new(request.plan()?.len(), args.json);
    let observer = |p| bar.update(p);
    let request = request.observe(&observer);
    let (report, times) = timed_runs(&request, &backend, args.repeat);
    bar.finish();
    let (report, times) = (report?, times);
    if let Some(why) = report.selection.as_ref().and_then(|s| s.fallback.as_ref()) {
        eprintln!("warning: {why}");
    }
    let kernel = match &backend {
        Chosen::Gpu(gpu) => gpu.last_kernel_time(),
        _ => None,
    };
    if args.json {
        let calibration = match &backend {
            Chosen::Gpu(gpu) => gpu.calibration(),
            _ => &[],
        };
        let explain = explanation.map(|e| e.to_string());
        println!(
            "{}",
            output::json(&report, &times, kernel, calibration, explain)
        );
    } else {
        print!("{}", output::human(&report, &times, kernel));
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
    fn get(&self) -> &dyn Backend {
        match self {
            Chosen::Cpu(b) => b.as_ref(),
            Chosen::Gpu(g) => g.as_ref(),
            Chosen::Auto(a) => a.as_ref(),
        }
    }
}

fn make_backend(args: &Args) -> Result<Chosen, Failure> {
    if args.threads.is_some() && args.backend != BackendArg::Simd {
        return Err(Failure::Usage(
            "--threads applies to --backend simd only".into(),
        ));
    }
    if (args.adapter.is_some() || args.gpu_kernel != GpuKernelArg::Auto)
        && args.backend != BackendArg::Gpu
    {
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
        BackendArg::Gpu => Chosen::Gpu(Box::new(Gpu::with_options(GpuOptions {
            adapter: args.adapter.clone(),
            kernel: match args.gpu_kernel {
                GpuKernelArg::Auto => None,
                GpuKernelArg::U32Pairs => Some(GpuKernel::U32Pairs),
                GpuKernelArg::NativeU64 => Some(GpuKernel::NativeU64),
            },
            ..GpuOptions::default()
        })?)),
    })
}

/// One run, or a warm-up plus `repeat` timed runs; returns the last report and every timed run's
/// duration.
fn timed_runs(
    request: &SumRequest<'_>,
    chosen: &Chosen,
    repeat: Option<u32>,
) -> (Result<SumReport, Failure>, Vec<Duration>) {
    let backend = chosen.get();
    let mut report = match request.run(backend) {
        Ok(r) => r,
        Err(e) => return (Err(e.into()), Vec::new()),
    };
    let Some(n) = repeat else {
        let once = report.elapsed;
        return (Ok(report), vec![once]);
    };
    let mut times = Vec::with_capacity(n as usize);
    for _ in 0..n {
        report = match request.run(backend) {
            Ok(r) => r,
            Err(e) => return (Err(e.into()), times),
        };
        times.push(report.elapsed);
    }
    (Ok(report), times)
}
