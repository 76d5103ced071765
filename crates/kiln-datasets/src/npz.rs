//! NumPy `.npz` archives as Keras's `npz_utils.load_npz` reads them: numeric arrays, and
//! object arrays (ragged sequences) through the restricted [`crate::pickle`] reader.
//!
//! Only members named `*.npy` are read, named without the extension. Sizes are bounded: a
//! member may not unpack to more than [`MAX_MEMBER_BYTES`], and a `.npy` header's shape must
//! match the bytes stored before any element is decoded.
//!
//! # Examples
//! ```
//! use std::io::Write;
//! use kiln_datasets::npz::{Member, parse_member, read_members};
//!
//! // An archive with one int64 array, as `np.savez(f, y=np.array([0, 1]))` writes it.
//! let header = "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }";
//! let mut npy = b"\x93NUMPY\x01\x00".to_vec();
//! npy.extend_from_slice(&(header.len() as u16).to_le_bytes());
//! npy.extend_from_slice(header.as_bytes());
//! npy.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
//! let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
//! zip.start_file("y.npy", zip::write::SimpleFileOptions::default()).expect("entry");
//! zip.write_all(&npy).expect("write");
//! let npz = zip.finish().expect("zip").into_inner();
//!
//! let path = std::path::Path::new("example.npz");
//! let members = read_members(path, &npz)?;
//! assert_eq!(members[0].0, "y");
//! let Member::Numeric(y) = parse_member(path, &members[0].1)? else { unreachable!() };
//! assert_eq!(y.to_i64(path)?, [0, 1]);
//! # Ok::<(), kiln_datasets::Error>(())
//! ```

use std::io::{Cursor, Read};
use std::path::Path;

use crate::error::{Error, Result};
use crate::pickle::{DType, Pickle, RawArray, Value};

/// The largest size a member may unpack to (the IMDB arrays are well under 100 MB).
pub const MAX_MEMBER_BYTES: u64 = 1 << 30;

/// The magic string every `.npy` file starts with.
const MAGIC: &[u8] = b"\x93NUMPY";

/// One parsed `.npy` member.
#[derive(Debug)]
pub enum Member<'a> {
    /// A numeric array, its elements borrowed from the member's bytes.
    Numeric(RawArray<'a>),
    /// An object array: the header's shape and the pickle that rebuilds it.
    Object {
        /// The shape the `.npy` header announces.
        shape: Vec<usize>,
        /// The parsed pickle; its root is the array.
        pickle: Pickle<'a>,
    },
}

fn corrupt(path: &Path, reason: impl Into<String>) -> Error {
    Error::CorruptArchive {
        path: path.to_path_buf(),
        reason: reason.into(),
        source: None,
    }
}

/// The `.npy` members of the `.npz` archive `bytes` (`path` names it in errors), in archive
/// order: `(name without ".npy", member bytes)`.
///
/// # Errors
/// [`Error::CorruptArchive`] for bytes that are not a zip archive or a member that cannot be
/// unpacked, [`Error::TooLarge`] for a member over [`MAX_MEMBER_BYTES`].
pub fn read_members(path: &Path, bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>> {
    let mut archive =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| Error::CorruptArchive {
            path: path.to_path_buf(),
            reason: "not a zip (.npz) archive".into(),
            source: Some(Box::new(e)),
        })?;
    let mut out = Vec::new();
    for i in 0..archive.len() {
        let file = archive.by_index(i).map_err(|e| Error::CorruptArchive {
            path: path.to_path_buf(),
            reason: format!("member {i} cannot be read"),
            source: Some(Box::new(e)),
        })?;
        let Some(name) = file
            .name()
            .ok()
            .and_then(|n| n.strip_suffix(".npy").map(str::to_string))
        else {
            continue;
        };
        let declared = file.size();
        if declared > MAX_MEMBER_BYTES {
            return Err(Error::TooLarge {
                what: format!("{}/{name}.npy", path.display()),
                size: declared,
                limit: MAX_MEMBER_BYTES,
            });
        }
        // Grown as data arrives, never allocated from the header's claim.
        let mut data = Vec::new();
        file.take(MAX_MEMBER_BYTES + 1)
            .read_to_end(&mut data)
            .map_err(|e| Error::CorruptArchive {
                path: path.to_path_buf(),
                reason: format!("member `{name}.npy` cannot be unpacked"),
                source: Some(Box::new(e)),
            })?;
        if data.len() as u64 > MAX_MEMBER_BYTES {
            return Err(Error::TooLarge {
                what: format!("{}/{name}.npy", path.display()),
                size: data.len() as u64,
                limit: MAX_MEMBER_BYTES,
            });
        }
        out.push((name, data));
    }
    Ok(out)
}

/// The member named `name` of [`read_members`]'s result.
///
/// # Errors
/// [`Error::CorruptArchive`] naming the member when the archive lacks it.
pub fn member<'m>(path: &Path, members: &'m [(String, Vec<u8>)], name: &str) -> Result<&'m [u8]> {
    members
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, b)| b.as_slice())
        .ok_or_else(|| corrupt(path, format!("it has no `{name}.npy` member")))
}

/// Parses the bytes of one `.npy` file: a numeric array, or an object array's pickle
/// (`path` names it in errors).
///
/// # Errors
/// [`Error::Npy`] for a bad header, [`Error::Pickle`] or [`Error::ForbiddenPickleGlobal`] for
/// an object array's pickle, [`Error::UnexpectedContent`] when the pickle is not the array the
/// header announces.
pub fn parse_member<'a>(path: &Path, bytes: &'a [u8]) -> Result<Member<'a>> {
    let bad = |reason: String| Error::Npy {
        path: path.to_path_buf(),
        reason,
    };
    if !bytes.starts_with(MAGIC) || bytes.len() < 10 {
        return Err(bad("not a .npy file (no \\x93NUMPY magic)".into()));
    }
    let major = bytes[6];
    let (header_len, start): (usize, usize) = match major {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 => {
            let b = bytes
                .get(8..12)
                .ok_or_else(|| bad("the header is cut short".into()))?;
            let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            (
                usize::try_from(n).map_err(|_| bad("the header is too long".into()))?,
                12,
            )
        }
        v => return Err(bad(format!("unsupported .npy version {v}"))),
    };
    let end = start
        .checked_add(header_len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| {
            bad(format!(
                "the header announces {header_len} bytes, the file holds {}",
                bytes.len()
            ))
        })?;
    let header = String::from_utf8_lossy(&bytes[start..end]);
    let descr = header_value(&header, "descr")
        .and_then(quoted)
        .ok_or_else(|| bad(format!("the header has no readable `descr`: {header}")))?;
    let dtype =
        DType::parse(descr).ok_or_else(|| bad(format!("the type `{descr}` is not supported")))?;
    let fortran_order = match header_value(&header, "fortran_order") {
        Some(v) if v.starts_with("True") => true,
        Some(v) if v.starts_with("False") => false,
        _ => return Err(bad(format!("the header has no `fortran_order`: {header}"))),
    };
    let shape = header_value(&header, "shape")
        .and_then(shape_tuple)
        .ok_or_else(|| bad(format!("the header has no readable `shape`: {header}")))?;
    let payload = &bytes[end..];
    if !dtype.is_object() {
        return Ok(Member::Numeric(RawArray {
            dtype,
            shape,
            fortran_order,
            data: payload,
        }));
    }
    let pickle = Pickle::parse(path, payload)?;
    match pickle.root() {
        Value::Array(a) if a.shape() == shape.as_slice() && a.objects().is_some() => {}
        other => {
            return Err(Error::UnexpectedContent {
                path: path.to_path_buf(),
                reason: format!(
                    "the header announces an object array of shape {shape:?}, the pickle holds {}",
                    match other.as_array() {
                        Some(a) => format!("an array of shape {:?}", a.shape()),
                        None => format!("a {}", other.type_name()),
                    }
                ),
            });
        }
    }
    Ok(Member::Object { shape, pickle })
}

/// The text after `'key':` in a `.npy` header dictionary, trimmed.
fn header_value<'h>(header: &'h str, key: &str) -> Option<&'h str> {
    let quoted_key = format!("'{key}'");
    let at = header
        .find(&quoted_key)
        .or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = header[at + quoted_key.len()..].trim_start();
    Some(rest.strip_prefix(':')?.trim_start())
}

/// The content of the quoted string `value` starts with.
fn quoted(value: &str) -> Option<&str> {
    let q = value.chars().next().filter(|&c| c == '\'' || c == '"')?;
    let rest = &value[1..];
    rest.find(q).map(|end| &rest[..end])
}

/// The integers of the tuple `value` starts with: `()`, `(3,)`, `(2, 3)`.
fn shape_tuple(value: &str) -> Option<Vec<usize>> {
    let inner = value.strip_prefix('(')?;
    let inner = &inner[..inner.find(')')?];
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<usize>().ok())
        .collect()
}

/// The integer sequences of an object array member (each element a list or tuple of ints,
/// or a 1-D integer array), in storage order.
///
/// # Errors
/// [`Error::UnexpectedContent`] for a numeric member or an element that is not a sequence of
/// integers.
pub fn sequences(path: &Path, member: &Member<'_>) -> Result<Vec<Vec<i64>>> {
    let bad = |reason: String| Error::UnexpectedContent {
        path: path.to_path_buf(),
        reason,
    };
    let Member::Object { pickle, .. } = member else {
        return Err(bad(
            "expected an object array of sequences, found a numeric array".into(),
        ));
    };
    let objects = pickle
        .root()
        .as_array()
        .and_then(|a| a.objects())
        .ok_or_else(|| bad("expected an object array of sequences".into()))?;
    let mut out = Vec::with_capacity(objects.len());
    for (i, element) in objects.iter().enumerate() {
        let seq = if let Some(items) = element.as_list() {
            items
                .iter()
                .map(|v| v.as_int())
                .collect::<Option<Vec<i64>>>()
                .ok_or_else(|| bad(format!("sequence {i} holds something other than integers")))?
        } else if let Some(raw) = element.as_array().and_then(|a| a.raw()) {
            raw.to_i64(path)?
        } else {
            return Err(bad(format!(
                "element {i} is a {}, not a sequence",
                element.type_name()
            )));
        };
        out.push(seq);
    }
    Ok(out)
}

/// The elements of a 1-D numeric member as `i64` (labels).
///
/// # Errors
/// [`Error::UnexpectedContent`] for an object array, a rank other than 1, or non-integers.
pub fn integers(path: &Path, member: &Member<'_>) -> Result<Vec<i64>> {
    match member {
        Member::Numeric(raw) if raw.shape.len() == 1 => raw.to_i64(path),
        Member::Numeric(raw) => Err(Error::UnexpectedContent {
            path: path.to_path_buf(),
            reason: format!("expected a 1-D array, found shape {:?}", raw.shape),
        }),
        Member::Object { .. } => Err(Error::UnexpectedContent {
            path: path.to_path_buf(),
            reason: "expected integer labels, found an object array".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn header_fields() {
        let h = "{'descr': '<f8', 'fortran_order': False, 'shape': (506, 13), }";
        assert_eq!(header_value(h, "descr").and_then(quoted), Some("<f8"));
        assert_eq!(
            header_value(h, "shape").and_then(shape_tuple),
            Some(vec![506, 13])
        );
        assert_eq!(
            header_value("{'shape': (), }", "shape").and_then(shape_tuple),
            Some(vec![])
        );
        assert_eq!(
            header_value("{'shape': (7,), }", "shape").and_then(shape_tuple),
            Some(vec![7])
        );
        assert_eq!(
            header_value("{'shape': (-1,), }", "shape").and_then(shape_tuple),
            None
        );
    }

    #[test]
    fn a_header_longer_than_the_file_is_refused() {
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&u16::MAX.to_le_bytes());
        b.extend_from_slice(b"{'descr': '<i8'");
        assert!(matches!(
            parse_member(Path::new("x.npy"), &b),
            Err(Error::Npy { .. })
        ));
        let mut v2 = b"\x93NUMPY\x02\x00".to_vec();
        v2.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            parse_member(Path::new("x.npy"), &v2),
            Err(Error::Npy { .. })
        ));
    }
}
