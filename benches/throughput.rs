//! Throughput of every backend, in elements per second, and what choosing costs.
//!
//! Inputs are `black_box`ed inside the timed closure: a pure kernel called twice with the same
//! arguments would otherwise be computed once.
//!
//! Groups:
//! - `reference-*`: the bare AVX-512 kernels on one thread, no chunks, no verification — the
//!   carry-counting kernel parsum uses and the split-halves kernel it replaced — for
//!   `simd-1-thread` to be compared with in the same run;
//! - `scalar`, `simd-1-thread`, `simd` (every core): sizes from 10^5 to 10^10;
//! - `kernel-*`: each SIMD kernel this CPU runs, one thread, 10^8;
//! - `chunks-*`: 10^8 elements in 1, 100, 10^4 and 10^6 chunks on every backend, and 10^6
//!   one-element chunks: the cost of a chunk;
//! - `gpu`: end to end on whatever adapter wgpu finds;
//! - `auto`: `parsum::sum` of small ranges beside the same request asked directly (what choosing
//!   and recording cost), and `Auto::pick`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use parsum::{Backend, Chunking, Gpu, LaneKernel, Scalar, Simd, SumRange, SumRequest};

fn run(backend: &dyn Backend, n: u64, chunking: Chunking) -> u128 {
    let range = SumRange::new(black_box(0)..black_box(n)).expect("valid range");
    let request = SumRequest::from_range(range).chunking(chunking);
    request.run(backend).expect("verified sum").sum
}

fn group(c: &mut Criterion, name: &str, backend: &dyn Backend, sizes: &[u64]) {
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    for &n in sizes {
        g.throughput(Throughput::Elements(n));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter(|| run(backend, n, Chunking::Default))
        });
    }
    g.finish();
}

/// The kernels as they stand alone, for the same-run comparison of issue 9.
#[cfg(target_arch = "x86_64")]
mod reference {
    const N: usize = 32;

    /// parsum's AVX-512 kernel: full values into wrapping lanes, carry-outs counted.
    #[target_feature(enable = "avx512f")]
    pub fn carry(first: u64, n: u64) -> u128 {
        let mut v: [u64; N] = std::array::from_fn(|j| first.wrapping_add(j as u64));
        let (mut acc, mut carries) = ([0u64; N], [0u64; N]);
        for _ in 0..n / N as u64 {
            for j in 0..N {
                let sum = acc[j].wrapping_add(v[j]);
                carries[j] += u64::from(sum < v[j]);
                acc[j] = sum;
                v[j] = v[j].wrapping_add(N as u64);
            }
        }
        let low: u128 = acc.iter().map(|&a| a as u128).sum();
        let high: u128 = carries.iter().map(|&c| c as u128).sum();
        low + (high << 64)
    }

    /// The kernel it replaced: each value's 32-bit halves into separate lanes.
    #[target_feature(enable = "avx512f")]
    pub fn split(first: u64, n: u64) -> u128 {
        let mut v: [u64; N] = std::array::from_fn(|j| first.wrapping_add(j as u64));
        let (mut lo, mut hi) = ([0u64; N], [0u64; N]);
        for _ in 0..n / N as u64 {
            for j in 0..N {
                lo[j] += v[j] & 0xFFFF_FFFF;
                hi[j] += v[j] >> 32;
                v[j] = v[j].wrapping_add(N as u64);
            }
        }
        let lo: u128 = lo.iter().map(|&x| x as u128).sum();
        let hi: u128 = hi.iter().map(|&x| x as u128).sum();
        lo + (hi << 32)
    }
}

#[cfg(target_arch = "x86_64")]
fn references(c: &mut Criterion) {
    if !std::arch::is_x86_feature_detected!("avx512f") {
        eprintln!("reference benches skipped: no AVX-512F");
        return;
    }
    type Kernel = unsafe fn(u64, u64) -> u128;
    for (name, kernel) in [
        ("reference-carry", reference::carry as Kernel),
        ("reference-split", reference::split as Kernel),
    ] {
        let mut g = c.benchmark_group(name);
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(2));
        for n in [100_000_000u64, 10_000_000_000] {
            g.throughput(Throughput::Elements(n));
            g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
                // SAFETY: AVX-512F was detected on this CPU just above.
                b.iter(|| unsafe { kernel(black_box(0), black_box(n)) })
            });
        }
        g.finish();
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn references(_: &mut Criterion) {}

fn cpu(c: &mut Criterion) {
    group(
        c,
        "scalar",
        &Scalar::new(),
        &[100_000, 1_000_000, 100_000_000, 1_000_000_000],
    );
    let sizes = [
        100_000,
        300_000,
        1_000_000,
        3_000_000,
        10_000_000,
        100_000_000,
        1_000_000_000,
    ];
    let one = Simd::with_threads(1).unwrap();
    group(c, "simd-1-thread", &one, &sizes);
    group(c, "simd-1-thread", &one, &[10_000_000_000]);
    let every = Simd::new();
    group(c, "simd", &every, &sizes);
    group(c, "simd", &every, &[10_000_000_000]);
}

fn kernels(c: &mut Criterion) {
    for kernel in LaneKernel::available() {
        let backend = Simd::with_threads(1).unwrap().kernel(kernel).unwrap();
        group(
            c,
            &format!("kernel-{}", kernel.name()),
            &backend,
            &[100_000_000],
        );
    }
}

fn chunks(c: &mut Criterion) {
    let mut backends: Vec<(String, Box<dyn Backend>)> = vec![
        ("scalar".into(), Box::new(Scalar::new())),
        ("simd".into(), Box::new(Simd::new())),
    ];
    match Gpu::new() {
        Ok(gpu) => backends.push((format!("gpu ({})", gpu.adapter().describe()), Box::new(gpu))),
        Err(e) => eprintln!("gpu chunk benches skipped: {e}"),
    }
    for (name, backend) in &backends {
        let mut g = c.benchmark_group(format!("chunks-{name}"));
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(2));
        let n = 100_000_000u64;
        g.throughput(Throughput::Elements(n));
        for chunks in [1u64, 100, 10_000, 1_000_000] {
            g.bench_with_input(BenchmarkId::new("1e8", chunks), &chunks, |b, &k| {
                b.iter(|| run(backend.as_ref(), n, Chunking::Count(k)))
            });
        }
        let n = 1_000_000u64;
        g.throughput(Throughput::Elements(n));
        g.bench_function("1e6 one-element chunks", |b| {
            b.iter(|| run(backend.as_ref(), n, Chunking::Length(1)))
        });
        g.finish();
    }
}

/// The GPU's work is waited for inside the timed region: a call returns after the readback.
fn gpu(c: &mut Criterion) {
    match Gpu::new() {
        Ok(gpu) => {
            let name = format!("gpu ({})", gpu.adapter().describe());
            let sizes = [1_000, 1_000_000, 100_000_000, 1_000_000_000, 10_000_000_000];
            group(c, &name, &gpu, &sizes);
        }
        Err(e) => eprintln!("gpu benches skipped: {e}"),
    }
}

/// Auto's own cost. `parsum::sum` of small ranges end to end (the process-wide `Auto` made,
/// and warm, before timing) beside the same request on the backend it picks, asked directly
/// (which reads the clock twice, as every `SumRequest::run` does: `clock` times that), so that
/// choosing and recording cost `parsum::sum − (direct − clock)`.
fn auto(c: &mut Criterion) {
    let auto = parsum::Auto::global().expect("auto builds");
    let mut g = c.benchmark_group("auto");
    g.sample_size(50).measurement_time(Duration::from_secs(2));
    g.bench_function("pick", |b| b.iter(|| auto.pick(black_box(1_000_000_000))));
    g.bench_function("clock", |b| {
        b.iter(|| black_box(std::time::Instant::now()).elapsed())
    });
    let simd = Simd::new();
    for n in [1_000u64, 10_000] {
        // Warm: a process's first sums at a size are predicted cold (where scalar may lead).
        for _ in 0..10_000 {
            parsum::sum(0..n).unwrap();
        }
        assert_eq!(
            auto.pick(n as u128),
            Some(parsum::BackendKind::Simd),
            "bench assumes simd"
        );
        g.throughput(Throughput::Elements(n));
        g.bench_with_input(BenchmarkId::new("parsum::sum", n), &n, |b, &n| {
            b.iter(|| parsum::sum(black_box(0)..black_box(n)).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("direct", n), &n, |b, &n| {
            b.iter(|| run(&simd, n, Chunking::Default))
        });
    }
    g.finish();
}

criterion_group!(benches, references, cpu, kernels, chunks, gpu, auto);
criterion_main!(benches);
