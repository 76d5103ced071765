//! `Bidirectional`: a recurrent layer run forwards and backwards over a sequence, its two
//! outputs merged (Keras `Bidirectional`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Layer, LayerSpec, Mask, MaskPolicy, WeightBuilder, Weights, only};
use crate::layers::CustomObjects;
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// How the forward and backward outputs combine (Keras `merge_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MergeMode {
    /// Side by side on the last axis (Keras's default): twice the units.
    #[default]
    Concat,
    /// Added.
    Sum,
    /// Multiplied.
    Mul,
    /// Averaged.
    Ave,
    /// Not merged (Keras's `merge_mode=None`): the forward and the backward outputs as two
    /// outputs, applied with `apply_outputs`.
    #[serde(skip)]
    Separate,
}

/// Runs a recurrent layer (SimpleRNN, LSTM, GRU) over the sequence and a copy of it over the
/// sequence reversed (`go_backwards`), and merges the two (Keras `Bidirectional`). With
/// `return_sequences`, the backward outputs are flipped back so that step `t` of both sees
/// the same position. Weights: the forward layer's, then the backward layer's (Keras keeps
/// them in `forward_layer/cell/vars` and `backward_layer/cell/vars`).
///
/// # Examples
/// ```
/// use kiln_model::{Bidirectional, Input, Lstm, Sequential};
/// let model = Sequential::new()
///     .add(Input::new([10, 4]))
///     .add(Bidirectional::new(Lstm::new(8).return_sequences(true)))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 10, 16)");
/// assert_eq!(model.count_params(), 2 * 4 * (4 * 8 + 8 * 8 + 8));
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Config", into = "Config")]
pub struct Bidirectional {
    forward: LayerSpec,
    backward: LayerSpec,
    /// How the two outputs combine.
    pub merge_mode: MergeMode,
}

/// Keras's config: the forward layer, the backward one (optional), the merge mode.
#[derive(Serialize, Deserialize)]
struct Config {
    layer: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    backward_layer: Option<Value>,
    /// Absent is Keras's default, `concat`; `null` asks for two outputs.
    #[serde(default = "concat")]
    merge_mode: Option<MergeMode>,
}

fn concat() -> Option<MergeMode> {
    Some(MergeMode::Concat)
}

fn recurrent(spec: &LayerSpec) -> Result<(), String> {
    match spec.class_name() {
        "SimpleRNN" | "LSTM" | "GRU" => Ok(()),
        other => Err(format!(
            "Bidirectional wraps a recurrent layer (SimpleRNN, LSTM, GRU), got {other}"
        )),
    }
}

fn flag(spec: &LayerSpec, key: &str) -> bool {
    spec.layer().config()[key].as_bool().unwrap_or(false)
}

/// The same layer with `go_backwards` flipped and the name Keras gives it.
fn backward_of(forward: &LayerSpec) -> Result<LayerSpec, String> {
    let mut value = forward.to_value();
    let go = flag(forward, "go_backwards");
    value["config"]["go_backwards"] = Value::Bool(!go);
    if let Some(name) = forward.layer_name() {
        value["config"]["name"] = Value::String(format!("backward_{name}"));
    }
    crate::config::layer_from_value(&value, &CustomObjects::new()).map_err(|e| e.to_string())
}

/// Keras's `force_zero_output_for_mask`: inside `Bidirectional` a recurrent layer that returns
/// sequences outputs zeros at masked steps.
fn zero_output_for_mask(spec: LayerSpec) -> Result<LayerSpec, String> {
    let sequences = flag(&spec, "return_sequences");
    if flag(&spec, "zero_output_for_mask") == sequences {
        return Ok(spec);
    }
    let mut value = spec.to_value();
    value["config"]["zero_output_for_mask"] = Value::Bool(sequences);
    crate::config::layer_from_value(&value, &CustomObjects::new()).map_err(|e| e.to_string())
}

impl TryFrom<Config> for Bidirectional {
    type Error = String;

    fn try_from(c: Config) -> Result<Self, String> {
        let custom = CustomObjects::new();
        let forward =
            crate::config::layer_from_value(&c.layer, &custom).map_err(|e| e.to_string())?;
        recurrent(&forward)?;
        let forward = zero_output_for_mask(forward)?;
        let backward = match &c.backward_layer {
            Some(v) => crate::config::layer_from_value(v, &custom).map_err(|e| e.to_string())?,
            None => backward_of(&forward)?,
        };
        recurrent(&backward)?;
        let backward = zero_output_for_mask(backward)?;
        Ok(Self {
            forward,
            backward,
            merge_mode: c.merge_mode.unwrap_or(MergeMode::Separate),
        })
    }
}

/// A wrapped layer as Keras serializes it (Keras finds the class by its `module`).
fn keras_value(spec: &LayerSpec) -> Value {
    let mut value = spec.to_value();
    value["module"] = Value::String("keras.layers".into());
    value["registered_name"] = Value::Null;
    value
}

impl From<Bidirectional> for Config {
    fn from(b: Bidirectional) -> Self {
        Config {
            layer: keras_value(&b.forward),
            backward_layer: Some(keras_value(&b.backward)),
            merge_mode: (b.merge_mode != MergeMode::Separate).then_some(b.merge_mode),
        }
    }
}

impl Bidirectional {
    /// Wraps `layer` (a SimpleRNN, LSTM or GRU); the backward copy has `go_backwards`
    /// flipped; the outputs are concatenated. A layer that is not recurrent is reported when
    /// the model is built.
    pub fn new(layer: impl Into<LayerSpec>) -> Self {
        let given: LayerSpec = layer.into();
        let forward = zero_output_for_mask(given.clone()).unwrap_or(given);
        let backward = backward_of(&forward).unwrap_or_else(|_| forward.clone());
        Self {
            forward,
            backward,
            merge_mode: MergeMode::Concat,
        }
    }

    /// Sets how the outputs combine.
    pub fn merge_mode(mut self, mode: MergeMode) -> Self {
        self.merge_mode = mode;
        self
    }

    /// Sets the backward layer (Keras `backward_layer`), which must have the same output.
    pub fn backward_layer(mut self, layer: impl Into<LayerSpec>) -> Self {
        let given: LayerSpec = layer.into();
        self.backward = zero_output_for_mask(given.clone()).unwrap_or(given);
        self
    }
}

impl Layer for Bidirectional {
    fn class_name(&self) -> &str {
        "Bidirectional"
    }

    fn config(&self) -> Value {
        super::config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        recurrent(&self.forward)?;
        recurrent(&self.backward)?;
        let forward = self.forward.layer().output_shape(inputs)?;
        let backward = self.backward.layer().output_shape(inputs)?;
        if forward != backward {
            return Err(format!(
                "the forward layer gives {forward}, the backward one {backward}"
            ));
        }
        if flag(&self.forward, "return_state") != flag(&self.backward, "return_state") {
            return Err("the forward and backward layers differ in return_state".into());
        }
        let mut dims = forward.0;
        if self.merge_mode == MergeMode::Concat
            && let Some(last) = dims.last_mut()
        {
            *last = last
                .checked_mul(2)
                .ok_or_else(|| "the concatenated features overflow".to_string())?;
        }
        Ok(Shape(dims))
    }

    fn build(&self, inputs: &[Shape], weights: &mut WeightBuilder) -> Result<(), String> {
        weights.add_sublayer("forward_layer", self.forward.layer(), inputs)?;
        weights.add_sublayer("backward_layer", self.backward.layer(), inputs)?;
        Ok(())
    }

    fn mask_policy(&self) -> MaskPolicy {
        MaskPolicy::Own
    }

    fn output_masked(&self, _inputs: &[Shape], masked: &[bool]) -> Result<bool, String> {
        Ok(masked.first() == Some(&true) && flag(&self.forward, "return_sequences"))
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
        masks: &[Option<Mask>],
        weights: &Weights<'_>,
        training: bool,
    ) -> Result<(DynTensor, Option<Mask>), String> {
        super::layer::first_output(self.call_outputs(inputs, masks, weights, training))
    }

    /// With `return_state`: `[merged, forward states.., backward states..]`, as Keras.
    fn output_shapes(&self, inputs: &[Shape]) -> Result<Option<Vec<Shape>>, String> {
        let separate = self.merge_mode == MergeMode::Separate;
        if !flag(&self.forward, "return_state") && !separate {
            return Ok(None);
        }
        let merged = self.output_shape(inputs)?;
        let states = |spec: &LayerSpec| -> Result<Vec<Shape>, String> {
            Ok(spec
                .layer()
                .output_shapes(inputs)?
                .map(|all| all[1..].to_vec())
                .unwrap_or_default())
        };
        let mut all = vec![merged.clone()];
        if separate {
            all.push(merged);
        }
        all.extend(states(&self.forward)?);
        all.extend(states(&self.backward)?);
        Ok(Some(all))
    }

    fn call_outputs(
        &self,
        inputs: Vec<DynTensor>,
        masks: &[Option<Mask>],
        weights: &Weights<'_>,
        training: bool,
    ) -> Result<(Vec<DynTensor>, Option<Mask>), String> {
        let x = only(inputs)?;
        let mask = masks.first().cloned().flatten();
        let in_masks = [mask.clone()];
        let (mut forward, _) = self.forward.layer().call_outputs(
            vec![x.clone()],
            &in_masks,
            &weights.sublayer(0)?,
            training,
        )?;
        let (mut backward, _) = self.backward.layer().call_outputs(
            vec![x],
            &in_masks,
            &weights.sublayer(1)?,
            training,
        )?;
        if forward.is_empty() || backward.is_empty() {
            return Err("a wrapped layer gave no output".into());
        }
        let (forward_states, backward_states) = (forward.split_off(1), backward.split_off(1));
        let (forward, mut backward) = (forward.remove(0), backward.remove(0));
        let out_mask = if flag(&self.forward, "return_sequences") {
            mask
        } else {
            None
        };
        if flag(&self.backward, "return_sequences") {
            backward = match backward {
                DynTensor::R3(t) => DynTensor::R3(t.flip([1])),
                other => other,
            };
        }
        let mut outputs = Vec::new();
        let merged = match (self.merge_mode, forward, backward) {
            (MergeMode::Separate, forward, backward) => {
                outputs.push(backward);
                forward
            }
            (MergeMode::Concat, DynTensor::R2(a), DynTensor::R2(b)) => {
                DynTensor::R2(burn::tensor::Tensor::cat(vec![a, b], 1))
            }
            (MergeMode::Concat, DynTensor::R3(a), DynTensor::R3(b)) => {
                DynTensor::R3(burn::tensor::Tensor::cat(vec![a, b], 2))
            }
            (MergeMode::Sum, DynTensor::R2(a), DynTensor::R2(b)) => DynTensor::R2(a + b),
            (MergeMode::Sum, DynTensor::R3(a), DynTensor::R3(b)) => DynTensor::R3(a + b),
            (MergeMode::Mul, DynTensor::R2(a), DynTensor::R2(b)) => DynTensor::R2(a * b),
            (MergeMode::Mul, DynTensor::R3(a), DynTensor::R3(b)) => DynTensor::R3(a * b),
            (MergeMode::Ave, DynTensor::R2(a), DynTensor::R2(b)) => DynTensor::R2((a + b) / 2.0),
            (MergeMode::Ave, DynTensor::R3(a), DynTensor::R3(b)) => DynTensor::R3((a + b) / 2.0),
            _ => return Err("the forward and backward outputs differ in rank".into()),
        };
        outputs.insert(0, merged);
        outputs.extend(forward_states);
        outputs.extend(backward_states);
        Ok((outputs, out_mask))
    }
}
