//! Where the batches of `fit`, `evaluate` and `predict` come from: in-memory arrays (gathered on
//! the device, or on the host for large sets), a [`Dataset`] read batch by batch (on worker
//! threads when it asks for them), or an iterator of batches (Keras generators).

use std::collections::BTreeMap;

use burn::tensor::{Device, Int, Tensor, TensorData};
use kiln_datasets::{Batch, BoxError, Dataset, load_batches};
use kiln_model::{ArrayInput, DynTensor, Model, Samples};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::compiled::{CompiledModel, check_counts};
use crate::error::{Error, Result};
use crate::fit::{check_weights, per_row_weights, row_indices, sample_weights};
use crate::loss::{LossConfig, Targets};
use crate::targets::targets;

/// One batch on the device: an input tensor per model input, targets per output, and the
/// sample weights repeated per target row of the (single) output.
pub(crate) struct DeviceBatch {
    pub(crate) xs: Vec<DynTensor>,
    pub(crate) ys: Vec<Targets>,
    pub(crate) weights: Option<Tensor<1>>,
    pub(crate) len: usize,
}

/// Checks batches from a data set against the model and its losses, and moves them to the
/// device.
#[derive(Clone)]
pub(crate) struct BatchChecker {
    model: Model,
    losses: Vec<LossConfig>,
    device: Device,
    class_weight: Option<BTreeMap<usize, f32>>,
}

impl BatchChecker {
    pub(crate) fn new(
        compiled: &CompiledModel,
        class_weight: Option<BTreeMap<usize, f32>>,
    ) -> Self {
        Self {
            model: compiled.model.clone(),
            losses: compiled.heads.iter().map(|h| h.loss.clone()).collect(),
            device: compiled.device.clone(),
            class_weight,
        }
    }

    /// Batch `index` on the device, targets included when `targets` is set.
    ///
    /// # Errors
    /// [`Error::BadBatch`] with the check that failed as its cause.
    pub(crate) fn to_device(
        &self,
        index: usize,
        batch: Batch,
        with_targets: bool,
    ) -> Result<DeviceBatch> {
        self.convert(batch, with_targets)
            .map_err(|e| Error::BadBatch {
                batch: index,
                source: Box::new(e),
            })
    }

    fn convert(&self, batch: Batch, with_targets: bool) -> Result<DeviceBatch> {
        let inputs = self.model.input_names();
        if batch.x.len() != inputs.len() {
            return Err(Error::InvalidOption {
                option: "x",
                reason: format!(
                    "the model has {} inputs ({}), the batch holds {} input arrays",
                    inputs.len(),
                    inputs.join(", "),
                    batch.x.len()
                ),
            });
        }
        let n = batch.len();
        if n == 0 {
            return Err(Error::InvalidOption {
                option: "x",
                reason: "the batch holds no samples".into(),
            });
        }
        let mut xs = Vec::with_capacity(batch.x.len());
        for (k, x) in batch.x.into_iter().enumerate() {
            check_counts(n, x.len(), "")?;
            let what = if inputs.len() == 1 {
                "x".to_string()
            } else {
                format!("x[{k}] ({})", inputs[k])
            };
            let x = self.model.prepare_input(k, &what, x)?;
            xs.push(DynTensor::from_host(
                x.shape(),
                x.to_f32_vec(),
                &self.device,
            )?);
        }
        if !with_targets {
            return Ok(DeviceBatch {
                xs,
                ys: Vec::new(),
                weights: None,
                len: n,
            });
        }
        let outputs = self.model.output_names();
        if batch.y.len() != self.losses.len() {
            return Err(Error::InvalidOption {
                option: "y",
                reason: format!(
                    "the model has {} outputs ({}), the batch holds {} target arrays",
                    outputs.len(),
                    outputs.join(", "),
                    batch.y.len()
                ),
            });
        }
        let ys_host: Vec<_> = batch.y.iter().map(ArrayInput::host_data).collect();
        let mut ys = Vec::with_capacity(ys_host.len());
        for (k, (y, loss)) in ys_host.iter().zip(&self.losses).enumerate() {
            if y.len() != n {
                return Err(Error::InvalidOption {
                    option: "y",
                    reason: format!("x has {n} samples but y has {}", y.len()),
                });
            }
            ys.push(targets(&self.model, k, loss, "y", y, &self.device)?);
        }
        let given = match &batch.sample_weight {
            Some(w) => {
                let values = w.to_f32_vec();
                check_weights(&values, "sample_weight")?;
                Some(values)
            }
            None => None,
        };
        if (given.is_some() || self.class_weight.is_some()) && ys.len() > 1 {
            return Err(Error::InvalidOption {
                option: "sample_weight",
                reason: "sample and class weights take a model of one output for now".into(),
            });
        }
        let weights = match ys_host.first() {
            Some(y) => sample_weights(given, self.class_weight.as_ref(), y)?,
            None => None,
        };
        let weights = weights.map(|w| per_row_weights(&w, ys[0].rows() / n, &self.device));
        Ok(DeviceBatch {
            xs,
            ys,
            weights,
            len: n,
        })
    }
}

/// Arrays already checked and on the device (or on the host for large inputs).
pub(crate) struct ArrayBatches {
    pub(crate) xs: Vec<Samples>,
    pub(crate) ys: Vec<Targets>,
    pub(crate) weights: Option<Tensor<1>>,
    /// Target rows per sample, per output.
    pub(crate) per: Vec<usize>,
    pub(crate) n: usize,
    pub(crate) batch_size: usize,
    pub(crate) shuffle: bool,
    pub(crate) rng: StdRng,
    /// With `steps_per_epoch`: the one shuffled pass all epochs take their batches from.
    pub(crate) one_pass: Option<Vec<i64>>,
    pub(crate) steps: usize,
    pub(crate) initial_epoch: usize,
    pub(crate) device: Device,
}

impl ArrayBatches {
    pub(crate) fn shuffled_order(&mut self) -> Vec<i64> {
        let mut order: Vec<i64> = (0..self.n as i64).collect();
        if self.shuffle {
            order.shuffle(&mut self.rng);
        }
        order
    }
}

/// The training batches of `fit`.
#[allow(clippy::large_enum_variant)] // one per fit call
pub(crate) enum TrainBatches<'d> {
    /// In-memory arrays.
    Arrays(ArrayBatches),
    /// A data set, batch by batch.
    Dataset {
        data: &'d mut dyn Dataset,
        checker: BatchChecker,
        shuffle: bool,
        rng: StdRng,
        steps: usize,
    },
    /// An iterator of batches, `steps` per epoch, continuing where the last epoch stopped.
    Iter {
        batches: &'d mut dyn Iterator<Item = std::result::Result<Batch, BoxError>>,
        checker: BatchChecker,
        steps: usize,
        taken: usize,
    },
}

impl TrainBatches<'_> {
    /// Batches per epoch.
    pub(crate) fn steps(&self) -> usize {
        match self {
            TrainBatches::Arrays(a) => a.steps,
            TrainBatches::Dataset { steps, .. } | TrainBatches::Iter { steps, .. } => *steps,
        }
    }

    /// Draws the shuffle an epoch skipped by a resumed run would have drawn.
    pub(crate) fn skip_epoch(&mut self) {
        match self {
            TrainBatches::Arrays(a) if a.one_pass.is_none() => {
                a.shuffled_order();
            }
            TrainBatches::Dataset {
                data,
                shuffle: true,
                rng,
                ..
            } => {
                let mut order: Vec<usize> = (0..data.len()).collect();
                order.shuffle(rng);
            }
            _ => {}
        }
    }

    /// Runs one epoch's batches through `step` (`step(index, batch)`, returning whether to go
    /// on); gives whether the data ran out before the epoch's steps were done.
    pub(crate) fn epoch(
        &mut self,
        epoch: usize,
        step: &mut dyn FnMut(usize, DeviceBatch) -> Result<bool>,
    ) -> Result<bool> {
        match self {
            TrainBatches::Arrays(a) => {
                let (order, first_step) = match &a.one_pass {
                    Some(order) => (order.clone(), (epoch - a.initial_epoch) * a.steps),
                    None => (a.shuffled_order(), 0),
                };
                let len = order.len();
                let device_order =
                    Tensor::<1, Int>::from_data(TensorData::new(order.clone(), [len]), &a.device);
                for s in 0..a.steps {
                    let start = (first_step + s) * a.batch_size;
                    let len = a.batch_size.min(a.n - start);
                    let idx = device_order.clone().narrow(0, start, len);
                    let xs =
                        a.xs.iter()
                            .map(|x| x.rows(&order[start..start + len], idx.clone()))
                            .collect::<std::result::Result<Vec<_>, _>>()?;
                    let rows: Vec<Tensor<1, Int>> = a
                        .per
                        .iter()
                        .map(|&per| {
                            if per == 1 {
                                idx.clone()
                            } else {
                                row_indices(idx.clone(), per)
                            }
                        })
                        .collect();
                    let ys =
                        a.ys.iter()
                            .zip(&rows)
                            .map(|(y, r)| y.select(r.clone()))
                            .collect();
                    let weights = match (&a.weights, rows.first()) {
                        (Some(w), Some(r)) => Some(w.clone().select(0, r.clone())),
                        _ => None,
                    };
                    let batch = DeviceBatch {
                        xs,
                        ys,
                        weights,
                        len,
                    };
                    if !step(s, batch)? {
                        break;
                    }
                }
                Ok(false)
            }
            TrainBatches::Dataset {
                data,
                checker,
                shuffle,
                rng,
                steps,
            } => {
                let mut order: Vec<usize> = (0..data.len()).collect();
                if *shuffle {
                    order.shuffle(rng);
                }
                order.truncate(*steps);
                load_batches(&**data, &order, |position, index, batch| {
                    let batch = batch.map_err(|source| Error::Dataset {
                        batch: index,
                        source,
                    })?;
                    step(position, checker.to_device(index, batch, true)?)
                })?;
                data.on_epoch_end();
                Ok(false)
            }
            TrainBatches::Iter {
                batches,
                checker,
                steps,
                taken,
            } => {
                for s in 0..*steps {
                    let Some(batch) = batches.next() else {
                        return Ok(true);
                    };
                    let index = *taken;
                    *taken += 1;
                    let batch = batch.map_err(|source| Error::Dataset {
                        batch: index,
                        source,
                    })?;
                    if !step(s, checker.to_device(index, batch, true)?)? {
                        break;
                    }
                }
                Ok(false)
            }
        }
    }
}

/// The batches of an evaluation pass (`evaluate`, validation in `fit`).
pub(crate) enum EvalBatches<'d> {
    /// Arrays on the device (or host), in order.
    Arrays {
        xs: Vec<Samples>,
        ys: Vec<Targets>,
        weights: Option<Tensor<1>>,
    },
    /// A data set's batches, in order.
    Dataset {
        data: &'d dyn Dataset,
        checker: BatchChecker,
    },
}

impl EvalBatches<'_> {
    /// Runs the batches through `each` (`each(index, batch)`, returning whether to go on);
    /// `batch_size` splits the arrays.
    pub(crate) fn each(
        &self,
        batch_size: usize,
        each: &mut dyn FnMut(usize, DeviceBatch) -> Result<bool>,
    ) -> Result<()> {
        match self {
            EvalBatches::Arrays { xs, ys, weights } => {
                let n = xs.first().map_or(0, Samples::len);
                let per: Vec<usize> = ys.iter().map(|y| y.rows() / n.max(1)).collect();
                for (batch, start) in (0..n).step_by(batch_size.max(1)).enumerate() {
                    let len = batch_size.min(n - start);
                    let inputs = xs
                        .iter()
                        .map(|x| x.range(start, len))
                        .collect::<std::result::Result<Vec<_>, _>>()?;
                    let targets = ys
                        .iter()
                        .zip(&per)
                        .map(|(y, &p)| y.narrow(start * p, len * p))
                        .collect();
                    let w = match (weights, per.first()) {
                        (Some(w), Some(&p)) => Some(w.clone().narrow(0, start * p, len * p)),
                        _ => None,
                    };
                    let b = DeviceBatch {
                        xs: inputs,
                        ys: targets,
                        weights: w,
                        len,
                    };
                    if !each(batch, b)? {
                        break;
                    }
                }
                Ok(())
            }
            EvalBatches::Dataset { data, checker } => {
                let order: Vec<usize> = (0..data.len()).collect();
                load_batches(*data, &order, |position, index, batch| {
                    let batch = batch.map_err(|source| Error::Dataset {
                        batch: index,
                        source,
                    })?;
                    each(position, checker.to_device(index, batch, true)?)
                })
            }
        }
    }
}

/// The model's outputs for every batch of `data`, one array per output (Keras's
/// `predict(dataset)`).
pub(crate) fn predict_batches(
    model: &Model,
    data: &dyn Dataset,
) -> Result<Vec<ndarray::ArrayD<f32>>> {
    let order: Vec<usize> = (0..data.len()).collect();
    let mut parts: Vec<Vec<ndarray::ArrayD<f32>>> = Vec::new();
    load_batches(data, &order, |_, index, batch| {
        let batch = batch.map_err(|source| Error::Dataset {
            batch: index,
            source,
        })?;
        let refs: Vec<&dyn ArrayInput> = batch.x.iter().map(|x| x as &dyn ArrayInput).collect();
        let n = batch.len().max(1);
        let outputs = model.predict_many(&refs, n).map_err(|e| Error::BadBatch {
            batch: index,
            source: Box::new(e.into()),
        })?;
        if parts.is_empty() {
            parts = vec![Vec::new(); outputs.len()];
        }
        for (k, out) in outputs.into_iter().enumerate() {
            if let Some(p) = parts.get_mut(k) {
                p.push(out);
            }
        }
        Ok::<bool, Error>(true)
    })?;
    if parts.is_empty() {
        // No batches: empty outputs of the model's shapes.
        return model
            .output_shapes()
            .iter()
            .map(|s| {
                ndarray::ArrayD::from_shape_vec(s.with_batch(0), Vec::new())
                    .map_err(|e| Error::Readback(e.to_string()))
            })
            .collect();
    }
    parts
        .iter()
        .map(|p| {
            let views: Vec<_> = p.iter().map(ndarray::ArrayBase::view).collect();
            ndarray::concatenate(ndarray::Axis(0), &views)
                .map_err(|e| Error::Readback(e.to_string()))
        })
        .collect()
}
