//! `Masking`: marks the padding steps of a sequence (Keras `Masking`).

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::{Layer, Mask, MaskPolicy, Weights, config_of, only};
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// Marks as padding every step whose features all equal `mask_value` (Keras `layers.Masking`,
/// default 0): those steps are zeroed and masked, so the layers after it that take masks
/// (recurrent layers, attention, `GlobalAveragePooling1D`, the loss) skip them. Takes sequences
/// `(steps, features)`.
///
/// # Examples
/// ```
/// use kiln_model::{Input, Lstm, Masking, Sequential};
/// let model = Sequential::new().add(Input::new([6, 3])).add(Masking::new(0.0)).add(Lstm::new(4))
///     .build(&burn::tensor::Device::flex())?;
/// // A sequence padded with zero steps at its end gives what the unpadded one gives.
/// let padded = ndarray::array![[[1.0f32, 2.0, 3.0], [0.5, 0.0, 1.0], [0.0, 0.0, 0.0],
///     [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]];
/// let y = model.predict(&padded, 1)?;
/// assert_eq!(y.shape(), &[1, 4]);
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Masking {
    /// The value that marks a padding step (every feature of the step equal to it).
    #[serde(default)]
    pub mask_value: f32,
}

impl Default for Masking {
    fn default() -> Self {
        Self::new(0.0)
    }
}

impl Masking {
    /// Masks the steps whose features all equal `mask_value` (Keras's default is 0).
    pub fn new(mask_value: f32) -> Self {
        Self { mask_value }
    }

    fn keep(&self, x: &Tensor<3>) -> Mask {
        let [b, t, _] = x.dims();
        x.clone()
            .not_equal_elem(self.mask_value)
            .float()
            .max_dim(2)
            .reshape([b, t])
    }
}

impl Layer for Masking {
    fn class_name(&self) -> &str {
        "Masking"
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let input = only(inputs)?;
        if input.rank() != 2 {
            return Err(format!(
                "Masking takes sequences (None, steps, features): Kiln's masks are per step, \
                 got {input}"
            ));
        }
        Ok(input.clone())
    }

    fn mask_policy(&self) -> MaskPolicy {
        MaskPolicy::Own
    }

    fn output_masked(&self, _inputs: &[Shape], _masked: &[bool]) -> Result<bool, String> {
        Ok(true)
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        weights: &Weights<'_>,
        training: bool,
    ) -> Result<DynTensor, String> {
        Ok(self.call_masked(inputs, &[], weights, training)?.0)
    }

    fn call_masked(
        &self,
        inputs: Vec<DynTensor>,
        _masks: &[Option<Mask>],
        _weights: &Weights<'_>,
        _training: bool,
    ) -> Result<(DynTensor, Option<Mask>), String> {
        let DynTensor::R3(x) = only(inputs)? else {
            return Err("Masking takes batches of sequences [batch, steps, features]".into());
        };
        let keep = self.keep(&x);
        let y = x * keep.clone().unsqueeze_dim::<3>(2);
        Ok((DynTensor::R3(y), Some(keep)))
    }
}
