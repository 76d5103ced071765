//! [`LambdaCallback`]: a callback made of closures, one per hook (Keras `LambdaCallback`).

use crate::callbacks::{Callback, CallbackContext, Logs};
use crate::error::Result;

type Hook = Box<dyn for<'a> FnMut(&mut CallbackContext<'a>) -> Result<()>>;
type IndexHook = Box<dyn for<'a> FnMut(usize, &mut CallbackContext<'a>) -> Result<()>>;
type LogsHook = Box<dyn for<'a> FnMut(usize, &Logs, &mut CallbackContext<'a>) -> Result<()>>;
type EndHook = Box<dyn for<'a> FnMut(&Logs, &mut CallbackContext<'a>) -> Result<()>>;
type OutputsHook =
    Box<dyn for<'a> FnMut(usize, &ndarray::ArrayD<f32>, &mut CallbackContext<'a>) -> Result<()>>;

/// A callback from closures (Keras `LambdaCallback(on_epoch_end=..., on_train_batch_end=...)`):
/// each builder method sets one hook, with the hook's arguments and the
/// [`CallbackContext`] (the model, the optimizer, `stop_training`); a hook's error stops `fit`
/// with it.
///
/// # Examples
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use kiln_train::LambdaCallback;
///
/// let losses = Rc::new(RefCell::new(Vec::new()));
/// let seen = Rc::clone(&losses);
/// let callback = LambdaCallback::new()
///     .on_train_batch_end(move |_batch, logs, _ctx| {
///         seen.borrow_mut().push(logs["loss"]);
///         Ok(())
///     })
///     .on_epoch_end(|epoch, logs, ctx| {
///         // Stop once the loss is small enough (Keras's `model.stop_training = True`).
///         ctx.stop_training = logs["loss"] < 0.01;
///         println!("epoch {epoch}: {:.4}", logs["loss"]);
///         Ok(())
///     });
/// # drop(callback);
/// ```
#[derive(Default)]
pub struct LambdaCallback {
    train_begin: Option<Hook>,
    train_end: Option<Hook>,
    epoch_begin: Option<IndexHook>,
    epoch_end: Option<LogsHook>,
    train_batch_begin: Option<IndexHook>,
    train_batch_end: Option<LogsHook>,
    test_begin: Option<Hook>,
    test_end: Option<EndHook>,
    test_batch_begin: Option<IndexHook>,
    test_batch_end: Option<LogsHook>,
    predict_begin: Option<Hook>,
    predict_end: Option<Hook>,
    predict_batch_begin: Option<IndexHook>,
    predict_batch_end: Option<OutputsHook>,
}

impl std::fmt::Debug for LambdaCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |name: &'static str, on: bool| on.then_some(name);
        let hooks: Vec<&str> = [
            set("on_train_begin", self.train_begin.is_some()),
            set("on_train_end", self.train_end.is_some()),
            set("on_epoch_begin", self.epoch_begin.is_some()),
            set("on_epoch_end", self.epoch_end.is_some()),
            set("on_train_batch_begin", self.train_batch_begin.is_some()),
            set("on_train_batch_end", self.train_batch_end.is_some()),
            set("on_test_begin", self.test_begin.is_some()),
            set("on_test_end", self.test_end.is_some()),
            set("on_test_batch_begin", self.test_batch_begin.is_some()),
            set("on_test_batch_end", self.test_batch_end.is_some()),
            set("on_predict_begin", self.predict_begin.is_some()),
            set("on_predict_end", self.predict_end.is_some()),
            set("on_predict_batch_begin", self.predict_batch_begin.is_some()),
            set("on_predict_batch_end", self.predict_batch_end.is_some()),
        ]
        .into_iter()
        .flatten()
        .collect();
        f.debug_struct("LambdaCallback")
            .field("hooks", &hooks)
            .finish()
    }
}

impl LambdaCallback {
    /// A callback with no hooks yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// `f(ctx)` before the first epoch.
    pub fn on_train_begin(
        mut self,
        f: impl for<'a> FnMut(&mut CallbackContext<'a>) -> Result<()> + 'static,
    ) -> Self {
        self.train_begin = Some(Box::new(f));
        self
    }

    /// `f(ctx)` after the last epoch.
    pub fn on_train_end(
        mut self,
        f: impl for<'a> FnMut(&mut CallbackContext<'a>) -> Result<()> + 'static,
    ) -> Self {
        self.train_end = Some(Box::new(f));
        self
    }

    /// `f(epoch, ctx)` before each epoch (0-based).
    pub fn on_epoch_begin(
        mut self,
        f: impl for<'a> FnMut(usize, &mut CallbackContext<'a>) -> Result<()> + 'static,
    ) -> Self {
        self.epoch_begin = Some(Box::new(f));
        self
    }

    /// `f(epoch, logs, ctx)` after each epoch.
    pub fn on_epoch_end(
        mut self,
        f: impl for<'a> FnMut(usize, &Logs, &mut CallbackContext<'a>) -> Result<()> + 'static,
    ) -> Self {
        self.epoch_end = Some(Box::new(f));
        self
    }

    /// `f(batch, ctx)` before each training batch (0-based within the epoch).
    pub fn on_train_batch_begin(
        mut self,
        f: impl for<'a> FnMut(usize, &mut CallbackContext<'a>) -> Result<()> + 'static,
    ) -> Self {
        self.train_batch_begin = Some(Box::new(f));
        self
    }

    /// `f(batch, logs, ctx)` after each training batch, with the epoch's running logs.
    pub fn on_train_batch_end(
        mut self,
        f: impl for<'a> FnMut(usize, &Logs, &mut CallbackContext<'a>) -> Result<()> + 'static,
    ) -> Self {
        self.train_batch_end = Some(Box::new(f));
        self
    }

    /// `f(ctx)` before each validation pass.
    pub fn on_test_begin(
        mut self,
        f: impl for<'a> FnMut(&mut CallbackContext<'a>) -> Result<()> + 'static,
    ) -> Self {
        self.test_begin = Some(Box::new(f));
        self
    }

    /// `f(logs, ctx)` after each validation pass (names without `val_`).
    pub fn on_test_end(
        mut self,
        f: impl for<'a> FnMut(&Logs, &mut CallbackContext<'a>) -> Result<()> + 'static,
    ) -> Self {
        self.test_end = Some(Box::new(f));
        self
    }

    /// `f(batch, ctx)` before each validation (or `evaluate_with_callbacks`) batch.
    pub fn on_test_batch_begin(
        mut self,
        f: impl for<'a> FnMut(usize, &mut CallbackContext<'a>) -> Result<()> + 'static,
    ) -> Self {
        self.test_batch_begin = Some(Box::new(f));
        self
    }

    /// `f(batch, logs, ctx)` after each such batch, with the pass's running logs.
    pub fn on_test_batch_end(
        mut self,
        f: impl for<'a> FnMut(usize, &Logs, &mut CallbackContext<'a>) -> Result<()> + 'static,
    ) -> Self {
        self.test_batch_end = Some(Box::new(f));
        self
    }

    /// `f(ctx)` before `predict_with_callbacks`.
    pub fn on_predict_begin(
        mut self,
        f: impl for<'a> FnMut(&mut CallbackContext<'a>) -> Result<()> + 'static,
    ) -> Self {
        self.predict_begin = Some(Box::new(f));
        self
    }

    /// `f(ctx)` after its last batch.
    pub fn on_predict_end(
        mut self,
        f: impl for<'a> FnMut(&mut CallbackContext<'a>) -> Result<()> + 'static,
    ) -> Self {
        self.predict_end = Some(Box::new(f));
        self
    }

    /// `f(batch, ctx)` before each prediction batch.
    pub fn on_predict_batch_begin(
        mut self,
        f: impl for<'a> FnMut(usize, &mut CallbackContext<'a>) -> Result<()> + 'static,
    ) -> Self {
        self.predict_batch_begin = Some(Box::new(f));
        self
    }

    /// `f(batch, outputs, ctx)` after each prediction batch, with its outputs.
    pub fn on_predict_batch_end(
        mut self,
        f: impl for<'a> FnMut(usize, &ndarray::ArrayD<f32>, &mut CallbackContext<'a>) -> Result<()>
        + 'static,
    ) -> Self {
        self.predict_batch_end = Some(Box::new(f));
        self
    }
}

impl Callback for LambdaCallback {
    fn on_train_begin(&mut self, ctx: &mut CallbackContext<'_>) -> Result<()> {
        self.train_begin.as_mut().map_or(Ok(()), |f| f(ctx))
    }

    fn on_train_end(&mut self, ctx: &mut CallbackContext<'_>) -> Result<()> {
        self.train_end.as_mut().map_or(Ok(()), |f| f(ctx))
    }

    fn on_epoch_begin(&mut self, epoch: usize, ctx: &mut CallbackContext<'_>) -> Result<()> {
        self.epoch_begin.as_mut().map_or(Ok(()), |f| f(epoch, ctx))
    }

    fn on_epoch_end(
        &mut self,
        epoch: usize,
        logs: &Logs,
        ctx: &mut CallbackContext<'_>,
    ) -> Result<()> {
        self.epoch_end
            .as_mut()
            .map_or(Ok(()), |f| f(epoch, logs, ctx))
    }

    fn batch_hooks(&self) -> bool {
        self.train_batch_begin.is_some()
            || self.train_batch_end.is_some()
            || self.test_batch_begin.is_some()
            || self.test_batch_end.is_some()
            || self.predict_batch_begin.is_some()
            || self.predict_batch_end.is_some()
    }

    fn on_train_batch_begin(&mut self, batch: usize, ctx: &mut CallbackContext<'_>) -> Result<()> {
        self.train_batch_begin
            .as_mut()
            .map_or(Ok(()), |f| f(batch, ctx))
    }

    fn on_train_batch_end(
        &mut self,
        batch: usize,
        logs: &Logs,
        ctx: &mut CallbackContext<'_>,
    ) -> Result<()> {
        self.train_batch_end
            .as_mut()
            .map_or(Ok(()), |f| f(batch, logs, ctx))
    }

    fn on_test_begin(&mut self, ctx: &mut CallbackContext<'_>) -> Result<()> {
        self.test_begin.as_mut().map_or(Ok(()), |f| f(ctx))
    }

    fn on_test_end(&mut self, logs: &Logs, ctx: &mut CallbackContext<'_>) -> Result<()> {
        self.test_end.as_mut().map_or(Ok(()), |f| f(logs, ctx))
    }

    fn on_test_batch_begin(&mut self, batch: usize, ctx: &mut CallbackContext<'_>) -> Result<()> {
        self.test_batch_begin
            .as_mut()
            .map_or(Ok(()), |f| f(batch, ctx))
    }

    fn on_test_batch_end(
        &mut self,
        batch: usize,
        logs: &Logs,
        ctx: &mut CallbackContext<'_>,
    ) -> Result<()> {
        self.test_batch_end
            .as_mut()
            .map_or(Ok(()), |f| f(batch, logs, ctx))
    }

    fn on_predict_begin(&mut self, ctx: &mut CallbackContext<'_>) -> Result<()> {
        self.predict_begin.as_mut().map_or(Ok(()), |f| f(ctx))
    }

    fn on_predict_end(&mut self, ctx: &mut CallbackContext<'_>) -> Result<()> {
        self.predict_end.as_mut().map_or(Ok(()), |f| f(ctx))
    }

    fn on_predict_batch_begin(
        &mut self,
        batch: usize,
        ctx: &mut CallbackContext<'_>,
    ) -> Result<()> {
        self.predict_batch_begin
            .as_mut()
            .map_or(Ok(()), |f| f(batch, ctx))
    }

    fn on_predict_batch_end(
        &mut self,
        batch: usize,
        outputs: &ndarray::ArrayD<f32>,
        ctx: &mut CallbackContext<'_>,
    ) -> Result<()> {
        self.predict_batch_end
            .as_mut()
            .map_or(Ok(()), |f| f(batch, outputs, ctx))
    }
}
