//! The filter language of KPI definitions: typed comparisons joined by `and`.
//!
//! ```text
//! data.status >= 500
//! data.stage == "shipped" and data.warehouse != "BER-1"
//! ```
//!
//! Deliberately small (no functions, no `or`): it compiles once at load to a list of
//! comparisons on field slots and costs one comparison per clause per event, where a
//! general expression language (CEL) would cost an interpreter per event. A KPI that needs
//! an `or` is written as two KPIs or with a ratio's two sides.

use std::str::FromStr;

use rust_decimal::Decimal;

use crate::definition::FieldPath;
use crate::extract::{as_decimal, label_text};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Number(Decimal),
    Text(String),
    Bool(bool),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    pub path: FieldPath,
    pub comparison: Comparison,
    pub literal: Literal,
}

/// Every clause must hold. An event without a field a clause names does not match.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filter {
    pub clauses: Vec<Clause>,
}

impl Filter {
    pub fn parse(text: &str) -> Result<Filter, String> {
        let mut clauses = Vec::new();
        for part in split_and(text) {
            clauses.push(parse_clause(part.trim())?);
        }
        if clauses.is_empty() {
            return Err("an empty filter; write e.g. data.status >= 500".into());
        }
        Ok(Filter { clauses })
    }

    /// Evaluates the filter; `value_of(i)` is the raw value of clause `i`'s field.
    pub fn matches<'a>(&self, value_of: impl Fn(usize) -> Option<&'a str>) -> bool {
        self.clauses
            .iter()
            .enumerate()
            .all(|(index, clause)| value_of(index).is_some_and(|value| clause.holds(value)))
    }
}

impl Clause {
    fn holds(&self, value: &str) -> bool {
        let ordering = match &self.literal {
            Literal::Number(expected) => match as_decimal(value) {
                Some(actual) => actual.cmp(expected),
                None => return false,
            },
            Literal::Text(expected) => label_text(value).as_ref().cmp(expected.as_str()),
            Literal::Bool(expected) => match value {
                "true" => true.cmp(expected),
                "false" => false.cmp(expected),
                _ => return false,
            },
        };
        use std::cmp::Ordering::*;
        match self.comparison {
            Comparison::Equal => ordering == Equal,
            Comparison::NotEqual => ordering != Equal,
            Comparison::Less => ordering == Less,
            Comparison::LessOrEqual => ordering != Greater,
            Comparison::Greater => ordering == Greater,
            Comparison::GreaterOrEqual => ordering != Less,
        }
    }
}

/// Splits on the word `and` outside string literals.
fn split_and(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let bytes = text.as_bytes();
    let mut in_string = false;
    let mut start = 0;
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'"' => in_string = !in_string,
            b'a' if !in_string
                && text[index..].starts_with("and")
                && (index == 0 || bytes[index - 1].is_ascii_whitespace())
                && bytes.get(index + 3).is_some_and(u8::is_ascii_whitespace) =>
            {
                parts.push(&text[start..index]);
                start = index + 3;
                index += 3;
                continue;
            }
            _ => {}
        }
        index += 1;
    }
    parts.push(&text[start..]);
    parts
}

fn parse_clause(text: &str) -> Result<Clause, String> {
    const OPERATORS: [(&str, Comparison); 6] = [
        (">=", Comparison::GreaterOrEqual),
        ("<=", Comparison::LessOrEqual),
        ("==", Comparison::Equal),
        ("!=", Comparison::NotEqual),
        (">", Comparison::Greater),
        ("<", Comparison::Less),
    ];
    let Some((position, symbol, comparison)) = OPERATORS
        .iter()
        .filter_map(|(symbol, comparison)| {
            text.find(symbol)
                .map(|position| (position, *symbol, *comparison))
        })
        .min_by_key(|(position, symbol, _)| (*position, usize::MAX - symbol.len()))
    else {
        return Err(format!(
            "{text:?}: expected `field op value` with op one of == != < <= > >="
        ));
    };
    let field = text[..position].trim();
    let literal = text[position + symbol.len()..].trim();
    let path = FieldPath::parse(field)
        .ok_or_else(|| format!("{field:?} is not a field path such as data.status"))?;
    let literal = if let Some(inner) = literal
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
    {
        Literal::Text(inner.to_owned())
    } else if literal == "true" || literal == "false" {
        Literal::Bool(literal == "true")
    } else {
        Literal::Number(
            Decimal::from_str(literal)
                .map_err(|_| format!("{literal:?} is not a number, \"text\", true or false"))?,
        )
    };
    Ok(Clause {
        path,
        comparison,
        literal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<str> {
        serde_json::from_str::<&serde_json::value::RawValue>(text)
            .expect("valid JSON")
            .get()
            .into()
    }

    #[test]
    fn parses_and_evaluates() {
        let filter =
            Filter::parse(r#"data.status >= 500 and data.method == "GET""#).expect("valid");
        assert_eq!(filter.clauses.len(), 2);
        let values = [raw("503"), raw("\"GET\"")];
        assert!(filter.matches(|index| Some(&*values[index])));
        let values = [raw("200"), raw("\"GET\"")];
        assert!(!filter.matches(|index| Some(&*values[index])));
        assert!(!filter.matches(|_| None), "a missing field does not match");
        let strings = Filter::parse(r#"data.stage != "a and b""#).expect("`and` inside a string");
        assert_eq!(strings.clauses[0].literal, Literal::Text("a and b".into()));
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert!(
            Filter::parse("data.status")
                .expect_err("no operator")
                .contains("op one of")
        );
        assert!(
            Filter::parse("data.status >= many")
                .expect_err("bad literal")
                .contains("not a number")
        );
        assert!(
            Filter::parse("data. >= 1")
                .expect_err("bad path")
                .contains("field path")
        );
    }
}
