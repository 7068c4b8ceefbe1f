//! What the registry and the services tell others: events of pushes,
//! pulls and deletes (`events`), the webhooks that deliver them
//! (`webhooks`), and the audit log (`audit`).

pub mod audit;
pub mod events;
pub mod trail;
pub mod webhooks;
