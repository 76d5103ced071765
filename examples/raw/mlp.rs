//! The MNIST MLP written directly on burn 0.22: its own module, batching, optimizer and loop.
//! Shared by `mnist_mlp_raw_burn` (the example), `bench_mnist` and the equivalence test.

use burn::module::{Module, Param};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Int, Tensor, TensorData};
use ndarray::{Array1, Array3};

/// 784 → 128 (relu) → 10, returning logits.
#[derive(Module, Debug)]
pub struct Mlp {
    pub hidden: Linear,
    pub output: Linear,
}

impl Mlp {
    /// Glorot-uniform kernels and zero biases, as Keras (burn's default is Kaiming for both).
    pub fn new(device: &Device) -> Self {
        let layer = |d_in, d_out| {
            let mut linear = LinearConfig::new(d_in, d_out)
                .with_initializer(Initializer::XavierUniform { gain: 1.0 })
                .init(device);
            linear.bias = Some(Param::from_tensor(Tensor::zeros([d_out], device)));
            linear
        };
        Self {
            hidden: layer(784, 128),
            output: layer(128, 10),
        }
    }

    /// A model with given weights (kernels `[in, out]` as burn's and Keras's layout).
    #[allow(dead_code)]
    pub fn from_weights(weights: &[Vec<f32>], device: &Device) -> Self {
        let linear = |k: &[f32], b: &[f32], d_in: usize, d_out: usize| Linear {
            weight: Param::from_tensor(Tensor::from_data(
                TensorData::new(k.to_vec(), [d_in, d_out]),
                device,
            )),
            bias: Some(Param::from_tensor(Tensor::from_data(
                TensorData::new(b.to_vec(), [d_out]),
                device,
            ))),
        };
        Self {
            hidden: linear(&weights[0], &weights[1], 784, 128),
            output: linear(&weights[2], &weights[3], 128, 10),
        }
    }

    pub fn forward(&self, images: Tensor<2>) -> Tensor<2> {
        self.output.forward(relu(self.hidden.forward(images)))
    }
}

/// Images scaled to [0, 1] and flattened `[n, 784]`, labels `[n]`, on `device`.
pub fn to_device(
    images: &Array3<u8>,
    labels: &Array1<u8>,
    device: &Device,
) -> (Tensor<2>, Tensor<1, Int>) {
    let n = labels.len();
    let pixels: Vec<f32> = images.iter().map(|p| f32::from(*p) / 255.0).collect();
    let ids: Vec<i64> = labels.iter().map(|l| i64::from(*l)).collect();
    (
        Tensor::from_data(TensorData::new(pixels, [n, 784]), device),
        Tensor::from_data(TensorData::new(ids, [n]), device),
    )
}

/// One epoch over the samples in `order`, batches of `batch_size`; returns the model and the
/// mean training loss over the epoch's samples.
#[allow(clippy::too_many_arguments)]
pub fn train_epoch(
    mut model: Mlp,
    optimizer: &mut ModuleOptimizer,
    lr: f64,
    x: &Tensor<2>,
    y: &Tensor<1, Int>,
    order: &[i64],
    batch_size: usize,
    device: &Device,
) -> (Mlp, f64) {
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let n = order.len();
    let order = Tensor::<1, Int>::from_data(TensorData::new(order.to_vec(), [n]), device);
    let mut loss_sum = Tensor::<1>::zeros([1], device);
    for start in (0..n).step_by(batch_size) {
        let len = batch_size.min(n - start);
        let idx = order.clone().narrow(0, start, len);
        let logits = model.forward(x.clone().select(0, idx.clone()));
        let loss = loss_fn.forward(logits, y.clone().select(0, idx));
        loss_sum = loss_sum + loss.clone().detach().inner() * len as f32;
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optimizer.step(lr, model, grads);
    }
    let total = loss_sum.into_scalar::<f32>();
    (model, f64::from(total) / n as f64)
}

/// Fraction of samples whose largest logit is the label.
#[allow(dead_code)]
pub fn accuracy(model: &Mlp, x: &Tensor<2>, y: &Tensor<1, Int>) -> f64 {
    let n = y.dims()[0];
    let model = model.valid();
    let predicted = model.forward(x.clone().inner()).argmax(1).reshape([n]);
    let correct = predicted
        .equal(y.clone().inner())
        .int()
        .sum()
        .into_scalar::<i64>();
    correct as f64 / n as f64
}
