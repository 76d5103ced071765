//! [`Reducer`]: Keras's standalone `Mean` and `Sum` metrics over plain values.

/// A running mean or sum of values (Keras `keras.metrics.Mean` / `Sum`), with Keras's
/// `update_state` / `result` / `reset_state`: `Mean` averages each row (the values along the
/// last axis) and counts rows; `Sum` adds every value.
///
/// # Examples
/// ```
/// use kiln_train::Reducer;
/// let mut mean = Reducer::mean();
/// mean.update_state(&[1.0, 2.0, 3.0, 4.0], &[4]);
/// mean.update_state(&[10.0], &[1]);
/// assert_eq!(mean.result(), 4.0);
/// mean.reset_state();
/// assert_eq!(mean.result(), 0.0);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Reducer {
    sum: f64,
    count: f64,
    mean: bool,
}

impl Reducer {
    /// Keras `Mean`.
    pub fn mean() -> Self {
        Self {
            sum: 0.0,
            count: 0.0,
            mean: true,
        }
    }

    /// Keras `Sum`.
    pub fn sum() -> Self {
        Self {
            mean: false,
            ..Self::mean()
        }
    }

    /// Adds `values` of shape `dims` (row-major).
    pub fn update_state(&mut self, values: &[f32], dims: &[usize]) {
        let total: f64 = values.iter().map(|&v| f64::from(v)).sum();
        self.sum += total;
        // Keras's Mean reduces each row to its mean and counts rows: the mean of row means.
        let per_row = match dims {
            [] | [_] => 1,
            [.., last] => (*last).max(1),
        };
        if self.mean && per_row > 1 {
            self.sum += -total + total / per_row as f64;
        }
        self.count += (values.len() / per_row) as f64;
    }

    /// The mean (0 before any value, as Keras's `divide_no_nan`) or the sum.
    pub fn result(&self) -> f64 {
        match (self.mean, self.count) {
            (false, _) => self.sum,
            (true, 0.0) => 0.0,
            (true, c) => self.sum / c,
        }
    }

    /// Back to no values.
    pub fn reset_state(&mut self) {
        self.sum = 0.0;
        self.count = 0.0;
    }
}
