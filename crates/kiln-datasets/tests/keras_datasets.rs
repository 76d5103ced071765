//! Keras's data set loaders against a local HTTP server serving small files in each real
//! format, made here: gzip IDX files (Fashion-MNIST), `.tar.gz` archives of Python-2-style
//! pickles laid out as CIFAR's, `.npz` archives with pickled NumPy object arrays (IMDB,
//! Reuters) or float arrays (Boston, California), and JSON word indexes.
//!
//! The expected orders and values were checked against Keras 3.15.1 itself, run on these very
//! files (set `KILN_KERAS_FIXTURES_DIR` to a folder to get a copy of them).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};

use flate2::Compression;
use flate2::write::GzEncoder;
use kiln_datasets::remote::{FileHash, Source};
use kiln_datasets::{
    Error, boston_housing, california_housing, cifar10, cifar100, fashion_mnist, imdb, reuters,
};
use sha2::Digest;

// ---------------------------------------------------------------------------------------------
// A local HTTP server.

/// How the server answers for one path.
#[derive(Clone)]
enum Reply {
    /// `200 OK` with the whole file.
    File(Vec<u8>),
    /// `200 OK` announcing the whole file, then half of it and a closed connection.
    CutShort(Vec<u8>),
}

struct Server {
    base: String,
    hits: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Serves `routes` (path without the leading `/` → reply) on 127.0.0.1; anything else is
    /// a 404.
    fn start(routes: Vec<(String, Reply)>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}/datasets/", listener.local_addr().unwrap());
        let hits = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&hits);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                loop {
                    let mut line = String::new();
                    match reader.read_line(&mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) if line == "\r\n" => break,
                        Ok(_) => {}
                    }
                }
                let path = request_line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("")
                    .trim_start_matches("/datasets/")
                    .to_string();
                log.lock().unwrap().push(path.clone());
                let reply = routes.iter().find(|(p, _)| *p == path).map(|(_, r)| r);
                let head = |len: usize| {
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\
                         Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n"
                    )
                };
                let _ = match reply {
                    Some(Reply::File(body)) => stream
                        .write_all(head(body.len()).as_bytes())
                        .and_then(|()| stream.write_all(body)),
                    Some(Reply::CutShort(body)) => stream
                        .write_all(head(body.len()).as_bytes())
                        .and_then(|()| stream.write_all(&body[..body.len() / 2])),
                    None => stream.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found",
                    ),
                };
                let _ = stream.flush();
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
        });
        Server { base, hits }
    }

    fn hits(&self) -> usize {
        self.hits.lock().unwrap().len()
    }
}

fn serve(files: &[(&str, &[u8])]) -> Server {
    Server::start(
        files
            .iter()
            .map(|(n, b)| (n.to_string(), Reply::File(b.to_vec())))
            .collect(),
    )
}

/// A source pointed at `server`, caching into `cache`, expecting the SHA-256 of each file.
fn source(server: &Server, cache: &Path, files: &[(&str, &[u8])]) -> Source {
    files.iter().fold(
        Source::new().origin(&server.base).cache_dir(cache),
        |s, (name, bytes)| s.file_hash(*name, FileHash::sha256_of(bytes)),
    )
}

/// Keeps a copy of a generated file when `KILN_KERAS_FIXTURES_DIR` is set.
fn keep(name: &str, bytes: &[u8]) {
    if let Some(dir) = std::env::var_os("KILN_KERAS_FIXTURES_DIR") {
        let dir = Path::new(&dir);
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

// ---------------------------------------------------------------------------------------------
// Writers of the real formats.

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

fn idx_u8(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

/// A pickle writer, emitting what CPython's pickler (and NumPy's `__reduce__`) emit.
struct Pickler {
    out: Vec<u8>,
    proto: u8,
    memo: u32,
    /// The module of `_reconstruct` for Python 3 arrays (NumPy 2's, or NumPy 1's).
    core: &'static str,
}

impl Pickler {
    fn new(proto: u8) -> Self {
        Self {
            out: vec![0x80, proto],
            proto,
            memo: 0,
            core: "numpy._core.multiarray",
        }
    }

    fn op(&mut self, bytes: &[u8]) -> &mut Self {
        self.out.extend_from_slice(bytes);
        self
    }

    /// Memoizes the top of the stack, as the pickler does after most objects.
    fn put(&mut self) -> &mut Self {
        if self.proto >= 4 {
            self.out.push(0x94);
        } else if self.memo < 256 {
            self.out.extend_from_slice(&[b'q', self.memo as u8]);
        } else {
            self.out.push(b'r');
            self.out.extend_from_slice(&self.memo.to_le_bytes());
        }
        self.memo += 1;
        self
    }

    fn int(&mut self, v: i64) -> &mut Self {
        if (0..256).contains(&v) {
            self.op(&[b'K', v as u8])
        } else if (0..65536).contains(&v) {
            self.op(b"M").op(&(v as u16).to_le_bytes())
        } else {
            self.op(b"J").op(&(v as i32).to_le_bytes())
        }
    }

    /// A Python 2 `str` (read back as `bytes`).
    fn py2_str(&mut self, b: &[u8]) -> &mut Self {
        if b.len() < 256 {
            self.op(&[b'U', b.len() as u8]);
        } else {
            self.op(b"T").op(&(b.len() as u32).to_le_bytes());
        }
        self.op(b).put()
    }

    /// A Python 3 `str`.
    fn py3_str(&mut self, s: &str) -> &mut Self {
        if self.proto >= 4 && s.len() < 256 {
            self.op(&[0x8c, s.len() as u8]);
        } else {
            self.op(b"X").op(&(s.len() as u32).to_le_bytes());
        }
        self.op(s.as_bytes()).put()
    }

    /// A Python 3 `bytes`.
    fn py3_bytes(&mut self, b: &[u8]) -> &mut Self {
        if b.len() < 256 {
            self.op(&[b'C', b.len() as u8]);
        } else {
            self.op(b"B").op(&(b.len() as u32).to_le_bytes());
        }
        self.op(b).put()
    }

    fn global(&mut self, module: &str, name: &str) -> &mut Self {
        if self.proto >= 4 {
            self.py3_str(module).py3_str(name).op(&[0x93]).put()
        } else {
            self.op(format!("c{module}\n{name}\n").as_bytes()).put()
        }
    }

    fn tuple(&mut self, n: usize) -> &mut Self {
        match n {
            0 => self.op(b")"),
            1..=3 => self.op(&[0x84 + n as u8]),
            _ => panic!("use mark/t"),
        }
        .put()
    }

    fn int_list(&mut self, items: &[i64]) -> &mut Self {
        self.op(b"]").put();
        if !items.is_empty() {
            self.op(b"(");
            for &i in items {
                self.int(i);
            }
            self.op(b"e");
        }
        self
    }

    /// A NumPy array as `ndarray.__reduce__` pickles it. `py2` writes it as NumPy 1 under
    /// Python 2 did (CIFAR): `numpy.core`, `str` arguments, integer flags.
    fn ndarray(
        &mut self,
        py2: bool,
        dtype: &str,
        shape: &[usize],
        body: impl FnOnce(&mut Self),
    ) -> &mut Self {
        let core = if py2 {
            "numpy.core.multiarray"
        } else {
            self.core
        };
        self.global(core, "_reconstruct").global("numpy", "ndarray");
        self.int(0).tuple(1);
        if py2 {
            self.py2_str(b"b");
        } else {
            self.py3_bytes(b"b");
        }
        self.tuple(3).op(b"R").put();
        // State: (1, shape, dtype, is_fortran, data).
        self.op(b"(").int(1);
        for &d in shape {
            self.int(d as i64);
        }
        self.tuple(shape.len());
        self.global("numpy", "dtype");
        if py2 {
            self.py2_str(dtype.as_bytes()).int(0).int(1);
        } else {
            self.py3_str(dtype).op(&[0x89, 0x88]);
        }
        self.tuple(3).op(b"R").put();
        let flags = if dtype.starts_with('O') { 63 } else { 0 };
        self.op(b"(").int(3);
        if py2 {
            self.py2_str(b"|");
        } else {
            self.py3_str("|");
        }
        self.op(b"NNN")
            .op(b"J\xff\xff\xff\xffJ\xff\xff\xff\xff")
            .int(flags)
            .op(b"t")
            .put()
            .op(b"b");
        self.op(&[0x89]);
        body(self);
        self.op(b"t").put().op(b"b")
    }

    fn finish(&mut self) -> Vec<u8> {
        self.out.push(b'.');
        std::mem::take(&mut self.out)
    }
}

/// A pickled NumPy object array of integer lists (what `np.save` writes for ragged data).
const NUMPY2: &str = "numpy._core.multiarray";

fn object_array_pickle(proto: u8, core: &'static str, seqs: &[Vec<i64>]) -> Vec<u8> {
    let mut p = Pickler::new(proto);
    p.core = core;
    p.ndarray(false, "O8", &[seqs.len()], |p| {
        p.op(b"]").put().op(b"(");
        for s in seqs {
            p.int_list(s);
        }
        p.op(b"e");
    });
    p.finish()
}

/// A `.npy` file: version 1.0 header, padded as NumPy pads it, then `payload`.
fn npy(descr: &str, shape: &[usize], payload: &[u8]) -> Vec<u8> {
    let shape = match shape {
        [n] => format!("({n},)"),
        dims => format!(
            "({})",
            dims.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(payload);
    out
}

fn npy_i64(values: &[i64]) -> Vec<u8> {
    let payload: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    npy("<i8", &[values.len()], &payload)
}

fn npz(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in members {
        zip.start_file(format!("{name}.npy"), options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

fn tar_gz(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    let mut dirs = Vec::new();
    for (name, bytes) in members {
        let dir = name.split('/').next().unwrap().to_string();
        if !dirs.contains(&dir) {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            builder
                .append_data(&mut h, format!("{dir}/"), std::io::empty())
                .unwrap();
            dirs.push(dir);
        }
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(bytes.len() as u64);
        builder.append_data(&mut h, name, bytes.as_slice()).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

// ---------------------------------------------------------------------------------------------
// Fashion-MNIST.

fn fashion_pixel(i: usize, r: usize, c: usize) -> u8 {
    ((i * 31 + r * 7 + c) % 256) as u8
}

fn fashion_files() -> Vec<(&'static str, Vec<u8>)> {
    let images = |n: usize, first: usize| {
        let data: Vec<u8> = (first..first + n)
            .flat_map(|i| (0..28).flat_map(move |r| (0..28).map(move |c| fashion_pixel(i, r, c))))
            .collect();
        gzip(&idx_u8(&[n as u32, 28, 28], &data))
    };
    vec![
        (
            "train-labels-idx1-ubyte.gz",
            gzip(&idx_u8(&[3], &[9, 0, 3])),
        ),
        ("train-images-idx3-ubyte.gz", images(3, 0)),
        ("t10k-labels-idx1-ubyte.gz", gzip(&idx_u8(&[2], &[1, 8]))),
        ("t10k-images-idx3-ubyte.gz", images(2, 3)),
    ]
}

#[test]
fn fashion_mnist_downloads_checks_caches_and_reads_the_idx_files() {
    let files = fashion_files();
    for (name, bytes) in &files {
        keep(name, bytes);
    }
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (*n, b.as_slice())).collect();
    let server = serve(&refs);
    let cache = tempfile::tempdir().unwrap();
    let src = source(&server, cache.path(), &refs);

    let ((x_train, y_train), (x_test, y_test)) = fashion_mnist::load_data_with(&src).unwrap();
    assert_eq!(x_train.shape(), &[3, 28, 28]);
    assert_eq!(x_test.shape(), &[2, 28, 28]);
    assert_eq!(y_train.to_vec(), [9, 0, 3]);
    assert_eq!(y_test.to_vec(), [1, 8]);
    assert_eq!(x_train[[2, 5, 17]], fashion_pixel(2, 5, 17));
    assert_eq!(x_test[[1, 27, 0]], fashion_pixel(4, 27, 0));
    assert_eq!(server.hits(), 4);
    assert_eq!(
        files_in(cache.path()),
        [
            "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz"
        ]
    );

    // Cached: no request the second time, and readable offline.
    let again = fashion_mnist::load_data_with(&src).unwrap();
    assert_eq!(server.hits(), 4);
    assert_eq!(again.0.0, x_train);
    let offline = fashion_mnist::load_data_from(cache.path()).unwrap();
    assert_eq!(offline.1.1, y_test);

    // Keras gives no hash for Fashion-MNIST: none is checked by default.
    assert!(fashion_mnist::FILES.iter().all(|f| f.file_hash.is_none()));
}

// ---------------------------------------------------------------------------------------------
// CIFAR-10 and CIFAR-100.

fn cifar_pixel(i: usize, ch: usize, h: usize, w: usize) -> u8 {
    ((i * 11 + ch * 85 + h * 5 + w * 3) % 256) as u8
}

/// The `data` of images `first..first + n`: rows of 3072 bytes, channels first.
fn cifar_rows(first: usize, n: usize) -> Vec<u8> {
    (first..first + n)
        .flat_map(|i| {
            (0..3).flat_map(move |ch| {
                (0..32).flat_map(move |h| (0..32).map(move |w| cifar_pixel(i, ch, h, w)))
            })
        })
        .collect()
}

/// A CIFAR batch as Python 2's `cPickle` wrote it: `{'batch_label', labels..., 'data',
/// 'filenames'}` with `str` keys.
fn cifar_batch(first: usize, n: usize, labels: &[(&str, Vec<i64>)]) -> Vec<u8> {
    let mut p = Pickler::new(2);
    p.op(b"}").put().op(b"(");
    p.py2_str(b"batch_label")
        .py2_str(b"a batch of a test archive");
    for (key, values) in labels {
        p.py2_str(key.as_bytes()).int_list(values);
    }
    p.py2_str(b"data");
    let rows = cifar_rows(first, n);
    p.ndarray(true, "u1", &[n, 3072], |p| {
        p.py2_str(&rows);
    });
    p.py2_str(b"filenames").op(b"]").put().op(b"(");
    for i in 0..n {
        p.py2_str(format!("image_{}.png", first + i).as_bytes());
    }
    p.op(b"e").op(b"u");
    p.finish()
}

fn cifar10_labels(first: usize, n: usize) -> Vec<i64> {
    (first..first + n).map(|i| ((i * 3) % 10) as i64).collect()
}

fn cifar10_members() -> Vec<(String, Vec<u8>)> {
    let mut members = vec![(
        "cifar-10-batches-py/batches.meta".to_string(),
        Pickler::new(2).op(b"}").finish(),
    )];
    for b in 0..5 {
        members.push((
            format!("cifar-10-batches-py/data_batch_{}", b + 1),
            cifar_batch(b * 2, 2, &[("labels", cifar10_labels(b * 2, 2))]),
        ));
    }
    members.push((
        "cifar-10-batches-py/test_batch".to_string(),
        cifar_batch(10, 3, &[("labels", cifar10_labels(10, 3))]),
    ));
    members
}

fn check_cifar_images(x: &ndarray::Array4<u8>, first: usize) {
    for ((i, h, w, ch), &v) in x.indexed_iter() {
        assert_eq!(
            v,
            cifar_pixel(first + i, ch, h, w),
            "image {i} ({h}, {w}, {ch})"
        );
    }
}

#[test]
fn cifar10_reads_the_pickled_batches_of_the_archive_channels_last() {
    let members = cifar10_members();
    let archive = tar_gz(&members);
    keep("cifar-10-python.tar.gz", &archive);
    let files: [(&str, &[u8]); 1] = [("cifar-10-python.tar.gz", &archive)];
    let server = serve(&files);
    let cache = tempfile::tempdir().unwrap();

    let ((x_train, y_train), (x_test, y_test)) =
        cifar10::load_data_with(&source(&server, cache.path(), &files)).unwrap();
    assert_eq!(x_train.shape(), &[10, 32, 32, 3]);
    assert_eq!(y_train.shape(), &[10, 1]);
    assert_eq!(x_test.shape(), &[3, 32, 32, 3]);
    assert_eq!(y_test.shape(), &[3, 1]);
    check_cifar_images(&x_train, 0);
    check_cifar_images(&x_test, 10);
    assert_eq!(
        y_train.iter().copied().collect::<Vec<u8>>(),
        [0, 3, 6, 9, 2, 5, 8, 1, 4, 7]
    );
    assert_eq!(y_test.iter().copied().collect::<Vec<u8>>(), [0, 3, 6]);
    assert_eq!(files_in(cache.path()), ["cifar-10-python.tar.gz"]);

    // The extracted folder reads the same.
    let extracted = tempfile::tempdir().unwrap();
    for (name, bytes) in &members {
        let path = extracted.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    let ((x2, y2), _) = cifar10::load_data_from(extracted.path()).unwrap();
    assert_eq!((x2, y2), (x_train, y_train));
}

#[test]
fn cifar100_gives_fine_or_coarse_labels() {
    let fine = |first: usize, n: usize| -> Vec<i64> {
        (first..first + n)
            .map(|i| ((i * 13) % 100) as i64)
            .collect()
    };
    let coarse =
        |first: usize, n: usize| -> Vec<i64> { fine(first, n).iter().map(|f| f / 5).collect() };
    let members = vec![
        (
            "cifar-100-python/train".to_string(),
            cifar_batch(
                0,
                4,
                &[("fine_labels", fine(0, 4)), ("coarse_labels", coarse(0, 4))],
            ),
        ),
        (
            "cifar-100-python/test".to_string(),
            cifar_batch(
                4,
                2,
                &[("fine_labels", fine(4, 2)), ("coarse_labels", coarse(4, 2))],
            ),
        ),
        (
            "cifar-100-python/meta".to_string(),
            Pickler::new(2).op(b"}").finish(),
        ),
    ];
    let archive = tar_gz(&members);
    keep("cifar-100-python.tar.gz", &archive);
    let files: [(&str, &[u8]); 1] = [("cifar-100-python.tar.gz", &archive)];
    let server = serve(&files);
    let cache = tempfile::tempdir().unwrap();
    let src = source(&server, cache.path(), &files);

    let ((x_train, y_train), (x_test, y_test)) =
        cifar100::load_data_with(&cifar100::LoadOptions::new().source(src.clone())).unwrap();
    assert_eq!(x_train.shape(), &[4, 32, 32, 3]);
    assert_eq!(x_test.shape(), &[2, 32, 32, 3]);
    check_cifar_images(&x_train, 0);
    check_cifar_images(&x_test, 4);
    assert_eq!(y_train.shape(), &[4, 1]);
    assert_eq!(
        y_train.iter().copied().collect::<Vec<i64>>(),
        [0, 13, 26, 39]
    );
    assert_eq!(y_test.iter().copied().collect::<Vec<i64>>(), [52, 65]);

    let options = cifar100::LoadOptions::new()
        .label_mode("coarse".parse().unwrap())
        .source(src);
    let ((_, y_train), (_, y_test)) = cifar100::load_data_with(&options).unwrap();
    assert_eq!(y_train.iter().copied().collect::<Vec<i64>>(), [0, 2, 5, 7]);
    assert_eq!(y_test.iter().copied().collect::<Vec<i64>>(), [10, 13]);
    assert_eq!(server.hits(), 1, "the second load reads the cached archive");
    assert!(matches!(
        "medium".parse::<cifar100::LabelMode>(),
        Err(Error::InvalidArgument {
            name: "label_mode",
            ..
        })
    ));
}

// ---------------------------------------------------------------------------------------------
// IMDB and Reuters.

/// Training sequences and labels, test sequences and labels.
type RawSplits = (Vec<Vec<i64>>, Vec<i64>, Vec<Vec<i64>>, Vec<i64>);

fn imdb_raw() -> RawSplits {
    (
        vec![
            vec![1, 2, 3],
            vec![4, 1],
            vec![5, 6, 7, 8, 1],
            vec![2],
            vec![9, 10, 1, 2, 3, 4],
            vec![11, 1],
            vec![3, 3, 12],
        ],
        vec![1, 0, 1, 1, 0, 0, 1],
        vec![vec![1, 4], vec![12, 2, 7, 1, 5], vec![6], vec![8, 9, 2]],
        vec![0, 1, 1, 0],
    )
}

fn imdb_npz() -> Vec<u8> {
    let (x_train, y_train, x_test, y_test) = imdb_raw();
    // NumPy 2 pickles object arrays with protocol 4 (framing aside, as here).
    npz(&[
        (
            "x_test",
            npy(
                "|O",
                &[x_test.len()],
                &object_array_pickle(4, NUMPY2, &x_test),
            ),
        ),
        (
            "x_train",
            npy(
                "|O",
                &[x_train.len()],
                &object_array_pickle(4, NUMPY2, &x_train),
            ),
        ),
        ("y_train", npy_i64(&y_train)),
        ("y_test", npy_i64(&y_test)),
    ])
}

const WORD_INDEX: &str = r#"{"the": 1, "and": 2, "a": 3, "of": 4, "film": 5}"#;

fn load_imdb(
    server: &Server,
    cache: &Path,
    npz: &[u8],
    o: imdb::LoadOptions,
) -> (imdb::Split, imdb::Split) {
    imdb::load_data_with(&o.source(source(server, cache, &[("imdb.npz", npz)]))).unwrap()
}

#[test]
fn imdb_follows_keras_shuffle_and_options() {
    let npz = imdb_npz();
    keep("imdb.npz", &npz);
    keep("imdb_word_index.json", WORD_INDEX.as_bytes());
    let server = serve(&[
        ("imdb.npz", &npz),
        ("imdb_word_index.json", WORD_INDEX.as_bytes()),
    ]);
    let cache = tempfile::tempdir().unwrap();
    let load = |o| load_imdb(&server, cache.path(), &npz, o);

    // Keras's defaults: shuffled with RandomState(113) (train, then test), start_char 1,
    // index_from 3, and num_words the largest index (15), itself then out of range (oov 2).
    let ((x_train, y_train), (x_test, y_test)) = load(imdb::LoadOptions::new());
    let expected_train: Vec<Vec<i64>> = vec![
        vec![1, 7, 4],
        vec![1, 5],
        vec![1, 4, 5, 6],
        vec![1, 6, 6, 2],
        vec![1, 8, 9, 10, 11, 4],
        vec![1, 12, 13, 4, 5, 6, 7],
        vec![1, 14, 4],
    ];
    assert_eq!(x_train, expected_train);
    assert_eq!(y_train.to_vec(), [0, 1, 1, 1, 1, 0, 0]);
    assert_eq!(
        x_test,
        vec![
            vec![1, 11, 12, 5],
            vec![1, 4, 7],
            vec![1, 2, 5, 10, 4, 8],
            vec![1, 9]
        ]
    );
    assert_eq!(y_test.to_vec(), [0, 0, 1, 1]);

    // num_words and skip_top: indexes outside 4 <= w < 8 become oov_char 2.
    let ((x_train, _), (x_test, _)) = load(imdb::LoadOptions::new().num_words(8).skip_top(4));
    assert_eq!(
        x_train,
        vec![
            vec![2, 7, 4],
            vec![2, 5],
            vec![2, 4, 5, 6],
            vec![2, 6, 6, 2],
            vec![2, 2, 2, 2, 2, 4],
            vec![2, 2, 2, 4, 5, 6, 7],
            vec![2, 2, 4]
        ]
    );
    assert_eq!(
        x_test,
        vec![
            vec![2, 2, 2, 5],
            vec![2, 4, 7],
            vec![2, 2, 5, 2, 4, 2],
            vec![2, 2]
        ]
    );

    assert!(
        x_train
            .iter()
            .chain(&x_test)
            .flatten()
            .all(|&w| w == 2 || (4..8).contains(&w))
    );

    // maxlen drops sequences of maxlen indexes or more (start_char counted).
    let ((x_train, y_train), (x_test, y_test)) = load(imdb::LoadOptions::new().maxlen(4));
    assert_eq!(x_train, [vec![1, 7, 4], vec![1, 5], vec![1, 2, 4]]);
    assert_eq!(y_train.to_vec(), [0, 1, 0]);
    assert_eq!(x_test, [vec![1, 4, 7], vec![1, 9]]);
    assert_eq!(y_test.to_vec(), [0, 1]);
    let none = imdb::load_data_with(&imdb::LoadOptions::new().maxlen(2).source(source(
        &server,
        cache.path(),
        &[("imdb.npz", &npz)],
    )));
    assert!(
        matches!(none, Err(Error::InvalidArgument { name: "maxlen", .. })),
        "{none:?}"
    );

    // No start_char, index_from 0, oov_char None (cut words dropped), another seed.
    let ((x_train, y_train), (x_test, _)) = load(
        imdb::LoadOptions::new()
            .start_char(None)
            .index_from(0)
            .oov_char(None)
            .num_words(9)
            .seed(5),
    );
    assert_eq!(
        x_train,
        vec![
            vec![3, 3],
            vec![5, 6, 7, 8, 1],
            vec![1, 2, 3, 4],
            vec![4, 1],
            vec![1, 2, 3],
            vec![1],
            vec![2]
        ]
    );
    assert_eq!(y_train.to_vec(), [1, 1, 0, 0, 1, 0, 1]);
    assert_eq!(
        x_test,
        vec![vec![1, 4], vec![2, 7, 1, 5], vec![6], vec![8, 2]]
    );
    assert_eq!(
        server.hits(),
        1,
        "downloaded once, then read from the cache"
    );

    // The word index, checked by its MD5 as Keras checks it.
    let md5 = format!("{:x}", md5::Md5::digest(WORD_INDEX.as_bytes()));
    let index = imdb::get_word_index_with(
        &Source::new()
            .origin(&server.base)
            .cache_dir(cache.path())
            .file_hash("imdb_word_index.json", FileHash::Md5(md5)),
    )
    .unwrap();
    assert_eq!(index.len(), 5);
    assert_eq!(index["film"], 5);
    assert_eq!(imdb::WORD_INDEX_FILE.hash().algorithm(), Some("md5"));
}

fn reuters_raw() -> (Vec<Vec<i64>>, Vec<i64>) {
    (
        vec![
            vec![1, 2],
            vec![3, 4, 5],
            vec![1],
            vec![6, 7, 8, 9],
            vec![2, 2, 2],
            vec![10, 1],
            vec![4],
            vec![5, 6],
            vec![11, 3, 1],
            vec![7, 7],
        ],
        vec![3, 4, 3, 19, 1, 11, 3, 4, 16, 8],
    )
}

#[test]
fn reuters_follows_keras_shuffle_split_and_options() {
    let (xs, ys) = reuters_raw();
    // Written as NumPy 1 under Python 3 wrote it: protocol 3, `numpy.core`.
    let x = object_array_pickle(3, "numpy.core.multiarray", &xs);
    let npz = npz(&[("x", npy("|O", &[xs.len()], &x)), ("y", npy_i64(&ys))]);
    keep("reuters.npz", &npz);
    let server = serve(&[
        ("reuters.npz", &npz),
        ("reuters_word_index.json", WORD_INDEX.as_bytes()),
    ]);
    let cache = tempfile::tempdir().unwrap();
    let src = source(&server, cache.path(), &[("reuters.npz", &npz)]);
    let load = |o: reuters::LoadOptions| reuters::load_data_with(&o.source(src.clone())).unwrap();

    // Defaults: RandomState(113) order, split at int(10 * 0.8) = 8.
    let ((x_train, y_train), (x_test, y_test)) = load(reuters::LoadOptions::new());
    assert_eq!(
        x_train,
        vec![
            vec![1, 10, 10],
            vec![1, 9, 10, 11, 12],
            vec![1, 7],
            vec![1, 6, 7, 8],
            vec![1, 4, 5],
            vec![1, 8, 9],
            vec![1, 5, 5, 5],
            vec![1, 2, 6, 4]
        ]
    );
    assert_eq!(y_train.to_vec(), [8, 19, 3, 4, 3, 4, 1, 16]);
    assert_eq!(x_test, vec![vec![1, 4], vec![1, 13, 4]]);
    assert_eq!(y_test.to_vec(), [3, 11]);

    // test_split, maxlen, num_words, skip_top, oov_char.
    let ((x_train, y_train), (x_test, y_test)) = load(
        reuters::LoadOptions::new()
            .test_split(0.5)
            .maxlen(4)
            .num_words(9)
            .skip_top(5)
            .oov_char(Some(0)),
    );
    assert_eq!(x_train, vec![vec![0, 0, 0], vec![0, 7], vec![0, 0, 5]]);
    assert_eq!(y_train.to_vec(), [8, 3, 3]);
    assert_eq!(x_test, vec![vec![0, 8, 0], vec![0, 0], vec![0, 0, 0]]);
    assert_eq!(y_test.to_vec(), [4, 3, 11]);

    // test_split 0 and 1.
    let ((train, _), (test, _)) = load(reuters::LoadOptions::new().test_split(0.0));
    assert_eq!((train.len(), test.len()), (10, 0));
    let ((train, _), (test, _)) = load(reuters::LoadOptions::new().test_split(1.0));
    assert_eq!((train.len(), test.len()), (0, 10));
    let bad = reuters::load_data_with(
        &reuters::LoadOptions::new()
            .test_split(1.5)
            .source(src.clone()),
    );
    assert!(matches!(
        bad,
        Err(Error::InvalidArgument {
            name: "test_split",
            ..
        })
    ));
    assert_eq!(server.hits(), 1);

    let md5 = format!("{:x}", md5::Md5::digest(WORD_INDEX.as_bytes()));
    let index = reuters::get_word_index_with(
        &Source::new()
            .origin(&server.base)
            .cache_dir(cache.path())
            .file_hash("reuters_word_index.json", FileHash::Md5(md5)),
    )
    .unwrap();
    assert_eq!(index["the"], 1);
    assert_eq!(reuters::get_label_names().len(), 46);
    assert_eq!(reuters::get_label_names()[45], "lead");
}

// ---------------------------------------------------------------------------------------------
// Boston and California Housing.

fn boston_npz() -> Vec<u8> {
    let x: Vec<u8> = (0..10)
        .flat_map(|i| (0..13).flat_map(move |j| (f64::from(i * 100 + j) + 0.5).to_le_bytes()))
        .collect();
    let y: Vec<u8> = (0..10)
        .flat_map(|i| (f64::from(i) * 1.5 + 10.0).to_le_bytes())
        .collect();
    npz(&[
        ("x", npy("<f8", &[10, 13], &x)),
        ("y", npy("<f8", &[10], &y)),
    ])
}

#[test]
fn boston_housing_is_shuffled_and_split_as_keras_does() {
    let npz = boston_npz();
    keep("boston_housing.npz", &npz);
    let server = serve(&[("boston_housing.npz", &npz)]);
    let cache = tempfile::tempdir().unwrap();
    let src = source(&server, cache.path(), &[("boston_housing.npz", &npz)]);

    let ((x_train, y_train), (x_test, y_test)) =
        boston_housing::load_data_with(&boston_housing::LoadOptions::new().source(src.clone()))
            .unwrap();
    // np.random.RandomState(113).shuffle(np.arange(10)) -> [9, 3, 6, 1, 0, 7, 4, 8, 2, 5].
    let order = [9, 3, 6, 1, 0, 7, 4, 8, 2, 5];
    assert_eq!(x_train.shape(), &[8, 13]);
    assert_eq!(x_test.shape(), &[2, 13]);
    let rows: Vec<f64> = x_train
        .column(0)
        .iter()
        .chain(x_test.column(0))
        .copied()
        .collect();
    let expected: Vec<f64> = order.iter().map(|&i| f64::from(i * 100) + 0.5).collect();
    assert_eq!(rows, expected);
    assert_eq!(x_train[[0, 12]], 912.5);
    assert_eq!(y_train[0], 9.0 * 1.5 + 10.0);
    assert_eq!(y_test.to_vec(), [2.0 * 1.5 + 10.0, 5.0 * 1.5 + 10.0]);

    let ((x_train, _), (x_test, _)) = boston_housing::load_data_with(
        &boston_housing::LoadOptions::new()
            .test_split(0.5)
            .seed(5)
            .source(src.clone()),
    )
    .unwrap();
    // np.random.RandomState(5).shuffle(np.arange(10)) -> [9, 5, 2, 4, 7, 1, 0, 8, 6, 3].
    let firsts: Vec<f64> = x_train
        .column(1)
        .iter()
        .chain(x_test.column(1))
        .copied()
        .collect();
    let expected: Vec<f64> = [9, 5, 2, 4, 7, 1, 0, 8, 6, 3]
        .iter()
        .map(|&i| f64::from(i * 100 + 1) + 0.5)
        .collect();
    assert_eq!(firsts, expected);
    assert_eq!(x_train.nrows(), 5);

    let bad = boston_housing::load_data_with(
        &boston_housing::LoadOptions::new()
            .test_split(1.0)
            .source(src),
    );
    assert!(matches!(
        bad,
        Err(Error::InvalidArgument {
            name: "test_split",
            ..
        })
    ));
    // Offline from the cache folder.
    let opts = boston_housing::LoadOptions::new()
        .source(Source::new().file_hash("boston_housing.npz", FileHash::sha256_of(&npz)));
    assert!(boston_housing::load_data_from(cache.path(), &opts).is_ok());
    assert_eq!(server.hits(), 1);
}

#[test]
fn california_housing_versions_and_float32_features() {
    let n = 700;
    let x: Vec<u8> = (0..n)
        .flat_map(|i| (0..8).flat_map(move |j| (i as f32 + j as f32 / 10.0).to_le_bytes()))
        .collect();
    let y: Vec<u8> = (0..n)
        .flat_map(|i| (f64::from(i) * 1000.0 + 0.25).to_le_bytes())
        .collect();
    let npz = npz(&[
        ("x", npy("<f4", &[n as usize, 8], &x)),
        ("y", npy("<f8", &[n as usize], &y)),
    ]);
    keep("california_housing.npz", &npz);
    let server = serve(&[("california_housing.npz", &npz)]);
    let cache = tempfile::tempdir().unwrap();
    let src = source(&server, cache.path(), &[("california_housing.npz", &npz)]);

    let ((x_train, y_train), (x_test, y_test)) = california_housing::load_data_with(
        &california_housing::LoadOptions::new().source(src.clone()),
    )
    .unwrap();
    assert_eq!(x_train.shape(), &[560, 8]);
    assert_eq!(x_test.shape(), &[140, 8]);
    // Keras 3.15.1 on this file: the first training rows and the last test row.
    let firsts: Vec<f64> = x_train.column(0).iter().take(5).copied().collect();
    assert_eq!(firsts, [107.0, 175.0, 556.0, 64.0, 39.0]);
    assert_eq!(x_test[[139, 0]], 165.0);
    // float32 in the file, read exactly: Keras's value is 107.30000305175781.
    assert_eq!(x_train[[0, 3]], 107.300_003_051_757_81);
    assert_eq!(y_train[0], 107_000.25);
    assert_eq!(y_test[139], 165_000.25);

    let ((x_train, _), (x_test, _)) = california_housing::load_data_with(
        &california_housing::LoadOptions::new()
            .version("small".parse().unwrap())
            .source(src),
    )
    .unwrap();
    assert_eq!((x_train.nrows(), x_test.nrows()), (480, 120));
    let firsts: Vec<f64> = x_train.column(0).iter().take(5).copied().collect();
    assert_eq!(firsts, [568.0, 505.0, 59.0, 71.0, 298.0]);
    assert!(
        x_train
            .column(0)
            .iter()
            .chain(x_test.column(0))
            .all(|&v| v < 600.0)
    );
    assert_eq!(server.hits(), 1);
}

// ---------------------------------------------------------------------------------------------
// Failures.

#[test]
fn a_wrong_checksum_is_refused_and_nothing_is_cached() {
    let npz = boston_npz();
    let server = serve(&[("boston_housing.npz", &npz)]);
    let cache = tempfile::tempdir().unwrap();
    let wrong = FileHash::sha256_of(b"not the file");
    let src = Source::new()
        .origin(&server.base)
        .cache_dir(cache.path())
        .file_hash("boston_housing.npz", wrong.clone());
    let err = boston_housing::load_data_with(&boston_housing::LoadOptions::new().source(src))
        .unwrap_err();
    match &err {
        Error::HashMismatch {
            path,
            url,
            algorithm,
            expected,
            actual,
        } => {
            assert_eq!(path, &cache.path().join("boston_housing.npz"));
            assert_eq!(
                url.as_deref(),
                Some(format!("{}boston_housing.npz", server.base).as_str())
            );
            assert_eq!(*algorithm, "sha256");
            assert_eq!(FileHash::Sha256(expected.clone()), wrong);
            assert_eq!(FileHash::Sha256(actual.clone()), FileHash::sha256_of(&npz));
        }
        other => panic!("expected HashMismatch, got {other:?}"),
    }
    assert!(err.to_string().contains("boston_housing.npz"), "{err}");
    assert!(
        files_in(cache.path()).is_empty(),
        "{:?}",
        files_in(cache.path())
    );

    // Keras's own hash is checked by default: the test file is not Keras's.
    let err = boston_housing::load_data_with(
        &boston_housing::LoadOptions::new()
            .source(Source::new().origin(&server.base).cache_dir(cache.path())),
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::HashMismatch { expected, .. } if expected == boston_housing::FILE.file_hash.unwrap()),
        "{err:?}"
    );
    assert!(files_in(cache.path()).is_empty());
}

#[test]
fn a_damaged_cached_file_is_downloaded_again() {
    let npz = imdb_npz();
    let server = serve(&[("imdb.npz", &npz)]);
    let cache = tempfile::tempdir().unwrap();
    std::fs::write(cache.path().join("imdb.npz"), &npz[..npz.len() - 10]).unwrap();
    let (train, _) = load_imdb(&server, cache.path(), &npz, imdb::LoadOptions::new());
    assert_eq!(train.0.len(), 7);
    assert_eq!(server.hits(), 1);
    assert_eq!(std::fs::read(cache.path().join("imdb.npz")).unwrap(), npz);
    // Offline, a damaged file is an error, not a download.
    std::fs::write(cache.path().join("imdb.npz"), b"damaged").unwrap();
    let err = imdb::load_data_from(
        cache.path(),
        &imdb::LoadOptions::new()
            .source(Source::new().file_hash("imdb.npz", FileHash::sha256_of(&npz))),
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::HashMismatch { url: None, .. }),
        "{err:?}"
    );
    assert_eq!(server.hits(), 1);
}

#[test]
fn a_truncated_transfer_is_reported_and_nothing_is_cached() {
    let archive = tar_gz(&cifar10_members());
    let server = Server::start(vec![(
        "cifar-10-python.tar.gz".to_string(),
        Reply::CutShort(archive.clone()),
    )]);
    let cache = tempfile::tempdir().unwrap();
    let err = cifar10::load_data_with(&source(
        &server,
        cache.path(),
        &[("cifar-10-python.tar.gz", &archive)],
    ))
    .unwrap_err();
    match &err {
        Error::TransferTruncated {
            url,
            expected,
            received,
            ..
        } => {
            assert!(url.ends_with("/datasets/cifar-10-python.tar.gz"), "{url}");
            assert_eq!(*expected, archive.len() as u64);
            assert!(*received < *expected, "{received}");
        }
        other => panic!("expected TransferTruncated, got {other:?}"),
    }
    assert!(files_in(cache.path()).is_empty());
}

#[test]
fn a_missing_file_is_an_http_404_naming_the_url() {
    let server = serve(&[]);
    let cache = tempfile::tempdir().unwrap();
    let err = reuters::load_data_with(
        &reuters::LoadOptions::new()
            .source(Source::new().origin(&server.base).cache_dir(cache.path())),
    )
    .unwrap_err();
    match &err {
        Error::HttpStatus { url, status } => {
            assert_eq!(*status, 404);
            assert_eq!(url, &format!("{}reuters.npz", server.base));
        }
        other => panic!("expected HttpStatus, got {other:?}"),
    }
    assert!(err.to_string().contains("reuters.npz"), "{err}");
    assert!(files_in(cache.path()).is_empty());
}

#[test]
fn corrupt_archives_and_hostile_pickles_are_typed_errors() {
    // A cut archive whose hash matches (it is what the server holds): a corrupt archive.
    let archive = tar_gz(&cifar10_members());
    let cut = &archive[..archive.len() / 2];
    let server = serve(&[("cifar-10-python.tar.gz", cut)]);
    let cache = tempfile::tempdir().unwrap();
    let err = cifar10::load_data_with(&source(
        &server,
        cache.path(),
        &[("cifar-10-python.tar.gz", cut)],
    ))
    .unwrap_err();
    assert!(matches!(err, Error::CorruptArchive { .. }), "{err:?}");

    // An IMDB file whose pickle calls os.system: refused, as Keras refuses it.
    let mut evil = Pickler::new(2);
    evil.global("posix", "system")
        .py3_str("echo owned")
        .tuple(1)
        .op(b"R");
    let evil = evil.finish();
    let (_, y_train, x_test, y_test) = imdb_raw();
    let npz = npz(&[
        ("x_train", npy("|O", &[7], &evil)),
        ("y_train", npy_i64(&y_train)),
        (
            "x_test",
            npy("|O", &[4], &object_array_pickle(4, NUMPY2, &x_test)),
        ),
        ("y_test", npy_i64(&y_test)),
    ]);
    let server = serve(&[("imdb.npz", &npz)]);
    let cache = tempfile::tempdir().unwrap();
    let err = imdb::load_data_with(&imdb::LoadOptions::new().source(source(
        &server,
        cache.path(),
        &[("imdb.npz", &npz)],
    )))
    .unwrap_err();
    assert!(
        matches!(&err, Error::ForbiddenPickleGlobal { module, name, .. } if module == "posix" && name == "system"),
        "{err:?}"
    );

    // Not a zip at all.
    let junk = b"PK but not really a zip archive".to_vec();
    let server = serve(&[("reuters.npz", &junk)]);
    let cache = tempfile::tempdir().unwrap();
    let err = reuters::load_data_with(&reuters::LoadOptions::new().source(source(
        &server,
        cache.path(),
        &[("reuters.npz", &junk)],
    )))
    .unwrap_err();
    assert!(matches!(err, Error::CorruptArchive { .. }), "{err:?}");
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn keras_addresses_and_hashes() {
    let gcs = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/";
    let cases = [
        (
            cifar10::FILE,
            "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
            "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
        ),
        (
            cifar100::FILE,
            "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
            "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7",
        ),
        (
            imdb::FILE,
            &format!("{gcs}imdb.npz"),
            "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f",
        ),
        (
            imdb::WORD_INDEX_FILE,
            &format!("{gcs}imdb_word_index.json"),
            "bfafd718b763782e994055a2d397834f",
        ),
        (
            reuters::FILE,
            &format!("{gcs}reuters.npz"),
            "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916",
        ),
        (
            reuters::WORD_INDEX_FILE,
            &format!("{gcs}reuters_word_index.json"),
            "4d44cc38712099c9e383dc6e5f11a921",
        ),
        (
            boston_housing::FILE,
            &format!("{gcs}boston_housing.npz"),
            "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5",
        ),
        (
            california_housing::FILE,
            &format!("{gcs}california_housing.npz"),
            "1a2e3a52e0398de6463aebe6f4a8da34fb21fbb6b934cf88c3425e766f2a1a6f",
        ),
    ];
    for (file, url, hash) in cases {
        assert_eq!(file.url(), url);
        assert_eq!(file.file_hash, Some(hash));
    }
    for f in fashion_mnist::FILES {
        assert_eq!(f.url(), format!("{gcs}{}", f.name));
    }
}
