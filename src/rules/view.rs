//! The inventory as CEL sees it, built directly as interpreter values that borrow the inventory's
//! strings.
//!
//! The straightforward route, `cel::to_value` then binding the value, copies every service twice
//! (into `cel::Value`, then into the interpreter's own values) and was a third of evaluation time
//! on 100,000 services. The shape here is exactly what `cel::to_value` gives for the same structs
//! (field names as serde writes them, `Option::None` as `null`, `usize` as `uint`); a test keeps
//! the two equal, so a field added to the inventory cannot silently go missing from the rules.

use crate::inventory::{
    CustomDomain, EnvVar, Key, Network, Observability, Rotation, SecretRef, Service, Source,
    ValidationRecord,
};
use cel::common::types::{
    CelBool, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, CelUInt,
};
use cel::common::value::Val;
use std::collections::HashMap;

/// A value of the interpreter that borrows for `'v`.
pub type View<'v> = Box<dyn Val + 'v>;

fn null<'v>() -> View<'v> {
    Box::new(CelNull)
}

fn text(value: &str) -> View<'_> {
    Box::new(CelString::from(value))
}

fn opt_text(value: &Option<String>) -> View<'_> {
    value.as_deref().map_or_else(null, text)
}

fn boolean<'v>(value: bool) -> View<'v> {
    Box::new(CelBool::from(value))
}

fn opt_bool<'v>(value: Option<bool>) -> View<'v> {
    value.map_or_else(null, boolean)
}

fn opt_int<'v>(value: Option<i64>) -> View<'v> {
    value.map_or_else(null, |v| Box::new(CelInt::from(v)) as View<'v>)
}

fn uint<'v>(value: usize) -> View<'v> {
    Box::new(CelUInt::from(value as u64))
}

fn map<'v, const N: usize>(fields: [(&'static str, View<'v>); N]) -> View<'v> {
    let map: HashMap<CelMapKey<'v>, View<'v>> = fields
        .into_iter()
        .map(|(name, value)| (CelMapKey::from(name), value))
        .collect();
    Box::new(CelMap::from(map))
}

fn list<'v, T>(items: &'v [T], each: impl Fn(&'v T) -> View<'v>) -> View<'v> {
    Box::new(CelList::from(items.iter().map(each).collect::<Vec<_>>()))
}

fn texts(items: &[String]) -> View<'_> {
    list(items, |s| text(s))
}

/// `service` in rule expressions.
pub fn service(s: &Service) -> View<'_> {
    map([
        ("arn", text(&s.arn)),
        ("name", text(&s.name)),
        ("id", text(&s.id)),
        ("account_id", text(&s.account_id)),
        ("region", text(&s.region)),
        ("status", text(&s.status)),
        ("url", opt_text(&s.url)),
        ("kms_key_arn", opt_text(&s.kms_key_arn)),
        ("source", source(&s.source)),
        (
            "environment",
            s.environment
                .as_deref()
                .map_or_else(null, |vars| list(vars, env_var)),
        ),
        ("secrets", list(&s.secrets, secret)),
        (
            "custom_domains",
            s.custom_domains
                .as_deref()
                .map_or_else(null, |domains| list(domains, domain)),
        ),
        ("network", network(&s.network)),
        ("observability", observability(&s.observability)),
    ])
}

fn source(s: &Source) -> View<'_> {
    map([
        ("kind", text(&s.kind)),
        ("repository_url", opt_text(&s.repository_url)),
        ("configuration_source", opt_text(&s.configuration_source)),
        ("image_identifier", opt_text(&s.image_identifier)),
        ("image_repository_type", opt_text(&s.image_repository_type)),
        (
            "auto_deployments_enabled",
            opt_bool(s.auto_deployments_enabled),
        ),
    ])
}

fn env_var(v: &EnvVar) -> View<'_> {
    map([
        ("name", text(&v.name)),
        ("value_length", uint(v.value_length)),
        ("value_sha256_prefix", text(&v.value_sha256_prefix)),
        ("is_arn", boolean(v.is_arn)),
        ("credential_patterns", texts(&v.credential_patterns)),
        ("http_hosts", texts(&v.http_hosts)),
    ])
}

fn secret(s: &SecretRef) -> View<'_> {
    map([("name", text(&s.name)), ("value_from", text(&s.value_from))])
}

fn domain(d: &CustomDomain) -> View<'_> {
    map([
        ("domain_name", text(&d.domain_name)),
        ("status", text(&d.status)),
        ("enable_www_subdomain", opt_bool(d.enable_www_subdomain)),
        (
            "certificate_validation_records",
            list(&d.certificate_validation_records, record),
        ),
    ])
}

fn record(r: &ValidationRecord) -> View<'_> {
    map([("name", text(&r.name)), ("status", text(&r.status))])
}

fn network(n: &Network) -> View<'_> {
    map([
        ("is_publicly_accessible", opt_bool(n.is_publicly_accessible)),
        ("egress_type", opt_text(&n.egress_type)),
        ("vpc_connector_arn", opt_text(&n.vpc_connector_arn)),
        ("ip_address_type", opt_text(&n.ip_address_type)),
    ])
}

fn observability(o: &Observability) -> View<'_> {
    map([
        ("enabled", boolean(o.enabled)),
        ("configuration_arn", opt_text(&o.configuration_arn)),
    ])
}

/// `key` in rule expressions: the service's key, or `null`.
pub fn key(k: Option<&Key>) -> View<'_> {
    let Some(k) = k else { return null() };
    map([
        ("arn", text(&k.arn)),
        ("account_id", text(&k.account_id)),
        ("region", text(&k.region)),
        ("exists", boolean(k.exists)),
        ("state", opt_text(&k.state)),
        ("manager", opt_text(&k.manager)),
        ("origin", opt_text(&k.origin)),
        ("spec", opt_text(&k.spec)),
        ("usage", opt_text(&k.usage)),
        ("custom_key_store_id", opt_text(&k.custom_key_store_id)),
        ("multi_region", opt_bool(k.multi_region)),
        ("deletion_date", opt_text(&k.deletion_date)),
        ("valid_to", opt_text(&k.valid_to)),
        ("rotation", rotation(&k.rotation)),
    ])
}

fn rotation(r: &Rotation) -> View<'_> {
    map([
        ("status", text(&r.status)),
        ("period_days", opt_int(r.period_days)),
        ("next_rotation_date", opt_text(&r.next_rotation_date)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Inventory;
    use cel::Value;

    /// The view of every demo service and key equals what `cel::to_value` makes of it.
    #[test]
    fn view_matches_the_serde_shape() {
        let text = include_str!("../../fixtures/demo-inventory.json");
        let inv = Inventory::from_json(text, "demo").unwrap();
        assert!(inv.services.len() > 5);
        for s in &inv.services {
            let fast = Value::try_from(&*service(s)).unwrap();
            assert_eq!(fast, cel::to_value(s).unwrap(), "{}", s.name);
            let k = inv.key_of(s);
            let fast = Value::try_from(&*key(k)).unwrap();
            assert_eq!(fast, cel::to_value(k).unwrap(), "key of {}", s.name);
        }
    }
}
