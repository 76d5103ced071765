//! [`RemoteMonitor`]: each epoch's logs sent to an HTTP server (Keras `RemoteMonitor`).

use std::collections::BTreeMap;

use crate::callbacks::{Callback, CallbackContext, Logs};
use crate::error::Result;

/// Keras's `RemoteMonitor`: after each epoch, POSTs `{"epoch": e, "loss": ..., ...}` to
/// `root + path`, as a form field `field=<json>` (Keras's default) or, with `send_as_json`, as a
/// JSON body. As in Keras, a server that cannot be reached prints a warning and training goes
/// on; [`failures`](RemoteMonitor::failures) counts them.
///
/// # Examples
/// ```
/// use kiln_train::RemoteMonitor;
/// let monitor = RemoteMonitor::new("http://localhost:9000")
///     .path("/publish/epoch/end/")
///     .send_as_json(true)
///     .header("Authorization", "Bearer token");
/// assert_eq!(monitor.url(), "http://localhost:9000/publish/epoch/end/");
/// ```
#[derive(Debug, Clone)]
pub struct RemoteMonitor {
    root: String,
    path: String,
    field: String,
    headers: BTreeMap<String, String>,
    send_as_json: bool,
    failures: usize,
}

impl RemoteMonitor {
    /// Sends to `root` (Keras's default `http://localhost:9000`) at `/publish/epoch/end/`.
    pub fn new(root: impl Into<String>) -> Self {
        Self {
            root: root.into(),
            path: "/publish/epoch/end/".into(),
            field: "data".into(),
            headers: BTreeMap::new(),
            send_as_json: false,
            failures: 0,
        }
    }

    /// The path under the root.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// The form field holding the JSON (Keras's `field`, default `data`).
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = field.into();
        self
    }

    /// An HTTP header sent with each request.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// Sends the logs as a JSON body instead of a form field.
    pub fn send_as_json(mut self, on: bool) -> Self {
        self.send_as_json = on;
        self
    }

    /// Where the logs go.
    pub fn url(&self) -> String {
        format!("{}{}", self.root, self.path)
    }

    /// Epochs whose logs could not be delivered.
    pub fn failures(&self) -> usize {
        self.failures
    }

    /// The JSON Keras sends for an epoch.
    fn payload(epoch: usize, logs: &Logs) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        map.insert("epoch".into(), serde_json::json!(epoch));
        for (k, v) in logs {
            map.insert(k.clone(), serde_json::json!(v));
        }
        serde_json::Value::Object(map)
    }

    #[cfg(feature = "remote-monitor")]
    fn send(&self, body: &serde_json::Value) -> std::result::Result<(), String> {
        let mut request = ureq::post(&self.url());
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let outcome = if self.send_as_json {
            request
                .header("Content-Type", "application/json")
                .send(body.to_string())
        } else {
            request.send_form([(self.field.as_str(), body.to_string().as_str())])
        };
        outcome.map(|_| ()).map_err(|e| e.to_string())
    }

    #[cfg(not(feature = "remote-monitor"))]
    fn send(&self, _body: &serde_json::Value) -> std::result::Result<(), String> {
        Err("kiln-train was built without the `remote-monitor` feature".into())
    }
}

impl Callback for RemoteMonitor {
    fn on_epoch_end(
        &mut self,
        epoch: usize,
        logs: &Logs,
        _ctx: &mut CallbackContext<'_>,
    ) -> Result<()> {
        if let Err(e) = self.send(&Self::payload(epoch, logs)) {
            self.failures += 1;
            eprintln!(
                "warning: could not reach the RemoteMonitor server at {}: {e}",
                self.url()
            );
        }
        Ok(())
    }
}
