//! `evaluate` and `predict` with callbacks (Keras's `evaluate(..., callbacks=[...])` and
//! `predict(..., callbacks=[...])`): the test and predict hooks, batch by batch.

use kiln_model::ArrayInput;
use ndarray::{ArrayD, Axis, concatenate};

use crate::batches::EvalBatches;
use crate::callbacks::{Callback, Hook, Logs, run_hooks};
use crate::compiled::{BatchHook, CompiledModel, Scores, Values, evaluate_batches, named};
use crate::error::{Error, Result};

/// Runs `hook` on every callback with the model and optimizer of `model`.
fn run(
    model: &mut CompiledModel,
    callbacks: &mut [&mut dyn Callback],
    hook: Hook<'_>,
) -> Result<()> {
    run_hooks(
        callbacks,
        &mut model.model,
        &mut model.optimizer,
        None,
        hook,
    )
    .map(|_| ())
}

impl CompiledModel {
    /// [`evaluate`](CompiledModel::evaluate) with callbacks: `on_test_begin`, the test batch
    /// hooks (for callbacks with [`batch_hooks`](Callback::batch_hooks)) with the running
    /// logs, and `on_test_end` with the final ones.
    ///
    /// # Errors
    /// As `evaluate`; a callback's error.
    pub fn evaluate_with_callbacks(
        &mut self,
        x: &impl ArrayInput,
        y: &impl ArrayInput,
        batch_size: usize,
        callbacks: &mut [&mut dyn Callback],
    ) -> Result<Scores> {
        // The hooks run first: one may change the weights evaluated (SwapEmaWeights).
        run(self, callbacks, &mut |cb, ctx| cb.on_test_begin(ctx))?;
        let model = self.model();
        let xs = self.device_inputs(&model, "x", vec![x.host_array()])?;
        let n = xs.first().map_or(0, kiln_model::Samples::len);
        let ys = self.device_targets(&model, "y", &[y.host_data()], n)?;
        let wants = callbacks.iter().any(|cb| cb.batch_hooks());
        let heads = self.heads.clone();
        let device = self.device.clone();
        let mut on_batch = |batch: usize, values: Option<&Values>| -> Result<()> {
            let logs: Option<Logs> = values.map(|v| named(&heads, v, "").into_iter().collect());
            run(
                self,
                callbacks,
                &mut |cb, ctx| match (&logs, cb.batch_hooks()) {
                    (_, false) => Ok(()),
                    (None, true) => cb.on_test_batch_begin(batch, ctx),
                    (Some(logs), true) => cb.on_test_batch_end(batch, logs, ctx),
                },
            )
        };
        let hook: Option<BatchHook<'_>> = if wants { Some(&mut on_batch) } else { None };
        let data = EvalBatches::Arrays {
            xs,
            ys,
            weights: None,
        };
        let values = evaluate_batches(&heads, &device, &model, &data, batch_size, hook)?;
        let scores = named(&heads, &values, "");
        let logs: Logs = scores.clone().into_iter().collect();
        run(self, callbacks, &mut |cb, ctx| cb.on_test_end(&logs, ctx))?;
        Ok(scores)
    }

    /// [`predict`](CompiledModel::predict) with callbacks: `on_predict_begin`, the predict
    /// batch hooks (for callbacks with [`batch_hooks`](Callback::batch_hooks)), each batch's
    /// outputs to `on_predict_batch_end`, and `on_predict_end`.
    ///
    /// # Errors
    /// As `predict`, and [`Error::InvalidOption`] for a zero batch size; a callback's error.
    pub fn predict_with_callbacks(
        &mut self,
        x: &impl ArrayInput,
        batch_size: usize,
        callbacks: &mut [&mut dyn Callback],
    ) -> Result<ArrayD<f32>> {
        if batch_size == 0 {
            return Err(Error::InvalidOption {
                option: "batch_size",
                reason: "must be at least 1".into(),
            });
        }
        run(self, callbacks, &mut |cb, ctx| cb.on_predict_begin(ctx))?;
        let model = self.model();
        // In the input's own element type: string inputs stay strings for the model's host
        // layers.
        let data = x.host_array();
        let n = if data.shape().is_empty() {
            0
        } else {
            data.len()
        };
        let wants = callbacks.iter().any(|cb| cb.batch_hooks());
        let mut parts = Vec::with_capacity(n.div_ceil(batch_size));
        for (batch, start) in (0..n).step_by(batch_size).enumerate() {
            if wants {
                run(self, callbacks, &mut |cb, ctx| {
                    if cb.batch_hooks() {
                        cb.on_predict_batch_begin(batch, ctx)
                    } else {
                        Ok(())
                    }
                })?;
            }
            let rows = data.slice_rows(start, batch_size);
            let out = model.predict(&rows, batch_size)?;
            if wants {
                run(self, callbacks, &mut |cb, ctx| {
                    if cb.batch_hooks() {
                        cb.on_predict_batch_end(batch, &out, ctx)
                    } else {
                        Ok(())
                    }
                })?;
            }
            parts.push(out);
        }
        run(self, callbacks, &mut |cb, ctx| cb.on_predict_end(ctx))?;
        let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
        match views.as_slice() {
            [] => Ok(model.predict(&data, batch_size)?),
            _ => concatenate(Axis(0), &views).map_err(|e| Error::Readback(e.to_string())),
        }
    }
}
