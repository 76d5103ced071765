//! Bernoulli masks, the random part of every dropout: 1 with probability `keep`, else 0.

use burn::tensor::{Device, Distribution, Shape, Tensor};

/// A mask of `shape` on `device`, each value 1 with probability `keep`. On the flex backend it
/// is drawn on the host by a small fast generator (xoshiro, `rand`'s `SmallRng`) seeded from
/// two draws of burn's generator, so `device.seed(..)` still makes runs repeatable: burn's CPU
/// sampling costs ~17 ns a value (3.5 ms of a 46 ms step of the MNIST convnet, its dropout at
/// batch 128), this ~1 ns. Other backends draw with burn's `Tensor::random`.
pub(crate) fn mask<const D: usize>(
    shape: impl Into<Shape>,
    keep: f64,
    device: &Device,
) -> Tensor<D> {
    let shape = shape.into();
    #[cfg(feature = "flex")]
    if matches!(
        device.clone().inner().as_dispatch(),
        burn::backend::DispatchDevice::Flex(_)
    ) {
        use rand::{RngCore, SeedableRng};
        let seed = Tensor::<1>::random([2], Distribution::Uniform(0.0, 1.0), device)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap_or_default()
            .iter()
            .fold(0u64, |seed, v| {
                (seed << 24) ^ (f64::from(*v) * 16_777_216.0) as u64
            });
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        // `next_u32() < keep · 2³²` has probability `keep` (up to 2⁻³²).
        let threshold = (keep.clamp(0.0, 1.0) * 4_294_967_296.0) as u64;
        let values: Vec<f32> = (0..shape.num_elements())
            .map(|_| {
                if u64::from(rng.next_u32()) < threshold {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
        return Tensor::from_data(burn::tensor::TensorData::new(values, shape), device);
    }
    Tensor::random(shape, Distribution::Bernoulli(keep), device)
}
