//! The [`Rule`] enum: one variant per Keras optimizer class, each holding its options struct
//! (one file per rule), and the dispatch over them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::rule::{ParamInfo, Slot, UpdateRule};
use super::{
    Adadelta, Adafactor, Adagrad, Adam, Adamax, Ftrl, Lamb, Lion, Muon, Nadam, RmsProp, Sgd,
};
use crate::error::{Error, Result};

/// The update rule of an optimizer with its own options (Keras's names and defaults; each rule
/// is one file: its options, its slots and its arithmetic).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Rule {
    /// SGD with momentum and Nesterov ([`Sgd`]).
    Sgd(Sgd),
    /// Adam, AMSGrad ([`Adam`]); AdamW is Adam with weight decay.
    Adam(Adam),
    /// RMSprop ([`RmsProp`]).
    RmsProp(RmsProp),
    /// Adagrad ([`Adagrad`]).
    Adagrad(Adagrad),
    /// Adadelta ([`Adadelta`]).
    Adadelta(Adadelta),
    /// Adamax ([`Adamax`]).
    Adamax(Adamax),
    /// Nadam ([`Nadam`]).
    Nadam(Nadam),
    /// Lion ([`Lion`]).
    Lion(Lion),
    /// FTRL-proximal ([`Ftrl`]).
    Ftrl(Ftrl),
    /// LAMB ([`Lamb`]).
    Lamb(Lamb),
    /// Adafactor ([`Adafactor`]).
    Adafactor(Adafactor),
    /// Muon, with AdamW for non-matrix weights ([`Muon`]).
    Muon(Muon),
}

/// Runs `$body` with `$r` bound to the rule's options struct, whatever the rule.
macro_rules! each_rule {
    ($rule:expr, $r:ident => $body:expr) => {
        match $rule {
            Rule::Sgd($r) => $body,
            Rule::Adam($r) => $body,
            Rule::RmsProp($r) => $body,
            Rule::Adagrad($r) => $body,
            Rule::Adadelta($r) => $body,
            Rule::Adamax($r) => $body,
            Rule::Nadam($r) => $body,
            Rule::Lion($r) => $body,
            Rule::Ftrl($r) => $body,
            Rule::Lamb($r) => $body,
            Rule::Adafactor($r) => $body,
            Rule::Muon($r) => $body,
        }
    };
}
pub(crate) use each_rule;

/// Keras's class name of a rule value.
fn class_of<R: UpdateRule>(_: &R) -> &'static str {
    R::CLASS
}

impl Rule {
    /// Keras's class name (`"Adam"`; AdamW is told apart by [`Optimizer::name`]).
    pub fn keras_class(&self) -> &'static str {
        each_rule!(self, r => class_of(r))
    }

    /// The rule's options as Keras's config keys (`{"beta_1": 0.9, ...}`).
    pub fn keras_config(&self) -> Value {
        each_rule!(self, r => serde_json::to_value(r).unwrap_or(Value::Null))
    }

    /// This rule with the options found in a Keras config (other keys are ignored; options
    /// missing take Keras's defaults).
    ///
    /// # Errors
    /// [`Error::InvalidOption`] for an option of the wrong type.
    pub(crate) fn with_keras_config(&self, config: &Value) -> Result<Self> {
        fn read<R: serde::de::DeserializeOwned>(config: &Value) -> Result<R> {
            // Keras writes `null` for options it leaves unset; those take the default.
            let config = match config {
                Value::Object(map) => Value::Object(
                    map.iter()
                        .filter(|(k, v)| !v.is_null() || NULLABLE.contains(&k.as_str()))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                ),
                _ => Value::Object(Default::default()),
            };
            serde_json::from_value(config).map_err(|e| Error::InvalidOption {
                option: "optimizer",
                reason: format!("in the Keras config: {e}"),
            })
        }
        Ok(match self {
            Rule::Sgd(_) => Rule::Sgd(read(config)?),
            Rule::Adam(_) => Rule::Adam(read(config)?),
            Rule::RmsProp(_) => Rule::RmsProp(read(config)?),
            Rule::Adagrad(_) => Rule::Adagrad(read(config)?),
            Rule::Adadelta(_) => Rule::Adadelta(read(config)?),
            Rule::Adamax(_) => Rule::Adamax(read(config)?),
            Rule::Nadam(_) => Rule::Nadam(read(config)?),
            Rule::Lion(_) => Rule::Lion(read(config)?),
            Rule::Ftrl(_) => Rule::Ftrl(read(config)?),
            Rule::Lamb(_) => Rule::Lamb(read(config)?),
            Rule::Adafactor(_) => Rule::Adafactor(read(config)?),
            Rule::Muon(_) => Rule::Muon(read(config)?),
        })
    }

    /// The slots one parameter keeps.
    pub(crate) fn slots(&self, info: &ParamInfo) -> Vec<Slot> {
        each_rule!(self, r => r.slots(info))
    }

    /// Keras's order of the slots (see [`UpdateRule::keras_groups`]).
    pub(crate) fn keras_groups(&self) -> Vec<Vec<&'static str>> {
        each_rule!(self, r => r.keras_groups())
    }

    pub(crate) fn epsilon_mut(&mut self) -> Option<&mut f32> {
        match self {
            Rule::Adam(Adam { epsilon, .. })
            | Rule::RmsProp(RmsProp { epsilon, .. })
            | Rule::Adagrad(Adagrad { epsilon, .. })
            | Rule::Adadelta(Adadelta { epsilon, .. })
            | Rule::Adamax(Adamax { epsilon, .. })
            | Rule::Nadam(Nadam { epsilon, .. })
            | Rule::Lamb(Lamb { epsilon, .. })
            | Rule::Muon(Muon { epsilon, .. }) => Some(epsilon),
            _ => None,
        }
    }

    pub(crate) fn momentum_mut(&mut self) -> Option<&mut f32> {
        match self {
            Rule::Sgd(Sgd { momentum, .. })
            | Rule::RmsProp(RmsProp { momentum, .. })
            | Rule::Muon(Muon { momentum, .. }) => Some(momentum),
            _ => None,
        }
    }
}

/// Keras options whose `null` means something (not "the default").
const NULLABLE: [&str; 2] = ["rms_rate", "adam_weight_decay"];
