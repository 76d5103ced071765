//! [`ProgbarLogger`] and `History` as callbacks (Keras adds both to every `fit` itself).

use std::time::Instant;

use crate::callbacks::{Callback, CallbackContext, Logs};
use crate::error::Result;
use crate::history::History;
use crate::progress::{format_metrics, format_step_time};

/// Keras's `ProgbarLogger`, for a `fit` run silent (`verbose(0)`) whose progress should still
/// be printed, or for a custom loop: `Epoch k/n`, then, after each epoch, Keras's one-line
/// summary (`verbose=2`): steps, time, time per step and the logs. With batch hooks on (it asks
/// for them) it counts the epoch's steps itself.
///
/// # Examples
/// ```
/// use kiln_train::{FitOptions, ProgbarLogger};
/// let mut progress = ProgbarLogger::new(10);
/// let options = FitOptions::new().epochs(10).verbose(0).callback(&mut progress);
/// # drop(options);
/// ```
#[derive(Debug)]
pub struct ProgbarLogger {
    epochs: usize,
    steps: usize,
    started: Instant,
}

impl ProgbarLogger {
    /// A logger for a run of `epochs` epochs (Keras's `params["epochs"]`).
    pub fn new(epochs: usize) -> Self {
        Self {
            epochs,
            steps: 0,
            started: Instant::now(),
        }
    }

    /// The summary line of an epoch of `steps` steps taking `seconds`.
    pub fn line(steps: usize, seconds: f64, logs: &Logs) -> String {
        let values: Vec<(String, f64)> = logs.iter().map(|(k, v)| (k.clone(), *v)).collect();
        format!(
            "{steps}/{steps} - {}s - {} - {}",
            seconds.round(),
            format_step_time(seconds / steps.max(1) as f64),
            format_metrics(&values)
        )
    }
}

impl Callback for ProgbarLogger {
    fn batch_hooks(&self) -> bool {
        true
    }

    fn on_epoch_begin(&mut self, epoch: usize, _ctx: &mut CallbackContext<'_>) -> Result<()> {
        println!("Epoch {}/{}", epoch + 1, self.epochs);
        self.steps = 0;
        self.started = Instant::now();
        Ok(())
    }

    fn on_train_batch_end(
        &mut self,
        _batch: usize,
        _logs: &Logs,
        _ctx: &mut CallbackContext<'_>,
    ) -> Result<()> {
        self.steps += 1;
        Ok(())
    }

    fn on_epoch_end(
        &mut self,
        _epoch: usize,
        logs: &Logs,
        _ctx: &mut CallbackContext<'_>,
    ) -> Result<()> {
        let seconds = self.started.elapsed().as_secs_f64();
        println!("{}", Self::line(self.steps, seconds, logs));
        Ok(())
    }
}

/// Keras's `History` callback: records each epoch's logs (what `fit` returns; as a callback it
/// also records a custom loop's epochs, or a second copy for another consumer).
impl Callback for History {
    fn on_epoch_end(
        &mut self,
        epoch: usize,
        logs: &Logs,
        _ctx: &mut CallbackContext<'_>,
    ) -> Result<()> {
        let values: Vec<(String, f64)> = logs.iter().map(|(k, v)| (k.clone(), *v)).collect();
        self.push(epoch, &values);
        Ok(())
    }
}
