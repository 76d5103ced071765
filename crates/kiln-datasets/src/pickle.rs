//! A restricted, bounded reader of Python pickles: exactly what Keras's data sets need.
//!
//! CIFAR's batches are pickled dictionaries holding a NumPy array, and the IMDB and Reuters
//! `.npz` files keep their ragged sequences as pickled NumPy object arrays. Keras reads them
//! with a `RestrictedUnpickler` that only lets NumPy rebuild arrays; this reader does the same
//! in Rust. It understands the data opcodes of pickle protocols 0 to 5 (numbers, strings,
//! bytes, lists, tuples, dictionaries, the memo) and the four globals Keras allows:
//! `numpy.ndarray`, `numpy.dtype` and `numpy.core.multiarray._reconstruct` (or
//! `numpy._core.multiarray._reconstruct`). Anything else (`os.system`, `builtins.eval`, ...) is
//! refused with [`Error::ForbiddenPickleGlobal`]; no code is ever run.
//!
//! Every length in the stream is checked against the bytes left before anything is allocated,
//! the memo is a map (a huge memo index allocates nothing), and the reader never recurses, so
//! a corrupt or hostile stream gives an [`Error::Pickle`], not a crash. Objects are kept once
//! and referred to by index, like Python's references: a stream that refers to the same object
//! many times costs nothing extra. Bytes are borrowed from the input, not copied.
//!
//! # Examples
//! ```
//! use std::path::Path;
//! use kiln_datasets::pickle::{Pickle, Value};
//!
//! // pickle.dumps({"labels": [3, 0]}, protocol=2)
//! let bytes = b"\x80\x02}q\x00X\x06\x00\x00\x00labelsq\x01]q\x02(K\x03K\x00es.";
//! let pickle = Pickle::parse(Path::new("example"), bytes)?;
//! let labels = pickle.root().as_dict().and_then(|d| d.get("labels"));
//! let ints: Vec<i64> = labels
//!     .and_then(|l| l.as_list())
//!     .map(|l| l.iter().filter_map(|v| v.as_int()).collect())
//!     .unwrap_or_default();
//! assert_eq!(ints, [3, 0]);
//! # Ok::<(), kiln_datasets::Error>(())
//! ```

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The highest pickle protocol read.
const HIGHEST_PROTOCOL: u8 = 5;

/// A NumPy data type, as a pickled `numpy.dtype` or a `.npy` header's `descr` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DType {
    byte_order: u8,
    kind: u8,
    size: usize,
}

impl DType {
    /// Parses a type string: `"<i8"`, `"|u1"`, `">f4"`, `"u1"`, `"O8"`, `"|O"`, `"?"`.
    /// Reads booleans, signed and unsigned integers, 32- and 64-bit floats and objects;
    /// `None` for anything else.
    pub fn parse(descr: &str) -> Option<Self> {
        let bytes = descr.as_bytes();
        let (byte_order, rest) = match bytes.first() {
            Some(&c @ (b'<' | b'>' | b'|' | b'=')) => (c, &bytes[1..]),
            _ => (b'=', bytes),
        };
        let (&kind, digits) = rest.split_first()?;
        let size = if digits.is_empty() {
            match kind {
                b'O' => 8,
                b'?' | b'b' => 1,
                _ => return None,
            }
        } else {
            std::str::from_utf8(digits).ok()?.parse::<usize>().ok()?
        };
        let kind = if kind == b'?' { b'b' } else { kind };
        let valid = match kind {
            b'b' => size == 1,
            b'i' | b'u' => matches!(size, 1 | 2 | 4 | 8),
            b'f' => matches!(size, 4 | 8),
            b'O' => matches!(size, 4 | 8),
            _ => false,
        };
        valid.then_some(Self {
            byte_order,
            kind,
            size,
        })
    }

    /// NumPy's kind letter: `b` (bool), `i`, `u`, `f` or `O` (Python objects).
    pub fn kind(&self) -> char {
        char::from(self.kind)
    }

    /// Bytes per element.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Whether the elements are Python objects (NumPy's `dtype=object`).
    pub fn is_object(&self) -> bool {
        self.kind == b'O'
    }

    /// The type string, as a `.npy` header writes it (`<i8`, `|u1`, `|O`).
    pub fn descr(&self) -> String {
        let order = if self.size == 1 || self.is_object() {
            '|'
        } else if self.little_endian() {
            '<'
        } else {
            '>'
        };
        if self.is_object() {
            format!("{order}O")
        } else {
            format!("{order}{}{}", self.kind(), self.size)
        }
    }

    fn little_endian(&self) -> bool {
        match self.byte_order {
            b'>' => false,
            b'<' | b'|' => true,
            _ => cfg!(target_endian = "little"),
        }
    }

    fn with_byte_order(mut self, order: u8) -> Self {
        if matches!(order, b'<' | b'>' | b'|' | b'=') {
            self.byte_order = order;
        }
        self
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.descr())
    }
}

/// A numeric NumPy array in its raw form: type, shape and the bytes of its elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawArray<'a> {
    /// The element type.
    pub dtype: DType,
    /// The dimensions.
    pub shape: Vec<usize>,
    /// Whether the elements are in Fortran (column-major) order.
    pub fortran_order: bool,
    /// The elements' bytes.
    pub data: &'a [u8],
}

impl<'a> RawArray<'a> {
    /// The number of elements, `None` when the shape's product overflows.
    pub fn len(&self) -> Option<usize> {
        self.shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
    }

    /// Whether the array holds no element.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// The number of elements and their bytes, checked: C order (or at most one dimension
    /// longer than 1), a numeric type, and exactly `len * size` bytes.
    ///
    /// # Errors
    /// [`Error::UnexpectedContent`] saying which check failed.
    pub fn checked(&self, path: &Path) -> Result<(usize, &'a [u8])> {
        let bad = |reason: String| Error::UnexpectedContent {
            path: path.to_path_buf(),
            reason,
        };
        if self.fortran_order && self.shape.iter().filter(|&&d| d > 1).count() > 1 {
            return Err(bad(
                "the array is in Fortran order; Kiln reads C-order arrays".into(),
            ));
        }
        if self.dtype.is_object() {
            return Err(bad("the array holds Python objects, not numbers".into()));
        }
        let len = self
            .len()
            .ok_or_else(|| bad(format!("the shape {:?} overflows", self.shape)))?;
        let bytes = len
            .checked_mul(self.dtype.size)
            .ok_or_else(|| bad(format!("the shape {:?} overflows", self.shape)))?;
        if bytes != self.data.len() {
            return Err(bad(format!(
                "shape {:?} of {} needs {bytes} bytes, but {} are stored",
                self.shape,
                self.dtype,
                self.data.len()
            )));
        }
        Ok((len, self.data))
    }

    /// The elements as `u8`, for `uint8` (and `bool`) arrays.
    ///
    /// # Errors
    /// [`Error::UnexpectedContent`] for another type or an inconsistent array.
    pub fn to_u8(&self, path: &Path) -> Result<Vec<u8>> {
        let (_, data) = self.checked(path)?;
        match self.dtype.kind {
            b'u' | b'b' if self.dtype.size == 1 => Ok(data.to_vec()),
            _ => Err(Error::UnexpectedContent {
                path: path.to_path_buf(),
                reason: format!("expected uint8 elements, found {}", self.dtype),
            }),
        }
    }

    /// The elements as `i64`, for any boolean or integer type (an unsigned value above
    /// `i64::MAX` is an error).
    ///
    /// # Errors
    /// [`Error::UnexpectedContent`] for a float or object array, an inconsistent array, or a
    /// value that does not fit.
    pub fn to_i64(&self, path: &Path) -> Result<Vec<i64>> {
        let (len, data) = self.checked(path)?;
        let dtype = self.dtype;
        if !matches!(dtype.kind, b'b' | b'i' | b'u') {
            return Err(Error::UnexpectedContent {
                path: path.to_path_buf(),
                reason: format!("expected integer elements, found {dtype}"),
            });
        }
        let mut out = Vec::with_capacity(len);
        for chunk in data.chunks_exact(dtype.size) {
            let mut buf = [0u8; 8];
            let value = if dtype.little_endian() {
                buf[..dtype.size].copy_from_slice(chunk);
                if dtype.kind == b'i' && chunk[dtype.size - 1] & 0x80 != 0 {
                    buf[dtype.size..].fill(0xff);
                }
                u64::from_le_bytes(buf)
            } else {
                buf[8 - dtype.size..].copy_from_slice(chunk);
                if dtype.kind == b'i' && chunk[0] & 0x80 != 0 {
                    buf[..8 - dtype.size].fill(0xff);
                }
                u64::from_be_bytes(buf)
            };
            let value = if dtype.kind == b'i' {
                i64::from_ne_bytes(value.to_ne_bytes())
            } else {
                i64::try_from(value).map_err(|_| Error::UnexpectedContent {
                    path: path.to_path_buf(),
                    reason: format!("the value {value} does not fit an i64"),
                })?
            };
            out.push(value);
        }
        Ok(out)
    }

    /// The elements as `f64`, for `float32` and `float64` arrays (`float32` values convert
    /// exactly).
    ///
    /// # Errors
    /// [`Error::UnexpectedContent`] for another type or an inconsistent array.
    pub fn to_f64(&self, path: &Path) -> Result<Vec<f64>> {
        let (len, data) = self.checked(path)?;
        let dtype = self.dtype;
        let le = dtype.little_endian();
        let mut out = Vec::with_capacity(len);
        match (dtype.kind, dtype.size) {
            (b'f', 4) => {
                for c in data.chunks_exact(4) {
                    let b = [c[0], c[1], c[2], c[3]];
                    let v = if le {
                        f32::from_le_bytes(b)
                    } else {
                        f32::from_be_bytes(b)
                    };
                    out.push(f64::from(v));
                }
            }
            (b'f', 8) => {
                for c in data.chunks_exact(8) {
                    let b = [c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]];
                    out.push(if le {
                        f64::from_le_bytes(b)
                    } else {
                        f64::from_be_bytes(b)
                    });
                }
            }
            _ => {
                return Err(Error::UnexpectedContent {
                    path: path.to_path_buf(),
                    reason: format!("expected float elements, found {dtype}"),
                });
            }
        }
        Ok(out)
    }
}

/// A Python global the reader lets a pickle name (the ones Keras's loaders allow).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Global {
    /// `numpy.ndarray`.
    NdArray,
    /// `numpy.dtype`.
    DType,
    /// `numpy.core.multiarray._reconstruct` (`numpy._core.multiarray._reconstruct` in
    /// NumPy 2).
    Reconstruct,
}

impl Global {
    fn resolve(module: &str, name: &str) -> Option<Self> {
        match (module, name) {
            ("numpy", "ndarray") => Some(Self::NdArray),
            ("numpy", "dtype") => Some(Self::DType),
            ("numpy.core.multiarray" | "numpy._core.multiarray", "_reconstruct") => {
                Some(Self::Reconstruct)
            }
            _ => None,
        }
    }
}

/// A reference to an object: small immutable values inline, the rest by index.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Node(usize),
}

#[derive(Debug, Clone)]
struct ArrayNode {
    dtype: Option<DType>,
    shape: Vec<usize>,
    fortran_order: bool,
    data: Option<Slot>,
}

#[derive(Debug, Clone)]
enum Node<'a> {
    Bytes(Cow<'a, [u8]>),
    Str(Cow<'a, str>),
    List(Vec<Slot>),
    Tuple(Vec<Slot>),
    Dict(Vec<(Slot, Slot)>),
    Global(Global),
    DType(DType),
    Array(ArrayNode),
}

/// A parsed pickle: its objects, and the one the stream returns ([`Pickle::root`]).
#[derive(Debug, Clone)]
pub struct Pickle<'a> {
    nodes: Vec<Node<'a>>,
    root: Slot,
}

/// A view of one object of a [`Pickle`].
#[derive(Debug, Clone, Copy)]
pub enum Value<'p> {
    /// `None`.
    None,
    /// `True` or `False`.
    Bool(bool),
    /// An integer (one that fits an `i64`).
    Int(i64),
    /// A float.
    Float(f64),
    /// `bytes` (and Python 2 `str`, read as Keras reads CIFAR: `encoding="bytes"`).
    Bytes(&'p [u8]),
    /// A `str`.
    Str(&'p str),
    /// A list.
    List(Items<'p>),
    /// A tuple.
    Tuple(Items<'p>),
    /// A dictionary.
    Dict(Dict<'p>),
    /// A NumPy array.
    Array(ArrayView<'p>),
    /// A NumPy data type.
    DType(&'p DType),
    /// One of the allowed globals itself (a class or function).
    Global(Global),
}

/// The items of a list or tuple.
#[derive(Debug, Clone, Copy)]
pub struct Items<'p> {
    pickle: &'p Pickle<'p>,
    slots: &'p [Slot],
}

/// The entries of a dictionary.
#[derive(Debug, Clone, Copy)]
pub struct Dict<'p> {
    pickle: &'p Pickle<'p>,
    pairs: &'p [(Slot, Slot)],
}

/// A NumPy array rebuilt from a pickle.
#[derive(Debug, Clone, Copy)]
pub struct ArrayView<'p> {
    pickle: &'p Pickle<'p>,
    node: &'p ArrayNode,
}

impl<'p> Value<'p> {
    /// The integer, for an `Int` (or a `Bool`, as Python counts it).
    pub fn as_int(&self) -> Option<i64> {
        match *self {
            Value::Int(i) => Some(i),
            Value::Bool(b) => Some(i64::from(b)),
            _ => None,
        }
    }

    /// The bytes of a `Bytes` or the UTF-8 of a `Str`.
    pub fn as_bytes(&self) -> Option<&'p [u8]> {
        match *self {
            Value::Bytes(b) => Some(b),
            Value::Str(s) => Some(s.as_bytes()),
            _ => None,
        }
    }

    /// The items of a list or a tuple.
    pub fn as_list(&self) -> Option<Items<'p>> {
        match *self {
            Value::List(items) | Value::Tuple(items) => Some(items),
            _ => None,
        }
    }

    /// The dictionary.
    pub fn as_dict(&self) -> Option<Dict<'p>> {
        match *self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// The NumPy array.
    pub fn as_array(&self) -> Option<ArrayView<'p>> {
        match *self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// Python's name of the value's type, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Bytes(_) => "bytes",
            Value::Str(_) => "str",
            Value::List(_) => "list",
            Value::Tuple(_) => "tuple",
            Value::Dict(_) => "dict",
            Value::Array(_) => "numpy.ndarray",
            Value::DType(_) => "numpy.dtype",
            Value::Global(_) => "global",
        }
    }
}

impl<'p> Items<'p> {
    /// The number of items.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether there is no item.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Item `i`.
    pub fn get(&self, i: usize) -> Option<Value<'p>> {
        self.slots.get(i).map(|&s| self.pickle.value(s))
    }

    /// The items in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Value<'p>> + 'p {
        let pickle = self.pickle;
        self.slots.iter().map(move |&s| pickle.value(s))
    }
}

impl<'p> Dict<'p> {
    /// The number of entries (a key set twice counts twice).
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether there is no entry.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The value of the `str` or `bytes` key `key` (the last one set, as in Python).
    pub fn get(&self, key: &str) -> Option<Value<'p>> {
        self.pairs.iter().rev().find_map(|&(k, v)| {
            (self.pickle.value(k).as_bytes() == Some(key.as_bytes())).then(|| self.pickle.value(v))
        })
    }

    /// The entries in the order the pickle set them.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (Value<'p>, Value<'p>)> + 'p {
        let pickle = self.pickle;
        self.pairs
            .iter()
            .map(move |&(k, v)| (pickle.value(k), pickle.value(v)))
    }
}

impl<'p> ArrayView<'p> {
    /// The element type; `None` when the stream never set the array's state.
    pub fn dtype(&self) -> Option<DType> {
        self.node.dtype
    }

    /// The dimensions.
    pub fn shape(&self) -> &'p [usize] {
        &self.node.shape
    }

    /// The elements' bytes, for a numeric array.
    pub fn raw(&self) -> Option<RawArray<'p>> {
        let dtype = self.node.dtype?;
        match self.pickle.value(self.node.data?) {
            Value::Bytes(data) if !dtype.is_object() => Some(RawArray {
                dtype,
                shape: self.node.shape.clone(),
                fortran_order: self.node.fortran_order,
                data,
            }),
            _ => None,
        }
    }

    /// The elements, in storage order, of an object array (`dtype=object`).
    pub fn objects(&self) -> Option<Items<'p>> {
        if !self.node.dtype?.is_object() {
            return None;
        }
        match self.pickle.value(self.node.data?) {
            Value::List(items) => Some(items),
            _ => None,
        }
    }
}

impl<'a> Pickle<'a> {
    /// Reads the pickle stream `input` up to its `STOP` (`path` names it in errors).
    ///
    /// # Errors
    /// [`Error::Pickle`] for a malformed, truncated or unsupported stream;
    /// [`Error::ForbiddenPickleGlobal`] for a global other than NumPy's array reconstruction.
    pub fn parse(path: &Path, input: &'a [u8]) -> Result<Self> {
        Machine::new(path, input).run()
    }

    /// The object the stream returns.
    pub fn root(&self) -> Value<'_> {
        self.value(self.root)
    }

    fn value(&self, slot: Slot) -> Value<'_> {
        match slot {
            Slot::None => Value::None,
            Slot::Bool(b) => Value::Bool(b),
            Slot::Int(i) => Value::Int(i),
            Slot::Float(f) => Value::Float(f),
            Slot::Node(i) => match self.nodes.get(i) {
                Some(Node::Bytes(b)) => Value::Bytes(b),
                Some(Node::Str(s)) => Value::Str(s),
                Some(Node::List(slots)) => Value::List(Items {
                    pickle: self,
                    slots,
                }),
                Some(Node::Tuple(slots)) => Value::Tuple(Items {
                    pickle: self,
                    slots,
                }),
                Some(Node::Dict(pairs)) => Value::Dict(Dict {
                    pickle: self,
                    pairs,
                }),
                Some(Node::Global(g)) => Value::Global(*g),
                Some(Node::DType(d)) => Value::DType(d),
                Some(Node::Array(node)) => Value::Array(ArrayView { pickle: self, node }),
                // Indices only come from `Machine::alloc`: never out of range.
                None => Value::None,
            },
        }
    }
}

/// The unpickling machine: a stack, marks and a memo over an arena of objects.
struct Machine<'a> {
    path: PathBuf,
    input: &'a [u8],
    pos: usize,
    /// Where the opcode being run starts, for errors.
    at: usize,
    stack: Vec<Slot>,
    marks: Vec<usize>,
    memo: HashMap<u64, Slot>,
    nodes: Vec<Node<'a>>,
}

impl<'a> Machine<'a> {
    fn new(path: &Path, input: &'a [u8]) -> Self {
        Self {
            path: path.to_path_buf(),
            input,
            pos: 0,
            at: 0,
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            nodes: Vec::new(),
        }
    }

    fn err(&self, reason: impl Into<String>) -> Error {
        Error::Pickle {
            path: self.path.clone(),
            offset: self.at,
            reason: reason.into(),
        }
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8]> {
        let left = self.input.len() - self.pos;
        let n = usize::try_from(n)
            .ok()
            .filter(|&n| n <= left)
            .ok_or_else(|| {
                self.err(format!(
                    "the stream is cut short: {n} bytes announced, {left} left"
                ))
            })?;
        let bytes = &self.input[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn i32(&mut self) -> Result<i32> {
        let b = self.take(4)?;
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes([
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
        ]))
    }

    /// A length given as a signed 32-bit count (`BINSTRING`, `LONG4`).
    fn len_i32(&mut self) -> Result<u64> {
        let n = self.i32()?;
        u64::try_from(n).map_err(|_| self.err(format!("negative length {n}")))
    }

    /// The bytes up to the next newline (the newline consumed, not returned).
    fn line(&mut self) -> Result<&'a [u8]> {
        let rest = &self.input[self.pos..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| self.err("the stream is cut short: a line has no end"))?;
        self.pos += end + 1;
        Ok(&rest[..end])
    }

    fn text_line(&mut self) -> Result<&'a str> {
        let line = self.line()?;
        std::str::from_utf8(line).map_err(|_| self.err("a text argument is not UTF-8"))
    }

    fn alloc(&mut self, node: Node<'a>) -> Slot {
        self.nodes.push(node);
        Slot::Node(self.nodes.len() - 1)
    }

    fn push_node(&mut self, node: Node<'a>) {
        let slot = self.alloc(node);
        self.stack.push(slot);
    }

    fn pop(&mut self) -> Result<Slot> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err(self.err("an opcode pops past a mark"));
        }
        self.stack
            .pop()
            .ok_or_else(|| self.err("an opcode pops from an empty stack"))
    }

    fn top(&self) -> Result<Slot> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err(self.err("an opcode reads past a mark"));
        }
        self.stack
            .last()
            .copied()
            .ok_or_else(|| self.err("an opcode reads an empty stack"))
    }

    fn pop_mark(&mut self) -> Result<Vec<Slot>> {
        let mark = self
            .marks
            .pop()
            .ok_or_else(|| self.err("an opcode needs a mark, and there is none"))?;
        Ok(self.stack.split_off(mark))
    }

    fn node_mut(&mut self, slot: Slot) -> Option<&mut Node<'a>> {
        match slot {
            Slot::Node(i) => self.nodes.get_mut(i),
            _ => None,
        }
    }

    fn node(&self, slot: Slot) -> Option<&Node<'a>> {
        match slot {
            Slot::Node(i) => self.nodes.get(i),
            _ => None,
        }
    }

    fn text_of(&self, slot: Slot) -> Option<&str> {
        match self.node(slot)? {
            Node::Str(s) => Some(s),
            Node::Bytes(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    fn tuple_items(&self, slot: Slot, what: &str) -> Result<Vec<Slot>> {
        match self.node(slot) {
            Some(Node::Tuple(items)) => Ok(items.clone()),
            _ => Err(self.err(format!("{what} is not a tuple"))),
        }
    }

    fn memo_get(&mut self, key: u64) -> Result<()> {
        let slot = *self
            .memo
            .get(&key)
            .ok_or_else(|| self.err(format!("memo entry {key} is not set")))?;
        self.stack.push(slot);
        Ok(())
    }

    fn memo_put(&mut self, key: u64) -> Result<()> {
        let slot = self.top()?;
        self.memo.insert(key, slot);
        Ok(())
    }

    fn bytes(&mut self, n: u64) -> Result<()> {
        let b = self.take(n)?;
        self.push_node(Node::Bytes(Cow::Borrowed(b)));
        Ok(())
    }

    fn unicode(&mut self, n: u64) -> Result<()> {
        let b = self.take(n)?;
        let s = std::str::from_utf8(b).map_err(|_| self.err("a str is not valid UTF-8"))?;
        self.push_node(Node::Str(Cow::Borrowed(s)));
        Ok(())
    }

    fn little_endian_int(&self, b: &[u8]) -> Result<i64> {
        if b.len() > 8 {
            return Err(self.err(format!(
                "an integer of {} bytes does not fit an i64",
                b.len()
            )));
        }
        let Some(&last) = b.last() else {
            return Ok(0);
        };
        let fill = if last & 0x80 != 0 { 0xff } else { 0 };
        let mut buf = [fill; 8];
        buf[..b.len()].copy_from_slice(b);
        Ok(i64::from_le_bytes(buf))
    }

    fn parse_int(&self, text: &str) -> Result<i64> {
        text.trim()
            .trim_end_matches('L')
            .parse::<i64>()
            .map_err(|_| self.err(format!("`{text}` is not an integer that fits an i64")))
    }

    fn run(mut self) -> Result<Pickle<'a>> {
        loop {
            self.at = self.pos;
            let op = self.u8()?;
            match op {
                0x80 => {
                    let proto = self.u8()?;
                    if proto > HIGHEST_PROTOCOL {
                        return Err(self.err(format!("unsupported pickle protocol {proto}")));
                    }
                }
                0x95 => {
                    // FRAME: the frame's bytes follow; framing changes nothing here.
                    let n = self.u64()?;
                    let left = (self.input.len() - self.pos) as u64;
                    if n > left {
                        return Err(self.err(format!(
                            "the stream is cut short: a frame of {n} bytes, {left} left"
                        )));
                    }
                }
                b'.' => {
                    let root = self.pop()?;
                    return Ok(Pickle {
                        nodes: self.nodes,
                        root,
                    });
                }
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    if self.marks.last().is_some_and(|&m| m == self.stack.len()) {
                        self.pop_mark()?;
                    } else {
                        self.pop()?;
                    }
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let top = self.top()?;
                    self.stack.push(top);
                }
                b'N' => self.stack.push(Slot::None),
                0x88 => self.stack.push(Slot::Bool(true)),
                0x89 => self.stack.push(Slot::Bool(false)),
                b'I' => {
                    let text = self.text_line()?;
                    let slot = match text {
                        "00" => Slot::Bool(false),
                        "01" => Slot::Bool(true),
                        _ => Slot::Int(self.parse_int(text)?),
                    };
                    self.stack.push(slot);
                }
                b'J' => {
                    let v = self.i32()?;
                    self.stack.push(Slot::Int(i64::from(v)));
                }
                b'K' => {
                    let v = self.u8()?;
                    self.stack.push(Slot::Int(i64::from(v)));
                }
                b'M' => {
                    let v = self.u16()?;
                    self.stack.push(Slot::Int(i64::from(v)));
                }
                b'L' => {
                    let text = self.text_line()?;
                    let v = self.parse_int(text)?;
                    self.stack.push(Slot::Int(v));
                }
                0x8a => {
                    let n = self.u8()?;
                    let b = self.take(u64::from(n))?;
                    let v = self.little_endian_int(b)?;
                    self.stack.push(Slot::Int(v));
                }
                0x8b => {
                    let n = self.len_i32()?;
                    let b = self.take(n)?;
                    let v = self.little_endian_int(b)?;
                    self.stack.push(Slot::Int(v));
                }
                b'F' => {
                    let text = self.text_line()?;
                    let v = text
                        .trim()
                        .parse::<f64>()
                        .map_err(|_| self.err(format!("`{text}` is not a float")))?;
                    self.stack.push(Slot::Float(v));
                }
                b'G' => {
                    let b = self.take(8)?;
                    let v = f64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
                    self.stack.push(Slot::Float(v));
                }
                b'S' => {
                    let line = self.line()?;
                    let bytes = self.quoted_string(line)?;
                    self.push_node(Node::Bytes(Cow::Owned(bytes)));
                }
                b'T' => {
                    let n = self.len_i32()?;
                    self.bytes(n)?;
                }
                b'U' | b'C' => {
                    let n = self.u8()?;
                    self.bytes(u64::from(n))?;
                }
                b'B' => {
                    let n = self.u32()?;
                    self.bytes(u64::from(n))?;
                }
                0x8e => {
                    let n = self.u64()?;
                    self.bytes(n)?;
                }
                b'V' => {
                    let line = self.line()?;
                    let s = raw_unicode_escape(line)
                        .ok_or_else(|| self.err("a protocol-0 str has an invalid \\u escape"))?;
                    self.push_node(Node::Str(Cow::Owned(s)));
                }
                b'X' => {
                    let n = self.u32()?;
                    self.unicode(u64::from(n))?;
                }
                0x8c => {
                    let n = self.u8()?;
                    self.unicode(u64::from(n))?;
                }
                0x8d => {
                    let n = self.u64()?;
                    self.unicode(n)?;
                }
                b']' => self.push_node(Node::List(Vec::new())),
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push_node(Node::List(items));
                }
                b'a' => {
                    let item = self.pop()?;
                    let list = self.top()?;
                    self.append(list, vec![item])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    let list = self.top()?;
                    self.append(list, items)?;
                }
                b')' => self.push_node(Node::Tuple(Vec::new())),
                b't' => {
                    let items = self.pop_mark()?;
                    self.push_node(Node::Tuple(items));
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.push_node(Node::Tuple(items));
                }
                b'}' => self.push_node(Node::Dict(Vec::new())),
                b'd' => {
                    let items = self.pop_mark()?;
                    let pairs = self.pairs(items)?;
                    self.push_node(Node::Dict(pairs));
                }
                b's' => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    let dict = self.top()?;
                    self.set_items(dict, vec![(key, value)])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let pairs = self.pairs(items)?;
                    let dict = self.top()?;
                    self.set_items(dict, pairs)?;
                }
                b'g' => {
                    let text = self.text_line()?;
                    let key = self.memo_key(text)?;
                    self.memo_get(key)?;
                }
                b'h' => {
                    let key = self.u8()?;
                    self.memo_get(u64::from(key))?;
                }
                b'j' => {
                    let key = self.u32()?;
                    self.memo_get(u64::from(key))?;
                }
                b'p' => {
                    let text = self.text_line()?;
                    let key = self.memo_key(text)?;
                    self.memo_put(key)?;
                }
                b'q' => {
                    let key = self.u8()?;
                    self.memo_put(u64::from(key))?;
                }
                b'r' => {
                    let key = self.u32()?;
                    self.memo_put(u64::from(key))?;
                }
                0x94 => {
                    let key = self.memo.len() as u64;
                    self.memo_put(key)?;
                }
                b'c' => {
                    let module = self.text_line()?;
                    let name = self.text_line()?;
                    self.global(module, name)?;
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Some(module), Some(name)) = (self.text_of(module), self.text_of(name))
                    else {
                        return Err(self.err("STACK_GLOBAL needs two strings"));
                    };
                    let (module, name) = (module.to_string(), name.to_string());
                    self.global(&module, &name)?;
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    self.reduce(callable, args)?;
                }
                b'b' => {
                    let state = self.pop()?;
                    let object = self.top()?;
                    self.build(object, state)?;
                }
                other => {
                    return Err(self.err(format!(
                        "opcode {other:#04x} ({}) is not supported",
                        opcode_name(other)
                    )));
                }
            }
        }
    }

    fn memo_key(&self, text: &str) -> Result<u64> {
        text.trim()
            .parse::<u64>()
            .map_err(|_| self.err(format!("`{text}` is not a memo index")))
    }

    fn pairs(&self, items: Vec<Slot>) -> Result<Vec<(Slot, Slot)>> {
        if !items.len().is_multiple_of(2) {
            return Err(self.err("a dictionary has a key without a value"));
        }
        Ok(items.chunks_exact(2).map(|kv| (kv[0], kv[1])).collect())
    }

    fn append(&mut self, list: Slot, items: Vec<Slot>) -> Result<()> {
        match self.node_mut(list) {
            Some(Node::List(slots)) => {
                slots.extend(items);
                Ok(())
            }
            _ => Err(self.err("APPEND to something that is not a list")),
        }
    }

    fn set_items(&mut self, dict: Slot, pairs: Vec<(Slot, Slot)>) -> Result<()> {
        match self.node_mut(dict) {
            Some(Node::Dict(entries)) => {
                entries.extend(pairs);
                Ok(())
            }
            _ => Err(self.err("SETITEM on something that is not a dictionary")),
        }
    }

    fn global(&mut self, module: &str, name: &str) -> Result<()> {
        let Some(global) = Global::resolve(module, name) else {
            return Err(Error::ForbiddenPickleGlobal {
                path: self.path.clone(),
                module: module.to_string(),
                name: name.to_string(),
            });
        };
        self.push_node(Node::Global(global));
        Ok(())
    }

    fn reduce(&mut self, callable: Slot, args: Slot) -> Result<()> {
        let args = self.tuple_items(args, "REDUCE's arguments")?;
        match self.node(callable) {
            Some(Node::Global(Global::Reconstruct)) => {
                // _reconstruct(numpy.ndarray, shape, typecode): an empty array, filled by BUILD.
                match args.first().and_then(|&a| self.node(a)) {
                    Some(Node::Global(Global::NdArray)) => {}
                    _ => return Err(self.err("_reconstruct of something other than ndarray")),
                }
                self.push_node(Node::Array(ArrayNode {
                    dtype: None,
                    shape: Vec::new(),
                    fortran_order: false,
                    data: None,
                }));
                Ok(())
            }
            Some(Node::Global(Global::DType)) => {
                let descr = args
                    .first()
                    .and_then(|&a| self.text_of(a))
                    .ok_or_else(|| self.err("numpy.dtype without a type string"))?;
                let dtype = DType::parse(descr).ok_or_else(|| {
                    self.err(format!("the NumPy type `{descr}` is not supported"))
                })?;
                self.push_node(Node::DType(dtype));
                Ok(())
            }
            Some(Node::Global(Global::NdArray)) => {
                Err(self.err("calling numpy.ndarray directly is not supported"))
            }
            _ => Err(self.err("REDUCE of something that is not an allowed global")),
        }
    }

    fn build(&mut self, object: Slot, state: Slot) -> Result<()> {
        let items = self.tuple_items(state, "BUILD's state")?;
        match self.node(object) {
            Some(Node::DType(dtype)) => {
                // (version, byte order, subarray, names, fields, elsize, alignment, flags[, meta])
                let order = items
                    .get(1)
                    .and_then(|&s| self.text_of(s))
                    .and_then(|t| t.bytes().next())
                    .ok_or_else(|| self.err("a dtype's state has no byte order"))?;
                let built = dtype.with_byte_order(order);
                if let Some(Node::DType(d)) = self.node_mut(object) {
                    *d = built;
                }
                Ok(())
            }
            Some(Node::Array(_)) => {
                // (version, shape, dtype, is_fortran, data) or, older, without the version.
                let fields = match items.len() {
                    5 => &items[1..],
                    4 => &items[..],
                    n => return Err(self.err(format!("an array's state has {n} fields"))),
                };
                let shape = self
                    .tuple_items(fields[0], "an array's shape")?
                    .into_iter()
                    .map(|d| match d {
                        Slot::Int(d) => usize::try_from(d).ok(),
                        _ => None,
                    })
                    .collect::<Option<Vec<usize>>>()
                    .ok_or_else(|| self.err("an array's shape is not non-negative integers"))?;
                let dtype = match self.node(fields[1]) {
                    Some(Node::DType(d)) => *d,
                    _ => return Err(self.err("an array's dtype is not a numpy.dtype")),
                };
                let fortran_order = match fields[2] {
                    Slot::Bool(b) => b,
                    Slot::Int(i) => i != 0,
                    _ => return Err(self.err("an array's order flag is not a bool")),
                };
                let data = fields[3];
                if let Some(Node::Array(node)) = self.node_mut(object) {
                    *node = ArrayNode {
                        dtype: Some(dtype),
                        shape,
                        fortran_order,
                        data: Some(data),
                    };
                }
                Ok(())
            }
            _ => Err(self.err("BUILD on something other than a NumPy array or dtype")),
        }
    }

    /// The bytes of a protocol-0 `STRING` argument: quoted, with Python's escapes.
    fn quoted_string(&self, line: &[u8]) -> Result<Vec<u8>> {
        let inner = match line {
            [q, inner @ .., last] if (*q == b'\'' || *q == b'"') && last == q => inner,
            _ => return Err(self.err("a STRING argument is not quoted")),
        };
        escape_decode(inner).ok_or_else(|| self.err("a STRING argument has an invalid escape"))
    }
}

/// Python's `codecs.escape_decode`: `\\`, `\'`, `\"`, `\a\b\f\n\r\t\v`, `\xHH`, octal `\ooo`,
/// and a backslash-newline continuation; other backslashes are kept.
fn escape_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&c) = s.get(i) {
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let e = *s.get(i)?;
        i += 1;
        match e {
            b'\n' => {}
            b'\\' | b'\'' | b'"' => out.push(e),
            b'a' => out.push(0x07),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(0x0b),
            b'x' => {
                let hex = s.get(i..i + 2)?;
                let v = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
                out.push(v);
                i += 2;
            }
            b'0'..=b'7' => {
                let mut v = u32::from(e - b'0');
                for _ in 0..2 {
                    match s.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push((v & 0xff) as u8);
            }
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    Some(out)
}

/// Python's `raw-unicode-escape` decoding: Latin-1 bytes with `\uXXXX` and `\UXXXXXXXX`.
fn raw_unicode_escape(s: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while let Some(&c) = s.get(i) {
        i += 1;
        let digits = match (c, s.get(i)) {
            (b'\\', Some(b'u')) => 4,
            (b'\\', Some(b'U')) => 8,
            _ => {
                out.push(char::from(c));
                continue;
            }
        };
        let hex = s.get(i + 1..i + 1 + digits)?;
        let code = u32::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
        out.push(char::from_u32(code)?);
        i += 1 + digits;
    }
    Some(out)
}

fn opcode_name(op: u8) -> &'static str {
    match op {
        b'P' | b'Q' => "persistent id",
        b'i' | b'o' | 0x81 | 0x92 => "object creation",
        0x82..=0x84 => "extension registry",
        0x8f..=0x91 => "set",
        0x96..=0x98 => "out-of-band buffer",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    fn parse(bytes: &[u8]) -> Result<Pickle<'_>> {
        Pickle::parse(Path::new("test.pkl"), bytes)
    }

    /// `pickle.dumps(x, protocol=4)` of `x = np.empty(2, dtype=object); x[0] = [1, 2, 3];
    /// x[1] = [4, 500]`, from NumPy 2.4.6 (what `np.save` writes after an object array's header).
    const NUMPY_OBJECT_ARRAY_P4: &str = "8004959d000000000000008c166e756d70792e5f636f72652e6d756c74696172726179948c0c5f7265636f6e7374727563749493948c056e756d7079948c076e6461727261799493944b0085944301629487945294284b014b02859468038c0564747970659493948c024f3894898887945294284b038c017c944e4e4e4affffffff4affffffff4b3f749462895d94285d94284b014b024b03655d94284b044df40165657494622e";

    /// `pickle.dumps(d, protocol=3)` of `{b'batch_label': b'testing batch 1 of 1',
    /// b'labels': [3, 0], b'data': np.arange(12, dtype=np.uint8).reshape(2, 6)}`: a CIFAR-like
    /// batch, from NumPy 2.4.6.
    const NUMPY_CIFAR_LIKE_P3: &str = "80037d710028430b62617463685f6c6162656c7101431474657374696e672062617463682031206f662031710243066c6162656c7371035d7104284b034b00654304646174617105636e756d70792e5f636f72652e6d756c746961727261790a5f7265636f6e7374727563740a7106636e756d70790a6e6461727261790a71074b00857108430162710987710a52710b284b014b024b0686710c636e756d70790a64747970650a710d58020000007531710e898887710f527110284b0358010000007c71114e4e4e4affffffff4affffffff4b007471126289430c000102030405060708090a0b711374711462752e";

    /// `pickle.dumps(np.array([[1.5, -2.0], [3.25, 4.0]], dtype='>f8'), protocol=3)`.
    const NUMPY_BIG_ENDIAN_F8_P3: &str = "8003636e756d70792e5f636f72652e6d756c746961727261790a5f7265636f6e7374727563740a7100636e756d70790a6e6461727261790a71014b008571024301627103877104527105284b014b024b02867106636e756d70790a64747970650a7107580200000066387108898887710952710a284b0358010000003e710b4e4e4e4affffffff4affffffff4b0074710c628943203ff8000000000000c000000000000000400a0000000000004010000000000000710d74710e622e";

    #[test]
    fn reads_a_numpy_object_array() {
        let bytes = hex(NUMPY_OBJECT_ARRAY_P4);
        let p = parse(&bytes).unwrap();
        let array = p.root().as_array().unwrap();
        assert_eq!(array.shape(), &[2]);
        assert!(array.dtype().unwrap().is_object());
        let rows: Vec<Vec<i64>> = array
            .objects()
            .unwrap()
            .iter()
            .map(|row| {
                row.as_list()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_int().unwrap())
                    .collect()
            })
            .collect();
        assert_eq!(rows, vec![vec![1, 2, 3], vec![4, 500]]);
        assert!(array.raw().is_none());
    }

    #[test]
    fn reads_a_cifar_like_dict_with_a_uint8_array() {
        let bytes = hex(NUMPY_CIFAR_LIKE_P3);
        let p = parse(&bytes).unwrap();
        let d = p.root().as_dict().unwrap();
        assert_eq!(
            d.get("batch_label").unwrap().as_bytes(),
            Some(&b"testing batch 1 of 1"[..])
        );
        let labels: Vec<i64> = d
            .get("labels")
            .unwrap()
            .as_list()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_int())
            .collect();
        assert_eq!(labels, [3, 0]);
        let raw = d.get("data").unwrap().as_array().unwrap().raw().unwrap();
        assert_eq!(raw.shape, [2, 6]);
        assert_eq!(raw.dtype.descr(), "|u1");
        assert_eq!(
            raw.to_u8(Path::new("x")).unwrap(),
            (0..12).collect::<Vec<u8>>()
        );
    }

    #[test]
    fn reads_big_endian_floats() {
        let bytes = hex(NUMPY_BIG_ENDIAN_F8_P3);
        let p = parse(&bytes).unwrap();
        let raw = p.root().as_array().unwrap().raw().unwrap();
        assert_eq!(raw.dtype.descr(), ">f8");
        assert_eq!(raw.to_f64(Path::new("x")).unwrap(), [1.5, -2.0, 3.25, 4.0]);
        assert!(raw.to_i64(Path::new("x")).is_err());
    }

    #[test]
    fn refuses_globals_keras_refuses() {
        // pickle.dumps of a class instance whose __reduce__ is (os.system, ("echo hi",))
        let evil = b"\x80\x02cposix\nsystem\nq\x00X\x07\x00\x00\x00echo hiq\x01\x85q\x02Rq\x03.";
        match parse(evil) {
            Err(Error::ForbiddenPickleGlobal { module, name, .. }) => {
                assert_eq!((module.as_str(), name.as_str()), ("posix", "system"));
            }
            other => panic!("expected ForbiddenPickleGlobal, got {other:?}"),
        }
        // NumPy's protocol-2 pickle of a numeric array goes through `_codecs.encode`, which
        // Keras's restricted unpickler refuses too.
        let p2 = b"\x80\x02cnumpy._core.multiarray\n_reconstruct\nq\x00cnumpy\nndarray\nq\x01K\x00\x85q\x02c_codecs\nencode\nq\x03.";
        assert!(matches!(
            parse(p2),
            Err(Error::ForbiddenPickleGlobal { .. })
        ));
    }

    #[test]
    fn every_truncation_of_a_real_pickle_is_an_error_not_a_panic() {
        for source in [NUMPY_OBJECT_ARRAY_P4, NUMPY_CIFAR_LIKE_P3] {
            let bytes = hex(source);
            for cut in 0..bytes.len() {
                assert!(parse(&bytes[..cut]).is_err(), "cut at {cut}");
            }
        }
    }

    #[test]
    fn huge_lengths_are_refused_before_allocating() {
        // BINBYTES8 announcing 2^62 bytes, BINSTRING with a negative length, LONG4 of 1 GiB.
        for bytes in [
            &b"\x80\x04\x8e\x00\x00\x00\x00\x00\x00\x00\x40."[..],
            &b"\x80\x02T\xff\xff\xff\xff."[..],
            &b"\x80\x02\x8b\x00\x00\x00\x40."[..],
        ] {
            assert!(
                matches!(parse(bytes), Err(Error::Pickle { .. })),
                "{bytes:?}"
            );
        }
        // A memo index of 2^32 - 1 allocates nothing.
        let p = parse(b"\x80\x02K\x07r\xff\xff\xff\xff0j\xff\xff\xff\xff.").unwrap();
        assert_eq!(p.root().as_int(), Some(7));
    }

    #[test]
    fn reads_protocol_0_strings_ints_and_shared_references() {
        // pickle.dumps({'a': [1, 'x\n\u00e9'], 'b': b'\x00\x01'}, protocol=0) written by
        // hand: text ints, STRING with escapes, raw-unicode-escape, PUT/GET.
        let bytes = b"(dp0\nS'a'\np1\n(lp2\nI1\naVx\\u000a\\u00e9\np3\nasS'b'\np4\nS'\\x00\\x01'\np5\nsS'c'\ng2\ns.";
        let p = parse(bytes).unwrap();
        let d = p.root().as_dict().unwrap();
        let a = d.get("a").unwrap().as_list().unwrap();
        assert_eq!(a.get(0).unwrap().as_int(), Some(1));
        assert!(matches!(a.get(1), Some(Value::Str("x\n\u{e9}"))));
        assert_eq!(d.get("b").unwrap().as_bytes(), Some(&[0u8, 1][..]));
        // `c` refers to the same list as `a`.
        assert_eq!(d.get("c").unwrap().as_list().unwrap().len(), 2);
    }

    #[test]
    fn dtype_strings() {
        let d = DType::parse("<i8").unwrap();
        assert_eq!((d.kind(), d.size(), d.descr()), ('i', 8, "<i8".to_string()));
        assert_eq!(DType::parse("|O").unwrap().descr(), "|O");
        assert_eq!(DType::parse("O8").unwrap().descr(), "|O");
        assert_eq!(DType::parse("u1").unwrap().descr(), "|u1");
        assert!(DType::parse("<U10").is_none());
        assert!(DType::parse("<f2").is_none());
        assert!(DType::parse("").is_none());
    }

    #[test]
    fn integer_conversions_cover_widths_and_signs() {
        let dtype = DType::parse("<i2").unwrap();
        let raw = RawArray {
            dtype,
            shape: vec![2],
            fortran_order: false,
            data: &[0xff, 0xff, 0x02, 0x01],
        };
        assert_eq!(raw.to_i64(Path::new("x")).unwrap(), [-1, 258]);
        let raw = RawArray {
            dtype: DType::parse(">u4").unwrap(),
            shape: vec![1],
            fortran_order: false,
            data: &[0, 0, 1, 0],
        };
        assert_eq!(raw.to_i64(Path::new("x")).unwrap(), [256]);
        let short = RawArray {
            shape: vec![3],
            ..raw
        };
        assert!(matches!(
            short.to_i64(Path::new("x")),
            Err(Error::UnexpectedContent { .. })
        ));
    }
}
