//! Reading a [`Dataset`]'s batches in a given order, on worker threads when it asks for them,
//! with a bounded queue (Keras's `workers` and `max_queue_size`).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, sync_channel};

use crate::dataset::{Batch, BoxError, Dataset};

/// Batch `index` of `data`, with a panic inside the data set's code turned into an error.
fn get_caught(data: &dyn Dataset, index: usize) -> Result<Batch, BoxError> {
    match catch_unwind(AssertUnwindSafe(|| data.get(index))) {
        Ok(result) => result,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_string());
            Err(format!("the data set panicked: {what}").into())
        }
    }
}

/// Hands the batches `order` of `data` to `consume` in that order, as
/// `consume(position, index, batch)`, until it returns `Ok(false)` or an error, or the order
/// ends.
///
/// With [`Dataset::workers`] of 0 or 1 each batch is made when needed, on this thread. With
/// `w > 1`, `w` threads make them ahead, worker `k` the positions `k, k + w, ...`, each at most
/// `ceil(max_queue_size / w)` batches ahead, so at most about `max_queue_size + w` batches are
/// in memory at once; the order `consume` sees is the same either way. When `consume` stops
/// early the workers stop after the batch they are making.
///
/// # Errors
/// The first error `consume` returns. Errors from the data set are handed to `consume`.
///
/// # Examples
/// ```
/// use kiln_datasets::{ArrayDataset, Dataset, load_batches};
/// let data = ArrayDataset::new(ndarray::Array1::<f32>::zeros(10), vec![0u8; 10], 3)
///     .with_workers(2, 4);
/// let mut sizes = Vec::new();
/// load_batches(&data, &[3, 0, 1], |_, _, batch| {
///     sizes.push(batch?.len());
///     Ok::<bool, kiln_datasets::BoxError>(true)
/// })?;
/// assert_eq!(sizes, [1, 3, 3]);
/// # Ok::<(), kiln_datasets::BoxError>(())
/// ```
pub fn load_batches<E>(
    data: &dyn Dataset,
    order: &[usize],
    mut consume: impl FnMut(usize, usize, Result<Batch, BoxError>) -> Result<bool, E>,
) -> Result<(), E> {
    let workers = data.workers().min(order.len().max(1));
    if workers <= 1 {
        for (position, &index) in order.iter().enumerate() {
            if !consume(position, index, get_caught(data, index))? {
                break;
            }
        }
        return Ok(());
    }
    let ahead = data.max_queue_size().max(1).div_ceil(workers);
    std::thread::scope(|scope| {
        let mut queues: Vec<Receiver<Result<Batch, BoxError>>> = Vec::with_capacity(workers);
        for worker in 0..workers {
            let (send, receive) = sync_channel(ahead);
            queues.push(receive);
            scope.spawn(move || {
                for &index in order.iter().skip(worker).step_by(workers) {
                    // A closed queue means training stopped: no more batches are wanted.
                    if send.send(get_caught(data, index)).is_err() {
                        break;
                    }
                }
            });
        }
        for (position, &index) in order.iter().enumerate() {
            let batch = queues[position % workers]
                .recv()
                .unwrap_or_else(|_| Err("a loading thread ended early".into()));
            if !consume(position, index, batch)? {
                break;
            }
        }
        // Dropping the queues here ends the workers, which the scope then joins.
        drop(queues);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::from_fn;
    use crate::{Batch, HostArray};

    fn numbered(len: usize) -> impl Dataset {
        from_fn(len, |i| {
            if i == 7 {
                return Err("batch 7 is unreadable".into());
            }
            Ok(Batch::inputs(vec![i as f32]))
        })
    }

    fn first_value(batch: &Batch) -> f32 {
        batch.x[0].to_f32_vec()[0]
    }

    #[test]
    fn workers_keep_the_order_and_pass_errors_on() {
        for workers in [1, 2, 3, 8] {
            let data = numbered(12).with_workers(workers, 3);
            let order: Vec<usize> = (0..12).rev().collect();
            let mut seen = Vec::new();
            let mut failed = Vec::new();
            load_batches(&data, &order, |_, index, batch| {
                match batch {
                    Ok(b) => seen.push(first_value(&b) as usize),
                    Err(e) => failed.push((index, e.to_string())),
                }
                Ok::<bool, ()>(true)
            })
            .ok();
            let expected: Vec<usize> = order.iter().copied().filter(|&i| i != 7).collect();
            assert_eq!(seen, expected, "workers {workers}");
            assert_eq!(failed, [(7, "batch 7 is unreadable".to_string())]);
        }
    }

    #[test]
    fn stopping_early_ends_the_workers_and_panics_become_errors() {
        let data = from_fn(100, |i| {
            if i == 2 {
                #[allow(clippy::panic)]
                {
                    panic!("disk on fire");
                }
            }
            Ok(Batch::inputs(HostArray::from(vec![i as f32])))
        })
        .with_workers(2, 2);
        let order: Vec<usize> = (0..100).collect();
        let mut count = 0;
        let result = load_batches(&data, &order, |_, _, batch| {
            count += 1;
            batch.map(|_| true).map_err(|e| e.to_string())
        });
        assert_eq!(count, 3);
        assert_eq!(
            result,
            Err("the data set panicked: disk on fire".to_string())
        );
    }
}
