//! Throughput of every backend, in elements per second.
//!
//! Inputs are `black_box`ed inside the timed closure: a pure kernel called twice with the same
//! arguments would otherwise be computed once.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use parsum::{Backend, Gpu, LaneKernel, Scalar, Simd, SumRequest};

fn run(backend: &dyn Backend, start: u64, n: u64) -> u128 {
    let request = SumRequest::new(black_box(start)..black_box(start + n)).expect("valid range");
    request.run(backend).expect("verified sum").sum
}

fn group(c: &mut Criterion, name: &str, backend: &dyn Backend, sizes: &[u64]) {
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for &n in sizes {
        g.throughput(Throughput::Elements(n));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter(|| run(backend, 0, n))
        });
    }
    g.finish();
}

fn cpu(c: &mut Criterion) {
    let sizes = [1_000_000, 100_000_000, 1_000_000_000];
    group(c, "scalar", &Scalar::new(), &sizes);
    group(c, "simd", &Simd::new(), &sizes);
    group(c, "simd-1-thread", &Simd::with_threads(1).unwrap(), &sizes);
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

/// Auto's own cost: choosing a backend, and `parsum::sum` of a small range end to end (the
/// process-wide `Auto` is built, and calibrated or read from the cache, before timing).
fn auto(c: &mut Criterion) {
    let auto = parsum::global().expect("auto builds");
    let mut g = c.benchmark_group("auto");
    g.sample_size(50).measurement_time(Duration::from_secs(2));
    g.bench_function("pick", |b| b.iter(|| auto.pick(black_box(1_000_000_000))));
    for n in [1_000u64, 10_000] {
        g.throughput(Throughput::Elements(n));
        g.bench_with_input(BenchmarkId::new("parsum::sum", n), &n, |b, &n| {
            b.iter(|| parsum::sum(black_box(0)..black_box(n)).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, cpu, kernels, gpu, auto);
criterion_main!(benches);
