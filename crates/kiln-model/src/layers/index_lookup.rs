//! `StringLookup` and `IntegerLookup` in a model (Keras `layers.StringLookup`,
//! `layers.IntegerLookup`): the host lookups of [`kiln_datasets`] as layers that run on the
//! model's input data before the device layers, read from and written to Keras's config.

use std::sync::Arc;

use kiln_datasets::{HostArray, IndexLookup, LookupMode, LookupToken};
pub use kiln_datasets::{IntegerLookup, StringLookup};
use ndarray::ArrayD;

use super::{Layer, Weights, only};
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// Reads a lookup from its Keras config.
pub(crate) fn read<T: LookupToken + HostToken + Send + Sync>(
    config: &serde_json::Value,
) -> Result<Arc<dyn Layer>, String> {
    IndexLookup::<T>::from_config(config)
        .map(|layer| Arc::new(layer) as Arc<dyn Layer>)
        .map_err(|e| e.to_string())
}

/// The tokens a lookup takes from a host array: strings, or integers (floats truncated, as
/// Keras casts them).
pub trait HostToken: Sized + 'static {
    /// The tokens of `input`, or why it holds none of this kind.
    ///
    /// # Errors
    /// An array of the other kind.
    fn tokens(input: &HostArray) -> Result<ArrayD<Self>, String>;
    /// Tokens as a host array (what `invert` gives).
    fn into_array(tokens: ArrayD<Self>) -> HostArray;
}

impl HostToken for String {
    fn tokens(input: &HostArray) -> Result<ArrayD<Self>, String> {
        match input {
            HostArray::Str(a) => Ok(a.clone()),
            other => Err(format!(
                "takes strings (an Input with dtype \"string\"), got {}",
                other.dtype()
            )),
        }
    }
    fn into_array(tokens: ArrayD<Self>) -> HostArray {
        HostArray::Str(tokens)
    }
}

impl HostToken for i64 {
    fn tokens(input: &HostArray) -> Result<ArrayD<Self>, String> {
        integers(input).ok_or_else(|| "takes integers, got strings".to_string())
    }
    fn into_array(tokens: ArrayD<Self>) -> HostArray {
        HostArray::I64(tokens)
    }
}

/// The values of a numeric array as `i64` (floats truncated toward zero, as Keras casts).
pub(crate) fn integers(input: &HostArray) -> Option<ArrayD<i64>> {
    #[allow(clippy::cast_possible_truncation)]
    Some(match input {
        HostArray::I64(a) => a.clone(),
        HostArray::I32(a) => a.mapv(i64::from),
        HostArray::U8(a) => a.mapv(i64::from),
        HostArray::F32(a) => a.mapv(|v| v as i64),
        HostArray::F64(a) => a.mapv(|v| v as i64),
        _ => return None,
    })
}

/// The output shape of an id layer in `mode` for one sample of `input`, vectors `depth` wide
/// (the lookups' and `Hashing`'s rule in a model): `int` keeps the shape; `one_hot` adds an
/// axis (replacing a last axis of 1); the counting modes take a sample of at least one axis
/// and reduce its first (`(k,)` → `(depth,)`, `(a, b)` → `(b, depth)`).
pub(crate) fn encoded_shape(
    mode: LookupMode,
    input: &Shape,
    depth: usize,
) -> Result<Shape, String> {
    let dims = input.dims();
    match mode {
        LookupMode::Int => Ok(input.clone()),
        LookupMode::OneHot => {
            let mut out = dims.to_vec();
            if out.last() == Some(&1) {
                out.pop();
            }
            out.push(depth);
            Ok(Shape(out))
        }
        _ => match dims.split_first() {
            Some((_, rest)) => {
                let mut out = rest.to_vec();
                out.push(depth);
                Ok(Shape(out))
            }
            None => Err(format!(
                "the counting modes take samples of at least one axis, got {input} (a batch of \
                 single values would be one sample)"
            )),
        },
    }
}

/// The device `call` of a host layer: it never runs there.
pub(crate) fn not_on_device(class: &str) -> String {
    format!(
        "{class} runs on the host, on a model's input data: call it directly on an Input of the \
         model that `fit`/`predict` run"
    )
}

impl<T: LookupToken + HostToken + Send + Sync> Layer for IndexLookup<T> {
    fn class_name(&self) -> &str {
        T::CLASS
    }

    fn config(&self) -> serde_json::Value {
        IndexLookup::config(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let input = only(inputs)?;
        if self.invert {
            return Err(
                "invert=True gives tokens, which do not flow between a model's layers; use \
                 `invert_call` on the host"
                    .into(),
            );
        }
        if self.token_count() == 0 {
            return Err(
                "no vocabulary: give one or call adapt before building the model (the output \
                 width is the vocabulary's size)"
                    .into(),
            );
        }
        encoded_shape(self.output_mode, input, self.depth())
    }

    fn call(
        &self,
        _inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        _training: bool,
    ) -> Result<DynTensor, String> {
        Err(not_on_device(T::CLASS))
    }

    fn runs_on_host(&self) -> bool {
        true
    }

    fn call_host(&self, input: &HostArray) -> Result<HostArray, String> {
        if self.invert {
            let ids = integers(input).ok_or("invert takes integer ids, got strings")?;
            return Ok(T::into_array(self.invert_call(&ids)));
        }
        let tokens = T::tokens(input)?;
        self.call(&tokens).map_err(|e| e.to_string())
    }
}
