//! `Elu`: the exponential linear unit as a layer (Keras `ELU`).

use serde::{Deserialize, Serialize};

use super::{Layer, Weights, config_of, only, setters};
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// `x` for `x > 0`, `alpha · (eˣ - 1)` below (Keras `layers.ELU`, alpha 1).
///
/// # Examples
/// ```
/// use kiln_model::{Elu, Input, Sequential};
/// let model = Sequential::new().add(Input::new([2])).add(Elu::new())
///     .build(&burn::tensor::Device::flex())?;
/// let y = model.predict(&ndarray::array![[0.0f32, 2.0]], 32)?;
/// assert_eq!(y.into_raw_vec_and_offset().0, vec![0.0, 2.0]);
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[doc(alias = "ELU")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Elu {
    /// The scale of the negative part (default 1).
    #[serde(default = "one")]
    pub alpha: f32,
}

fn one() -> f32 {
    1.0
}

impl Default for Elu {
    fn default() -> Self {
        Self { alpha: one() }
    }
}

impl Elu {
    /// Alpha 1.
    pub fn new() -> Self {
        Self::default()
    }
}

setters!(Elu {
    /// Sets the scale of the negative part.
    alpha: f32,
});

impl Layer for Elu {
    fn class_name(&self) -> &str {
        "ELU"
    }

    /// Keeps its input's mask (Keras `supports_masking`).
    fn mask_policy(&self) -> crate::layers::MaskPolicy {
        crate::layers::MaskPolicy::Keep
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        if !self.alpha.is_finite() {
            return Err(format!("alpha must be finite, got {}", self.alpha));
        }
        Ok(only(inputs)?.clone())
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        _training: bool,
    ) -> Result<DynTensor, String> {
        let alpha = self.alpha;
        Ok(crate::dyn_map!(only(inputs)?, t => {
            let below = (t.clone().exp() - 1.0) * alpha;
            t.clone().mask_where(t.lower_equal_elem(0.0), below)
        }))
    }
}
