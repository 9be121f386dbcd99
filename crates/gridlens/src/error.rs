//! The crate's error type: every way a user's request can fail, each naming what failed.

use crate::chunks::ChunkError;
use crate::exec::ExecError;
use crate::expr::ExprError;
use crate::expr::parse::ParseError;
use crate::plan::PlanError;
use crate::sink::SinkError;
use crate::source::SourceError;

/// Any failure of gridlens' library, with a message fit for the user.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error(transparent)]
    Expr(#[from] ExprError),
    #[error(transparent)]
    Chunks(#[from] ChunkError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Sink(#[from] SinkError),
}

impl Error {
    /// Whether the job was stopped by the user rather than failing.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Error::Exec(ExecError::Cancelled))
    }
}
