//! `CategoryEncoding`: integer ids as one-hot, multi-hot or count vectors (Keras
//! `layers.CategoryEncoding`).

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::{Layer, Weights, config_of, only, setters};
use crate::shape::Shape;
use crate::tensor::DynTensor;

fn multi_hot() -> String {
    "multi_hot".into()
}

/// Encodes integer ids `0..num_tokens` (Keras `layers.CategoryEncoding`, default
/// `output_mode="multi_hot"`):
/// - `one_hot`: each id becomes a vector of `num_tokens`; a last axis of size 1 is replaced
///   (`(None, 1)` → `(None, num_tokens)`), any other gets a new last axis
///   (`(None, k)` → `(None, k, num_tokens)`);
/// - `multi_hot`: 1 for each id present in a sample, `(None, k)` → `(None, num_tokens)`; for
///   `(None, a, b)` the ids along `a` are combined (`(None, b, num_tokens)`), as Keras;
/// - `count`: as `multi_hot`, with how many times each id occurs.
///
/// Ids are checked on the host when the data goes in: an id outside `0..num_tokens` is an
/// error (`IdOutOfRange`), where Keras on JAX silently drops it.
///
/// # Examples
/// ```
/// use kiln_model::{CategoryEncoding, Input, Sequential};
/// let model = Sequential::new().add(Input::new([3]))
///     .add(CategoryEncoding::new(4).output_mode("count"))
///     .build(&burn::tensor::Device::flex())?;
/// let y = model.predict(&ndarray::array![[0i32, 3, 3]], 32)?;
/// assert_eq!(y.into_raw_vec_and_offset().0, vec![1.0, 0.0, 0.0, 2.0]);
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryEncoding {
    /// How many ids there are.
    pub num_tokens: Option<usize>,
    /// `one_hot`, `multi_hot` (default) or `count`.
    #[serde(default = "multi_hot")]
    pub output_mode: String,
    /// Only false (dense outputs).
    #[serde(default)]
    pub sparse: bool,
}

impl CategoryEncoding {
    /// Encodes ids `0..num_tokens` as multi-hot vectors.
    pub fn new(num_tokens: usize) -> Self {
        Self {
            num_tokens: Some(num_tokens),
            output_mode: multi_hot(),
            sparse: false,
        }
    }

    fn tokens(&self) -> Result<usize, String> {
        match self.num_tokens {
            Some(n) if (1..=1 << 24).contains(&n) => Ok(n),
            Some(n) => Err(format!("num_tokens must be in 1..=16777216, got {n}")),
            None => Err("num_tokens is required".into()),
        }
    }
}

setters!(CategoryEncoding {
    /// Sets the output mode (`one_hot`, `multi_hot`, `count`).
    output_mode: String,
});

/// `x [.., 1]` compared with `0..n` along the last axis: `[.., n]` of 0/1.
fn one_hot<const D: usize>(x: Tensor<D>, n: usize) -> Tensor<D> {
    let device = x.device();
    let mut shape = [1usize; D];
    shape[D - 1] = n;
    let mut full = x.dims();
    full[D - 1] = n;
    let ids = Tensor::<1, burn::tensor::Int>::arange(0..n as i64, &device)
        .float()
        .reshape(shape)
        .expand(full);
    x.expand(full).equal(ids).float()
}

impl Layer for CategoryEncoding {
    fn class_name(&self) -> &str {
        "CategoryEncoding"
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn id_limit(&self) -> Option<usize> {
        self.num_tokens
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let input = only(inputs)?;
        let n = self.tokens()?;
        if self.sparse {
            return Err("sparse outputs are not supported; use sparse=false".into());
        }
        encoded_shape("CategoryEncoding", input, n, &self.output_mode)
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        _training: bool,
    ) -> Result<DynTensor, String> {
        encode(only(inputs)?, self.tokens()?, &self.output_mode)
    }
}

/// The output shape of ids `input` encoded with `mode` over `n` values (CategoryEncoding's and
/// Discretization's rule).
pub(crate) fn encoded_shape(
    class: &str,
    input: &Shape,
    n: usize,
    mode: &str,
) -> Result<Shape, String> {
    let dims = input.dims();
    match (mode, dims) {
        ("one_hot", [1]) => Ok(Shape(vec![n])),
        ("one_hot", [k]) => Ok(Shape(vec![*k, n])),
        ("one_hot", [a, 1]) => Ok(Shape(vec![*a, n])),
        ("one_hot", [a, b]) => Ok(Shape(vec![*a, *b, n])),
        ("multi_hot" | "count", [_]) => Ok(Shape(vec![n])),
        ("multi_hot" | "count", [_, b]) => Ok(Shape(vec![*b, n])),
        ("one_hot" | "multi_hot" | "count", _) => Err(format!(
            "{class} takes (None, k) or (None, a, b), got {input}"
        )),
        (other, _) => Err(format!(
            "output_mode `{other}` is not supported; use one_hot, multi_hot or count"
        )),
    }
}

/// Ids `x` encoded as `mode` (`one_hot`, `multi_hot`, `count`) over `n` values.
pub(crate) fn encode(x: DynTensor, n: usize, mode: &str) -> Result<DynTensor, String> {
    let count = mode == "count";
    Ok(match (mode, x) {
        ("one_hot", DynTensor::R2(x)) => {
            let [b, k] = x.dims();
            let hot = one_hot(x.reshape([b, k, 1]), n);
            if k == 1 {
                DynTensor::R2(hot.reshape([b, n]))
            } else {
                DynTensor::R3(hot)
            }
        }
        ("one_hot", DynTensor::R3(x)) => {
            let [b, a, k] = x.dims();
            let hot = one_hot(x.reshape([b, a, k, 1]), n);
            if k == 1 {
                DynTensor::R3(hot.reshape([b, a, n]))
            } else {
                DynTensor::R4(hot)
            }
        }
        (_, DynTensor::R2(x)) => {
            let [b, k] = x.dims();
            let hot = one_hot(x.reshape([b, k, 1]), n);
            let reduced = if count {
                hot.sum_dim(1)
            } else {
                hot.max_dim(1)
            };
            DynTensor::R2(reduced.reshape([b, n]))
        }
        (_, DynTensor::R3(x)) => {
            let [b, a, k] = x.dims();
            let hot = one_hot(x.reshape([b, a, k, 1]), n);
            let reduced = if count {
                hot.sum_dim(1)
            } else {
                hot.max_dim(1)
            };
            DynTensor::R3(reduced.reshape([b, k, n]))
        }
        _ => return Err("ids must be [batch, k] or [batch, a, b]".into()),
    })
}
