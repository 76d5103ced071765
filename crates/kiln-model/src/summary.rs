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
    /// Its output shape (the first, for a layer that gives several).
    pub output_shape: Shape,
    /// The shapes of its further outputs (`return_state`), empty for a layer of one output.
    pub other_outputs: Vec<Shape>,
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
    /// Whether it is a Functional model's table (its inputs listed).
    pub functional: bool,
    /// Whether the graph is a simple chain (Keras then leaves out "Connected to").
    pub sequential_like: bool,
    /// The width the table is drawn at (see [`Summary::line_length`]).
    pub line_length: usize,
}

/// What Keras prints when stdout is not a terminal: `min(default, 80 - 4)`.
const LINE_LENGTH: usize = 76;

fn layer_row(plan: &Plan, layer: usize, connected_to: Vec<String>) -> LayerInfo {
    let g = &plan.graph;
    let spec = &g.layers[layer];
    let node = g
        .nodes
        .iter()
        .position(|n| n.layer == layer && n.part == 0)
        .unwrap_or(0);
    let other_outputs = g
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.layer == layer && n.part > 0 && n.inputs.first() == Some(&node))
        .map(|(i, _)| plan.shapes[i].clone())
        .collect();
    let (trainable, non_trainable) = plan.weights[layer].counts(spec.trainable);
    LayerInfo {
        name: g.layer_name(layer).to_string(),
        class_name: spec.layer().summary_class_name().to_string(),
        output_shape: plan.shapes.get(node).cloned().unwrap_or_default(),
        other_outputs,
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
        sequential_like: true,
        line_length: LINE_LENGTH,
    }
}

/// Keras's test for a plain chain: one node per depth, each taking at most one tensor, and no
/// layer called twice.
fn sequential_like(plan: &Plan) -> bool {
    let g = &plan.graph;
    // Keras has one node per call: a further output (`return_state`) is a tensor of its call.
    let call_of = |n: usize| match &g.nodes[n] {
        node if node.part > 0 => node.inputs.first().copied().unwrap_or(n),
        _ => n,
    };
    let calls_only = || g.nodes.iter().filter(|n| n.part == 0);
    let mut consumers = vec![0usize; g.nodes.len()];
    for node in calls_only() {
        for &i in &node.inputs {
            consumers[call_of(i)] += 1;
        }
    }
    let mut calls = vec![0usize; g.layers.len()];
    for node in calls_only() {
        calls[node.layer] += 1;
    }
    g.inputs.len() == 1
        && calls_only().all(|n| n.inputs.len() <= 1)
        && consumers.iter().all(|&c| c <= 1)
        && calls.iter().all(|&c| c <= 1)
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
                .filter(|n| n.layer == i && n.part == 0)
                .flat_map(|n| n.inputs.iter())
                .map(|&j| {
                    let (layer, index, tensor) = crate::config::history(plan, j);
                    format!("{layer}[{index}][{tensor}]")
                })
                .collect();
            layer_row(plan, i, connected)
        })
        .collect();
    Summary {
        name: name.to_string(),
        layers: rows,
        functional: true,
        sequential_like: sequential_like(plan),
        line_length: LINE_LENGTH,
    }
}

impl LayerInfo {
    /// What the "Output Shape" column shows: the shape, or Keras's list of them for a layer
    /// that gives several (`[(None, 4), (None, 4)]`).
    pub fn shape_text(&self) -> String {
        if self.other_outputs.is_empty() {
            return self.output_shape.to_string();
        }
        let all: Vec<String> = std::iter::once(&self.output_shape)
            .chain(&self.other_outputs)
            .map(ToString::to_string)
            .collect();
        format!("[{}]", all.join(", "))
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

/// Python's `round` (halves to even), as rich's width arithmetic uses it.
fn round_half_even(x: f64) -> usize {
    let r = x.round();
    let r = if (x - x.trunc()).abs() == 0.5 && r % 2.0 != 0.0 {
        r - 1.0
    } else {
        r
    };
    r.max(0.0) as usize
}

/// The column widths (padding included) Keras asks rich for at `line_length`, shrunk as rich
/// shrinks fixed-width columns to fit the borders (`ratio_reduce`).
fn column_widths(line_length: usize, positions: &[f64]) -> Vec<usize> {
    let mut widths = Vec::with_capacity(positions.len());
    let mut current = 0;
    for p in positions {
        let end = (p * line_length as f64) as usize;
        widths.push(end.saturating_sub(current));
        current = end;
    }
    let borders = positions.len() + 1;
    let total: usize = widths.iter().sum();
    let mut excess = total.saturating_sub(line_length.saturating_sub(borders));
    let mut ratio = widths.len();
    for w in &mut widths {
        let cut = round_half_even(excess as f64 / ratio as f64).min(*w);
        *w -= cut;
        excess -= cut.min(excess);
        ratio -= 1;
    }
    widths
}

struct Table<'a> {
    widths: &'a [usize],
    right: usize,
}

impl Table<'_> {
    fn rule(&self, f: &mut fmt::Formatter<'_>, chars: [char; 4]) -> fmt::Result {
        let [left, fill, mid, right] = chars;
        let parts: Vec<String> = self
            .widths
            .iter()
            .map(|w| fill.to_string().repeat(*w))
            .collect();
        writeln!(f, "{left}{}{right}", parts.join(&mid.to_string()))
    }

    /// One row; cells of several lines (a wrapped "Connected to") make it taller.
    fn row(&self, f: &mut fmt::Formatter<'_>, sep: char, cells: &[Vec<String>]) -> fmt::Result {
        let height = cells.iter().map(Vec::len).max().unwrap_or(1);
        for line in 0..height {
            write!(f, "{sep}")?;
            for (i, (cell, w)) in cells.iter().zip(self.widths).enumerate() {
                let inner = w.saturating_sub(2);
                let text = cell.get(line).map_or("", String::as_str);
                if i == self.right {
                    write!(f, " {text:>inner$} {sep}")?;
                } else {
                    write!(f, " {text:<inner$} {sep}")?;
                }
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// Greedy word wrap at spaces (rich's), words too long for the width cut with `…`.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let candidate = if line.is_empty() {
            word.to_string()
        } else {
            format!("{line} {word}")
        };
        if candidate.chars().count() <= width || line.is_empty() {
            line = candidate;
        } else {
            lines.push(std::mem::take(&mut line));
            line = word.to_string();
        }
    }
    lines.push(line);
    lines.into_iter().map(|l| fit_cell(l, width)).collect()
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

impl Summary {
    /// Renders at another width, as Keras's `model.summary(line_length=...)`. The default, 76,
    /// is what Keras prints when stdout is not a terminal (or is 80 columns wide); in a wide
    /// terminal Keras uses 88 (sequential-like models) or 108 (with "Connected to").
    pub fn line_length(mut self, line_length: usize) -> Self {
        self.line_length = line_length;
        self
    }

    /// Whether Keras prints the "Connected to" column: a Functional model that is not a
    /// simple chain.
    pub fn has_connections(&self) -> bool {
        self.functional && !self.sequential_like
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let connected = self.has_connections();
        let positions: &[f64] = if connected {
            &[0.3, 0.56, 0.74, 1.0]
        } else {
            &[0.45, 0.80, 1.0]
        };
        let widths = column_widths(self.line_length, positions);
        let table = Table {
            widths: &widths,
            right: 2,
        };
        let inner = |i: usize| widths[i].saturating_sub(2);
        let mut header = vec!["Layer (type)", "Output Shape", "Param #"];
        if connected {
            header.push("Connected to");
        }
        let header: Vec<Vec<String>> = header.into_iter().map(|h| vec![h.to_string()]).collect();
        writeln!(f, "Model: \"{}\"", self.name)?;
        table.rule(f, ['┏', '━', '┳', '┓'])?;
        table.row(f, '┃', &header)?;
        table.rule(f, ['┡', '━', '╇', '┩'])?;
        for (i, layer) in self.layers.iter().enumerate() {
            // rich wraps every cell at spaces (a word too long for its column ends in `…`).
            let mut cells = vec![
                wrap(&format!("{} ({})", layer.name, layer.class_name), inner(0)),
                wrap(&layer.shape_text(), inner(1)),
                vec![thousands(layer.trainable + layer.non_trainable)],
            ];
            if connected {
                let text = if layer.connected_to.is_empty() {
                    "-".to_string()
                } else {
                    layer.connected_to.join(", ")
                };
                cells.push(wrap(&text, inner(3)));
            }
            table.row(f, '│', &cells)?;
            if i + 1 < self.layers.len() {
                table.rule(f, ['├', '─', '┼', '┤'])?;
            }
        }
        table.rule(f, ['└', '─', '┴', '┘'])?;
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
    fn columns_are_as_wide_as_rich_makes_them() {
        assert_eq!(column_widths(76, &[0.45, 0.80, 1.0]), [33, 24, 15]);
        assert_eq!(column_widths(88, &[0.45, 0.80, 1.0]), [38, 29, 17]);
        assert_eq!(
            column_widths(108, &[0.3, 0.56, 0.74, 1.0]),
            [31, 27, 17, 28]
        );
    }

    #[test]
    fn numbers_are_formatted_as_keras_does() {
        assert_eq!(thousands(101_770), "101,770");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(readable_bytes(407_080.0), "397.54 KB");
        assert_eq!(readable_bytes(0.0), "0.00 B");
    }
}
