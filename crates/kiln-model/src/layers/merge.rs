//! The element-wise merge layers: `Add`, `Subtract`, `Multiply`, `Average`, `Maximum`,
//! `Minimum` (Keras `keras.layers.Add`, ...), with Keras's shape rule.

use serde::{Deserialize, Serialize};

use super::{Layer, Mask, MaskPolicy, Weights, config_of};
use crate::shape::Shape;
use crate::tensor::{DynTensor, DynTensors};

/// Keras's element-wise merge shape rule: the inputs have one rank, and on every axis their
/// sizes are equal or 1 (which broadcasts).
fn merged_shape(class: &str, inputs: &[Shape], exactly_two: bool) -> Result<Shape, String> {
    if exactly_two && inputs.len() != 2 {
        return Err(format!(
            "{class} takes exactly 2 inputs, got {}",
            inputs.len()
        ));
    }
    let Some((first, rest)) = inputs.split_first() else {
        return Err(format!("{class} takes at least 2 inputs, got 0"));
    };
    if rest.is_empty() {
        return Err(format!("{class} takes at least 2 inputs, got 1"));
    }
    let mut out = first.0.clone();
    for shape in rest {
        if shape.rank() != out.len() {
            return Err(format!(
                "{class} needs inputs of one rank, got {} and {shape}",
                Shape(out)
            ));
        }
        for (o, &d) in out.iter_mut().zip(shape.dims()) {
            match (*o, d) {
                (a, b) if a == b => {}
                (1, b) => *o = b,
                (_, 1) => {}
                _ => {
                    return Err(format!(
                        "{class} needs inputs of matching shapes, got {} and {shape}",
                        Shape(first.0.clone())
                    ));
                }
            }
        }
    }
    Ok(Shape(out))
}

macro_rules! merge_layer {
    ($name:ident, $keras:literal, $two:expr, $doc:literal, |$v:ident| $op:expr) => {
        #[doc = $doc]
        ///
        /// # Examples
        /// ```
        #[doc = concat!("use kiln_model::{", stringify!($name), ", Apply, Dense, Functional, Input};")]
        /// let a = Input::new([4]).tensor()?;
        /// let b = Input::new([4]).tensor()?;
        #[doc = concat!("let merged = ", stringify!($name), "::new().apply([&a, &b])?;")]
        /// assert_eq!(merged.shape().dims(), &[4]);
        /// let model = Functional::new([&a, &b], [&Dense::new(1).apply(&merged)?])?;
        /// assert_eq!(model.input_names(), ["input_layer", "input_layer_1"]);
        /// # Ok::<(), kiln_model::Error>(())
        /// ```
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        pub struct $name {}

        impl $name {
            #[doc = concat!("A new `", $keras, "` layer.")]
            pub fn new() -> Self {
                Self {}
            }
        }

        impl Layer for $name {
            fn class_name(&self) -> &str {
                $keras
            }

            fn config(&self) -> serde_json::Value {
                config_of(self)
            }

            fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
                merged_shape($keras, inputs, $two)
            }

            fn call(
                &self,
                inputs: Vec<DynTensor>,
                _weights: &Weights<'_>,
                _training: bool,
            ) -> Result<DynTensor, String> {
                let group = DynTensors::group(inputs)?;
                Ok(crate::dyn_group_map!(group, $v => $op))
            }

            /// Keras's merge mask: where every input has a mask, their union.
            fn mask_policy(&self) -> MaskPolicy {
                MaskPolicy::Own
            }

            fn output_masked(&self, inputs: &[Shape], masked: &[bool]) -> Result<bool, String> {
                Ok(!masked.is_empty()
                    && masked.iter().all(|&m| m)
                    && inputs.windows(2).all(|w| w[0].dims().first() == w[1].dims().first()))
            }

            fn call_masked(
                &self,
                inputs: Vec<DynTensor>,
                masks: &[Option<Mask>],
                weights: &Weights<'_>,
                training: bool,
            ) -> Result<(DynTensor, Option<Mask>), String> {
                let y = self.call(inputs, weights, training)?;
                Ok((y, union(masks)))
            }
        }
    };
}

/// The union of the masks (a step is real where any input's is), `None` unless every input has
/// one (Keras's `Merge.compute_mask`).
pub(crate) fn union(masks: &[Option<Mask>]) -> Option<Mask> {
    let all: Option<Vec<Mask>> = masks.iter().cloned().collect();
    all?.into_iter().reduce(|a, b| a.max_pair(b))
}

/// Folds the tensors with `f`, the first as the start.
fn fold<T>(v: Vec<T>, f: impl Fn(T, T) -> T) -> Result<T, String> {
    let mut it = v.into_iter();
    let first = it.next().ok_or("a merge layer needs inputs")?;
    Ok(it.fold(first, f))
}

merge_layer!(
    Add,
    "Add",
    false,
    "The sum of its inputs (Keras `Add`): `x1 + x2 + ...`, shapes equal or broadcasting on axes of 1.",
    |v| fold(v, |a, b| a + b)?
);
merge_layer!(
    Subtract,
    "Subtract",
    true,
    "The difference of its two inputs (Keras `Subtract`): `x1 - x2`.",
    |v| fold(v, |a, b| a - b)?
);
merge_layer!(
    Multiply,
    "Multiply",
    false,
    "The element-wise product of its inputs (Keras `Multiply`).",
    |v| fold(v, |a, b| a * b)?
);
merge_layer!(
    Average,
    "Average",
    false,
    "The element-wise mean of its inputs (Keras `Average`).",
    |v| {
        let n = v.len() as f32;
        fold(v, |a, b| a + b)? / n
    }
);
merge_layer!(
    Maximum,
    "Maximum",
    false,
    "The element-wise maximum of its inputs (Keras `Maximum`).",
    |v| fold(v, |a, b| a.max_pair(b))?
);
merge_layer!(
    Minimum,
    "Minimum",
    false,
    "The element-wise minimum of its inputs (Keras `Minimum`).",
    |v| fold(v, |a, b| a.min_pair(b))?
);
