//! Optimizers with Keras's update rules and defaults (not burn's, where they differ).

use std::any::Any;
use std::collections::HashMap;
use std::str::FromStr;

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// An optimizer: Keras's update rule, defaults and names.
///
/// | Keras | Kiln | defaults |
/// | --- | --- | --- |
/// | `"adam"` | [`Optimizer::adam`] | lr 1e-3, β₁ 0.9, β₂ 0.999, ε 1e-7 |
/// | `"sgd"` | [`Optimizer::sgd`] | lr 0.01, momentum 0, nesterov false |
/// | `"rmsprop"` | [`Optimizer::rmsprop`] | lr 1e-3, ρ 0.9, momentum 0, ε 1e-7 |
///
/// # Examples
/// ```
/// use kiln_train::Optimizer;
/// let adam = Optimizer::adam().learning_rate(0.01);
/// assert_eq!(adam.get_learning_rate(), 0.01);
/// let sgd: Optimizer = "sgd".parse()?;
/// assert_eq!(sgd.get_learning_rate(), 0.01);
/// # Ok::<(), kiln_train::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "class_name", content = "config")]
#[non_exhaustive]
pub enum Optimizer {
    /// Adam, Keras's rule: `p -= lr·√(1-β₂ᵗ)/(1-β₁ᵗ) · m / (√v + ε)`.
    Adam {
        /// Learning rate.
        learning_rate: f32,
        /// First-moment decay.
        beta_1: f32,
        /// Second-moment decay.
        beta_2: f32,
        /// Added to `√v` (outside the bias correction, as Keras).
        epsilon: f32,
        /// Use the running maximum of `v`.
        amsgrad: bool,
    },
    /// Stochastic gradient descent: `v = μv - lr·g; p += v` (no dampening, as Keras).
    #[serde(rename = "SGD")]
    Sgd {
        /// Learning rate.
        learning_rate: f32,
        /// Momentum `μ`.
        momentum: f32,
        /// Nesterov momentum: `p += μv - lr·g`.
        nesterov: bool,
    },
    /// RMSprop: `v = ρv + (1-ρ)g²; p -= lr·g/√(v + ε)`.
    #[serde(rename = "RMSprop")]
    RmsProp {
        /// Learning rate.
        learning_rate: f32,
        /// Decay of the squared-gradient average.
        rho: f32,
        /// Momentum.
        momentum: f32,
        /// Inside the square root, as Keras.
        epsilon: f32,
        /// Subtract the squared mean gradient.
        centered: bool,
    },
}

impl Optimizer {
    /// Adam with Keras's defaults.
    pub fn adam() -> Self {
        Optimizer::Adam {
            learning_rate: 1e-3,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
            amsgrad: false,
        }
    }

    /// SGD with Keras's defaults.
    pub fn sgd() -> Self {
        Optimizer::Sgd {
            learning_rate: 0.01,
            momentum: 0.0,
            nesterov: false,
        }
    }

    /// RMSprop with Keras's defaults.
    pub fn rmsprop() -> Self {
        Optimizer::RmsProp {
            learning_rate: 1e-3,
            rho: 0.9,
            momentum: 0.0,
            epsilon: 1e-7,
            centered: false,
        }
    }

    /// Sets the learning rate.
    pub fn learning_rate(mut self, lr: f32) -> Self {
        self.set_learning_rate(lr);
        self
    }

    /// Sets the momentum (SGD and RMSprop; ignored by Adam).
    pub fn momentum(mut self, value: f32) -> Self {
        match &mut self {
            Optimizer::Sgd { momentum, .. } | Optimizer::RmsProp { momentum, .. } => {
                *momentum = value
            }
            Optimizer::Adam { .. } => {}
        }
        self
    }

    /// Sets Nesterov momentum (SGD only).
    pub fn nesterov(mut self, value: bool) -> Self {
        if let Optimizer::Sgd { nesterov, .. } = &mut self {
            *nesterov = value;
        }
        self
    }

    /// Sets epsilon (Adam, RMSprop).
    pub fn epsilon(mut self, value: f32) -> Self {
        match &mut self {
            Optimizer::Adam { epsilon, .. } | Optimizer::RmsProp { epsilon, .. } => {
                *epsilon = value
            }
            Optimizer::Sgd { .. } => {}
        }
        self
    }

    /// The current learning rate.
    pub fn get_learning_rate(&self) -> f32 {
        match self {
            Optimizer::Adam { learning_rate, .. }
            | Optimizer::Sgd { learning_rate, .. }
            | Optimizer::RmsProp { learning_rate, .. } => *learning_rate,
        }
    }

    /// Changes the learning rate (e.g. between epochs).
    pub fn set_learning_rate(&mut self, lr: f32) {
        match self {
            Optimizer::Adam { learning_rate, .. }
            | Optimizer::Sgd { learning_rate, .. }
            | Optimizer::RmsProp { learning_rate, .. } => *learning_rate = lr,
        }
    }

    /// Keras's name (`"adam"`).
    pub fn name(&self) -> &'static str {
        match self {
            Optimizer::Adam { .. } => "adam",
            Optimizer::Sgd { .. } => "sgd",
            Optimizer::RmsProp { .. } => "rmsprop",
        }
    }

    const NAMES: [&'static str; 3] = ["adam", "sgd", "rmsprop"];

    /// Reads an optimizer from Keras's `{"class_name": "Adam", "config": {...}}` (the
    /// `get_config()` of a Keras optimizer; options Kiln lacks must be at their defaults).
    ///
    /// # Errors
    /// [`Error::UnknownName`] for another class, [`Error::InvalidOption`] for a set option
    /// Kiln does not support (e.g. `clipnorm`).
    pub fn from_keras(class_name: &str, config: &serde_json::Value) -> Result<Self> {
        let f = |key: &str| config.get(key).and_then(serde_json::Value::as_f64);
        let b = |key: &str| config.get(key).and_then(serde_json::Value::as_bool);
        for key in ["weight_decay", "clipnorm", "clipvalue", "global_clipnorm"] {
            if config.get(key).is_some_and(|v| !v.is_null()) {
                return Err(Error::InvalidOption {
                    option: "optimizer",
                    reason: format!("`{key}` is not supported yet"),
                });
            }
        }
        if config
            .get("learning_rate")
            .is_some_and(serde_json::Value::is_object)
        {
            return Err(Error::InvalidOption {
                option: "learning_rate",
                reason: "learning-rate schedules are not supported yet".into(),
            });
        }
        let mut opt: Optimizer = class_name.parse()?;
        if let Some(lr) = f("learning_rate") {
            opt.set_learning_rate(lr as f32);
        }
        match &mut opt {
            Optimizer::Adam {
                beta_1,
                beta_2,
                epsilon,
                amsgrad,
                ..
            } => {
                *beta_1 = f("beta_1").map_or(*beta_1, |v| v as f32);
                *beta_2 = f("beta_2").map_or(*beta_2, |v| v as f32);
                *epsilon = f("epsilon").map_or(*epsilon, |v| v as f32);
                *amsgrad = b("amsgrad").unwrap_or(*amsgrad);
            }
            Optimizer::Sgd {
                momentum, nesterov, ..
            } => {
                *momentum = f("momentum").map_or(*momentum, |v| v as f32);
                *nesterov = b("nesterov").unwrap_or(*nesterov);
            }
            Optimizer::RmsProp {
                rho,
                momentum,
                epsilon,
                centered,
                ..
            } => {
                *rho = f("rho").map_or(*rho, |v| v as f32);
                *momentum = f("momentum").map_or(*momentum, |v| v as f32);
                *epsilon = f("epsilon").map_or(*epsilon, |v| v as f32);
                *centered = b("centered").unwrap_or(*centered);
            }
        }
        Ok(opt)
    }
}

impl FromStr for Optimizer {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "adam" => Ok(Optimizer::adam()),
            "sgd" => Ok(Optimizer::sgd()),
            "rmsprop" => Ok(Optimizer::rmsprop()),
            _ => Err(Error::UnknownName {
                kind: "optimizer",
                name: s.to_string(),
                valid: Self::NAMES.to_vec(),
            }),
        }
    }
}

/// Anything `compile` accepts as an optimizer: an [`Optimizer`] or a Keras name.
pub trait IntoOptimizer {
    /// Resolves to an optimizer.
    ///
    /// # Errors
    /// [`Error::UnknownName`] for an unknown name.
    fn into_optimizer(self) -> Result<Optimizer>;
}

impl IntoOptimizer for Optimizer {
    fn into_optimizer(self) -> Result<Optimizer> {
        Ok(self)
    }
}

impl IntoOptimizer for &str {
    fn into_optimizer(self) -> Result<Optimizer> {
        self.parse()
    }
}

/// The per-parameter slots of an optimizer (moments, velocities), on the device.
#[derive(Clone)]
struct Slots<const D: usize> {
    a: Option<Tensor<D>>,
    b: Option<Tensor<D>>,
    c: Option<Tensor<D>>,
}

/// An optimizer with its state: Keras's `iterations` and per-parameter slots.
pub(crate) struct OptimizerState {
    pub(crate) config: Optimizer,
    /// Keras's `iterations`: updates applied so far.
    pub(crate) iterations: u64,
    slots: HashMap<ParamId, Box<dyn Any + Send>>,
}

impl OptimizerState {
    pub(crate) fn new(config: Optimizer) -> Self {
        Self {
            config,
            iterations: 0,
            slots: HashMap::new(),
        }
    }

    /// Applies one update to every parameter of `module` that has a gradient.
    pub(crate) fn step<M: Module>(&mut self, module: M, grads: GradientsParams) -> M {
        let t = self.iterations + 1;
        let mut mapper = StepMapper {
            config: &self.config,
            t,
            grads,
            slots: &mut self.slots,
        };
        let module = module.map(&mut mapper);
        self.iterations = t;
        module
    }
}

struct StepMapper<'a> {
    config: &'a Optimizer,
    t: u64,
    grads: GradientsParams,
    slots: &'a mut HashMap<ParamId, Box<dyn Any + Send>>,
}

impl ModuleMapper for StepMapper<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let Some(grad) = self.grads.remove::<D>(id) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let require_grad = tensor.is_require_grad();
        let slots = self
            .slots
            .remove(&id)
            .and_then(|s| s.downcast::<Slots<D>>().ok())
            .map(|s| *s);
        let (updated, slots) = update(self.config, self.t, tensor.inner(), grad.inner(), slots);
        self.slots.insert(id, Box::new(slots));
        let mut tensor = Tensor::from_inner(updated);
        if require_grad {
            tensor = tensor.require_grad();
        }
        Param::from_mapped_value(id, tensor, mapper)
    }
}

/// One Keras update of one parameter, on the inner (non-autodiff) device.
fn update<const D: usize>(
    config: &Optimizer,
    t: u64,
    p: Tensor<D>,
    g: Tensor<D>,
    slots: Option<Slots<D>>,
) -> (Tensor<D>, Slots<D>) {
    let (shape, device) = (g.shape(), g.device());
    let zeros = || Tensor::<D>::zeros(shape.clone(), &device);
    let Slots { a, b, c } = slots.unwrap_or(Slots {
        a: None,
        b: None,
        c: None,
    });
    match *config {
        Optimizer::Adam {
            learning_rate,
            beta_1,
            beta_2,
            epsilon,
            amsgrad,
        } => {
            let m = a.unwrap_or_else(zeros) * beta_1 + g.clone() * (1.0 - beta_1);
            let v = b.unwrap_or_else(zeros) * beta_2 + g.square() * (1.0 - beta_2);
            // Keras computes the bias corrections in float32.
            let step = t as f32;
            let alpha =
                learning_rate * (1.0 - beta_2.powf(step)).sqrt() / (1.0 - beta_1.powf(step));
            let (denominator, vhat) = if amsgrad {
                let vhat = c.map_or_else(|| v.clone(), |c| c.max_pair(v.clone()));
                (vhat.clone().sqrt() + epsilon, Some(vhat))
            } else {
                (v.clone().sqrt() + epsilon, None)
            };
            let p = p - m.clone().div(denominator) * alpha;
            (
                p,
                Slots {
                    a: Some(m),
                    b: Some(v),
                    c: vhat,
                },
            )
        }
        Optimizer::Sgd {
            learning_rate,
            momentum,
            nesterov,
        } => {
            if momentum == 0.0 {
                return (p - g * learning_rate, Slots { a, b, c });
            }
            let v = a.unwrap_or_else(zeros) * momentum - g.clone() * learning_rate;
            let p = if nesterov {
                p + v.clone() * momentum - g * learning_rate
            } else {
                p + v.clone()
            };
            (p, Slots { a: Some(v), b, c })
        }
        Optimizer::RmsProp {
            learning_rate,
            rho,
            momentum,
            epsilon,
            centered,
        } => {
            let v = a.unwrap_or_else(zeros) * rho + g.clone().square() * (1.0 - rho);
            let (denominator, mean_g) = if centered {
                let mg = b.unwrap_or_else(zeros) * rho + g.clone() * (1.0 - rho);
                ((v.clone() - mg.clone().square() + epsilon).sqrt(), Some(mg))
            } else {
                ((v.clone() + epsilon).sqrt(), None)
            };
            let increment = g.div(denominator) * learning_rate;
            if momentum > 0.0 {
                let mom = c.unwrap_or_else(zeros) * momentum + increment;
                (
                    p - mom.clone(),
                    Slots {
                        a: Some(v),
                        b: mean_g,
                        c: Some(mom),
                    },
                )
            } else {
                (
                    p - increment,
                    Slots {
                        a: Some(v),
                        b: mean_g,
                        c,
                    },
                )
            }
        }
    }
}
