//! Kiln does the same arithmetic as the same model written directly on burn: from the same
//! initial weights and the same batch order, 300 steps on an MNIST subset give the same losses
//! and weights to float tolerance.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../examples/raw/mlp.rs"]
#[allow(dead_code)]
mod raw;

use burn::module::Module;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{ModuleOptimizer, RecordState, SgdConfig, StateSink, StateSource};
use burn::tensor::{Tensor, TensorData};
use kiln::prelude::*;
use ndarray::{Axis, Slice};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

const SAMPLES: usize = 3200; // 100 steps of 32 per epoch
const EPOCHS: usize = 3;
const SEED: u64 = 11;

fn flat(model: &raw::Mlp) -> Vec<Vec<f32>> {
    let model = model.valid();
    let v = |t: burn::tensor::TensorData| t.convert::<f32>().try_to_vec::<f32>().unwrap();
    vec![
        v(model.hidden.weight.val().into_data()),
        v(model.hidden.bias.as_ref().unwrap().val().into_data()),
        v(model.output.weight.val().into_data()),
        v(model.output.bias.as_ref().unwrap().val().into_data()),
    ]
}

/// Trains both and returns the largest differences: (per-epoch loss, any weight).
fn compare(kiln_optimizer: Optimizer, mut raw_optimizer: ModuleOptimizer, lr: f64) -> (f64, f32) {
    let ((x, y), _) = kiln::datasets::mnist::load_data().unwrap();
    let rows = Slice::from(..SAMPLES);
    let (x, y) = (
        x.slice_axis(Axis(0), rows).to_owned(),
        y.slice_axis(Axis(0), rows).to_owned(),
    );

    let device = Device::flex();
    let model = Sequential::new()
        .add(Input::new([28, 28]))
        .add(Flatten::new())
        .add(Dense::new(128).activation(Activation::Relu))
        .add(Dense::new(10).activation(Activation::Softmax))
        .seed(SEED)
        .build(&device)
        .unwrap();
    let initial: Vec<Vec<f32>> = model
        .get_weights()
        .unwrap()
        .iter()
        .map(|w| w.iter().copied().collect())
        .collect();

    // Kiln.
    let mut kiln_model = model
        .compile(
            kiln_optimizer,
            Loss::SparseCategoricalCrossentropy,
            [Metric::Accuracy],
        )
        .unwrap();
    let history = kiln_model
        .fit(
            &scale_pixels(&x),
            &y,
            FitOptions::new().epochs(EPOCHS).seed(SEED).verbose(0),
        )
        .unwrap();
    let kiln_weights: Vec<Vec<f32>> = kiln_model
        .get_weights()
        .unwrap()
        .iter()
        .map(|w| w.iter().copied().collect())
        .collect();

    // Raw burn, same weights, same order (Kiln shuffles 0..n with one seeded StdRng per fit).
    let train_device = device.clone().autodiff();
    let mut raw_model = raw::Mlp::from_weights(&initial, &train_device);
    let (xs, ys) = raw::to_device(&x, &y, &train_device);
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut max_loss_diff = 0.0f64;
    for epoch in 0..EPOCHS {
        let mut order: Vec<i64> = (0..SAMPLES as i64).collect();
        order.shuffle(&mut rng);
        let (m, loss) = raw::train_epoch(
            raw_model,
            &mut raw_optimizer,
            lr,
            &xs,
            &ys,
            &order,
            32,
            &train_device,
        );
        raw_model = m;
        let kiln_loss = history.get("loss").unwrap()[epoch];
        max_loss_diff = max_loss_diff.max((kiln_loss - loss).abs() / loss);
    }
    let mut max_weight_diff = 0.0f32;
    for (a, b) in kiln_weights.iter().zip(flat(&raw_model)) {
        for (p, q) in a.iter().zip(&b) {
            max_weight_diff = max_weight_diff.max((p - q).abs());
        }
    }
    (max_loss_diff, max_weight_diff)
}

#[test]
fn kiln_and_raw_burn_sgd_momentum_agree() {
    // Keras's SGD (v = μv − lr·g) equals burn's momentum without dampening.
    let raw = SgdConfig::new()
        .with_momentum(Some(MomentumConfig {
            momentum: 0.9,
            dampening: 0.0,
            nesterov: false,
        }))
        .init();
    let (loss, weights) = compare(Optimizer::sgd().momentum(0.9), raw, 0.01);
    println!("sgd+momentum: relative loss difference {loss:.2e}, weight difference {weights:.2e}");
    assert!(
        loss < 1e-5,
        "per-epoch losses differ by {loss:e} (relative)"
    );
    assert!(weights < 1e-5, "weights differ by {weights:e}");
}

/// Keras's Adam written as a burn-optim `Optimizer`, as a burn user porting Keras numbers would
/// (burn's own Adam adds ε to √v̂, PyTorch's form; Keras adds it to √v).
#[derive(Clone)]
struct KerasAdam;

#[derive(Clone)]
struct KerasAdamState<const D: usize> {
    t: i32,
    m: Tensor<D>,
    v: Tensor<D>,
}

impl<const D: usize> RecordState for KerasAdamState<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        out.push_tensor(prefix, "m", self.m.to_data());
        out.push_tensor(prefix, "v", self.v.to_data());
        out.push_tensor(prefix, "t", TensorData::new(vec![self.t], [1]));
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, device: &Device) -> Option<Self> {
        let t = src.take_tensor(prefix, "t")?.try_to_vec::<i32>().ok()?[0];
        Some(Self {
            t,
            m: Tensor::from_data(src.take_tensor(prefix, "m")?, device),
            v: Tensor::from_data(src.take_tensor(prefix, "v")?, device),
        })
    }
}

impl burn::optim::Optimizer for KerasAdam {
    type State<const D: usize> = KerasAdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: f64,
        p: Tensor<D>,
        g: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-7f32);
        let (t, m, v) = match state {
            Some(s) => (
                s.t + 1,
                s.m * b1 + g.clone() * (1.0 - b1),
                s.v * b2 + g.square() * (1.0 - b2),
            ),
            None => (1, g.clone() * (1.0 - b1), g.square() * (1.0 - b2)),
        };
        let alpha = lr as f32 * (1.0 - b2.powi(t)).sqrt() / (1.0 - b1.powi(t));
        let p = p - m.clone().div(v.clone().sqrt() + eps) * alpha;
        (p, Some(KerasAdamState { t, m, v }))
    }

    fn to_device<const D: usize>(s: Self::State<D>, device: &Device) -> Self::State<D> {
        KerasAdamState {
            t: s.t,
            m: s.m.to_device(device),
            v: s.v.to_device(device),
        }
    }
}

#[test]
fn kiln_and_raw_burn_adam_agree() {
    let (loss, weights) = compare(Optimizer::adam(), ModuleOptimizer::from(KerasAdam), 1e-3);
    println!("adam: relative loss difference {loss:.2e}, weight difference {weights:.2e}");
    assert!(
        loss < 1e-5,
        "per-epoch losses differ by {loss:e} (relative)"
    );
    // Adam divides by √v: for weights of pixels that are almost always 0, v is tiny and
    // last-bit differences in the gradient (burn's cross-entropy sums in another order than
    // Kiln's fused log-softmax) grow to ~3e-5 over 300 steps; weights are ~0.05 in size.
    assert!(weights < 1e-4, "weights differ by {weights:e}");
}
