//! Training from data that is not one in-memory array: a `Dataset` reading files on disk, burn's
//! data sets, iterators of batches; their errors; evaluate and predict on them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use kiln::datasets::{ArrayDataset, Batch, BoxError, Dataset, HostArray};
use kiln::prelude::*;
use kiln::train::{BurnDataset, Error, LambdaCallback};
use ndarray::{Array1, Array3, Axis, Slice};

/// The first `n` MNIST training images (u8) and labels.
fn mnist(n: usize) -> (Array3<u8>, Array1<u8>) {
    let ((x, y), _) = kiln::datasets::mnist::load_data().expect("MNIST ships in data/");
    (rows(&x, 0..n), rows(&y, 0..n))
}

/// Samples `range` of `a` (the first axis).
fn rows<A: Clone, D: ndarray::Dimension>(
    a: &ndarray::Array<A, D>,
    range: std::ops::Range<usize>,
) -> ndarray::Array<A, D> {
    a.slice_axis(Axis(0), Slice::from(range)).to_owned()
}

/// The keras.io MNIST MLP, scaled inside the model, Adam.
fn mlp(seed: u64) -> CompiledModel {
    Sequential::new()
        .add(Input::new([28, 28]))
        .add(Rescaling::new(1.0 / 255.0))
        .add(Flatten::new())
        .add(Dense::new(32).activation(Activation::Relu))
        .add(Dense::new(10).activation(Activation::Softmax))
        .seed(seed)
        .build(&Device::flex())
        .unwrap()
        .compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
        .unwrap()
}

/// One file per sample: 784 pixel bytes then the label byte.
fn write_samples(dir: &Path, x: &Array3<u8>, y: &Array1<u8>) -> Vec<PathBuf> {
    (0..y.len())
        .map(|i| {
            let path = dir.join(format!("sample_{i:05}.bin"));
            let mut bytes: Vec<u8> = x.index_axis(Axis(0), i).iter().copied().collect();
            bytes.push(y[i]);
            std::fs::write(&path, bytes).unwrap();
            path
        })
        .collect()
}

/// MNIST samples read from their files, `batch_size` files per batch.
struct SampleFiles {
    files: Vec<PathBuf>,
    batch_size: usize,
    workers: usize,
}

impl Dataset for SampleFiles {
    fn len(&self) -> usize {
        self.files.len().div_ceil(self.batch_size)
    }

    fn get(&self, index: usize) -> Result<Batch, BoxError> {
        let files = self
            .files
            .chunks(self.batch_size)
            .nth(index)
            .ok_or("no such batch")?;
        let mut pixels = Vec::with_capacity(files.len() * 784);
        let mut labels = Vec::with_capacity(files.len());
        for file in files {
            let bytes = std::fs::read(file)?;
            if bytes.len() != 785 {
                return Err(
                    format!("{} holds {} bytes, not 785", file.display(), bytes.len()).into(),
                );
            }
            pixels.extend_from_slice(&bytes[..784]);
            labels.push(bytes[784]);
        }
        let x = Array3::from_shape_vec((files.len(), 28, 28), pixels)?;
        Ok(Batch::new(x, labels))
    }

    fn workers(&self) -> usize {
        self.workers
    }
}

#[test]
fn a_dataset_reading_files_from_disk_trains_to_the_weights_of_the_same_arrays() {
    let (x, y) = mnist(600);
    let dir = tempfile::tempdir().unwrap();
    let files = write_samples(dir.path(), &x, &y);
    let options = || {
        FitOptions::new()
            .epochs(2)
            .batch_size(64)
            .shuffle(false)
            .seed(3)
            .verbose(0)
    };

    let mut from_arrays = mlp(11);
    let h_arrays = from_arrays.fit(&x, &y, options()).unwrap();
    let expected = from_arrays.get_weights().unwrap();

    for workers in [1, 2] {
        let mut data = SampleFiles {
            files: files.clone(),
            batch_size: 64,
            workers,
        };
        let mut from_files = mlp(11);
        let h_files = from_files.fit_dataset(&mut data, options()).unwrap();
        let got = from_files.get_weights().unwrap();
        for (a, b) in expected.iter().zip(&got) {
            let worst = a
                .iter()
                .zip(b)
                .map(|(p, q)| (p - q).abs())
                .fold(0.0f32, f32::max);
            assert!(
                worst <= 1e-6,
                "workers {workers}: weights differ by {worst}"
            );
        }
        assert_eq!(
            h_arrays.get("loss"),
            h_files.get("loss"),
            "workers {workers}"
        );
        assert_eq!(h_arrays.get("accuracy"), h_files.get("accuracy"));
    }
}

#[test]
fn evaluate_predict_and_validation_on_a_dataset_equal_the_arrays() {
    let (x, y) = mnist(300);
    let mut model = mlp(5);
    let train = ArrayDataset::new(rows(&x, 0..200), rows(&y, 0..200), 50);
    let (vx, vy) = (rows(&x, 200..300), rows(&y, 200..300));
    let val = ArrayDataset::new(vx.clone(), vy.clone(), 32).with_workers(2, 2);
    let mut train = train.with_workers(2, 3);
    let history = model
        .fit_dataset(
            &mut train,
            FitOptions::new()
                .epochs(2)
                .seed(1)
                .verbose(0)
                .validation_dataset(&val),
        )
        .unwrap();
    let scores = model.evaluate(&vx, &vy).unwrap();
    let from_dataset = model.evaluate_dataset(&val).unwrap();
    for key in ["loss", "accuracy"] {
        assert!((scores[key] - from_dataset[key]).abs() < 1e-6, "{key}");
        let last = history.last(&format!("val_{key}")).unwrap();
        assert!((scores[key] - last).abs() < 1e-6, "val_{key}");
    }
    let predicted = model.predict(&vx).unwrap();
    let streamed = model.predict_dataset(&val).unwrap();
    assert_eq!(predicted.shape(), streamed.shape());
    let worst = predicted
        .iter()
        .zip(&streamed)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-6, "predictions differ by {worst}");
}

#[test]
fn a_failing_dataset_stops_fit_with_its_error_after_on_train_end() {
    let (x, y) = mnist(256);
    let broken = || {
        kiln::datasets::from_fn(8, |i| {
            if i == 3 {
                let missing =
                    std::io::Error::new(std::io::ErrorKind::NotFound, "shard 3 is missing");
                return Err(missing.into());
            }
            let range = i * 32..(i + 1) * 32;
            Ok(Batch::new(rows(&x, range.clone()), rows(&y, range)))
        })
    };
    for workers in [1, 3] {
        let ended = Rc::new(Cell::new(false));
        let seen = ended.clone();
        let mut end = LambdaCallback::new().on_train_end(move |_| {
            seen.set(true);
            Ok(())
        });
        let mut data = broken().with_workers(workers, 2);
        let mut model = mlp(1);
        let err = model
            .fit_dataset(
                &mut data,
                FitOptions::new()
                    .shuffle(false)
                    .verbose(0)
                    .callback(&mut end),
            )
            .unwrap_err();
        assert!(matches!(err, Error::Dataset { batch: 3, .. }), "{err}");
        let cause = std::error::Error::source(&err).map(ToString::to_string);
        assert_eq!(cause.as_deref(), Some("shard 3 is missing"));
        assert!(ended.get(), "on_train_end ran before the error came back");
    }
}

#[test]
fn a_batch_that_does_not_fit_the_model_is_named_with_its_cause() {
    let (x, y) = mnist(64);
    // Batch 1 has images of the wrong size; batch 2 a label past the 10 classes.
    let mut data = kiln::datasets::from_fn(3, |i| match i {
        1 => Ok(Batch::new(Array3::<u8>::zeros((4, 28, 27)), vec![0u8; 4])),
        2 => Ok(Batch::new(
            Array3::<u8>::zeros((4, 28, 28)),
            vec![0u8, 1, 12, 3],
        )),
        _ => Ok(Batch::new(x.clone(), y.clone())),
    });
    let mut model = mlp(2);
    let err = model
        .fit_dataset(&mut data, FitOptions::new().shuffle(false).verbose(0))
        .unwrap_err();
    assert!(matches!(err, Error::BadBatch { batch: 1, .. }), "{err}");
    let cause = kiln::error_chain_string(&err);
    assert!(
        cause.contains("28, 27") && cause.contains("28, 28"),
        "{cause}"
    );
    let labels = kiln::datasets::from_fn(1, |_| {
        Ok(Batch::new(
            Array3::<u8>::zeros((4, 28, 28)),
            vec![0u8, 1, 12, 3],
        ))
    });
    let err = model.evaluate_dataset(&labels).unwrap_err();
    let chain = kiln::error_chain_string(&err);
    assert!(
        matches!(err, Error::BadBatch { batch: 0, .. }) && chain.contains("label 12"),
        "{chain}"
    );
}

#[test]
fn an_iterator_of_batches_trains_steps_per_epoch_and_stops_when_it_runs_out() {
    let (x, y) = mnist(320);
    let batches = |count: usize| {
        let (x, y) = (x.clone(), y.clone());
        (0..count).map(move |i| {
            let j = i % 10;
            let range = j * 32..(j + 1) * 32;
            Ok::<_, BoxError>(Batch::new(rows(&x, range.clone()), rows(&y, range)))
        })
    };
    let mut model = mlp(4);
    let history = model
        .fit_iter(
            batches(1000),
            FitOptions::new().epochs(3).steps_per_epoch(4).verbose(0),
        )
        .unwrap();
    assert_eq!(history.get("loss").map(<[f64]>::len), Some(3));
    assert_eq!(model.iterations(), 12);
    // 10 batches for 3 epochs of 4: the third epoch runs out after 2 and training stops.
    let mut model = mlp(4);
    let history = model
        .fit_iter(
            batches(10),
            FitOptions::new().epochs(5).steps_per_epoch(4).verbose(0),
        )
        .unwrap();
    assert_eq!(history.get("loss").map(<[f64]>::len), Some(3));
    assert_eq!(model.iterations(), 10);
    let err = model
        .fit_iter(batches(10), FitOptions::new().verbose(0))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidOption {
                option: "steps_per_epoch",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn burns_own_datasets_train_through_burn_dataset() {
    use burn::data::dataset::InMemDataset;
    use burn::data::dataset::transform::ShuffledDataset;

    #[derive(Clone, Debug)]
    struct Item {
        image: Vec<u8>,
        label: u8,
    }
    let (x, y) = mnist(512);
    let items: Vec<Item> = (0..512)
        .map(|i| Item {
            image: x.index_axis(Axis(0), i).iter().copied().collect(),
            label: y[i],
        })
        .collect();
    let shuffled = ShuffledDataset::new(InMemDataset::new(items), 7);
    let mut data = BurnDataset::new(shuffled, 32, |item: Item| {
        let image = ndarray::Array2::from_shape_vec((28, 28), item.image)?;
        Ok(Batch::new(
            image,
            HostArray::from(ndarray::arr0(item.label)),
        ))
    });
    assert_eq!(data.len(), 16);
    let mut model = mlp(9);
    let history = model
        .fit_dataset(&mut data, FitOptions::new().epochs(4).seed(2).verbose(0))
        .unwrap();
    let loss = history.get("loss").unwrap();
    assert!(loss[3] < loss[0] * 0.7, "loss {loss:?}");
    assert!(history.last("accuracy").unwrap() > 0.6);
}

#[test]
fn u8_arrays_stay_u8_on_the_host_and_train_as_their_f32_copy() {
    use kiln::model::Samples;
    // The same rows gathered from device-resident data and from host-resident u8 data.
    let (x, _) = mnist(50);
    let device = Device::flex();
    let host = Samples::array_with_limit(HostArray::from(x.clone()), &device, 0).unwrap();
    assert!(matches!(&host, Samples::Host { data, .. } if data.dtype() == "uint8"));
    let on_device = Samples::from_array(HostArray::from(x.mapv(f32::from)), &device).unwrap();
    let rows = [7i64, 0, 49, 3];
    let idx = burn::tensor::Tensor::<1, burn::tensor::Int>::from_data(
        burn::tensor::TensorData::new(rows.to_vec(), [4]),
        &device,
    );
    let a = host.rows(&rows, idx.clone()).unwrap().to_host().unwrap();
    let b = on_device.rows(&rows, idx).unwrap().to_host().unwrap();
    assert_eq!(a, b);
    assert_eq!(
        host.range(45, 10).unwrap().to_host().unwrap().0,
        vec![5, 28, 28]
    );
}

#[test]
fn adapted_preprocessing_layers_learn_from_datasets_save_and_refuse_bad_ids() {
    use kiln::model::{CategoryEncoding, Discretization, Normalization, load_model};
    let x = ndarray::Array2::from_shape_fn((40, 3), |(i, j)| ((i * 7 + j * 13) % 17) as f32 - 4.0);
    // adapt on batches of 8 rows equals adapt on the whole array, as Keras combines them.
    let whole = Normalization::new().adapt(&x).unwrap();
    let batched = Normalization::new()
        .adapt_dataset(&ArrayDataset::many(
            vec![HostArray::from(x.clone())],
            Vec::new(),
            8,
        ))
        .unwrap();
    let build = |layer: Normalization| {
        Sequential::new()
            .add(Input::new([3]))
            .add(layer)
            .build(&Device::flex())
            .unwrap()
    };
    let (a, b) = (build(whole), build(batched));
    for (wa, wb) in a
        .get_weights()
        .unwrap()
        .iter()
        .zip(&b.get_weights().unwrap())
    {
        for (p, q) in wa.iter().zip(wb) {
            assert!((p - q).abs() < 1e-5, "{p} vs {q}");
        }
    }
    // The normalized training data has mean 0 and variance 1 per column.
    let y = a.predict(&x, 64).unwrap();
    for col in y.columns() {
        let mean = col.mean().unwrap();
        let var = col.mapv(|v| (v - mean).powi(2)).mean().unwrap();
        assert!(
            mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-4,
            "mean {mean} var {var}"
        );
    }
    // The adapted statistics travel with the model file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("normalized.safetensors");
    a.save(&path).unwrap();
    let back = load_model(&path, &Device::flex()).unwrap();
    assert_eq!(back.predict(&x, 64).unwrap(), y);
    // Discretization learns quartiles; CategoryEncoding refuses ids it has no slot for.
    let bins = Discretization::new().num_bins(4).adapt(&x).unwrap();
    assert_eq!(bins.bin_boundaries.as_ref().map(Vec::len), Some(3));
    let counts = Sequential::new()
        .add(Input::new([2]))
        .add(CategoryEncoding::new(4).output_mode("count"))
        .build(&Device::flex())
        .unwrap();
    let err = counts.predict(&ndarray::array![[0i32, 4]], 8).unwrap_err();
    assert!(
        matches!(err, kiln::model::Error::IdOutOfRange { value, input_dim: 4, .. } if value == 4.0),
        "{err}"
    );
}
