//! `evaluate` and `predict` on a [`Dataset`] read batch by batch (Keras's
//! `model.evaluate(py_dataset)` and `model.predict(py_dataset)`).

use kiln_datasets::Dataset;
use ndarray::ArrayD;

use crate::batches::{BatchChecker, EvalBatches, predict_batches};
use crate::compiled::{CompiledModel, DEFAULT_BATCH_SIZE, Scores, evaluate_batches};
use crate::error::{Error, Result};

impl CompiledModel {
    /// The loss and metrics over every batch of `data` (Keras's `evaluate(py_dataset)`),
    /// averaged over samples; batches are loaded on the data set's workers.
    ///
    /// # Errors
    /// [`Error::Dataset`] when the data set fails to give a batch, [`Error::BadBatch`] when one
    /// does not fit the model, with the cause kept.
    ///
    /// # Examples
    /// ```
    /// use kiln_datasets::ArrayDataset;
    /// use kiln_model::{Dense, Input, Sequential};
    /// use kiln_train::Compile;
    ///
    /// let model = Sequential::new().add(Input::new([3])).add(Dense::new(1))
    ///     .build(&burn::tensor::Device::flex())?
    ///     .compile("sgd", "mse", ["mae"])?;
    /// let data = ArrayDataset::new(ndarray::Array2::<f32>::ones((10, 3)), ndarray::Array2::<f32>::zeros((10, 1)), 4);
    /// let scores = model.evaluate_dataset(&data)?;
    /// assert!(scores.contains_key("mae"));
    /// # Ok::<(), kiln_train::Error>(())
    /// ```
    pub fn evaluate_dataset(&self, data: &dyn Dataset) -> Result<Scores> {
        let model = self.model();
        let batches = EvalBatches::Dataset {
            data,
            checker: BatchChecker::new(self, None),
        };
        let values = evaluate_batches(
            &self.heads,
            &self.device,
            &model,
            &batches,
            DEFAULT_BATCH_SIZE,
            None,
        )?;
        Ok(self.named(&values, ""))
    }

    /// The model's (first) output for every batch of `data`, in order (Keras's
    /// `predict(py_dataset)`); targets in the batches are ignored.
    ///
    /// # Errors
    /// As [`evaluate_dataset`](CompiledModel::evaluate_dataset).
    pub fn predict_dataset(&self, data: &dyn Dataset) -> Result<ArrayD<f32>> {
        let mut outputs = self.predict_dataset_many(data)?;
        if outputs.is_empty() {
            return Err(Error::Readback("the model has no output".into()));
        }
        Ok(outputs.swap_remove(0))
    }

    /// Every output for every batch of `data`, one array per output.
    ///
    /// # Errors
    /// As [`evaluate_dataset`](CompiledModel::evaluate_dataset).
    pub fn predict_dataset_many(&self, data: &dyn Dataset) -> Result<Vec<ArrayD<f32>>> {
        predict_batches(&self.model(), data)
    }
}
