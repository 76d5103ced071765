//! [`OptimizerState`]: an optimizer with its state, and one update of a model's parameters.

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

#[cfg(feature = "flex")]
use super::fused;
use super::rule::{ParamInfo, Slot, Step, UpdateRule};
use super::{Optimizer, Rule, each_rule};
use crate::custom::StepInfo;
use crate::schedule::LearningRate;

/// An optimizer with its state: Keras's `iterations` and per-parameter slots. `fit` keeps one;
/// a custom training loop can use it directly, as Keras's `optimizer.apply_gradients`.
///
/// On the `flex` CPU backend, every elementwise rule (all but LAMB, Adafactor and Muon) updates
/// each parameter and its slots in place in one vectorized pass instead of a chain of tensor
/// ops (the same definition, so the same arithmetic in the same order; about 4× faster for the
/// MNIST MLP). Slot values that decay below `f32::MIN_POSITIVE` are stored as zero there, as
/// XLA's flush-to-zero does for Keras on CPU.
pub struct OptimizerState {
    /// The optimizer's configuration.
    pub config: Optimizer,
    /// Keras's `iterations` counter (saved as `optimizer/iteration`): steps taken so far. With
    /// gradient accumulation it counts every step, [`updates`](Self::updates) the updates.
    pub iterations: u64,
    /// Nadam's running product of momentum factors.
    pub(super) nadam_product: f32,
    /// The moving average of each trained weight (`use_ema`).
    pub(super) averages: HashMap<ParamId, Tensor<1>>,
    /// The gradients summed since the last update (`gradient_accumulation_steps`).
    pub(super) accumulated: HashMap<ParamId, Tensor<1>>,
    /// Whether the averages are in the model and the weights here ([`Self::swap_average_weights`]).
    swapped: bool,
    /// The dynamic loss scale now (`loss_scale`), and the finite steps since it last changed.
    pub(super) scale: f32,
    pub(super) scale_steps: u64,
    /// Each parameter's slots, in the order its rule lists them ([`Rule::slots`]).
    pub(super) slots: HashMap<ParamId, Vec<Tensor<1>>>,
    /// Each parameter's declared shape and Keras path, where known ([`Self::describe`]).
    pub(super) params: HashMap<ParamId, (Vec<usize>, String)>,
}

impl OptimizerState {
    /// A fresh state (no update applied yet).
    pub fn new(config: Optimizer) -> Self {
        Self {
            iterations: 0,
            nadam_product: 1.0,
            averages: HashMap::new(),
            accumulated: HashMap::new(),
            swapped: false,
            scale: config.loss_scale.map_or(1.0, |l| l.initial_scale),
            scale_steps: 0,
            slots: HashMap::new(),
            params: HashMap::new(),
            config,
        }
    }

    /// The loss times the current loss scale (Keras's `optimizer.scale_loss`): what a step
    /// differentiates when the optimizer has a [`LossScale`](crate::LossScale); the loss
    /// itself otherwise.
    pub fn scale_loss(&self, loss: Tensor<1>) -> Tensor<1> {
        match self.config.loss_scale {
            Some(_) => loss * self.scale,
            None => loss,
        }
    }

    /// The current dynamic loss scale, with a [`LossScale`](crate::LossScale).
    pub fn current_loss_scale(&self) -> Option<f32> {
        self.config.loss_scale.map(|_| self.scale)
    }

    /// Updates applied so far (Keras's `optimizer.iterations`: the step count divided by
    /// `gradient_accumulation_steps`, when set).
    pub fn updates(&self) -> u64 {
        self.iterations / self.accumulation_steps()
    }

    fn accumulation_steps(&self) -> u64 {
        self.config.gradient_accumulation_steps.unwrap_or(1).max(1)
    }

    /// Exchanges the trained weights of `module` with their moving averages (what Keras's
    /// `SwapEMAWeights` does around validation): `module` comes back with the averages and the
    /// state keeps the weights in their place, so a second call swaps back. Without `use_ema`,
    /// or before the first update, `module` comes back unchanged.
    pub fn swap_average_weights<M: Module>(&mut self, module: M) -> M {
        if !self.config.use_ema || self.averages.is_empty() {
            return module;
        }
        self.swapped = !self.swapped;
        module.map(&mut Swap {
            averages: &mut self.averages,
        })
    }

    /// Whether `use_ema` is on and averages exist.
    pub fn has_averages(&self) -> bool {
        self.config.use_ema && !self.averages.is_empty()
    }

    /// The trained weights replaced by their moving average, when `use_ema` is set (Keras's
    /// `finalize_variable_values`, which `fit` calls at its end); `module` unchanged otherwise.
    pub fn finalize_variable_values<M: Module>(&mut self, module: M) -> M {
        if !self.config.use_ema || self.averages.is_empty() {
            return module;
        }
        if self.swapped {
            // The averages are in the model already (a swap left open): keep them there, and
            // the state's copy becomes the averages again.
            let module = self.swap_average_weights(module);
            return module.map(&mut Overwrite {
                averages: &self.averages,
            });
        }
        module.map(&mut Overwrite {
            averages: &self.averages,
        })
    }

    /// Tells the optimizer each parameter's declared shape and Keras path (`dense/kernel`):
    /// Kiln's layers keep weights flat, and Adafactor (factored over the last two axes) and
    /// Muon (matrices; embeddings and `exclude_layers` apart) need the layer's shape. `compile`
    /// does this; a parameter not described is taken with its tensor's own shape and no path.
    pub fn describe(&mut self, params: impl IntoIterator<Item = (ParamId, Vec<usize>, String)>) {
        self.params = params
            .into_iter()
            .map(|(id, shape, path)| (id, (shape, path)))
            .collect();
    }

    /// The configured learning rate at step 0 ([`Optimizer::get_learning_rate`]).
    pub fn get_learning_rate(&self) -> f32 {
        self.config.get_learning_rate()
    }

    /// Replaces the rate (or schedule) with a constant `lr` ([`Optimizer::set_learning_rate`]).
    pub fn set_learning_rate(&mut self, lr: f32) {
        self.config.set_learning_rate(lr);
    }

    /// The value of one slot of one parameter, by Keras's name (`"momentum"`), once the
    /// parameter has been updated; flat.
    pub fn slot(&self, param: ParamId, name: &str) -> Option<Tensor<1>> {
        if self.config.custom.is_some() {
            return None;
        }
        let values = self.slots.get(&param)?;
        let (shape, path) = self.params.get(&param)?;
        let info = ParamInfo { shape, path };
        let names = self.config.rule.slots(&info);
        let k = names.iter().position(|s| s.name == name)?;
        values.get(k).cloned()
    }

    /// Applies one update to every parameter of `module` that has a gradient in `grads`
    /// (Keras's `apply_gradients`): clipping, weight decay, then the rule; with gradient
    /// accumulation, only every `gradient_accumulation_steps`th call updates (with the mean
    /// gradient), the others add their gradients up; with `use_ema`, the moving average follows.
    pub fn apply_gradients<M: Module>(&mut self, module: M, mut grads: GradientsParams) -> M {
        if let Some(loss_scale) = self.config.loss_scale {
            // Keras's LossScaleOptimizer: skip a step whose gradients are not all finite and
            // halve the scale; else unscale them (by the scale before any growth) and count.
            let mut check = Finite {
                grads: &grads,
                sum: None,
            };
            module.visit(&mut check);
            let finite = check
                .sum
                .map(|s| s.into_scalar::<f32>() == 0.0)
                .unwrap_or(true);
            if !finite {
                self.scale *= 0.5;
                self.scale_steps = 0;
                return module;
            }
            module.visit(&mut Unscale {
                grads: &mut grads,
                scale: self.scale,
            });
            if self.scale_steps + 1 >= loss_scale.dynamic_growth_steps {
                self.scale *= 2.0;
                self.scale_steps = 0;
            } else {
                self.scale_steps += 1;
            }
        }
        let steps = self.accumulation_steps();
        let updates = self.updates();
        let apply = (self.iterations + 1).is_multiple_of(steps);
        if steps > 1 {
            module.visit(&mut Accumulate {
                grads: &mut grads,
                accumulated: &mut self.accumulated,
                apply,
                steps,
            });
        }
        // Keras evaluates a schedule at the step count (`_iterations`), the rules' bias
        // corrections at the update count.
        let lr = self.config.learning_rate.at(self.iterations);
        let t = updates + 1;
        let global_scale = self
            .config
            .global_clipnorm
            .filter(|_| apply)
            .and_then(|clip| {
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
        if let Rule::Nadam(nadam) = &self.config.rule
            && apply
        {
            self.nadam_product *= nadam.momentum_at(t as f32);
        }
        let step = Step {
            lr,
            t,
            nadam_product: self.nadam_product,
            scheduled: !matches!(self.config.learning_rate, LearningRate::Constant(_)),
        };
        // Keras: the average starts as the weights (momentum 0 before the first update).
        let ema = self.config.use_ema.then(|| Ema {
            momentum: if updates == 0 {
                0.0
            } else {
                self.config.ema_momentum
            },
            overwrite: self
                .config
                .ema_overwrite_frequency
                .is_some_and(|f| (updates + 1).is_multiple_of(f.max(1))),
        });
        let mut mapper = StepMapper {
            config: &self.config,
            step,
            apply,
            ema,
            global_scale,
            grads: &mut grads,
            slots: &mut self.slots,
            averages: &mut self.averages,
            accumulated: &self.accumulated,
            params: &self.params,
        };
        let module = module.map(&mut mapper);
        self.iterations += 1;
        module
    }
}

/// Adds this step's gradients to the accumulated ones; on an update step, replaces them by the
/// mean over the accumulation window and clears the sums.
struct Accumulate<'a> {
    grads: &'a mut GradientsParams,
    accumulated: &'a mut HashMap<ParamId, Tensor<1>>,
    apply: bool,
    steps: u64,
}

impl ModuleVisitor for Accumulate<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let Some(g) = self.grads.remove::<D>(param.id) else {
            return;
        };
        let dims = g.dims();
        let n: usize = dims.iter().product();
        let flat: Tensor<1> = g.reshape([n]);
        let sum = match self.accumulated.remove(&param.id) {
            Some(acc) => acc + flat,
            None => flat,
        };
        if self.apply {
            let mean = sum / self.steps as f32;
            self.grads.register::<D>(param.id, mean.reshape(dims));
        } else {
            self.accumulated.insert(param.id, sum);
        }
    }
}

/// `Σ 0·g` over every gradient: 0 when all are finite, NaN otherwise.
struct Finite<'a> {
    grads: &'a GradientsParams,
    sum: Option<Tensor<1>>,
}

impl ModuleVisitor for Finite<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            let s = (g.inner() * 0.0).sum();
            self.sum = Some(match self.sum.take() {
                Some(acc) => acc + s,
                None => s,
            });
        }
    }
}

/// Divides every gradient by the loss scale.
struct Unscale<'a> {
    grads: &'a mut GradientsParams,
    scale: f32,
}

impl ModuleVisitor for Unscale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            self.grads.register::<D>(param.id, g / self.scale);
        }
    }
}

/// The moving-average step of this call.
#[derive(Clone, Copy)]
struct Ema {
    momentum: f32,
    overwrite: bool,
}

/// Puts each average in its weight's place and the weight in the average's.
struct Swap<'a> {
    averages: &'a mut HashMap<ParamId, Tensor<1>>,
}

impl ModuleMapper for Swap<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let Some(average) = self.averages.remove(&id) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let require_grad = tensor.is_require_grad();
        let dims = tensor.dims();
        let n: usize = dims.iter().product();
        let weight: Tensor<1> = tensor.inner().reshape([n]);
        self.averages.insert(id, weight);
        let mut out = Tensor::from_inner(average.reshape(dims));
        if require_grad {
            out = out.require_grad();
        }
        Param::from_mapped_value(id, out, mapper)
    }
}

/// Replaces each averaged weight by its average.
struct Overwrite<'a> {
    averages: &'a HashMap<ParamId, Tensor<1>>,
}

impl ModuleMapper for Overwrite<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let Some(average) = self.averages.get(&id) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let require_grad = tensor.is_require_grad();
        let mut out = Tensor::from_inner(average.clone().reshape(tensor.dims()));
        if require_grad {
            out = out.require_grad();
        }
        Param::from_mapped_value(id, out, mapper)
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
    step: Step,
    /// Whether this call updates (false inside a gradient-accumulation window).
    apply: bool,
    ema: Option<Ema>,
    global_scale: Option<Tensor<1>>,
    grads: &'a mut GradientsParams,
    slots: &'a mut HashMap<ParamId, Vec<Tensor<1>>>,
    averages: &'a mut HashMap<ParamId, Tensor<1>>,
    /// The sums of the current accumulation window (their parameters are being trained).
    accumulated: &'a HashMap<ParamId, Tensor<1>>,
    params: &'a HashMap<ParamId, (Vec<usize>, String)>,
}

impl ModuleMapper for StepMapper<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        // Inside an accumulation window the gradients went to the sums: no grad, no update,
        // but the average still follows the (trained) weight.
        let grad = self.grads.remove::<D>(id);
        let trained = grad.is_some() || (!self.apply && self.accumulated.contains_key(&id));
        if !trained {
            return Param::from_mapped_value(id, tensor, mapper);
        }
        let require_grad = tensor.is_require_grad();
        let dims = tensor.dims();
        let n: usize = dims.iter().product();
        // The declared shape, when it describes this tensor; else the tensor's own.
        let (shape, path) = match self.params.get(&id) {
            Some((shape, path)) if shape.iter().product::<usize>() == n => {
                (shape.as_slice(), path.as_str())
            }
            _ => (dims.as_slice(), ""),
        };
        let info = ParamInfo { shape, path };
        let p: Tensor<1> = tensor.inner().reshape([n]);
        let mut updated = match grad {
            Some(grad) if self.apply => self.update(id, &info, p, grad.inner().reshape([n])),
            _ => p,
        };
        if let Some(ema) = self.ema {
            let average = self
                .averages
                .remove(&id)
                .unwrap_or_else(|| updated.zeros_like());
            let average = average * ema.momentum + updated.clone() * (1.0 - ema.momentum);
            if ema.overwrite {
                updated = average.clone();
            }
            self.averages.insert(id, average);
        }
        let mut tensor = Tensor::from_inner(updated.reshape(dims));
        if require_grad {
            tensor = tensor.require_grad();
        }
        Param::from_mapped_value(id, tensor, mapper)
    }
}

impl StepMapper<'_> {
    /// One update of one flat parameter: clipping, weight decay, the rule.
    fn update(&mut self, id: ParamId, info: &ParamInfo, p: Tensor<1>, g: Tensor<1>) -> Tensor<1> {
        let n = p.shape().num_elements();
        let mut g = g;
        // Keras: clipnorm, then global_clipnorm, then clipvalue.
        if let Some(clip) = self.config.clipnorm {
            let norm = g.clone().square().sum().sqrt();
            let scale = norm.clamp_min(clip).recip() * clip;
            g = g * scale;
        }
        if let Some(scale) = &self.global_scale {
            g = g * scale.clone();
        }
        if let Some(v) = self.config.clipvalue {
            g = g.clamp(-v, v);
        }
        let mut p = p;
        let device = p.device();
        match &self.config.custom {
            Some(custom) => {
                if let Some(wd) = self.config.weight_decay {
                    p = p.clone() - p * (wd * self.step.lr);
                }
                let rule = custom.0.as_ref();
                let slots = self.slots.entry(id).or_insert_with(|| {
                    (0..rule.slots())
                        .map(|_| Tensor::<1>::zeros([n], &device))
                        .collect()
                });
                let info = StepInfo {
                    learning_rate: self.step.lr,
                    step: self.step.t,
                };
                rule.update(p, g, slots, &info)
            }
            None => {
                let rule = &self.config.rule;
                if let Some(wd) =
                    each_rule!(rule, r => r.weight_decay(self.config.weight_decay, info))
                {
                    p = p.clone() - p * (wd * self.step.lr);
                }
                let slots = self.slots.entry(id).or_insert_with(|| {
                    rule.slots(info)
                        .iter()
                        .map(|s: &Slot| Tensor::<1>::full([s.len()], s.initial, &device))
                        .collect()
                });
                #[cfg(feature = "flex")]
                let fused = fused::update(rule, &self.step, &mut p, &g, slots);
                #[cfg(not(feature = "flex"))]
                let fused = false;
                if fused {
                    p
                } else {
                    each_rule!(rule, r => r.update(&self.step, info, p, g, slots))
                }
            }
        }
    }
}
