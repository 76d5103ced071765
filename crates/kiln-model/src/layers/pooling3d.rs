//! `MaxPooling3d` and `AveragePooling3d` over channels-last volumes (Keras `MaxPooling3D`,
//! `AveragePooling3D`).

use serde::{Deserialize, Deserializer, Serialize};

use super::conv_utils::{Padding, axis, channels_last, default_format, no_causal, triple};
use super::pooling2d::Pool2d;
use super::{Layer, Weights, config_of, only, setters};
use crate::shape::Shape;
use crate::tensor::DynTensor;

fn two() -> [usize; 3] {
    [2; 3]
}

/// As [`triple`], where `null` means "same as the pool size" (`None`).
fn optional_triple<'de, D: Deserializer<'de>>(d: D) -> Result<Option<[usize; 3]>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        One(usize),
        Three([usize; 3]),
    }
    Ok(Option::<Repr>::deserialize(d)?.map(|r| match r {
        Repr::One(v) => [v; 3],
        Repr::Three(v) => v,
    }))
}

/// Output size and `(before, after)` padding per spatial axis.
type Geometry3 = Result<([usize; 3], [(usize, usize); 3]), String>;

/// The options both 3-D poolings share (Keras `pool_size`, `strides`, `padding`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pool3dOptions {
    /// Window per spatial axis (default 2x2x2).
    #[serde(default = "two", deserialize_with = "triple")]
    pub pool_size: [usize; 3],
    /// Step; `None` (Keras `null`) means the pool size.
    #[serde(default, deserialize_with = "optional_triple")]
    pub strides: Option<[usize; 3]>,
    /// `valid` (default) or `same`.
    #[serde(default)]
    pub padding: Padding,
    /// Only `channels_last`.
    #[serde(default = "default_format", deserialize_with = "channels_last")]
    pub data_format: String,
}

impl Pool3dOptions {
    fn strides(&self) -> [usize; 3] {
        self.strides.unwrap_or(self.pool_size)
    }

    fn geometry(&self, input: &Shape, class: &str) -> Geometry3 {
        let &[d1, d2, d3, _c] = input.dims() else {
            return Err(format!(
                "{class} needs volumes (None, d1, d2, d3, channels), got {input}"
            ));
        };
        let strides = self.strides();
        if self.pool_size.contains(&0) || strides.contains(&0) {
            return Err("pool_size and strides must be at least 1".into());
        }
        no_causal(self.padding, class)?;
        let mut out = [0; 3];
        let mut pads = [(0, 0); 3];
        for (i, size) in [d1, d2, d3].into_iter().enumerate() {
            let (o, p) =
                axis(size, self.pool_size[i], strides[i], 1, self.padding).ok_or_else(|| {
                    format!("the {:?} window does not fit in {input}", self.pool_size)
                })?;
            out[i] = o;
            pads[i] = p;
        }
        Ok((out, pads))
    }

    /// Pools `x` `[b, d1, d2, d3, c]`: a box window is separable, so over the last two spatial
    /// axes first (burn's 2-D pooling), then over the first. Both max and the mean over real
    /// cells factor this way (the real cells of a window are a product of per-axis ranges).
    fn pool(
        &self,
        x: burn::tensor::Tensor<5>,
        max: bool,
        class: &str,
    ) -> Result<DynTensor, String> {
        let [b, d1, d2, d3, c] = x.dims();
        let ([o1, o2, o3], [p1, p2, p3]) = self.geometry(&Shape(vec![d1, d2, d3, c]), class)?;
        let [k1, k2, k3] = self.pool_size;
        let [s1, s2, s3] = self.strides();
        let inner = Pool2d {
            max,
            pool_size: [k2, k3],
            strides: [s2, s3],
            padding: [p2, p3],
        }
        .pool(x.reshape([b * d1, d2, d3, c]));
        let outer = Pool2d {
            max,
            pool_size: [k1, 1],
            strides: [s1, 1],
            padding: [p1, (0, 0)],
        }
        .pool(inner.reshape([b, d1, o2 * o3, c]));
        Ok(DynTensor::R5(outer.reshape([b, o1, o2, o3, c])))
    }
}

macro_rules! pool3d_spec {
    ($name:ident, $keras:literal, $max:expr, $(#[$doc:meta])*) => {
        $(#[$doc])*
        #[doc(alias = $keras)]
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Pool3dOptions);

        impl $name {
            /// A cubic `pool_size` window, strides equal to the window, `valid` padding.
            pub fn new(pool_size: usize) -> Self {
                Self(Pool3dOptions {
                    pool_size: [pool_size; 3],
                    strides: None,
                    padding: Padding::Valid,
                    data_format: default_format(),
                })
            }
        }

        setters!($name [0] {
            /// Sets a non-cubic window.
            pool_size: [usize; 3],
            /// Sets the strides (default: the window).
            strides: Option<[usize; 3]>,
            /// Sets the padding.
            padding: Padding,
        });

        impl Layer for $name {
            fn class_name(&self) -> &str {
                $keras
            }

            fn config(&self) -> serde_json::Value {
                config_of(self)
            }

            fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
                let input = only(inputs)?;
                let ([a, b, c], _) = self.0.geometry(input, $keras)?;
                Ok(Shape(vec![a, b, c, input.last().unwrap_or(0)]))
            }

            fn call(
                &self,
                inputs: Vec<DynTensor>,
                _weights: &Weights<'_>,
                _training: bool,
            ) -> Result<DynTensor, String> {
                let DynTensor::R5(x) = only(inputs)? else {
                    return Err(format!(
                        "{} needs a batch of volumes [batch, d1, d2, d3, c]",
                        $keras
                    ));
                };
                self.0.pool(x, $max, $keras)
            }
        }
    };
}

pool3d_spec!(
    MaxPooling3d,
    "MaxPooling3D",
    true,
    /// Max over windows of volumes `[batch, d1, d2, d3, c]` (Keras `MaxPooling3D`; padded cells
    /// are ignored).
    ///
    /// # Examples
    /// ```
    /// use kiln_model::{Input, MaxPooling3d, Sequential};
    /// let model = Sequential::new().add(Input::new([4, 6, 6, 2])).add(MaxPooling3d::new(2))
    ///     .build(&burn::tensor::Device::flex())?;
    /// assert_eq!(model.output_shape().to_string(), "(None, 2, 3, 3, 2)");
    /// # Ok::<(), kiln_model::Error>(())
    /// ```
);
pool3d_spec!(
    AveragePooling3d,
    "AveragePooling3D",
    false,
    /// Mean over windows of volumes `[batch, d1, d2, d3, c]` (Keras `AveragePooling3D`; with
    /// `same` padding the mean is over the real cells only).
    ///
    /// # Examples
    /// ```
    /// use kiln_model::{AveragePooling3d, Input, Padding, Sequential};
    /// let model = Sequential::new().add(Input::new([5, 5, 5, 1]))
    ///     .add(AveragePooling3d::new(2).padding(Padding::Same))
    ///     .build(&burn::tensor::Device::flex())?;
    /// assert_eq!(model.output_shape().to_string(), "(None, 3, 3, 3, 1)");
    /// # Ok::<(), kiln_model::Error>(())
    /// ```
);
