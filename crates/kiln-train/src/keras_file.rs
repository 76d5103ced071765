//! Compiled models in Keras's `.keras` file: the training setup (`compile_config`: optimizer,
//! losses, loss weights, metrics) and the optimizer's variables, written so that Keras resumes
//! training from a file Kiln saved, and read so that `fit` resumes from a file Keras saved.

use std::path::Path;

use burn::tensor::Device;
use kiln_model::{CustomObjects, load_keras};
use serde_json::{Value, json};

use crate::compiled::{CompiledModel, Output};
use crate::error::{Error, Result};
use crate::loss::{Loss, LossConfig};
use crate::metric::MetricConfig;
use crate::optimizer::{Optimizer, Rule};
use crate::schedule::LearningRate;

fn keras_object(module: &str, class_name: &str, config: Value) -> Value {
    json!({"module": module, "class_name": class_name, "config": config, "registered_name": null})
}

/// `SparseCategoricalCrossentropy` → `sparse_categorical_crossentropy` (Keras's
/// `to_snake_case`: `KLDivergence` → `kl_divergence`).
fn snake(class: &str) -> String {
    let chars: Vec<char> = class.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase() || prev.is_ascii_digit() || next_lower {
                out.push('_');
            }
        }
        out.extend(c.to_lowercase());
    }
    out
}

fn camel(name: &str) -> String {
    name.split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

impl LearningRate {
    /// Keras's serialization: a float, or `{"class_name": "ExponentialDecay", ...}`.
    pub fn to_keras(&self) -> Value {
        let schedule =
            |class: &str, config: Value| keras_object("keras.optimizers.schedules", class, config);
        match self {
            LearningRate::Constant(lr) => json!(lr),
            LearningRate::ExponentialDecay {
                initial_learning_rate,
                decay_steps,
                decay_rate,
                staircase,
            } => schedule(
                "ExponentialDecay",
                json!({"initial_learning_rate": initial_learning_rate, "decay_steps": decay_steps,
                       "decay_rate": decay_rate, "staircase": staircase, "name": "ExponentialDecay"}),
            ),
            LearningRate::InverseTimeDecay {
                initial_learning_rate,
                decay_steps,
                decay_rate,
                staircase,
            } => schedule(
                "InverseTimeDecay",
                json!({"initial_learning_rate": initial_learning_rate, "decay_steps": decay_steps,
                       "decay_rate": decay_rate, "staircase": staircase, "name": "InverseTimeDecay"}),
            ),
            LearningRate::CosineDecay {
                initial_learning_rate,
                decay_steps,
                alpha,
                warmup_target,
                warmup_steps,
            } => schedule(
                "CosineDecay",
                json!({"initial_learning_rate": initial_learning_rate, "decay_steps": decay_steps,
                       "alpha": alpha, "name": "CosineDecay", "warmup_target": warmup_target,
                       "warmup_steps": warmup_steps}),
            ),
            LearningRate::PolynomialDecay {
                initial_learning_rate,
                decay_steps,
                end_learning_rate,
                power,
                cycle,
            } => schedule(
                "PolynomialDecay",
                json!({"initial_learning_rate": initial_learning_rate, "decay_steps": decay_steps,
                       "end_learning_rate": end_learning_rate, "power": power, "cycle": cycle,
                       "name": "PolynomialDecay"}),
            ),
            LearningRate::CosineDecayRestarts {
                initial_learning_rate,
                first_decay_steps,
                t_mul,
                m_mul,
                alpha,
            } => schedule(
                "CosineDecayRestarts",
                json!({"initial_learning_rate": initial_learning_rate,
                       "first_decay_steps": first_decay_steps, "t_mul": t_mul, "m_mul": m_mul,
                       "alpha": alpha, "name": "SGDRDecay"}),
            ),
            LearningRate::PiecewiseConstantDecay { boundaries, values } => schedule(
                "PiecewiseConstantDecay",
                json!({"boundaries": boundaries, "values": values,
                       "name": "PiecewiseConstant"}),
            ),
        }
    }
}

impl Optimizer {
    /// Keras's serialization (`keras.optimizers.serialize`): `{"class_name": "Adam", "config":
    /// {...}}`, which [`Optimizer::from_keras`] and Keras read.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] for a custom rule, which Keras does not have.
    pub fn to_keras(&self) -> Result<Value> {
        if self.custom.is_some() {
            return Err(Error::InvalidOption {
                option: "optimizer",
                reason: "a custom rule has no Keras config".into(),
            });
        }
        let name = self.name();
        let mut config = json!({
            "name": name,
            "learning_rate": self.learning_rate.to_keras(),
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "loss_scale_factor": null,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
        });
        let class = match self.rule {
            Rule::Adam(_) if self.weight_decay.is_some() => "AdamW",
            _ => self.rule.keras_class(),
        };
        let rule = self.rule.keras_config();
        if let (Value::Object(c), Value::Object(r)) = (&mut config, rule) {
            c.extend(r);
        }
        let inner = keras_object("keras.optimizers", class, config);
        Ok(match self.loss_scale {
            Some(scale) => keras_object(
                "keras.optimizers",
                "LossScaleOptimizer",
                json!({
                    "name": "loss_scale_optimizer",
                    "inner_optimizer": inner,
                    "initial_scale": scale.initial_scale,
                    "dynamic_growth_steps": scale.dynamic_growth_steps,
                }),
            ),
            None => inner,
        })
    }
}

fn loss_to_keras(loss: &LossConfig) -> Result<Value> {
    if loss.custom.is_some() {
        return Err(Error::InvalidOption {
            option: "loss",
            reason: format!("the custom loss `{}` has no Keras config", loss.name()),
        });
    }
    let defaults = loss.loss.config();
    let name = loss.name();
    let same = |a: &LossConfig, b: &LossConfig| {
        (
            a.from_logits,
            a.label_smoothing,
            a.delta,
            a.alpha,
            a.beta,
            a.gamma,
            a.apply_class_balancing,
            a.per_sample,
            a.reduction,
        ) == (
            b.from_logits,
            b.label_smoothing,
            b.delta,
            b.alpha,
            b.beta,
            b.gamma,
            b.apply_class_balancing,
            b.per_sample,
            b.reduction,
        )
    };
    if same(loss, &defaults) {
        return Ok(json!(name));
    }
    let mut config = json!({"name": name, "reduction": loss.reduction.name()});
    match loss.loss {
        Loss::BinaryFocalCrossentropy => {
            config["alpha"] = json!(loss.alpha);
            config["gamma"] = json!(loss.gamma);
            config["apply_class_balancing"] = json!(loss.apply_class_balancing);
        }
        Loss::CategoricalFocalCrossentropy => {
            config["alpha"] = json!(loss.alpha);
            config["gamma"] = json!(loss.gamma);
        }
        Loss::Tversky => {
            config["alpha"] = json!(loss.alpha);
            config["beta"] = json!(loss.beta);
            config["axis"] = if loss.per_sample {
                json!(1)
            } else {
                json!(null)
            };
        }
        Loss::Dice => {
            config["axis"] = if loss.per_sample {
                json!(1)
            } else {
                json!(null)
            };
        }
        _ => {}
    }
    if loss.from_logits != defaults.from_logits {
        config["from_logits"] = json!(loss.from_logits);
    }
    if loss.label_smoothing != defaults.label_smoothing {
        config["label_smoothing"] = json!(loss.label_smoothing);
    }
    if loss.delta != defaults.delta {
        config["delta"] = json!(loss.delta);
    }
    Ok(keras_object("keras.losses", &camel(name), config))
}

fn loss_from_keras(value: &Value) -> Result<LossConfig> {
    match value {
        Value::String(name) => Ok(name.parse::<Loss>()?.config()),
        Value::Object(o) => {
            let class = o.get("class_name").and_then(Value::as_str).unwrap_or("");
            let empty = json!({});
            LossConfig::from_keras(&snake(class), o.get("config").unwrap_or(&empty))
        }
        other => Err(Error::InvalidOption {
            option: "loss",
            reason: format!("cannot read the loss `{other}` from compile_config"),
        }),
    }
}

impl MetricConfig {
    /// Keras's serialization: the name when every option is Keras's default (`"auc"`), else
    /// `{"class_name": "F1Score", "config": {...}}` with the options that differ, which
    /// [`MetricConfig::from_keras`] and Keras read.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] for a user-defined metric, which Keras cannot rebuild.
    pub fn to_keras(&self) -> Result<Value> {
        use crate::metric::{Average, ClassAggregation, Metric};
        if self.is_user_defined() {
            return Err(Error::InvalidOption {
                option: "metrics",
                reason: format!("the custom metric `{}` has no Keras config", self.name()),
            });
        }
        let m = self.metric;
        let defaults = m.config();
        let (Some(class), false) = (m.keras_class(), self == &defaults) else {
            return Ok(json!(m.name()));
        };
        let mut config = json!({"name": m.name()});
        let mut set = |key: &str, value: Value| config[key] = value;
        let average = |a: Average| match a {
            Average::None => Value::Null,
            Average::Micro => json!("micro"),
            Average::Macro => json!("macro"),
            Average::Weighted => json!("weighted"),
        };
        match m {
            Metric::BinaryAccuracy => set("threshold", json!(self.threshold)),
            Metric::TopKCategoricalAccuracy | Metric::SparseTopKCategoricalAccuracy => {
                set("k", json!(self.k));
            }
            Metric::Auc => set("num_thresholds", json!(self.num_thresholds)),
            Metric::Precision
            | Metric::Recall
            | Metric::TruePositives
            | Metric::FalsePositives
            | Metric::TrueNegatives
            | Metric::FalseNegatives => match &self.thresholds {
                Some(list) => set("thresholds", json!(list)),
                None => set("thresholds", json!(self.threshold)),
            },
            Metric::F1Score | Metric::FBetaScore => {
                set("average", average(self.average));
                set("threshold", json!(self.f_threshold));
                if m == Metric::FBetaScore {
                    set("beta", json!(self.beta));
                }
            }
            Metric::Iou
            | Metric::MeanIou
            | Metric::BinaryIou
            | Metric::OneHotIou
            | Metric::OneHotMeanIou => {
                if m != Metric::BinaryIou {
                    set("num_classes", json!(self.num_classes));
                } else {
                    set("threshold", json!(self.threshold));
                }
                if matches!(m, Metric::Iou | Metric::BinaryIou | Metric::OneHotIou) {
                    let all: Vec<usize> = (0..self.num_classes).collect();
                    set(
                        "target_class_ids",
                        json!(self.target_class_ids.clone().unwrap_or(all)),
                    );
                }
                set("ignore_class", json!(self.ignore_class));
                if matches!(m, Metric::Iou | Metric::MeanIou) {
                    set("sparse_y_true", json!(self.sparse_y_true));
                    set("sparse_y_pred", json!(self.sparse_y_pred));
                }
            }
            Metric::R2Score => {
                let aggregation = match self.class_aggregation {
                    ClassAggregation::UniformAverage => json!("uniform_average"),
                    ClassAggregation::VarianceWeightedAverage => {
                        json!("variance_weighted_average")
                    }
                    ClassAggregation::None => Value::Null,
                };
                set("class_aggregation", aggregation);
                set("num_regressors", json!(self.num_regressors));
            }
            Metric::PrecisionAtRecall
            | Metric::RecallAtPrecision
            | Metric::SensitivityAtSpecificity
            | Metric::SpecificityAtSensitivity => {
                let key = match m {
                    Metric::PrecisionAtRecall => "recall",
                    Metric::RecallAtPrecision => "precision",
                    Metric::SensitivityAtSpecificity => "specificity",
                    _ => "sensitivity",
                };
                set(key, json!(self.value));
                set("num_thresholds", json!(self.num_thresholds));
            }
            Metric::BinaryCrossentropy
            | Metric::CategoricalCrossentropy
            | Metric::SparseCategoricalCrossentropy => {
                set("from_logits", json!(self.from_logits));
                if m != Metric::SparseCategoricalCrossentropy {
                    set("label_smoothing", json!(self.label_smoothing));
                }
            }
            _ => {}
        }
        Ok(keras_object("keras.metrics", class, config))
    }
}

/// A compiled metric as Keras's `compile_config` lists it: its name as given (`"accuracy"`
/// stays `"accuracy"`, resolved again from the loss on load), or its class with options.
fn metric_to_keras(m: &crate::metric::CompiledMetric) -> Result<Value> {
    if m.rule.is_user_defined() || m.rule.metric.config() == m.rule {
        return Ok(json!(m.name));
    }
    m.rule.to_keras()
}

fn metric_from_keras(value: &Value) -> Result<MetricConfig> {
    match value {
        Value::String(name) => Ok(name.parse::<crate::metric::Metric>()?.config()),
        Value::Object(o) => {
            let class = o.get("class_name").and_then(Value::as_str).unwrap_or("");
            let empty = json!({});
            MetricConfig::from_keras(class, o.get("config").unwrap_or(&empty))
        }
        other => Err(Error::InvalidOption {
            option: "metrics",
            reason: format!("cannot read the metric `{other}` from compile_config"),
        }),
    }
}

/// What `compile_config` gives output `k` named `name`: a value per output as a list (by
/// position) or a map (by name), or one value for all.
fn per_output<'a>(value: &'a Value, k: usize, name: &str, several: bool) -> Option<&'a Value> {
    match value {
        Value::Null => None,
        Value::Array(items) if several => items.get(k),
        Value::Object(map) if several && map.contains_key(name) => map.get(name),
        other => Some(other),
    }
}

fn optimizer_from_keras(value: &Value) -> Result<Optimizer> {
    match value {
        Value::String(name) => name.parse(),
        Value::Object(o) => {
            let class = o.get("class_name").and_then(Value::as_str).unwrap_or("");
            let empty = json!({});
            Optimizer::from_keras(class, o.get("config").unwrap_or(&empty))
        }
        _ => "rmsprop".parse(),
    }
}

impl CompiledModel {
    /// Keras's `compile_config` for this model: optimizer, loss (one per output), loss
    /// weights and metrics, in the form `model.compile(**config)` takes.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] for a custom optimizer rule or loss, which Keras cannot read.
    pub fn compile_config(&self) -> Result<Value> {
        let several = self.heads.len() > 1;
        let names = self.model.output_names();
        let losses = self
            .heads
            .iter()
            .map(|h| loss_to_keras(&h.loss))
            .collect::<Result<Vec<_>>>()?;
        let metrics: Vec<Value> = self
            .heads
            .iter()
            .map(|h| {
                h.metrics
                    .iter()
                    .map(metric_to_keras)
                    .collect::<Result<Vec<_>>>()
                    .map(Value::Array)
            })
            .collect::<Result<_>>()?;
        let by_name =
            |values: Vec<Value>| Value::Object(names.iter().cloned().zip(values).collect());
        let (loss, loss_weights, metrics) = if several {
            (
                by_name(losses),
                by_name(self.heads.iter().map(|h| json!(h.weight)).collect()),
                by_name(metrics),
            )
        } else {
            let metrics = metrics.into_iter().next().unwrap_or(json!([]));
            (
                losses.into_iter().next().unwrap_or(Value::Null),
                Value::Null,
                metrics,
            )
        };
        Ok(json!({
            "optimizer": self.optimizer.config.to_keras()?,
            "loss": loss,
            "loss_weights": loss_weights,
            "metrics": metrics,
            "weighted_metrics": null,
            "run_eagerly": false,
            "steps_per_execution": 1,
            "jit_compile": false,
        }))
    }

    /// Saves the model in the format the extension names. `.keras` carries the training setup
    /// too (Keras's `compile_config` and the optimizer's variables), so that Keras's
    /// `keras.saving.load_model` (or Kiln's [`load_compiled`]) resumes training where it
    /// stopped; `.safetensors` holds the model alone.
    ///
    /// # Errors
    /// [`Error::Model`] for an unknown extension or an unwritable path;
    /// [`Error::InvalidOption`] for a custom rule or loss in a `.keras` file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let keras = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("keras"));
        if !keras {
            return Ok(self.model.save(path)?);
        }
        let variables = self
            .optimizer
            .keras_variables(&self.model.trainable_params())?;
        // A LossScaleOptimizer holds 4 variables of its own before the wrapped optimizer's.
        let (name, inner) = match self.optimizer.config.loss_scale {
            Some(_) => (
                "loss_scale_optimizer".to_string(),
                Some((self.optimizer.config.name().to_string(), 4)),
            ),
            None => (self.optimizer.config.name().to_string(), None),
        };
        self.model.save_keras(
            path,
            Some(self.compile_config()?),
            Some(kiln_model::OptimizerVariables {
                name,
                variables,
                inner,
            }),
        )?;
        Ok(())
    }
}

/// Loads a `.keras` file and compiles the model as its `compile_config` says, with the
/// optimizer's saved variables, so that `fit` continues where Keras (or Kiln) stopped (Keras's
/// `keras.saving.load_model` of a compiled model).
///
/// # Errors
/// The errors of [`kiln_model::load_keras`]; [`Error::InvalidOption`] when the file holds no
/// `compile_config`, or its optimizer state does not fit the model; [`Error::UnknownName`] for
/// an optimizer, loss or metric Kiln does not have.
pub fn load_compiled(path: impl AsRef<Path>, device: &Device) -> Result<CompiledModel> {
    load_compiled_with(path, device, &CustomObjects::new())
}

/// As [`load_compiled`], for a model with custom layers.
///
/// # Errors
/// As [`load_compiled`].
pub fn load_compiled_with(
    path: impl AsRef<Path>,
    device: &Device,
    custom: &CustomObjects,
) -> Result<CompiledModel> {
    let path = path.as_ref();
    let archive = load_keras(path, device, custom)?;
    let config = archive.compile_config.ok_or_else(|| Error::InvalidOption {
        option: "compile_config",
        reason: format!(
            "{} holds no training setup (the model was saved uncompiled); load it with \
             load_model and compile it",
            path.display()
        ),
    })?;
    let null = Value::Null;
    let optimizer = optimizer_from_keras(config.get("optimizer").unwrap_or(&null))?;
    let names = archive.model.output_names();
    let several = names.len() > 1;
    let mut outputs = Vec::with_capacity(names.len());
    for (k, name) in names.iter().enumerate() {
        let loss =
            per_output(config.get("loss").unwrap_or(&null), k, name, several).ok_or_else(|| {
                Error::InvalidOption {
                    option: "compile_config",
                    reason: format!("no loss for output `{name}`"),
                }
            })?;
        let mut output = Output::new(name.clone(), loss_from_keras(loss)?)?;
        if let Some(w) = per_output(
            config.get("loss_weights").unwrap_or(&null),
            k,
            name,
            several,
        )
        .and_then(Value::as_f64)
        {
            output = output.loss_weight(w as f32);
        }
        let metrics = match per_output(config.get("metrics").unwrap_or(&null), k, name, several) {
            Some(Value::Array(items)) => items
                .iter()
                .map(metric_from_keras)
                .collect::<Result<Vec<_>>>()?,
            Some(one @ (Value::String(_) | Value::Object(_))) => vec![metric_from_keras(one)?],
            _ => Vec::new(),
        };
        output = output.metrics(metrics)?;
        outputs.push(output);
    }
    let mut compiled = CompiledModel::compile_outputs(archive.model, optimizer, outputs)?;
    let params = compiled.model.trainable_params();
    if !archive.optimizer_variables.is_empty() {
        let plain = compiled.device.clone();
        compiled
            .optimizer
            .set_keras_variables(&params, &archive.optimizer_variables, &plain)?;
    }
    Ok(compiled)
}
