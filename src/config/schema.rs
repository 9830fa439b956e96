//! The JSON Schema of the configuration file (`docs/config.schema.json`), for editors that
//! check TOML against one (Taplo, Even Better TOML). Kept by hand beside the readers in this
//! folder; `tests/it/config_schema.rs` holds it to what they accept.

/// The schema, as checked in.
pub const SCHEMA: &str = include_str!("../../docs/config.schema.json");

/// The name `jit init` writes it under, beside the configuration.
pub const FILE_NAME: &str = "config.schema.json";

/// The first line of a configuration `jit init` writes: Taplo's directive naming the schema
/// beside the file (a TOML comment to everything else).
pub const DIRECTIVE: &str = "#:schema ./config.schema.json";
