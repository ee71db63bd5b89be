//! Silences: label matchers with a start, an end, a comment and who made them. An alert
//! matched by an active silence is left out of notifications (and of escalation) but stays
//! listed, marked silenced. As in Alertmanager, deleting a silence expires it (its end
//! becomes now), and a silence must have a matcher that does not match the empty string,
//! so that no silence mutes every alert by accident.

use serde::{Deserialize, Serialize};

use crate::clock::{DAY_US, format_rfc3339};
use crate::matcher::{Labels, Matcher, parse_all, to_texts};

/// Expired silences stay listed this long (Alertmanager keeps them 5 days).
pub const EXPIRED_SILENCE_RETENTION_US: i64 = 5 * DAY_US;

/// What the API receives to create a silence (`POST /v1/silences`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilenceRequest {
    /// Matcher texts, e.g. `["alertname=checkout_down", "endpoint=~/checkout.*"]`.
    pub matchers: Vec<String>,
    /// Microseconds since the epoch; `None` = now.
    #[serde(default)]
    pub starts_at: Option<i64>,
    pub ends_at: i64,
    #[serde(default)]
    pub comment: String,
    #[serde(default)]
    pub created_by: String,
}

/// A silence as stored (in the journal) and listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<String>,
    pub starts_at: i64,
    pub ends_at: i64,
    pub comment: String,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SilenceStatus {
    Pending,
    Active,
    Expired,
}

impl SilenceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SilenceStatus::Pending => "pending",
            SilenceStatus::Active => "active",
            SilenceStatus::Expired => "expired",
        }
    }
}

impl Silence {
    pub fn status(&self, now_us: i64) -> SilenceStatus {
        if now_us >= self.ends_at {
            return SilenceStatus::Expired;
        }
        if now_us < self.starts_at {
            return SilenceStatus::Pending;
        }
        SilenceStatus::Active
    }

    /// The API shape: times as RFC 3339, with the status.
    pub fn to_json(&self, now_us: i64) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "matchers": self.matchers,
            "starts_at": format_rfc3339(self.starts_at),
            "ends_at": format_rfc3339(self.ends_at),
            "comment": self.comment,
            "created_by": self.created_by,
            "status": self.status(now_us).as_str(),
        })
    }
}

/// Checks a request and returns its parsed matchers.
pub fn validate(request: &SilenceRequest, now_us: i64) -> Result<Vec<Matcher>, String> {
    if request.matchers.is_empty() {
        return Err("give at least one matcher, e.g. \"alertname=checkout_down\"".to_owned());
    }
    let matchers = parse_all(&request.matchers)?;
    if matchers.iter().all(Matcher::matches_empty) {
        return Err(
            "every matcher also matches alerts without the label, so this would silence everything; add one that needs a value"
                .to_owned(),
        );
    }
    let starts_at = request.starts_at.unwrap_or(now_us);
    if request.ends_at <= starts_at {
        return Err("ends_at must be after starts_at".to_owned());
    }
    if request.ends_at <= now_us {
        return Err("ends_at is in the past; a silence must end in the future".to_owned());
    }
    Ok(matchers)
}

/// A stored silence with its matchers parsed, as the alerter keeps it.
#[derive(Debug, Clone)]
pub struct ActiveSilence {
    pub silence: Silence,
    pub matchers: Vec<Matcher>,
}

impl ActiveSilence {
    /// From a stored silence; its matchers were validated when it was made, so a silence
    /// that no longer parses (impossible unless the journal was edited) matches nothing.
    pub fn from_silence(silence: Silence) -> ActiveSilence {
        let matchers = parse_all(&silence.matchers).unwrap_or_default();
        ActiveSilence { silence, matchers }
    }

    pub fn silences(&self, labels: &Labels, now_us: i64) -> bool {
        !self.matchers.is_empty()
            && self.silence.status(now_us) == SilenceStatus::Active
            && self.matchers.iter().all(|matcher| matcher.matches(labels))
    }
}

/// The canonical matcher texts of a request (stored so that a listing shows them the way
/// they were understood).
pub fn canonical_matchers(matchers: &[Matcher]) -> Vec<String> {
    to_texts(matchers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(matchers: &[&str], ends_at: i64) -> SilenceRequest {
        SilenceRequest {
            matchers: matchers.iter().map(|text| text.to_string()).collect(),
            starts_at: None,
            ends_at,
            comment: "deploy".to_owned(),
            created_by: "ana".to_owned(),
        }
    }

    #[test]
    fn a_silence_that_would_match_everything_is_refused() {
        assert!(validate(&request(&["team=~.*"], 10), 0).is_err());
        assert!(validate(&request(&[], 10), 0).is_err());
        assert!(validate(&request(&["team=web"], 0), 0).is_err(), "ends now");
        assert!(validate(&request(&["team=web", "x=~.*"], 10), 0).is_ok());
    }

    #[test]
    fn status_follows_the_clock() {
        let silence = Silence {
            id: "s".to_owned(),
            matchers: vec!["team=\"web\"".to_owned()],
            starts_at: 10,
            ends_at: 20,
            comment: String::new(),
            created_by: String::new(),
            created_at: 0,
            updated_at: 0,
        };
        assert_eq!(silence.status(5), SilenceStatus::Pending);
        assert_eq!(silence.status(10), SilenceStatus::Active);
        assert_eq!(silence.status(20), SilenceStatus::Expired);
        let active = ActiveSilence::from_silence(silence);
        let labels: Labels = [("team".to_owned(), "web".to_owned())].into();
        assert!(active.silences(&labels, 15));
        assert!(!active.silences(&labels, 25));
    }
}
