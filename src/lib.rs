//! exporterctl: upgrade, roll back and garbage-collect Prometheus exporters
//! the Nix way. The binary (`src/main.rs`) is a thin shell over this library.
//!
//! Layers, each talking only to the ones below it:
//! `commands` → `adopt`, `repair`, `gc`, `mirror` → `switch` (the engine) →
//! `plan` → `realise` → `resolve` → `manifest` → `units` → `catalogue`,
//! `generation` → `health`, `source`, `store` → `service` → `names`,
//! `template`, `fsutil`, `paths`.

pub mod adopt;
pub mod catalogue;
pub mod cli;
pub mod commands;
pub mod demo;
pub mod exit;
pub mod fault;
pub mod fsutil;
pub mod gc;
pub mod generation;
pub mod health;
pub mod manifest;
pub mod mirror;
pub mod monitoring;
pub mod names;
pub mod paths;
pub mod plan;
pub mod preflight;
pub mod realise;
pub mod redact;
pub mod repair;
pub mod resolve;
pub mod rollout;
pub mod service;
pub mod source;
pub mod store;
pub mod switch;
pub mod template;
pub mod units;
