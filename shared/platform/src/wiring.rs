//! Builds the port adapters a service's configuration asks for, once, at start-up.

use std::sync::Arc;

use crate::adapters::app_table::DynamoAppTable;
use crate::adapters::dynamodb::DynamoLedger;
use crate::adapters::postgres::PostgresWarehouse;
use crate::adapters::redshift::RedshiftWarehouse;
use crate::adapters::s3::S3Store;
use crate::adapters::sns::SnsNotifier;
use crate::aws::AwsClients;
use crate::config::{Resources, ServiceConfig, WarehouseSettings};
use crate::ports::{Notifier, ObjectStore, RunLedger, Warehouse};

/// Every port, ready to hand to a service.
#[derive(Clone)]
pub struct Ports {
    pub store: Arc<dyn ObjectStore>,
    pub notifier: Arc<dyn Notifier>,
    pub ledger: Arc<dyn RunLedger>,
    /// The app's table.
    pub app: Arc<DynamoAppTable>,
    /// Present when the service was configured with a warehouse.
    pub warehouse: Option<Arc<dyn Warehouse>>,
}

impl Ports {
    /// The AWS adapters for `config`'s resources, and its warehouse.
    pub fn build(config: &ServiceConfig, clients: &AwsClients) -> Ports {
        let r = &config.resources;
        let warehouse = config.warehouse.as_ref().map(|w| warehouse(w, clients, r));
        Ports {
            store: Arc::new(S3Store { client: clients.s3.clone() }),
            notifier: Arc::new(SnsNotifier { client: clients.sns.clone(), topic_arn: r.stage_topic_arn.clone() }),
            ledger: Arc::new(DynamoLedger { client: clients.dynamodb.clone(), table: r.ledger_table.clone() }),
            app: Arc::new(DynamoAppTable {
                client: clients.dynamodb.clone(),
                table: r.prices_table.clone(),
                retry_deadline: std::time::Duration::from_secs(120),
            }),
            warehouse,
        }
    }
}

fn warehouse(settings: &WarehouseSettings, clients: &AwsClients, resources: &Resources) -> Arc<dyn Warehouse> {
    match settings {
        WarehouseSettings::Postgres { url } => Arc::new(PostgresWarehouse { url: url.clone() }),
        WarehouseSettings::Redshift { workgroup, database, secret_arn, copy_role_arn } => Arc::new(RedshiftWarehouse {
            client: clients.redshift_data.clone(),
            workgroup: workgroup.clone(),
            database: database.clone(),
            secret_arn: secret_arn.clone(),
            copy_role_arn: copy_role_arn.clone(),
            store: Arc::new(S3Store { client: clients.s3.clone() }),
            staging_bucket: resources.raw_bucket.clone(),
        }),
    }
}
