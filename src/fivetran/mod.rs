//! The Fivetran boundary: incoming webhooks, the REST client and the API's data model.

pub mod api;
pub mod gate;
pub mod model;
pub mod webhook;
