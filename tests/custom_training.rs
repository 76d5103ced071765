//! User-defined losses, metrics and optimizer rules plug into `compile` like stock ones and do
//! the same arithmetic; `steps_per_epoch` walks one pass of the data as Keras 3 does.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kiln::burn::tensor::Tensor;
use kiln::prelude::*;
use kiln::train::{CustomLoss, CustomMetric, CustomRule, Error, StepInfo};
use ndarray::{Array1, Array2, Axis, Slice};

fn mnist_subset(n: usize) -> (Array2<f32>, Array2<f32>, Array1<u8>) {
    let ((x, y), _) = kiln::datasets::mnist::load_data().unwrap();
    let rows = Slice::from(..n);
    let x = scale_pixels(&x.slice_axis(Axis(0), rows).to_owned())
        .into_shape_with_order((n, 784))
        .unwrap();
    let labels = y.slice_axis(Axis(0), rows).to_owned();
    let onehot = to_categorical(labels.view(), Some(10)).unwrap();
    (x, onehot, labels)
}

fn model() -> Model {
    Sequential::new()
        .add(Input::new([784]))
        .add(Dense::new(16).activation(Activation::Relu))
        .add(Dense::new(10).activation(Activation::Softmax))
        .seed(21)
        .build(&Device::flex())
        .unwrap()
}

fn options<'a>() -> FitOptions<'a> {
    FitOptions::new()
        .epochs(2)
        .batch_size(32)
        .shuffle(false)
        .verbose(0)
}

fn max_diff(a: &CompiledModel, b: &CompiledModel) -> f32 {
    a.get_weights()
        .unwrap()
        .iter()
        .zip(b.get_weights().unwrap())
        .flat_map(|(x, y)| {
            x.iter()
                .zip(y.iter())
                .map(|(p, q)| (p - q).abs())
                .collect::<Vec<_>>()
        })
        .fold(0.0, f32::max)
}

/// Mean squared error, written by hand.
#[derive(Debug)]
struct MyMse;

impl CustomLoss for MyMse {
    fn name(&self) -> &str {
        "my_mse"
    }
    fn call(&self, y_true: Tensor<2>, y_pred: Tensor<2>) -> Tensor<1> {
        let rows = y_true.dims()[0];
        (y_pred - y_true).square().mean_dim(1).reshape([rows])
    }
}

/// Mean absolute error, written by hand.
#[derive(Debug)]
struct MyMae;

impl CustomMetric for MyMae {
    fn name(&self) -> &str {
        "my_mae"
    }
    fn call(&self, y_true: Tensor<2>, y_pred: Tensor<2>) -> Tensor<1> {
        let rows = y_true.dims()[0];
        (y_pred - y_true).abs().mean_dim(1).reshape([rows])
    }
}

/// Keras's SGD with momentum: `v = μv - lr·g; p += v` (one slot).
#[derive(Debug)]
struct MySgdMomentum(f32);

impl CustomRule for MySgdMomentum {
    fn name(&self) -> &str {
        "my_sgd_momentum"
    }
    fn slots(&self) -> usize {
        1
    }
    fn update(
        &self,
        p: Tensor<1>,
        g: Tensor<1>,
        slots: &mut [Tensor<1>],
        step: &StepInfo,
    ) -> Tensor<1> {
        let v = slots[0].clone() * self.0 - g * step.learning_rate;
        slots[0] = v.clone();
        p + v
    }
}

#[test]
fn a_custom_loss_trains_exactly_as_the_stock_loss_it_rewrites() {
    let (x, y, _) = mnist_subset(256);
    let mut stock = model().compile("adam", "mse", ["mae"]).unwrap();
    let mut custom = model()
        .compile("adam", Loss::custom(MyMse), ["mae"])
        .unwrap();
    let a = stock.fit(&x, &y, options()).unwrap();
    let b = custom.fit(&x, &y, options()).unwrap();
    let (la, lb) = (a.get("loss").unwrap(), b.get("loss").unwrap());
    for (p, q) in la.iter().zip(lb) {
        assert!((p - q).abs() < 1e-7, "{la:?} vs {lb:?}");
    }
    assert!(max_diff(&stock, &custom) < 1e-6);
    assert_eq!(custom.loss().name(), "my_mse");
}

#[test]
fn a_custom_metric_is_the_weighted_mean_of_its_values_like_keras() {
    let (x, y, _) = mnist_subset(256);
    let weights = Array1::from_shape_fn(256, |i| 1.0 + (i % 3) as f32);
    let mut model = model()
        .compile(
            "sgd",
            "categorical_crossentropy",
            [Metric::MeanAbsoluteError.config(), Metric::custom(MyMae)],
        )
        .unwrap();
    assert_eq!(model.metrics_names(), ["loss", "mae", "my_mae"]);
    let history = model
        .fit(
            &x,
            &y,
            options().sample_weight(&weights).validation_split(0.25),
        )
        .unwrap();
    for name in ["", "val_"] {
        let stock = history.get(&format!("{name}mae")).unwrap();
        let mine = history.get(&format!("{name}my_mae")).unwrap();
        for (p, q) in stock.iter().zip(mine) {
            assert!((p - q).abs() < 1e-7, "{name}: {stock:?} vs {mine:?}");
        }
    }
    let scores = model.evaluate(&x, &y).unwrap();
    assert!((scores["my_mae"] - scores["mae"]).abs() < 1e-7);
}

#[test]
fn a_custom_optimizer_rule_with_a_slot_matches_keras_sgd_momentum() {
    let (x, _, labels) = mnist_subset(256);
    let mut stock = model()
        .compile(
            Optimizer::sgd().learning_rate(0.05).momentum(0.9),
            "sparse_categorical_crossentropy",
            ["accuracy"],
        )
        .unwrap();
    let mut custom = model()
        .compile(
            Optimizer::custom(MySgdMomentum(0.9)).learning_rate(0.05),
            "sparse_categorical_crossentropy",
            ["accuracy"],
        )
        .unwrap();
    stock.fit(&x, &labels, options()).unwrap();
    custom.fit(&x, &labels, options()).unwrap();
    let diff = max_diff(&stock, &custom);
    assert!(diff < 1e-6, "weights differ by {diff}");
    // It really trained.
    let fresh = model().get_weights().unwrap();
    let moved = fresh[0]
        .iter()
        .zip(custom.get_weights().unwrap()[0].iter())
        .any(|(a, b)| a != b);
    assert!(moved);
}

#[test]
fn steps_per_epoch_walks_one_pass_across_epochs_as_keras_3() {
    let (x, _, labels) = mnist_subset(640); // 20 batches of 32
    let compile = || {
        model()
            .compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
            .unwrap()
    };
    // Four epochs of five steps cover the same 20 batches, in the same order, as one epoch.
    let mut short = compile();
    let history = short
        .fit(&x, &labels, options().epochs(4).steps_per_epoch(5).seed(3))
        .unwrap();
    assert_eq!(history.get("loss").unwrap().len(), 4);
    let mut full = compile();
    full.fit(&x, &labels, options().epochs(1).seed(3)).unwrap();
    assert_eq!(max_diff(&short, &full), 0.0);

    // More steps than one pass has is an error at the start, naming the option.
    let err = compile()
        .fit(&x, &labels, options().epochs(4).steps_per_epoch(6))
        .unwrap_err();
    let Error::InvalidOption { option, reason } = &err else {
        panic!("wrong error: {err}");
    };
    assert_eq!(*option, "steps_per_epoch");
    assert!(
        reason.contains("24 batches") && reason.contains("20 batches"),
        "{reason}"
    );
}

/// Keras weighs AUC's confusion counts by sample weight: a weight of k counts a sample k times.
#[test]
fn weighted_auc_equals_auc_on_repeated_samples() {
    let (x, _, labels) = mnist_subset(120);
    let y = labels
        .mapv(|l| f32::from(u8::from(l == 0)))
        .insert_axis(Axis(1));
    let weights = Array1::from_shape_fn(120, |i| (1 + i % 3) as f32);
    let repeats: Vec<usize> = (0..120)
        .flat_map(|i| std::iter::repeat_n(i, 1 + i % 3))
        .collect();
    let x_rep = x.select(Axis(0), &repeats);
    let y_rep = y.select(Axis(0), &repeats);
    let auc = |x: &Array2<f32>, y: &Array2<f32>, w: Option<&Array1<f32>>| {
        let mut model = Sequential::new()
            .add(Input::new([784]))
            .add(Dense::new(1).activation(Activation::Sigmoid))
            .seed(8)
            .build(&Device::flex())
            .unwrap()
            .compile(
                Optimizer::sgd().learning_rate(0.0),
                "binary_crossentropy",
                ["auc"],
            )
            .unwrap();
        let mut options = FitOptions::new().batch_size(1000).verbose(0);
        if let Some(w) = w {
            options = options.sample_weight(w);
        }
        model.fit(x, y, options).unwrap().get("auc").unwrap()[0]
    };
    let weighted = auc(&x, &y, Some(&weights));
    let repeated = auc(&x_rep, &y_rep, None);
    let plain = auc(&x, &y, None);
    assert!(
        (weighted - repeated).abs() < 1e-6,
        "{weighted} vs {repeated}"
    );
    assert!(
        (weighted - plain).abs() > 1e-4,
        "weights had no effect: {weighted} = {plain}"
    );
}

/// Keras weighs validation by `sample_weight`: the split's part of it, or the third element of
/// `validation_data`; weighted metrics equal the metrics of repeated samples.
#[test]
fn validation_is_weighted_by_sample_weight_as_in_keras() {
    let (x, _, labels) = mnist_subset(120);
    let weights = Array1::from_shape_fn(120, |i| (1 + i % 3) as f32);
    let compile = || {
        model()
            .compile("sgd", "sparse_categorical_crossentropy", ["accuracy"])
            .unwrap()
    };
    let opts = || options().epochs(1).validation_batch_size(1000);
    let (train, val) = (Slice::from(..90), Slice::from(90..));
    let xt = x.slice_axis(Axis(0), train).to_owned();
    let yt = labels.slice_axis(Axis(0), train).to_owned();
    let wt = weights.slice_axis(Axis(0), train).to_owned();
    let xv = x.slice_axis(Axis(0), val).to_owned();
    let yv = labels.slice_axis(Axis(0), val).to_owned();
    let wv = weights.slice_axis(Axis(0), val).to_owned();

    // validation_split with sample_weight == the same split given as weighted validation_data.
    let split = compile()
        .fit(
            &x,
            &labels,
            opts().sample_weight(&weights).validation_split(0.25),
        )
        .unwrap();
    let data = compile()
        .fit(
            &xt,
            &yt,
            opts()
                .sample_weight(&wt)
                .validation_data_weighted(&xv, &yv, &wv),
        )
        .unwrap();
    assert_eq!(split.get("val_loss"), data.get("val_loss"));
    assert_eq!(split.get("val_accuracy"), data.get("val_accuracy"));

    // Weighted validation == validation on samples repeated by their weight (accuracy), and
    // the loss is Keras's Σw·loss / samples.
    let repeats: Vec<usize> = (0..30)
        .flat_map(|i| std::iter::repeat_n(i, 1 + (90 + i) % 3))
        .collect();
    let xr = xv.select(Axis(0), &repeats);
    let yr = yv.select(Axis(0), &repeats);
    let repeated = compile()
        .fit(
            &xt,
            &yt,
            opts().sample_weight(&wt).validation_data(&xr, &yr),
        )
        .unwrap();
    let (wa, ra) = (
        data.get("val_accuracy").unwrap()[0],
        repeated.get("val_accuracy").unwrap()[0],
    );
    assert!((wa - ra).abs() < 1e-6, "{wa} vs {ra}");
    let total: f64 = wv.iter().map(|w| f64::from(*w)).sum();
    let (wl, rl) = (
        data.get("val_loss").unwrap()[0],
        repeated.get("val_loss").unwrap()[0],
    );
    assert!((wl * 30.0 / total - rl).abs() < 1e-5, "{wl} vs {rl}");
}
