//! A custom training step (Keras's `train_step` / `test_step`) run by `fit_step`: the same
//! loop as `fit`, with validation, callbacks and History; errors instead of panics.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kiln::burn::optim::GradientsParams;
use kiln::burn::tensor::Tensor;
use kiln::model::DynTensor;
use kiln::prelude::*;
use kiln::train::{
    Batch, EarlyStopping, Error, LambdaCallback, OptimizerState, StepLogs, TrainStep, fit_step,
};
use ndarray::Array2;

/// Least squares by hand: the step owns the model and its optimizer.
struct Regression {
    model: Model,
    optimizer: OptimizerState,
    /// Names logged: changing them mid-epoch must be an error.
    rename_after: Option<usize>,
    steps: usize,
    validates: bool,
}

fn regression(lr: f32) -> Regression {
    let device = Device::flex().autodiff();
    let model = Sequential::new()
        .add(Input::new([3]))
        .add(Dense::new(1))
        .seed(7)
        .build(&device)
        .unwrap();
    Regression {
        model,
        optimizer: OptimizerState::new(Optimizer::sgd().learning_rate(lr)),
        rename_after: None,
        steps: 0,
        validates: true,
    }
}

fn matrix(t: &DynTensor) -> Tensor<2> {
    match t {
        DynTensor::R2(t) => t.clone(),
        _ => panic!("a matrix"),
    }
}

impl Regression {
    fn mse(&self, batch: &Batch) -> kiln::train::Result<Tensor<1>> {
        let (x, y) = (matrix(&batch.arrays[0]), matrix(&batch.arrays[1]));
        let p = matrix(&self.model.forward(DynTensor::R2(x))?);
        Ok((p - y).square().mean())
    }
}

impl TrainStep for Regression {
    fn model_and_optimizer(&mut self) -> (&mut Model, &mut OptimizerState) {
        (&mut self.model, &mut self.optimizer)
    }

    fn train_step(&mut self, batch: Batch) -> kiln::train::Result<StepLogs> {
        let loss = self.mse(&batch)?;
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        self.model = self.optimizer.apply_gradients(self.model.clone(), grads);
        self.steps += 1;
        let name = match self.rename_after {
            Some(k) if self.steps > k => "other",
            _ => "loss",
        };
        Ok(vec![
            (name.into(), loss.clone().detach()),
            ("rmse".into(), loss.detach().sqrt()),
        ])
    }

    fn test_step(&mut self, batch: Batch) -> kiln::train::Result<StepLogs> {
        if !self.validates {
            return Err(Error::InvalidOption {
                option: "validation",
                reason: "this step does not validate".into(),
            });
        }
        let loss = self.mse(&batch)?;
        Ok(vec![
            ("loss".into(), loss.clone().detach()),
            ("rmse".into(), loss.detach().sqrt()),
        ])
    }
}

fn data(n: usize) -> (Array2<f32>, Array2<f32>) {
    let x = Array2::from_shape_fn((n, 3), |(i, j)| ((i * 7 + j * 3) % 11) as f32 / 11.0 - 0.5);
    let y = Array2::from_shape_fn((n, 1), |(i, _)| {
        2.0 * x[[i, 0]] - x[[i, 1]] + 0.5 * x[[i, 2]] + 0.1
    });
    (x, y)
}

#[test]
fn a_custom_step_trains_validates_and_logs_like_fit() {
    let (x, y) = data(96);
    let (vx, vy) = data(32);
    let mut step = regression(0.3);
    let batches = std::rc::Rc::new(std::cell::Cell::new(0usize));
    let counter = std::rc::Rc::clone(&batches);
    let mut count = LambdaCallback::new().on_train_batch_end(move |_, logs, _| {
        counter.set(counter.get() + 1);
        assert!(logs["loss"].is_finite());
        Ok(())
    });
    let history = fit_step(
        &mut step,
        (&x, &y),
        FitOptions::new()
            .epochs(40)
            .batch_size(16)
            .seed(1)
            .verbose(0)
            .validation_data(&vx, &vy)
            .callback(&mut count),
    )
    .unwrap();
    let (loss, val) = (
        history.get("loss").unwrap(),
        history.get("val_loss").unwrap(),
    );
    assert_eq!(loss.len(), 40);
    assert!(loss[39] < 0.05 * loss[0], "{loss:?}");
    assert!(val[39] < 0.05 * val[0], "{val:?}");
    // rmse is logged as the mean over the epoch's steps of each step's value.
    assert!(history.get("val_rmse").is_some());
    assert_eq!(
        step.optimizer.iterations,
        40 * 6,
        "96 rows in batches of 16"
    );
    assert_eq!(batches.get(), 40 * 6, "the batch hook saw every step");
    // The validation loss is the loss of the final model on the validation data.
    let p = step.model.predict(&vx, 32).unwrap();
    let mse: f32 = p
        .iter()
        .zip(vy.iter())
        .map(|(a, b)| (a - b) * (a - b))
        .sum::<f32>()
        / 32.0;
    assert!(
        (f64::from(mse) - val[39]).abs() < 1e-5,
        "{mse} vs {}",
        val[39]
    );
}

#[test]
fn callbacks_see_the_steps_model_and_can_stop_it() {
    let (x, y) = data(64);
    let mut step = regression(0.0);
    // Nothing trains (lr 0): EarlyStopping on val_loss stops after patience + 1 epochs.
    let mut stop = EarlyStopping::new().patience(2);
    let history = fit_step(
        &mut step,
        (&x, &y),
        FitOptions::new()
            .epochs(20)
            .verbose(0)
            .validation_split(0.25)
            .callback(&mut stop),
    )
    .unwrap();
    assert_eq!(history.get("loss").unwrap().len(), 3);
    assert_eq!(stop.stopped_epoch(), Some(2));
}

#[test]
fn bad_steps_and_data_are_errors_not_panics() {
    let (x, y) = data(32);
    // Validation without a test_step.
    let mut step = regression(0.1);
    step.validates = false;
    let err = fit_step(
        &mut step,
        (&x, &y),
        FitOptions::new().verbose(0).validation_split(0.5),
    )
    .map(|_| ())
    .unwrap_err();
    assert!(err.to_string().contains("does not validate"), "{err}");
    // A step that changes what it logs.
    let mut step = regression(0.1);
    step.rename_after = Some(1);
    let err = fit_step(
        &mut step,
        (&x, &y),
        FitOptions::new().verbose(0).batch_size(8),
    )
    .map(|_| ())
    .unwrap_err();
    assert!(err.to_string().contains("same names"), "{err}");
    // Arrays of different lengths.
    let (short, _) = data(31);
    let mut step = regression(0.1);
    let err = fit_step(&mut step, (&short, &y), FitOptions::new().verbose(0))
        .map(|_| ())
        .unwrap_err();
    assert!(err.to_string().contains("same number of samples"), "{err}");
    // Options that belong to the compiled fit.
    let w = ndarray::Array1::<f32>::ones(32);
    let mut step = regression(0.1);
    let err = fit_step(
        &mut step,
        (&x, &y),
        FitOptions::new().verbose(0).sample_weight(&w),
    )
    .map(|_| ())
    .unwrap_err();
    assert!(err.to_string().contains("fit_step"), "{err}");
}
