//! [`SwapEmaWeights`]: validate (and checkpoint) with the optimizer's moving-average weights.

use crate::callbacks::{Callback, CallbackContext, Logs};
use crate::error::{Error, Result};

/// Keras's `SwapEMAWeights`: with an optimizer that keeps a moving average of the weights
/// (`Optimizer::use_ema`), the validation pass at each epoch's end (and `evaluate_with_callbacks`
/// / `predict_with_callbacks`) runs on the averaged weights, and training goes on with the
/// trained ones. With `swap_on_epoch`, the averages
/// stay in the model from this callback's `on_epoch_end` to the next epoch's start, so a
/// `ModelCheckpoint` placed after this callback saves them (as Keras).
///
/// # Examples
/// ```
/// use kiln_train::{FitOptions, Optimizer, SwapEmaWeights};
/// let optimizer = Optimizer::adam().use_ema(0.99);
/// let mut swap = SwapEmaWeights::new();
/// let options = FitOptions::new().validation_split(0.2).callback(&mut swap);
/// # drop((optimizer, options));
/// ```
#[derive(Debug, Default)]
pub struct SwapEmaWeights {
    swap_on_epoch: bool,
    averages_in_model: bool,
}

impl SwapEmaWeights {
    /// Swaps around the validation pass.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the averages in the model from the validation pass through `on_epoch_end`.
    pub fn swap_on_epoch(mut self, on: bool) -> Self {
        self.swap_on_epoch = on;
        self
    }

    fn swap(&mut self, ctx: &mut CallbackContext<'_>) {
        if ctx.optimizer.has_averages() {
            let model = ctx.model.clone();
            *ctx.model = ctx.optimizer.swap_average_weights(model);
            self.averages_in_model = !self.averages_in_model;
        }
    }
}

impl Callback for SwapEmaWeights {
    fn on_train_begin(&mut self, ctx: &mut CallbackContext<'_>) -> Result<()> {
        if !ctx.optimizer.config.use_ema {
            return Err(Error::InvalidOption {
                option: "callbacks",
                reason: "SwapEmaWeights needs an optimizer with use_ema (Optimizer::use_ema)"
                    .into(),
            });
        }
        self.averages_in_model = false;
        Ok(())
    }

    fn on_test_begin(&mut self, ctx: &mut CallbackContext<'_>) -> Result<()> {
        if !self.averages_in_model {
            self.swap(ctx);
        }
        Ok(())
    }

    fn on_test_end(&mut self, _logs: &Logs, ctx: &mut CallbackContext<'_>) -> Result<()> {
        if self.averages_in_model && !self.swap_on_epoch {
            self.swap(ctx);
        }
        Ok(())
    }

    fn on_predict_begin(&mut self, ctx: &mut CallbackContext<'_>) -> Result<()> {
        if !self.averages_in_model {
            self.swap(ctx);
        }
        Ok(())
    }

    fn on_predict_end(&mut self, ctx: &mut CallbackContext<'_>) -> Result<()> {
        if self.averages_in_model {
            self.swap(ctx);
        }
        Ok(())
    }

    fn on_epoch_end(
        &mut self,
        _epoch: usize,
        _logs: &Logs,
        ctx: &mut CallbackContext<'_>,
    ) -> Result<()> {
        // As Keras: from here to the next epoch's start the model holds the averages, for the
        // callbacks after this one (a checkpoint saves them).
        if self.swap_on_epoch && !self.averages_in_model {
            self.swap(ctx);
        }
        Ok(())
    }

    fn on_epoch_begin(&mut self, _epoch: usize, ctx: &mut CallbackContext<'_>) -> Result<()> {
        if self.averages_in_model {
            self.swap(ctx);
        }
        Ok(())
    }

    fn on_train_end(&mut self, _ctx: &mut CallbackContext<'_>) -> Result<()> {
        // `fit` has already ended with the averages in the model (finalize_variable_values
        // knows about a swap left open).
        self.averages_in_model = false;
        Ok(())
    }
}
