//! `EinsumDense`: a dense layer whose contraction is an einsum equation (Keras `EinsumDense`).

use burn::tensor::Tensor;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::{Layer, WeightBuilder, WeightSpec, Weights, config_of, only, setters};
use crate::activation::Activation;
use crate::constraint::Constraint;
use crate::initializer::Initializer;
use crate::regularizer::Regularizer;
use crate::shape::Shape;
use crate::tensor::{DynTensor, MAX_RANK};

/// `einsum(equation, x, kernel) + bias`, then the activation (Keras `layers.EinsumDense`): the
/// equation names the input's axes (batch first), the kernel's and the output's, e.g.
/// `"ab,bc->ac"` is Dense, `"abc,cde->abde"` projects each step to `[d, e]` (attention heads),
/// `"...b,bc->...c"` leaves the leading axes alone. `output_shape` gives the output's sizes
/// without the batch axis (`None` where an axis comes from the input); `bias_axes` names the
/// output axes the bias spans (default none). The kernel's sizes come from the input and
/// `output_shape`, as Keras's.
///
/// # Examples
/// ```
/// use kiln_model::{EinsumDense, Input, Sequential};
/// let model = Sequential::new().add(Input::new([5, 8]))
///     .add(EinsumDense::new("abc,cde->abde", [Some(5), Some(2), Some(4)]).bias_axes("de"))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 5, 2, 4)");
/// assert_eq!(model.weight_shapes(), [vec![8, 2, 4], vec![2, 4]]);
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EinsumDense {
    /// `"<input>,<kernel>-><output>"`, one letter per axis, `...` at the start or end of the
    /// input and output for axes passed through.
    pub equation: String,
    /// The output's sizes without the batch axis (and without the `...` axes).
    #[serde(deserialize_with = "sizes")]
    pub output_shape: Vec<Option<usize>>,
    /// Applied last (default linear).
    #[serde(default, deserialize_with = "crate::layers::activation_or_null")]
    pub activation: Activation,
    /// The output axes the bias spans (`"de"`), none by default.
    #[serde(default)]
    pub bias_axes: Option<String>,
    /// Kernel initializer (default glorot-uniform).
    #[serde(default = "crate::layers::glorot")]
    pub kernel_initializer: Initializer,
    /// Bias initializer (default zeros).
    #[serde(default)]
    pub bias_initializer: Initializer,
    /// Penalty on the kernel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_regularizer: Option<Regularizer>,
    /// Penalty on the bias.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias_regularizer: Option<Regularizer>,
    /// Projection of the kernel after each optimizer step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_constraint: Option<Constraint>,
    /// Projection of the bias after each optimizer step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias_constraint: Option<Constraint>,
    /// Keras's LoRA rank (`None` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lora_rank: Option<usize>,
}

/// Keras writes `output_shape` as one int or a list with `null`s.
fn sizes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Option<usize>>, D::Error> {
    match Value::deserialize(d)? {
        Value::Array(list) => {
            list.into_iter()
                .map(|v| match v {
                    Value::Null => Ok(None),
                    v => v.as_u64().map(|n| Some(n as usize)).ok_or_else(|| {
                        serde::de::Error::custom("output_shape holds sizes or null")
                    }),
                })
                .collect()
        }
        Value::Number(n) => n
            .as_u64()
            .map(|n| vec![Some(n as usize)])
            .ok_or_else(|| serde::de::Error::custom("output_shape must be a size")),
        _ => Err(serde::de::Error::custom(
            "output_shape must be a size or a list",
        )),
    }
}

impl EinsumDense {
    /// The layer for `equation` with the output's sizes (batch axis left out).
    pub fn new(equation: impl Into<String>, output_shape: impl Into<Vec<Option<usize>>>) -> Self {
        Self {
            equation: equation.into(),
            output_shape: output_shape.into(),
            activation: Activation::Linear,
            bias_axes: None,
            kernel_initializer: Initializer::GlorotUniform,
            bias_initializer: Initializer::Zeros,
            kernel_regularizer: None,
            bias_regularizer: None,
            kernel_constraint: None,
            bias_constraint: None,
            lora_rank: None,
        }
    }
}

impl EinsumDense {
    /// Adds a bias over these output axes (`"de"`; Keras `bias_axes`).
    pub fn bias_axes(mut self, axes: impl Into<String>) -> Self {
        self.bias_axes = Some(axes.into());
        self
    }
}

setters!(EinsumDense {
    /// Sets the activation.
    activation: Activation,
    /// Sets the kernel initializer.
    kernel_initializer: Initializer,
    /// Sets the bias initializer.
    bias_initializer: Initializer,
    /// Adds a penalty on the kernel.
    kernel_regularizer: Option<Regularizer>,
    /// Adds a penalty on the bias.
    bias_regularizer: Option<Regularizer>,
    /// Projects the kernel after each optimizer step.
    kernel_constraint: Option<Constraint>,
    /// Projects the bias after each optimizer step.
    bias_constraint: Option<Constraint>,
});

/// The equation for one input rank: letters for the input (batch first), kernel and output,
/// the `...` expanded; the sizes of the kernel, the bias and the output (batch axis first, 0
/// for it).
#[derive(Debug, Clone, PartialEq)]
struct Plan {
    input: Vec<char>,
    kernel: Vec<char>,
    output: Vec<char>,
    kernel_shape: Vec<usize>,
    bias_shape: Option<Vec<usize>>,
    output_shape: Vec<usize>,
}

impl EinsumDense {
    /// Keras's `_analyze_einsum_string` for a sample of shape `sample` (batch excluded).
    fn plan(&self, sample: &[usize]) -> Result<Plan, String> {
        if self.lora_rank.is_some() {
            return Err("lora_rank is not supported by Kiln yet".into());
        }
        let eq: String = self
            .equation
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let bad = || {
            format!(
                "equation `{}`: use `<input>,<kernel>-><output>`, one letter per axis, `...` at \
                 the start or the end of the input and output",
                self.equation
            )
        };
        let (lhs, out) = eq.split_once("->").ok_or_else(bad)?;
        let (inp, ker) = lhs.split_once(',').ok_or_else(bad)?;
        let letters = |s: &str| -> Result<Vec<char>, String> {
            if s.chars().all(|c| c.is_ascii_alphabetic()) {
                Ok(s.chars().collect())
            } else {
                Err(bad())
            }
        };
        let kernel = letters(ker)?;
        // `...` at the start ("left elided") or the end of both input and output.
        let (left, inp, out) = match (inp.strip_prefix("..."), out.strip_prefix("...")) {
            (Some(i), Some(o)) => (Some(true), i, o),
            (None, None) => match (inp.strip_suffix("..."), out.strip_suffix("...")) {
                (Some(i), Some(o)) => (Some(false), i, o),
                (None, None) => (None, inp, out),
                _ => return Err(bad()),
            },
            _ => return Err(bad()),
        };
        let (mut input, mut output) = (letters(inp)?, letters(out)?);
        let rank = sample.len() + 1;
        if input.len() > rank || (left.is_none() && input.len() != rank) {
            return Err(format!(
                "equation `{}` names {} input axes; the input has {rank} (batch included)",
                self.equation,
                input.len()
            ));
        }
        let elided = rank - input.len();
        let used: Vec<char> = input
            .iter()
            .chain(&kernel)
            .chain(&output)
            .copied()
            .collect();
        let fresh: Vec<char> = ('A'..='Z')
            .chain('a'..='z')
            .filter(|c| !used.contains(c))
            .take(elided)
            .collect();
        // Output sizes with the batch axis first (0) and the elided axes from the input.
        let mut sizes: Vec<Option<usize>> = std::iter::once(Some(0))
            .chain(self.output_shape.iter().copied())
            .collect();
        let full: Vec<usize> = std::iter::once(0).chain(sample.iter().copied()).collect();
        match left {
            Some(true) => {
                // `...` after the batch letter? Keras's left-elided form keeps the batch axis
                // inside the `...`: the input letters are the last axes.
                input = fresh.iter().copied().chain(input).collect();
                output = fresh.iter().copied().chain(output).collect();
                for (k, &d) in full.iter().enumerate().take(elided).skip(1) {
                    sizes.insert(k, Some(d));
                }
            }
            Some(false) => {
                input.extend(&fresh);
                output.extend(&fresh);
                sizes.extend(full[rank - elided..].iter().map(|&d| Some(d)));
            }
            None => {}
        }
        if sizes.len() != output.len() {
            return Err(format!(
                "equation `{}` names {} output axes; output_shape {:?} gives {} (batch excluded)",
                self.equation,
                output.len() - 1,
                self.output_shape,
                sizes.len() - 1
            ));
        }
        let in_size = |c: char| input.iter().position(|&x| x == c).map(|i| full[i]);
        let mut output_shape = Vec::with_capacity(output.len());
        for (i, &c) in output.iter().enumerate() {
            let size = match (in_size(c), sizes[i]) {
                (Some(d), Some(s)) if i > 0 && d != s => {
                    return Err(format!(
                        "output axis `{c}` has size {s} in output_shape but {d} in the input"
                    ));
                }
                (Some(d), _) => d,
                (None, Some(s)) => s,
                (None, None) => {
                    return Err(format!(
                        "output axis `{c}` has no size: give it in output_shape"
                    ));
                }
            };
            if !input.contains(&c) && !kernel.contains(&c) {
                return Err(format!(
                    "output axis `{c}` is in neither the input nor the kernel"
                ));
            }
            output_shape.push(size);
        }
        let kernel_shape = kernel
            .iter()
            .map(
                |&c| match (in_size(c), output.iter().position(|&o| o == c)) {
                    (Some(d), _) => Ok(d),
                    (None, Some(i)) => Ok(output_shape[i]),
                    (None, None) => Err(format!(
                        "kernel axis `{c}` is in neither the input nor the output"
                    )),
                },
            )
            .collect::<Result<Vec<_>, _>>()?;
        for &c in &input {
            if !kernel.contains(&c) && !output.contains(&c) {
                return Err(format!(
                    "input axis `{c}` is in neither the kernel nor the output"
                ));
            }
        }
        let bias_shape = match &self.bias_axes {
            None => None,
            Some(axes) => {
                let first = axes
                    .chars()
                    .map(|c| {
                        output
                            .iter()
                            .position(|&o| o == c)
                            .ok_or_else(|| format!("bias axis `{c}` is not an output axis"))
                    })
                    .collect::<Result<Vec<_>, _>>()?
                    .into_iter()
                    .min()
                    .ok_or("bias_axes is empty")?;
                Some(
                    output[first..]
                        .iter()
                        .zip(&output_shape[first..])
                        .map(|(c, &d)| if axes.contains(*c) { d } else { 1 })
                        .collect(),
                )
            }
        };
        if input.len() > MAX_RANK || kernel.len() > MAX_RANK || output.len() > MAX_RANK {
            return Err(format!(
                "Kiln's einsum takes up to {MAX_RANK} axes per operand"
            ));
        }
        Ok(Plan {
            input,
            kernel,
            output,
            kernel_shape,
            bias_shape,
            output_shape,
        })
    }
}

/// `t` (of `dims`, padded to rank 5) with its axes in `order` (the padded ones after).
fn permuted(t: Tensor<5>, order: &[usize]) -> Tensor<5> {
    let mut full: Vec<usize> = order.to_vec();
    full.extend((0..5).filter(|a| !order.contains(a)));
    let mut axes = [0usize; 5];
    axes.copy_from_slice(&full);
    t.permute(axes)
}

fn padded(t: Tensor<5>, dims: &[usize]) -> Tensor<5> {
    let mut five = [1usize; 5];
    five[..dims.len()].copy_from_slice(dims);
    t.reshape(five)
}

/// `einsum(x, k)` by permutes, reshapes and one batched matmul: the letters shared by the input,
/// the kernel and the output batch the product, those of the input and the kernel only are
/// summed, the rest stay.
fn einsum(plan: &Plan, x: Tensor<5>, x_dims: &[usize], k: Tensor<5>) -> Tensor<5> {
    let (inp, ker, out) = (&plan.input, &plan.kernel, &plan.output);
    let shared: Vec<char> = inp
        .iter()
        .filter(|c| ker.contains(c) && out.contains(c))
        .copied()
        .collect();
    let summed: Vec<char> = inp
        .iter()
        .filter(|c| ker.contains(c) && !out.contains(c))
        .copied()
        .collect();
    let free_x: Vec<char> = inp.iter().filter(|c| !ker.contains(c)).copied().collect();
    let free_k: Vec<char> = ker.iter().filter(|c| !inp.contains(c)).copied().collect();
    let pos = |spec: &[char], c: &char| spec.iter().position(|x| x == c).unwrap_or(0);
    let size_x = |c: &char| x_dims[pos(inp, c)];
    let size_k = |c: &char| plan.kernel_shape[pos(ker, c)];
    let product = |cs: &[char], f: &dyn Fn(&char) -> usize| cs.iter().map(f).product::<usize>();
    let (s, c) = (product(&shared, &size_x), product(&summed, &size_x));
    let (nx, nk) = (product(&free_x, &size_x), product(&free_k, &size_k));
    let x_order: Vec<usize> = shared
        .iter()
        .chain(&summed)
        .chain(&free_x)
        .map(|c| pos(inp, c))
        .collect();
    let k_order: Vec<usize> = shared
        .iter()
        .chain(&summed)
        .chain(&free_k)
        .map(|c| pos(ker, c))
        .collect();
    // [s, nx, c] · [s, c, nk] → [s, nx, nk]
    let xm: Tensor<3> = permuted(x, &x_order).reshape([s, c, nx]).swap_dims(1, 2);
    let km: Tensor<3> = permuted(k, &k_order).reshape([s, c, nk]);
    let y = xm.matmul(km);
    // Axes of y: shared, free_x, free_k; then into the output's order.
    let y_letters: Vec<char> = shared
        .iter()
        .chain(&free_x)
        .chain(&free_k)
        .copied()
        .collect();
    let y_dims: Vec<usize> = shared
        .iter()
        .chain(&free_x)
        .map(size_x)
        .chain(free_k.iter().map(size_k))
        .collect();
    let y = padded(
        y.reshape([s * nx * nk]).reshape([s * nx * nk, 1, 1, 1, 1]),
        &y_dims,
    );
    let order: Vec<usize> = out.iter().map(|c| pos(&y_letters, c)).collect();
    permuted(y, &order)
}

impl Layer for EinsumDense {
    fn class_name(&self) -> &str {
        "EinsumDense"
    }

    fn config(&self) -> Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let plan = self.plan(only(inputs)?.dims())?;
        Ok(Shape(plan.output_shape[1..].to_vec()))
    }

    fn build(&self, inputs: &[Shape], weights: &mut WeightBuilder) -> Result<(), String> {
        let plan = self.plan(only(inputs)?.dims())?;
        let kernel = WeightSpec::new("kernel", plan.kernel_shape, self.kernel_initializer)
            .regularizer(self.kernel_regularizer)
            .constraint(self.kernel_constraint.clone());
        weights.add_weight(kernel)?;
        if let Some(shape) = plan.bias_shape {
            let bias = WeightSpec::new("bias", shape, self.bias_initializer)
                .regularizer(self.bias_regularizer)
                .constraint(self.bias_constraint.clone());
            weights.add_weight(bias)?;
        }
        Ok(())
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        weights: &Weights<'_>,
        training: bool,
    ) -> Result<DynTensor, String> {
        let (z, activation) = self.call_pre_activation(inputs, weights, training)?;
        Ok(crate::dyn_map!(z, t => activation.apply(t)))
    }

    fn call_pre_activation(
        &self,
        inputs: Vec<DynTensor>,
        weights: &Weights<'_>,
        _training: bool,
    ) -> Result<(DynTensor, Activation), String> {
        let x = only(inputs)?;
        let x_dims = x.dims();
        let mut plan = self.plan(&x_dims[1..])?;
        plan.output_shape[0] = x_dims[0];
        let flat = x.flatten();
        let n = flat.dims().iter().product::<usize>();
        let x5 = padded(flat.reshape([n, 1, 1, 1, 1]), &x_dims);
        let k = weights.flat("kernel")?;
        let kn = k.dims()[0];
        let k5 = padded(k.reshape([kn, 1, 1, 1, 1]), &plan.kernel_shape);
        let mut y = einsum(&plan, x5, &x_dims, k5);
        if let Some(shape) = &plan.bias_shape {
            let b = weights.flat("bias")?;
            let bn = b.dims()[0];
            // The bias spans the output's last axes: pad it in front to the output's rank.
            let mut dims = vec![1usize; plan.output.len() - shape.len()];
            dims.extend(shape);
            y = y + padded(b.reshape([bn, 1, 1, 1, 1]), &dims);
        }
        let total: usize = plan.output_shape.iter().product();
        let out = DynTensor::R2(y.reshape([total, 1]))
            .reshape(&plan.output_shape)
            .map_err(|e| e.to_string())?;
        Ok((out, self.activation))
    }
}
