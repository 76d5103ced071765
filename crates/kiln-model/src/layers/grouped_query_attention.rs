//! `GroupedQueryAttention`: attention whose query heads share fewer key/value heads (Keras
//! `GroupedQueryAttention`).

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::multi_head_attention::{
    Attend, MultiHeadAttention, Projection, attention_call_option, attention_call_options,
    check_window, declare_projections, project,
};
use super::{Layer, Mask, MaskPolicy, WeightBuilder, Weights, config_of, setters};
use crate::initializer::Initializer;
use crate::regularizer::Regularizer;
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// Grouped-query attention (Keras `layers.GroupQueryAttention`, Ainslie et al. 2023): like
/// [`MultiHeadAttention`], but `num_query_heads` query heads share `num_key_value_heads` key and
/// value heads (each key/value head serves `num_query_heads / num_key_value_heads` consecutive
/// query heads). Called on `[query, value]` or `[query, value, key]`; the output has the
/// query's features. Weights as Keras's: `query/kernel` `[features, query heads, head_dim]`,
/// `key/kernel` and `value/kernel` `[features, kv heads, head_dim]`, `attention_output/kernel`
/// `[query heads, head_dim, features]`, biases over the head axes. Masks and
/// `use_causal_mask`, `use_gate`, `attention_mask`, `return_attention_scores` and
/// `sliding_window` as in `MultiHeadAttention`.
///
/// # Examples
/// ```
/// use kiln_model::{Apply, Functional, GroupedQueryAttention, Input};
/// let (q, v) = (Input::new([5, 6]).tensor()?, Input::new([7, 6]).tensor()?);
/// let y = GroupedQueryAttention::new(3, 4, 2).apply([&q, &v])?;
/// let model = Functional::new([&q, &v], &y)?.build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 5, 6)");
/// assert_eq!(model.count_params(), (6 * 4 * 3 + 4 * 3) + 2 * (6 * 2 * 3 + 2 * 3) + 4 * 3 * 6 + 6);
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[doc(alias = "GroupQueryAttention")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupedQueryAttention {
    /// Size of each head.
    pub head_dim: usize,
    /// Query heads.
    pub num_query_heads: usize,
    /// Key and value heads (dividing `num_query_heads`).
    pub num_key_value_heads: usize,
    /// Dropout on the attention probabilities in training (default 0).
    #[serde(default)]
    pub dropout: f64,
    /// Whether the projections have biases (default true).
    #[serde(default = "crate::layers::yes")]
    pub use_bias: bool,
    /// Keras's gated attention: a sigmoid gate from the query multiplies the heads' output.
    #[serde(default)]
    pub use_gate: bool,
    /// Keras's sliding-window attention: query step `i` attends to key steps `j` with
    /// `|i - j| < sliding_window` only (with `use_causal_mask`, the causal window of Mistral);
    /// `None`: every step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sliding_window: Option<usize>,
    /// Initializer of the projection kernels (default glorot_uniform).
    #[serde(default = "crate::layers::glorot")]
    pub kernel_initializer: Initializer,
    /// Initializer of the projection biases (default zeros).
    #[serde(default)]
    pub bias_initializer: Initializer,
    /// Penalty on the projection kernels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_regularizer: Option<Regularizer>,
    /// Penalty on the projection biases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias_regularizer: Option<Regularizer>,
    /// Query step `i` attends to key steps `j <= i` only (Keras's call argument).
    #[serde(skip)]
    pub use_causal_mask: bool,
    /// The last input is Keras's `attention_mask` `(query steps, value steps)`.
    #[serde(skip)]
    pub attention_mask: bool,
    /// Also give the attention probabilities `(query heads, tq, tv)` (Keras's
    /// `return_attention_scores=True`; applied with `apply_outputs`).
    #[serde(skip)]
    pub return_attention_scores: bool,
}

impl GroupedQueryAttention {
    /// `num_query_heads` query heads over `num_key_value_heads` key/value heads of size
    /// `head_dim`, Keras's defaults otherwise.
    pub fn new(head_dim: usize, num_query_heads: usize, num_key_value_heads: usize) -> Self {
        Self {
            head_dim,
            num_query_heads,
            num_key_value_heads,
            dropout: 0.0,
            use_bias: true,
            use_gate: false,
            sliding_window: None,
            kernel_initializer: Initializer::GlorotUniform,
            bias_initializer: Initializer::Zeros,
            kernel_regularizer: None,
            bias_regularizer: None,
            use_causal_mask: false,
            attention_mask: false,
            return_attention_scores: false,
        }
    }

    /// The projections' options, as a `MultiHeadAttention` holds them.
    fn projection(&self, kernel: Vec<usize>, bias: Vec<usize>) -> Projection {
        let mut options = MultiHeadAttention::new(1, 1);
        options.use_bias = self.use_bias;
        options.kernel_initializer = self.kernel_initializer;
        options.bias_initializer = self.bias_initializer;
        options.kernel_regularizer = self.kernel_regularizer;
        options.bias_regularizer = self.bias_regularizer;
        Projection {
            kernel,
            bias,
            options,
        }
    }

    /// `(query features, value features, key features)`, checked.
    fn check(&self, inputs: &[Shape]) -> Result<(usize, usize, usize), String> {
        let (inputs, mask) = match (self.attention_mask, inputs.split_last()) {
            (true, Some((mask, rest))) => (rest, Some(mask)),
            _ => (inputs, None),
        };
        if let (Some(mask), [q, v, ..]) = (mask, inputs)
            && mask.dims() != [q.dims()[0], v.dims()[0]]
        {
            return Err(format!(
                "the attention mask must be (query steps, value steps) = ({}, {}), got {mask}",
                q.dims()[0],
                v.dims()[0]
            ));
        }
        let (q, v, k) = match inputs {
            [q, v] => (q, v, v),
            [q, v, k] => (q, v, k),
            other => {
                return Err(format!(
                    "GroupedQueryAttention takes [query, value] or [query, value, key], got {} \
                     inputs",
                    other.len()
                ));
            }
        };
        let (&[tq, dq], &[tv, dv], &[tk, dk]) = (q.dims(), v.dims(), k.dims()) else {
            return Err("GroupedQueryAttention needs sequences (None, steps, features)".into());
        };
        if tv != tk {
            return Err(format!("the value has {tv} steps, the key {tk}"));
        }
        if self.head_dim == 0 || self.num_query_heads == 0 || self.num_key_value_heads == 0 {
            return Err("head_dim and the head counts must be at least 1".into());
        }
        if !self
            .num_query_heads
            .is_multiple_of(self.num_key_value_heads)
        {
            return Err(format!(
                "num_query_heads {} must be divisible by num_key_value_heads {}",
                self.num_query_heads, self.num_key_value_heads
            ));
        }
        check_window(self.sliding_window)?;
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!("dropout must be in [0, 1), got {}", self.dropout));
        }
        if tq == 0 || tv == 0 {
            return Err("the sequences need at least one step".into());
        }
        Ok((dq, dv, dk))
    }
}

setters!(GroupedQueryAttention {
    /// Sets the attention dropout.
    dropout: f64,
    /// Sets whether the projections have biases.
    use_bias: bool,
    /// Sets the kernel initializer.
    kernel_initializer: Initializer,
    /// Sets the bias initializer.
    bias_initializer: Initializer,
    /// Adds a penalty on the kernels.
    kernel_regularizer: Option<Regularizer>,
    /// Adds a penalty on the biases.
    bias_regularizer: Option<Regularizer>,
    /// Lets query step `i` attend to key steps up to `i` only (Keras's `use_causal_mask`).
    use_causal_mask: bool,
    /// Gates the heads' output with a sigmoid of the query (Keras `use_gate`).
    use_gate: bool,
    /// Takes Keras's `attention_mask` as the last input: `apply([&q, &v, &mask])`.
    attention_mask: bool,
    /// Lets query step `i` attend to key steps within `sliding_window - 1` of it only.
    sliding_window: Option<usize>,
    /// Also gives the attention probabilities (Keras's `return_attention_scores=True`).
    return_attention_scores: bool,
});

impl Layer for GroupedQueryAttention {
    /// Keras's config name (its Python class is `GroupedQueryAttention`).
    fn class_name(&self) -> &str {
        "GroupQueryAttention"
    }

    fn summary_class_name(&self) -> &str {
        "GroupedQueryAttention"
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    /// Keras calls it as `attention(query, value, key)`.
    fn inputs_as_list(&self) -> bool {
        false
    }

    /// Keras's `key=k` and `attention_mask=m` are the third and last inputs.
    fn keyword_inputs(&self, inputs: usize) -> Option<(usize, Vec<&'static str>)> {
        let mut keys = vec!["key"; inputs.saturating_sub(2 + usize::from(self.attention_mask))];
        if self.attention_mask {
            keys.push("attention_mask");
        }
        Some((2, keys))
    }

    fn with_keyword_inputs(
        &self,
        keywords: &[String],
    ) -> Result<(std::sync::Arc<dyn Layer>, Vec<String>), String> {
        let mut layer = self.clone();
        let order: Vec<String> = ["key", "attention_mask"]
            .into_iter()
            .filter(|key| keywords.iter().any(|k| k == key))
            .map(str::to_string)
            .collect();
        if order.len() != keywords.len() {
            return Err(format!(
                "GroupQueryAttention takes tensors by keyword as `key=` and `attention_mask=` \
                 only, got {keywords:?}"
            ));
        }
        layer.attention_mask = keywords.iter().any(|k| k == "attention_mask");
        Ok((std::sync::Arc::new(layer), order))
    }

    fn call_options(&self) -> serde_json::Map<String, serde_json::Value> {
        attention_call_options(self.use_causal_mask, self.return_attention_scores)
    }

    fn with_call_options(
        &self,
        options: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<std::sync::Arc<dyn Layer>, String> {
        let mut layer = self.clone();
        (layer.use_causal_mask, layer.return_attention_scores) = attention_call_option(options)?;
        Ok(std::sync::Arc::new(layer))
    }

    /// With `return_attention_scores`: `[output, scores]`, scores `(query heads, tq, tv)`.
    fn output_shapes(&self, inputs: &[Shape]) -> Result<Option<Vec<Shape>>, String> {
        if !self.return_attention_scores {
            return Ok(None);
        }
        let out = self.output_shape(inputs)?;
        let (tq, tv) = (inputs[0].dims()[0], inputs[1].dims()[0]);
        Ok(Some(vec![out, Shape(vec![self.num_query_heads, tq, tv])]))
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let (dq, _, _) = self.check(inputs)?;
        Ok(Shape(vec![inputs[0].dims()[0], dq]))
    }

    fn build(&self, inputs: &[Shape], weights: &mut WeightBuilder) -> Result<(), String> {
        let (dq, dv, dk) = self.check(inputs)?;
        let (hq, hkv, d) = (
            self.num_query_heads,
            self.num_key_value_heads,
            self.head_dim,
        );
        let mut parts = vec![
            ("query", "query_dense", vec![dq, hq, d], vec![hq, d]),
            ("key", "key_dense", vec![dk, hkv, d], vec![hkv, d]),
        ];
        if self.use_gate {
            parts.push(("gate", "gate_dense", vec![dq, hq, d], vec![hq, d]));
        }
        parts.push(("value", "value_dense", vec![dv, hkv, d], vec![hkv, d]));
        parts.push((
            "attention_output",
            "output_dense",
            vec![hq, d, dq],
            vec![dq],
        ));
        declare_projections(parts, |k, b| self.projection(k, b), inputs, weights)
    }

    fn mask_policy(&self) -> MaskPolicy {
        MaskPolicy::Own
    }

    fn output_masked(&self, _inputs: &[Shape], masked: &[bool]) -> Result<bool, String> {
        Ok(masked.first() == Some(&true))
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

    fn call_outputs(
        &self,
        inputs: Vec<DynTensor>,
        masks: &[Option<Mask>],
        weights: &Weights<'_>,
        training: bool,
    ) -> Result<(Vec<DynTensor>, Option<Mask>), String> {
        let mut tensors = Vec::with_capacity(4);
        for t in inputs {
            let DynTensor::R3(t) = t else {
                return Err(
                    "GroupedQueryAttention needs sequences [batch, steps, features]".into(),
                );
            };
            tensors.push(t);
        }
        let explicit = if self.attention_mask {
            tensors.pop()
        } else {
            None
        };
        let masks = &masks[..masks.len().min(tensors.len())];
        let (query, value, key) = match tensors.len() {
            2 => (tensors[0].clone(), tensors[1].clone(), tensors[1].clone()),
            3 => (tensors[0].clone(), tensors[1].clone(), tensors[2].clone()),
            n => return Err(format!("takes 2 or 3 inputs, got {n}")),
        };
        let (hq, hkv, d) = (
            self.num_query_heads,
            self.num_key_value_heads,
            self.head_dim,
        );
        let repeats = hq / hkv;
        let [b, tq, dq] = query.dims();
        let [_, tv, dv] = value.dims();
        let dk = key.dims()[2];
        let heads =
            |x: Tensor<3>, steps: usize, h: usize| x.reshape([b, steps, h, d]).swap_dims(1, 2);
        // Keras's `ops.repeat(.., axis=heads)`: each key/value head serves `repeats` consecutive
        // query heads.
        let repeat = |x: Tensor<4>| -> Tensor<4> {
            x.unsqueeze_dim::<5>(2)
                .repeat_dim(2, repeats)
                .reshape([b, hq, tv, d])
        };
        let g = usize::from(self.use_gate);
        let gate = if self.use_gate {
            let z = project(query.clone(), &weights.sublayer(2)?, dq, hq * d)?;
            Some(burn::tensor::activation::sigmoid(z))
        } else {
            None
        };
        let q = heads(project(query, &weights.sublayer(0)?, dq, hq * d)?, tq, hq);
        let k = repeat(heads(
            project(key, &weights.sublayer(1)?, dk, hkv * d)?,
            tv,
            hkv,
        ));
        let v = repeat(heads(
            project(value, &weights.sublayer(2 + g)?, dv, hkv * d)?,
            tv,
            hkv,
        ));
        let attend = Attend {
            masks,
            explicit,
            gate,
            causal: self.use_causal_mask,
            window: self.sliding_window,
            dropout: self.dropout,
            scores: self.return_attention_scores,
            training,
        };
        let (y, scores) = attend.heads(q, k, v, &weights.sublayer(3 + g)?, dq)?;
        let mut outputs = vec![DynTensor::R3(y)];
        if self.return_attention_scores {
            outputs.push(DynTensor::R4(scores));
        }
        Ok((outputs, masks.first().cloned().flatten()))
    }
}
