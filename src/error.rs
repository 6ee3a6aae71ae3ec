//! The one error type every fallible parsum call returns.

/// Everything that can go wrong in parsum.
///
/// Library calls never panic on bad input and never return a wrong number: they return one of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The range's start lies after its end, or its end past 2^64.
    #[error("invalid range: {}", if start > end {
        format!("start {start} is after end {end} (end is exclusive)")
    } else {
        format!("end {end} is past 2^64 (end is exclusive: 2^64 includes u64::MAX)")
    })]
    InvalidRange {
        /// First element asked for.
        start: u128,
        /// One past the last element asked for.
        end: u128,
    },
    /// A chunk plan was asked for with zero chunks or a zero chunk length.
    #[error("the number of chunks and the chunk length must be at least 1")]
    ZeroChunks,
    /// A thread count out of range (a pool that cannot be started is [`Error::Unavailable`]).
    #[error("thread pool: {0}")]
    Threads(String),
    /// A SIMD kernel was asked for on a CPU that lacks the instructions it is compiled for.
    #[error("the {kernel} kernel needs the CPU feature `{feature}`, which this CPU lacks")]
    KernelUnavailable {
        /// The kernel asked for (`avx512`, `avx2`).
        kernel: &'static str,
        /// The CPU feature it needs.
        feature: &'static str,
    },
    /// A backend's partial sum for one chunk disagrees with the closed form.
    #[error(
        "verification failed on chunk {chunk} ({first}..={last}): got {got}, expected {expected}"
    )]
    Mismatch {
        /// Index of the chunk in its plan.
        chunk: u64,
        /// First element of the chunk.
        first: u64,
        /// Last element of the chunk (inclusive).
        last: u64,
        /// What the backend returned.
        got: u128,
        /// What the closed form says.
        expected: u128,
    },
    /// The chunk partials add up to something other than the range's closed form.
    #[error("verification failed on the total: got {got}, expected {expected}")]
    TotalMismatch {
        /// Sum of the partials received.
        got: u128,
        /// The range's closed form.
        expected: u128,
    },
    /// A backend reported a chunk's partial more than once (even a right one: the chunk it
    /// stands in for would be missing).
    #[error("verification failed: backend reported chunk {chunk} more than once")]
    DuplicateChunk {
        /// Index of the chunk in its plan.
        chunk: u64,
    },
    /// A backend reported a different number of chunks than its plan holds.
    #[error("backend reported {got} chunk results for a plan of {expected} chunks")]
    MissingChunks {
        /// Chunk results received.
        got: u64,
        /// Chunks in the plan.
        expected: u64,
    },
    /// A setting (an environment variable such as `PARSUM_BACKEND` or `WGPU_BACKEND`, or an
    /// option) is not understood; the message names it and the value.
    #[error("configuration: {0}")]
    Config(String),
    /// No backend that could run the request is usable (each one failed, or the kind that
    /// `PARSUM_BACKEND` forces is not there), or simd's thread pool could not be started; the
    /// message says why.
    #[error("{0}")]
    Unavailable(String),
    /// The sum was stopped by its cancellation token before it finished.
    #[error("cancelled")]
    Cancelled,
    /// parsum was built without the Cargo feature this backend needs.
    #[error("{backend} backend not available: parsum was built without the `{feature}` feature")]
    NotCompiled {
        /// The backend asked for.
        backend: &'static str,
        /// The Cargo feature that enables it.
        feature: &'static str,
    },
    /// No usable GPU adapter: says what was tried.
    #[error("no GPU available: {0}")]
    GpuUnavailable(String),
    /// The GPU failed during a call (validation error, failed map, poll time-out); the backend
    /// stays usable.
    #[error("GPU error: {0}")]
    Gpu(String),
    /// The GPU device was lost; this backend cannot be used again.
    #[error("GPU device lost: {0}")]
    DeviceLost(String),
}

/// Shorthand for `std::result::Result<T, parsum::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
