//! Optimizers with Keras's update rules and defaults (not burn's, where they differ).
//!
//! Each rule is one file under `optimizer/`: its options (a struct with Keras's config keys),
//! the slots it keeps per parameter (with Keras's names) and its update. Elementwise rules write
//! their arithmetic once, generic over tensors and `f32` (`optimizer/elem.rs`); the portable path
//! runs it on tensors, and the flex backend runs the same definition as one fused loop.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::custom::{CustomRule, CustomRuleFn};
use crate::error::{Error, Result};
use crate::schedule::LearningRate;

mod adadelta;
mod adafactor;
mod adagrad;
mod adam;
mod adamax;
mod elem;
mod ftrl;
#[cfg(feature = "flex")]
mod fused;
mod keras_state;
mod lamb;
mod lion;
mod muon;
mod nadam;
mod rmsprop;
pub(crate) mod rule;
mod rules;
mod sgd;
mod state;

pub use adadelta::Adadelta;
pub use adafactor::Adafactor;
pub use adagrad::Adagrad;
pub use adam::Adam;
pub use adamax::Adamax;
pub use ftrl::Ftrl;
pub use lamb::Lamb;
pub use lion::Lion;
pub use muon::Muon;
pub use nadam::Nadam;
pub use rmsprop::RmsProp;
pub use rules::Rule;
pub(crate) use rules::each_rule;
pub use sgd::Sgd;
pub use state::OptimizerState;

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
/// | `"ftrl"` | [`Optimizer::ftrl`] | lr 1e-3, power -0.5, initial accumulator 0.1 |
/// | `"lamb"` | [`Optimizer::lamb`] | lr 1e-3, β 0.9/0.999, ε 1e-7 |
/// | `"adafactor"` | [`Optimizer::adafactor`] | lr 1e-3, β₂ decay -0.8, ε 1e-30/1e-3, clip 1, relative step |
/// | `"muon"` | [`Optimizer::muon`] | lr 1e-3, momentum 0.95, Nesterov, 5 Newton–Schulz steps, weight decay 0.004 (AdamW part: β 0.9/0.999, decay 0.004) |
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
    /// Keep an exponential moving average of the trained weights (Keras `use_ema`); `fit`
    /// ends with the weights replaced by their average.
    #[serde(default)]
    pub use_ema: bool,
    /// The average's momentum (Keras's 0.99).
    #[serde(default = "default_ema_momentum")]
    pub ema_momentum: f32,
    /// Every this many updates the weights are replaced by their average.
    #[serde(default)]
    pub ema_overwrite_frequency: Option<u64>,
    /// Sum the gradients of this many steps and apply their mean once (Keras
    /// `gradient_accumulation_steps`, ≥ 2): a larger effective batch.
    #[serde(default)]
    pub gradient_accumulation_steps: Option<u64>,
    /// Dynamic loss scaling (Keras `LossScaleOptimizer` around this optimizer).
    #[serde(default)]
    pub loss_scale: Option<LossScale>,
    /// A user-defined rule, used instead of `rule` (see [`Optimizer::custom`]).
    #[serde(skip)]
    pub custom: Option<CustomRuleFn>,
}

fn default_ema_momentum() -> f32 {
    0.99
}

/// Dynamic loss scaling, as Keras's `LossScaleOptimizer`: the loss is multiplied by a scale
/// before differentiation (so that small float16 gradients do not underflow) and the gradients
/// divided by it before the update; a step whose gradients are not finite is skipped and the
/// scale halved, and after `dynamic_growth_steps` finite steps in a row it doubles.
///
/// `fit` scales the loss itself; a custom [`crate::TrainStep`] calls
/// [`OptimizerState::scale_loss`] on its loss before `backward`, as Keras's `train_step` calls
/// `optimizer.scale_loss`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossScale {
    /// The starting scale (Keras's 2¹⁵).
    pub initial_scale: f32,
    /// Finite steps after which the scale doubles (Keras's 2000).
    pub dynamic_growth_steps: u64,
}

impl Default for LossScale {
    fn default() -> Self {
        Self {
            initial_scale: 32768.0,
            dynamic_growth_steps: 2000,
        }
    }
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
            use_ema: false,
            ema_momentum: default_ema_momentum(),
            ema_overwrite_frequency: None,
            gradient_accumulation_steps: None,
            loss_scale: None,
            custom: None,
        }
    }

    /// A user-defined update rule (see [`CustomRule`]) with learning rate 1e-3; the learning
    /// rate, schedules, clipping and weight decay options apply as to the stock rules.
    pub fn custom(rule: impl CustomRule) -> Self {
        Self {
            custom: Some(CustomRuleFn(std::sync::Arc::new(rule))),
            ..Self::with(Rule::Sgd(Sgd::default()), 1e-3)
        }
    }

    /// SGD with Keras's defaults.
    pub fn sgd() -> Self {
        Self::with(Rule::Sgd(Sgd::default()), 0.01)
    }

    /// Adam with Keras's defaults.
    pub fn adam() -> Self {
        Self::with(Rule::Adam(Adam::default()), 1e-3)
    }

    /// AdamW: Adam with Keras's default weight decay 0.004.
    pub fn adamw() -> Self {
        Self::adam().weight_decay(0.004)
    }

    /// RMSprop with Keras's defaults.
    pub fn rmsprop() -> Self {
        Self::with(Rule::RmsProp(RmsProp::default()), 1e-3)
    }

    /// Adagrad with Keras's defaults.
    pub fn adagrad() -> Self {
        Self::with(Rule::Adagrad(Adagrad::default()), 1e-3)
    }

    /// Adadelta with Keras's defaults (lr 1e-3; the paper's rule uses 1.0).
    pub fn adadelta() -> Self {
        Self::with(Rule::Adadelta(Adadelta::default()), 1e-3)
    }

    /// Adamax with Keras's defaults.
    pub fn adamax() -> Self {
        Self::with(Rule::Adamax(Adamax::default()), 1e-3)
    }

    /// Nadam with Keras's defaults.
    pub fn nadam() -> Self {
        Self::with(Rule::Nadam(Nadam::default()), 1e-3)
    }

    /// Lion with Keras's defaults.
    pub fn lion() -> Self {
        Self::with(Rule::Lion(Lion::default()), 1e-3)
    }

    /// FTRL with Keras's defaults.
    pub fn ftrl() -> Self {
        Self::with(Rule::Ftrl(Ftrl::default()), 1e-3)
    }

    /// LAMB with Keras's defaults.
    pub fn lamb() -> Self {
        Self::with(Rule::Lamb(Lamb::default()), 1e-3)
    }

    /// Adafactor with Keras's defaults.
    pub fn adafactor() -> Self {
        Self::with(Rule::Adafactor(Adafactor::default()), 1e-3)
    }

    /// Muon with Keras's defaults (weight decay 0.004 on the matrices, as Keras).
    pub fn muon() -> Self {
        Self::with(Rule::Muon(Muon::default()), 1e-3).weight_decay(0.004)
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

    /// Sets the momentum (SGD, RMSprop, Muon).
    pub fn momentum(mut self, value: f32) -> Self {
        if let Some(momentum) = self.rule.momentum_mut() {
            *momentum = value;
        }
        self
    }

    /// Sets Nesterov momentum (SGD, Muon).
    pub fn nesterov(mut self, value: bool) -> Self {
        if let Rule::Sgd(Sgd { nesterov, .. }) | Rule::Muon(Muon { nesterov, .. }) = &mut self.rule
        {
            *nesterov = value;
        }
        self
    }

    /// Sets the centered variant (RMSprop: divides by the gradient's estimated variance).
    pub fn centered(mut self, value: bool) -> Self {
        if let Rule::RmsProp(RmsProp { centered, .. }) = &mut self.rule {
            *centered = value;
        }
        self
    }

    /// Sets AMSGrad (Adam).
    pub fn amsgrad(mut self, value: bool) -> Self {
        if let Rule::Adam(Adam { amsgrad, .. }) = &mut self.rule {
            *amsgrad = value;
        }
        self
    }

    /// Sets epsilon (the rules that have one).
    pub fn epsilon(mut self, value: f32) -> Self {
        if let Some(epsilon) = self.rule.epsilon_mut() {
            *epsilon = value;
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

    /// Keeps a moving average of the weights with this momentum (Keras `use_ema=True,
    /// ema_momentum=...`); `fit` ends with the averaged weights.
    pub fn use_ema(mut self, ema_momentum: f32) -> Self {
        self.use_ema = true;
        self.ema_momentum = ema_momentum;
        self
    }

    /// Replaces the weights by their moving average every `updates` updates.
    pub fn ema_overwrite_frequency(mut self, updates: u64) -> Self {
        self.ema_overwrite_frequency = Some(updates);
        self
    }

    /// Applies the mean gradient of every `steps` steps (Keras `gradient_accumulation_steps`).
    pub fn gradient_accumulation_steps(mut self, steps: u64) -> Self {
        self.gradient_accumulation_steps = Some(steps);
        self
    }

    /// Wraps the optimizer in dynamic loss scaling (Keras
    /// `LossScaleOptimizer(inner_optimizer, initial_scale, dynamic_growth_steps)`).
    pub fn loss_scale(mut self, scale: LossScale) -> Self {
        self.loss_scale = Some(scale);
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
            Rule::Sgd(_) => "sgd",
            Rule::Adam(_) if self.weight_decay.is_some() => "adamw",
            Rule::Adam(_) => "adam",
            Rule::RmsProp(_) => "rmsprop",
            Rule::Adagrad(_) => "adagrad",
            Rule::Adadelta(_) => "adadelta",
            Rule::Adamax(_) => "adamax",
            Rule::Nadam(_) => "nadam",
            Rule::Lion(_) => "lion",
            Rule::Ftrl(_) => "ftrl",
            Rule::Lamb(_) => "lamb",
            Rule::Adafactor(_) => "adafactor",
            Rule::Muon(_) => "muon",
        }
    }

    const NAMES: [&'static str; 13] = [
        "sgd",
        "adam",
        "adamw",
        "rmsprop",
        "adagrad",
        "adadelta",
        "adamax",
        "nadam",
        "lion",
        "ftrl",
        "lamb",
        "adafactor",
        "muon",
    ];

    /// Reads Keras's `{"class_name": "Adam", "config": {...}}` (a Keras optimizer's
    /// `get_config()`, schedules included).
    ///
    /// # Errors
    /// [`Error::UnknownName`] for an optimizer or schedule Kiln does not have;
    /// [`Error::InvalidOption`] for an option of the wrong type.
    pub fn from_keras(class_name: &str, config: &Value) -> Result<Self> {
        if class_name == "LossScaleOptimizer" {
            let inner = config
                .get("inner_optimizer")
                .ok_or_else(|| Error::InvalidOption {
                    option: "optimizer",
                    reason: "a LossScaleOptimizer config without `inner_optimizer`".into(),
                })?;
            let empty = Value::Null;
            let mut opt = match inner {
                Value::String(name) => name.parse()?,
                _ => Optimizer::from_keras(
                    inner
                        .get("class_name")
                        .and_then(Value::as_str)
                        .unwrap_or(""),
                    inner.get("config").unwrap_or(&empty),
                )?,
            };
            let defaults = LossScale::default();
            opt.loss_scale = Some(LossScale {
                initial_scale: config
                    .get("initial_scale")
                    .and_then(Value::as_f64)
                    .map_or(defaults.initial_scale, |v| v as f32),
                dynamic_growth_steps: config
                    .get("dynamic_growth_steps")
                    .and_then(Value::as_u64)
                    .unwrap_or(defaults.dynamic_growth_steps),
            });
            return Ok(opt);
        }
        let f = |key: &str| config.get(key).and_then(Value::as_f64).map(|v| v as f32);
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
        match config.get("weight_decay") {
            Some(Value::Null) => opt.weight_decay = None,
            Some(v) => opt.weight_decay = v.as_f64().map(|v| v as f32).or(opt.weight_decay),
            None => {}
        }
        opt.clipnorm = f("clipnorm").or(opt.clipnorm);
        opt.clipvalue = f("clipvalue").or(opt.clipvalue);
        opt.global_clipnorm = f("global_clipnorm").or(opt.global_clipnorm);
        opt.use_ema = config
            .get("use_ema")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        opt.ema_momentum = f("ema_momentum").unwrap_or(opt.ema_momentum);
        let count = |key: &str| config.get(key).and_then(Value::as_u64);
        opt.ema_overwrite_frequency = count("ema_overwrite_frequency");
        opt.gradient_accumulation_steps = count("gradient_accumulation_steps");
        opt.rule = opt.rule.with_keras_config(config)?;
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
            "ftrl" => Ok(Optimizer::ftrl()),
            "lamb" => Ok(Optimizer::lamb()),
            "adafactor" => Ok(Optimizer::adafactor()),
            "muon" => Ok(Optimizer::muon()),
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
        if let Some(scale) = self.loss_scale {
            if !(scale.initial_scale.is_finite() && scale.initial_scale > 0.0) {
                return bad(
                    "initial_scale",
                    format!("must be a number > 0, got {}", scale.initial_scale),
                );
            }
            if scale.dynamic_growth_steps == 0 {
                return bad("dynamic_growth_steps", "must be at least 1, got 0".into());
            }
        }
        if !(0.0..=1.0).contains(&self.ema_momentum) {
            return bad(
                "ema_momentum",
                format!("must be in [0, 1], got {}", self.ema_momentum),
            );
        }
        if self.ema_overwrite_frequency == Some(0) {
            return bad(
                "ema_overwrite_frequency",
                "must be at least 1, got 0".into(),
            );
        }
        if let Some(steps) = self.gradient_accumulation_steps
            && steps < 2
        {
            return bad(
                "gradient_accumulation_steps",
                format!("must be at least 2 (as Keras), got {steps}"),
            );
        }
        let mut rule = self.rule.clone();
        if let Some(&mut e) = rule.epsilon_mut()
            && !(e.is_finite() && e >= 0.0)
        {
            return bad("epsilon", format!("must be a number >= 0, got {e}"));
        }
        if let Some(&mut momentum) = rule.momentum_mut()
            && !(0.0..=1.0).contains(&momentum)
        {
            return bad("momentum", format!("must be in [0, 1], got {momentum}"));
        }
        match &self.rule {
            Rule::Ftrl(ftrl) => {
                for (option, value) in [
                    ("initial_accumulator_value", ftrl.initial_accumulator_value),
                    (
                        "l1_regularization_strength",
                        ftrl.l1_regularization_strength,
                    ),
                    (
                        "l2_regularization_strength",
                        ftrl.l2_regularization_strength,
                    ),
                    (
                        "l2_shrinkage_regularization_strength",
                        ftrl.l2_shrinkage_regularization_strength,
                    ),
                ] {
                    if !(value.is_finite() && value >= 0.0) {
                        return bad(option, format!("must be a number >= 0, got {value}"));
                    }
                }
                let power = ftrl.learning_rate_power;
                if !(power.is_finite() && power <= 0.0) {
                    return bad(
                        "learning_rate_power",
                        format!("must be a number <= 0, got {power}"),
                    );
                }
            }
            Rule::Muon(muon) => {
                for pattern in &muon.exclude_layers {
                    if let Err(e) = regex::Regex::new(pattern) {
                        return bad("exclude_layers", format!("`{pattern}` is not a regex: {e}"));
                    }
                }
            }
            Rule::Adafactor(a) if !(a.clip_threshold.is_finite() && a.clip_threshold > 0.0) => {
                return bad(
                    "clip_threshold",
                    format!("must be a number > 0, got {}", a.clip_threshold),
                );
            }
            _ => {}
        }
        Ok(())
    }
}
