//! `History::plot`: loss and metric curves, train and validation, as a PNG or SVG file.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::history::History;

impl History {
    /// Draws one panel per quantity (`loss`, then each metric), the training curve in blue and
    /// the validation curve (`val_*`) in red, against the epoch, and writes a PNG (`.png`) or
    /// SVG (`.svg`) file, atomically (temporary file, then rename). PNG text uses the DejaVu Sans
    /// font shipped in the crate, so no system font is needed.
    ///
    /// # Errors
    /// [`Error::Plot`] when nothing was recorded, the extension is neither `png` nor `svg`, or
    /// the file cannot be written.
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
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let size = (720, 280 * names.len() as u32);
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let suffix = match extension.as_deref() {
            Some("png") => ".png",
            Some("svg") => ".svg",
            _ => return Err(plot_err("the file name must end in .png or .svg".into())),
        };
        // Drawn beside the target under a temporary name (with the same extension, which picks
        // the encoder), then renamed over it.
        let tmp = tempfile::Builder::new()
            .suffix(suffix)
            .tempfile_in(dir)
            .map_err(|e| plot_err(e.to_string()))?;
        // Text is laid out with the bundled font in both formats (plotters measures it).
        register_font();
        if suffix == ".png" {
            self.draw(
                BitMapBackend::new(tmp.path(), size).into_drawing_area(),
                &names,
            )
        } else {
            self.draw(
                SVGBackend::new(tmp.path(), size).into_drawing_area(),
                &names,
            )
        }
        .map_err(plot_err)?;
        tmp.persist(path)
            .map_err(|e| plot_err(e.error.to_string()))?;
        Ok(())
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: DrawingArea<DB, Shift>,
        names: &[&str],
    ) -> std::result::Result<(), String> {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        root.fill(&WHITE).map_err(err)?;
        let panels = root.split_evenly((names.len(), 1));
        for (panel, name) in panels.iter().zip(names) {
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
                .map_err(err)?;
            let epochs = (last - first) as usize + 1;
            chart
                .configure_mesh()
                .x_labels(epochs.min(12))
                .x_label_formatter(&|x| format!("{}", x.round() as i64))
                .x_desc("epoch")
                .draw()
                .map_err(err)?;
            chart
                .draw_series(LineSeries::new(train, BLUE.stroke_width(2)))
                .map_err(err)?
                .label(name.to_string())
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLUE));
            if !val.is_empty() {
                chart
                    .draw_series(LineSeries::new(val, RED.stroke_width(2)))
                    .map_err(err)?
                    .label(format!("val_{name}"))
                    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], RED));
            }
            chart
                .configure_series_labels()
                .border_style(BLACK)
                .background_style(WHITE.mix(0.8))
                .draw()
                .map_err(err)?;
        }
        root.present().map_err(err)
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

/// DejaVu Sans (Bitstream Vera licence, `assets/DejaVuSans-LICENSE.txt`) as plotters'
/// `sans-serif`, registered once.
fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let font: &'static [u8] = include_bytes!("../assets/DejaVuSans.ttf");
        // A font that fails to parse leaves labels out; the curves are still drawn.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, font);
    });
}
