//! Field reads on the rules' variables, compiled to skip the interpreter's search for a
//! qualified name.
//!
//! The interpreter reads `service.source.repository_url` as a name first: it joins the segments
//! into a new string and looks up `service.source.repository_url` as a variable of every scope
//! (and as a type in the root scope), then `service.source`, before it finds `service` and
//! selects the fields from it: two allocations and several failed lookups for every field read.
//! Every root of such a chain that names a variable a rule can read (`service`, `key`,
//! `settings`, `item`, or a variable of an enclosing comprehension) is rewritten here into
//! `true ? service : null`: the same value, found with one lookup, after which the interpreter
//! selects the fields one by one.
//!
//! Every value and every error stays the same: variables shadow types, evaluation binds no name
//! with a dot in it and sets no container or variable resolver (so the longer names searched
//! first cannot exist), no function has a name of three segments or more (so a call on a field
//! finds the same function), no error message carries an expression id, and a field selection
//! on the value behaves, and fails, as before. A test compares both forms, value or error, on
//! every built-in rule and a table of edge cases. One thing differs in kind: the interpreter
//! selects a rewritten chain's fields recursively, a stack frame per field, where it looped over
//! a name's; so chains deeper than [`MAX_DEPTH`] fields (no rule comes close) are left as they
//! are, and cannot exhaust the stack of an evaluation thread.
//!
//! The original program is kept for its references and source; only evaluation runs the
//! rewritten expression. Measured on the offline benchmark's 100,000 services (every rule,
//! SARIF): evaluation took 0.52-0.56 s instead of 0.59-0.61 s, interleaved runs of both builds.

use cel::IdedExpr;
use cel::common::ast::{EntryExpr, Expr, LiteralValue, operators};

/// `expr` with every selection chain rooted at one of `variables` (or at a variable of an
/// enclosing comprehension) reading its root directly.
pub fn rewrite(expr: &IdedExpr, variables: &[&str]) -> IdedExpr {
    let mut out = expr.clone();
    let mut bound: Vec<String> = variables.iter().map(|v| v.to_string()).collect();
    walk(&mut out, &mut bound);
    out
}

/// The deepest chain of field selections rewritten (`service.a.b` is 2 deep).
pub const MAX_DEPTH: usize = 8;

fn walk(node: &mut IdedExpr, bound: &mut Vec<String>) {
    match &mut node.expr {
        Expr::Select(_) => chain(node, 0, bound),
        Expr::Call(call) => {
            if let Some(target) = call.target.as_deref_mut() {
                walk(target, bound);
            }
            for arg in &mut call.args {
                walk(arg, bound);
            }
        }
        Expr::Comprehension(c) => {
            walk(&mut c.iter_range, bound);
            walk(&mut c.accu_init, bound);
            let before = bound.len();
            bound.push(c.iter_var.clone());
            bound.extend(c.iter_var2.clone());
            bound.push(c.accu_var.clone());
            // The iteration variables are bound in a scope of their own, which `loop_cond`,
            // `loop_step` and `result` all read through (the macros read them in the step
            // only): a name found there directly is the name the interpreter would find.
            walk(&mut c.loop_cond, bound);
            walk(&mut c.loop_step, bound);
            walk(&mut c.result, bound);
            bound.truncate(before);
        }
        Expr::List(list) => list.elements.iter_mut().for_each(|e| walk(e, bound)),
        Expr::Map(map) => {
            for entry in &mut map.entries {
                if let EntryExpr::MapEntry(e) = &mut entry.expr {
                    walk(&mut e.key, bound);
                    walk(&mut e.value, bound);
                }
            }
        }
        Expr::Struct(s) => {
            for entry in &mut s.entries {
                if let EntryExpr::StructField(f) = &mut entry.expr {
                    walk(&mut f.value, bound);
                }
            }
        }
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
    }
}

/// Down a chain of field selections to its root (`depth` selections above `node`): a rule
/// variable, rewritten if the chain is at most [`MAX_DEPTH`] deep, or an expression of its own,
/// walked.
fn chain(node: &mut IdedExpr, depth: usize, bound: &mut Vec<String>) {
    let names_variable = matches!(&node.expr, Expr::Ident(name) if bound.iter().any(|b| b == name));
    if let Expr::Select(select) = &mut node.expr {
        chain(&mut select.operand, depth + 1, bound);
    } else if names_variable {
        if depth <= MAX_DEPTH {
            let ident = std::mem::take(node);
            *node = direct(ident);
        }
    } else {
        walk(node, bound);
    }
}

/// `true ? <ident> : null`: the interpreter resolves a conditional's branches as plain
/// expressions, so the identifier is looked up once, by itself. The new nodes share the
/// identifier's id (evaluation reads no ids).
fn direct(ident: IdedExpr) -> IdedExpr {
    let id = ident.id;
    let literal = |value| IdedExpr {
        id,
        expr: Expr::Literal(value),
    };
    IdedExpr {
        id,
        expr: Expr::Call(cel::common::ast::CallExpr {
            func_name: operators::CONDITIONAL.to_string(),
            target: None,
            args: vec![
                literal(LiteralValue::Boolean(true.into())),
                ident,
                literal(LiteralValue::Null),
            ],
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Inventory;
    use crate::rules::{CEL_ENV, EMBEDDED, Rule, VARIABLES, view};
    use cel::{Context, Value};

    fn demo() -> Inventory {
        let text = include_str!("../../fixtures/demo-inventory.json");
        Inventory::from_json(text, "demo").unwrap()
    }

    /// What an expression gives in `ctx`: its value as JSON, or its error's words.
    fn outcome(expr: &IdedExpr, ctx: &Context) -> String {
        match Value::resolve_val(expr, ctx) {
            Ok(v) => {
                view::to_json(v.as_ref()).map_or_else(|e| format!("error {e}"), |j| j.to_string())
            }
            Err(e) => format!("error {e}"),
        }
    }

    /// The rewritten expression gives what the original gives, value or error, on every demo
    /// service: for every expression of every built-in rule, and for reads that fail or that
    /// the rules do not make (missing fields, `null` keys, unbound `item`, comprehension
    /// variables, presence tests, optionals, method calls on fields).
    #[test]
    fn rewritten_expressions_give_what_the_originals_give() {
        let inventory = demo();
        let mut sources: Vec<String> = [
            "service.name",
            "service.source.repository_url",
            "service.nope",
            "service.source.nope.deeper",
            "key.arn",
            "key.rotation.period_days",
            "has(service.source.repository_url) && !has(service.source.nope)",
            "has(key.rotation)",
            "item.name",
            "settings.words",
            "service.environment.map(e, e.name + service.name)",
            "service.custom_domains.filter(d, d.status != '').map(d, d.domain_name)",
            "service.environment.exists(service, service.name == 'x')",
            "[service, key].map(x, x.name)",
            "{'a': service.name}.a",
            "service.name.upperAscii().containsAny(settings.words)",
            "service.?source.?repository_url.orValue('none')",
            "optional.of(service).source.repository_url",
            "service['source'].repository_url",
            "string.name",
            "other.name",
            "[{'x': 1}].map(int, int.x)",
            "['a'].map(strings, strings.quote('a'))",
            "[{'name': 'n'}].map(service, service.name)",
            "[1].map(service, .service.name)",
            ".item.name",
            "has(key.rotation.period_days)",
            "service.x.x.x.x.x.x.x.x",
            "service.x.x.x.x.x.x.x.x.x",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let rules: Vec<Rule> = EMBEDDED
            .iter()
            .map(|(file, text)| Rule::parse(text, "embedded", file).unwrap())
            .collect();
        for rule in &rules {
            let logic = &rule.logic;
            sources.push(logic.combined.source.clone());
            sources.push(logic.when.source.clone());
            if let Some(item_only) = &logic.item_only {
                sources.push(item_only.finding.source.clone());
            }
        }
        let settings = cel::to_value(serde_json::json!({"words": ["DB", "API"]})).unwrap();
        let mut compared = 0;
        for source in &sources {
            let program = CEL_ENV.compile(source).unwrap();
            let rewritten = rewrite(program.expression(), &VARIABLES);
            for service in &inventory.services {
                let mut ctx = Context::with_env(CEL_ENV.clone());
                ctx.add_variable_as_val("service", view::service(service));
                ctx.add_variable_as_val("key", view::key(inventory.key_of(service)));
                ctx.add_variable_from_value("settings", settings.clone());
                let same = |ctx: &Context, on: &str| {
                    let (before, after) =
                        (outcome(program.expression(), ctx), outcome(&rewritten, ctx));
                    assert_eq!(before, after, "{source} on {} {on}", service.name);
                };
                same(&ctx, "without item");
                // `item` bound in a scope of its own, as evaluation binds it: a variable, a
                // custom domain.
                let var = service
                    .environment
                    .iter()
                    .flatten()
                    .next()
                    .map(view::Node::EnvVar);
                let domain = service
                    .custom_domains
                    .iter()
                    .flatten()
                    .next()
                    .map(view::Node::Domain);
                for item in [var, domain].into_iter().flatten() {
                    let mut scope = ctx.new_inner_scope();
                    scope.add_variable_as_val("item", Box::new(item));
                    same(&scope, "with item");
                }
                compared += 1;
            }
        }
        assert!(compared > 200, "{compared}");
    }

    /// The rewriting reaches every read of a variable, inside calls, lists, maps, structs,
    /// comprehensions and presence tests, and leaves other names alone.
    #[test]
    fn reads_of_variables_are_direct_and_other_names_are_not() {
        // Each selection whose operand is a bare name, as `name.field`.
        fn named_selections(e: &IdedExpr, out: &mut Vec<String>) {
            match &e.expr {
                Expr::Select(s) => {
                    if let Expr::Ident(name) = &s.operand.expr {
                        out.push(format!("{name}.{}", s.field));
                    }
                    named_selections(&s.operand, out);
                }
                Expr::Call(c) => {
                    c.target.iter().for_each(|t| named_selections(t, out));
                    c.args.iter().for_each(|a| named_selections(a, out));
                }
                Expr::Comprehension(c) => {
                    for part in [
                        &c.iter_range,
                        &c.accu_init,
                        &c.loop_cond,
                        &c.loop_step,
                        &c.result,
                    ] {
                        named_selections(part, out);
                    }
                }
                Expr::List(l) => l.elements.iter().for_each(|x| named_selections(x, out)),
                Expr::Map(m) => {
                    for entry in &m.entries {
                        if let EntryExpr::MapEntry(e) = &entry.expr {
                            named_selections(&e.key, out);
                            named_selections(&e.value, out);
                        }
                    }
                }
                Expr::Struct(st) => {
                    for entry in &st.entries {
                        if let EntryExpr::StructField(f) = &entry.expr {
                            named_selections(&f.value, out);
                        }
                    }
                }
                _ => {}
            }
        }
        let source = "[service.name, {key.arn: settings.x}, service.environment.map(e, e.name), other.field, has(item.name), Msg{f: service.url}]";
        let program = CEL_ENV.compile(source).unwrap();
        let mut before = Vec::new();
        named_selections(program.expression(), &mut before);
        before.sort();
        assert_eq!(
            before,
            [
                "e.name",
                "item.name",
                "key.arn",
                "other.field",
                "service.environment",
                "service.name",
                "service.url",
                "settings.x"
            ]
        );
        let mut after = Vec::new();
        named_selections(&rewrite(program.expression(), &VARIABLES), &mut after);
        assert_eq!(after, ["other.field"]);
    }

    /// A chain deeper than [`MAX_DEPTH`] is left as the interpreter reads it (by name, in a
    /// loop): rewritten, its fields would be selected one stack frame each.
    #[test]
    fn chains_deeper_than_the_limit_are_left_as_they_are() {
        let chain = |depth: usize| format!("service{}", ".x".repeat(depth));
        let at_limit = CEL_ENV.compile(&chain(MAX_DEPTH)).unwrap();
        assert_ne!(
            &rewrite(at_limit.expression(), &VARIABLES),
            at_limit.expression()
        );
        for depth in [MAX_DEPTH + 1, 1000] {
            let deep = CEL_ENV.compile(&chain(depth)).unwrap();
            assert_eq!(
                &rewrite(deep.expression(), &VARIABLES),
                deep.expression(),
                "{depth}"
            );
        }
        // Within a deep chain rooted elsewhere, the chains of variables are still rewritten.
        let nested = CEL_ENV
            .compile(&format!("[service.name][0]{}", ".x".repeat(20)))
            .unwrap();
        assert_ne!(
            &rewrite(nested.expression(), &VARIABLES),
            nested.expression()
        );
    }
}
