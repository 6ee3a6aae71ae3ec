//! `parsum`: sum a u64 range on a chosen backend, verify it, time it.
//!
//! Exit codes: 0 the sum is right, 1 verification failed, 2 usage error, 3 the backend failed
//! (no GPU, device lost).

mod number;
mod output;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use parsum::{Backend, Error, Scalar, Simd, SumRange, SumReport, SumRequest};

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
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum BackendArg {
    Scalar,
    Simd,
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
    let (report, times) = timed_runs(&request, backend.as_ref(), args.repeat)?;
    if args.json {
        println!("{}", output::json(&report, &times));
    } else {
        print!("{}", output::human(&report, &times));
    }
    Ok(())
}

fn make_backend(args: &Args) -> Result<Box<dyn Backend>, Failure> {
    Ok(match args.backend {
        BackendArg::Scalar => Box::new(Scalar::new()),
        BackendArg::Simd => match args.threads {
            Some(n) => Box::new(Simd::with_threads(n)?),
            None => Box::new(Simd::new()),
        },
    })
}

/// One run, or a warm-up plus `repeat` timed runs; returns the last report and every timed run's
/// duration.
fn timed_runs(
    request: &SumRequest<'_>,
    backend: &dyn Backend,
    repeat: Option<u32>,
) -> Result<(SumReport, Vec<Duration>), Failure> {
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
