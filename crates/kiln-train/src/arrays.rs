//! The arrays `fit`/`evaluate`/`predict` take: one (`&x`), several by position (`(&x1, &x2)`,
//! a slice), or by input/output name (`[("features", &x1), ...]`), as Keras takes an array, a
//! list or a dict.

use kiln_datasets::HostArray;
use kiln_model::{ArrayInput, HostData};

use crate::error::{Error, Result};

/// One or several arrays, by position or by name.
#[derive(Clone, Default)]
pub struct Arrays<'a> {
    items: Vec<(Option<String>, &'a dyn ArrayInput)>,
}

impl std::fmt::Debug for Arrays<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.items.iter().map(|(n, _)| n))
            .finish()
    }
}

impl<'a> Arrays<'a> {
    /// No arrays yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an array for the next input or output by position.
    pub fn array(mut self, array: &'a dyn ArrayInput) -> Self {
        self.items.push((None, array));
        self
    }

    /// Adds an array for the input or output named `name`.
    pub fn named(mut self, name: impl Into<String>, array: &'a dyn ArrayInput) -> Self {
        self.items.push((Some(name.into()), array));
        self
    }

    /// How many arrays.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Every array, in the order given (names ignored).
    pub(crate) fn all(&self) -> Vec<HostData> {
        self.items.iter().map(|(_, a)| a.host_data()).collect()
    }

    /// The samples in the first array (0 when there is none).
    pub(crate) fn samples(&self) -> usize {
        self.items.first().map_or(0, |(_, a)| a.samples())
    }

    /// The arrays in the order of `names` (the model's inputs or outputs): by position when
    /// none is named, by name when all are.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] for a wrong count, an unknown or missing name, or a mix.
    pub(crate) fn resolve(&self, names: &[String], what: &'static str) -> Result<Vec<HostData>> {
        self.resolve_as(names, what, |a| a.host_data())
    }

    /// As [`Arrays::resolve`], each array copied in its own element type (inputs: what stays
    /// on the host stays `u8` when it is `u8`).
    pub(crate) fn resolve_inputs(
        &self,
        names: &[String],
        what: &'static str,
    ) -> Result<Vec<HostArray>> {
        self.resolve_as(names, what, |a| a.host_array())
    }

    fn resolve_as<T>(
        &self,
        names: &[String],
        what: &'static str,
        copy: impl Fn(&dyn ArrayInput) -> T,
    ) -> Result<Vec<T>> {
        let bad = |reason: String| Error::InvalidOption {
            option: what,
            reason,
        };
        let named = self.items.iter().filter(|(n, _)| n.is_some()).count();
        if named == 0 {
            if self.items.len() != names.len() {
                return Err(bad(format!(
                    "the model has {} ({}), got {} arrays",
                    names.len(),
                    names.join(", "),
                    self.items.len()
                )));
            }
            return Ok(self.items.iter().map(|(_, a)| copy(*a)).collect());
        }
        if named != self.items.len() {
            return Err(bad(
                "give every array by position or every array by name".into()
            ));
        }
        if let Some((Some(n), _)) = self
            .items
            .iter()
            .find(|(n, _)| !names.iter().any(|m| Some(m) == n.as_ref()))
        {
            return Err(bad(format!(
                "the model has no `{n}`; its names are {}",
                names.join(", ")
            )));
        }
        names
            .iter()
            .map(|name| {
                let mut found = self.items.iter().filter(|(n, _)| n.as_ref() == Some(name));
                match (found.next(), found.next()) {
                    (Some((_, a)), None) => Ok(copy(*a)),
                    (None, _) => Err(bad(format!("no array for `{name}`"))),
                    (Some(_), Some(_)) => Err(bad(format!("two arrays for `{name}`"))),
                }
            })
            .collect()
    }
}

/// What converts into [`Arrays`]: `&x` (one array), `(&x1, &x2)` and `(&x1, &x2, &x3)`, a
/// slice or vector of `&dyn ArrayInput`, or `[("name", &x as &dyn ArrayInput), ...]`.
pub trait IntoArrays<'a> {
    /// The arrays.
    fn into_arrays(self) -> Arrays<'a>;
}

impl<'a> IntoArrays<'a> for Arrays<'a> {
    fn into_arrays(self) -> Arrays<'a> {
        self
    }
}

impl<'a, T: ArrayInput> IntoArrays<'a> for &'a T {
    fn into_arrays(self) -> Arrays<'a> {
        Arrays::new().array(self)
    }
}

impl<'a, A: ArrayInput, B: ArrayInput> IntoArrays<'a> for (&'a A, &'a B) {
    fn into_arrays(self) -> Arrays<'a> {
        Arrays::new().array(self.0).array(self.1)
    }
}

impl<'a, A: ArrayInput, B: ArrayInput, C: ArrayInput> IntoArrays<'a> for (&'a A, &'a B, &'a C) {
    fn into_arrays(self) -> Arrays<'a> {
        Arrays::new().array(self.0).array(self.1).array(self.2)
    }
}

impl<'a> IntoArrays<'a> for &[&'a dyn ArrayInput] {
    fn into_arrays(self) -> Arrays<'a> {
        self.iter().fold(Arrays::new(), |a, x| a.array(*x))
    }
}

impl<'a> IntoArrays<'a> for Vec<&'a dyn ArrayInput> {
    fn into_arrays(self) -> Arrays<'a> {
        self.into_iter().fold(Arrays::new(), |a, x| a.array(x))
    }
}

impl<'a, const N: usize> IntoArrays<'a> for [(&str, &'a dyn ArrayInput); N] {
    fn into_arrays(self) -> Arrays<'a> {
        self.into_iter()
            .fold(Arrays::new(), |a, (name, x)| a.named(name, x))
    }
}

impl<'a> IntoArrays<'a> for Vec<(&str, &'a dyn ArrayInput)> {
    fn into_arrays(self) -> Arrays<'a> {
        self.into_iter()
            .fold(Arrays::new(), |a, (name, x)| a.named(name, x))
    }
}
