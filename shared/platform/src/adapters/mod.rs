//! One adapter per port and backend.

pub mod app_table;
pub mod dynamodb;
pub mod postgres;
pub mod redshift;
pub mod s3;
pub mod sns;
pub mod sqs;
pub mod staging;
