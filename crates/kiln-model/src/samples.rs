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
            Samples::Host { data, device } => {
                let per: usize = data.sample_dims().iter().product();
                let mut values = Vec::with_capacity(rows.len() * per);
                for &r in rows {
                    let start = r as usize * per;
                    values.extend_from_slice(&data.values[start..start + per]);
                }
                let mut dims = data.dims.clone();
                dims[0] = rows.len();
                DynTensor::from_host(&dims, values, device)
            }
        }
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
