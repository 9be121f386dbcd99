//! The operation's expressions, parsed once per text: the panels draw every frame (the
//! expression box's preview, the export dialog's size estimate) and must not parse the
//! expression again each time; the app asks here, and only a new text (or a newly opened
//! data set) is parsed.

use gridlens::Array;
use gridlens::expr::Op;
use gridlens::expr::parse::{ParseError, evaluate};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

/// An expression over the open data set `x`, evaluated: the lazy result and the bytes of
/// every distinct source it reads.
#[derive(Clone, Debug)]
pub struct Parsed {
    pub array: Array,
    pub reads: usize,
}

/// Evaluated expressions by (text, data set), the last few kept.
#[derive(Default)]
pub struct ParsedExpressions {
    memo: RefCell<HashMap<(String, u64), Result<Parsed, ParseError>>>,
}

/// Few texts are live at once (the display, the export, the preview): a handful is plenty.
const KEPT: usize = 16;

impl ParsedExpressions {
    /// `text` with `x` bound to `data`, parsed and evaluated the first time it is asked for.
    pub fn get(&self, text: &str, data: &Array) -> Result<Parsed, ParseError> {
        let key = (text.to_string(), data.id());
        if let Some(r) = self.memo.borrow().get(&key) {
            return r.clone();
        }
        let names = HashMap::from([("x".to_string(), data.clone())]);
        let r = evaluate(text, &names).map(|array| Parsed { reads: read_bytes(&array), array });
        let mut memo = self.memo.borrow_mut();
        if memo.len() >= KEPT {
            memo.clear();
        }
        memo.insert(key, r.clone());
        r
    }
}

/// Bytes of every distinct source an expression reads.
pub fn read_bytes(a: &Array) -> usize {
    let mut seen = HashSet::new();
    let mut stack = vec![a.clone()];
    let mut total = 0;
    while let Some(n) = stack.pop() {
        if !seen.insert(n.id()) {
            continue;
        }
        if let Op::Source(_) = n.op() {
            total += n.nbytes();
        }
        stack.extend(n.inputs());
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridlens::source::MemorySource;
    use std::sync::Arc;

    #[test]
    fn an_expression_is_parsed_once_per_text_and_data_set() {
        let x = Array::from_source(Arc::new(MemorySource::new("x", gridlens::Block::from_vec(&[4, 3], vec![1.0f64; 12]), None)));
        let memo = ParsedExpressions::default();
        let a = memo.get("x.mean(axis=0)", &x).unwrap();
        let b = memo.get("x.mean(axis=0)", &x).unwrap();
        assert_eq!(a.array.id(), b.array.id(), "the second ask is answered from the memo");
        assert_eq!(a.array.shape(), vec![3]);
        assert_eq!(a.reads, 96);
        let e = memo.get("x +", &x).unwrap_err();
        assert!(e.message.contains("ends too early"), "{e}");
        let y = Array::from_source(Arc::new(MemorySource::new("y", gridlens::Block::from_vec(&[2], vec![1.0f64; 2]), None)));
        assert_ne!(memo.get("x.mean(axis=0)", &y).unwrap().array.id(), a.array.id(), "another data set parses afresh");
    }
}
