//! Reading the environment variables parsum honours, the same way everywhere: unset is `None`,
//! a value that is not UTF-8 is an [`Error::Config`] naming the variable, never silently unset.

use crate::error::{Error, Result};

/// The value of `name`, if set.
pub(crate) fn var(name: &str) -> Result<Option<String>> {
    match std::env::var(name) {
        Ok(v) => Ok(Some(v)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(v)) => Err(Error::Config(format!(
            "{name}={}: not valid UTF-8",
            v.to_string_lossy()
        ))),
    }
}
