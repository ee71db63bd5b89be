//! The parts of Shopify's REST webhook payloads that translation reads. Everything is
//! optional here (Shopify sends `null` for absent customers, addresses, SKUs …); what is
//! required is decided in `translate.rs`, which names the missing field.
//!
//! Money fields are kept as raw JSON text (`"19.99"`, or a number such as `199.0` in some
//! refund payloads) and parsed exactly, never through a float.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::TranslateError;

/// Parses a payload; a type error names the field's path (`line_items[0].quantity`).
/// The path is tracked only when the fast parse failed: valid payloads pay nothing for it.
pub fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, TranslateError> {
    if let Ok(parsed) = serde_json::from_slice(body) {
        return Ok(parsed);
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let parsed = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if path == "." || inner.is_syntax() || inner.is_eof() {
            return TranslateError::NotJson {
                message: inner.to_string(),
            };
        }
        TranslateError::invalid(path, strip_position(&inner.to_string()))
    })?;
    deserializer
        .end()
        .map_err(|error| TranslateError::NotJson {
            message: error.to_string(),
        })?;
    Ok(parsed)
}

/// serde_json appends " at line 1 column 812"; the field path already says where.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(cut) => message[..cut].to_owned(),
        None => message.to_owned(),
    }
}

/// A Shopify id: a JSON number (`820982911946154508`) or string (cart tokens, gids).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShopifyId(pub String);

impl<'de> Deserialize<'de> for ShopifyId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<ShopifyId, D::Error> {
        struct IdVisitor;
        impl serde::de::Visitor<'_> for IdVisitor {
            type Value = ShopifyId;
            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("an id (integer or non-empty string)")
            }
            fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<ShopifyId, E> {
                Ok(ShopifyId(value.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<ShopifyId, E> {
                Ok(ShopifyId(value.to_string()))
            }
            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<ShopifyId, E> {
                if value.trim().is_empty() {
                    return Err(E::custom("expected a non-empty id, got \"\""));
                }
                Ok(ShopifyId(value.to_owned()))
            }
        }
        deserializer.deserialize_any(IdVisitor)
    }
}

pub type Money = Option<Box<RawValue>>;

#[derive(Debug, Deserialize)]
pub struct Order {
    pub id: Option<ShopifyId>,
    pub name: Option<String>,
    pub test: Option<bool>,
    pub currency: Option<String>,
    pub total_price: Money,
    pub processed_at: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub cancelled_at: Option<String>,
    pub cancel_reason: Option<String>,
    pub financial_status: Option<String>,
    pub customer: Option<Customer>,
    pub shipping_address: Option<Address>,
    pub billing_address: Option<Address>,
    pub source_name: Option<String>,
    pub cart_token: Option<String>,
    pub checkout_token: Option<String>,
    pub gateway: Option<String>,
    pub payment_gateway_names: Option<Vec<Option<String>>>,
    pub line_items: Option<Vec<LineItem>>,
    pub refunds: Option<Vec<Refund>>,
    pub fulfillments: Option<Vec<Fulfillment>>,
}

#[derive(Debug, Deserialize)]
pub struct Customer {
    pub id: Option<ShopifyId>,
    pub orders_count: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub struct Address {
    pub country_code: Option<String>,
    pub province_code: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct LineItem {
    pub id: Option<ShopifyId>,
    pub variant_id: Option<ShopifyId>,
    pub sku: Option<String>,
    pub title: Option<String>,
    pub name: Option<String>,
    pub quantity: Option<i64>,
    pub price: Money,
}

#[derive(Debug, Deserialize)]
pub struct Refund {
    pub id: Option<ShopifyId>,
    pub order_id: Option<ShopifyId>,
    pub created_at: Option<String>,
    pub processed_at: Option<String>,
    pub transactions: Option<Vec<Transaction>>,
    pub refund_line_items: Option<Vec<RefundLineItem>>,
}

#[derive(Debug, Deserialize)]
pub struct Transaction {
    pub kind: Option<String>,
    pub status: Option<String>,
    pub amount: Money,
    pub currency: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct RefundLineItem {
    pub subtotal_set: Option<MoneySet>,
    pub total_tax_set: Option<MoneySet>,
}

#[derive(Debug, Deserialize)]
pub struct MoneySet {
    pub shop_money: Option<MoneyAmount>,
}

#[derive(Debug, Deserialize)]
pub struct MoneyAmount {
    pub amount: Money,
    pub currency_code: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Fulfillment {
    pub id: Option<ShopifyId>,
    pub order_id: Option<ShopifyId>,
    pub status: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Checkout {
    pub token: Option<String>,
    pub cart_token: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Cart {
    pub id: Option<ShopifyId>,
    pub token: Option<String>,
    pub line_items: Option<Vec<LineItem>>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct InventoryLevel {
    pub inventory_item_id: Option<ShopifyId>,
    pub location_id: Option<ShopifyId>,
    pub available: Option<i64>,
    pub updated_at: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Product {
    pub id: Option<ShopifyId>,
    pub variants: Option<Vec<Variant>>,
}

#[derive(Debug, Deserialize)]
pub struct Variant {
    pub id: Option<ShopifyId>,
    pub sku: Option<String>,
    pub inventory_item_id: Option<ShopifyId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_errors_name_the_path_and_money_stays_text() {
        let error = parse::<Order>(br#"{"id":1,"line_items":[{"quantity":"two"}]}"#)
            .expect_err("a string quantity");
        assert_eq!(
            error.to_string(),
            "line_items[0].quantity: invalid type: string \"two\", expected i64"
        );
        let order: Order =
            parse(br#"{"id":"7","total_price":199.10,"customer":null}"#).expect("valid");
        assert_eq!(order.total_price.expect("present").get(), "199.10");
        assert!(order.customer.is_none());
        assert!(matches!(
            parse::<Order>(b"{\"id\":"),
            Err(TranslateError::NotJson { .. })
        ));
        assert!(matches!(
            parse::<Order>(b"[1]"),
            Err(TranslateError::NotJson { .. })
        ));
    }
}
