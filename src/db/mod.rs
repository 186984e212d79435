//! Boulder's MySQL database, read-only.

pub mod dsn;
