//! Collectors: each turns one source into an [`Inventory`](crate::inventory::Inventory).
//!
//! - [`aws`]: the live AWS APIs through the official SDK, over accounts x regions;
//! - a saved inventory file: [`Inventory::load`](crate::inventory::Inventory::load).
//!
//! Nothing downstream knows which collector ran.

pub mod aws;
pub mod progress;
