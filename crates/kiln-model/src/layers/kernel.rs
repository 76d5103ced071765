//! What Dense and the convolutions share: a kernel, an optional bias and a final activation,
//! with Keras's options and defaults written once.

use serde::{Deserialize, Serialize};

use super::{WeightBuilder, WeightSpec};
use crate::activation::Activation;
use crate::constraint::Constraint;
use crate::initializer::Initializer;
use crate::regularizer::Regularizer;
use crate::tensor::DynTensor;

/// The options of a layer with a kernel and a bias (Keras's `Dense`, `Conv1D`, `Conv2D`):
/// `activation` (default linear), `use_bias` (true), `kernel_initializer` (glorot-uniform),
/// `bias_initializer` (zeros), and optional regularizers. In the config they sit beside the
/// layer's own options, as in Keras.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KernelOptions {
    /// Applied to the output (default linear).
    #[serde(default, deserialize_with = "crate::layers::activation_or_null")]
    pub activation: Activation,
    /// Whether the layer adds a bias (default true).
    #[serde(default = "crate::layers::yes")]
    pub use_bias: bool,
    /// How the kernel is filled (default glorot-uniform).
    #[serde(default = "crate::layers::glorot")]
    pub kernel_initializer: Initializer,
    /// How the bias is filled (default zeros).
    #[serde(default)]
    pub bias_initializer: Initializer,
    /// Penalty on the kernel added to the training loss (default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_regularizer: Option<Regularizer>,
    /// Penalty on the bias added to the training loss (default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias_regularizer: Option<Regularizer>,
    /// Projection of the kernel after each optimizer step (Keras `kernel_constraint`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_constraint: Option<Constraint>,
    /// Projection of the bias after each optimizer step (Keras `bias_constraint`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias_constraint: Option<Constraint>,
}

impl Default for KernelOptions {
    fn default() -> Self {
        Self {
            activation: Activation::Linear,
            use_bias: true,
            kernel_initializer: Initializer::GlorotUniform,
            bias_initializer: Initializer::Zeros,
            kernel_regularizer: None,
            bias_regularizer: None,
            kernel_constraint: None,
            bias_constraint: None,
        }
    }
}

impl KernelOptions {
    /// Declares `kernel` of `shape` and, with `use_bias`, `bias` of its last axis.
    pub(crate) fn declare(
        &self,
        weights: &mut WeightBuilder,
        shape: Vec<usize>,
    ) -> Result<(), String> {
        let units = shape.last().copied().unwrap_or(0);
        self.declare_units(weights, shape, units)
    }

    /// Declares the kernel of `shape` and a bias of `units` (a transposed convolution's
    /// kernel ends with its input channels, not its filters).
    pub(crate) fn declare_units(
        &self,
        weights: &mut WeightBuilder,
        shape: Vec<usize>,
        units: usize,
    ) -> Result<(), String> {
        let kernel = WeightSpec::new("kernel", shape, self.kernel_initializer);
        weights.add_weight(
            kernel
                .regularizer(self.kernel_regularizer)
                .constraint(self.kernel_constraint.clone()),
        )?;
        if self.use_bias {
            let bias = WeightSpec::new("bias", [units], self.bias_initializer);
            weights.add_weight(
                bias.regularizer(self.bias_regularizer)
                    .constraint(self.bias_constraint.clone()),
            )?;
        }
        Ok(())
    }
}

pub(crate) fn activated(
    parts: Result<(DynTensor, Activation), String>,
) -> Result<DynTensor, String> {
    let (z, activation) = parts?;
    Ok(crate::dyn_map!(z, t => activation.apply(t)))
}

/// The builder methods of [`KernelOptions`] on a layer that keeps them in `self.kernel`.
macro_rules! kernel_setters {
    ($ty:ty) => {
        $crate::layers::setters!($ty [kernel] {
            /// Sets the activation.
            activation: Activation,
            /// Whether to add a bias.
            use_bias: bool,
            /// Sets the kernel initializer.
            kernel_initializer: Initializer,
            /// Sets the bias initializer.
            bias_initializer: Initializer,
            /// Adds a penalty on the kernel to the training loss (Keras `kernel_regularizer`).
            kernel_regularizer: Option<Regularizer>,
            /// Adds a penalty on the bias to the training loss (Keras `bias_regularizer`).
            bias_regularizer: Option<Regularizer>,
            /// Projects the kernel after each optimizer step (Keras `kernel_constraint`).
            kernel_constraint: Option<$crate::constraint::Constraint>,
            /// Projects the bias after each optimizer step (Keras `bias_constraint`).
            bias_constraint: Option<$crate::constraint::Constraint>,
        });
    };
}
pub(crate) use kernel_setters;
