//! A layer's weights: declared in `build` ([`WeightBuilder::add_weight`], Keras's `add_weight`),
//! created once per layer, and read in `call` through [`Weights`].

use std::fmt;
use std::ops::Range;

use burn::module::{Module, Param, RunningState};
use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::StdRng;

use super::layer::Layer;
use crate::initializer::Initializer;
use crate::regularizer::Regularizer;
use crate::shape::Shape;

/// The most values one weight may hold (2^32, 16 GiB of `f32`): sizes come from configs and
/// files, so they are checked before anything is allocated.
pub const MAX_WEIGHT_VALUES: usize = 1 << 32;

/// One weight of a layer, as Keras's `add_weight` declares it: name, shape, initializer,
/// regularizer, and whether the optimizer trains it.
///
/// # Examples
/// ```
/// use kiln_model::{Initializer, Regularizer, WeightSpec};
/// let kernel = WeightSpec::new("kernel", [784, 128], Initializer::GlorotUniform)
///     .regularizer(Some(Regularizer::l2(1e-4)));
/// assert_eq!(kernel.size(), Some(100_352));
/// assert!(kernel.trainable);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct WeightSpec {
    /// Short name (`"kernel"`); the full name is `layer_name/kernel`.
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// How it is filled at `build` (drawn on the host from the model's seed).
    pub initializer: Initializer,
    /// Penalty added to the training loss (Keras `kernel_regularizer`, ...).
    pub regularizer: Option<Regularizer>,
    /// Projection applied after every optimizer step (Keras `kernel_constraint`, ...).
    pub constraint: Option<crate::constraint::Constraint>,
    /// Whether the optimizer updates it; non-trainable weights are state the layer updates
    /// itself in `call` (BatchNormalization's moving statistics) with [`Weights::assign`].
    pub trainable: bool,
    /// Values set to one after sampling (LSTM's `unit_forget_bias`).
    pub(crate) ones: Option<Range<usize>>,
    /// Exact values to start from (an adapted preprocessing layer's statistics).
    pub(crate) fixed: Option<Vec<f32>>,
}

impl WeightSpec {
    /// A trainable weight named `name` of `shape`, filled by `initializer`, without penalty.
    pub fn new(
        name: impl Into<String>,
        shape: impl Into<Vec<usize>>,
        initializer: Initializer,
    ) -> Self {
        Self {
            name: name.into(),
            shape: shape.into(),
            initializer,
            regularizer: None,
            constraint: None,
            trainable: true,
            ones: None,
            fixed: None,
        }
    }

    /// Sets (or clears) the penalty added to the loss.
    pub fn regularizer(mut self, regularizer: Option<Regularizer>) -> Self {
        self.regularizer = regularizer;
        self
    }

    /// Sets (or clears) the projection applied after each optimizer step.
    pub fn constraint(mut self, constraint: Option<crate::constraint::Constraint>) -> Self {
        self.constraint = constraint;
        self
    }

    /// Makes the weight state that the optimizer leaves alone (Keras `trainable=False`).
    pub fn non_trainable(mut self) -> Self {
        self.trainable = false;
        self
    }

    /// Starts the weight at exactly `values` (row-major, one per element of the shape) instead
    /// of drawing from the initializer: the statistics a preprocessing layer learned with
    /// `adapt`. Building fails when the count differs from the shape's.
    pub fn with_values(mut self, values: Vec<f32>) -> Self {
        self.fixed = Some(values);
        self
    }

    pub(crate) fn ones_at(mut self, range: Range<usize>) -> Self {
        self.ones = Some(range);
        self
    }

    /// The number of values, or `None` when the product of the shape overflows.
    pub fn size(&self) -> Option<usize> {
        self.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
    }

    /// Keras's fans: `(shape[0], shape[1])` for a matrix, receptive field times the last two
    /// axes for a kernel of more, the size for a vector.
    fn fans(&self) -> (usize, usize) {
        match self.shape.as_slice() {
            [] => (1, 1),
            [n] => (*n, *n),
            [a, b] => (*a, *b),
            [rest @ .., i, o] => {
                let receptive: usize = rest.iter().product();
                (receptive * i, receptive * o)
            }
        }
    }

    fn values(&self, n: usize, rng: &mut StdRng) -> Vec<f32> {
        if let Some(fixed) = self.fixed.as_ref().filter(|v| v.len() == n) {
            return fixed.clone();
        }
        let (fan_in, fan_out) = self.fans();
        let mut values = self.initializer.sample(n, fan_in, fan_out, rng);
        if let Some(range) = &self.ones {
            for v in values.iter_mut().take(range.end).skip(range.start) {
                *v = 1.0;
            }
        }
        values
    }
}

/// What a layer declares in [`Layer::build`]: its own weights, then its sublayers' (Keras's
/// order: a layer's own variables first, then each sublayer's).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct WeightBuilder {
    pub(crate) own: Vec<WeightSpec>,
    pub(crate) sublayers: Vec<(String, WeightBuilder)>,
    /// A frozen sublayer (a layer of a nested model with `trainable(false)`).
    pub(crate) frozen: bool,
    /// Where Keras's weights file keeps this sublayer, relative to its parent's group, when it
    /// is not its name (a nested model's layers: `layers/dense_1`).
    pub(crate) keras_group: Option<String>,
    /// Where Keras's weights file keeps this sublayer's own weights, relative to its group,
    /// when it is not `vars` ([`Layer::keras_vars_path`]).
    pub(crate) keras_vars: Option<String>,
}

impl WeightBuilder {
    /// Declares a weight (Keras `add_weight`) and returns its index for [`Weights::at`].
    ///
    /// # Errors
    /// When the shape holds more than [`MAX_WEIGHT_VALUES`] values (or its size overflows), or
    /// the name is taken.
    pub fn add_weight(&mut self, spec: WeightSpec) -> Result<usize, String> {
        match spec.size() {
            Some(n) if n <= MAX_WEIGHT_VALUES => {}
            _ => {
                return Err(format!(
                    "weight `{}` of shape {:?} is larger than {MAX_WEIGHT_VALUES} values",
                    spec.name, spec.shape
                ));
            }
        }
        if let Some(c) = &spec.constraint {
            c.check(&spec.shape)
                .map_err(|e| format!("weight `{}`: {e}", spec.name))?;
        }
        if self.own.iter().any(|w| w.name == spec.name) {
            return Err(format!("weight name `{}` is used twice", spec.name));
        }
        if let (Some(fixed), Some(n)) = (&spec.fixed, spec.size())
            && fixed.len() != n
        {
            return Err(format!(
                "weight `{}` of shape {:?} was given {} values",
                spec.name,
                spec.shape,
                fixed.len()
            ));
        }
        self.own.push(spec);
        Ok(self.own.len() - 1)
    }

    /// Builds `layer` as a sublayer named `name` on `inputs` (its weights become part of this
    /// layer's, named `this/name/weight`) and returns its output shape; call it in `call` with
    /// [`Weights::sublayer`] in the same order.
    ///
    /// # Errors
    /// The sublayer's own message, prefixed with its name.
    pub fn add_sublayer(
        &mut self,
        name: impl Into<String>,
        layer: &dyn Layer,
        inputs: &[Shape],
    ) -> Result<Shape, String> {
        let name = name.into();
        let out = layer
            .output_shape(inputs)
            .map_err(|e| format!("{name}: {e}"))?;
        let mut sub = WeightBuilder::default();
        layer
            .build(inputs, &mut sub)
            .map_err(|e| format!("{name}: {e}"))?;
        if layer.keras_vars_path() != "vars" {
            sub.keras_vars = Some(layer.keras_vars_path().to_string());
        }
        self.sublayers.push((name, sub));
        Ok(out)
    }

    /// Every weight, depth first, with its path below this layer (`kernel`, `inner/kernel`).
    pub(crate) fn flat(&self) -> Vec<(String, &WeightSpec)> {
        let mut out: Vec<(String, &WeightSpec)> =
            self.own.iter().map(|w| (w.name.clone(), w)).collect();
        for (name, sub) in &self.sublayers {
            out.extend(
                sub.flat()
                    .into_iter()
                    .map(|(path, w)| (format!("{name}/{path}"), w)),
            );
        }
        out
    }

    /// The number of weights, sublayers included.
    pub(crate) fn len(&self) -> usize {
        self.own.len() + self.sublayers.iter().map(|(_, s)| s.len()).sum::<usize>()
    }

    /// `(trainable, non_trainable)` value counts; all non-trainable when the layer is frozen.
    pub(crate) fn counts(&self, trainable: bool) -> (usize, usize) {
        let trainable = trainable && !self.frozen;
        let own = self.own.iter().fold((0, 0), |(t, n), w| {
            let size = w.size().unwrap_or(0);
            if trainable && w.trainable {
                (t + size, n)
            } else {
                (t, n + size)
            }
        });
        self.sublayers.iter().fold(own, |(t, n), (_, sub)| {
            let (st, sn) = sub.counts(trainable);
            (t + st, n + sn)
        })
    }

    /// Creates the weights on `device`, drawn on the host in declaration order.
    pub(crate) fn create(&self, rng: &mut StdRng, device: &Device) -> Vec<Variable> {
        self.flat()
            .into_iter()
            .map(|(_, w)| {
                let n = w.size().unwrap_or(0);
                let t = Tensor::<1>::from_data(TensorData::new(w.values(n, rng), [n]), device);
                if w.trainable {
                    Variable::Trainable(Param::from_tensor(t))
                } else {
                    Variable::State(RunningState::new(t))
                }
            })
            .collect()
    }
}

/// One stored weight, flat: a parameter the optimizer trains, or state the layer updates.
#[derive(Module, Debug)]
pub enum Variable {
    /// A trainable weight.
    Trainable(Param<Tensor<1>>),
    /// A non-trainable weight (moving statistics), updated by the forward pass.
    State(RunningState<Tensor<1>>),
}

impl Variable {
    /// The values (flat), detached from the graph when `frozen`.
    pub(crate) fn value(&self, frozen: bool) -> Tensor<1> {
        match self {
            Variable::Trainable(p) if frozen => p.val().detach(),
            Variable::Trainable(p) => p.val(),
            Variable::State(s) => s.value_sync(),
        }
    }

    /// Whether the optimizer updates it.
    pub fn trainable(&self) -> bool {
        matches!(self, Variable::Trainable(_))
    }

    /// Replaces the values (same length, checked by the caller), keeping a parameter's id.
    pub(crate) fn set(&mut self, values: Vec<f32>) {
        match self {
            Variable::Trainable(p) => {
                let device = p.val().device();
                let n = values.len();
                let t = Tensor::<1>::from_data(TensorData::new(values, [n]), &device);
                let id = p.id;
                *p = Param::from_tensor(t);
                p.id = id;
            }
            Variable::State(s) => {
                let device = s.value().device();
                let n = values.len();
                *s = RunningState::new(Tensor::from_data(TensorData::new(values, [n]), &device));
            }
        }
    }
}

/// A built layer's weights as [`Layer::call`] sees them: by index or name, reshaped to the
/// shapes declared in `build` (gradients flow through them, except in a frozen layer).
pub struct Weights<'a> {
    pub(crate) vars: &'a [Variable],
    pub(crate) spec: &'a WeightBuilder,
    pub(crate) trainable: bool,
    /// Whether every input of this call is model input data, checked on the host.
    pub(crate) host_checked: bool,
    /// Where the losses the layers add during this forward pass go (Keras `add_loss`).
    pub(crate) losses: Option<&'a std::cell::RefCell<Vec<Tensor<1>>>>,
}

impl fmt::Debug for Weights<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.spec.flat().iter().map(|(name, _)| name))
            .finish()
    }
}

impl<'a> Weights<'a> {
    /// Adds `loss` (one value) to what `fit` minimizes and `evaluate` reports for this batch
    /// (Keras's `self.add_loss` in `call`): activity penalties, auxiliary losses. Outside a
    /// loss computation (`predict`) it is dropped.
    pub fn add_loss(&self, loss: Tensor<1>) {
        if let Some(sink) = self.losses {
            sink.borrow_mut().push(loss);
        }
    }

    /// The weight declared `i`-th (by [`WeightBuilder::add_weight`]) as a rank-`D` tensor.
    ///
    /// # Errors
    /// A message when there is no such weight or its rank is not `D`.
    pub fn at<const D: usize>(&self, i: usize) -> Result<Tensor<D>, String> {
        let spec = self
            .spec
            .own
            .get(i)
            .ok_or_else(|| format!("no weight number {i}"))?;
        let dims: [usize; D] = spec.shape.as_slice().try_into().map_err(|_| {
            format!(
                "weight `{}` has rank {}, asked for rank {D}",
                spec.name,
                spec.shape.len()
            )
        })?;
        let var = self
            .vars
            .get(i)
            .ok_or_else(|| format!("weight `{}` was not created", spec.name))?;
        Ok(var.value(!self.trainable).reshape(dims))
    }

    /// The weight `name` flattened to one axis, whatever its declared shape (a scalar weight,
    /// shape `[]`, is one value).
    ///
    /// # Errors
    /// When there is no such weight.
    pub fn flat(&self, name: &str) -> Result<Tensor<1>, String> {
        let i = self.index(name)?;
        let var = self
            .vars
            .get(i)
            .ok_or_else(|| format!("weight `{name}` was not created"))?;
        Ok(var.value(!self.trainable))
    }

    /// The weight `name` as a rank-`D` tensor.
    ///
    /// # Errors
    /// A message naming the weight when there is none of that name or its rank is not `D`.
    pub fn get<const D: usize>(&self, name: &str) -> Result<Tensor<D>, String> {
        let i = self.index(name)?;
        self.at(i)
    }

    /// The weight `name` when it was declared (optional weights such as a bias).
    ///
    /// # Errors
    /// As [`Weights::get`], for a weight that exists with another rank.
    pub fn optional<const D: usize>(&self, name: &str) -> Result<Option<Tensor<D>>, String> {
        match self.index(name) {
            Ok(i) => self.at(i).map(Some),
            Err(_) => Ok(None),
        }
    }

    fn index(&self, name: &str) -> Result<usize, String> {
        self.spec
            .own
            .iter()
            .position(|w| w.name == name)
            .ok_or_else(|| format!("no weight named `{name}`"))
    }

    /// Stores a new value of the non-trainable weight `name` (Keras `variable.assign`), as
    /// BatchNormalization does with its moving statistics in a training call. The value is
    /// detached from the graph.
    ///
    /// # Errors
    /// When there is no such weight, it is trainable, or the sizes differ.
    pub fn assign<const D: usize>(&self, name: &str, value: Tensor<D>) -> Result<(), String> {
        let i = self.index(name)?;
        match self.vars.get(i) {
            Some(Variable::State(state)) => {
                let n = value.shape().num_elements();
                if state.value().dims() != [n] {
                    return Err(format!("new value of `{name}` has {n} values"));
                }
                state.update(value.detach().reshape([n]));
                Ok(())
            }
            _ => Err(format!(
                "weight `{name}` is trainable; only state can be assigned"
            )),
        }
    }

    /// Whether the layer is trainable (Keras `layer.trainable`); a frozen BatchNormalization
    /// runs in inference mode.
    pub fn trainable(&self) -> bool {
        self.trainable
    }

    /// Whether the inputs of this call are the model's input data, which
    /// [`Layer::id_limit`] had checked on the host; otherwise a layer that indexes by its input
    /// checks the values itself.
    pub fn inputs_checked(&self) -> bool {
        self.host_checked
    }

    /// The weights of the `i`-th sublayer declared with [`WeightBuilder::add_sublayer`], and
    /// its declaration.
    ///
    /// # Errors
    /// When there is no such sublayer.
    pub fn sublayer(&self, i: usize) -> Result<Weights<'a>, String> {
        let (_, sub) = self
            .spec
            .sublayers
            .get(i)
            .ok_or_else(|| format!("no sublayer number {i}"))?;
        let start = self.spec.own.len()
            + self.spec.sublayers[..i]
                .iter()
                .map(|(_, s)| s.len())
                .sum::<usize>();
        let vars = self
            .vars
            .get(start..start + sub.len())
            .ok_or_else(|| format!("sublayer number {i} was not created"))?;
        Ok(Weights {
            vars,
            spec: sub,
            trainable: self.trainable && !sub.frozen,
            host_checked: false,
            losses: self.losses,
        })
    }
}
