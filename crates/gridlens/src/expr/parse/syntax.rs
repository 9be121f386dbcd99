//! Tokens into a syntax tree with Python's operator precedence: literals, names,
//! attributes, calls with keyword arguments, subscripts and slices, unary and binary
//! operators, tuples and lists. Nothing is evaluated here.

use super::lex::{Tok, describe, describe_tok, tokenize};
use super::{ParseError, Span, err};

/// One statement: `name = expr` (an assignment) or an expression.
pub(super) struct Statement {
    pub target: Option<String>,
    pub expr: Syntax,
}

/// Parses `;`-separated statements, as Python parses a whole line before running any of it.
pub(super) fn statements(text: &str) -> Result<Vec<Statement>, ParseError> {
    let mut p = Parser { toks: tokenize(text)?, pos: 0 };
    let mut out = Vec::new();
    loop {
        while p.eat(";") {}
        if matches!(p.peek(), Tok::End) {
            return Ok(out);
        }
        // assignment: NAME '=' expr
        let target = match (p.peek().clone(), p.toks.get(p.pos + 1).map(|t| t.0.clone())) {
            (Tok::Name(n), Some(Tok::Op("="))) => {
                p.next();
                p.next();
                Some(n)
            }
            _ => None,
        };
        let expr = p.expr()?;
        if !matches!(p.peek(), Tok::End) && !p.is_op(";") {
            return Err(err(p.span(), format!("unexpected {} after the expression", describe_tok(p.peek()))));
        }
        out.push(Statement { target, expr });
    }
}

/// A syntax tree node with its span.
#[derive(Clone, Debug)]
pub(super) struct Syntax {
    pub kind: Form,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub(super) enum Form {
    Name(String),
    Int(i64),
    Float(f64),
    Str(String),
    NoneLit,
    Bool(bool),
    Ellipsis,
    Tuple(Vec<Syntax>),
    List(Vec<Syntax>),
    Unary(&'static str, Box<Syntax>),
    Binary(&'static str, Box<Syntax>, Box<Syntax>),
    Attr(Box<Syntax>, String),
    Call(Box<Syntax>, Vec<Syntax>, Vec<(String, Syntax, Span)>),
    Index(Box<Syntax>, Vec<Sub>),
}

#[derive(Clone, Debug)]
pub(super) enum Sub {
    Expr(Syntax),
    Slice(Option<Syntax>, Option<Syntax>, Option<Syntax>, Span),
}

pub(super) struct Parser {
    toks: Vec<(Tok, Span)>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos].0
    }

    fn span(&self) -> Span {
        self.toks[self.pos].1
    }

    fn next(&mut self) -> (Tok, Span) {
        let t = self.toks[self.pos].clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(self.peek(), Tok::Op(o) if *o == op)
    }

    fn eat(&mut self, op: &str) -> bool {
        if self.is_op(op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, op: &str, what: &str) -> Result<Span, ParseError> {
        if self.is_op(op) { Ok(self.next().1) } else { Err(err(self.span(), format!("expected '{op}' {what}{}", describe(self.peek())))) }
    }

    fn expr(&mut self) -> Result<Syntax, ParseError> {
        let left = self.bitor()?;
        let ops = ["<", "<=", ">", ">=", "==", "!="];
        if let Tok::Op(op) = self.peek().clone()
            && ops.contains(&op)
        {
            self.next();
            let right = self.bitor()?;
            let span = (left.span.0, right.span.1);
            if let Tok::Op(op2) = self.peek()
                && ops.contains(op2)
            {
                return Err(err(self.span(), "chained comparisons are not supported; combine them with & and parentheses"));
            }
            return Ok(Syntax { kind: Form::Binary(op, Box::new(left), Box::new(right)), span });
        }
        Ok(left)
    }

    fn binary_level(&mut self, ops: &[&'static str], next: fn(&mut Parser) -> Result<Syntax, ParseError>) -> Result<Syntax, ParseError> {
        let mut left = next(self)?;
        while let Tok::Op(op) = self.peek().clone() {
            if !ops.contains(&op) {
                break;
            }
            self.next();
            let right = next(self)?;
            let span = (left.span.0, right.span.1);
            left = Syntax { kind: Form::Binary(op, Box::new(left), Box::new(right)), span };
        }
        Ok(left)
    }

    fn bitor(&mut self) -> Result<Syntax, ParseError> {
        self.binary_level(&["|"], Parser::bitxor)
    }

    fn bitxor(&mut self) -> Result<Syntax, ParseError> {
        self.binary_level(&["^"], Parser::bitand)
    }

    fn bitand(&mut self) -> Result<Syntax, ParseError> {
        self.binary_level(&["&"], Parser::arith)
    }

    fn arith(&mut self) -> Result<Syntax, ParseError> {
        self.binary_level(&["+", "-"], Parser::term)
    }

    fn term(&mut self) -> Result<Syntax, ParseError> {
        self.binary_level(&["*", "/", "//", "%"], Parser::factor)
    }

    fn factor(&mut self) -> Result<Syntax, ParseError> {
        for op in ["-", "+", "~"] {
            if self.is_op(op) {
                let (_, s) = self.next();
                let inner = self.factor()?;
                let span = (s.0, inner.span.1);
                return Ok(Syntax { kind: Form::Unary(op, Box::new(inner)), span });
            }
        }
        self.power()
    }

    fn power(&mut self) -> Result<Syntax, ParseError> {
        let base = self.primary()?;
        if self.eat("**") {
            let exp = self.factor()?;
            let span = (base.span.0, exp.span.1);
            return Ok(Syntax { kind: Form::Binary("**", Box::new(base), Box::new(exp)), span });
        }
        Ok(base)
    }

    fn primary(&mut self) -> Result<Syntax, ParseError> {
        let mut node = self.atom()?;
        loop {
            if self.is_op("(") {
                self.next();
                let (args, kwargs) = self.call_args()?;
                let close = self.expect(")", "to close the call")?;
                let span = (node.span.0, close.1);
                node = Syntax { kind: Form::Call(Box::new(node), args, kwargs), span };
            } else if self.is_op("[") {
                self.next();
                let subs = self.subscripts()?;
                let close = self.expect("]", "to close the index")?;
                let span = (node.span.0, close.1);
                node = Syntax { kind: Form::Index(Box::new(node), subs), span };
            } else if self.is_op(".") {
                self.next();
                match self.next() {
                    (Tok::Name(n), s) => {
                        let span = (node.span.0, s.1);
                        node = Syntax { kind: Form::Attr(Box::new(node), n), span };
                    }
                    (t, s) => return Err(err(s, format!("expected a name after '.'{}", describe(&t)))),
                }
            } else {
                return Ok(node);
            }
        }
    }

    fn call_args(&mut self) -> Result<(Vec<Syntax>, Vec<(String, Syntax, Span)>), ParseError> {
        let mut args = Vec::new();
        let mut kwargs: Vec<(String, Syntax, Span)> = Vec::new();
        while !self.is_op(")") {
            if let (Tok::Name(n), Tok::Op("=")) =
                (self.peek().clone(), self.toks.get(self.pos + 1).map(|t| t.0.clone()).unwrap_or(Tok::End))
            {
                let s = self.span();
                self.next();
                self.next();
                let v = self.expr()?;
                if kwargs.iter().any(|(k, _, _)| *k == n) {
                    return Err(err(s, format!("keyword argument '{n}' repeated")));
                }
                kwargs.push((n, v, s));
            } else {
                if !kwargs.is_empty() {
                    return Err(err(self.span(), "positional argument follows keyword argument"));
                }
                args.push(self.expr()?);
            }
            if !self.eat(",") {
                break;
            }
        }
        Ok((args, kwargs))
    }

    fn subscripts(&mut self) -> Result<Vec<Sub>, ParseError> {
        let mut subs = Vec::new();
        loop {
            if self.is_op("]") {
                break;
            }
            let start = self.span();
            let first = if self.is_op(":") { None } else { Some(self.expr()?) };
            if self.eat(":") {
                let stop = if self.is_op(":") || self.is_op(",") || self.is_op("]") { None } else { Some(self.expr()?) };
                let step = if self.eat(":") { if self.is_op(",") || self.is_op("]") { None } else { Some(self.expr()?) } } else { None };
                let end = self.toks[self.pos.saturating_sub(1)].1.1;
                subs.push(Sub::Slice(first, stop, step, (start.0, end)));
            } else {
                subs.push(Sub::Expr(first.expect("an expression when no ':'")));
            }
            if !self.eat(",") {
                break;
            }
        }
        Ok(subs)
    }

    fn atom(&mut self) -> Result<Syntax, ParseError> {
        let (tok, span) = self.next();
        let kind = match tok {
            Tok::Int(v) => Form::Int(v),
            Tok::Float(v) => Form::Float(v),
            Tok::Str(s) => Form::Str(s),
            Tok::Name(n) => match n.as_str() {
                "None" => Form::NoneLit,
                "True" => Form::Bool(true),
                "False" => Form::Bool(false),
                _ => Form::Name(n),
            },
            Tok::Op("...") => Form::Ellipsis,
            Tok::Op("(") => {
                if self.is_op(")") {
                    let close = self.next().1;
                    return Ok(Syntax { kind: Form::Tuple(vec![]), span: (span.0, close.1) });
                }
                let first = self.expr()?;
                if self.is_op(",") {
                    let mut items = vec![first];
                    while self.eat(",") {
                        if self.is_op(")") {
                            break;
                        }
                        items.push(self.expr()?);
                    }
                    let close = self.expect(")", "to close the tuple")?;
                    return Ok(Syntax { kind: Form::Tuple(items), span: (span.0, close.1) });
                }
                let close = self.expect(")", "to close the parenthesis")?;
                return Ok(Syntax { kind: first.kind, span: (span.0, close.1) });
            }
            Tok::Op("[") => {
                let mut items = Vec::new();
                while !self.is_op("]") {
                    items.push(self.expr()?);
                    if !self.eat(",") {
                        break;
                    }
                }
                let close = self.expect("]", "to close the list")?;
                return Ok(Syntax { kind: Form::List(items), span: (span.0, close.1) });
            }
            Tok::End => return Err(err(span, "the expression ends too early")),
            t => return Err(err(span, format!("unexpected {}", describe_tok(&t)))),
        };
        Ok(Syntax { kind, span })
    }
}
