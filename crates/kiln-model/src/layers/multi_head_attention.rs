//! `MultiHeadAttention`: scaled dot-product attention over several heads (Keras
//! `MultiHeadAttention`), on sequences `[batch, steps, features]`.

use burn::tensor::Tensor;
use burn::tensor::activation::softmax;
use serde::{Deserialize, Serialize};

use super::{Layer, Mask, MaskPolicy, WeightBuilder, WeightSpec, Weights, config_of, setters};
use crate::initializer::Initializer;
use crate::regularizer::Regularizer;
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// Attention of a query sequence over a value sequence, `num_heads` times in parallel (Keras
/// `MultiHeadAttention`; "Attention Is All You Need"). Called on `[query, value]` or
/// `[query, value, key]` (the key defaults to the value); self-attention is
/// `attention.apply([&x, &x])`. Each head projects the query and key to `key_dim` and the
/// value to `value_dim` (Keras's `EinsumDense` sublayers `query`, `key`, `value`: kernels
/// `[features, heads, dim]`, biases `[heads, dim]`; weights `attention/query/kernel`, ...;
/// in Keras's weights file `query_dense/vars`, ...), takes `softmax(q·kᵀ / √key_dim)` over
/// the key steps (with dropout in training), and the output projection (`attention_output`,
/// kernel `[heads, value_dim, out]`) maps the heads back to the query's features (or
/// `output_shape`).
///
/// Attention runs over the steps of sequences `(None, steps, features)`, or, on inputs of rank 4
/// or 5 (images, volumes), over the axes [`MultiHeadAttention::attention_axes`] names (by
/// default all of them at once; the others are batch axes). Masks from `Embedding(mask_zero)` or
/// `Masking` are Keras's (see `call_masked`). Keras's call arguments `use_causal_mask`,
/// `attention_mask` and `return_attention_scores` are options here
/// ([`MultiHeadAttention::use_causal_mask`], ...); they and `sliding_window` take sequences
/// only.
///
/// # Examples
/// ```
/// use kiln_model::{Apply, Functional, Input, MultiHeadAttention};
/// let x = Input::new([12, 16]).tensor()?;
/// let y = MultiHeadAttention::new(2, 8).apply([&x, &x])?;
/// let model = Functional::new(&x, &y)?.build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 12, 16)");
/// assert_eq!(model.count_params(), 3 * (16 * 2 * 8 + 2 * 8) + 2 * 8 * 16 + 16);
///
/// // On images (None, 8, 8, 16): each row attends along its 8 columns.
/// let image = Input::new([8, 8, 16]).tensor()?;
/// let rows = MultiHeadAttention::new(2, 8).attention_axes(vec![2]).apply([&image, &image])?;
/// assert_eq!(rows.shape().to_string(), "(None, 8, 8, 16)");
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultiHeadAttention {
    /// Attention heads.
    pub num_heads: usize,
    /// Size of each head's query and key.
    pub key_dim: usize,
    /// Size of each head's value (`None`: `key_dim`).
    #[serde(default)]
    pub value_dim: Option<usize>,
    /// Dropout on the attention probabilities in training (default 0).
    #[serde(default)]
    pub dropout: f64,
    /// Whether the projections have biases (default true).
    #[serde(default = "crate::layers::yes")]
    pub use_bias: bool,
    /// The output's last dimension (`None`: the query's features).
    #[serde(default, deserialize_with = "super::conv_utils::optional_single")]
    pub output_shape: Option<usize>,
    /// The axes attention runs over (Keras's `attention_axes`; `None`: every axis between the
    /// batch and the features). The other axes are batch axes: on images `(None, h, w, c)`,
    /// `Some(vec![2])` attends along each row separately, `None` over all `h·w` pixels at once.
    #[serde(default)]
    pub attention_axes: Option<Vec<i64>>,
    /// Keras's gated attention: a sigmoid gate from the query (its own projection `gate`)
    /// multiplies the heads' output.
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
    /// Query step `i` attends to key steps `j <= i` only (Keras's call argument
    /// `use_causal_mask=True`, for decoders; written to the layer's nodes in a config).
    #[serde(skip)]
    pub use_causal_mask: bool,
    /// The last input is Keras's `attention_mask`: `(query steps, value steps)`, 1 where a
    /// query step may attend to a value step (a call argument in Keras).
    #[serde(skip)]
    pub attention_mask: bool,
    /// Also give the attention probabilities `(heads, query steps, value steps)` (Keras's call
    /// argument `return_attention_scores=True`; applied with `apply_outputs`).
    #[serde(skip)]
    pub return_attention_scores: bool,
}

impl MultiHeadAttention {
    /// `num_heads` heads of size `key_dim`, Keras's defaults otherwise.
    pub fn new(num_heads: usize, key_dim: usize) -> Self {
        Self {
            num_heads,
            key_dim,
            value_dim: None,
            dropout: 0.0,
            use_bias: true,
            output_shape: None,
            attention_axes: None,
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

    fn value_size(&self) -> usize {
        self.value_dim.unwrap_or(self.key_dim)
    }

    /// The axes attention runs over, Keras's way: `attention_axes` (negative ones counted from
    /// the end, the batch axis being 0), by default every axis between the batch and the
    /// features; sorted. `rank` counts the batch axis.
    fn axes(&self, rank: usize) -> Result<Vec<usize>, String> {
        let Some(given) = &self.attention_axes else {
            return Ok((1..rank - 1).collect());
        };
        let mut axes = Vec::with_capacity(given.len());
        for &axis in given {
            let a = if axis < 0 { rank as i64 + axis } else { axis };
            if a < 1 || a >= rank as i64 - 1 {
                return Err(format!(
                    "attention axis {axis} is not an axis between the batch and the features of \
                     inputs of rank {rank}"
                ));
            }
            if axes.contains(&(a as usize)) {
                return Err(format!("attention_axes {given:?} names an axis twice"));
            }
            axes.push(a as usize);
        }
        if axes.is_empty() {
            return Err("attention_axes is empty".into());
        }
        axes.sort_unstable();
        Ok(axes)
    }

    /// `(query, value, key)` features and the output size, checked (and the attention mask's
    /// shape).
    fn check(&self, inputs: &[Shape]) -> Result<(usize, usize, usize, usize), String> {
        let (inputs, mask) = match (self.attention_mask, inputs.split_last()) {
            (true, Some((mask, rest))) => (rest, Some(mask)),
            _ => (inputs, None),
        };
        let (q, v, k) = match inputs {
            [q, v] => (q, v, v),
            [q, v, k] => (q, v, k),
            other => {
                return Err(format!(
                    "MultiHeadAttention takes [query, value] or [query, value, key], got {} \
                     inputs",
                    other.len()
                ));
            }
        };
        let rank = q.dims().len() + 1;
        let shapes = || {
            inputs
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" and ")
        };
        if rank < 3 || v.dims().len() + 1 != rank || k.dims().len() + 1 != rank {
            return Err(format!(
                "MultiHeadAttention needs a query, value and key of one rank, at least \
                 (None, steps, features), got {}",
                shapes()
            ));
        }
        let axes = self.axes(rank)?;
        // Non-attention axes are batch axes: the query's, value's and key's must agree; the
        // value's and key's attention axes too.
        for i in 1..rank - 1 {
            let (tq, tv, tk) = (q.dims()[i - 1], v.dims()[i - 1], k.dims()[i - 1]);
            if axes.contains(&i) {
                if tv != tk {
                    return Err(format!(
                        "the value has {tv} steps on axis {i}, the key {tk}: got {}",
                        shapes()
                    ));
                }
                if tq == 0 || tv == 0 {
                    return Err("the sequences need at least one step".into());
                }
            } else if tq != tv || tq != tk {
                return Err(format!(
                    "axis {i} is not an attention axis, so the query, value and key must agree \
                     on it: got {}",
                    shapes()
                ));
            }
        }
        if rank > 3 {
            let options = [
                (self.use_causal_mask, "use_causal_mask"),
                (self.attention_mask, "attention_mask"),
                (self.sliding_window.is_some(), "sliding_window"),
                (self.return_attention_scores, "return_attention_scores"),
            ];
            if let Some((_, name)) = options.iter().find(|(on, _)| *on) {
                return Err(format!(
                    "{name} is supported on sequences (None, steps, features) only, not on \
                     inputs of rank {rank} ({})",
                    shapes()
                ));
            }
        }
        if let (Some(mask), [q, v, ..]) = (mask, inputs)
            && mask.dims() != [q.dims()[0], v.dims()[0]]
        {
            return Err(format!(
                "the attention mask must be (query steps, value steps) = ({}, {}), got {mask}",
                q.dims()[0],
                v.dims()[0]
            ));
        }
        if self.num_heads == 0 || self.key_dim == 0 || self.value_size() == 0 {
            return Err("num_heads, key_dim and value_dim must be at least 1".into());
        }
        check_window(self.sliding_window)?;
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!("dropout must be in [0, 1), got {}", self.dropout));
        }
        let (dq, dv, dk) = (q.dims()[rank - 2], v.dims()[rank - 2], k.dims()[rank - 2]);
        Ok((dq, dv, dk, self.output_shape.unwrap_or(dq)))
    }
}

setters!(MultiHeadAttention {
    /// Sets the value size per head.
    value_dim: Option<usize>,
    /// Sets the attention dropout.
    dropout: f64,
    /// Sets whether the projections have biases.
    use_bias: bool,
    /// Sets the output's last dimension.
    output_shape: Option<usize>,
    /// Sets the kernel initializer.
    kernel_initializer: Initializer,
    /// Sets the bias initializer.
    bias_initializer: Initializer,
    /// Adds a penalty on the kernels.
    kernel_regularizer: Option<Regularizer>,
    /// Adds a penalty on the biases.
    bias_regularizer: Option<Regularizer>,
    /// Lets query step `i` attend to key steps up to `i` only (Keras's `use_causal_mask=True`).
    use_causal_mask: bool,
    /// Takes Keras's `attention_mask` as the last input: `apply([&q, &v, &mask])`.
    attention_mask: bool,
    /// Also gives the attention probabilities (Keras's `return_attention_scores=True`).
    return_attention_scores: bool,
    /// Gates the heads' output with a sigmoid of the query (Keras `use_gate`).
    use_gate: bool,
    /// Sets the axes attention runs over (Keras `attention_axes`).
    attention_axes: Option<Vec<i64>>,
    /// Lets query step `i` attend to key steps within `sliding_window - 1` of it only.
    sliding_window: Option<usize>,
});

/// One of the four projections (Keras's `EinsumDense`): a kernel and an optional bias.
#[derive(Debug)]
pub(crate) struct Projection {
    pub(crate) kernel: Vec<usize>,
    pub(crate) bias: Vec<usize>,
    /// Whose initializers, regularizers and `use_bias` the projection takes.
    pub(crate) options: MultiHeadAttention,
}

impl Layer for Projection {
    fn class_name(&self) -> &str {
        "EinsumDense"
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        Ok(inputs.first().cloned().unwrap_or_default())
    }

    fn build(&self, _inputs: &[Shape], weights: &mut WeightBuilder) -> Result<(), String> {
        let o = &self.options;
        let kernel = WeightSpec::new("kernel", self.kernel.clone(), o.kernel_initializer);
        weights.add_weight(kernel.regularizer(o.kernel_regularizer))?;
        if o.use_bias {
            let bias = WeightSpec::new("bias", self.bias.clone(), o.bias_initializer);
            weights.add_weight(bias.regularizer(o.bias_regularizer))?;
        }
        Ok(())
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        _training: bool,
    ) -> Result<DynTensor, String> {
        super::only(inputs)
    }
}

/// `x [batch, steps, features]` times a kernel flattened to `[features, rest]`, plus the bias.
pub(crate) fn project(
    x: Tensor<3>,
    weights: &Weights<'_>,
    rows: usize,
    cols: usize,
) -> Result<Tensor<3>, String> {
    let [b, t, d] = x.dims();
    let kernel = weights.at::<3>(0)?.reshape([rows, cols]);
    let mut y = x.reshape([b * t, d]).matmul(kernel);
    if let Some(bias) = weights.optional::<2>("bias")? {
        y = y + bias.reshape([1, cols]);
    }
    Ok(y.reshape([b, t, cols]))
}

impl Layer for MultiHeadAttention {
    fn class_name(&self) -> &str {
        "MultiHeadAttention"
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
        let mut order = Vec::new();
        for key in ["key", "attention_mask"] {
            if keywords.iter().any(|k| k == key) {
                order.push(key.to_string());
            }
        }
        if order.len() != keywords.len() {
            return Err(format!(
                "MultiHeadAttention takes tensors by keyword as `key=` and `attention_mask=` \
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

    /// With `return_attention_scores`: `[output, scores]`, scores `(heads, tq, tv)`.
    fn output_shapes(&self, inputs: &[Shape]) -> Result<Option<Vec<Shape>>, String> {
        if !self.return_attention_scores {
            return Ok(None);
        }
        let out = self.output_shape(inputs)?;
        let (tq, tv) = (inputs[0].dims()[0], inputs[1].dims()[0]);
        Ok(Some(vec![out, Shape(vec![self.num_heads, tq, tv])]))
    }

    fn call_outputs(
        &self,
        inputs: Vec<DynTensor>,
        masks: &[Option<Mask>],
        weights: &Weights<'_>,
        training: bool,
    ) -> Result<(Vec<DynTensor>, Option<Mask>), String> {
        let (y, scores, mask) = self.attend(inputs, masks, weights, training)?;
        Ok((vec![y, DynTensor::R4(scores)], mask))
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let (_, _, _, out) = self.check(inputs)?;
        let mut dims = inputs[0].dims().to_vec();
        if let Some(last) = dims.last_mut() {
            *last = out;
        }
        Ok(Shape(dims))
    }

    fn build(&self, inputs: &[Shape], weights: &mut WeightBuilder) -> Result<(), String> {
        let (dq, dv, dk, out) = self.check(inputs)?;
        let (h, kd, vd) = (self.num_heads, self.key_dim, self.value_size());
        let projection = |kernel: Vec<usize>, bias: Vec<usize>| Projection {
            kernel,
            bias,
            options: self.clone(),
        };
        // Keras's sublayer names (its weights are `query/kernel`, ...), kept in its weights
        // file under the attribute names (`query_dense/vars`).
        let mut parts = vec![
            ("query", "query_dense", vec![dq, h, kd], vec![h, kd]),
            ("key", "key_dense", vec![dk, h, kd], vec![h, kd]),
        ];
        // Keras builds the gate after the key.
        if self.use_gate {
            parts.push(("gate", "gate_dense", vec![dq, h, vd], vec![h, vd]));
        }
        parts.push(("value", "value_dense", vec![dv, h, vd], vec![h, vd]));
        parts.push((
            "attention_output",
            "output_dense",
            vec![h, vd, out],
            vec![out],
        ));
        declare_projections(parts, projection, inputs, weights)
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        weights: &Weights<'_>,
        training: bool,
    ) -> Result<DynTensor, String> {
        Ok(self.call_masked(inputs, &[], weights, training)?.0)
    }

    /// Keras's masks: the query's, value's and key's masks combine into the attention mask
    /// (`[batch, query steps, value steps]`, a pair is attended only where all are real); the
    /// output keeps the query's mask.
    fn mask_policy(&self) -> MaskPolicy {
        MaskPolicy::Own
    }

    fn output_masked(&self, inputs: &[Shape], masked: &[bool]) -> Result<bool, String> {
        if masked.contains(&true) && inputs.first().is_some_and(|q| q.dims().len() > 2) {
            return Err(format!(
                "masks are supported on sequences (None, steps, features) only, not on {}",
                inputs[0]
            ));
        }
        Ok(masked.first() == Some(&true))
    }

    fn call_masked(
        &self,
        inputs: Vec<DynTensor>,
        masks: &[Option<Mask>],
        weights: &Weights<'_>,
        training: bool,
    ) -> Result<(DynTensor, Option<Mask>), String> {
        let (y, _, mask) = self.attend(inputs, masks, weights, training)?;
        Ok((y, mask))
    }
}

impl MultiHeadAttention {
    /// The output, the attention probabilities `[b, heads, tq, tv]` and the output's mask.
    fn attend(
        &self,
        inputs: Vec<DynTensor>,
        masks: &[Option<Mask>],
        weights: &Weights<'_>,
        training: bool,
    ) -> Result<(DynTensor, Tensor<4>, Option<Mask>), String> {
        // Inputs of rank > 3 run as sequences: the axes attention does not run over join the
        // batch, the attention axes are flattened into one (Keras's einsum equations do the
        // same without reshaping).
        let rank = inputs.first().map_or(3, DynTensor::rank);
        let layout = (rank > 3)
            .then(|| self.axes(rank).map(|axes| Layout::new(rank, &axes)))
            .transpose()?;
        let mut tensors = Vec::with_capacity(4);
        let mut query_dims = Vec::new();
        for t in inputs {
            let (t, dims) = match (&layout, t) {
                (None, DynTensor::R3(t)) => (t, Vec::new()),
                (Some(layout), t) => layout.to_sequences(t)?,
                _ => {
                    return Err(
                        "MultiHeadAttention needs a query, value and key of one rank".into(),
                    );
                }
            };
            if query_dims.is_empty() {
                query_dims = dims;
            }
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
        let (h, kd, vd) = (self.num_heads, self.key_dim, self.value_size());
        let [b, tq, dq] = query.dims();
        let [_, tv, dv] = value.dims();
        let dk = key.dims()[2];
        let out = self.output_shape.unwrap_or(dq);
        let heads = |x: Tensor<3>, steps: usize, size: usize| {
            x.reshape([b, steps, h, size]).swap_dims(1, 2)
        };
        // Keras's gate: sigmoid of another projection of the query, times the heads' output.
        let g = usize::from(self.use_gate);
        let gate = if self.use_gate {
            let z = project(query.clone(), &weights.sublayer(2)?, dq, h * vd)?;
            Some(burn::tensor::activation::sigmoid(z))
        } else {
            None
        };
        let q = heads(project(query, &weights.sublayer(0)?, dq, h * kd)?, tq, kd);
        let k = heads(project(key, &weights.sublayer(1)?, dk, h * kd)?, tv, kd);
        let v = heads(
            project(value, &weights.sublayer(2 + g)?, dv, h * vd)?,
            tv,
            vd,
        );
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
        let (y, scores) = attend.heads(q, k, v, &weights.sublayer(3 + g)?, out)?;
        let y = match &layout {
            Some(layout) => layout.restore(y, query_dims)?,
            None => DynTensor::R3(y),
        };
        Ok((y, scores, masks.first().cloned().flatten()))
    }
}

/// How an input of rank > 3 runs as sequences `[batch · batch axes, attention positions,
/// features]`: the permutation that puts the batch axis, then the axes attention does not run
/// over, then the attention axes, then the features.
struct Layout {
    perm: Vec<usize>,
    /// Axes that join the batch (the batch axis included).
    batch_axes: usize,
}

impl Layout {
    fn new(rank: usize, axes: &[usize]) -> Self {
        let mut perm = vec![0];
        perm.extend((1..rank - 1).filter(|a| !axes.contains(a)));
        let batch_axes = perm.len();
        perm.extend_from_slice(axes);
        perm.push(rank - 1);
        Self { perm, batch_axes }
    }

    /// The input as sequences, and its dims in the permuted order.
    fn to_sequences(&self, x: DynTensor) -> Result<(Tensor<3>, Vec<usize>), String> {
        fn go<const D: usize>(
            x: Tensor<D>,
            perm: &[usize],
            batch_axes: usize,
        ) -> Result<(Tensor<3>, Vec<usize>), String> {
            let perm: [usize; D] = perm
                .try_into()
                .map_err(|_| format!("attention axes of rank {} on rank {D}", perm.len()))?;
            let x = x.permute(perm);
            let dims = x.dims().to_vec();
            let rows = dims[..batch_axes].iter().product();
            let steps = dims[batch_axes..D - 1].iter().product();
            Ok((x.reshape([rows, steps, dims[D - 1]]), dims))
        }
        match x {
            DynTensor::R4(x) => go(x, &self.perm, self.batch_axes),
            DynTensor::R5(x) => go(x, &self.perm, self.batch_axes),
            other => Err(format!(
                "MultiHeadAttention needs a query, value and key of one rank, got rank {}",
                other.rank()
            )),
        }
    }

    /// Sequences `y` `[rows, steps, out]` back in the query's layout (`dims`: the query's
    /// permuted dims).
    fn restore(&self, y: Tensor<3>, mut dims: Vec<usize>) -> Result<DynTensor, String> {
        fn go<const D: usize>(y: Tensor<3>, dims: &[usize], perm: &[usize]) -> Option<Tensor<D>> {
            let dims: [usize; D] = dims.try_into().ok()?;
            let mut inverse = [0; D];
            for (i, &p) in perm.iter().enumerate() {
                *inverse.get_mut(p)? = i;
            }
            Some(y.reshape(dims).permute(inverse))
        }
        if let Some(last) = dims.last_mut() {
            *last = y.dims()[2];
        }
        match dims.len() {
            4 => go::<4>(y, &dims, &self.perm).map(DynTensor::R4),
            5 => go::<5>(y, &dims, &self.perm).map(DynTensor::R5),
            _ => None,
        }
        .ok_or_else(|| format!("cannot give the attention output the query's layout {dims:?}"))
    }
}

/// The attention core MultiHeadAttention and GroupedQueryAttention share: scaled dot products
/// of query heads with key heads, Keras's masks, softmax, dropout, the weighted values and the
/// output projection.
pub(crate) struct Attend<'m> {
    pub(crate) masks: &'m [Option<Mask>],
    /// Keras's `attention_mask` argument, `[b, tq, tv]`.
    pub(crate) explicit: Option<Tensor<3>>,
    /// Keras's `use_gate`: multiplies the heads' output `[b, tq, heads·dv]` before the output
    /// projection.
    pub(crate) gate: Option<Tensor<3>>,
    pub(crate) causal: bool,
    /// Keras's `sliding_window`: query step `i` attends to key steps `j` with `|i - j| < w`.
    pub(crate) window: Option<usize>,
    pub(crate) dropout: f64,
    /// Whether the probabilities are returned (Keras then takes its masked-softmax path).
    pub(crate) scores: bool,
    pub(crate) training: bool,
}

impl Attend<'_> {
    /// `q` `[b, heads, tq, d]`, `k` `[b, heads, tv, d]`, `v` `[b, heads, tv, dv]` → the output
    /// projection (`output`: kernel `[heads, dv, out]`, bias `[out]`) of the attended values,
    /// `[b, tq, out]`, and the attention probabilities `[b, heads, tq, tv]` (before dropout).
    pub(crate) fn heads(
        &self,
        q: Tensor<4>,
        k: Tensor<4>,
        v: Tensor<4>,
        output: &Weights<'_>,
        out: usize,
    ) -> Result<(Tensor<3>, Tensor<4>), String> {
        let [b, h, tq, d] = q.dims();
        let [_, _, tv, vd] = v.dims();
        let q = q * (1.0 / (d as f32).sqrt());
        let scores = q.matmul(k.swap_dims(2, 3));
        let mut attention = match attention_mask(
            self.masks,
            self.explicit.clone(),
            self.causal,
            self.window,
            b,
            tq,
            tv,
            &scores.device(),
        ) {
            // Keras 3.15.1: masked pairs get a large negative score. Without dropout it runs
            // `dot_product_attention`, where a query step with every key masked attends
            // uniformly; with dropout its masked softmax then zeroes the masked pairs.
            Some(m) => {
                let m = m.unsqueeze_dim::<4>(1);
                let filled = scores * m.clone() + (m.clone().neg() + 1.0) * -1e9;
                let p = softmax(filled, 3);
                if self.dropout > 0.0 || self.scores {
                    p * m
                } else {
                    p
                }
            }
            None => softmax(scores, 3),
        };
        let probabilities = attention.clone();
        if self.training && self.dropout > 0.0 {
            let keep = 1.0 - self.dropout;
            let device = attention.device();
            let drop = crate::bernoulli::mask(attention.shape(), keep, &device);
            attention = attention * drop * (1.0 / keep) as f32;
        }
        let mut context = attention
            .matmul(v)
            .swap_dims(1, 2)
            .reshape([b * tq, h * vd]);
        if let Some(gate) = &self.gate {
            context = context * gate.clone().reshape([b * tq, h * vd]);
        }
        let kernel = output.at::<3>(0)?.reshape([h * vd, out]);
        let mut y = context.matmul(kernel);
        if let Some(bias) = output.optional::<1>("bias")? {
            y = y + bias.reshape([1, out]);
        }
        Ok((y.reshape([b, tq, out]), probabilities))
    }
}

/// Declares the four projections (`query`, `key`, `value`, `attention_output`: `(name, group
/// in Keras's weights file, kernel shape, bias shape)`) as sublayers.
pub(crate) fn declare_projections(
    parts: Vec<(&str, &str, Vec<usize>, Vec<usize>)>,
    make: impl Fn(Vec<usize>, Vec<usize>) -> Projection,
    inputs: &[Shape],
    weights: &mut WeightBuilder,
) -> Result<(), String> {
    for (name, group, kernel, bias) in parts {
        weights.add_sublayer(name, &make(kernel, bias), &inputs[..1])?;
        if let Some((_, sub)) = weights.sublayers.last_mut() {
            sub.keras_group = Some(group.to_string());
        }
    }
    Ok(())
}

/// Keras's causal mask `[tq, tv]`: 1 where key step `j <= i`, the query step.
pub(crate) fn causal_mask(tq: usize, tv: usize, device: &burn::tensor::Device) -> Tensor<2> {
    let rows = Tensor::<1, burn::tensor::Int>::arange(0..tq as i64, device).reshape([tq, 1]);
    let cols = Tensor::<1, burn::tensor::Int>::arange(0..tv as i64, device).reshape([1, tv]);
    rows.greater_equal(cols).float()
}

/// Keras's sliding-window mask `[tq, tv]`: 1 where `|i - j| < window` (a symmetric band; with
/// the causal mask, the causal window of Mistral and Llama 3).
pub(crate) fn window_mask(
    tq: usize,
    tv: usize,
    window: usize,
    device: &burn::tensor::Device,
) -> Tensor<2> {
    let rows = Tensor::<1, burn::tensor::Int>::arange(0..tq as i64, device).reshape([tq, 1]);
    let cols = Tensor::<1, burn::tensor::Int>::arange(0..tv as i64, device).reshape([1, tv]);
    (rows - cols).abs().lower_elem(window as i64).float()
}

/// `sliding_window`, checked: a positive integer, as Keras asks.
pub(crate) fn check_window(window: Option<usize>) -> Result<(), String> {
    match window {
        Some(0) => Err("sliding_window must be None or a positive integer, got 0".into()),
        _ => Ok(()),
    }
}

/// `{"use_causal_mask": true}` where it is on: the call argument Keras's attention layers take.
pub(crate) fn causal_options(on: bool) -> serde_json::Map<String, serde_json::Value> {
    let mut map = serde_json::Map::new();
    if on {
        map.insert("use_causal_mask".into(), serde_json::Value::Bool(true));
    }
    map
}

/// The call arguments Keras's attention layers take: `use_causal_mask`,
/// `return_attention_scores`.
pub(crate) fn attention_call_options(
    causal: bool,
    scores: bool,
) -> serde_json::Map<String, serde_json::Value> {
    let mut map = causal_options(causal);
    if scores {
        map.insert(
            "return_attention_scores".into(),
            serde_json::Value::Bool(true),
        );
    }
    map
}

/// Reads `use_causal_mask` and `return_attention_scores` from a config's call arguments,
/// refusing any other.
pub(crate) fn attention_call_option(
    options: &serde_json::Map<String, serde_json::Value>,
) -> Result<(bool, bool), String> {
    let (mut causal, mut scores) = (false, false);
    for (key, value) in options {
        match (key.as_str(), value.as_bool()) {
            ("use_causal_mask", Some(on)) => causal = on,
            ("return_attention_scores", Some(on)) => scores = on,
            _ => {
                return Err(format!(
                    "a call with `{key}={value}` is not supported by Kiln yet (only \
                     use_causal_mask and return_attention_scores)"
                ));
            }
        }
    }
    Ok((causal, scores))
}

/// The attention mask `[batch, tq, tv]` from the query's, value's and key's masks and the
/// causal mask (Keras's `_compute_attention_mask`), `None` when there is none.
#[allow(clippy::too_many_arguments)]
pub(crate) fn attention_mask(
    masks: &[Option<Mask>],
    explicit: Option<Tensor<3>>,
    causal: bool,
    window: Option<usize>,
    b: usize,
    tq: usize,
    tv: usize,
    device: &burn::tensor::Device,
) -> Option<Tensor<3>> {
    if masks.iter().all(Option::is_none) && !causal && window.is_none() && explicit.is_none() {
        return None;
    }
    // Keras's `attention_mask` is boolean: any non-zero value attends.
    let mut m = match explicit {
        Some(e) => e.not_equal_elem(0.0).float(),
        None => Tensor::<3>::ones([b, tq, tv], device),
    };
    if causal {
        m = m * causal_mask(tq, tv, device).unsqueeze_dim::<3>(0);
    }
    if let Some(w) = window {
        m = m * window_mask(tq, tv, w, device).unsqueeze_dim::<3>(0);
    }
    if let Some(Some(q)) = masks.first() {
        m = m * q.clone().unsqueeze_dim::<3>(2);
    }
    for k in masks.iter().skip(1).flatten() {
        m = m * k.clone().unsqueeze_dim::<3>(1);
    }
    Some(m)
}
