//! Helpers that prepare host arrays for training, named as in Keras where Keras has them.

use ndarray::{Array, Array2, ArrayView1, Axis, Dimension, RemoveAxis};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::error::{Error, Result};

/// One-hot encodes integer class labels, as `keras.utils.to_categorical`.
///
/// `num_classes` defaults to `max(label) + 1`.
///
/// # Errors
/// [`Error::LabelOutOfRange`] when a label is `>= num_classes`.
///
/// # Examples
/// ```
/// use ndarray::array;
/// let y = kiln_datasets::to_categorical(array![0u8, 2, 1].view(), Some(3))?;
/// assert_eq!(y, array![[1.0f32, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]);
/// # Ok::<(), kiln_datasets::Error>(())
/// ```
pub fn to_categorical<T>(
    labels: ArrayView1<'_, T>,
    num_classes: Option<usize>,
) -> Result<Array2<f32>>
where
    T: Copy + Into<u64>,
{
    let as_usize = |v: T| usize::try_from(v.into()).unwrap_or(usize::MAX);
    let num_classes = match num_classes {
        Some(n) => n,
        None => labels
            .iter()
            .map(|&v| as_usize(v))
            .max()
            .map_or(0, |m| m.saturating_add(1)),
    };
    let mut out = Array2::<f32>::zeros((labels.len(), num_classes));
    for (index, &label) in labels.iter().enumerate() {
        let label = as_usize(label);
        if label >= num_classes {
            return Err(Error::LabelOutOfRange {
                label,
                index,
                num_classes,
            });
        }
        out[[index, label]] = 1.0;
    }
    Ok(out)
}

/// Scales `u8` pixels to `f32` in `[0, 1]` (divides by 255), the `x / 255.0` of every Keras
/// tutorial. (Keras's `keras.utils.normalize` is [`normalize`], an L2 normalization.)
///
/// # Examples
/// ```
/// use ndarray::array;
/// let x = kiln_datasets::scale_pixels(&array![[0u8, 255], [51, 102]]);
/// assert_eq!(x, array![[0.0f32, 1.0], [0.2, 0.4]]);
/// ```
pub fn scale_pixels<D: Dimension>(images: &Array<u8, D>) -> Array<f32, D> {
    images.mapv(|p| f32::from(p) / 255.0)
}

/// Divides each vector along `axis` by its `order`-norm (Keras's `keras.utils.normalize(x,
/// axis=-1, order=2)`, NumPy's `np.linalg.norm`): `order` is any `p > 0` (2 is L2, 1 is L1) or
/// `f64::INFINITY` (the largest magnitude). Vectors of norm 0 are left as they are, as Keras
/// does. A negative `axis` counts from the last.
///
/// # Errors
/// [`Error::InvalidArgument`] for an axis the array does not have or an order that is not a
/// positive number.
///
/// # Examples
/// ```
/// use ndarray::array;
/// let x = kiln_datasets::normalize(&array![[3.0f32, 4.0], [0.0, 0.0]], -1, 2.0)?;
/// assert_eq!(x, array![[0.6f32, 0.8], [0.0, 0.0]]);
/// # Ok::<(), kiln_datasets::Error>(())
/// ```
pub fn normalize<D: Dimension + ndarray::RemoveAxis>(
    x: &Array<f32, D>,
    axis: isize,
    order: f64,
) -> Result<Array<f32, D>> {
    let rank = x.ndim() as isize;
    let index = if axis < 0 { axis + rank } else { axis };
    if !(0..rank).contains(&index) {
        return Err(Error::InvalidArgument {
            name: "axis",
            reason: format!("{axis} is out of range for an array of rank {rank}"),
        });
    }
    if order.is_nan() || order <= 0.0 {
        return Err(Error::InvalidArgument {
            name: "order",
            reason: format!("must be a positive number or infinity, got {order}"),
        });
    }
    let mut out = x.clone();
    for mut lane in out.lanes_mut(ndarray::Axis(index as usize)) {
        let norm = if order.is_infinite() {
            lane.iter().fold(0.0f64, |m, v| m.max(f64::from(v.abs())))
        } else if order == 2.0 {
            lane.iter()
                .map(|v| f64::from(*v).powi(2))
                .sum::<f64>()
                .sqrt()
        } else {
            lane.iter()
                .map(|v| f64::from(v.abs()).powf(order))
                .sum::<f64>()
                .powf(1.0 / order)
        };
        if norm != 0.0 {
            lane.mapv_inplace(|v| (f64::from(v) / norm) as f32);
        }
    }
    Ok(out)
}

/// Two arrays split along their first axis: `((x_train, y_train), (x_test, y_test))`.
pub type TrainTest<A, B, DA, DB> = ((Array<A, DA>, Array<B, DB>), (Array<A, DA>, Array<B, DB>));

/// Shuffles samples with a seeded generator and splits off `test_size` of them, like
/// scikit-learn's `train_test_split(x, y, test_size=.., random_state=seed)`.
///
/// The test part has `ceil(n * test_size)` samples.
///
/// # Errors
/// [`Error::InvalidArgument`] when `test_size` is not in `(0, 1)` or `x` and `y` differ in
/// length.
///
/// # Examples
/// ```
/// use ndarray::{Array1, Array2};
/// let x = Array2::<f32>::zeros((10, 3));
/// let y = Array1::<u8>::zeros(10);
/// let ((x_tr, y_tr), (x_te, y_te)) = kiln_datasets::train_test_split(&x, &y, 0.2, 42)?;
/// assert_eq!((x_tr.nrows(), y_tr.len(), x_te.nrows(), y_te.len()), (8, 8, 2, 2));
/// # Ok::<(), kiln_datasets::Error>(())
/// ```
pub fn train_test_split<A, B, DA, DB>(
    x: &Array<A, DA>,
    y: &Array<B, DB>,
    test_size: f64,
    seed: u64,
) -> Result<TrainTest<A, B, DA, DB>>
where
    A: Clone,
    B: Clone,
    DA: Dimension + RemoveAxis,
    DB: Dimension + RemoveAxis,
{
    if !(test_size > 0.0 && test_size < 1.0) {
        return Err(Error::InvalidArgument {
            name: "test_size",
            reason: format!("must be in (0, 1), got {test_size}"),
        });
    }
    let n = x.len_of(Axis(0));
    if y.len_of(Axis(0)) != n {
        return Err(Error::InvalidArgument {
            name: "y",
            reason: format!("has {} samples but x has {n}", y.len_of(Axis(0))),
        });
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut StdRng::seed_from_u64(seed));
    let n_test = ((n as f64) * test_size).ceil() as usize;
    let (test, train) = order.split_at(n_test.min(n));
    Ok((
        (x.select(Axis(0), train), y.select(Axis(0), train)),
        (x.select(Axis(0), test), y.select(Axis(0), test)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn to_categorical_infers_the_class_count() {
        let y = to_categorical(array![3u8, 0].view(), None).unwrap();
        assert_eq!(y.shape(), &[2, 4]);
        assert_eq!(y[[0, 3]], 1.0);
    }

    #[test]
    fn to_categorical_rejects_a_label_out_of_range() {
        let err = to_categorical(array![1u8, 5].view(), Some(3)).unwrap_err();
        assert!(matches!(
            err,
            Error::LabelOutOfRange {
                label: 5,
                index: 1,
                num_classes: 3
            }
        ));
    }

    #[test]
    fn train_test_split_is_seeded_and_keeps_pairs_together() {
        let x = Array::from_shape_fn((20, 2), |(i, j)| (i * 10 + j) as f32);
        let y = Array::from_shape_fn(20, |i| i as u32);
        let a = train_test_split(&x, &y, 0.25, 7).unwrap();
        let b = train_test_split(&x, &y, 0.25, 7).unwrap();
        assert_eq!(a, b);
        let ((x_tr, y_tr), (x_te, y_te)) = a;
        assert_eq!((x_tr.nrows(), x_te.nrows()), (15, 5));
        for (row, label) in x_te.rows().into_iter().zip(y_te.iter()) {
            assert_eq!(row[0], (*label * 10) as f32);
        }
        let mut all: Vec<u32> = y_tr.iter().chain(y_te.iter()).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..20).collect::<Vec<_>>());
    }

    #[test]
    fn train_test_split_rejects_bad_fractions() {
        let x = Array2::<f32>::zeros((4, 1));
        let y = Array::from_elem(4, 0u8);
        assert!(train_test_split(&x, &y, 1.5, 0).is_err());
    }
}
