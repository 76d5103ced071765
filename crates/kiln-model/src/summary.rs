//! `model.summary()`: Keras 3's table, character for character.

use std::fmt;

use crate::graph::Plan;
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
    /// Non-trainable parameters (e.g. moving statistics, frozen layers).
    pub non_trainable: usize,
    /// What it is called on, Keras's "Connected to" (`dense[0][0]`); empty in a Sequential.
    pub connected_to: Vec<String>,
}

/// The printable summary of a model (Keras's `model.summary()` table).
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The model's name.
    pub name: String,
    /// The rows, one per layer (a Sequential's `Input` is not listed, as in Keras).
    pub layers: Vec<LayerInfo>,
    /// Whether it is a Functional model's table (with the "Connected to" column).
    pub functional: bool,
}

fn layer_row(plan: &Plan, layer: usize, connected_to: Vec<String>) -> LayerInfo {
    let g = &plan.graph;
    let spec = &g.layers[layer];
    let node = g.nodes.iter().position(|n| n.layer == layer).unwrap_or(0);
    let (trainable, non_trainable) = plan.weights[layer].counts(spec.trainable);
    LayerInfo {
        name: g.layer_name(layer).to_string(),
        class_name: spec.class_name().to_string(),
        output_shape: plan.shapes.get(node).cloned().unwrap_or_default(),
        trainable,
        non_trainable,
        connected_to,
    }
}

/// A Sequential's table: one row per layer after the `Input`.
pub(crate) fn sequential_summary(name: &str, plan: &Plan) -> Summary {
    let rows = (0..plan.graph.layers.len())
        .filter(|&i| !plan.graph.is_input_layer(i))
        .map(|i| layer_row(plan, i, Vec::new()))
        .collect();
    Summary {
        name: name.to_string(),
        layers: rows,
        functional: false,
    }
}

/// A Functional model's table: one row per layer, inputs included, with what each node of
/// the layer is connected to.
pub(crate) fn functional_summary(name: &str, plan: &Plan) -> Summary {
    let g = &plan.graph;
    let rows = (0..g.layers.len())
        .map(|i| {
            let connected = g
                .nodes
                .iter()
                .filter(|n| n.layer == i)
                .flat_map(|n| n.inputs.iter())
                .map(|&j| {
                    let (layer, index) = crate::config::history(plan, j);
                    format!("{layer}[{index}][0]")
                })
                .collect();
            layer_row(plan, i, connected)
        })
        .collect();
    Summary {
        name: name.to_string(),
        layers: rows,
        functional: true,
    }
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
