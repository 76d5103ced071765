//! `Dot`: the dot product of two inputs along given axes (Keras `Dot`, a batched `batch_dot`).

use burn::tensor::Tensor;
use serde::{Deserialize, Deserializer, Serialize};

use super::{Layer, Weights, config_of, setters};
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// The dot product of samples of two inputs, contracting axis `axes[0]` of the first with
/// `axes[1]` of the second (Keras `Dot`; axes count the batch axis as 0, negative from the
/// end). Vectors `(None, n)` give `(None, 1)`; sequences `(None, m, k)` and `(None, n, k)` with
/// `axes = [2, 2]` give `(None, m, n)`. With `normalize`, both are L2-normalized along their
/// axis first, so the result is the cosine similarity.
///
/// # Examples
/// ```
/// use kiln_model::{Apply, Dot, Input};
/// let a = Input::new([3, 4]).tensor()?;
/// let b = Input::new([5, 4]).tensor()?;
/// assert_eq!(Dot::new(2).apply([&a, &b])?.shape().dims(), &[3, 5]);
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dot {
    /// The contracted axis of each input (one number for both).
    #[serde(deserialize_with = "axes")]
    pub axes: [i64; 2],
    /// L2-normalize both inputs along their axis first (default false).
    #[serde(default)]
    pub normalize: bool,
}

fn axes<'de, D: Deserializer<'de>>(d: D) -> Result<[i64; 2], D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        One(i64),
        Two([i64; 2]),
    }
    Ok(match Repr::deserialize(d)? {
        Repr::One(a) => [a, a],
        Repr::Two(a) => a,
    })
}

impl Dot {
    /// Contracts `axes` of both inputs.
    pub fn new(axes: i64) -> Self {
        Self {
            axes: [axes, axes],
            normalize: false,
        }
    }

    /// The contracted axes as sample axes (batch excluded, from 0), for inputs of `ranks`.
    fn sample_axes(&self, ranks: [usize; 2]) -> Result<[usize; 2], String> {
        let mut out = [0; 2];
        for i in 0..2 {
            let full = ranks[i] as i64 + 1;
            let a = if self.axes[i] < 0 {
                self.axes[i] + full
            } else {
                self.axes[i]
            };
            if a < 1 || a >= full {
                return Err(format!(
                    "axis {} is not a sample axis of an input of rank {full}",
                    self.axes[i]
                ));
            }
            out[i] = a as usize - 1;
        }
        Ok(out)
    }
}

setters!(Dot {
    /// Sets each input's contracted axis.
    axes: [i64; 2],
    /// Whether to L2-normalize first (cosine similarity).
    normalize: bool,
});

/// `x / max(|x|, 1e-7)` along `axis` (Keras's `ops.normalize`).
fn l2_normalize<const D: usize>(x: Tensor<D>, axis: usize) -> Tensor<D> {
    let norm = x.clone().square().sum_dim(axis).sqrt().clamp_min(1e-7);
    x / norm
}

impl Layer for Dot {
    fn class_name(&self) -> &str {
        "Dot"
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let [a, b] = inputs else {
            return Err(format!("Dot takes exactly 2 inputs, got {}", inputs.len()));
        };
        let [i, j] = self.sample_axes([a.rank(), b.rank()])?;
        if a.dims()[i] != b.dims()[j] {
            return Err(format!(
                "Dot contracts axes of different sizes: {a} on axis {} and {b} on axis {}",
                self.axes[0], self.axes[1]
            ));
        }
        match (a.rank(), b.rank()) {
            (1, 1) => Ok(Shape(vec![1])),
            (2, 2) => Ok(Shape(vec![a.dims()[1 - i], b.dims()[1 - j]])),
            _ => Err(format!(
                "Dot takes two vectors (None, n) or two matrices (None, m, k), got {a} and {b}"
            )),
        }
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        _training: bool,
    ) -> Result<DynTensor, String> {
        let mut it = inputs.into_iter();
        match (it.next(), it.next(), it.next()) {
            (Some(DynTensor::R2(x)), Some(DynTensor::R2(y)), None) => {
                let (x, y) = if self.normalize {
                    (l2_normalize(x, 1), l2_normalize(y, 1))
                } else {
                    (x, y)
                };
                Ok(DynTensor::R2((x * y).sum_dim(1)))
            }
            (Some(DynTensor::R3(x)), Some(DynTensor::R3(y)), None) => {
                let [i, j] = self.sample_axes([2, 2])?;
                let (x, y) = if self.normalize {
                    (l2_normalize(x, i + 1), l2_normalize(y, j + 1))
                } else {
                    (x, y)
                };
                // x as [b, m, k] (contracted axis last), y as [b, k, n].
                let x = if i == 1 { x } else { x.swap_dims(1, 2) };
                let y = if j == 0 { y } else { y.swap_dims(1, 2) };
                Ok(DynTensor::R3(x.matmul(y)))
            }
            _ => Err("Dot takes two vectors or two matrices per sample".into()),
        }
    }
}
