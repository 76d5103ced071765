//! `LeakyRelu`: the leaky rectified linear unit as a layer (Keras `LeakyReLU`).

use serde::{Deserialize, Serialize};

use super::{Layer, Weights, config_of, only, setters};
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// `x` for `x >= 0`, `negative_slope · x` below (Keras `layers.LeakyReLU`, slope 0.3).
///
/// # Examples
/// ```
/// use kiln_model::{Input, LeakyRelu, Sequential};
/// let model = Sequential::new().add(Input::new([2])).add(LeakyRelu::new())
///     .build(&burn::tensor::Device::flex())?;
/// let y = model.predict(&ndarray::array![[-1.0f32, 2.0]], 32)?;
/// assert_eq!(y.into_raw_vec_and_offset().0, vec![-0.3, 2.0]);
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[doc(alias = "LeakyReLU")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeakyRelu {
    /// The slope below zero (default 0.3; Keras 2 called it `alpha`).
    #[serde(default = "slope", alias = "alpha")]
    pub negative_slope: f32,
}

fn slope() -> f32 {
    0.3
}

impl Default for LeakyRelu {
    fn default() -> Self {
        Self {
            negative_slope: slope(),
        }
    }
}

impl LeakyRelu {
    /// Slope 0.3.
    pub fn new() -> Self {
        Self::default()
    }
}

setters!(LeakyRelu {
    /// Sets the slope below zero.
    negative_slope: f32,
});

impl Layer for LeakyRelu {
    fn class_name(&self) -> &str {
        "LeakyReLU"
    }

    /// Keeps its input's mask (Keras `supports_masking`).
    fn mask_policy(&self) -> crate::layers::MaskPolicy {
        crate::layers::MaskPolicy::Keep
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        if !(self.negative_slope >= 0.0 && self.negative_slope.is_finite()) {
            return Err(format!(
                "negative_slope must be >= 0 (Keras's rule), got {}",
                self.negative_slope
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
        let slope = self.negative_slope;
        Ok(crate::dyn_map!(only(inputs)?, t => {
            let below = t.clone() * slope;
            t.clone().mask_where(t.lower_elem(0.0), below)
        }))
    }
}
