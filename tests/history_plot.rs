//! `History::plot` writes the curves of a real run as PNG or SVG, atomically.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kiln::prelude::*;
use ndarray::{Array1, Array3, Axis, Slice};

fn history() -> History {
    let ((x, y), _) = kiln::datasets::mnist::load_data().unwrap();
    let rows = Slice::from(..256);
    let x: Array3<f32> = scale_pixels(&x.slice_axis(Axis(0), rows).to_owned());
    let y: Array1<u8> = y.slice_axis(Axis(0), rows).to_owned();
    let mut model = Sequential::new()
        .add(Input::new([28, 28]))
        .add(Flatten::new())
        .add(Dense::new(10).activation(Activation::Softmax))
        .seed(1)
        .build(&Device::flex())
        .unwrap()
        .compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
        .unwrap();
    model
        .fit(
            &x,
            &y,
            FitOptions::new()
                .epochs(3)
                .verbose(0)
                .validation_split(0.25),
        )
        .unwrap()
}

#[test]
fn plot_writes_a_png_and_an_svg_with_both_curves() {
    let dir = tempfile::tempdir().unwrap();
    let history = history();

    let png = dir.path().join("history.png");
    history.plot(&png).unwrap();
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    // IHDR: 720 wide, one 280-pixel panel per quantity (loss, accuracy).
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((width, height), (720, 560));

    let svg = dir.path().join("history.svg");
    history.plot(&svg).unwrap();
    let text = std::fs::read_to_string(&svg).unwrap();
    for label in ["loss", "val_loss", "accuracy", "val_accuracy", "epoch"] {
        assert!(
            text.contains(&format!(">\n{label}\n<")),
            "no {label} in the SVG"
        );
    }
    // Only the two plots are left: the temporary files were renamed.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["history.png", "history.svg"]);
}

#[test]
fn plot_refuses_other_formats_and_empty_histories() {
    let dir = tempfile::tempdir().unwrap();
    let err = history().plot(dir.path().join("history.jpg")).unwrap_err();
    assert!(err.to_string().contains(".png or .svg"), "{err}");
    let err = History::default()
        .plot(dir.path().join("empty.png"))
        .unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
