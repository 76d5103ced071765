//! Reading the IDX format of MNIST (`.gz` or raw).

use std::io::Read;
use std::path::Path;

use flate2::read::GzDecoder;
use ndarray::{Array1, Array3};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// IDX data type code for unsigned bytes.
const IDX_U8: u8 = 0x08;

/// The decoded content of an IDX file of unsigned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxU8 {
    /// The dimensions from the header.
    pub dims: Vec<usize>,
    /// The data, row-major.
    pub data: Vec<u8>,
}

/// Reads a file, decompressing it when it is gzip (detected by its magic bytes).
///
/// # Errors
/// [`Error::Io`] when the file cannot be read, [`Error::Gzip`] when a gzip stream is corrupt.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(raw.len() * 4);
        GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|source| Error::Gzip {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// The lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Parses IDX bytes of unsigned bytes (`0x00 0x00 0x08 rank`, big-endian dimensions, data).
///
/// `path` is only used in error messages.
///
/// # Errors
/// [`Error::BadMagic`], [`Error::UnexpectedLayout`] or [`Error::Truncated`].
pub fn parse_idx_u8(bytes: &[u8], path: &Path) -> Result<IdxU8> {
    let truncated = |expected: usize| Error::Truncated {
        path: path.to_path_buf(),
        expected,
        actual: bytes.len(),
    };
    let magic_bytes: [u8; 4] = bytes
        .get(0..4)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| truncated(4))?;
    let magic = u32::from_be_bytes(magic_bytes);
    if magic_bytes[0] != 0 || magic_bytes[1] != 0 || magic_bytes[3] == 0 || magic_bytes[3] > 4 {
        return Err(Error::BadMagic {
            path: path.to_path_buf(),
            found: magic,
        });
    }
    let (dtype, rank) = (magic_bytes[2], usize::from(magic_bytes[3]));
    if dtype != IDX_U8 {
        return Err(Error::UnexpectedLayout {
            path: path.to_path_buf(),
            dtype,
            rank,
            expected: "unsigned bytes (0x08)",
        });
    }
    let header = 4 + 4 * rank;
    let dims_bytes = bytes.get(4..header).ok_or_else(|| truncated(header))?;
    let dims: Vec<usize> = dims_bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let count = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| truncated(usize::MAX))?;
    let expected = header + count;
    let data = bytes
        .get(header..expected)
        .ok_or_else(|| truncated(expected))?;
    Ok(IdxU8 {
        dims,
        data: data.to_vec(),
    })
}

/// Reads an IDX file of images `[n, rows, cols]`.
///
/// # Errors
/// Any error of [`read_maybe_gz`] and [`parse_idx_u8`], and [`Error::UnexpectedLayout`] when
/// the file is not rank 3.
pub fn read_images(path: &Path, bytes: &[u8]) -> Result<Array3<u8>> {
    let idx = parse_idx_u8(bytes, path)?;
    match idx.dims.as_slice() {
        &[n, h, w] => {
            Array3::from_shape_vec((n, h, w), idx.data).map_err(|e| Error::InvalidArgument {
                name: "images",
                reason: e.to_string(),
            })
        }
        _ => Err(Error::UnexpectedLayout {
            path: path.to_path_buf(),
            dtype: IDX_U8,
            rank: idx.dims.len(),
            expected: "rank 3 (images)",
        }),
    }
}

/// Reads an IDX file of labels `[n]`.
///
/// # Errors
/// As [`read_images`], for rank 1.
pub fn read_labels(path: &Path, bytes: &[u8]) -> Result<Array1<u8>> {
    let idx = parse_idx_u8(bytes, path)?;
    if idx.dims.len() != 1 {
        return Err(Error::UnexpectedLayout {
            path: path.to_path_buf(),
            dtype: IDX_U8,
            rank: idx.dims.len(),
            expected: "rank 1 (labels)",
        });
    }
    Ok(Array1::from_vec(idx.data))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(rank: u8, dims: &[u32]) -> Vec<u8> {
        let mut b = vec![0, 0, IDX_U8, rank];
        for d in dims {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b
    }

    #[test]
    fn parses_a_small_idx_buffer() {
        let mut b = header(2, &[2, 3]);
        b.extend_from_slice(&[1, 2, 3, 4, 5, 6]);
        let idx = parse_idx_u8(&b, Path::new("x")).unwrap();
        assert_eq!(idx.dims, vec![2, 3]);
        assert_eq!(idx.data, vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn truncated_data_is_reported_with_sizes() {
        let mut b = header(1, &[10]);
        b.extend_from_slice(&[1, 2, 3]);
        match parse_idx_u8(&b, Path::new("x")) {
            Err(Error::Truncated {
                expected, actual, ..
            }) => {
                assert_eq!(expected, 18);
                assert_eq!(actual, 11);
            }
            other => panic!("expected Truncated, got {other:?}"),
        }
    }

    #[test]
    fn wrong_magic_is_reported() {
        let b = [0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0];
        assert!(matches!(
            parse_idx_u8(&b, Path::new("x")),
            Err(Error::BadMagic {
                found: 0x1234_5678,
                ..
            })
        ));
    }

    #[test]
    fn non_byte_dtype_is_rejected() {
        let b = [0, 0, 0x0d, 1, 0, 0, 0, 0];
        assert!(matches!(
            parse_idx_u8(&b, Path::new("x")),
            Err(Error::UnexpectedLayout { dtype: 0x0d, .. })
        ));
    }
}
