//! `Resizing`: images resized to a fixed height and width inside the model (Keras
//! `layers.Resizing`).

use serde::{Deserialize, Serialize};

use super::conv_utils::{channels_last, default_format};
use super::image_resize::{Method, aspect_crop, aspect_pad, pad, resize};
use super::{Layer, Weights, config_of, only, setters};
use crate::shape::Shape;
use crate::tensor::DynTensor;

fn bilinear() -> String {
    "bilinear".into()
}

fn constant() -> String {
    "constant".into()
}

/// Resizes images `(None, h, w, c)` to `(None, height, width, c)` (Keras `layers.Resizing`), with
/// Keras's numbers on JAX: `interpolation` `bilinear` (default), `nearest`, `bicubic`,
/// `lanczos3`, `lanczos5`; `antialias` widens the kernel when downsampling;
/// `crop_to_aspect_ratio` first takes the largest centered box of the target's aspect ratio;
/// `pad_to_aspect_ratio` first pads with `fill_value` on both sides instead.
///
/// # Examples
/// ```
/// use kiln_model::{Input, Resizing, Sequential};
/// let model = Sequential::new().add(Input::new([28, 28, 1])).add(Resizing::new(14, 14))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 14, 14, 1)");
/// let y = model.predict(&ndarray::Array4::<f32>::ones((2, 28, 28, 1)), 32)?;
/// assert!(y.iter().all(|v| (v - 1.0).abs() < 1e-6));
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resizing {
    /// Output height.
    pub height: usize,
    /// Output width.
    pub width: usize,
    /// `bilinear`, `nearest`, `bicubic`, `lanczos3` or `lanczos5`.
    #[serde(default = "bilinear")]
    pub interpolation: String,
    /// Crop to the target aspect ratio before resizing (default false).
    #[serde(default)]
    pub crop_to_aspect_ratio: bool,
    /// Pad to the target aspect ratio before resizing (default false).
    #[serde(default)]
    pub pad_to_aspect_ratio: bool,
    /// Only `constant`.
    #[serde(default = "constant")]
    pub fill_mode: String,
    /// The padding value with `pad_to_aspect_ratio` (default 0).
    #[serde(default)]
    pub fill_value: f32,
    /// Low-pass filter when downsampling (default false).
    #[serde(default)]
    pub antialias: bool,
    /// Only `channels_last`.
    #[serde(default = "default_format", deserialize_with = "channels_last")]
    pub data_format: String,
}

impl Resizing {
    /// Resizes to `height × width`, bilinear.
    pub fn new(height: usize, width: usize) -> Self {
        Self {
            height,
            width,
            interpolation: bilinear(),
            crop_to_aspect_ratio: false,
            pad_to_aspect_ratio: false,
            fill_mode: constant(),
            fill_value: 0.0,
            antialias: false,
            data_format: default_format(),
        }
    }

    fn method(&self) -> Result<Method, String> {
        Method::parse(&self.interpolation).ok_or_else(|| {
            format!(
                "interpolation `{}` is not supported; use bilinear, nearest, bicubic, lanczos3 \
                 or lanczos5",
                self.interpolation
            )
        })
    }
}

setters!(Resizing {
    /// Sets the interpolation (`bilinear`, `nearest`, `bicubic`, `lanczos3`, `lanczos5`).
    interpolation: String,
    /// Crops to the target aspect ratio first.
    crop_to_aspect_ratio: bool,
    /// Pads to the target aspect ratio first.
    pad_to_aspect_ratio: bool,
    /// Sets the padding value.
    fill_value: f32,
    /// Low-pass filters when downsampling.
    antialias: bool,
});

/// Checks an image input `(h, w, c)` and a target size.
pub(crate) fn image_dims(
    class: &str,
    input: &Shape,
    [height, width]: [usize; 2],
) -> Result<[usize; 3], String> {
    let &[h, w, c] = input.dims() else {
        return Err(format!(
            "{class} needs images (None, height, width, channels), got {input}"
        ));
    };
    if height == 0 || width == 0 {
        return Err(format!(
            "height and width must be at least 1, got {height} and {width}"
        ));
    }
    if height
        .checked_mul(width)
        .and_then(|p| p.checked_mul(c))
        .is_none_or(|n| n > 1 << 31)
    {
        return Err(format!("{height} x {width} x {c} is too large an image"));
    }
    Ok([h, w, c])
}

impl Layer for Resizing {
    fn class_name(&self) -> &str {
        "Resizing"
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let [_, _, c] = image_dims("Resizing", only(inputs)?, [self.height, self.width])?;
        self.method()?;
        if self.crop_to_aspect_ratio && self.pad_to_aspect_ratio {
            return Err("crop_to_aspect_ratio and pad_to_aspect_ratio exclude each other".into());
        }
        if self.fill_mode != "constant" {
            return Err(format!(
                "fill_mode `{}` is not supported; use constant",
                self.fill_mode
            ));
        }
        Ok(Shape(vec![self.height, self.width, c]))
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        _training: bool,
    ) -> Result<DynTensor, String> {
        let DynTensor::R4(x) = only(inputs)? else {
            return Err("Resizing needs a batch of images [batch, h, w, c]".into());
        };
        let [_, h, w, _] = x.dims();
        let size = [self.height, self.width];
        let x = if self.crop_to_aspect_ratio {
            let [sh, sw, ch, cw] = aspect_crop(h, w, size);
            x.narrow(1, sh, ch).narrow(2, sw, cw)
        } else if self.pad_to_aspect_ratio {
            pad(x, aspect_pad(h, w, size), self.fill_value)
        } else {
            x
        };
        Ok(DynTensor::R4(resize(
            x,
            size,
            self.method()?,
            self.antialias,
        )))
    }
}
