//! `Model`: a built `Sequential`, a burn module with its weights.

use std::sync::Arc;

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use ndarray::ArrayD;

use crate::activation::Activation;
use crate::data::{ArrayInput, HostData};
use crate::error::{Error, Result};
use crate::layers::Layer;
use crate::samples::Samples;
use crate::sequential::Sequential;
use crate::shape::{Shape, format_dims};
use crate::summary::{LayerInfo, Summary};
use crate::tensor::DynTensor;

/// What `build` learned about the model: its spec, input shape and per-layer rows.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// The architecture it was built from.
    pub spec: Sequential,
    /// The shape of one input sample.
    pub input_shape: Shape,
    /// One row per layer (name, class, output shape, parameter counts).
    pub rows: Vec<LayerInfo>,
}

/// A built model: its layers as burn modules (with weights) and what shape inference found.
///
/// `Model` is a burn [`Module`], so burn's tools (device moves, `valid()`, records) apply.
#[derive(Module, Debug)]
pub struct Model {
    layers: Vec<Layer>,
    #[module(skip)]
    info: Arc<ModelInfo>,
    #[module(skip)]
    device: Device,
}

impl Model {
    pub(crate) fn from_parts(layers: Vec<Layer>, info: Arc<ModelInfo>, device: Device) -> Self {
        Self {
            layers,
            info,
            device,
        }
    }

    /// The built layers (the `Input` has none), in order.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// The device the model was built for.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Moves the model to another device (e.g. `device.clone().autodiff()` for training),
    /// as a fresh copy with its own autodiff graph.
    pub fn fork_to(self, device: &Device) -> Self {
        let mut model = self.fork(device);
        model.device = device.clone();
        model
    }

    /// The architecture it was built from.
    pub fn config(&self) -> &Sequential {
        &self.info.spec
    }

    /// The model's name.
    pub fn name(&self) -> &str {
        &self.info.spec.name
    }

    /// The shape of one input sample.
    pub fn input_shape(&self) -> &Shape {
        &self.info.input_shape
    }

    /// The shape of one output sample.
    pub fn output_shape(&self) -> &Shape {
        self.info
            .rows
            .last()
            .map_or(&self.info.input_shape, |r| &r.output_shape)
    }

    /// The activation of the last layer (so a loss can fuse softmax/sigmoid with its log).
    pub fn output_activation(&self) -> Activation {
        match self.layers.last() {
            Some(Layer::Dense(d)) => d.activation,
            Some(Layer::Conv2d(c)) => c.activation,
            Some(Layer::Conv1d(c)) => c.activation,
            Some(Layer::Activation(a)) => a.activation,
            _ => Activation::Linear,
        }
    }

    /// Keras's summary table; print it with `println!("{}", model.summary())`.
    pub fn summary(&self) -> Summary {
        Summary {
            name: self.info.spec.name.clone(),
            layers: self.info.rows.clone(),
        }
    }

    /// The number of weights (trainable and not).
    pub fn count_params(&self) -> usize {
        self.summary().total_params()
    }

    /// Runs the model on a batch.
    ///
    /// # Errors
    /// Only for a rank the layers cannot take; check data with [`Model::check_input`] first.
    pub fn forward(&self, x: DynTensor) -> Result<DynTensor> {
        self.layers
            .iter()
            .try_fold(x, |x, layer| layer.forward(x, false))
    }

    /// Runs the model but stops before the last layer's activation, returning it. Losses use
    /// this to fuse softmax with cross-entropy (a stable log-softmax), as Keras does.
    ///
    /// # Errors
    /// As [`Model::forward`].
    /// `training` turns on training-only behaviour (dropout).
    pub fn forward_pre_activation(
        &self,
        x: DynTensor,
        training: bool,
    ) -> Result<(DynTensor, Activation)> {
        let Some((last, rest)) = self.layers.split_last() else {
            return Ok((x, Activation::Linear));
        };
        let x = rest
            .iter()
            .try_fold(x, |x, layer| layer.forward(x, training))?;
        last.forward_pre_activation(x, training)
    }

    /// The sum of every layer's weight penalties (`kernel_regularizer`, ...), which `fit` adds to
    /// the loss; `None` when no layer has one.
    pub fn regularization_loss(&self) -> Option<Tensor<1>> {
        self.layers
            .iter()
            .filter_map(Layer::regularization_loss)
            .reduce(|a, b| a + b)
    }

    /// Runs the model once on all of `x` as one batch, like Keras's `model(x, training=...)`.
    /// With `training = true`, training-only behaviour is on: dropout drops, and
    /// BatchNormalization normalizes with the batch statistics and updates its moving ones.
    ///
    /// # Errors
    /// [`Error::DataShape`] when `x` does not match the input shape.
    ///
    /// # Examples
    /// ```
    /// use kiln_model::{BatchNormalization, Input, Sequential};
    /// let model = Sequential::new().add(Input::new([2])).add(BatchNormalization::new())
    ///     .build(&burn::tensor::Device::flex())?;
    /// let x = ndarray::array![[1.0f32, 2.0], [3.0, 6.0]];
    /// let y = model.call(&x, true)?;
    /// assert!((y[[0, 0]] + y[[1, 0]]).abs() < 1e-6); // batch statistics: centered
    /// let moving_mean = &model.get_weights()?[2];
    /// assert!((moving_mean[[0]] - 0.02).abs() < 1e-6); // 0.99 * 0 + 0.01 * 2
    /// # Ok::<(), kiln_model::Error>(())
    /// ```
    pub fn call(&self, x: &impl ArrayInput, training: bool) -> Result<ArrayD<f32>> {
        let data = x.host_data();
        self.check_input("x", &data)?;
        let dims = data.dims.clone();
        let x = DynTensor::from_host(&dims, data.values, &self.device)?;
        let y = self
            .layers
            .iter()
            .try_fold(x, |x, layer| layer.forward(x, training))?;
        let out_dims = y.dims();
        let (_, values) = DynTensor::R2(y.flatten()).to_host()?;
        ArrayD::from_shape_vec(out_dims, values).map_err(|e| Error::Readback(e.to_string()))
    }

    /// Checks that `data` holds samples of the model's input shape.
    ///
    /// # Errors
    /// [`Error::DataShape`] naming the input layer and both shapes.
    pub fn check_input(&self, what: &str, data: &HostData) -> Result<()> {
        if data.sample_dims() != self.input_shape().dims() {
            return Err(Error::DataShape {
                what: what.to_string(),
                layer: self
                    .info
                    .spec
                    .layers
                    .first()
                    .and_then(|l| l.name())
                    .unwrap_or("input_layer")
                    .to_string(),
                expected: self.input_shape().clone(),
                actual: format_dims(&data.dims),
            });
        }
        // An Embedding first: every value must be an id of its table (checked on the host,
        // once, so a bad id is an error and not a failed gather on the device).
        if let (Some(Layer::Embedding(e)), Some(row)) =
            (self.layers.first(), self.info.rows.first())
        {
            let input_dim = e.embeddings.val().dims()[0];
            if let Some((index, &value)) = data
                .values
                .iter()
                .enumerate()
                .find(|(_, v)| v.fract() != 0.0 || **v < 0.0 || **v as usize >= input_dim)
            {
                return Err(Error::IdOutOfRange {
                    what: what.to_string(),
                    layer: row.name.clone(),
                    value,
                    index,
                    input_dim,
                });
            }
        }
        Ok(())
    }

    /// Predicts outputs for every sample of `x`, `batch_size` samples at a time (Keras's
    /// `model.predict`). The data goes to the device once; outputs come back once.
    ///
    /// # Errors
    /// [`Error::DataShape`] when `x` does not match the input shape; [`Error::InvalidOption`]
    /// for a zero batch size.
    ///
    /// # Examples
    /// ```
    /// use kiln_model::{Dense, Input, Sequential};
    /// let model = Sequential::new().add(Input::new([3])).add(Dense::new(2)).seed(1)
    ///     .build(&burn::tensor::Device::flex())?;
    /// let y = model.predict(&ndarray::Array2::<f32>::ones((5, 3)), 32)?;
    /// assert_eq!(y.shape(), &[5, 2]);
    /// # Ok::<(), kiln_model::Error>(())
    /// ```
    pub fn predict(&self, x: &impl ArrayInput, batch_size: usize) -> Result<ArrayD<f32>> {
        if batch_size == 0 {
            return Err(Error::InvalidOption {
                layer: self.name().to_string(),
                option: "batch_size",
                reason: "must be at least 1".into(),
            });
        }
        let data = x.host_data();
        self.check_input("x", &data)?;
        let model = self.valid();
        let device = model.device.clone().without_autodiff();
        let n = data.len();
        let mut out_dims = self.output_shape().with_batch(n);
        if n == 0 {
            return ArrayD::from_shape_vec(out_dims, Vec::new())
                .map_err(|e| Error::Readback(e.to_string()));
        }
        let all = Samples::new(data, &device)?;
        let mut outputs = Vec::new();
        for start in (0..n).step_by(batch_size) {
            let end = (start + batch_size).min(n);
            let y = model.forward(all.range(start, end - start)?)?;
            outputs.push(y.flatten());
        }
        let (_, values) = DynTensor::R2(Tensor::cat(outputs, 0)).to_host()?;
        out_dims[0] = n;
        ArrayD::from_shape_vec(out_dims, values).map_err(|e| Error::Readback(e.to_string()))
    }

    /// The weights as host arrays, in Keras's `model.get_weights()` order (layer by layer;
    /// Dense: kernel `[in, units]`, bias `[units]`; Conv2D: kernel `[kh, kw, in, filters]`, bias).
    ///
    /// # Errors
    /// [`Error::Readback`] when a tensor cannot be read from the device.
    pub fn get_weights(&self) -> Result<Vec<ArrayD<f32>>> {
        self.layers
            .iter()
            .flat_map(|l| l.weights())
            .map(|(_, w)| to_array(w.data()?))
            .collect()
    }

    /// The weights' names in Keras style (`dense/kernel`, `dense/bias`), in
    /// [`get_weights`](Model::get_weights) order.
    pub fn weight_names(&self) -> Vec<String> {
        let names = self.info.rows.iter().map(|r| r.name.as_str());
        self.layers
            .iter()
            .zip(names)
            .flat_map(|(layer, name)| {
                layer
                    .weights()
                    .into_iter()
                    .map(move |(w, _)| format!("{name}/{w}"))
            })
            .collect()
    }

    /// Replaces the weights, given in [`get_weights`](Model::get_weights) order.
    ///
    /// # Errors
    /// [`Error::WeightMismatch`] naming the first weight whose shape differs, or a wrong count.
    pub fn set_weights(mut self, weights: &[ArrayD<f32>]) -> Result<Self> {
        let names = self.weight_names();
        if names.len() != weights.len() {
            return Err(Error::WeightMismatch {
                weight: format!("{} weights", names.len()),
                expected: vec![names.len()],
                actual: vec![weights.len()],
            });
        }
        let slots: Vec<_> = self
            .layers
            .iter_mut()
            .flat_map(|l| l.weights_mut())
            .collect();
        // Check every shape before changing anything.
        for ((slot, w), name) in slots.iter().zip(weights).zip(&names) {
            let expected = slot.dims();
            if w.shape() != expected.as_slice() {
                return Err(Error::WeightMismatch {
                    weight: name.clone(),
                    expected,
                    actual: w.shape().to_vec(),
                });
            }
        }
        for (slot, w) in slots.into_iter().zip(weights) {
            slot.set(w.iter().copied().collect());
        }
        Ok(self)
    }
}

fn to_array(data: TensorData) -> Result<ArrayD<f32>> {
    let dims = data.shape().to_vec();
    let values = data
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| Error::Readback(format!("{e:?}")))?;
    ArrayD::from_shape_vec(dims, values).map_err(|e| Error::Readback(e.to_string()))
}
