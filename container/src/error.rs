//! The errors of container operations, worded as docker's daemon words them where a user
//! would compare the two.

use std::io;
use std::path::PathBuf;

/// Errors of container operations.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No container has this name, ID or ID prefix.
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    /// An ID prefix matches several containers.
    #[error("multiple containers found with provided prefix: {0}")]
    Ambiguous(String),
    /// The name is taken.
    #[error(
        "Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name."
    )]
    NameInUse {
        /// The name asked for.
        name: String,
        /// The container that has it.
        id: String,
    },
    /// A name with characters docker refuses.
    #[error("Invalid container name ({0}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    InvalidName(String),
    /// The operation needs the container in another state.
    #[error("{0}")]
    State(String),
    /// A flag value that cannot be used.
    #[error("{0}")]
    Invalid(String),
    /// The image store failed.
    #[error(transparent)]
    Image(#[from] bale_image::Error),
    /// The sandbox could not run the command.
    #[error(transparent)]
    Sandbox(#[from] bale_sandbox::Error),
    /// Building a layer or extracting one failed.
    #[error(transparent)]
    Layer(#[from] bale_builder::Error),
    /// A file operation failed.
    #[error("{context} {}: {source}", path.display())]
    Io {
        /// What was being done.
        context: &'static str,
        /// On which path.
        path: PathBuf,
        /// The system error.
        source: io::Error,
    },
    /// A system call without a path failed.
    #[error("{context}: {source}")]
    Sys {
        /// What was being done.
        context: String,
        /// The system error.
        source: io::Error,
    },
    /// A state or config file of the container cannot be read.
    #[error("{}: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: serde_json::Error,
    },
}

impl Error {
    pub(crate) fn io(context: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            context,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn sys(context: impl Into<String>, source: io::Error) -> Self {
        Error::Sys {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn last_os(context: impl Into<String>) -> Self {
        Error::sys(context, io::Error::last_os_error())
    }
}

/// Attaches a path and what was done to an `io::Result`.
pub(crate) trait IoContext<T> {
    fn at(self, context: &'static str, path: &std::path::Path) -> Result<T, Error>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, context: &'static str, path: &std::path::Path) -> Result<T, Error> {
        self.map_err(|e| Error::io(context, path, e))
    }
}
