//! `Attention` (Luong, dot-product) and `AdditiveAttention` (Bahdanau): attention of a query
//! sequence over a value sequence (Keras `Attention`, `AdditiveAttention`).

use burn::tensor::Tensor;
use burn::tensor::activation::{softmax, tanh};
use serde::{Deserialize, Serialize};

use super::{Layer, Mask, MaskPolicy, WeightBuilder, WeightSpec, Weights, config_of};
use crate::initializer::Initializer;
use crate::shape::Shape;
use crate::tensor::DynTensor;

fn dot() -> String {
    "dot".into()
}

fn yes() -> bool {
    true
}

/// The shapes `[query, value]` or `[query, value, key]` of one sample, checked: sequences
/// `(steps, dim)`, value and key of one length, query and key of one dimension.
fn check_inputs(inputs: &[Shape], class: &str) -> Result<(usize, usize), String> {
    if !(2..=3).contains(&inputs.len()) {
        return Err(format!(
            "{class} takes [query, value] or [query, value, key], got {} inputs",
            inputs.len()
        ));
    }
    let seq = |s: &Shape| match s.dims() {
        &[t, d] => Ok((t, d)),
        _ => Err(format!(
            "{class} takes sequences (None, steps, dim), got {s}"
        )),
    };
    let (tq, dq) = seq(&inputs[0])?;
    let (tv, dv) = seq(&inputs[1])?;
    let (tk, dk) = match inputs.get(2) {
        Some(k) => seq(k)?,
        None => (tv, dv),
    };
    if tk != tv {
        return Err(format!("the key has {tk} steps, the value {tv}"));
    }
    if dk != dq {
        return Err(format!(
            "the query's dimension {dq} differs from the key's {dk}"
        ));
    }
    let _ = tq;
    Ok((dq, dv))
}

/// The three inputs as rank-3 tensors (the key defaults to the value).
fn sequences(
    inputs: Vec<DynTensor>,
    class: &str,
) -> Result<(Tensor<3>, Tensor<3>, Tensor<3>), String> {
    let mut seqs = Vec::with_capacity(3);
    for x in inputs {
        let DynTensor::R3(t) = x else {
            return Err(format!(
                "{class} takes batches of sequences [batch, steps, dim]"
            ));
        };
        seqs.push(t);
    }
    let key = seqs.get(2).cloned();
    let mut it = seqs.into_iter();
    match (it.next(), it.next()) {
        (Some(q), Some(v)) => {
            let k = key.unwrap_or_else(|| v.clone());
            Ok((q, v, k))
        }
        _ => Err(format!(
            "{class} takes [query, value] or [query, value, key]"
        )),
    }
}

/// `softmax(scores) · value`, the weights dropped out at `dropout` while training. Keras's
/// masks: value steps masked out get `score - 1e9` (no weight), query steps masked out give 0.
fn apply_scores(
    scores: Tensor<3>,
    value: Tensor<3>,
    masks: &[Option<Mask>],
    causal: bool,
    dropout: f64,
    training: bool,
) -> (Tensor<3>, Tensor<3>) {
    let mut scores = scores;
    // Keras's `_calculate_score_mask`: the value mask and the causal mask together, then
    // `score - 1e9` where either masks.
    let [_, tq, tv] = scores.dims();
    let v_mask = masks
        .get(1)
        .cloned()
        .flatten()
        .map(|m| m.unsqueeze_dim::<3>(1));
    let c_mask = causal.then(|| {
        super::multi_head_attention::causal_mask(tq, tv, &scores.device()).unsqueeze_dim::<3>(0)
    });
    let score_mask = match (v_mask, c_mask) {
        (Some(v), Some(c)) => Some(v * c),
        (Some(m), None) | (None, Some(m)) => Some(m),
        (None, None) => None,
    };
    if let Some(m) = score_mask {
        scores = scores - (m.neg() + 1.0) * 1e9;
    }
    let mut weights = softmax(scores, 2);
    if training && dropout > 0.0 {
        let keep = 1.0 - dropout;
        let mask = crate::bernoulli::mask(weights.shape(), keep, &weights.device());
        weights = weights * mask / keep as f32;
    }
    let out = weights.clone().matmul(value);
    let out = match masks.first() {
        Some(Some(q_mask)) => out * q_mask.clone().unsqueeze_dim::<3>(2),
        _ => out,
    };
    // Keras returns the weights as the output used them (after dropout in training).
    (out, weights)
}

/// Both attention layers: the output keeps the query's mask.
fn query_masked(masked: &[bool]) -> bool {
    masked.first() == Some(&true)
}

/// `Σ_d tanh(q_i + k_j)_d · w_d`: the additive score of every query step with every key step,
/// `[b, tq, tv]`, `w` broadcast over `[.., dim]`.
fn additive_scores(q: Tensor<3>, k: Tensor<3>, w: Option<Tensor<1>>) -> Tensor<3> {
    let [b, tq, d] = q.dims();
    let [_, tv, _] = k.dims();
    let sum = q.reshape([b, tq, 1, d]) + k.reshape([b, 1, tv, d]);
    let mut t = tanh(sum);
    if let Some(w) = w {
        t = t * w.reshape([1, 1, 1, d]);
    }
    t.sum_dim(3).reshape([b, tq, tv])
}

/// Dot-product attention (Keras `layers.Attention`, Luong style): called on `[query, value]`
/// or `[query, value, key]` (sequences `[batch, steps, dim]`), it gives
/// `softmax(query · keyᵀ) · value`, `[batch, query steps, value dim]`. `use_scale` learns a
/// scalar `scale` for the scores; `score_mode = "concat"` scores with
/// `concat_score_weight · Σ tanh(query + key)` instead; `dropout` drops attention weights while
/// training. Masks (`Embedding(mask_zero)`, `Masking`) are Keras's: masked value steps get
/// no weight, masked query steps give 0 and the output keeps the query's mask;
/// `use_causal_mask` (a call argument in Keras) is the option `use_causal_mask`. Not yet:
/// `return_attention_scores`.
///
/// # Examples
/// ```
/// use kiln_model::{Apply, Attention, Functional, Input};
/// let (q, v) = (Input::new([4, 8]).tensor()?, Input::new([6, 8]).tensor()?);
/// let out = Attention::new().apply([&q, &v])?;
/// assert_eq!(out.shape().to_string(), "(None, 4, 8)");
/// let model = Functional::new([&q, &v], &out)?;
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attention {
    /// Learn a scalar `scale` for the scores (default false).
    #[serde(default)]
    pub use_scale: bool,
    /// `dot` (default) or `concat`.
    #[serde(default = "dot")]
    pub score_mode: String,
    /// Fraction of attention weights dropped while training.
    #[serde(default)]
    pub dropout: f64,
    /// Keras's seed (kept in the config; Kiln draws from the device's generator).
    #[serde(default)]
    pub seed: Option<u64>,
    /// Query step `i` attends to value steps `j <= i` only (Keras's call argument
    /// `use_causal_mask=True`; written to the layer's nodes in a config).
    #[serde(skip)]
    pub use_causal_mask: bool,
    /// Also give the attention weights `(query steps, value steps)` (Keras's call argument
    /// `return_attention_scores=True`; applied with `apply_outputs`).
    #[serde(skip)]
    pub return_attention_scores: bool,
}

impl Default for Attention {
    fn default() -> Self {
        Self::new()
    }
}

impl Attention {
    /// Keras's defaults: no scale, `dot` scores, no dropout.
    pub fn new() -> Self {
        Self {
            use_scale: false,
            score_mode: dot(),
            dropout: 0.0,
            seed: None,
            use_causal_mask: false,
            return_attention_scores: false,
        }
    }
}

super::setters!(Attention {
    /// Learns a scalar scale for the scores.
    use_scale: bool,
    /// `dot` or `concat`.
    score_mode: String,
    /// Drops attention weights while training.
    dropout: f64,
    /// Lets query step `i` attend to value steps up to `i` only (Keras's `use_causal_mask`).
    use_causal_mask: bool,
    /// Also gives the attention weights (Keras's `return_attention_scores=True`).
    return_attention_scores: bool,
});

impl Layer for Attention {
    fn class_name(&self) -> &str {
        "Attention"
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn inputs_as_list(&self) -> bool {
        true
    }

    fn call_options(&self) -> serde_json::Map<String, serde_json::Value> {
        super::multi_head_attention::attention_call_options(
            self.use_causal_mask,
            self.return_attention_scores,
        )
    }

    fn with_call_options(
        &self,
        options: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<std::sync::Arc<dyn Layer>, String> {
        let mut layer = self.clone();
        (layer.use_causal_mask, layer.return_attention_scores) =
            super::multi_head_attention::attention_call_option(options)?;
        Ok(std::sync::Arc::new(layer))
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        if !matches!(self.score_mode.as_str(), "dot" | "concat") {
            return Err(format!(
                "score_mode `{}`: use dot or concat",
                self.score_mode
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!("dropout must be in [0, 1), got {}", self.dropout));
        }
        let (_, dv) = check_inputs(inputs, "Attention")?;
        Ok(Shape(vec![inputs[0].dims()[0], dv]))
    }

    fn build(&self, _inputs: &[Shape], weights: &mut WeightBuilder) -> Result<(), String> {
        if self.use_scale {
            weights.add_weight(WeightSpec::new(
                "scale",
                Vec::<usize>::new(),
                Initializer::Ones,
            ))?;
        }
        if self.score_mode == "concat" {
            weights.add_weight(WeightSpec::new(
                "concat_score_weight",
                Vec::<usize>::new(),
                Initializer::Ones,
            ))?;
        }
        Ok(())
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        weights: &Weights<'_>,
        training: bool,
    ) -> Result<DynTensor, String> {
        Ok(self.call_masked(inputs, &[], weights, training)?.0)
    }

    fn mask_policy(&self) -> MaskPolicy {
        MaskPolicy::Own
    }

    fn output_masked(&self, _inputs: &[Shape], masked: &[bool]) -> Result<bool, String> {
        Ok(query_masked(masked))
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

    /// With `return_attention_scores`: `[output, weights]`, weights `(tq, tv)`.
    fn output_shapes(&self, inputs: &[Shape]) -> Result<Option<Vec<Shape>>, String> {
        if !self.return_attention_scores {
            return Ok(None);
        }
        let out = self.output_shape(inputs)?;
        let (tq, tv) = (inputs[0].dims()[0], inputs[1].dims()[0]);
        Ok(Some(vec![out, Shape(vec![tq, tv])]))
    }

    /// The output and the attention weights (the second only used with
    /// `return_attention_scores`).
    fn call_outputs(
        &self,
        inputs: Vec<DynTensor>,
        masks: &[Option<Mask>],
        weights: &Weights<'_>,
        training: bool,
    ) -> Result<(Vec<DynTensor>, Option<Mask>), String> {
        let (q, v, k) = sequences(inputs, "Attention")?;
        let scale = if self.use_scale {
            Some(weights.flat("scale")?)
        } else {
            None
        };
        let scores = if self.score_mode == "concat" {
            let [b, tq, d] = q.dims();
            let [_, tv, _] = k.dims();
            let mut sum = q.reshape([b, tq, 1, d]) + k.reshape([b, 1, tv, d]);
            if let Some(s) = &scale {
                sum = sum * s.clone().reshape([1, 1, 1, 1]);
            }
            let w = weights.flat("concat_score_weight")?.reshape([1, 1, 1]);
            tanh(sum).sum_dim(3).reshape([b, tq, tv]) * w
        } else {
            let mut scores = q.matmul(k.swap_dims(1, 2));
            if let Some(s) = scale {
                scores = scores * s.reshape([1, 1, 1]);
            }
            scores
        };
        let (y, w) = apply_scores(
            scores,
            v,
            masks,
            self.use_causal_mask,
            self.dropout,
            training,
        );
        Ok((
            vec![DynTensor::R3(y), DynTensor::R3(w)],
            masks.first().cloned().flatten(),
        ))
    }
}

/// Additive attention (Keras `layers.AdditiveAttention`, Bahdanau style): called on
/// `[query, value]` or `[query, value, key]`, the scores are
/// `Σ_d scale_d · tanh(query_i + key_j)_d` (`use_scale`, default true, learns `scale` of the
/// key's dimension, glorot-uniform), then `softmax(scores) · value`; masks as in [`Attention`].
///
/// # Examples
/// ```
/// use kiln_model::{AdditiveAttention, Apply, Input};
/// let (q, v) = (Input::new([4, 8]).tensor()?, Input::new([6, 8]).tensor()?);
/// let out = AdditiveAttention::new().apply([&q, &v])?;
/// assert_eq!(out.shape().to_string(), "(None, 4, 8)");
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdditiveAttention {
    /// Learn a per-dimension `scale` (default true).
    #[serde(default = "yes")]
    pub use_scale: bool,
    /// Fraction of attention weights dropped while training.
    #[serde(default)]
    pub dropout: f64,
    /// Query step `i` attends to value steps `j <= i` only (Keras's call argument
    /// `use_causal_mask=True`).
    #[serde(skip)]
    pub use_causal_mask: bool,
    /// Also give the attention weights (Keras's `return_attention_scores=True`).
    #[serde(skip)]
    pub return_attention_scores: bool,
}

impl Default for AdditiveAttention {
    fn default() -> Self {
        Self::new()
    }
}

impl AdditiveAttention {
    /// Keras's defaults: a learned scale, no dropout.
    pub fn new() -> Self {
        Self {
            use_scale: true,
            dropout: 0.0,
            use_causal_mask: false,
            return_attention_scores: false,
        }
    }
}

super::setters!(AdditiveAttention {
    /// Learns a per-dimension scale.
    use_scale: bool,
    /// Drops attention weights while training.
    dropout: f64,
    /// Lets query step `i` attend to value steps up to `i` only (Keras's `use_causal_mask`).
    use_causal_mask: bool,
    /// Also gives the attention weights (Keras's `return_attention_scores=True`).
    return_attention_scores: bool,
});

impl Layer for AdditiveAttention {
    fn class_name(&self) -> &str {
        "AdditiveAttention"
    }

    fn call_options(&self) -> serde_json::Map<String, serde_json::Value> {
        super::multi_head_attention::attention_call_options(
            self.use_causal_mask,
            self.return_attention_scores,
        )
    }

    fn with_call_options(
        &self,
        options: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<std::sync::Arc<dyn Layer>, String> {
        let mut layer = self.clone();
        (layer.use_causal_mask, layer.return_attention_scores) =
            super::multi_head_attention::attention_call_option(options)?;
        Ok(std::sync::Arc::new(layer))
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!("dropout must be in [0, 1), got {}", self.dropout));
        }
        let (_, dv) = check_inputs(inputs, "AdditiveAttention")?;
        Ok(Shape(vec![inputs[0].dims()[0], dv]))
    }

    fn build(&self, inputs: &[Shape], weights: &mut WeightBuilder) -> Result<(), String> {
        let (dq, _) = check_inputs(inputs, "AdditiveAttention")?;
        if self.use_scale {
            weights.add_weight(WeightSpec::new("scale", [dq], Initializer::GlorotUniform))?;
        }
        Ok(())
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        weights: &Weights<'_>,
        training: bool,
    ) -> Result<DynTensor, String> {
        Ok(self.call_masked(inputs, &[], weights, training)?.0)
    }

    fn mask_policy(&self) -> MaskPolicy {
        MaskPolicy::Own
    }

    fn output_masked(&self, _inputs: &[Shape], masked: &[bool]) -> Result<bool, String> {
        Ok(query_masked(masked))
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

    /// With `return_attention_scores`: `[output, weights]`, weights `(tq, tv)`.
    fn output_shapes(&self, inputs: &[Shape]) -> Result<Option<Vec<Shape>>, String> {
        if !self.return_attention_scores {
            return Ok(None);
        }
        let out = self.output_shape(inputs)?;
        let (tq, tv) = (inputs[0].dims()[0], inputs[1].dims()[0]);
        Ok(Some(vec![out, Shape(vec![tq, tv])]))
    }

    /// The output and the attention weights (the second only used with
    /// `return_attention_scores`).
    fn call_outputs(
        &self,
        inputs: Vec<DynTensor>,
        masks: &[Option<Mask>],
        weights: &Weights<'_>,
        training: bool,
    ) -> Result<(Vec<DynTensor>, Option<Mask>), String> {
        let (q, v, k) = sequences(inputs, "AdditiveAttention")?;
        let scale = if self.use_scale {
            Some(weights.get::<1>("scale")?)
        } else {
            None
        };
        let scores = additive_scores(q, k, scale);
        let (y, w) = apply_scores(
            scores,
            v,
            masks,
            self.use_causal_mask,
            self.dropout,
            training,
        );
        Ok((
            vec![DynTensor::R3(y), DynTensor::R3(w)],
            masks.first().cloned().flatten(),
        ))
    }
}
