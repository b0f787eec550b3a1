//! The engine's instruments: wire codes (`sbe::Code`, 16 NUL-padded ASCII bytes) mapped to dense
//! [`CodeId`]s. The set is fixed when the engine is built (the shard's universe); a row whose
//! code is not in it is counted as `unknown_code` by the caller and skipped, never a panic.
//!
//! Lookup is on the hot path (once per event): a hash map keyed by the 16 raw bytes with a
//! two-word multiply-xor hash (the codes are trusted, admitted by ingestion: no need for a
//! DoS-resistant hash), ~2 ns instead of SipHash's ~20.

use std::collections::HashMap;
use std::fmt;

use super::types::CodeId;
use crate::sbe::{Code, CodeHashBuilder, CODE_LEN};

/// Why a code cannot be added to the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeError {
    /// The text is not a wire code (too long, not printable ASCII).
    Invalid { code: String, detail: String },
    /// The empty code is reserved for shard-wide system events.
    Empty,
    /// The code was added already (a universe lists each instrument once).
    Duplicate { code: String, id: CodeId },
    /// More codes than a `CodeId` can number.
    TooMany,
}

impl fmt::Display for CodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodeError::Invalid { code, detail } => write!(f, "code {code:?}: {detail}"),
            CodeError::Empty => write!(f, "code \"\": an instrument code must not be empty"),
            CodeError::Duplicate { code, id } => {
                write!(f, "code {code:?}: listed twice (already code id {id})")
            }
            CodeError::TooMany => write!(f, "codes: more than {} instruments", CodeId::MAX),
        }
    }
}

impl std::error::Error for CodeError {}

/// The fixed set of instruments of one engine, in the order they were added.
#[derive(Debug, Clone, Default)]
pub struct CodeRegistry {
    codes: Vec<Code>,
    index: HashMap<[u8; CODE_LEN], CodeId, CodeHashBuilder>,
}

impl CodeRegistry {
    pub fn new() -> CodeRegistry {
        CodeRegistry::default()
    }

    /// Registry of `codes` in order (ids 0, 1, ...); the first bad or repeated code is an error.
    pub fn from_codes<S: AsRef<str>>(codes: &[S]) -> Result<CodeRegistry, CodeError> {
        let mut r = CodeRegistry::new();
        for c in codes {
            r.add_str(c.as_ref())?;
        }
        Ok(r)
    }

    /// Adds a wire code; its id is the number of codes added before it.
    pub fn add(&mut self, code: Code) -> Result<CodeId, CodeError> {
        if code.is_empty() {
            return Err(CodeError::Empty);
        }
        if let Some(&id) = self.index.get(code.as_bytes()) {
            return Err(CodeError::Duplicate {
                code: code.as_str().to_string(),
                id,
            });
        }
        let id = CodeId::try_from(self.codes.len()).map_err(|_| CodeError::TooMany)?;
        self.codes.push(code);
        self.index.insert(*code.as_bytes(), id);
        Ok(id)
    }

    /// [`CodeRegistry::add`] from text (e.g. `"TXFL4"`).
    pub fn add_str(&mut self, code: &str) -> Result<CodeId, CodeError> {
        let c = Code::new(code).map_err(|e| CodeError::Invalid {
            code: code.to_string(),
            detail: e.to_string(),
        })?;
        self.add(c)
    }

    /// The id of a wire code, `None` if it is not one of ours.
    #[inline]
    pub fn id(&self, code: &Code) -> Option<CodeId> {
        self.index.get(code.as_bytes()).copied()
    }

    /// The id of a code given as text, `None` if unknown or not a wire code.
    pub fn id_of_str(&self, code: &str) -> Option<CodeId> {
        Code::new(code).ok().and_then(|c| self.id(&c))
    }

    pub fn code(&self, id: CodeId) -> Option<&Code> {
        self.codes.get(id as usize)
    }

    pub fn len(&self) -> usize {
        self.codes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (CodeId, &Code)> {
        self.codes.iter().enumerate().map(|(i, c)| (i as CodeId, c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_dense_in_order_and_unknown_codes_are_none() {
        let r = CodeRegistry::from_codes(&["TXFL4", "MXFL4", "2330"]).unwrap();
        assert_eq!(r.len(), 3);
        for (i, c) in ["TXFL4", "MXFL4", "2330"].iter().enumerate() {
            assert_eq!(r.id(&Code::new(c).unwrap()), Some(i as CodeId));
            assert_eq!(r.code(i as CodeId).unwrap().as_str(), *c);
        }
        assert_eq!(r.id(&Code::new("TXFA5").unwrap()), None);
        assert_eq!(r.id(&Code::default()), None);
        assert_eq!(r.id_of_str("nope\u{7}"), None);
        assert_eq!(r.code(3), None);
        // Codes differing only in the second word hash apart.
        let r =
            CodeRegistry::from_codes(&["TXO17500L4", "TXO17500X4", "0123456789ABCDEF"]).unwrap();
        assert_eq!(r.id_of_str("TXO17500X4"), Some(1));
        assert_eq!(r.id_of_str("0123456789ABCDEF"), Some(2));
    }

    #[test]
    fn bad_empty_and_duplicate_codes_are_errors_naming_the_code() {
        let mut r = CodeRegistry::new();
        r.add_str("TXFL4").unwrap();
        let e = r.add_str("TXFL4").unwrap_err();
        assert_eq!(
            e,
            CodeError::Duplicate {
                code: "TXFL4".into(),
                id: 0
            }
        );
        assert!(e.to_string().contains("TXFL4"), "{e}");
        assert_eq!(r.add_str(""), Err(CodeError::Empty));
        let e = r.add_str("0123456789ABCDEFG").unwrap_err();
        assert!(e.to_string().contains("0123456789ABCDEFG"), "{e}");
        assert!(matches!(
            r.add_str("台積電"),
            Err(CodeError::Invalid { .. })
        ));
        assert_eq!(r.len(), 1);
    }
}
