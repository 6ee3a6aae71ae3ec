//! The CPU backends: [`Scalar`] (one add per element on the calling thread) and [`Simd`] (lane
//! kernels on the calling thread and the helpers of a [`pool`]), sharing one way of cutting a
//! plan into pieces ([`pieces`]).

mod lanes;
mod name;
mod pieces;
mod pool;
mod scalar;
mod simd;

pub use lanes::LaneKernel;
pub use scalar::Scalar;
pub use simd::Simd;

pub(crate) use name::cpu_name;
