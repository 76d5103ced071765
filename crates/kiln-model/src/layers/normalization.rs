//! `Normalization`: features shifted and scaled by a mean and variance given or learned from
//! data with `adapt` (Keras `layers.Normalization`).

use burn::tensor::Tensor;
use kiln_datasets::{Dataset, HostArray};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::{Layer, WeightBuilder, WeightSpec, Weights, config_of, only, setters};
use crate::data::ArrayInput;
use crate::error::{Error, Result};
use crate::initializer::Initializer;
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// Keras's `backend.epsilon()`, the smallest standard deviation divided by.
const EPSILON: f32 = 1e-7;

/// An int, a list of ints, or `null` (no kept axis: one statistic for everything).
fn axis_list<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<isize>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Axis {
        One(isize),
        Many(Vec<isize>),
    }
    Ok(match Option::<Axis>::deserialize(d)? {
        None => Vec::new(),
        Some(Axis::One(a)) => vec![a],
        Some(Axis::Many(v)) => v,
    })
}

fn last() -> Vec<isize> {
    vec![-1]
}

/// Shifts and scales features to zero mean and unit variance (Keras `layers.Normalization`):
/// `(x - mean) / max(sqrt(variance), 1e-7)`, or back with `invert`
/// (`mean + x · max(sqrt(variance), 1e-7)`).
///
/// `axis` (default `-1`) lists the axes that keep their own statistic; every other axis, the
/// batch axis included, is averaged over. `mean` and `variance` come from the config (scalars or
/// nested lists aligned to the kept axes from the right, as Keras's `mean=`/`variance=`), or
/// are learned with [`Normalization::adapt`] (an array) or
/// [`Normalization::adapt_dataset`] (a [`Dataset`]'s batches), then held as the
/// non-trainable weights `mean`, `variance` and `count` as Keras holds them.
///
/// # Examples
/// ```
/// use kiln_model::{Input, Normalization, Sequential};
/// let x = ndarray::array![[1.0f32, 10.0], [3.0, 30.0]];
/// let norm = Normalization::new().adapt(&x)?; // mean [2, 20], variance [1, 100]
/// let model = Sequential::new().add(Input::new([2])).add(norm)
///     .build(&burn::tensor::Device::flex())?;
/// let y = model.predict(&x, 32)?;
/// assert_eq!(y.into_raw_vec_and_offset().0, vec![-1.0, -1.0, 1.0, 1.0]);
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    /// The axes that keep their own statistic (negative from the end; empty: none).
    #[serde(default = "last", deserialize_with = "axis_list")]
    pub axis: Vec<isize>,
    /// The mean, when given (a number or nested lists).
    #[serde(default)]
    pub mean: Option<Value>,
    /// The variance, when given.
    #[serde(default)]
    pub variance: Option<Value>,
    /// De-normalize instead (default false).
    #[serde(default)]
    pub invert: bool,
    /// Statistics learned by `adapt`: mean, variance, and the kept axes' sizes.
    #[serde(skip)]
    adapted: Option<(Vec<f32>, Vec<f32>, Vec<usize>)>,
}

impl Default for Normalization {
    fn default() -> Self {
        Self::new()
    }
}

setters!(Normalization {
    /// De-normalizes instead.
    invert: bool,
});

/// Nested lists (or a number) as flat values and a shape.
fn flatten_value(v: &Value) -> std::result::Result<(Vec<f32>, Vec<usize>), String> {
    match v {
        Value::Number(n) => Ok((vec![n.as_f64().unwrap_or(f64::NAN) as f32], Vec::new())),
        Value::Array(items) => {
            let mut values = Vec::new();
            let mut inner: Option<Vec<usize>> = None;
            for item in items {
                let (v, shape) = flatten_value(item)?;
                if inner.as_ref().is_some_and(|s| *s != shape) {
                    return Err("ragged nested lists".into());
                }
                inner = Some(shape);
                values.extend(v);
            }
            let mut shape = vec![items.len()];
            shape.extend(inner.unwrap_or_default());
            Ok((values, shape))
        }
        other => Err(format!("expected numbers, got {other}")),
    }
}

/// `values` of `shape` broadcast (NumPy rules, aligned from the right) to `target`.
fn broadcast(
    values: &[f32],
    shape: &[usize],
    target: &[usize],
) -> std::result::Result<Vec<f32>, String> {
    if shape.len() > target.len() {
        return Err(format!(
            "shape {shape:?} has more axes than the kept axes {target:?}"
        ));
    }
    let lead = target.len() - shape.len();
    for (i, &d) in shape.iter().enumerate() {
        if d != 1 && d != target[lead + i] {
            return Err(format!(
                "shape {shape:?} does not broadcast to the kept axes {target:?}"
            ));
        }
    }
    let total: usize = target.iter().product();
    let mut out = Vec::with_capacity(total);
    for flat in 0..total {
        // The multi-index of `flat` in `target`, mapped into `shape`.
        let (mut rest, mut src, mut stride) = (flat, 0usize, 1usize);
        for axis in (0..target.len()).rev() {
            let idx = rest % target[axis];
            rest /= target[axis];
            if axis >= lead {
                let d = shape[axis - lead];
                if d != 1 {
                    src += idx * stride;
                }
                stride *= d;
            }
        }
        out.push(values.get(src).copied().unwrap_or(f32::NAN));
    }
    Ok(out)
}

/// A mean and a variance, one value per slot of the kept axes.
type Stats = (Vec<f32>, Vec<f32>);

/// Running statistics over batches (Keras's adapt: per batch, then combined with the counts).
#[derive(Default)]
struct Running {
    count: f64,
    mean: Vec<f64>,
    var: Vec<f64>,
}

impl Normalization {
    /// Keras's defaults: statistics per feature of the last axis, learned by `adapt`.
    pub fn new() -> Self {
        Self {
            axis: last(),
            mean: None,
            variance: None,
            invert: false,
            adapted: None,
        }
    }

    /// Keeps a statistic for each of these axes (Keras `axis=(1, 2)`; `[]` is Keras's
    /// `axis=None`).
    pub fn axis(mut self, axis: impl Into<Vec<isize>>) -> Self {
        self.axis = axis.into();
        self
    }

    /// Uses this mean and variance (Keras `mean=`, `variance=`): one value each, applied
    /// everywhere, or one per kept feature.
    pub fn mean_variance(mut self, mean: &[f32], variance: &[f32]) -> Self {
        let list = |v: &[f32]| -> Value {
            if v.len() == 1 {
                Value::from(f64::from(v[0]))
            } else {
                Value::from(v.iter().map(|&x| f64::from(x)).collect::<Vec<_>>())
            }
        };
        self.mean = Some(list(mean));
        self.variance = Some(list(variance));
        self
    }

    /// The kept axes as positive indices of a `rank`-axis input (batch axis included), sorted.
    fn kept(&self, rank: usize) -> std::result::Result<Vec<usize>, String> {
        let mut kept = Vec::with_capacity(self.axis.len());
        for &a in &self.axis {
            let i = if a < 0 { a + rank as isize } else { a };
            if i < 1 || i >= rank as isize {
                return Err(format!(
                    "axis {a} is not a feature axis of an input of rank {rank} (batch axis \
                     included; the batch axis cannot keep its own statistic)"
                ));
            }
            kept.push(i as usize);
        }
        kept.sort_unstable();
        kept.dedup();
        Ok(kept)
    }

    /// Learns the mean and variance from `data` (Keras `adapt(array)`): over every axis but
    /// the kept ones, the variance biased (divided by the count), as Keras's NumPy path.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] for an axis `data` does not have, or no data.
    pub fn adapt(self, data: &impl ArrayInput) -> Result<Self> {
        let array = data.host_array();
        self.adapt_batches(std::iter::once(Ok(array)))
    }

    /// Learns the mean and variance from the first input of every batch of `data` (Keras
    /// `adapt(dataset)`), combining the batches' statistics with their counts.
    ///
    /// # Errors
    /// As [`Normalization::adapt`]; the data set's own error for a batch it cannot give.
    pub fn adapt_dataset(self, data: &dyn Dataset) -> Result<Self> {
        let batches = (0..data.len()).map(|i| {
            let batch = data
                .get(i)
                .map_err(|e| self.invalid(format!("batch {i}: {e}")))?;
            batch
                .x
                .into_iter()
                .next()
                .ok_or_else(|| self.invalid(format!("batch {i} has no input array")))
        });
        let batches: Vec<Result<HostArray>> = batches.collect();
        self.adapt_batches(batches.into_iter())
    }

    fn invalid(&self, reason: String) -> Error {
        Error::InvalidOption {
            layer: "normalization".into(),
            option: "adapt",
            reason,
        }
    }

    fn adapt_batches(mut self, batches: impl Iterator<Item = Result<HostArray>>) -> Result<Self> {
        let mut run = Running::default();
        let mut kept_dims: Option<Vec<usize>> = None;
        for batch in batches {
            let batch = batch?;
            let shape = batch.shape().to_vec();
            let kept = self.kept(shape.len()).map_err(|e| self.invalid(e))?;
            let dims: Vec<usize> = kept.iter().map(|&k| shape[k]).collect();
            if kept_dims.as_ref().is_some_and(|d| *d != dims) {
                return Err(self.invalid(format!(
                    "batches disagree on the kept axes' sizes: {dims:?} and {kept_dims:?}"
                )));
            }
            let slots: usize = dims.iter().product();
            let total: usize = shape.iter().product();
            if total == 0 {
                continue;
            }
            let n_b = (total / slots.max(1)) as f64;
            // The slot of each flat index: its coordinates on the kept axes.
            let slot_of = |flat: usize| -> usize {
                let (mut rest, mut slot, mut stride) = (flat, 0usize, 1usize);
                for axis in (0..shape.len()).rev() {
                    let idx = rest % shape[axis];
                    rest /= shape[axis];
                    if let Some(pos) = kept.iter().position(|&k| k == axis) {
                        slot += idx * stride;
                        stride *= dims[pos];
                    }
                }
                slot
            };
            let values = batch.to_f32_vec();
            let mut sum = vec![0.0f64; slots];
            for (i, v) in values.iter().enumerate() {
                sum[slot_of(i)] += f64::from(*v);
            }
            let m_b: Vec<f64> = sum.iter().map(|s| s / n_b).collect();
            let mut sq = vec![0.0f64; slots];
            for (i, v) in values.iter().enumerate() {
                let s = slot_of(i);
                sq[s] += (f64::from(*v) - m_b[s]).powi(2);
            }
            let v_b: Vec<f64> = sq.iter().map(|s| s / n_b).collect();
            if run.mean.is_empty() {
                run.mean = vec![0.0; slots];
                run.var = vec![0.0; slots];
            }
            run.count += n_b;
            let w = n_b / run.count;
            for s in 0..slots {
                let m = run.mean[s];
                let m_new = m * (1.0 - w) + m_b[s] * w;
                run.var[s] = (run.var[s] + (m - m_new).powi(2)) * (1.0 - w)
                    + (v_b[s] + (m_b[s] - m_new).powi(2)) * w;
                run.mean[s] = m_new;
            }
            kept_dims = Some(dims);
        }
        let Some(dims) = kept_dims.filter(|_| run.count > 0.0) else {
            return Err(self.invalid("no data to learn from".into()));
        };
        self.mean = None;
        self.variance = None;
        self.adapted = Some((
            run.mean.iter().map(|&v| v as f32).collect(),
            run.var.iter().map(|&v| v as f32).collect(),
            dims,
        ));
        Ok(self)
    }

    /// The constant mean and variance of the config, broadcast to the kept axes' sizes.
    fn constants(&self, dims: &[usize]) -> std::result::Result<Option<Stats>, String> {
        match (&self.mean, &self.variance) {
            (None, None) => Ok(None),
            (Some(m), Some(v)) => {
                let (mv, ms) = flatten_value(m)?;
                let (vv, vs) = flatten_value(v)?;
                Ok(Some((
                    broadcast(&mv, &ms, dims)?,
                    broadcast(&vv, &vs, dims)?,
                )))
            }
            _ => Err("give both mean and variance, or neither (and adapt)".into()),
        }
    }
}

/// `(x - mean) / max(sqrt(var), 1e-7)` (or its inverse) with the statistics `[slots]` placed
/// on the kept axes.
fn apply<const D: usize>(
    x: Tensor<D>,
    mean: Tensor<1>,
    var: Tensor<1>,
    kept: &[usize],
    invert: bool,
) -> Tensor<D> {
    let full = x.dims();
    let mut shape = [1usize; D];
    for &k in kept {
        shape[k] = full[k];
    }
    let mean = mean.reshape(shape).expand(full);
    let std = var.sqrt().clamp_min(EPSILON).reshape(shape).expand(full);
    if invert {
        mean + x * std
    } else {
        (x - mean) / std
    }
}

impl Layer for Normalization {
    fn class_name(&self) -> &str {
        "Normalization"
    }

    /// Keeps its input's mask (Keras `supports_masking`).
    fn mask_policy(&self) -> crate::layers::MaskPolicy {
        crate::layers::MaskPolicy::Keep
    }

    fn config(&self) -> Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> std::result::Result<Shape, String> {
        let input = only(inputs)?;
        let kept = self.kept(input.rank() + 1)?;
        let dims: Vec<usize> = kept.iter().map(|&k| input.dims()[k - 1]).collect();
        self.constants(&dims)?;
        if let Some((_, _, adapted)) = &self.adapted
            && *adapted != dims
        {
            return Err(format!(
                "adapted on data whose kept axes have sizes {adapted:?}, but the input {input} \
                 has {dims:?}"
            ));
        }
        Ok(input.clone())
    }

    fn build(
        &self,
        inputs: &[Shape],
        weights: &mut WeightBuilder,
    ) -> std::result::Result<(), String> {
        if self.mean.is_some() {
            return Ok(());
        }
        let input = only(inputs)?;
        let kept = self.kept(input.rank() + 1)?;
        let dims: Vec<usize> = kept.iter().map(|&k| input.dims()[k - 1]).collect();
        let (mean, var) = match &self.adapted {
            Some((m, v, _)) => (
                WeightSpec::new("mean", dims.clone(), Initializer::Zeros).with_values(m.clone()),
                WeightSpec::new("variance", dims, Initializer::Ones).with_values(v.clone()),
            ),
            None => (
                WeightSpec::new("mean", dims.clone(), Initializer::Zeros),
                WeightSpec::new("variance", dims, Initializer::Ones),
            ),
        };
        weights.add_weight(mean.non_trainable())?;
        weights.add_weight(var.non_trainable())?;
        // Keras keeps an int32 `count`, always 0 (for old saved models).
        weights.add_weight(
            WeightSpec::new("count", Vec::<usize>::new(), Initializer::Zeros).non_trainable(),
        )?;
        Ok(())
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        weights: &Weights<'_>,
        _training: bool,
    ) -> std::result::Result<DynTensor, String> {
        let x = only(inputs)?;
        let rank = x.dims().len();
        let kept = self.kept(rank)?;
        let dims: Vec<usize> = kept.iter().map(|&k| x.dims()[k]).collect();
        let device = x.device();
        let (mean, var) = match self.constants(&dims)? {
            Some((m, v)) => {
                let n = m.len();
                (
                    Tensor::<1>::from_data(burn::tensor::TensorData::new(m, [n]), &device),
                    Tensor::<1>::from_data(burn::tensor::TensorData::new(v, [n]), &device),
                )
            }
            None => (weights.flat("mean")?, weights.flat("variance")?),
        };
        let invert = self.invert;
        Ok(crate::dyn_map!(x, t => apply(t, mean.clone(), var.clone(), &kept, invert)))
    }
}
