//! Connection code below the backends and the store: TLS client settings, and PostgreSQL
//! connections (the postgres backend and the team store both open them).

pub mod postgres;
pub mod tls;
