//! Optimizers with Keras's update rules and defaults (not burn's, where they differ).

use std::any::Any;
use std::collections::HashMap;
use std::str::FromStr;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::custom::{CustomRule, CustomRuleFn, StepInfo};
use crate::error::{Error, Result};
use crate::schedule::LearningRate;

#[cfg(feature = "flex")]
mod fused;
mod keras_state;

/// The update rule of an optimizer, with its own options (Keras's defaults in the
/// constructors of [`Optimizer`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Rule {
    /// `v = μv - lr·g; p += v` (no dampening); Nesterov: `p += μv - lr·g`.
    Sgd {
        /// Momentum `μ`.
        momentum: f32,
        /// Nesterov momentum.
        nesterov: bool,
    },
    /// `p -= lr·√(1-β₂ᵗ)/(1-β₁ᵗ) · m / (√v + ε)`; amsgrad uses the running max of `v`.
    Adam {
        /// First-moment decay.
        beta_1: f32,
        /// Second-moment decay.
        beta_2: f32,
        /// Added to `√v`.
        epsilon: f32,
        /// Use the running maximum of `v`.
        amsgrad: bool,
    },
    /// `v = ρv + (1-ρ)g²; p -= lr·g/√(v + ε)`; centered and momentum variants.
    RmsProp {
        /// Decay of the squared-gradient average.
        rho: f32,
        /// Momentum.
        momentum: f32,
        /// Inside the square root.
        epsilon: f32,
        /// Subtract the squared mean gradient.
        centered: bool,
    },
    /// `acc += g²; p -= lr·g/√(acc + ε)`, `acc` starting at `initial_accumulator_value`.
    Adagrad {
        /// Starting value of the accumulator (0.1).
        initial_accumulator_value: f32,
        /// Inside the square root.
        epsilon: f32,
    },
    /// Adadelta (Zeiler): running averages of squared gradients and updates.
    Adadelta {
        /// Decay.
        rho: f32,
        /// Inside the square roots.
        epsilon: f32,
    },
    /// Adam with the infinity norm: `u = max(β₂u, |g|)`.
    Adamax {
        /// First-moment decay.
        beta_1: f32,
        /// Decay of `u`.
        beta_2: f32,
        /// Added to `u`.
        epsilon: f32,
    },
    /// Adam with Nesterov momentum (Keras's momentum schedule `β₁(1 - 0.5·0.96ᵗ)`).
    Nadam {
        /// First-moment decay.
        beta_1: f32,
        /// Second-moment decay.
        beta_2: f32,
        /// Added to `√v̂`.
        epsilon: f32,
    },
    /// `p -= lr·sign(β₁m + (1-β₁)g)`, then `m = β₂m + (1-β₂)g`.
    Lion {
        /// Interpolation for the update.
        beta_1: f32,
        /// Decay of `m`.
        beta_2: f32,
    },
}

/// An optimizer: Keras's update rule, learning rate (or schedule), weight decay and gradient
/// clipping, with Keras's defaults and names.
///
/// | Keras | Kiln | defaults |
/// | --- | --- | --- |
/// | `"sgd"` | [`Optimizer::sgd`] | lr 0.01, momentum 0, nesterov false |
/// | `"adam"` | [`Optimizer::adam`] | lr 1e-3, β 0.9/0.999, ε 1e-7 |
/// | `"adamw"` | [`Optimizer::adamw`] | as Adam, weight decay 0.004 |
/// | `"rmsprop"` | [`Optimizer::rmsprop`] | lr 1e-3, ρ 0.9, momentum 0, ε 1e-7 |
/// | `"adagrad"` | [`Optimizer::adagrad`] | lr 1e-3, initial accumulator 0.1, ε 1e-7 |
/// | `"adadelta"` | [`Optimizer::adadelta`] | lr 1e-3, ρ 0.95, ε 1e-7 |
/// | `"adamax"` | [`Optimizer::adamax`] | lr 1e-3, β 0.9/0.999, ε 1e-7 |
/// | `"nadam"` | [`Optimizer::nadam`] | lr 1e-3, β 0.9/0.999, ε 1e-7 |
/// | `"lion"` | [`Optimizer::lion`] | lr 1e-3, β 0.9/0.99 |
///
/// # Examples
/// ```
/// use kiln_train::Optimizer;
/// let adam = Optimizer::adam().learning_rate(0.01).clipnorm(1.0);
/// assert_eq!(adam.get_learning_rate(), 0.01);
/// let sgd: Optimizer = "sgd".parse()?;
/// assert_eq!(sgd.get_learning_rate(), 0.01);
/// # Ok::<(), kiln_train::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Optimizer {
    /// The update rule.
    pub rule: Rule,
    /// A constant rate or a schedule over the step count.
    pub learning_rate: LearningRate,
    /// Decoupled weight decay, `p -= p·wd·lr` before the update.
    pub weight_decay: Option<f32>,
    /// Clip each gradient to this L2 norm.
    pub clipnorm: Option<f32>,
    /// Clip each gradient element to `[-v, v]`.
    pub clipvalue: Option<f32>,
    /// Scale all gradients together so their joint L2 norm is at most this.
    pub global_clipnorm: Option<f32>,
    /// A user-defined rule, used instead of `rule` (see [`Optimizer::custom`]).
    #[serde(skip)]
    pub custom: Option<CustomRuleFn>,
}

impl Optimizer {
    fn with(rule: Rule, lr: f32) -> Self {
        Self {
            rule,
            learning_rate: LearningRate::Constant(lr),
            weight_decay: None,
            clipnorm: None,
            clipvalue: None,
            global_clipnorm: None,
            custom: None,
        }
    }

    /// A user-defined update rule (see [`CustomRule`]) with learning rate 1e-3; the learning
    /// rate, schedules, clipping and weight decay options apply as to the stock rules.
    pub fn custom(rule: impl CustomRule) -> Self {
        Self {
            custom: Some(CustomRuleFn(std::sync::Arc::new(rule))),
            ..Self::with(
                Rule::Sgd {
                    momentum: 0.0,
                    nesterov: false,
                },
                1e-3,
            )
        }
    }

    /// SGD with Keras's defaults.
    pub fn sgd() -> Self {
        Self::with(
            Rule::Sgd {
                momentum: 0.0,
                nesterov: false,
            },
            0.01,
        )
    }

    /// Adam with Keras's defaults.
    pub fn adam() -> Self {
        Self::with(
            Rule::Adam {
                beta_1: 0.9,
                beta_2: 0.999,
                epsilon: 1e-7,
                amsgrad: false,
            },
            1e-3,
        )
    }

    /// AdamW: Adam with Keras's default weight decay 0.004.
    pub fn adamw() -> Self {
        Self::adam().weight_decay(0.004)
    }

    /// RMSprop with Keras's defaults.
    pub fn rmsprop() -> Self {
        Self::with(
            Rule::RmsProp {
                rho: 0.9,
                momentum: 0.0,
                epsilon: 1e-7,
                centered: false,
            },
            1e-3,
        )
    }

    /// Adagrad with Keras's defaults.
    pub fn adagrad() -> Self {
        Self::with(
            Rule::Adagrad {
                initial_accumulator_value: 0.1,
                epsilon: 1e-7,
            },
            1e-3,
        )
    }

    /// Adadelta with Keras's defaults (lr 1e-3; the paper's rule uses 1.0).
    pub fn adadelta() -> Self {
        Self::with(
            Rule::Adadelta {
                rho: 0.95,
                epsilon: 1e-7,
            },
            1e-3,
        )
    }

    /// Adamax with Keras's defaults.
    pub fn adamax() -> Self {
        Self::with(
            Rule::Adamax {
                beta_1: 0.9,
                beta_2: 0.999,
                epsilon: 1e-7,
            },
            1e-3,
        )
    }

    /// Nadam with Keras's defaults.
    pub fn nadam() -> Self {
        Self::with(
            Rule::Nadam {
                beta_1: 0.9,
                beta_2: 0.999,
                epsilon: 1e-7,
            },
            1e-3,
        )
    }

    /// Lion with Keras's defaults.
    pub fn lion() -> Self {
        Self::with(
            Rule::Lion {
                beta_1: 0.9,
                beta_2: 0.99,
            },
            1e-3,
        )
    }

    /// Sets a constant learning rate.
    pub fn learning_rate(mut self, lr: f32) -> Self {
        self.set_learning_rate(lr);
        self
    }

    /// Sets a learning-rate schedule.
    pub fn schedule(mut self, schedule: LearningRate) -> Self {
        self.learning_rate = schedule;
        self
    }

    /// Sets the momentum (SGD, RMSprop).
    pub fn momentum(mut self, value: f32) -> Self {
        if let Rule::Sgd { momentum, .. } | Rule::RmsProp { momentum, .. } = &mut self.rule {
            *momentum = value;
        }
        self
    }

    /// Sets Nesterov momentum (SGD).
    pub fn nesterov(mut self, value: bool) -> Self {
        if let Rule::Sgd { nesterov, .. } = &mut self.rule {
            *nesterov = value;
        }
        self
    }

    /// Sets the centered variant (RMSprop: divides by the gradient's estimated variance).
    pub fn centered(mut self, value: bool) -> Self {
        if let Rule::RmsProp { centered, .. } = &mut self.rule {
            *centered = value;
        }
        self
    }

    /// Sets AMSGrad (Adam).
    pub fn amsgrad(mut self, value: bool) -> Self {
        if let Rule::Adam { amsgrad, .. } = &mut self.rule {
            *amsgrad = value;
        }
        self
    }

    /// Sets epsilon.
    pub fn epsilon(mut self, value: f32) -> Self {
        match &mut self.rule {
            Rule::Adam { epsilon, .. }
            | Rule::RmsProp { epsilon, .. }
            | Rule::Adagrad { epsilon, .. }
            | Rule::Adadelta { epsilon, .. }
            | Rule::Adamax { epsilon, .. }
            | Rule::Nadam { epsilon, .. } => *epsilon = value,
            Rule::Sgd { .. } | Rule::Lion { .. } => {}
        }
        self
    }

    /// Sets decoupled weight decay.
    pub fn weight_decay(mut self, wd: f32) -> Self {
        self.weight_decay = Some(wd);
        self
    }

    /// Clips each gradient to this L2 norm.
    pub fn clipnorm(mut self, v: f32) -> Self {
        self.clipnorm = Some(v);
        self
    }

    /// Clips gradient elements to `[-v, v]`.
    pub fn clipvalue(mut self, v: f32) -> Self {
        self.clipvalue = Some(v);
        self
    }

    /// Clips all gradients together to this joint L2 norm.
    pub fn global_clipnorm(mut self, v: f32) -> Self {
        self.global_clipnorm = Some(v);
        self
    }

    /// The learning rate at step 0 (a constant rate's value).
    pub fn get_learning_rate(&self) -> f32 {
        self.learning_rate.at(0)
    }

    /// Replaces the rate (or schedule) with a constant `lr`, e.g. between epochs.
    pub fn set_learning_rate(&mut self, lr: f32) {
        self.learning_rate = LearningRate::Constant(lr);
    }

    /// Keras's name (`"adam"`; `"adamw"` for Adam with weight decay).
    pub fn name(&self) -> &str {
        if let Some(custom) = &self.custom {
            return custom.0.name();
        }
        match self.rule {
            Rule::Sgd { .. } => "sgd",
            Rule::Adam { .. } if self.weight_decay.is_some() => "adamw",
            Rule::Adam { .. } => "adam",
            Rule::RmsProp { .. } => "rmsprop",
            Rule::Adagrad { .. } => "adagrad",
            Rule::Adadelta { .. } => "adadelta",
            Rule::Adamax { .. } => "adamax",
            Rule::Nadam { .. } => "nadam",
            Rule::Lion { .. } => "lion",
        }
    }

    const NAMES: [&'static str; 9] = [
        "sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta", "adamax", "nadam", "lion",
    ];

    /// Reads Keras's `{"class_name": "Adam", "config": {...}}` (a Keras optimizer's
    /// `get_config()`, schedules included).
    ///
    /// # Errors
    /// [`Error::UnknownName`] for an optimizer or schedule Kiln does not have.
    pub fn from_keras(class_name: &str, config: &Value) -> Result<Self> {
        let f = |key: &str| config.get(key).and_then(Value::as_f64).map(|v| v as f32);
        let b = |key: &str| config.get(key).and_then(Value::as_bool);
        let mut opt: Optimizer = class_name.parse()?;
        match config.get("learning_rate") {
            Some(Value::Object(schedule)) => {
                let name = schedule
                    .get("class_name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let empty = Value::Null;
                let cfg = schedule.get("config").unwrap_or(&empty);
                opt.learning_rate = LearningRate::from_keras(name, cfg)?;
            }
            Some(v) => {
                if let Some(lr) = v.as_f64() {
                    opt.set_learning_rate(lr as f32);
                }
            }
            None => {}
        }
        if let Some(wd) = f("weight_decay") {
            opt.weight_decay = Some(wd);
        }
        opt.clipnorm = f("clipnorm").or(opt.clipnorm);
        opt.clipvalue = f("clipvalue").or(opt.clipvalue);
        opt.global_clipnorm = f("global_clipnorm").or(opt.global_clipnorm);
        let set = |slot: &mut f32, key: &str| {
            if let Some(v) = f(key) {
                *slot = v;
            }
        };
        match &mut opt.rule {
            Rule::Sgd { momentum, nesterov } => {
                set(momentum, "momentum");
                *nesterov = b("nesterov").unwrap_or(*nesterov);
            }
            Rule::Adam {
                beta_1,
                beta_2,
                epsilon,
                amsgrad,
            } => {
                set(beta_1, "beta_1");
                set(beta_2, "beta_2");
                set(epsilon, "epsilon");
                *amsgrad = b("amsgrad").unwrap_or(*amsgrad);
            }
            Rule::RmsProp {
                rho,
                momentum,
                epsilon,
                centered,
            } => {
                set(rho, "rho");
                set(momentum, "momentum");
                set(epsilon, "epsilon");
                *centered = b("centered").unwrap_or(*centered);
            }
            Rule::Adagrad {
                initial_accumulator_value,
                epsilon,
            } => {
                set(initial_accumulator_value, "initial_accumulator_value");
                set(epsilon, "epsilon");
            }
            Rule::Adadelta { rho, epsilon } => {
                set(rho, "rho");
                set(epsilon, "epsilon");
            }
            Rule::Adamax {
                beta_1,
                beta_2,
                epsilon,
            }
            | Rule::Nadam {
                beta_1,
                beta_2,
                epsilon,
            } => {
                set(beta_1, "beta_1");
                set(beta_2, "beta_2");
                set(epsilon, "epsilon");
            }
            Rule::Lion { beta_1, beta_2 } => {
                set(beta_1, "beta_1");
                set(beta_2, "beta_2");
            }
        }
        Ok(opt)
    }
}

impl FromStr for Optimizer {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sgd" => Ok(Optimizer::sgd()),
            "adam" => Ok(Optimizer::adam()),
            "adamw" => Ok(Optimizer::adamw()),
            "rmsprop" => Ok(Optimizer::rmsprop()),
            "adagrad" => Ok(Optimizer::adagrad()),
            "adadelta" => Ok(Optimizer::adadelta()),
            "adamax" => Ok(Optimizer::adamax()),
            "nadam" => Ok(Optimizer::nadam()),
            "lion" => Ok(Optimizer::lion()),
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

impl Optimizer {
    /// Checks the options `compile` would otherwise accept silently: a learning rate or
    /// epsilon that is negative or not a number, a clip bound or weight decay that is not
    /// positive (a zero `clipnorm` freezes training), momentum outside `[0, 1)`.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming the option and its value.
    pub fn validate(&self) -> Result<()> {
        let bad =
            |option: &'static str, reason: String| Err(Error::InvalidOption { option, reason });
        if let LearningRate::Constant(lr) = self.learning_rate
            && !(lr.is_finite() && lr >= 0.0)
        {
            return bad("learning_rate", format!("must be a number >= 0, got {lr}"));
        }
        for (option, value) in [
            ("clipnorm", self.clipnorm),
            ("clipvalue", self.clipvalue),
            ("global_clipnorm", self.global_clipnorm),
        ] {
            if let Some(v) = value
                && !(v.is_finite() && v > 0.0)
            {
                return bad(option, format!("must be a number > 0, got {v}"));
            }
        }
        if let Some(wd) = self.weight_decay
            && !(wd.is_finite() && wd >= 0.0)
        {
            return bad("weight_decay", format!("must be a number >= 0, got {wd}"));
        }
        let epsilon = match self.rule {
            Rule::Adam { epsilon, .. }
            | Rule::RmsProp { epsilon, .. }
            | Rule::Adagrad { epsilon, .. }
            | Rule::Adadelta { epsilon, .. }
            | Rule::Adamax { epsilon, .. }
            | Rule::Nadam { epsilon, .. } => Some(epsilon),
            Rule::Sgd { .. } | Rule::Lion { .. } => None,
        };
        if let Some(e) = epsilon
            && !(e.is_finite() && e >= 0.0)
        {
            return bad("epsilon", format!("must be a number >= 0, got {e}"));
        }
        if let Rule::Sgd { momentum, .. } | Rule::RmsProp { momentum, .. } = self.rule
            && !(0.0..=1.0).contains(&momentum)
        {
            return bad("momentum", format!("must be in [0, 1], got {momentum}"));
        }
        Ok(())
    }
}

/// The per-parameter slots of an optimizer (moments, velocities), on the device.
#[derive(Clone, Default)]
struct Slots<const D: usize> {
    a: Option<Tensor<D>>,
    b: Option<Tensor<D>>,
    c: Option<Tensor<D>>,
}

/// An optimizer with its state: Keras's `iterations` and per-parameter slots. `fit` keeps one;
/// a custom training loop can use it directly, as Keras's `optimizer.apply_gradients`.
///
/// On the `flex` CPU backend, Adam (incl. AMSGrad) and SGD with momentum update each parameter
/// and its slots in place in one vectorized pass instead of a chain of tensor ops (same
/// arithmetic, same order; about 4× faster for the MNIST MLP). Slot values that decay below
/// `f32::MIN_POSITIVE` are stored as zero there, as XLA's flush-to-zero does for Keras on CPU.
pub struct OptimizerState {
    /// The optimizer's configuration.
    pub config: Optimizer,
    /// Keras's `iterations`: updates applied so far.
    pub iterations: u64,
    /// Nadam's running product of momentum factors.
    nadam_product: f32,
    slots: HashMap<ParamId, Box<dyn Any + Send>>,
}

impl OptimizerState {
    /// A fresh state (no update applied yet).
    pub fn new(config: Optimizer) -> Self {
        Self {
            config,
            iterations: 0,
            nadam_product: 1.0,
            slots: HashMap::new(),
        }
    }

    /// The configured learning rate at step 0 ([`Optimizer::get_learning_rate`]).
    pub fn get_learning_rate(&self) -> f32 {
        self.config.get_learning_rate()
    }

    /// Replaces the rate (or schedule) with a constant `lr` ([`Optimizer::set_learning_rate`]).
    pub fn set_learning_rate(&mut self, lr: f32) {
        self.config.set_learning_rate(lr);
    }

    /// Applies one update to every parameter of `module` that has a gradient in `grads`
    /// (Keras's `apply_gradients`): clipping, weight decay, then the rule.
    pub fn apply_gradients<M: Module>(&mut self, module: M, mut grads: GradientsParams) -> M {
        let lr = self.config.learning_rate.at(self.iterations);
        let t = self.iterations + 1;
        let global_scale = self.config.global_clipnorm.and_then(|clip| {
            let mut norm = GlobalNorm {
                grads: &grads,
                sum: None,
            };
            module.visit(&mut norm);
            norm.sum.map(|sum| {
                let norm = sum.sqrt();
                norm.clone().clamp_min(clip).recip() * clip
            })
        });
        if let Rule::Nadam { beta_1, .. } = self.config.rule {
            self.nadam_product *= beta_1 * (1.0 - 0.5 * 0.96f32.powf(t as f32));
        }
        let mut mapper = StepMapper {
            config: &self.config,
            lr,
            t,
            nadam_product: self.nadam_product,
            global_scale,
            grads: &mut grads,
            slots: &mut self.slots,
        };
        let module = module.map(&mut mapper);
        self.iterations = t;
        module
    }
}

struct GlobalNorm<'a> {
    grads: &'a GradientsParams,
    sum: Option<Tensor<1>>,
}

impl ModuleVisitor for GlobalNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            let s = g.inner().square().sum();
            self.sum = Some(match self.sum.take() {
                Some(acc) => acc + s,
                None => s,
            });
        }
    }
}

struct StepMapper<'a> {
    config: &'a Optimizer,
    lr: f32,
    t: u64,
    nadam_product: f32,
    global_scale: Option<Tensor<1>>,
    grads: &'a mut GradientsParams,
    slots: &'a mut HashMap<ParamId, Box<dyn Any + Send>>,
}

impl ModuleMapper for StepMapper<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let Some(grad) = self.grads.remove::<D>(id) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let require_grad = tensor.is_require_grad();
        let slots = self.slots.remove(&id);
        let mut g = grad.inner();
        // Keras: clipnorm, then global_clipnorm, then clipvalue.
        if let Some(clip) = self.config.clipnorm {
            let norm = g.clone().square().sum().sqrt();
            let scale = norm.clamp_min(clip).recip() * clip;
            g = g * scale.reshape([1; D]);
        }
        if let Some(scale) = &self.global_scale {
            g = g * scale.clone().reshape([1; D]);
        }
        if let Some(v) = self.config.clipvalue {
            g = g.clamp(-v, v);
        }
        let mut p = tensor.inner();
        if let Some(wd) = self.config.weight_decay {
            p = p.clone() - p * (wd * self.lr);
        }
        let step = Step {
            lr: self.lr,
            t: self.t,
            nadam_product: self.nadam_product,
        };
        let updated = match &self.config.custom {
            Some(custom) => {
                let custom_slots = slots
                    .and_then(|s| s.downcast::<Vec<Tensor<1>>>().ok())
                    .map(|s| *s);
                let (updated, custom_slots) =
                    custom_update(custom.0.as_ref(), &step, p, g, custom_slots);
                self.slots.insert(id, Box::new(custom_slots));
                updated
            }
            None => {
                let slots = slots
                    .and_then(|s| s.downcast::<Slots<D>>().ok())
                    .map(|s| *s);
                #[cfg(feature = "flex")]
                let fused = fused::update(self.config.rule, &step, p, g, slots);
                #[cfg(not(feature = "flex"))]
                let fused = Err((p, g, slots));
                let (updated, slots) = fused
                    .unwrap_or_else(|(p, g, slots)| update(self.config.rule, &step, p, g, slots));
                self.slots.insert(id, Box::new(slots));
                updated
            }
        };
        let mut tensor = Tensor::from_inner(updated);
        if require_grad {
            tensor = tensor.require_grad();
        }
        Param::from_mapped_value(id, tensor, mapper)
    }
}

/// One update of a user-defined rule, on the parameter flattened to `[n]`.
fn custom_update<const D: usize>(
    rule: &dyn CustomRule,
    step: &Step,
    p: Tensor<D>,
    g: Tensor<D>,
    slots: Option<Vec<Tensor<1>>>,
) -> (Tensor<D>, Vec<Tensor<1>>) {
    let dims = p.dims();
    let n: usize = dims.iter().product();
    let device = p.device();
    let mut slots = slots.unwrap_or_else(|| {
        (0..rule.slots())
            .map(|_| Tensor::<1>::zeros([n], &device))
            .collect()
    });
    let info = StepInfo {
        learning_rate: step.lr,
        step: step.t,
    };
    let updated = rule.update(p.reshape([n]), g.reshape([n]), &mut slots, &info);
    (updated.reshape(dims), slots)
}

/// The host scalars of one step.
struct Step {
    lr: f32,
    t: u64,
    nadam_product: f32,
}

/// Adam's step size `lr·√(1-β₂ᵗ)/(1-β₁ᵗ)`; Keras computes the bias corrections in float32.
fn adam_alpha(step: &Step, beta_1: f32, beta_2: f32) -> f32 {
    let t = step.t as f32;
    step.lr * (1.0 - beta_2.powf(t)).sqrt() / (1.0 - beta_1.powf(t))
}

/// One Keras update of one parameter, on the inner (non-autodiff) device.
fn update<const D: usize>(
    rule: Rule,
    step: &Step,
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
    let lr = step.lr;
    // Keras computes the bias corrections in float32.
    let t = step.t as f32;
    match rule {
        Rule::Sgd { momentum, nesterov } => {
            if momentum == 0.0 {
                return (p - g * lr, Slots { a, b, c });
            }
            let v = a.unwrap_or_else(zeros) * momentum - g.clone() * lr;
            let p = if nesterov {
                p + v.clone() * momentum - g * lr
            } else {
                p + v.clone()
            };
            (p, Slots { a: Some(v), b, c })
        }
        Rule::Adam {
            beta_1,
            beta_2,
            epsilon,
            amsgrad,
        } => {
            let m = a.unwrap_or_else(zeros) * beta_1 + g.clone() * (1.0 - beta_1);
            let v = b.unwrap_or_else(zeros) * beta_2 + g.square() * (1.0 - beta_2);
            let alpha = adam_alpha(step, beta_1, beta_2);
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
        Rule::RmsProp {
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
            let increment = g.div(denominator) * lr;
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
        Rule::Adagrad {
            initial_accumulator_value,
            epsilon,
        } => {
            let acc = a.unwrap_or_else(|| zeros() + initial_accumulator_value) + g.clone().square();
            let p = p - g.div((acc.clone() + epsilon).sqrt()) * lr;
            (p, Slots { a: Some(acc), b, c })
        }
        Rule::Adadelta { rho, epsilon } => {
            let acc_g = a.unwrap_or_else(zeros) * rho + g.clone().square() * (1.0 - rho);
            let acc_d = b.unwrap_or_else(zeros);
            let delta =
                -((acc_d.clone() + epsilon).sqrt() * g).div((acc_g.clone() + epsilon).sqrt());
            let acc_d = acc_d * rho + delta.clone().square() * (1.0 - rho);
            (
                p + delta * lr,
                Slots {
                    a: Some(acc_g),
                    b: Some(acc_d),
                    c,
                },
            )
        }
        Rule::Adamax {
            beta_1,
            beta_2,
            epsilon,
        } => {
            let m = a.unwrap_or_else(zeros) * beta_1 + g.clone() * (1.0 - beta_1);
            let u = (b.unwrap_or_else(zeros) * beta_2).max_pair(g.abs());
            let scale = lr / (1.0 - beta_1.powf(t));
            let p = p - m.clone().div(u.clone() + epsilon) * scale;
            (
                p,
                Slots {
                    a: Some(m),
                    b: Some(u),
                    c,
                },
            )
        }
        Rule::Nadam {
            beta_1,
            beta_2,
            epsilon,
        } => {
            let u_t = beta_1 * (1.0 - 0.5 * 0.96f32.powf(t));
            let u_next = beta_1 * (1.0 - 0.5 * 0.96f32.powf(t + 1.0));
            let product = step.nadam_product;
            let product_next = product * u_next;
            let m = a.unwrap_or_else(zeros) * beta_1 + g.clone() * (1.0 - beta_1);
            let v = b.unwrap_or_else(zeros) * beta_2 + g.clone().square() * (1.0 - beta_2);
            let m_hat =
                m.clone() * (u_next / (1.0 - product_next)) + g * ((1.0 - u_t) / (1.0 - product));
            let v_hat = v.clone() / (1.0 - beta_2.powf(t));
            let p = p - m_hat.div(v_hat.sqrt() + epsilon) * lr;
            (
                p,
                Slots {
                    a: Some(m),
                    b: Some(v),
                    c,
                },
            )
        }
        Rule::Lion { beta_1, beta_2 } => {
            let m = a.unwrap_or_else(zeros);
            let direction = (m.clone() * beta_1 + g.clone() * (1.0 - beta_1)).sign();
            let p = p - direction * lr;
            let m = m * beta_2 + g * (1.0 - beta_2);
            (p, Slots { a: Some(m), b, c })
        }
    }
}
