//! The dispatcher's retries against real receivers that fail on purpose (the HTTP
//! recorder's `/fail-N/` and `/status-CODE/` paths), on a clock the test drives.

mod common;

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{notification, recorded, recorder, unique_prefix};
use sightline_alerts::Notification;
use sightline_notify::{
    AttemptFailure, DeliveryEvents, Dispatcher, NotifyMetrics, ReceiverConfig, ReceiverDispatchers,
    ReceiverKind, Receivers, RetryPolicy, Secret, SystemClock,
};

#[derive(Debug, Clone, PartialEq)]
enum Event {
    Delivered { id: u64, attempts: u32 },
    Failed(AttemptFailure),
    GaveUp(AttemptFailure),
}

/// Records what the dispatcher reports, as the server's history would.
#[derive(Clone, Default)]
struct Recorded(Arc<Mutex<Vec<Event>>>);

impl Recorded {
    fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.0.lock().expect("not poisoned"))
    }
}

impl DeliveryEvents for Recorded {
    fn delivered(&mut self, notification: &Notification, attempts: u32, _now_us: i64) {
        let event = Event::Delivered {
            id: notification.id,
            attempts,
        };
        self.0.lock().expect("not poisoned").push(event);
    }

    fn attempt_failed(&mut self, _notification: &Notification, failure: &AttemptFailure) {
        self.0
            .lock()
            .expect("not poisoned")
            .push(Event::Failed(failure.clone()));
    }

    fn gave_up(&mut self, _notification: &Notification, failure: &AttemptFailure) {
        self.0
            .lock()
            .expect("not poisoned")
            .push(Event::GaveUp(failure.clone()));
    }
}

fn webhook(url: String) -> (Arc<Receivers>, Arc<NotifyMetrics>) {
    let receivers = Receivers::from_config(&[ReceiverConfig {
        name: "hook".to_owned(),
        kind: Some(ReceiverKind::Webhook),
        url: Some(Secret::new(url)),
        ..ReceiverConfig::default()
    }])
    .expect("a valid receiver");
    let metrics = Arc::new(NotifyMetrics::new(receivers.names()));
    (Arc::new(receivers), metrics)
}

#[test]
fn a_receiver_failing_twice_is_retried_with_backoff_until_it_takes_it() {
    let Some(base) = recorder("a_receiver_failing_twice_is_retried_with_backoff_until_it_takes_it")
    else {
        return;
    };
    let prefix = format!("/fail-2/{}", unique_prefix("retry"));
    let (receivers, metrics) = webhook(format!("{base}{prefix}"));
    let mut dispatcher = Dispatcher::new(receivers, RetryPolicy::default(), metrics.clone());
    let mut events = Recorded::default();
    let start = 1_767_225_660_000_000;

    assert!(dispatcher.enqueue(notification("hook"), start));
    assert!(
        !dispatcher.enqueue(notification("hook"), start),
        "the same outbox entry is queued once"
    );
    assert_eq!(dispatcher.run_due(start, &mut events), 1);
    let first_retry = dispatcher.next_due_us().expect("a retry is scheduled");
    // 1 s backoff, jittered into its upper half.
    assert!((start + 500_000..=start + 1_000_000).contains(&first_retry));
    assert_eq!(
        dispatcher.run_due(first_retry - 1, &mut events),
        0,
        "not yet due"
    );
    assert_eq!(dispatcher.run_due(first_retry, &mut events), 1);
    let second_retry = dispatcher.next_due_us().expect("another retry");
    assert!((first_retry + 1_000_000..=first_retry + 2_000_000).contains(&second_retry));
    assert_eq!(dispatcher.run_due(second_retry, &mut events), 1);
    assert_eq!(dispatcher.pending(), 0);

    let events = events.take();
    assert_eq!(events.len(), 3, "{events:?}");
    for (event, attempt, retry_at) in [(&events[0], 1, first_retry), (&events[1], 2, second_retry)]
    {
        let Event::Failed(failure) = event else {
            panic!("a failure first: {events:?}");
        };
        assert_eq!(failure.attempt, attempt);
        assert_eq!(failure.receiver, "hook");
        assert_eq!(failure.retry_at_us, Some(retry_at));
        assert!(failure.errors[0].1.retryable);
        assert!(
            failure.errors[0].1.message.contains("HTTP 503"),
            "{failure:?}"
        );
        assert!(
            failure.describe().contains("retrying in"),
            "{}",
            failure.describe()
        );
    }
    assert_eq!(
        events[2],
        Event::Delivered {
            id: 42,
            attempts: 3
        }
    );
    let counted = metrics.values("hook");
    assert_eq!((counted.sent, counted.failed, counted.given_up), (1, 2, 0));
    let mut rendered = String::new();
    metrics.render_prometheus(&mut rendered);
    assert!(rendered.contains("sightline_notifications_sent_total{receiver=\"hook\"} 1"));
    assert!(rendered.contains("sightline_notifications_failed_total{receiver=\"hook\"} 2"));

    let requests = recorded(&base, &prefix);
    assert_eq!(requests.len(), 3);
    assert!(
        requests
            .iter()
            .all(|request| request["headers"]["idempotency-key"]
                == "9f2c1d4e5b6a79801f2e3d4c5b6a7980"),
        "every attempt carries the same dedup key"
    );
    assert!(
        !dispatcher.enqueue(notification("hook"), second_retry),
        "a finished notification offered again (an outbox read before mark_sent) is not resent"
    );
}

#[test]
fn a_400_is_not_retried() {
    let Some(base) = recorder("a_400_is_not_retried") else {
        return;
    };
    let prefix = format!("/status-400/{}", unique_prefix("refused"));
    let (receivers, metrics) = webhook(format!("{base}{prefix}"));
    let mut dispatcher = Dispatcher::new(receivers, RetryPolicy::default(), metrics.clone());
    let mut events = Recorded::default();
    dispatcher.enqueue(notification("hook"), 0);
    dispatcher.run_due(0, &mut events);

    assert_eq!(dispatcher.pending(), 0, "nothing left to retry");
    let events = events.take();
    let [Event::GaveUp(failure)] = events.as_slice() else {
        panic!("one give-up: {events:?}");
    };
    assert_eq!(failure.retry_at_us, None);
    assert!(!failure.errors[0].1.retryable);
    assert!(
        failure.errors[0].1.message.contains("HTTP 400"),
        "{failure:?}"
    );
    assert_eq!(recorded(&base, &prefix).len(), 1);
    let counted = metrics.values("hook");
    assert_eq!((counted.sent, counted.failed, counted.given_up), (0, 1, 1));
}

#[test]
fn an_unreachable_receiver_is_retried_until_the_attempts_run_out() {
    // A port nobody listens on: connection refused, which is worth retrying.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = listener.local_addr().expect("an address").port();
    drop(listener);
    let (receivers, metrics) = webhook(format!("http://127.0.0.1:{port}/hook"));
    let policy = RetryPolicy {
        max_attempts: 3,
        ..RetryPolicy::default()
    };
    let mut dispatcher = Dispatcher::new(receivers, policy, metrics.clone());
    let mut events = Recorded::default();
    let mut now = 0;
    dispatcher.enqueue(notification("hook"), now);
    while dispatcher.pending() > 0 {
        dispatcher.run_due(now, &mut events);
        now = dispatcher.next_due_us().unwrap_or(now);
    }
    let events = events.take();
    assert_eq!(events.len(), 3, "{events:?}");
    assert!(matches!(&events[0], Event::Failed(failure) if failure.errors[0].1.retryable));
    assert!(matches!(&events[2], Event::GaveUp(failure) if failure.attempt == 3));
    assert_eq!(metrics.values("hook").given_up, 1);
}

#[test]
fn no_retry_is_scheduled_past_the_maximum_age() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = listener.local_addr().expect("an address").port();
    drop(listener);
    let (receivers, metrics) = webhook(format!("http://127.0.0.1:{port}/hook"));
    let mut dispatcher = Dispatcher::new(receivers, RetryPolicy::default(), metrics);
    let mut events = Recorded::default();
    let created = notification("hook").created_at;
    // Found in the outbox two hours after it was made (the server was down).
    let now = created + 2 * 3600 * 1_000_000;
    dispatcher.enqueue(notification("hook"), now);
    dispatcher.run_due(now, &mut events);
    let events = events.take();
    assert!(
        matches!(events.as_slice(), [Event::GaveUp(failure)] if failure.attempt == 1),
        "one attempt, then given up: {events:?}"
    );
}

#[test]
fn a_spawned_dispatcher_retries_on_the_system_clock() {
    let Some(base) = recorder("a_spawned_dispatcher_retries_on_the_system_clock") else {
        return;
    };
    let prefix = format!("/fail-2/{}", unique_prefix("spawned"));
    let (receivers, metrics) = webhook(format!("{base}{prefix}"));
    let policy = RetryPolicy {
        first_backoff: Duration::from_millis(20),
        ..RetryPolicy::default()
    };
    let (sender, outcomes) = mpsc::channel();

    struct Forward(mpsc::Sender<String>);
    impl DeliveryEvents for Forward {
        fn delivered(&mut self, notification: &Notification, attempts: u32, _now_us: i64) {
            let _ = self
                .0
                .send(format!("delivered {} after {attempts}", notification.id));
        }
        fn attempt_failed(&mut self, _notification: &Notification, failure: &AttemptFailure) {
            let _ = self.0.send(format!("failed attempt {}", failure.attempt));
        }
        fn gave_up(&mut self, _notification: &Notification, failure: &AttemptFailure) {
            let _ = self.0.send(format!("gave up: {}", failure.describe()));
        }
    }

    let handle = Dispatcher::new(receivers, policy, metrics)
        .spawn(Box::new(Forward(sender)), Box::new(SystemClock));
    let mut fresh = notification("hook");
    // Made now: older than `max_age`, it would get one attempt only.
    fresh.created_at = sightline_notify::Clock::now_us(&SystemClock);
    assert!(handle.send(fresh));
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(
            outcomes
                .recv_timeout(Duration::from_secs(30))
                .expect("the dispatcher reports each attempt"),
        );
    }
    assert_eq!(
        seen,
        [
            "failed attempt 1",
            "failed attempt 2",
            "delivered 42 after 3"
        ]
    );
    handle.shutdown();
}

#[test]
fn a_hung_receiver_does_not_hold_back_another() {
    let Some(base) = recorder("a_hung_receiver_does_not_hold_back_another") else {
        return;
    };
    // A receiver that takes the connection and never answers (as a Slack outage can).
    let hung = std::net::TcpListener::bind("127.0.0.1:0").expect("a local port");
    let hung_url = format!("http://{}/hook", hung.local_addr().expect("bound"));
    let prefix = format!("/{}", unique_prefix("per-receiver"));
    let receivers = Receivers::from_config(&[
        ReceiverConfig {
            name: "hung".to_owned(),
            kind: Some(ReceiverKind::Webhook),
            url: Some(Secret::new(hung_url)),
            ..ReceiverConfig::default()
        },
        ReceiverConfig {
            name: "pager".to_owned(),
            kind: Some(ReceiverKind::Webhook),
            url: Some(Secret::new(format!("{base}{prefix}"))),
            ..ReceiverConfig::default()
        },
    ])
    .expect("valid receivers");
    let metrics = Arc::new(NotifyMetrics::new(receivers.names()));
    let (sender, outcomes) = mpsc::channel::<String>();

    struct Forward(mpsc::Sender<String>);
    impl DeliveryEvents for Forward {
        fn delivered(&mut self, notification: &Notification, _attempts: u32, _now_us: i64) {
            let _ = self
                .0
                .send(format!("delivered to {}", notification.receiver));
        }
        fn attempt_failed(&mut self, notification: &Notification, _failure: &AttemptFailure) {
            let _ = self.0.send(format!("failed at {}", notification.receiver));
        }
        fn gave_up(&mut self, notification: &Notification, _failure: &AttemptFailure) {
            let _ = self.0.send(format!("gave up on {}", notification.receiver));
        }
    }

    let dispatchers = ReceiverDispatchers::spawn(
        Arc::new(receivers),
        RetryPolicy::default(),
        metrics,
        &|| Box::new(Forward(sender.clone())),
        &|| Box::new(SystemClock),
    );
    let now_us = sightline_notify::Clock::now_us(&SystemClock);
    let mut to_hung = notification("hung");
    to_hung.id = 1;
    to_hung.created_at = now_us;
    let mut to_pager = notification("pager");
    to_pager.id = 2;
    to_pager.created_at = now_us;
    // The hung receiver's request is under way (accepted, unanswered) before the page is
    // queued: one shared dispatcher would now wait out its 15 s timeout.
    assert!(dispatchers.send(to_hung));
    let (held, _) = hung.accept().expect("the hung receiver is called");
    assert!(dispatchers.send(to_pager));
    let first = outcomes
        .recv_timeout(Duration::from_secs(10))
        .expect("the page is delivered while the other receiver hangs");
    assert_eq!(first, "delivered to pager");
    assert_eq!(recorded(&base, &prefix).len(), 1);
    // Let the hung request fail (connection closed), so shutdown need not wait it out.
    drop(held);
    drop(hung);
    let second = outcomes
        .recv_timeout(Duration::from_secs(30))
        .expect("the hung receiver's attempt ends once its connection closes");
    assert_eq!(second, "failed at hung");
    dispatchers.shutdown();
}
