//! Shared by the convolution and pooling layers: Keras's padding rule and `int or pair` options.

use serde::{Deserialize, Deserializer, Serialize};

/// Keras's `padding` for convolutions and pooling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    /// No padding: windows stay inside the input (Keras's default).
    #[default]
    Valid,
    /// Pad so that `out = ceil(in / stride)`; the odd cell goes after (bottom/right).
    Same,
    /// Pad the start only, so that no output sees a later step (`Conv1D` only, Keras's
    /// `causal`): `out = ceil(in / stride)`.
    Causal,
}

/// 1, Keras's default for `groups`.
pub(crate) fn one() -> usize {
    1
}

/// Checks Keras's `groups` of a convolution: at least 1, dividing both the input channels and
/// the filters.
pub(crate) fn check_groups(groups: usize, channels: usize, filters: usize) -> Result<(), String> {
    if groups == 0 || !channels.is_multiple_of(groups) || !filters.is_multiple_of(groups) {
        return Err(format!(
            "groups {groups} must divide both the {channels} input channels and the {filters} \
             filters"
        ));
    }
    Ok(())
}

/// Refuses `causal` padding, which only `Conv1D` takes (as Keras).
pub(crate) fn no_causal(padding: Padding, class: &str) -> Result<(), String> {
    if padding == Padding::Causal {
        return Err(format!(
            "padding `causal` is for Conv1D; {class} takes `valid` or `same`"
        ));
    }
    Ok(())
}

/// Output size `[h, w]` and `(before, after)` padding per spatial axis, or why it does not fit.
pub(crate) type Geometry = Result<([usize; 2], [(usize, usize); 2]), String>;

/// Output length and `(before, after)` padding of one spatial axis.
pub(crate) fn axis(
    input: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    padding: Padding,
) -> Option<(usize, (usize, usize))> {
    // Checked throughout: the sizes may come from a file (None for a window that overflows).
    let effective = kernel
        .checked_sub(1)?
        .checked_mul(dilation)?
        .checked_add(1)?;
    if stride == 0 {
        return None;
    }
    match padding {
        Padding::Valid => {
            if input < effective {
                return None;
            }
            Some(((input - effective) / stride + 1, (0, 0)))
        }
        Padding::Causal => {
            let left = effective - 1;
            Some(((input + left - effective) / stride + 1, (left, 0)))
        }
        Padding::Same => {
            let out = input.div_ceil(stride);
            let total = out
                .saturating_sub(1)
                .checked_mul(stride)?
                .checked_add(effective)?
                .saturating_sub(input);
            Some((out, (total / 2, total - total / 2)))
        }
    }
}

/// Reads Keras's `3` or `[3, 3]` as a pair.
pub(crate) fn pair<'de, D: Deserializer<'de>>(d: D) -> Result<[usize; 2], D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        One(usize),
        Two([usize; 2]),
    }
    Ok(match Repr::deserialize(d)? {
        Repr::One(v) => [v, v],
        Repr::Two(v) => v,
    })
}

/// As [`pair`], where `null` means "same as the pool size" (`None`).
pub(crate) fn optional_pair<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<[usize; 2]>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        One(usize),
        Two([usize; 2]),
    }
    Ok(Option::<Repr>::deserialize(d)?.map(|r| match r {
        Repr::One(v) => [v, v],
        Repr::Two(v) => v,
    }))
}

/// Checks Keras's `data_format` (only `channels_last` is supported).
pub(crate) fn channels_last<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = Option::<String>::deserialize(d)?.unwrap_or_else(|| "channels_last".into());
    if v != "channels_last" {
        return Err(serde::de::Error::custom(format!(
            "data_format `{v}` is not supported; Kiln takes channels_last input like Keras's default"
        )));
    }
    Ok(v)
}

pub(crate) fn default_format() -> String {
    "channels_last".into()
}

pub(crate) fn ones() -> [usize; 2] {
    [1, 1]
}

/// Reads Keras's `3` or `[3]` (1-D layers) as one number.
pub(crate) fn single<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        One(usize),
        List([usize; 1]),
    }
    Ok(match Repr::deserialize(d)? {
        Repr::One(v) | Repr::List([v]) => v,
    })
}

/// Reads Keras's `1`, `[1, 2]` (rows, columns) or `[[top, bottom], [left, right]]` as
/// `[[top, bottom], [left, right]]` (ZeroPadding2D's `padding`, Cropping2D's `cropping`).
pub(crate) fn padding_pairs<'de, D: Deserializer<'de>>(d: D) -> Result<[[usize; 2]; 2], D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        One(usize),
        Two([usize; 2]),
        Four([[usize; 2]; 2]),
    }
    Ok(match Repr::deserialize(d)? {
        Repr::One(p) => [[p, p], [p, p]],
        Repr::Two([h, w]) => [[h, h], [w, w]],
        Repr::Four(p) => p,
    })
}

/// Reads Keras's `1`, `[1, 2, 3]` (one per axis) or `[[a, b], [c, d], [e, f]]` as
/// `[[before, after]; 3]` (ZeroPadding3D's `padding`, Cropping3D's `cropping`).
pub(crate) fn padding_triples<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<[[usize; 2]; 3], D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        One(usize),
        Three([usize; 3]),
        Six([[usize; 2]; 3]),
    }
    Ok(match Repr::deserialize(d)? {
        Repr::One(p) => [[p, p]; 3],
        Repr::Three([a, b, c]) => [[a, a], [b, b], [c, c]],
        Repr::Six(p) => p,
    })
}

/// Reads Keras's `2` or `[1, 2, 3]` as a triple.
pub(crate) fn triple<'de, D: Deserializer<'de>>(d: D) -> Result<[usize; 3], D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        One(usize),
        Three([usize; 3]),
    }
    Ok(match Repr::deserialize(d)? {
        Repr::One(v) => [v; 3],
        Repr::Three(v) => v,
    })
}

/// Keras's `axis` (negative from the end, the batch axis 0) in a tensor of `rank` (batch
/// included), checked to be an axis of a sample.
pub(crate) fn sample_axis(axis: i64, rank: usize) -> Result<usize, String> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a <= 0 || a >= r {
        return Err(format!(
            "axis {axis} is not an axis of a sample of rank {} (the batch axis is 0)",
            rank.saturating_sub(1)
        ));
    }
    Ok(a as usize)
}

/// The last axis, Keras's default `axis=-1`.
pub(crate) fn last_axis() -> i64 {
    -1
}

/// Reads an axis as Keras 3 (`-1`) or Keras 2 (`[3]`, a built layer's list) writes it.
pub(crate) fn single_axis<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        One(i64),
        List([i64; 1]),
    }
    Ok(match Repr::deserialize(d)? {
        Repr::One(v) | Repr::List([v]) => v,
    })
}

/// As [`single`], where `null` means "same as the pool size" (`None`).
pub(crate) fn optional_single<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        One(usize),
        List([usize; 1]),
    }
    Ok(Option::<Repr>::deserialize(d)?.map(|r| match r {
        Repr::One(v) | Repr::List([v]) => v,
    }))
}
