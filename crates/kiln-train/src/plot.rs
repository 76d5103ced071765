//! `History::plot`: loss and metric curves, train and validation, as an SVG file.

use std::path::Path;

use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::history::History;

impl History {
    /// Draws one panel per quantity (`loss`, then each metric), the training curve in blue and
    /// the validation curve (`val_*`) in red, against the epoch, and writes an SVG file.
    ///
    /// # Errors
    /// [`Error::Plot`] when nothing was recorded or the file cannot be written.
    ///
    /// # Examples
    /// ```
    /// let mut h = kiln_train::History::default();
    /// h.push(0, &[("loss".into(), 0.9), ("val_loss".into(), 1.0)]);
    /// h.push(1, &[("loss".into(), 0.5), ("val_loss".into(), 0.7)]);
    /// let path = std::env::temp_dir().join("kiln-doc-history.svg");
    /// h.plot(&path)?;
    /// assert!(std::fs::read_to_string(&path).unwrap().contains("<svg"));
    /// # Ok::<(), kiln_train::Error>(())
    /// ```
    pub fn plot(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let plot_err = |e: String| Error::Plot(format!("{}: {e}", path.display()));
        let mut names: Vec<&str> = self.keys().filter(|k| !k.starts_with("val_")).collect();
        names.sort_by_key(|n| (*n != "loss", n.to_string()));
        if names.is_empty() || self.epoch.is_empty() {
            return Err(plot_err("the history is empty".into()));
        }
        let height = 280 * names.len() as u32;
        let root = SVGBackend::new(path, (720, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_err(e.to_string()))?;
        let panels = root.split_evenly((names.len(), 1));
        for (panel, name) in panels.iter().zip(&names) {
            let train = self.series(name);
            let val = self.series(&format!("val_{name}"));
            let all = train.iter().chain(&val).map(|p| p.1);
            let (lo, hi) = all.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
            let pad = ((hi - lo) * 0.1).max(1e-6);
            let (first, last) = (
                *self.epoch.first().unwrap_or(&0) as f64 + 1.0,
                *self.epoch.last().unwrap_or(&0) as f64 + 1.0,
            );
            let mut chart = ChartBuilder::on(panel)
                .caption(*name, ("sans-serif", 20))
                .margin(12)
                .x_label_area_size(32)
                .y_label_area_size(56)
                .build_cartesian_2d(first..last.max(first + 1.0), (lo - pad)..(hi + pad))
                .map_err(|e| plot_err(e.to_string()))?;
            chart
                .configure_mesh()
                .x_desc("epoch")
                .draw()
                .map_err(|e| plot_err(e.to_string()))?;
            chart
                .draw_series(LineSeries::new(train, BLUE.stroke_width(2)))
                .map_err(|e| plot_err(e.to_string()))?
                .label(name.to_string())
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLUE));
            if !val.is_empty() {
                chart
                    .draw_series(LineSeries::new(val, RED.stroke_width(2)))
                    .map_err(|e| plot_err(e.to_string()))?
                    .label(format!("val_{name}"))
                    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], RED));
            }
            chart
                .configure_series_labels()
                .border_style(BLACK)
                .background_style(WHITE.mix(0.8))
                .draw()
                .map_err(|e| plot_err(e.to_string()))?;
        }
        root.present().map_err(|e| plot_err(e.to_string()))
    }

    /// `(epoch (1-based), value)` points of `name`; validation values are matched to the last
    /// epochs when validation ran less often.
    fn series(&self, name: &str) -> Vec<(f64, f64)> {
        let Some(values) = self.get(name) else {
            return Vec::new();
        };
        let offset = self.epoch.len().saturating_sub(values.len());
        let step = if values.is_empty() {
            1
        } else {
            self.epoch.len() / values.len().max(1)
        };
        values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let idx = if step > 1 {
                    (i + 1) * step - 1
                } else {
                    offset + i
                };
                let epoch = self.epoch.get(idx).copied().unwrap_or(idx);
                (epoch as f64 + 1.0, *v)
            })
            .collect()
    }
}
