//! User-defined losses, metrics and optimizer rules, which `compile` takes like stock ones.

use std::fmt;
use std::sync::Arc;

use burn::tensor::Tensor;

/// A loss written by the user (Keras: a function `loss(y_true, y_pred)` or a `keras.losses.Loss`
/// subclass). Pass it to `compile` as `Loss::custom(MyLoss)`.
///
/// `fit` reduces the per-sample values as Keras's default `sum_over_batch_size` does (the mean
/// over the batch, with sample/class weights multiplied in), adds regularization, and
/// differentiates through it; `evaluate` reports its mean.
///
/// # Examples
/// ```
/// use burn::tensor::Tensor;
/// use kiln_train::{CustomLoss, Loss};
///
/// /// Mean fourth power of the error.
/// #[derive(Debug)]
/// struct QuarticError;
///
/// impl CustomLoss for QuarticError {
///     fn name(&self) -> &str { "quartic_error" }
///     fn call(&self, y_true: Tensor<2>, y_pred: Tensor<2>) -> Tensor<1> {
///         let rows = y_true.dims()[0];
///         (y_pred - y_true).powi_scalar(4).mean_dim(1).reshape([rows])
///     }
/// }
///
/// let loss = Loss::custom(QuarticError);
/// assert_eq!(loss.name(), "quartic_error");
/// ```
pub trait CustomLoss: fmt::Debug + Send + Sync + 'static {
    /// The loss's name (reported as `loss`, as Keras does).
    fn name(&self) -> &str;

    /// The loss of each sample, `[rows]`, from the targets `y_true` `[rows, outputs]` (as given
    /// to `fit`, as floats; class ids are `[rows, 1]`) and the model's outputs `y_pred`
    /// `[rows, outputs]` (after its last activation).
    fn call(&self, y_true: Tensor<2>, y_pred: Tensor<2>) -> Tensor<1>;
}

/// A metric written by the user: a per-sample value whose (weighted) mean over the epoch is
/// reported, as Keras's function metrics (`MeanMetricWrapper`). Pass it to `compile` as
/// `Metric::custom(MyMetric)`.
///
/// # Examples
/// ```
/// use burn::tensor::Tensor;
/// use kiln_train::{CustomMetric, Metric};
///
/// /// The largest absolute error of each sample.
/// #[derive(Debug)]
/// struct MaxError;
///
/// impl CustomMetric for MaxError {
///     fn name(&self) -> &str { "max_error" }
///     fn call(&self, y_true: Tensor<2>, y_pred: Tensor<2>) -> Tensor<1> {
///         let rows = y_true.dims()[0];
///         (y_pred - y_true).abs().max_dim(1).reshape([rows])
///     }
/// }
///
/// assert_eq!(Metric::custom(MaxError).name(), "max_error");
/// ```
pub trait CustomMetric: fmt::Debug + Send + Sync + 'static {
    /// The name in logs and `History` (`val_` is prefixed for validation).
    fn name(&self) -> &str;

    /// The value of each sample, `[rows]`; arguments as [`CustomLoss::call`].
    fn call(&self, y_true: Tensor<2>, y_pred: Tensor<2>) -> Tensor<1>;
}

/// A metric with its own running state (Keras: a `keras.metrics.Metric` subclass with
/// `update_state`, `result` and `reset_state`). The state is `slots()` running sums kept on the
/// device: `update_state` returns what one batch adds to them, `result` turns the sums into
/// the value, and the sums start at zero each epoch (Keras's `reset_state`). Pass it to
/// `compile` as `Metric::stateful(MyMetric)`.
///
/// # Examples
/// ```
/// use burn::tensor::Tensor;
/// use kiln_train::{Metric, StatefulMetric};
///
/// /// The fraction of all predictions above 0.5 (over the epoch, not a mean of batch means).
/// #[derive(Debug)]
/// struct PositiveRate;
///
/// impl StatefulMetric for PositiveRate {
///     fn name(&self) -> &str { "positive_rate" }
///     fn slots(&self) -> usize { 2 }
///     fn update_state(&self, _y_true: Tensor<2>, y_pred: Tensor<2>) -> Tensor<1> {
///         let [rows, cols] = y_pred.dims();
///         let above = y_pred.greater_elem(0.5).float().sum();
///         let count = above.zeros_like() + (rows * cols) as f32;
///         Tensor::cat(vec![above, count], 0)
///     }
///     fn result(&self, sums: &[f64]) -> f64 {
///         if sums[1] == 0.0 { 0.0 } else { sums[0] / sums[1] }
///     }
/// }
///
/// assert_eq!(Metric::stateful(PositiveRate).name(), "positive_rate");
/// ```
pub trait StatefulMetric: fmt::Debug + Send + Sync + 'static {
    /// The name in logs and `History`.
    fn name(&self) -> &str;

    /// How many running sums the state holds.
    fn slots(&self) -> usize;

    /// What one batch adds to the sums, `[slots]`, from the targets and predictions (as
    /// [`CustomLoss::call`] takes them).
    fn update_state(&self, y_true: Tensor<2>, y_pred: Tensor<2>) -> Tensor<1>;

    /// The value from the sums (read back to the host).
    fn result(&self, sums: &[f64]) -> f64;
}

/// What an optimizer rule knows about the current step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepInfo {
    /// The learning rate of this step (after the schedule).
    pub learning_rate: f32,
    /// Keras's `iterations + 1`: 1 on the first update.
    pub step: u64,
}

/// An update rule written by the user (Keras: a `keras.optimizers.Optimizer` subclass with
/// `build` and `update_step`). Pass it to `compile` as `Optimizer::custom(MyRule)`; the
/// optimizer's learning rate (and schedule), clipping and weight decay apply around it.
///
/// # Examples
/// ```
/// use burn::tensor::Tensor;
/// use kiln_train::{CustomRule, Optimizer, StepInfo};
///
/// /// Sign SGD: `p -= lr · sign(g)`.
/// #[derive(Debug)]
/// struct SignSgd;
///
/// impl CustomRule for SignSgd {
///     fn name(&self) -> &str { "sign_sgd" }
///     fn update(&self, p: Tensor<1>, g: Tensor<1>, _slots: &mut [Tensor<1>], step: &StepInfo)
///         -> Tensor<1> {
///         p - g.sign() * step.learning_rate
///     }
/// }
///
/// let optimizer = Optimizer::custom(SignSgd).learning_rate(0.01);
/// assert_eq!(optimizer.name(), "sign_sgd");
/// ```
pub trait CustomRule: fmt::Debug + Send + Sync + 'static {
    /// The optimizer's name.
    fn name(&self) -> &str;

    /// How many state tensors ("slots", e.g. a momentum) each parameter has; each starts at
    /// zeros, shaped like the parameter.
    fn slots(&self) -> usize {
        0
    }

    /// One update of one parameter, flattened to `[n]`: returns the new value, and may
    /// replace the slots' values.
    fn update(
        &self,
        param: Tensor<1>,
        grad: Tensor<1>,
        slots: &mut [Tensor<1>],
        step: &StepInfo,
    ) -> Tensor<1>;
}

macro_rules! handle {
    ($name:ident, $tr:ident, $what:literal) => {
        #[doc = concat!("A shared ", $what, " inside a compiled model (compared by identity).")]
        #[derive(Clone)]
        pub struct $name(pub Arc<dyn $tr>);

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                Arc::ptr_eq(&self.0, &other.0)
            }
        }
    };
}

handle!(CustomLossFn, CustomLoss, "custom loss");
handle!(CustomMetricFn, CustomMetric, "custom metric");
handle!(CustomRuleFn, CustomRule, "custom optimizer rule");
handle!(StatefulMetricFn, StatefulMetric, "stateful custom metric");
