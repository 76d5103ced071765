//! Keras's data set utilities: image and text folders, timeseries windows, `pad_sequences`,
//! `split_dataset` and CSV files.
//!
//! Golden values come from real Keras 3.15.1 (`KERAS_BACKEND=jax`, NumPy 2.4.6, Pillow 13,
//! grain 0.2.18 for `format="grain"`, which needs no TensorFlow), from the Python snippets
//! quoted next to them. The folder trees are built here exactly as the snippets build them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use kiln_datasets::{
    ColorMode, CsvOptions, Dataset, Error, HostArray, ImageDataset, ImageDatasetOptions, LabelMode,
    Labels, PadOptions, Side, SplitOptions, SplitSize, Subset, TextDatasetOptions,
    TimeseriesOptions, image_dataset_from_directory, image_dataset_from_directory_both,
    pad_sequences, read_csv, split_dataset, split_indices, split_sizes,
    text_dataset_from_directory, text_dataset_from_directory_both, timeseries_dataset_from_array,
};

// ---------------------------------------------------------------------------------------------
// Images

/// The tree of the golden snippet (`i` is the file's position in this list):
/// ```python
/// files = [".hidden/h.png", "stray.png", "cat/10.png", "cat/2.png", "cat/B.PNG", "cat/a.jpg",
///          "cat/a/0.bmp", "cat/a-b/0.gif", "cat/a/deep/0.png", "dog/x.jpeg", "dog/y.png",
///          "dog/z.bmp", "emu/1.gif", "emu/0.png"]
/// for i, f in enumerate(files):
///     Image.fromarray(np.full((3, 5, 3), i * 10, np.uint8)).save(os.path.join(root, f), ...)
/// open(os.path.join(root, "cat/notes.txt"), "w").write("not an image")
/// rel = lambda ps: [os.path.relpath(p, root) for p in ps]
/// kw = dict(image_size=(3, 5), format="grain", verbose=False)
/// ```
const TREE: &[&str] = &[
    ".hidden/h.png",
    "stray.png",
    "cat/10.png",
    "cat/2.png",
    "cat/B.PNG",
    "cat/a.jpg",
    "cat/a/0.bmp",
    "cat/a-b/0.gif",
    "cat/a/deep/0.png",
    "dog/x.jpeg",
    "dog/y.png",
    "dog/z.bmp",
    "emu/1.gif",
    "emu/0.png",
];

fn image_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (i, f) in TREE.iter().enumerate() {
        let path = dir.path().join(f);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let v = u8::try_from(i * 10).unwrap();
        image::RgbImage::from_pixel(5, 3, image::Rgb([v, v, v]))
            .save(&path)
            .unwrap();
    }
    std::fs::write(dir.path().join("cat/notes.txt"), "not an image").unwrap();
    dir
}

fn rel(root: &Path, paths: &[std::path::PathBuf]) -> Vec<String> {
    paths
        .iter()
        .map(|p| p.strip_prefix(root).unwrap().to_string_lossy().into_owned())
        .collect()
}

fn small() -> ImageDatasetOptions {
    ImageDatasetOptions::default().image_size(3, 5)
}

#[test]
fn image_file_order_and_split_match_keras() {
    let dir = image_tree();
    let root = dir.path();

    // ds = keras.utils.image_dataset_from_directory(root, shuffle=False, **kw)
    // rel(ds.file_paths), ds.class_names
    let ds = image_dataset_from_directory(root, &small().shuffle(false)).unwrap();
    assert_eq!(
        rel(root, ds.file_paths()),
        [
            "cat/10.png",
            "cat/2.png",
            "cat/B.PNG",
            "cat/a.jpg",
            "cat/a/0.bmp",
            "cat/a-b/0.gif",
            "cat/a/deep/0.png",
            "dog/x.jpeg",
            "dog/y.png",
            "dog/z.bmp",
            "emu/0.png",
            "emu/1.gif"
        ]
    );
    assert_eq!(ds.class_names().unwrap(), ["cat", "dog", "emu"]);

    // tr, va = keras.utils.image_dataset_from_directory(root, seed=1337, validation_split=0.25,
    //                                                   subset="both", **kw)
    let (tr, va) =
        image_dataset_from_directory_both(root, &small().seed(1337).validation_split(0.25))
            .unwrap();
    assert_eq!(
        rel(root, tr.file_paths()),
        [
            "cat/a-b/0.gif",
            "cat/a.jpg",
            "cat/2.png",
            "cat/10.png",
            "cat/a/0.bmp",
            "cat/a/deep/0.png",
            "emu/0.png",
            "cat/B.PNG",
            "dog/z.bmp"
        ]
    );
    assert_eq!(
        rel(root, va.file_paths()),
        ["emu/1.gif", "dog/y.png", "dog/x.jpeg"]
    );
    // _, labels, _ = dataset_utils.index_directory(root, "inferred", formats=ALLOWLIST_FORMATS,
    //                                              seed=1337, verbose=False)
    let keras_labels = [0, 0, 0, 0, 0, 0, 2, 0, 1, 2, 1, 1];
    assert_eq!(tr.labels().unwrap(), &keras_labels[..9]);
    assert_eq!(va.labels().unwrap(), &keras_labels[9..]);
    // The same files with the single-subset calls.
    let train_only = image_dataset_from_directory(
        root,
        &small()
            .seed(1337)
            .validation_split(0.25)
            .subset(Subset::Training),
    )
    .unwrap();
    assert_eq!(train_only.file_paths(), tr.file_paths());

    // va = keras.utils.image_dataset_from_directory(root, seed=7, validation_split=0.4,
    //                                               subset="validation", **kw)
    let va = image_dataset_from_directory(
        root,
        &small()
            .seed(7)
            .validation_split(0.4)
            .subset(Subset::Validation),
    )
    .unwrap();
    assert_eq!(
        rel(root, va.file_paths()),
        ["cat/a.jpg", "cat/a/deep/0.png", "dog/z.bmp", "cat/a/0.bmp"]
    );

    // ds = keras.utils.image_dataset_from_directory(root, labels=None, seed=42, **kw)
    // (the whole tree, hidden folder and top-level file included)
    let ds = image_dataset_from_directory(root, &small().labels(Labels::None).seed(42)).unwrap();
    assert_eq!(
        rel(root, ds.file_paths()),
        [
            "dog/x.jpeg",
            "dog/z.bmp",
            "stray.png",
            "emu/0.png",
            "cat/a.jpg",
            "cat/a/deep/0.png",
            "cat/10.png",
            ".hidden/h.png",
            "emu/1.gif",
            "cat/B.PNG",
            "cat/a-b/0.gif",
            "dog/y.png",
            "cat/2.png",
            "cat/a/0.bmp"
        ]
    );
    assert!(ds.class_names().is_none() && ds.labels().is_none());
    assert!(ds.get(0).unwrap().y.is_empty());

    // ds = keras.utils.image_dataset_from_directory(root, class_names=["emu", "cat"], seed=3, **kw)
    let ds =
        image_dataset_from_directory(root, &small().class_names(["emu", "cat"]).seed(3)).unwrap();
    assert_eq!(
        rel(root, ds.file_paths()),
        [
            "cat/a/0.bmp",
            "cat/10.png",
            "cat/a-b/0.gif",
            "cat/B.PNG",
            "cat/a.jpg",
            "emu/0.png",
            "cat/2.png",
            "emu/1.gif",
            "cat/a/deep/0.png"
        ]
    );
    let emu = ds.labels().unwrap().iter().filter(|&&l| l == 0).count();
    assert_eq!(emu, 2); // emu is class 0 in the order given
}

/// The value every pixel of a tree file was written with.
fn written_value(root: &Path, path: &Path) -> f32 {
    let name = path.strip_prefix(root).unwrap().to_string_lossy();
    (TREE.iter().position(|f| *f == name).unwrap() * 10) as f32
}

#[test]
fn image_batches_decode_every_format_with_their_labels() {
    let dir = image_tree();
    let root = dir.path();
    let ds = image_dataset_from_directory(root, &small().batch_size(5).seed(9)).unwrap();
    assert_eq!(ds.len(), 3); // 12 images
    let mut seen = 0;
    for b in 0..ds.len() {
        let batch = ds.get(b).unwrap();
        let HostArray::U8(x) = &batch.x[0] else {
            panic!("images should be u8")
        };
        let n = x.shape()[0];
        assert_eq!(&x.shape()[1..], &[3, 5, 3]);
        let HostArray::I32(y) = &batch.y[0] else {
            panic!("int labels should be int32")
        };
        assert_eq!(y.shape(), &[n]);
        for i in 0..n {
            let path = &ds.file_paths()[seen + i];
            let want = written_value(root, path);
            // PNG and BMP are exact; JPEG and GIF (a palette) are within a few levels.
            for &v in x.index_axis(ndarray::Axis(0), i) {
                assert!(
                    (f32::from(v) - want).abs() <= 4.0,
                    "{path:?}: {v} for {want}"
                );
            }
            assert_eq!(i64::from(y[i]), ds.labels().unwrap()[seen + i]);
        }
        seen += n;
    }
    assert_eq!(seen, 12);
    assert!(ds.get(3).is_err());

    // categorical: float32 one-hot [batch, 3]
    let ds = image_dataset_from_directory(
        root,
        &small().shuffle(false).label_mode(LabelMode::Categorical),
    )
    .unwrap();
    let batch = ds.get(0).unwrap();
    let HostArray::F32(y) = &batch.y[0] else {
        panic!()
    };
    assert_eq!(y.shape(), &[12, 3]);
    assert_eq!(
        y.sum_axis(ndarray::Axis(1)),
        ndarray::Array1::from_elem(12, 1.0).into_dyn()
    );
    assert_eq!(y[[11, 2]], 1.0);

    // binary: float32 [batch, 1], two classes
    let ds = image_dataset_from_directory(
        root,
        &small()
            .shuffle(false)
            .label_mode(LabelMode::Binary)
            .class_names(["dog", "cat"]),
    )
    .unwrap();
    let batch = ds.get(0).unwrap();
    let HostArray::F32(y) = &batch.y[0] else {
        panic!()
    };
    assert_eq!(y.shape(), &[10, 1]);
    assert_eq!(y.iter().filter(|&&v| v == 0.0).count(), 3); // the dogs

    // grayscale and rgba
    for (mode, channels) in [(ColorMode::Grayscale, 1), (ColorMode::Rgba, 4)] {
        let ds =
            image_dataset_from_directory(root, &small().color_mode(mode).shuffle(false)).unwrap();
        let x = &ds.get(0).unwrap().x[0];
        assert_eq!(x.shape(), &[12, 3, 5, channels]);
    }
}

// The grain pipeline of Keras (PIL decoding, `ops.image.resize` with JAX) on one 2x3 image:
// ```python
// img = np.array([[[10, 200, 30], [255, 0, 0], [0, 0, 255]],
//                 [[40, 40, 40], [0, 255, 0], [250, 128, 7]]], np.uint8)  # h=2, w=3
// Image.fromarray(img).save(f"{root}/a.png")
// def load(**kw):
//     ds = keras.utils.image_dataset_from_directory(root, labels=None, shuffle=False,
//                                                   format="grain", verbose=False, **kw)
//     return np.asarray(next(iter(ds)))[0]
// load(image_size=(2, 3), color_mode="grayscale")[..., 0]
// load(image_size=(4, 6))
// load(image_size=(2, 2), crop_to_aspect_ratio=True)
// ```
const KERAS_GRAY: [[f32; 3]; 2] = [[124.0, 76.0, 29.0], [40.0, 150.0, 151.0]];
#[rustfmt::skip]
const KERAS_UP: [[[f32; 3]; 6]; 4] = [
    [[10.0, 200.0, 30.0], [71.25, 150.0, 22.5], [193.75, 50.0, 7.5], [191.25, 0.0, 63.75], [63.75, 0.0, 191.25], [0.0, 0.0, 255.0]],
    [[17.5, 160.0, 32.5], [60.9375, 135.9375, 24.375], [147.8125, 87.8125, 8.125], [159.0625, 55.8125, 48.25], [94.6875, 39.9375, 144.75], [62.5, 32.0, 193.0]],
    [[32.5, 80.0, 37.5], [40.3125, 107.8125, 28.125], [55.9375, 163.4375, 9.375], [94.6875, 167.4375, 17.25], [156.5625, 119.8125, 51.75], [187.5, 96.0, 69.0]],
    [[40.0, 40.0, 40.0], [30.0, 93.75, 30.0], [10.0, 201.25, 10.0], [62.5, 223.25, 1.75], [187.5, 159.75, 5.25], [250.0, 128.0, 7.0]],
];
const KERAS_CROP: [[[f32; 3]; 2]; 2] = [
    [[10.0, 200.0, 30.0], [255.0, 0.0, 0.0]],
    [[40.0, 40.0, 40.0], [0.0, 255.0, 0.0]],
];

#[test]
fn image_pixels_match_keras_up_to_rounding() {
    let dir = tempfile::tempdir().unwrap();
    let px = [
        [[10, 200, 30], [255, 0, 0], [0, 0, 255]],
        [[40, 40, 40], [0, 255, 0], [250, 128, 7]],
    ];
    let img = image::RgbImage::from_fn(3, 2, |x, y| image::Rgb(px[y as usize][x as usize]));
    img.save(dir.path().join("a.png")).unwrap();
    let load = |options: ImageDatasetOptions| -> Vec<f32> {
        let options = options.labels(Labels::None).shuffle(false);
        let ds = image_dataset_from_directory(dir.path(), &options).unwrap();
        ds.get(0).unwrap().x[0].to_f32_vec()
    };
    let gray = load(
        ImageDatasetOptions::default()
            .image_size(2, 3)
            .color_mode(ColorMode::Grayscale),
    );
    assert_eq!(gray, KERAS_GRAY.concat());
    // Enlarging: Keras's float32 bilinear values, rounded to u8.
    let up = load(ImageDatasetOptions::default().image_size(4, 6));
    let keras: Vec<f32> = KERAS_UP.iter().flatten().flatten().copied().collect();
    for (i, (ours, theirs)) in up.iter().zip(&keras).enumerate() {
        assert!(
            (ours - theirs).abs() <= 0.5 + 1e-3,
            "value {i}: {ours} vs {theirs}"
        );
    }
    let crop = load(
        ImageDatasetOptions::default()
            .image_size(2, 2)
            .crop_to_aspect_ratio(true),
    );
    let keras: Vec<f32> = KERAS_CROP.iter().flatten().flatten().copied().collect();
    assert_eq!(crop, keras);
    // Padding a 2x3 image to 4x4 adds int(0.5) = 0 rows in Keras: the same as a plain resize.
    let pad = load(
        ImageDatasetOptions::default()
            .image_size(4, 4)
            .pad_to_aspect_ratio(true),
    );
    let plain = load(ImageDatasetOptions::default().image_size(4, 4));
    assert_eq!(pad, plain);
    // A 2x6 image to a square: 2 black rows above and below, then the resize to 6x6.
    let wide = tempfile::tempdir().unwrap();
    image::RgbImage::from_pixel(6, 2, image::Rgb([200, 100, 50]))
        .save(wide.path().join("w.png"))
        .unwrap();
    let options = ImageDatasetOptions::default()
        .image_size(6, 6)
        .pad_to_aspect_ratio(true)
        .labels(Labels::None);
    let ds = image_dataset_from_directory(wide.path(), &options).unwrap();
    let x = ds.get(0).unwrap().x[0].to_f32_vec();
    let row = |r: usize| x[r * 18..(r + 1) * 18].to_vec();
    assert!(row(0).iter().chain(&row(5)).all(|&v| v == 0.0));
    assert_eq!(row(2)[..3], [200.0, 100.0, 50.0]);
}

#[test]
fn a_corrupt_image_is_named_by_its_batch_only() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("a")).unwrap();
    image::RgbImage::new(4, 4)
        .save(dir.path().join("a/good.png"))
        .unwrap();
    std::fs::write(
        dir.path().join("a/zbad.png"),
        b"\x89PNG\r\n\x1a\nnot really",
    )
    .unwrap();
    let options = ImageDatasetOptions::default()
        .image_size(4, 4)
        .batch_size(1)
        .shuffle(false);
    let ds = image_dataset_from_directory(dir.path(), &options).unwrap(); // nothing decoded yet
    assert!(ds.get(0).is_ok());
    let err = ds.get(1).unwrap_err();
    let err = err.downcast_ref::<Error>().unwrap();
    assert!(matches!(err, Error::ImageDecode { path, .. } if path.ends_with("a/zbad.png")));
    assert!(err.to_string().contains("zbad.png"));
}

#[test]
fn image_option_errors_are_typed() {
    let dir = image_tree();
    let root = dir.path();
    let err = |o: ImageDatasetOptions| image_dataset_from_directory(root, &o).unwrap_err();

    let empty = tempfile::tempdir().unwrap();
    std::fs::create_dir(empty.path().join("class")).unwrap();
    std::fs::write(empty.path().join("class/readme.txt"), "no image").unwrap();
    assert!(matches!(
        image_dataset_from_directory(empty.path(), &small()).unwrap_err(),
        Error::NoFilesFound { what: "images", .. }
    ));
    assert!(matches!(
        image_dataset_from_directory(root.join("missing"), &small()).unwrap_err(),
        Error::Io { .. }
    ));
    // 14 files walked from the top with explicit labels.
    assert!(matches!(
        err(small().labels(Labels::Given(vec![0; 12]))),
        Error::LabelCountMismatch {
            labels: 12,
            files: 14,
            ..
        }
    ));
    let given = image_dataset_from_directory(
        root,
        &small().labels(Labels::Given((0..14).map(|i| i % 3 * 5).collect())),
    )
    .unwrap();
    assert_eq!(given.class_names().unwrap(), ["0", "5", "10"]);
    assert!(matches!(
        err(small().subset(Subset::Training)),
        Error::IncompatibleOptions { .. }
    ));
    assert!(matches!(
        err(small().validation_split(0.2)),
        Error::IncompatibleOptions { .. }
    ));
    assert!(matches!(
        err(small().validation_split(0.2).subset(Subset::Training)), // shuffled, no seed
        Error::IncompatibleOptions { .. }
    ));
    assert!(matches!(
        err(small()
            .validation_split(1.5)
            .subset(Subset::Training)
            .seed(1)),
        Error::InvalidArgument {
            name: "validation_split",
            ..
        }
    ));
    assert!(matches!(
        err(small().validation_split(0.2).subset(Subset::Both).seed(1)),
        Error::IncompatibleOptions { .. }
    ));
    assert!(matches!(
        err(small().label_mode(LabelMode::Binary)),
        Error::BinaryNeedsTwoClasses { class_names } if class_names.len() == 3
    ));
    assert!(matches!(
        err(small().class_names(["cat", "cow"])),
        Error::UnknownClassNames { .. }
    ));
    assert!(matches!(
        err(small().labels(Labels::None).class_names(["cat"])),
        Error::IncompatibleOptions { .. }
    ));
    assert!(matches!(
        err(small().image_size(0, 5)),
        Error::InvalidArgument {
            name: "image_size",
            ..
        }
    ));
    assert!(matches!(
        err(small().batch_size(0)),
        Error::InvalidArgument {
            name: "batch_size",
            ..
        }
    ));
    assert!(matches!(
        err(small().crop_to_aspect_ratio(true).pad_to_aspect_ratio(true)),
        Error::IncompatibleOptions { .. }
    ));
    assert!(matches!(
        err(small().image_size(u32::MAX, u32::MAX)),
        Error::TooLarge { .. }
    ));
    assert!(matches!(
        err(small().image_size(20_000, 20_000)), // 1.2 GB for one image
        Error::TooLarge { limit, .. } if limit == kiln_datasets::MAX_IMAGE_BYTES
    ));
    // A split that leaves the validation subset empty (int(0.05 * 12) = 0).
    assert!(matches!(
        image_dataset_from_directory_both(root, &small().validation_split(0.05).seed(1))
            .unwrap_err(),
        Error::NoFilesFound {
            what: "validation images",
            ..
        }
    ));
}

fn order_of(ds: &ImageDataset) -> Vec<f32> {
    (0..ds.len())
        .flat_map(|b| {
            let x = ds.get(b).unwrap().x[0].to_f32_vec();
            x.chunks(45).map(|c| c[0]).collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_training_set_is_reshuffled_between_epochs() {
    let dir = image_tree();
    let options = small().seed(5).batch_size(4).validation_split(0.25);
    let (mut train, mut val) = image_dataset_from_directory_both(dir.path(), &options).unwrap();
    let first = order_of(&train);
    // Epoch 0 reads the files in `file_paths` order.
    let expected: Vec<f32> = train
        .file_paths()
        .iter()
        .map(|p| written_value(dir.path(), p))
        .collect();
    for (a, b) in first.iter().zip(&expected) {
        assert!((a - b).abs() <= 4.0);
    }
    train.on_epoch_end();
    let second = order_of(&train);
    assert_ne!(first, second);
    let sorted = |mut v: Vec<f32>| {
        v.sort_by(f32::total_cmp);
        v
    };
    assert_eq!(sorted(first), sorted(second));
    let val_first = order_of(&val);
    val.on_epoch_end();
    assert_eq!(order_of(&val), val_first);
}

#[cfg(unix)]
#[test]
fn links_to_folders_are_followed_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("a")).unwrap();
    image::RgbImage::new(2, 2)
        .save(dir.path().join("a/0.png"))
        .unwrap();
    image::RgbImage::new(2, 2)
        .save(outside.path().join("1.png"))
        .unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("a/linked")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("a"), dir.path().join("a/loop")).unwrap();
    let options = ImageDatasetOptions::default()
        .image_size(2, 2)
        .shuffle(false);
    let ds = image_dataset_from_directory(dir.path(), &options).unwrap();
    assert_eq!(rel(dir.path(), ds.file_paths()), ["a/0.png"]);
    let ds = image_dataset_from_directory(dir.path(), &options.follow_links(true)).unwrap();
    assert_eq!(
        rel(dir.path(), ds.file_paths()),
        ["a/0.png", "a/linked/1.png"]
    );
}

// ---------------------------------------------------------------------------------------------
// Texts

/// ```python
/// texts = {"neg/0.txt": "bad", "neg/1.txt": "awful film", "neg/2.txt": "boring",
///          "neg/9.txt": "meh", "pos/0.txt": "good", "pos/1.txt": "great fun",
///          "pos/5.TXT": "superb", "pos/deep/0.txt": "fine", "pos/skip.md": "ignored"}
/// ```
const TEXTS: &[(&str, &str)] = &[
    ("neg/0.txt", "bad"),
    ("neg/1.txt", "awful film"),
    ("neg/2.txt", "boring"),
    ("neg/9.txt", "meh"),
    ("pos/0.txt", "good"),
    ("pos/1.txt", "great fun"),
    ("pos/5.TXT", "superb"),
    ("pos/deep/0.txt", "fine"),
    ("pos/skip.md", "ignored"),
];

fn text_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (f, t) in TEXTS {
        let path = dir.path().join(f);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, t).unwrap();
    }
    dir
}

fn sorted_pairs(texts: Vec<String>, labels: &HostArray) -> Vec<(String, i64)> {
    let mut pairs: Vec<(String, i64)> = texts
        .into_iter()
        .zip(labels.to_f32_vec().into_iter().map(|l| l as i64))
        .collect();
    pairs.sort();
    pairs
}

#[test]
fn text_files_split_and_batch_as_in_keras() {
    let dir = text_tree();
    let root = dir.path();
    let options = TextDatasetOptions::default()
        .seed(7)
        .validation_split(0.3)
        .batch_size(100);

    // fp, lb, cn = dataset_utils.index_directory(root, "inferred", formats=(".txt",), seed=7)
    // fp2, lb2 = dataset_utils.get_training_or_validation_split(fp, lb, 0.3, "training")
    // (the calls text_dataset_from_directory makes: Keras's text data sets have no file_paths)
    let train =
        text_dataset_from_directory(root, &options.clone().subset(Subset::Training)).unwrap();
    assert_eq!(
        rel(root, train.file_paths()),
        [
            "neg/2.txt",
            "pos/1.txt",
            "neg/0.txt",
            "pos/5.TXT",
            "neg/9.txt",
            "neg/1.txt"
        ]
    );
    // ds = keras.utils.text_dataset_from_directory(root, seed=7, validation_split=0.3,
    //     subset="training", format="grain", batch_size=100, verbose=False)
    // x, y = next(iter(ds)); sorted(zip([str(s) for s in x], np.asarray(y).tolist()))
    let batch = train.get(0).unwrap();
    let pairs = sorted_pairs(batch.texts, batch.labels.as_ref().unwrap());
    let keras = [
        ("awful film", 0),
        ("bad", 0),
        ("boring", 0),
        ("great fun", 1),
        ("meh", 0),
        ("superb", 1),
    ];
    assert_eq!(pairs, keras.map(|(t, l)| (t.to_string(), l)).to_vec());
    // ... subset="validation" ...
    let (_, val) = text_dataset_from_directory_both(root, &options).unwrap();
    let batch = val.get(0).unwrap();
    let pairs = sorted_pairs(batch.texts, batch.labels.as_ref().unwrap());
    assert_eq!(pairs, [("fine".to_string(), 1), ("good".to_string(), 1)]);

    // ds = keras.utils.text_dataset_from_directory(root, shuffle=False, format="grain",
    //     label_mode="categorical", max_length=4, batch_size=100, verbose=False)
    let options = TextDatasetOptions::default()
        .shuffle(false)
        .label_mode(LabelMode::Categorical)
        .max_length(4)
        .batch_size(100);
    let ds = text_dataset_from_directory(root, &options).unwrap();
    let batch = ds.get(0).unwrap();
    assert_eq!(
        batch.texts,
        ["bad", "awfu", "bori", "meh", "good", "grea", "supe", "fine"]
    );
    let labels = batch.labels.unwrap();
    assert_eq!(labels.shape(), &[8, 2]);
    assert_eq!(
        labels.to_f32_vec(),
        [
            1., 0., 1., 0., 1., 0., 1., 0., 0., 1., 0., 1., 0., 1., 0., 1.
        ]
    );
}

#[test]
fn texts_are_cut_on_character_boundaries_and_vectorized_into_a_dataset() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "déjà vu").unwrap();
    std::fs::write(dir.path().join("b.txt"), [b'o', b'k', 0xFF]).unwrap();
    let options = TextDatasetOptions::default()
        .labels(Labels::None)
        .shuffle(false)
        .max_length(2);
    let ds = text_dataset_from_directory(dir.path(), &options).unwrap();
    let batch = ds.get(0).unwrap();
    assert_eq!(batch.texts, ["d", "ok"]); // "dé" is 3 bytes
    assert!(batch.labels.is_none());
    let all =
        text_dataset_from_directory(dir.path(), &options.clone().labels(Labels::None)).unwrap();
    let lengths = all.map_texts(|texts: &[String]| {
        Ok(HostArray::from(
            texts.iter().map(|t| t.len() as i64).collect::<Vec<_>>(),
        ))
    });
    assert_eq!(lengths.len(), 1);
    let b = lengths.get(0).unwrap();
    assert_eq!(b.x[0].to_f32_vec(), [1.0, 2.0]);
    assert!(b.y.is_empty());
    let whole = TextDatasetOptions::default()
        .labels(Labels::None)
        .shuffle(false);
    let batch = text_dataset_from_directory(dir.path(), &whole)
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(batch.texts, ["déjà vu", "ok\u{FFFD}"]);
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        text_dataset_from_directory(empty.path(), &TextDatasetOptions::default()).unwrap_err(),
        Error::NoFilesFound {
            what: "text files",
            ..
        }
    ));
}

// ---------------------------------------------------------------------------------------------
// Timeseries

#[test]
fn timeseries_windows_match_keras() {
    // data = np.arange(40).reshape(20, 2); targets = np.arange(100, 120)
    // ds = keras.utils.timeseries_dataset_from_array(data, targets, sequence_length=4,
    //     sequence_stride=3, sampling_rate=2, start_index=2, end_index=17, batch_size=2,
    //     shuffle=False, format="grain")
    let data = ndarray::Array2::from_shape_fn((20, 2), |(i, j)| (i * 2 + j) as i64);
    let targets = HostArray::from((100..120).collect::<Vec<i64>>());
    let options = TimeseriesOptions::default()
        .sequence_stride(3)
        .sampling_rate(2)
        .start_index(2)
        .end_index(17)
        .batch_size(2);
    let ds = timeseries_dataset_from_array(data, Some(targets), 4, &options).unwrap();
    assert_eq!(ds.len(), 2);
    let b0 = ds.get(0).unwrap();
    assert_eq!(b0.x[0].shape(), &[2, 4, 2]);
    assert_eq!(b0.x[0].dtype(), "int64");
    assert_eq!(
        b0.x[0].to_f32_vec(),
        [
            4., 5., 8., 9., 12., 13., 16., 17., 10., 11., 14., 15., 18., 19., 22., 23.
        ]
    );
    assert_eq!(b0.y[0].to_f32_vec(), [102., 105.]);
    let b1 = ds.get(1).unwrap();
    assert_eq!(
        b1.x[0].to_f32_vec(),
        [16., 17., 20., 21., 24., 25., 28., 29.]
    );
    assert_eq!(b1.y[0].to_f32_vec(), [108.]);

    // ds = keras.utils.timeseries_dataset_from_array(np.arange(10), None, sequence_length=3,
    //                                                batch_size=4, format="grain")
    let ds = timeseries_dataset_from_array(
        (0..10).map(|i| i as f32).collect::<Vec<_>>(),
        None,
        3,
        &TimeseriesOptions::default().batch_size(4),
    )
    .unwrap();
    assert_eq!(ds.len(), 2);
    assert_eq!(
        ds.get(0).unwrap().x[0].to_f32_vec(),
        [0., 1., 2., 1., 2., 3., 2., 3., 4., 3., 4., 5.]
    );
    let last = ds.get(1).unwrap();
    assert_eq!(last.x[0].shape(), &[4, 3]);
    assert_eq!(last.x[0].to_f32_vec()[9..], [7., 8., 9.]);
    assert!(last.y.is_empty());
}

#[test]
fn shuffled_timeseries_windows_start_where_keras_starts_them() {
    // Keras's start positions (its `_timeseries_dataset_*` lines):
    // num_seqs = 100 - 2 - (5 - 1) * 3
    // sp = np.arange(0, num_seqs, 4); np.random.RandomState(11).shuffle(sp)
    let keras_positions = [
        12, 20, 40, 24, 84, 56, 80, 36, 60, 16, 44, 0, 72, 76, 32, 8, 28, 4, 48, 52, 68, 64,
    ];
    let data: Vec<i64> = (0..100).collect();
    let options = TimeseriesOptions::default()
        .sequence_stride(4)
        .sampling_rate(3)
        .start_index(2)
        .shuffle(true)
        .seed(11)
        .batch_size(1000);
    let mut ds =
        timeseries_dataset_from_array(data.clone(), Some(HostArray::from(data)), 5, &options)
            .unwrap();
    let starts: Vec<usize> = keras_positions.iter().map(|p| p + 2).collect();
    assert_eq!(ds.window_starts(), starts);
    // ds = keras.utils.timeseries_dataset_from_array(np.arange(100), np.arange(100),
    //     sequence_length=5, sequence_stride=4, sampling_rate=3, start_index=2, shuffle=True,
    //     seed=11, batch_size=1000, format="grain")
    // sorted(targets of the one batch)
    let batch = ds.get(0).unwrap();
    let targets: Vec<f32> = batch.y[0].to_f32_vec();
    assert_eq!(
        targets,
        starts.iter().map(|&s| s as f32).collect::<Vec<_>>()
    );
    let mut sorted = targets.clone();
    sorted.sort_by(f32::total_cmp);
    let keras_sorted: Vec<f32> = (0..22).map(|i| (2 + 4 * i) as f32).collect();
    assert_eq!(sorted, keras_sorted);
    // Each window: start, start + 3, ..., start + 12.
    let x = batch.x[0].to_f32_vec();
    assert_eq!(x[..5], [14., 17., 20., 23., 26.]);
    ds.on_epoch_end();
    let next = ds.get(0).unwrap().y[0].to_f32_vec();
    assert_ne!(next, targets);
}

#[test]
fn timeseries_argument_errors_follow_keras() {
    let data: Vec<f32> = vec![0.0; 10];
    let make = |o: TimeseriesOptions, len: usize| {
        timeseries_dataset_from_array(data.clone(), None, len, &o)
    };
    let name = |r: Result<_, Error>| match r {
        Err(Error::InvalidArgument { name, .. }) => name,
        other => panic!("expected an invalid argument, got {other:?}"),
    };
    let d = TimeseriesOptions::default;
    assert_eq!(name(make(d().start_index(10), 3)), "start_index");
    assert_eq!(name(make(d().end_index(10), 3)), "end_index"); // must be below len(data)
    assert_eq!(name(make(d().start_index(5).end_index(5), 3)), "end_index");
    assert_eq!(name(make(d().end_index(0), 3)), "end_index");
    assert_eq!(name(make(d().sampling_rate(0), 3)), "sampling_rate");
    assert_eq!(name(make(d().sampling_rate(10), 3)), "sampling_rate");
    assert_eq!(name(make(d().sequence_stride(0), 3)), "sequence_stride");
    assert_eq!(name(make(d().sequence_stride(10), 3)), "sequence_stride");
    assert_eq!(name(make(d(), 0)), "sequence_length");
    assert_eq!(name(make(d().batch_size(0), 3)), "batch_size");
    // Windows longer than the data: no windows, as in Keras.
    assert_eq!(make(d(), 11).unwrap().len(), 0);
    // Targets too short for the windows' first steps.
    let short = HostArray::from(vec![0.0f32; 6]);
    let r = timeseries_dataset_from_array(data.clone(), Some(short), 2, &d().start_index(3));
    assert_eq!(name(r), "targets");
}

// ---------------------------------------------------------------------------------------------
// pad_sequences

#[test]
fn pad_sequences_matches_keras() {
    // seqs = [[1], [2, 3], [4, 5, 6], [], [7, 8, 9, 10, 11]]
    let seqs: Vec<Vec<i64>> = vec![
        vec![1],
        vec![2, 3],
        vec![4, 5, 6],
        vec![],
        vec![7, 8, 9, 10, 11],
    ];
    let pad = |o: PadOptions<i32>| {
        let x = pad_sequences(&seqs, &o).unwrap();
        x.outer_iter().map(|r| r.to_vec()).collect::<Vec<_>>()
    };
    // keras.utils.pad_sequences(seqs)
    assert_eq!(
        pad(PadOptions::default()),
        [
            [0, 0, 0, 0, 1],
            [0, 0, 0, 2, 3],
            [0, 0, 4, 5, 6],
            [0, 0, 0, 0, 0],
            [7, 8, 9, 10, 11]
        ]
    );
    // keras.utils.pad_sequences(seqs, maxlen=3, padding="post", truncating="post")
    assert_eq!(
        pad(PadOptions::default()
            .maxlen(3)
            .padding(Side::Post)
            .truncating(Side::Post)),
        [[1, 0, 0], [2, 3, 0], [4, 5, 6], [0, 0, 0], [7, 8, 9]]
    );
    // keras.utils.pad_sequences(seqs, maxlen=4, padding="pre", truncating="post", value=-1)
    assert_eq!(
        pad(PadOptions::default()
            .maxlen(4)
            .truncating(Side::Post)
            .value(-1)),
        [
            [-1, -1, -1, 1],
            [-1, -1, 2, 3],
            [-1, 4, 5, 6],
            [-1, -1, -1, -1],
            [7, 8, 9, 10]
        ]
    );
    // keras.utils.pad_sequences(seqs, maxlen=7)
    assert_eq!(
        pad(PadOptions::default().maxlen(7)),
        [
            [0, 0, 0, 0, 0, 0, 1],
            [0, 0, 0, 0, 0, 2, 3],
            [0, 0, 0, 0, 4, 5, 6],
            [0, 0, 0, 0, 0, 0, 0],
            [0, 0, 7, 8, 9, 10, 11]
        ]
    );
    // keras.utils.pad_sequences([[0.5, 1.5], [2.5]], dtype="float32", value=9.25, padding="post")
    let x = pad_sequences(
        &[vec![0.5f32, 1.5], vec![2.5]],
        &PadOptions::default().value(9.25f32).padding(Side::Post),
    )
    .unwrap();
    assert_eq!(x, ndarray::array![[0.5, 1.5], [2.5, 9.25]]);
}

// ---------------------------------------------------------------------------------------------
// split_dataset

#[test]
fn split_sizes_follow_keras() {
    // dataset_utils._rescale_dataset_split_sizes(left, right, total)
    use SplitSize::{Count as C, Fraction as F};
    /// total, left, right, Keras's sizes (`None`: Keras raises `ValueError`).
    type Case = (
        usize,
        Option<SplitSize>,
        Option<SplitSize>,
        Option<(usize, usize)>,
    );
    let cases: [Case; 19] = [
        (10, Some(F(0.25)), None, Some((2, 8))),
        (10, None, Some(F(0.25)), Some((8, 2))),
        (10, Some(F(0.35)), None, Some((4, 6))),
        (10, Some(F(0.45)), None, Some((4, 6))),
        (7, Some(F(0.5)), None, Some((4, 3))),
        (7, None, Some(F(0.5)), Some((3, 4))),
        (10, Some(C(3)), Some(C(5)), Some((3, 5))),
        (10, Some(F(0.3)), Some(F(0.5)), Some((3, 5))),
        (10, Some(C(2)), Some(F(0.5)), Some((2, 5))),
        (1000, Some(F(0.8)), None, Some((800, 200))),
        (5, None, Some(C(2)), Some((3, 2))),
        (3, Some(F(0.5)), Some(F(0.5)), None),
        (10, Some(F(0.01)), None, None),
        (10, Some(C(0)), Some(C(0)), None),
        (10, Some(C(10)), None, None),
        (10, Some(F(1.0)), None, None),
        (10, Some(F(0.6)), Some(F(0.6)), None),
        (10, Some(C(6)), Some(C(6)), None),
        (10, Some(C(0)), Some(C(5)), None),
    ];
    for (total, l, r, want) in cases {
        let got = split_sizes(total, l, r);
        match want {
            Some(sizes) => assert_eq!(got.unwrap(), sizes, "{total} {l:?} {r:?}"),
            None => assert!(
                matches!(got, Err(Error::InvalidArgument { .. })),
                "{total} {l:?} {r:?}: {got:?}"
            ),
        }
    }
    assert!(split_sizes(10, None, None).is_err());
}

#[test]
fn split_dataset_shuffles_as_keras() {
    // lst = dataset_utils._convert_dataset_to_list((np.arange(20),), tuple)
    // random.seed(42); random.shuffle(lst)   # what split_dataset(shuffle=True, seed=42) does
    // l, r = dataset_utils._rescale_dataset_split_sizes(0.7, None, 20); lst[:l], lst[-r:]
    let x = HostArray::from((0..20).collect::<Vec<i64>>());
    let y = HostArray::from(ndarray::Array2::from_shape_fn((20, 2), |(i, j)| {
        (i * 2 + j) as f32
    }));
    let options = SplitOptions::default()
        .left_fraction(0.7)
        .shuffle(true)
        .seed(42);
    let (left, right) = split_dataset(&[x, y], &options).unwrap();
    let left_x = [
        19., 5., 14., 4., 9., 13., 15., 18., 6., 12., 17., 10., 1., 11.,
    ];
    assert_eq!(left[0].to_f32_vec(), left_x);
    assert_eq!(right[0].to_f32_vec(), [2., 16., 7., 8., 0., 3.]);
    assert_eq!(right[1].shape(), &[6, 2]);
    assert_eq!(right[1].to_f32_vec()[..2], [4., 5.]); // sample 2 stays with its targets
    assert_eq!(left[0].dtype(), "int64");

    // lst = list(range(12)); random.seed(2**40 + 5); random.shuffle(lst)
    let options = SplitOptions::default()
        .left_count(11)
        .right_count(1)
        .shuffle(true)
        .seed((1 << 40) + 5);
    let (l, r) = split_indices(12, &options).unwrap();
    assert_eq!([l, r].concat(), [3, 5, 2, 9, 6, 7, 1, 10, 0, 4, 11, 8]);

    // Without shuffle: the first `left` and the last `right`, the middle in neither.
    let (l, r) = split_indices(10, &SplitOptions::default().left_count(3).right_count(5)).unwrap();
    assert_eq!((l, r), (vec![0, 1, 2], vec![5, 6, 7, 8, 9]));

    let a = HostArray::from(vec![0.0f32; 4]);
    let b = HostArray::from(vec![0.0f32; 5]);
    assert!(matches!(
        split_dataset(&[a, b], &SplitOptions::default().left_fraction(0.5)),
        Err(Error::InvalidArgument {
            name: "dataset",
            ..
        })
    ));
    assert!(split_dataset(&[], &SplitOptions::default().left_fraction(0.5)).is_err());
}

// ---------------------------------------------------------------------------------------------
// CSV

#[test]
fn csv_columns_targets_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.csv");
    std::fs::write(
        &path,
        "\u{FEFF}id, height ,weight,label\n1,1.5,60,2\n\n2, 1.75 ,72.5,0\n3,-2e-1,nan,1.0\n",
    )
    .unwrap();
    let t = read_csv(
        &path,
        &CsvOptions::default()
            .columns(["weight", "height"])
            .targets(["label"])
            .integer_targets(true),
    )
    .unwrap();
    assert_eq!(t.x_columns, ["weight", "height"]);
    assert_eq!(t.y_columns, ["label"]);
    assert_eq!(t.x.dim(), (3, 2));
    assert_eq!(t.x.row(1).to_vec(), [72.5, 1.75]);
    assert!(t.x[[2, 0]].is_nan());
    assert_eq!(t.y, Some(HostArray::from(vec![2i64, 0, 1])));

    // Every non-target column by default; several float targets as [rows, k].
    let t = read_csv(&path, &CsvOptions::default().targets([3usize, 0])).unwrap();
    assert_eq!(t.x_columns, ["height", "weight"]);
    let y = t.y.unwrap();
    assert_eq!(y.shape(), &[3, 2]);
    assert_eq!(y.dtype(), "float32");
    assert_eq!(y.to_f32_vec(), [2., 1., 0., 2., 1., 3.]);

    // No header: columns by index, named "column N".
    let raw = dir.path().join("raw.tsv");
    std::fs::write(&raw, "1\t2\t3\n4\t5\t6\n").unwrap();
    let options = CsvOptions::default()
        .has_header(false)
        .delimiter(b'\t')
        .columns([2usize, 0])
        .targets([1usize]);
    let t = read_csv(&raw, &options).unwrap();
    assert_eq!(t.x, ndarray::array![[3.0f32, 1.0], [6.0, 4.0]]);
    assert_eq!(t.x_columns, ["column 2", "column 0"]);
    assert_eq!(t.y.unwrap().to_f32_vec(), [2., 5.]);

    // Errors name the line of the file and the column.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "a,b\n1,2\n\n3,x\n").unwrap();
    match read_csv(&bad, &CsvOptions::default()).unwrap_err() {
        Error::CsvValue { line, column, .. } => {
            assert_eq!(line, 4);
            assert_eq!(column, "\"b\" (index 1)");
        }
        other => panic!("{other:?}"),
    }
    std::fs::write(&bad, "a,b\n1,2\n3, \n").unwrap();
    let err = read_csv(&bad, &CsvOptions::default()).unwrap_err();
    assert!(matches!(&err, Error::CsvValue { line: 3, reason, .. } if reason == "missing value"));
    assert!(err.to_string().contains("line 3"));
    std::fs::write(&bad, "a,b\n1,2\n3,4,5\n").unwrap();
    assert!(matches!(
        read_csv(&bad, &CsvOptions::default()).unwrap_err(),
        Error::CsvRead { line: Some(3), .. }
    ));
    std::fs::write(&bad, "a,b\n1,2.5\n").unwrap();
    assert!(matches!(
        read_csv(
            &bad,
            &CsvOptions::default().targets(["b"]).integer_targets(true)
        )
        .unwrap_err(),
        Error::CsvValue { line: 2, .. }
    ));
    assert!(matches!(
        read_csv(&bad, &CsvOptions::default().targets(["c"])).unwrap_err(),
        Error::CsvColumn { available, .. } if available == ["a", "b"]
    ));
    assert!(matches!(
        read_csv(
            &raw,
            &CsvOptions::default().has_header(false).columns([3usize])
        )
        .unwrap_err(),
        Error::CsvColumn { .. }
    ));
    assert!(matches!(
        read_csv(dir.path().join("none.csv"), &CsvOptions::default()).unwrap_err(),
        Error::Io { .. }
    ));
}
