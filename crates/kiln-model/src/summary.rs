//! `model.summary()`: Keras 3's table, character for character.

use std::fmt;

use crate::shape::Shape;

/// One row of the summary.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerInfo {
    /// The layer's name (`dense_1`).
    pub name: String,
    /// Keras's class name (`Dense`).
    pub class_name: String,
    /// Its output shape.
    pub output_shape: Shape,
    /// Trainable parameters.
    pub trainable: usize,
    /// Non-trainable parameters (e.g. moving statistics).
    pub non_trainable: usize,
}

/// The printable summary of a model (Keras's `model.summary()` table).
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The model's name.
    pub name: String,
    /// The rows, one per layer (the `Input` is not listed, as in Keras).
    pub layers: Vec<LayerInfo>,
}

impl Summary {
    /// Total trainable parameters.
    pub fn trainable_params(&self) -> usize {
        self.layers.iter().map(|l| l.trainable).sum()
    }

    /// Total non-trainable parameters.
    pub fn non_trainable_params(&self) -> usize {
        self.layers.iter().map(|l| l.non_trainable).sum()
    }

    /// All parameters.
    pub fn total_params(&self) -> usize {
        self.trainable_params() + self.non_trainable_params()
    }
}

const WIDTHS: [usize; 3] = [33, 24, 15];

fn rule(f: &mut fmt::Formatter<'_>, left: char, fill: char, mid: char, right: char) -> fmt::Result {
    let parts: Vec<String> = WIDTHS.iter().map(|w| fill.to_string().repeat(*w)).collect();
    writeln!(f, "{left}{}{right}", parts.join(&mid.to_string()))
}

fn row(f: &mut fmt::Formatter<'_>, sep: char, cells: [&str; 3]) -> fmt::Result {
    write!(f, "{sep}")?;
    for (i, (cell, w)) in cells.iter().zip(WIDTHS).enumerate() {
        let inner = w - 2;
        if i == 2 {
            write!(f, " {cell:>inner$} {sep}")?;
        } else {
            write!(f, " {cell:<inner$} {sep}")?;
        }
    }
    writeln!(f)
}

/// `101770` → `101,770`.
pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes as Keras prints them: `397.54 KB` (powers of 1024, two decimals).
pub fn readable_bytes(bytes: f64) -> String {
    let units = ["B", "KB", "MB", "GB", "TB"];
    let mut v = bytes;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < units.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.2} {}", units[unit])
}

fn fit_cell(text: String, width: usize) -> String {
    if text.chars().count() <= width {
        text
    } else {
        let mut t: String = text.chars().take(width - 1).collect();
        t.push('…');
        t
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Model: \"{}\"", self.name)?;
        rule(f, '┏', '━', '┳', '┓')?;
        row(f, '┃', ["Layer (type)", "Output Shape", "Param #"])?;
        rule(f, '┡', '━', '╇', '┩')?;
        for (i, layer) in self.layers.iter().enumerate() {
            let name = fit_cell(
                format!("{} ({})", layer.name, layer.class_name),
                WIDTHS[0] - 2,
            );
            let shape = fit_cell(layer.output_shape.to_string(), WIDTHS[1] - 2);
            let params = thousands(layer.trainable + layer.non_trainable);
            row(f, '│', [&name, &shape, &params])?;
            if i + 1 < self.layers.len() {
                rule(f, '├', '─', '┼', '┤')?;
            }
        }
        rule(f, '└', '─', '┴', '┘')?;
        let line = |n: usize| format!("{} ({})", thousands(n), readable_bytes(4.0 * n as f64));
        writeln!(f, " Total params: {}", line(self.total_params()))?;
        writeln!(f, " Trainable params: {}", line(self.trainable_params()))?;
        writeln!(
            f,
            " Non-trainable params: {}",
            line(self.non_trainable_params())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_formatted_as_keras_does() {
        assert_eq!(thousands(101_770), "101,770");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(readable_bytes(407_080.0), "397.54 KB");
        assert_eq!(readable_bytes(0.0), "0.00 B");
    }
}
