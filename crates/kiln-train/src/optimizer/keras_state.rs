//! An optimizer's state as Keras keeps it (`optimizer.variables`, saved in a `.keras` file as
//! `optimizer/vars/0`, `1`, ...): `iterations`; the learning rate, unless it is a schedule;
//! then the per-variable slots in the order the Keras optimizer's `build` creates them (one
//! `add_optimizer_variables` call interleaves its slots variable by variable: Adam's
//! `momentum/dense_kernel, velocity/dense_kernel, momentum/dense_bias, ...`; separate calls
//! follow each other: RMSprop's velocities, then momentums); Nadam's `u_product` last.

use burn::module::ParamId;
use burn::tensor::{Device, Tensor, TensorData};
use kiln_model::OptimizerVariable;
use ndarray::{ArrayD, IxDyn};

use super::rule::{ParamInfo, Slot};
use super::{OptimizerState, Rule};
use crate::error::{Error, Result};
use crate::schedule::LearningRate;

/// What one of Keras's optimizer variables holds.
#[derive(Clone, Copy)]
enum Holds {
    /// The weight's moving average (`use_ema`).
    Average,
    /// The weight's gradient sum (`gradient_accumulation_steps`).
    Accumulator,
    /// The rule's slot with this index.
    Slot(usize),
}

/// Where each of Keras's optimizer variables after `iterations` (and the learning rate) lives:
/// (parameter index, what, its shape and initial value), in Keras's order: the averages, the
/// gradient sums, then the rule's slots.
fn keras_order(
    optimizer: &super::Optimizer,
    params: &[(ParamId, Vec<usize>)],
    paths: &dyn Fn(ParamId) -> String,
) -> Vec<(usize, Holds, Slot)> {
    let rule = &optimizer.rule;
    let mut order = Vec::new();
    let like = |name: &'static str, shape: &[usize]| Slot {
        name,
        shape: shape.to_vec(),
        initial: 0.0,
    };
    if optimizer.use_ema {
        for (i, (_, shape)) in params.iter().enumerate() {
            order.push((i, Holds::Average, like("average", shape)));
        }
    }
    if optimizer.gradient_accumulation_steps.is_some() {
        for (i, (_, shape)) in params.iter().enumerate() {
            order.push((i, Holds::Accumulator, like("gradient_accumulator", shape)));
        }
    }
    let per_param: Vec<Vec<Slot>> = params
        .iter()
        .map(|(id, shape)| {
            let path = paths(*id);
            rule.slots(&ParamInfo { shape, path: &path })
        })
        .collect();
    for group in rule.keras_groups() {
        for (i, slots) in per_param.iter().enumerate() {
            for name in &group {
                if let Some(k) = slots.iter().position(|s| s.name == *name) {
                    order.push((i, Holds::Slot(k), slots[k].clone()));
                }
            }
        }
    }
    order
}

fn scalar(value: f32) -> OptimizerVariable {
    OptimizerVariable::Float(ArrayD::from_elem(IxDyn(&[]), value))
}

fn invalid(reason: String) -> Error {
    Error::InvalidOption {
        option: "optimizer state",
        reason,
    }
}

impl OptimizerState {
    /// The state as Keras's `optimizer.variables`, for `params` (the trained parameters and
    /// their shapes in `model.trainable_variables` order, [`kiln_model::Model::trainable_params`]).
    /// A slot not created yet (no update so far) is its initial value, as in Keras after
    /// `build`.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] for a custom rule (Keras has no such optimizer) or a slot that
    /// cannot be read back.
    pub fn keras_variables(
        &self,
        params: &[(ParamId, Vec<usize>)],
    ) -> Result<Vec<OptimizerVariable>> {
        if self.config.custom.is_some() {
            return Err(invalid("a custom rule has no Keras state".into()));
        }
        let rule = &self.config.rule;
        let int = |v: u64| {
            OptimizerVariable::Int(ArrayD::from_elem(
                IxDyn(&[]),
                i64::try_from(v).unwrap_or(i64::MAX),
            ))
        };
        // A LossScaleOptimizer's own variables come first: its iteration (which Keras never
        // advances), learning rate 0, step counter and scale; then the inner optimizer's.
        let mut out = match self.config.loss_scale {
            Some(_) => vec![
                int(0),
                scalar(0.0),
                int(self.scale_steps),
                scalar(self.scale),
            ],
            None => Vec::new(),
        };
        out.push(int(self.iterations));
        if let LearningRate::Constant(lr) = self.config.learning_rate {
            out.push(scalar(lr));
        }
        for (i, holds, slot) in keras_order(&self.config, params, &|id| self.path(id)) {
            let id = params[i].0;
            let value = match holds {
                Holds::Average => self.averages.get(&id),
                Holds::Accumulator => self.accumulated.get(&id),
                Holds::Slot(k) => self.slots.get(&id).and_then(|s| s.get(k)),
            };
            let values = match value {
                Some(t) => t
                    .clone()
                    .try_into_data()
                    .map_err(|e| Error::Readback(e.to_string()))?
                    .convert::<f32>()
                    .try_into_vec::<f32>()
                    .map_err(|e| Error::Readback(format!("{e:?}")))?,
                None => vec![slot.initial; slot.len()],
            };
            let array = ArrayD::from_shape_vec(IxDyn(&slot.shape), values)
                .map_err(|e| invalid(e.to_string()))?;
            out.push(OptimizerVariable::Float(array));
        }
        if let Rule::Nadam(_) = rule {
            out.push(scalar(self.nadam_product));
        }
        Ok(out)
    }

    /// Takes Keras's `optimizer.variables` (as [`keras_variables`](Self::keras_variables)
    /// gives them, or a `.keras` file holds them) for `params`, slots created on `device`; the
    /// learning rate too, when it is a constant (Keras's callbacks may have changed it).
    ///
    /// # Errors
    /// [`Error::InvalidOption`] when the count or a shape does not fit this optimizer and
    /// these parameters (the message says what was expected); nothing is changed then.
    pub fn set_keras_variables(
        &mut self,
        params: &[(ParamId, Vec<usize>)],
        variables: &[OptimizerVariable],
        device: &Device,
    ) -> Result<()> {
        if self.config.custom.is_some() {
            return Err(invalid("a custom rule has no Keras state".into()));
        }
        let (variables, loss_scale) = match self.config.loss_scale {
            Some(_) if variables.len() >= 4 => {
                let value = |k: usize| match &variables[k] {
                    OptimizerVariable::Int(a) => a.iter().next().map(|&x| x as f64),
                    OptimizerVariable::Float(a) => a.iter().next().map(|&x| f64::from(x)),
                };
                let (steps, scale) = (value(2), value(3));
                match (steps, scale) {
                    (Some(steps), Some(scale)) if steps >= 0.0 && scale > 0.0 => {
                        (&variables[4..], Some((steps as u64, scale as f32)))
                    }
                    _ => {
                        return Err(invalid(format!(
                            "the loss scale's step counter {steps:?} or scale {scale:?} is not \
                             valid"
                        )));
                    }
                }
            }
            Some(_) => {
                return Err(invalid(format!(
                    "a LossScaleOptimizer holds at least 4 variables of its own, the file has {}",
                    variables.len()
                )));
            }
            None => (variables, None),
        };
        let rule = &self.config.rule.clone();
        let order = keras_order(&self.config, params, &|id| self.path(id));
        let constant = matches!(self.config.learning_rate, LearningRate::Constant(_));
        let nadam = matches!(rule, Rule::Nadam(_));
        let expected = 1 + usize::from(constant) + order.len() + usize::from(nadam);
        if variables.len() != expected {
            return Err(invalid(format!(
                "{} holds {expected} variables for {} trained weights (iterations{}, {} slots{}), \
                 the file has {}",
                self.config.name(),
                params.len(),
                if constant { ", learning rate" } else { "" },
                order.len(),
                if nadam { ", u_product" } else { "" },
                variables.len()
            )));
        }
        let float = |v: &OptimizerVariable, what: &str| {
            match v {
                OptimizerVariable::Float(a) => Ok(a.clone()),
                OptimizerVariable::Int(a) => Ok(a.mapv(|x| x as f32)),
            }
            .and_then(|a: ArrayD<f32>| {
                if a.is_empty() {
                    Err(invalid(format!("{what} is empty")))
                } else {
                    Ok(a)
                }
            })
        };
        let iterations = match &variables[0] {
            OptimizerVariable::Int(a) => a.iter().next().copied().unwrap_or(0),
            OptimizerVariable::Float(a) => a.iter().next().map_or(0, |&x| x as i64),
        };
        let iterations = u64::try_from(iterations)
            .map_err(|_| invalid(format!("iterations is {iterations}")))?;
        let mut at = 1;
        let lr = if constant {
            at += 1;
            Some(float(&variables[1], "the learning rate")?)
        } else {
            None
        };
        // Check every shape before changing anything.
        let mut staged: Vec<(usize, Holds, ArrayD<f32>)> = Vec::new();
        for (i, k, slot) in &order {
            let a = float(&variables[at], "a slot")?;
            if a.shape() != slot.shape.as_slice() {
                return Err(invalid(format!(
                    "optimizer variable {at} ({}) has shape {:?}, expected {:?}",
                    slot.name,
                    a.shape(),
                    slot.shape
                )));
            }
            staged.push((*i, *k, a));
            at += 1;
        }
        let product = if nadam {
            Some(float(&variables[at], "u_product")?)
        } else {
            None
        };
        self.iterations = iterations;
        if let Some((steps, scale)) = loss_scale {
            self.scale_steps = steps;
            self.scale = scale;
        }
        if let Some(lr) = lr.and_then(|a| a.iter().next().copied()) {
            self.config.set_learning_rate(lr);
        }
        if let Some(p) = product.and_then(|a| a.iter().next().copied()) {
            self.nadam_product = p;
        }
        // Slots of a parameter not in the file keep their rule's initial values.
        for (i, holds, a) in staged {
            let (id, shape) = &params[i];
            let n = a.len();
            let values: Vec<f32> = a.iter().copied().collect();
            let tensor = Tensor::<1>::from_data(TensorData::new(values, [n]), device);
            let k = match holds {
                Holds::Average => {
                    self.averages.insert(*id, tensor);
                    continue;
                }
                Holds::Accumulator => {
                    self.accumulated.insert(*id, tensor);
                    continue;
                }
                Holds::Slot(k) => k,
            };
            let path = self.path(*id);
            let initial: Vec<Tensor<1>> = rule
                .slots(&ParamInfo { shape, path: &path })
                .iter()
                .map(|s| Tensor::<1>::full([s.len()], s.initial, device))
                .collect();
            let entry = self.slots.entry(*id).or_insert(initial);
            if let Some(slot) = entry.get_mut(k) {
                *slot = tensor;
            }
        }
        Ok(())
    }
}

impl OptimizerState {
    /// The Keras path of a described parameter (empty when not described).
    fn path(&self, id: ParamId) -> String {
        self.params
            .get(&id)
            .map(|(_, path)| path.clone())
            .unwrap_or_default()
    }
}
