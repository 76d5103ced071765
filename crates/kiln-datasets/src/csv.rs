//! CSV files into arrays: feature columns as `f32` `[rows, columns]`, target columns as `f32`
//! or, for class labels, `i64` (Keras has no CSV reader of its own; this is what its guides do
//! with `pandas.read_csv(...).to_numpy()`).
//!
//! A header line is expected by default, and columns are chosen by header name or 0-based
//! index. Fields are trimmed of surrounding spaces; numbers are read as Rust reads them
//! (`1`, `-2.5`, `3e-4`, `nan`, `inf`). A missing (empty) or unparsable value is an
//! [`Error::CsvValue`] naming its line in the file (1-based, the header being line 1) and its
//! column; a record with another number of fields than the others is an [`Error::CsvRead`]
//! naming its line. Blank lines are skipped, and a UTF-8 byte-order mark is ignored.
//!
//! # Examples
//! ```
//! use kiln_datasets::{CsvOptions, HostArray, read_csv};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("iris.csv");
//! std::fs::write(&path, "sepal,petal,species\n5.1,1.4,0\n6.2,4.5,1\n")?;
//! let table = read_csv(&path, &CsvOptions::default().targets(["species"]).integer_targets(true))?;
//! assert_eq!(table.x, ndarray::array![[5.1f32, 1.4], [6.2, 4.5]]);
//! assert_eq!(table.x_columns, ["sepal", "petal"]);
//! assert_eq!(table.y, Some(HostArray::from(vec![0i64, 1])));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2};

use crate::array::HostArray;
use crate::error::{Error, Result};

/// A column of a CSV file: by header name, or by 0-based index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
    /// The column with this header name (needs a header).
    Name(String),
    /// The column at this 0-based index.
    Index(usize),
}

impl From<&str> for Column {
    fn from(name: &str) -> Self {
        Column::Name(name.to_string())
    }
}

impl From<String> for Column {
    fn from(name: String) -> Self {
        Column::Name(name)
    }
}

impl From<usize> for Column {
    fn from(index: usize) -> Self {
        Column::Index(index)
    }
}

impl std::fmt::Display for Column {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Column::Name(name) => write!(f, "{name:?}"),
            Column::Index(index) => write!(f, "{index}"),
        }
    }
}

/// The options of [`read_csv`]; set them with the builder methods of the same names.
///
/// # Examples
/// ```
/// use kiln_datasets::{Column, CsvOptions};
/// let options = CsvOptions::default().has_header(false).columns([0usize, 2]).targets([3usize]);
/// assert_eq!(options.targets, [Column::Index(3)]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CsvOptions {
    /// Whether the first line holds the column names (default `true`).
    pub has_header: bool,
    /// The field separator (default `b','`).
    pub delimiter: u8,
    /// The feature columns, in this order; every column that is not a target when `None`.
    pub columns: Option<Vec<Column>>,
    /// The target columns, in this order (default none: no `y`).
    pub targets: Vec<Column>,
    /// Whether targets are integers (class labels), read as `i64`; `f32` otherwise.
    pub integer_targets: bool,
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self {
            has_header: true,
            delimiter: b',',
            columns: None,
            targets: Vec::new(),
            integer_targets: false,
        }
    }
}

impl CsvOptions {
    /// Sets [`CsvOptions::has_header`].
    #[must_use]
    pub fn has_header(mut self, has_header: bool) -> Self {
        self.has_header = has_header;
        self
    }
    /// Sets [`CsvOptions::delimiter`].
    #[must_use]
    pub fn delimiter(mut self, delimiter: u8) -> Self {
        self.delimiter = delimiter;
        self
    }
    /// Sets [`CsvOptions::columns`].
    #[must_use]
    pub fn columns<C: Into<Column>>(mut self, columns: impl IntoIterator<Item = C>) -> Self {
        self.columns = Some(columns.into_iter().map(Into::into).collect());
        self
    }
    /// Sets [`CsvOptions::targets`].
    #[must_use]
    pub fn targets<C: Into<Column>>(mut self, targets: impl IntoIterator<Item = C>) -> Self {
        self.targets = targets.into_iter().map(Into::into).collect();
        self
    }
    /// Sets [`CsvOptions::integer_targets`].
    #[must_use]
    pub fn integer_targets(mut self, integer: bool) -> Self {
        self.integer_targets = integer;
        self
    }
}

/// The arrays read by [`read_csv`].
#[derive(Debug, Clone, PartialEq)]
pub struct CsvArrays {
    /// The feature columns, `[rows, columns]`.
    pub x: Array2<f32>,
    /// The target columns: `[rows]` for one, `[rows, targets]` for more, `f32` or `i64`;
    /// `None` without targets.
    pub y: Option<HostArray>,
    /// The names of the feature columns (header names, or `"column N"` without a header).
    pub x_columns: Vec<String>,
    /// The names of the target columns.
    pub y_columns: Vec<String>,
}

/// Reads the CSV file at `path` into arrays of features and targets.
///
/// # Errors
/// [`Error::Io`] when the file cannot be opened; [`Error::CsvColumn`] for a column asked for
/// that the file does not have (or a name without a header); [`Error::CsvRead`] for a file
/// that is not valid CSV (a record with another number of fields); [`Error::CsvValue`] for a
/// missing or unparsable value, naming its line and column; [`Error::TooLarge`] when the
/// arrays cannot be allocated.
///
/// # Examples
/// ```
/// use kiln_datasets::{CsvOptions, Error, read_csv};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("data.csv");
/// std::fs::write(&path, "a,b\n1,2\n3,\n")?;
/// match read_csv(&path, &CsvOptions::default()) {
///     Err(Error::CsvValue { line, column, .. }) => {
///         assert_eq!(line, 3);
///         assert_eq!(column, "\"b\" (index 1)");
///     }
///     other => panic!("expected a missing value, got {other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_csv(path: impl AsRef<Path>, options: &CsvOptions) -> Result<CsvArrays> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    // The CSV reader does not count the blank lines it skips: lines are told from the byte
    // offsets of the records instead.
    let lines = LineIndex::new(&bytes);
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(options.has_header)
        .delimiter(options.delimiter)
        .trim(::csv::Trim::All)
        .from_reader(bytes.as_slice());
    let read_error = |source: ::csv::Error| Error::CsvRead {
        path: path.to_path_buf(),
        line: source.position().map(|p| lines.line(p.byte())),
        source,
    };

    let header: Option<Vec<String>> = if options.has_header {
        Some(
            reader
                .headers()
                .map_err(read_error)?
                .iter()
                .map(str::to_string)
                .collect(),
        )
    } else {
        None
    };
    let mut records = reader.records().peekable();
    // Without a header, the first record tells how many columns there are.
    let width = match (&header, records.peek()) {
        (Some(h), _) => Some(h.len()),
        (None, Some(Ok(first))) => Some(first.len()),
        (None, _) => None,
    };
    let table = Table {
        path,
        header: header.as_deref(),
        width,
    };
    let targets = options
        .targets
        .iter()
        .map(|c| table.resolve(c))
        .collect::<Result<Vec<_>>>()?;
    let features = match &options.columns {
        Some(columns) => columns
            .iter()
            .map(|c| table.resolve(c))
            .collect::<Result<Vec<_>>>()?,
        None => (0..width.unwrap_or(0))
            .filter(|i| !targets.contains(i))
            .collect(),
    };

    let mut x: Vec<f32> = Vec::new();
    let mut y_float: Vec<f32> = Vec::new();
    let mut y_int: Vec<i64> = Vec::new();
    let mut rows = 0usize;
    for record in records {
        let record = record.map_err(read_error)?;
        let line = record.position().map_or(0, |p| lines.line(p.byte()));
        let field = |index: usize| -> Result<&str> {
            match record.get(index) {
                Some("") => Err(table.value_error(line, index, "missing value".into())),
                Some(v) => Ok(v),
                None => Err(table.value_error(
                    line,
                    index,
                    format!("the record has {} fields only", record.len()),
                )),
            }
        };
        grow(&mut x, features.len(), path)?;
        for &i in &features {
            let v = field(i)?;
            x.push(parse_f32(v).ok_or_else(|| {
                table.value_error(line, i, format!("cannot read {v:?} as a number"))
            })?);
        }
        if options.integer_targets {
            grow(&mut y_int, targets.len(), path)?;
        } else {
            grow(&mut y_float, targets.len(), path)?;
        }
        for &i in &targets {
            let v = field(i)?;
            if options.integer_targets {
                y_int.push(parse_i64(v).ok_or_else(|| {
                    table.value_error(line, i, format!("cannot read {v:?} as an integer"))
                })?);
            } else {
                y_float.push(parse_f32(v).ok_or_else(|| {
                    table.value_error(line, i, format!("cannot read {v:?} as a number"))
                })?);
            }
        }
        rows += 1;
    }

    let shape_error = |e: ndarray::ShapeError| Error::UnexpectedContent {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let x = Array2::from_shape_vec((rows, features.len()), x).map_err(shape_error)?;
    let y = match (targets.len(), options.integer_targets) {
        (0, _) => None,
        (1, false) => Some(HostArray::from(Array1::from(y_float))),
        (1, true) => Some(HostArray::from(Array1::from(y_int))),
        (k, false) => Some(HostArray::from(
            Array2::from_shape_vec((rows, k), y_float).map_err(shape_error)?,
        )),
        (k, true) => Some(HostArray::from(
            Array2::from_shape_vec((rows, k), y_int).map_err(shape_error)?,
        )),
    };
    Ok(CsvArrays {
        x,
        y,
        x_columns: features.iter().map(|&i| table.name(i)).collect(),
        y_columns: targets.iter().map(|&i| table.name(i)).collect(),
    })
}

/// The byte offsets where the lines of a file start (after `\n`, `\r\n` or a lone `\r`).
struct LineIndex<'a> {
    bytes: &'a [u8],
    starts: Vec<u64>,
}

impl<'a> LineIndex<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        let mut starts = vec![0];
        for (i, &b) in bytes.iter().enumerate() {
            if b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')) {
                starts.push(u64::try_from(i + 1).unwrap_or(u64::MAX));
            }
        }
        Self { bytes, starts }
    }

    /// The 1-based line of the record the reader places at byte `offset`: the reader's
    /// offset is where it started looking, before the blank lines it skipped.
    fn line(&self, offset: u64) -> u64 {
        let mut at = usize::try_from(offset).unwrap_or(usize::MAX);
        while matches!(self.bytes.get(at), Some(b'\n' | b'\r')) {
            at += 1;
        }
        let at = u64::try_from(at).unwrap_or(u64::MAX);
        u64::try_from(self.starts.partition_point(|&s| s <= at)).unwrap_or(u64::MAX)
    }
}

/// What the header tells about the columns, for resolving and naming them.
struct Table<'a> {
    path: &'a Path,
    header: Option<&'a [String]>,
    width: Option<usize>,
}

impl Table<'_> {
    fn resolve(&self, column: &Column) -> Result<usize> {
        let found = match (column, self.header) {
            (Column::Name(name), Some(header)) => header.iter().position(|h| h == name),
            (Column::Name(_), None) => None,
            (Column::Index(i), _) => match self.width {
                Some(w) => (*i < w).then_some(*i),
                None => Some(*i), // no record at all: nothing to read from it anyway
            },
        };
        found.ok_or_else(|| Error::CsvColumn {
            path: self.path.to_path_buf(),
            column: column.to_string(),
            available: match self.header {
                Some(header) => header.to_vec(),
                None => (0..self.width.unwrap_or(0))
                    .map(|i| i.to_string())
                    .collect(),
            },
        })
    }

    fn name(&self, index: usize) -> String {
        match self.header.and_then(|h| h.get(index)) {
            Some(name) => name.clone(),
            None => format!("column {index}"),
        }
    }

    fn value_error(&self, line: u64, index: usize, reason: String) -> Error {
        let column = match self.header.and_then(|h| h.get(index)) {
            Some(name) => format!("{name:?} (index {index})"),
            None => format!("index {index}"),
        };
        Error::CsvValue {
            path: self.path.to_path_buf(),
            line,
            column,
            reason,
        }
    }
}

/// Makes room for `more` values, failing cleanly rather than aborting.
fn grow<T>(values: &mut Vec<T>, more: usize, path: &Path) -> Result<()> {
    values.try_reserve(more).map_err(|_| Error::TooLarge {
        what: format!("the arrays read from {}", PathBuf::from(path).display()),
        size: u64::try_from(values.len().saturating_add(more)).unwrap_or(u64::MAX),
        limit: u64::try_from(isize::MAX).unwrap_or(u64::MAX),
    })
}

fn parse_f32(v: &str) -> Option<f32> {
    v.parse::<f32>().ok()
}

/// An integer, or a float with an integral value (`"1.0"`).
#[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
fn parse_i64(v: &str) -> Option<i64> {
    v.parse::<i64>().ok().or_else(|| {
        let f = v.parse::<f64>().ok()?;
        (f.fract() == 0.0 && f.abs() < 9.2e18).then_some(f as i64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_may_be_written_as_floats() {
        assert_eq!(parse_i64("3"), Some(3));
        assert_eq!(parse_i64("-2.0"), Some(-2));
        assert_eq!(parse_i64("2.5"), None);
        assert_eq!(parse_i64("nan"), None);
        assert_eq!(parse_f32("1e-3"), Some(1e-3));
    }

    #[test]
    fn lines_are_told_from_byte_offsets() {
        let index = LineIndex::new(b"a\n\r\nb\rc\n");
        // Offset 1 (the end of line 1) and 2 (a blank line) both lead to the record "b".
        assert_eq!(
            [0, 1, 2, 4, 5, 6].map(|b| index.line(b)),
            [1, 3, 3, 3, 4, 4]
        );
    }
}
