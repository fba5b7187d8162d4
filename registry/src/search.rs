//! `search`: Docker Hub's v1 search API for `docker.io` (at [`DOCKER_HUB_SEARCH`], or where
//! `$BALE_HUB_SEARCH_URL` says), and for other registries their v1 search endpoint when they
//! have one, else their catalog filtered by the term.

use ureq::http::{self, Method};

use crate::client::{
    Registry, ReqBody, build_agent, protocol, query_escape, status_error, transport_error,
};
use crate::error::{Error, Result};
use crate::host::RegistryHost;
use crate::settings::Settings;

/// Where Docker Hub's search API answers.
pub const DOCKER_HUB_SEARCH: &str = "https://index.docker.io/v1/search";

/// One search hit, with the fields docker's `--format` exposes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct SearchResult {
    /// The repository name.
    #[serde(default)]
    pub name: String,
    /// Its description (may hold newlines).
    #[serde(default)]
    pub description: String,
    /// Its stars.
    #[serde(default)]
    pub star_count: u64,
    /// Whether it is a Docker official image.
    #[serde(default)]
    pub is_official: bool,
    /// Whether it is an automated build (always false on today's Hub).
    #[serde(default)]
    pub is_automated: bool,
}

#[derive(serde::Deserialize)]
struct SearchAnswer {
    #[serde(default)]
    results: Vec<SearchResult>,
}

/// Splits a search term into the registry it names and the term proper, as docker does: a
/// first component with a `.` or `:`, or `localhost`, names a registry.
pub fn split_search_term(term: &str) -> Result<(RegistryHost, String)> {
    if let Some((first, rest)) = term.split_once('/')
        && (first.contains('.') || first.contains(':') || first == "localhost")
    {
        return Ok((RegistryHost::parse(first)?, rest.to_string()));
    }
    Ok((RegistryHost::docker_hub(), term.to_string()))
}

/// Searches the registry named in `term` for at most `limit` repositories.
pub fn search(settings: &Settings, term: &str, limit: u32) -> Result<Vec<SearchResult>> {
    let (host, query) = split_search_term(term)?;
    if host.is_docker_hub() {
        return search_hub(settings, &host, &query, limit);
    }
    let registry = Registry::with_stored_credentials(host.clone(), settings.clone())?;
    let url = format!(
        "{}/v1/search?q={}&n={limit}",
        registry.base_url()?,
        query_escape(&query)
    );
    let mut response = registry.send(Method::GET, &url, &[], ReqBody::Empty, &[])?;
    if response.status().is_success()
        && let Ok(bytes) = response
            .body_mut()
            .with_config()
            .limit(1 << 24)
            .read_to_vec()
        && let Ok(answer) = serde_json::from_slice::<SearchAnswer>(&bytes)
    {
        return Ok(answer.results);
    }
    // No v1 search (distribution has none): filter the catalog.
    let mut hits: Vec<SearchResult> = registry
        .catalog()?
        .into_iter()
        .filter(|name| name.contains(&query))
        .map(|name| SearchResult {
            name: format!("{host}/{name}"),
            description: String::new(),
            star_count: 0,
            is_official: false,
            is_automated: false,
        })
        .collect();
    hits.truncate(limit as usize);
    Ok(hits)
}

fn search_hub(
    settings: &Settings,
    host: &RegistryHost,
    query: &str,
    limit: u32,
) -> Result<Vec<SearchResult>> {
    let agent = build_agent(settings, host, true)?;
    let url = format!(
        "{}?q={}&n={limit}",
        settings.hub_search_url,
        query_escape(query)
    );
    let request = http::Request::get(&url)
        .body(())
        .map_err(|e| protocol(&url, e))?;
    let mut response = agent
        .run(request)
        .map_err(|e| transport_error("Get", &url, &e))?;
    if !response.status().is_success() {
        return Err(status_error("Get", &url, response));
    }
    let bytes = response
        .body_mut()
        .with_config()
        .limit(1 << 24)
        .read_to_vec()
        .map_err(|e| transport_error("Get", &url, &e))?;
    let answer: SearchAnswer = serde_json::from_slice(&bytes).map_err(|source| Error::Json {
        what: format!("the search answer from {url}"),
        source,
    })?;
    Ok(answer.results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn term_splitting() {
        let (h, t) = split_search_term("nginx").unwrap();
        assert!(h.is_docker_hub());
        assert_eq!(t, "nginx");
        let (h, t) = split_search_term("bitnami/nginx").unwrap();
        assert!(h.is_docker_hub());
        assert_eq!(t, "bitnami/nginx");
        let (h, t) = split_search_term("127.0.0.1:5000/web").unwrap();
        assert_eq!(h.name(), "127.0.0.1:5000");
        assert_eq!(t, "web");
        let (h, _) = split_search_term("localhost/x").unwrap();
        assert_eq!(h.name(), "localhost");
    }
}
