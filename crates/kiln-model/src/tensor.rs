//! The tensor that flows between layers: a burn tensor tagged with its rank at run time.

use burn::tensor::{Device, Tensor, TensorData};

use crate::error::{Error, Result};

/// A batch of activations, `[batch, ...]`, of rank 2 to 5, tagged with its rank at run time.
///
/// `Sequential` is built at run time, so the rank of what flows between its layers is known only
/// then; shape inference in `build` guarantees that every layer receives the rank it handles.
#[derive(Debug, Clone)]
pub enum DynTensor {
    /// `[batch, features]`.
    R2(Tensor<2>),
    /// `[batch, steps, features]`.
    R3(Tensor<3>),
    /// `[batch, height, width, channels]`.
    R4(Tensor<4>),
    /// `[batch, depth, height, width, channels]` (volumes, video).
    R5(Tensor<5>),
}

/// The highest rank, batch axis included, that flows between layers.
pub const MAX_RANK: usize = 5;

/// Applies the same expression to whichever rank the tensor has, keeping the rank.
#[macro_export]
#[doc(hidden)]
macro_rules! dyn_map {
    ($value:expr, $t:ident => $body:expr) => {
        match $value {
            $crate::DynTensor::R2($t) => $crate::DynTensor::R2($body),
            $crate::DynTensor::R3($t) => $crate::DynTensor::R3($body),
            $crate::DynTensor::R4($t) => $crate::DynTensor::R4($body),
            $crate::DynTensor::R5($t) => $crate::DynTensor::R5($body),
        }
    };
}

/// As [`dyn_map!`], for an expression that may fail (`?` inside the body returns early).
#[macro_export]
#[doc(hidden)]
macro_rules! dyn_try_map {
    ($value:expr, $t:ident => $body:expr) => {
        match $value {
            $crate::DynTensor::R2($t) => $crate::DynTensor::R2($body),
            $crate::DynTensor::R3($t) => $crate::DynTensor::R3($body),
            $crate::DynTensor::R4($t) => $crate::DynTensor::R4($body),
            $crate::DynTensor::R5($t) => $crate::DynTensor::R5($body),
        }
    };
}

/// Several tensors of one rank, as merge layers take them.
#[derive(Debug, Clone)]
pub enum DynTensors {
    /// Rank 2.
    R2(Vec<Tensor<2>>),
    /// Rank 3.
    R3(Vec<Tensor<3>>),
    /// Rank 4.
    R4(Vec<Tensor<4>>),
    /// Rank 5.
    R5(Vec<Tensor<5>>),
}

/// Applies the same expression to a [`DynTensors`] of whichever rank, giving a [`DynTensor`] of
/// that rank.
#[macro_export]
#[doc(hidden)]
macro_rules! dyn_group_map {
    ($value:expr, $v:ident => $body:expr) => {
        match $value {
            $crate::DynTensors::R2($v) => $crate::DynTensor::R2($body),
            $crate::DynTensors::R3($v) => $crate::DynTensor::R3($body),
            $crate::DynTensors::R4($v) => $crate::DynTensor::R4($body),
            $crate::DynTensors::R5($v) => $crate::DynTensor::R5($body),
        }
    };
}

impl DynTensors {
    /// Groups tensors of one rank.
    ///
    /// # Errors
    /// When there are none, or their ranks differ.
    pub fn group(tensors: Vec<DynTensor>) -> std::result::Result<Self, String> {
        fn all<const D: usize>(
            tensors: Vec<DynTensor>,
            pick: fn(DynTensor) -> Option<Tensor<D>>,
        ) -> std::result::Result<Vec<Tensor<D>>, String> {
            tensors
                .into_iter()
                .map(|t| {
                    let rank = t.rank();
                    pick(t).ok_or_else(|| {
                        format!("inputs must have one rank, got ranks {D} and {rank}")
                    })
                })
                .collect()
        }
        let Some(first) = tensors.first() else {
            return Err("no inputs".into());
        };
        Ok(match first.rank() {
            2 => DynTensors::R2(all(tensors, |t| match t {
                DynTensor::R2(t) => Some(t),
                _ => None,
            })?),
            3 => DynTensors::R3(all(tensors, |t| match t {
                DynTensor::R3(t) => Some(t),
                _ => None,
            })?),
            4 => DynTensors::R4(all(tensors, |t| match t {
                DynTensor::R4(t) => Some(t),
                _ => None,
            })?),
            _ => DynTensors::R5(all(tensors, |t| match t {
                DynTensor::R5(t) => Some(t),
                _ => None,
            })?),
        })
    }
}

impl DynTensor {
    /// Creates a tensor from host values (row-major) with `dims` including the batch axis.
    ///
    /// # Errors
    /// [`Error::InvalidModel`] when the rank is not 2 to 4 or the sizes disagree.
    pub fn from_host(dims: &[usize], values: Vec<f32>, device: &Device) -> Result<Self> {
        if dims.iter().product::<usize>() != values.len() {
            return Err(Error::InvalidModel(format!(
                "{} values do not fill shape {dims:?}",
                values.len()
            )));
        }
        let data = TensorData::new(values, dims.to_vec());
        Ok(match dims.len() {
            2 => DynTensor::R2(Tensor::from_data(data, device)),
            3 => DynTensor::R3(Tensor::from_data(data, device)),
            4 => DynTensor::R4(Tensor::from_data(data, device)),
            5 => DynTensor::R5(Tensor::from_data(data, device)),
            r => {
                return Err(Error::InvalidModel(format!(
                    "inputs of rank {r} (batch axis included) are not supported; use 2 to 5"
                )));
            }
        })
    }

    /// The full shape, batch axis included.
    pub fn dims(&self) -> Vec<usize> {
        match self {
            DynTensor::R2(t) => t.dims().to_vec(),
            DynTensor::R3(t) => t.dims().to_vec(),
            DynTensor::R4(t) => t.dims().to_vec(),
            DynTensor::R5(t) => t.dims().to_vec(),
        }
    }

    /// The number of axes, batch included.
    pub fn rank(&self) -> usize {
        match self {
            DynTensor::R2(_) => 2,
            DynTensor::R3(_) => 3,
            DynTensor::R4(_) => 4,
            DynTensor::R5(_) => 5,
        }
    }

    /// The device the tensor lives on.
    pub fn device(&self) -> Device {
        match self {
            DynTensor::R2(t) => t.device(),
            DynTensor::R3(t) => t.device(),
            DynTensor::R4(t) => t.device(),
            DynTensor::R5(t) => t.device(),
        }
    }

    /// Reshapes to `dims` (batch axis included; the rank may change).
    ///
    /// # Errors
    /// [`Error::InvalidModel`] for an unsupported rank.
    pub fn reshape(self, dims: &[usize]) -> Result<Self> {
        Ok(match dims.len() {
            2 => DynTensor::R2(self.reshape_to::<2>(dims)),
            3 => DynTensor::R3(self.reshape_to::<3>(dims)),
            4 => DynTensor::R4(self.reshape_to::<4>(dims)),
            5 => DynTensor::R5(self.reshape_to::<5>(dims)),
            r => {
                return Err(Error::InvalidModel(format!(
                    "tensors of rank {r} are not supported; use 2 to 5"
                )));
            }
        })
    }

    fn reshape_to<const D2: usize>(self, dims: &[usize]) -> Tensor<D2> {
        let mut shape = [0usize; D2];
        shape.copy_from_slice(&dims[..D2]);
        match self {
            DynTensor::R2(t) => t.reshape(shape),
            DynTensor::R3(t) => t.reshape(shape),
            DynTensor::R4(t) => t.reshape(shape),
            DynTensor::R5(t) => t.reshape(shape),
        }
    }

    /// Collapses every axis after the batch axis: `[batch, prod(rest)]`.
    pub fn flatten(self) -> Tensor<2> {
        match self {
            DynTensor::R2(t) => t,
            DynTensor::R3(t) => t.flatten(1, 2),
            DynTensor::R4(t) => t.flatten(1, 3),
            DynTensor::R5(t) => t.flatten(1, 4),
        }
    }

    /// Detaches from the autodiff graph.
    pub fn detach(self) -> Self {
        dyn_map!(self, t => t.detach())
    }

    /// The rows `start..start + len` of the batch axis.
    pub fn narrow_rows(self, start: usize, len: usize) -> Self {
        dyn_map!(self, t => t.narrow(0, start, len))
    }

    /// Selects rows of the batch axis by index (on the device).
    pub fn select_rows(self, indices: Tensor<1, burn::tensor::Int>) -> Self {
        dyn_map!(self, t => t.select(0, indices))
    }

    /// Moves the tensor to `device`.
    pub fn to_device(self, device: &Device) -> Self {
        dyn_map!(self, t => t.to_device(device))
    }

    /// Reads the values back to the host, row-major, with their shape.
    ///
    /// # Errors
    /// [`Error::Readback`] when the device cannot return the data.
    pub fn to_host(self) -> Result<(Vec<usize>, Vec<f32>)> {
        let dims = self.dims();
        let data = match self {
            DynTensor::R2(t) => t.try_into_data(),
            DynTensor::R3(t) => t.try_into_data(),
            DynTensor::R4(t) => t.try_into_data(),
            DynTensor::R5(t) => t.try_into_data(),
        }
        .map_err(|e| Error::Readback(e.to_string()))?;
        let values = data
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| Error::Readback(format!("{e:?}")))?;
        Ok((dims, values))
    }
}
