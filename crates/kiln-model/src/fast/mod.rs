//! Fast paths for the flex CPU backend: Keras-layout kernels written as burn autodiff
//! operations (forward and backward), the same way burn writes its own (`burn_autodiff`'s
//! public `Backward` API).
//!
//! burn's `conv2d` wants NCHW while Keras's layers are NHWC, so the portable path permutes
//! every image batch in and out of each convolution; and burn-flex's convolution converts
//! to channels-last internally. Here the work runs in Keras's layout end to end: `im2col` of
//! whole channel rows, one matrix product (burn-flex's, the `gemm` crate), bias and ReLU
//! in the same pass, and a backward pass that reuses the forward's patches.
//!
//! Each fast path gives its inputs back untouched when it does not apply (another backend, a
//! dtype other than `f32`, an option it does not cover); the caller then takes the portable
//! path, which the tests compare it with.

mod allocator;
pub(crate) mod conv2d;
pub(crate) mod max_pool2d;

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::strategy::{
    BalancedCheckpointing, CheckpointStrategy, NoCheckpointing,
};
use burn::backend::autodiff::ops::{Backward, OpsKind};
use burn::backend::flex::{Flex, FlexTensor};
use burn::backend::{
    BackendTensor, DispatchAutodiffContext, DispatchTensor, DispatchTensorKind,
    GradientCheckpointingStrategy,
};
use burn::tensor::{DType, Tensor};

/// A flex tensor inside autodiff's graph (tracked or a constant).
pub(crate) type Tracked = <Autodiff<Flex> as burn::backend::BackendTypes>::FloatTensorPrimitive;

/// A float tensor of the flex backend, with or without autodiff.
pub(crate) enum Lifted {
    /// Plain (inference, or data outside the graph).
    Plain(FlexTensor),
    /// In autodiff's graph, with the context's checkpointing strategy.
    Graph(Tracked, GradientCheckpointingStrategy),
}

impl Lifted {
    /// The flex tensor, `None` for another backend or a dtype other than `f32`.
    pub(crate) fn of<const D: usize>(t: &Tensor<D>) -> Option<Self> {
        let lifted = match t.clone().into_dispatch() {
            DispatchTensor {
                kind: DispatchTensorKind::Flex(BackendTensor::Float(t)),
                ..
            } => Lifted::Plain(t),
            DispatchTensor {
                kind: DispatchTensorKind::Autodiff(inner),
                autodiff: DispatchAutodiffContext::Enabled(strategy),
            } => match *inner {
                DispatchTensorKind::Flex(BackendTensor::Autodiff(t)) => Lifted::Graph(t, strategy),
                _ => return None,
            },
            _ => return None,
        };
        if lifted.dtype() != DType::F32 {
            return None;
        }
        allocator::keep_freed_memory();
        Some(lifted)
    }

    fn dtype(&self) -> DType {
        match self {
            Lifted::Plain(t) => t.dtype(),
            Lifted::Graph(t, _) => t.primitive().dtype(),
        }
    }

    /// The values (no graph).
    pub(crate) fn primitive(&self) -> FlexTensor {
        match self {
            Lifted::Plain(t) => t.clone(),
            Lifted::Graph(t, _) => t.primitive().clone(),
        }
    }

    /// The graph's strategy, when the tensor is in a graph.
    pub(crate) fn strategy(&self) -> Option<GradientCheckpointingStrategy> {
        match self {
            Lifted::Plain(_) => None,
            Lifted::Graph(_, s) => Some(*s),
        }
    }

    /// As a node of autodiff's graph (a constant for a plain tensor).
    pub(crate) fn into_graph(self) -> Tracked {
        match self {
            Lifted::Plain(t) => Tracked::new(t),
            Lifted::Graph(t, _) => t,
        }
    }
}

/// Keeps freed memory mapped (see [`allocator`]) when `device` is the flex backend's: called
/// where data is sent to a device, so a model that takes no fast path (an MLP) gets it too.
pub(crate) fn on_flex(device: &burn::tensor::Device) {
    if matches!(
        device.clone().inner().as_dispatch(),
        burn::backend::DispatchDevice::Flex(_)
    ) {
        allocator::keep_freed_memory();
    }
}

/// A plain flex tensor as a burn tensor.
pub(crate) fn plain<const D: usize>(t: FlexTensor) -> Tensor<D> {
    Tensor::from_dispatch(DispatchTensor {
        kind: DispatchTensorKind::Flex(BackendTensor::Float(t)),
        autodiff: DispatchAutodiffContext::Disabled,
    })
}

/// A node of autodiff's graph as a burn tensor.
pub(crate) fn in_graph<const D: usize>(
    t: Tracked,
    strategy: GradientCheckpointingStrategy,
) -> Tensor<D> {
    Tensor::from_dispatch(DispatchTensor {
        kind: DispatchTensorKind::Autodiff(Box::new(DispatchTensorKind::Flex(
            BackendTensor::Autodiff(t),
        ))),
        autodiff: DispatchAutodiffContext::Enabled(strategy),
    })
}

/// Records `op` (its output `y`, the backward's `state`) in autodiff's graph under
/// `parents`, with the context's checkpointing strategy.
pub(crate) fn record<O, const N: usize, const D: usize>(
    op: O,
    parents: [Tracked; N],
    state: O::State,
    y: FlexTensor,
    strategy: GradientCheckpointingStrategy,
) -> Tensor<D>
where
    O: Backward<Flex, N>,
{
    fn go<C: CheckpointStrategy, O: Backward<Flex, N>, const N: usize>(
        op: O,
        parents: &[Tracked; N],
        state: O::State,
        y: FlexTensor,
    ) -> Tracked {
        match op
            .prepare::<C>(parents.each_ref().map(Tracked::node))
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(state, y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }
    let out = match strategy {
        GradientCheckpointingStrategy::Disabled => {
            go::<NoCheckpointing, O, N>(op, &parents, state, y)
        }
        GradientCheckpointingStrategy::Balanced => {
            go::<BalancedCheckpointing, O, N>(op, &parents, state, y)
        }
    };
    in_graph(out, strategy)
}

/// The `f32` values of a flex tensor in row-major order (copied only when it is not already
/// contiguous).
pub(crate) fn values(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(
            t.to_contiguous()
                .as_slice::<f32>()
                .unwrap_or_default()
                .to_vec(),
        ),
    }
}

/// A contiguous flex tensor of `values` with `shape`.
pub(crate) fn from_values(values: Vec<f32>, shape: &[usize]) -> FlexTensor {
    FlexTensor::from_data(burn::tensor::TensorData::new(values, shape.to_vec()))
}

/// Runs `kernel` compiled for the widest vector instructions this CPU has (AVX2, AVX-512, ...),
/// chosen at run time, so its loops are vectorized wider than the portable baseline (SSE2).
pub(crate) fn simd<R>(kernel: impl FnOnce() -> R) -> R {
    struct Op<F>(F);
    impl<R, F: FnOnce() -> R> pulp::WithSimd for Op<F> {
        type Output = R;
        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, _: S) -> R {
            (self.0)()
        }
    }
    pulp::Arch::new().dispatch(Op(kernel))
}
