//! Failure paths of the GPU backend, provoked through hooks that only test builds have. Without
//! an adapter each test says it was skipped, and fails when `PARSUM_REQUIRE_GPU=1` (as in CI).

use super::batches::{BatchLimits, Batches, MAX_BATCH};
use super::buffers::Fault;
use super::*;
use crate::backend::lock;
use crate::chunk::{ChunkPlan, Chunking};
use crate::error::Error;
use crate::request::SumRequest;

fn gpu() -> Option<Gpu> {
    match Gpu::new() {
        Ok(g) => Some(g),
        Err(e) => {
            assert!(
                std::env::var("PARSUM_REQUIRE_GPU").as_deref() != Ok("1"),
                "no GPU but PARSUM_REQUIRE_GPU=1: {e}"
            );
            eprintln!("SKIPPED: no GPU backend: {e}");
            None
        }
    }
}

/// Destroys the device, as a driver reset would.
fn lose(dev: &device::Device) {
    dev.device.destroy();
    let _ = dev.device.poll(wgpu::PollType::Poll);
    let mut lost = lock(&dev.lost);
    if lost.is_none() {
        *lost = Some("device destroyed".into());
    }
}

fn right_sum(g: &Gpu) {
    let request = SumRequest::new((1 << 32) - 5000..(1 << 32) + 123_457)
        .unwrap()
        .chunks(9);
    let report = request.run(g).unwrap();
    assert_eq!(report.sum, report.expected);
}

fn provoke(fault: Fault, n: u64) -> Option<(Gpu, Error)> {
    let g = gpu()?;
    right_sum(&g);
    lock(&g.state).fault = Some(fault);
    let err = SumRequest::new(0..n).unwrap().run(&g).unwrap_err();
    lock(&g.state).fault = None;
    Some((g, err))
}

#[test]
fn a_time_out_leaves_the_backend_usable() {
    // Long enough that the zero wait finds the submission still running: its map is pending
    // when the call gives up.
    let Some((g, err)) = provoke(Fault::TimeOut, 1 << 32) else {
        return;
    };
    eprintln!("provoked: {err}");
    assert!(
        matches!(&err, Error::Gpu(m) if m.contains("timed out") || m.contains("Timeout")),
        "{err:?}"
    );
    right_sum(&g);
    right_sum(&g);
}

#[test]
fn a_map_error_leaves_the_backend_usable() {
    let Some((g, err)) = provoke(Fault::MapError, 1_000_000) else {
        return;
    };
    assert!(
        matches!(&err, Error::Gpu(m) if m.contains("mapping")),
        "{err:?}"
    );
    right_sum(&g);
}

#[test]
fn a_lost_device_stays_lost() {
    let Some(g) = gpu() else { return };
    right_sum(&g);
    lose(&g.dev);
    for _ in 0..2 {
        let err = SumRequest::new(0..1_000_000).unwrap().run(&g).unwrap_err();
        assert!(matches!(err, Error::DeviceLost(_)), "{err:?}");
    }
}

#[test]
fn the_self_test_reaches_every_path_of_the_shader() {
    for cpu_device in [false, true] {
        let device = BatchLimits::new(MAX_BATCH, 65535, cpu_device);
        let modes: Vec<_> = kernels::long_run_cases(device)
            .into_iter()
            .map(|(range, chunks, limits)| {
                let plan = ChunkPlan::new(range, Chunking::Count(chunks)).unwrap();
                let b: Vec<_> = Batches::new(&plan, limits).collect();
                assert!(b.iter().all(|b| b.groups as u64 <= device.max_groups()));
                (b[0].per_invocation, b[0].one_cut)
            })
            .collect();
        assert_eq!(modes, [(256, true), (128, true), (256, false)]);
    }
}
