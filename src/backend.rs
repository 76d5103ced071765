//! Choosing the burn backend at run time.

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;

/// Environment variable that picks the backend in Kiln's examples (`flex`, `ndarray`, `wgpu`).
pub const BACKEND_ENV: &str = "KILN_BACKEND";

/// A burn backend Kiln can run on. Which ones exist in a build depends on Cargo features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// burn's pure-Rust CPU backend (feature `flex`, the default).
    Flex,
    /// burn's ndarray CPU backend (feature `ndarray`; deprecated upstream).
    NdArray,
    /// burn's GPU backend through wgpu (feature `wgpu`): Vulkan, Metal, DX12, or Mesa's
    /// software Vulkan on a machine without a GPU.
    Wgpu,
}

/// A backend was requested that this build does not have, or a name is unknown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The backend exists but its Cargo feature is off in this build.
    #[error(
        "the `{backend}` backend is not compiled in; rebuild with `--features {backend}` \
         (compiled in: {})", compiled.join(", ")
    )]
    NotCompiled {
        /// The backend's name (and feature).
        backend: &'static str,
        /// The backends this build has.
        compiled: Vec<&'static str>,
    },
    /// The name is not a backend.
    #[error("unknown backend `{0}`; valid names: flex, ndarray, wgpu")]
    Unknown(String),
}

impl Backend {
    /// The backend's name, which is also its Cargo feature.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            Backend::NdArray => "ndarray",
            Backend::Wgpu => "wgpu",
        }
    }

    /// Whether this build has the backend.
    pub fn is_compiled(self) -> bool {
        match self {
            Backend::Flex => cfg!(feature = "flex"),
            Backend::NdArray => cfg!(feature = "ndarray"),
            Backend::Wgpu => cfg!(feature = "wgpu"),
        }
    }

    /// The backends this build has, in order of preference on a CPU.
    pub fn compiled() -> Vec<Backend> {
        [Backend::Flex, Backend::NdArray, Backend::Wgpu]
            .into_iter()
            .filter(|b| b.is_compiled())
            .collect()
    }

    /// The backend named by `KILN_BACKEND`, else the first compiled one (`flex` by default).
    ///
    /// # Errors
    /// [`BackendError`] for an unknown name or no backend at all.
    pub fn from_env() -> Result<Backend, BackendError> {
        match std::env::var(BACKEND_ENV) {
            Ok(name) if !name.trim().is_empty() => name.parse(),
            _ => Backend::compiled()
                .first()
                .copied()
                .ok_or_else(|| BackendError::NotCompiled {
                    backend: "flex",
                    compiled: Vec::new(),
                }),
        }
    }

    /// The default device of this backend.
    ///
    /// # Errors
    /// [`BackendError::NotCompiled`] naming the feature to enable.
    pub fn device(self) -> Result<Device, BackendError> {
        let missing = || BackendError::NotCompiled {
            backend: self.name(),
            compiled: Backend::compiled().iter().map(|b| b.name()).collect(),
        };
        match self {
            #[cfg(feature = "flex")]
            Backend::Flex => Ok(Device::flex()),
            #[cfg(feature = "ndarray")]
            #[allow(deprecated)]
            Backend::NdArray => Ok(Device::ndarray()),
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
            #[allow(unreachable_patterns)]
            _ => Err(missing()),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = BackendError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "flex" => Ok(Backend::Flex),
            "ndarray" => Ok(Backend::NdArray),
            "wgpu" => Ok(Backend::Wgpu),
            other => Err(BackendError::Unknown(other.to_string())),
        }
    }
}

/// The device for a backend name (`"flex"`, `"ndarray"`, `"wgpu"`).
///
/// # Errors
/// [`BackendError`] for an unknown name or a backend this build lacks, naming its feature.
///
/// # Examples
/// ```
/// let device = kiln::device("flex")?;
/// # let _ = device;
/// # Ok::<(), kiln::BackendError>(())
/// ```
pub fn device(name: &str) -> Result<Device, BackendError> {
    name.parse::<Backend>()?.device()
}
