//! The routing tree, with Alertmanager's semantics and defaults.
//!
//! ```toml
//! [route]                         # the root: matches every alert
//! receiver = "email"
//! group_by = ["alertname"]        # "..." groups by every label
//! group_wait = "30s"              # wait before a new group's first notification
//! group_interval = "5m"           # wait before notifying changes to a group
//! repeat_interval = "4h"          # re-send a group whose alerts are still firing
//!
//! [[route.routes]]
//! matchers = ["severity=critical"]
//! receiver = "oncall-sms"
//! continue = true                 # keep looking at the following siblings
//! ```
//!
//! An alert walks the tree from the root: at each node the children are tried in order,
//! the first that matches is descended into, and so is every later matching child as long
//! as the ones before it set `continue`. A node none of whose children match takes the
//! alert itself. Receiver, `group_by` and the three timings are inherited from the parent
//! when not set. `active_time_intervals` / `mute_time_intervals` hold a group's
//! notifications while outside / inside the named intervals (Alertmanager drops them; here
//! they wait for the next flush, which sends the group's state then). `digest = "<interval>"`
//! sends the group only at the next start of that interval: the daily digest of low
//! alerts on the next business morning.

use serde::Deserialize;

use crate::clock::{HOUR_US, MINUTE_US, SECOND_US, parse_duration_us};
use crate::error::AlertsError;
use crate::intervals::TimeIntervals;
use crate::matcher::{Labels, Matcher, all_match, is_label_name, parse_all};

pub const DEFAULT_GROUP_WAIT_US: i64 = 30 * SECOND_US;
pub const DEFAULT_GROUP_INTERVAL_US: i64 = 5 * MINUTE_US;
pub const DEFAULT_REPEAT_INTERVAL_US: i64 = 4 * HOUR_US;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteFile {
    #[serde(default)]
    pub receiver: Option<String>,
    #[serde(default)]
    pub matchers: Vec<String>,
    #[serde(default)]
    pub group_by: Option<Vec<String>>,
    #[serde(default)]
    pub group_wait: Option<String>,
    #[serde(default)]
    pub group_interval: Option<String>,
    #[serde(default)]
    pub repeat_interval: Option<String>,
    #[serde(default, rename = "continue")]
    pub continue_matching: bool,
    #[serde(default)]
    pub active_time_intervals: Vec<String>,
    #[serde(default)]
    pub mute_time_intervals: Vec<String>,
    #[serde(default)]
    pub digest: Option<String>,
    #[serde(default)]
    pub routes: Vec<RouteFile>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    /// `group_by = ["..."]`: every label, so each alert is a group of its own.
    All,
    Labels(Vec<String>),
}

/// One node of the tree, with everything inherited already resolved.
#[derive(Debug, Clone)]
pub struct Route {
    /// The path from the root, e.g. `0.2.1`: part of every group key.
    pub id: String,
    pub receiver: String,
    pub matchers: Vec<Matcher>,
    pub group_by: GroupBy,
    pub group_wait_us: i64,
    pub group_interval_us: i64,
    pub repeat_interval_us: i64,
    pub continue_matching: bool,
    pub active_time_intervals: Vec<String>,
    pub mute_time_intervals: Vec<String>,
    pub digest: Option<String>,
    children: Vec<usize>,
}

/// The tree as a vector of nodes (the root first); routes are named by index.
#[derive(Debug, Clone)]
pub struct RouteTree {
    nodes: Vec<Route>,
}

impl RouteTree {
    pub fn compile(root: &RouteFile, intervals: &TimeIntervals) -> Result<RouteTree, AlertsError> {
        if !root.matchers.is_empty() {
            return Err(invalid(
                "0",
                "matchers",
                "the root route matches every alert; move matchers to a child route",
            ));
        }
        if root.continue_matching {
            return Err(invalid(
                "0",
                "continue",
                "the root route has no siblings to continue to",
            ));
        }
        if root.receiver.is_none() {
            return Err(invalid(
                "0",
                "receiver",
                "the root route needs a receiver: the default for alerts no child route takes",
            ));
        }
        let mut tree = RouteTree { nodes: Vec::new() };
        let defaults = Route {
            id: String::new(),
            receiver: String::new(),
            matchers: Vec::new(),
            group_by: GroupBy::Labels(Vec::new()),
            group_wait_us: DEFAULT_GROUP_WAIT_US,
            group_interval_us: DEFAULT_GROUP_INTERVAL_US,
            repeat_interval_us: DEFAULT_REPEAT_INTERVAL_US,
            continue_matching: false,
            active_time_intervals: Vec::new(),
            mute_time_intervals: Vec::new(),
            digest: None,
            children: Vec::new(),
        };
        tree.add(root, &defaults, "0".to_owned(), intervals)?;
        Ok(tree)
    }

    /// Adds `file` below a parent whose resolved settings are `parent`; returns its index.
    fn add(
        &mut self,
        file: &RouteFile,
        parent: &Route,
        id: String,
        intervals: &TimeIntervals,
    ) -> Result<usize, AlertsError> {
        let matchers =
            parse_all(&file.matchers).map_err(|message| invalid(&id, "matchers", &message))?;
        let receiver = match &file.receiver {
            Some(receiver) if receiver.trim().is_empty() => {
                return Err(invalid(&id, "receiver", "a receiver name cannot be empty"));
            }
            Some(receiver) => receiver.clone(),
            None => parent.receiver.clone(),
        };
        let group_by = match &file.group_by {
            None => parent.group_by.clone(),
            Some(labels) if labels.iter().any(|label| label == "...") => {
                if labels.len() > 1 {
                    return Err(invalid(
                        &id,
                        "group_by",
                        "\"...\" groups by every label; list nothing else beside it",
                    ));
                }
                GroupBy::All
            }
            Some(labels) => {
                if let Some(bad) = labels.iter().find(|label| !is_label_name(label)) {
                    return Err(invalid(
                        &id,
                        "group_by",
                        &format!("{bad:?} is not a label name"),
                    ));
                }
                let mut labels = labels.clone();
                labels.sort();
                labels.dedup();
                GroupBy::Labels(labels)
            }
        };
        let duration = |text: &Option<String>, field: &str, inherited: i64| match text {
            None => Ok(inherited),
            Some(text) => parse_duration_us(text).map_err(|message| invalid(&id, field, &message)),
        };
        let group_wait_us = duration(&file.group_wait, "group_wait", parent.group_wait_us)?;
        let group_interval_us = duration(
            &file.group_interval,
            "group_interval",
            parent.group_interval_us,
        )?;
        let repeat_interval_us = duration(
            &file.repeat_interval,
            "repeat_interval",
            parent.repeat_interval_us,
        )?;
        if group_interval_us <= 0 {
            return Err(invalid(&id, "group_interval", "must be longer than zero"));
        }
        if repeat_interval_us <= 0 {
            return Err(invalid(&id, "repeat_interval", "must be longer than zero"));
        }
        let known = |names: &[String], field: &str| {
            for name in names {
                if intervals.get(name).is_none() {
                    return Err(invalid(
                        &id,
                        field,
                        &format!(
                            "no time interval is named {name:?}; define it under [[time_interval]]"
                        ),
                    ));
                }
            }
            Ok(())
        };
        known(&file.active_time_intervals, "active_time_intervals")?;
        known(&file.mute_time_intervals, "mute_time_intervals")?;
        if let Some(digest) = &file.digest {
            known(std::slice::from_ref(digest), "digest")?;
        }
        let index = self.nodes.len();
        self.nodes.push(Route {
            id: id.clone(),
            receiver,
            matchers,
            group_by,
            group_wait_us,
            group_interval_us,
            repeat_interval_us,
            continue_matching: file.continue_matching,
            active_time_intervals: file.active_time_intervals.clone(),
            mute_time_intervals: file.mute_time_intervals.clone(),
            digest: file.digest.clone(),
            children: Vec::new(),
        });
        let resolved = self.nodes[index].clone();
        for (position, child) in file.routes.iter().enumerate() {
            let child_index = self.add(child, &resolved, format!("{id}.{position}"), intervals)?;
            self.nodes[index].children.push(child_index);
        }
        Ok(index)
    }

    pub fn route(&self, index: usize) -> &Route {
        &self.nodes[index]
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The routes (indexes) that take an alert with these labels, in tree order; never
    /// empty, because the root takes what no child does.
    pub fn match_routes(&self, labels: &Labels) -> Vec<usize> {
        let mut matched = Vec::new();
        self.match_node(0, labels, &mut matched);
        matched
    }

    fn match_node(&self, index: usize, labels: &Labels, matched: &mut Vec<usize>) -> bool {
        let node = &self.nodes[index];
        if !all_match(&node.matchers, labels) {
            return false;
        }
        let before = matched.len();
        for child in &node.children {
            let child_matched = self.match_node(*child, labels, matched);
            if child_matched && !self.nodes[*child].continue_matching {
                break;
            }
        }
        if matched.len() == before {
            matched.push(index);
        }
        true
    }

    /// The labels an alert is grouped by on this route.
    pub fn group_labels(&self, route: usize, labels: &Labels) -> Labels {
        match &self.nodes[route].group_by {
            GroupBy::All => labels.clone(),
            GroupBy::Labels(names) => names
                .iter()
                .filter_map(|name| labels.get(name).map(|value| (name.clone(), value.clone())))
                .collect(),
        }
    }

    /// A group's identity: route, receiver and group labels, e.g.
    /// `0.1/oncall-sms/{alertname="checkout_down"}`.
    pub fn group_key(&self, route: usize, group_labels: &Labels) -> String {
        let node = &self.nodes[route];
        let labels: Vec<String> = group_labels
            .iter()
            .map(|(name, value)| {
                format!(
                    "{name}={}",
                    serde_json::to_string(value).unwrap_or_default()
                )
            })
            .collect();
        format!("{}/{}/{{{}}}", node.id, node.receiver, labels.join(","))
    }

    /// Every receiver a route names, for `sightline check`.
    pub fn receivers(&self) -> Vec<String> {
        let mut receivers: Vec<String> = self
            .nodes
            .iter()
            .map(|node| node.receiver.clone())
            .collect();
        receivers.sort();
        receivers.dedup();
        receivers
    }
}

fn invalid(route: &str, field: &str, message: &str) -> AlertsError {
    AlertsError::InvalidRoute {
        route: route.to_owned(),
        field: field.to_owned(),
        message: message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tree(text: &str) -> RouteTree {
        #[derive(Deserialize)]
        struct File {
            route: RouteFile,
        }
        let file: File = toml::from_str(text).expect("valid TOML");
        let intervals = TimeIntervals::compile(&[], "UTC").expect("defaults");
        RouteTree::compile(&file.route, &intervals).expect("valid routes")
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    const TREE: &str = r#"
        [route]
        receiver = "default"
        group_by = ["alertname"]
        [[route.routes]]
        matchers = ["severity=critical"]
        receiver = "pager"
        continue = true
        group_wait = "0s"
        [[route.routes]]
        matchers = ["team=~web|shop"]
        receiver = "web"
        group_by = ["..."]
          [[route.routes.routes]]
          matchers = ["endpoint=/checkout"]
          receiver = "checkout"
        [[route.routes]]
        matchers = ["team=web"]
        receiver = "never-reached"
    "#;

    #[test]
    fn first_match_continue_and_fallback_to_the_parent() {
        let tree = tree(TREE);
        let receivers = |pairs: &[(&str, &str)]| -> Vec<String> {
            tree.match_routes(&labels(pairs))
                .into_iter()
                .map(|route| tree.route(route).receiver.clone())
                .collect()
        };
        assert_eq!(receivers(&[("severity", "low")]), ["default"]);
        assert_eq!(
            receivers(&[("severity", "critical")]),
            ["pager"],
            "a continuing match still counts: the root does not take it as well"
        );
        assert_eq!(
            receivers(&[("severity", "critical"), ("team", "web")]),
            ["pager", "web"]
        );
        assert_eq!(
            receivers(&[("team", "web"), ("endpoint", "/checkout")]),
            ["checkout"],
            "a child's match replaces its parent; the third route is never reached"
        );
        // Inheritance: the checkout route inherits group_by "..." from its parent, the
        // pager route inherits the root's and overrides group_wait.
        let checkout = tree.match_routes(&labels(&[("team", "web"), ("endpoint", "/checkout")]))[0];
        assert_eq!(tree.route(checkout).group_by, GroupBy::All);
        assert_eq!(tree.route(checkout).group_wait_us, DEFAULT_GROUP_WAIT_US);
        let pager = tree.match_routes(&labels(&[("severity", "critical")]))[0];
        assert_eq!(tree.route(pager).group_wait_us, 0);
        assert_eq!(
            tree.route(pager).repeat_interval_us,
            DEFAULT_REPEAT_INTERVAL_US
        );
        let alert = labels(&[("alertname", "a"), ("severity", "critical"), ("x", "1")]);
        assert_eq!(
            tree.group_labels(pager, &alert),
            labels(&[("alertname", "a")])
        );
        assert_eq!(
            tree.group_key(pager, &labels(&[("alertname", "a")])),
            "0.0/pager/{alertname=\"a\"}"
        );
    }

    #[test]
    fn invalid_routes_name_the_route_and_field() {
        let intervals = TimeIntervals::compile(&[], "UTC").expect("defaults");
        let child = RouteFile {
            matchers: vec!["severity=~(".to_owned()],
            ..RouteFile::default()
        };
        let root = RouteFile {
            receiver: Some("r".to_owned()),
            routes: vec![RouteFile::default(), child],
            ..RouteFile::default()
        };
        let error = RouteTree::compile(&root, &intervals)
            .expect_err("bad matcher")
            .to_string();
        assert!(error.starts_with("route 0.1: matchers: "), "{error}");
        let unknown_interval = RouteFile {
            receiver: Some("r".to_owned()),
            digest: Some("nights".to_owned()),
            ..RouteFile::default()
        };
        let error = RouteTree::compile(&unknown_interval, &intervals)
            .expect_err("interval")
            .to_string();
        assert!(error.starts_with("route 0: digest: "), "{error}");
    }

    /// An independent statement of Alertmanager's matching: a route takes an alert iff it
    /// and all its ancestors match, none of its children match, and, at every level of its
    /// path, no earlier matching sibling without `continue` stopped the search.
    fn oracle_takes(tree: &RouteTree, path: &[usize], labels: &Labels) -> bool {
        let index = *path.last().expect("non-empty path");
        let node = tree.route(index);
        for ancestor in path {
            if !all_match(&tree.route(*ancestor).matchers, labels) {
                return false;
            }
        }
        for window in path.windows(2) {
            let (parent, child) = (window[0], window[1]);
            for sibling in &tree.route(parent).children {
                if *sibling == child {
                    break;
                }
                // An earlier sibling that matches "takes" the alert somewhere in its
                // subtree (or itself): without continue it ends the search.
                if all_match(&tree.route(*sibling).matchers, labels)
                    && !tree.route(*sibling).continue_matching
                {
                    return false;
                }
            }
        }
        !node
            .children
            .iter()
            .any(|child| all_match(&tree.route(*child).matchers, labels))
    }

    fn paths(tree: &RouteTree, index: usize, prefix: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        prefix.push(index);
        out.push(prefix.clone());
        for child in &tree.route(index).children {
            paths(tree, *child, prefix, out);
        }
        prefix.pop();
    }

    proptest! {
        #[test]
        fn matching_agrees_with_the_oracle(
            severity in prop::sample::select(vec!["", "critical", "high", "low"]),
            team in prop::sample::select(vec!["", "web", "shop", "ops"]),
            endpoint in prop::sample::select(vec!["", "/checkout", "/cart"]),
        ) {
            let tree = tree(TREE);
            let mut pairs = Vec::new();
            for (name, value) in [("severity", severity), ("team", team), ("endpoint", endpoint)] {
                if !value.is_empty() {
                    pairs.push((name, value));
                }
            }
            let alert = labels(&pairs);
            let matched = tree.match_routes(&alert);
            let mut all_paths = Vec::new();
            paths(&tree, 0, &mut Vec::new(), &mut all_paths);
            let expected: Vec<usize> = all_paths
                .iter()
                .filter(|path| oracle_takes(&tree, path, &alert))
                .map(|path| *path.last().expect("non-empty"))
                .collect();
            prop_assert!(!matched.is_empty());
            prop_assert_eq!(matched, expected);
        }
    }
}
