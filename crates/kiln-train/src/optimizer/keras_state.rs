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

use super::{OptimizerState, Rule, Slots};
use crate::error::{Error, Result};
use crate::schedule::LearningRate;

/// Which of a rule's slots (`0` = a, `1` = b, `2` = c) Keras keeps, in its order: groups
/// concatenated, each interleaved per variable.
fn keras_groups(rule: Rule) -> Vec<Vec<usize>> {
    match rule {
        Rule::Sgd { momentum: 0.0, .. } => vec![],
        Rule::Sgd { .. } | Rule::Adagrad { .. } | Rule::Lion { .. } => vec![vec![0]],
        Rule::Adam { amsgrad, .. } => {
            let mut groups = vec![vec![0, 1]];
            if amsgrad {
                groups.push(vec![2]);
            }
            groups
        }
        Rule::RmsProp {
            momentum, centered, ..
        } => {
            let mut groups = vec![vec![0]];
            if momentum > 0.0 {
                groups.push(vec![2]);
            }
            if centered {
                groups.push(vec![1]);
            }
            groups
        }
        Rule::Adadelta { .. } | Rule::Adamax { .. } | Rule::Nadam { .. } => vec![vec![0, 1]],
    }
}

/// A slot's value before the first update (Adagrad's accumulator starts at its initial value).
fn initial(rule: Rule) -> f32 {
    match rule {
        Rule::Adagrad {
            initial_accumulator_value,
            ..
        } => initial_accumulator_value,
        _ => 0.0,
    }
}

fn slot(slots: &Slots<1>, k: usize) -> Option<&Tensor<1>> {
    match k {
        0 => slots.a.as_ref(),
        1 => slots.b.as_ref(),
        _ => slots.c.as_ref(),
    }
}

fn slot_mut(slots: &mut Slots<1>, k: usize) -> &mut Option<Tensor<1>> {
    match k {
        0 => &mut slots.a,
        1 => &mut slots.b,
        _ => &mut slots.c,
    }
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
        let rule = self.config.rule;
        let mut out = vec![OptimizerVariable::Int(ArrayD::from_elem(
            IxDyn(&[]),
            i64::try_from(self.iterations).unwrap_or(i64::MAX),
        ))];
        if let LearningRate::Constant(lr) = self.config.learning_rate {
            out.push(scalar(lr));
        }
        for group in keras_groups(rule) {
            for (id, shape) in params {
                let slots = self
                    .slots
                    .get(id)
                    .and_then(|s| s.downcast_ref::<Slots<1>>());
                for &k in &group {
                    let n: usize = shape.iter().product();
                    let values = match slots.and_then(|s| slot(s, k)) {
                        Some(t) => t
                            .clone()
                            .try_into_data()
                            .map_err(|e| Error::Readback(e.to_string()))?
                            .convert::<f32>()
                            .try_into_vec::<f32>()
                            .map_err(|e| Error::Readback(format!("{e:?}")))?,
                        None => vec![initial(rule); n],
                    };
                    let array = ArrayD::from_shape_vec(IxDyn(shape), values)
                        .map_err(|e| invalid(e.to_string()))?;
                    out.push(OptimizerVariable::Float(array));
                }
            }
        }
        if let Rule::Nadam { .. } = rule {
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
        let rule = self.config.rule;
        let groups = keras_groups(rule);
        let constant = matches!(self.config.learning_rate, LearningRate::Constant(_));
        let per_param: usize = groups.iter().map(Vec::len).sum();
        let nadam = matches!(rule, Rule::Nadam { .. });
        let expected = 1 + usize::from(constant) + per_param * params.len() + usize::from(nadam);
        if variables.len() != expected {
            return Err(invalid(format!(
                "{} holds {expected} variables for {} trained weights (iterations{}, {per_param} \
                 per weight{}), the file has {}",
                self.config.name(),
                params.len(),
                if constant { ", learning rate" } else { "" },
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
        let mut staged: Vec<(ParamId, usize, ArrayD<f32>)> = Vec::new();
        for group in &groups {
            for (id, shape) in params {
                for &k in group {
                    let a = float(&variables[at], "a slot")?;
                    if a.shape() != shape.as_slice() {
                        return Err(invalid(format!(
                            "optimizer variable {at} has shape {:?}, its weight {shape:?}",
                            a.shape()
                        )));
                    }
                    staged.push((*id, k, a));
                    at += 1;
                }
            }
        }
        let product = if nadam {
            Some(float(&variables[at], "u_product")?)
        } else {
            None
        };
        self.iterations = iterations;
        if let Some(lr) = lr.and_then(|a| a.iter().next().copied()) {
            self.config.set_learning_rate(lr);
        }
        if let Some(p) = product.and_then(|a| a.iter().next().copied()) {
            self.nadam_product = p;
        }
        for (id, k, a) in staged {
            let n = a.len();
            let values: Vec<f32> = a.iter().copied().collect();
            let tensor = Tensor::<1>::from_data(TensorData::new(values, [n]), device);
            let entry = self
                .slots
                .entry(id)
                .or_insert_with(|| Box::new(Slots::<1>::default()));
            if let Some(slots) = entry.downcast_mut::<Slots<1>>() {
                *slot_mut(slots, k) = Some(tensor);
            }
        }
        Ok(())
    }
}
