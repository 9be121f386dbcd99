//! Text into tokens: names, numbers, strings and Python's operators, each with its span.

use super::{ParseError, Span, err};

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Tok {
    Name(String),
    Int(i64),
    Float(f64),
    Str(String),
    Op(&'static str),
    End,
}

pub(super) const OPS: [&str; 29] = [
    "**", "//", "==", "!=", "<=", ">=", "...", "+", "-", "*", "/", "%", "<", ">", "(", ")", "[", "]", ",", ":", ";", "=", ".", "&", "|",
    "~", "^", "{", "}",
];

pub(super) fn tokenize(src: &str) -> Result<Vec<(Tok, Span)>, ParseError> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i] as char;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        if c.is_ascii_digit() || (c == '.' && i + 1 < b.len() && b[i + 1].is_ascii_digit()) {
            let mut is_float = false;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
                i += 1;
            }
            if i < b.len() && b[i] == b'.' && !(i + 2 < b.len() && b[i + 1] == b'.' && b[i + 2] == b'.') {
                is_float = true;
                i += 1;
                while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
                    i += 1;
                }
            }
            if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
                let save = i;
                i += 1;
                if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
                    i += 1;
                }
                if i < b.len() && b[i].is_ascii_digit() {
                    is_float = true;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                } else {
                    i = save;
                }
            }
            let text: String = src[start..i].chars().filter(|&c| c != '_').collect();
            let tok = if is_float {
                Tok::Float(text.parse().map_err(|_| err((start, i), format!("cannot read number '{text}'")))?)
            } else {
                match text.parse::<i64>() {
                    Ok(v) => Tok::Int(v),
                    Err(_) => Tok::Float(text.parse().map_err(|_| err((start, i), format!("cannot read number '{text}'")))?),
                }
            };
            out.push((tok, (start, i)));
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            while i < b.len() && ((b[i] as char).is_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push((Tok::Name(src[start..i].to_string()), (start, i)));
            continue;
        }
        if c == '\'' || c == '"' {
            i += 1;
            while i < b.len() && b[i] as char != c {
                i += 1;
            }
            if i >= b.len() {
                return Err(err((start, i), "this string is not closed"));
            }
            i += 1;
            out.push((Tok::Str(src[start + 1..i - 1].to_string()), (start, i)));
            continue;
        }
        match OPS.iter().find(|op| src[i..].starts_with(**op)) {
            Some(op) => {
                i += op.len();
                out.push((Tok::Op(op), (start, i)));
            }
            None => {
                let ch = src[i..].chars().next().unwrap_or(' ');
                return Err(err((start, start + ch.len_utf8()), format!("unexpected character '{ch}'")));
            }
        }
    }
    out.push((Tok::End, (src.len(), src.len())));
    Ok(out)
}

pub(super) fn describe_tok(t: &Tok) -> String {
    match t {
        Tok::Name(n) => format!("name '{n}'"),
        Tok::Int(v) => format!("number {v}"),
        Tok::Float(v) => format!("number {v}"),
        Tok::Str(s) => format!("string '{s}'"),
        Tok::Op(o) => format!("'{o}'"),
        Tok::End => "end of the expression".into(),
    }
}

pub(super) fn describe(t: &Tok) -> String {
    format!(", found {}", describe_tok(t))
}
