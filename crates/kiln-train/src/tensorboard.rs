//! [`TensorBoard`]: writes the training curves and weight histograms as TensorBoard event files
//! (Keras `keras.callbacks.TensorBoard`), and reads such files back.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use prost::Message;

use crate::callbacks::{Callback, CallbackContext, Logs, ensure_writable_dir};
use crate::error::{Error, Result, io_error};

/// How often [`TensorBoard`] writes the training values (Keras's `update_freq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpdateFreq {
    /// At each epoch's end only (Keras `update_freq="epoch"`, the default).
    #[default]
    Epoch,
    /// Also `batch_<name>` every `n` training batches, at the count of batches so far (Keras
    /// `update_freq=n`; `"batch"` is `Batches(1)`). Each batch then costs one read of the
    /// running logs from the device.
    Batches(usize),
}

/// The number of buckets of a weight histogram (TensorBoard's default bucket count).
const HISTOGRAM_BUCKETS: usize = 30;

/// The `file_version` of the first record of every event file, as TensorFlow 2 writes it.
const FILE_VERSION: &str = "brain.Event:2";

/// Writes TensorBoard event files during `fit` (Keras `keras.callbacks.TensorBoard`, with
/// Keras's defaults: `update_freq="epoch"`, `histogram_freq=0`,
/// `write_steps_per_second=False`).
///
/// Keras's layout: `log_dir/train/` and `log_dir/validation/` each get an event file
/// `events.out.tfevents.<unix seconds>.<host>.<pid>.<n>.v2` per `fit` (the validation one once
/// there are validation values). At each epoch's end, with the epoch (0-based) as the step:
///
/// - `train/`: `epoch_loss`, `epoch_<metric>` for every logged value without the `val_`
///   prefix, `epoch_learning_rate` (the optimizer's rate for its next update), and
///   `epoch_steps_per_second` with [`write_steps_per_second`](Self::write_steps_per_second);
/// - `validation/`: the `val_` values without their prefix (`epoch_loss`, `epoch_accuracy`);
/// - `train/`: with [`histogram_freq`](Self::histogram_freq) `n > 0`, every `n` epochs, a
///   histogram of each weight (30 buckets) tagged `<weight path>/histogram`
///   (`dense/kernel/histogram`).
///
/// After each validation pass, `validation/` also gets `evaluation_<name>_vs_iterations` at
/// the optimizer's iteration count, as Keras writes. With [`UpdateFreq::Batches`]`(n)`,
/// `train/` gets `batch_loss` and `batch_<metric>` (the epoch's running means) every `n`
/// batches, at the count of batches since `fit` began.
///
/// Scalars are written as `simple_value` summaries, which TensorBoard shows in its Scalars and
/// Time Series dashboards; histograms as `HistogramProto`s (Histograms and Distributions).
/// Events are appended record by record and flushed at each epoch's end and at the end of
/// training, so a running TensorBoard shows each epoch as it ends.
///
/// # Examples
/// ```
/// use kiln_model::{Dense, Input, Sequential};
/// use kiln_train::{Compile, FitOptions, TensorBoard, UpdateFreq};
/// use ndarray::Array2;
///
/// let x = Array2::from_shape_fn((64, 2), |(i, j)| ((i * 7 + j * 3) % 11) as f32 / 11.0);
/// let y = Array2::from_shape_fn((64, 1), |(i, _)| x[[i, 0]] - x[[i, 1]]);
/// let mut model = Sequential::new()
///     .add(Input::new([2]))
///     .add(Dense::new(1))
///     .seed(0)
///     .build(&burn::tensor::Device::flex())?
///     .compile("sgd", "mse", ["mae"])?;
///
/// let logs = tempfile::tempdir()?;
/// let mut tensorboard = TensorBoard::new(logs.path())
///     .update_freq(UpdateFreq::Batches(4))
///     .histogram_freq(1);
/// let history = model.fit(&x, &y, FitOptions::new().epochs(3).verbose(0)
///     .validation_split(0.25).callback(&mut tensorboard))?;
/// // Then: `tensorboard --logdir <log_dir>`. The files read back:
/// let train = &tensorboard.files()[0];
/// let losses: Vec<(i64, f32)> = TensorBoard::read_events(train)?
///     .iter()
///     .filter_map(|event| {
///         let value = event.summary.as_ref()?.value.first()?;
///         (value.tag == "epoch_loss").then_some((event.step, value.simple_value?))
///     })
///     .collect();
/// let expected = history.get("loss").unwrap_or_default();
/// assert_eq!(losses.len(), 3);
/// assert_eq!(losses[2], (2, expected[2] as f32));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct TensorBoard {
    log_dir: PathBuf,
    update_freq: UpdateFreq,
    histogram_freq: usize,
    write_steps_per_second: bool,
    train: Option<EventWriter>,
    validation: Option<EventWriter>,
    files: Vec<PathBuf>,
    /// Training batches since `fit` began (Keras's `_global_train_batch`).
    global_batch: u64,
    /// When the epoch began, and the optimizer's iterations then.
    epoch_start: Option<(Instant, u64)>,
    batch_start: Option<Instant>,
}

/// The two runs of a log directory.
#[derive(Debug, Clone, Copy)]
enum Run {
    Train,
    Validation,
}

impl Run {
    fn dir(self) -> &'static str {
        match self {
            Run::Train => "train",
            Run::Validation => "validation",
        }
    }
}

impl TensorBoard {
    /// Writes under `log_dir` (made when missing), with Keras's defaults.
    pub fn new(log_dir: impl Into<PathBuf>) -> Self {
        Self {
            log_dir: log_dir.into(),
            update_freq: UpdateFreq::Epoch,
            histogram_freq: 0,
            write_steps_per_second: false,
            train: None,
            validation: None,
            files: Vec::new(),
            global_batch: 0,
            epoch_start: None,
            batch_start: None,
        }
    }

    /// Also write `batch_<name>` values every `n` batches ([`UpdateFreq::Batches`]); the
    /// default is [`UpdateFreq::Epoch`]. `Batches(0)` is an error when `fit` starts.
    pub fn update_freq(mut self, freq: UpdateFreq) -> Self {
        self.update_freq = freq;
        self
    }

    /// Write a histogram of every weight every `n` epochs (at epochs 0, n, 2n, ...); 0, the
    /// default, writes none.
    pub fn histogram_freq(mut self, n: usize) -> Self {
        self.histogram_freq = n;
        self
    }

    /// Also write `epoch_steps_per_second` (and, with [`UpdateFreq::Batches`],
    /// `batch_steps_per_second`); off by default.
    pub fn write_steps_per_second(mut self, on: bool) -> Self {
        self.write_steps_per_second = on;
        self
    }

    /// The log directory.
    pub fn log_dir(&self) -> &Path {
        &self.log_dir
    }

    /// The event files created so far, in order (`train/` first at each `fit`).
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Every event of an event file (TensorBoard's `.tfevents` files, this callback's or
    /// TensorFlow's), in order; the first is the `file_version` record.
    ///
    /// Each record's length and data checksums are checked (TFRecord framing: the length as a
    /// little-endian u64, its masked CRC32C, the data, the data's masked CRC32C).
    ///
    /// # Errors
    /// [`Error::EventFile`], with the file and the byte offset of the bad record, when the
    /// file cannot be read, ends inside a record, a checksum does not match, or a record is
    /// not an `Event` protobuf.
    pub fn read_events(path: impl AsRef<Path>) -> Result<Vec<Event>> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::EventFile {
            path: path.to_path_buf(),
            offset: 0,
            reason: "the file cannot be read".into(),
            source: Some(Box::new(e)),
        })?;
        decode_records(&bytes)
            .map_err(|(offset, reason, source)| Error::EventFile {
                path: path.to_path_buf(),
                offset: offset as u64,
                reason,
                source,
            })?
            .iter()
            .map(|&(offset, data)| {
                Event::decode(data).map_err(|e| Error::EventFile {
                    path: path.to_path_buf(),
                    offset: offset as u64,
                    reason: "the record is not an Event protobuf".into(),
                    source: Some(Box::new(e)),
                })
            })
            .collect()
    }

    /// The writer of `run`, opened when this is its first event.
    fn writer(&mut self, run: Run) -> Result<&mut EventWriter> {
        let slot = match run {
            Run::Train => &mut self.train,
            Run::Validation => &mut self.validation,
        };
        let writer = match slot.take() {
            Some(writer) => writer,
            None => {
                let writer = EventWriter::create(&self.log_dir.join(run.dir()))?;
                self.files.push(writer.path.clone());
                writer
            }
        };
        Ok(slot.insert(writer))
    }

    fn scalar(&mut self, run: Run, tag: String, value: f32, step: i64) -> Result<()> {
        let value = SummaryValue {
            tag,
            simple_value: Some(value),
            ..SummaryValue::default()
        };
        self.writer(run)?.write(&summary_event(step, value))
    }

    /// Flushes and closes both files (a later event opens new ones).
    fn close(&mut self) -> Result<()> {
        for mut writer in [self.train.take(), self.validation.take()]
            .into_iter()
            .flatten()
        {
            writer.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        for writer in [self.train.as_mut(), self.validation.as_mut()]
            .into_iter()
            .flatten()
        {
            writer.flush()?;
        }
        Ok(())
    }

    /// `n` of [`UpdateFreq::Batches`], `None` for epochs.
    fn batch_interval(&self) -> Result<Option<u64>> {
        match self.update_freq {
            UpdateFreq::Epoch => Ok(None),
            UpdateFreq::Batches(0) => Err(Error::InvalidOption {
                option: "update_freq",
                reason: "UpdateFreq::Batches(n) needs n >= 1 (or UpdateFreq::Epoch)".into(),
            }),
            UpdateFreq::Batches(n) => Ok(Some(n as u64)),
        }
    }
}

impl Callback for TensorBoard {
    fn on_train_begin(&mut self, _ctx: &mut CallbackContext<'_>) -> Result<()> {
        self.batch_interval()?;
        // A previous fit that failed left its files open: they end here.
        self.close()?;
        self.global_batch = 0;
        self.epoch_start = None;
        self.batch_start = None;
        // An unwritable folder is found now, not after the first epoch.
        ensure_writable_dir(&self.log_dir)?;
        self.writer(Run::Train)?;
        Ok(())
    }

    fn on_epoch_begin(&mut self, _epoch: usize, ctx: &mut CallbackContext<'_>) -> Result<()> {
        if self.write_steps_per_second {
            self.epoch_start = Some((Instant::now(), ctx.optimizer.iterations));
        }
        Ok(())
    }

    fn batch_hooks(&self) -> bool {
        matches!(self.update_freq, UpdateFreq::Batches(_))
    }

    fn on_train_batch_begin(
        &mut self,
        _batch: usize,
        _ctx: &mut CallbackContext<'_>,
    ) -> Result<()> {
        if self.write_steps_per_second {
            self.batch_start = Some(Instant::now());
        }
        Ok(())
    }

    fn on_train_batch_end(
        &mut self,
        _batch: usize,
        logs: &Logs,
        _ctx: &mut CallbackContext<'_>,
    ) -> Result<()> {
        let Some(n) = self.batch_interval()? else {
            return Ok(());
        };
        self.global_batch += 1;
        if !self.global_batch.is_multiple_of(n) {
            return Ok(());
        }
        let step = self.global_batch as i64;
        if self.write_steps_per_second
            && let Some(start) = self.batch_start
        {
            let seconds = start.elapsed().as_secs_f64();
            let rate = if seconds > 0.0 { 1.0 / seconds } else { 0.0 };
            self.scalar(
                Run::Train,
                "batch_steps_per_second".into(),
                rate as f32,
                step,
            )?;
        }
        for (name, &value) in logs {
            self.scalar(Run::Train, format!("batch_{name}"), value as f32, step)?;
        }
        Ok(())
    }

    fn on_test_end(&mut self, logs: &Logs, ctx: &mut CallbackContext<'_>) -> Result<()> {
        let step = ctx.optimizer.iterations as i64;
        for (name, &value) in logs {
            let tag = format!("evaluation_{name}_vs_iterations");
            self.scalar(Run::Validation, tag, value as f32, step)?;
        }
        Ok(())
    }

    fn on_epoch_end(
        &mut self,
        epoch: usize,
        logs: &Logs,
        ctx: &mut CallbackContext<'_>,
    ) -> Result<()> {
        let step = epoch as i64;
        if !logs.is_empty() {
            for (name, &value) in logs {
                // Keras writes the optimizer's own rate (below) over a logged one.
                if !name.starts_with("val_") && name != "learning_rate" {
                    self.scalar(Run::Train, format!("epoch_{name}"), value as f32, step)?;
                }
            }
            let optimizer = &*ctx.optimizer;
            let lr = optimizer.config.learning_rate.at(optimizer.iterations);
            self.scalar(Run::Train, "epoch_learning_rate".into(), lr, step)?;
            if self.write_steps_per_second
                && let Some((start, iterations)) = self.epoch_start
            {
                let steps = ctx.optimizer.iterations.saturating_sub(iterations) as f64;
                let seconds = start.elapsed().as_secs_f64();
                let rate = if seconds > 0.0 { steps / seconds } else { 0.0 };
                self.scalar(
                    Run::Train,
                    "epoch_steps_per_second".into(),
                    rate as f32,
                    step,
                )?;
            }
            for (name, &value) in logs {
                if let Some(name) = name.strip_prefix("val_") {
                    let tag = format!("epoch_{name}");
                    self.scalar(Run::Validation, tag, value as f32, step)?;
                }
            }
        }
        if self.histogram_freq > 0 && epoch.is_multiple_of(self.histogram_freq) {
            let names = ctx.model.weight_names();
            let weights = ctx.model.get_weights()?;
            let writer = self.writer(Run::Train)?;
            for (name, weight) in names.iter().zip(&weights) {
                let values: Vec<f64> = weight.iter().map(|&v| f64::from(v)).collect();
                let value = SummaryValue {
                    tag: format!("{}/histogram", name.replace(':', "_")),
                    histo: Some(histogram(&values)),
                    ..SummaryValue::default()
                };
                writer.write(&summary_event(step, value))?;
            }
        }
        self.flush()
    }

    fn on_train_end(&mut self, _ctx: &mut CallbackContext<'_>) -> Result<()> {
        self.close()
    }
}

/// One event file, appended to record by record.
#[derive(Debug)]
struct EventWriter {
    path: PathBuf,
    file: BufWriter<File>,
}

/// Numbers the event files of this process (TensorFlow's global uid in the name), so two
/// files created in the same second get distinct names.
static FILE_COUNTER: AtomicU64 = AtomicU64::new(0);

impl EventWriter {
    /// A new event file in `dir` (made when missing) with its `file_version` record, flushed.
    fn create(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        let now = wall_time();
        let name = format!(
            "events.out.tfevents.{}.{}.{}.{}.v2",
            now as u64,
            hostname(),
            std::process::id(),
            FILE_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let path = dir.join(name);
        // Never appends to (or truncates) another writer's file.
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io_error(&path))?;
        let mut writer = Self {
            path,
            file: BufWriter::new(file),
        };
        writer.write(&Event {
            wall_time: now,
            step: 0,
            file_version: Some(FILE_VERSION.into()),
            summary: None,
        })?;
        writer.flush()?;
        Ok(writer)
    }

    fn write(&mut self, event: &Event) -> Result<()> {
        self.file
            .write_all(&encode_record(&event.encode_to_vec()))
            .map_err(io_error(&self.path))
    }

    fn flush(&mut self) -> Result<()> {
        self.file.flush().map_err(io_error(&self.path))
    }
}

/// The host name in file names: `HOSTNAME`, or `localhost`; characters other than letters,
/// digits, `-`, `_` and `.` become `_` (a name must not make a path).
fn hostname() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    host.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Seconds since the Unix epoch.
fn wall_time() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn summary_event(step: i64, value: SummaryValue) -> Event {
    Event {
        wall_time: wall_time(),
        step,
        file_version: None,
        summary: Some(Summary { value: vec![value] }),
    }
}

/// A histogram of `values` in [`HISTOGRAM_BUCKETS`] equal buckets from their minimum to their
/// maximum (the last bucket holds the maximum). `bucket_limit` holds each bucket's right edge;
/// TensorBoard takes the first bucket's left edge from `min` and the last one's right edge
/// from `max`. Equal values make one bucket; no values, an empty histogram.
fn histogram(values: &[f64]) -> HistogramProto {
    if values.is_empty() {
        return HistogramProto::default();
    }
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let num = values.len() as f64;
    let sum = values.iter().sum();
    let sum_squares = values.iter().map(|v| v * v).sum();
    let (bucket_limit, bucket) = if min < max {
        let width = (max - min) / HISTOGRAM_BUCKETS as f64;
        let mut counts = vec![0.0; HISTOGRAM_BUCKETS];
        for v in values {
            // `as` saturates (NaN to 0): every value lands in a bucket.
            let i = (((v - min) / width) as usize).min(HISTOGRAM_BUCKETS - 1);
            counts[i] += 1.0;
        }
        let mut limits: Vec<f64> = (1..=HISTOGRAM_BUCKETS)
            .map(|i| min + width * i as f64)
            .collect();
        if let Some(last) = limits.last_mut() {
            *last = max;
        }
        (limits, counts)
    } else {
        (vec![max], vec![num])
    };
    HistogramProto {
        min,
        max,
        num,
        sum,
        sum_squares,
        bucket_limit,
        bucket,
    }
}

/// TFRecord's masked CRC32C (a checksum of a checksum is weak, so the CRC is rotated and
/// offset).
fn masked_crc(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
        .rotate_right(15)
        .wrapping_add(0xa282_ead8)
}

/// One TFRecord: the length (u64 LE), its masked CRC (u32 LE), the data, the data's masked
/// CRC (u32 LE).
fn encode_record(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut record = Vec::with_capacity(data.len() + 16);
    record.extend_from_slice(&len);
    record.extend_from_slice(&masked_crc(&len).to_le_bytes());
    record.extend_from_slice(data);
    record.extend_from_slice(&masked_crc(data).to_le_bytes());
    record
}

type RecordError = (
    usize,
    String,
    Option<Box<dyn std::error::Error + Send + Sync>>,
);

/// The records of a TFRecord file, each with its offset, with both checksums checked; or the
/// offset of the bad record and what is wrong.
fn decode_records(bytes: &[u8]) -> std::result::Result<Vec<(usize, &[u8])>, RecordError> {
    let le_u32 = |b: &[u8]| {
        let mut a = [0; 4];
        a.copy_from_slice(b);
        u32::from_le_bytes(a)
    };
    let mut records = Vec::new();
    let mut offset = 0;
    while offset < bytes.len() {
        let rest = &bytes[offset..];
        let bad = |reason: String| (offset, reason, None);
        if rest.len() < 12 {
            return Err(bad(format!(
                "the record header is cut short ({} of 12 bytes)",
                rest.len()
            )));
        }
        let (len_bytes, len_crc) = (&rest[..8], le_u32(&rest[8..12]));
        if masked_crc(len_bytes) != len_crc {
            return Err(bad(format!(
                "the length's checksum does not match (stored {len_crc:#010x}, computed \
                 {:#010x}): the file is corrupt",
                masked_crc(len_bytes)
            )));
        }
        let mut len = [0; 8];
        len.copy_from_slice(len_bytes);
        let len = u64::from_le_bytes(len);
        let end = usize::try_from(len)
            .ok()
            .and_then(|len| len.checked_add(16))
            .filter(|&end| end <= rest.len())
            .ok_or_else(|| {
                bad(format!(
                    "the record of {len} bytes is cut short ({} bytes follow its header)",
                    rest.len() - 12
                ))
            })?;
        let data = &rest[12..end - 4];
        let data_crc = le_u32(&rest[end - 4..end]);
        if masked_crc(data) != data_crc {
            return Err(bad(format!(
                "the data's checksum does not match (stored {data_crc:#010x}, computed \
                 {:#010x}): the file is corrupt",
                masked_crc(data)
            )));
        }
        records.push((offset, data));
        offset += end;
    }
    Ok(records)
}

// The messages of TensorFlow's `tensorflow/core/util/event.proto` and
// `tensorflow/core/framework/summary.proto` that TensorBoard's scalars and histograms use,
// with their field numbers (checked against those files: Event wall_time 1, step 2,
// file_version 3, summary 5; Summary value 1; Summary.Value tag 1, simple_value 2, histo 5,
// metadata 9; HistogramProto min 1 ... sum_squares 5, bucket_limit 6, bucket 7, packed;
// SummaryMetadata plugin_data 1, display_name 2, summary_description 3, data_class 4;
// PluginData plugin_name 1, content 2). Fields not listed are skipped when read.
//
// `file_version` / `summary` (Event's `what`) and `simple_value` / `histo` (Value's `value`)
// are oneofs there: as `optional` fields here they encode the same bytes, and a value of 0 is
// still written (a proto3 plain field of 0 is left out, and TensorBoard would then see no
// scalar at all).

/// One record of an event file (TensorFlow's `Event`).
#[derive(Clone, PartialEq, Message)]
pub struct Event {
    /// Seconds since the Unix epoch.
    #[prost(double, tag = "1")]
    pub wall_time: f64,
    /// The step (Kiln: the epoch, the batch count or the optimizer's iterations).
    #[prost(int64, tag = "2")]
    pub step: i64,
    /// The file format (`brain.Event:2`); in the first record only.
    #[prost(string, optional, tag = "3")]
    pub file_version: Option<String>,
    /// The values.
    #[prost(message, optional, tag = "5")]
    pub summary: Option<Summary>,
}

/// Named values of one step (TensorFlow's `Summary`).
#[derive(Clone, PartialEq, Message)]
pub struct Summary {
    /// The values.
    #[prost(message, repeated, tag = "1")]
    pub value: Vec<SummaryValue>,
}

/// One named value (TensorFlow's `Summary.Value`).
#[derive(Clone, PartialEq, Message)]
pub struct SummaryValue {
    /// The name (`epoch_loss`).
    #[prost(string, tag = "1")]
    pub tag: String,
    /// A scalar.
    #[prost(float, optional, tag = "2")]
    pub simple_value: Option<f32>,
    /// A histogram.
    #[prost(message, optional, tag = "5")]
    pub histo: Option<HistogramProto>,
    /// What TensorBoard plugin the value is for, when set.
    #[prost(message, optional, tag = "9")]
    pub metadata: Option<SummaryMetadata>,
}

/// A histogram (TensorFlow's `HistogramProto`): bucket `i` counts the values from
/// `bucket_limit[i - 1]` (from `min` for the first) to `bucket_limit[i]`.
#[derive(Clone, PartialEq, Message)]
pub struct HistogramProto {
    /// The smallest value.
    #[prost(double, tag = "1")]
    pub min: f64,
    /// The largest value.
    #[prost(double, tag = "2")]
    pub max: f64,
    /// The number of values.
    #[prost(double, tag = "3")]
    pub num: f64,
    /// Their sum.
    #[prost(double, tag = "4")]
    pub sum: f64,
    /// The sum of their squares.
    #[prost(double, tag = "5")]
    pub sum_squares: f64,
    /// Each bucket's right edge.
    #[prost(double, repeated, packed = "true", tag = "6")]
    pub bucket_limit: Vec<f64>,
    /// Each bucket's count.
    #[prost(double, repeated, packed = "true", tag = "7")]
    pub bucket: Vec<f64>,
}

/// What a value is for (TensorFlow's `SummaryMetadata`).
#[derive(Clone, PartialEq, Message)]
pub struct SummaryMetadata {
    /// The plugin and its data.
    #[prost(message, optional, tag = "1")]
    pub plugin_data: Option<PluginData>,
    /// A name to show.
    #[prost(string, tag = "2")]
    pub display_name: String,
    /// A description.
    #[prost(string, tag = "3")]
    pub summary_description: String,
    /// The `DataClass` enum (1 scalar, 2 tensor, 3 blob sequence).
    #[prost(int32, tag = "4")]
    pub data_class: i32,
}

/// A plugin's name and data (TensorFlow's `SummaryMetadata.PluginData`).
#[derive(Clone, PartialEq, Message)]
pub struct PluginData {
    /// The plugin (`scalars`, `histograms`).
    #[prost(string, tag = "1")]
    pub plugin_name: String,
    /// Its data.
    #[prost(bytes = "vec", tag = "2")]
    pub content: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_crc_follows_tfrecord() {
        // CRC32C's check value, then TFRecord's mask ((crc >> 15) | (crc << 17)) +
        // 0xa282ead8, step by step: 0xe3069283 -> 0x2507c60d -> 0xc78ab0e5.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(masked_crc(b"123456789"), 0xc78a_b0e5);
        assert_eq!(masked_crc(b""), 0xa282_ead8);
    }

    #[test]
    fn records_round_trip_and_a_flipped_byte_is_found() {
        let mut file = encode_record(b"first");
        let second = file.len();
        file.extend(encode_record(b""));
        file.extend(encode_record(b"third record"));
        let records = decode_records(&file).unwrap();
        let data: Vec<&[u8]> = records.iter().map(|r| r.1).collect();
        assert_eq!(data, [&b"first"[..], b"", b"third record"]);
        assert_eq!(records[1].0, second);

        for at in 0..file.len() {
            let mut bad = file.clone();
            bad[at] ^= 0x10;
            let (offset, reason, _) = decode_records(&bad).unwrap_err();
            assert!(offset <= at, "byte {at}: reported at {offset}: {reason}");
            assert!(reason.contains("checksum") || reason.contains("cut short"));
        }
        let (offset, reason, _) = decode_records(&file[..file.len() - 1]).unwrap_err();
        assert_eq!(offset, second + 16);
        assert!(reason.contains("cut short"), "{reason}");
    }

    #[test]
    fn a_zero_scalar_is_still_written() {
        let event = summary_event(
            3,
            SummaryValue {
                tag: "epoch_accuracy".into(),
                simple_value: Some(0.0),
                ..SummaryValue::default()
            },
        );
        let back = Event::decode(event.encode_to_vec().as_slice()).unwrap();
        assert_eq!(back, event);
        assert_eq!(back.summary.unwrap().value[0].simple_value, Some(0.0));
    }

    #[test]
    fn histograms_have_thirty_buckets_from_min_to_max() {
        let values: Vec<f64> = (0..=300).map(f64::from).collect();
        let h = histogram(&values);
        assert_eq!((h.min, h.max, h.num), (0.0, 300.0, 301.0));
        assert_eq!(h.sum, 45150.0);
        assert_eq!(h.bucket.len(), HISTOGRAM_BUCKETS);
        assert_eq!(h.bucket_limit.len(), HISTOGRAM_BUCKETS);
        assert_eq!(h.bucket_limit[29], 300.0);
        assert_eq!(h.bucket_limit[0], 10.0);
        assert_eq!(h.bucket.iter().sum::<f64>(), 301.0);
        assert_eq!(h.bucket[29], 11.0, "the last bucket holds the maximum");

        let same = histogram(&[0.5; 4]);
        assert_eq!((same.bucket_limit, same.bucket), (vec![0.5], vec![4.0]));
        assert_eq!(histogram(&[]).num, 0.0);
        let odd = histogram(&[f64::NAN, 1.0, 2.0]);
        assert_eq!(odd.bucket.iter().sum::<f64>(), 3.0);
    }

    #[test]
    fn file_names_and_the_first_record_are_tensorflows() {
        let dir = tempfile::tempdir().unwrap();
        let a = EventWriter::create(&dir.path().join("train")).unwrap();
        let b = EventWriter::create(&dir.path().join("train")).unwrap();
        assert_ne!(a.path, b.path);
        let name = a.path.file_name().unwrap().to_string_lossy().into_owned();
        let parts: Vec<&str> = name.split('.').collect();
        assert_eq!(&parts[..3], ["events", "out", "tfevents"]);
        assert!(parts[3].parse::<u64>().unwrap() > 1_600_000_000);
        assert_eq!(parts.last(), Some(&"v2"));
        assert!(name.contains(&format!(".{}.", std::process::id())));
        let events = TensorBoard::read_events(&a.path).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].file_version.as_deref(), Some(FILE_VERSION));
        assert!(events[0].wall_time > 1.6e9);
    }

    #[test]
    fn a_missing_file_is_an_event_file_error() {
        let err = TensorBoard::read_events("/nonexistent/events.out.tfevents.1").unwrap_err();
        assert!(matches!(err, Error::EventFile { offset: 0, .. }), "{err}");
        assert!(std::error::Error::source(&err).is_some());
        assert!(
            err.to_string()
                .contains("/nonexistent/events.out.tfevents.1")
        );
    }
}
