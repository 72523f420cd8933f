//! Messaging: what the broker does with the messages it is given, over
//! STOMP against the real binary (docs/messaging.md and the destination
//! policies of docs/configuration.md). One module per feature.

#[path = "../common/mod.rs"]
mod common;

mod activemq_features;
mod delivery;
mod destination_policies;
mod dispatch_before_commit;
mod duplicate_detection;
mod durable_subscriptions;
mod limits;
mod paging;
mod scheduled_delivery;
mod selectors;
