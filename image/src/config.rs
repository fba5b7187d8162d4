//! The image configuration as docker's image spec defines it: the OCI config plus docker's
//! `Healthcheck`, `OnBuild`, `Shell` and `ArgsEscaped`. Every field bale does not know is kept in
//! a flattened map, so a config read and written again loses nothing.
//!
//! A config that came from elsewhere is stored as the exact bytes it came with: this type is for
//! reading them and for writing new configs, never for re-encoding an existing one, so an image
//! ID (the config's digest) never changes on load or save.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::digest::Digest;

/// Extra JSON fields kept as they came.
pub type Extra = BTreeMap<String, Value>;

/// An image configuration (`application/vnd.oci.image.config.v1+json`, which docker's
/// `application/vnd.docker.container.image.v1+json` is a superset of).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// CPU architecture, e.g. `amd64`.
    #[serde(default)]
    pub architecture: String,
    /// Operating system, e.g. `linux`.
    #[serde(default)]
    pub os: String,
    /// Architecture variant, e.g. `v8`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Creation time, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Author of the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// What a container of this image runs with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ContainerConfig>,
    /// The layers' uncompressed digests.
    #[serde(default)]
    pub rootfs: RootFs,
    /// One entry per build step, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    /// Fields bale does not know (`container`, `docker_version`, `os.version`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// The runtime configuration (`config` in the image config), with docker's extra fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    /// `USER`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `EXPOSE`: keys like `80/tcp`, values empty objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Value>>,
    /// `ENV`: `KEY=value` strings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// `ENTRYPOINT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// `CMD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// `VOLUME`: keys are paths, values empty objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, Value>>,
    /// `WORKDIR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// `LABEL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// `STOPSIGNAL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Whether `Cmd`/`Entrypoint` are already escaped (a Windows matter docker records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
    /// `HEALTHCHECK`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    /// `ONBUILD` triggers, as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    /// `SHELL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    /// Fields bale does not know (`Hostname`, `Tty`, `StopTimeout`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// `HEALTHCHECK`: durations in nanoseconds, as docker writes them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Healthcheck {
    /// `["NONE"]`, `["CMD", ...]` or `["CMD-SHELL", "..."]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Vec<String>>,
    /// Time between checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<i64>,
    /// Time one check may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    /// Grace time after start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<i64>,
    /// Time between checks during the start period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<i64>,
    /// Failures before unhealthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
    /// Fields bale does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The layers of the root filesystem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Uncompressed layer digests, bottom first.
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

impl Default for RootFs {
    fn default() -> Self {
        RootFs {
            kind: "layers".to_string(),
            diff_ids: Vec::new(),
        }
    }
}

/// One step of the image's history.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// When the step ran, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The command, e.g. `/bin/sh -c #(nop)  CMD ["sh"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Who made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// A comment, e.g. `Imported from -`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// True when the step made no layer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
    /// Fields bale does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

impl ImageConfig {
    /// Parses config bytes.
    pub fn from_slice(bytes: &[u8]) -> serde_json::Result<ImageConfig> {
        serde_json::from_slice(bytes)
    }

    /// Encodes a new config. Never use this to re-encode a config read from elsewhere: keep its
    /// bytes instead.
    pub fn to_vec(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an ImageConfig always encodes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_docker_fields_and_unknown_ones() {
        let text = r#"{"architecture":"amd64","config":{"Hostname":"","User":"app","Env":["PATH=/bin"],"Cmd":["sh"],"Healthcheck":{"Test":["CMD-SHELL","true"],"Interval":1000000000,"Future":1},"OnBuild":["RUN x"],"Shell":["/bin/sh","-c"],"ArgsEscaped":true,"StopTimeout":3},"container":"abc","created":"2024-01-01T00:00:00Z","docker_version":"25.0","history":[{"created":"2024-01-01T00:00:00Z","created_by":"/bin/sh","empty_layer":true}],"os":"linux","os.version":"","rootfs":{"type":"layers","diff_ids":[]}}"#;
        let c = ImageConfig::from_slice(text.as_bytes()).unwrap();
        let cc = c.config.as_ref().unwrap();
        assert_eq!(
            cc.shell.as_deref(),
            Some(&["/bin/sh".to_string(), "-c".to_string()][..])
        );
        assert_eq!(cc.on_build.as_ref().unwrap()[0], "RUN x");
        assert_eq!(cc.args_escaped, Some(true));
        assert_eq!(cc.extra["StopTimeout"], 3);
        assert_eq!(cc.healthcheck.as_ref().unwrap().extra["Future"], 1);
        assert!(c.history[0].empty_layer);
        let again = ImageConfig::from_slice(&c.to_vec()).unwrap();
        assert_eq!(again, c);
        let a: Value = serde_json::from_str(text).unwrap();
        let b: Value = serde_json::from_slice(&c.to_vec()).unwrap();
        assert_eq!(a, b);
    }
}
