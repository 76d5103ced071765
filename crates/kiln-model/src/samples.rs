//! Model inputs ready for batching: on the device when they fit in one device buffer, else on
//! the host, one batch uploaded at a time.

use std::sync::Arc;

use burn::tensor::{Device, Int, Tensor};

use crate::data::HostData;
use crate::error::Result;
use crate::tensor::DynTensor;

/// Data sets up to this many bytes (as `f32`) go to the device once and batches are gathered
/// there; larger ones stay on the host. GPUs cap one buffer (wgpu's default storage binding is
/// 128 MiB; full MNIST as `f32` is 188 MB), so the limit keeps well under that.
pub const DEVICE_DATA_LIMIT: usize = 64 << 20;

/// The samples of `fit`, `evaluate` or `predict`, `[n, ...]`.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // one per fit/evaluate/predict call
pub enum Samples {
    /// Uploaded once; batches are gathered on the device.
    Device(DynTensor),
    /// Kept on the host; each batch is gathered there and uploaded.
    Host {
        /// The values.
        data: Arc<HostData>,
        /// Where batches go.
        device: Device,
    },
}

impl Samples {
    /// Puts `data` on `device` when it is at most [`DEVICE_DATA_LIMIT`] bytes, else keeps it on
    /// the host for batch-by-batch uploads.
    ///
    /// # Errors
    /// [`crate::Error::InvalidModel`] for a rank the models cannot take.
    pub fn new(data: HostData, device: &Device) -> Result<Self> {
        Self::with_limit(data, device, DEVICE_DATA_LIMIT)
    }

    /// As [`Samples::new`] with another limit in bytes.
    ///
    /// # Errors
    /// As [`Samples::new`].
    pub fn with_limit(data: HostData, device: &Device, limit: usize) -> Result<Self> {
        if data.values.len() * std::mem::size_of::<f32>() <= limit {
            Ok(Samples::Device(DynTensor::from_host(
                &data.dims,
                data.values,
                device,
            )?))
        } else {
            // Checks the rank now, so batches cannot fail on it later.
            if !(2..=4).contains(&data.dims.len()) {
                return Err(crate::Error::InvalidModel(format!(
                    "inputs of rank {} (batch axis included) are not supported; use 2 to 4",
                    data.dims.len()
                )));
            }
            Ok(Samples::Host {
                data: Arc::new(data),
                device: device.clone(),
            })
        }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        match self {
            Samples::Device(t) => t.dims()[0],
            Samples::Host { data, .. } => data.len(),
        }
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The samples at `rows` (host indices), also given as a device tensor `indices` for the
    /// device-resident case.
    ///
    /// # Errors
    /// Only for a rank the models cannot take, which construction rules out.
    pub fn rows(&self, rows: &[i64], indices: Tensor<1, Int>) -> Result<DynTensor> {
        match self {
            Samples::Device(t) => Ok(t.clone().select_rows(indices)),
            Samples::Host { data, .. } => self.upload(HostBatch::gather(data, rows)?),
        }
    }

    /// The host values, when the samples live on the host (batches are then gathered there,
    /// which [`HostBatch::gather`] can do on another thread, ahead of the step that needs them).
    pub fn on_host(&self) -> Option<&Arc<HostData>> {
        match self {
            Samples::Device(_) => None,
            Samples::Host { data, .. } => Some(data),
        }
    }

    /// Sends a batch gathered on the host to the device of host-resident samples (for
    /// device-resident samples, to the device of the samples).
    ///
    /// # Errors
    /// [`crate::Error::InvalidModel`] when the batch's values do not fill its shape or its rank
    /// is not 2 to 4.
    pub fn upload(&self, batch: HostBatch) -> Result<DynTensor> {
        let device = match self {
            Samples::Device(t) => t.device(),
            Samples::Host { device, .. } => device.clone(),
        };
        DynTensor::from_host(&batch.dims, batch.values, &device)
    }

    /// The samples `start..start + len`.
    ///
    /// # Errors
    /// As [`Samples::rows`].
    pub fn range(&self, start: usize, len: usize) -> Result<DynTensor> {
        match self {
            Samples::Device(t) => Ok(t.clone().narrow_rows(start, len)),
            Samples::Host { data, device } => {
                let per: usize = data.sample_dims().iter().product();
                let values = data.values[start * per..(start + len) * per].to_vec();
                let mut dims = data.dims.clone();
                dims[0] = len;
                DynTensor::from_host(&dims, values, device)
            }
        }
    }
}

/// Samples gathered on the host for one batch, not yet on a device.
#[derive(Debug, Clone, PartialEq)]
pub struct HostBatch {
    dims: Vec<usize>,
    values: Vec<f32>,
}

impl HostBatch {
    /// The samples at `rows` of `data`, in that order. Pure host work (no device, no tensor),
    /// so a helper thread can prepare the next batch while the current step runs.
    ///
    /// # Errors
    /// [`crate::Error::InvalidModel`] for a row that `data` does not have.
    pub fn gather(data: &HostData, rows: &[i64]) -> Result<Self> {
        let per: usize = data.sample_dims().iter().product();
        let mut values = Vec::with_capacity(rows.len() * per);
        for &r in rows {
            let row = usize::try_from(r)
                .ok()
                .and_then(|r| data.values.get(r * per..(r + 1) * per))
                .ok_or_else(|| {
                    crate::Error::InvalidModel(format!(
                        "sample {r} asked for, but there are {}",
                        data.len()
                    ))
                })?;
            values.extend_from_slice(row);
        }
        let mut dims = data.dims.clone();
        if let Some(first) = dims.first_mut() {
            *first = rows.len();
        }
        Ok(HostBatch { dims, values })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.dims.first().copied().unwrap_or(0)
    }

    /// Whether the batch has no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> HostData {
        HostData {
            dims: vec![4, 2, 3],
            values: (0..24).map(|v| v as f32).collect(),
            integer: false,
        }
    }

    #[test]
    fn gather_takes_the_rows_in_the_order_given() {
        let batch = HostBatch::gather(&data(), &[3, 0, 2]).unwrap();
        assert_eq!(batch.dims, vec![3, 2, 3]);
        let expected: Vec<f32> = [18..24, 0..6, 12..18]
            .into_iter()
            .flatten()
            .map(|v| v as f32)
            .collect();
        assert_eq!(batch.values, expected);
        assert_eq!(batch.len(), 3);
    }

    #[test]
    fn gather_names_a_row_the_data_lacks() {
        for bad in [4, -1] {
            let err = HostBatch::gather(&data(), &[1, bad])
                .unwrap_err()
                .to_string();
            assert!(err.contains(&format!("sample {bad}")), "{err}");
            assert!(err.contains("there are 4"), "{err}");
        }
    }

    #[test]
    fn upload_of_a_gathered_batch_equals_rows() {
        let device = Device::flex();
        let samples = Samples::with_limit(data(), &device, 0).unwrap();
        assert!(samples.on_host().is_some());
        let indices = Tensor::<1, Int>::from_data([2, 1], &device);
        let direct = samples.rows(&[2, 1], indices).unwrap();
        let data = samples.on_host().unwrap().clone();
        let uploaded = samples
            .upload(HostBatch::gather(&data, &[2, 1]).unwrap())
            .unwrap();
        let (dims, values) = uploaded.to_host().unwrap();
        assert_eq!(direct.to_host().unwrap(), (dims.clone(), values.clone()));
        assert_eq!(dims, vec![2, 2, 3]);
        assert_eq!(values[0], 12.0);
    }
}
