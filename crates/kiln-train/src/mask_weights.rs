//! Keras's `apply_mask`: an output's step mask (from `Masking` or `Embedding(mask_zero)`, kept
//! to the output) as row weights of its loss and of its metrics.

use burn::tensor::Tensor;
use kiln_model::Mask;

use crate::loss::Reduction;

/// The row weights `[batch·steps]` of an output's loss and of its metrics, given the sample
/// weights of its rows and its mask. As Keras: masked rows weigh 0; for the loss reductions
/// that divide by the rows (`sum_over_batch_size`, Keras's default) the real rows weigh
/// `rows / real rows` (0 when no row is real), so the loss is the mean over the real rows; the
/// metrics take the mask as it is (their mean is over the real rows).
pub(crate) fn masked_row_weights(
    weights: Option<Tensor<1>>,
    mask: Option<Mask>,
    reduction: Reduction,
) -> (Option<Tensor<1>>, Option<Tensor<1>>) {
    let Some(mask) = mask else {
        return (weights.clone(), weights);
    };
    let [b, t] = mask.dims();
    let rows = mask.reshape([b * t]);
    let metric = match &weights {
        Some(w) => w.clone() * rows.clone(),
        None => rows.clone(),
    };
    let loss_mask = if reduction == Reduction::SumOverBatchSize {
        let valid = rows.clone().sum();
        // Keras's divide_no_nan(total, valid).
        let none = valid.clone().equal_elem(0.0).float();
        let scale = (valid + none.clone()).recip() * (b * t) as f32 * (none.neg() + 1.0);
        rows * scale
    } else {
        rows
    };
    let loss = match weights {
        Some(w) => w * loss_mask,
        None => loss_mask,
    };
    (Some(loss), Some(metric))
}
