//! burn's own data sets (`burn::data::dataset::Dataset`, e.g. burn's `InMemDataset`,
//! `ShuffledDataset`, `MapperDataset`, the HuggingFace and SQLite sets) as Kiln
//! [`Dataset`]s, so `fit_dataset` trains from burn's data ecosystem.

use std::marker::PhantomData;

use kiln_datasets::{Batch, BoxError, Dataset, HostArray};

/// A burn data set of items `I` read as batches of `batch_size` items, each item turned into
/// one sample by `to_sample` (a [`Batch`] whose arrays have no batch axis: an image `[28, 28]`,
/// a scalar label `[]`); the samples of a batch are stacked along a new first axis.
///
/// Batches are consecutive items (the last keeps the remainder); `fit_dataset`'s `shuffle`
/// shuffles the batch order, as Keras does for a `PyDataset`. For samples shuffled across
/// batches, wrap the set in burn's `ShuffledDataset` first.
///
/// # Examples
/// ```
/// use burn::data::dataset::InMemDataset;
/// use kiln_datasets::{Batch, Dataset, HostArray};
/// use kiln_train::BurnDataset;
///
/// #[derive(Clone)]
/// struct Item {
///     pixels: [u8; 4],
///     label: u8,
/// }
///
/// let items = InMemDataset::new((0..10).map(|i| Item { pixels: [i; 4], label: i % 2 }).collect());
/// let data = BurnDataset::new(items, 4, |item: Item| {
///     let x = HostArray::from(ndarray::Array1::from(item.pixels.to_vec()));
///     let y = HostArray::from(ndarray::arr0(item.label));
///     Ok(Batch::new(x, y))
/// });
/// assert_eq!(data.len(), 3);
/// let batch = data.get(0)?;
/// assert_eq!(batch.x[0].shape(), &[4, 4]);
/// assert_eq!(batch.y[0].shape(), &[4]);
/// # Ok::<(), kiln_datasets::BoxError>(())
/// ```
pub struct BurnDataset<D, I, E, F> {
    items: D,
    batch_size: usize,
    to_sample: F,
    item: PhantomData<fn() -> (I, E)>,
}

impl<D, I, E, F> std::fmt::Debug for BurnDataset<D, I, E, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BurnDataset")
            .field("batch_size", &self.batch_size)
            .finish_non_exhaustive()
    }
}

impl<D, I, E, F> BurnDataset<D, I, E, F>
where
    D: burn::data::dataset::Dataset<I, E>,
    E: std::error::Error + Send + Sync + 'static,
    F: Fn(I) -> Result<Batch, BoxError> + Sync,
{
    /// `items` in batches of `batch_size` (0 counts as 1), each item made a sample by
    /// `to_sample`.
    pub fn new(items: D, batch_size: usize, to_sample: F) -> Self {
        Self {
            items,
            batch_size: batch_size.max(1),
            to_sample,
            item: PhantomData,
        }
    }
}

impl<D, I, E, F> Dataset for BurnDataset<D, I, E, F>
where
    D: burn::data::dataset::Dataset<I, E>,
    E: std::error::Error + Send + Sync + 'static,
    F: Fn(I) -> Result<Batch, BoxError> + Sync,
{
    fn len(&self) -> usize {
        self.items.len().div_ceil(self.batch_size)
    }

    fn get(&self, index: usize) -> Result<Batch, BoxError> {
        let n = self.items.len();
        let start = index.saturating_mul(self.batch_size);
        if start >= n {
            return Err(format!("batch {index} of {}", self.len()).into());
        }
        let end = (start + self.batch_size).min(n);
        let mut samples = Vec::with_capacity(end - start);
        for i in start..end {
            samples.push((self.to_sample)(self.items.get(i)?)?);
        }
        let stack = |pick: &dyn Fn(&Batch) -> Option<&HostArray>,
                     what: &str|
         -> Result<HostArray, BoxError> {
            let arrays = samples
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    pick(s)
                        .cloned()
                        .ok_or_else(|| BoxError::from(format!("item {} has no {what}", start + i)))
                })
                .collect::<Result<Vec<_>, _>>()?;
            HostArray::stack(&arrays)
                .map_err(|e| format!("items {start}..{end}: {what}: {e}").into())
        };
        let first = &samples[0];
        let x = (0..first.x.len())
            .map(|k| stack(&|s| s.x.get(k), &format!("input {k}")))
            .collect::<Result<Vec<_>, _>>()?;
        let y = (0..first.y.len())
            .map(|k| stack(&|s| s.y.get(k), &format!("target {k}")))
            .collect::<Result<Vec<_>, _>>()?;
        let mut batch = Batch::many(x, y);
        if first.sample_weight.is_some() {
            batch.sample_weight = Some(stack(&|s| s.sample_weight.as_ref(), "sample weight")?);
        }
        Ok(batch)
    }
}
