//! apprunner-audit: audits AWS App Runner services for data protection.
//!
//! The pipeline is collect -> inventory -> evaluate -> report:
//! [`collect`] turns a source (live AWS, a saved file) into an [`inventory::Inventory`];
//! [`rules`] evaluates the rule files of `rules/` (CEL expressions) against it into
//! [`finding::Finding`]s; [`report`] decides the exit status and renders table, JSON or SARIF.
//! [`cli`] wires them to the command line.

#![forbid(unsafe_code)]

pub mod cli;
pub mod collect;
pub mod finding;
pub mod inventory;
pub mod report;
pub mod rules;
