//! Kiln's training: Keras's `compile`, `fit`, `evaluate` and `predict`, with Keras's
//! optimizers, losses, metrics, `History` and progress bar, on burn's autodiff.
//!
//! # Quick start
//! ```
//! use kiln_model::{Activation, Dense, Input, Sequential};
//! use kiln_train::{Compile, FitOptions, Loss, Metric, Optimizer};
//! use ndarray::{Array1, Array2};
//!
//! // Learn which of two numbers is larger.
//! let x = Array2::from_shape_fn((256, 2), |(i, j)| ((i * 37 + j * 11) % 17) as f32 / 17.0);
//! let y = Array1::from_shape_fn(256, |i| (x[[i, 0]] > x[[i, 1]]) as u8);
//!
//! let mut model = Sequential::new()
//!     .add(Input::new([2]))
//!     .add(Dense::new(16).activation(Activation::Relu))
//!     .add(Dense::new(2).activation(Activation::Softmax))
//!     .seed(0)
//!     .build(&burn::tensor::Device::flex())?
//!     .compile(Optimizer::adam().learning_rate(0.01), Loss::SparseCategoricalCrossentropy,
//!              [Metric::Accuracy])?;
//! let history = model.fit(&x, &y, FitOptions::new().epochs(20).verbose(0).seed(0))?;
//! let scores = model.evaluate(&x, &y)?;
//! assert!(scores["accuracy"] > 0.8, "{scores:?}");
//! assert!(history.last("loss") < history.get("loss").map(|l| l[0]));
//! # Ok::<(), kiln_train::Error>(())
//! ```

mod arrays;
mod backup;
mod batches;
mod burn_dataset;
mod callbacks;
mod compiled;
mod custom;
mod dataset_runs;
mod error;
mod fit;
mod history;
mod hooked_runs;
mod keras_file;
mod lambda_callback;
mod loss;
mod mask_weights;
mod metric;
mod optimizer;
mod plot;
mod progbar_logger;
mod progress;
mod reducer;
mod remote_monitor;
mod schedule;
mod swap_ema_weights;
mod targets;
mod tensorboard;
mod train_step;

pub use arrays::{Arrays, IntoArrays};
pub use backup::{BACKUP_FILE, BackupAndRestore, PREVIOUS_BACKUP_FILE};
pub use burn_dataset::BurnDataset;
pub use callbacks::{
    Callback, CallbackContext, CsvLogger, EarlyStopping, LearningRateScheduler, Logs,
    MAX_FIELD_WIDTH, Mode, ModelCheckpoint, ReduceLrOnPlateau, TerminateOnNaN, format_path,
};
pub use compiled::{Compile, CompiledModel, DEFAULT_BATCH_SIZE, Output, Scores};
pub use custom::{
    CustomLoss, CustomLossFn, CustomMetric, CustomMetricFn, CustomRule, CustomRuleFn,
    StatefulMetric, StatefulMetricFn, StepInfo,
};
pub use error::{Error, Result};
pub use fit::{FitOptions, Validation};
pub use history::History;
pub use keras_file::{load_compiled, load_compiled_with};
pub use lambda_callback::LambdaCallback;
pub use loss::{IntoLoss, Loss, LossConfig, Reduction, Targets};
pub use metric::{Accumulator, CompiledMetric, IntoMetric, Metric, MetricConfig};
pub use optimizer::{IntoOptimizer, LossScale, Optimizer, OptimizerState, Rule};
pub use progbar_logger::ProgbarLogger;
pub use progress::{Verbosity, format_metrics, format_step_time, format_value};
pub use reducer::Reducer;
pub use remote_monitor::RemoteMonitor;
pub use schedule::LearningRate;
pub use swap_ema_weights::SwapEmaWeights;
pub use tensorboard::{
    Event, HistogramProto, PluginData, Summary, SummaryMetadata, SummaryValue, TensorBoard,
    UpdateFreq,
};
pub use train_step::{Batch, StepLogs, TrainStep, fit_step};
