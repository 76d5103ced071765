//! `ResidualDense`: a user-defined layer, `y = x + activation(x · kernel + bias)`, written
//! against Kiln's `Layer` trait (the one every built-in layer implements). Shared by `examples/custom_layer.rs` and its test.

use kiln::burn::tensor::Tensor;
use kiln::model::{CustomObjects, DynTensor, Layer, WeightBuilder, WeightSpec, Weights, only};
use kiln::prelude::*;
use serde_json::{Value, json};

/// A dense layer with a skip connection: the output has the input's width.
#[derive(Debug, Clone, Copy)]
pub struct ResidualDense {
    /// Applied to `x · kernel + bias` before the sum.
    pub activation: Activation,
}

impl ResidualDense {
    /// Keras-style class name, used in the summary and the config.
    pub const CLASS_NAME: &'static str = "ResidualDense";

    /// Reads the layer back from its config (`{"activation": "relu"}`).
    pub fn from_config(config: &Value) -> Result<Self, String> {
        let activation = config
            .get("activation")
            .and_then(Value::as_str)
            .unwrap_or("linear")
            .parse::<Activation>()
            .map_err(|e| e.to_string())?;
        Ok(Self { activation })
    }

    /// The constructors a program needs to load models that contain this layer.
    pub fn custom_objects() -> CustomObjects {
        CustomObjects::new().register(Self::CLASS_NAME, Self::from_config)
    }
}

impl Layer for ResidualDense {
    fn class_name(&self) -> &str {
        Self::CLASS_NAME
    }

    fn config(&self) -> Value {
        json!({ "activation": self.activation.name() })
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let input = only(inputs)?;
        match input.dims() {
            [_features] => Ok(input.clone()),
            _ => Err(format!("ResidualDense needs (None, features), got {input}")),
        }
    }

    fn build(&self, inputs: &[Shape], weights: &mut WeightBuilder) -> Result<(), String> {
        let features = only(inputs)?.dims().first().copied().unwrap_or(0);
        let kernel = WeightSpec::new("kernel", [features, features], Initializer::GlorotUniform);
        weights.add_weight(kernel)?;
        weights.add_weight(WeightSpec::new("bias", [features], Initializer::Zeros))?;
        Ok(())
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        weights: &Weights<'_>,
        _training: bool,
    ) -> Result<DynTensor, String> {
        let x = only(inputs)?;
        let DynTensor::R2(x) = x else {
            return Err(format!("expected [batch, features], got {:?}", x.dims()));
        };
        let kernel: Tensor<2> = weights.get("kernel")?;
        let bias: Tensor<1> = weights.get("bias")?;
        let features = bias.dims()[0];
        let inner = x.clone().matmul(kernel) + bias.reshape([1, features]);
        Ok(DynTensor::R2(x + self.activation.apply(inner)))
    }
}
