//! [`Rng`]: the seeded generator of the random walks (here and in a backend's), the
//! device models' own.

pub use rtvisor_vdev::rng::Rng;
