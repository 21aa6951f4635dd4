use thiserror::Error;

/// Why a spec was refused. Every parse error carries a 1-based line and column.
#[derive(Debug, Error)]
pub enum SpecError {
    /// The YAML did not parse into a spec (syntax, unknown key, wrong type, bad value).
    #[error("line {line}, column {column}: {message}")]
    Parse {
        /// What is wrong.
        message: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// The spec parsed but breaks a rule across fields.
    #[error("line {line}, column {column}: {message}")]
    Invalid {
        /// What is wrong.
        message: String,
        /// 1-based line (0 when it could not be located).
        line: usize,
        /// 1-based column (0 when it could not be located).
        column: usize,
    },
    /// No built-in profile has that name.
    #[error("no built-in profile named `{name}` (built-in: {})", crate::BUILTIN_PROFILES.iter().map(|p| p.0).collect::<Vec<_>>().join(", "))]
    UnknownProfile {
        /// The name asked for.
        name: String,
    },
}

impl SpecError {
    pub(crate) fn from_yaml(err: serde_yaml_ng::Error) -> Self {
        let (line, column) = err.location().map_or((1, 1), |l| (l.line(), l.column()));
        // serde_yaml appends " at line L column C" to its own message; keep only the cause.
        let full = err.to_string();
        let message = match full.rfind(" at line ") {
            Some(cut) => full.get(..cut).unwrap_or(&full).to_owned(),
            None => full,
        };
        SpecError::Parse {
            message,
            line,
            column,
        }
    }

    /// The (line, column) of the error, when it has one.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            SpecError::Parse { line, column, .. } | SpecError::Invalid { line, column, .. } => {
                Some((*line, *column))
            }
            SpecError::UnknownProfile { .. } => None,
        }
    }
}
