//! NumPy's `.npy` and `.npz` files (what `numpy.save` / `numpy.savez` write): read with the
//! `npyz` crate, `.npz` archives through `zip`. Sizes in a header are checked against the
//! bytes the file holds before anything is allocated.
//!
//! # Examples
//! ```
//! use kiln_datasets::npy::{NpyArray, read_npz, write_npz};
//! use ndarray::{ArrayD, IxDyn};
//! let dir = tempfile::tempdir().expect("a temporary folder");
//! let path = dir.path().join("out.npz");
//! let a = ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![1.0f32, 2.0, 3.0, 4.0]).expect("2x2");
//! write_npz(&path, &[("logits".to_string(), a.clone())])?;
//! let back = read_npz(&path)?;
//! assert_eq!(back[0].0, "logits");
//! assert_eq!(back[0].1, NpyArray::F32(a));
//! # Ok::<(), kiln_datasets::Error>(())
//! ```

use std::io::{Cursor, Read, Write};
use std::path::Path;

use ndarray::{ArrayD, IxDyn};
use npyz::{DType, NpyFile, Order, WriterBuilder};
use zip::write::SimpleFileOptions;

use crate::array::HostArray;
use crate::cache::write_atomic;
use crate::error::{Error, Result};

/// One array read from a `.npy` file, in the type the file holds (a [`HostArray`]).
pub type NpyArray = HostArray;

fn invalid(path: &Path, reason: impl Into<String>) -> Error {
    Error::Npy {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads a `.npy` file.
///
/// # Errors
/// [`Error::Io`]; [`Error::Npy`] for a file that is not `.npy`, is truncated, is in Fortran
/// order, or holds a type other than those of [`NpyArray`].
pub fn read_npy(path: impl AsRef<Path>) -> Result<NpyArray> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(io(path))?;
    parse_npy(path, &bytes)
}

/// Parses the bytes of a `.npy` file (`path` names it in errors).
///
/// # Errors
/// As [`read_npy`].
pub fn parse_npy(path: &Path, bytes: &[u8]) -> Result<NpyArray> {
    let npy = NpyFile::new(bytes).map_err(|e| invalid(path, format!("not a .npy file: {e}")))?;
    if npy.order() == Order::Fortran && npy.shape().len() > 1 {
        return Err(invalid(
            path,
            "holds a Fortran-order array; save it in C order",
        ));
    }
    let shape: Vec<usize> = npy
        .shape()
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| invalid(path, "a dimension is too large")))
        .collect::<Result<_>>()?;
    let DType::Plain(ty) = npy.dtype() else {
        return Err(invalid(path, "holds a structured array"));
    };
    let size = ty.num_bytes().unwrap_or(0) as u64;
    let needed = npy.len().checked_mul(size);
    if needed.is_none_or(|n| n > bytes.len() as u64) {
        return Err(invalid(
            path,
            format!(
                "its header says {} values of {size} bytes, but the file holds {} bytes",
                npy.len(),
                bytes.len()
            ),
        ));
    }
    let descr = ty.to_string();
    let bad = |e: std::io::Error| invalid(path, format!("cannot read the values: {e}"));
    let shaped = |e: ndarray::ShapeError| invalid(path, e.to_string());
    Ok(match descr.as_str() {
        "<f4" => NpyArray::F32(
            ArrayD::from_shape_vec(IxDyn(&shape), npy.into_vec().map_err(bad)?).map_err(shaped)?,
        ),
        "<f8" => NpyArray::F64(
            ArrayD::from_shape_vec(IxDyn(&shape), npy.into_vec().map_err(bad)?).map_err(shaped)?,
        ),
        "<i4" => NpyArray::I32(
            ArrayD::from_shape_vec(IxDyn(&shape), npy.into_vec().map_err(bad)?).map_err(shaped)?,
        ),
        "<i8" => NpyArray::I64(
            ArrayD::from_shape_vec(IxDyn(&shape), npy.into_vec().map_err(bad)?).map_err(shaped)?,
        ),
        "|u1" => NpyArray::U8(
            ArrayD::from_shape_vec(IxDyn(&shape), npy.into_vec().map_err(bad)?).map_err(shaped)?,
        ),
        other => {
            return Err(invalid(
                path,
                format!(
                    "holds `{other}`; Kiln reads float32, float64, int32, int64 and uint8 arrays"
                ),
            ));
        }
    })
}

/// Reads every array of a `.npz` file, in the archive's order, named without `.npy`.
///
/// # Errors
/// [`Error::Io`]; [`Error::Npy`] for a file that is not a zip of `.npy` files.
pub fn read_npz(path: impl AsRef<Path>) -> Result<Vec<(String, NpyArray)>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(io(path))?;
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes.as_slice()))
        .map_err(|e| invalid(path, format!("not a .npz (zip) file: {e}")))?;
    let mut out = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        let file = archive
            .by_index(i)
            .map_err(|e| invalid(path, format!("entry {i}: {e}")))?;
        let name = file
            .name()
            .map_err(|e| invalid(path, format!("entry {i}: {e}")))?
            .to_string();
        // An entry may not unpack to more than a thousand times the archive's size.
        let limit = (bytes.len() as u64).saturating_mul(1000);
        let mut data = Vec::new();
        file.take(limit)
            .read_to_end(&mut data)
            .map_err(|e| invalid(path, format!("cannot unpack `{name}`: {e}")))?;
        let array = parse_npy(&path.join(&name), &data)?;
        out.push((name.trim_end_matches(".npy").to_string(), array));
    }
    Ok(out)
}

/// Writes `arrays` as a `.npz` file (what `numpy.savez_compressed` reads and writes: one
/// `<name>.npy` per array, deflated), atomically.
///
/// # Errors
/// [`Error::Io`] when the file cannot be written.
pub fn write_npz(path: impl AsRef<Path>, arrays: &[(String, ArrayD<f32>)]) -> Result<()> {
    let path = path.as_ref();
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let zip_io = |e: zip::result::ZipError| Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    };
    for (name, array) in arrays {
        zip.start_file(format!("{name}.npy"), options)
            .map_err(zip_io)?;
        let mut npy = Vec::new();
        let shape: Vec<u64> = array.shape().iter().map(|&d| d as u64).collect();
        let mut writer = npyz::WriteOptions::<f32>::new()
            .default_dtype()
            .shape(&shape)
            .writer(&mut npy)
            .begin_nd()
            .map_err(io(path))?;
        writer.extend(array.iter().copied()).map_err(io(path))?;
        writer.finish().map_err(io(path))?;
        zip.write_all(&npy).map_err(io(path))?;
    }
    let bytes = zip.finish().map_err(zip_io)?.into_inner();
    write_atomic(path, &bytes)
}
