//! Label matchers with Alertmanager's semantics, shared by routes, silences, inhibit rules
//! and a rule's group filter.
//!
//! Written as text, one matcher per string: `severity="critical"`, `endpoint!=/health`,
//! `gateway=~"stripe|adyen"`, `team!~"ops.*"` (quotes optional). As in Alertmanager:
//! a label that is absent counts as the empty string (so `team=""` matches alerts without
//! a `team` label and `team!="x"` matches them too), and regular expressions are anchored
//! at both ends (`=~"stripe"` does not match `stripe-eu`).

use std::collections::BTreeMap;
use std::fmt;

use regex::Regex;

/// An alert's labels, sorted by name (so that hashing and printing them is stable).
pub type Labels = BTreeMap<String, String>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

impl MatchOp {
    fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    /// Compiled once, anchored; `None` for `=` and `!=`.
    regex: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Matcher) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted = serde_json::to_string(&self.value).map_err(|_| fmt::Error)?;
        write!(formatter, "{}{}{}", self.name, self.op.as_str(), quoted)
    }
}

impl Matcher {
    pub fn new(name: &str, op: MatchOp, value: &str) -> Result<Matcher, String> {
        if !is_label_name(name) {
            return Err(format!(
                "{name:?} is not a label name; use letters, digits and underscores, not starting with a digit"
            ));
        }
        let regex = match op {
            MatchOp::Equal | MatchOp::NotEqual => None,
            MatchOp::Regex | MatchOp::NotRegex => {
                let anchored = format!("^(?:{value})$");
                let compiled = Regex::new(&anchored)
                    .map_err(|error| format!("{value:?} is not a regular expression ({error})"))?;
                Some(compiled)
            }
        };
        Ok(Matcher {
            name: name.to_owned(),
            op,
            value: value.to_owned(),
            regex,
        })
    }

    /// Parses `name<op>value`, the value optionally in double quotes (JSON escapes).
    pub fn parse(text: &str) -> Result<Matcher, String> {
        let trimmed = text.trim();
        let Some(op_start) = trimmed.find(['=', '!']) else {
            return Err(format!(
                "{text:?} is not a matcher; write name=value, name!=value, name=~regex or name!~regex"
            ));
        };
        let name = trimmed[..op_start].trim();
        let rest = &trimmed[op_start..];
        let (op, value_text) = if let Some(value) = rest.strip_prefix("=~") {
            (MatchOp::Regex, value)
        } else if let Some(value) = rest.strip_prefix("!~") {
            (MatchOp::NotRegex, value)
        } else if let Some(value) = rest.strip_prefix("!=") {
            (MatchOp::NotEqual, value)
        } else if let Some(value) = rest.strip_prefix('=') {
            (MatchOp::Equal, value)
        } else {
            return Err(format!(
                "{text:?} is not a matcher; write name=value, name!=value, name=~regex or name!~regex"
            ));
        };
        let value_text = value_text.trim();
        let value = if value_text.starts_with('"') {
            serde_json::from_str::<String>(value_text)
                .map_err(|_| format!("{text:?}: the quoted value is not a valid string"))?
        } else {
            value_text.to_owned()
        };
        Matcher::new(name, op, &value).map_err(|message| format!("{text:?}: {message}"))
    }

    /// Does the label value (absent = empty) satisfy this matcher?
    pub fn matches_value(&self, value: Option<&str>) -> bool {
        let value = value.unwrap_or("");
        match (&self.op, &self.regex) {
            (MatchOp::Equal, _) => value == self.value,
            (MatchOp::NotEqual, _) => value != self.value,
            (MatchOp::Regex, Some(regex)) => regex.is_match(value),
            (MatchOp::NotRegex, Some(regex)) => !regex.is_match(value),
            // Built only by `new`, which compiles a regex for both regex operators.
            (MatchOp::Regex | MatchOp::NotRegex, None) => false,
        }
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        self.matches_value(labels.get(&self.name).map(String::as_str))
    }

    /// Whether this matcher also matches an alert without the label: a silence made only of
    /// such matchers would silence everything, which Alertmanager refuses too.
    pub fn matches_empty(&self) -> bool {
        self.matches_value(None)
    }
}

/// Do all matchers match (an empty list matches everything)?
pub fn all_match(matchers: &[Matcher], labels: &Labels) -> bool {
    matchers.iter().all(|matcher| matcher.matches(labels))
}

/// Parses a list of matcher texts; the error names the first bad one.
pub fn parse_all(texts: &[String]) -> Result<Vec<Matcher>, String> {
    texts.iter().map(|text| Matcher::parse(text)).collect()
}

pub fn is_label_name(name: &str) -> bool {
    let mut characters = name.chars();
    let Some(first) = characters.next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == '_')
        && characters.all(|character| character.is_ascii_alphanumeric() || character == '_')
}

/// The matcher texts, for the API and the journal.
pub fn to_texts(matchers: &[Matcher]) -> Vec<String> {
    matchers.iter().map(Matcher::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    #[test]
    fn parses_the_four_operators_with_and_without_quotes() {
        let cases = [
            ("severity=critical", MatchOp::Equal, "critical"),
            ("severity = \"critical\"", MatchOp::Equal, "critical"),
            ("endpoint!=/health", MatchOp::NotEqual, "/health"),
            ("gateway=~\"stripe|adyen\"", MatchOp::Regex, "stripe|adyen"),
            ("team!~ops.*", MatchOp::NotRegex, "ops.*"),
            ("path=\"a\\\"b\"", MatchOp::Equal, "a\"b"),
        ];
        for (text, op, value) in cases {
            let matcher = Matcher::parse(text).expect(text);
            assert_eq!(matcher.op, op, "{text}");
            assert_eq!(matcher.value, value, "{text}");
            let again = Matcher::parse(&matcher.to_string()).expect("printed form parses");
            assert_eq!(again, matcher, "round trip of {text}");
        }
    }

    #[test]
    fn rejects_what_is_not_a_matcher_with_the_text() {
        for text in ["severity", "=x", "1abc=x", "a=~(", "a~b"] {
            let error = Matcher::parse(text).expect_err(text);
            assert!(error.contains(&format!("{text:?}")), "{error}");
        }
    }

    #[test]
    fn absent_labels_are_empty_and_regexes_are_anchored() {
        let alert = labels(&[("gateway", "stripe-eu")]);
        assert!(
            !Matcher::parse("gateway=~stripe")
                .expect("valid")
                .matches(&alert)
        );
        assert!(
            Matcher::parse("gateway=~stripe.*")
                .expect("valid")
                .matches(&alert)
        );
        assert!(Matcher::parse("team=\"\"").expect("valid").matches(&alert));
        assert!(Matcher::parse("team!=ops").expect("valid").matches(&alert));
        assert!(!Matcher::parse("team=~.+").expect("valid").matches(&alert));
        assert!(Matcher::parse("team!~.+").expect("valid").matches(&alert));
        assert!(Matcher::parse("team=~.*").expect("valid").matches_empty());
        assert!(!Matcher::parse("team=ops").expect("valid").matches_empty());
    }
}
