//! `Relu`: the rectified linear unit as a layer, with Keras's options.

use serde::{Deserialize, Serialize};

use super::{Layer, Weights, config_of, only, setters};
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// `x` where `x > threshold`, `negative_slope · (x - threshold)` at or below it, capped at
/// `max_value` (Keras `layers.ReLU`; the defaults give `max(x, 0)`).
///
/// # Examples
/// ```
/// use kiln_model::{Input, Relu, Sequential};
/// let model = Sequential::new().add(Input::new([3])).add(Relu::new().max_value(6.0))
///     .build(&burn::tensor::Device::flex())?;
/// let y = model.predict(&ndarray::array![[-1.0f32, 2.0, 9.0]], 32)?;
/// assert_eq!(y.into_raw_vec_and_offset().0, vec![0.0, 2.0, 6.0]);
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[doc(alias = "ReLU")]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Relu {
    /// The cap, if any (default none).
    #[serde(default)]
    pub max_value: Option<f32>,
    /// The slope below the threshold (default 0).
    #[serde(default)]
    pub negative_slope: f32,
    /// Where the unit turns on (default 0).
    #[serde(default)]
    pub threshold: f32,
}

impl Relu {
    /// `max(x, 0)`.
    pub fn new() -> Self {
        Self::default()
    }
}

setters!(Relu {
    /// Caps the output.
    max_value: Option<f32>,
    /// Sets the slope below the threshold.
    negative_slope: f32,
    /// Sets where the unit turns on.
    threshold: f32,
});

impl Layer for Relu {
    fn class_name(&self) -> &str {
        "ReLU"
    }

    /// Keeps its input's mask (Keras `supports_masking`).
    fn mask_policy(&self) -> crate::layers::MaskPolicy {
        crate::layers::MaskPolicy::Keep
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let finite = self.max_value.is_none_or(|m| m >= 0.0)
            && self.negative_slope >= 0.0
            && self.negative_slope.is_finite()
            && self.threshold.is_finite();
        if !finite {
            return Err(format!(
                "max_value must be >= 0 and negative_slope >= 0 (Keras's rule), got {:?} and {}",
                self.max_value, self.negative_slope
            ));
        }
        Ok(only(inputs)?.clone())
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        _training: bool,
    ) -> Result<DynTensor, String> {
        let (slope, threshold, max) = (self.negative_slope, self.threshold, self.max_value);
        Ok(crate::dyn_map!(only(inputs)?, t => {
            let below = (t.clone() - threshold) * slope;
            let y = t.clone().mask_where(t.lower_equal_elem(threshold), below);
            match max {
                Some(m) => y.clamp_max(m),
                None => y,
            }
        }))
    }
}
