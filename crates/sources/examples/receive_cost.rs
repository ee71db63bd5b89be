//! Measures the CPU cost of one orders/create delivery through the receiver (signature
//! check, parse, translate) and of its parts: `cargo run --release -p sightline-sources
//! --example receive_cost`.

use std::time::Instant;

use sightline_sources::shopify::{DeliveryHeaders, Shop, ShopifyReceiver, Shops};

fn main() {
    let body = include_bytes!("../tests/fixtures/orders_create.json");
    let dir = std::env::temp_dir().join(format!("receive-cost-{}", std::process::id()));
    let receiver = ShopifyReceiver::open(
        Shops::from_shops(vec![Shop::with_secret("acme.myshopify.com", b"secret")]),
        &dir,
    )
    .expect("state opens");
    let signer = Shop::with_secret("acme.myshopify.com", b"secret");
    let signature = signer.keys[0].sign(body);
    let headers = DeliveryHeaders {
        shop_domain: Some("acme.myshopify.com"),
        hmac: Some(signature.as_bytes()),
        topic: Some("orders/create"),
        event_id: Some("e-1"),
        ..DeliveryHeaders::default()
    };
    let rounds = 100_000;
    let started = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(signer.keys[0].sign(std::hint::black_box(body)));
    }
    let sign = started.elapsed() / rounds;
    let started = Instant::now();
    for _ in 0..rounds {
        let accepted = receiver.receive(&headers, body, 0).expect("accepted");
        std::hint::black_box(accepted);
    }
    let receive = started.elapsed() / rounds;
    println!(
        "{} byte order: HMAC-SHA256 {sign:?}, whole receive (verify + parse + translate) {receive:?}",
        body.len()
    );
    let _ = std::fs::remove_dir_all(dir);
}
