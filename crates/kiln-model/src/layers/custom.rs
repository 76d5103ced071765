//! [`CustomObjects`]: constructors of user layers by class name (Keras's `custom_objects`).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use super::Layer;

/// Constructors of custom layers by class name, for reading them back from JSON or a model file
/// (Keras's `custom_objects`).
///
/// # Examples
/// ```
/// # use kiln_model::{CustomObjects, DynTensor, Layer, Shape, Weights, only};
/// # #[derive(Debug)] struct Identity;
/// # impl Layer for Identity {
/// #     fn class_name(&self) -> &str { "Identity" }
/// #     fn output_shape(&self, s: &[Shape]) -> Result<Shape, String> { Ok(only(s)?.clone()) }
/// #     fn call(&self, x: Vec<DynTensor>, _: &Weights, _: bool) -> Result<DynTensor, String> { only(x) }
/// # }
/// let custom = CustomObjects::new().register("Identity", |_config| Ok(Identity));
/// assert!(custom.contains("Identity"));
/// ```
#[derive(Default, Clone)]
pub struct CustomObjects {
    constructors: HashMap<String, Constructor>,
}

pub(crate) type Constructor = Arc<dyn Fn(&Value) -> Result<Arc<dyn Layer>, String> + Send + Sync>;

impl fmt::Debug for CustomObjects {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.constructors.keys()).finish()
    }
}

impl CustomObjects {
    /// No custom layers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the constructor of `class_name`, called with the layer's config object.
    pub fn register<L: Layer>(
        mut self,
        class_name: impl Into<String>,
        constructor: impl Fn(&Value) -> Result<L, String> + Send + Sync + 'static,
    ) -> Self {
        let f: Constructor =
            Arc::new(move |config| constructor(config).map(|l| Arc::new(l) as Arc<dyn Layer>));
        self.constructors.insert(class_name.into(), f);
        self
    }

    /// Whether `class_name` is registered.
    pub fn contains(&self, class_name: &str) -> bool {
        self.constructors.contains_key(class_name)
    }

    /// Builds the layer of a registered class from its config, or `None` when not registered.
    pub(crate) fn make(
        &self,
        class_name: &str,
        config: &Value,
    ) -> Option<Result<Arc<dyn Layer>, String>> {
        let constructor = self.constructors.get(class_name)?;
        Some(constructor(config))
    }
}
