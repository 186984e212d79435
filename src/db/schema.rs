//! diesel views of the Boulder tables the tool reads, matching `migrations-readonly/`. Only
//! columns the tool selects or filters on are declared.

diesel::table! {
    registrations (id) {
        id -> BigInt,
        status -> Varchar,
    }
}

diesel::table! {
    authz2 (id) {
        id -> Unsigned<BigInt>,
        #[sql_name = "identifierType"]
        identifier_type -> TinyInt,
        #[sql_name = "identifierValue"]
        identifier_value -> Varchar,
        #[sql_name = "registrationID"]
        registration_id -> BigInt,
        status -> TinyInt,
        expires -> Timestamp,
    }
}

diesel::table! {
    orders (id) {
        id -> Unsigned<BigInt>,
        #[sql_name = "registrationID"]
        registration_id -> BigInt,
        expires -> Timestamp,
        #[sql_name = "certificateSerial"]
        certificate_serial -> Nullable<Varchar>,
        /// Only in the current schema (see `Link`).
        authzs -> Nullable<Blob>,
    }
}

diesel::table! {
    /// Only in the legacy schema.
    #[sql_name = "orderToAuthz2"]
    order_to_authz2 (order_id, authz_id) {
        #[sql_name = "orderID"]
        order_id -> BigInt,
        #[sql_name = "authzID"]
        authz_id -> Unsigned<BigInt>,
    }
}

diesel::table! {
    certificates (id) {
        id -> BigInt,
        #[sql_name = "registrationID"]
        registration_id -> BigInt,
        serial -> Varchar,
        der -> Mediumblob,
    }
}

diesel::table! {
    #[sql_name = "certificateStatus"]
    certificate_status (id) {
        id -> BigInt,
        serial -> Varchar,
        status -> Varchar,
        #[sql_name = "revokedReason"]
        revoked_reason -> Integer,
    }
}

diesel::table! {
    serials (id) {
        id -> BigInt,
        serial -> Varchar,
    }
}
