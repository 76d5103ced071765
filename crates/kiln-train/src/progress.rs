//! The Keras 3 progress bar (`verbose=1` on a terminal) and epoch lines (`verbose=2`, logs).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How much `fit` prints, as Keras's `verbose`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verbosity {
    /// Nothing (Keras `verbose=0`).
    Silent,
    /// A live progress bar on a terminal; the finished epoch line elsewhere (Keras `verbose=1`,
    /// Keras's `"auto"`).
    #[default]
    ProgressBar,
    /// One line per epoch (Keras `verbose=2`).
    EpochLines,
}

impl From<u8> for Verbosity {
    fn from(v: u8) -> Self {
        match v {
            0 => Verbosity::Silent,
            1 => Verbosity::ProgressBar,
            _ => Verbosity::EpochLines,
        }
    }
}

/// Redraw at most this often (Keras: 0.05 s).
const REDRAW: Duration = Duration::from_millis(50);

/// A metric value as Keras prints it: `.4f`, or `.4e` (Python style) when `|v| <= 1e-3`.
pub fn format_value(v: f64) -> String {
    if v.abs() > 1e-3 || !v.is_finite() {
        return format!("{v:.4}");
    }
    let s = format!("{v:.4e}");
    match s.split_once('e') {
        Some((mantissa, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            format!("{mantissa}e{sign}{digits:0>2}")
        }
        None => s,
    }
}

/// Seconds per step as Keras prints them: `1ms/step`, `250us/step`, `2s/step`.
pub fn format_step_time(seconds: f64) -> String {
    if seconds >= 1.0 {
        format!("{seconds:.0}s/step")
    } else if seconds >= 1e-3 {
        format!("{:.0}ms/step", seconds * 1e3)
    } else {
        format!("{:.0}us/step", seconds * 1e6)
    }
}

fn format_eta(seconds: f64) -> String {
    let eta = seconds.max(0.0).round() as u64;
    if eta > 3600 {
        format!("{}:{:02}:{:02}", eta / 3600, (eta % 3600) / 60, eta % 60)
    } else if eta > 60 {
        format!("{}:{:02}", eta / 60, eta % 60)
    } else {
        format!("{eta}s")
    }
}

/// `accuracy: 0.9260 - loss: 0.2606`, sorted by name.
pub fn format_metrics(values: &[(String, f64)]) -> String {
    let mut sorted: Vec<&(String, f64)> = values.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    sorted
        .iter()
        .map(|(k, v)| format!("{k}: {}", format_value(*v)))
        .collect::<Vec<_>>()
        .join(" - ")
}

/// The progress display of one `fit`.
pub(crate) struct Progress {
    verbosity: Verbosity,
    terminal: bool,
    bar: Option<ProgressBar>,
    total: usize,
    start: Instant,
    after_first: Option<Instant>,
    last_draw: Instant,
}

impl Progress {
    pub(crate) fn new(verbosity: Verbosity) -> Self {
        let now = Instant::now();
        Self {
            verbosity,
            terminal: std::io::stdout().is_terminal(),
            bar: None,
            total: 0,
            start: now,
            after_first: None,
            last_draw: now,
        }
    }

    /// Whether a live bar is drawn (so running values are worth reading from the device).
    pub(crate) fn is_live(&self) -> bool {
        self.verbosity == Verbosity::ProgressBar && self.terminal
    }

    pub(crate) fn begin_epoch(&mut self, epoch: usize, epochs: usize, steps: usize) {
        self.total = steps;
        self.start = Instant::now();
        self.after_first = None;
        self.last_draw = self.start;
        if self.verbosity == Verbosity::Silent {
            return;
        }
        println!("Epoch {epoch}/{epochs}");
        if self.is_live() {
            let style = ProgressStyle::with_template("{prefix} {bar:20.green/white.dim} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("━━━");
            let bar = ProgressBar::with_draw_target(
                Some(steps as u64),
                ProgressDrawTarget::stdout_with_hz(20),
            )
            .with_style(style);
            self.bar = Some(bar);
        }
    }

    /// Whether a redraw is due after `step` steps (so the caller reads values only then).
    pub(crate) fn due(&mut self, step: usize) -> bool {
        if step == 1 {
            self.after_first = Some(Instant::now());
        }
        self.is_live() && self.last_draw.elapsed() >= REDRAW && step < self.total
    }

    pub(crate) fn draw(&mut self, step: usize, values: &[(String, f64)]) {
        self.last_draw = Instant::now();
        let Some(bar) = &self.bar else { return };
        // The first step (compilation, warm-up) is left out of the estimate, as in Keras.
        let per_step = match self.after_first {
            Some(t) if step > 1 => t.elapsed().as_secs_f64() / (step - 1) as f64,
            _ => self.start.elapsed().as_secs_f64() / step.max(1) as f64,
        };
        let eta = per_step * (self.total - step) as f64;
        let width = self.total.to_string().len();
        bar.set_prefix(format!("{step:>width$}/{}", self.total));
        bar.set_position(step as u64);
        bar.set_message(format!(
            "{} {} - {}",
            format_eta(eta),
            format_step_time(per_step),
            format_metrics(values)
        ));
    }

    pub(crate) fn end_epoch(&mut self, values: &[(String, f64)]) {
        let elapsed = self.start.elapsed().as_secs_f64();
        let per_step = elapsed / self.total.max(1) as f64;
        let metrics = format_metrics(values);
        let n = self.total;
        match (self.verbosity, self.bar.take()) {
            (Verbosity::Silent, _) => {}
            (_, Some(bar)) => {
                bar.set_prefix(format!("{n}/{n}"));
                bar.set_position(n as u64);
                bar.finish_with_message(format!(
                    "{}s {} - {metrics}",
                    elapsed.round(),
                    format_step_time(per_step)
                ));
            }
            (_, None) => println!(
                "{n}/{n} - {}s - {} - {metrics}",
                elapsed.round(),
                format_step_time(per_step)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_formatted_like_keras() {
        assert_eq!(format_value(0.92604), "0.9260");
        assert_eq!(format_value(0.000_123_45), "1.2345e-04");
        assert_eq!(format_value(0.0), "0.0000e+00");
        assert_eq!(format_step_time(0.0012), "1ms/step");
        assert_eq!(format_step_time(0.000_25), "250us/step");
        assert_eq!(format_eta(75.0), "1:15");
        let m = vec![("loss".to_string(), 0.26), ("accuracy".to_string(), 0.9)];
        assert_eq!(format_metrics(&m), "accuracy: 0.9000 - loss: 0.2600");
    }
}
