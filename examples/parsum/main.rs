//! `parsum`: sum a u64 range on a chosen backend, verify it, time it.
//!
//! Exit codes: 0 the sum is right, 1 verification failed, 2 usage error, 3 the backend failed
//! (no GPU, device lost).

mod number;
mod output;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use parsum::{
    Backend, Error, Gpu, GpuKernel, GpuOptions, Scalar, Simd, SumRange, SumReport, SumRequest,
};

/// Sum a range of u64 values exactly, on one core or every core with SIMD, and check the result
/// against the closed form n·(a+b)/2.
#[derive(Parser, Debug)]
#[command(name = "parsum", version)]
struct Args {
    /// Backend that sums.
    #[arg(long, value_enum, default_value_t = BackendArg::Simd)]
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
    /// List every backend and GPU adapter, then exit.
    #[arg(long)]
    list: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum BackendArg {
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
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        match e {
            Error::Mismatch { .. } | Error::TotalMismatch { .. } | Error::MissingChunks { .. } => {
                Failure::Verification(e)
            }
            Error::InvalidRange { .. } | Error::ZeroChunks | Error::Threads(_) => {
                Failure::Usage(e.to_string())
            }
            Error::NotCompiled { .. } => Failure::Usage(e.to_string()),
            other => Failure::Backend(other),
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
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
    let mut request = SumRequest::from_range(range).verify(!args.no_verify);
    if let Some(chunks) = args.chunks {
        let chunks = u64::try_from(chunks)
            .map_err(|_| Failure::Usage("--chunks must be below 2^64".into()))?;
        request = request.chunks(chunks);
    }
    request.plan()?;
    let backend = make_backend(args)?;
    let (report, times) = timed_runs(&request, &backend, args.repeat)?;
    let kernel = backend.gpu.as_ref().and_then(Gpu::last_kernel_time);
    if args.json {
        let calibration = backend.gpu.as_ref().map_or(&[][..], Gpu::calibration);
        println!("{}", output::json(&report, &times, kernel, calibration));
    } else {
        print!("{}", output::human(&report, &times, kernel));
    }
    Ok(())
}

/// The backend asked for; the GPU is kept by its type so that its kernel time can be read.
struct Chosen {
    cpu: Option<Box<dyn Backend>>,
    gpu: Option<Gpu>,
}

impl Chosen {
    fn get(&self) -> &dyn Backend {
        match (&self.cpu, &self.gpu) {
            (Some(cpu), _) => cpu.as_ref(),
            (None, Some(gpu)) => gpu,
            (None, None) => unreachable!("a backend is always chosen"),
        }
    }
}

fn make_backend(args: &Args) -> Result<Chosen, Failure> {
    if args.threads.is_some() && args.backend != BackendArg::Simd {
        return Err(Failure::Usage(
            "--threads applies to --backend simd only".into(),
        ));
    }
    if args.adapter.is_some() && args.backend != BackendArg::Gpu {
        return Err(Failure::Usage(
            "--adapter applies to --backend gpu only".into(),
        ));
    }
    let cpu: Box<dyn Backend> = match args.backend {
        BackendArg::Scalar => Box::new(Scalar::new()),
        BackendArg::Simd => match args.threads {
            Some(n) => Box::new(Simd::with_threads(n)?),
            None => Box::new(Simd::new()),
        },
        BackendArg::Gpu => {
            let gpu = Gpu::with_options(GpuOptions {
                adapter: args.adapter.clone(),
                kernel: match args.gpu_kernel {
                    GpuKernelArg::Auto => None,
                    GpuKernelArg::U32Pairs => Some(GpuKernel::U32Pairs),
                    GpuKernelArg::NativeU64 => Some(GpuKernel::NativeU64),
                },
                ..GpuOptions::default()
            })?;
            return Ok(Chosen {
                cpu: None,
                gpu: Some(gpu),
            });
        }
    };
    Ok(Chosen {
        cpu: Some(cpu),
        gpu: None,
    })
}

/// One run, or a warm-up plus `repeat` timed runs; returns the last report and every timed run's
/// duration.
fn timed_runs(
    request: &SumRequest<'_>,
    chosen: &Chosen,
    repeat: Option<u32>,
) -> Result<(SumReport, Vec<Duration>), Failure> {
    let backend = chosen.get();
    let mut report = request.run(backend)?;
    let Some(n) = repeat else {
        let once = report.elapsed;
        return Ok((report, vec![once]));
    };
    let mut times = Vec::with_capacity(n as usize);
    for _ in 0..n {
        report = request.run(backend)?;
        times.push(report.elapsed);
    }
    Ok((report, times))
}
