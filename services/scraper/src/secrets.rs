//! Resolving a source's secret by name: under Lambda from AWS Secrets Manager through
//! the AWS Parameters and Secrets Lambda Extension (a local HTTP endpoint, so no extra
//! SDK), elsewhere from the environment variable of that name.

use std::collections::BTreeMap;

/// Port of the Parameters and Secrets extension.
const EXTENSION_URL: &str = "http://localhost:2773/secretsmanager/get";

/// Looks up `name`; `env` is the process environment snapshot.
pub async fn resolve_secret(name: &str, env: &BTreeMap<String, String>) -> Result<String, String> {
    if env.contains_key("AWS_LAMBDA_RUNTIME_API") {
        let token = env.get("AWS_SESSION_TOKEN").ok_or("AWS_SESSION_TOKEN is not set in Lambda")?;
        let url = url::Url::parse_with_params(EXTENSION_URL, [("secretId", name)]).map_err(|e| e.to_string())?;
        let response = reqwest::Client::new()
            .get(url)
            .header("X-Aws-Parameters-Secrets-Token", token)
            .send()
            .await
            .map_err(|e| format!("secret `{name}`: the Parameters and Secrets extension did not answer: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("secret `{name}`: HTTP {} from the extension", response.status()));
        }
        let body: serde_json::Value = response.json().await.map_err(|e| format!("secret `{name}`: {e}"))?;
        return body
            .get("SecretString")
            .and_then(|s| s.as_str())
            .map(str::to_owned)
            .ok_or_else(|| format!("secret `{name}` has no SecretString"));
    }
    env.get(name)
        .filter(|v| !v.is_empty())
        .cloned()
        .ok_or_else(|| format!("secret `{name}`: environment variable `{name}` is not set"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn locally_secrets_come_from_the_environment() {
        let env = BTreeMap::from([("ACME_TOKEN".to_string(), "s3cr3t".to_string())]);
        assert_eq!(resolve_secret("ACME_TOKEN", &env).await, Ok("s3cr3t".into()));
        let err = resolve_secret("OTHER", &env).await.unwrap_err();
        assert!(err.contains("`OTHER` is not set"));
    }
}
