//! `BatchNormalization`: normalizes each feature with batch statistics while training and with
//! moving statistics at inference.

use burn::module::{Module, Param, RunningState};
use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::initializer::Initializer;
use crate::shape::Shape;
use crate::tensor::DynTensor;

fn momentum() -> f32 {
    0.99
}

fn epsilon() -> f32 {
    1e-3
}

fn minus_one() -> i64 {
    -1
}

fn ones() -> Initializer {
    Initializer::Ones
}

/// Normalizes the last axis (Keras `BatchNormalization`: momentum 0.99, ε 1e-3, `center` and
/// `scale` on).
///
/// In training (`fit`, or [`Model::call`](crate::Model::call) with `training = true`) the output
/// uses the batch mean and biased batch variance over every axis but the last, and the moving
/// statistics move towards them: `moving = moving · momentum + batch · (1 − momentum)`. At
/// inference (`predict`, `evaluate`) the moving statistics are used. `gamma` and `beta` are
/// trainable; `moving_mean` and `moving_variance` are weights too (saved, loaded, in
/// `get_weights`) but not trainable, and `summary` counts them as such.
///
/// # Examples
/// ```
/// use kiln_model::{BatchNormalization, Input, Sequential};
/// let model = Sequential::new().add(Input::new([8, 8, 3])).add(BatchNormalization::new())
///     .build(&burn::tensor::Device::flex())?;
/// let summary = model.summary();
/// assert_eq!((summary.trainable_params(), summary.non_trainable_params()), (6, 6));
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchNormalization {
    /// The layer's name (Keras: `batch_normalization`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The feature axis; only the last (`-1`, Keras's default) is supported.
    #[serde(default = "minus_one")]
    pub axis: i64,
    /// How much of the old moving statistics each training step keeps (default 0.99).
    #[serde(default = "momentum")]
    pub momentum: f32,
    /// Added to the variance (default 1e-3).
    #[serde(default = "epsilon")]
    pub epsilon: f32,
    /// Add the learned offset `beta` (default true).
    #[serde(default = "crate::layers::yes")]
    pub center: bool,
    /// Multiply by the learned `gamma` (default true).
    #[serde(default = "crate::layers::yes")]
    pub scale: bool,
    /// How `beta` is filled (default zeros).
    #[serde(default)]
    pub beta_initializer: Initializer,
    /// How `gamma` is filled (default ones).
    #[serde(default = "ones")]
    pub gamma_initializer: Initializer,
    /// How `moving_mean` is filled (default zeros).
    #[serde(default)]
    pub moving_mean_initializer: Initializer,
    /// How `moving_variance` is filled (default ones).
    #[serde(default = "ones")]
    pub moving_variance_initializer: Initializer,
}

impl Default for BatchNormalization {
    fn default() -> Self {
        Self::new()
    }
}

impl BatchNormalization {
    /// Keras's defaults.
    pub fn new() -> Self {
        Self {
            name: None,
            axis: -1,
            momentum: momentum(),
            epsilon: epsilon(),
            center: true,
            scale: true,
            beta_initializer: Initializer::Zeros,
            gamma_initializer: Initializer::Ones,
            moving_mean_initializer: Initializer::Zeros,
            moving_variance_initializer: Initializer::Ones,
        }
    }

    /// Sets the momentum of the moving statistics.
    pub fn momentum(mut self, momentum: f32) -> Self {
        self.momentum = momentum;
        self
    }

    /// Sets epsilon.
    pub fn epsilon(mut self, epsilon: f32) -> Self {
        self.epsilon = epsilon;
        self
    }

    /// Whether to learn an offset `beta`.
    pub fn center(mut self, center: bool) -> Self {
        self.center = center;
        self
    }

    /// Whether to learn a scale `gamma`.
    pub fn scale(mut self, scale: bool) -> Self {
        self.scale = scale;
        self
    }

    /// Sets the layer name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub(crate) fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        let last = input.rank() as i64;
        if self.axis != -1 && self.axis != last {
            return Err(format!(
                "BatchNormalization normalizes the last axis only (axis -1 or {last}), got axis {}",
                self.axis
            ));
        }
        if !(0.0..=1.0).contains(&self.momentum) {
            return Err(format!("momentum must be in [0, 1], got {}", self.momentum));
        }
        Ok(input.clone())
    }

    /// `(trainable, non_trainable)`.
    pub(crate) fn param_counts(&self, input: &Shape) -> (usize, usize) {
        let c = input.last().unwrap_or(0);
        (
            c * (usize::from(self.center) + usize::from(self.scale)),
            2 * c,
        )
    }

    pub(crate) fn build(
        &self,
        input: &Shape,
        rng: &mut StdRng,
        device: &Device,
    ) -> BatchNormalizationLayer {
        let c = input.last().unwrap_or(0);
        let mut vector = |init: Initializer| {
            Tensor::<1>::from_data(TensorData::new(init.sample(c, c, c, rng), [c]), device)
        };
        let gamma = self
            .scale
            .then(|| Param::from_tensor(vector(self.gamma_initializer)));
        let beta = self
            .center
            .then(|| Param::from_tensor(vector(self.beta_initializer)));
        BatchNormalizationLayer {
            gamma,
            beta,
            moving_mean: RunningState::new(vector(self.moving_mean_initializer)),
            moving_variance: RunningState::new(vector(self.moving_variance_initializer)),
            momentum: self.momentum,
            epsilon: self.epsilon,
        }
    }
}

/// The built `BatchNormalization`: `gamma`, `beta` (trainable, when present) and the moving
/// statistics (not trainable), `[channels]` each.
#[derive(Module, Debug)]
pub struct BatchNormalizationLayer {
    /// Scale.
    pub gamma: Option<Param<Tensor<1>>>,
    /// Offset.
    pub beta: Option<Param<Tensor<1>>>,
    /// Moving mean, updated in training only.
    pub moving_mean: RunningState<Tensor<1>>,
    /// Moving (biased) variance, updated in training only.
    pub moving_variance: RunningState<Tensor<1>>,
    #[module(skip)]
    momentum: f32,
    #[module(skip)]
    epsilon: f32,
}

impl BatchNormalizationLayer {
    fn normalize<const D: usize>(&self, x: Tensor<D>, training: bool) -> Tensor<D> {
        let dims = x.dims();
        let c = dims[D - 1];
        let rows: usize = dims[..D - 1].iter().product();
        let x = x.reshape([rows, c]);
        let (mean, var) = if training {
            let mean = x.clone().mean_dim(0);
            let var = (x.clone() - mean.clone()).square().mean_dim(0);
            let keep = self.momentum;
            let update = |state: &RunningState<Tensor<1>>, batch: Tensor<2>| {
                let batch = batch.detach().reshape([c]);
                state.update(state.value_sync() * keep + batch * (1.0 - keep));
            };
            update(&self.moving_mean, mean.clone());
            update(&self.moving_variance, var.clone());
            (mean, var)
        } else {
            (
                self.moving_mean.value_sync().reshape([1, c]),
                self.moving_variance.value_sync().reshape([1, c]),
            )
        };
        let mut y = (x - mean) / (var + self.epsilon).sqrt();
        if let Some(g) = &self.gamma {
            y = y * g.val().reshape([1, c]);
        }
        if let Some(b) = &self.beta {
            y = y + b.val().reshape([1, c]);
        }
        y.reshape(dims)
    }

    /// Normalizes the last axis; `training` uses (and records) batch statistics.
    pub fn forward(&self, x: DynTensor, training: bool) -> DynTensor {
        crate::dyn_map!(x, t => self.normalize(t, training))
    }
}
