//! Shapes of one sample, shown as Keras shows them: `(None, 28, 28)`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The shape of one sample (the batch axis left out), e.g. `[28, 28]` for an MNIST image.
///
/// Displays with the batch axis as `None`, as Keras does: `(None, 28, 28)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Shape(pub Vec<usize>);

impl Shape {
    /// The number of axes of a sample (the batch axis not counted).
    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// The number of values in one sample (`usize::MAX` when the product overflows).
    pub fn size(&self) -> usize {
        self.0
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .unwrap_or(usize::MAX)
    }

    /// The dimensions of one sample.
    pub fn dims(&self) -> &[usize] {
        &self.0
    }

    /// The last dimension (features), if any.
    pub fn last(&self) -> Option<usize> {
        self.0.last().copied()
    }

    /// The shape of a batch of `n` samples.
    pub fn with_batch(&self, n: usize) -> Vec<usize> {
        std::iter::once(n).chain(self.0.iter().copied()).collect()
    }
}

impl<const N: usize> From<[usize; N]> for Shape {
    fn from(dims: [usize; N]) -> Self {
        Shape(dims.to_vec())
    }
}

impl From<Vec<usize>> for Shape {
    fn from(dims: Vec<usize>) -> Self {
        Shape(dims)
    }
}

impl From<&[usize]> for Shape {
    fn from(dims: &[usize]) -> Self {
        Shape(dims.to_vec())
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(None")?;
        for d in &self.0 {
            write!(f, ", {d}")?;
        }
        write!(f, ")")
    }
}

/// Formats a full shape (batch axis included) as a tuple: `(32, 28, 28)`.
pub fn format_dims(dims: &[usize]) -> String {
    let inner: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
    if inner.len() == 1 {
        format!("({},)", inner[0])
    } else {
        format!("({})", inner.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_display_with_a_none_batch_axis() {
        assert_eq!(Shape::from([28, 28]).to_string(), "(None, 28, 28)");
        assert_eq!(format_dims(&[5]), "(5,)");
    }
}
