//! Decoding what arrives in an SQS message body: an S3 event notification, S3's
//! `s3:TestEvent`, or either of them (or a stage event) wrapped in an SNS envelope.

use serde::Deserialize;

/// One object named by an S3 `ObjectCreated` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3ObjectRef {
    pub bucket: String,
    /// The key, already URL-decoded.
    pub key: String,
    /// The record's `eventName`, e.g. `ObjectCreated:Put`.
    pub event_name: String,
}

/// What a body turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// S3's configuration check message; real S3 and moto both send one. Skip it.
    S3TestEvent,
    /// An S3 event notification.
    S3Objects(Vec<S3ObjectRef>),
    /// Anything else: the (unwrapped) text, for the service to decode.
    Other(String),
}

#[derive(Deserialize)]
struct SnsEnvelope {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(rename = "Message")]
    message: String,
}

#[derive(Deserialize)]
struct S3Notification {
    #[serde(rename = "Records")]
    records: Vec<S3Record>,
}

#[derive(Deserialize)]
struct S3Record {
    #[serde(rename = "eventName", default)]
    event_name: String,
    s3: S3Entity,
}

#[derive(Deserialize)]
struct S3Entity {
    bucket: S3Bucket,
    object: S3Object,
}

#[derive(Deserialize)]
struct S3Bucket {
    name: String,
}

#[derive(Deserialize)]
struct S3Object {
    key: String,
}

#[derive(Deserialize)]
struct TestEvent {
    #[serde(rename = "Event")]
    event: String,
}

/// Unwraps an SNS envelope if there is one (subscriptions without raw delivery send
/// one), falling back to the body itself.
pub fn unwrap_sns(body: &str) -> String {
    match serde_json::from_str::<SnsEnvelope>(body) {
        Ok(env) if env.kind == "Notification" => env.message,
        _ => body.to_owned(),
    }
}

/// Classifies a message body. Object keys are form-URL-decoded, as S3 encodes them
/// (`+` is a space, `%2F` a slash).
pub fn classify(body: &str) -> Body {
    let text = unwrap_sns(body);
    if let Ok(t) = serde_json::from_str::<TestEvent>(&text) {
        if t.event == "s3:TestEvent" {
            return Body::S3TestEvent;
        }
    }
    match serde_json::from_str::<S3Notification>(&text) {
        Ok(n) => Body::S3Objects(
            n.records
                .into_iter()
                .map(|r| S3ObjectRef {
                    bucket: r.s3.bucket.name,
                    key: decode_key(&r.s3.object.key),
                    event_name: r.event_name,
                })
                .collect(),
        ),
        Err(_) => Body::Other(text),
    }
}

/// Decodes an S3 event key the way S3 encoded it (form URL encoding: `+` is a space).
pub fn decode_key(encoded: &str) -> String {
    percent_encoding::percent_decode_str(&encoded.replace('+', " ")).decode_utf8_lossy().into_owned()
}

/// Builds the body of an S3 `ObjectCreated:Put` notification for one object, in the
/// shape S3 sends. Replaying a day re-enqueues exactly this.
pub fn object_created_body(bucket: &str, key: &str) -> String {
    let encoded: Vec<String> =
        key.split('/').map(|part| form_urlencoded::byte_serialize(part.as_bytes()).collect()).collect();
    let encoded = encoded.join("/");
    serde_json::json!({
        "Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "eventName": "ObjectCreated:Put",
            "s3": {
                "s3SchemaVersion": "1.0",
                "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
                "object": {"key": encoded}
            }
        }]
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shape of a notification as moto 5 sends it.
    const MOTO_PUT: &str = r#"{"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventTime": "2026-11-25T02:10:00.000Z", "eventName": "ObjectCreated:Put", "userIdentity": {"principalId": "AWS:AIDAINPONIXQXHT3IKHL2"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"}, "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"}, "s3": {"s3SchemaVersion": "1.0", "configurationId": "manifest-to-loader", "bucket": {"name": "ppmt-raw", "ownerIdentity": {"principalId": "A3NL1KOZZKExample"}, "arn": "arn:aws:s3:::ppmt-raw"}, "object": {"key": "raw%2F2026-11-25%2Fmanifest.json", "size": 812, "eTag": "d41d8cd98f00b204e9800998ecf8427e", "versionId": null, "sequencer": "0055AED6DCD90281E5"}}}]}"#;

    const TEST_EVENT: &str = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-25T02:00:00.000Z","Bucket":"ppmt-raw","RequestId":"5582815E1AEA5ADF","HostId":"8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"}"#;

    #[test]
    fn decodes_moto_put_with_encoded_slashes() {
        let Body::S3Objects(objs) = classify(MOTO_PUT) else { panic!("not s3") };
        assert_eq!(objs.len(), 1);
        assert_eq!(objs[0].bucket, "ppmt-raw");
        assert_eq!(objs[0].key, "raw/2026-11-25/manifest.json");
        assert_eq!(objs[0].event_name, "ObjectCreated:Put");
    }

    #[test]
    fn skips_test_events_even_inside_sns() {
        assert_eq!(classify(TEST_EVENT), Body::S3TestEvent);
        let wrapped = serde_json::json!({"Type": "Notification", "MessageId": "m", "Message": TEST_EVENT}).to_string();
        assert_eq!(classify(&wrapped), Body::S3TestEvent);
    }

    #[test]
    fn unwraps_sns_envelopes_and_falls_back_to_raw_body() {
        let wrapped = serde_json::json!({"Type": "Notification", "Message": "{\"schema_version\":1}"}).to_string();
        assert_eq!(classify(&wrapped), Body::Other("{\"schema_version\":1}".into()));
        assert_eq!(classify("plain text"), Body::Other("plain text".into()));
    }

    #[test]
    fn form_decoding_handles_plus_and_percent() {
        assert_eq!(decode_key("raw%2F2025-12-21%2Fa+b%2Bc.csv"), "raw/2025-12-21/a b+c.csv");
        assert_eq!(decode_key("100%"), "100%");
        assert_eq!(decode_key("a%zz"), "a%zz");
    }

    #[test]
    fn replay_body_round_trips() {
        let body = object_created_body("b", "raw/2026-11-25/a b+c.json");
        let Body::S3Objects(objs) = classify(&body) else { panic!("not s3") };
        assert_eq!(objs[0].key, "raw/2026-11-25/a b+c.json");
    }
}
