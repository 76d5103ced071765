//! Checking host data against the model and the loss, then moving it to the device.

use burn::tensor::{Device, Int, Tensor, TensorData};
use kiln_model::{DynTensor, HostData, Model, format_dims};

use crate::error::{Error, Result};
use crate::loss::{Loss, LossConfig, Targets};

/// Flattens `[batch, ..., features]` to `[rows, features]`.
pub(crate) fn rows_features(z: DynTensor) -> Tensor<2> {
    match z {
        DynTensor::R2(t) => t,
        DynTensor::R3(t) => t.flatten(0, 1),
        DynTensor::R4(t) => t.flatten(0, 2),
        DynTensor::R5(t) => t.flatten(0, 3),
    }
}

fn output_layer(model: &Model, output: usize) -> String {
    model
        .output_names()
        .get(output)
        .cloned()
        .unwrap_or_else(|| "output".to_string())
}

/// Checks `y` against the output shape and the loss, then moves it to the device as
/// `[rows, features]` floats or `[rows]` class ids.
pub(crate) fn targets(
    model: &Model,
    output: usize,
    loss: &LossConfig,
    what: &'static str,
    y: &HostData,
    device: &Device,
) -> Result<Targets> {
    let shapes = model.output_shapes();
    let out = &shapes[output.min(shapes.len().saturating_sub(1))];
    let units = out.last().unwrap_or(1);
    let n = y.len();
    let lead: Vec<usize> = out.dims()[..out.rank().saturating_sub(1)].to_vec();
    let rows = n * lead.iter().product::<usize>();
    let shape_error = |expected: String| Error::TargetShape {
        what,
        loss: loss.name().to_string(),
        layer: output_layer(model, output),
        expected,
        actual: format_dims(&y.dims),
    };
    if loss.loss == Loss::Ctc {
        // Label rows `[n, max_len]` of class ids, 0 the blank and the padding, against an
        // output of `[time, classes]` logits per sample.
        let sample = y.sample_dims();
        let (&[time, classes], &[max_len]) = (out.dims(), sample) else {
            return Err(shape_error(format!(
                "label rows of shape {} (class ids padded with 0) for an output of [time, \
                 classes] logits",
                format_dims(&[n, sample.last().copied().unwrap_or(1)])
            )));
        };
        for (index, &v) in y.values.iter().enumerate() {
            let id = v as i64;
            if v.fract() != 0.0 || id < 0 || id as usize >= classes {
                return Err(Error::LabelOutOfRange {
                    what,
                    label: if v.is_finite() { id } else { i64::MIN },
                    index,
                    num_classes: classes,
                    layer: output_layer(model, output),
                });
            }
        }
        if let Some(row) = y
            .values
            .chunks(max_len.max(1))
            .position(|r| r.iter().filter(|&&v| v != 0.0).count() > time)
        {
            return Err(Error::InvalidOption {
                option: what,
                reason: format!(
                    "sample {row} has more labels than the output's {time} time steps: no \
                     alignment exists"
                ),
            });
        }
        let labels =
            Tensor::<2>::from_data(TensorData::new(y.values.clone(), [n, max_len]), device);
        return Ok(Targets::Dense(labels));
    }
    if loss.loss == Loss::Circle {
        // One integer label per sample, any value (labels only say which rows go together).
        let sample = y.sample_dims();
        if !(lead.is_empty() && (sample.is_empty() || sample == [1])) {
            return Err(shape_error(format!(
                "one integer label per sample, shape {} (and an output of embeddings [d])",
                format_dims(&[n])
            )));
        }
        if let Some(index) = y
            .values
            .iter()
            .position(|v| v.fract() != 0.0 || !v.is_finite())
        {
            return Err(Error::LabelOutOfRange {
                what,
                label: i64::MIN,
                index,
                num_classes: 0,
                layer: output_layer(model, output),
            });
        }
        let labels = Tensor::<2>::from_data(TensorData::new(y.values.clone(), [n, 1]), device);
        return Ok(Targets::Dense(labels));
    }
    if loss.is_sparse() {
        let sample = y.sample_dims();
        let fits = sample == lead.as_slice()
            || (sample.len() == lead.len() + 1
                && sample.starts_with(&lead)
                && sample.last() == Some(&1));
        if !fits {
            let mut expected = vec![n];
            expected.extend(&lead);
            return Err(shape_error(format!(
                "integer class ids of shape {} (one per sample)",
                format_dims(&expected)
            )));
        }
        let mut ids = Vec::with_capacity(rows);
        for (index, &v) in y.values.iter().enumerate() {
            let id = v as i64;
            if v.fract() != 0.0 || id < 0 || id as usize >= units {
                return Err(Error::LabelOutOfRange {
                    what,
                    label: if v.is_finite() { id } else { i64::MIN },
                    index,
                    num_classes: units,
                    layer: output_layer(model, output),
                });
            }
            ids.push(id);
        }
        let ids = Tensor::<1, Int>::from_data(TensorData::new(ids, [rows]), device);
        return Ok(Targets::Sparse(ids));
    }
    let sample = y.sample_dims();
    let binary_vector =
        loss.loss == Loss::BinaryCrossentropy && out.dims() == [1] && sample.is_empty();
    if sample != out.dims() && !binary_vector {
        let hint = if y.integer && loss.loss == Loss::CategoricalCrossentropy {
            " (these look like class ids: use sparse_categorical_crossentropy, or one-hot \
             encode them with to_categorical)"
        } else {
            ""
        };
        return Err(shape_error(format!(
            "targets of shape {} to match its output {out}{hint}",
            format_dims(&out.with_batch(n))
        )));
    }
    let y = Tensor::<2>::from_data(TensorData::new(y.values.clone(), [rows, units]), device);
    Ok(Targets::Dense(y))
}

/// Keeps samples `range` of `data` (the first axis).
pub(crate) fn slice(data: &HostData, range: std::ops::Range<usize>) -> HostData {
    let per = data.sample_dims().iter().product::<usize>();
    let mut dims = data.dims.clone();
    dims[0] = range.len();
    HostData {
        dims,
        values: data.values[range.start * per..range.end * per].to_vec(),
        integer: data.integer,
    }
}
