//! Model inputs ready for batching: on the device when they fit in one device buffer, else on
//! the host in their own element type, one batch converted and uploaded at a time.

use std::sync::Arc;

use burn::tensor::{Device, Int, Tensor};
use kiln_datasets::HostArray;

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
    /// Kept on the host in its own element type; each batch is gathered there, converted to
    /// `f32` and uploaded.
    Host {
        /// The values.
        data: Arc<HostArray>,
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
            return Ok(Samples::Device(DynTensor::from_host(
                &data.dims,
                data.values,
                device,
            )?));
        }
        let array = ndarray::ArrayD::from_shape_vec(data.dims, data.values)
            .map_err(|e| crate::Error::InvalidModel(format!("inconsistent host data: {e}")))?;
        Self::array_with_limit(HostArray::F32(array), device, limit)
    }

    /// As [`Samples::new`] for an array in its own element type: what stays on the host stays
    /// in that type (`u8` images take a quarter of their `f32` size) and each batch is
    /// converted when it is taken.
    ///
    /// # Errors
    /// As [`Samples::new`].
    pub fn from_array(data: HostArray, device: &Device) -> Result<Self> {
        Self::array_with_limit(data, device, DEVICE_DATA_LIMIT)
    }

    /// As [`Samples::from_array`] with another limit in bytes.
    ///
    /// # Errors
    /// As [`Samples::new`].
    pub fn array_with_limit(data: HostArray, device: &Device, limit: usize) -> Result<Self> {
        // Data on its way to the CPU backend: large buffers follow (see `fast::allocator`).
        #[cfg(feature = "flex")]
        crate::fast::on_flex(device);
        let values: usize = data.shape().iter().product();
        if values.saturating_mul(std::mem::size_of::<f32>()) <= limit {
            let dims = data.shape().to_vec();
            return Ok(Samples::Device(DynTensor::from_host(
                &dims,
                data.into_f32_vec(),
                device,
            )?));
        }
        // Checks the rank now, so batches cannot fail on it later.
        if !(2..=5).contains(&data.shape().len()) {
            return Err(crate::Error::InvalidModel(format!(
                "inputs of rank {} (batch axis included) are not supported; use 2 to 5",
                data.shape().len()
            )));
        }
        Ok(Samples::Host {
            data: Arc::new(data),
            device: device.clone(),
        })
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
                let rows: Vec<usize> = rows.iter().map(|&r| r as usize).collect();
                let mut dims = data.shape().to_vec();
                dims[0] = rows.len();
                DynTensor::from_host(&dims, data.rows_f32(&rows), device)
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
                let end = (start + len).min(data.len());
                let rows: Vec<usize> = (start.min(end)..end).collect();
                let mut dims = data.shape().to_vec();
                dims[0] = rows.len();
                DynTensor::from_host(&dims, data.rows_f32(&rows), device)
            }
        }
    }
}
