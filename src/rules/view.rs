//! The inventory as CEL sees it: each struct a map whose fields are made only when a rule reads
//! them, borrowing the inventory's strings.
//!
//! Building every service as interpreter maps up front (a hash map per struct, a box per field)
//! and copying each environment variable's map into a comprehension's `item` was a third of
//! evaluation on 100,000 services. A [`Node`] is a reference: binding it or copying it into
//! `item` copies a pointer, and `service.name` is a `match` on the field name.
//!
//! To rules a node is an ordinary map, of exactly the shape `cel::to_value` gives the same struct
//! (field names as serde writes them, `Option::None` as `null`, `usize` as `uint`): `.f`, `[k]`,
//! `has()`, `in`, `size()`, the comprehensions over its keys and `==` all behave as on a map, and
//! [`to_value`] turns one into a plain value. A test keeps the shapes equal, so a field added to
//! the inventory cannot silently go missing from the rules. One difference remains: the
//! interpreter asks the left operand of `==`, and its own maps know nothing of nodes, so a map
//! literal compared with a whole struct must come second (`service.network == {...}`), and
//! `service.network in [{...}]` (which compares each element with the node) is false; the same
//! holds for `settings`. No rule compares whole structs.

use crate::inventory::{
    CustomDomain, EnvVar, Key, Network, Observability, Rotation, SecretRef, Service, Source,
    ValidationRecord,
};
use cel::common::traits::{self, Container, Indexer, Iterable, Sizer};
use cel::common::types::CelNull;
use cel::common::types::{CelBool, CelInt, CelList, CelString, CelUInt, Kind, MAP_TYPE, Type};
use cel::common::value::{CowVal, Val};
use cel::{ExecutionError, Value};
use std::sync::{Arc, LazyLock};

/// A value of the interpreter that borrows for `'v`.
pub type View<'v> = Box<dyn Val + 'v>;

/// One struct of the inventory, seen as a map.
#[derive(Debug, Clone, Copy)]
pub enum Node<'v> {
    Service(&'v Service),
    Source(&'v Source),
    EnvVar(&'v EnvVar),
    Secret(&'v SecretRef),
    Domain(&'v CustomDomain),
    Record(&'v ValidationRecord),
    Network(&'v Network),
    Observability(&'v Observability),
    Key(&'v Key),
    Rotation(&'v Rotation),
}

/// `service` in rule expressions.
pub fn service(s: &Service) -> View<'_> {
    Box::new(Node::Service(s))
}

/// `key` in rule expressions: the service's key, or `null`.
pub fn key(k: Option<&Key>) -> View<'_> {
    k.map_or_else(null, |k| Box::new(Node::Key(k)) as View<'_>)
}

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

fn list<'v, T>(items: &'v [T], each: impl Fn(&'v T) -> View<'v>) -> View<'v> {
    Box::new(CelList::from(items.iter().map(each).collect::<Vec<_>>()))
}

fn texts(items: &[String]) -> View<'_> {
    list(items, |s| text(s))
}

fn nodes<'v, T>(items: &'v [T], node: fn(&'v T) -> Node<'v>) -> View<'v> {
    list(items, |item| Box::new(node(item)) as View<'v>)
}

/// In [`Node::fields`]: the field names of one kind of node, and the field `$name` if it is one.
macro_rules! fields {
    ($name:expr, { $($field:literal => $value:expr),* $(,)? }) => {{
        static NAMES: LazyLock<Vec<CelString<'static>>> =
            LazyLock::new(|| vec![$(CelString::from($field)),*]);
        let value: Option<View<'v>> = match $name {
            $($field => Some($value),)*
            _ => None,
        };
        (NAMES.as_slice(), value)
    }};
}

impl<'v> Node<'v> {
    fn names(&self) -> &'static [CelString<'static>] {
        self.fields("").0
    }

    fn field(&self, name: &str) -> Option<View<'v>> {
        self.fields(name).1
    }

    /// The field names of the node, in the order serde writes them, and the field `name`, made
    /// now (`None` when there is no such field). One list per kind of node, so the names and the
    /// fields cannot drift apart.
    fn fields(&self, name: &str) -> (&'static [CelString<'static>], Option<View<'v>>) {
        match *self {
            Node::Service(s) => fields!(name, {
                "arn" => text(&s.arn),
                "name" => text(&s.name),
                "id" => text(&s.id),
                "account_id" => text(&s.account_id),
                "region" => text(&s.region),
                "status" => text(&s.status),
                "url" => opt_text(&s.url),
                "kms_key_arn" => opt_text(&s.kms_key_arn),
                "source" => Box::new(Node::Source(&s.source)),
                "environment" => s
                    .environment
                    .as_deref()
                    .map_or_else(null, |vars| nodes(vars, Node::EnvVar)),
                "secrets" => nodes(&s.secrets, Node::Secret),
                "custom_domains" => s
                    .custom_domains
                    .as_deref()
                    .map_or_else(null, |domains| nodes(domains, Node::Domain)),
                "network" => Box::new(Node::Network(&s.network)),
                "observability" => Box::new(Node::Observability(&s.observability)),
            }),
            Node::Source(s) => fields!(name, {
                "kind" => text(&s.kind),
                "repository_url" => opt_text(&s.repository_url),
                "configuration_source" => opt_text(&s.configuration_source),
                "image_identifier" => opt_text(&s.image_identifier),
                "image_repository_type" => opt_text(&s.image_repository_type),
                "auto_deployments_enabled" => opt_bool(s.auto_deployments_enabled),
            }),
            Node::EnvVar(v) => fields!(name, {
                "name" => text(&v.name),
                "value_length" => uint(v.value_length),
                "value_sha256_prefix" => text(&v.value_sha256_prefix),
                "is_arn" => boolean(v.is_arn),
                "credential_patterns" => texts(&v.credential_patterns),
                "http_hosts" => texts(&v.http_hosts),
            }),
            Node::Secret(s) => fields!(name, {
                "name" => text(&s.name),
                "value_from" => text(&s.value_from),
            }),
            Node::Domain(d) => fields!(name, {
                "domain_name" => text(&d.domain_name),
                "status" => text(&d.status),
                "enable_www_subdomain" => opt_bool(d.enable_www_subdomain),
                "certificate_validation_records" => {
                    nodes(&d.certificate_validation_records, Node::Record)
                }
            }),
            Node::Record(r) => fields!(name, {
                "name" => text(&r.name),
                "status" => text(&r.status),
            }),
            Node::Network(n) => fields!(name, {
                "is_publicly_accessible" => opt_bool(n.is_publicly_accessible),
                "egress_type" => opt_text(&n.egress_type),
                "vpc_connector_arn" => opt_text(&n.vpc_connector_arn),
                "ip_address_type" => opt_text(&n.ip_address_type),
            }),
            Node::Observability(o) => fields!(name, {
                "enabled" => boolean(o.enabled),
                "configuration_arn" => opt_text(&o.configuration_arn),
            }),
            Node::Key(k) => fields!(name, {
                "arn" => text(&k.arn),
                "account_id" => text(&k.account_id),
                "region" => text(&k.region),
                "exists" => boolean(k.exists),
                "state" => opt_text(&k.state),
                "manager" => opt_text(&k.manager),
                "origin" => opt_text(&k.origin),
                "spec" => opt_text(&k.spec),
                "usage" => opt_text(&k.usage),
                "custom_key_store_id" => opt_text(&k.custom_key_store_id),
                "multi_region" => opt_bool(k.multi_region),
                "deletion_date" => opt_text(&k.deletion_date),
                "valid_to" => opt_text(&k.valid_to),
                "rotation" => Box::new(Node::Rotation(&k.rotation)),
            }),
            Node::Rotation(r) => fields!(name, {
                "status" => text(&r.status),
                "period_days" => opt_int(r.period_days),
                "next_rotation_date" => opt_text(&r.next_rotation_date),
            }),
        }
    }

    fn field_at(&self, idx: &dyn Val) -> Result<View<'v>, ExecutionError> {
        let Some(name) = idx.downcast_ref::<CelString>() else {
            return Err(ExecutionError::UnexpectedType {
                got: idx.get_type().name().to_owned(),
                want: "string".to_owned(),
            });
        };
        self.field(name.inner())
            .ok_or_else(|| ExecutionError::NoSuchKey(Arc::new(name.inner().to_owned())))
    }
}

impl<'v> Val for Node<'v> {
    fn get_type(&self) -> &Type {
        &MAP_TYPE
    }

    fn cel_type() -> &'static Type {
        &MAP_TYPE
    }

    fn as_container(&self) -> Option<&dyn Container> {
        Some(self)
    }

    fn as_indexer<'b, 'w>(&'b self) -> Option<&'b (dyn Indexer + 'w)>
    where
        Self: 'w,
    {
        Some(self)
    }

    fn as_iterable<'b, 'w>(&'b self) -> Option<&'b (dyn Iterable + 'w)>
    where
        Self: 'w,
    {
        Some(self)
    }

    fn as_sizer(&self) -> Option<&dyn Sizer> {
        Some(self)
    }

    /// Equal to a map (built-in or node) with the same keys and equal values.
    fn equals(&self, other: &dyn Val) -> bool {
        if other.get_type().kind() != Kind::Map {
            return false;
        }
        let (Some(size), Some(indexer)) = (other.as_sizer(), other.as_indexer()) else {
            return false;
        };
        *size.size().inner() == self.names().len() as i64
            && self
                .names()
                .iter()
                .all(|name| match (self.field(name.inner()), indexer.get(name)) {
                    (Some(mine), Ok(theirs)) => mine.equals(theirs.as_ref()),
                    _ => false,
                })
    }

    fn clone_as_boxed<'w>(&self) -> Box<dyn Val + 'w>
    where
        Self: 'w,
    {
        Box::new(*self)
    }
}

impl<'v> Indexer for Node<'v> {
    fn get<'b, 'w>(&'b self, idx: &dyn Val) -> Result<CowVal<'b, 'w>, ExecutionError>
    where
        Self: 'w,
    {
        self.field_at(idx).map(CowVal::Owned)
    }

    fn steal<'w>(self: Box<Self>, idx: &dyn Val) -> Result<Box<dyn Val + 'w>, ExecutionError>
    where
        Self: 'w,
    {
        self.field_at(idx)
    }
}

impl Container for Node<'_> {
    fn contains(&self, value: &dyn Val) -> Result<bool, ExecutionError> {
        Ok(value
            .downcast_ref::<CelString>()
            .is_some_and(|name| self.names().iter().any(|n| n.inner() == name.inner())))
    }
}

impl Sizer for Node<'_> {
    fn size(&self) -> CelInt {
        CelInt::from(self.names().len() as i64)
    }
}

impl Iterable for Node<'_> {
    fn iter<'b, 'w>(&'b self) -> Box<dyn traits::Iterator<'b, 'w> + 'b>
    where
        Self: 'w,
    {
        Box::new(Keys(self.names().iter()))
    }
}

/// The keys of a node, for comprehensions over it.
struct Keys(std::slice::Iter<'static, CelString<'static>>);

impl<'b, 'w> traits::Iterator<'b, 'w> for Keys {
    fn next(&mut self) -> Option<&'b (dyn Val + 'w)> {
        self.0.next().map(|key| key as &(dyn Val + 'w))
    }
}

/// A value shared by reference: each service binds the same rule settings, made into interpreter
/// values once per scan rather than once per service and rule.
#[derive(Debug, Clone, Copy)]
pub struct Shared<'v>(pub &'v (dyn Val + 'v));

impl<'v> Val for Shared<'v> {
    fn get_type(&self) -> &Type {
        self.0.get_type()
    }

    fn cel_type() -> &'static Type {
        // Only asked of types with one static CEL type (by the overload macros, which this type
        // is never named in); a shared value has its target's, and settings are always a map.
        &MAP_TYPE
    }

    fn as_comparer(&self) -> Option<&dyn traits::Comparer> {
        self.0.as_comparer()
    }

    fn as_container(&self) -> Option<&dyn Container> {
        self.0.as_container()
    }

    fn as_indexer<'b, 'w>(&'b self) -> Option<&'b (dyn Indexer + 'w)>
    where
        Self: 'w,
    {
        self.0.as_indexer()
    }

    fn as_iterable<'b, 'w>(&'b self) -> Option<&'b (dyn Iterable + 'w)>
    where
        Self: 'w,
    {
        self.0.as_iterable()
    }

    fn as_sizer(&self) -> Option<&dyn Sizer> {
        self.0.as_sizer()
    }

    fn as_zeroer(&self) -> Option<&dyn traits::Zeroer> {
        self.0.as_zeroer()
    }

    fn equals(&self, other: &dyn Val) -> bool {
        self.0.equals(other)
    }

    fn clone_as_boxed<'w>(&self) -> Box<dyn Val + 'w>
    where
        Self: 'w,
    {
        Box::new(*self)
    }
}

/// A value of the interpreter as a plain [`Value`], nodes included (which the interpreter's own
/// conversion knows nothing of): how the tests compare a node with the struct's serde shape.
#[cfg(test)]
pub fn to_value(v: &dyn Val) -> Result<Value, ExecutionError> {
    use cel::objects::{Key as MapKey, Map};
    use std::collections::HashMap;
    match v.get_type().kind() {
        Kind::List => {
            let items = v.as_iterable().ok_or_else(|| not_plain(v))?;
            let mut values = Vec::new();
            let mut iter = items.iter();
            while let Some(item) = iter.next() {
                values.push(to_value(item)?);
            }
            Ok(Value::List(Arc::new(values)))
        }
        Kind::Map => {
            let keys = v.as_iterable().ok_or_else(|| not_plain(v))?;
            let indexer = v.as_indexer().ok_or_else(|| not_plain(v))?;
            let mut entries = HashMap::new();
            let mut iter = keys.iter();
            while let Some(key) = iter.next() {
                let value = indexer.get(key)?;
                let key = match Value::try_from(key)? {
                    Value::String(s) => MapKey::String(s),
                    Value::Int(i) => MapKey::Int(i),
                    Value::UInt(u) => MapKey::Uint(u),
                    Value::Bool(b) => MapKey::Bool(b),
                    _ => return Err(not_plain(key)),
                };
                entries.insert(key, to_value(value.as_ref())?);
            }
            Ok(Value::Map(Map {
                map: Arc::new(entries),
            }))
        }
        _ => Value::try_from(v),
    }
}

/// A value of the interpreter as JSON, for a finding's properties: as `cel::Value::json` would
/// write it, without building the intermediate [`Value`].
pub fn to_json(v: &dyn Val) -> Result<serde_json::Value, ExecutionError> {
    use serde_json::Value as Json;
    Ok(match v.get_type().kind() {
        Kind::NullType => Json::Null,
        Kind::String => Json::String(
            v.downcast_ref::<CelString>()
                .ok_or_else(|| not_plain(v))?
                .inner()
                .to_owned(),
        ),
        Kind::Boolean => Json::Bool(
            *v.downcast_ref::<CelBool>()
                .ok_or_else(|| not_plain(v))?
                .inner(),
        ),
        Kind::Int => Json::from(
            *v.downcast_ref::<CelInt>()
                .ok_or_else(|| not_plain(v))?
                .inner(),
        ),
        Kind::UInt => Json::from(
            *v.downcast_ref::<CelUInt>()
                .ok_or_else(|| not_plain(v))?
                .inner(),
        ),
        Kind::List => {
            let items = v.as_iterable().ok_or_else(|| not_plain(v))?;
            let mut values = Vec::new();
            let mut iter = items.iter();
            while let Some(item) = iter.next() {
                values.push(to_json(item)?);
            }
            Json::Array(values)
        }
        Kind::Map => {
            let keys = v.as_iterable().ok_or_else(|| not_plain(v))?;
            let indexer = v.as_indexer().ok_or_else(|| not_plain(v))?;
            let mut entries = serde_json::Map::new();
            let mut iter = keys.iter();
            while let Some(key) = iter.next() {
                let value = to_json(indexer.get(key)?.as_ref())?;
                let name = match key.downcast_ref::<CelString>() {
                    Some(s) => s.inner().to_owned(),
                    // Numeric and boolean keys are written as their text, as `json()` does.
                    None => match to_json(key)? {
                        Json::String(s) => s,
                        other => other.to_string(),
                    },
                };
                entries.insert(name, value);
            }
            Json::Object(entries)
        }
        // Doubles, bytes, timestamps, durations: as the interpreter converts them.
        _ => Value::try_from(v)?
            .json()
            .map_err(|e| ExecutionError::function_error("json", format!("{e:?}")))?,
    })
}

fn not_plain(v: &dyn Val) -> ExecutionError {
    ExecutionError::UnexpectedType {
        got: v.get_type().name().to_owned(),
        want: "a plain value".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Inventory;

    /// Every demo service and key, seen through its node, is exactly what `cel::to_value` makes
    /// of the struct.
    #[test]
    fn nodes_have_the_serde_shape() {
        let text = include_str!("../../fixtures/demo-inventory.json");
        let inv = Inventory::from_json(text, "demo").unwrap();
        assert!(inv.services.len() > 5);
        for s in &inv.services {
            let lazy = to_value(&*service(s)).unwrap();
            assert_eq!(lazy, cel::to_value(s).unwrap(), "{}", s.name);
            let k = inv.key_of(s);
            let lazy = to_value(&*key(k)).unwrap();
            assert_eq!(lazy, cel::to_value(k).unwrap(), "key of {}", s.name);
        }
    }

    /// A node behaves as a map in every operation a rule can apply to one.
    #[test]
    fn nodes_act_as_maps() {
        let text = include_str!("../../fixtures/demo-inventory.json");
        let inv = Inventory::from_json(text, "demo").unwrap();
        let s = &inv.services[0];
        let env = cel::Env::stdlib();
        let eval = |expr: &str| {
            let program = env.compile(expr).unwrap();
            let mut ctx = cel::Context::default();
            ctx.add_variable_as_val("service", service(s));
            ctx.add_variable_from_value("plain", cel::to_value(s).unwrap());
            program.execute(&ctx)
        };
        for expr in [
            "service == plain",
            "service.network == plain.network",
            "size(service) == size(plain)",
            "'name' in service && !('nope' in service)",
            "has(service.url) && !has(service.nope)",
            "service.all(k, k in plain)",
            "service.map(k, k).size() == 14",
            "service['name'] == plain.name",
            "type(service) == map",
            "service.source.kind == plain.source.kind",
        ] {
            assert_eq!(eval(expr).unwrap(), Value::Bool(true), "{expr}");
        }
        let missing = eval("service.nope").unwrap_err();
        assert!(missing.to_string().contains("nope"), "{missing}");
    }
}
