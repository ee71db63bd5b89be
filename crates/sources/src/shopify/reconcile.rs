//! Reconciliation: orders read back from the Admin API, for the webhooks an outage lost.
//!
//! Shopify retries a webhook 8 times over 4 hours; a longer outage loses deliveries.
//! `sightline shopify reconcile --since T` reads every order updated since `T`
//! (`GET {admin_url}/admin/api/{version}/orders.json?status=any&updated_at_min=T&limit=250`,
//! following the `Link: <…>; rel="next"` header's `page_info` pages, with the shop's
//! `X-Shopify-Access-Token`) and turns each into the events its webhooks would have
//! produced — with the same identities (see `translate.rs`), so the events that did
//! arrive are duplicates and only the missing ones are stored.

use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::Shop;
use super::event::OutEvent;
use super::payload::{self, Order};
use super::translate::reconciled_order;
use crate::error::{SourceError, TranslateError};

/// Largest Admin API answer read (250 orders are a few MiB at most).
const MAX_PAGE_BYTES: u64 = 64 << 20;
/// Answers of 429 (rate limit) or 5xx are retried this many times.
const RETRIES: u32 = 5;

/// The first page's URL. `since` is RFC 3339; `+` in an offset is percent-encoded.
pub fn orders_url(shop: &Shop, api_version: &str, since: &str) -> String {
    format!(
        "{}/admin/api/{api_version}/orders.json?status=any&updated_at_min={}&limit=250",
        shop.admin_url,
        since.replace('+', "%2B")
    )
}

/// The `rel="next"` URL of a `Link` header, if there is one.
pub fn next_page_url(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|param| param.trim().replace(' ', "") == "rel=\"next\"");
        if !is_next {
            return None;
        }
        let target = target.trim();
        Some(target.strip_prefix('<')?.strip_suffix('>')?.to_owned())
    })
}

/// One page of orders, translated: the events, how many orders it held, and the orders
/// that could not be translated (reported, not fatal: one odd order must not stop the
/// others from being reconciled).
#[derive(Debug, Default)]
pub struct Page {
    pub orders: usize,
    pub events: Vec<OutEvent>,
    pub skipped: Vec<(String, TranslateError)>,
}

/// Translates an answer of the orders endpoint (`{"orders": [...]}`).
pub fn translate_page(shop: &Shop, body: &[u8], url: &str) -> Result<Page, SourceError> {
    #[derive(Deserialize)]
    struct Orders<'a> {
        #[serde(borrow)]
        orders: Vec<&'a RawValue>,
    }
    let parsed: Orders<'_> =
        serde_json::from_slice(body).map_err(|error| SourceError::AdminApiShape {
            url: url.to_owned(),
            message: error.to_string(),
        })?;
    let mut page = Page {
        orders: parsed.orders.len(),
        ..Page::default()
    };
    for (index, raw) in parsed.orders.iter().enumerate() {
        let translated = payload::parse::<Order>(raw.get().as_bytes())
            .and_then(|order| reconciled_order(shop, &order).map(|events| (order, events)));
        match translated {
            Ok((_, events)) => page.events.extend(events),
            Err(error) => page.skipped.push((format!("orders[{index}]"), error)),
        }
    }
    Ok(page)
}

/// A blocking HTTP client for the Admin API and for posting to Sightline.
pub struct Client {
    agent: ureq::Agent,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Client")
    }
}

impl Default for Client {
    fn default() -> Self {
        Client::new()
    }
}

/// What Sightline answered to a batch of events.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PostOutcome {
    pub accepted: u64,
    pub duplicates: u64,
    pub rejected: u64,
}

impl Client {
    pub fn new() -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Client { agent }
    }

    /// Reads every page of orders updated since `since`, handing each translated page
    /// to `each_page` as it arrives. Returns the number of pages.
    pub fn reconcile_orders(
        &self,
        shop: &Shop,
        api_version: &str,
        since: &str,
        each_page: &mut dyn FnMut(Page) -> Result<(), SourceError>,
    ) -> Result<usize, SourceError> {
        let token = shop.access_token()?;
        let mut url = Some(orders_url(shop, api_version, since));
        let mut pages = 0;
        while let Some(current) = url.take() {
            let (body, link) = self.get_page(&current, &token)?;
            pages += 1;
            url = link.as_deref().and_then(next_page_url);
            each_page(translate_page(shop, &body, &current)?)?;
        }
        Ok(pages)
    }

    fn get_page(&self, url: &str, token: &str) -> Result<(Vec<u8>, Option<String>), SourceError> {
        let failed = |message: String| SourceError::AdminApi {
            url: url.to_owned(),
            message,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut response = self
                .agent
                .get(url)
                .header("X-Shopify-Access-Token", token)
                .header("Accept", "application/json")
                .call()
                .map_err(|error| failed(error.to_string()))?;
            let status = response.status().as_u16();
            if (status == 429 || status >= 500) && attempt <= RETRIES {
                // Shopify says how long to wait (seconds, possibly fractional).
                let wait = response
                    .headers()
                    .get("retry-after")
                    .and_then(|value| value.to_str().ok()?.trim().parse::<f64>().ok())
                    .unwrap_or(2.0)
                    .clamp(0.0, 60.0);
                tracing::info!(url, status, wait, "Admin API asks to wait; retrying");
                std::thread::sleep(Duration::from_secs_f64(wait));
                continue;
            }
            let link = response
                .headers()
                .get("link")
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned);
            let body = response
                .body_mut()
                .with_config()
                .limit(MAX_PAGE_BYTES)
                .read_to_vec()
                .map_err(|error| failed(error.to_string()))?;
            if !(200..300).contains(&status) {
                let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
                let advice = match status {
                    401 | 403 => {
                        "; check the shop's access token and that the app has the read_orders scope"
                    }
                    404 => "; check admin_url and api_version",
                    _ => "",
                };
                return Err(failed(format!("answered {status}: {text}{advice}")));
            }
            return Ok((body, link));
        }
    }

    /// Posts events to a Sightline server's `POST /v1/events` (batch mode).
    pub fn post_events(
        &self,
        base_url: &str,
        events: &[OutEvent],
    ) -> Result<PostOutcome, SourceError> {
        if events.is_empty() {
            return Ok(PostOutcome::default());
        }
        let url = format!("{}/v1/events", base_url.trim_end_matches('/'));
        let mut body = Vec::with_capacity(
            events
                .iter()
                .map(|event| event.json.len() + 1)
                .sum::<usize>()
                + 2,
        );
        body.push(b'[');
        for (index, event) in events.iter().enumerate() {
            if index > 0 {
                body.push(b',');
            }
            body.extend_from_slice(&event.json);
        }
        body.push(b']');
        let failed = |message: String| SourceError::AdminApi {
            url: url.clone(),
            message,
        };
        let mut response = self
            .agent
            .post(&url)
            .header("Content-Type", "application/cloudevents-batch+json")
            .send(&body[..])
            .map_err(|error| failed(format!("{error}; is `sightline serve` running there?")))?;
        let status = response.status().as_u16();
        let answer = response
            .body_mut()
            .read_to_vec()
            .map_err(|error| failed(error.to_string()))?;
        #[derive(Deserialize)]
        struct Answer {
            accepted: u64,
            duplicates: u64,
            rejected: Vec<serde_json::Value>,
            rejected_total: Option<u64>,
        }
        let parsed: Answer = serde_json::from_slice(&answer).map_err(|_| {
            failed(format!(
                "answered {status}: {}",
                String::from_utf8_lossy(&answer[..answer.len().min(300)])
            ))
        })?;
        for rejected in parsed.rejected.iter().take(10) {
            tracing::warn!(%rejected, "an event was rejected");
        }
        Ok(PostOutcome {
            accepted: parsed.accepted,
            duplicates: parsed.duplicates,
            rejected: parsed
                .rejected_total
                .unwrap_or(parsed.rejected.len() as u64),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_link_is_found_among_others() {
        let link = r#"<https://a.myshopify.com/admin/api/2024-10/orders.json?limit=250&page_info=prev1>; rel="previous", <https://a.myshopify.com/admin/api/2024-10/orders.json?limit=250&page_info=next2>; rel="next""#;
        assert_eq!(
            next_page_url(link).as_deref(),
            Some("https://a.myshopify.com/admin/api/2024-10/orders.json?limit=250&page_info=next2")
        );
        let last = r#"<https://a.myshopify.com/admin/api/2024-10/orders.json?limit=250&page_info=prev1>; rel="previous""#;
        assert_eq!(next_page_url(last), None);
        assert_eq!(next_page_url(""), None);
    }

    #[test]
    fn the_first_url_encodes_the_offset() {
        let mut shop = Shop::with_secret("a.myshopify.com", b"s");
        shop.admin_url = "http://127.0.0.1:9".into();
        assert_eq!(
            orders_url(&shop, "2024-10", "2026-11-27T00:00:00+01:00"),
            "http://127.0.0.1:9/admin/api/2024-10/orders.json?status=any&updated_at_min=2026-11-27T00:00:00%2B01:00&limit=250"
        );
    }
}
