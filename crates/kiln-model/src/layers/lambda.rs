//! `Lambda`: a Rust closure as a layer, for quick experiments (Keras `Lambda`).

use std::fmt;
use std::sync::Arc;

use super::{Layer, Weights, only};
use crate::shape::Shape;
use crate::tensor::DynTensor;

type Function = dyn Fn(DynTensor, bool) -> Result<DynTensor, String> + Send + Sync;
type ShapeRule = dyn Fn(&Shape) -> Result<Shape, String> + Send + Sync;

/// A closure over a batch as a layer, without weights (Keras `layers.Lambda`): it takes the
/// batch and the `training` flag, and works in `fit`, `evaluate` and `predict` like any layer.
/// Its output shape is given with [`Lambda::output_shape`], or found by running the closure once
/// on a batch of one zero sample on the CPU when the model is built.
///
/// A model holding one cannot be saved (the closure is code, not data; Keras too refuses to
/// load lambdas unless told the file is trusted): `save` and `to_json` are an
/// [`Error::Unsaveable`](crate::Error::Unsaveable) naming the layer. Save the weights with
/// `save_weights`, or write the computation as a [`Layer`] registered in
/// [`CustomObjects`](crate::CustomObjects).
///
/// # Examples
/// ```
/// use kiln_model::{Dense, DynTensor, Input, Lambda, Sequential};
/// let double = Lambda::new(|x: DynTensor, _training| Ok(kiln_model::dyn_map!(x, t => t * 2.0)));
/// let model = Sequential::new().add(Input::new([3])).add(double).add(Dense::new(1))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 1)");
/// assert!(model.save(std::env::temp_dir().join("lambda.keras")).is_err());
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Clone)]
pub struct Lambda {
    function: Arc<Function>,
    shape: Option<Arc<ShapeRule>>,
}

impl fmt::Debug for Lambda {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lambda").finish_non_exhaustive()
    }
}

impl Lambda {
    /// A layer that computes `function(batch, training)`.
    pub fn new(
        function: impl Fn(DynTensor, bool) -> Result<DynTensor, String> + Send + Sync + 'static,
    ) -> Self {
        Self {
            function: Arc::new(function),
            shape: None,
        }
    }

    /// The output shape of one sample for the input's (Keras's `output_shape`), instead of
    /// running the closure on a zero sample at build time.
    pub fn output_shape(
        mut self,
        rule: impl Fn(&Shape) -> Result<Shape, String> + Send + Sync + 'static,
    ) -> Self {
        self.shape = Some(Arc::new(rule));
        self
    }
}

impl Layer for Lambda {
    fn class_name(&self) -> &str {
        "Lambda"
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let input = only(inputs)?;
        if let Some(rule) = &self.shape {
            return rule(input);
        }
        let mut dims = vec![1];
        dims.extend_from_slice(input.dims());
        let size: usize = dims.iter().product();
        if size > 1 << 24 {
            return Err(format!(
                "the input {input} is too large to find the output shape by a trial run; give \
                 it with `output_shape`"
            ));
        }
        let device = burn::tensor::Device::flex();
        let probe =
            DynTensor::from_host(&dims, vec![0.0; size], &device).map_err(|e| e.to_string())?;
        let out = (self.function)(probe, false)?;
        let out = out.dims();
        if out.first() != Some(&1) {
            return Err(format!(
                "the closure changed the batch axis (1 sample became {:?})",
                out.first()
            ));
        }
        Ok(Shape(out[1..].to_vec()))
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        training: bool,
    ) -> Result<DynTensor, String> {
        (self.function)(only(inputs)?, training)
    }

    fn saveable(&self) -> Result<(), String> {
        Err("it holds a Rust closure, which cannot be written to a file".into())
    }
}
