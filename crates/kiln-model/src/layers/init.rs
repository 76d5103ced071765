//! Creating a layer's weights from its initializer (drawn on the host, seeded).

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::StdRng;

use crate::initializer::Initializer;

/// A `dims`-shaped weight filled by `init` with the given fans (Keras's `compute_fans`).
pub(crate) fn weight<const D: usize>(
    init: Initializer,
    dims: [usize; D],
    fans: (usize, usize),
    rng: &mut StdRng,
    device: &Device,
) -> Param<Tensor<D>> {
    let n = dims.iter().product();
    let values = init.sample(n, fans.0, fans.1, rng);
    Param::from_tensor(Tensor::from_data(TensorData::new(values, dims), device))
}
