//! `TimeDistributed`: one layer applied to every step of a sequence (Keras `TimeDistributed`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Layer, LayerSpec, WeightBuilder, Weights, only};
use crate::layers::CustomObjects;
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// Applies `layer` to each step of its input `[batch, steps, ...]`, the same weights at every
/// step (Keras `layers.TimeDistributed`): a `Dense` per frame, a `Conv2D` per video frame. The
/// steps are folded into the batch for one call of the layer. Its weights are the layer's,
/// under `layer` in Keras's file (`layers/time_distributed/layer/vars`).
///
/// # Examples
/// ```
/// use kiln_model::{Conv2d, Dense, Input, Sequential, TimeDistributed};
/// let model = Sequential::new().add(Input::new([10, 8]))
///     .add(TimeDistributed::new(Dense::new(4)))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 10, 4)");
/// assert_eq!(model.count_params(), 8 * 4 + 4);
/// let video = Sequential::new().add(Input::new([5, 16, 16, 3]))
///     .add(TimeDistributed::new(Conv2d::new(2, 3)))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(video.output_shape().to_string(), "(None, 5, 14, 14, 2)");
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Config", into = "Config")]
pub struct TimeDistributed {
    layer: LayerSpec,
}

#[derive(Serialize, Deserialize)]
struct Config {
    layer: Value,
}

impl TryFrom<Config> for TimeDistributed {
    type Error = String;

    fn try_from(c: Config) -> Result<Self, String> {
        let layer = crate::config::layer_from_value(&c.layer, &CustomObjects::new())
            .map_err(|e| e.to_string())?;
        Ok(Self { layer })
    }
}

impl From<TimeDistributed> for Config {
    fn from(t: TimeDistributed) -> Self {
        let mut value = t.layer.to_value();
        value["module"] = Value::String("keras.layers".into());
        value["registered_name"] = Value::Null;
        Config { layer: value }
    }
}

impl TimeDistributed {
    /// Applies `layer` to every step.
    pub fn new(layer: impl Into<LayerSpec>) -> Self {
        Self {
            layer: layer.into(),
        }
    }

    /// The wrapped layer.
    pub fn layer(&self) -> &LayerSpec {
        &self.layer
    }

    fn step_shape(inputs: &[Shape]) -> Result<(usize, Shape), String> {
        let input = only(inputs)?;
        match input.dims().split_first() {
            Some((&steps, rest)) if !rest.is_empty() => Ok((steps, Shape(rest.to_vec()))),
            _ => Err(format!(
                "TimeDistributed needs inputs (None, steps, ...) with at least one axis per \
                 step, got {input}"
            )),
        }
    }
}

impl Layer for TimeDistributed {
    fn class_name(&self) -> &str {
        "TimeDistributed"
    }

    /// Keeps its input's mask (Keras `supports_masking`).
    fn mask_policy(&self) -> crate::layers::MaskPolicy {
        crate::layers::MaskPolicy::Keep
    }

    fn config(&self) -> Value {
        super::config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let (steps, step) = Self::step_shape(inputs)?;
        if self.layer.layer().runs_on_host() {
            return Err("TimeDistributed takes device layers, not host (string) layers".into());
        }
        let out = self
            .layer
            .layer()
            .output_shape(&[step])
            .map_err(|e| format!("the wrapped {}: {e}", self.layer.class_name()))?;
        let mut dims = vec![steps];
        dims.extend_from_slice(out.dims());
        Ok(Shape(dims))
    }

    fn saveable(&self) -> Result<(), String> {
        self.layer.layer().saveable()
    }

    fn build(&self, inputs: &[Shape], weights: &mut WeightBuilder) -> Result<(), String> {
        let (_, step) = Self::step_shape(inputs)?;
        weights.add_sublayer("layer", self.layer.layer(), &[step])?;
        Ok(())
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        weights: &Weights<'_>,
        training: bool,
    ) -> Result<DynTensor, String> {
        let x = only(inputs)?;
        let dims = x.dims();
        let (b, steps) = (dims[0], dims[1]);
        let mut folded = vec![b * steps];
        folded.extend_from_slice(&dims[2..]);
        let x = x.reshape(&folded).map_err(|e| e.to_string())?;
        let y = self
            .layer
            .layer()
            .call(vec![x], &weights.sublayer(0)?, training)?;
        let out = y.dims();
        let mut unfolded = vec![b, steps];
        unfolded.extend_from_slice(&out[1..]);
        y.reshape(&unfolded).map_err(|e| e.to_string())
    }
}
