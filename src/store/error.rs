//! What a store's failure is, for those who act on it: each kind keeps the words of the
//! error it wraps, so that messages read as they did when stores returned `anyhow` errors.

/// Why a store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The lease an update names is not in the store.
    #[error("lease {0} is not in the store")]
    NotFound(String),
    /// A row with that key is there already (a lease id, an approver's decision), or
    /// another constraint refused the change.
    #[error(transparent)]
    Conflict(anyhow::Error),
    /// The store cannot be reached, locked or written now.
    #[error(transparent)]
    Unavailable(anyhow::Error),
    /// What the store holds cannot be read back as it must be.
    #[error(transparent)]
    Corrupt(anyhow::Error),
    #[error(transparent)]
    Other(anyhow::Error),
    /// The work of a transaction failed and the transaction was rolled back: the work's
    /// own error is its caller's ([`super::write`] returns it as it was).
    #[error("the transaction was rolled back")]
    Abandoned,
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    /// A row that cannot be read back as a lease, an approval or an event.
    pub fn corrupt(message: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt(anyhow::anyhow!("{message}"))
    }
}

impl From<anyhow::Error> for StoreError {
    fn from(err: anyhow::Error) -> Self {
        StoreError::Other(err)
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(err: serde_json::Error) -> Self {
        StoreError::Other(err.into())
    }
}

impl From<std::io::Error> for StoreError {
    fn from(err: std::io::Error) -> Self {
        StoreError::Unavailable(err.into())
    }
}

impl From<std::num::TryFromIntError> for StoreError {
    fn from(err: std::num::TryFromIntError) -> Self {
        StoreError::Other(err.into())
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode as Code;
        let code = match &err {
            rusqlite::Error::SqliteFailure(failure, _) => Some(failure.code),
            _ => None,
        };
        match (&err, code) {
            (_, Some(Code::ConstraintViolation)) => StoreError::Conflict(err.into()),
            (
                _,
                Some(
                    Code::DatabaseBusy
                    | Code::DatabaseLocked
                    | Code::CannotOpen
                    | Code::ReadOnly
                    | Code::DiskFull
                    | Code::SystemIoFailure,
                ),
            ) => StoreError::Unavailable(err.into()),
            (_, Some(Code::DatabaseCorrupt | Code::NotADatabase))
            | (
                rusqlite::Error::FromSqlConversionFailure(..)
                | rusqlite::Error::InvalidColumnType(..)
                | rusqlite::Error::IntegralValueOutOfRange(..),
                _,
            ) => StoreError::Corrupt(err.into()),
            _ => StoreError::Other(err.into()),
        }
    }
}

impl From<rusqlite::types::FromSqlError> for StoreError {
    fn from(err: rusqlite::types::FromSqlError) -> Self {
        StoreError::Corrupt(err.into())
    }
}

impl From<postgres::Error> for StoreError {
    fn from(err: postgres::Error) -> Self {
        use postgres::error::SqlState;
        match err.code() {
            Some(code)
                if *code == SqlState::UNIQUE_VIOLATION
                    || *code == SqlState::FOREIGN_KEY_VIOLATION
                    || *code == SqlState::T_R_SERIALIZATION_FAILURE =>
            {
                StoreError::Conflict(err.into())
            }
            Some(code) if *code == SqlState::INSUFFICIENT_PRIVILEGE => {
                StoreError::Other(err.into())
            }
            None if err.is_closed() || io_below(&err) => StoreError::Unavailable(err.into()),
            _ => StoreError::Other(err.into()),
        }
    }
}

/// Did `err` come from the connection (rather than from the server or a conversion)?
fn io_below(err: &postgres::Error) -> bool {
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        if cause.is::<std::io::Error>() {
            return true;
        }
        source = cause.source();
    }
    false
}

/// Add words to a store error, keeping its kind (as `anyhow::Context` adds them).
pub trait Context<T> {
    fn context_store(self, words: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: Into<StoreError>> Context<T> for std::result::Result<T, E> {
    fn context_store(self, words: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|err| match err.into() {
            StoreError::Conflict(e) => StoreError::Conflict(e.context(words())),
            StoreError::Unavailable(e) => StoreError::Unavailable(e.context(words())),
            StoreError::Corrupt(e) => StoreError::Corrupt(e.context(words())),
            StoreError::Other(e) => StoreError::Other(e.context(words())),
            other @ (StoreError::NotFound(_) | StoreError::Abandoned) => {
                StoreError::Other(anyhow::Error::new(other).context(words()))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_keep_the_words_of_what_they_wrap() {
        let wrapped: anyhow::Error = Err::<(), _>(anyhow::anyhow!("disk I/O error"))
            .context_store(|| "locking the store /x for writing".to_owned())
            .unwrap_err()
            .into();
        let chain: Vec<String> = wrapped.chain().map(|c| c.to_string()).collect();
        assert_eq!(
            chain,
            ["locking the store /x for writing", "disk I/O error"]
        );
        assert_eq!(
            StoreError::NotFound("abc".into()).to_string(),
            "lease abc is not in the store"
        );
    }
}
