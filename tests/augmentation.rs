//! The image augmentation layers: unchanged at inference, the transformation they name while
//! training (checked where the draw is pinned by a `[v, v]` factor). Reproducibility under a
//! fit seed is `tests/augmentation_seed.rs`, alone in its process (flex seeds process-wide).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kiln::model::{
    RandomBrightness, RandomContrast, RandomCrop, RandomFlip, RandomRotation, RandomTranslation,
    RandomZoom,
};
use kiln::prelude::*;
use ndarray::{Array4, ArrayD, Axis};

fn images() -> Array4<f32> {
    Array4::from_shape_fn((3, 8, 6, 2), |(b, y, x, c)| {
        ((b * 31 + y * 7 + x * 3 + c * 11) % 23) as f32 * 10.0
    })
}

fn model(layer: impl Into<kiln::model::LayerSpec>) -> kiln::model::Model {
    Sequential::new()
        .add(Input::new([8, 6, 2]))
        .add(layer)
        .build(&Device::flex())
        .unwrap()
}

fn close(a: &ArrayD<f32>, b: &ArrayD<f32>, tol: f32) {
    assert_eq!(a.shape(), b.shape());
    let worst = a
        .iter()
        .zip(b)
        .map(|(p, q)| (p - q).abs())
        .fold(0.0f32, f32::max);
    assert!(worst <= tol, "differ by {worst}");
}

#[test]
fn augmentation_layers_pass_images_unchanged_at_inference() {
    let x = images();
    let layers: Vec<kiln::model::Model> = vec![
        model(RandomFlip::new("horizontal_and_vertical")),
        model(RandomTranslation::new(0.2, 0.3)),
        model(RandomZoom::new(0.3)),
        model(RandomRotation::new(0.2)),
        model(RandomContrast::new(0.5)),
        model(RandomBrightness::new(0.5)),
    ];
    for m in layers {
        assert_eq!(m.call(&x, false).unwrap(), x.clone().into_dyn());
    }
    // RandomCrop at inference is Keras's smart resize: CenterCrop's path for a larger box.
    let crop = model(RandomCrop::new(4, 3)).call(&x, false).unwrap();
    let resized = Sequential::new()
        .add(Input::new([8, 6, 2]))
        .add(kiln::model::Resizing::new(4, 3).crop_to_aspect_ratio(true))
        .build(&Device::flex())
        .unwrap()
        .call(&x, false)
        .unwrap();
    close(&crop, &resized, 1e-4);
}

#[test]
fn pinned_draws_give_the_transformation_they_name() {
    let x = images();
    let flipped_both = {
        let mut f = x.clone();
        f.invert_axis(Axis(1));
        f.invert_axis(Axis(2));
        f.into_dyn()
    };
    // Half a turn is both flips (up to the rounding of sin(pi)).
    let half_turn = model(RandomRotation::new([0.5, 0.5]))
        .call(&x, true)
        .unwrap();
    close(&half_turn, &flipped_both, 1e-3);
    // Down by a quarter of 8 rows = 2 rows, zeros above with constant fill.
    let moved = model(RandomTranslation::new([0.25, 0.25], 0.0).fill_mode("constant"))
        .call(&x, true)
        .unwrap();
    for b in 0..3 {
        for y in 0..8 {
            for xx in 0..6 {
                for c in 0..2 {
                    let expected = if y < 2 { 0.0 } else { x[[b, y - 2, xx, c]] };
                    assert_eq!(moved[[b, y, xx, c]], expected, "{b} {y} {xx} {c}");
                }
            }
        }
    }
    // Reflect fill mirrors the rows that came in: row 1 copies row 0, row 0 copies row 1.
    let reflected = model(RandomTranslation::new([0.25, 0.25], 0.0))
        .call(&x, true)
        .unwrap();
    assert_eq!(reflected[[0, 1, 0, 0]], x[[0, 0, 0, 0]]);
    assert_eq!(reflected[[0, 0, 0, 0]], x[[0, 1, 0, 0]]);
    // A zoom of exactly 1 and a contrast factor of exactly 1 change nothing.
    close(
        &model(RandomZoom::new([0.0, 0.0])).call(&x, true).unwrap(),
        &x.clone().into_dyn(),
        1e-4,
    );
    close(
        &model(RandomContrast::new(0.0)).call(&x, true).unwrap(),
        &x.clone().into_dyn(),
        1e-3,
    );
    // Brightness +0.1 of the 0..255 range, clipped at 255.
    let brighter = model(RandomBrightness::new([0.1, 0.1]))
        .call(&x, true)
        .unwrap();
    close(
        &brighter,
        &x.mapv(|v| (v + 25.5).min(255.0)).into_dyn(),
        1e-3,
    );
    // Every flipped image is the image or its mirror, and over 3 x 40 draws both happen.
    let flip = model(RandomFlip::new("horizontal"));
    let mut mirrored = 0;
    for _ in 0..40 {
        let y = flip.call(&x, true).unwrap();
        for b in 0..3 {
            let got = y.index_axis(Axis(0), b).to_owned();
            let same = got == x.index_axis(Axis(0), b).into_dyn();
            let mut m = x.index_axis(Axis(0), b).to_owned();
            m.invert_axis(Axis(1));
            assert!(
                same || got == m.into_dyn(),
                "image {b} is neither itself nor its mirror"
            );
            mirrored += usize::from(!same);
        }
    }
    assert!((20..100).contains(&mirrored), "{mirrored} of 120 mirrored");
    // A random crop is a window of the input.
    let crop = model(RandomCrop::new(5, 4)).call(&x, true).unwrap();
    let window = crop.index_axis(Axis(0), 0).to_owned();
    let found = (0..=3).any(|top| {
        (0..=2).any(|left| {
            x.index_axis(Axis(0), 0)
                .slice_axis(Axis(0), ndarray::Slice::from(top..top + 5))
                .slice_axis(Axis(1), ndarray::Slice::from(left..left + 4))
                .to_owned()
                .into_dyn()
                == window
        })
    });
    assert!(found, "the crop is not a window of the image");
}
